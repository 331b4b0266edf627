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
#include "lower.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pktbuild.h"
#include "regroup.h"
#include "xdpl_meta.h"

/* `x in { ... }` with at most this many elements is inlined as an OR of
 * atoms; larger ones put exact values into an anonymous hash set and
 * prefixes into an anonymous LPM map (ranges stay inline atoms). */
#define SMALL_SET_MAX 16
/* A range in a hash set's initial elements is expanded up to this many. */
#define MAX_RANGE_EXPAND 65536

typedef unsigned __int128 u128;

struct lctx {
	struct arena *a;
	const struct sema_program *p;
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
};

static u128 from_ir(struct ir_u128 v)
{
	return ((u128)v.hi << 64) | v.lo;
}

static struct ir_u128 to_ir(u128 v)
{
	struct ir_u128 r = { (uint64_t)(v >> 64), (uint64_t)v };
	return r;
}

static u128 mask_bits(int bits)
{
	if (bits >= 128)
		return ~(u128)0;
	if (bits <= 0)
		return 0;
	return ((u128)1 << bits) - 1;
}

static int bits_needed(u128 v)
{
	int n = 1;
	while (n < 128 && (v >> n))
		n++;
	return n;
}

/* ---------------------------------------------------------------- types */

static void ty_ir(struct xdpl_type t, enum ir_type *it, int *bits)
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

static bool is_addr(enum ir_type t)
{
	return t == IR_MAC || t == IR_IP4 || t == IR_IP6;
}

/* Families of values: the address types each on their own, all integers
 * (and bools) together. */
static int family_of(enum ir_type t)
{
	return (t == IR_BOOL ? IR_UINT : t) + 1;
}

static bool types_compatible(enum ir_type a, enum ir_type b)
{
	if (is_addr(a) && is_addr(b))
		return a == b;
	return true;
}

static enum ir_type lit_ir_type(const struct xdpl_lit *l)
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

static struct ir_val *mkval(struct lctx *c, enum ir_val_kind k, enum ir_type t, int bits)
{
	struct ir_val *v = NEW(c->a, struct ir_val);
	v->kind = k;
	v->type = t;
	v->bits = bits;
	return v;
}

static struct ir_val *kconst(struct lctx *c, enum ir_type t, int bits, u128 x)
{
	struct ir_val *v = mkval(c, IV_CONST, t, bits);
	x &= mask_bits(bits);
	v->c128 = to_ir(x);
	v->c = (uint64_t)x;
	return v;
}

static u128 cval(const struct ir_val *v)
{
	return from_ir(v->c128);
}

static struct ir_val *vbin(struct lctx *c, enum ir_binop op, struct ir_val *a, struct ir_val *b,
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
		case IB_MOD: r = y ? x % y : 0; break;
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

static struct ir_cond *mkcond(struct lctx *c, enum ir_cond_kind k)
{
	struct ir_cond *x = NEW(c->a, struct ir_cond);
	x->kind = k;
	return x;
}

static struct ir_cond *c_true(struct lctx *c)
{
	return mkcond(c, IC_TRUE);
}

static struct ir_cond *c_false(struct lctx *c)
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

static struct ir_cond *c_bool(struct lctx *c, bool b)
{
	return b ? c_true(c) : c_false(c);
}

/* AND/OR of kids: flattened, constants folded. */
static struct ir_cond *c_join(struct lctx *c, enum ir_cond_kind k, struct ir_cond **kids, int n)
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

static struct ir_cond *c_not(struct lctx *c, struct ir_cond *x)
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

static enum ir_cmp mirror(enum ir_cmp op)
{
	switch (op) {
	case ICMP_LT: return ICMP_GT;
	case ICMP_LE: return ICMP_GE;
	case ICMP_GT: return ICMP_LT;
	case ICMP_GE: return ICMP_LE;
	default: return op;
	}
}

static bool cmp_eval(enum ir_cmp op, u128 x, u128 y)
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
static struct ir_val *retype_const(struct lctx *c, struct ir_val *k, const struct ir_val *like)
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
		op = mirror(op);
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
	if (hi > mask_bits(a->bits))
		hi = mask_bits(a->bits);
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
	u128 pfx = from_ir(pv);
	int plen = l->plen;
	if (plen > width)
		plen = width;
	u128 m = plen == 0 ? 0 : mask_bits(width) & ~mask_bits(width - plen);
	pfx &= m;
	if (a->kind == IV_CONST)
		return c_bool(c, (cval(a) & m) == pfx);
	if (plen == width)
		return a_cmp(c, a, ICMP_EQ, kconst(c, lt, width, pfx));
	struct ir_cond *x = mkcond(c, IC_PREFIX);
	x->a = a;
	x->prefix = to_ir(pfx);
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

/* ---------------------------------------------------------------- maps */

static int key_bytes(int bits)
{
	return (bits + 7) / 8;
}

static int value_bytes(int bits)
{
	if (bits <= 8)
		return 1;
	if (bits <= 16)
		return 2;
	if (bits <= 32)
		return 4;
	if (bits <= 64)
		return 8;
	return 16;
}

static void put_be(uint8_t *p, int n, u128 v)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static void put_host(uint8_t *p, int n, u128 v)
{
	/* host order: as the native integer of that size */
	uint8_t tmp[16];
	switch (n) {
	case 1: { uint8_t x = (uint8_t)v; memcpy(tmp, &x, 1); break; }
	case 2: { uint16_t x = (uint16_t)v; memcpy(tmp, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(tmp, &x, 4); break; }
	case 8: { uint64_t x = (uint64_t)v; memcpy(tmp, &x, 8); break; }
	default: memcpy(tmp, &v, 16); break;
	}
	memcpy(p, tmp, (size_t)n);
}

static void map_add_entry(struct lctx *c, struct ir_map *m, struct ptrvec *entries,
			  const u128 *comps, int plen, u128 value)
{
	struct ir_map_entry *e = NEW(c->a, struct ir_map_entry);
	e->key = arena_alloc(c->a, (size_t)m->key_size);
	e->value = arena_alloc(c->a, (size_t)(m->value_size ? m->value_size : 1));
	if (m->kind == IRM_LPM) {
		uint32_t pl = (uint32_t)plen;
		memcpy(e->key, &pl, 4);
		put_be(e->key + 4, m->key_size - 4, comps[0]);
	} else if (m->kind == IRM_ARRAY || m->kind == IRM_PERCPU_ARRAY) {
		put_host(e->key, 4, comps[0]);
	} else {
		int off = 0;
		for (int i = 0; i < m->nkeys; i++) {
			int n = key_bytes(m->key_bits[i]);
			put_be(e->key + off, n, comps[i] & mask_bits(m->key_bits[i]));
			off += n;
		}
	}
	put_host(e->value, m->value_size, value);
	ptrvec_push(c->a, entries, e);
}

static void finish_init(struct lctx *c, struct ir_map *m, struct ptrvec *entries)
{
	m->ninit = entries->len;
	m->init = NULL;
	if (!entries->len)
		return;
	struct ir_map_entry *arr = arena_alloc(c->a, sizeof(*arr) * (size_t)entries->len);
	for (int i = 0; i < entries->len; i++)
		arr[i] = *(struct ir_map_entry *)entries->items[i];
	m->init = arr;
}

static struct ir_map *new_map(struct lctx *c, const char *name, enum ir_map_kind kind, bool is_set)
{
	struct ir_map *m = NEW(c->a, struct ir_map);
	m->name = name;
	m->kind = kind;
	m->is_set = is_set;
	m->index = c->maps.len;
	ptrvec_push(c->a, &c->maps, m);
	if (kind == IRM_LPM)
		m->flags = 1; /* BPF_F_NO_PREALLOC */
	return m;
}

/* The key of an array-like map: one host-order u32 index. */
static void index_key(struct ir_map *m)
{
	m->nkeys = 1;
	m->key_types[0] = IR_UINT;
	m->key_bits[0] = 32;
	m->key_size = 4;
}

static void map_key_layout(struct ir_map *m)
{
	int size = 0;
	for (int i = 0; i < m->nkeys; i++)
		size += key_bytes(m->key_bits[i]);
	if (m->kind == IRM_LPM)
		size += 4;
	m->key_size = size;
}

/* Literal element → numeric value (E_LIT or a scalar const). */
static const struct xdpl_lit *elem_lit(const struct ast_expr *e)
{
	if (e->kind == E_LIT)
		return &e->lit;
	if (e->kind == E_NAME && e->ref.kind == REF_CONST && e->ref.konst) {
		const struct ast_const *k = e->ref.konst;
		if (k->value && (k->value->kind == E_SETLIT || k->value->kind == E_RANGE ||
				 k->value->kind == E_TUPLE))
			return NULL;
		return &k->folded;
	}
	return NULL;
}

static bool is_prefix_lit(const struct xdpl_lit *l)
{
	return l->kind == LIT_PREFIX4 || l->kind == LIT_PREFIX6;
}

/* The collection a const stands for (set literal, range, tuple), or NULL. */
static const struct ast_expr *const_collection(const struct ast_expr *e)
{
	if (e && e->kind == E_NAME && e->ref.kind == REF_CONST && e->ref.konst) {
		const struct ast_expr *v = e->ref.konst->value;
		if (v && (v->kind == E_SETLIT || v->kind == E_RANGE || v->kind == E_TUPLE))
			return v;
	}
	return NULL;
}

/* Elements of a set literal with consts substituted and nested sets
 * spliced in. */
static void flatten_elems(struct lctx *c, const struct ast_expr *set, struct ptrvec *out, int depth)
{
	for (int i = 0; i < set->nargs; i++) {
		const struct ast_expr *e = set->args[i];
		const struct ast_expr *col = const_collection(e);
		if (col && col->kind == E_SETLIT && depth < 16) {
			flatten_elems(c, col, out, depth + 1);
			continue;
		}
		if (e->kind == E_SETLIT && depth < 16) {
			flatten_elems(c, e, out, depth + 1);
			continue;
		}
		ptrvec_push(c->a, out, (void *)(col ? col : e));
	}
}

static bool range_bounds(const struct ast_expr *r, u128 *lo, u128 *hi, enum ir_type *t)
{
	struct ir_u128 a, b;
	if (!pkt_eval(r->lhs, NULL, NULL, &a) || !pkt_eval(r->rhs, NULL, NULL, &b))
		return false;
	*lo = from_ir(a);
	*hi = from_ir(b);
	const struct xdpl_lit *l = elem_lit(r->lhs);
	*t = l ? lit_ir_type(l) : IR_UINT;
	return true;
}

static void lower_set_init(struct lctx *c, const struct ast_set *s, struct ir_map *m)
{
	struct ptrvec elems = { 0 }, entries = { 0 };
	if (!s->init)
		return;
	flatten_elems(c, s->init, &elems, 0);
	for (int i = 0; i < elems.len; i++) {
		const struct ast_expr *e = elems.items[i];
		u128 comps[8] = { 0 };
		if (m->kind == IRM_LPM) {
			const struct xdpl_lit *l = elem_lit(e);
			struct ir_u128 v;
			if (!l || !pkt_lit_value(l, &v)) {
				diag_error(e->loc, "an element of lpm set '%s' must be an address or a prefix",
					   s->name);
				continue;
			}
			int width = m->key_bits[0];
			int plen = is_prefix_lit(l) ? l->plen : width;
			comps[0] = from_ir(v);
			if (plen < width)
				comps[0] &= ~mask_bits(width - plen);
			map_add_entry(c, m, &entries, comps, plen, 1);
			continue;
		}
		if (e->kind == E_RANGE && m->nkeys == 1) {
			u128 lo, hi;
			enum ir_type t;
			if (!range_bounds(e, &lo, &hi, &t) || hi < lo) {
				diag_error(e->loc, "cannot evaluate this range");
				continue;
			}
			if (hi - lo >= MAX_RANGE_EXPAND) {
				diag_error(e->loc, "a range in a set's elements may hold at most %d values",
					   MAX_RANGE_EXPAND);
				continue;
			}
			for (u128 v = lo;; v++) {
				comps[0] = v;
				map_add_entry(c, m, &entries, comps, 0, 1);
				if (v == hi)
					break;
			}
			continue;
		}
		int n = e->kind == E_TUPLE ? e->nargs : 1;
		if (n != m->nkeys) {
			diag_error(e->loc, "set '%s' has %d key part%s, this element has %d", s->name,
				   m->nkeys, m->nkeys == 1 ? "" : "s", n);
			continue;
		}
		bool ok = true;
		for (int k = 0; k < n && k < 8; k++) {
			const struct ast_expr *x = e->kind == E_TUPLE ? e->args[k] : e;
			struct ir_u128 v;
			if (!pkt_eval(x, NULL, NULL, &v)) {
				diag_error(x->loc, "a set element must be a constant value");
				ok = false;
				break;
			}
			comps[k] = from_ir(v);
		}
		if (ok)
			map_add_entry(c, m, &entries, comps, 0, 1);
	}
	finish_init(c, m, &entries);
}

/* Whether some rule adds to set s with a timeout (its values are then
 * expiry times). */
static bool set_expires(struct lctx *c, const struct ast_set *s)
{
	for (int i = 0; i < c->p->nrules; i++) {
		const struct ast_rule *r = c->p->rules[i];
		for (int k = 0; k < r->nrewrite; k++) {
			const struct ast_stmt *st = r->rewrite[k];
			if (st && st->kind == S_SET_ADD && st->has_timeout && st->set_ref == s)
				return true;
		}
	}
	return false;
}

static void lower_user_set(struct lctx *c, const struct ast_set *s)
{
	static const enum ir_map_kind kinds[] = {
		[SK_SET_HASH] = IRM_HASH, [SK_SET_LPM] = IRM_LPM, [SK_MAP_HASH] = IRM_HASH,
		[SK_MAP_LRU] = IRM_LRU_HASH, [SK_MAP_ARRAY] = IRM_ARRAY,
		[SK_MAP_PERCPU_HASH] = IRM_PERCPU_HASH, [SK_MAP_PERCPU_ARRAY] = IRM_PERCPU_ARRAY,
		[SK_MAP_DEVMAP] = IRM_DEVMAP, [SK_MAP_CPUMAP] = IRM_CPUMAP,
		[SK_MAP_XSKMAP] = IRM_XSKMAP,
	};
	enum ir_map_kind kind = kinds[s->kind];
	struct ir_map *m = new_map(c, s->name, kind, s->kind == SK_SET_HASH || s->kind == SK_SET_LPM);
	m->user_visible = true;
	m->line = s->loc.first_line;
	m->max_entries = s->max ? (uint32_t)s->max : 1024;
	switch (kind) {
	case IRM_ARRAY: case IRM_PERCPU_ARRAY: case IRM_DEVMAP: case IRM_CPUMAP: case IRM_XSKMAP:
		index_key(m);
		break;
	default:
		m->nkeys = s->nkey > 8 ? 8 : s->nkey;
		for (int i = 0; i < m->nkeys; i++)
			ty_ir(s->key[i], &m->key_types[i], &m->key_bits[i]);
		map_key_layout(m);
		break;
	}
	if (m->is_set && set_expires(c, s)) {
		m->expires = true; /* see lower_state_stmt */
		/* expired elements are not deleted by anyone: an LRU hash makes
		 * room for new ones when full (the least recently used go) */
		if (m->kind == IRM_HASH)
			m->kind = IRM_LRU_HASH;
		m->value_type = IR_UINT;
		m->value_bits = 64;
		m->value_size = 8;
	} else if (m->is_set) {
		m->value_type = IR_UINT;
		m->value_bits = 8;
		m->value_size = 1;
	} else if (kind == IRM_DEVMAP || kind == IRM_CPUMAP || kind == IRM_XSKMAP) {
		m->value_type = IR_UINT;
		m->value_bits = 32;
		m->value_size = 4;
	} else {
		ty_ir(s->value, &m->value_type, &m->value_bits);
		m->value_size = value_bytes(m->value_bits);
	}
	if (s->init) {
		if (!m->is_set)
			diag_error(s->init->loc, "initial elements are only supported for sets");
		else
			lower_set_init(c, s, m);
		for (int i = 0; m->expires && i < m->ninit; i++)
			memset(m->init[i].value, 0, 8); /* initial elements never expire */
	}
	if (s->index >= 0 && s->index < c->nset_maps)
		c->set_maps[s->index] = m;
}

static struct ir_map *set_map(struct lctx *c, const struct ast_set *s)
{
	if (s && s->index >= 0 && s->index < c->nset_maps && c->set_maps[s->index])
		return c->set_maps[s->index];
	for (int i = 0; s && i < c->maps.len; i++) {
		struct ir_map *m = c->maps.items[i];
		if (m->user_visible && strcmp(m->name, s->name) == 0)
			return m;
	}
	return NULL;
}

static struct ir_map *anon_map(struct lctx *c, enum ir_map_kind kind, struct ir_val **keys, int n,
			       int line)
{
	struct ir_map *m = new_map(c, arena_printf(c->a, "_xdpl_set%d", c->nanon++), kind, true);
	m->user_visible = false;
	m->line = line;
	m->nkeys = n;
	for (int i = 0; i < n; i++) {
		m->key_types[i] = keys[i]->type;
		m->key_bits[i] = keys[i]->bits;
	}
	map_key_layout(m);
	m->value_type = IR_UINT;
	m->value_bits = 8;
	m->value_size = 1;
	return m;
}

/* ---------------------------------------------------------------- headers */

static const struct ast_header *layout(const struct ast_header *h)
{
	return pkt_layout(h);
}

/* IR field index of f in header h (bytes() fields are not IR fields). */
static int ir_field_index(const struct ast_header *h, const struct ast_field *f, const char *name)
{
	const struct ast_header *lay = layout(h);
	if (!lay)
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		int k = 0;
		for (int i = 0; i < lay->nfields; i++) {
			const struct ast_field *g = lay->fields[i];
			bool hit = pass == 0 ? g == f : strcmp(g->name, f ? f->name : name) == 0;
			if (hit)
				return g->type.kind == TY_BYTES ? -1 : k;
			if (g->type.kind != TY_BYTES)
				k++;
		}
	}
	return -1;
}

static struct ir_val *lower_val(struct lctx *c, const struct ast_expr *e, const struct ir_val *hint);

/* ---------------------------------------------------------------- rewrite support: checksums, header order */

/* The checksum a header carries (its stdlib default checksum(...)) and its
 * pseudo-header address fields (ir.h, struct ir_header). */
static void lower_header_csum(const struct ast_header *lay, struct ir_header *ih)
{
	ih->csum_field = ih->addr_src = ih->addr_dst = -1;
	if (ih->is_meta)
		return;
	for (int fi = 0; fi < ih->nfields; fi++) {
		const struct ir_field *F = &ih->fields[fi];
		const struct ast_field *f = NULL;
		for (int k = 0; k < lay->nfields; k++)
			if (strcmp(lay->fields[k]->name, F->name) == 0)
				f = lay->fields[k];
		const struct ast_expr *d = f ? f->deflt : NULL;
		if ((F->type == IR_IP4 || F->type == IR_IP6) && strcmp(F->name, "src") == 0)
			ih->addr_src = fi;
		if ((F->type == IR_IP4 || F->type == IR_IP6) && strcmp(F->name, "dst") == 0)
			ih->addr_dst = fi;
		if (!d || d->kind != E_CALL || !d->name || strcmp(d->name, "checksum") || ih->csum_field >= 0)
			continue;
		ih->csum_field = fi;
		ih->csum_kind = IR_CSUM_HEADER;
		for (int a = 0; a < d->nargs; a++) {
			const char *an = d->args[a] && d->args[a]->kind == E_NAME ? d->args[a]->name : "";
			if (strcmp(an, "payload") == 0)
				ih->csum_kind = IR_CSUM_PAYLOAD;
			else if (strcmp(an, "pseudo") == 0)
				ih->csum_kind = IR_CSUM_PSEUDO;
			else if (strcmp(an, "optional") == 0)
				ih->csum_optional = true;
		}
	}
	if (ih->addr_src < 0 || ih->addr_dst < 0 ||
	    ih->fields[ih->addr_src].type != ih->fields[ih->addr_dst].type)
		ih->addr_src = ih->addr_dst = -1;
}

/* ir.h: hdr_after, from the parse graph's state reachability. */
static void lower_header_order(struct lctx *c)
{
	struct ir_program *ir = c->ir;
	int ns = ir->nstates, nh = ir->nheaders;
	ir->hdr_after = arena_alloc(c->a, (size_t)(nh * nh + 1));
	bool *r = calloc((size_t)(ns * ns + 1), 1);
	if (!r)
		return;
	for (int s = 0; s < ns; s++) {
		const struct ir_state *st = &ir->states[s];
		if (st->next_state >= 0 && st->next_state < ns)
			r[s * ns + st->next_state] = true;
		for (int k = 0; k < st->narms; k++)
			if (st->arms[k].target >= 0 && st->arms[k].target < ns)
				r[s * ns + st->arms[k].target] = true;
	}
	for (int k = 0; k < ns; k++)
		for (int i = 0; i < ns; i++)
			if (r[i * ns + k])
				for (int j = 0; j < ns; j++)
					if (r[k * ns + j])
						r[i * ns + j] = true;
	for (int i = 0; i < ns; i++)
		for (int j = 0; j < ns; j++) {
			int a = ir->states[i].header, b = ir->states[j].header;
			if (r[i * ns + j] && a >= 0 && b >= 0 && a < nh && b < nh)
				ir->hdr_after[a * nh + b] = true;
		}
	free(r);
}

static void lower_headers(struct lctx *c)
{
	const struct sema_program *p = c->p;
	struct ir_program *ir = c->ir;
	ir->nheaders = p->nheaders;
	ir->headers = arena_alloc(c->a, sizeof(struct ir_header) * (size_t)(p->nheaders + 1));
	for (int i = 0; i < p->nheaders; i++) {
		const struct ast_header *h = p->headers[i];
		int idx = h->index >= 0 && h->index < p->nheaders ? h->index : i;
		struct ir_header *ih = &ir->headers[idx];
		const struct ast_header *lay = layout(h);
		ih->name = h->name;
		ih->index = idx;
		ih->is_meta = h->is_meta;
		ih->fixed_bytes = h->fixed_bytes ? h->fixed_bytes : lay->fixed_bytes;
		ih->fields = arena_alloc(c->a, sizeof(struct ir_field) * (size_t)(lay->nfields + 1));
		const struct ast_field *var = NULL;
		for (int k = 0; k < lay->nfields; k++) {
			const struct ast_field *f = lay->fields[k];
			if (f->type.kind == TY_BYTES) {
				if (!var)
					var = f;
				continue;
			}
			struct ir_field *F = &ih->fields[ih->nfields++];
			F->name = f->name;
			ty_ir(f->type, &F->type, &F->bits);
			F->bit_offset = f->bit_offset;
		}
		lower_header_csum(lay, ih);
		if (var && !h->is_meta) {
			int saved = c->size_hdr;
			c->size_hdr = idx;
			ih->var_size = lower_val(c, var->size, NULL);
			c->size_hdr = saved;
			ih->var_max = var->max_bytes;
		}
	}
}

/* ---------------------------------------------------------------- values */

static struct ir_val *lit_val(struct lctx *c, const struct xdpl_lit *l, const struct ir_val *hint,
			      struct xdpl_loc loc)
{
	struct ir_u128 v;
	if (is_prefix_lit(l) || !pkt_lit_value(l, &v)) {
		diag_error(loc, "this literal is not a value here");
		return NULL;
	}
	u128 x = from_ir(v);
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

static int type_family_of_expr(const struct ast_expr *alt)
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
static bool alias_mixed(const struct ast_alias *al)
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

static struct ir_val *field_val(struct lctx *c, const struct ast_header *h, const struct ast_field *f,
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

static bool is_constish(const struct ast_expr *e)
{
	if (e->kind == E_LIT)
		return true;
	if (e->kind == E_NAME && e->ref.kind == REF_CONST)
		return true;
	if (e->kind == E_BINARY && e->op >= OP_BAND)
		return is_constish(e->lhs) && is_constish(e->rhs);
	return false;
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
	int bits = 64;
	bool wide = a->type == IR_IP6 || b->type == IR_IP6 || a->bits > 64 || b->bits > 64;
	if (wide) {
		t = IR_IP6;
		bits = 128;
	} else if (op == IB_AND || op == IB_OR || op == IB_XOR) {
		const struct ir_val *na = a->kind == IV_CONST ? NULL : a;
		const struct ir_val *nb = b->kind == IV_CONST ? NULL : b;
		if (op == IB_AND) {
			bits = na && nb ? (na->bits < nb->bits ? na->bits : nb->bits)
					: na ? na->bits : nb ? nb->bits : 64;
		} else {
			int ba = na ? na->bits : bits_needed(cval(a));
			int bb = nb ? nb->bits : bits_needed(cval(b));
			bits = ba > bb ? ba : bb;
		}
		const struct ir_val *nt = na ? na : nb;
		if (nt && is_addr(nt->type))
			t = nt->type, bits = nt->bits;
	} else if (op == IB_SHR || op == IB_MOD) {
		bits = a->kind == IV_CONST ? 64 : a->bits;
	}
	return vbin(c, op, a, b, t, bits);
}

static struct ir_val *map_keys(struct lctx *c, const struct ir_map *m, struct ast_expr **args,
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

static struct ir_val *lower_val(struct lctx *c, const struct ast_expr *e, const struct ir_val *hint)
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
			return bin_val(c, e);
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

/* ---------------------------------------------------------------- conditions */

static struct ir_cond *lower_cond(struct lctx *c, const struct ast_expr *e);

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
	*out = from_ir(v);
	*t = lit_ir_type(l);
	return true;
}

static struct ir_cond *setlit_atom(struct lctx *c, struct ir_val **vals, int nvals,
				   const struct ast_expr *set)
{
	struct ptrvec elems = { 0 };
	flatten_elems(c, set, &elems, 0);
	struct ptrvec kids = { 0 };
	if (elems.len <= SMALL_SET_MAX) {
		for (int i = 0; i < elems.len; i++) {
			struct ir_cond *x = elem_atom(c, vals, nvals, elems.items[i]);
			if (!x)
				return NULL;
			ptrvec_push(c->a, &kids, x);
		}
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
			u128 comps[8] = { from_ir(v) };
			if (plen < width)
				comps[0] &= ~mask_bits(width - plen);
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
	for (int i = 0; i < inl.len; i++) {
		struct ir_cond *x = elem_atom(c, vals, nvals, inl.items[i]);
		if (!x)
			return NULL;
		ptrvec_push(c->a, &kids, x);
	}
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

/* Families of the mixed aliases an atom reads (outside hash(...)). */
static void collect_families(const struct ast_expr *e, int *fams, int *n)
{
	if (!e)
		return;
	if (e->kind == E_HASH)
		return;
	if (e->kind == E_NAME && e->ref.kind == REF_ALIAS && e->ref.alias &&
	    alias_mixed(e->ref.alias)) {
		const struct ast_alias *al = e->ref.alias;
		for (int i = 0; i < al->nalts; i++) {
			int f = type_family_of_expr(al->alts[i]);
			bool seen = false;
			for (int k = 0; k < *n; k++)
				seen |= fams[k] == f;
			if (!seen && *n < 8)
				fams[(*n)++] = f;
		}
		return;
	}
	collect_families(e->lhs, fams, n);
	collect_families(e->rhs, fams, n);
	for (int i = 0; i < e->nargs; i++)
		collect_families(e->args[i], fams, n);
}

static struct ir_cond *atom(struct lctx *c, const struct ast_expr *e)
{
	int saved_line = c->line;
	c->line = e->loc.first_line;
	int fams[8], n = 0;
	collect_families(e, fams, &n);
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

static struct ir_cond *lower_cond(struct lctx *c, const struct ast_expr *e)
{
	if (!e)
		return NULL;
	switch (e->kind) {
	case E_BINARY:
		if (e->op == OP_AND || e->op == OP_OR) {
			struct ir_cond *k[2] = { lower_cond(c, e->lhs), lower_cond(c, e->rhs) };
			if (!k[0] || !k[1])
				return NULL;
			return c_join(c, e->op == OP_AND ? IC_AND : IC_OR, k, 2);
		}
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

/* ---------------------------------------------------------------- parse graph */

static int target_of(const struct ast_target *t)
{
	if (t->reject)
		return IR_REJECT;
	if (t->accept || !t->resolved)
		return IR_ACCEPT;
	return t->resolved->index;
}

static bool same_key(const struct ast_expr *x, const struct ast_expr *y)
{
	if (x == y)
		return true;
	if (!x || !y || x->kind != y->kind)
		return false;
	switch (x->kind) {
	case E_NAME:
		return x->ref.kind == y->ref.kind && x->ref.hdr == y->ref.hdr &&
		       x->ref.field == y->ref.field && x->ref.flag == y->ref.flag &&
		       x->ref.alias == y->ref.alias && x->ref.konst == y->ref.konst &&
		       x->ref.pkt_field == y->ref.pkt_field;
	case E_LIT:
		return x->lit.kind == y->lit.kind && x->lit.u == y->lit.u &&
		       !memcmp(x->lit.bytes, y->lit.bytes, sizeof(x->lit.bytes));
	case E_BINARY:
		return x->op == y->op && same_key(x->lhs, y->lhs) && same_key(x->rhs, y->rhs);
	default:
		return false;
	}
}

static void lower_state(struct lctx *c, const struct ast_state *s, struct ir_state *st)
{
	st->name = s->name;
	st->header = -1;
	st->loop = s->loop;
	st->file = diag_source_path(s->loc.file);
	st->line = s->loc.first_line;
	struct ptrvec sets = { 0 }, arms = { 0 };
	const struct ast_expr *key = NULL;
	bool have_default = false, have_next = false;
	int deflt = IR_ACCEPT, next = IR_ACCEPT;
	for (int i = 0; i < s->nstmts; i++) {
		const struct ast_pstmt *ps = s->stmts[i];
		switch (ps->kind) {
		case PS_EXTRACT:
			if (!ps->hdr)
				break;
			if (st->header >= 0 && st->header != ps->hdr->index) {
				diag_error(ps->loc,
					   "a state that extracts more than one header is not supported yet");
				break;
			}
			st->header = ps->hdr->index;
			break;
		case PS_SET: {
			const struct ast_expr *l = ps->lhs;
			if (!l || l->kind != E_NAME || !l->ref.hdr || !l->ref.field) {
				diag_error(ps->loc, "internal: unresolved parser variable");
				break;
			}
			struct ir_set_meta *m = NEW(c->a, struct ir_set_meta);
			m->meta_hdr = l->ref.hdr->index;
			m->field = ir_field_index(l->ref.hdr, l->ref.field, NULL);
			c->line = ps->loc.first_line;
			m->value = lower_val(c, ps->expr, NULL);
			if (m->value)
				ptrvec_push(c->a, &sets, m);
			break;
		}
		case PS_NEXT:
			if (!have_next) {
				have_next = true;
				next = target_of(&ps->target);
			}
			break;
		case PS_SELECT:
			if (key && !same_key(key, ps->expr)) {
				diag_error(ps->loc,
					   "a state with selects on different keys is not supported yet");
				break;
			}
			if (!key) {
				key = ps->expr;
				c->line = ps->loc.first_line;
				st->key = lower_val(c, key, NULL);
			}
			for (int j = 0; j < ps->narms; j++) {
				const struct ast_arm *arm = ps->arms[j];
				if (have_default)
					break; /* after `_`: never reached */
				if (arm->is_default || arm->nvalues == 0) {
					have_default = true;
					deflt = target_of(&arm->target);
					continue;
				}
				struct ir_arm *A = NEW(c->a, struct ir_arm);
				A->target = target_of(&arm->target);
				A->values = arena_alloc(c->a, sizeof(uint64_t) * (size_t)arm->nvalues);
				A->lo = arena_alloc(c->a, sizeof(uint64_t) * (size_t)arm->nvalues);
				A->hi = arena_alloc(c->a, sizeof(uint64_t) * (size_t)arm->nvalues);
				for (int k = 0; k < arm->nvalues; k++) {
					const struct ast_expr *v = arm->values[k];
					const struct ast_expr *col = const_collection(v);
					if (col)
						v = col;
					if (v->kind == E_RANGE) {
						u128 lo, hi;
						enum ir_type t;
						if (!range_bounds(v, &lo, &hi, &t)) {
							diag_error(v->loc, "a select range must be constant");
							continue;
						}
						A->lo[A->nranges] = (uint64_t)lo;
						A->hi[A->nranges] = (uint64_t)hi;
						A->nranges++;
						continue;
					}
					struct ir_u128 x;
					if (!pkt_eval(v, NULL, NULL, &x)) {
						diag_error(v->loc, "a select value must be a constant");
						continue;
					}
					A->values[A->nvalues++] = x.lo;
				}
				ptrvec_push(c->a, &arms, A);
			}
			break;
		}
	}
	st->nsets = sets.len;
	st->sets = arena_alloc(c->a, sizeof(struct ir_set_meta) * (size_t)(sets.len + 1));
	for (int i = 0; i < sets.len; i++)
		st->sets[i] = *(struct ir_set_meta *)sets.items[i];
	/* A select without `_` falls back to the state's `next`, else accept. */
	int fallback = have_default ? deflt : next;
	st->next_state = fallback;
	if (st->key) {
		st->narms = arms.len + 1;
		st->arms = arena_alloc(c->a, sizeof(struct ir_arm) * (size_t)st->narms);
		for (int i = 0; i < arms.len; i++)
			st->arms[i] = *(struct ir_arm *)arms.items[i];
		st->arms[arms.len].target = fallback;
	}
}

/* ---------------------------------------------------------------- rules, tests */

static const char *verdict_word(enum verdict_kind k)
{
	switch (k) {
	case V_REDIRECT_DEV:
	case V_REDIRECT_IFINDEX:
	case V_REDIRECT_MAP:
	case V_REDIRECT_CPU:
	case V_REDIRECT_ANY:
		return "redirect";
	case V_ROUTE:
		return "route";
	default:
		return "?";
	}
}

/* The map the compiler declares for `redirect IFNAME` (a devmap, slot per
 * distinct name) or `redirect cpu N` (a cpumap whose initial elements give
 * each CPU used a queue of XDPL_CPU_QSIZE frames). */
static struct ir_map *verdict_map(struct lctx *c, const char *name, enum ir_map_kind kind,
				  const struct ast_verdict *v)
{
	struct ir_map *m = NULL;
	for (int i = 0; i < c->maps.len; i++) {
		struct ir_map *x = c->maps.items[i];
		if (strcmp(x->name, name) == 0)
			m = x;
	}
	if (m && m->user_visible) {
		diag_error(v->loc, "the map name '%s' is reserved for `redirect`; rename the map", name);
		return NULL;
	}
	if (!m) {
		m = new_map(c, name, kind, false);
		m->user_visible = false;
		m->line = v->loc.first_line;
		index_key(m);
		m->value_type = IR_UINT;
		m->value_bits = 32;
		m->value_size = 4;
		/* room to grow: a re-attach that adds a target reuses the pinned
		 * map only if its definition is unchanged */
		m->max_entries = 64;
	}
	return m;
}

static bool lower_redirect(struct lctx *c, const struct ast_verdict *v, struct ir_verdict *out)
{
	struct ir_map *m;
	switch (v->kind) {
	case V_REDIRECT_DEV: /* slot = the name's position among the distinct names */
		if (!(m = verdict_map(c, XDPL_REDIRECT_MAP, IRM_DEVMAP, v)))
			return false;
		out->kind = IRV_REDIRECT_IFINDEX;
		out->ifname = v->ifname;
		out->map = m;
		for (out->num = 0; out->num < (uint64_t)c->ir->nifnames; out->num++)
			if (strcmp(c->ir->ifnames[out->num], v->ifname) == 0)
				break;
		if (out->num == (uint64_t)c->ir->nifnames) {
			const char **n = arena_alloc(c->a, sizeof(*n) * (size_t)(c->ir->nifnames + 1));
			if (c->ir->nifnames)
				memcpy(n, c->ir->ifnames, sizeof(*n) * (size_t)c->ir->nifnames);
			n[c->ir->nifnames++] = v->ifname;
			c->ir->ifnames = n;
			if (m->max_entries < (uint32_t)c->ir->nifnames)
				m->max_entries = (uint32_t)c->ir->nifnames;
		}
		return true;
	case V_REDIRECT_IFINDEX:
		out->kind = IRV_REDIRECT_IFINDEX;
		out->num = v->num;
		return true;
	case V_REDIRECT_CPU: {
		if (v->num >= 4096) {
			diag_error(v->loc, "`redirect cpu %llu`: CPU numbers go up to 4095",
				   (unsigned long long)v->num);
			return false;
		}
		if (!(m = verdict_map(c, XDPL_CPU_MAP, IRM_CPUMAP, v)))
			return false;
		out->kind = IRV_REDIRECT_CPU;
		out->num = v->num;
		out->map = m;
		if (m->max_entries < v->num + 1)
			m->max_entries = (uint32_t)v->num + 1;
		for (int i = 0; i < m->ninit; i++)
			if (memcmp(m->init[i].key, &(uint32_t){ (uint32_t)v->num }, 4) == 0)
				return true;
		struct ir_map_entry *e = arena_alloc(c->a, sizeof(*e) * (size_t)(m->ninit + 1));
		if (m->ninit)
			memcpy(e, m->init, sizeof(*e) * (size_t)m->ninit);
		uint32_t key = (uint32_t)v->num, qsize = XDPL_CPU_QSIZE;
		e[m->ninit].key = arena_alloc(c->a, 4);
		e[m->ninit].value = arena_alloc(c->a, 4);
		memcpy(e[m->ninit].key, &key, 4);   /* map byte layout: host order */
		memcpy(e[m->ninit].value, &qsize, 4);
		m->init = e;
		m->ninit++;
		return true;
	}
	case V_REDIRECT_MAP:
		out->kind = IRV_REDIRECT_MAP;
		out->map = set_map(c, v->map_ref);
		out->key = v->key ? lower_val(c, v->key, NULL) : NULL;
		if (!out->map || !out->key)
			return false;
		if (c->lowering_default && out->key->kind != IV_CONST && out->key->kind != IV_PKT) {
			diag_error(v->key->loc, "`default redirect %s[KEY]` with a KEY other than a "
				   "constant, pkt.rxq or pkt.ifindex is not supported yet", v->map);
			return false;
		}
		return true;
	default:
		return false;
	}
}

static bool lower_verdict(struct lctx *c, const struct ast_verdict *v, struct ir_verdict *out)
{
	memset(out, 0, sizeof(*out));
	switch (v->kind) {
	case V_PASS: out->kind = IRV_PASS; return true;
	case V_DROP: out->kind = IRV_DROP; return true;
	case V_ABORT: out->kind = IRV_ABORT; return true;
	case V_TX: out->kind = IRV_TX; return true;
	case V_CONTINUE: out->kind = IRV_CONTINUE; return true;
	case V_ROUTE: out->kind = IRV_ROUTE; return true;
	case V_REDIRECT_DEV:
	case V_REDIRECT_IFINDEX:
	case V_REDIRECT_CPU:
	case V_REDIRECT_MAP:
		return lower_redirect(c, v, out);
	default:
		diag_error(v->loc, "verdict '%s' is not supported yet", verdict_word(v->kind));
		return false;
	}
}

/* ---------------------------------------------------------------- state: limits, set and map updates
 *
 * `limit` (spec §6) and the rewrite statements that change sets and maps
 * (`SET add KEY [timeout D]`, `SET del KEY`, `MAP[KEY] = V`, `MAP[KEY] += N`,
 * spec §7). Codegen: compiler/codegen/codegen_state.c. */

/* Buckets of a `limit ... per KEYS` live in an LRU hash of this many keys;
 * without `per`, the one bucket is a 1-slot array. */
#define LIMIT_PER_MAX 65536

static bool lower_limit(struct lctx *c, const struct ast_rule *r, struct ir_limit **out)
{
	const struct ast_limit *l = r->limit;
	struct ir_limit *x = NEW(c->a, struct ir_limit);
	x->over = l->over;
	x->line = l->loc.first_line;
	uint64_t amount = l->rate.u, period = 1;
	switch (l->rate.unit) {
	case RATE_PPS: break;
	case RATE_PPM: period = 60; break;
	case RATE_PPH: period = 3600; break;
	case RATE_KBPS: x->bytes = true; amount = amount * 1000 / 8; break;
	case RATE_MBPS: x->bytes = true; amount = amount * 1000000 / 8; break;
	case RATE_GBPS: x->bytes = true; amount = amount * 1000000000 / 8; break;
	}
	if (amount == 0 || l->rate.u > UINT64_MAX / 1000000000) {
		diag_error(l->loc, "this rate is out of range");
		return false;
	}
	x->amount = amount;
	x->period_s = period;
	x->rate_per_sec = amount / period;
	if (l->burst) {
		uint64_t b = 0;
		if (l->burst->kind == E_LIT)
			b = l->burst->lit.u;
		else {
			struct ir_val *bv = lower_val(c, l->burst, NULL);
			if (!bv || bv->kind != IV_CONST) {
				diag_error(l->burst->loc, "burst must be a constant");
				return false;
			}
			b = (uint64_t)cval(bv);
		}
		x->burst = b ? b : 1;
	} else {
		x->burst = x->rate_per_sec ? x->rate_per_sec : 1;
	}
	int n = l->nper > 8 ? 8 : l->nper;
	x->keys = arena_alloc(c->a, sizeof(*x->keys) * (size_t)(n + 1));
	x->nkeys = n;
	for (int i = 0; i < n; i++) {
		x->keys[i] = lower_val(c, l->per[i], NULL);
		if (!x->keys[i])
			return false;
	}
	struct ir_map *m = new_map(c, arena_printf(c->a, "_xdpl_limit_%s", r->name), n ? IRM_LRU_HASH : IRM_ARRAY,
				   false);
	m->user_visible = false;
	m->line = x->line;
	if (n) {
		m->nkeys = n;
		for (int i = 0; i < n; i++) {
			m->key_types[i] = x->keys[i]->type;
			m->key_bits[i] = x->keys[i]->bits;
		}
		map_key_layout(m);
		m->max_entries = LIMIT_PER_MAX;
	} else {
		index_key(m);
		m->max_entries = 1;
	}
	m->value_type = IR_UINT;
	m->value_bits = 64;
	m->value_size = 8;
	x->map = m;
	*out = x;
	return true;
}

/* ---------------------------------------------------------------- rewrites (spec §7) */

/* A rewrite target: a header field, or a named bit of one (flag: its
 * mask, else 0). */
static bool rw_target(struct lctx *c, const struct ast_expr *e, int *hdr, int *field, uint64_t *flag)
{
	*flag = 0;
	if (e->kind == E_NAME && (e->ref.kind == REF_FIELD || e->ref.kind == REF_FLAG) && e->ref.hdr &&
	    e->ref.field && !e->ref.hdr->is_meta) {
		*hdr = e->ref.hdr->index;
		*field = ir_field_index(e->ref.hdr, e->ref.field, NULL);
		if (e->ref.kind == REF_FLAG)
			*flag = e->ref.flag ? e->ref.flag->mask : 0;
		if (*field >= 0)
			return true;
	}
	(void)c;
	diag_error(e->loc, "this rewrite target is not supported yet");
	return false;
}

static bool is_alias(const struct ast_expr *e)
{
	return e && e->kind == E_NAME && e->ref.kind == REF_ALIAS && e->ref.alias;
}

static struct ir_stmt *rw_assign(struct lctx *c, const struct ast_stmt *st);
static struct ir_stmt *rw_swap(struct lctx *c, const struct ast_stmt *st);

/* A generic name as a target: the statement once per alternative (of the
 * value's type), each run only where its header is present; a generic
 * value with the same alternatives pairs with them family by family. */
static int rw_alias(struct lctx *c, const struct ast_stmt *st, struct ir_stmt **out, int max, int group)
{
	const struct ast_alias *A = st->lhs->ref.alias;
	const struct ast_alias *B = is_alias(st->rhs) ? st->rhs->ref.alias : NULL;
	bool paired = B && B->nalts == A->nalts;
	if (st->kind == S_SWAP && !paired) {
		diag_error(st->loc, "internal: swap of generic names with different alternatives");
		return -1;
	}
	int n = 0;
	for (int k = 0; k < A->nalts && n < max; k++) {
		struct ast_stmt one = *st;
		one.lhs = A->alts[k];
		if (paired)
			one.rhs = B->alts[k];
		if (st->kind == S_ASSIGN && !paired && st->op == OP_EQ && st->rhs && st->rhs->type.kind != TY_NONE &&
		    !is_alias(st->rhs) && one.lhs->type.kind != st->rhs->type.kind)
			continue; /* ip.dst = 10.0.0.1: the IPv4 alternative only */
		struct ir_stmt *s = st->kind == S_SWAP ? rw_swap(c, &one) : rw_assign(c, &one);
		if (!s)
			return -1;
		s->if_present = true;
		s->group = group;
		out[n++] = s;
	}
	if (n == 0)
		diag_error(st->loc, "no alternative of %s takes this value", A->name);
	return n ? n : -1;
}

static struct ir_val *rw_field_val(struct lctx *c, int hdr, int field)
{
	const struct ir_field *F = &c->ir->headers[hdr].fields[field];
	struct ir_val *v = mkval(c, IV_FIELD, F->type, F->bits);
	v->hdr = hdr;
	v->field = field;
	return v;
}

static struct ir_stmt *rw_assign(struct lctx *c, const struct ast_stmt *st)
{
	int hdr, field;
	uint64_t flag;
	if (!st->lhs || !st->rhs || !rw_target(c, st->lhs, &hdr, &field, &flag))
		return NULL;
	struct ir_val *cur = rw_field_val(c, hdr, field);
	struct ir_val *v = lower_val(c, st->rhs, cur);
	if (!v)
		return NULL;
	const struct ir_field *F = &c->ir->headers[hdr].fields[field];
	if (flag) {
		/* field = (field & ~mask) | (bit ? mask : 0) */
		struct ir_val *keep = vbin(c, IB_AND, cur,
					   kconst(c, IR_UINT, F->bits, ~(u128)flag & mask_bits(F->bits)), IR_UINT,
					   F->bits);
		struct ir_val *one = vbin(c, IB_AND, v, kconst(c, IR_UINT, 1, 1), IR_UINT, 1);
		struct ir_val *set = vbin(c, IB_MUL, one, kconst(c, IR_UINT, F->bits, flag), IR_UINT, 64);
		v = vbin(c, IB_OR, keep, set, IR_UINT, 64);
	} else if (st->op == OP_ADD || st->op == OP_SUB) {
		v = vbin(c, st->op == OP_ADD ? IB_ADD : IB_SUB, cur, v, IR_UINT, 64);
	} else if (v->kind == IV_CONST && F->bits < 128 && (cval(v) >> F->bits)) {
		diag_error(st->rhs->loc, "the value does not fit in %s.%s (%d bits)",
			   c->ir->headers[hdr].name, F->name, F->bits);
		return NULL;
	}
	struct ir_stmt *s = NEW(c->a, struct ir_stmt);
	s->kind = IS_ASSIGN;
	s->line = st->loc.first_line;
	s->hdr = hdr;
	s->field = field;
	s->hdr2 = s->field2 = -1;
	s->value = v;
	return s;
}

static struct ir_stmt *rw_swap(struct lctx *c, const struct ast_stmt *st)
{
	int h1, f1, h2, f2;
	uint64_t m1, m2;
	if (!st->lhs || !st->rhs || !rw_target(c, st->lhs, &h1, &f1, &m1) ||
	    !rw_target(c, st->rhs, &h2, &f2, &m2))
		return NULL;
	if (m1 || m2 || c->ir->headers[h1].fields[f1].bits != c->ir->headers[h2].fields[f2].bits) {
		diag_error(st->loc, "swap needs two fields of the same width");
		return NULL;
	}
	struct ir_stmt *s = NEW(c->a, struct ir_stmt);
	s->kind = IS_SWAP;
	s->line = st->loc.first_line;
	s->hdr = h1;
	s->field = f1;
	s->hdr2 = h2;
	s->field2 = f2;
	return s;
}

/* The arm of the start state that selects the state extracting header h
 * (NULL: none), and the select key's field in the start header. */
static const struct ir_arm *rw_start_arm(struct lctx *c, int h)
{
	const struct ir_program *ir = c->ir;
	if (ir->start_state < 0 || ir->start_state >= ir->nstates)
		return NULL;
	const struct ir_state *st = &ir->states[ir->start_state];
	for (int k = 0; k < st->narms; k++) {
		int t = st->arms[k].target;
		if (st->arms[k].nvalues > 0 && t >= 0 && t < ir->nstates && ir->states[t].header == h)
			return &st->arms[k];
	}
	return NULL;
}

/* The header's last field, when it is a whole-byte field ending the fixed
 * bytes (the select key of eth and vlan), else -1. */
static int rw_last_key(const struct ir_header *H)
{
	if (H->nfields < 1)
		return -1;
	const struct ir_field *F = &H->fields[H->nfields - 1];
	if (F->bit_offset % 8 || F->bits % 8 || F->bit_offset + F->bits != H->fixed_bytes * 8 || H->var_size)
		return -1;
	return H->nfields - 1;
}

/* push H(...) / pop H: H is inserted or removed right after the first
 * header (the parse graph's start state: eth), the in-place way: the
 * start header's select key field (eth.type) and H's (vlan.type) are
 * each their header's last field, with the same width, so H's key takes
 * the start header's old key without moving, and the start header's key
 * becomes the arm value that selects H (its first value: 0x8100). See
 * ir.h (IS_PUSH/IS_POP). */
static struct ir_stmt *rw_push_pop(struct lctx *c, const struct ast_stmt *st)
{
	const char *what = st->kind == S_PUSH ? "push" : "pop";
	const struct ast_header *ah = NULL;
	if (st->kind == S_PUSH && st->nlayers == 1 && st->layers[0]->kind == L_HEADER)
		ah = st->layers[0]->hdr;
	if (st->kind == S_POP && st->header)
		for (int i = 0; i < c->p->nheaders; i++)
			if (strcmp(c->p->headers[i]->name, st->header) == 0)
				ah = c->p->headers[i];
	struct ir_program *ir = c->ir;
	int h = ah ? ah->index : -1;
	int a = ir->start_state >= 0 && ir->start_state < ir->nstates ? ir->states[ir->start_state].header : -1;
	const struct ir_arm *arm = h >= 0 ? rw_start_arm(c, h) : NULL;
	int ka = a >= 0 ? rw_last_key(&ir->headers[a]) : -1;
	int kh = h >= 0 ? rw_last_key(&ir->headers[h]) : -1;
	if (!ah || ah->is_meta || a < 0 || !arm || ka < 0 || kh < 0 ||
	    ir->headers[a].fields[ka].bits != ir->headers[h].fields[kh].bits) {
		diag_error(st->loc, "%s of %s is not supported yet (only headers the first header's select "
			   "key leads to, such as vlan after eth)", what, ah ? ah->name : "this header");
		return NULL;
	}
	struct ir_stmt *s = NEW(c->a, struct ir_stmt);
	s->kind = st->kind == S_PUSH ? IS_PUSH : IS_POP;
	s->line = st->loc.first_line;
	s->hdr = h;
	s->field = -1;
	s->hdr2 = a;
	s->field2 = ir->headers[a].fields[ka].bit_offset / 8;
	if (st->kind == S_POP)
		return s;
	/* the bytes to insert at the key's offset: the value selecting H,
	 * then H's bytes (packet-builder defaults) before its own key */
	uint8_t *hb = NULL;
	size_t hlen = 0;
	if (lower_build_packet(c->a, c->p, st->layers, 1, &hb, &hlen) ||
	    hlen != (size_t)ir->headers[h].fixed_bytes)
		return NULL;
	int kbytes = ir->headers[a].fields[ka].bits / 8;
	struct ir_template *t = NEW(c->a, struct ir_template);
	t->len = hlen;
	t->bytes = arena_alloc(c->a, hlen);
	for (int i = 0; i < kbytes; i++)
		t->bytes[i] = (uint8_t)(arm->values[0] >> (8 * (kbytes - 1 - i)));
	memcpy(t->bytes + kbytes, hb, hlen - (size_t)kbytes);
	t->nlayers = 1;
	t->hdrs = arena_alloc(c->a, sizeof(int));
	t->offsets = arena_alloc(c->a, sizeof(int));
	t->hdrs[0] = h;
	s->tmpl = t;
	return s;
}

/* ---------------------------------------------------------------- encap, decap */

static int hdr_named(struct lctx *c, const char *name)
{
	for (int i = 0; i < c->p->nheaders; i++)
		if (!strcmp(c->p->headers[i]->name, name) && !c->p->headers[i]->is_meta)
			return i;
	return -1;
}

/* The value of the select arm that leads from header `from` to header
 * `to` (by layout), when one select on the path reads a field of from:
 * the last such step. */
static bool path_key(struct lctx *c, const struct ast_header *from, const struct ast_header *to, int *field,
		     uint64_t *value)
{
	struct pkt_path path;
	if (!from || !to || !pkt_find_path(c->p, from, to, &path) || path.nsteps == 0)
		return false;
	*field = ir_field_index(from, path.steps[path.nsteps - 1].field, NULL);
	*value = (uint64_t)path.steps[path.nsteps - 1].value.lo;
	return *field >= 0;
}

/* The link headers: the start state's header (eth) and the headers its
 * select key leads to whose own last field is a select key of the same
 * width (vlan, vlan2), outermost first. */
static void link_headers(struct lctx *c, struct ir_encap *E)
{
	struct ir_program *ir = c->ir;
	E->nlink = 0;
	int a = ir->start_state >= 0 && ir->start_state < ir->nstates ? ir->states[ir->start_state].header : -1;
	int ka = a >= 0 ? rw_last_key(&ir->headers[a]) : -1;
	if (ka < 0)
		return;
	int kbits = ir->headers[a].fields[ka].bits;
	E->link[E->nlink++] = a;
	for (int st = ir->start_state; st >= 0 && E->nlink < IR_MAX_LINK;) {
		const struct ir_state *S = &ir->states[st];
		int next = -1;
		for (int k = 0; k < S->narms && next < 0; k++) {
			int t = S->arms[k].target;
			if (S->arms[k].nvalues <= 0 || t < 0 || t >= ir->nstates)
				continue;
			int h = ir->states[t].header;
			int kh = h >= 0 ? rw_last_key(&ir->headers[h]) : -1;
			bool seen = false;
			for (int i = 0; i < E->nlink; i++)
				seen |= E->link[i] == h;
			if (kh >= 0 && !seen && ir->headers[h].fields[kh].bits == kbits &&
			    ir->headers[h].fixed_bytes <= 8)
				next = t;
		}
		if (next < 0)
			break;
		E->link[E->nlink++] = ir->states[next].header;
		st = next;
	}
}

static struct ir_patch *add_patch(struct lctx *c, struct ptrvec *v, enum ir_patch_kind k, int layer, int bit_offset,
				  int bits)
{
	struct ir_patch *x = NEW(c->a, struct ir_patch);
	x->kind = k;
	x->layer = layer;
	x->bit_offset = bit_offset;
	x->bits = bits;
	ptrvec_push(c->a, v, x);
	return x;
}

static const struct ast_layer_arg *layer_arg(const struct ast_layer *L, const char *field)
{
	for (int i = 0; i < L->nargs; i++)
		if (L->args[i]->field && !strcmp(L->args[i]->field, field))
			return L->args[i];
	return NULL;
}

/* The compiler's per-CPU scratch buffer (one per program). */
static struct ir_map *scratch_map(struct lctx *c)
{
	for (int i = 0; i < c->maps.len; i++) {
		struct ir_map *m = c->maps.items[i];
		if (!strcmp(m->name, "_xdpl_scratch"))
			return m;
	}
	struct ir_map *m = new_map(c, "_xdpl_scratch", IRM_PERCPU_ARRAY, false);
	m->user_visible = false;
	index_key(m);
	m->max_entries = 1;
	m->value_type = IR_UINT;
	m->value_bits = 8;
	m->value_size = IR_SCRATCH_BYTES;
	return m;
}

/* encap L1 / L2 / ...: see ir.h (struct ir_encap). The template is built
 * by the packet builder from the layers' constant arguments and defaults;
 * arguments that are not constants, lengths, the inner packet's protocol
 * and the IPv4 header checksum are patched in at run time. */
static struct ir_stmt *rw_encap(struct lctx *c, const struct ast_stmt *st)
{
	struct ir_program *ir = c->ir;
	int n = st->nlayers;
	if (n <= 0 || n > 8) {
		diag_error(st->loc, "encap takes 1 to 8 layers");
		return NULL;
	}
	struct ir_encap *E = NEW(c->a, struct ir_encap);
	link_headers(c, E);
	E->ip4 = hdr_named(c, "ip4");
	E->ip6 = hdr_named(c, "ip6");
	E->eth_inner = E->inner_ip4 = E->inner_ip6 = -1;
	if (E->nlink == 0 || E->ip4 < 0 || E->ip6 < 0) {
		diag_error(st->loc, "encap needs the standard parse graph (eth, ip4, ip6)");
		return NULL;
	}
	const struct ast_header *eth = c->p->headers[E->link[0]];
	const struct ast_header *ip4 = c->p->headers[E->ip4], *ip6 = c->p->headers[E->ip6];

	/* constant arguments stay in the layers; the others become patches */
	struct ast_layer **layers = arena_alloc(c->a, sizeof(*layers) * (size_t)n);
	struct ir_val ***vals = arena_alloc(c->a, sizeof(*vals) * (size_t)n);
	for (int i = 0; i < n; i++) {
		const struct ast_layer *L = st->layers[i];
		if (L->kind != L_HEADER || !L->hdr || L->hdr->is_meta) {
			diag_error(L->loc, "encap takes header layers such as ip4(src=..., dst=...)");
			return NULL;
		}
		struct ast_layer *K = NEW(c->a, struct ast_layer);
		*K = *L;
		K->args = arena_alloc(c->a, sizeof(*K->args) * (size_t)(L->nargs + 1));
		K->nargs = 0;
		vals[i] = arena_alloc(c->a, sizeof(**vals) * (size_t)(L->nargs + 1));
		for (int k = 0; k < L->nargs; k++) {
			const struct ast_layer_arg *A = L->args[k];
			if (!A->value || !A->resolved)
				return NULL;
			if (A->resolved->type.kind == TY_BYTES || strchr(A->field, '.')) {
				K->args[K->nargs++] = (struct ast_layer_arg *)A;
				continue;
			}
			int fi = ir_field_index(L->hdr, A->resolved, NULL);
			const struct ir_field *F = fi >= 0 ? &ir->headers[L->hdr->index].fields[fi] : NULL;
			struct ir_val hint = { .type = F ? F->type : IR_UINT, .bits = F ? F->bits : 64 };
			struct ir_val *v = F ? lower_val(c, A->value, &hint) : NULL;
			if (!v)
				return NULL;
			if (v->kind == IV_CONST)
				K->args[K->nargs++] = (struct ast_layer_arg *)A;
			else
				vals[i][k] = v;
		}
		layers[i] = K;
	}
	const struct ast_header *first = layers[0]->hdr, *last = layers[n - 1]->hdr;
	bool eth_first = pkt_layout(first) == pkt_layout(eth);

	/* L2 or L3: does the last layer carry a frame or an IP packet? */
	int kf4 = -1, kf6 = -1, kfe = -1;
	uint64_t kv4 = 0, kv6 = 0, kve = 0;
	bool to4 = path_key(c, last, ip4, &kf4, &kv4), to6 = path_key(c, last, ip6, &kf6, &kv6);
	struct pkt_path pe;
	bool to_eth = pkt_find_path(c->p, last, eth, &pe);
	if (to_eth && pe.nsteps > 0) {
		kfe = ir_field_index(last, pe.steps[pe.nsteps - 1].field, NULL);
		kve = (uint64_t)pe.steps[pe.nsteps - 1].value.lo;
	}
	const struct ast_layer_arg *given_key = NULL;
	if (kfe >= 0)
		given_key = layer_arg(st->layers[n - 1], ir->headers[last->index].fields[kfe].name);
	struct ir_u128 gk;
	bool key_says_eth = given_key && given_key->value && pkt_eval(given_key->value, NULL, NULL, &gk) &&
			    gk.lo == kve;
	E->l2 = eth_first || (to_eth && pe.nsteps == 0) || key_says_eth;
	if (!E->l2 && (!to4 || !to6)) {
		diag_error(st->loc, "encap: the parse graph does not say how %s carries an IPv4 and an IPv6 packet; "
			   "end the layers with ip4(...), ip6(...), gre() or udp(...) / vxlan(...)", last->name);
		return NULL;
	}
	if (!eth_first) {
		int kf;
		if (!path_key(c, eth, first, &kf, &E->link_key)) {
			/* gre(), udp(): the tunnel needs its outer IP header */
			diag_error(st->layers[0]->loc,
				   "encap: %s cannot follow Ethernet; start with the outer IP header: "
				   "encap ip4(src=..., dst=...) / %s(...)%s",
				   first->name, first->name, n > 1 ? " / ..." : "");
			return NULL;
		}
		E->copy_eth = E->l2;
	}

	/* the template: bytes, layer offsets */
	uint8_t *bytes = NULL;
	size_t len = 0;
	if (lower_build_packet(c->a, c->p, layers, n, &bytes, &len))
		return NULL;
	struct ir_template *t = NEW(c->a, struct ir_template);
	t->bytes = bytes;
	t->len = len;
	t->nlayers = n;
	t->hdrs = arena_alloc(c->a, sizeof(int) * (size_t)n);
	t->offsets = arena_alloc(c->a, sizeof(int) * (size_t)n);
	int *sizes = arena_alloc(c->a, sizeof(int) * (size_t)n);
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		uint8_t *b1;
		size_t l1;
		if (lower_build_packet(c->a, c->p, &layers[i], 1, &b1, &l1))
			return NULL;
		t->hdrs[i] = layers[i]->hdr->index;
		t->offsets[i] = (int)off;
		sizes[i] = (int)l1;
		off += l1;
	}
	if (off != len || len > 128) {
		diag_error(st->loc, off != len ? "encap: internal error: layer sizes" : "encap: at most 128 bytes of headers");
		return NULL;
	}

	struct ptrvec pv = { 0 };
	for (int i = 0; i < n; i++) {
		const struct ast_layer *L = st->layers[i];
		const struct ast_header *lay = pkt_layout(L->hdr);
		const struct ir_header *H = &ir->headers[L->hdr->index];
		int base = t->offsets[i] * 8;
		for (int k = 0; k < L->nargs; k++)
			if (vals[i][k]) {
				int fi = ir_field_index(L->hdr, L->args[k]->resolved, NULL);
				struct ir_patch *x = add_patch(c, &pv, IRP_VALUE, i, base + H->fields[fi].bit_offset,
							       H->fields[fi].bits);
				x->value = vals[i][k];
			}
		for (int f = 0; f < lay->nfields; f++) {
			const struct ast_field *F = lay->fields[f];
			int fi = ir_field_index(L->hdr, F, NULL);
			if (fi < 0 || layer_arg(L, F->name))
				continue; /* given: as given */
			const struct ir_field *IF = &H->fields[fi];
			bool bad;
			enum pkt_builtin b = pkt_builtin_of(F->deflt, &bad);
			if (i == n - 1 && !E->l2 && fi == kf4) {
				struct ir_patch *x = add_patch(c, &pv, IRP_INNER_KEY, i, base + IF->bit_offset, IF->bits);
				x->v4 = kv4;
				x->v6 = kv6;
			} else if (b == PKT_B_TOTAL_LEN) {
				add_patch(c, &pv, IRP_TOTAL_LEN, i, base + IF->bit_offset, IF->bits);
			} else if (b == PKT_B_PAYLOAD_LEN) {
				add_patch(c, &pv, IRP_PAYLOAD_LEN, i, base + IF->bit_offset, IF->bits);
			} else if (b == PKT_B_CSUM) {
				add_patch(c, &pv, IRP_CSUM, i, base + IF->bit_offset, IF->bits);
			} else if (b == PKT_B_CSUM_PSEUDO) {
				/* the addresses of the nearest IP layer before it */
				int j = i - 1;
				while (j >= 0 && ir->headers[t->hdrs[j]].addr_src < 0)
					j--;
				const struct ir_header *P = j >= 0 ? &ir->headers[t->hdrs[j]] : NULL;
				int kf;
				uint64_t proto;
				if (!P || P->addr_dst < 0 ||
				    !path_key(c, layers[j]->hdr, layers[j + 1]->hdr, &kf, &proto) || j + 1 != i) {
					diag_error(st->layers[i]->loc, "encap: %s.%s needs an IP layer right before %s",
						   L->hdr->name, F->name, L->hdr->name);
					return NULL;
				}
				const struct ir_field *S = &P->fields[P->addr_src], *D = &P->fields[P->addr_dst];
				if (S->bit_offset % 16 || D->bit_offset != S->bit_offset + S->bits || S->bits % 16) {
					diag_error(st->layers[i]->loc, "encap: unusual pseudo-header addresses in %s", P->name);
					return NULL;
				}
				struct ir_patch *x = add_patch(c, &pv, IRP_CSUM_PSEUDO, i, base + IF->bit_offset, IF->bits);
				E->scratch = scratch_map(c);
				x->addr_off = t->offsets[j] + S->bit_offset / 8;
				x->addr_bytes = S->bits / 8;
				x->proto = proto;
			} else if (b != PKT_B_NONE) {
				diag_error(st->layers[i]->loc, "encap: %s.%s (checksum(payload)) cannot be computed for an encap; give it a value",
					   L->hdr->name, F->name);
				return NULL;
			}
		}
	}
	/* checksums last: they cover the other patches */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < pv.len; i++) {
			struct ir_patch *x = pv.items[i];
			if ((x->kind == IRP_CSUM || x->kind == IRP_CSUM_PSEUDO) == (pass == 1)) {
				if (!E->patches)
					E->patches = arena_alloc(c->a, sizeof(*E->patches) * (size_t)pv.len);
				E->patches[E->npatches++] = *x;
			}
		}
	for (int i = 0; i < E->npatches; i++) {
		const struct ir_patch *x = &E->patches[i];
		if (x->kind != IRP_VALUE && (x->bit_offset % 8 || (x->bits != 8 && x->bits != 16))) {
			diag_error(st->loc, "encap: internal error: a computed field that is not a byte or u16");
			return NULL;
		}
		if (x->kind == IRP_CSUM && (sizes[x->layer] % 2 || t->offsets[x->layer] % 2)) {
			diag_error(st->loc, "encap: a checksummed layer must be an even number of bytes");
			return NULL;
		}
	}
	/* computed fields start from zero in the template (the checksum is
	 * summed over the final bytes) */
	for (int i = 0; i < E->npatches; i++) {
		const struct ir_patch *x = &E->patches[i];
		for (int b = 0; b < x->bits; b++) {
			int bit = x->bit_offset + b;
			t->bytes[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
		}
	}
	struct ir_stmt *s = NEW(c->a, struct ir_stmt);
	s->kind = IS_ENCAP;
	s->line = st->loc.first_line;
	s->hdr = s->field = s->hdr2 = s->field2 = -1;
	s->tmpl = t;
	s->encap = E;
	return s;
}

/* decap: see ir.h (struct ir_encap). */
static struct ir_stmt *rw_decap(struct lctx *c, const struct ast_stmt *st)
{
	struct ir_encap *E = NEW(c->a, struct ir_encap);
	link_headers(c, E);
	E->ip4 = hdr_named(c, "ip4");
	E->ip6 = hdr_named(c, "ip6");
	E->eth_inner = hdr_named(c, "eth_inner");
	E->inner_ip4 = hdr_named(c, "ip4_inner");
	E->inner_ip6 = hdr_named(c, "ip6_inner");
	int kf;
	if (E->nlink == 0 || E->ip4 < 0 || E->ip6 < 0 || E->inner_ip4 < 0 || E->inner_ip6 < 0 ||
	    !path_key(c, c->p->headers[E->link[0]], c->p->headers[E->ip4], &kf, &E->key_v4) ||
	    !path_key(c, c->p->headers[E->link[0]], c->p->headers[E->ip6], &kf, &E->key_v6)) {
		diag_error(st->loc, "decap needs the standard parse graph (eth, ip4, ip6, ip4_inner, ip6_inner)");
		return NULL;
	}
	struct ir_stmt *s = NEW(c->a, struct ir_stmt);
	s->kind = IS_DECAP;
	s->line = st->loc.first_line;
	s->hdr = s->field = s->hdr2 = s->field2 = -1;
	s->encap = E;
	return s;
}

/* Field rewrites (IS_ASSIGN, IS_SWAP), push and pop. */
static struct ir_stmt *lower_rewrite_one(struct lctx *c, const struct ast_stmt *st)
{
	switch (st->kind) {
	case S_ASSIGN: return rw_assign(c, st);
	case S_SWAP: return rw_swap(c, st);
	case S_PUSH:
	case S_POP: return rw_push_pop(c, st);
	case S_ENCAP: return rw_encap(c, st);
	case S_DECAP: return rw_decap(c, st);
	default: diag_error(st->loc, "rewrite is not supported yet"); return NULL;
	}
}

/* The IR statements of one rewrite statement, into out (at most max). */
static int lower_rewrite_stmt(struct lctx *c, const struct ast_stmt *st, struct ir_stmt **out, int max, int group)
{
	if ((st->kind == S_ASSIGN || st->kind == S_SWAP) && is_alias(st->lhs))
		return rw_alias(c, st, out, max, group);
	struct ir_stmt *s = lower_rewrite_one(c, st);
	if (!s)
		return -1;
	s->group = -1;
	out[0] = s;
	return 1;
}

/* What reading v needs: the headers its fields are in (req), and for
 * parser meta variables and generic names a condition that holds when they
 * can be read (conds): a rewrite that cannot read its value makes the rule
 * not match (spec §5, §7). Map reads need nothing here: codegen reads them
 * when the rule decides (codegen_state.c), an absent entry then being a
 * rule that does not match. */
static void rw_require_val(struct lctx *c, const struct ir_val *v, bool *req, struct ptrvec *conds)
{
	if (!v)
		return;
	switch (v->kind) {
	case IV_FIELD:
		req[v->hdr] = true;
		return;
	case IV_MAP_READ:
		/* read when the rule decides (codegen_state.c): absent, no match */
		return;
	case IV_META:
	case IV_COALESCE: {
		struct ir_cond *x = mkcond(c, IC_PREFIX); /* plen 0: v can be read */
		x->a = (struct ir_val *)v;
		x->line = c->line;
		ptrvec_push(c->a, conds, x);
		return;
	}
	default:
		break;
	}
	rw_require_val(c, v->a, req, conds);
	rw_require_val(c, v->b, req, conds);
	for (int i = 0; i < v->nkeys; i++)
		rw_require_val(c, v->keys[i], req, conds);
}

/* codegen's CG_SPEC limit: the rules then read header fields from the
 * packet, not from a copy */
#define LOWER_CONTINUE_REWRITE_MAX_RULES IR_INLINE_RULES_MAX

static bool moves_head(const struct ir_stmt *s)
{
	return s->kind == IS_PUSH || s->kind == IS_POP || s->kind == IS_ENCAP || s->kind == IS_DECAP;
}

static const char *moved_name(const struct ir_stmt *s)
{
	return s->kind == IS_PUSH ? "push" : s->kind == IS_POP ? "pop" : s->kind == IS_ENCAP ? "encap" : "decap";
}

static struct ir_cond *present_any(struct lctx *c, const int *hdrs, int n)
{
	struct ir_cond *kids[4];
	int k = 0;
	for (int i = 0; i < n && k < 4; i++)
		if (hdrs[i] >= 0) {
			kids[k] = mkcond(c, IC_PRESENT);
			kids[k++]->hdr = hdrs[i];
		}
	return c_join(c, IC_OR, kids, k);
}

/* A rule with rewrites holds only when every header they read or write is
 * present and every value they read can be read (spec §7): its condition
 * is ANDed with that. encap needs an IP header after the link headers
 * (L3) or the link header (L2); decap a tunnel. Field rewrites with
 * `continue` are not supported yet (later rules would have to see the
 * rewritten packet). */
static void lower_rewrite_requires(struct lctx *c, const struct ast_rule *r, struct ir_rule *out)
{
	int nh = c->ir->nheaders;
	bool *req = arena_alloc(c->a, (size_t)nh + 1);
	struct ptrvec kids = { 0 };
	ptrvec_push(c->a, &kids, out->cond);
	bool any = false;
	const struct ir_stmt *moved = NULL;
	struct { int id; struct ptrvec alts; } groups[64];
	int ngroups = 0;
	for (int i = 0; i < out->nstmts; i++) {
		const struct ir_stmt *s = out->stmts[i];
		if (moves_head(s)) {
			if (moved)
				diag_error(r->rewrite[0]->loc, "more than one push, pop, encap or decap in a rewrite is not supported yet");
			moved = s;
			any = true;
			const struct ir_encap *E = s->encap;
			if (s->kind == IS_PUSH || s->kind == IS_POP)
				req[s->kind == IS_PUSH ? s->hdr2 : s->hdr] = true;
			else if (s->kind == IS_ENCAP && E->l2)
				req[E->link[0]] = true;
			else if (s->kind == IS_ENCAP)
				ptrvec_push(c->a, &kids, present_any(c, (int[]){ E->ip4, E->ip6 }, 2));
			else
				ptrvec_push(c->a, &kids, present_any(c, (int[]){ E->eth_inner, E->inner_ip4, E->inner_ip6 }, 3));
			if (s->kind == IS_ENCAP)
				for (int k = 0; k < E->npatches; k++)
					rw_require_val(c, E->patches[k].value, req, &kids);
			if ((s->kind == IS_PUSH || s->kind == IS_POP) && out->verdict.kind == IRV_ROUTE)
				diag_error(r->verdict.loc, "push/pop with verdict route is not supported yet");
			continue;
		}
		if (s->kind != IS_ASSIGN && s->kind != IS_SWAP)
			continue;
		any = true;
		if (s->if_present && !moved) {
			/* one alternative of a generic name: the rule needs one
			 * alternative of the group whose headers are all there */
			bool *alt = arena_alloc(c->a, (size_t)nh + 1);
			alt[s->hdr] = true;
			if (s->kind == IS_SWAP)
				alt[s->hdr2] = true;
			rw_require_val(c, s->value, alt, &kids);
			struct ir_cond *parts[8];
			int np = 0;
			for (int h = 0; h < nh && np < 8; h++)
				if (alt[h]) {
					parts[np] = mkcond(c, IC_PRESENT);
					parts[np++]->hdr = h;
				}
			struct ir_cond *one = c_join(c, IC_AND, parts, np);
			int g = 0;
			while (g < ngroups && groups[g].id != s->group)
				g++;
			if (g == ngroups && ngroups < 64) {
				groups[ngroups].id = s->group;
				groups[ngroups++].alts = (struct ptrvec){ 0 };
			}
			if (g < ngroups)
				ptrvec_push(c->a, &groups[g].alts, one);
			continue;
		}
		if (moved) {
			struct xdpl_loc loc = r->rewrite[0]->loc;
			for (int k = 0; k < r->nrewrite; k++)
				if (r->rewrite[k] && r->rewrite[k]->loc.first_line == s->line &&
				    (r->rewrite[k]->kind == S_ASSIGN || r->rewrite[k]->kind == S_SWAP))
					loc = r->rewrite[k]->loc;
			diag_error(loc, "a field rewrite after %s is not supported yet", moved_name(moved));
			return;
		}
		req[s->hdr] = true;
		if (s->kind == IS_SWAP)
			req[s->hdr2] = true;
		rw_require_val(c, s->value, req, &kids);
	}
	if (!any)
		return;
	for (int g = 0; g < ngroups; g++)
		ptrvec_push(c->a, &kids, c_join(c, IC_OR, (struct ir_cond **)groups[g].alts.items, groups[g].alts.len));
	if (out->verdict.kind == IRV_CONTINUE && !moved && c->p->nrules > LOWER_CONTINUE_REWRITE_MAX_RULES)
		diag_error(r->verdict.loc,
			   "field rewrites with verdict continue work in policies of up to %d rules (this one has %d): "
			   "later rules read the rewritten packet itself, which large policies do not",
			   LOWER_CONTINUE_REWRITE_MAX_RULES, c->p->nrules);
	if (out->verdict.kind == IRV_CONTINUE && moved)
		diag_error(r->verdict.loc, "%s with verdict continue is not supported yet (later rules would need the packet parsed again)",
			   moved_name(moved));
	for (int h = 0; h < nh; h++)
		if (req[h]) {
			struct ir_cond *x = mkcond(c, IC_PRESENT);
			x->hdr = h;
			ptrvec_push(c->a, &kids, x);
		}
	out->cond = c_join(c, IC_AND, (struct ir_cond **)kids.items, kids.len);
}

/* Whether st is one of the statements lowered here. */
static bool is_state_stmt(const struct ast_stmt *st)
{
	return st && (st->kind == S_SET_ADD || st->kind == S_SET_DEL ||
		      (st->kind == S_ASSIGN && st->lhs && st->lhs->kind == E_INDEX));
}

static struct ir_stmt *lower_state_stmt(struct lctx *c, const struct ast_stmt *st)
{
	struct ir_stmt *s = NEW(c->a, struct ir_stmt);
	s->line = st->loc.first_line;
	s->hdr = s->field = s->hdr2 = s->field2 = -1;
	s->group = -1;
	if (st->kind == S_ASSIGN) {
		if (!st->rhs)
			return NULL;
		struct ir_map *m = set_map(c, st->lhs->ref.set);
		if (!m || m->is_set) {
			diag_error(st->lhs->loc, "internal: unresolved map '%s'", st->lhs->name ? st->lhs->name : "?");
			return NULL;
		}
		if (st->op != OP_EQ && st->op != OP_ADD) {
			diag_error(st->loc, "only MAP[KEY] = VALUE and MAP[KEY] += N change map entries");
			return NULL;
		}
		if (m->kind != IRM_HASH && m->kind != IRM_LRU_HASH && m->kind != IRM_ARRAY &&
		    m->kind != IRM_PERCPU_HASH && m->kind != IRM_PERCPU_ARRAY) {
			diag_error(st->lhs->loc, "entries of '%s' cannot be written by a rule", m->name);
			return NULL;
		}
		s->kind = st->op == OP_EQ ? IS_MAP_STORE : IS_MAP_ADD;
		s->map = m;
		if (!map_keys(c, m, st->lhs->args, st->lhs->nargs, &s->keys))
			return NULL;
		s->nkeys = st->lhs->nargs;
		struct ir_val hint = { .type = m->value_type, .bits = m->value_bits };
		s->value = lower_val(c, st->rhs, &hint);
		if (!s->value)
			return NULL;
		s->value = retype_const(c, s->value, &hint);
		return s;
	}
	struct ir_map *m = set_map(c, st->set_ref);
	if (!m) {
		diag_error(st->loc, "internal: unresolved set '%s'", st->set ? st->set : "?");
		return NULL;
	}
	if (m->kind != IRM_HASH && m->kind != IRM_LRU_HASH && m->kind != IRM_PERCPU_HASH && m->kind != IRM_LPM) {
		diag_error(st->loc, "%s on '%s' (not a hash set) is not supported yet",
			   st->kind == S_SET_ADD ? "add" : "del", m->name);
		return NULL;
	}
	s->kind = st->kind == S_SET_ADD ? IS_SET_ADD : IS_SET_DEL;
	s->map = m;
	if (st->has_timeout)
		s->timeout_ns = st->timeout.u * 1000000; /* ms; m->expires is set */
	if (!st->key)
		return NULL;
	struct ast_expr **keys = st->key->kind == E_TUPLE ? st->key->args : (struct ast_expr **)&st->key;
	int n = st->key->kind == E_TUPLE ? st->key->nargs : 1;
	if (!map_keys(c, m, keys, n, &s->keys))
		return NULL;
	s->nkeys = n;
	return s;
}

/* The limit and the set/map statements of rule r (others: not yet). */
static void lower_rule_state(struct lctx *c, const struct ast_rule *r, struct ir_rule *out)
{
	if (r->limit)
		lower_limit(c, r, &out->limit);
	if (!r->nrewrite)
		return;
	/* generic names become one statement per alternative (at most 8) */
	out->stmts = arena_alloc(c->a, sizeof(*out->stmts) * (size_t)(8 * r->nrewrite + 1));
	for (int k = 0; k < r->nrewrite; k++) {
		const struct ast_stmt *st = r->rewrite[k];
		if (!st)
			continue;
		if (!is_state_stmt(st)) {
			int n = lower_rewrite_stmt(c, st, out->stmts + out->nstmts, 8, k);
			if (n > 0)
				out->nstmts += n;
			continue;
		}
		struct ir_stmt *s = lower_state_stmt(c, st);
		if (s)
			out->stmts[out->nstmts++] = s;
	}
}

static void lower_rule(struct lctx *c, const struct ast_rule *r, int i, struct ir_rule *out)
{
	out->name = r->name;
	out->index = i;
	out->file = diag_source_path(r->loc.file);
	out->line = r->loc.first_line;
	lower_rule_state(c, r, out);
	lower_verdict(c, &r->verdict, &out->verdict);
	struct ir_cond *x = r->match ? lower_cond(c, r->match) : c_true(c);
	out->cond = x ? x : c_true(c);
	lower_rewrite_requires(c, r, out);
}

static int expect_action(const struct ast_test *t)
{
	if (!t->has_expect)
		return -2;
	switch (t->expect.kind) {
	case V_ABORT: return 0;
	case V_DROP: return 1;
	case V_PASS: return 2;
	case V_TX: return 3;
	case V_REDIRECT_ANY: return -1;
	case V_REDIRECT_DEV: case V_REDIRECT_IFINDEX: case V_REDIRECT_MAP: case V_REDIRECT_CPU:
		return 4;
	default:
		diag_error(t->expect.loc, "a test cannot expect '%s'",
			   t->expect.kind == V_ROUTE ? "route" : "continue");
		return -2;
	}
}

static void lower_test(struct lctx *c, const struct ast_test *t, struct ir_test *out)
{
	out->name = t->name;
	out->file = diag_source_path(t->loc.file);
	out->line = t->loc.first_line;
	out->expect_action = expect_action(t);
	if (t->by_rule)
		out->expect_rule = t->by_rule->index;
	else if (t->by && strcmp(t->by, "default") == 0)
		out->expect_rule = c->p->nrules;
	else if (t->by) {
		int r = -1;
		for (int i = 0; i < c->p->nrules; i++)
			if (strcmp(c->p->rules[i]->name, t->by) == 0)
				r = i;
		if (r < 0)
			diag_error(t->by_loc, "no rule named '%s'", t->by);
		out->expect_rule = r;
	} else
		out->expect_rule = -1;
	lower_build_packet(c->a, c->p, t->packet, t->npacket, &out->packet, &out->packet_len);
	if (t->has_output)
		lower_build_packet(c->a, c->p, t->output, t->noutput, &out->output, &out->output_len);
}

/* ---------------------------------------------------------------- parse-graph pruning */

/* Parse states that lead only to headers nobody reads are not entered:
 * the stdlib's tunnel, ARP or ICMP states cost a policy that never looks
 * at them nothing (instructions, verifier work, cycles). A header is read
 * by a rule (match, limit, rewrite, state statement, verdict key) or by
 * encap/decap; with field rewrites, every header carrying a checksum is
 * kept (it may need updating). Parsing less never changes what is read:
 * a state only adds headers and meta values after those before it. */
struct prune {
	bool *hdr;      /* header or meta block read */
};

static void use_val(struct prune *u, const struct ir_val *v)
{
	if (!v)
		return;
	if ((v->kind == IV_FIELD || v->kind == IV_META) && v->hdr >= 0)
		u->hdr[v->hdr] = true;
	use_val(u, v->a);
	use_val(u, v->b);
	for (int i = 0; i < v->nkeys; i++)
		use_val(u, v->keys[i]);
}

static void use_cond(struct prune *u, const struct ir_cond *x)
{
	if (!x)
		return;
	if (x->kind == IC_PRESENT && x->hdr >= 0)
		u->hdr[x->hdr] = true;
	use_val(u, x->a);
	use_val(u, x->b);
	use_val(u, x->lo);
	use_val(u, x->hi);
	for (int i = 0; i < x->nkeys; i++)
		use_val(u, x->keys[i]);
	for (int i = 0; i < x->nkids; i++)
		use_cond(u, x->kids[i]);
}

static void use_hdrs(struct prune *u, const int *h, int n)
{
	for (int i = 0; i < n; i++)
		if (h[i] >= 0)
			u->hdr[h[i]] = true;
}

static void use_stmt(struct prune *u, const struct ir_program *ir, const struct ir_stmt *s, bool *rewrites)
{
	if (s->hdr >= 0)
		u->hdr[s->hdr] = true;
	if (s->hdr2 >= 0)
		u->hdr[s->hdr2] = true;
	use_val(u, s->value);
	for (int i = 0; i < s->nkeys; i++)
		use_val(u, s->keys[i]);
	if (s->kind == IS_ASSIGN || s->kind == IS_SWAP || s->kind == IS_PUSH || s->kind == IS_POP)
		*rewrites = true;
	const struct ir_encap *E = s->encap;
	if (E) {
		use_hdrs(u, E->link, E->nlink);
		use_hdrs(u, (int[]){ E->ip4, E->ip6, E->eth_inner, E->inner_ip4, E->inner_ip6 }, 5);
		for (int i = 0; i < E->npatches; i++)
			use_val(u, E->patches[i].value);
	}
	(void)ir;
}

static void prune_parse_graph(struct lctx *c)
{
	struct ir_program *ir = c->ir;
	int nh = ir->nheaders, ns = ir->nstates;
	if (ns <= 0 || ir->start_state < 0)
		return;
	struct prune u = { arena_alloc(c->a, (size_t)nh + 1) };
	bool rewrites = false;
	for (int i = 0; i < ir->nrules; i++) {
		const struct ir_rule *r = &ir->rules[i];
		use_cond(&u, r->cond);
		if (r->limit)
			for (int k = 0; k < r->limit->nkeys; k++)
				use_val(&u, r->limit->keys[k]);
		for (int k = 0; k < r->nstmts; k++)
			use_stmt(&u, ir, r->stmts[k], &rewrites);
		use_val(&u, r->verdict.key);
	}
	use_val(&u, ir->default_verdict.key);
	for (int h = 0; h < nh && rewrites; h++)
		if (ir->headers[h].csum_field >= 0)
			u.hdr[h] = true;
	bool *keep = arena_alloc(c->a, (size_t)ns);
	for (int s = 0; s < ns; s++) {
		const struct ir_state *S = &ir->states[s];
		/* a state that can reject a packet decides its verdict */
		keep[s] = s == ir->start_state || (S->header >= 0 && u.hdr[S->header]) ||
			  S->next_state == IR_REJECT;
		for (int a = 0; a < S->narms && !keep[s]; a++)
			keep[s] = S->arms[a].target == IR_REJECT;
		for (int k = 0; k < S->nsets && !keep[s]; k++)
			keep[s] = u.hdr[S->sets[k].meta_hdr];
	}
	for (bool changed = true; changed;) {
		changed = false;
		for (int s = 0; s < ns; s++) {
			const struct ir_state *S = &ir->states[s];
			bool k = keep[s] || (S->next_state >= 0 && keep[S->next_state]);
			for (int a = 0; a < S->narms && !k; a++)
				k = S->arms[a].target >= 0 && keep[S->arms[a].target];
			if (k && !keep[s])
				changed = keep[s] = true;
		}
	}
	for (int s = 0; s < ns; s++) {
		struct ir_state *S = &ir->states[s];
		if (S->next_state >= 0 && !keep[S->next_state])
			S->next_state = IR_ACCEPT;
		for (int a = 0; a < S->narms; a++)
			if (S->arms[a].target >= 0 && !keep[S->arms[a].target])
				S->arms[a].target = IR_ACCEPT;
	}
}

/* ---------------------------------------------------------------- the program */

struct ir_program *lower_program(struct arena *a, const struct sema_program *p)
{
	int errs = diag_error_count();
	struct ir_program *ir = NEW(a, struct ir_program);
	struct lctx cx = { .a = a, .p = p, .ir = ir, .size_hdr = -1 };
	struct lctx *c = &cx;

	ir->name = p->name;
	ir->source_path = p->main_path;
	if (p->main_path) {
		const char *slash = strrchr(p->main_path, '/');
		ir->source_dir = slash ? arena_strndup(a, p->main_path,
						       slash == p->main_path ? 1 : (size_t)(slash - p->main_path))
				       : ".";
	}

	lower_headers(c);

	c->nset_maps = p->nsets;
	c->set_maps = arena_alloc(a, sizeof(*c->set_maps) * (size_t)(p->nsets + 1));
	for (int i = 0; i < p->nsets; i++)
		lower_user_set(c, p->sets[i]);

	ir->nstates = p->nstates;
	ir->states = arena_alloc(a, sizeof(struct ir_state) * (size_t)(p->nstates + 1));
	for (int i = 0; i < p->nstates; i++) {
		const struct ast_state *s = p->states[i];
		int idx = s->index >= 0 && s->index < p->nstates ? s->index : i;
		lower_state(c, s, &ir->states[idx]);
	}
	ir->start_state = p->start ? p->start->index : IR_ACCEPT;
	lower_header_order(c);

	ir->nrules = p->nrules;
	ir->rules = arena_alloc(a, sizeof(struct ir_rule) * (size_t)(p->nrules + 1));
	for (int i = 0; i < p->nrules; i++)
		lower_rule(c, p->rules[i], i, &ir->rules[i]);
	c->lowering_default = true;
	lower_verdict(c, &p->deflt, &ir->default_verdict);
	c->lowering_default = false;
	ir->default_line = p->deflt_loc.first_line;

	ir->ntests = p->ntests;
	ir->tests = arena_alloc(a, sizeof(struct ir_test) * (size_t)(p->ntests + 1));
	for (int i = 0; i < p->ntests; i++)
		lower_test(c, p->tests[i], &ir->tests[i]);

	if (diag_error_count() == errs && !getenv("XDPL_NO_PRUNE"))
		prune_parse_graph(c);

	ir->nmaps = c->maps.len;
	ir->maps = (struct ir_map **)c->maps.items;
	if (!ir->maps)
		ir->maps = arena_alloc(a, sizeof(struct ir_map *));
	if (diag_error_count() == errs && !getenv("XDPL_NO_REGROUP"))
		ir_regroup(a, ir);

	return diag_error_count() > errs ? NULL : ir;
}
