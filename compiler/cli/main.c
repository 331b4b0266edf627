/* xdplc: the command line (reference §15).
 *
 * Every command is an entry of the table `commands` below: a function
 * taking (argc, argv) with argv[0] the command name, its usage line, a
 * one-line summary and its option help. The commands live in cmd_*.c and
 * parse their options with cli_parse from a table of options. Commands return an exit status:
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

#include "diag.h"
#include "xdpl_meta.h"
#include "cli.h"

#ifndef XDPL_VERSION
#define XDPL_VERSION "0.1.0"
#endif

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

/* The getopt tables of an option table: long options with
 * val 256 + index, short ones by their letter, "help"/'h' last. */
static void cli_getopt_tables(const struct cli_opt *opts, unsigned flags, struct option *lo,
			      char *so)
{
	int n = 0, k = 0;
	if (flags & CLI_IN_ORDER)
		so[k++] = '+';
	so[k++] = ':';
	for (; opts[n].name && n < CLI_MAX_OPTS; n++) {
		bool val = opts[n].kind != CLI_FLAG;
		lo[n] = (struct option){ opts[n].name, val ? required_argument : no_argument, NULL,
					 256 + n };
		if (opts[n].letter) {
			so[k++] = opts[n].letter;
			if (val)
				so[k++] = ':';
		}
	}
	lo[n] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n + 1] = (struct option){ NULL, 0, NULL, 0 };
	so[k++] = 'h';
	so[k] = 0;
}

static const struct cli_opt *cli_find_opt(const struct cli_opt *opts, int ch)
{
	for (int i = 0; opts[i].name && i < CLI_MAX_OPTS; i++)
		if (ch == 256 + i || (opts[i].letter && ch == opts[i].letter))
			return &opts[i];
	return NULL;
}

int cli_parse(const struct command *c, int argc, char **argv, const struct cli_opt *opts,
	      unsigned flags, int *first)
{
	struct option lo[CLI_MAX_OPTS + 2];
	char so[3 * CLI_MAX_OPTS + 4];
	cli_getopt_tables(opts, flags, lo, so);
	int ch, status = EXIT_USER;
	while ((ch = next_opt(c, argc, argv, so, lo, &status)) != -1) {
		if (ch == 'h') {
			print_command_help(c);
			return EXIT_OK;
		}
		const struct cli_opt *o = cli_find_opt(opts, ch);
		if (!o)
			return status;
		if (o->kind == CLI_FLAG)
			*(bool *)o->dst = true;
		else if (o->kind == CLI_STRING)
			*(const char **)o->dst = optarg;
		else if ((status = o->parse(c, optarg, o->dst)) != EXIT_OK)
			return status;
	}
	*first = optind;
	return -1;
}

int cli_inputs(const struct command *c, int argc, char **argv, int first, int max,
	       const char *what)
{
	if (first >= argc)
		return usage_error(c, "no input file");
	if (max > 0 && argc - first > max)
		return usage_error(c, "%s ('%s' is extra)", what, argv[first + max]);
	return -1;
}

int cli_parse_files(const struct command *c, int argc, char **argv, int *first)
{
	const struct cli_opt none[] = { { NULL, 0, 0, NULL, NULL } };
	int st = cli_parse(c, argc, argv, none, 0, first);
	return st < 0 ? cli_inputs(c, argc, argv, *first, 0, NULL) : st;
}

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

/* An unknown command: the nearest known name, if one is near. */
static int unknown_command(const char *cmd)
{
	const char *names[NCOMMANDS];
	for (int i = 0; i < NCOMMANDS; i++)
		names[i] = commands[i].name;
	const char *near = diag_closest(cmd, names, NCOMMANDS);
	if (near)
		error("unknown command '%s'; did you mean '%s'?", cmd, near);
	else
		error("unknown command '%s'", cmd);
	fprintf(stderr, "Try 'xdplc --help' for the list of commands.\n");
	return EXIT_USER;
}

static int run_command(const char *cmd, int argc, char **argv)
{
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		print_help(stdout);
		return EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		print_version();
		return EXIT_OK;
	}
	if (cmd[0] == '-') {
		error("unknown option '%s' (options come after the command)", cmd);
		fprintf(stderr, "Try 'xdplc --help' for more information.\n");
		return EXIT_USER;
	}
	const struct command *c = find_command(cmd);
	if (!c)
		return unknown_command(cmd);
	static char name[64];
	snprintf(name, sizeof(name), "xdplc %s", c->name);
	command_name = name;
	optind = 0; /* full getopt reinitialisation (glibc) */
	return c->run(argc, argv);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_help(stderr);
		return EXIT_USER;
	}
	int status = run_command(argv[1], argc - 1, argv + 1);
	diag_reset();
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "xdplc: error: writing the output failed: %s\n", strerror(errno));
		if (status == EXIT_OK)
			status = EXIT_USER;
	}
	return status;
}
