/* Lowering of sets and maps: their byte layouts (ir.h), initial elements,
 * and the anonymous maps made for large literal sets. */
#include "lower_internal.h"

#include <string.h>

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

void map_add_entry(struct lctx *c, struct ir_map *m, struct ptrvec *entries,
			  const u128 *comps, int plen, u128 value)
{
	struct ir_map_entry *e = NEW(c->a, struct ir_map_entry);
	e->key = arena_alloc(c->a, (size_t)m->key_size);
	e->value = arena_alloc(c->a, (size_t)(m->value_size ? m->value_size : 1));
	if (m->kind == IRM_LPM) {
		uint32_t pl = (uint32_t)plen;
		memcpy(e->key, &pl, 4);
		u128_put_be(e->key + 4, m->key_size - 4, comps[0]);
	} else if (m->kind == IRM_ARRAY || m->kind == IRM_PERCPU_ARRAY) {
		u128_put_host(e->key, 4, comps[0]);
	} else {
		int off = 0;
		for (int i = 0; i < m->nkeys; i++) {
			int n = key_bytes(m->key_bits[i]);
			u128_put_be(e->key + off, n, comps[i] & u128_mask(m->key_bits[i]));
			off += n;
		}
	}
	u128_put_host(e->value, m->value_size, value);
	ptrvec_push(c->a, entries, e);
}

void finish_init(struct lctx *c, struct ir_map *m, struct ptrvec *entries)
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

struct ir_map *new_map(struct lctx *c, const char *name, enum ir_map_kind kind, bool is_set)
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
void index_key(struct ir_map *m)
{
	m->nkeys = 1;
	m->key_types[0] = IR_UINT;
	m->key_bits[0] = 32;
	m->key_size = 4;
}

void map_key_layout(struct ir_map *m)
{
	int size = 0;
	for (int i = 0; i < m->nkeys; i++)
		size += key_bytes(m->key_bits[i]);
	if (m->kind == IRM_LPM)
		size += 4;
	m->key_size = size;
}

/* Literal element → numeric value (E_LIT or a scalar const). */
const struct xdpl_lit *elem_lit(const struct ast_expr *e)
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

bool is_prefix_lit(const struct xdpl_lit *l)
{
	return l->kind == LIT_PREFIX4 || l->kind == LIT_PREFIX6;
}

/* The collection a const stands for (set literal, range, tuple), or NULL. */
const struct ast_expr *const_collection(const struct ast_expr *e)
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
void flatten_elems(struct lctx *c, const struct ast_expr *set, struct ptrvec *out, int depth)
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

bool range_bounds(const struct ast_expr *r, u128 *lo, u128 *hi, enum ir_type *t)
{
	struct ir_u128 a, b;
	if (!pkt_eval(r->lhs, NULL, NULL, &a) || !pkt_eval(r->rhs, NULL, NULL, &b))
		return false;
	*lo = u128_from_ir(a);
	*hi = u128_from_ir(b);
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
			comps[0] = u128_from_ir(v);
			if (plen < width)
				comps[0] &= ~u128_mask(width - plen);
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
			comps[k] = u128_from_ir(v);
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

void lower_user_set(struct lctx *c, const struct ast_set *s)
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
	if (ir_map_kind_array(kind)) {
		index_key(m);
	} else {
		m->nkeys = s->nkey > 8 ? 8 : s->nkey;
		for (int i = 0; i < m->nkeys; i++)
			ty_ir(s->key[i], &m->key_types[i], &m->key_bits[i]);
		map_key_layout(m);
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
	} else if (ir_map_kind_info(kind)->target) {
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

struct ir_map *set_map(struct lctx *c, const struct ast_set *s)
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

struct ir_map *anon_map(struct lctx *c, enum ir_map_kind kind, struct ir_val **keys, int n,
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
