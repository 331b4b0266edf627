/* Checksums the parser did not reach (reference §12): a rewrite of a
 * pseudo-header address whose covering checksum lies in a header the
 * parser did not extract makes the rule not match, so no packet leaves
 * with a checksum the rewrite made wrong. Derived from the parse graph
 * and the stdlib's checksum declarations, for two ways of stopping short:
 *
 *  - the parse was cut: header X is present and its select picks a way
 *    toward a covering checksum that was not taken (a `loop N` state
 *    entered once more than allowed: the transport behind more IPv6
 *    extension headers than are skipped; or a truncated header);
 *  - the header is an instance of another's layout (ip4_inner = ip4)
 *    whose own state stops where the original's goes on: the original's
 *    selects, read on the instance's fields, say whether a covering
 *    checksum (the inner TCP/UDP) follows. */
#include "lower_internal.h"

#define REACH_DEPTH 16

struct reach {
	int h, f;        /* the written field */
	int x;           /* whose selects are read */
	int from, to;    /* keys read header `from` as `to` (layout walk) */
	bool layout;
};

/* Does header y carry a checksum covering the pseudo-header field (h, f)? */
static bool covers_pseudo(const struct ir_program *p, int y, int h, int f)
{
	const struct ir_header *Y = &p->headers[y], *H = &p->headers[h];
	return Y->csum_field >= 0 && Y->csum_kind == IR_CSUM_PSEUDO && (f == H->addr_src || f == H->addr_dst) &&
	       p->hdr_after[h * p->nheaders + y];
}

/* Can a covering checksum follow header y? */
static bool cover_after(const struct ir_program *p, const struct reach *R, int y)
{
	int h = R->layout ? R->from : R->h;
	for (int k = 0; k < p->nheaders; k++)
		if (p->hdr_after[y * p->nheaders + k] && covers_pseudo(p, k, h, R->f))
			return true;
	return false;
}

/* None of the covering checksums that can follow header y is present. */
static struct ir_cond *none_after(struct lctx *c, const struct reach *R, int y)
{
	const struct ir_program *p = c->ir;
	struct ptrvec kids = { 0 };
	for (int k = 0; k < p->nheaders; k++)
		if (p->hdr_after[y * p->nheaders + k] && covers_pseudo(p, k, R->h, R->f)) {
			struct ir_cond *x = mkcond(c, IC_PRESENT);
			x->hdr = k;
			ptrvec_push(c->a, &kids, c_not(c, x));
		}
	return kids.len ? c_join(c, IC_AND, (struct ir_cond **)kids.items, kids.len) : NULL;
}

/* v with header `from`'s fields read from `to` (NULL: not expressible) */
static struct ir_val *val_subst(struct lctx *c, const struct ir_val *v, int from, int to)
{
	if (!v)
		return NULL;
	switch (v->kind) {
	case IV_CONST:
		return (struct ir_val *)v;
	case IV_FIELD: {
		if (v->hdr != from)
			return NULL;
		struct ir_val *x = mkval(c, IV_FIELD, v->type, v->bits);
		*x = *v;
		x->hdr = to;
		return x;
	}
	case IV_BIN: {
		struct ir_val *a = val_subst(c, v->a, from, to), *b = val_subst(c, v->b, from, to);
		return a && b ? vbin(c, v->op, a, b, v->type, v->bits) : NULL;
	}
	default:
		return NULL;
	}
}

/* The key is in arm i's values or ranges (the default arm: in none of
 * the others'). */
static struct ir_cond *arm_cond(struct lctx *c, const struct ir_state *st, int i, struct ir_val *key)
{
	const struct ir_arm *A = &st->arms[i];
	if (!A->nvalues && !A->nranges) {
		struct ir_cond **others = arena_alloc(c->a, sizeof(*others) * (size_t)(st->narms + 1));
		for (int j = 0; j < st->narms; j++)
			others[j] = j == i ? NULL : arm_cond(c, st, j, key);
		return c_not(c, c_join(c, IC_OR, others, st->narms));
	}
	int n = A->nvalues + A->nranges;
	struct ir_cond **kids = arena_alloc(c->a, sizeof(*kids) * (size_t)(n + 1));
	for (int k = 0; k < A->nvalues; k++) {
		struct ir_cond *x = mkcond(c, IC_CMP);
		x->cmp = ICMP_EQ;
		x->a = key;
		x->b = kconst(c, key->type, key->bits, (u128)A->values[k]);
		kids[k] = x;
	}
	for (int k = 0; k < A->nranges; k++) {
		struct ir_cond *x = mkcond(c, A->lo[k] < A->hi[k] ? IC_RANGE : IC_CMP);
		x->cmp = ICMP_EQ;
		x->a = key;
		x->lo = x->b = kconst(c, key->type, key->bits, (u128)A->lo[k]);
		x->hi = kconst(c, key->type, key->bits, (u128)A->hi[k]);
		kids[A->nvalues + k] = x;
	}
	return c_join(c, IC_OR, kids, n);
}

/* When parsing on from state s (X's fields as the select keys) leads to
 * a covering checksum the parser did not extract; NULL: never. */
static struct ir_cond *walk(struct lctx *c, const struct reach *R, int s, int depth)
{
	const struct ir_program *p = c->ir;
	if (s < 0 || s >= p->nstates || depth > REACH_DEPTH)
		return NULL;
	const struct ir_state *st = &p->states[s];
	int own = R->layout ? R->from : R->x;
	if (depth > 0 && st->header >= 0) {
		int y = st->header;
		if (y == own) /* once more round a loop: not taken */
			return cover_after(p, R, y) ? c_true(c) : NULL;
		if (covers_pseudo(p, y, R->layout ? R->from : R->h, R->f)) {
			if (R->layout)
				return c_true(c);
			struct ir_cond *x = mkcond(c, IC_PRESENT);
			x->hdr = y;
			return c_not(c, x);
		}
		/* another header: its own selects are read where it is present;
		 * behind a layout, nothing of it was parsed. Its slot may hold
		 * an instance from before X (ip6ext, then ip6frag, then ip6ext
		 * once more than the loop allows): then only the covering
		 * headers' absence tells. */
		if (!cover_after(p, R, y))
			return NULL;
		if (R->layout)
			return c_true(c);
		return p->hdr_after[y * p->nheaders + R->x] ? none_after(c, R, y) : NULL;
	}
	if (!st->key)
		return walk(c, R, st->next_state, depth + 1);
	struct ir_val *key = R->layout ? val_subst(c, st->key, R->from, R->to) : st->key;
	if (!key)
		return NULL;
	struct ir_cond **alts = arena_alloc(c->a, sizeof(*alts) * (size_t)(st->narms + 2));
	int n = 0;
	for (int i = 0; i < st->narms; i++) {
		struct ir_cond *sub = walk(c, R, st->arms[i].target, depth + 1);
		if (sub)
			alts[n++] = c_join(c, IC_AND, (struct ir_cond *[]){ arm_cond(c, st, i, key), sub }, 2);
	}
	if (!st->narms) {
		struct ir_cond *sub = walk(c, R, st->next_state, depth + 1);
		if (sub)
			alts[n++] = sub;
	}
	return n ? c_join(c, IC_OR, alts, n) : NULL;
}

/* OR over the states extracting header x of walk() from there. */
static struct ir_cond *walk_from(struct lctx *c, const struct reach *R, int x)
{
	const struct ir_program *p = c->ir;
	struct ptrvec alts = { 0 };
	for (int s = 0; s < p->nstates; s++)
		if (p->states[s].header == x) {
			struct ir_cond *w = walk(c, R, s, 0);
			if (w)
				ptrvec_push(c->a, &alts, w);
		}
	return alts.len ? c_join(c, IC_OR, (struct ir_cond **)alts.items, alts.len) : NULL;
}

struct ir_cond *lower_csum_unreached(struct lctx *c, int h, int f)
{
	const struct ir_program *p = c->ir;
	const struct ir_header *H = &p->headers[h];
	if (!p->hdr_after || H->is_meta || (f != H->addr_src && f != H->addr_dst))
		return NULL;
	struct ptrvec alts = { 0 };
	for (int x = 0; x < p->nheaders; x++) {
		if (x != h && !p->hdr_after[h * p->nheaders + x])
			continue;
		struct reach R = { .h = h, .f = f, .x = x };
		struct ir_cond *w = walk_from(c, &R, x);
		if (!w)
			continue;
		struct ir_cond *pres = mkcond(c, IC_PRESENT);
		pres->hdr = x;
		ptrvec_push(c->a, &alts, c_join(c, IC_AND, (struct ir_cond *[]){ pres, w }, 2));
	}
	const struct ast_header *A = NULL;
	for (int i = 0; i < c->p->nheaders; i++)
		if (c->p->headers[i]->index == h)
			A = c->p->headers[i];
	int o = A && A->layout && A->layout != A ? A->layout->index : -1;
	if (o >= 0 && o < p->nheaders) {
		struct reach R = { .h = h, .f = f, .x = h, .from = o, .to = h, .layout = true };
		struct ir_cond *w = walk_from(c, &R, o);
		if (w)
			ptrvec_push(c->a, &alts, w);
	}
	return alts.len ? c_join(c, IC_OR, (struct ir_cond **)alts.items, alts.len) : NULL;
}
