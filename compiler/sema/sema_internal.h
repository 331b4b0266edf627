/* Private interface between the parts of sema:
 *   sema.c         driver, symbol tables, program/default, messages
 *   sema_names.c   name resolution (fields, flags, aliases, consts...)
 *   sema_expr.c    constants, values, conditions, `in` collections
 *   sema_decl.c    headers, aliases, sets/maps, the parse graph
 *   sema_rule.c    rules, rewrites, verdicts, tests and their layers
 *   sema_sat.c     rules that can never match or apply (warnings)
 */
#ifndef XDPL_SEMA_INTERNAL_H
#define XDPL_SEMA_INTERNAL_H

#include "sema.h"

/* ---------------------------------------------------------------- symbols */

enum sym_kind {
	SYM_CONST, SYM_SET, SYM_HEADER, SYM_ALIAS, SYM_RULE, SYM_TEST, SYM_STATE,
};

/* Constant folding progress, kept on the symbol so cycles are found. */
enum const_state { CS_TODO, CS_BUSY, CS_DONE, CS_ERROR };

struct symentry {
	const char *name; /* NULL: empty slot */
	enum sym_kind kind;
	void *ptr;
	struct xdpl_loc loc;
	int state;        /* SYM_CONST: enum const_state */
	bool collection;  /* SYM_CONST: a set literal / range / tuple, not a scalar */
};

/* Open-addressing string table (10k rules make linear lookups too slow). */
struct symtab {
	struct symentry *slots;
	int cap, len;
};

struct symentry *sym_find(const struct symtab *t, const char *name);
/* Adds name; returns NULL, or the existing entry when name is taken. */
struct symentry *sym_add(struct arena *a, struct symtab *t, const char *name, enum sym_kind kind,
			 void *ptr, struct xdpl_loc loc);

/* ---------------------------------------------------------------- state */

struct sema {
	struct arena *a;
	struct sema_program *p;
	int main_file;

	struct symtab values;  /* consts, sets/maps, header instances, meta blocks */
	struct symtab aliases; /* "ip.src" */
	struct symtab rules;
	struct symtab tests;
	struct symtab states;  /* merged parser states */
	struct symtab broken;  /* sets/maps whose declaration had errors */

	struct ptrvec headers, aliases_v, consts, sets, rules_v, tests_v;
	struct ptrvec parsers; /* D_PARSER decls in order */
	bool have_program, have_default;
	/* Line starts of the file messages last quoted (src_text). */
	int lines_file, nlines;
	const char *lines_text;
	const char **lines;
	struct xdpl_loc program_loc;

	/* While checking a bytes() size expression: bare names are fields of
	 * this header before field index size_limit, and arithmetic is done
	 * in 32 bits (NULL otherwise). */
	struct ast_header *size_hdr;
	int size_limit;
	/* While checking test packet layers: values must be constants. */
	bool const_only;
	/* The parse graph had no errors; which headers can be on one packet
	 * (sema_sat.c, computed on first use). */
	bool graph_ok;
	unsigned char *cooccur;
};

/* ---------------------------------------------------------------- sema.c */

struct xdpl_type ty_make(enum xdpl_type_kind k, int bits);
bool ty_eq(struct xdpl_type a, struct xdpl_type b);
const char *ty_name(struct sema *s, struct xdpl_type t);  /* "u16", "ip4" */
bool uint_fits(uint64_t v, int bits);
int uint_bits_needed(uint64_t v);

/* Text of the source span at loc when it is on one line, else NULL. */
const char *src_text(struct sema *s, struct xdpl_loc loc);
const char *lit_str(struct sema *s, const struct xdpl_lit *l); /* formatted literal */
const char *expr_str(struct sema *s, const struct ast_expr *e); /* source text or formatted */
/* "ip4.src (ip4)", "a mac address", "`tcp.flags & 1` (u8)" */
const char *expr_desc(struct sema *s, const struct ast_expr *e);
/* "an ip6 prefix", "an integer": what a literal is */
const char *lit_kind_desc(const struct xdpl_lit *l);
const char *alias_types_desc(struct sema *s, const struct ast_alias *al); /* "ip4 or ip6" */
/* The span of `name` inside loc (e.g. the header of `extract foo`), or loc. */
struct xdpl_loc name_loc(struct sema *s, struct xdpl_loc loc, const char *name);
/* Appends "; did you mean 'x'?" when one of cands is close to name. */
const char *did_you_mean(struct sema *s, const char *name, struct ptrvec *cands);

void note_first(struct xdpl_loc loc);
/* Declares name in t; a second declaration is an error pointing at both. */
bool sema_declare(struct sema *s, struct symtab *t, const char *name, enum sym_kind kind, void *ptr,
		  struct xdpl_loc loc);

/* ---------------------------------------------------------------- sema_names.c */

struct ast_header *find_header(struct sema *s, const char *name);
struct ast_field *find_field(const struct ast_header *h, const char *name);
struct ast_set *find_set(struct sema *s, const char *name);
struct ast_rule *find_rule(struct sema *s, const char *name);
struct symentry *find_const(struct sema *s, const char *name);
/* Candidate lists for "did you mean". */
void cands_headers(struct sema *s, struct ptrvec *v, bool with_meta);
void cands_sets(struct sema *s, struct ptrvec *v, bool sets, bool maps);
void cands_fields(struct sema *s, struct ptrvec *v);
void cands_values(struct sema *s, struct ptrvec *v);
void cands_rules(struct sema *s, struct ptrvec *v);
void cands_layout_fields(struct sema *s, const struct ast_header *h, struct ptrvec *v);

/* Resolves an E_NAME into e->ref and e->type. Reports unknown names (with a
 * suggestion) and returns false. Constants are folded on the way. */
bool resolve_name(struct sema *s, struct ast_expr *e);
/* The joined type of an alias: the alternatives' common type; uints of
 * different widths give the widest, ip4|ip6 gives ip6. */
struct xdpl_type alias_type(struct sema *s, const struct ast_alias *al);
/* The type of the alternative of al that can hold a value of kind k
 * (TY_INT_LIT picks the widest uint), or kind TY_NONE. */
struct xdpl_type alias_pick(const struct ast_alias *al, enum xdpl_type_kind k);

/* ---------------------------------------------------------------- sema_expr.c */

void check_consts(struct sema *s);
/* Folds a constant on first use; false when it is broken (reported). */
bool fold_const(struct sema *s, struct symentry *se);
/* The literal of a literal or a folded constant, else NULL. */
const struct xdpl_lit *expr_const_lit(const struct ast_expr *e);
bool expr_int_value(const struct ast_expr *e, uint64_t *v);

/* Values one hash(...) may take (codegen_rules.c: val_hash). */
enum { HASH_MAX_VALUES = 16 };

/* Checks a value expression, sets e->type and returns it (kind TY_NONE
 * after an error, already reported). */
struct xdpl_type check_value(struct sema *s, struct ast_expr *e);
/* Checks a condition (match, and/or/not operands). */
void check_cond(struct sema *s, struct ast_expr *e);
/* Folds a checked condition: 1 always true, 0 always false, -1 unknown. */
int fold_cond(const struct ast_expr *e);

/* How a mismatch is worded: "cannot compare ip4.src (ip4) with a mac
 * address", "cannot assign X to Y (u8)", "type mismatch: eth.type is u16
 * but 1.2.3.4 is an ip4 address". */
enum fit_mode { FIT_COMPARE, FIT_ASSIGN, FIT_ELEM };
/* Makes the checked value e usable as a value of type t of `what` (e.g.
 * "tcp.dport"): literals adapt and must fit; kinds must agree. */
bool fit_value(struct sema *s, struct ast_expr *e, struct xdpl_type t, const char *what,
	       enum fit_mode mode);
/* Checks the value e is a compile-time constant (test packets). */
bool require_const(struct sema *s, struct ast_expr *e);

/* A key to match against: one value (or the elements of a tuple). */
struct keyspec {
	struct ast_expr *exprs[8]; /* the lhs values, NULL for set keys */
	struct xdpl_type types[8];
	int n;
	const char *what;          /* for messages: "tcp.dport", "set 'x'" */
};
/* Checks one element of a literal collection (set literal, set initial
 * elements, select arm) against key k. lpm: prefixes allowed; ranges:
 * lo..hi allowed. */
void check_elem(struct sema *s, struct ast_expr *el, struct keyspec *k, bool allow_prefix,
		bool allow_range);
/* Elements of a set literal, with const substitution and flattening. */
void expand_setlit(struct sema *s, struct ast_expr *lit);
/* `lhs in SET` / SET add KEY / MAP[KEY]: the key exprs against the set's
 * key types. */
void check_set_key(struct sema *s, struct ast_set *set, struct ast_expr **keys, int nkeys,
		   struct xdpl_loc where);
struct ast_expr *clone_expr(struct sema *s, const struct ast_expr *e, struct xdpl_loc loc);
void check_prefix_lit(struct sema *s, struct ast_expr *e);

/* ---------------------------------------------------------------- sema_decl.c */

void collect_header(struct sema *s, struct ast_decl *d);
void check_headers(struct sema *s);
void check_header_defaults(struct sema *s);
void check_aliases(struct sema *s);
void check_sets(struct sema *s);
void check_parser(struct sema *s);
bool set_is_hashlike_map(const struct ast_set *set);
const char *set_kind_name(const struct ast_set *set);

/* ---------------------------------------------------------------- sema_rule.c */

void check_rules(struct sema *s);
void check_tests(struct sema *s);
void check_verdict(struct sema *s, struct ast_verdict *v, int ctx);
enum { VCTX_RULE, VCTX_DEFAULT, VCTX_EXPECT };
void check_layer(struct sema *s, struct ast_layer *l, bool in_test);

/* ---------------------------------------------------------------- sema_sat.c */

/* Warns when rule r (checked without errors) can never match or apply. */
void check_rule_sat(struct sema *s, struct ast_rule *r);

#endif
