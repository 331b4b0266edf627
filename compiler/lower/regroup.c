/* Rule groups (ir.h, struct ir_group): runs of rules that each compare one
 * key value with constants become one map lookup, so a policy of 10,000
 * such rules costs per packet about what one rule costs.
 *
 * A rule joins a run when it has no limit, no rewrite or state statement,
 * does not continue, does not redirect through a map key, and its
 * condition is `KEY == C`, `KEY in PREFIX`, or an `or` of those (a small
 * literal set), with the same KEY (a header field or parser meta value)
 * as the rest of the run -- or `K1 == C1 and K2 == C2 ...` over the same
 * keys as the rest of the run (a hash map keyed by the tuple). Runs of at least REGROUP_MIN_RULES rules are
 * grouped, in policies of more than IR_INLINE_RULES_MAX rules: below that,
 * rule-by-rule code is faster than a lookup (LLVM turns a run of compares
 * into a search tree: 64 port rules, 7 ns/pkt inline, 12 with a lookup).
 *
 * First match is kept: exact values are entered in rule order and a value
 * already entered keeps its rule. With prefixes the map is an LPM trie,
 * which answers with the longest entered prefix; a prefix is therefore
 * only entered when no earlier rule's prefix covers it (such a prefix
 * could never decide anyway), and then every longer entered prefix
 * holding a packet's key belongs to an earlier rule than any shorter one:
 * the longest match is the first match. */
#include "regroup.h"

#include <stdlib.h>
#include <string.h>

#include "classify.h"

#define REGROUP_MIN_RULES 8
/* Classifiers: runs of at least this many rules, at most this many in one. */
#define CLS_MIN_RULES 16
#define CLS_MAX_RUN 16384

/* One alternative of a rule's condition: KEY == value (plen = bits) or
 * KEY in value/plen. value is left-aligned in the key's bits. */
struct atom {
	u128 value;
	int plen;
};

static u128 const_of(const struct ir_val *v)
{
	if (v->bits > 64)
		return u128_from_ir(v->c128);
	return v->c;
}

static bool groupable_key(const struct ir_val *a)
{
	return a && (a->kind == IV_FIELD || a->kind == IV_META) && a->bits > 0 && a->bits <= 128 &&
	       a->type != IR_BOOL;
}

/* The atoms of one alternative; false when c is not one. */
static bool one_atom(const struct ir_cond *c, const struct ir_val **key, struct atom *out)
{
	if (c->kind == IC_CMP && c->cmp == ICMP_EQ && c->b && c->b->kind == IV_CONST && groupable_key(c->a)) {
		*key = c->a;
		out->value = const_of(c->b);
		out->plen = c->a->bits;
		return true;
	}
	if (c->kind == IC_PREFIX && c->plen > 0 && groupable_key(c->a) && c->a->bits % 8 == 0) {
		*key = c->a;
		out->value = u128_from_ir(c->prefix);
		out->plen = c->plen;
		return true;
	}
	return false;
}

/* The key and atoms of rule r's condition (at most max atoms); -1: r
 * cannot join a group. */
static int rule_atoms(const struct ir_rule *r, const struct ir_val **key, struct atom *out, int max)
{
	if (!ir_rule_groupable(r) || !r->cond)
		return -1;
	const struct ir_cond *c = r->cond;
	int n = c->kind == IC_OR ? c->nkids : 1;
	if (n > max)
		return -1;
	*key = NULL;
	for (int i = 0; i < n; i++) {
		const struct ir_val *ki;
		if (!one_atom(c->kind == IC_OR ? c->kids[i] : c, &ki, &out[i]))
			return -1;
		if (*key && !ir_val_eq(*key, ki))
			return -1;
		*key = ki;
	}
	return n;
}

static u128 top_bits(u128 v, int bits, int plen)
{
	if (plen <= 0)
		return 0;
	u128 mask = plen >= 128 ? ~(u128)0 : (((u128)1 << plen) - 1) << (128 - plen);
	return (v << (128 - bits)) & mask; /* left-aligned at bit 127 */
}

struct entries {
	struct ir_map_entry *e;
	struct atom *at;      /* what each entry holds */
	int n, cap;
	/* the entered atoms by (plen, value): an open-addressing set, and
	 * which prefix lengths occur, so "covered" asks one question per
	 * length in use instead of one per entry */
	uint32_t *slots;      /* entry index + 1, 0: empty */
	size_t nslots;
	bool lens[129];
};

static size_t atom_hash(struct atom a, size_t mask)
{
	uint64_t h = (uint64_t)a.value ^ (uint64_t)(a.value >> 64) * 0x9e3779b97f4a7c15ull;
	h ^= (uint64_t)a.plen * 0xff51afd7ed558ccdull;
	h ^= h >> 29;
	return (size_t)(h * 0xc4ceb9fe1a85ec53ull) & mask;
}

/* Is atom a (value right-aligned, host bits zero) entered? */
static bool entered(const struct entries *E, struct atom a)
{
	if (!E->nslots)
		return false;
	for (size_t i = atom_hash(a, E->nslots - 1);; i = (i + 1) & (E->nslots - 1)) {
		uint32_t k = E->slots[i];
		if (!k)
			return false;
		if (E->at[k - 1].plen == a.plen && E->at[k - 1].value == a.value)
			return true;
	}
}

static bool covered(const struct entries *E, struct atom a, int bits)
{
	for (int l = 0; l <= a.plen; l++) {
		if (!E->lens[l])
			continue;
		struct atom q = { top_bits(a.value, bits, l) >> (128 - bits), l };
		if (entered(E, q))
			return true;
	}
	return false;
}

static void index_entry(struct arena *a, struct entries *E, int idx)
{
	if ((size_t)E->n * 2 >= E->nslots) { /* grow (and rehash) at half full */
		size_t ns = E->nslots ? 2 * E->nslots : 256;
		E->slots = arena_alloc(a, sizeof(*E->slots) * ns);
		memset(E->slots, 0, sizeof(*E->slots) * ns);
		E->nslots = ns;
		for (int i = 0; i < E->n; i++)
			if (i != idx)
				index_entry(a, E, i);
	}
	size_t i = atom_hash(E->at[idx], E->nslots - 1);
	while (E->slots[i])
		i = (i + 1) & (E->nslots - 1);
	E->slots[i] = (uint32_t)idx + 1;
	E->lens[E->at[idx].plen] = true;
}

static void add_entry(struct arena *a, struct entries *E, const struct ir_map *m, struct atom at,
		      uint32_t value)
{
	if (E->n == E->cap) {
		int cap = E->cap ? 2 * E->cap : 64;
		struct ir_map_entry *e = arena_alloc(a, sizeof(*e) * (size_t)cap);
		struct atom *t = arena_alloc(a, sizeof(*t) * (size_t)cap);
		if (E->n) {
			memcpy(e, E->e, sizeof(*e) * (size_t)E->n);
			memcpy(t, E->at, sizeof(*t) * (size_t)E->n);
		}
		E->e = e;
		E->at = t;
		E->cap = cap;
	}
	int bits = m->key_bits[0], nbytes = (bits + 7) / 8;
	uint8_t *k = arena_alloc(a, (size_t)m->key_size);
	if (m->kind == IRM_LPM) {
		uint32_t plen = (uint32_t)at.plen; /* host order, as the kernel wants */
		memcpy(k, &plen, 4);
		u128_put_be(k + 4, nbytes, at.value);
	} else {
		u128_put_be(k, nbytes, at.value);
	}
	uint8_t *v = arena_alloc(a, 4);
	memcpy(v, &value, 4); /* host order */
	E->e[E->n] = (struct ir_map_entry){ k, v };
	E->at[E->n++] = at;
	index_entry(a, E, E->n - 1);
}

static bool same_exact(const struct entries *E, struct atom a)
{
	return entered(E, a);
}

#define MAX_ATOMS 16
#define MAX_TUPLE 8

static bool plain_verdict(const struct ir_rule *r)
{
	return ir_rule_groupable(r) && r->cond;
}

/* `K1 == C1 and ... and Km == Cm` (2 <= m <= MAX_TUPLE, distinct keys):
 * m, with keys and values in the order of `order` when given (the run's
 * first rule's keys); -1: r is not of that shape (or not over those keys). */
static int rule_tuple(const struct ir_rule *r, const struct ir_val **keys, u128 *vals,
		      const struct ir_val *const *order, int norder)
{
	const struct ir_cond *c = r->cond;
	if (!plain_verdict(r) || c->kind != IC_AND || c->nkids < 2 || c->nkids > MAX_TUPLE ||
	    (order && c->nkids != norder))
		return -1;
	int m = c->nkids;
	for (int i = 0; i < m; i++) {
		const struct ir_cond *k = c->kids[i];
		if (k->kind != IC_CMP || k->cmp != ICMP_EQ || !k->b || k->b->kind != IV_CONST || !groupable_key(k->a))
			return -1;
		for (int j = 0; j < i; j++)
			if (ir_val_eq(c->kids[j]->a, k->a))
				return -1; /* one key twice */
		int at = i;
		if (order) {
			at = -1;
			for (int j = 0; j < norder && at < 0; j++)
				if (ir_val_eq(order[j], k->a))
					at = j;
			if (at < 0)
				return -1;
		}
		keys[at] = k->a;
		vals[at] = const_of(k->b);
	}
	return m;
}

/* A set of byte strings of one length (the entered tuple keys). */
struct bset {
	const struct ir_map_entry *e;
	int len;
	uint32_t *slots;
	size_t nslots;
	int n;
};

static size_t bytes_hash(const uint8_t *p, int len, size_t mask)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return (size_t)h & mask;
}

static bool bset_has(const struct bset *S, const uint8_t *key)
{
	for (size_t i = S->nslots ? bytes_hash(key, S->len, S->nslots - 1) : 0; S->nslots; i = (i + 1) & (S->nslots - 1)) {
		uint32_t k = S->slots[i];
		if (!k)
			return false;
		if (!memcmp(S->e[k - 1].key, key, (size_t)S->len))
			return true;
	}
	return false;
}

static void bset_add(struct arena *a, struct bset *S, const struct ir_map_entry *e, int idx)
{
	S->e = e;
	if ((size_t)(S->n + 1) * 2 >= S->nslots) {
		size_t ns = S->nslots ? 2 * S->nslots : 256;
		S->slots = arena_alloc(a, sizeof(*S->slots) * ns);
		memset(S->slots, 0, sizeof(*S->slots) * ns);
		S->nslots = ns;
		int n = S->n;
		S->n = 0;
		for (int i = 0; i < n; i++)
			bset_add(a, S, e, i);
	}
	size_t i = bytes_hash(e[idx].key, S->len, S->nslots - 1);
	while (S->slots[i])
		i = (i + 1) & (S->nslots - 1);
	S->slots[i] = (uint32_t)idx + 1;
	S->n++;
}

/* Rules [first, first + n), each `K1 == C1 and ...` over keys: a hash map
 * keyed by the tuple. */
static struct ir_group make_tuple_group(struct arena *a, struct ir_program *ir, int first, int n,
					const struct ir_val *const *keys, int m, int index)
{
	struct ir_map *map = arena_alloc(a, sizeof(*map));
	memset(map, 0, sizeof(*map));
	map->name = arena_printf(a, "_xdpl_group%d", index);
	map->kind = IRM_HASH;
	map->nkeys = m;
	int size = 0;
	for (int k = 0; k < m; k++) {
		map->key_types[k] = keys[k]->type;
		map->key_bits[k] = keys[k]->bits;
		size += (keys[k]->bits + 7) / 8;
	}
	map->key_size = size;
	map->value_type = IR_UINT;
	map->value_bits = 32;
	map->value_size = 4;
	map->line = ir->rules[first].line;
	struct ir_map_entry *e = arena_alloc(a, sizeof(*e) * (size_t)n);
	struct bset S = { .len = size };
	int ne = 0;
	const struct ir_val *kk[MAX_TUPLE];
	u128 vals[MAX_TUPLE];
	for (int i = first; i < first + n; i++) {
		const struct ir_rule *r = &ir->rules[i];
		rule_tuple(r, kk, vals, keys, m);
		uint8_t *key = arena_alloc(a, (size_t)size);
		for (int k = 0, off = 0; k < m; off += (keys[k]->bits + 7) / 8, k++)
			u128_put_be(key + off, (keys[k]->bits + 7) / 8, vals[k]);
		e[ne].key = key;
		if (bset_has(&S, key))
			continue; /* an earlier rule decides these packets */
		uint32_t value = IR_GROUP_VALUE(r->index, ir_verdict_action(r->verdict.kind));
		e[ne].value = arena_alloc(a, 4);
		memcpy(e[ne].value, &value, 4);
		bset_add(a, &S, e, ne);
		ne++;
	}
	map->init = e;
	map->ninit = ne;
	map->max_entries = ne > 0 ? (uint32_t)ne : 1;
	struct ir_val **kv = arena_alloc(a, sizeof(*kv) * (size_t)m);
	for (int k = 0; k < m; k++)
		kv[k] = (struct ir_val *)keys[k];
	struct ir_group g = { first, n, kv, m, map, NULL };
	return g;
}

/* Group rules [first, first + n) with key `key`. */
static struct ir_group make_group(struct arena *a, struct ir_program *ir, int first, int n,
				  const struct ir_val *key, int index)
{
	bool lpm = false;
	struct atom at[MAX_ATOMS];
	const struct ir_val *k;
	for (int i = first; i < first + n; i++) {
		int na = rule_atoms(&ir->rules[i], &k, at, MAX_ATOMS);
		for (int j = 0; j < na; j++)
			lpm |= at[j].plen < key->bits;
	}
	struct ir_map *m = arena_alloc(a, sizeof(*m));
	memset(m, 0, sizeof(*m));
	m->name = arena_printf(a, "_xdpl_group%d", index);
	m->kind = lpm ? IRM_LPM : IRM_HASH;
	m->flags = lpm ? 1 : 0; /* BPF_F_NO_PREALLOC, as LPM tries need */
	m->nkeys = 1;
	m->key_types[0] = key->type;
	m->key_bits[0] = key->bits;
	m->key_size = (key->bits + 7) / 8 + (lpm ? 4 : 0);
	m->value_type = IR_UINT;
	m->value_bits = 32;
	m->value_size = 4;
	m->line = ir->rules[first].line;
	struct entries E = { 0 };
	for (int i = first; i < first + n; i++) {
		const struct ir_rule *r = &ir->rules[i];
		uint32_t value = IR_GROUP_VALUE(r->index, ir_verdict_action(r->verdict.kind));
		int na = rule_atoms(r, &k, at, MAX_ATOMS);
		for (int j = 0; j < na; j++) {
			at[j].value = top_bits(at[j].value, key->bits, at[j].plen) >> (128 - key->bits);
			if (lpm ? covered(&E, at[j], key->bits) : same_exact(&E, at[j]))
				continue; /* an earlier rule decides these packets */
			add_entry(a, &E, m, at[j], value);
		}
	}
	m->init = E.e;
	m->ninit = E.n;
	m->max_entries = E.n > 0 ? (uint32_t)E.n : 1;
	struct ir_val **kv = arena_alloc(a, sizeof(*kv));
	kv[0] = (struct ir_val *)key;
	struct ir_group g = { first, n, kv, 1, m, NULL };
	return g;
}

/* How many rules from i one-key or tuple grouping takes (0: rule i
 * cannot join one): over *key, or (*m > 0) the tuple tk[0..*m). */
static int map_run(const struct ir_program *ir, int i, const struct ir_val **key, const struct ir_val **tk,
		   int *m)
{
	struct atom at[MAX_ATOMS];
	const struct ir_val *k2, *tk2[MAX_TUPLE];
	u128 tv[MAX_TUPLE];
	int j = i + 1;
	*m = 0;
	if (rule_atoms(&ir->rules[i], key, at, MAX_ATOMS) >= 0) {
		while (j < ir->nrules && rule_atoms(&ir->rules[j], &k2, at, MAX_ATOMS) >= 0 && ir_val_eq(*key, k2))
			j++;
	} else if ((*m = rule_tuple(&ir->rules[i], tk, tv, NULL, 0)) > 0) {
		while (j < ir->nrules && rule_tuple(&ir->rules[j], tk2, tv, tk, *m) == *m)
			j++;
	} else {
		return 0;
	}
	return j - i;
}

static int map_run_length(const struct ir_program *ir, int i)
{
	const struct ir_val *key, *tk[MAX_TUPLE];
	int m;
	return map_run(ir, i, &key, tk, &m);
}

/* A map-groupable run of ml rules inside a classifiable run of `run`: a
 * group of its own when it is a large part of the run (one lookup beats
 * the trees), else left to the classifier (cutting the classifier in two
 * around every short one would add tree walks). */
static bool carve(int ml, int run)
{
	return ml >= REGROUP_MIN_RULES && ml * 8 >= run;
}

/* The end of the classifier run [i, i + run): the first rule that starts
 * a run to carve out. */
static int classify_end(const struct ir_program *ir, int i, int run)
{
	for (int k = i + 1; k < i + run;) {
		int ml = map_run_length(ir, k);
		if (carve(ml, run))
			return k;
		k += ml > 1 ? ml : 1;
	}
	return i + run;
}

/* Rules [i, i + n) as classifiers (classify.h): one if it builds, else
 * each half on its own; rules left over stay rule by rule. */
static void classify_run(struct arena *a, struct ir_program *ir, int i, int n, struct ir_group *groups,
			 int *ngroups)
{
	if (n < CLS_MIN_RULES)
		return;
	struct ir_classifier *C = n <= CLS_MAX_RUN ? cls_build(a, ir, i, n) : NULL;
	if (C) {
		groups[(*ngroups)++] = (struct ir_group){ .first = i, .n = n, .cls = C };
		return;
	}
	classify_run(a, ir, i, n / 2, groups, ngroups);
	classify_run(a, ir, i + n / 2, n - n / 2, groups, ngroups);
}

void ir_regroup(struct arena *a, struct ir_program *ir, bool classify)
{
	if (!ir || ir->nrules <= IR_INLINE_RULES_MAX)
		return;
	struct ir_group *groups = arena_alloc(a, sizeof(*groups) * (size_t)(ir->nrules / REGROUP_MIN_RULES + 1));
	int ngroups = 0;
	for (int i = 0; i < ir->nrules;) {
		const struct ir_val *key, *tk[MAX_TUPLE];
		int m, ml = map_run(ir, i, &key, tk, &m);
		int run = classify ? cls_run_length(ir, i) : 0;
		if (run >= CLS_MIN_RULES && !carve(ml, run)) {
			int end = classify_end(ir, i, run);
			classify_run(a, ir, i, end - i, groups, &ngroups);
			i = end;
			continue;
		}
		if (ml >= REGROUP_MIN_RULES) {
			groups[ngroups] = m ? make_tuple_group(a, ir, i, ml, tk, m, ngroups)
					    : make_group(a, ir, i, ml, key, ngroups);
			ngroups++;
		}
		i += ml > 0 ? ml : 1;
	}
	if (!ngroups)
		return;
	struct ir_map **maps = arena_alloc(a, sizeof(*maps) * (size_t)(ir->nmaps + ngroups + 1));
	if (ir->nmaps)
		memcpy(maps, ir->maps, sizeof(*maps) * (size_t)ir->nmaps);
	for (int g = 0; g < ngroups; g++) {
		if (!groups[g].map)
			continue; /* a classifier: its data is in the program */
		groups[g].map->index = ir->nmaps;
		maps[ir->nmaps++] = groups[g].map;
	}
	ir->maps = maps;
	ir->groups = groups;
	ir->ngroups = ngroups;
}
