/* xdplc: the command line (spec §11).
 *
 * Every command is an entry of the table `commands` below: a function
 * taking (argc, argv) with argv[0] the command name, its usage line, a
 * one-line summary and its option help. Commands return an exit status:
 * 0 success, 1 a user error (syntax, type, verifier rejection, missing
 * privilege, bad file or arguments: one line with the cause and what to do),
 * 2 an internal error. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf_version.h>
#include <llvm-c/Core.h>
#include <pcap/pcap.h>

#include "arena.h"
#include "classify.h"
#include "codegen.h"
#include "diag.h"
#include "frontend.h"
#include "ir.h"
#include "loader.h"
#include "lower.h"
#include "xdpl.h"
#include "xdpl_meta.h"
#include "cli.h"

#ifndef XDPL_VERSION
#define XDPL_VERSION "0.1.0"
#endif

/* XDP action numbers (linux/bpf.h enum xdp_action). */
enum { ACT_ABORTED = 0, ACT_DROP = 1, ACT_PASS = 2, ACT_TX = 3, ACT_REDIRECT = 4 };

static const char *command_name = "xdplc"; /* "xdplc build" once known */

void error(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "xdplc: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void warning(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "xdplc: warning: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------ command table */

static void print_command_usage(FILE *f, const struct command *c)
{
	fprintf(f, "usage: xdplc %s %s\n", c->name, c->usage);
}

void print_command_help(const struct command *c)
{
	print_command_usage(stdout, c);
	printf("\n%s.\n", c->summary);
	if (c->help && *c->help)
		printf("\n%s", c->help);
}

/* A usage error of command c: the cause, the usage line, exit 1. */
int usage_error(const struct command *c, const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "%s: error: ", command_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_command_usage(stderr, c);
	fprintf(stderr, "Try 'xdplc %s --help' for more information.\n", c->name);
	return EXIT_USER;
}

/* getopt_long driver shared by commands: returns the option character, -1
 * at the end, or '?' after reporting a usage error in *status. Options and
 * positional arguments may come in any order (GNU permutation). */
int next_opt(const struct command *c, int argc, char **argv, const char *shortopts,
	     const struct option *longopts, int *status)
{
	opterr = 0;
	int prev = optind;
	int ch = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (ch == '?') {
		const char *arg = prev < argc ? argv[prev] : "?";
		if (optopt && !(arg[0] == '-' && arg[1] == '-'))
			*status = usage_error(c, "unknown option '-%c'", optopt);
		else
			*status = usage_error(c, "unknown option '%s'", argv[optind - 1]);
	} else if (ch == ':') {
		*status = usage_error(c, "option '%s' needs a value", argv[optind - 1]);
		ch = '?';
	}
	return ch;
}

/* ------------------------------------------------------------ compiling */

void compilation_free(struct compilation *c)
{
	free(c->out);
	c->out = NULL;
	arena_free(&c->arena);
	memset(c, 0, sizeof(*c));
}

/* `build --emit ir`: the rule IR as text (ir_dump), no code generation. */
#define EMIT_IR (-2)

/* Front end and lowering, then (when emit >= 0) code generation.
 * Diagnostics are printed by the stages. Returns an exit status. */
int compile(const char *path, int emit, struct compilation *c)
{
	memset(c, 0, sizeof(*c));
	int errors_before = diag_error_count();
	if (frontend_load(&c->arena, path, &c->sema) != 0) {
		if (diag_error_count() == errors_before)
			error("%s: the front end failed without saying why (please report this)",
			      path);
		return EXIT_USER;
	}
	c->ir = lower_program(&c->arena, &c->sema);
	if (!c->ir) {
		if (diag_error_count() == errors_before)
			error("%s: lowering failed without saying why (please report this)", path);
		return EXIT_USER;
	}
	if (emit < 0)
		return EXIT_OK;
	struct codegen_opts opts = { .emit = (enum codegen_emit)emit, .xdp_priority = 0 };
	if (codegen_emit(c->ir, &opts, &c->out, &c->out_len) != 0) {
		if (diag_error_count() == errors_before)
			error("%s: code generation failed (please report this)", path);
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}

bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Is the file an ELF object (a compiled policy) rather than XDPL source? */
bool is_elf_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	unsigned char m[4] = { 0 };
	size_t n = fread(m, 1, 4, f);
	fclose(f);
	return n == 4 && m[0] == 0x7f && m[1] == 'E' && m[2] == 'L' && m[3] == 'F';
}

/* Explain a failed xdpl_object__load (err < 0). from_source: the object
 * is ours, so an unexplained failure is an internal error. */
int report_load_error(const char *what, int err, bool from_source)
{
	if (err == -EPERM || err == -EACCES) {
		error("loading BPF programs needs root (CAP_BPF and CAP_NET_ADMIN): run with sudo");
		return EXIT_USER;
	}
	if (err == -XDPL_ERRNO__VERIFY) {
		error("%s", xdpl_last_error());
		fprintf(stderr, "xdplc: note: %s compiled, but the kernel refused the result; "
				"if the policy is small, this is an xdplc bug: please report it\n",
			what);
		return EXIT_USER;
	}
	if (err == -ENOMEM) {
		error("%s", *xdpl_last_error() ? xdpl_last_error() : "out of memory");
		return EXIT_INTERNAL;
	}
	error("%s", *xdpl_last_error() ? xdpl_last_error() : strerror(-err));
	return from_source ? EXIT_INTERNAL : EXIT_USER;
}

/* A loaded policy for run (and later attach): from source or a .o. */
struct policy {
	struct compilation comp;
	bool compiled;
	struct xdpl_object *obj;
};

static void policy_free(struct policy *p)
{
	xdpl_object__close(p->obj);
	p->obj = NULL;
	if (p->compiled)
		compilation_free(&p->comp);
	p->compiled = false;
}

static int policy_open(const char *path, struct policy *p)
{
	memset(p, 0, sizeof(*p));
	if (is_elf_file(path)) {
		p->obj = xdpl_object__open_file(path);
		if (!p->obj) {
			error("%s", xdpl_last_error());
			return errno == ENOMEM ? EXIT_INTERNAL : EXIT_USER;
		}
	} else {
		p->compiled = true;
		int st = compile(path, CODEGEN_OBJ, &p->comp);
		if (st != EXIT_OK) {
			policy_free(p);
			return st;
		}
		p->obj = xdpl_object__open_mem(p->comp.out, p->comp.out_len, path);
		if (!p->obj) {
			error("%s", xdpl_last_error());
			policy_free(p);
			return EXIT_INTERNAL; /* we wrote it: the object should open */
		}
	}
	int err = xdpl_object__load(p->obj);
	if (err) {
		int st = report_load_error(path, err, p->compiled);
		policy_free(p);
		return st;
	}
	return EXIT_OK;
}

/* Write buf to path ("-": stdout) through a temporary file and a rename, so
 * a failed build never leaves a truncated output behind. */
static int write_output(const char *path, const void *buf, size_t len)
{
	if (strcmp(path, "-") == 0) {
		if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
			error("writing to standard output failed: %s", strerror(errno));
			return EXIT_USER;
		}
		return EXIT_OK;
	}
	char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		error("out of memory");
		return EXIT_INTERNAL;
	}
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		error("cannot write %s: %s", path, strerror(errno));
		free(tmp);
		return EXIT_USER;
	}
	bool ok = fwrite(buf, 1, len, f) == len;
	int e = errno;
	if (fclose(f) != 0 && ok) {
		ok = false;
		e = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		unlink(tmp);
		error("cannot write %s: %s", path, strerror(e));
	}
	free(tmp);
	return ok ? EXIT_OK : EXIT_USER;
}

/* ------------------------------------------------------------ build */

static const char build_help[] =
	"options:\n"
	"  -o, --output OUT       write to OUT ('-': standard output); default: FILE with\n"
	"                         .xdpl replaced by .o (.ll with --emit llvm, .s with asm,\n"
	"                         .ir with --emit ir)\n"
	"      --emit llvm|asm|ir write LLVM IR, BPF assembly or xdpl's rule IR (parse graph,\n"
	"                         maps, rule groups, rules) instead of the object\n"
	"      --loader OUT.c     also write a standalone C loader embedding the object;\n"
	"                         build it with: cc OUT.c $(pkg-config --cflags --libs libbpf)\n"
	"                         (attach/detach/stats IFNAME, pins like xdplc attach)\n"
	"      --priority N       run priority in libxdp's multi-program dispatcher\n"
	"                         (.xdp_run_config; 1 runs first; default 50)\n"
	"      --explain          print which rules went to which structure (lookup map,\n"
	"                         classifier trees), their sizes and the worst-case cost\n"
	"                         per packet\n"
	"  -h, --help             show this help\n"
	"\n"
	"The object has section \"xdp\", BTF, BTF-defined maps and line info, and\n"
	"loads with ip link, bpftool, xdp-loader and libbpf.\n";

static int cmd_build(int argc, char **argv)
{
	const struct command *c = find_command("build");
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "emit", required_argument, NULL, 'e' },
		{ "loader", required_argument, NULL, 'L' },
		{ "priority", required_argument, NULL, 'P' },
		{ "explain", no_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool explain = false;
	const char *out_path = NULL, *loader_path = NULL;
	int emit = CODEGEN_OBJ, priority = 0; /* or EMIT_IR */
	int ch, status = EXIT_USER;
	while ((ch = next_opt(c, argc, argv, ":o:h", longopts, &status)) != -1) {
		switch (ch) {
		case 'o':
			out_path = optarg;
			break;
		case 'e':
			if (strcmp(optarg, "llvm") == 0 || strcmp(optarg, "ll") == 0)
				emit = CODEGEN_LLVM;
			else if (strcmp(optarg, "asm") == 0 || strcmp(optarg, "s") == 0)
				emit = CODEGEN_ASM;
			else if (strcmp(optarg, "obj") == 0)
				emit = CODEGEN_OBJ;
			else if (strcmp(optarg, "ir") == 0)
				emit = EMIT_IR;
			else
				return usage_error(c, "--emit takes 'llvm', 'asm' or 'ir', not '%s'", optarg);
			break;
		case 'L':
			loader_path = optarg;
			break;
		case 'X':
			explain = true;
			break;
		case 'P': {
			char *end = NULL;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 1000000)
				return usage_error(c, "--priority takes a number from 1 to 1000000, "
						      "not '%s'", optarg);
			priority = (int)v;
			break;
		}
		case 'h':
			print_command_help(c);
			return EXIT_OK;
		default:
			return status;
		}
	}
	if (optind >= argc)
		return usage_error(c, "no input file");
	if (argc - optind > 1)
		return usage_error(c, "one input file at a time ('%s' is extra)", argv[optind + 1]);
	const char *in = argv[optind];

	char *def_out = NULL;
	if (!out_path) {
		const char *ext = emit == CODEGEN_LLVM ? ".ll" : emit == CODEGEN_ASM ? ".s" : emit == EMIT_IR ? ".ir" : ".o";
		size_t base = strlen(in);
		if (has_suffix(in, ".xdpl"))
			base -= 5;
		if (asprintf(&def_out, "%.*s%s", (int)base, in, ext) < 0) {
			error("out of memory");
			return EXIT_INTERNAL;
		}
		out_path = def_out;
	}

	if (loader_path && strcmp(loader_path, "-") == 0 && strcmp(out_path, "-") == 0) {
		free(def_out);
		return usage_error(c, "-o and --loader cannot both write to standard output");
	}

	struct compilation comp;
	status = compile(in, -1, &comp); /* front end and lowering */
	if (status == EXIT_OK && explain) /* classify.h */
		ir_explain(strcmp(out_path, "-") ? stdout : stderr, comp.ir);
	int errors_before = diag_error_count();
	struct codegen_opts opts = { .emit = emit == EMIT_IR ? CODEGEN_OBJ : (enum codegen_emit)emit,
				     .xdp_priority = priority };
	if (status == EXIT_OK && emit == EMIT_IR) {
		char *buf = NULL;
		size_t len = 0;
		FILE *ms = open_memstream(&buf, &len);
		if (ms)
			ir_dump(ms, comp.ir);
		if (!ms || fclose(ms) != 0) {
			error("%s: out of memory", in);
			status = EXIT_INTERNAL;
		}
		comp.out = buf;
		comp.out_len = len;
	} else if (status == EXIT_OK && codegen_emit(comp.ir, &opts, &comp.out, &comp.out_len) != 0) {
		if (diag_error_count() == errors_before)
			error("%s: code generation failed (please report this)", in);
		status = EXIT_INTERNAL;
	}
	/* The loader embeds the object (made separately with --emit llvm|asm). */
	void *lobj = NULL;
	size_t lobj_len = 0, lsrc_len = 0;
	char *lsrc = NULL;
	if (status == EXIT_OK && loader_path) {
		if (emit != CODEGEN_OBJ) {
			opts.emit = CODEGEN_OBJ;
			if (codegen_emit(comp.ir, &opts, &lobj, &lobj_len) != 0) {
				if (diag_error_count() == errors_before)
					error("%s: code generation failed (please report this)", in);
				status = EXIT_INTERNAL;
			}
		}
		FILE *ms = status == EXIT_OK ? open_memstream(&lsrc, &lsrc_len) : NULL;
		if (status == EXIT_OK) {
			int e = 0;
			if (!ms || loader_write(ms, comp.ir, lobj ? lobj : comp.out,
						lobj ? lobj_len : comp.out_len) != 0)
				e = errno ? errno : EIO;
			if (ms && fclose(ms) != 0 && !e)
				e = errno ? errno : EIO;
			if (e) {
				error("%s: cannot generate the loader: %s", in, strerror(e));
				status = EXIT_INTERNAL;
			}
		}
	}
	if (status == EXIT_OK)
		status = write_output(out_path, comp.out, comp.out_len);
	if (status == EXIT_OK && loader_path)
		status = write_output(loader_path, lsrc, lsrc_len);
	free(lsrc);
	free(lobj);
	compilation_free(&comp);
	free(def_out);
	return status;
}

/* ------------------------------------------------------------ check */

static const char check_help[] =
	"Runs the front end (parse, names, types, parse graph) and lowering, and\n"
	"prints every error as FILE:LINE:COL with the source line and a caret.\n"
	"Exit status 0 when the file is valid, 1 otherwise.\n"
	"\n"
	"options:\n"
	"  -h, --help             show this help\n";

static int cmd_check(int argc, char **argv)
{
	const struct command *c = find_command("check");
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, status = EXIT_USER;
	while ((ch = next_opt(c, argc, argv, ":h", longopts, &status)) != -1) {
		if (ch == 'h') {
			print_command_help(c);
			return EXIT_OK;
		}
		return status;
	}
	if (optind >= argc)
		return usage_error(c, "no input file");
	int worst = EXIT_OK;
	for (int i = optind; i < argc; i++) {
		struct compilation comp;
		int st = compile(argv[i], -1, &comp);
		compilation_free(&comp);
		if (st > worst)
			worst = st;
	}
	return worst;
}

/* ------------------------------------------------------------ test */

static const char test_help[] =
	"Compiles each FILE, loads it into the kernel once and runs each of its\n"
	"`test` blocks with BPF_PROG_TEST_RUN: the verdict, the deciding rule and\n"
	"the output packet must be as the test expects. Prints one PASS/FAIL line\n"
	"per test, then 'N passed, N failed'. Needs root.\n"
	"\n"
	"options:\n"
	"  -h, --help             show this help\n";

/* "drop", "redirect" (expect -1), "tx"... */
static const char *expect_action_name(int a)
{
	return a == -1 ? "redirect" : xdpl_action_name(a);
}

static void hex_row(const char *label, const uint8_t *b, size_t len, size_t row, size_t mark)
{
	if (row >= len && !(mark >= row && mark < row + 16))
		return;
	printf("    %-8s %04zx:", label, row);
	for (size_t i = row; i < row + 16; i++) {
		if (i >= len)
			break;
		if (i == mark)
			printf(" [%02x]", b[i]);
		else
			printf(" %02x", b[i]);
	}
	if (mark >= len && mark >= row && mark < row + 16)
		printf(" [end]");
	printf("\n");
}

/* Output mismatch details: the first differing offset and a hex dump of
 * the rows around it, expected above got. */
static void print_output_diff(const uint8_t *exp, size_t exp_len, const uint8_t *got,
			      size_t got_len)
{
	size_t n = exp_len < got_len ? exp_len : got_len;
	size_t d = 0;
	while (d < n && exp[d] == got[d])
		d++;
	if (d < n)
		printf("    first difference at byte %zu (0x%zx): expected %02x, got %02x\n", d, d,
		       exp[d], got[d]);
	else
		printf("    lengths differ: expected %zu bytes, got %zu; equal up to byte %zu\n",
		       exp_len, got_len, d);
	size_t row = d / 16 * 16;
	size_t first = row >= 16 ? row - 16 : row;
	for (size_t r = first; r <= row + 16; r += 16) {
		if (r >= exp_len && r >= got_len)
			break;
		hex_row("expected", exp, exp_len, r, d);
		hex_row("got", got, got_len, r, d);
	}
}

static const char *rule_label(const struct xdpl_object *obj, int rule)
{
	const char *n = rule >= 0 ? xdpl_object__rule_name(obj, rule) : NULL;
	return n ? n : "an unknown rule";
}

/* Runs the tests of one compiled file. Returns an exit status for errors
 * that stop the file (load failure); counts into passed and failed. */
static int run_tests(const char *path, struct compilation *comp, int *passed, int *failed)
{
	struct ir_program *ir = comp->ir;
	if (ir->ntests == 0)
		return EXIT_OK;
	/* When the program cannot be loaded, none of its tests can pass. */
	struct xdpl_object *obj = xdpl_object__open_mem(comp->out, comp->out_len, path);
	if (!obj) {
		error("%s", xdpl_last_error());
		*failed += ir->ntests;
		return EXIT_INTERNAL;
	}
	int err = xdpl_object__load(obj);
	if (err) {
		int st = report_load_error(path, err, true);
		xdpl_object__close(obj);
		*failed += ir->ntests;
		return st;
	}
	int nrules = ir->nrules;
	for (int i = 0; i < ir->ntests; i++) {
		const struct ir_test *t = &ir->tests[i];
		const char *file = t->file ? t->file : path;
		struct xdpl_run_result res;
		err = xdpl_object__test_run(obj, t->packet, t->packet_len, 1, &res);
		if (err) {
			printf("FAIL %s:%d %s: could not run the packet: %s\n", file, t->line,
			       t->name, xdpl_last_error());
			(*failed)++;
			continue;
		}
		bool action_ok = true, rule_ok = true, out_ok = true;
		if (t->expect_action == -1)
			action_ok = res.action == ACT_REDIRECT;
		else if (t->expect_action >= 0)
			action_ok = res.action == t->expect_action;
		if (t->expect_rule >= 0)
			rule_ok = res.rule == t->expect_rule;
		if (t->output)
			out_ok = res.out_len == t->output_len &&
				 memcmp(res.out, t->output, t->output_len) == 0;
		if (action_ok && rule_ok && out_ok) {
			printf("PASS %s:%d %s\n", file, t->line, t->name);
			(*passed)++;
		} else {
			(*failed)++;
			printf("FAIL %s:%d %s: ", file, t->line, t->name);
			if (!action_ok || !rule_ok) {
				printf("expected");
				if (t->expect_action != -2)
					printf(" %s", expect_action_name(t->expect_action));
				if (t->expect_rule >= 0) {
					const char *rn = t->expect_rule < nrules
								 ? ir->rules[t->expect_rule].name
								 : "default";
					printf(" by %s", rn);
				}
				printf(", got %s by %s\n", xdpl_action_name(res.action),
				       rule_label(obj, res.rule));
				if (!out_ok)
					printf("    and the output packet differs:\n");
			} else {
				printf("output packet differs\n");
			}
			if (!out_ok)
				print_output_diff(t->output, t->output_len, res.out, res.out_len);
		}
		free(res.out);
	}
	xdpl_object__close(obj);
	return EXIT_OK;
}

static int cmd_test(int argc, char **argv)
{
	const struct command *c = find_command("test");
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, status = EXIT_USER;
	while ((ch = next_opt(c, argc, argv, ":h", longopts, &status)) != -1) {
		if (ch == 'h') {
			print_command_help(c);
			return EXIT_OK;
		}
		return status;
	}
	if (optind >= argc)
		return usage_error(c, "no input file");
	int passed = 0, failed = 0, worst = EXIT_OK;
	for (int i = optind; i < argc; i++) {
		struct compilation comp;
		int st = compile(argv[i], CODEGEN_OBJ, &comp);
		if (st == EXIT_OK)
			st = run_tests(argv[i], &comp, &passed, &failed);
		compilation_free(&comp);
		if (st > worst)
			worst = st;
		/* Without privileges every file fails the same way: say it once. */
		if (st != EXIT_OK && geteuid() != 0 && i + 1 < argc) {
			bool perm = strstr(xdpl_last_error(), "run with sudo") != NULL;
			if (perm)
				break;
		}
	}
	fflush(stderr);
	printf("%d passed, %d failed\n", passed, failed);
	if (failed && worst == EXIT_OK)
		worst = EXIT_USER;
	return worst;
}

/* ------------------------------------------------------------ run */

static const char run_help[] =
	"Sends every packet of a capture through the program in the kernel\n"
	"(BPF_PROG_TEST_RUN) and prints '#N LEN VERDICT RULE' per packet, then the\n"
	"packets and bytes counted by each rule. FILE is XDPL source or a compiled\n"
	"object. Sets, maps and rate limits keep their state from packet to packet.\n"
	"Needs root.\n"
	"\n"
	"options:\n"
	"      --pcap IN          the capture to read (Ethernet link type)\n"
	"  -w, --write OUT        write the packets that are not dropped, after\n"
	"                         rewrites, to the capture OUT\n"
	"      --json             print one JSON document instead of text\n"
	"  -h, --help             show this help\n";

void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static int cmd_run(int argc, char **argv)
{
	const struct command *c = find_command("run");
	static const struct option longopts[] = {
		{ "pcap", required_argument, NULL, 'p' },
		{ "write", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pcap_in = NULL, *pcap_out = NULL;
	bool json = false;
	int ch, status = EXIT_USER;
	while ((ch = next_opt(c, argc, argv, ":w:h", longopts, &status)) != -1) {
		switch (ch) {
		case 'p':
			pcap_in = optarg;
			break;
		case 'w':
			pcap_out = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			print_command_help(c);
			return EXIT_OK;
		default:
			return status;
		}
	}
	if (optind >= argc)
		return usage_error(c, "no input file");
	if (argc - optind > 1)
		return usage_error(c, "one policy at a time ('%s' is extra)", argv[optind + 1]);
	if (!pcap_in)
		return usage_error(c, "--pcap IN is required");
	const char *path = argv[optind];

	char errbuf[PCAP_ERRBUF_SIZE] = "";
	pcap_t *pc = pcap_open_offline(pcap_in, errbuf);
	if (!pc) {
		error("cannot read the capture %s: %s", pcap_in, errbuf);
		return EXIT_USER;
	}
	if (pcap_datalink(pc) != DLT_EN10MB) {
		const char *ln = pcap_datalink_val_to_name(pcap_datalink(pc));
		error("%s has link type %s; XDP programs see Ethernet frames, so only Ethernet "
		      "(EN10MB) captures can be run",
		      pcap_in, ln ? ln : "unknown");
		pcap_close(pc);
		return EXIT_USER;
	}

	struct policy pol;
	status = policy_open(path, &pol);
	if (status != EXIT_OK) {
		pcap_close(pc);
		return status;
	}
	struct xdpl_object *obj = pol.obj;
	int nslots = xdpl_object__rule_count(obj) + 1;

	pcap_dumper_t *dump = NULL;
	if (pcap_out) {
		dump = pcap_dump_open(pc, pcap_out);
		if (!dump) {
			error("cannot write %s: %s", pcap_out, pcap_geterr(pc));
			policy_free(&pol);
			pcap_close(pc);
			return EXIT_USER;
		}
	}

	struct xdpl_counter *before = calloc((size_t)nslots, sizeof(*before));
	struct xdpl_counter *after = calloc((size_t)nslots, sizeof(*after));
	/* Own tallies: the deciding rule per packet (fallback without counters). */
	struct xdpl_counter *decided = calloc((size_t)nslots + 1, sizeof(*decided));
	if (!before || !after || !decided) {
		error("out of memory");
		status = EXIT_INTERNAL;
		goto out;
	}
	bool have_counters = xdpl_object__read_counters(obj, before, nslots) == 0;

	uint64_t per_action[6] = { 0 }; /* 0..4, 5 = other */
	uint64_t npackets = 0, nerrors = 0, nwritten = 0;
	char last_err[256] = "";
	if (json) {
		printf("{\"program\": ");
		json_string(stdout, xdpl_object__program_name(obj));
		printf(", \"file\": ");
		json_string(stdout, path);
		printf(", \"pcap\": ");
		json_string(stdout, pcap_in);
		printf(",\n \"packets\": [");
	}
	struct pcap_pkthdr *h;
	const u_char *data;
	int r;
	while ((r = pcap_next_ex(pc, &h, &data)) == 1) {
		npackets++;
		struct xdpl_run_result res;
		int err = xdpl_object__test_run(obj, data, h->caplen, 1, &res);
		if (json)
			printf("%s\n  {\"n\": %llu, \"len\": %u", npackets > 1 ? "," : "",
			       (unsigned long long)npackets, h->caplen);
		if (err) {
			nerrors++;
			snprintf(last_err, sizeof(last_err), "%s", xdpl_last_error());
			if (json) {
				printf(", \"error\": ");
				json_string(stdout, xdpl_last_error());
				printf("}");
			} else {
				printf("#%llu %u error -\n", (unsigned long long)npackets, h->caplen);
			}
			if (err == -EPERM) {
				error("%s", xdpl_last_error());
				status = EXIT_USER;
				goto out;
			}
			continue;
		}
		const char *rname = res.rule >= 0 ? xdpl_object__rule_name(obj, res.rule) : NULL;
		if (json) {
			printf(", \"verdict\": ");
			json_string(stdout, xdpl_action_name(res.action));
			printf(", \"rule\": ");
			if (rname)
				json_string(stdout, rname);
			else
				printf("null");
			if (res.out_len != h->caplen)
				printf(", \"out_len\": %zu", res.out_len);
			printf("}");
		} else {
			printf("#%llu %u %s %s\n", (unsigned long long)npackets, h->caplen,
			       xdpl_action_name(res.action), rname ? rname : "-");
		}
		per_action[res.action >= 0 && res.action <= 4 ? res.action : 5]++;
		int slot = res.rule >= 0 && res.rule < nslots ? res.rule : nslots;
		decided[slot].packets++;
		decided[slot].bytes += h->caplen;
		if (dump && res.action != ACT_DROP && res.action != ACT_ABORTED) {
			struct pcap_pkthdr oh = *h;
			oh.caplen = (bpf_u_int32)res.out_len;
			oh.len = (bpf_u_int32)(res.out_len + (h->len > h->caplen ? h->len - h->caplen : 0));
			pcap_dump((u_char *)dump, &oh, res.out);
			nwritten++;
		}
		free(res.out);
	}
	if (r == -1) {
		if (json)
			printf("]}\n");
		error("reading %s failed after %llu packets: %s", pcap_in,
		      (unsigned long long)npackets, pcap_geterr(pc));
		status = EXIT_USER;
		goto out;
	}

	bool counted = have_counters && xdpl_object__read_counters(obj, after, nslots) == 0;
	struct xdpl_counter *tot = counted ? after : decided;
	if (counted)
		for (int i = 0; i < nslots; i++) {
			after[i].packets -= before[i].packets;
			after[i].bytes -= before[i].bytes;
		}

	if (json) {
		printf("\n ],\n \"rules\": [");
		for (int i = 0; i < nslots; i++) {
			printf("%s\n  {\"index\": %d, \"name\": ", i ? "," : "", i);
			json_string(stdout, xdpl_object__rule_name(obj, i));
			printf(", \"verdict\": ");
			json_string(stdout, xdpl_object__rule_verdict(obj, i));
			printf(", \"line\": %d, \"packets\": %llu, \"bytes\": %llu, \"decided\": %llu}",
			       xdpl_object__rule_line(obj, i), (unsigned long long)tot[i].packets,
			       (unsigned long long)tot[i].bytes,
			       (unsigned long long)decided[i].packets);
		}
		printf("\n ],\n \"verdicts\": {");
		for (int a = 0; a <= 4; a++)
			printf("%s\"%s\": %llu", a ? ", " : "", xdpl_action_name(a),
			       (unsigned long long)per_action[a]);
		printf("},\n \"total\": %llu, \"errors\": %llu", (unsigned long long)npackets,
		       (unsigned long long)nerrors);
		if (dump)
			printf(", \"written\": %llu", (unsigned long long)nwritten);
		printf("\n}\n");
	} else {
		int w = 4;
		for (int i = 0; i < nslots; i++) {
			int l = (int)strlen(xdpl_object__rule_name(obj, i));
			if (l > w)
				w = l;
		}
		printf("\n%-*s  %-9s %12s %14s\n", w, "rule", "verdict", "packets", "bytes");
		for (int i = 0; i < nslots; i++)
			printf("%-*s  %-9s %12llu %14llu\n", w, xdpl_object__rule_name(obj, i),
			       xdpl_object__rule_verdict(obj, i), (unsigned long long)tot[i].packets,
			       (unsigned long long)tot[i].bytes);
		printf("\n%llu packets:", (unsigned long long)npackets);
		for (int a = 0; a <= 4; a++)
			printf(" %llu %s%s", (unsigned long long)per_action[a], xdpl_action_name(a),
			       a < 4 ? "," : "");
		if (nerrors)
			printf(", %llu not run", (unsigned long long)nerrors);
		printf("\n");
		if (dump)
			printf("%llu packets written to %s\n", (unsigned long long)nwritten, pcap_out);
	}
	if (nerrors)
		warning("%llu packet%s could not be run; the last one because: %s",
			(unsigned long long)nerrors, nerrors == 1 ? "" : "s", last_err);
	status = EXIT_OK;
out:
	free(before);
	free(after);
	free(decided);
	if (dump) {
		if (pcap_dump_flush(dump) != 0 && status == EXIT_OK) {
			error("writing %s failed", pcap_out);
			status = EXIT_USER;
		}
		pcap_dump_close(dump);
	}
	policy_free(&pol);
	pcap_close(pc);
	return status;
}

/* ------------------------------------------------------------ table */

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "build", cmd_build, "FILE.xdpl [-o OUT.o] [--emit llvm|asm|ir] [--loader OUT.c] [--priority N]",
	  "Compile a policy to a BPF ELF object", build_help },
	{ "check", cmd_check, "FILE.xdpl...", "Check a policy without generating code",
	  check_help },
	{ "test", cmd_test, "FILE.xdpl...", "Run the test blocks of policies in the kernel",
	  test_help },
	{ "run", cmd_run, "FILE.xdpl|OBJ.o --pcap IN [--write OUT.pcap] [--json]",
	  "Run every packet of a capture through a policy in the kernel", run_help },
	{ "attach", cmd_attach, "FILE.xdpl|OBJ.o --dev IF [--mode native|skb] [--force] [--reset]",
	  "Load a policy and attach it to a device (or replace the attached one)", attach_help },
	{ "detach", cmd_detach, "--dev IF", "Detach the policy of a device and remove its pins",
	  detach_help },
	{ "status", cmd_status, "[--json]", "List the attached policies", status_help },
	{ "stats", cmd_stats, "--dev IF [--json] [--watch] [--interval S]",
	  "Packets and bytes per rule and per verdict of an attached policy", stats_help },
	{ "set", cmd_set, "--dev IF NAME add|del|list [ELEM [VALUE]]",
	  "Change or list a set or map of an attached policy", set_help },
	{ "help", cmd_help, "[COMMAND]", "Show help for xdplc or one command", "" },
};
#define NCOMMANDS ((int)(sizeof(commands) / sizeof(commands[0])))

const struct command *find_command(const char *name)
{
	for (int i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_help(FILE *f)
{
	fprintf(f, "usage: xdplc COMMAND [ARGS...]\n"
		   "       xdplc COMMAND --help | --help | --version\n\n"
		   "Compiles XDPL packet rules to eBPF XDP programs, tests and runs them.\n\n"
		   "commands:\n");
	for (int i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nExit status: 0 success, 1 an error in the input or the environment\n"
		   "(syntax, types, verifier, privileges, files), 2 an internal error.\n"
		   "XDPL_DEBUG=1 prints libbpf's messages.\n");
}

static int cmd_help(int argc, char **argv)
{
	if (argc > 1) {
		const struct command *c = find_command(argv[1]);
		if (!c) {
			error("unknown command '%s'", argv[1]);
			return EXIT_USER;
		}
		print_command_help(c);
		return EXIT_OK;
	}
	print_help(stdout);
	return EXIT_OK;
}

static void print_version(void)
{
	unsigned maj = 0, min = 0, patch = 0;
	LLVMGetVersion(&maj, &min, &patch);
	printf("xdplc %s (XDPL language 1, metadata %d; LLVM %u.%u.%u; libbpf %d.%d)\n",
	       XDPL_VERSION, XDPL_META_VERSION, maj, min, patch, LIBBPF_MAJOR_VERSION,
	       LIBBPF_MINOR_VERSION);
}

int main(int argc, char **argv)
{
	int status;
	if (argc < 2) {
		print_help(stderr);
		return EXIT_USER;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		print_help(stdout);
		status = EXIT_OK;
	} else if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		print_version();
		status = EXIT_OK;
	} else if (cmd[0] == '-') {
		error("unknown option '%s' (options come after the command)", cmd);
		fprintf(stderr, "Try 'xdplc --help' for more information.\n");
		status = EXIT_USER;
	} else {
		const struct command *c = find_command(cmd);
		if (!c) {
			const char *names[NCOMMANDS];
			for (int i = 0; i < NCOMMANDS; i++)
				names[i] = commands[i].name;
			const char *near = diag_closest(cmd, names, NCOMMANDS);
			if (near)
				error("unknown command '%s'; did you mean '%s'?", cmd, near);
			else
				error("unknown command '%s'", cmd);
			fprintf(stderr, "Try 'xdplc --help' for the list of commands.\n");
			status = EXIT_USER;
		} else {
			static char name[64];
			snprintf(name, sizeof(name), "xdplc %s", c->name);
			command_name = name;
			optind = 0; /* full getopt reinitialisation (glibc) */
			status = c->run(argc - 1, argv + 1);
		}
	}
	diag_reset();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "xdplc: error: writing the output failed: %s\n", strerror(errno));
		if (status == EXIT_OK)
			status = EXIT_USER;
	}
	return status;
}
