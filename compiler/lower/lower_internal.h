/* Private interface between the parts of lowering:
 *   lower.c          driver, types, IR building helpers (values, conditions)
 *   lower_val.c      values: literals, fields, generic names, arithmetic
 *   lower_cond.c     atoms and conditions, `in` collections
 *   lower_map.c      sets and maps: layouts, initial elements, anonymous maps
 *   lower_parse.c    headers, the parse graph, header roles, pruning
 *   lower_rule.c     verdicts, limits, set/map statements, rules, tests
 *   lower_rewrite.c  field rewrites, push/pop, what rewriting rules require
 *   lower_encap.c    encap and decap
 *   pktbuild.c       the packet builder (test packets, templates)
 *   regroup.c        rule groups (one lookup for runs of rules)
 */
#ifndef XDPL_LOWER_INTERNAL_H
#define XDPL_LOWER_INTERNAL_H

#include "lower.h"
#include "pktbuild.h"
#include "regroup.h"
#include "xdpl_meta.h"

/* `x in { ... }` with at most this many elements is inlined as an OR of
 * atoms; larger ones put exact values into an anonymous hash set and
 * prefixes into an anonymous LPM map (ranges stay inline atoms). */
#define SMALL_SET_MAX 16
/* A range in a hash set's initial elements is expanded up to this many. */
#define MAX_RANGE_EXPAND 65536

/* The headers encap and decap work on, found by their place in the parse
 * graph and their layouts, never by name (docs/design.md, "Header roles");
 * -1: none. */
struct lower_roles {
	int link[IR_MAX_LINK]; /* link headers (eth, vlan, vlan2), outermost first */
	int nlink;
	int net4, net6;        /* the headers with ip4 / ip6 `src` and `dst`
				* fields that link headers (eth, vlan) select */
	int inner_eth;         /* another instance of the first link header's
				* layout, past the network headers (eth_inner) */
	int inner4, inner6;    /* other instances of net4's / net6's layout */
};

struct lctx {
	struct arena *a;
	const struct sema_program *p;
	const struct lower_opts *opts;
	struct ir_program *ir;
	struct ptrvec maps;
	struct ir_map **set_maps;     /* by ast_set.index */
	int nset_maps;
	int nanon;
	int family;                   /* 0, or the ir_type + 1 mixed aliases read */
	bool in_hash;                 /* inside hash(...): mixed aliases map to ip6 */
	bool impossible;              /* the atom variant cannot hold (family) */
	int size_hdr;                 /* >= 0: lowering header size_hdr's var_size */
	int line;                     /* source line of the atom being lowered */
	bool lowering_default;        /* the default verdict (redirect keys) */
	int val_depth;                /* operators nested around the value lowered */
	struct lower_roles roles;     /* lower_parse.c */
};

/* The smallest width holding v (at least 1). */
static inline int bits_needed(u128 v)
{
	int n = 1;
	while (n < 128 && (v >> n))
		n++;
	return n;
}

/* ---------------------------------------------------------------- lower.c: types, IR building
 *
 * The builders keep the normal form of ir.h: constants folded, AND/OR
 * flattened, constants on the right. */

void ty_ir(struct xdpl_type t, enum ir_type *it, int *bits);
bool is_addr(enum ir_type t);
int family_of(enum ir_type t);       /* address types apart, integers together */
bool types_compatible(enum ir_type a, enum ir_type b);
enum ir_type lit_ir_type(const struct xdpl_lit *l);
struct ir_val *mkval(struct lctx *c, enum ir_val_kind k, enum ir_type t, int bits);
struct ir_val *kconst(struct lctx *c, enum ir_type t, int bits, u128 x);
u128 cval(const struct ir_val *v);   /* an IV_CONST's value */
struct ir_val *vbin(struct lctx *c, enum ir_binop op, struct ir_val *a, struct ir_val *b, enum ir_type t,
		    int bits);
struct ir_cond *mkcond(struct lctx *c, enum ir_cond_kind k);
struct ir_cond *c_true(struct lctx *c);
struct ir_cond *c_false(struct lctx *c);
struct ir_cond *c_bool(struct lctx *c, bool b);
struct ir_cond *c_join(struct lctx *c, enum ir_cond_kind k, struct ir_cond **kids, int n);
struct ir_cond *c_not(struct lctx *c, struct ir_cond *x);
enum ir_cmp cmp_mirror(enum ir_cmp op);  /* a OP b == b mirror(OP) a */
bool cmp_eval(enum ir_cmp op, u128 x, u128 y);
struct ir_val *retype_const(struct lctx *c, struct ir_val *k, const struct ir_val *like);
struct ir_stmt *new_stmt(struct lctx *c, enum ir_stmt_kind k, const struct ast_stmt *st);

/* ---------------------------------------------------------------- lower_val.c: values */

struct ir_val *lower_val(struct lctx *c, const struct ast_expr *e, const struct ir_val *hint);
struct ir_val *lit_val(struct lctx *c, const struct xdpl_lit *l, const struct ir_val *hint,
		       struct xdpl_loc loc);
struct ir_val *field_val(struct lctx *c, const struct ast_header *h, const struct ast_field *f,
			 const char *name, struct xdpl_loc loc);
/* The keys of a map access or set statement, typed as the map's keys. */
struct ir_val *map_keys(struct lctx *c, const struct ir_map *m, struct ast_expr **args, int nargs,
			struct ir_val ***out);
int type_family_of_expr(const struct ast_expr *alt);
bool alias_mixed(const struct ast_alias *al);
bool is_constish(const struct ast_expr *e);

/* ---------------------------------------------------------------- lower_cond.c: conditions */

struct ir_cond *lower_cond(struct lctx *c, const struct ast_expr *e);

/* ---------------------------------------------------------------- lower_map.c: sets and maps */

void lower_user_set(struct lctx *c, const struct ast_set *s);
struct ir_map *set_map(struct lctx *c, const struct ast_set *s);  /* a declared set's map */
struct ir_map *new_map(struct lctx *c, const char *name, enum ir_map_kind kind, bool is_set);
/* An anonymous hash/LPM set over keys (large literal collections). */
struct ir_map *anon_map(struct lctx *c, enum ir_map_kind kind, struct ir_val **keys, int n, int line);
void index_key(struct ir_map *m);
void map_key_layout(struct ir_map *m);
/* An initial element: key components comps (LPM: comps[0]/plen), value. */
void map_add_entry(struct lctx *c, struct ir_map *m, struct ptrvec *entries, const u128 *comps, int plen,
		   u128 value);
void finish_init(struct lctx *c, struct ir_map *m, struct ptrvec *entries);
const struct xdpl_lit *elem_lit(const struct ast_expr *e);
bool is_prefix_lit(const struct xdpl_lit *l);
const struct ast_expr *const_collection(const struct ast_expr *e);
void flatten_elems(struct lctx *c, const struct ast_expr *set, struct ptrvec *out, int depth);
bool range_bounds(const struct ast_expr *r, u128 *lo, u128 *hi, enum ir_type *t);

/* ---------------------------------------------------------------- lower_parse.c: headers, parse graph */

/* IR field index of f (or the field called name) in h; bytes() fields are
 * not IR fields (-1). */
int ir_field_index(const struct ast_header *h, const struct ast_field *f, const char *name);
void lower_headers(struct lctx *c);
/* States, hdr_after and the header roles (c->roles). */
void lower_parse_graph(struct lctx *c);
void prune_parse_graph(struct lctx *c);

/* ---------------------------------------------------------------- lower_rule.c: rules, tests */

bool lower_verdict(struct lctx *c, const struct ast_verdict *v, struct ir_verdict *out);
void lower_rule(struct lctx *c, const struct ast_rule *r, int i, struct ir_rule *out);
void lower_test(struct lctx *c, const struct ast_test *t, struct ir_test *out);

/* ---------------------------------------------------------------- lower_rewrite.c, lower_encap.c */

int rw_last_key(const struct ir_header *H);
int lower_rewrite_stmt(struct lctx *c, const struct ast_stmt *st, struct ir_stmt **out, int max, int group);
void lower_rewrite_requires(struct lctx *c, const struct ast_rule *r, struct ir_rule *out);
/* lower_reach.c: holds when a checksum covering field f of header h lies in
 * a header the parser did not reach (NULL: never); such a rewrite makes
 * the rule not match (reference §12). */
struct ir_cond *lower_csum_unreached(struct lctx *c, int h, int f);

struct ir_stmt *rw_encap(struct lctx *c, const struct ast_stmt *st);
struct ir_stmt *rw_decap(struct lctx *c, const struct ast_stmt *st);

#endif
