/* The packet builder: test packets, expected outputs (reference §14) and, later,
 * encap/push templates, as bytes, from layers like eth()/ip4(dst=..)/udp().
 *
 * No protocol knowledge lives here. A field's value is, in this order:
 *   1. the value given in the layer (`ip4(ttl=1)`),
 *   2. the select-derived value: if the field is the select key on the
 *      parse-graph path from this layer's header to the next layer's header,
 *      the value of the arm that leads there (eth.type of eth()/ip4()),
 *   3. the declared default (a literal or const),
 *   4. zero.
 * Declared defaults may be builtins computed once all layers are laid out:
 * total_len(), payload_len() first, then checksum(), checksum(payload),
 * checksum(pseudo), innermost layer first so an outer checksum covers the
 * final bytes of the inner ones. An explicit value always wins, so tests can
 * craft bad lengths and checksums. */
#include "pktbuild.h"

#include <stdlib.h>
#include <string.h>

#include "lower.h"

/* Width of a field type; sema fills bits, this covers the fixed-width kinds
 * if it did not. */
static int tbits(struct xdpl_type t)
{
	switch (t.kind) {
	case TY_BOOL: return 1;
	case TY_MAC: return 48;
	case TY_IP4: return 32;
	case TY_IP6: return 128;
	default: return t.bits > 0 ? t.bits : 0;
	}
}

const struct ast_header *pkt_layout(const struct ast_header *h)
{
	return h && h->layout ? h->layout : h;
}

bool pkt_lit_value(const struct xdpl_lit *l, struct ir_u128 *out)
{
	u128 v = 0;
	int n;
	switch (l->kind) {
	case LIT_INT:
	case LIT_BOOL:
		v = l->u;
		break;
	case LIT_IP4:
	case LIT_PREFIX4:
		n = 4;
		goto bytes;
	case LIT_MAC:
		n = 6;
		goto bytes;
	case LIT_IP6:
	case LIT_PREFIX6:
		n = 16;
	bytes:
		for (int i = 0; i < n; i++)
			v = (v << 8) | l->bytes[i];
		break;
	default:
		return false;
	}
	*out = u128_to_ir(v);
	return true;
}

int pkt_lit_bits(const struct xdpl_lit *l)
{
	switch (l->kind) {
	case LIT_BOOL:
		return 1;
	case LIT_IP4:
	case LIT_PREFIX4:
		return 32;
	case LIT_MAC:
		return 48;
	case LIT_IP6:
	case LIT_PREFIX6:
		return 128;
	default:
		return 0;
	}
}

static const struct ast_field *field_by_name(const struct ast_header *lay, const char *name)
{
	if (!lay || !name)
		return NULL;
	for (int i = 0; i < lay->nfields; i++)
		if (strcmp(lay->fields[i]->name, name) == 0)
			return lay->fields[i];
	return NULL;
}

/* Index of a field in lay (by identity, else by name), -1 if not there. */
static int field_index(const struct ast_header *lay, const struct ast_field *f, const char *name)
{
	if (!lay)
		return -1;
	for (int i = 0; i < lay->nfields; i++)
		if (lay->fields[i] == f)
			return i;
	const struct ast_field *g = field_by_name(lay, f ? f->name : name);
	if (!g)
		return -1;
	for (int i = 0; i < lay->nfields; i++)
		if (lay->fields[i] == g)
			return i;
	return -1;
}

static bool eval(const struct ast_expr *e, const struct ast_header *lay, const u128 *vals, u128 *out,
		 int depth)
{
	if (!e || depth > 64)
		return false;
	switch (e->kind) {
	case E_LIT: {
		struct ir_u128 v;
		if (!pkt_lit_value(&e->lit, &v))
			return false;
		*out = u128_from_ir(v);
		return true;
	}
	case E_NAME:
		if (e->ref.kind == REF_CONST && e->ref.konst) {
			struct ir_u128 v;
			if (pkt_lit_value(&e->ref.konst->folded, &v)) {
				*out = u128_from_ir(v);
				return true;
			}
			return eval(e->ref.konst->value, lay, vals, out, depth + 1);
		}
		if (lay && vals && (e->ref.kind == REF_FIELD || e->ref.kind == REF_NONE)) {
			int i = field_index(lay, e->ref.kind == REF_FIELD ? e->ref.field : NULL,
					    e->name);
			if (i >= 0) {
				*out = vals[i];
				return true;
			}
		}
		return false;
	case E_BINARY: {
		u128 a, b;
		if (!eval(e->lhs, lay, vals, &a, depth + 1) || !eval(e->rhs, lay, vals, &b, depth + 1))
			return false;
		switch (e->op) {
		case OP_BAND: *out = a & b; return true;
		case OP_BOR: *out = a | b; return true;
		case OP_BXOR: *out = a ^ b; return true;
		case OP_ADD: *out = a + b; return true;
		case OP_SUB: *out = a - b; return true;
		case OP_MUL: *out = a * b; return true;
		case OP_MOD:
			if (b == 0)
				return false;
			*out = a % b;
			return true;
		case OP_SHL: *out = b >= 128 ? 0 : a << (int)b; return true;
		case OP_SHR: *out = b >= 128 ? 0 : a >> (int)b; return true;
		case OP_EQ: *out = a == b; return true;
		case OP_NE: *out = a != b; return true;
		case OP_LT: *out = a < b; return true;
		case OP_LE: *out = a <= b; return true;
		case OP_GT: *out = a > b; return true;
		case OP_GE: *out = a >= b; return true;
		case OP_AND: *out = a && b; return true;
		case OP_OR: *out = a || b; return true;
		}
		return false;
	}
	case E_NOT: {
		u128 a;
		if (!eval(e->lhs, lay, vals, &a, depth + 1))
			return false;
		*out = !a;
		return true;
	}
	default:
		return false;
	}
}

bool pkt_eval(const struct ast_expr *e, const struct ast_header *lay, const struct ir_u128 *vals,
	      struct ir_u128 *out)
{
	u128 tmp[lay && vals ? lay->nfields + 1 : 1];
	if (lay && vals)
		for (int i = 0; i < lay->nfields; i++)
			tmp[i] = u128_from_ir(vals[i]);
	u128 r;
	if (!eval(e, lay, lay && vals ? tmp : NULL, &r, 0))
		return false;
	*out = u128_to_ir(r);
	return true;
}

uint16_t pkt_checksum(const uint8_t *buf, size_t len, uint32_t sum)
{
	uint64_t s = sum;
	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)buf[i] << 8 | buf[i + 1];
	if (len & 1)
		s += (uint32_t)buf[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* ---------------------------------------------------------------- parse-graph paths */

static const struct ast_header *state_extracts(const struct ast_state *s)
{
	for (int i = 0; i < s->nstmts; i++)
		if (s->stmts[i]->kind == PS_EXTRACT)
			return s->stmts[i]->hdr;
	return NULL;
}

static bool hdr_matches(const struct ast_header *x, const struct ast_header *want, bool by_layout)
{
	if (!x || !want)
		return false;
	return x == want || (by_layout && pkt_layout(x) == pkt_layout(want));
}

struct path_search {
	const struct sema_program *p;
	const struct ast_header *from, *to;
	bool by_layout;
	bool *visited;
	struct pkt_path *path;
};

/* The field of from's layout that a select key reads, or NULL. */
static const struct ast_field *key_field(const struct path_search *ps, const struct ast_expr *key)
{
	if (!key || key->kind != E_NAME || key->ref.kind != REF_FIELD || !key->ref.field ||
	    !key->ref.hdr)
		return NULL;
	const struct ast_header *lay = pkt_layout(ps->from);
	if (pkt_layout(key->ref.hdr) != lay)
		return NULL;
	int i = field_index(lay, key->ref.field, NULL);
	return i >= 0 ? lay->fields[i] : NULL;
}

static bool arm_value(const struct ast_arm *arm, struct ir_u128 *v)
{
	if (arm->is_default || arm->nvalues == 0)
		return false;
	const struct ast_expr *e = arm->values[0];
	if (e->kind == E_RANGE)
		e = e->lhs;
	return pkt_eval(e, NULL, NULL, v);
}

static bool dfs(struct path_search *ps, const struct ast_state *s, int depth);

/* Follow one transition; value NULL for default arms and `next`. */
static bool follow(struct path_search *ps, const struct ast_target *t, const struct ast_field *kf,
		   const struct ir_u128 *value, int depth)
{
	if (t->accept || t->reject || !t->resolved)
		return false;
	const struct ast_state *T = t->resolved;
	const struct ast_header *th = state_extracts(T);
	struct pkt_path *path = ps->path;
	int saved_n = path->nsteps;
	bool saved_has = path->has_proto;
	struct ir_u128 saved_proto = path->proto;
	if (value) {
		if (kf && path->nsteps < 32) {
			path->steps[path->nsteps].field = kf;
			path->steps[path->nsteps].value = *value;
			path->nsteps++;
		}
		path->has_proto = true;
		path->proto = *value;
	}
	if (th) {
		if (hdr_matches(th, ps->to, ps->by_layout))
			return true;
	} else if (T->index >= 0 && T->index < ps->p->nstates && !ps->visited[T->index]) {
		ps->visited[T->index] = true;
		if (dfs(ps, T, depth + 1))
			return true;
	}
	path->nsteps = saved_n;
	path->has_proto = saved_has;
	path->proto = saved_proto;
	return false;
}

static bool dfs(struct path_search *ps, const struct ast_state *s, int depth)
{
	if (depth > 64)
		return false;
	/* Select arms are tried before a plain `next` (which is the fallback of
	 * a select without a default arm in a merged state). */
	for (int i = 0; i < s->nstmts; i++) {
		const struct ast_pstmt *st = s->stmts[i];
		if (st->kind != PS_SELECT)
			continue;
		const struct ast_field *kf = key_field(ps, st->expr);
		for (int j = 0; j < st->narms; j++) {
			struct ir_u128 v;
			bool has = arm_value(st->arms[j], &v);
			if (follow(ps, &st->arms[j]->target, kf, has ? &v : NULL, depth))
				return true;
		}
	}
	for (int i = 0; i < s->nstmts; i++) {
		const struct ast_pstmt *st = s->stmts[i];
		if (st->kind == PS_NEXT && follow(ps, &st->target, NULL, NULL, depth))
			return true;
	}
	return false;
}

bool pkt_find_path(const struct sema_program *p, const struct ast_header *from,
		   const struct ast_header *to, struct pkt_path *out)
{
	memset(out, 0, sizeof(*out));
	if (!p || !from || !to || p->nstates <= 0)
		return false;
	bool visited[p->nstates];
	struct path_search ps = { p, from, to, false, visited, out };
	for (int by_layout_to = 0; by_layout_to < 2; by_layout_to++) {
		for (int by_layout_from = 0; by_layout_from < 2; by_layout_from++) {
			for (int i = 0; i < p->nstates; i++) {
				const struct ast_state *s = p->states[i];
				if (!hdr_matches(state_extracts(s), from, by_layout_from))
					continue;
				memset(visited, 0, sizeof(visited));
				if (s->index >= 0 && s->index < p->nstates)
					visited[s->index] = true;
				ps.by_layout = by_layout_to;
				memset(out, 0, sizeof(*out));
				if (dfs(&ps, s, 0))
					return true;
			}
		}
	}
	memset(out, 0, sizeof(*out));
	return false;
}

/* ---------------------------------------------------------------- the builder */

enum fstate { F_UNSET, F_EXPLICIT, F_DERIVED, F_DEFAULT, F_BUILTIN };

struct blayer {
	const struct ast_layer *L;
	const struct ast_header *h, *lay;
	int nf;
	u128 *val;
	unsigned char *st;          /* enum fstate per field */
	unsigned char *bi;          /* enum pkt_builtin per field */
	int var_field;              /* index of the bytes() field, -1 */
	const uint8_t *var;         /* explicit content of the variable part */
	int var_len;
	bool var_explicit;
	struct xdpl_loc var_loc;
	size_t size, off;
	bool has_proto;             /* value that selected the next layer */
	u128 proto;
};

static void write_bits(uint8_t *buf, size_t bit_off, int nbits, u128 v)
{
	for (int k = 0; k < nbits; k++) {
		size_t b = bit_off + (size_t)k;
		uint8_t m = (uint8_t)(0x80 >> (b % 8));
		if ((v >> (nbits - 1 - k)) & 1)
			buf[b / 8] |= m;
		else
			buf[b / 8] &= (uint8_t)~m;
	}
}

enum pkt_builtin pkt_builtin_of(const struct ast_expr *d, bool *bad)
{
	*bad = false;
	if (!d || d->kind != E_CALL || !d->name)
		return PKT_B_NONE;
	if (strcmp(d->name, "total_len") == 0 && d->nargs == 0)
		return PKT_B_TOTAL_LEN;
	if (strcmp(d->name, "payload_len") == 0 && d->nargs == 0)
		return PKT_B_PAYLOAD_LEN;
	if (strcmp(d->name, "checksum") == 0) {
		int n = d->nargs; /* a trailing `optional` only matters to rewrites */
		if (n >= 1 && d->args[n - 1] && d->args[n - 1]->name &&
		    strcmp(d->args[n - 1]->name, "optional") == 0)
			n--;
		if (n == 0)
			return PKT_B_CSUM;
		const char *arg = n == 1 && d->args[0] ? d->args[0]->name : NULL;
		if (arg && strcmp(arg, "payload") == 0)
			return PKT_B_CSUM_PAYLOAD;
		if (arg && strcmp(arg, "pseudo") == 0)
			return PKT_B_CSUM_PSEUDO;
	}
	*bad = true;
	return PKT_B_NONE;
}

/* Field-index list of the fields a size expression reads. */
static void collect_refs(const struct ast_expr *e, const struct ast_header *lay, int *idx, int *n)
{
	if (!e)
		return;
	if (e->kind == E_NAME && (e->ref.kind == REF_FIELD || e->ref.kind == REF_NONE)) {
		int i = field_index(lay, e->ref.kind == REF_FIELD ? e->ref.field : NULL, e->name);
		if (i >= 0) {
			for (int k = 0; k < *n; k++)
				if (idx[k] == i)
					return;
			if (*n < 16)
				idx[(*n)++] = i;
		}
		return;
	}
	collect_refs(e->lhs, lay, idx, n);
	collect_refs(e->rhs, lay, idx, n);
	for (int i = 0; i < e->nargs; i++)
		collect_refs(e->args[i], lay, idx, n);
}

/* Evaluate the size of the variable part; negative sizes are 0. */
static bool var_size(const struct blayer *B, int64_t *out)
{
	const struct ast_field *f = B->lay->fields[B->var_field];
	u128 r;
	if (!eval(f->size, B->lay, B->val, &r, 0))
		return false;
	int64_t v = (int64_t)(uint64_t)r;
	*out = v < 0 ? 0 : v;
	return true;
}

/* The bytes of a string/hex literal (directly or through a const). */
static bool bytes_value(const struct ast_expr *e, const uint8_t **p, int *len)
{
	const struct xdpl_lit *l = NULL;
	if (e && e->kind == E_LIT)
		l = &e->lit;
	else if (e && e->kind == E_NAME && e->ref.kind == REF_CONST && e->ref.konst)
		l = &e->ref.konst->folded;
	if (!l || (l->kind != LIT_STRING && l->kind != LIT_HEX))
		return false;
	*p = (const uint8_t *)l->str;
	*len = l->len;
	return true;
}

static int set_explicit(struct blayer *B, const struct ast_layer_arg *arg)
{
	const char *name = arg->field ? arg->field : "";
	const char *dot = strchr(name, '.');
	const struct ast_field *f = arg->resolved;
	const struct ast_flag *flag = NULL;
	if (dot) {
		char base[128];
		size_t n = (size_t)(dot - name) < sizeof(base) - 1 ? (size_t)(dot - name)
								   : sizeof(base) - 1;
		memcpy(base, name, n);
		base[n] = 0;
		if (!f)
			f = field_by_name(B->lay, base);
		for (int i = 0; f && i < f->nflags; i++)
			if (strcmp(f->flags[i]->name, dot + 1) == 0)
				flag = f->flags[i];
		if (f && !flag) {
			diag_error(arg->loc, "field '%s' of '%s' has no flag '%s'", f->name,
				   B->h->name, dot + 1);
			return -1;
		}
	} else if (!f) {
		f = field_by_name(B->lay, name);
	}
	int i = f ? field_index(B->lay, f, name) : -1;
	if (i < 0) {
		diag_error(arg->loc, "header '%s' has no field '%s'", B->h->name, name);
		return -1;
	}
	f = B->lay->fields[i];
	if (f->type.kind == TY_BYTES) {
		if (!bytes_value(arg->value, &B->var, &B->var_len)) {
			diag_error(arg->loc, "'%s' is a variable part: give it a string or hex \"..\"",
				   f->name);
			return -1;
		}
		B->var_explicit = true;
		B->var_loc = arg->loc;
		B->st[i] = F_EXPLICIT;
		return 0;
	}
	struct ir_u128 v;
	if (!pkt_eval(arg->value, NULL, NULL, &v)) {
		diag_error(arg->loc, "the value of '%s' must be a constant", name);
		return -1;
	}
	u128 x = u128_from_ir(v);
	int bits = tbits(f->type);
	if (flag) {
		if (B->st[i] != F_EXPLICIT) {
			B->val[i] = 0;
			B->st[i] = F_EXPLICIT;
		}
		if (x)
			B->val[i] |= flag->mask;
		else
			B->val[i] &= ~(u128)flag->mask;
		return 0;
	}
	if (x & ~u128_mask(bits)) {
		diag_error(arg->loc, "value does not fit in '%s' (%d bits)", f->name, bits);
		return -1;
	}
	B->val[i] = x;
	B->st[i] = F_EXPLICIT;
	return 0;
}

/* Solve the size fields of an explicit variable part: if exactly one field
 * the size expression reads was not given, find the smallest value of it
 * that gives the content's length. */
static int fit_var_part(struct blayer *B)
{
	const struct ast_field *vf = B->lay->fields[B->var_field];
	int refs[16], nrefs = 0;
	collect_refs(vf->size, B->lay, refs, &nrefs);
	int free_idx = -1, nfree = 0;
	for (int k = 0; k < nrefs; k++)
		if (B->st[refs[k]] != F_EXPLICIT) {
			free_idx = refs[k];
			nfree++;
		}
	int64_t sz;
	if (nfree == 0) {
		if (!var_size(B, &sz))
			goto noeval;
		if (sz != B->var_len) {
			diag_error(B->var_loc,
				   "'%s' has %d bytes but its size fields give %lld bytes",
				   vf->name, B->var_len, (long long)sz);
			return -1;
		}
		return 0;
	}
	if (nfree > 1) {
		diag_error(B->var_loc,
			   "give the fields that size '%s' explicitly (it depends on several)",
			   vf->name);
		return -1;
	}
	const struct ast_field *ff = B->lay->fields[free_idx];
	int bits = tbits(ff->type) < 20 ? tbits(ff->type) : 20;
	u128 saved = B->val[free_idx];
	/* Prefer the current (default) value, then the smallest that fits. */
	if (var_size(B, &sz) && sz == B->var_len)
		return 0;
	for (uint64_t v = 0; v < ((uint64_t)1 << bits); v++) {
		B->val[free_idx] = v;
		if (var_size(B, &sz) && sz == B->var_len) {
			B->st[free_idx] = F_DERIVED;
			return 0;
		}
	}
	B->val[free_idx] = saved;
	diag_error(B->var_loc, "no value of '%s' makes '%s' %d bytes long", ff->name, vf->name,
		   B->var_len);
	return -1;
noeval:
	diag_error(vf->loc, "cannot evaluate the size of '%s'", vf->name);
	return -1;
}

/* The nearest enclosing header layer with ip4/ip6 `src` and `dst` fields. */
static int pseudo_layer(struct blayer *Bs, int i, int *src, int *dst)
{
	for (int j = i - 1; j >= 0; j--) {
		struct blayer *B = &Bs[j];
		if (!B->h)
			continue;
		const struct ast_field *s = field_by_name(B->lay, "src");
		const struct ast_field *d = field_by_name(B->lay, "dst");
		if (!s || !d || s->type.kind != d->type.kind ||
		    (s->type.kind != TY_IP4 && s->type.kind != TY_IP6))
			continue;
		*src = field_index(B->lay, s, NULL);
		*dst = field_index(B->lay, d, NULL);
		return j;
	}
	return -1;
}

static uint32_t sum_words(u128 v, int bits)
{
	uint32_t s = 0;
	for (int k = 0; k < bits; k += 16) {
		int sh = bits - 16 - k;
		s += (uint32_t)(sh >= 0 ? (v >> sh) & 0xffff : (v << -sh) & 0xffff);
	}
	return s;
}

/* A layer stack being built: lower_build_packet's steps share it. */
struct build {
	struct arena *a;
	const struct sema_program *p;
	struct blayer *Bs;
	int n;
	size_t total;
	uint8_t *buf;
};

/* The header a layer names (sema resolved it, or by name). */
static const struct ast_header *layer_header(const struct sema_program *p, const struct ast_layer *L)
{
	const struct ast_header *h = L->hdr;
	if (!h && L->header)
		for (int k = 0; k < p->nheaders; k++)
			if (strcmp(p->headers[k]->name, L->header) == 0)
				h = p->headers[k];
	if (!h) {
		diag_error(L->loc, "unknown header '%s'", L->header ? L->header : "?");
		return NULL;
	}
	if (h->is_meta) {
		diag_error(L->loc, "'%s' is a meta block, not a header", h->name);
		return NULL;
	}
	return h;
}

/* 1. explicit values */
static void build_explicit(struct build *b, struct blayer *B, const struct ast_layer *L)
{
	B->L = L;
	B->var_field = -1;
	if (L->kind != L_HEADER) {
		B->var = L->bytes;
		B->var_len = L->len;
		return;
	}
	const struct ast_header *h = layer_header(b->p, L);
	if (!h)
		return;
	B->h = h;
	B->lay = pkt_layout(h);
	B->nf = B->lay->nfields;
	B->val = arena_alloc(b->a, sizeof(u128) * (size_t)(B->nf + 1));
	B->st = arena_alloc(b->a, (size_t)B->nf + 1);
	B->bi = arena_alloc(b->a, (size_t)B->nf + 1);
	for (int k = 0; k < B->nf; k++)
		if (B->lay->fields[k]->type.kind == TY_BYTES && B->var_field < 0)
			B->var_field = k;
	/* Whole fields first, then named flag bits on top of them. */
	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < L->nargs; k++) {
			const struct ast_layer_arg *arg = L->args[k];
			bool is_flag = arg->field && strchr(arg->field, '.');
			if (is_flag == (pass == 1))
				set_explicit(B, arg);
		}
}

/* 2. select-derived values: what makes the parse graph go from B to N */
static void build_derived(struct build *b, struct blayer *B, const struct blayer *N)
{
	struct pkt_path path;
	if (!B->h || !N->h || !pkt_find_path(b->p, B->h, N->h, &path))
		return;
	for (int k = 0; k < path.nsteps; k++) {
		int fi = field_index(B->lay, path.steps[k].field, NULL);
		if (fi < 0 || B->st[fi] != F_UNSET)
			continue;
		int bits = tbits(B->lay->fields[fi]->type);
		B->val[fi] = u128_from_ir(path.steps[k].value) & u128_mask(bits);
		B->st[fi] = F_DERIVED;
	}
	B->has_proto = path.has_proto;
	B->proto = u128_from_ir(path.proto);
}

/* 3. declared defaults and builtins */
static void build_defaults(struct blayer *B)
{
	for (int k = 0; B->h && k < B->nf; k++) {
		const struct ast_field *f = B->lay->fields[k];
		if (B->st[k] != F_UNSET || f->type.kind == TY_BYTES)
			continue;
		B->st[k] = F_DEFAULT;
		if (!f->deflt)
			continue;
		bool bad;
		enum pkt_builtin bi = pkt_builtin_of(f->deflt, &bad);
		if (bad) {
			diag_error(f->deflt->loc, "unknown builtin default '%s'",
				   f->deflt->name ? f->deflt->name : "?");
			continue;
		}
		if (bi != PKT_B_NONE) {
			B->bi[k] = (unsigned char)bi;
			B->st[k] = F_BUILTIN;
			continue;
		}
		struct ir_u128 v;
		if (!pkt_eval(f->deflt, NULL, NULL, &v)) {
			diag_error(f->deflt->loc, "the default of '%s' is not a constant", f->name);
			continue;
		}
		B->val[k] = u128_from_ir(v) & u128_mask(tbits(f->type));
	}
}

/* 4. the variable part and the size of a header layer */
static void build_size(struct blayer *B)
{
	if (B->var_field >= 0) {
		if (B->var_explicit) {
			if (fit_var_part(B) < 0)
				return;
		} else {
			int64_t sz;
			if (!var_size(B, &sz)) {
				const struct ast_field *vf = B->lay->fields[B->var_field];
				diag_error(vf->loc, "cannot evaluate the size of '%s'", vf->name);
				return;
			}
			if (sz > 65535)
				sz = 65535;
			B->var = NULL;
			B->var_len = (int)sz;
		}
	}
	int fixed = B->h->fixed_bytes > 0 ? B->h->fixed_bytes : B->lay->fixed_bytes;
	if (fixed <= 0) { /* sema did not say: from the fields */
		int bits = 0;
		for (int k = 0; k < B->nf; k++)
			if (B->lay->fields[k]->type.kind != TY_BYTES)
				bits += tbits(B->lay->fields[k]->type);
		fixed = (bits + 7) / 8;
	}
	B->size = (size_t)fixed + (size_t)(B->var_field >= 0 ? B->var_len : 0);
}

/* 5. lengths */
static void build_lengths(const struct build *b, struct blayer *B)
{
	for (int k = 0; B->h && k < B->nf; k++) {
		if (B->st[k] != F_BUILTIN)
			continue;
		size_t after = b->total - B->off - B->size;
		if (B->bi[k] == PKT_B_TOTAL_LEN)
			B->val[k] = (u128)(after + B->size);
		else if (B->bi[k] == PKT_B_PAYLOAD_LEN)
			B->val[k] = (u128)after;
		else
			continue;
		B->val[k] &= u128_mask(tbits(B->lay->fields[k]->type));
	}
}

/* 6. bytes (checksums still zero) */
static void build_bytes(const struct build *b, const struct blayer *B)
{
	uint8_t *base = b->buf + B->off;
	if (!B->h) {
		if (B->var_len)
			memcpy(base, B->var, (size_t)B->var_len);
		return;
	}
	for (int k = 0; k < B->nf; k++) {
		const struct ast_field *f = B->lay->fields[k];
		if (f->type.kind == TY_BYTES)
			continue;
		bool csum = B->st[k] == F_BUILTIN && B->bi[k] >= PKT_B_CSUM;
		write_bits(base, (size_t)f->bit_offset, tbits(f->type), csum ? 0 : B->val[k]);
	}
	if (B->var_field >= 0 && B->var && B->var_len)
		memcpy(base + (B->size - (size_t)B->var_len), B->var, (size_t)B->var_len);
}

/* 7. the checksums of layer i (after those of the layers inside it) */
static void build_checksums(const struct build *b, int i)
{
	const struct blayer *Bs = b->Bs, *B = &b->Bs[i];
	for (int k = 0; B->h && k < B->nf; k++) {
		if (B->st[k] != F_BUILTIN || B->bi[k] < PKT_B_CSUM)
			continue;
		const struct ast_field *f = B->lay->fields[k];
		size_t len = B->bi[k] == PKT_B_CSUM ? B->size : b->total - B->off;
		uint32_t sum = 0;
		if (B->bi[k] == PKT_B_CSUM_PSEUDO) {
			int s, d;
			int j = pseudo_layer(b->Bs, i, &s, &d);
			if (j >= 0) {
				const struct blayer *P = &Bs[j];
				int bits = tbits(P->lay->fields[s]->type);
				sum += sum_words(P->val[s], bits);
				sum += sum_words(P->val[d], bits);
				u128 proto = i > 0 && Bs[i - 1].has_proto ? Bs[i - 1].proto : 0;
				sum += (uint32_t)(proto & 0xffff);
				sum += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
			}
		}
		uint16_t c = pkt_checksum(b->buf + B->off, len, sum);
		/* 0 and 0xffff are the same in one's complement; with a
		 * pseudo header (UDP) 0 would mean "no checksum". */
		if (B->bi[k] == PKT_B_CSUM_PSEUDO && c == 0)
			c = 0xffff;
		write_bits(b->buf + B->off, (size_t)f->bit_offset, tbits(f->type),
			   (u128)c & u128_mask(tbits(f->type)));
	}
}

int lower_build_packet(struct arena *a, const struct sema_program *p, struct ast_layer **layers,
		       int nlayers, uint8_t **out, size_t *out_len)
{
	int errs = diag_error_count();
	*out = NULL;
	*out_len = 0;
	struct build b = { .a = a, .p = p, .n = nlayers };
	b.Bs = arena_alloc(a, sizeof(*b.Bs) * (size_t)(nlayers > 0 ? nlayers : 1));
	for (int i = 0; i < nlayers; i++)
		build_explicit(&b, &b.Bs[i], layers[i]);
	if (diag_error_count() > errs)
		return -1;
	for (int i = 0; i + 1 < nlayers; i++)
		build_derived(&b, &b.Bs[i], &b.Bs[i + 1]);
	for (int i = 0; i < nlayers; i++)
		build_defaults(&b.Bs[i]);
	if (diag_error_count() > errs)
		return -1;
	for (int i = 0; i < nlayers; i++) {
		struct blayer *B = &b.Bs[i];
		B->off = b.total;
		if (B->h)
			build_size(B);
		else
			B->size = (size_t)B->var_len;
		b.total += B->size;
	}
	if (diag_error_count() > errs)
		return -1;
	for (int i = 0; i < nlayers; i++)
		build_lengths(&b, &b.Bs[i]);
	b.buf = arena_alloc(a, b.total ? b.total : 1);
	for (int i = 0; i < nlayers; i++)
		build_bytes(&b, &b.Bs[i]);
	for (int i = nlayers - 1; i >= 0; i--) /* innermost layer first */
		build_checksums(&b, i);
	*out = b.buf;
	*out_len = b.total;
	return 0;
}
