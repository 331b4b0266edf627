/* Field rewrites (reference §12): IS_ASSIGN and IS_SWAP statements, with the
 * checksums that cover a changed field updated incrementally (RFC 1624,
 * eqn. 3: HC' = ~(~HC + ~m + m')).
 *
 * Where: in the XDP function's shared tail, once a rule has decided and
 * before it is counted: a switch on the deciding rule's slot runs that
 * rule's statements. The header pointers come from the parser's slots
 * (hdr_slot/hdr_present), which hold the bounds-checked pointers in
 * both rule modes (CG_SPEC and CG_RECORD). Lowering has ANDed the rule's
 * condition with the presence of every header the statements read or
 * write, so a rule whose rewrite needs an absent header never decides;
 * the presence tests here are for the verifier.
 *
 * Which checksums cover a write of field F of header H (ir.h, struct
 * ir_header): the checksum of every present header C with
 *  - C == H (any kind), or
 *  - checksum(payload|pseudo) and H can follow C (ir_program.hdr_after), or
 *  - checksum(pseudo), F is H's addr_src/addr_dst and C can follow H.
 * A checksum field is not updated for a write of itself; an updated
 * checksum field is itself a changed field, so the checksums covering it
 * follow (VXLAN: the outer UDP covers the inner IPv4 checksum). Lowering
 * (lower_reach.c) made the rule not match where a covering checksum lies
 * in a header the parser did not reach. Packet bytes are
 * read and written with volatile accesses, so nothing cached from before a
 * write is reused after it (and rule code marks no packet load invariant
 * in a program that rewrites, see cg_packet_written).
 *
 * push/pop (the in-place form, ir.h): after every field rewrite of the
 * rule; bpf_xdp_adjust_head, then data/data_end are read from ctx again
 * and bounds-checked before the bytes move. Nothing after the tail reads
 * the packet through an old pointer (push/pop with `route` is refused). */
#include <stdlib.h>

#include "codegen_internal.h"

static bool is_rewrite(const struct ir_stmt *s)
{
	return s && ir_stmt_info(s->kind)->rewrite;
}

static bool rule_rewrites(const struct ir_rule *r)
{
	for (int i = 0; i < r->nstmts; i++)
		if (is_rewrite(r->stmts[i]))
			return true;
	return false;
}

bool cg_rewrites_packet(const struct ir_program *p)
{
	for (int i = 0; p && i < p->nrules; i++)
		if (rule_rewrites(&p->rules[i]))
			return true;
	return false;
}

bool cg_packet_written(struct cg *g)
{
	if (!g->pkt_written)
		g->pkt_written = cg_rewrites_packet(g->p) ? 2 : 1;
	return g->pkt_written == 2;
}

/* Header h's presence flag and pointer, as the parser left them. */
static LLVMValueRef present(struct cg *g, int h)
{
	return LLVMBuildLoad2(g->b, g->i1, g->hdr_present[h], g->p->headers[h].name);
}

static LLVMValueRef slot_ptr(struct cg *g, int h)
{
	return LLVMBuildLoad2(g->b, g->ptr, g->hdr_slot[h], g->p->headers[h].name);
}

static LLVMTypeRef nbytes_ty(struct cg *g, int n)
{
	return LLVMIntTypeInContext(g->C, (unsigned)n * 8);
}

static LLVMValueRef bswap_n(struct cg *g, LLVMValueRef v, int n)
{
	if (n == 1)
		return v;
	return cg_intrinsic(g, "llvm.bswap", LLVMTypeOf(v), &v, 1);
}

/* Bytes [off, off + n) at base as one big-endian integer of type t. */
static LLVMValueRef load_bytes(struct cg *g, LLVMValueRef base, int off, int n, LLVMTypeRef t)
{
	LLVMValueRef w = NULL;
	while (n > 0) {
		int s = n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1;
		LLVMValueRef ld = cg_volatile_load(g, nbytes_ty(g, s), cg_gep_const(g, base, (uint64_t)off), (unsigned)s);
		LLVMValueRef c = LLVMBuildZExtOrBitCast(g->b, bswap_n(g, ld, s), t, "");
		w = w ? LLVMBuildOr(g->b, LLVMBuildShl(g->b, w, LLVMConstInt(t, (uint64_t)s * 8, 0), ""), c, "")
		      : c;
		off += s;
		n -= s;
	}
	return w ? w : LLVMConstInt(t, 0, 0);
}

/* Store the low n bytes of w (type t) big-endian at base + off. */
static void store_bytes(struct cg *g, LLVMValueRef base, int off, int n, LLVMValueRef w, LLVMTypeRef t)
{
	int done = 0;
	while (done < n) {
		int left = n - done;
		int s = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
		unsigned sh = (unsigned)(left - s) * 8;
		LLVMValueRef c = sh ? LLVMBuildLShr(g->b, w, LLVMConstInt(t, sh, 0), "") : w;
		c = LLVMBuildTrunc(g->b, c, nbytes_ty(g, s), "");
		cg_volatile_store(g, bswap_n(g, c, s), cg_gep_const(g, base, (uint64_t)(off + done)), (unsigned)s);
		done += s;
	}
}

/* A field is written in pieces of at most 8 bytes, each with the 16-bit
 * checksum words around it (pad bytes included) in one i64: a field
 * whose words fit (u3 ... mac) is one piece with a shift; a wider one
 * (ip6 addresses) must be whole bytes and is cut into byte pieces. */
#define MAX_PIECES 4

struct piece {
	int first, n;   /* header bytes [first, first + n) */
	int shift;      /* the value's distance from the low end of them */
	int bits;       /* the value's width in this piece */
};

static int field_pieces(struct cg *g, const struct ir_header *h, const struct ir_field *f, struct piece *pc)
{
	if (f->bits <= 0 || f->bit_offset < 0 || f->bit_offset + f->bits > h->fixed_bytes * 8) {
		cg_fail(g, "codegen: internal error: field %s.%s is outside the header's fixed bytes", h->name,
			f->name);
		return 0;
	}
	int first = f->bit_offset / 8, last = (f->bit_offset + f->bits - 1) / 8, n = last - first + 1;
	if ((first & 1) + n + ((first + n) & 1) <= 8) {
		pc[0] = (struct piece){ first, n, (last + 1) * 8 - (f->bit_offset + f->bits), f->bits };
		return 1;
	}
	if (f->bit_offset % 8 || f->bits % 8) {
		cg_fail(g, "codegen: rewriting %s.%s (wider than 8 bytes, not whole bytes) is not supported",
			h->name, f->name);
		return 0;
	}
	int k = 0;
	for (int off = first, rem = n; rem > 0 && k < MAX_PIECES; k++) {
		int sz = rem < 8 - (off & 1) ? rem : 8 - (off & 1);
		if (((off + sz) & 1) && (off & 1) + sz + 1 > 8)
			sz--;
		pc[k] = (struct piece){ off, sz, 0, sz * 8 };
		off += sz;
		rem -= sz;
	}
	return k;
}

static uint64_t low_mask(int bits)
{
	return bits >= 64 ? ~0ull : (1ull << bits) - 1;
}

/* The one's complement sum (folded to 16 bits, as i32) of the 16-bit
 * words, counted from the header start, that hold the piece's bytes of w;
 * the other bytes of those words count as 0 (they do not change, so they
 * cancel out of ~m + m'). */
static LLVMValueRef word_sum(struct cg *g, LLVMValueRef w, const struct piece *pc)
{
	int lead = pc->first & 1, trail = (pc->first + pc->n) & 1;
	int m = lead + pc->n + trail;
	LLVMValueRef x = trail ? LLVMBuildShl(g->b, w, LLVMConstInt(g->i64, 8, 0), "") : w;
	LLVMValueRef s = NULL;
	for (int i = 0; i < m / 2; i++) {
		LLVMValueRef wd = i ? LLVMBuildLShr(g->b, x, LLVMConstInt(g->i64, (uint64_t)i * 16, 0), "") : x;
		wd = LLVMBuildZExt(g->b, LLVMBuildTrunc(g->b, wd, g->i16, ""), g->i32, "");
		s = s ? LLVMBuildAdd(g->b, s, wd, "") : wd;
	}
	return s;
}

static LLVMValueRef fold16(struct cg *g, LLVMValueRef s)
{
	LLVMValueRef k16 = cg_const(g, g->i32, 16), kff = cg_const(g, g->i32, 0xffff);
	for (int i = 0; i < 2; i++)
		s = LLVMBuildAdd(g->b, LLVMBuildAnd(g->b, s, kff, ""), LLVMBuildLShr(g->b, s, k16, ""), "");
	return s;
}

struct rw_ctx {
	const struct ir_rule *r;
	LLVMValueRef *ptr;          /* per header: its pointer, loaded once */
	LLVMBasicBlockRef skip;
};

static bool covers(const struct ir_program *p, int c, int h, int f)
{
	const struct ir_header *C = &p->headers[c], *H = &p->headers[h];
	if (C->csum_field < 0 || (c == h && f == C->csum_field))
		return false;
	if (c == h)
		return true;
	bool *after = p->hdr_after;
	int n = p->nheaders;
	if (!after)
		return false;
	if (C->csum_kind != IR_CSUM_HEADER && after[c * n + h])
		return true;
	return C->csum_kind == IR_CSUM_PSEUDO && after[h * n + c] && (f == H->addr_src || f == H->addr_dst);
}

static void update_csums(struct cg *g, struct rw_ctx *x, int h, int f, LLVMValueRef m_old,
			 LLVMValueRef m_new, int depth);

/* Checksum of header c: ~m (old words) + m' (new words). The checksum
 * field is itself covered by the checksums of enclosing headers (an inner
 * IPv4 header's checksum is payload of the outer UDP's, VXLAN): its own
 * change goes on to them, where it changed. */
static void update_csum(struct cg *g, struct rw_ctx *x, int c, LLVMValueRef m_old, LLVMValueRef m_new,
			int depth)
{
	const struct ir_header *C = &g->p->headers[c];
	const struct ir_field *cf = &C->fields[C->csum_field];
	if (cf->bits != 16 || cf->bit_offset % 8) {
		cg_fail(g, "codegen: checksum field %s.%s must be a byte-aligned u16", C->name, cf->name);
		return;
	}
	LLVMBasicBlockRef done = cg_block(g, "csum_done");
	LLVMValueRef cp = x->ptr[c];
	if (!cp) {
		LLVMBasicBlockRef yes = cg_block(g, "csum_present");
		LLVMBuildCondBr(g->b, present(g, c), yes, done);
		LLVMPositionBuilderAtEnd(g->b, yes);
		cp = slot_ptr(g, c);
	}
	int off = cf->bit_offset / 8;
	LLVMValueRef old = load_bytes(g, cp, off, 2, g->i32);
	if (C->csum_optional) {
		LLVMBasicBlockRef upd = cg_block(g, "csum_used");
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, old, cg_const(g, g->i32, 0), ""), done, upd);
		LLVMPositionBuilderAtEnd(g->b, upd);
	}
	LLVMValueRef kff = cg_const(g, g->i32, 0xffff);
	LLVMValueRef t = LLVMBuildXor(g->b, old, kff, "");
	t = LLVMBuildAdd(g->b, t, LLVMBuildXor(g->b, m_old, kff, ""), "");
	t = fold16(g, LLVMBuildAdd(g->b, t, m_new, ""));
	LLVMValueRef nw = LLVMBuildXor(g->b, t, kff, "");
	if (C->csum_kind == IR_CSUM_PSEUDO) /* as the packet builder writes it */
		nw = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, nw, cg_const(g, g->i32, 0), ""), kff,
				     nw, "");
	store_bytes(g, cp, off, 2, nw, g->i32);
	update_csums(g, x, c, C->csum_field, old, nw, depth + 1);
	LLVMBuildBr(g->b, done);
	LLVMPositionBuilderAtEnd(g->b, done);
}

/* The field's value, piece by piece (i64 each). */
static int read_field(struct cg *g, struct rw_ctx *x, int h, int f, LLVMValueRef *out)
{
	const struct ir_header *H = &g->p->headers[h];
	struct piece pc[MAX_PIECES];
	int np = field_pieces(g, H, &H->fields[f], pc);
	for (int k = 0; k < np; k++) {
		LLVMValueRef w = load_bytes(g, x->ptr[h], pc[k].first, pc[k].n, g->i64);
		if (pc[k].shift)
			w = LLVMBuildLShr(g->b, w, LLVMConstInt(g->i64, (uint64_t)pc[k].shift, 0), "");
		out[k] = LLVMBuildAnd(g->b, w, LLVMConstInt(g->i64, low_mask(pc[k].bits), 0), "");
	}
	return np;
}

/* A value (any integer) cut into the field's pieces. */
static int split_value(struct cg *g, int h, int f, LLVMValueRef v, LLVMValueRef *out)
{
	const struct ir_header *H = &g->p->headers[h];
	const struct ir_field *F = &H->fields[f];
	struct piece pc[MAX_PIECES];
	int np = field_pieces(g, H, F, pc);
	if (np == 1) {
		out[0] = LLVMBuildZExtOrBitCast(g->b, cg_fit(g, v, F->bits), g->i64, "");
		return 1;
	}
	LLVMValueRef V = cg_fit(g, v, F->bits);
	int first = F->bit_offset / 8, n = F->bits / 8;
	for (int k = 0; k < np; k++) {
		int sh = 8 * (n - (pc[k].first - first) - pc[k].n);
		LLVMValueRef c = sh ? LLVMBuildLShr(g->b, V, LLVMConstInt(LLVMTypeOf(V), (uint64_t)sh, 0), "") : V;
		c = LLVMBuildTrunc(g->b, c, LLVMIntTypeInContext(g->C, (unsigned)pc[k].bits), "");
		out[k] = LLVMBuildZExtOrBitCast(g->b, c, g->i64, "");
	}
	return np;
}

/* H.F = the pieces vals, then the checksums that cover it. */
static void write_field(struct cg *g, struct rw_ctx *x, int h, int f, LLVMValueRef *vals)
{
	const struct ir_program *p = g->p;
	const struct ir_header *H = &p->headers[h];
	struct piece pc[MAX_PIECES];
	int np = field_pieces(g, H, &H->fields[f], pc);
	LLVMValueRef hp = x->ptr[h], s_old = NULL, s_new = NULL;
	for (int k = 0; k < np; k++) {
		LLVMValueRef w_old = load_bytes(g, hp, pc[k].first, pc[k].n, g->i64);
		uint64_t mask = low_mask(pc[k].bits) << pc[k].shift;
		LLVMValueRef nv = vals[k];
		if (pc[k].shift)
			nv = LLVMBuildShl(g->b, nv, LLVMConstInt(g->i64, (uint64_t)pc[k].shift, 0), "");
		nv = LLVMBuildAnd(g->b, nv, LLVMConstInt(g->i64, mask, 0), "");
		LLVMValueRef w_new =
			LLVMBuildOr(g->b, LLVMBuildAnd(g->b, w_old, LLVMConstInt(g->i64, ~mask, 0), ""), nv, "");
		store_bytes(g, hp, pc[k].first, pc[k].n, w_new, g->i64);
		LLVMValueRef so = word_sum(g, w_old, &pc[k]), sn = word_sum(g, w_new, &pc[k]);
		s_old = s_old ? LLVMBuildAdd(g->b, s_old, so, "") : so;
		s_new = s_new ? LLVMBuildAdd(g->b, s_new, sn, "") : sn;
	}
	if (np)
		update_csums(g, x, h, f, s_old, s_new, 0);
}

/* Field f of header h went from words summing to s_old to s_new: every
 * checksum covering it follows. depth bounds the chain of checksums
 * covering checksums (each one a header further out). */
static void update_csums(struct cg *g, struct rw_ctx *x, int h, int f, LLVMValueRef s_old,
			 LLVMValueRef s_new, int depth)
{
	const struct ir_program *p = g->p;
	LLVMValueRef m_old = NULL, m_new = NULL;
	for (int c = 0; c < p->nheaders && !g->failed && depth <= p->nheaders; c++) {
		if (p->headers[c].is_meta || !covers(p, c, h, f))
			continue;
		if (!m_old) {
			m_old = fold16(g, s_old);
			m_new = fold16(g, s_new);
		}
		update_csum(g, x, c, m_old, m_new, depth);
	}
}

/* ---------------------------------------------------------------- push, pop */

static void put_const_bytes(struct cg *g, LLVMValueRef data, int at, const uint8_t *bytes, int len)
{
	for (int o = 0; o < len;) {
		int sz = len - o >= 8 ? 8 : len - o >= 4 ? 4 : len - o >= 2 ? 2 : 1;
		uint64_t v = 0;
		for (int i = 0; i < sz; i++)
			v = v << 8 | bytes[o + i];
		LLVMValueRef c = LLVMConstInt(nbytes_ty(g, sz), v, 0);
		cg_volatile_store(g, bswap_n(g, c, sz), cg_gep_const(g, data, (uint64_t)(at + o)), (unsigned)sz);
		o += sz;
	}
}



#define CG_HELPER_XDP_ADJUST_HEAD 44

/* bpf_xdp_adjust_head(ctx, delta), delta an i32 value */
static LLVMValueRef adjust_head_by(struct cg *g, LLVMValueRef delta)
{
	LLVMTypeRef params[2] = { g->ptr, g->i32 };
	LLVMTypeRef ty = LLVMFunctionType(g->i64, params, 2, 0);
	LLVMValueRef fn = LLVMConstIntToPtr(cg_const(g, g->i64, CG_HELPER_XDP_ADJUST_HEAD), g->ptr);
	LLVMValueRef args[2] = { g->ctx, delta };
	return LLVMBuildCall2(g->b, ty, fn, args, 2, "adjusted");
}

static LLVMValueRef adjust_head(struct cg *g, int delta)
{
	return adjust_head_by(g, cg_const(g, g->i32, (uint64_t)(int64_t)delta));
}

static LLVMValueRef ctx_ptr(struct cg *g, unsigned off)
{
	LLVMValueRef v = LLVMBuildLoad2(g->b, g->i32, cg_gep_const(g, g->ctx, off), "");
	LLVMSetAlignment(v, 4);
	LLVMSetVolatile(v, 1); /* the head moved: read it again */
	return LLVMBuildIntToPtr(g->b, LLVMBuildZExt(g->b, v, g->i64, ""), g->ptr, "");
}

/* The packet start, checked to have n bytes (else on to skip). */
static LLVMValueRef fresh_data(struct cg *g, int n, LLVMBasicBlockRef skip)
{
	LLVMValueRef data = cg_barrier_ptr(g, ctx_ptr(g, 0));
	LLVMValueRef end = ctx_ptr(g, 4);
	LLVMBasicBlockRef ok = cg_block(g, "room");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULE, cg_gep_const(g, data, (uint64_t)n), end, ""), ok,
			skip);
	LLVMPositionBuilderAtEnd(g->b, ok);
	return data;
}

/* bytes [from, from + n) -> [to, to + n) of the packet at data (all
 * loaded before any store: the ranges overlap) */
static void move_bytes(struct cg *g, LLVMValueRef data, int from, int to, int n)
{
	LLVMValueRef v[16];
	int sz[16], k = 0;
	for (int o = 0; o < n && k < 16; k++) {
		sz[k] = n - o >= 8 ? 8 : n - o >= 4 ? 4 : n - o >= 2 ? 2 : 1;
		v[k] = cg_volatile_load(g, nbytes_ty(g, sz[k]), cg_gep_const(g, data, (uint64_t)(from + o)),
					(unsigned)sz[k]);
		o += sz[k];
	}
	for (int i = 0, o = 0; i < k; o += sz[i], i++)
		cg_volatile_store(g, v[i], cg_gep_const(g, data, (uint64_t)(to + o)), (unsigned)sz[i]);
}

/* bpf_xdp_adjust_head(-by), then the new packet start, checked to have
 * `need` bytes; on to `fail` when the kernel cannot grow the head. */
static LLVMValueRef grow_head(struct cg *g, int by, int need, LLVMBasicBlockRef fail)
{
	LLVMValueRef r = adjust_head(g, -by);
	LLVMBasicBlockRef ok = cg_block(g, "head_grown");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, r, cg_const(g, g->i64, 0), ""), ok, fail);
	LLVMPositionBuilderAtEnd(g->b, ok);
	return fresh_data(g, need, fail);
}

static void emit_push(struct cg *g, struct rw_ctx *x, const struct ir_stmt *s)
{
	const struct ir_template *t = s->tmpl;
	int len = t ? (int)t->len : 0, key = s->field2;
	if (!t || len <= 0 || len > 64 || key < 0 || key > 64) {
		cg_fail(g, "codegen: internal error: bad push");
		return;
	}
	LLVMValueRef data = grow_head(g, len, key + len, x->skip);
	move_bytes(g, data, len, 0, key);
	put_const_bytes(g, data, key, t->bytes, len);
}

static void emit_pop(struct cg *g, struct rw_ctx *x, const struct ir_stmt *s)
{
	int len = g->p->headers[s->hdr].fixed_bytes, key = s->field2;
	if (len <= 0 || len > 64 || key < 0 || key > 64) {
		cg_fail(g, "codegen: internal error: bad pop");
		return;
	}
	LLVMValueRef data = fresh_data(g, key + len, x->skip);
	move_bytes(g, data, 0, len, key);
	adjust_head(g, len);
}

/* ---------------------------------------------------------------- encap, decap */

/* Bits [bit_offset, bit_offset + bits) at base + off (big-endian) = v. */
static void put_bits(struct cg *g, LLVMValueRef base, int off, int bit_offset, int bits, LLVMValueRef v)
{
	off += bit_offset / 8;
	bit_offset %= 8;
	if (bit_offset == 0 && bits % 8 == 0) {
		LLVMTypeRef t = bits > 64 ? LLVMIntTypeInContext(g->C, 128) : g->i64;
		store_bytes(g, base, off, bits / 8, LLVMBuildZExtOrBitCast(g->b, cg_fit(g, v, bits), t, ""), t);
		return;
	}
	int n = (bit_offset + bits + 7) / 8, shift = n * 8 - bit_offset - bits;
	uint64_t mask = low_mask(bits) << shift;
	LLVMValueRef w = load_bytes(g, base, off, n, g->i64);
	LLVMValueRef nv = LLVMBuildZExtOrBitCast(g->b, cg_fit(g, v, bits), g->i64, "");
	nv = LLVMBuildShl(g->b, nv, LLVMConstInt(g->i64, (uint64_t)shift, 0), "");
	w = LLVMBuildOr(g->b, LLVMBuildAnd(g->b, w, LLVMConstInt(g->i64, ~mask, 0), ""),
			LLVMBuildAnd(g->b, nv, LLVMConstInt(g->i64, mask, 0), ""), "");
	store_bytes(g, base, off, n, w, g->i64);
}

/* Branch on header h's presence: builder in the "present" block. */
static void need_present(struct cg *g, int h, LLVMBasicBlockRef absent)
{
	LLVMBasicBlockRef ok = cg_block(g, "has");
	LLVMBuildCondBr(g->b, present(g, h), ok, absent);
	LLVMPositionBuilderAtEnd(g->b, ok);
}

/* The IPv4/IPv6 packet after the link headers: its length (i64) and
 * whether it is IPv6 (i1). */
static void inner_ip(struct cg *g, const struct ir_encap *E, LLVMBasicBlockRef skip, LLVMValueRef *len,
		     LLVMValueRef *is6)
{
	LLVMBasicBlockRef b4 = cg_block(g, "inner4"), b6 = cg_block(g, "inner6"), join = cg_block(g, "inner");
	*is6 = present(g, E->ip6);
	LLVMBuildCondBr(g->b, *is6, b6, b4);
	LLVMPositionBuilderAtEnd(g->b, b4);
	need_present(g, E->ip4, skip);
	LLVMValueRef l4 = load_bytes(g, slot_ptr(g, E->ip4), 2, 2, g->i64);
	LLVMBasicBlockRef from4 = LLVMGetInsertBlock(g->b);
	LLVMBuildBr(g->b, join);
	LLVMPositionBuilderAtEnd(g->b, b6);
	LLVMValueRef l6 = LLVMBuildAdd(g->b, load_bytes(g, slot_ptr(g, E->ip6), 4, 2, g->i64),
				       LLVMConstInt(g->i64, 40, 0), "");
	LLVMBasicBlockRef from6 = LLVMGetInsertBlock(g->b);
	LLVMBuildBr(g->b, join);
	LLVMPositionBuilderAtEnd(g->b, join);
	*len = LLVMBuildPhi(g->b, g->i64, "inner_len");
	LLVMAddIncoming(*len, &l4, &from4, 1);
	LLVMAddIncoming(*len, &l6, &from6, 1);
}

static int link_bytes(struct cg *g, const struct ir_encap *E, int k)
{
	int L = 0;
	for (int i = 0; i <= k; i++)
		L += g->p->headers[E->link[i]].fixed_bytes;
	return L;
}

/* Run gen(L) for the link-header variant of the packet (eth: 14,
 * eth/vlan: 18, eth/vlan/vlan2: 22), each with a constant L; the builder
 * ends in the block after them. */
static void per_link_variant(struct cg *g, const struct ir_encap *E, LLVMBasicBlockRef skip,
			     void (*gen)(struct cg *, void *, int, LLVMBasicBlockRef), void *arg)
{
	LLVMBasicBlockRef done = cg_block(g, "link_done");
	for (int k = E->nlink - 1; k >= 0; k--) {
		LLVMBasicBlockRef here = cg_block(g, "link_variant"), other = NULL;
		if (k > 0) {
			other = cg_block(g, "link_shorter");
			LLVMBuildCondBr(g->b, present(g, E->link[k]), here, other);
		} else {
			LLVMBuildBr(g->b, here);
		}
		LLVMPositionBuilderAtEnd(g->b, here);
		gen(g, arg, link_bytes(g, E, k), skip);
		if (!g->failed)
			LLVMBuildBr(g->b, done);
		if (other)
			LLVMPositionBuilderAtEnd(g->b, other);
	}
	LLVMPositionBuilderAtEnd(g->b, done);
}

#define CG_HELPER_CSUM_DIFF 28
#define CG_HELPER_LOOP 181
#define CG_HELPER_XDP_LOAD_BYTES 189
#define CG_CSUM_CHUNK 512   /* bpf_csum_diff sums at most 512 bytes a call */
#define CG_CSUM_CHUNKS 128  /* 64 KiB: every IP packet, every buffer of a frame */

static LLVMValueRef helper_call(struct cg *g, uint64_t id, LLVMTypeRef *params, unsigned n, LLVMValueRef *args)
{
	LLVMTypeRef ty = LLVMFunctionType(g->i64, params, n, 0);
	LLVMValueRef fn = LLVMConstIntToPtr(cg_const(g, g->i64, id), g->ptr);
	return LLVMBuildCall2(g->b, ty, fn, args, n, "");
}

/* The stack state a checksum loop passes its callback, in i64 slots: the
 * xdp_md, the offset summing starts at, the frame length, the sum. */
enum { CS_CTX, CS_FROM, CS_END, CS_SUM, CS_NSLOTS };

static LLVMValueRef cs_slot(struct cg *g, LLVMValueRef st, int i)
{
	return cg_gep_const(g, st, (uint64_t)i * 8);
}

/* Chunk i of the callback's body: bytes [from + 512 i, end) of the frame,
 * at most 512, copied to the scratch buffer (bpf_xdp_load_bytes reads
 * every buffer of a multi-buffer frame) and added to the sum. */
static void csum_chunk_body(struct cg *g, LLVMValueRef gv, LLVMValueRef i, LLVMValueRef st, LLVMBasicBlockRef stop)
{
	LLVMValueRef key = LLVMBuildAlloca(g->b, g->i32, "scratch_key");
	cg_store(g, cg_const(g, g->i32, 0), key, 4);
	LLVMValueRef buf = cg_map_lookup(g, gv, key);
	LLVMBasicBlockRef have = cg_block(g, "csum_buf"), more = cg_block(g, "csum_chunk");
	LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, buf, ""), stop, have);
	LLVMPositionBuilderAtEnd(g->b, have);
	LLVMValueRef at = LLVMBuildMul(g->b, LLVMBuildAnd(g->b, i, cg_const(g, g->i64, CG_CSUM_CHUNKS - 1), ""),
				       cg_const(g, g->i64, CG_CSUM_CHUNK), "");
	at = LLVMBuildAdd(g->b, at, cg_load(g, g->i64, cs_slot(g, st, CS_FROM), 8), "at");
	LLVMValueRef end = cg_load(g, g->i64, cs_slot(g, st, CS_END), 8);
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntUGE, at, end, ""), stop, more);
	LLVMPositionBuilderAtEnd(g->b, more);
	LLVMValueRef n = LLVMBuildSub(g->b, end, at, "");
	n = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntUGT, n, cg_const(g, g->i64, CG_CSUM_CHUNK), ""),
			    cg_const(g, g->i64, CG_CSUM_CHUNK), n, "");
	/* n in [1, 512] as the verifier sees it: ((n - 1) & 511) + 1 */
	n = LLVMBuildSub(g->b, cg_barrier_i64(g, n), cg_const(g, g->i64, 1), "");
	n = LLVMBuildAnd(g->b, n, cg_const(g, g->i64, CG_CSUM_CHUNK - 1), "");
	n = LLVMBuildAdd(g->b, n, cg_const(g, g->i64, 1), "chunk_len");
	/* zeros where the chunk's last word ends past its bytes */
	LLVMValueRef w = LLVMBuildAnd(g->b, n, cg_const(g, g->i64, ~3ull), "");
	cg_store(g, cg_const(g, g->i32, 0), LLVMBuildGEP2(g->b, g->i8, buf, &w, 1, ""), 4);
	LLVMTypeRef p4[4] = { g->ptr, g->i32, g->ptr, g->i32 };
	LLVMValueRef a4[4] = { cg_load(g, g->ptr, cs_slot(g, st, CS_CTX), 8), LLVMBuildTrunc(g->b, at, g->i32, ""),
			       buf, LLVMBuildTrunc(g->b, n, g->i32, "") };
	LLVMValueRef r = helper_call(g, CG_HELPER_XDP_LOAD_BYTES, p4, 4, a4);
	LLVMBasicBlockRef loaded = cg_block(g, "csum_loaded");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, r, cg_const(g, g->i64, 0), ""), loaded, stop);
	LLVMPositionBuilderAtEnd(g->b, loaded);
	LLVMValueRef n4 = LLVMBuildAnd(g->b, LLVMBuildAdd(g->b, n, cg_const(g, g->i64, 3), ""),
				       cg_const(g, g->i64, ~3ull), "");
	LLVMTypeRef p5[5] = { g->ptr, g->i32, g->ptr, g->i32, g->i32 };
	LLVMValueRef sum = LLVMBuildTrunc(g->b, cg_load(g, g->i64, cs_slot(g, st, CS_SUM), 8), g->i32, "");
	LLVMValueRef a5[5] = { LLVMConstNull(g->ptr), cg_const(g, g->i32, 0), buf,
			       LLVMBuildTrunc(g->b, n4, g->i32, ""), sum };
	sum = helper_call(g, CG_HELPER_CSUM_DIFF, p5, 5, a5);
	cg_store(g, LLVMBuildAnd(g->b, sum, cg_const(g, g->i64, 0xffffffff), ""), cs_slot(g, st, CS_SUM), 8);
	LLVMBuildRet(g->b, cg_const(g, g->i64, 0));
}

/* long _xdpl_csum_chunk(u64 i, void *state): the bpf_loop callback that
 * sums chunk i; 1 (stop) past the frame's end. One per program. */
static LLVMValueRef csum_callback(struct cg *g, const struct ir_map *scratch)
{
	static const char name[] = "_xdpl_csum_chunk";
	LLVMValueRef fn = LLVMGetNamedFunction(g->m, name);
	if (fn)
		return fn;
	int line = scratch->line > 0 ? scratch->line : 1;
	LLVMMetadataRef sp;
	fn = cg_add_callback(g, name, line, &sp);
	/* built with the shared helpers: g->b and g->fn point into it meanwhile */
	LLVMBuilderRef outer = g->b;
	LLVMValueRef outer_fn = g->fn;
	g->b = LLVMCreateBuilderInContext(g->C);
	g->fn = fn;
	LLVMSetCurrentDebugLocation2(g->b, LLVMDIBuilderCreateDebugLocation(g->C, (unsigned)line, 0, sp, NULL));
	LLVMBasicBlockRef entry = cg_block(g, "entry"), stop = cg_block(g, "stop");
	LLVMPositionBuilderAtEnd(g->b, stop);
	LLVMBuildRet(g->b, cg_const(g, g->i64, 1));
	LLVMPositionBuilderAtEnd(g->b, entry);
	csum_chunk_body(g, cg_map_global(g, scratch), LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), stop);
	LLVMDisposeBuilder(g->b);
	g->b = outer;
	g->fn = outer_fn;
	return fn;
}

/* The checksum (with pseudo header) of the bytes from data + off to the
 * end of the frame, written at data + off + csum_at. The bytes are copied
 * in chunks of up to 512 to the per-CPU scratch buffer (the stack is too
 * small; bpf_xdp_load_bytes also reads the fragments of a multi-buffer
 * frame) and summed there (bpf_csum_diff), by a bpf_loop callback: the
 * verifier checks it once, whatever the frame length, where walking the
 * packet itself would branch on every step. A chunk's odd end is padded
 * with zeros, which the one's complement sum treats as RFC 1071 does. */
static void pseudo_csum(struct cg *g, const struct ir_map *scratch, LLVMValueRef data, int off, int csum_at,
			LLVMValueRef seed_be)
{
	if (!scratch || !cg_map_global(g, scratch) || scratch->value_size < CG_CSUM_CHUNK + 8) {
		cg_fail(g, "codegen: internal error: no scratch buffer for a checksum");
		return;
	}
	LLVMValueRef cb = csum_callback(g, scratch);
	LLVMValueRef st = cg_entry_alloca(g, LLVMArrayType2(g->i64, CS_NSLOTS), 8, "csum_state");
	/* live only around the loop, so that every checksum shares one slot */
	cg_lifetime(g, true, st, CS_NSLOTS * 8);
	/* the big-endian partial sum in bpf_csum_diff's (native) byte order */
	LLVMValueRef s0 = fold16(g, seed_be);
	s0 = LLVMBuildZExt(g->b, bswap_n(g, LLVMBuildTrunc(g->b, s0, g->i16, ""), 2), g->i64, "");
	LLVMTypeRef p1[1] = { g->ptr };
	LLVMValueRef a1[1] = { g->ctx };
	cg_store(g, g->ctx, cs_slot(g, st, CS_CTX), 8);
	cg_store(g, cg_const(g, g->i64, (uint64_t)off), cs_slot(g, st, CS_FROM), 8);
	cg_store(g, helper_call(g, CG_HELPER_XDP_GET_BUFF_LEN, p1, 1, a1), cs_slot(g, st, CS_END), 8);
	cg_store(g, s0, cs_slot(g, st, CS_SUM), 8);
	LLVMTypeRef lp[4] = { g->i32, g->ptr, g->ptr, g->i64 };
	LLVMValueRef la[4] = { cg_const(g, g->i32, CG_CSUM_CHUNKS), cb, st, cg_const(g, g->i64, 0) };
	LLVMBuildCall2(g->b, LLVMFunctionType(g->i64, lp, 4, 0),
		       LLVMConstIntToPtr(cg_const(g, g->i64, CG_HELPER_LOOP), g->ptr), la, 4, "");
	LLVMValueRef sum = LLVMBuildTrunc(g->b, cg_load(g, g->i64, cs_slot(g, st, CS_SUM), 8), g->i32, "csum_sum");
	cg_lifetime(g, false, st, CS_NSLOTS * 8);
	LLVMValueRef c = LLVMBuildXor(g->b, fold16(g, sum), cg_const(g, g->i32, 0xffff), "");
	c = LLVMBuildTrunc(g->b, c, g->i16, "");
	c = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, c, LLVMConstInt(g->i16, 0, 0), ""),
			    LLVMConstInt(g->i16, 0xffff, 0), c, "");
	cg_volatile_store(g, c, cg_gep_const(g, data, (uint64_t)(off + csum_at)), 2);
}

struct encap_run {
	const struct ir_stmt *s;
	LLVMValueRef *vals;     /* per patch: IRP_VALUE values */
	LLVMValueRef inner_len, is6;
	LLVMBasicBlockRef skip; /* where an encap that cannot be done goes */
};

/* An outer length that does not fit its 16-bit field (the inner frame of
 * a multi-buffer frame can be 64 KiB): the encap is not done. */
static LLVMValueRef len_fits(struct cg *g, struct encap_run *R, LLVMValueRef v)
{
	LLVMBasicBlockRef ok = cg_block(g, "outer_len_ok");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULE, v, cg_const(g, g->i64, 0xffff), ""), ok, R->skip);
	LLVMPositionBuilderAtEnd(g->b, ok);
	return v;
}

static int layer_size(const struct ir_template *t, int i)
{
	return (i + 1 < t->nlayers ? t->offsets[i + 1] : (int)t->len) - t->offsets[i];
}

/* Write the template and its patches at data + base (the template), with
 * the inserted bytes ending where the inner packet starts. */
static void encap_write(struct cg *g, struct encap_run *R, LLVMValueRef data, int base)
{
	const struct ir_template *t = R->s->tmpl;
	const struct ir_encap *E = R->s->encap;
	put_const_bytes(g, data, base, t->bytes, (int)t->len);
	for (int i = 0; i < E->npatches && !g->failed; i++) {
		const struct ir_patch *x = &E->patches[i];
		int lo = t->offsets[x->layer], T = (int)t->len;
		LLVMValueRef v = NULL;
		switch (x->kind) {
		case IRP_VALUE: v = R->vals[i]; break;
		case IRP_TOTAL_LEN:
			v = len_fits(g, R, LLVMBuildAdd(g->b, R->inner_len, LLVMConstInt(g->i64, (uint64_t)(T - lo), 0), ""));
			break;
		case IRP_PAYLOAD_LEN:
			v = len_fits(g, R, LLVMBuildAdd(g->b, R->inner_len,
							 LLVMConstInt(g->i64, (uint64_t)(T - lo - layer_size(t, x->layer)), 0), ""));
			break;
		case IRP_INNER_KEY:
			v = LLVMBuildSelect(g->b, R->is6, LLVMConstInt(g->i64, x->v6, 0), LLVMConstInt(g->i64, x->v4, 0), "");
			break;
		case IRP_CSUM_PSEUDO: {
			/* pseudo header: addresses, protocol, this layer's length */
			LLVMValueRef sum = LLVMBuildTrunc(
				g->b,
				LLVMBuildAdd(g->b, R->inner_len, LLVMConstInt(g->i64, (uint64_t)(T - lo + (int)x->proto), 0), ""),
				g->i32, "");
			for (int o = 0; o < 2 * x->addr_bytes; o += 2)
				sum = LLVMBuildAdd(g->b, sum, load_bytes(g, data, base + x->addr_off + o, 2, g->i32), "");
			pseudo_csum(g, E->scratch, data, base + lo, x->bit_offset / 8 - lo, sum);
			continue;
		}
		case IRP_CSUM: {
			LLVMValueRef sum = cg_const(g, g->i32, 0);
			for (int o = 0; o < layer_size(t, x->layer); o += 2)
				sum = LLVMBuildAdd(g->b, sum, load_bytes(g, data, base + lo + o, 2, g->i32), "");
			v = LLVMBuildXor(g->b, fold16(g, sum), cg_const(g, g->i32, 0xffff), "");
			break;
		}
		}
		put_bits(g, data, base, x->bit_offset, x->bits, v);
	}
}

/* Width of the link headers' select key (eth.type: 2), their last field. */
static int link_key_bytes(struct cg *g, const struct ir_encap *E)
{
	const struct ir_header *H = &g->p->headers[E->link[0]];
	return H->fields[H->nfields - 1].bits / 8;
}

/* The link key (the outer EtherType) into the bytes just before `end`. */
static void put_link_key(struct cg *g, const struct ir_encap *E, LLVMValueRef data, int end)
{
	int kb = link_key_bytes(g, E);
	uint8_t key[8] = { 0 };
	for (int i = 0; i < kb && kb <= 8; i++)
		key[i] = (uint8_t)(E->link_key >> (8 * (kb - 1 - i)));
	put_const_bytes(g, data, end - kb, key, kb);
}

/* L3: link headers [0, L) move to the front, the template goes at L. */
static void encap_l3_at(struct cg *g, void *arg, int L, LLVMBasicBlockRef skip)
{
	struct encap_run *R = arg;
	const struct ir_encap *E = R->s->encap;
	int T = (int)R->s->tmpl->len;
	LLVMValueRef data = grow_head(g, T, L + T, skip);
	move_bytes(g, data, T, 0, L);
	put_link_key(g, E, data, L);
	encap_write(g, R, data, L);
}

/* Where an encap or decap that cannot be done goes: the packet is dropped
 * (not counted), rather than sent on without (or with half) its tunnel. */
static LLVMBasicBlockRef drop_block(struct cg *g)
{
	LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b), bb = cg_block(g, "tunnel_failed");
	LLVMPositionBuilderAtEnd(g->b, bb);
	LLVMBuildRet(g->b, cg_const(g, g->i32, XDPL_ACTION_DROP));
	LLVMPositionBuilderAtEnd(g->b, here);
	return bb;
}

static void emit_encap(struct cg *g, struct rw_ctx *x0, const struct ir_stmt *s)
{
	struct rw_ctx xd = *x0, *x = &xd;
	x->skip = drop_block(g);
	const struct ir_encap *E = s->encap;
	const struct ir_template *t = s->tmpl;
	if (!E || !t || t->len == 0 || t->len > 128 || E->nlink <= 0) {
		cg_fail(g, "codegen: internal error: bad encap");
		return;
	}
	struct encap_run R = { .s = s, .skip = x->skip };
	R.vals = calloc((size_t)E->npatches + 1, sizeof(*R.vals));
	if (!R.vals) {
		cg_fail(g, "codegen: out of memory");
		return;
	}
	/* values read the packet as it was before the encap */
	for (int i = 0; i < E->npatches && !g->failed; i++)
		if (E->patches[i].kind == IRP_VALUE)
			R.vals[i] = cg_rewrite_val(g, E->patches[i].value, x->skip);
	if (!E->l2) {
		inner_ip(g, E, x->skip, &R.inner_len, &R.is6);
		per_link_variant(g, E, x->skip, encap_l3_at, &R);
		free(R.vals);
		return;
	}
	/* L2: the whole frame is the payload */
	int eth_len = g->p->headers[E->link[0]].fixed_bytes;
	int base = E->copy_eth ? eth_len : 0, ins = (int)t->len + base;
	R.inner_len = LLVMBuildZExtOrBitCast(g->b, g->pkt_len, g->i64, "");
	R.is6 = LLVMConstInt(g->i1, 0, 0);
	LLVMValueRef data = grow_head(g, ins, ins + eth_len, x->skip);
	if (E->copy_eth) {
		move_bytes(g, data, ins, 0, eth_len - link_key_bytes(g, E));
		put_link_key(g, E, data, eth_len);
	}
	encap_write(g, &R, data, base);
	free(R.vals);
}

static LLVMValueRef ptr_diff(struct cg *g, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSub(g->b, LLVMBuildPtrToInt(g->b, a, g->i64, ""), LLVMBuildPtrToInt(g->b, b, g->i64, ""), "");
}

struct decap_run {
	const struct ir_encap *E;
	LLVMValueRef inner, start, is6; /* inner IP header, packet start (as parsed) */
};

/* L3 decap: the link headers [0, L) are kept, the bytes from L to the
 * inner IP header go. */
static void decap_l3_at(struct cg *g, void *arg, int L, LLVMBasicBlockRef skip)
{
	struct decap_run *R = arg;
	const struct ir_encap *E = R->E;
	if (L > 32) {
		cg_fail(g, "codegen: internal error: link headers too long");
		return;
	}
	LLVMValueRef data = fresh_data(g, L, skip);
	LLVMValueRef saved[8];
	int sz[8], k = 0;
	for (int o = 0; o < L && k < 8; k++) {
		sz[k] = L - o >= 8 ? 8 : L - o >= 4 ? 4 : L - o >= 2 ? 2 : 1;
		saved[k] = cg_volatile_load(g, nbytes_ty(g, sz[k]), cg_gep_const(g, data, (uint64_t)o), (unsigned)sz[k]);
		o += sz[k];
	}
	LLVMValueRef cut = LLVMBuildSub(g->b, ptr_diff(g, R->inner, R->start), LLVMConstInt(g->i64, (uint64_t)L, 0), "");
	LLVMValueRef r = adjust_head_by(g, LLVMBuildTrunc(g->b, cut, g->i32, ""));
	LLVMBasicBlockRef ok = cg_block(g, "decapped");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, r, cg_const(g, g->i64, 0), ""), ok, skip);
	LLVMPositionBuilderAtEnd(g->b, ok);
	data = fresh_data(g, L, skip);
	for (int i = 0, o = 0; i < k; o += sz[i], i++)
		cg_volatile_store(g, saved[i], cg_gep_const(g, data, (uint64_t)o), (unsigned)sz[i]);
	int kb = link_key_bytes(g, E);
	LLVMValueRef key = LLVMBuildSelect(g->b, R->is6, LLVMConstInt(g->i64, E->key_v6, 0),
					   LLVMConstInt(g->i64, E->key_v4, 0), "");
	store_bytes(g, data, L - kb, kb, key, g->i64);
}

static void emit_decap(struct cg *g, struct rw_ctx *x0, const struct ir_stmt *s)
{
	struct rw_ctx xd = *x0, *x = &xd;
	x->skip = drop_block(g);
	const struct ir_encap *E = s->encap;
	if (!E || E->nlink <= 0) {
		cg_fail(g, "codegen: internal error: bad decap");
		return;
	}
	LLVMBasicBlockRef l2 = cg_block(g, "decap_l2"), l3 = cg_block(g, "decap_l3");
	LLVMBasicBlockRef done = cg_block(g, "decap_done");
	if (E->eth_inner >= 0)
		LLVMBuildCondBr(g->b, present(g, E->eth_inner), l2, l3);
	else
		LLVMBuildBr(g->b, l3);

	/* the outer frame goes: the inner Ethernet header is the packet */
	LLVMPositionBuilderAtEnd(g->b, l2);
	if (E->eth_inner >= 0) {
		need_present(g, E->link[0], x->skip);
		LLVMValueRef cut = ptr_diff(g, slot_ptr(g, E->eth_inner), slot_ptr(g, E->link[0]));
		adjust_head_by(g, LLVMBuildTrunc(g->b, cut, g->i32, ""));
		LLVMBuildBr(g->b, done);
	} else {
		LLVMBuildUnreachable(g->b);
	}

	/* the outer IP header (and GRE/UDP) goes */
	LLVMPositionBuilderAtEnd(g->b, l3);
	struct decap_run R = { .E = E };
	LLVMBasicBlockRef i4 = cg_block(g, "decap_inner4"), i6 = cg_block(g, "decap_inner6");
	LLVMBasicBlockRef go = cg_block(g, "decap_go");
	R.is6 = present(g, E->inner_ip6);
	LLVMBuildCondBr(g->b, R.is6, i6, i4);
	LLVMPositionBuilderAtEnd(g->b, i4);
	need_present(g, E->inner_ip4, x->skip);
	LLVMValueRef p4 = slot_ptr(g, E->inner_ip4);
	LLVMBasicBlockRef from4 = LLVMGetInsertBlock(g->b);
	LLVMBuildBr(g->b, go);
	LLVMPositionBuilderAtEnd(g->b, i6);
	LLVMValueRef p6 = slot_ptr(g, E->inner_ip6);
	LLVMBasicBlockRef from6 = LLVMGetInsertBlock(g->b);
	LLVMBuildBr(g->b, go);
	LLVMPositionBuilderAtEnd(g->b, go);
	R.inner = LLVMBuildPhi(g->b, g->ptr, "inner");
	LLVMAddIncoming(R.inner, &p4, &from4, 1);
	LLVMAddIncoming(R.inner, &p6, &from6, 1);
	need_present(g, E->link[0], x->skip);
	R.start = slot_ptr(g, E->link[0]);
	per_link_variant(g, E, x->skip, decap_l3_at, &R);
	if (!g->failed)
		LLVMBuildBr(g->b, done);
	LLVMPositionBuilderAtEnd(g->b, done);
}

static void emit_stmt(struct cg *g, struct rw_ctx *x, const struct ir_stmt *s)
{
	LLVMValueRef a[MAX_PIECES], b[MAX_PIECES];
	cg_set_loc(g, x->r->file, s->line > 0 ? s->line : x->r->line);
	switch (s->kind) {
	case IS_PUSH: emit_push(g, x, s); return;
	case IS_POP: emit_pop(g, x, s); return;
	case IS_ENCAP: emit_encap(g, x, s); return;
	case IS_DECAP: emit_decap(g, x, s); return;
	default: break;
	}
	if (s->kind == IS_ASSIGN) {
		LLVMValueRef v = cg_rewrite_val(g, s->value, x->skip);
		if (!g->failed && split_value(g, s->hdr, s->field, v, a))
			write_field(g, x, s->hdr, s->field, a);
		return;
	}
	if (!read_field(g, x, s->hdr, s->field, a) || !read_field(g, x, s->hdr2, s->field2, b))
		return;
	write_field(g, x, s->hdr, s->field, b);
	write_field(g, x, s->hdr2, s->field2, a);
}

/* One alternative of a generic-name rewrite runs only where its headers
 * are present (the others are skipped, not the rule). */
static void emit_guarded_stmt(struct cg *g, struct rw_ctx *x, const struct ir_stmt *s)
{
	if (!s->if_present) {
		emit_stmt(g, x, s);
		return;
	}
	int hs[2] = { s->hdr, s->kind == IS_SWAP ? s->hdr2 : -1 };
	LLVMBasicBlockRef after = cg_block(g, "alt_done");
	LLVMValueRef saved[2] = { NULL, NULL };
	for (int i = 0; i < 2; i++) {
		int h = hs[i];
		if (h < 0 || x->ptr[h])
			continue;
		LLVMBasicBlockRef ok = cg_block(g, "alt_present");
		LLVMBuildCondBr(g->b, present(g, h), ok, after);
		LLVMPositionBuilderAtEnd(g->b, ok);
		x->ptr[h] = slot_ptr(g, h);
		saved[i] = x->ptr[h];
	}
	LLVMBasicBlockRef skip = x->skip;
	x->skip = after; /* a value it cannot read: this alternative only */
	emit_stmt(g, x, s);
	x->skip = skip;
	for (int i = 0; i < 2; i++)
		if (saved[i])
			x->ptr[hs[i]] = NULL; /* valid on this path only */
	if (!g->failed)
		LLVMBuildBr(g->b, after);
	LLVMPositionBuilderAtEnd(g->b, after);
}

static bool valid_stmt(struct cg *g, const struct ir_stmt *s)
{
	const struct ir_program *p = g->p;
	if (s->kind == IS_ENCAP || s->kind == IS_DECAP)
		return true; /* checked where emitted */
	if (s->kind == IS_PUSH || s->kind == IS_POP) {
		if (s->hdr >= 0 && s->hdr < p->nheaders && !p->headers[s->hdr].is_meta)
			return true;
		cg_fail(g, "codegen: internal error: bad push/pop");
		return false;
	}
	int hs[2] = { s->hdr, s->hdr2 }, fs[2] = { s->field, s->field2 };
	for (int i = 0; i < (s->kind == IS_SWAP ? 2 : 1); i++)
		if (hs[i] < 0 || hs[i] >= p->nheaders || p->headers[hs[i]].is_meta || fs[i] < 0 ||
		    fs[i] >= p->headers[hs[i]].nfields) {
			cg_fail(g, "codegen: internal error: bad rewrite target");
			return false;
		}
	return true;
}

/* Rule r decided: its field rewrites, then on to `cont`. */
static void emit_rule_rewrites(struct cg *g, const struct ir_rule *r, LLVMBasicBlockRef cont)
{
	const struct ir_program *p = g->p;
	struct rw_ctx x = { .r = r, .skip = cont };
	x.ptr = calloc((size_t)p->nheaders + 1, sizeof(*x.ptr));
	bool *req = calloc((size_t)p->nheaders + 1, sizeof(*req));
	if (!x.ptr || !req) {
		cg_fail(g, "codegen: out of memory");
		goto out;
	}
	for (int i = 0; i < r->nstmts; i++) {
		const struct ir_stmt *s = r->stmts[i];
		if (!is_rewrite(s))
			continue;
		if (!valid_stmt(g, s))
			goto out;
		if (ir_stmt_info(s->kind)->moves_head)
			continue; /* they read the packet start afresh */
		if (s->if_present)
			continue; /* checked where it runs */
		req[s->hdr] = true;
		if (s->kind == IS_SWAP)
			req[s->hdr2] = true;
	}
	cg_set_loc(g, r->file, r->line);
	for (int h = 0; h < p->nheaders; h++) {
		if (!req[h])
			continue;
		LLVMBasicBlockRef ok = cg_block(g, "rw_present");
		LLVMBuildCondBr(g->b, present(g, h), ok, cont);
		LLVMPositionBuilderAtEnd(g->b, ok);
		x.ptr[h] = slot_ptr(g, h);
	}
	for (int i = 0; i < r->nstmts && !g->failed; i++)
		if (is_rewrite(r->stmts[i]))
			emit_guarded_stmt(g, &x, r->stmts[i]);
	if (!g->failed)
		LLVMBuildBr(g->b, cont);
out:
	free(x.ptr);
	free(req);
}

bool cg_continue_rewrites(const struct ir_program *p)
{
	for (int i = 0; p && i < p->nrules; i++)
		if (p->rules[i].verdict.kind == IRV_CONTINUE && rule_rewrites(&p->rules[i]))
			return true;
	return false;
}

/* A `continue` rule's field rewrites, where it matched: later rules read
 * the packet (CG_SPEC reads fields from the packet, never from a copy),
 * so they see the rewritten fields (reference §12). */
void cg_emit_continue_rewrites(struct cg *g, const struct ir_rule *r)
{
	if (!rule_rewrites(r) || g->failed)
		return;
	if (g->mode != CG_SPEC || g->in_chunk) {
		cg_fail(g, "codegen: field rewrites with `continue` need the rules in one function "
			   "(at most %d headers read, no more rules than CG_SPEC takes)", 64);
		return;
	}
	bool in_rules = g->in_rules, no_presence = g->no_presence;
	int cur_hdr = g->cur_hdr;
	g->in_rules = false;
	g->no_presence = false;
	g->cur_hdr = -1;
	LLVMBasicBlockRef cont = cg_block(g, "rewritten");
	emit_rule_rewrites(g, r, cont);
	LLVMPositionBuilderAtEnd(g->b, cont);
	g->in_rules = in_rules;
	g->no_presence = no_presence;
	g->cur_hdr = cur_hdr;
}

/* In the shared tail (builder at its start, after the slot/action phis):
 * run the deciding rule's field rewrites. */
void cg_emit_rewrites(struct cg *g)
{
	const struct ir_program *p = g->p;
	if (!cg_rewrites_packet(p) || g->failed)
		return;
	bool in_rules = g->in_rules, no_presence = g->no_presence;
	int cur_hdr = g->cur_hdr;
	g->in_rules = false; /* read header fields from the packet */
	g->no_presence = false;
	g->cur_hdr = -1;
	LLVMBasicBlockRef cont = cg_block(g, "rewritten");
	int n = 0;
	for (int i = 0; i < p->nrules; i++)
		n += rule_rewrites(&p->rules[i]);
	LLVMValueRef sw = LLVMBuildSwitch(g->b, g->finish_slot, cont, (unsigned)n);
	for (int i = 0; i < p->nrules && !g->failed; i++) {
		const struct ir_rule *r = &p->rules[i];
		if (!rule_rewrites(r) || r->verdict.kind == IRV_CONTINUE)
			continue;
		LLVMBasicBlockRef bb = cg_block(g, r->name ? r->name : "rewrite");
		LLVMAddCase(sw, cg_const(g, g->i32, (uint64_t)r->index), bb);
		LLVMPositionBuilderAtEnd(g->b, bb);
		emit_rule_rewrites(g, r, cont);
	}
	LLVMPositionBuilderAtEnd(g->b, cont);
	g->in_rules = in_rules;
	g->no_presence = no_presence;
	g->cur_hdr = cur_hdr;
}
