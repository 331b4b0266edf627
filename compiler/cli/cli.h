/* Helpers shared by the xdplc command files: main.c (command table,
 * messages, options), compile.c (compiling, loading, writing), cmd_*.c. */
#ifndef XDPL_CLI_H
#define XDPL_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "arena.h"
#include "codegen.h"
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

/* A command's options as a table (ended by a NULL name); cli_parse adds
 * -h/--help. A command gains an option with one line and the field it
 * sets. */
enum cli_opt_kind {
	CLI_FLAG,   /* dst: bool *, set to true */
	CLI_STRING, /* dst: const char **, the value */
	CLI_CUSTOM, /* parse(c, value, dst) checks and stores the value */
};
struct cli_opt {
	const char *name; /* --name */
	char letter;      /* -l, or 0 */
	enum cli_opt_kind kind;
	void *dst;
	/* CLI_CUSTOM: EXIT_OK, or the status of a usage error it reported */
	int (*parse)(const struct command *c, const char *value, void *dst);
};
#define CLI_MAX_OPTS 16
enum { CLI_IN_ORDER = 1 }; /* options end at the first positional argument */
/* Parse argv's options by the table: -1 to go on with the positional
 * arguments from argv[*first], else an exit status to return at once (0
 * after --help, 1 after a usage error it reported). */
int cli_parse(const struct command *c, int argc, char **argv, const struct cli_opt *opts,
	      unsigned flags, int *first);
/* The usage errors about positional arguments: "no input file" when there
 * are none, "'ARG' is extra" (with what) beyond max; -1 when they fit. */
int cli_inputs(const struct command *c, int argc, char **argv, int first, int max,
	       const char *what);
/* A command without options of its own taking FILE...: cli_parse, then
 * at least one input. */
int cli_parse_files(const struct command *c, int argc, char **argv, int *first);

struct compilation {
	struct arena arena;
	struct sema_program sema;
	struct ir_program *ir;
	void *out; /* codegen output (malloc'd) */
	size_t out_len;
};
/* `build --emit ir`: the rule IR as text (ir_dump), no code generation. */
#define EMIT_IR (-2)
/* Front end and lowering, then (emit >= 0) code generation. Returns an
 * exit status; diagnostics are printed. */
int compile(const char *path, int emit, struct compilation *c);
void compilation_free(struct compilation *c);
/* XDPL_CODEGEN_RULES=spec|record forces a code generation mode. */
enum codegen_rules_mode compile_rules_mode(void);
/* Code generation of a lowered compilation into *out; reports a failure
 * no stage explained (no error since errors_before). */
int compile_codegen(const char *path, const struct compilation *c, const struct codegen_opts *opts,
		    void **out, size_t *out_len, int errors_before);

/* A policy loaded into the kernel, from source or an object (run). */
struct policy {
	struct compilation comp;
	bool compiled;
	struct xdpl_object *obj;
};
int policy_open(const char *path, struct policy *p);
void policy_free(struct policy *p);
/* Write buf to path ("-": standard output), whole or not at all. */
int write_output(const char *path, const void *buf, size_t len);

bool has_suffix(const char *s, const char *suffix);
bool is_elf_file(const char *path);
/* Explain a failed xdpl_object__load (err < 0); returns an exit status. */
int report_load_error(const char *what, int err, bool from_source);
void json_string(FILE *f, const char *s);

/* XDP action numbers (linux/bpf.h enum xdp_action). */
enum { ACT_ABORTED = 0, ACT_DROP = 1, ACT_PASS = 2, ACT_TX = 3, ACT_REDIRECT = 4 };

/* cmd_build.c, cmd_test.c, cmd_run.c */
int cmd_build(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_run(int argc, char **argv);
extern const char build_help[], check_help[], test_help[], run_help[];

/* cmd_attach.c */
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_set(int argc, char **argv);
extern const char attach_help[], detach_help[], status_help[], stats_help[], set_help[];

#endif
