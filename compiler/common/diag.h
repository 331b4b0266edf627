/* Diagnostics: "file:line:col: error: message", the source line, and a caret
 * under the offending text. Every stage reports through here so errors look
 * the same everywhere and several can be reported in one run. */
#ifndef XDPL_DIAG_H
#define XDPL_DIAG_H

#include <stdio.h>

/* Source location. Field names match bison's YYLTYPE so the parser can use
 * it directly (%define api.location.type {struct xdpl_loc}). Lines and
 * columns are 1-based; last_column is inclusive. file indexes the source
 * registry below (0 = none). */
struct xdpl_loc {
	int first_line, first_column;
	int last_line, last_column;
	int file;
};

/* Source registry: every file (user, import, stdlib) is registered before it
 * is lexed so diagnostics can print its lines. Returns the file id (>= 1). */
int diag_add_source(const char *path, const char *text, size_t len);
const char *diag_source_path(int file);
const char *diag_source_text(int file);

enum diag_level { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE };

void diag_report(enum diag_level level, struct xdpl_loc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define diag_error(loc, ...) diag_report(DIAG_ERROR, (loc), __VA_ARGS__)
#define diag_warning(loc, ...) diag_report(DIAG_WARNING, (loc), __VA_ARGS__)
#define diag_note(loc, ...) diag_report(DIAG_NOTE, (loc), __VA_ARGS__)

/* --Werror: warnings are reported and counted as errors from now on. */
void diag_set_werror(int on);

int diag_error_count(void);
int diag_warning_count(void);
/* Where diagnostics go (default stderr) and whether to colour them. */
void diag_set_stream(FILE *f);
/* Forget all sources and counts (tests and long-lived callers). */
void diag_reset(void);

/* "did you mean" helper: the candidate closest to name by edit distance, or
 * NULL when none is close enough to be a plausible typo. */
const char *diag_closest(const char *name, const char *const *candidates, int n);

#endif
