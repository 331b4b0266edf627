/* Lowering of encap and decap (reference §12, ir.h struct ir_encap). */
#include "lower_internal.h"

#include <string.h>

/* ---------------------------------------------------------------- encap, decap */

/* A statement's ir_encap with the header roles (lower_parse.c) filled in. */
static struct ir_encap *encap_new(struct lctx *c)
{
	const struct lower_roles *R = &c->roles;
	struct ir_encap *E = NEW(c->a, struct ir_encap);
	E->nlink = R->nlink;
	memcpy(E->link, R->link, sizeof(E->link));
	E->ip4 = R->net4;
	E->ip6 = R->net6;
	E->eth_inner = E->inner_ip4 = E->inner_ip6 = -1;
	return E;
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

/* What an encap is being built from (rw_encap's steps share it). */
struct encap_build {
	const struct ast_stmt *st;
	int n;                       /* layers */
	struct ast_layer **layers;   /* the statement's layers, constant args only */
	struct ir_val ***vals;       /* vals[i][k]: layer i's arg k, when not constant */
	struct ir_encap *E;
	struct ir_template *t;
	int *sizes;                  /* bytes of each layer */
	int kf4;                     /* L3: the last layer's field selecting the inner IP */
	uint64_t kv4, kv6;           /* ... and its values for IPv4, IPv6 */
	struct ptrvec pv;            /* patches, in field order */
};

/* 1. Constant arguments stay in the layers (the template has them); the
 * others are lowered to values and patched in at run time. */
static struct ast_layer *encap_layer(struct lctx *c, struct encap_build *B, int i)
{
	const struct ast_layer *L = B->st->layers[i];
	if (L->kind != L_HEADER || !L->hdr || L->hdr->is_meta) {
		diag_error(L->loc, "encap takes header layers such as ip4(src=..., dst=...)");
		return NULL;
	}
	struct ast_layer *K = NEW(c->a, struct ast_layer);
	*K = *L;
	K->args = arena_alloc(c->a, sizeof(*K->args) * (size_t)(L->nargs + 1));
	K->nargs = 0;
	B->vals[i] = arena_alloc(c->a, sizeof(**B->vals) * (size_t)(L->nargs + 1));
	for (int k = 0; k < L->nargs; k++) {
		const struct ast_layer_arg *A = L->args[k];
		if (!A->value || !A->resolved)
			return NULL;
		if (A->resolved->type.kind == TY_BYTES || strchr(A->field, '.')) {
			K->args[K->nargs++] = (struct ast_layer_arg *)A;
			continue;
		}
		int fi = ir_field_index(L->hdr, A->resolved, NULL);
		const struct ir_field *F = fi >= 0 ? &c->ir->headers[L->hdr->index].fields[fi] : NULL;
		struct ir_val hint = { .type = F ? F->type : IR_UINT, .bits = F ? F->bits : 64 };
		struct ir_val *v = F ? lower_val(c, A->value, &hint) : NULL;
		if (!v)
			return NULL;
		if (v->kind == IV_CONST)
			K->args[K->nargs++] = (struct ast_layer_arg *)A;
		else
			B->vals[i][k] = v;
	}
	return K;
}

/* 2. L2 or L3: does the last layer carry a frame or an IP packet? And
 * what the link header's select key becomes. */
static bool encap_shape(struct lctx *c, struct encap_build *B)
{
	const struct ast_stmt *st = B->st;
	struct ir_encap *E = B->E;
	int n = B->n;
	const struct ast_header *eth = c->p->headers[E->link[0]];
	const struct ast_header *first = B->layers[0]->hdr, *last = B->layers[n - 1]->hdr;
	bool eth_first = pkt_layout(first) == pkt_layout(eth);
	int kf6 = -1, kfe = -1;
	uint64_t kve = 0;
	bool to4 = path_key(c, last, c->p->headers[E->ip4], &B->kf4, &B->kv4);
	bool to6 = path_key(c, last, c->p->headers[E->ip6], &kf6, &B->kv6);
	struct pkt_path pe;
	bool to_eth = pkt_find_path(c->p, last, eth, &pe);
	if (to_eth && pe.nsteps > 0) {
		kfe = ir_field_index(last, pe.steps[pe.nsteps - 1].field, NULL);
		kve = (uint64_t)pe.steps[pe.nsteps - 1].value.lo;
	}
	const struct ast_layer_arg *given_key = NULL;
	if (kfe >= 0)
		given_key = layer_arg(st->layers[n - 1], c->ir->headers[last->index].fields[kfe].name);
	struct ir_u128 gk;
	bool key_says_eth = given_key && given_key->value && pkt_eval(given_key->value, NULL, NULL, &gk) &&
			    gk.lo == kve;
	E->l2 = eth_first || (to_eth && pe.nsteps == 0) || key_says_eth;
	if (!E->l2 && (!to4 || !to6)) {
		diag_error(st->loc, "encap: the parse graph does not say how %s carries an IPv4 and an IPv6 packet; "
			   "end the layers with ip4(...), ip6(...), gre() or udp(...) / vxlan(...)", last->name);
		return false;
	}
	if (eth_first)
		return true;
	int kf;
	if (!path_key(c, eth, first, &kf, &E->link_key)) {
		/* gre(), udp(): the tunnel needs its outer IP header */
		diag_error(st->layers[0]->loc,
			   "encap: %s cannot follow Ethernet; start with the outer IP header: "
			   "encap ip4(src=..., dst=...) / %s(...)%s",
			   first->name, first->name, n > 1 ? " / ..." : "");
		return false;
	}
	E->copy_eth = E->l2;
	return true;
}

/* 3. The template: the packet builder's bytes, and each layer's offset. */
static bool encap_template(struct lctx *c, struct encap_build *B)
{
	int n = B->n;
	uint8_t *bytes = NULL;
	size_t len = 0;
	if (lower_build_packet(c->a, c->p, B->layers, n, &bytes, &len))
		return false;
	struct ir_template *t = NEW(c->a, struct ir_template);
	t->bytes = bytes;
	t->len = len;
	t->nlayers = n;
	t->hdrs = arena_alloc(c->a, sizeof(int) * (size_t)n);
	t->offsets = arena_alloc(c->a, sizeof(int) * (size_t)n);
	B->sizes = arena_alloc(c->a, sizeof(int) * (size_t)n);
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		uint8_t *b1;
		size_t l1;
		if (lower_build_packet(c->a, c->p, &B->layers[i], 1, &b1, &l1))
			return false;
		t->hdrs[i] = B->layers[i]->hdr->index;
		t->offsets[i] = (int)off;
		B->sizes[i] = (int)l1;
		off += l1;
	}
	B->t = t;
	if (off != len || len > 128) {
		diag_error(B->st->loc, off != len ? "encap: internal error: layer sizes" : "encap: at most 128 bytes of headers");
		return false;
	}
	return true;
}

/* 4b. checksum(pseudo) of layer i: the addresses of the IP layer right
 * before it, and the protocol number that layer gives i. */
static bool encap_pseudo(struct lctx *c, struct encap_build *B, int i, const struct ast_field *F, struct ir_patch *x)
{
	const struct ir_program *ir = c->ir;
	const struct ast_layer *L = B->st->layers[i];
	int j = i - 1;
	while (j >= 0 && ir->headers[B->t->hdrs[j]].addr_src < 0)
		j--;
	const struct ir_header *P = j >= 0 ? &ir->headers[B->t->hdrs[j]] : NULL;
	int kf;
	uint64_t proto;
	if (!P || P->addr_dst < 0 || !path_key(c, B->layers[j]->hdr, B->layers[j + 1]->hdr, &kf, &proto) ||
	    j + 1 != i) {
		diag_error(L->loc, "encap: %s.%s needs an IP layer right before %s", L->hdr->name, F->name,
			   L->hdr->name);
		return false;
	}
	const struct ir_field *S = &P->fields[P->addr_src], *D = &P->fields[P->addr_dst];
	if (S->bit_offset % 16 || D->bit_offset != S->bit_offset + S->bits || S->bits % 16) {
		diag_error(L->loc, "encap: unusual pseudo-header addresses in %s", P->name);
		return false;
	}
	B->E->scratch = scratch_map(c);
	x->addr_off = B->t->offsets[j] + S->bit_offset / 8;
	x->addr_bytes = S->bits / 8;
	x->proto = proto;
	return true;
}

/* 4a. A field of layer i left to its default: computed at run time when
 * the default is (or it is the inner packet's select key). */
static bool encap_field(struct lctx *c, struct encap_build *B, int i, const struct ast_field *F)
{
	const struct ast_layer *L = B->st->layers[i];
	const struct ir_header *H = &c->ir->headers[L->hdr->index];
	int fi = ir_field_index(L->hdr, F, NULL);
	if (fi < 0 || layer_arg(L, F->name))
		return true; /* given: as given */
	int at = B->t->offsets[i] * 8 + H->fields[fi].bit_offset, bits = H->fields[fi].bits;
	bool bad;
	enum pkt_builtin b = pkt_builtin_of(F->deflt, &bad);
	if (i == B->n - 1 && !B->E->l2 && fi == B->kf4) {
		struct ir_patch *x = add_patch(c, &B->pv, IRP_INNER_KEY, i, at, bits);
		x->v4 = B->kv4;
		x->v6 = B->kv6;
	} else if (b == PKT_B_TOTAL_LEN) {
		add_patch(c, &B->pv, IRP_TOTAL_LEN, i, at, bits);
	} else if (b == PKT_B_PAYLOAD_LEN) {
		add_patch(c, &B->pv, IRP_PAYLOAD_LEN, i, at, bits);
	} else if (b == PKT_B_CSUM) {
		add_patch(c, &B->pv, IRP_CSUM, i, at, bits);
	} else if (b == PKT_B_CSUM_PSEUDO) {
		return encap_pseudo(c, B, i, F, add_patch(c, &B->pv, IRP_CSUM_PSEUDO, i, at, bits));
	} else if (b != PKT_B_NONE) {
		diag_error(L->loc, "encap: %s.%s (checksum(payload)) cannot be computed for an encap; give it a value",
			   L->hdr->name, F->name);
		return false;
	}
	return true;
}

/* 4. The patches of layer i: its non-constant arguments, then its
 * computed fields. */
static bool encap_layer_patches(struct lctx *c, struct encap_build *B, int i)
{
	const struct ast_layer *L = B->st->layers[i];
	const struct ast_header *lay = pkt_layout(L->hdr);
	const struct ir_header *H = &c->ir->headers[L->hdr->index];
	int base = B->t->offsets[i] * 8;
	for (int k = 0; k < L->nargs; k++)
		if (B->vals[i][k]) {
			int fi = ir_field_index(L->hdr, L->args[k]->resolved, NULL);
			struct ir_patch *x = add_patch(c, &B->pv, IRP_VALUE, i, base + H->fields[fi].bit_offset,
						       H->fields[fi].bits);
			x->value = B->vals[i][k];
		}
	for (int f = 0; f < lay->nfields; f++)
		if (!encap_field(c, B, i, lay->fields[f]))
			return false;
	return true;
}

/* 5. Checksums last (they cover the other patches); computed fields are
 * bytes or u16s, checksummed layers an even number of bytes. */
static bool encap_order_patches(struct lctx *c, struct encap_build *B)
{
	struct ir_encap *E = B->E;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < B->pv.len; i++) {
			struct ir_patch *x = B->pv.items[i];
			if ((x->kind == IRP_CSUM || x->kind == IRP_CSUM_PSEUDO) == (pass == 1)) {
				if (!E->patches)
					E->patches = arena_alloc(c->a, sizeof(*E->patches) * (size_t)B->pv.len);
				E->patches[E->npatches++] = *x;
			}
		}
	for (int i = 0; i < E->npatches; i++) {
		const struct ir_patch *x = &E->patches[i];
		if (x->kind != IRP_VALUE && (x->bit_offset % 8 || (x->bits != 8 && x->bits != 16))) {
			diag_error(B->st->loc, "encap: internal error: a computed field that is not a byte or u16");
			return false;
		}
		if (x->kind == IRP_CSUM && (B->sizes[x->layer] % 2 || B->t->offsets[x->layer] % 2)) {
			diag_error(B->st->loc, "encap: a checksummed layer must be an even number of bytes");
			return false;
		}
	}
	return true;
}

/* 6. Computed fields start from zero in the template (the checksum is
 * summed over the final bytes). */
static void encap_clear_patched(struct encap_build *B)
{
	for (int i = 0; i < B->E->npatches; i++) {
		const struct ir_patch *x = &B->E->patches[i];
		for (int b = 0; b < x->bits; b++) {
			int bit = x->bit_offset + b;
			B->t->bytes[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
		}
	}
}

/* encap L1 / L2 / ...: see ir.h (struct ir_encap). The template is built
 * by the packet builder from the layers' constant arguments and defaults;
 * arguments that are not constants, lengths, the inner packet's protocol
 * and the IPv4 header checksum are patched in at run time. */
struct ir_stmt *rw_encap(struct lctx *c, const struct ast_stmt *st)
{
	int n = st->nlayers;
	if (n <= 0 || n > 8) {
		diag_error(st->loc, "encap takes 1 to 8 layers");
		return NULL;
	}
	struct encap_build B = { .st = st, .n = n, .E = encap_new(c), .kf4 = -1 };
	if (B.E->nlink == 0 || B.E->ip4 < 0 || B.E->ip6 < 0) {
		diag_error(st->loc, "encap needs the standard parse graph (eth, ip4, ip6)");
		return NULL;
	}
	B.layers = arena_alloc(c->a, sizeof(*B.layers) * (size_t)n);
	B.vals = arena_alloc(c->a, sizeof(*B.vals) * (size_t)n);
	for (int i = 0; i < n; i++)
		if (!(B.layers[i] = encap_layer(c, &B, i)))
			return NULL;
	if (!encap_shape(c, &B) || !encap_template(c, &B))
		return NULL;
	for (int i = 0; i < n; i++)
		if (!encap_layer_patches(c, &B, i))
			return NULL;
	if (!encap_order_patches(c, &B))
		return NULL;
	encap_clear_patched(&B);
	struct ir_stmt *s = new_stmt(c, IS_ENCAP, st);
	s->tmpl = B.t;
	s->encap = B.E;
	return s;
}

/* decap: see ir.h (struct ir_encap). */
struct ir_stmt *rw_decap(struct lctx *c, const struct ast_stmt *st)
{
	struct ir_encap *E = encap_new(c);
	E->eth_inner = c->roles.inner_eth;
	E->inner_ip4 = c->roles.inner4;
	E->inner_ip6 = c->roles.inner6;
	int kf;
	if (E->nlink == 0 || E->ip4 < 0 || E->ip6 < 0 || E->inner_ip4 < 0 || E->inner_ip6 < 0 ||
	    !path_key(c, c->p->headers[E->link[0]], c->p->headers[E->ip4], &kf, &E->key_v4) ||
	    !path_key(c, c->p->headers[E->link[0]], c->p->headers[E->ip6], &kf, &E->key_v6)) {
		diag_error(st->loc, "decap needs the standard parse graph (eth, ip4, ip6, ip4_inner, ip6_inner)");
		return NULL;
	}
	struct ir_stmt *s = new_stmt(c, IS_DECAP, st);
	s->encap = E;
	return s;
}
