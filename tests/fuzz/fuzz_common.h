/* What the fuzz targets share: one source text through the compiler's
 * stages, in-process, counting how far it got. */
#ifndef XDPL_FUZZ_COMMON_H
#define XDPL_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

struct fuzz_counts {
	unsigned long rejected;       /* front end gave diagnostics */
	unsigned long lowered;        /* reached the rule IR */
	unsigned long compiled;       /* codegen gave an object */
	unsigned long codegen_failed; /* lowered but codegen failed: a bug */
};

extern struct fuzz_counts fuzz_counts;

/* Parse, check and lower DATA as a policy file (codegen too when
 * WITH_CODEGEN); diagnostics go to /dev/null. Crashes and sanitizer
 * reports are what the callers look for. */
void fuzz_run_source(const uint8_t *data, size_t len, int with_codegen);

/* Remove the temporary file fuzz_run_source writes. */
void fuzz_cleanup(void);

#endif
