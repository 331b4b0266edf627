/* Lowering of values: literals, header fields and meta variables, generic
 * names (aliases, coalesced per alternative), arithmetic, map reads and
 * hash(...). */
#include "lower_internal.h"

#include <string.h>

/* ---------------------------------------------------------------- values */

struct ir_val *lit_val(struct lctx *c, const struct xdpl_lit *l, const struct ir_val *hint,
			      struct xdpl_loc loc)
{
	struct ir_u128 v;
	if (is_prefix_lit(l) || !pkt_lit_value(l, &v)) {
		diag_error(loc, "this literal is not a value here");
		return NULL;
	}
	u128 x = u128_from_ir(v);
	switch (l->kind) {
	case LIT_INT:
		if (hint && bits_needed(x) <= hint->bits)
			return kconst(c, hint->type, hint->bits, x);
		return kconst(c, IR_UINT, 64, x);
	case LIT_BOOL:
		if (hint && hint->type != IR_BOOL && !is_addr(hint->type))
			return kconst(c, hint->type, hint->bits, x);
		return kconst(c, IR_BOOL, 1, x);
	default: {
		enum ir_type t = lit_ir_type(l);
		return kconst(c, t, pkt_lit_bits(l), x);
	}
	}
}

int type_family_of_expr(const struct ast_expr *alt)
{
	enum ir_type t;
	int bits;
	struct xdpl_type ty = alt->type;
	if (ty.kind == TY_NONE && alt->ref.field)
		ty = alt->ref.field->type;
	ty_ir(ty, &t, &bits);
	return family_of(t);
}

/* Is this alias over alternatives of more than one family? */
bool alias_mixed(const struct ast_alias *al)
{
	for (int i = 1; i < al->nalts; i++)
		if (type_family_of_expr(al->alts[i]) != type_family_of_expr(al->alts[0]))
			return true;
	return false;
}

static struct ir_val *name_val(struct lctx *c, const struct ast_expr *e, const struct ir_val *hint);

static struct ir_val *coalesce(struct lctx *c, struct ptrvec *alts)
{
	if (alts->len == 1)
		return alts->items[0];
	struct ir_val *v = mkval(c, IV_COALESCE, IR_UINT, 0);
	v->keys = (struct ir_val **)alts->items;
	v->nkeys = alts->len;
	for (int i = 0; i < alts->len; i++) {
		struct ir_val *x = alts->items[i];
		if (i == 0 || x->bits > v->bits) {
			v->type = x->type;
			v->bits = x->bits;
		}
	}
	return v;
}

static struct ir_val *alias_val(struct lctx *c, const struct ast_alias *al, const struct ir_val *hint)
{
	bool mixed = alias_mixed(al);
	struct ptrvec alts = { 0 };
	if (mixed && (c->in_hash || !c->family)) {
		/* One value for all: ip4 alternatives as IPv4-mapped ip6 when
		 * the alias mixes ip4 and ip6; otherwise the first family. */
		bool has6 = false;
		for (int i = 0; i < al->nalts; i++)
			has6 |= type_family_of_expr(al->alts[i]) == family_of(IR_IP6);
		int fam = has6 ? family_of(IR_IP6) : type_family_of_expr(al->alts[0]);
		for (int i = 0; i < al->nalts; i++) {
			int f = type_family_of_expr(al->alts[i]);
			struct ir_val *x = NULL;
			if (f == fam)
				x = name_val(c, al->alts[i], hint);
			else if (has6 && f == family_of(IR_IP4)) {
				struct ir_val *a4 = name_val(c, al->alts[i], hint);
				if (!a4)
					return NULL;
				x = vbin(c, IB_OR, a4,
					 kconst(c, IR_IP6, 128, (u128)0xffff << 32), IR_IP6, 128);
			} else
				continue;
			if (!x)
				return NULL;
			ptrvec_push(c->a, &alts, x);
		}
		return coalesce(c, &alts);
	}
	int fam = mixed ? c->family : 0;
	for (int i = 0; i < al->nalts; i++) {
		if (fam && type_family_of_expr(al->alts[i]) != fam)
			continue;
		struct ir_val *x = name_val(c, al->alts[i], hint);
		if (!x)
			return NULL;
		ptrvec_push(c->a, &alts, x);
	}
	if (!alts.len) {
		c->impossible = true;
		return NULL;
	}
	return coalesce(c, &alts);
}

struct ir_val *field_val(struct lctx *c, const struct ast_header *h, const struct ast_field *f,
				const char *name, struct xdpl_loc loc)
{
	int hi = h->index;
	int fi = ir_field_index(h, f, name);
	if (fi < 0) {
		diag_error(loc, "'%s' cannot be read as a value", f ? f->name : name);
		return NULL;
	}
	const struct ir_field *F = &c->ir->headers[hi].fields[fi];
	struct ir_val *v = mkval(c, h->is_meta ? IV_META : IV_FIELD, F->type, F->bits);
	v->hdr = hi;
	v->field = fi;
	return v;
}

static struct ir_val *name_val(struct lctx *c, const struct ast_expr *e, const struct ir_val *hint)
{
	const struct xdpl_ref *r = &e->ref;
	if (c->size_hdr >= 0 && (r->kind == REF_FIELD || r->kind == REF_NONE)) {
		/* bytes() size: the header's own fields, in this instance */
		const struct ast_header *h = c->p->headers[0];
		for (int i = 0; i < c->p->nheaders; i++)
			if (c->p->headers[i]->index == c->size_hdr)
				h = c->p->headers[i];
		const char *nm = e->name;
		const char *dot = nm ? strrchr(nm, '.') : NULL;
		return field_val(c, h, r->kind == REF_FIELD ? r->field : NULL, dot ? dot + 1 : nm,
				 e->loc);
	}
	switch (r->kind) {
	case REF_FIELD:
	case REF_META:
		if (!r->hdr || !r->field)
			break;
		return field_val(c, r->hdr, r->field, NULL, e->loc);
	case REF_FLAG: {
		if (!r->hdr || !r->field || !r->flag)
			break;
		struct ir_val *f = field_val(c, r->hdr, r->field, NULL, e->loc);
		if (!f)
			return NULL;
		uint64_t mask = r->flag->mask;
		if (mask && !(mask & (mask - 1))) {
			int k = __builtin_ctzll(mask);
			struct ir_val *x = k ? vbin(c, IB_SHR, f, kconst(c, IR_UINT, 64, (u128)k),
						    IR_UINT, f->bits)
					     : f;
			return vbin(c, IB_AND, x, kconst(c, IR_UINT, 1, 1), IR_BOOL, 1);
		}
		/* several bits: (x | -x) >> 63 is 1 iff x != 0 */
		struct ir_val *x = vbin(c, IB_AND, f, kconst(c, IR_UINT, f->bits, mask), IR_UINT, 64);
		struct ir_val *neg = vbin(c, IB_SUB, kconst(c, IR_UINT, 64, 0), x, IR_UINT, 64);
		struct ir_val *o = vbin(c, IB_OR, x, neg, IR_UINT, 64);
		return vbin(c, IB_SHR, o, kconst(c, IR_UINT, 64, 63), IR_BOOL, 1);
	}
	case REF_ALIAS:
		if (!r->alias)
			break;
		return alias_val(c, r->alias, hint);
	case REF_PKT: {
		static const enum ir_pkt pk[] = { [PKT_LEN] = IR_PKT_LEN,
						  [PKT_IFINDEX] = IR_PKT_IFINDEX,
						  [PKT_RXQ] = IR_PKT_RXQ };
		struct ir_val *v = mkval(c, IV_PKT, IR_UINT, 32);
		v->pkt = pk[r->pkt_field];
		return v;
	}
	case REF_CONST:
		if (!r->konst)
			break;
		if (const_collection(e)) {
			diag_error(e->loc, "'%s' is a collection, not a value", e->name);
			return NULL;
		}
		return lit_val(c, &r->konst->folded, hint, e->loc);
	case REF_HEADER:
		diag_error(e->loc, "header '%s' is a condition, not a value", e->name);
		return NULL;
	case REF_SET:
		diag_error(e->loc, "set '%s' is not a value", e->name);
		return NULL;
	case REF_NONE:
		break;
	}
	diag_error(e->loc, "internal: unresolved name '%s'", e->name ? e->name : "?");
	return NULL;
}

/* Left spines are walked with a loop (`x + 1 + 1 ...` may be 100k deep);
 * right operands nest only through parentheses, which the parser bounds. */
bool is_constish(const struct ast_expr *e)
{
	for (;; e = e->lhs) {
		if (e->kind == E_LIT)
			return true;
		if (e->kind == E_NAME && e->ref.kind == REF_CONST)
			return true;
		if (!(e->kind == E_BINARY && e->op >= OP_BAND) || !is_constish(e->rhs))
			return false;
	}
}

static bool val_wide(const struct ir_val *v)
{
	return v->type == IR_IP6 || v->bits > 64;
}

/* Spec: arithmetic is unsigned and as wide as its wider operand, a literal
 * taking the other operand's width; the result wraps modulo 2^width (so
 * `tcp.sport - 1` is 65535 for sport 0). Sema typed e with that width;
 * without a type (a constant-only expression) the operands decide. */
static int arith_bits(const struct ast_expr *e, const struct ir_val *a, const struct ir_val *b)
{
	if (e->type.kind == TY_UINT && e->type.bits > 0)
		return e->type.bits;
	int ba = a->kind == IV_CONST ? (int)bits_needed(cval(a)) : a->bits;
	int bb = b->kind == IV_CONST ? (int)bits_needed(cval(b)) : b->bits;
	int w = ba > bb ? ba : bb;
	return w > 0 ? w : 1;
}

/* `v + k1 + k2 ...` (a left spine of constant addends) as v + (k1 + k2 ...):
 * addition modulo one width is associative, and a 40k-term chain then
 * costs one IR node instead of a 40k-deep tree every later walker would
 * recurse through.  Each node keeps its own width: a run of constants is
 * summed only while the width stays, and closed where it changes.  false:
 * not such a chain. */
static struct ir_val *add_close(struct lctx *c, struct ir_val *a, struct ir_val *k, bool wide, int kw)
{
	return k ? vbin(c, IB_ADD, a, k, wide ? IR_IP6 : IR_UINT, wide ? 128 : kw) : a;
}

static bool add_chain_val(struct lctx *c, const struct ast_expr *e, struct ir_val **v)
{
	struct ptrvec spine = { 0 };
	const struct ast_expr *x = e;
	for (; x->kind == E_BINARY && x->op == OP_ADD && is_constish(x->rhs); x = x->lhs)
		ptrvec_push(c->a, &spine, (void *)x);
	*v = NULL;
	if (!spine.len)
		return false;
	struct ir_val *a = lower_val(c, x, NULL), *k = NULL;
	if (!a)
		return true;
	bool wide = val_wide(a);
	int kw = 0;
	for (int i = spine.len - 1; i >= 0; i--) {
		const struct ast_expr *n = spine.items[i];
		struct ir_val *b = lower_val(c, n->rhs, NULL);
		if (!b)
			return true;
		bool typed = n->type.kind == TY_UINT && n->type.bits > 0;
		int w = wide ? 128 : typed ? n->type.bits : 0;
		if (b->kind != IV_CONST || (val_wide(b) && !wide) || !typed ||
		    a->kind == IV_CONST || (k && w != kw)) {
			/* as node by node: close the run so far */
			a = add_close(c, a, k, wide, kw);
			k = NULL;
			if (b->kind != IV_CONST || (val_wide(b) && !wide) || !typed ||
			    a->kind == IV_CONST) {
				wide |= val_wide(b);
				a = vbin(c, IB_ADD, a, b, wide ? IR_IP6 : IR_UINT,
					 wide ? 128 : arith_bits(n, a, b));
				continue;
			}
		}
		k = k ? vbin(c, IB_ADD, k, b, wide ? IR_IP6 : IR_UINT, w) : b;
		kw = w;
	}
	*v = add_close(c, a, k, wide, kw);
	return true;
}

static struct ir_val *bin_val(struct lctx *c, const struct ast_expr *e)
{
	static const enum ir_binop ops[] = {
		[OP_BAND] = IB_AND, [OP_BOR] = IB_OR, [OP_BXOR] = IB_XOR, [OP_ADD] = IB_ADD,
		[OP_SUB] = IB_SUB, [OP_MUL] = IB_MUL, [OP_MOD] = IB_MOD, [OP_SHL] = IB_SHL,
		[OP_SHR] = IB_SHR,
	};
	enum ir_binop op = ops[e->op];
	struct ir_val *a, *b;
	struct ir_val *sum;
	if (op == IB_ADD && add_chain_val(c, e, &sum))
		return sum;
	if (is_constish(e->lhs) && !is_constish(e->rhs)) {
		b = lower_val(c, e->rhs, NULL);
		a = b ? lower_val(c, e->lhs, (op == IB_AND || op == IB_OR || op == IB_XOR) ? b : NULL)
		      : NULL;
	} else {
		a = lower_val(c, e->lhs, NULL);
		b = a ? lower_val(c, e->rhs, (op == IB_AND || op == IB_OR || op == IB_XOR) ? a : NULL)
		      : NULL;
	}
	if (!a || !b)
		return NULL;
	enum ir_type t = IR_UINT;
	int bits = arith_bits(e, a, b);
	bool wide = a->type == IR_IP6 || b->type == IR_IP6 || a->bits > 64 || b->bits > 64;
	if (wide) {
		t = IR_IP6;
		bits = 128;
	} else if (op == IB_AND || op == IB_OR || op == IB_XOR) {
		const struct ir_val *na = a->kind == IV_CONST ? NULL : a;
		const struct ir_val *nb = b->kind == IV_CONST ? NULL : b;
		/* x & y fits the narrower non-constant side: the same value,
		 * fewer bits to compare */
		if (op == IB_AND && (na || nb))
			bits = na && nb ? (na->bits < nb->bits ? na->bits : nb->bits)
					: na ? na->bits : nb->bits;
		const struct ir_val *nt = na ? na : nb;
		if (nt && is_addr(nt->type))
			t = nt->type, bits = nt->bits;
	}
	return vbin(c, op, a, b, t, bits);
}

/* Operators deeper than this (after constant addends are summed) are
 * refused: no BPF program evaluates such an expression, and every later
 * stage walks values recursively. */
#define VAL_DEPTH_MAX 1000

static struct ir_val *nested_bin_val(struct lctx *c, const struct ast_expr *e)
{
	if (c->val_depth >= VAL_DEPTH_MAX) {
		diag_error(e->loc, "expression too deep: more than %d nested operators",
			   VAL_DEPTH_MAX);
		return NULL;
	}
	c->val_depth++;
	struct ir_val *v = bin_val(c, e);
	c->val_depth--;
	return v;
}

struct ir_val *map_keys(struct lctx *c, const struct ir_map *m, struct ast_expr **args,
			       int nargs, struct ir_val ***out)
{
	struct ir_val **keys = arena_alloc(c->a, sizeof(*keys) * (size_t)(nargs + 1));
	for (int i = 0; i < nargs; i++) {
		struct ir_val hint = { 0 };
		hint.type = i < m->nkeys ? m->key_types[i] : IR_UINT;
		hint.bits = i < m->nkeys ? m->key_bits[i] : 64;
		keys[i] = lower_val(c, args[i], &hint);
		if (!keys[i])
			return NULL;
		keys[i] = retype_const(c, keys[i], &hint);
	}
	*out = keys;
	return (struct ir_val *)1;
}

struct ir_val *lower_val(struct lctx *c, const struct ast_expr *e, const struct ir_val *hint)
{
	if (!e)
		return NULL;
	switch (e->kind) {
	case E_LIT:
		return lit_val(c, &e->lit, hint, e->loc);
	case E_NAME:
		return name_val(c, e, hint);
	case E_BINARY:
		if (e->op >= OP_BAND)
			return nested_bin_val(c, e);
		diag_error(e->loc, "a condition is not a value");
		return NULL;
	case E_INDEX: {
		struct ir_map *m = set_map(c, e->ref.set);
		if (!m) {
			diag_error(e->loc, "internal: unresolved map '%s'", e->name ? e->name : "?");
			return NULL;
		}
		if (m->is_set) {
			diag_error(e->loc, "'%s' is a set: use `in %s`", m->name, m->name);
			return NULL;
		}
		struct ir_val **keys;
		if (!map_keys(c, m, e->args, e->nargs, &keys))
			return NULL;
		struct ir_val *v = mkval(c, IV_MAP_READ, m->value_type, m->value_bits);
		v->map = m;
		v->keys = keys;
		v->nkeys = e->nargs;
		return v;
	}
	case E_HASH: {
		bool saved = c->in_hash;
		c->in_hash = true;
		struct ir_val **keys = arena_alloc(c->a, sizeof(*keys) * (size_t)(e->nargs + 1));
		for (int i = 0; i < e->nargs; i++) {
			keys[i] = lower_val(c, e->args[i], NULL);
			if (!keys[i]) {
				c->in_hash = saved;
				return NULL;
			}
		}
		c->in_hash = saved;
		struct ir_val *v = mkval(c, IV_HASH, IR_UINT, 32);
		v->keys = keys;
		v->nkeys = e->nargs;
		return v;
	}
	default:
		diag_error(e->loc, "this is not a value");
		return NULL;
	}
}
