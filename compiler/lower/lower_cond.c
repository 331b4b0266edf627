/* Lowering of conditions: atoms in the normal form of ir.h (field OP
 * constant, ranges, prefixes, set membership), `in` collections (small ones
 * inline, large ones as anonymous maps), flags, and AND/OR/NOT, with
 * generic names over address families lowered once per family. */
#include "lower_internal.h"

#include <string.h>

/* ---------------------------------------------------------------- atoms */

static struct ir_cond *a_cmp(struct lctx *c, struct ir_val *a, enum ir_cmp op, struct ir_val *b)
{
	if (!a || !b)
		return NULL;
	if (!types_compatible(a->type, b->type)) {
		/* Values of different address families (a generic name's
		 * other alternative): never equal, never ordered, always
		 * different -- when they can be read. */
		struct ir_val *v = a->kind == IV_CONST ? b : a;
		if (op != ICMP_NE)
			return c_false(c);
		if (v->kind == IV_CONST)
			return c_true(c);
		struct ir_cond *x = mkcond(c, IC_PREFIX); /* plen 0: v can be read */
		x->a = v;
		x->line = c->line;
		return x;
	}
	if (a->kind == IV_CONST && b->kind == IV_CONST)
		return c_bool(c, cmp_eval(op, cval(a), cval(b)));
	if (a->kind == IV_CONST) {
		struct ir_val *t = a;
		a = b;
		b = t;
		op = cmp_mirror(op);
	}
	if (b->kind == IV_CONST) {
		/* A constant that does not fit in a's width decides the atom
		 * (given a can be read): keep it so absent headers stay false. */
		b = retype_const(c, b, a);
	}
	struct ir_cond *x = mkcond(c, IC_CMP);
	x->cmp = op;
	x->a = a;
	x->b = b;
	x->line = c->line;
	return x;
}

static struct ir_cond *a_range(struct lctx *c, struct ir_val *a, u128 lo, u128 hi, enum ir_type lt)
{
	if (!a)
		return NULL;
	if (!types_compatible(a->type, lt))
		return c_false(c);
	if (lo > hi)
		return c_false(c);
	if (a->kind == IV_CONST)
		return c_bool(c, cval(a) >= lo && cval(a) <= hi);
	enum ir_type t = is_addr(lt) ? lt : a->type;
	if (lo == hi)
		return a_cmp(c, a, ICMP_EQ, kconst(c, t, a->bits, lo));
	if (hi > u128_mask(a->bits))
		hi = u128_mask(a->bits);
	if (lo > hi)
		return c_false(c);
	struct ir_cond *x = mkcond(c, IC_RANGE);
	x->a = a;
	x->lo = kconst(c, t, a->bits, lo);
	x->hi = kconst(c, t, a->bits, hi);
	x->line = c->line;
	return x;
}

static struct ir_cond *a_prefix(struct lctx *c, struct ir_val *a, const struct xdpl_lit *l)
{
	if (!a)
		return NULL;
	enum ir_type lt = lit_ir_type(l);
	int width = pkt_lit_bits(l);
	if (!types_compatible(a->type, lt) || (is_addr(a->type) && a->bits != width))
		return c_false(c);
	struct ir_u128 pv;
	pkt_lit_value(l, &pv);
	u128 pfx = u128_from_ir(pv);
	int plen = l->plen;
	if (plen > width)
		plen = width;
	u128 m = plen == 0 ? 0 : u128_mask(width) & ~u128_mask(width - plen);
	pfx &= m;
	if (a->kind == IV_CONST)
		return c_bool(c, (cval(a) & m) == pfx);
	if (plen == width)
		return a_cmp(c, a, ICMP_EQ, kconst(c, lt, width, pfx));
	struct ir_cond *x = mkcond(c, IC_PREFIX);
	x->a = a;
	x->prefix = u128_to_ir(pfx);
	x->plen = plen;
	x->line = c->line;
	return x;
}

static struct ir_cond *a_in_map(struct lctx *c, struct ir_map *m, struct ir_val **keys, int n)
{
	for (int i = 0; i < n; i++) {
		if (!keys[i])
			return NULL;
		if (i < m->nkeys && !types_compatible(keys[i]->type, m->key_types[i]))
			return c_false(c);
	}
	struct ir_cond *x = mkcond(c, IC_IN_MAP);
	x->map = m;
	x->keys = keys;
	x->nkeys = n;
	x->line = c->line;
	return x;
}

/* ---------------------------------------------------------------- conditions */

/* One element of a literal collection against the lhs values. */
static struct ir_cond *elem_atom(struct lctx *c, struct ir_val **vals, int nvals,
				 const struct ast_expr *el)
{
	const struct ast_expr *col = const_collection(el);
	if (col)
		el = col;
	if (el->kind == E_TUPLE) {
		if (el->nargs != nvals) {
			diag_error(el->loc, "this element has %d parts, the key has %d", el->nargs, nvals);
			return NULL;
		}
		struct ir_cond **kids = arena_alloc(c->a, sizeof(*kids) * (size_t)nvals);
		for (int i = 0; i < nvals; i++) {
			kids[i] = elem_atom(c, &vals[i], 1, el->args[i]);
			if (!kids[i])
				return NULL;
		}
		return c_join(c, IC_AND, kids, nvals);
	}
	if (nvals != 1) {
		diag_error(el->loc, "a tuple of %d values is expected here", nvals);
		return NULL;
	}
	struct ir_val *v = vals[0];
	if (el->kind == E_RANGE) {
		u128 lo, hi;
		enum ir_type t;
		if (!range_bounds(el, &lo, &hi, &t)) {
			diag_error(el->loc, "the bounds of a range must be constants");
			return NULL;
		}
		return a_range(c, v, lo, hi, t);
	}
	if (el->kind == E_SETLIT) {
		struct ptrvec kids = { 0 };
		for (int i = 0; i < el->nargs; i++)
			ptrvec_push(c->a, &kids, elem_atom(c, vals, nvals, el->args[i]));
		return c_join(c, IC_OR, (struct ir_cond **)kids.items, kids.len);
	}
	const struct xdpl_lit *l = elem_lit(el);
	if (!l) {
		struct ir_val *k = lower_val(c, el, v);
		return k ? a_cmp(c, v, ICMP_EQ, k) : NULL;
	}
	if (is_prefix_lit(l))
		return a_prefix(c, v, l);
	struct ir_val *k = lit_val(c, l, v, el->loc);
	return a_cmp(c, v, ICMP_EQ, k);
}

static bool elem_exact(const struct ast_expr *el, u128 *out, enum ir_type *t)
{
	const struct xdpl_lit *l = elem_lit(el);
	struct ir_u128 v;
	if (!l || is_prefix_lit(l) || !pkt_lit_value(l, &v))
		return false;
	*out = u128_from_ir(v);
	*t = lit_ir_type(l);
	return true;
}

/* The atoms of elements elems, one per element, appended to kids. */
static bool push_elem_atoms(struct lctx *c, struct ir_val **vals, int nvals, const struct ptrvec *elems,
			    struct ptrvec *kids)
{
	for (int i = 0; i < elems->len; i++) {
		struct ir_cond *x = elem_atom(c, vals, nvals, elems->items[i]);
		if (!x)
			return false;
		ptrvec_push(c->a, kids, x);
	}
	return true;
}

static struct ir_cond *setlit_atom(struct lctx *c, struct ir_val **vals, int nvals,
				   const struct ast_expr *set)
{
	struct ptrvec elems = { 0 };
	flatten_elems(c, set, &elems, 0);
	struct ptrvec kids = { 0 };
	if (elems.len <= SMALL_SET_MAX) {
		if (!push_elem_atoms(c, vals, nvals, &elems, &kids))
			return NULL;
		return c_join(c, IC_OR, (struct ir_cond **)kids.items, kids.len);
	}
	for (int i = 0; i < nvals; i++)
		if (vals[i]->kind == IV_CONST) { /* constant key: just evaluate */
			for (int j = 0; j < elems.len; j++)
				ptrvec_push(c->a, &kids, elem_atom(c, vals, nvals, elems.items[j]));
			return c_join(c, IC_OR, (struct ir_cond **)kids.items, kids.len);
		}

	/* Large: exact values -> hash set, prefixes (and exact addresses of
	 * the same family, as full-length prefixes) -> LPM, the rest inline. */
	struct ptrvec exact = { 0 }, pfx = { 0 }, inl = { 0 };
	for (int i = 0; i < elems.len; i++) {
		const struct ast_expr *el = elems.items[i];
		const struct ast_expr *col = const_collection(el);
		if (col)
			el = col;
		bool all_exact = true;
		if (el->kind == E_TUPLE && el->nargs == nvals) {
			for (int k = 0; k < nvals; k++) {
				u128 x;
				enum ir_type t;
				if (!elem_exact(el->args[k], &x, &t) ||
				    !types_compatible(t, vals[k]->type) ||
				    bits_needed(x) > vals[k]->bits)
					all_exact = false;
			}
		} else if (nvals == 1) {
			u128 x;
			enum ir_type t;
			const struct xdpl_lit *l = elem_lit(el);
			if (l && is_prefix_lit(l)) {
				if (types_compatible(lit_ir_type(l), vals[0]->type) &&
				    pkt_lit_bits(l) == vals[0]->bits && is_addr(vals[0]->type))
					ptrvec_push(c->a, &pfx, (void *)el);
				/* else: another family, cannot match */
				continue;
			}
			if (!elem_exact(el, &x, &t)) {
				all_exact = false;
			} else if (!types_compatible(t, vals[0]->type) ||
				   bits_needed(x) > vals[0]->bits) {
				continue; /* cannot match */
			}
		} else {
			all_exact = false;
		}
		ptrvec_push(c->a, all_exact ? &exact : &inl, (void *)el);
	}
	if (pfx.len && exact.len && nvals == 1) {
		for (int i = 0; i < exact.len; i++)
			ptrvec_push(c->a, &pfx, exact.items[i]);
		exact.len = 0;
	}
	int line = c->line;
	if (pfx.len == 1)
		ptrvec_push(c->a, &inl, pfx.items[0]);
	else if (pfx.len > 1) {
		struct ir_map *m = anon_map(c, IRM_LPM, vals, 1, line);
		m->max_entries = (uint32_t)pfx.len;
		struct ptrvec entries = { 0 };
		for (int i = 0; i < pfx.len; i++) {
			const struct xdpl_lit *l = elem_lit(pfx.items[i]);
			struct ir_u128 v;
			pkt_lit_value(l, &v);
			int width = vals[0]->bits;
			int plen = is_prefix_lit(l) ? l->plen : width;
			u128 comps[8] = { u128_from_ir(v) };
			if (plen < width)
				comps[0] &= ~u128_mask(width - plen);
			map_add_entry(c, m, &entries, comps, plen, 1);
		}
		finish_init(c, m, &entries);
		struct ir_val **keys = arena_alloc(c->a, sizeof(*keys));
		keys[0] = vals[0];
		ptrvec_push(c->a, &kids, a_in_map(c, m, keys, 1));
	}
	if (exact.len == 1)
		ptrvec_push(c->a, &inl, exact.items[0]);
	else if (exact.len > 1) {
		struct ir_map *m = anon_map(c, IRM_HASH, vals, nvals, line);
		m->max_entries = (uint32_t)exact.len;
		struct ptrvec entries = { 0 };
		for (int i = 0; i < exact.len; i++) {
			const struct ast_expr *el = exact.items[i];
			u128 comps[8] = { 0 };
			enum ir_type t;
			for (int k = 0; k < nvals && k < 8; k++)
				elem_exact(el->kind == E_TUPLE ? el->args[k] : el, &comps[k], &t);
			map_add_entry(c, m, &entries, comps, 0, 1);
		}
		finish_init(c, m, &entries);
		ptrvec_push(c->a, &kids, a_in_map(c, m, vals, nvals));
	}
	if (!push_elem_atoms(c, vals, nvals, &inl, &kids))
		return NULL;
	return c_join(c, IC_OR, (struct ir_cond **)kids.items, kids.len);
}

static struct ir_cond *in_atom(struct lctx *c, const struct ast_expr *e)
{
	const struct ast_expr *lhs = e->lhs, *rhs = e->rhs;
	int n = lhs->kind == E_TUPLE ? lhs->nargs : 1;
	struct ast_expr *const *lv = lhs->kind == E_TUPLE ? lhs->args : (struct ast_expr *const *)&lhs;
	const struct ast_expr *col = const_collection(rhs);
	if (col)
		rhs = col;

	if (rhs->kind == E_NAME && rhs->ref.kind == REF_SET) {
		struct ir_map *m = set_map(c, rhs->ref.set);
		if (!m) {
			diag_error(rhs->loc, "internal: unresolved set '%s'", rhs->name);
			return NULL;
		}
		struct ir_val **keys;
		if (!map_keys(c, m, (struct ast_expr **)lv, n, &keys))
			return NULL;
		return a_in_map(c, m, keys, n);
	}
	struct ir_val **vals = arena_alloc(c->a, sizeof(*vals) * (size_t)n);
	for (int i = 0; i < n; i++) {
		vals[i] = lower_val(c, lv[i], NULL);
		if (!vals[i])
			return NULL;
	}
	if (rhs->kind == E_SETLIT)
		return setlit_atom(c, vals, n, rhs);
	return elem_atom(c, vals, n, rhs);
}

static const enum ir_cmp cmp_of[] = {
	[OP_EQ] = ICMP_EQ, [OP_NE] = ICMP_NE, [OP_LT] = ICMP_LT,
	[OP_LE] = ICMP_LE, [OP_GT] = ICMP_GT, [OP_GE] = ICMP_GE,
};

/* (field & mask) != 0 */
static struct ir_cond *flag_atom(struct lctx *c, const struct ast_expr *e, enum ir_cmp op)
{
	struct ir_val *f = field_val(c, e->ref.hdr, e->ref.field, NULL, e->loc);
	if (!f)
		return NULL;
	struct ir_val *m = vbin(c, IB_AND, f, kconst(c, f->type, f->bits, e->ref.flag->mask), f->type,
				f->bits);
	return a_cmp(c, m, op, kconst(c, f->type, f->bits, 0));
}

static bool is_flag(const struct ast_expr *e)
{
	return e->kind == E_NAME && e->ref.kind == REF_FLAG && e->ref.flag && e->ref.field &&
	       e->ref.hdr;
}

static struct ir_cond *cmp_atom(struct lctx *c, const struct ast_expr *e)
{
	enum ir_cmp op = cmp_of[e->op];
	const struct ast_expr *l = e->lhs, *r = e->rhs;
	/* flag == 0/1, flag != 0/1: a bit test */
	if ((op == ICMP_EQ || op == ICMP_NE) && (is_flag(l) || is_flag(r))) {
		const struct ast_expr *fl = is_flag(l) ? l : r, *k = is_flag(l) ? r : l;
		struct ir_u128 v;
		if (is_constish(k) && pkt_eval(k, NULL, NULL, &v) && !v.hi && v.lo <= 1)
			return flag_atom(c, fl, (op == ICMP_EQ) == (v.lo != 0) ? ICMP_NE : ICMP_EQ);
	}
	struct ir_val *a, *b;
	if (is_constish(l) && !is_constish(r)) {
		b = lower_val(c, r, NULL);
		a = b ? lower_val(c, l, b) : NULL;
	} else {
		a = lower_val(c, l, NULL);
		b = a ? lower_val(c, r, a) : NULL;
	}
	if (!a || !b)
		return NULL;
	return a_cmp(c, a, op, b);
}

static struct ir_cond *atom_inner(struct lctx *c, const struct ast_expr *e)
{
	if (e->kind == E_BINARY && e->op >= OP_EQ && e->op <= OP_GE)
		return cmp_atom(c, e);
	if (e->kind == E_IN)
		return in_atom(c, e);
	if (is_flag(e))
		return flag_atom(c, e, ICMP_NE);
	struct ir_val *v = lower_val(c, e, NULL);
	if (!v)
		return NULL;
	return a_cmp(c, v, ICMP_NE, kconst(c, v->type, v->bits, 0));
}

static void add_families(const struct ast_alias *al, int *fams, int *n)
{
	for (int i = 0; i < al->nalts; i++) {
		int f = type_family_of_expr(al->alts[i]);
		bool seen = false;
		for (int k = 0; k < *n; k++)
			seen |= fams[k] == f;
		if (!seen && *n < 8)
			fams[(*n)++] = f;
	}
}

/* Families of the mixed aliases an atom reads (outside hash(...)), in
 * source order.  The left spine is walked with a loop (an operand chain
 * may be 100k deep), right operands and arguments recursively. */
static void collect_families(struct lctx *c, const struct ast_expr *e, int *fams, int *n)
{
	struct ptrvec spine = { 0 };
	for (; e && e->kind != E_HASH; e = e->lhs) {
		if (e->kind == E_NAME && e->ref.kind == REF_ALIAS && e->ref.alias &&
		    alias_mixed(e->ref.alias)) {
			add_families(e->ref.alias, fams, n);
			break;
		}
		ptrvec_push(c->a, &spine, (void *)e);
	}
	for (int s = spine.len - 1; s >= 0; s--) {
		const struct ast_expr *x = spine.items[s];
		collect_families(c, x->rhs, fams, n);
		for (int i = 0; i < x->nargs; i++)
			collect_families(c, x->args[i], fams, n);
	}
}

static struct ir_cond *atom(struct lctx *c, const struct ast_expr *e)
{
	int saved_line = c->line;
	c->line = e->loc.first_line;
	int fams[8], n = 0;
	collect_families(c, e, fams, &n);
	struct ir_cond *r;
	if (!n) {
		c->impossible = false;
		r = atom_inner(c, e);
		if (!r && c->impossible)
			r = c_false(c);
	} else {
		struct ir_cond *kids[8];
		int nk = 0;
		int saved = c->family;
		r = NULL;
		for (int i = 0; i < n; i++) {
			c->family = fams[i];
			c->impossible = false;
			struct ir_cond *x = atom_inner(c, e);
			if (!x && !c->impossible) {
				nk = -1;
				break;
			}
			kids[nk++] = x ? x : c_false(c);
		}
		c->family = saved;
		if (nk >= 0)
			r = c_join(c, IC_OR, kids, nk);
	}
	c->impossible = false;
	c->line = saved_line;
	return r;
}

/* A left-deep chain `a and b and c ...` (or `or`) lowered in one pass: walk
 * the left spine with a loop, lower the operands left to right and join
 * them once, so a chain of n terms costs O(n) time, memory and stack (a
 * join per level would copy the flattened list again at every level). */
static struct ir_cond *chain_cond(struct lctx *c, const struct ast_expr *e)
{
	enum binop op = e->op;
	struct ptrvec rhs = { 0 };
	const struct ast_expr *x = e;
	for (; x->kind == E_BINARY && x->op == op; x = x->lhs)
		ptrvec_push(c->a, &rhs, (void *)x->rhs);
	struct ir_cond **kids = arena_alloc(c->a, sizeof(*kids) * (size_t)(rhs.len + 1));
	bool ok = (kids[0] = lower_cond(c, x)) != NULL;
	for (int i = 0; i < rhs.len; i++) {
		kids[i + 1] = lower_cond(c, rhs.items[rhs.len - 1 - i]);
		ok &= kids[i + 1] != NULL;
	}
	if (!ok)
		return NULL;
	return c_join(c, op == OP_AND ? IC_AND : IC_OR, kids, rhs.len + 1);
}

struct ir_cond *lower_cond(struct lctx *c, const struct ast_expr *e)
{
	if (!e)
		return NULL;
	switch (e->kind) {
	case E_BINARY:
		if (e->op == OP_AND || e->op == OP_OR)
			return chain_cond(c, e);
		return atom(c, e);
	case E_NOT: {
		struct ir_cond *x = lower_cond(c, e->lhs);
		return x ? c_not(c, x) : NULL;
	}
	case E_LIT:
		if (e->lit.kind == LIT_BOOL || e->lit.kind == LIT_INT)
			return c_bool(c, e->lit.u != 0);
		diag_error(e->loc, "this literal is not a condition");
		return NULL;
	case E_NAME:
		switch (e->ref.kind) {
		case REF_HEADER: {
			if (!e->ref.hdr)
				break;
			struct ir_cond *x = mkcond(c, IC_PRESENT);
			x->hdr = e->ref.hdr->index;
			x->line = e->loc.first_line;
			return x;
		}
		case REF_CONST: {
			const struct xdpl_lit *l = e->ref.konst ? &e->ref.konst->folded : NULL;
			if (l && (l->kind == LIT_BOOL || l->kind == LIT_INT))
				return c_bool(c, l->u != 0);
			diag_error(e->loc, "'%s' is not a condition", e->name);
			return NULL;
		}
		case REF_SET:
			diag_error(e->loc, "set '%s' is not a condition", e->name);
			return NULL;
		default:
			break;
		}
		return atom(c, e);
	default:
		return atom(c, e);
	}
}
