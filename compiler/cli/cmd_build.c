/* xdplc build and xdplc check. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "codegen.h"
#include "diag.h"
#include "ir.h"
#include "loader.h"
#include "cli.h"

/* ------------------------------------------------------------ build */

const char build_help[] =
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
	"      --Werror           treat warnings as errors (exit status 1)\n"
	"  -h, --help             show this help\n"
	"\n"
	"The object has section \"xdp\", BTF, BTF-defined maps and line info, and\n"
	"loads with ip link, bpftool, xdp-loader and libbpf.\n";

struct build_opts {
	const char *in, *out_path, *loader_path;
	int emit; /* enum codegen_emit or EMIT_IR */
	int priority;
	bool werror;
	bool explain;
};

static int parse_emit(const struct command *c, const char *v, void *dst)
{
	int *emit = dst;
	if (strcmp(v, "llvm") == 0 || strcmp(v, "ll") == 0)
		*emit = CODEGEN_LLVM;
	else if (strcmp(v, "asm") == 0 || strcmp(v, "s") == 0)
		*emit = CODEGEN_ASM;
	else if (strcmp(v, "obj") == 0)
		*emit = CODEGEN_OBJ;
	else if (strcmp(v, "ir") == 0)
		*emit = EMIT_IR;
	else
		return usage_error(c, "--emit takes 'llvm', 'asm' or 'ir', not '%s'", v);
	return EXIT_OK;
}

static int parse_priority(const struct command *c, const char *v, void *dst)
{
	char *end = NULL;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 1 || n > 1000000)
		return usage_error(c, "--priority takes a number from 1 to 1000000, not '%s'", v);
	*(int *)dst = (int)n;
	return EXIT_OK;
}

/* The options and the input; -1 to go on, else an exit status. */
static int build_parse(const struct command *c, int argc, char **argv, struct build_opts *o)
{
	const struct cli_opt opts[] = {
		{ "output", 'o', CLI_STRING, &o->out_path, NULL },
		{ "emit", 0, CLI_CUSTOM, &o->emit, parse_emit },
		{ "loader", 0, CLI_STRING, &o->loader_path, NULL },
		{ "priority", 0, CLI_CUSTOM, &o->priority, parse_priority },
		{ "explain", 0, CLI_FLAG, &o->explain, NULL },
		{ "Werror", 0, CLI_FLAG, &o->werror, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	int first, st = cli_parse(c, argc, argv, opts, 0, &first);
	diag_set_werror(o->werror);
	if (st < 0)
		st = cli_inputs(c, argc, argv, first, 1, "one input file at a time");
	if (st < 0)
		o->in = argv[first];
	return st;
}

/* Without -o: the input with .xdpl replaced by the output's extension. */
static int default_output(struct build_opts *o, char **def_out)
{
	const char *ext = o->emit == CODEGEN_LLVM ? ".ll"
			  : o->emit == CODEGEN_ASM ? ".s"
			  : o->emit == EMIT_IR	   ? ".ir"
						   : ".o";
	size_t base = strlen(o->in);
	if (has_suffix(o->in, ".xdpl"))
		base -= 5;
	if (asprintf(def_out, "%.*s%s", (int)base, o->in, ext) < 0) {
		*def_out = NULL;
		error("out of memory");
		return EXIT_INTERNAL;
	}
	o->out_path = *def_out;
	return EXIT_OK;
}

/* `--emit ir`: the rule IR as text into comp->out. */
static int emit_ir_text(const char *in, struct compilation *comp)
{
	char *buf = NULL;
	size_t len = 0;
	int status = EXIT_OK;
	FILE *ms = open_memstream(&buf, &len);
	if (ms)
		ir_dump(ms, comp->ir);
	if (!ms || fclose(ms) != 0) {
		error("%s: out of memory", in);
		status = EXIT_INTERNAL;
	}
	comp->out = buf;
	comp->out_len = len;
	return status;
}

/* The loader's C source (*src), embedding the object: comp->out, or one
 * made separately when the main output is --emit llvm|asm. */
static int make_loader(const struct build_opts *o, const struct compilation *comp,
		       struct codegen_opts *cg, int errors_before, char **src, size_t *src_len)
{
	void *obj = NULL;
	size_t obj_len = 0;
	if (o->emit != CODEGEN_OBJ) {
		cg->emit = CODEGEN_OBJ;
		int st = compile_codegen(o->in, comp, cg, &obj, &obj_len, errors_before);
		if (st != EXIT_OK) {
			free(obj);
			return st;
		}
	}
	int e = 0;
	FILE *ms = open_memstream(src, src_len);
	if (!ms || loader_write(ms, comp->ir, obj ? obj : comp->out, obj ? obj_len : comp->out_len) != 0)
		e = errno ? errno : EIO;
	if (ms && fclose(ms) != 0 && !e)
		e = errno ? errno : EIO;
	free(obj);
	if (e) {
		error("%s: cannot generate the loader: %s", o->in, strerror(e));
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}

/* Compile, generate the outputs, write them. */
static int build(const struct build_opts *o)
{
	struct compilation comp;
	int status = compile(o->in, -1, &comp); /* front end and lowering */
	if (status == EXIT_OK && o->explain) /* classify.h */
		ir_explain(strcmp(o->out_path, "-") ? stdout : stderr, comp.ir);
	int errors_before = diag_error_count();
	struct codegen_opts cg = { .emit = o->emit == EMIT_IR ? CODEGEN_OBJ : (enum codegen_emit)o->emit,
				   .xdp_priority = o->priority, .rules = compile_rules_mode() };
	if (status == EXIT_OK && o->emit == EMIT_IR)
		status = emit_ir_text(o->in, &comp);
	else if (status == EXIT_OK)
		status = compile_codegen(o->in, &comp, &cg, &comp.out, &comp.out_len, errors_before);
	char *lsrc = NULL;
	size_t lsrc_len = 0;
	if (status == EXIT_OK && o->loader_path)
		status = make_loader(o, &comp, &cg, errors_before, &lsrc, &lsrc_len);
	if (status == EXIT_OK)
		status = write_output(o->out_path, comp.out, comp.out_len);
	if (status == EXIT_OK && o->loader_path)
		status = write_output(o->loader_path, lsrc, lsrc_len);
	free(lsrc);
	compilation_free(&comp);
	return status;
}

int cmd_build(int argc, char **argv)
{
	const struct command *c = find_command("build");
	struct build_opts o = { .emit = CODEGEN_OBJ };
	int status = build_parse(c, argc, argv, &o);
	if (status >= 0)
		return status;
	char *def_out = NULL;
	if (!o.out_path && (status = default_output(&o, &def_out)) != EXIT_OK)
		return status;
	if (o.loader_path && strcmp(o.loader_path, "-") == 0 && strcmp(o.out_path, "-") == 0)
		status = usage_error(c, "-o and --loader cannot both write to standard output");
	else
		status = build(&o);
	free(def_out);
	return status;
}

/* ------------------------------------------------------------ check */

const char check_help[] =
	"Runs the front end (parse, names, types, parse graph) and lowering, and\n"
	"prints every error as FILE:LINE:COL with the source line and a caret.\n"
	"Exit status 0 when the file is valid, 1 otherwise.\n"
	"\n"
	"options:\n"
	"      --Werror           treat warnings as errors (exit status 1)\n"
	"  -h, --help             show this help\n";

int cmd_check(int argc, char **argv)
{
	const struct command *c = find_command("check");
	bool werror = false;
	const struct cli_opt opts[] = {
		{ "Werror", 0, CLI_FLAG, &werror, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	int first, st = cli_parse(c, argc, argv, opts, 0, &first);
	if (st < 0)
		st = cli_inputs(c, argc, argv, first, 0, NULL);
	if (st >= 0)
		return st;
	diag_set_werror(werror);
	int worst = EXIT_OK;
	for (int i = first; i < argc; i++) {
		struct compilation comp;
		st = compile(argv[i], -1, &comp);
		compilation_free(&comp);
		if (st > worst)
			worst = st;
	}
	return worst;
}
