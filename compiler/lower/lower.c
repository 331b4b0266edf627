/* Lowering: the checked AST (struct sema_program) -> rule IR (ir.h).
 *
 * - headers and meta blocks -> ir_header (same index as ast_header.index);
 * - merged parser states -> ir_state (same index as ast_state.index);
 * - sets and maps -> ir_map (same index as ast_set.index), then anonymous
 *   maps for large literal sets;
 * - rules -> condition trees over atoms in normal form (ir.h);
 * - tests -> packet bytes (pktbuild.c) and expectations.
 *
 * Generic names over alternatives of different address families (ip.src =
 * ip4.src | ip6.src) are lowered per atom: the atom is lowered once per
 * family and the variants are OR'ed; a variant whose constants or set keys
 * belong to another family is dropped. Inside hash(...), a mixed alias is
 * read as one ip6 value (ip4 as IPv4-mapped ::ffff:a.b.c.d). */
#include "lower_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- types */

void ty_ir(struct xdpl_type t, enum ir_type *it, int *bits)
{
	switch (t.kind) {
	case TY_BOOL: *it = IR_BOOL; *bits = 1; return;
	case TY_MAC: *it = IR_MAC; *bits = 48; return;
	case TY_IP4: *it = IR_IP4; *bits = 32; return;
	case TY_IP6: *it = IR_IP6; *bits = 128; return;
	case TY_UINT: *it = IR_UINT; *bits = t.bits > 0 ? t.bits : 64; return;
	default: *it = IR_UINT; *bits = 64; return;
	}
}

bool is_addr(enum ir_type t)
{
	return t == IR_MAC || t == IR_IP4 || t == IR_IP6;
}

/* Families of values: the address types each on their own, all integers
 * (and bools) together. */
int family_of(enum ir_type t)
{
	return (t == IR_BOOL ? IR_UINT : t) + 1;
}

bool types_compatible(enum ir_type a, enum ir_type b)
{
	if (is_addr(a) && is_addr(b))
		return a == b;
	return true;
}

enum ir_type lit_ir_type(const struct xdpl_lit *l)
{
	switch (l->kind) {
	case LIT_IP4: case LIT_PREFIX4: return IR_IP4;
	case LIT_IP6: case LIT_PREFIX6: return IR_IP6;
	case LIT_MAC: return IR_MAC;
	case LIT_BOOL: return IR_BOOL;
	default: return IR_UINT;
	}
}

/* ---------------------------------------------------------------- IR building helpers */

struct ir_val *mkval(struct lctx *c, enum ir_val_kind k, enum ir_type t, int bits)
{
	struct ir_val *v = NEW(c->a, struct ir_val);
	v->kind = k;
	v->type = t;
	v->bits = bits;
	return v;
}

struct ir_val *kconst(struct lctx *c, enum ir_type t, int bits, u128 x)
{
	struct ir_val *v = mkval(c, IV_CONST, t, bits);
	x &= u128_mask(bits);
	v->c128 = u128_to_ir(x);
	v->c = (uint64_t)x;
	return v;
}

u128 cval(const struct ir_val *v)
{
	return u128_from_ir(v->c128);
}

struct ir_val *vbin(struct lctx *c, enum ir_binop op, struct ir_val *a, struct ir_val *b,
			   enum ir_type t, int bits)
{
	if (a->kind == IV_CONST && b->kind == IV_CONST) {
		u128 x = cval(a), y = cval(b), r = 0;
		switch (op) {
		case IB_AND: r = x & y; break;
		case IB_OR: r = x | y; break;
		case IB_XOR: r = x ^ y; break;
		case IB_ADD: r = x + y; break;
		case IB_SUB: r = x - y; break;
		case IB_MUL: r = x * y; break;
		case IB_MOD: r = y ? x % y : x; break; /* x % 0 is x */
		case IB_SHL: r = y >= (u128)bits ? 0 : x << (int)y; break;
		case IB_SHR: r = y >= 128 ? 0 : x >> (int)y; break;
		}
		return kconst(c, t, bits, r);
	}
	struct ir_val *v = mkval(c, IV_BIN, t, bits);
	v->op = op;
	v->a = a;
	v->b = b;
	return v;
}

struct ir_cond *mkcond(struct lctx *c, enum ir_cond_kind k)
{
	struct ir_cond *x = NEW(c->a, struct ir_cond);
	x->kind = k;
	return x;
}

struct ir_cond *c_true(struct lctx *c)
{
	return mkcond(c, IC_TRUE);
}

struct ir_cond *c_false(struct lctx *c)
{
	struct ir_cond *x = mkcond(c, IC_NOT);
	x->kids = arena_alloc(c->a, sizeof(*x->kids));
	x->kids[0] = c_true(c);
	x->nkids = 1;
	return x;
}

static bool is_true(const struct ir_cond *x)
{
	return x->kind == IC_TRUE;
}

static bool is_false(const struct ir_cond *x)
{
	return x->kind == IC_NOT && x->nkids == 1 && x->kids[0]->kind == IC_TRUE;
}

struct ir_cond *c_bool(struct lctx *c, bool b)
{
	return b ? c_true(c) : c_false(c);
}

/* AND/OR of kids: flattened, constants folded. */
struct ir_cond *c_join(struct lctx *c, enum ir_cond_kind k, struct ir_cond **kids, int n)
{
	bool is_and = k == IC_AND;
	struct ptrvec v = { 0 };
	for (int i = 0; i < n; i++) {
		struct ir_cond *x = kids[i];
		if (!x)
			continue;
		if (is_and ? is_true(x) : is_false(x))
			continue;
		if (is_and ? is_false(x) : is_true(x))
			return x;
		if (x->kind == k)
			for (int j = 0; j < x->nkids; j++)
				ptrvec_push(c->a, &v, x->kids[j]);
		else
			ptrvec_push(c->a, &v, x);
	}
	if (v.len == 0)
		return c_bool(c, is_and);
	if (v.len == 1)
		return v.items[0];
	struct ir_cond *x = mkcond(c, k);
	x->kids = (struct ir_cond **)v.items;
	x->nkids = v.len;
	return x;
}

struct ir_cond *c_not(struct lctx *c, struct ir_cond *x)
{
	if (is_true(x))
		return c_false(c);
	if (is_false(x))
		return c_true(c);
	if (x->kind == IC_NOT)
		return x->kids[0];
	struct ir_cond *n = mkcond(c, IC_NOT);
	n->kids = arena_alloc(c->a, sizeof(*n->kids));
	n->kids[0] = x;
	n->nkids = 1;
	return n;
}

enum ir_cmp cmp_mirror(enum ir_cmp op)
{
	switch (op) {
	case ICMP_LT: return ICMP_GT;
	case ICMP_LE: return ICMP_GE;
	case ICMP_GT: return ICMP_LT;
	case ICMP_GE: return ICMP_LE;
	default: return op;
	}
}

bool cmp_eval(enum ir_cmp op, u128 x, u128 y)
{
	switch (op) {
	case ICMP_EQ: return x == y;
	case ICMP_NE: return x != y;
	case ICMP_LT: return x < y;
	case ICMP_LE: return x <= y;
	case ICMP_GT: return x > y;
	case ICMP_GE: return x >= y;
	}
	return false;
}

/* Re-type a constant to the type and width of the value it is compared
 * with (ints compared with a u16 become u16 constants). */
struct ir_val *retype_const(struct lctx *c, struct ir_val *k, const struct ir_val *like)
{
	if (k->kind != IV_CONST || (k->type == like->type && k->bits == like->bits))
		return k;
	enum ir_type t = like->type;
	if (is_addr(k->type) && !is_addr(t))
		t = k->type; /* keep the address type; widths agree by then */
	int bits = like->bits;
	if (bits < bits_needed(cval(k)))
		return k; /* does not fit: the caller folds the comparison */
	return kconst(c, t, bits, cval(k));
}

/* A statement of kind k at st's line, touching no header yet. */
struct ir_stmt *new_stmt(struct lctx *c, enum ir_stmt_kind k, const struct ast_stmt *st)
{
	struct ir_stmt *s = NEW(c->a, struct ir_stmt);
	s->kind = k;
	s->line = st->loc.first_line;
	s->hdr = s->field = s->hdr2 = s->field2 = -1;
	s->group = -1;
	return s;
}

/* ---------------------------------------------------------------- the program */

static void lower_source(struct lctx *c)
{
	const char *path = c->p->main_path;
	c->ir->name = c->p->name;
	c->ir->source_path = path;
	if (path) {
		const char *slash = strrchr(path, '/');
		c->ir->source_dir = slash ? arena_strndup(c->a, path, slash == path ? 1 : (size_t)(slash - path))
					  : ".";
	}
}

static void lower_sets(struct lctx *c)
{
	c->nset_maps = c->p->nsets;
	c->set_maps = arena_alloc(c->a, sizeof(*c->set_maps) * (size_t)(c->p->nsets + 1));
	for (int i = 0; i < c->p->nsets; i++)
		lower_user_set(c, c->p->sets[i]);
}

static void lower_rules(struct lctx *c)
{
	const struct sema_program *p = c->p;
	struct ir_program *ir = c->ir;
	ir->nrules = p->nrules;
	ir->rules = arena_alloc(c->a, sizeof(struct ir_rule) * (size_t)(p->nrules + 1));
	for (int i = 0; i < p->nrules; i++)
		lower_rule(c, p->rules[i], i, &ir->rules[i]);
	c->lowering_default = true;
	lower_verdict(c, &p->deflt, &ir->default_verdict);
	c->lowering_default = false;
	ir->default_line = p->deflt_loc.first_line;
}

static void lower_tests(struct lctx *c)
{
	c->ir->ntests = c->p->ntests;
	c->ir->tests = arena_alloc(c->a, sizeof(struct ir_test) * (size_t)(c->p->ntests + 1));
	for (int i = 0; i < c->p->ntests; i++)
		lower_test(c, c->p->tests[i], &c->ir->tests[i]);
}

struct ir_program *lower_program(struct arena *a, const struct sema_program *p)
{
	return lower_program_opts(a, p, NULL);
}

struct ir_program *lower_program_opts(struct arena *a, const struct sema_program *p,
				      const struct lower_opts *opts)
{
	static const struct lower_opts defaults;
	int errs = diag_error_count();
	struct ir_program *ir = NEW(a, struct ir_program);
	struct lctx cx = { .a = a, .p = p, .opts = opts ? opts : &defaults, .ir = ir, .size_hdr = -1 };
	struct lctx *c = &cx;

	lower_source(c);
	lower_headers(c);
	lower_sets(c);
	lower_parse_graph(c);
	lower_rules(c);
	lower_tests(c);
	if (diag_error_count() == errs && !c->opts->no_prune)
		prune_parse_graph(c);

	ir->nmaps = c->maps.len;
	ir->maps = (struct ir_map **)c->maps.items;
	if (!ir->maps)
		ir->maps = arena_alloc(a, sizeof(struct ir_map *));
	if (diag_error_count() == errs && !c->opts->no_regroup)
		ir_regroup(a, ir, !c->opts->no_classify);

	return diag_error_count() > errs ? NULL : ir;
}
