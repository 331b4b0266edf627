/* Compiling and loading for the xdplc commands: source to object in
 * memory, a policy (source or object) loaded into the kernel, and outputs
 * written whole or not at all. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
#include "diag.h"
#include "frontend.h"
#include "lower.h"
#include "xdpl.h"
#include "cli.h"

void compilation_free(struct compilation *c)
{
	free(c->out);
	c->out = NULL;
	arena_free(&c->arena);
	memset(c, 0, sizeof(*c));
}

int compile_codegen(const char *path, const struct compilation *c, const struct codegen_opts *opts,
		    void **out, size_t *out_len, int errors_before)
{
	int rc = codegen_emit(c->ir, opts, out, out_len);
	if (rc == -E2BIG)
		return EXIT_USER;
	if (rc != 0) {
		if (diag_error_count() == errors_before)
			error("%s: code generation failed (please report this)", path);
		return EXIT_INTERNAL;
	}
	return EXIT_OK;
}

/* Mode switches for comparing how policies are compiled (bench/
 * scale_bench.sh, docs/design.md): the stages take them as options, only
 * the CLI reads the environment. */
static struct lower_opts lower_opts_from_env(void)
{
	return (struct lower_opts){ .no_prune = getenv("XDPL_NO_PRUNE") != NULL,
				    .no_regroup = getenv("XDPL_NO_REGROUP") != NULL,
				    .no_classify = getenv("XDPL_NO_CLASSIFY") != NULL };
}

enum codegen_rules_mode compile_rules_mode(void)
{
	const char *m = getenv("XDPL_CODEGEN_RULES");
	if (m && strcmp(m, "spec") == 0)
		return CODEGEN_RULES_SPEC;
	if (m && strcmp(m, "record") == 0)
		return CODEGEN_RULES_RECORD;
	return CODEGEN_RULES_AUTO;
}

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
	struct lower_opts lopts = lower_opts_from_env();
	c->ir = lower_program_opts(&c->arena, &c->sema, &lopts);
	if (!c->ir) {
		if (diag_error_count() == errors_before)
			error("%s: lowering failed without saying why (please report this)", path);
		return EXIT_USER;
	}
	if (emit < 0)
		return EXIT_OK;
	struct codegen_opts opts = { .emit = (enum codegen_emit)emit, .rules = compile_rules_mode() };
	return compile_codegen(path, c, &opts, &c->out, &c->out_len, errors_before);
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

void policy_free(struct policy *p)
{
	xdpl_object__close(p->obj);
	p->obj = NULL;
	if (p->compiled)
		compilation_free(&p->comp);
	p->compiled = false;
}

/* The object of a policy: the file itself (an ELF object), or compiled. */
static int policy_open_object(const char *path, struct policy *p)
{
	if (is_elf_file(path)) {
		p->obj = xdpl_object__open_file(path);
		if (!p->obj) {
			error("%s", xdpl_last_error());
			return errno == ENOMEM ? EXIT_INTERNAL : EXIT_USER;
		}
		return EXIT_OK;
	}
	p->compiled = true;
	int st = compile(path, CODEGEN_OBJ, &p->comp);
	if (st != EXIT_OK)
		return st;
	p->obj = xdpl_object__open_mem(p->comp.out, p->comp.out_len, path);
	if (!p->obj) {
		error("%s", xdpl_last_error());
		return EXIT_INTERNAL; /* we wrote it: the object should open */
	}
	return EXIT_OK;
}

int policy_open(const char *path, struct policy *p)
{
	memset(p, 0, sizeof(*p));
	int st = policy_open_object(path, p);
	if (st == EXIT_OK) {
		int err = xdpl_object__load(p->obj);
		if (err)
			st = report_load_error(path, err, p->compiled);
	}
	if (st != EXIT_OK)
		policy_free(p);
	return st;
}

static int write_stdout(const void *buf, size_t len)
{
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		error("writing to standard output failed: %s", strerror(errno));
		return EXIT_USER;
	}
	return EXIT_OK;
}

/* Write buf to path ("-": stdout) through a temporary file and a rename, so
 * a failed build never leaves a truncated output behind. */
int write_output(const char *path, const void *buf, size_t len)
{
	if (strcmp(path, "-") == 0)
		return write_stdout(buf, len);
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
