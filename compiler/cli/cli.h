/* Helpers shared by the xdplc command files (main.c, cmd_attach.c). */
#ifndef XDPL_CLI_H
#define XDPL_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "arena.h"
#include "sema.h"

enum { EXIT_OK = 0, EXIT_USER = 1, EXIT_INTERNAL = 2 };

/* "xdplc: error: ..." / "xdplc: warning: ..." on stderr. */
__attribute__((format(printf, 1, 2))) void error(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void warning(const char *fmt, ...);

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;   /* arguments after the command name */
	const char *summary; /* one line for `xdplc --help` */
	const char *help;    /* options and details for `xdplc CMD --help` */
};

const struct command *find_command(const char *name);
void print_command_help(const struct command *c);
/* A usage error of command c: the cause, the usage line; returns 1. */
__attribute__((format(printf, 2, 3))) int usage_error(const struct command *c, const char *fmt,
						      ...);
/* getopt_long driver: the option, -1 at the end, '?' after a usage error
 * (exit status in *status). */
int next_opt(const struct command *c, int argc, char **argv, const char *shortopts,
	     const struct option *longopts, int *status);

struct compilation {
	struct arena arena;
	struct sema_program sema;
	struct ir_program *ir;
	void *out; /* codegen output (malloc'd) */
	size_t out_len;
};
/* Front end and lowering, then (emit >= 0) code generation. Returns an
 * exit status; diagnostics are printed. */
int compile(const char *path, int emit, struct compilation *c);
void compilation_free(struct compilation *c);

bool has_suffix(const char *s, const char *suffix);
bool is_elf_file(const char *path);
/* Explain a failed xdpl_object__load (err < 0); returns an exit status. */
int report_load_error(const char *what, int err, bool from_source);
void json_string(FILE *f, const char *s);

/* cmd_attach.c */
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_set(int argc, char **argv);
extern const char attach_help[], detach_help[], status_help[], stats_help[], set_help[];

#endif
