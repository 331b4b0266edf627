/* Lowering of headers and the parse graph: header layouts with their
 * checksums, the merged parser states, which header can follow which,
 * the headers that play a role for encap/decap (found by the graph's
 * shape, not by name), and pruning states nobody reads. */
#include "lower_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- headers */

/* IR field index of f in header h (bytes() fields are not IR fields). */
int ir_field_index(const struct ast_header *h, const struct ast_field *f, const char *name)
{
	const struct ast_header *lay = pkt_layout(h);
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

void lower_headers(struct lctx *c)
{
	const struct sema_program *p = c->p;
	struct ir_program *ir = c->ir;
	ir->nheaders = p->nheaders;
	ir->headers = arena_alloc(c->a, sizeof(struct ir_header) * (size_t)(p->nheaders + 1));
	for (int i = 0; i < p->nheaders; i++) {
		const struct ast_header *h = p->headers[i];
		int idx = h->index >= 0 && h->index < p->nheaders ? h->index : i;
		struct ir_header *ih = &ir->headers[idx];
		const struct ast_header *lay = pkt_layout(h);
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

/* ---------------------------------------------------------------- header roles
 *
 * encap and decap need to know which headers are the link layer, the
 * IPv4 and IPv6 network headers after it, and the headers of an inner
 * packet. The compiler knows no protocol: it reads these roles off the
 * parse graph and the layouts (docs/design.md, "Header roles"). */

/* The link headers: the start state's header (eth) and the headers its
 * select key leads to whose own last field is a select key of the same
 * width (vlan, vlan2), outermost first; their states in lstate. */
static int link_headers(struct lctx *c, int *link, int *lstate)
{
	struct ir_program *ir = c->ir;
	int n = 0;
	int a = ir->start_state >= 0 && ir->start_state < ir->nstates ? ir->states[ir->start_state].header : -1;
	int ka = a >= 0 ? rw_last_key(&ir->headers[a]) : -1;
	if (ka < 0)
		return 0;
	int kbits = ir->headers[a].fields[ka].bits;
	lstate[n] = ir->start_state;
	link[n++] = a;
	for (int st = ir->start_state; st >= 0 && n < IR_MAX_LINK;) {
		const struct ir_state *S = &ir->states[st];
		int next = -1;
		for (int k = 0; k < S->narms && next < 0; k++) {
			int t = S->arms[k].target;
			if (S->arms[k].nvalues <= 0 || t < 0 || t >= ir->nstates)
				continue;
			int h = ir->states[t].header;
			int kh = h >= 0 ? rw_last_key(&ir->headers[h]) : -1;
			bool seen = false;
			for (int i = 0; i < n; i++)
				seen |= link[i] == h;
			if (kh >= 0 && !seen && ir->headers[h].fields[kh].bits == kbits &&
			    ir->headers[h].fixed_bytes <= 8)
				next = t;
		}
		if (next < 0)
			break;
		lstate[n] = next;
		link[n++] = ir->states[next].header;
		st = next;
	}
	return n;
}

/* The network headers: the first header a link state's select arm leads
 * to whose `src`/`dst` addresses (ir_header.addr_src) are of type t. */
static int net_header(struct lctx *c, const int *lstate, int nlink, enum ir_type t)
{
	const struct ir_program *ir = c->ir;
	for (int i = 0; i < nlink; i++) {
		const struct ir_state *S = &ir->states[lstate[i]];
		for (int k = 0; k < S->narms; k++) {
			int st = S->arms[k].target;
			int h = st >= 0 && st < ir->nstates && S->arms[k].nvalues > 0 ? ir->states[st].header : -1;
			const struct ir_header *H = h >= 0 ? &ir->headers[h] : NULL;
			if (H && !H->is_meta && H->addr_src >= 0 && H->fields[H->addr_src].type == t)
				return h;
		}
	}
	return -1;
}

/* An inner header: another instance of like's layout that the parse graph
 * reaches after one of the network headers. */
static int inner_header(struct lctx *c, int like)
{
	const struct ir_program *ir = c->ir;
	const struct lower_roles *R = &c->roles;
	int nh = ir->nheaders;
	if (like < 0)
		return -1;
	for (int h = 0; h < nh; h++) {
		bool after = (R->net4 >= 0 && ir->hdr_after[R->net4 * nh + h]) ||
			     (R->net6 >= 0 && ir->hdr_after[R->net6 * nh + h]);
		if (h != like && after && !ir->headers[h].is_meta &&
		    pkt_layout(c->p->headers[h]) == pkt_layout(c->p->headers[like]))
			return h;
	}
	return -1;
}

static void lower_roles(struct lctx *c)
{
	struct lower_roles *R = &c->roles;
	int lstate[IR_MAX_LINK] = { 0 };
	R->nlink = link_headers(c, R->link, lstate);
	R->net4 = net_header(c, lstate, R->nlink, IR_IP4);
	R->net6 = net_header(c, lstate, R->nlink, IR_IP6);
	R->inner_eth = inner_header(c, R->nlink ? R->link[0] : -1);
	R->inner4 = inner_header(c, R->net4);
	R->inner6 = inner_header(c, R->net6);
}

/* States (same index as ast_state.index), then what depends on them. */
void lower_parse_graph(struct lctx *c)
{
	const struct sema_program *p = c->p;
	struct ir_program *ir = c->ir;
	ir->nstates = p->nstates;
	ir->states = arena_alloc(c->a, sizeof(struct ir_state) * (size_t)(p->nstates + 1));
	for (int i = 0; i < p->nstates; i++) {
		const struct ast_state *s = p->states[i];
		int idx = s->index >= 0 && s->index < p->nstates ? s->index : i;
		lower_state(c, s, &ir->states[idx]);
	}
	ir->start_state = p->start ? p->start->index : IR_ACCEPT;
	lower_header_order(c);
	lower_roles(c);
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
	if (ir_stmt_info(s->kind)->csums)
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

void prune_parse_graph(struct lctx *c)
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
