/* Lowering of rewrite blocks (reference §12): field assignments and swaps (one
 * statement per alternative of a generic name), push and pop, and the
 * condition a rewriting rule adds: every header and value it touches is
 * there. encap/decap: lower_encap.c. */
#include "lower_internal.h"

#include <string.h>

/* ---------------------------------------------------------------- rewrites (reference §12) */

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
					   kconst(c, IR_UINT, F->bits, ~(u128)flag & u128_mask(F->bits)), IR_UINT,
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
	struct ir_stmt *s = new_stmt(c, IS_ASSIGN, st);
	s->hdr = hdr;
	s->field = field;
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
	struct ir_stmt *s = new_stmt(c, IS_SWAP, st);
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
int rw_last_key(const struct ir_header *H)
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
	struct ir_stmt *s = new_stmt(c, st->kind == S_PUSH ? IS_PUSH : IS_POP, st);
	s->hdr = h;
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
int lower_rewrite_stmt(struct lctx *c, const struct ast_stmt *st, struct ir_stmt **out, int max, int group)
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
 * not match (reference §7, §12). Map reads need nothing here: codegen reads them
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

/* When a checksum covering a field the statement writes was not reached */
static struct ir_cond *stmt_unreached(struct lctx *c, const struct ir_stmt *s)
{
	struct ir_cond *u[2] = { lower_csum_unreached(c, s->hdr, s->field),
				 s->kind == IS_SWAP ? lower_csum_unreached(c, s->hdr2, s->field2) : NULL };
	return u[0] || u[1] ? c_join(c, IC_OR, u, 2) : NULL;
}

static struct ir_cond *c_not_null(struct lctx *c, struct ir_cond *x)
{
	return x ? c_not(c, x) : NULL;
}

/* A rule with rewrites holds only when every header they read or write is
 * present and every value they read can be read (reference §12): its condition
 * is ANDed with that. encap needs an IP header after the link headers
 * (L3) or the link header (L2); decap a tunnel. Field rewrites with
 * `continue` are not supported yet (later rules would have to see the
 * rewritten packet). */
void lower_rewrite_requires(struct lctx *c, const struct ast_rule *r, struct ir_rule *out)
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
		if (ir_stmt_info(s->kind)->moves_head) {
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
			struct ir_cond *parts[10];
			int np = 0;
			parts[np++] = c_not_null(c, stmt_unreached(c, s));
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
			diag_error(loc, "a field rewrite after %s is not supported yet", ir_stmt_info(moved->kind)->name);
			return;
		}
		req[s->hdr] = true;
		if (s->kind == IS_SWAP)
			req[s->hdr2] = true;
		rw_require_val(c, s->value, req, &kids);
		ptrvec_push(c->a, &kids, c_not_null(c, stmt_unreached(c, s)));
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
			   ir_stmt_info(moved->kind)->name);
	for (int h = 0; h < nh; h++)
		if (req[h]) {
			struct ir_cond *x = mkcond(c, IC_PRESENT);
			x->hdr = h;
			ptrvec_push(c->a, &kids, x);
		}
	out->cond = c_join(c, IC_AND, (struct ir_cond **)kids.items, kids.len);
}
