/* Semantic analysis: names, types, layouts, the parse graph and every check
 * of reference §2-§14 that can be made before code exists. Reports through diag
 * (several errors per run) and fills the [sema] fields of the AST. */
#ifndef XDPL_SEMA_H
#define XDPL_SEMA_H

#include "ast.h"

/* The checked program: symbol tables over all files (stdlib first, then
 * imports, then the main file), in declaration order. */
struct sema_program {
	const char *name;              /* program NAME */
	struct xdpl_loc name_loc;
	const char *main_path;

	struct ast_header **headers;   /* header instances and meta blocks */
	int nheaders;
	struct ast_alias **aliases;
	int naliases;
	struct ast_state **states;     /* merged states (extensions folded in) */
	int nstates;
	struct ast_state *start;       /* entry state (stdlib: eth); NULL if none */
	struct ast_const **consts;
	int nconsts;
	struct ast_set **sets;         /* sets and maps */
	int nsets;
	struct ast_rule **rules;       /* file order */
	int nrules;
	struct ast_verdict deflt;      /* V_PASS when not declared */
	struct xdpl_loc deflt_loc;
	struct ast_test **tests;
	int ntests;
};

/* files[0..nfiles) in the order they must be seen (stdlib, imports, main).
 * Returns 0 when the program is valid (warnings allowed), -1 otherwise. */
int sema_check(struct arena *a, struct ast_file **files, int nfiles, struct sema_program *out);

#endif
