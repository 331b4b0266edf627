/* Multi-field classification: runs of rules testing several fields
 * (prefixes, ranges, exact values) as decision trees (classify.h).
 *
 * Each rule is a box: one [lo, hi] range per dimension. The run's rules
 * are split into a few subsets, each with a dimension on which all its
 * rules are narrow (EffiCuts/CutSplit: a rule that is wide on the
 * dimension a tree cuts would be copied into most of its children), and
 * each subset becomes a tree of bit cuts (HiCuts with power-of-two cuts):
 * a node cuts one dimension's remaining bits into 2^k equal children,
 * choosing the dimension and k that shrink the largest child most while
 * keeping the copies made within a space factor. Leaves keep at most
 * CLS_BINTH rules, or more when cuts stop helping; a leaf that would need
 * more than CLS_LEAF_MAX sends its extra rules on to the next subset.
 *
 * First match is exact: leaves list their rules in rule order, and the
 * search keeps the earliest rule that matches over all trees. A rule that
 * covers a node's whole region (and whose "have" bits that region
 * guarantees) ends the node's list: later rules there can never win. */
#include "classify.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLS_BINTH 8        /* rules a leaf may keep without trying to cut */
#define CLS_LEAF_MAX 48    /* rules a leaf may keep at all */
#define CLS_MAX_DEPTH 24   /* node levels */
#define CLS_KMAX 16        /* bits cut at once: up to 65536 children (2^k <= 4 x rules) */
#define CLS_SPFAC 3        /* copies a cut may make: sum of children <= SPFAC x rules */
#define CLS_MAX_BLOB (3u << 20) /* one .rodata section: the kernel's array maps take 4 MB */

struct box {
	uint64_t lo[CLS_MAX_DIMS], hi[CLS_MAX_DIMS];
	uint32_t need;
	bool empty;
};

static uint64_t low_mask(int n)
{
	return n >= 64 ? ~0ull : n <= 0 ? 0 : (1ull << n) - 1;
}

static bool key_ok(const struct ir_val *v)
{
	if (!v || v->bits <= 0 || (v->bits > 64 && v->bits != 128))
		return false;
	if (v->kind == IV_FIELD || v->kind == IV_META)
		return true;
	if (v->kind != IV_COALESCE || v->nkeys < 1)
		return false;
	for (int i = 0; i < v->nkeys; i++)
		if ((v->keys[i]->kind != IV_FIELD && v->keys[i]->kind != IV_META) || v->keys[i]->bits != v->bits)
			return false;
	return true;
}

struct dimset {
	struct ir_cls_dim d[CLS_MAX_DIMS];
	int n;
};

/* The dimension of (key, part), added when new; -1: no room. */
static int dim_of(struct dimset *S, const struct ir_val *key, int part)
{
	for (int i = 0; i < S->n; i++)
		if (S->d[i].part == part && ir_val_eq(S->d[i].key, key))
			return i;
	if (S->n == CLS_MAX_DIMS)
		return -1;
	S->d[S->n] = (struct ir_cls_dim){ (struct ir_val *)key, part, key->bits > 64 ? 64 : key->bits };
	return S->n++;
}

/* Narrow dimension d of b to [lo, hi]. */
static void clip(struct box *b, int d, uint64_t lo, uint64_t hi)
{
	if (lo > b->lo[d])
		b->lo[d] = lo;
	if (hi < b->hi[d])
		b->hi[d] = hi;
	b->need |= 1u << d;
	b->empty |= b->lo[d] > b->hi[d];
}

/* key OP c, c of at most 64 bits, as a range of [0, max]. */
static bool cmp_range(enum ir_cmp op, uint64_t c, uint64_t max, uint64_t *lo, uint64_t *hi)
{
	*lo = 0;
	*hi = max;
	switch (op) {
	case ICMP_EQ: *lo = *hi = c; if (c > max) *lo = 1, *hi = 0; return true;
	case ICMP_LT: if (c == 0) *lo = 1, *hi = 0; else if (c - 1 < max) *hi = c - 1; return true;
	case ICMP_LE: if (c < max) *hi = c; return true;
	case ICMP_GT: if (c >= max) *lo = 1, *hi = 0; else *lo = c + 1; return true;
	case ICMP_GE: if (c > max) *lo = 1, *hi = 0; else *lo = c; return true;
	default: return false; /* != is two ranges */
	}
}

/* One atom into box b (dimensions added to S); false: not classifiable. */
static bool add_atom(struct dimset *S, struct box *b, const struct ir_cond *c)
{
	const struct ir_val *k = c->a;
	if ((c->kind != IC_PREFIX && c->kind != IC_CMP && c->kind != IC_RANGE) || !key_ok(k))
		return false;
	bool wide = k->bits == 128;
	int d0 = dim_of(S, k, 0), d1 = wide ? dim_of(S, k, 1) : d0;
	if (d0 < 0 || d1 < 0)
		return false;
	uint64_t max = low_mask(wide ? 64 : k->bits), lo, hi;
	if (c->kind == IC_PREFIX) {
		int p0 = wide ? (c->plen < 64 ? c->plen : 64) : c->plen, p1 = c->plen - 64;
		uint64_t v0 = wide ? c->prefix.hi : c->prefix.lo;
		clip(b, d0, v0, v0 | low_mask((wide ? 64 : k->bits) - p0));
		if (wide)
			clip(b, d1, c->prefix.lo, c->prefix.lo | low_mask(64 - (p1 > 0 ? p1 : 0)));
		return true;
	}
	if (c->kind == IC_RANGE) {
		if (wide || c->lo->kind != IV_CONST || c->hi->kind != IV_CONST)
			return false;
		clip(b, d0, c->lo->c, c->hi->c);
		return true;
	}
	if (!c->b || c->b->kind != IV_CONST)
		return false;
	if (wide) {
		if (c->cmp != ICMP_EQ)
			return false;
		clip(b, d0, c->b->c128.hi, c->b->c128.hi);
		clip(b, d1, c->b->c128.lo, c->b->c128.lo);
		return true;
	}
	if (!cmp_range(c->cmp, c->b->c, max, &lo, &hi))
		return false;
	clip(b, d0, lo, hi);
	return true;
}

/* Rule r's box over S's dimensions (adding its own); false: r's
 * condition is not a conjunction of classifiable atoms. */
static bool rule_box(struct dimset *S, const struct ir_rule *r, struct box *b)
{
	memset(b, 0, sizeof(*b));
	for (int d = 0; d < CLS_MAX_DIMS; d++)
		b->hi[d] = ~0ull;
	const struct ir_cond *c = r->cond;
	if (c->kind == IC_TRUE)
		return true;
	int n = c->kind == IC_AND ? c->nkids : 1;
	for (int i = 0; i < n; i++)
		if (!add_atom(S, b, c->kind == IC_AND ? c->kids[i] : c))
			return false;
	return true;
}

bool cls_rule_ok(const struct ir_rule *r)
{
	enum ir_verdict_kind k = r->verdict.kind;
	if (r->limit || r->nstmts || k == IRV_CONTINUE || k == IRV_REDIRECT_MAP || !r->cond)
		return false;
	struct dimset S = { .n = 0 };
	struct box b;
	return rule_box(&S, r, &b);
}

int cls_run_length(const struct ir_program *ir, int first)
{
	struct dimset S = { .n = 0 };
	struct box b;
	int i = first;
	while (i < ir->nrules && cls_rule_ok(&ir->rules[i])) {
		struct dimset T = S;
		if (!rule_box(&T, &ir->rules[i], &b))
			break;
		S = T;
		i++;
	}
	return i - first;
}

/* ---------------------------------------------------------------- trees */

struct builder {
	const struct box *R;   /* by position in the run */
	int ndims;
	int bits[CLS_MAX_DIMS];
	uint64_t *nodes;
	int nnodes, ncap;
	uint32_t *list;
	int nlist, lcap;
	bool *overflow;        /* by position: did not fit a leaf */
	int *cnt;              /* choose_cut's children counts: 2^CLS_KMAX + 1 */
	bool nomem;
	struct ir_cls_tree *t;
};

/* A node's region: on dimension d, the values whose top bits equal
 * base[d]'s, rb[d] bits left to cut. */
struct region {
	uint64_t base[CLS_MAX_DIMS];
	int rb[CLS_MAX_DIMS];
};

static bool grow(void **p, int *cap, int need, size_t size)
{
	if (need <= *cap)
		return true;
	int c = *cap ? *cap : 1024;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, (size_t)c * size);
	if (!q)
		return false;
	*p = q;
	*cap = c;
	return true;
}

static uint64_t region_hi(const struct region *g, int d)
{
	return g->base[d] | low_mask(g->rb[d]);
}

/* Does rule b match every packet of region g? A dimension it needs must
 * then be present: guaranteed only where the region excludes 0, the
 * value of an absent key. */
static bool covers(const struct builder *B, const struct box *b, const struct region *g)
{
	for (int d = 0; d < B->ndims; d++) {
		if (b->lo[d] > g->base[d] || b->hi[d] < region_hi(g, d))
			return false;
		if ((b->need >> d & 1) && g->base[d] == 0)
			return false;
	}
	return true;
}

static void make_leaf(struct builder *B, int node, const int *rules, int nr, int depth)
{
	if (nr > CLS_LEAF_MAX) {
		for (int i = CLS_LEAF_MAX; i < nr; i++)
			B->overflow[rules[i]] = true;
		nr = CLS_LEAF_MAX;
	}
	if (!grow((void **)&B->list, &B->lcap, B->nlist + nr, sizeof(uint32_t))) {
		B->nomem = true;
		return;
	}
	for (int i = 0; i < nr; i++)
		B->list[B->nlist + i] = (uint32_t)rules[i];
	B->nodes[node] = (uint64_t)nr << 32 | (uint32_t)B->nlist;
	B->nlist += nr;
	struct ir_cls_tree *t = B->t;
	t->nleaves++;
	t->nentries += nr;
	if (nr > t->max_leaf)
		t->max_leaf = nr;
	if (depth > t->depth)
		t->depth = depth;
}

/* Children of rule b when region g's dimension d is cut by k bits. */
static void child_span(const struct box *b, const struct region *g, int d, int k, int *c0, int *c1)
{
	int sh = g->rb[d] - k;
	uint64_t lo = b->lo[d] > g->base[d] ? b->lo[d] : g->base[d];
	uint64_t hi = b->hi[d] < region_hi(g, d) ? b->hi[d] : region_hi(g, d);
	*c0 = (int)((lo - g->base[d]) >> sh);
	*c1 = (int)((hi - g->base[d]) >> sh);
}

/* The cut (dimension, bits) that makes the largest child smallest, with
 * at most SPFAC x nr rule copies; false: no cut makes progress. */
static bool choose_cut(const struct builder *B, const int *rules, int nr, const struct region *g, int *bd,
		       int *bk)
{
	long best_max = nr, best_sum = 0;
	int *cnt = B->cnt, kmax = 4;
	while (kmax < CLS_KMAX && (1 << kmax) < 4 * nr)
		kmax++;
	for (int d = 0; d < B->ndims; d++) {
		for (int k = 1; k <= kmax && k <= g->rb[d]; k++) {
			memset(cnt, 0, sizeof(int) * ((1u << k) + 1));
			long sum = 0;
			for (int i = 0; i < nr; i++) {
				int c0, c1;
				child_span(&B->R[rules[i]], g, d, k, &c0, &c1);
				cnt[c0]++;
				cnt[c1 + 1]--;
				sum += c1 - c0 + 1;
			}
			if (k > 1 && sum > (long)CLS_SPFAC * nr)
				break;
			long mx = 0, run = 0;
			for (int c = 0; c < (1 << k); c++) {
				run += cnt[c];
				if (run > mx)
					mx = run;
			}
			if (mx < best_max || (mx == best_max && mx < nr && sum < best_sum)) {
				best_max = mx;
				best_sum = sum;
				*bd = d;
				*bk = k;
			}
		}
	}
	return best_max < nr;
}

static void build_node(struct builder *B, int node, int *rules, int nr, const struct region *g, int depth);

static void cut_node(struct builder *B, int node, const int *rules, int nr, const struct region *g, int depth,
		     int d, int k)
{
	int nc = 1 << k, first = B->nnodes;
	if (!grow((void **)&B->nodes, &B->ncap, B->nnodes + nc, sizeof(uint64_t))) {
		B->nomem = true;
		return;
	}
	B->nnodes += nc;
	B->t->nnodes += nc;
	int sh = g->rb[d] - k;
	B->nodes[node] = (uint64_t)(nc - 1) << 48 | (uint64_t)sh << 40 | (uint64_t)d << 32 | (uint32_t)first;
	int *sub = malloc(sizeof(int) * (size_t)(nr + 1));
	if (!sub) {
		B->nomem = true;
		return;
	}
	for (int c = 0; c < nc && !B->nomem; c++) {
		int ns = 0;
		for (int i = 0; i < nr; i++) {
			int c0, c1;
			child_span(&B->R[rules[i]], g, d, k, &c0, &c1);
			if (c0 <= c && c <= c1)
				sub[ns++] = rules[i];
		}
		struct region cg = *g;
		cg.base[d] = g->base[d] + ((uint64_t)c << sh);
		cg.rb[d] = sh;
		build_node(B, first + c, sub, ns, &cg, depth + 1);
	}
	free(sub);
}

/* Shrink region g on each dimension to the smallest aligned block that
 * holds every rule's part of it. Packets outside it match none of the
 * node's rules, and leaves check whole boxes, so where they end up does
 * not matter: the cuts below can start at the bits that tell the rules
 * apart (ports below 1024 need no cut of their top six bits). */
static void compact(const struct builder *B, const int *rules, int nr, struct region *g)
{
	for (int d = 0; d < B->ndims && nr > 0; d++) {
		uint64_t diff = 0, ref = 0;
		for (int i = 0; i < nr; i++) {
			const struct box *b = &B->R[rules[i]];
			uint64_t lo = b->lo[d] > g->base[d] ? b->lo[d] : g->base[d];
			uint64_t hi = b->hi[d] < region_hi(g, d) ? b->hi[d] : region_hi(g, d);
			if (!i)
				ref = lo;
			diff |= (lo ^ ref) | (hi ^ ref);
		}
		int nb = 0;
		while (nb < 64 && (diff >> nb))
			nb++;
		if (nb < g->rb[d]) {
			g->base[d] = ref & ~low_mask(nb);
			g->rb[d] = nb;
		}
	}
}

static void build_node(struct builder *B, int node, int *rules, int nr, const struct region *g0, int depth)
{
	struct region gc = *g0, *g = &gc;
	compact(B, rules, nr, g);
	for (int i = 0; i < nr; i++)
		if (covers(B, &B->R[rules[i]], g)) {
			nr = i + 1; /* later rules never decide here */
			break;
		}
	int d = 0, k = 0;
	if (nr <= CLS_BINTH || depth >= CLS_MAX_DEPTH || !choose_cut(B, rules, nr, g, &d, &k)) {
		make_leaf(B, node, rules, nr, depth);
		return;
	}
	cut_node(B, node, rules, nr, g, depth, d, k);
}

/* One tree over rules[0..nr) (positions, ascending). */
static void build_tree(struct builder *B, int *rules, int nr)
{
	struct region g;
	for (int d = 0; d < B->ndims; d++) {
		g.base[d] = 0;
		g.rb[d] = B->bits[d];
	}
	if (!grow((void **)&B->nodes, &B->ncap, B->nnodes + 1, sizeof(uint64_t))) {
		B->nomem = true;
		return;
	}
	B->t->root = B->nnodes++;
	B->t->nnodes = 1;
	B->t->first = nr ? rules[0] : 0;
	B->t->nrules = nr;
	build_node(B, B->t->root, rules, nr, &g, 1);
}

/* ---------------------------------------------------------------- subsets */

/* Bits of dimension d that tell the rules apart: its width less the top
 * bits every rule's range shares (all rules' ip6 prefixes in one /64: 0). */
static int spread_bits(const struct builder *B, const int *rules, int nr, int d)
{
	uint64_t diff = 0, ref = nr ? B->R[rules[0]].lo[d] : 0;
	for (int i = 0; i < nr; i++)
		diff |= (B->R[rules[i]].lo[d] ^ ref) | (B->R[rules[i]].hi[d] ^ ref);
	int n = 0;
	while (diff) {
		n++;
		diff >>= 1;
	}
	return n;
}

static bool narrow(const struct box *b, int d, int spread)
{
	return ((b->hi[d] - b->lo[d]) >> (spread / 2)) == 0;
}

/* The next subset of rules[0..*nr) (ascending): the rules narrow on the
 * dimension most of them are narrow on; the rest stay in rules. Returns
 * the subset's size (in sub). */
static int take_subset(const struct builder *B, int *rules, int *nr, int *sub, bool last, int total)
{
	int bd = -1, best = 0;
	(void)total;
	for (int d = 0; d < B->ndims && !last; d++) {
		int spread = spread_bits(B, rules, *nr, d);
		if (spread < 12)
			continue; /* protocols, flags: few values, no separation */
		int n = 0;
		for (int i = 0; i < *nr; i++)
			n += narrow(&B->R[rules[i]], d, spread);
		if (n > best)
			best = n, bd = d;
	}
	int ns = 0, nk = 0;
	int spread = bd >= 0 ? spread_bits(B, rules, *nr, bd) : 0;
	for (int i = 0; i < *nr; i++) {
		if (bd < 0 || best * 8 < *nr || narrow(&B->R[rules[i]], bd, spread))
			sub[ns++] = rules[i];
		else
			rules[nk++] = rules[i];
	}
	*nr = nk;
	return ns;
}

static int cmp_int(const void *x, const void *y)
{
	return *(const int *)x - *(const int *)y;
}

/* A tree for sub[0..ns); rules that overflow a leaf go back to rest
 * (kept ascending). false: out of memory. */
static bool tree_of(struct builder *B, int *sub, int ns, int *rest, int *nrest)
{
	int n0 = B->nnodes, l0 = B->nlist;
	for (int pass = 0;; pass++) {
		memset(B->t, 0, sizeof(*B->t));
		build_tree(B, sub, ns);
		if (B->nomem)
			return false;
		int k = 0, moved = 0;
		for (int i = 0; i < ns; i++) {
			if (B->overflow[sub[i]]) {
				B->overflow[sub[i]] = false;
				rest[(*nrest)++] = sub[i];
				moved++;
			} else {
				sub[k++] = sub[i];
			}
		}
		if (!moved)
			break;
		ns = k;
		B->nnodes = n0;
		B->nlist = l0;
		(void)pass;
	}
	qsort(rest, (size_t)*nrest, sizeof(int), cmp_int);
	return true;
}

/* The trees of the run: false when they do not fit CLS_MAX_TREES. */
static bool build_trees(struct builder *B, struct ir_classifier *C, int n)
{
	int *rest = malloc(sizeof(int) * (size_t)(n + 1)), *sub = malloc(sizeof(int) * (size_t)(n + 1));
	int nr = 0;
	bool ok = rest && sub;
	for (int i = 0; ok && i < n; i++)
		if (!B->R[i].empty)
			rest[nr++] = i;
	while (ok && nr > 0) {
		if (C->ntrees == CLS_MAX_TREES) {
			ok = false;
			break;
		}
		int ns = take_subset(B, rest, &nr, sub, C->ntrees == CLS_MAX_TREES - 1, n);
		B->t = &C->trees[C->ntrees++];
		ok = tree_of(B, sub, ns, rest, &nr);
	}
	free(rest);
	free(sub);
	return ok;
}

static int cmp_tree(const void *x, const void *y)
{
	return ((const struct ir_cls_tree *)x)->first - ((const struct ir_cls_tree *)y)->first;
}

static void put_le(uint8_t *p, int n, uint64_t v)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (uint8_t)v; /* host order: BPF targets here are little-endian */
}

/* The record layout (classify.h). */
static void layout(struct ir_classifier *C)
{
	int off = 0;
	for (int d = 0; d < C->ndims; d++) {
		C->dim_bytes[d] = C->dims[d].bits > 32 ? 8 : 4;
		off = (off + C->dim_bytes[d] - 1) / C->dim_bytes[d] * C->dim_bytes[d];
		C->dim_off[d] = off;
		off += 2 * C->dim_bytes[d];
	}
	C->rec_size = (off + 8 + 7) / 8 * 8;
}

static bool make_blob(struct arena *a, struct ir_classifier *C, const struct builder *B,
		      const struct ir_program *ir, int first)
{
	layout(C);
	C->nnodes = B->nnodes;
	C->nlist = B->nlist;
	C->list_off = (size_t)B->nnodes * 8;
	C->rules_off = (C->list_off + (size_t)B->nlist * 4 + 7) / 8 * 8;
	C->blob_size = C->rules_off + (size_t)C->nrules * (size_t)C->rec_size;
	if (C->blob_size > CLS_MAX_BLOB)
		return false;
	C->blob = arena_alloc(a, C->blob_size);
	memset(C->blob, 0, C->blob_size);
	for (int i = 0; i < B->nnodes; i++)
		put_le(C->blob + (size_t)i * 8, 8, B->nodes[i]);
	for (int i = 0; i < B->nlist; i++)
		put_le(C->blob + C->list_off + (size_t)i * 4, 4, B->list[i]);
	for (int i = 0; i < C->nrules; i++) {
		uint8_t *r = C->blob + C->rules_off + (size_t)i * (size_t)C->rec_size;
		const struct box *b = &B->R[i];
		for (int d = 0; d < C->ndims; d++) {
			put_le(r + C->dim_off[d], C->dim_bytes[d], b->lo[d]);
			put_le(r + C->dim_off[d] + C->dim_bytes[d], C->dim_bytes[d], b->hi[d] - b->lo[d]);
		}
		const struct ir_rule *rule = &ir->rules[first + i];
		put_le(r + C->rec_size - 8, 4, b->need);
		put_le(r + C->rec_size - 4, 4, IR_GROUP_VALUE(rule->index, ir_verdict_action(rule->verdict.kind)));
	}
	return true;
}

struct ir_classifier *cls_build(struct arena *a, const struct ir_program *ir, int first, int n)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct dimset S = { .n = 0 };
	struct box *R = calloc((size_t)n + 1, sizeof(*R));
	bool *over = calloc((size_t)n + 1, sizeof(bool));
	struct builder B = { .R = R, .overflow = over, .cnt = malloc(sizeof(int) * ((1u << CLS_KMAX) + 1)) };
	struct ir_classifier *C = NULL;
	bool ok = R && over && B.cnt;
	for (int i = 0; ok && i < n; i++)
		ok = rule_box(&S, &ir->rules[first + i], &R[i]);
	if (ok) {
		C = arena_alloc(a, sizeof(*C));
		memset(C, 0, sizeof(*C));
		C->ndims = B.ndims = S.n;
		C->nrules = n;
		memcpy(C->dims, S.d, sizeof(S.d));
		for (int d = 0; d < S.n; d++) {
			B.bits[d] = S.d[d].bits;
			for (int i = 0; i < n; i++)
				if (R[i].hi[d] > low_mask(B.bits[d]))
					R[i].hi[d] = low_mask(B.bits[d]);
		}
		ok = build_trees(&B, C, n) && make_blob(a, C, &B, ir, first);
		qsort(C->trees, (size_t)C->ntrees, sizeof(C->trees[0]), cmp_tree);
	}
	free(R);
	free(over);
	free(B.nodes);
	free(B.list);
	free(B.cnt);
	if (!ok)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	C->build_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	return C;
}

/* ---------------------------------------------------------------- explain */

static void print_key(FILE *f, const struct ir_program *ir, const struct ir_val *v)
{
	if (v->kind == IV_COALESCE) {
		for (int i = 0; i < v->nkeys; i++) {
			fputs(i ? "|" : "", f);
			print_key(f, ir, v->keys[i]);
		}
		return;
	}
	const struct ir_header *h = &ir->headers[v->hdr];
	fprintf(f, "%s.%s", h->name, h->fields[v->field].name);
}

/* BPF instructions, roughly: a node step, a rule check, a dimension read. */
#define COST_STEP 14
#define COST_RULE(ndims) (10 + 5 * (ndims))
#define COST_DIM 8

static long explain_cls(FILE *f, const struct ir_program *ir, const struct ir_group *g, int index)
{
	const struct ir_classifier *C = g->cls;
	fprintf(f, "rules %d..%d (%d): classifier, %d dimensions:", g->first, g->first + g->n - 1, g->n, C->ndims);
	for (int d = 0; d < C->ndims; d++) {
		fputc(' ', f);
		print_key(f, ir, C->dims[d].key);
		if (C->dims[d].key->bits > 64)
			fputs(C->dims[d].part ? "[64:128]" : "[0:64]", f);
	}
	fputc('\n', f);
	long steps = 0, checks = 0;
	for (int t = 0; t < C->ntrees; t++) {
		const struct ir_cls_tree *T = &C->trees[t];
		fprintf(f, "  tree %d: %d rules (first: rule %d), depth %d, largest leaf %d, %d nodes, "
			   "%d leaves, %ld leaf entries\n",
			t, T->nrules, g->first + T->first, T->depth, T->max_leaf, T->nnodes, T->nleaves, T->nentries);
		steps += T->depth;
		checks += T->max_leaf;
	}
	fprintf(f, "  data: %zu bytes in .rodata.cls%d (%d nodes x 8, %d list entries x 4, %d rules x %d), "
		   "built in %.1f ms\n",
		C->blob_size, index, C->nnodes, C->nlist, C->nrules, C->rec_size, C->build_ms);
	long cost = C->ndims * COST_DIM + steps * COST_STEP + checks * COST_RULE(C->ndims);
	fprintf(f, "  worst case per packet: %ld node steps + %ld rule checks, ~%ld BPF instructions\n", steps,
		checks, cost);
	return cost;
}

void ir_explain(FILE *f, const struct ir_program *ir)
{
	long cost = 0;
	int grouped = 0;
	fprintf(f, "%d rules", ir->nrules);
	if (ir->nrules <= IR_INLINE_RULES_MAX)
		fprintf(f, " (<= %d: compiled rule by rule, no groups)", IR_INLINE_RULES_MAX);
	fputc('\n', f);
	for (int i = 0; i < ir->ngroups; i++) {
		const struct ir_group *g = &ir->groups[i];
		grouped += g->n;
		if (g->cls) {
			cost += explain_cls(f, ir, g, i);
			continue;
		}
		const struct ir_map *m = g->map;
		fprintf(f, "rules %d..%d (%d): one lookup in %s (%s, %d entries, key %d bytes)\n", g->first,
			g->first + g->n - 1, g->n, m->name, m->kind == IRM_LPM ? "lpm trie" : "hash", m->ninit,
			m->key_size);
		cost += 40;
	}
	int single = ir->nrules - grouped;
	fprintf(f, "rule by rule: %d rules\n", single);
	fprintf(f, "estimated worst case per packet: ~%ld BPF instructions in groups and classifiers, "
		   "plus those of %d single rules\n", cost, single);
}
