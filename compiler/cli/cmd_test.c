/* xdplc test: the `test` blocks of policies, run in the kernel. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
#include "ir.h"
#include "xdpl.h"
#include "cli.h"

const char test_help[] =
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

/* What a test found against what it expects. */
struct test_check {
	bool action_ok, rule_ok, out_ok;
};

static struct test_check test_check(const struct ir_test *t, const struct xdpl_run_result *res)
{
	struct test_check k = { true, true, true };
	if (t->expect_action == -1)
		k.action_ok = res->action == ACT_REDIRECT;
	else if (t->expect_action >= 0)
		k.action_ok = res->action == t->expect_action;
	if (t->expect_rule >= 0)
		k.rule_ok = res->rule == t->expect_rule;
	if (t->output)
		k.out_ok = res->out_len == t->output_len &&
			   memcmp(res->out, t->output, t->output_len) == 0;
	return k;
}

/* The FAIL line of test t and what differs. */
static void print_test_failure(const struct ir_program *ir, const struct xdpl_object *obj,
			       const char *file, const struct ir_test *t,
			       const struct xdpl_run_result *res, struct test_check k)
{
	printf("FAIL %s:%d %s: ", file, t->line, t->name);
	if (!k.action_ok || !k.rule_ok) {
		printf("expected");
		if (t->expect_action != -2)
			printf(" %s", expect_action_name(t->expect_action));
		if (t->expect_rule >= 0) {
			const char *rn = t->expect_rule < ir->nrules ? ir->rules[t->expect_rule].name
								     : "default";
			printf(" by %s", rn);
		}
		printf(", got %s by %s\n", xdpl_action_name(res->action), rule_label(obj, res->rule));
		if (!k.out_ok)
			printf("    and the output packet differs:\n");
	} else {
		printf("output packet differs\n");
	}
	if (!k.out_ok)
		print_output_diff(t->output, t->output_len, res->out, res->out_len);
}

/* Run test t; true when it passed. */
static bool run_test(const struct ir_program *ir, struct xdpl_object *obj, const char *path,
		     const struct ir_test *t)
{
	const char *file = t->file ? t->file : path;
	struct xdpl_run_result res;
	if (xdpl_object__test_run(obj, t->packet, t->packet_len, 1, &res)) {
		printf("FAIL %s:%d %s: could not run the packet: %s\n", file, t->line, t->name,
		       xdpl_last_error());
		return false;
	}
	struct test_check k = test_check(t, &res);
	bool ok = k.action_ok && k.rule_ok && k.out_ok;
	if (ok)
		printf("PASS %s:%d %s\n", file, t->line, t->name);
	else
		print_test_failure(ir, obj, file, t, &res, k);
	free(res.out);
	return ok;
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
	for (int i = 0; i < ir->ntests; i++) {
		if (run_test(ir, obj, path, &ir->tests[i]))
			(*passed)++;
		else
			(*failed)++;
	}
	xdpl_object__close(obj);
	return EXIT_OK;
}

int cmd_test(int argc, char **argv)
{
	const struct command *c = find_command("test");
	int first, st = cli_parse_files(c, argc, argv, &first);
	if (st >= 0)
		return st;
	int passed = 0, failed = 0, worst = EXIT_OK;
	for (int i = first; i < argc; i++) {
		struct compilation comp;
		st = compile(argv[i], CODEGEN_OBJ, &comp);
		if (st == EXIT_OK)
			st = run_tests(argv[i], &comp, &passed, &failed);
		compilation_free(&comp);
		if (st > worst)
			worst = st;
		/* Without privileges every file fails the same way: say it once. */
		if (st != EXIT_OK && geteuid() != 0 && i + 1 < argc &&
		    strstr(xdpl_last_error(), "run with sudo") != NULL)
			break;
	}
	fflush(stderr);
	printf("%d passed, %d failed\n", passed, failed);
	if (failed && worst == EXIT_OK)
		worst = EXIT_USER;
	return worst;
}
