/* Rules that can never match or never apply (warnings).
 *
 * A rule holds only when every fact its match requires holds together with
 * the facts its limit keys and rewrite need (reference §7-§12: a field of an
 * absent header makes its atom false, a rewrite or limit key reading an
 * absent header makes the rule not match). Two kinds of facts conflict:
 *   - headers: "tcp is present" and "udp is present" when no path of the
 *     parse graph extracts both (the compiler knows no protocol: which
 *     headers can be on one packet is read from the declared graph);
 *   - values: constraints on one field whose sets of values are disjoint
 *     (x == 1 and x == 2, two disjoint prefixes, ranges, set literals).
 * A conjunction conflicts when two of its facts do; an `or` only when every
 * alternative does; `not` requires nothing (conservative). Everything here
 * is sound: a warning means no packet can make the rule apply; a missing
 * warning is allowed. Long and/or chains are walked without recursion. */
#include "sema_internal.h"

#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* ---------------------------------------------------------------- header co-occurrence */

/* co[a * n + b]: headers a and b can both be present on one packet: some
 * state reachable from the start extracts one of them and reaches (or is) a
 * state extracting the other. Headers no reachable state extracts are
 * treated as compatible with everything (nothing is known of them). */
static unsigned char *graph_cooccur(struct sema *s)
{
	const struct sema_program *p = s->p;
	int n = s->headers.len, S = p->nstates;
	unsigned char *co = arena_alloc(s->a, (size_t)n * (size_t)n + 1);
	unsigned char *reach = arena_alloc(s->a, (size_t)S * (size_t)S + 1);
	int *queue = arena_alloc(s->a, sizeof(int) * ((size_t)S + 1));
	for (int from = 0; from < S; from++) {
		unsigned char *r = reach + (size_t)from * (size_t)S;
		int qh = 0, qt = 0;
		r[from] = 1;
		queue[qt++] = from;
		while (qh < qt) {
			const struct ast_state *st = p->states[queue[qh++]];
			for (int i = 0; i < st->nstmts; i++) {
				const struct ast_pstmt *ps = st->stmts[i];
				int narm = ps->kind == PS_SELECT ? ps->narms : ps->kind == PS_NEXT ? 1 : 0;
				for (int j = 0; j < narm; j++) {
					const struct ast_target *t = ps->kind == PS_NEXT ? &ps->target : &ps->arms[j]->target;
					if (t->resolved && !r[t->resolved->index]) {
						r[t->resolved->index] = 1;
						queue[qt++] = t->resolved->index;
					}
				}
			}
		}
	}
	bool *seen = arena_alloc(s->a, (size_t)n + 1);
	const unsigned char *live = p->start ? reach + (size_t)p->start->index * (size_t)S : NULL;
	for (int a = 0; live && a < S; a++) {
		for (int b = 0; live[a] && b < S; b++) {
			if (!reach[(size_t)a * (size_t)S + b])
				continue;
			const struct ast_state *x = p->states[a], *y = p->states[b];
			for (int i = 0; i < x->nstmts; i++) {
				for (int j = 0; x->stmts[i]->kind == PS_EXTRACT && j < y->nstmts; j++) {
					const struct ast_header *h1 = x->stmts[i]->hdr, *h2 = y->stmts[j]->hdr;
					if (y->stmts[j]->kind != PS_EXTRACT || !h1 || !h2)
						continue;
					co[h1->index * n + h2->index] = co[h2->index * n + h1->index] = 1;
					seen[h1->index] = seen[h2->index] = true;
				}
			}
		}
	}
	for (int a = 0; a < n; a++)
		for (int b = 0; !seen[a] && b < n; b++)
			co[a * n + b] = co[b * n + a] = 1;
	return co;
}

/* ---------------------------------------------------------------- value sets */

/* A set of values of one field as at most IV_MAX disjoint sorted
 * intervals. Anything that would need more is widened (hull of the tail),
 * which keeps the analysis sound. */
#define IV_MAX 8

struct ivset {
	int n;
	u128 lo[IV_MAX], hi[IV_MAX];
};

static u128 bits_max(int bits)
{
	return bits >= 128 ? ~(u128)0 : ((u128)1 << bits) - 1;
}

static void iv_one(struct ivset *v, u128 lo, u128 hi)
{
	v->n = lo <= hi;
	v->lo[0] = lo;
	v->hi[0] = hi;
}

static void iv_add(struct ivset *v, u128 lo, u128 hi)
{
	if (v->n == IV_MAX) {
		if (hi > v->hi[IV_MAX - 1])
			v->hi[IV_MAX - 1] = hi;
		return;
	}
	v->lo[v->n] = lo;
	v->hi[v->n++] = hi;
}

static void iv_intersect(struct ivset *out, const struct ivset *a, const struct ivset *b)
{
	struct ivset r = { 0 };
	for (int i = 0, j = 0; i < a->n && j < b->n;) {
		u128 lo = a->lo[i] > b->lo[j] ? a->lo[i] : b->lo[j];
		u128 hi = a->hi[i] < b->hi[j] ? a->hi[i] : b->hi[j];
		if (lo <= hi)
			iv_add(&r, lo, hi);
		if (a->hi[i] < b->hi[j])
			i++;
		else
			j++;
	}
	*out = r;
}

static bool iv_eq(const struct ivset *a, const struct ivset *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++)
		if (a->lo[i] != b->lo[i] || a->hi[i] != b->hi[i])
			return false;
	return true;
}

/* The big-endian number of an address or integer literal, or the interval
 * of a prefix. */
static bool lit_interval(const struct xdpl_lit *l, u128 *lo, u128 *hi)
{
	int nb = 0, plen = -1;
	switch (l->kind) {
	case LIT_INT:
	case LIT_BOOL:
		*lo = *hi = l->u;
		return true;
	case LIT_MAC: nb = 6; break;
	case LIT_IP4: nb = 4; break;
	case LIT_IP6: nb = 16; break;
	case LIT_PREFIX4: nb = 4, plen = l->plen; break;
	case LIT_PREFIX6: nb = 16, plen = l->plen; break;
	default:
		return false;
	}
	u128 v = 0;
	for (int i = 0; i < nb; i++)
		v = v << 8 | l->bytes[i];
	u128 host = plen < 0 ? 0 : bits_max(nb * 8 - plen);
	*lo = v & ~host;
	*hi = v | host;
	return true;
}

/* One element of a literal collection: a value, prefix or lo..hi. */
static bool elem_interval(const struct ast_expr *el, u128 *lo, u128 *hi)
{
	if (el->kind == E_RANGE) {
		const struct xdpl_lit *a = expr_const_lit(el->lhs), *b = expr_const_lit(el->rhs);
		u128 x, y;
		return a && b && lit_interval(a, lo, &x) && lit_interval(b, &y, hi);
	}
	const struct xdpl_lit *l = expr_const_lit(el);
	return l && lit_interval(l, lo, hi);
}

static int cmp_lo(const void *a, const void *b)
{
	const u128 *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* The values of `x in COLLECTION` for a literal collection; false when the
 * collection is not literal (a named set: its contents are not known). */
static bool collection_set(const struct ast_expr *r, struct ivset *out)
{
	struct ast_expr *const *els = r->kind == E_SETLIT ? r->args : (struct ast_expr *const[]){ (struct ast_expr *)r };
	int n = r->kind == E_SETLIT ? r->nargs : 1;
	if (r->kind != E_SETLIT && r->kind != E_RANGE && r->kind != E_LIT)
		return false;
	u128 *iv = malloc(sizeof(u128) * 2 * ((size_t)n + 1));
	if (!iv)
		return false;
	bool ok = true;
	for (int i = 0; ok && i < n; i++)
		ok = elem_interval(els[i], &iv[2 * i], &iv[2 * i + 1]);
	if (ok) {
		qsort(iv, (size_t)n, 2 * sizeof(u128), cmp_lo);
		*out = (struct ivset){ 0 };
		for (int i = 0; i < n; i++) {
			u128 last = out->n ? out->hi[out->n - 1] : 0;
			if (out->n && (last == ~(u128)0 || iv[2 * i] <= last + 1)) {
				if (iv[2 * i + 1] > out->hi[out->n - 1])
					out->hi[out->n - 1] = iv[2 * i + 1];
				continue;
			}
			iv_add(out, iv[2 * i], iv[2 * i + 1]);
		}
	}
	free(iv);
	return ok;
}

/* The values of `x OP c` for x of width bits. */
static void cmp_set(enum binop op, u128 c, int bits, struct ivset *out)
{
	u128 max = bits_max(bits);
	*out = (struct ivset){ 0 };
	switch (op) {
	case OP_EQ: iv_one(out, c, c); break;
	case OP_NE:
		if (c > 0)
			iv_add(out, 0, c - 1);
		if (c < max)
			iv_add(out, c + 1, max);
		break;
	case OP_LT: if (c > 0) iv_one(out, 0, c - 1); break;
	case OP_LE: iv_one(out, 0, c); break;
	case OP_GT: if (c < max) iv_one(out, c + 1, max); break;
	case OP_GE: iv_one(out, c, max); break;
	default: iv_one(out, 0, max); break;
	}
}

static enum binop flip_cmp(enum binop op)
{
	switch (op) {
	case OP_LT: return OP_GT;
	case OP_LE: return OP_GE;
	case OP_GT: return OP_LT;
	case OP_GE: return OP_LE;
	default: return op;
	}
}

static int type_bits(struct xdpl_type t)
{
	switch (t.kind) {
	case TY_UINT: return t.bits;
	case TY_BOOL: return 1;
	case TY_MAC: return 48;
	case TY_IP4: return 32;
	case TY_IP6: return 128;
	default: return 0;
	}
}

/* A value that constraints can be kept for: a field, meta variable or pkt
 * field (not an alias: which alternative it reads depends on the packet). */
static bool is_plain_value(const struct ast_expr *e)
{
	if (e->kind != E_NAME || type_bits(e->type) == 0)
		return false;
	return e->ref.kind == REF_FIELD || e->ref.kind == REF_META || e->ref.kind == REF_PKT;
}

static bool same_value(const struct ast_expr *a, const struct ast_expr *b)
{
	return a->ref.kind == b->ref.kind && a->ref.hdr == b->ref.hdr && a->ref.field == b->ref.field &&
	       (a->ref.kind != REF_PKT || a->ref.pkt_field == b->ref.pkt_field);
}

/* ---------------------------------------------------------------- facts */

/* What requires a fact, for messages: "`tcp.dport == 80`", "the rewrite
 * of udp.dport", "the limit key ip6.src". from_match: part of the match
 * (a conflict only with match facts is "can never match", else "apply"). */
struct why {
	const char *fmt;           /* with one %s: the source text of e, */
	const struct ast_expr *e;  /* formatted only for a message (a match
				    * may be 100k atoms on one line) */
	struct xdpl_loc loc;
	bool from_match;
};

static const char *why_text(struct sema *s, const struct why *w)
{
	return arena_printf(s->a, w->fmt, expr_str(s, w->e));
}

struct vfact {              /* the values a field may still take */
	const struct ast_expr *key;
	struct ivset set;
	const struct why *last; /* the fact that narrowed it last */
	int count;              /* how many facts narrowed it */
};

struct anyfact {            /* one of a generic name's headers */
	const struct ast_alias *alias;
	const struct why *why;
};

struct sat {
	struct sema *s;
	int nh;
	const unsigned char *co;      /* NULL: no header reasoning */
	const struct why **hreq;      /* per header: what requires it */
	int *hlist, nhlist;           /* required headers, in order */
	struct anyfact *anys;
	int nanys, capanys;
	struct vfact *vals;           /* stack; the topmost entry of a key is current */
	int nvals, capvals;
	/* the conflict found */
	const char *reason;
	struct xdpl_loc where;
	bool apply;                   /* a fact outside the match is involved */
};

struct mark {
	int nhlist, nanys, nvals;
};

static struct mark sat_mark(const struct sat *t)
{
	return (struct mark){ t->nhlist, t->nanys, t->nvals };
}

static void sat_undo(struct sat *t, struct mark m)
{
	while (t->nhlist > m.nhlist)
		t->hreq[t->hlist[--t->nhlist]] = NULL;
	t->nanys = m.nanys;
	t->nvals = m.nvals;
}

static void *grow(void *p, int *cap, int need, size_t size)
{
	if (need <= *cap)
		return p;
	int nc = *cap ? *cap * 2 : 16;
	void *q = realloc(p, (size_t)nc * size);
	if (!q) {
		fprintf(stderr, "xdplc: out of memory\n");
		exit(2);
	}
	*cap = nc;
	return q;
}

static void conflict(struct sat *t, const struct why *a, const struct why *b, const char *reason)
{
	t->reason = reason;
	t->where = b->loc;
	t->apply = !a->from_match || !b->from_match;
}

static void header_conflict(struct sat *t, const struct why *a, const char *ha, const struct why *b,
			    const char *hb)
{
	const char *ta = why_text(t->s, a);
	const char *why = a == b ? arena_printf(t->s->a, "%s needs both %s and %s", ta, ha, hb)
				 : arena_printf(t->s->a, "%s needs %s and %s needs %s", ta, ha,
						why_text(t->s, b), hb);
	conflict(t, a, b, arena_printf(t->s->a, "%s, but no path of the parse graph has both", why));
}

static bool need_header(struct sat *t, const struct ast_header *h, const struct why *w)
{
	if (!t->co || !h || h->is_meta || t->hreq[h->index])
		return true;
	for (int i = 0; i < t->nhlist; i++) {
		int o = t->hlist[i];
		if (t->co[h->index * t->nh + o])
			continue;
		const struct ast_header *oh = t->s->headers.items[o];
		header_conflict(t, t->hreq[o], oh->name, w, h->name);
		return false;
	}
	t->hreq[h->index] = w;
	t->hlist[t->nhlist++] = h->index;
	return true;
}

static void need_any(struct sat *t, const struct ast_alias *al, const struct why *w)
{
	if (!t->co || !al)
		return;
	for (int i = 0; i < t->nanys; i++)
		if (t->anys[i].alias == al)
			return;
	t->anys = grow(t->anys, &t->capanys, t->nanys + 1, sizeof(*t->anys));
	t->anys[t->nanys++] = (struct anyfact){ al, w };
}

/* A generic name needs one of its alternatives' headers, compatible with
 * every header required so far. */
static bool check_any(struct sat *t, const struct anyfact *f)
{
	int excl = -1;
	for (int i = 0; i < f->alias->nalts; i++) {
		const struct ast_header *h = f->alias->alts[i]->ref.hdr;
		if (!h || h->is_meta)
			return true;
		int bad = -1;
		for (int k = 0; k < t->nhlist && bad < 0; k++)
			if (!t->co[h->index * t->nh + t->hlist[k]])
				bad = t->hlist[k];
		if (bad < 0)
			return true;
		excl = excl == -1 || excl == bad ? bad : -2;
	}
	const char *names = "";
	for (int i = 0; i < f->alias->nalts; i++)
		names = arena_printf(t->s->a, "%s%s%s", names, i ? (i + 1 == f->alias->nalts ? " or " : ", ") : "",
				     f->alias->alts[i]->ref.hdr->name);
	if (excl >= 0) {
		const struct why *ow = t->hreq[excl];
		const struct ast_header *oh = t->s->headers.items[excl];
		header_conflict(t, ow, oh->name, f->why, names);
	} else {
		conflict(t, f->why, f->why,
			 arena_printf(t->s->a, "%s needs %s, none of which a path of the parse graph has with the other headers the rule needs",
				      why_text(t->s, f->why), names));
	}
	return false;
}

static bool need_values(struct sat *t, const struct ast_expr *key, const struct ivset *set,
			const struct why *w)
{
	int bits = type_bits(key->type);
	struct vfact *cur = NULL;
	for (int i = t->nvals - 1; i >= 0 && !cur; i--)
		if (same_value(t->vals[i].key, key))
			cur = &t->vals[i];
	struct vfact nf = { .key = key, .last = w, .count = cur ? cur->count + 1 : 1 };
	if (cur) {
		iv_intersect(&nf.set, &cur->set, set);
	} else {
		struct ivset all;
		iv_one(&all, 0, bits_max(bits));
		iv_intersect(&nf.set, &all, set);
	}
	if (nf.set.n == 0) {
		const char *name = expr_str(t->s, key);
		if (!cur)
			conflict(t, w, w, arena_printf(t->s->a, "no value of %s (%s) satisfies %s", name,
						       ty_name(t->s, key->type), why_text(t->s, w)));
		else
			conflict(t, cur->last, w,
				 arena_printf(t->s->a, "no value of %s satisfies both %s and %s%s", name,
					      why_text(t->s, cur->last), why_text(t->s, w),
					      cur->count > 1 ? " (with the earlier conditions on it)" : ""));
		return false;
	}
	if (cur && iv_eq(&nf.set, &cur->set))
		return true;
	t->vals = grow(t->vals, &t->capvals, t->nvals + 1, sizeof(*t->vals));
	t->vals[t->nvals++] = nf;
	return true;
}

/* ---------------------------------------------------------------- reads */

/* Requires the headers of every field value e reads (iteratively: value
 * expressions may be 100k operators long). */
static bool need_reads(struct sat *t, const struct ast_expr *e, const struct why *w)
{
	struct ptrvec todo = { 0 };
	ptrvec_push(t->s->a, &todo, (void *)e);
	while (todo.len) {
		const struct ast_expr *x = todo.items[--todo.len];
		if (!x)
			continue;
		if (x->kind == E_NAME) {
			if (x->ref.kind == REF_FIELD || x->ref.kind == REF_FLAG || x->ref.kind == REF_HEADER) {
				if (!need_header(t, x->ref.hdr, w))
					return false;
			} else if (x->ref.kind == REF_ALIAS) {
				need_any(t, x->ref.alias, w);
			}
			continue;
		}
		if (x->kind == E_SETLIT)
			continue; /* literal elements read nothing */
		/* pushed last first: operands are required left to right */
		for (int i = x->nargs - 1; i >= 0; i--)
			ptrvec_push(t->s->a, &todo, x->args[i]);
		ptrvec_push(t->s->a, &todo, x->rhs);
		ptrvec_push(t->s->a, &todo, x->lhs);
	}
	return true;
}

/* The value constraint of a match atom, if it is one (field OP const,
 * field in literal collection, a bool field by itself). */
static bool atom_values(const struct ast_expr *e, const struct ast_expr **key, struct ivset *set)
{
	const struct xdpl_lit *l;
	u128 c, hi;
	if (e->kind == E_NAME && is_plain_value(e) && e->type.kind == TY_BOOL) {
		*key = e;
		iv_one(set, 1, 1);
		return true;
	}
	if (e->kind == E_IN && is_plain_value(e->lhs) && e->rhs && collection_set(e->rhs, set)) {
		*key = e->lhs;
		return true;
	}
	if (e->kind != E_BINARY || e->op < OP_EQ || e->op > OP_GE)
		return false;
	bool left = is_plain_value(e->lhs);
	const struct ast_expr *v = left ? e->lhs : e->rhs, *k = left ? e->rhs : e->lhs;
	if (!is_plain_value(v) || !(l = expr_const_lit(k)) || !lit_interval(l, &c, &hi) || c != hi)
		return false;
	*key = v;
	cmp_set(left ? e->op : flip_cmp(e->op), c, type_bits(v->type), set);
	return true;
}

static bool need_atom(struct sat *t, const struct ast_expr *e, bool from_match)
{
	struct why *w = NEW(t->s->a, struct why);
	w->fmt = "`%s`";
	w->e = e;
	w->loc = e->loc;
	w->from_match = from_match;
	if (!need_reads(t, e, w))
		return false;
	const struct ast_expr *key;
	struct ivset set;
	if (atom_values(e, &key, &set))
		return need_values(t, key, &set, w);
	return true;
}

/* ---------------------------------------------------------------- and / or */

/* The operands of a chain of op (and, or) in order, without recursion. */
static void flatten(struct sema *s, const struct ast_expr *e, enum binop op, struct ptrvec *out)
{
	struct ptrvec todo = { 0 };
	ptrvec_push(s->a, &todo, (void *)e);
	while (todo.len) {
		const struct ast_expr *x = todo.items[--todo.len];
		if (x->kind == E_BINARY && x->op == op) {
			ptrvec_push(s->a, &todo, x->rhs);
			ptrvec_push(s->a, &todo, x->lhs);
		} else {
			ptrvec_push(s->a, out, (void *)x);
		}
	}
}

static bool sat_cond(struct sat *t, const struct ast_expr *e, const struct ptrvec *extra);

/* An `or` holds when one alternative can, with the facts required so far. */
static bool sat_or(struct sat *t, const struct ast_expr *e)
{
	struct ptrvec arms = { 0 };
	flatten(t->s, e, OP_OR, &arms);
	const char *first = NULL;
	bool apply = false;
	for (int i = 0; i < arms.len; i++) {
		struct mark m = sat_mark(t);
		bool ok = sat_cond(t, arms.items[i], NULL);
		sat_undo(t, m);
		if (ok)
			return true;
		if (!first) {
			first = t->reason;
			apply = t->apply;
		}
	}
	t->reason = arena_printf(t->s->a, "no alternative of this `or` can hold; in the first, %s", first);
	t->where = e->loc;
	t->apply = apply;
	return false;
}

/* Whether the conjunction of e's operands (and the extra facts: the
 * rule's limit keys and rewrite reads) can hold, adding its facts to t.
 * Atoms first, then each `or` against them. */
static bool sat_cond(struct sat *t, const struct ast_expr *e, const struct ptrvec *extra)
{
	struct ptrvec parts = { 0 };
	if (e)
		flatten(t->s, e, OP_AND, &parts);
	for (int i = 0; i < parts.len; i++) {
		const struct ast_expr *x = parts.items[i];
		if (x->kind == E_NOT || (x->kind == E_BINARY && x->op == OP_OR))
			continue;
		if (!need_atom(t, x, true))
			return false;
	}
	for (int i = 0; extra && i < extra->len; i += 2)
		if (!need_reads(t, extra->items[i], extra->items[i + 1]))
			return false;
	for (int i = 0; i < t->nanys; i++)
		if (!check_any(t, &t->anys[i]))
			return false;
	for (int i = 0; i < parts.len; i++) {
		const struct ast_expr *x = parts.items[i];
		if (x->kind == E_BINARY && x->op == OP_OR && !sat_or(t, x))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- rules */

static void add_extra(struct sema *s, struct ptrvec *v, const struct ast_expr *e, const char *fmt,
		      struct xdpl_loc loc)
{
	if (!e)
		return;
	struct why *w = NEW(s->a, struct why);
	w->fmt = fmt;
	w->e = e;
	w->loc = loc;
	ptrvec_push(s->a, v, (void *)e);
	ptrvec_push(s->a, v, w);
}

/* What the limit keys and the rewrite read or write: (expr, why) pairs.
 * Statements after a push/pop/encap/decap see another packet: they stop
 * the scan. */
static void rule_extras(struct sema *s, const struct ast_rule *r, struct ptrvec *v)
{
	for (int i = 0; r->limit && i < r->limit->nper; i++)
		add_extra(s, v, r->limit->per[i], "the limit key %s", r->limit->per[i]->loc);
	for (int i = 0; i < r->nrewrite; i++) {
		const struct ast_stmt *st = r->rewrite[i];
		if (!st)
			continue;
		if (st->kind == S_PUSH || st->kind == S_POP || st->kind == S_ENCAP || st->kind == S_DECAP)
			break;
		if (st->kind == S_ASSIGN || st->kind == S_SWAP) {
			add_extra(s, v, st->lhs, "the rewrite of %s", st->loc);
			add_extra(s, v, st->rhs, st->kind == S_SWAP ? "the rewrite of %s" : "the rewrite's value %s",
				  st->loc);
		} else if (st->kind == S_SET_ADD || st->kind == S_SET_DEL) {
			add_extra(s, v, st->key, "the set key %s", st->loc);
		}
	}
}

/* Warns when rule r (checked without errors) can never match or apply. */
void check_rule_sat(struct sema *s, struct ast_rule *r)
{
	if (!s->cooccur && s->graph_ok && s->p->start)
		s->cooccur = graph_cooccur(s);
	struct sat t = {
		.s = s,
		.nh = s->headers.len,
		.co = s->cooccur,
		.hreq = arena_alloc(s->a, sizeof(*t.hreq) * ((size_t)s->headers.len + 1)),
		.hlist = arena_alloc(s->a, sizeof(int) * ((size_t)s->headers.len + 1)),
	};
	struct ptrvec extra = { 0 };
	rule_extras(s, r, &extra);
	if (!sat_cond(&t, r->match, &extra))
		diag_warning(t.where, "rule '%s' can never %s: %s", r->name, t.apply ? "apply" : "match",
			     t.reason);
	free(t.anys);
	free(t.vals);
}
