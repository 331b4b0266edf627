/* One source text through parse, sema, lowering and (optionally) codegen.
 * The front end reads files (imports are resolved next to them), so the
 * text goes through one temporary file reused for every input. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "codegen.h"
#include "diag.h"
#include "frontend.h"
#include "fuzz_common.h"
#include "lower.h"

struct fuzz_counts fuzz_counts;

static char tmp_path[] = "/tmp/xdpl-fuzz-XXXXXX.xdpl";
static int tmp_ready;

static void write_input(const uint8_t *data, size_t len)
{
	if (!tmp_ready) {
		int fd = mkstemps(tmp_path, 5);
		if (fd < 0) {
			perror("mkstemps");
			exit(2);
		}
		close(fd);
		tmp_ready = 1;
	}
	FILE *f = fopen(tmp_path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f)) {
		perror(tmp_path);
		exit(2);
	}
}

/* A program that lowers must compile: anything else is an internal error
 * the user could do nothing about. */
static void compile(const struct ir_program *ir)
{
	void *obj = NULL;
	size_t obj_len = 0;
	struct codegen_opts opts = { .emit = CODEGEN_OBJ };
	if (codegen_emit(ir, &opts, &obj, &obj_len) == 0)
		fuzz_counts.compiled++;
	else
		fuzz_counts.codegen_failed++;
	free(obj);
}

void fuzz_run_source(const uint8_t *data, size_t len, int with_codegen)
{
	write_input(data, len);
	FILE *devnull = fopen("/dev/null", "w");
	diag_set_stream(devnull);
	struct arena a = { 0 };
	struct sema_program sp;
	if (frontend_load(&a, tmp_path, &sp) == 0) {
		struct ir_program *ir = lower_program(&a, &sp);
		if (ir) {
			fuzz_counts.lowered++;
			if (with_codegen)
				compile(ir);
		}
	} else {
		fuzz_counts.rejected++;
	}
	arena_free(&a);
	diag_reset();
	diag_set_stream(NULL);
	fclose(devnull);
}

void fuzz_cleanup(void)
{
	if (tmp_ready)
		unlink(tmp_path);
}
