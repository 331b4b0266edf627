/* Values, conditions, rules and verdicts.
 *
 * Values are held zero-extended in an i64 (up to 64 bits) or an i128 (ip6),
 * numerically as on the wire: fields are read MSB-first from network-order
 * bytes, so `tcp.dport == 22` compares numbers. LLVM narrows and folds
 * byte swaps into constants where it can.
 *
 * Absence is control flow: emitting a value takes the block to go to when
 * any header, meta variable or map element it reads is missing, and an
 * atom passes its false block there. That is exactly the rule "an atom
 * that reads something absent is false, including !=", and `not` (which
 * swaps the true and false blocks) then negates the atom's result.
 *
 * How headers are read depends on the mode (codegen_internal.h): CG_SPEC
 * knows statically which headers are present and reads the packet;
 * CG_RECORD reads the record with volatile loads, so that no value and no
 * verifier knowledge carries over from one rule to the next. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"

#define S(x) x, sizeof(x) - 1

/* ---------------------------------------------------------------- integers */

LLVMTypeRef cg_repr(struct cg *g, int bits)
{
	return bits > 64 ? g->i128 : g->i64;
}

static LLVMValueRef const_bits(struct cg *g, int bits, uint64_t hi, uint64_t lo)
{
	if (bits > 64) {
		uint64_t words[2] = { lo, hi };
		return LLVMConstIntOfArbitraryPrecision(g->i128, 2, words);
	}
	return LLVMConstInt(g->i64, lo, 0);
}

/* The low n bits set, as a 128-bit hi:lo pair. */
static void low_ones(int n, uint64_t *hi, uint64_t *lo)
{
	*lo = n >= 64 ? ~0ull : n <= 0 ? 0 : (1ull << n) - 1;
	*hi = n >= 128 ? ~0ull : n <= 64 ? 0 : (1ull << (n - 64)) - 1;
}

/* All ones in the low `bits` bits, in the representation of `bits`. */
static LLVMValueRef mask_const(struct cg *g, int bits)
{
	uint64_t hi, lo;
	low_ones(bits, &hi, &lo);
	return const_bits(g, bits, hi, lo);
}

static unsigned width_of(LLVMValueRef v)
{
	return LLVMGetIntTypeWidth(LLVMTypeOf(v));
}

/* Any integer value -> the representation of `bits`, truncated to `bits`. */
LLVMValueRef cg_fit(struct cg *g, LLVMValueRef v, int bits)
{
	if (bits <= 0)
		bits = 64;
	LLVMTypeRef t = cg_repr(g, bits);
	unsigned w = width_of(v), tw = LLVMGetIntTypeWidth(t);
	if (w < tw)
		v = LLVMBuildZExt(g->b, v, t, "");
	else if (w > tw)
		v = LLVMBuildTrunc(g->b, v, t, "");
	if ((unsigned)bits < tw)
		v = LLVMBuildAnd(g->b, v, mask_const(g, bits), "");
	return v;
}

/* Zero-extend to a common width (for compares and binary ops). */
static void widen(struct cg *g, LLVMValueRef *a, LLVMValueRef *b)
{
	unsigned wa = width_of(*a), wb = width_of(*b);
	if (wa < wb)
		*a = LLVMBuildZExt(g->b, *a, LLVMTypeOf(*b), "");
	else if (wb < wa)
		*b = LLVMBuildZExt(g->b, *b, LLVMTypeOf(*a), "");
}

static LLVMValueRef bswap(struct cg *g, LLVMValueRef v)
{
	if (width_of(v) <= 8)
		return v;
	return cg_intrinsic(g, "llvm.bswap", LLVMTypeOf(v), &v, 1);
}

static LLVMTypeRef int_bytes(struct cg *g, int n)
{
	return LLVMIntTypeInContext(g->C, (unsigned)n * 8);
}

/* ---------------------------------------------------------------- packet reads */

/* Where rule code reads a header's bytes: the packet (p = the checked
 * header pointer), or in CG_RECORD the record, where header byte o is at
 * p + (o - bias) with p + (o - bias) = o mod 8 (stack loads must be
 * aligned). */
struct hview {
	LLVMValueRef p;
	int bias;
	bool rec;
};

static void weigh_branch(struct cg *g, LLVMValueRef br, LLVMBasicBlockRef t, LLVMBasicBlockRef f);

/* Packet loads are not marked invariant: GVN would then keep field
 * values in registers across the helper calls of earlier rules, and the
 * callee-saved registers they take cost spills on the hot paths (measured
 * on bench/acl); loading a field again from the packet is cheaper. */

/* One big-endian chunk of s = 1/2/4/8 bytes at base + off. Loads get the
 * natural alignment of their size like a C struct access would: the
 * verifier allows unaligned packet access on this architecture, and the
 * BPF backend would otherwise split them into byte loads. */
static LLVMValueRef load_be_chunk(struct cg *g, LLVMValueRef base, int off, int s)
{
	LLVMValueRef ld = cg_load(g, int_bytes(g, s), cg_gep_const(g, base, (uint64_t)off), (unsigned)s);
	return bswap(g, ld);
}

/* Bytes [ws, ws + wn) of the header as one big-endian integer. */
static LLVMValueRef load_be(struct cg *g, LLVMValueRef base, int ws, int wn)
{
	LLVMTypeRef t = wn > 8 ? g->i128 : g->i64;
	LLVMValueRef w = NULL;
	while (wn > 0) {
		int s = wn >= 8 ? 8 : wn >= 4 ? 4 : wn >= 2 ? 2 : 1;
		LLVMValueRef c = LLVMBuildZExt(g->b, load_be_chunk(g, base, ws, s), t, "");
		if (!w)
			w = c;
		else
			w = LLVMBuildOr(g->b, LLVMBuildShl(g->b, w, LLVMConstInt(t, (uint64_t)s * 8, 0), ""),
					c, "");
		ws += s;
		wn -= s;
	}
	return w;
}

/* Which bytes to load for a field covering bytes [first, last] of a header
 * with `hb` checked bytes: one load of the next power-of-two size when it
 * fits inside the checked bytes (reads beyond them would be rejected),
 * else exactly the covered bytes in pieces. */
static void field_window(int first, int last, int hb, int *ws, int *wn)
{
	int n = last - first + 1;
	int s = n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : n <= 8 ? 8 : 16;
	for (int start = first; start >= last + 1 - s; start--) {
		if (start >= 0 && start + s <= hb) {
			*ws = start;
			*wn = s;
			return;
		}
	}
	*ws = first;
	*wn = n;
}

/* Bytes [ws, ws + wn) of a header in the record as one big-endian
 * integer: volatile loads in aligned pieces. */
static LLVMValueRef load_be_rec(struct cg *g, struct hview hv, int ws, int wn)
{
	LLVMTypeRef t = wn > 8 ? g->i128 : g->i64;
	LLVMValueRef w = NULL;
	for (int o = ws, end = ws + wn; o < end;) {
		int s = 8;
		while (s > end - o || o % s)
			s /= 2;
		LLVMValueRef ld = cg_volatile_load(g, int_bytes(g, s),
						   cg_gep_const(g, hv.p, (uint64_t)(o - hv.bias)), (unsigned)s);
		LLVMValueRef c = LLVMBuildZExt(g->b, bswap(g, ld), t, "");
		w = w ? LLVMBuildOr(g->b, LLVMBuildShl(g->b, w, LLVMConstInt(t, (uint64_t)s * 8, 0), ""), c, "")
		      : c;
		o += s;
	}
	return w;
}

static LLVMValueRef read_field(struct cg *g, struct hview hv, const struct ir_header *h,
			       const struct ir_field *f)
{
	if (f->bits <= 0 || f->bit_offset < 0 || f->bit_offset + f->bits > h->fixed_bytes * 8) {
		cg_fail(g, "codegen: internal error: field %s.%s is outside the header's fixed bytes",
			h->name, f->name);
		return LLVMConstInt(g->i64, 0, 0);
	}
	int first = f->bit_offset / 8, last = (f->bit_offset + f->bits - 1) / 8, ws, wn;
	LLVMValueRef w;
	if (hv.rec) {
		ws = first;
		wn = last - first + 1;
		w = load_be_rec(g, hv, ws, wn);
	} else {
		field_window(first, last, h->fixed_bytes, &ws, &wn);
		w = load_be(g, hv.p, ws, wn);
	}
	int shift = (ws + wn) * 8 - (f->bit_offset + f->bits);
	if (shift)
		w = LLVMBuildLShr(g->b, w, LLVMConstInt(LLVMTypeOf(w), (uint64_t)shift, 0), "");
	return cg_fit(g, w, f->bits);
}

LLVMValueRef cg_volatile_load(struct cg *g, LLVMTypeRef t, LLVMValueRef p, unsigned align)
{
	LLVMValueRef v = cg_load(g, t, p, align);
	LLVMSetVolatile(v, 1);
	return v;
}

void cg_volatile_store(struct cg *g, LLVMValueRef v, LLVMValueRef p, unsigned align)
{
	LLVMValueRef st = LLVMBuildStore(g->b, v, p);
	LLVMSetAlignment(st, align);
	LLVMSetVolatile(st, 1);
}

static bool rule_reads(struct cg *g, int hi)
{
	return g->in_rules && g->rel && g->rel[hi] >= 0;
}

/* A block nothing branches to, for the code after a test that is false
 * by construction (CG_SPEC: a header that cannot be present here). */
static void go_dead(struct cg *g, LLVMBasicBlockRef to)
{
	LLVMBuildBr(g->b, to);
	LLVMPositionBuilderAtEnd(g->b, cg_block(g, "never"));
}

/* A presence or "set" byte of the record, as an i1. */
static LLVMValueRef rec_flag(struct cg *g, int off)
{
	LLVMValueRef b = cg_volatile_load(g, g->i8, cg_gep_const(g, g->rec, (uint64_t)off), 1);
	return LLVMBuildICmp(g->b, LLVMIntNE, b, LLVMConstInt(g->i8, 0, 0), "");
}

/* Is header hi present: an i1, constant where that is known (CG_SPEC). */
static LLVMValueRef present_flag(struct cg *g, int hi)
{
	if (rule_reads(g, hi)) {
		if (g->mode == CG_SPEC)
			return LLVMConstInt(g->i1, (g->pres >> g->rel[hi]) & 1, 0);
		return rec_flag(g, g->rec_pres[hi]);
	}
	return LLVMBuildLoad2(g->b, g->i1, g->hdr_present[hi], g->p->headers[hi].name);
}

/* The bytes of a header, branching to `absent` when it was not parsed. */
static struct hview header_view(struct cg *g, int hi, LLVMBasicBlockRef absent)
{
	struct hview v = { 0 };
	if (hi == g->cur_hdr) {
		v.p = g->cur_ptr;
		return v;
	}
	LLVMValueRef present = g->no_presence && rule_reads(g, hi) && g->mode == CG_RECORD
				       ? LLVMConstInt(g->i1, 1, 0)
				       : present_flag(g, hi);
	if (LLVMIsAConstantInt(present)) {
		if (!LLVMConstIntGetZExtValue(present)) {
			go_dead(g, absent);
			v.p = LLVMConstNull(g->ptr);
			return v;
		}
	} else {
		LLVMBasicBlockRef ok = cg_block(g, "present");
		weigh_branch(g, LLVMBuildCondBr(g->b, present, ok, absent), ok, absent);
		LLVMPositionBuilderAtEnd(g->b, ok);
	}
	if (rule_reads(g, hi) && g->mode == CG_RECORD) {
		v.p = cg_gep_const(g, g->rec, (uint64_t)g->rec_base[hi]);
		v.bias = g->rec_bias[hi];
		v.rec = true;
		return v;
	}
	v.p = LLVMBuildLoad2(g->b, g->ptr, g->hdr_slot[hi], g->p->headers[hi].name);
	return v;
}

static bool valid_field(struct cg *g, int hi, int fi)
{
	if (hi < 0 || hi >= g->p->nheaders || fi < 0 || fi >= g->p->headers[hi].nfields) {
		cg_fail(g, "codegen: internal error: field %d of header %d does not exist", fi, hi);
		return false;
	}
	return true;
}

static bool meta_from_record(struct cg *g, int hi, int fi)
{
	return g->in_rules && g->mode == CG_RECORD && g->meta_rel && g->meta_rel[hi] &&
	       g->meta_rel[hi][fi];
}

static LLVMValueRef val_meta(struct cg *g, int hi, int fi, LLVMBasicBlockRef absent)
{
	const struct ir_field *f = &g->p->headers[hi].fields[fi];
	bool rec = meta_from_record(g, hi, fi);
	LLVMValueRef set = rec ? rec_flag(g, g->rec_mset[hi][fi])
			       : LLVMBuildLoad2(g->b, g->i1, g->meta_set[hi][fi], "");
	LLVMBasicBlockRef ok = cg_block(g, "meta_set");
	LLVMBuildCondBr(g->b, set, ok, absent);
	LLVMPositionBuilderAtEnd(g->b, ok);
	LLVMTypeRef t = cg_repr(g, f->bits);
	if (rec)
		return cg_volatile_load(g, t, cg_gep_const(g, g->rec, (uint64_t)g->rec_mval[hi][fi]), 8);
	return LLVMBuildLoad2(g->b, t, g->meta_val[hi][fi], f->name);
}

static LLVMValueRef val_field(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent)
{
	if (!valid_field(g, v->hdr, v->field))
		return LLVMConstInt(g->i64, 0, 0);
	const struct ir_header *h = &g->p->headers[v->hdr];
	if (h->is_meta)
		return val_meta(g, v->hdr, v->field, absent);
	struct hview hv = header_view(g, v->hdr, absent);
	return read_field(g, hv, h, &h->fields[v->field]);
}

/* A packet field as its bytes lie in the packet, for comparisons with
 * constants swapped at compile time (select arms): the bytes of the
 * field's load window as they are, zero-extended to an i64; the field is
 * (bswap(raw) >> shift) & its mask. NULL, with nothing emitted, when v
 * is not a field read from the packet in one load. */
LLVMValueRef cg_raw_field(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent, int *nbytes,
			  int *shift)
{
	if (!v || v->kind != IV_FIELD || v->hdr < 0 || v->hdr >= g->p->nheaders || v->field < 0 ||
	    v->field >= g->p->headers[v->hdr].nfields)
		return NULL;
	const struct ir_header *h = &g->p->headers[v->hdr];
	if (h->is_meta || (rule_reads(g, v->hdr) && g->mode == CG_RECORD))
		return NULL;
	const struct ir_field *f = &h->fields[v->field];
	if (f->bits <= 0 || f->bits > 64 || f->bit_offset < 0 ||
	    f->bit_offset + f->bits > h->fixed_bytes * 8)
		return NULL;
	int first = f->bit_offset / 8, last = (f->bit_offset + f->bits - 1) / 8, ws, wn;
	field_window(first, last, h->fixed_bytes, &ws, &wn);
	if (wn != 1 && wn != 2 && wn != 4 && wn != 8)
		return NULL;
	struct hview hv = header_view(g, v->hdr, absent);
	LLVMValueRef ld = cg_load(g, int_bytes(g, wn), cg_gep_const(g, hv.p, (uint64_t)ws), (unsigned)wn);
	*nbytes = wn;
	*shift = (ws + wn) * 8 - (f->bit_offset + f->bits);
	return LLVMBuildZExt(g->b, ld, g->i64, "raw");
}

/* ctx->ingress_ifindex and ctx->rx_queue_index: loaded in the entry block
 * the first time a rule needs them. */
static LLVMValueRef val_pkt(struct cg *g, const struct ir_val *v)
{
	LLVMValueRef *slot = NULL;
	unsigned off = 0;
	switch (v->pkt) {
	case IR_PKT_LEN: return g->pkt_len;
	case IR_PKT_IFINDEX: slot = &g->ifindex, off = 12; break;
	case IR_PKT_RXQ: slot = &g->rxq, off = 16; break;
	}
	if (!slot)
		return g->pkt_len;
	if (!*slot) {
		LLVMValueRef idx = cg_const(g, g->i64, off);
		LLVMValueRef p = LLVMBuildGEP2(g->eb, g->i8, g->ctx, &idx, 1, "");
		LLVMValueRef ld = LLVMBuildLoad2(g->eb, g->i32, p, "");
		LLVMSetAlignment(ld, 4);
		*slot = LLVMBuildZExt(g->eb, ld, g->i64, v->pkt == IR_PKT_RXQ ? "rxq" : "ifindex");
	}
	return *slot;
}

/* ---------------------------------------------------------------- stack keys */

/* Store `v` as `n` big-endian bytes at base + off, in naturally aligned
 * pieces: the verifier rejects misaligned stack accesses. */
static void store_be(struct cg *g, LLVMValueRef base, int off, LLVMValueRef v, int n)
{
	v = cg_fit(g, v, n * 8);
	LLVMTypeRef t = LLVMTypeOf(v);
	while (n > 0) {
		int s = 8;
		while (s > n || off % s)
			s /= 2;
		LLVMValueRef c = LLVMBuildLShr(g->b, v, LLVMConstInt(t, (uint64_t)(n - s) * 8, 0), "");
		c = bswap(g, LLVMBuildTrunc(g->b, c, int_bytes(g, s), ""));
		cg_store(g, c, cg_gep_const(g, base, (uint64_t)off), (unsigned)s);
		off += s;
		n -= s;
	}
}

/* Load `n` host-order (little-endian) bytes from an 8-aligned map value. */
bool cg_value_is_addr(const struct ir_map *m)
{
	return m->value_type == IR_IP4 || m->value_type == IR_IP6 || m->value_type == IR_MAC;
}

/* The low n bytes of v (i64 or i128) in the other byte order. */
LLVMValueRef cg_swap_bytes(struct cg *g, LLVMValueRef v, int n)
{
	LLVMTypeRef t = n > 8 ? g->i128 : g->i64;
	unsigned w = n > 8 ? 128 : 64;
	unsigned vw = LLVMGetIntTypeWidth(LLVMTypeOf(v));
	v = vw < w ? LLVMBuildZExt(g->b, v, t, "") : vw > w ? LLVMBuildTrunc(g->b, v, t, "") : v;
	v = cg_intrinsic(g, "llvm.bswap", t, &v, 1);
	if ((unsigned)n * 8 < w)
		v = LLVMBuildLShr(g->b, v, LLVMConstInt(t, w - (unsigned)n * 8, 0), "");
	return v;
}

static LLVMValueRef load_le(struct cg *g, LLVMValueRef base, int n)
{
	LLVMTypeRef t = n > 8 ? g->i128 : g->i64;
	LLVMValueRef v = LLVMConstInt(t, 0, 0);
	for (int off = 0; off < n;) {
		int s = 8;
		while (s > n - off || off % s)
			s /= 2;
		LLVMValueRef c = cg_load(g, int_bytes(g, s), cg_gep_const(g, base, (uint64_t)off), (unsigned)s);
		c = LLVMBuildShl(g->b, LLVMBuildZExt(g->b, c, t, ""), LLVMConstInt(t, (uint64_t)off * 8, 0), "");
		v = LLVMBuildOr(g->b, v, c, "");
		off += s;
	}
	return v;
}

/* A zeroed stack buffer for a helper argument (the verifier rejects reads
 * of uninitialised stack), live from here to key_end(). */
static LLVMValueRef key_begin(struct cg *g, int size)
{
	LLVMValueRef a = cg_entry_alloca(g, LLVMArrayType2(g->i8, (uint64_t)size), 8, "key");
	cg_lifetime(g, true, a, (uint64_t)size);
	LLVMBuildMemSet(g->b, a, LLVMConstInt(g->i8, 0, 0), cg_const(g, g->i64, (uint64_t)size), 8);
	return a;
}

static void key_end(struct cg *g, LLVMValueRef a, int size)
{
	cg_lifetime(g, false, a, (uint64_t)size);
}

/* Where a key component comes from: a value, or (for a whole-byte,
 * byte-aligned packet field of exactly the component's size) the packet
 * bytes themselves, which are already in the key's big-endian order and
 * are copied without turning them into a number and back. */
struct key_src {
	LLVMValueRef val;
	struct hview hv; /* or a copy of the header's bytes from off */
	int off;
};

static struct key_src key_source(struct cg *g, const struct ir_val *v, int nbytes,
				 LLVMBasicBlockRef absent)
{
	struct key_src k = { 0 };
	if (v && v->kind == IV_FIELD && v->hdr >= 0 && v->hdr < g->p->nheaders &&
	    !g->p->headers[v->hdr].is_meta && v->field >= 0 &&
	    v->field < g->p->headers[v->hdr].nfields) {
		const struct ir_header *h = &g->p->headers[v->hdr];
		const struct ir_field *f = &h->fields[v->field];
		if (f->bit_offset % 8 == 0 && f->bits == nbytes * 8 &&
		    f->bit_offset + f->bits <= h->fixed_bytes * 8) {
			k.hv = header_view(g, v->hdr, absent);
			k.off = f->bit_offset / 8;
			return k;
		}
	}
	k.val = cg_emit_val(g, v, absent);
	return k;
}

/* n header bytes from src on to the stack at base + off, in pieces
 * aligned for the stack (the verifier requires aligned stack access; the
 * record is stack too). */
static void copy_header_bytes(struct cg *g, LLVMValueRef base, int off, struct hview hv, int src, int n)
{
	while (n > 0) {
		int s = 8;
		while (s > n || off % s || (hv.rec && src % s))
			s /= 2;
		LLVMValueRef ld;
		if (hv.rec) {
			ld = cg_volatile_load(g, int_bytes(g, s), cg_gep_const(g, hv.p, (uint64_t)(src - hv.bias)),
					      (unsigned)s);
		} else {
			ld = cg_load(g, int_bytes(g, s), cg_gep_const(g, hv.p, (uint64_t)src), (unsigned)s);
				}
		cg_store(g, ld, cg_gep_const(g, base, (uint64_t)off), (unsigned)s);
		off += s;
		src += s;
		n -= s;
	}
}

static void store_src(struct cg *g, LLVMValueRef base, int off, const struct key_src *k, int n)
{
	if (k->hv.p)
		copy_header_bytes(g, base, off, k->hv, k->off, n);
	else
		store_be(g, base, off, k->val, n);
}

/* The key of `m` for values `keys`, in the map's byte layout (ir.h):
 * packed big-endian components; LPM: host-order u32 prefix length (all
 * address bits) then the address; array-like maps: a host-order u32
 * index. Key values are evaluated first (they may be absent), then the
 * buffer is filled. */
static LLVMValueRef build_key(struct cg *g, const struct ir_map *m, struct ir_val **keys, int nkeys,
			      LLVMBasicBlockRef absent)
{
	bool array = ir_map_kind_array(m->kind), lpm = m->kind == IRM_LPM;
	if (nkeys < 1 || nkeys > 8 || ((array || lpm) && nkeys != 1) ||
	    (!array && !lpm && nkeys != m->nkeys)) {
		cg_fail(g, "codegen: internal error: %d key values for map %s", nkeys, m->name);
		return NULL;
	}
	struct key_src src[8];
	int size[8];
	for (int i = 0; i < nkeys; i++) {
		size[i] = array ? 4 : lpm ? m->key_size - 4
					: cg_key_component_bytes(m->key_types[i], m->key_bits[i]);
		if (array)
			src[i] = (struct key_src){ .val = cg_emit_val(g, keys[i], absent) };
		else
			src[i] = key_source(g, keys[i], size[i], absent);
	}
	LLVMValueRef a = key_begin(g, m->key_size);
	if (array) {
		LLVMValueRef idx = LLVMBuildTrunc(g->b, cg_fit(g, src[0].val, 32), g->i32, "");
		cg_store(g, idx, a, 4);
	} else if (lpm) {
		cg_store(g, cg_const(g, g->i32, (uint64_t)size[0] * 8), a, 4);
		store_src(g, a, 4, &src[0], size[0]);
	} else {
		for (int i = 0, off = 0; i < nkeys; off += size[i], i++)
			store_src(g, a, off, &src[i], size[i]);
	}
	return a;
}

/* Look `keys` up in `m`: the element pointer (NULL when missing). */
static LLVMValueRef map_lookup(struct cg *g, const struct ir_map *m, struct ir_val **keys, int nkeys,
			       LLVMBasicBlockRef absent)
{
	LLVMValueRef gv = cg_map_global(g, m);
	if (!gv)
		return NULL;
	LLVMValueRef key = build_key(g, m, keys, nkeys, absent);
	if (!key)
		return NULL;
	LLVMValueRef elem = cg_map_lookup(g, gv, key);
	key_end(g, key, m->key_size);
	return elem;
}

/* For codegen_state.c: keys built the same way. */
LLVMValueRef cg_build_key(struct cg *g, const struct ir_map *m, struct ir_val **keys, int nkeys,
			  LLVMBasicBlockRef absent)
{
	return build_key(g, m, keys, nkeys, absent);
}

void cg_key_end(struct cg *g, LLVMValueRef key, int size)
{
	key_end(g, key, size);
}

static LLVMValueRef val_map_read(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent)
{
	const struct ir_map *m = v->map;
	LLVMValueRef elem = m ? map_lookup(g, m, v->keys, v->nkeys, absent) : NULL;
	if (!elem) {
		if (!m)
			cg_fail(g, "codegen: internal error: map read without a map");
		return LLVMConstInt(g->i64, 0, 0);
	}
	LLVMBasicBlockRef ok = cg_block(g, "found");
	LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, elem, ""), absent, ok);
	LLVMPositionBuilderAtEnd(g->b, ok);
	int n = m->is_set ? 1 : m->value_size;
	if (n <= 0 || n > 16) {
		cg_fail(g, "codegen: internal error: map %s value size %d", m->name, n);
		return LLVMConstInt(g->i64, 0, 0);
	}
	LLVMValueRef x = load_le(g, elem, n);
	if (!m->is_set && cg_value_is_addr(m))
		x = cg_swap_bytes(g, x, n);
	return x;
}

/* ---------------------------------------------------------------- hash */

static LLVMValueRef rotl32(struct cg *g, LLVMValueRef x, unsigned r)
{
	return LLVMBuildOr(g->b, LLVMBuildShl(g->b, x, cg_const(g, g->i32, r), ""),
			   LLVMBuildLShr(g->b, x, cg_const(g, g->i32, 32 - r), ""), "");
}

static LLVMValueRef mul32(struct cg *g, LLVMValueRef x, uint32_t c)
{
	return LLVMBuildMul(g->b, x, cg_const(g, g->i32, c), "");
}

static LLVMValueRef xor_shr32(struct cg *g, LLVMValueRef x, unsigned r)
{
	return LLVMBuildXor(g->b, x, LLVMBuildLShr(g->b, x, cg_const(g, g->i32, r), ""), "");
}

/* hash(a, b, ...): MurmurHash3 x86_32, seed 0, over the arguments packed
 * like a map key (each in its natural size, big-endian, in order). Pure
 * arithmetic on the values, so it is the same on every CPU and can be
 * recomputed outside the kernel. The bytes go through a stack buffer that
 * SROA turns back into registers. */
static LLVMValueRef val_hash(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent)
{
	if (v->nkeys < 1 || v->nkeys > 16) {
		cg_fail(g, "codegen: internal error: hash of %d values", v->nkeys);
		return LLVMConstInt(g->i64, 0, 0);
	}
	struct key_src src[16];
	int n[16], len = 0;
	for (int i = 0; i < v->nkeys; i++) {
		n[i] = cg_key_component_bytes(v->keys[i]->type, v->keys[i]->bits);
		src[i] = key_source(g, v->keys[i], n[i], absent);
		len += n[i];
	}
	int size = (len + 3) / 4 * 4;
	LLVMValueRef buf = key_begin(g, size);
	for (int i = 0, off = 0; i < v->nkeys; off += n[i], i++)
		store_src(g, buf, off, &src[i], n[i]);
	LLVMValueRef h = cg_const(g, g->i32, 0);
	for (int off = 0; off < len; off += 4) {
		/* the last, partial block reads zero padding: the same as
		 * murmur3's tail, which skips the h rotation below */
		LLVMValueRef k = cg_load(g, g->i32, cg_gep_const(g, buf, (uint64_t)off), 4);
		k = mul32(g, rotl32(g, mul32(g, k, 0xcc9e2d51u), 15), 0x1b873593u);
		h = LLVMBuildXor(g->b, h, k, "");
		if (off + 4 <= len)
			h = LLVMBuildAdd(g->b, mul32(g, rotl32(g, h, 13), 5),
					 cg_const(g, g->i32, 0xe6546b64u), "");
	}
	key_end(g, buf, size);
	h = LLVMBuildXor(g->b, h, cg_const(g, g->i32, (uint64_t)len), "");
	h = mul32(g, xor_shr32(g, h, 16), 0x85ebca6bu);
	h = mul32(g, xor_shr32(g, h, 13), 0xc2b2ae35u);
	h = xor_shr32(g, h, 16);
	return LLVMBuildZExt(g->b, h, g->i64, "hash");
}

/* ---------------------------------------------------------------- other values */

static LLVMValueRef val_bin(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent)
{
	LLVMValueRef a = cg_emit_val(g, v->a, absent);
	LLVMValueRef b = cg_emit_val(g, v->b, absent);
	widen(g, &a, &b);
	if (v->bits > 64 && width_of(a) <= 64) {
		a = LLVMBuildZExt(g->b, a, g->i128, "");
		b = LLVMBuildZExt(g->b, b, g->i128, "");
	}
	LLVMTypeRef t = LLVMTypeOf(a);
	unsigned w = width_of(a);
	LLVMValueRef zero = LLVMConstInt(t, 0, 0), r;
	switch (v->op) {
	case IB_AND: r = LLVMBuildAnd(g->b, a, b, ""); break;
	case IB_OR: r = LLVMBuildOr(g->b, a, b, ""); break;
	case IB_XOR: r = LLVMBuildXor(g->b, a, b, ""); break;
	case IB_ADD: r = LLVMBuildAdd(g->b, a, b, ""); break;
	case IB_SUB: r = LLVMBuildSub(g->b, a, b, ""); break;
	case IB_SHL:
	case IB_SHR: {
		/* an LLVM shift by >= the width is poison: those give 0 */
		LLVMValueRef big = LLVMBuildICmp(g->b, LLVMIntUGE, b, LLVMConstInt(t, w, 0), "");
		LLVMValueRef s = v->op == IB_SHL ? LLVMBuildShl(g->b, a, b, "") : LLVMBuildLShr(g->b, a, b, "");
		r = LLVMBuildSelect(g->b, big, zero, s, "");
		break;
	}
	case IB_MUL:
	case IB_MOD:
		if (w > 64) {
			/* BPF has no 128-bit multiply/divide and no library to call */
			cg_fail(g, "codegen: %s on 128-bit values is not supported",
				v->op == IB_MUL ? "multiplication" : "modulo");
			return zero;
		}
		if (v->op == IB_MUL) {
			r = LLVMBuildMul(g->b, a, b, "");
		} else {
			/* x % 0 is x (the BPF instruction's rule); LLVM's urem
			 * by zero would be undefined behaviour */
			LLVMValueRef is0 = LLVMBuildICmp(g->b, LLVMIntEQ, b, zero, "");
			LLVMValueRef d = LLVMBuildSelect(g->b, is0, LLVMConstInt(t, 1, 0), b, "");
			r = LLVMBuildSelect(g->b, is0, a, LLVMBuildURem(g->b, a, d, ""), "");
		}
		break;
	default:
		cg_fail(g, "codegen: internal error: binary operator %d", (int)v->op);
		return zero;
	}
	return r;
}

/* l4.dport = tcp.dport | udp.dport: the first alternative whose inputs are
 * present; absent only when none is. */
static LLVMValueRef val_coalesce(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent)
{
	if (v->nkeys < 1) {
		cg_fail(g, "codegen: internal error: empty alternative list");
		return LLVMConstInt(g->i64, 0, 0);
	}
	LLVMBasicBlockRef merge = cg_block(g, "coalesced");
	LLVMValueRef *vals = calloc((size_t)v->nkeys, sizeof(*vals));
	LLVMBasicBlockRef *from = calloc((size_t)v->nkeys, sizeof(*from));
	if (!vals || !from) {
		free(vals);
		free(from);
		cg_fail(g, "codegen: out of memory");
		return LLVMConstInt(g->i64, 0, 0);
	}
	for (int i = 0; i < v->nkeys; i++) {
		LLVMBasicBlockRef next = i + 1 < v->nkeys ? cg_block(g, "alt") : absent;
		vals[i] = cg_fit(g, cg_emit_val(g, v->keys[i], next), v->bits);
		from[i] = LLVMGetInsertBlock(g->b);
		LLVMBuildBr(g->b, merge);
		if (i + 1 < v->nkeys)
			LLVMPositionBuilderAtEnd(g->b, next);
	}
	LLVMPositionBuilderAtEnd(g->b, merge);
	LLVMValueRef phi = LLVMBuildPhi(g->b, cg_repr(g, v->bits), "");
	LLVMAddIncoming(phi, vals, from, (unsigned)v->nkeys);
	free(vals);
	free(from);
	return phi;
}

/* Emit value `v` where the builder is; on return the builder is in the
 * block where the value is available. Branches to `absent` when an input
 * is missing. The result is in cg_repr(v->bits), truncated to v->bits. */
LLVMValueRef cg_emit_val(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent)
{
	if (!v) {
		cg_fail(g, "codegen: internal error: missing value");
		return LLVMConstInt(g->i64, 0, 0);
	}
	int bits = v->bits > 0 ? v->bits : 64;
	LLVMValueRef r;
	switch (v->kind) {
	case IV_CONST: return cg_fit(g, const_bits(g, bits, v->c128.hi, bits > 64 ? v->c128.lo : v->c), bits);
	case IV_FIELD: r = val_field(g, v, absent); break;
	case IV_META:
		if (!valid_field(g, v->hdr, v->field) || !g->p->headers[v->hdr].is_meta) {
			cg_fail(g, "codegen: internal error: meta read of a non-meta header");
			return LLVMConstInt(g->i64, 0, 0);
		}
		r = val_meta(g, v->hdr, v->field, absent);
		break;
	case IV_PKT: r = val_pkt(g, v); break;
	case IV_BIN: r = val_bin(g, v, absent); break;
	case IV_MAP_READ: r = val_map_read(g, v, absent); break;
	case IV_HASH: r = val_hash(g, v, absent); break;
	case IV_COALESCE: r = val_coalesce(g, v, absent); break;
	default:
		cg_fail(g, "codegen: internal error: value kind %d", (int)v->kind);
		return LLVMConstInt(g->i64, 0, 0);
	}
	return cg_fit(g, r, bits);
}

/* ---------------------------------------------------------------- conditions */

static void emit_cond(struct cg *g, const struct ir_cond *c, LLVMBasicBlockRef t,
		      LLVMBasicBlockRef f);
static void emit_cond_kind(struct cg *g, const struct ir_cond *c, LLVMBasicBlockRef t,
			   LLVMBasicBlockRef f);

/* In a chunk of many rules, most rules do not match: the branches to
 * the next rule are marked likely, so that they fall through and each
 * rule's remaining tests sit out of the way. */
static void weigh_branch(struct cg *g, LLVMValueRef br, LLVMBasicBlockRef t, LLVMBasicBlockRef f)
{
	if (!g->in_chunk || !g->rule_next || (t != g->rule_next && f != g->rule_next) || t == f)
		return;
	LLVMMetadataRef md[3] = {
		LLVMMDStringInContext2(g->C, S("branch_weights")),
		LLVMValueAsMetadata(cg_const(g, g->i32, t == g->rule_next ? 1000 : 1)),
		LLVMValueAsMetadata(cg_const(g, g->i32, f == g->rule_next ? 1000 : 1)),
	};
	LLVMSetMetadata(br, LLVMGetMDKindIDInContext(g->C, S("prof")),
			LLVMMetadataAsValue(g->C, LLVMMDNodeInContext2(g->C, md, 3)));
}

static void br_if(struct cg *g, LLVMValueRef cond, LLVMBasicBlockRef t, LLVMBasicBlockRef f)
{
	weigh_branch(g, LLVMBuildCondBr(g->b, cond, t, f), t, f);
}

/* Runs of `v == k1 or v == k2 ...` at least this long become one switch:
 * LLVM's O2 is quadratic in a chain of thousands of compare blocks. */
#define OR_SWITCH_MIN 64

static bool eq_const_of(const struct ir_cond *k, const struct ir_val *v)
{
	return k->kind == IC_CMP && k->cmp == ICMP_EQ && k->b && k->b->kind == IV_CONST &&
	       k->a && k->a->kind != IV_CONST && k->a->bits <= 64 && (!v || ir_val_eq(k->a, v));
}

/* How many kids from i on compare one value with constants (0: too few). */
static int or_switch_run(struct cg *g, const struct ir_cond *c, int i)
{
	if (c->kind != IC_OR || (g->in_chunk && g->mode == CG_RECORD) ||
	    !eq_const_of(c->kids[i], NULL))
		return 0;
	int j = i + 1;
	while (j < c->nkids && eq_const_of(c->kids[j], c->kids[i]->a))
		j++;
	return j - i >= OR_SWITCH_MIN ? j - i : 0;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* kids[0..n): v == k each; true -> t, none -> f.  A constant v cannot
 * hold (wider than v) is no case; duplicates are one case. */
static void or_switch(struct cg *g, struct ir_cond *const *kids, int n, LLVMBasicBlockRef t,
		      LLVMBasicBlockRef f)
{
	int outer = g->cur_line;
	if (kids[0]->line > 0)
		cg_set_line(g, kids[0]->line);
	LLVMValueRef v = cg_emit_val(g, kids[0]->a, f);
	unsigned w = width_of(v);
	uint64_t *ks = malloc(sizeof(*ks) * (size_t)n);
	int nk = 0;
	for (int i = 0; i < n; i++) {
		const struct ir_val *b = kids[i]->b;
		if (!b->c128.hi && (w >= 64 || b->c >> w == 0))
			ks[nk++] = b->c;
	}
	qsort(ks, (size_t)nk, sizeof(*ks), cmp_u64);
	LLVMValueRef sw = LLVMBuildSwitch(g->b, v, f, (unsigned)nk);
	for (int i = 0; i < nk; i++)
		if (i == 0 || ks[i] != ks[i - 1])
			LLVMAddCase(sw, LLVMConstInt(LLVMTypeOf(v), ks[i], 0), t);
	free(ks);
	cg_set_line(g, outer);
}

/* and/or: short-circuit, kids in order (cheap atoms first is lowering's
 * business). */
static void cond_andor(struct cg *g, const struct ir_cond *c, LLVMBasicBlockRef t,
		       LLVMBasicBlockRef f)
{
	bool is_and = c->kind == IC_AND;
	if (c->nkids == 0) {
		LLVMBuildBr(g->b, is_and ? t : f);
		return;
	}
	for (int i = 0; i < c->nkids; i++) {
		int run = or_switch_run(g, c, i);
		if (run) {
			bool last = i + run == c->nkids;
			LLVMBasicBlockRef next = last ? f : cg_block(g, "or");
			or_switch(g, c->kids + i, run, t, next);
			if (last)
				break;
			LLVMPositionBuilderAtEnd(g->b, next);
			i += run - 1;
			continue;
		}
		if (i + 1 == c->nkids) {
			emit_cond(g, c->kids[i], t, f);
			break;
		}
		LLVMBasicBlockRef next = cg_block(g, is_and ? "and" : "or");
		if (is_and)
			emit_cond(g, c->kids[i], next, f);
		else
			emit_cond(g, c->kids[i], t, next);
		LLVMPositionBuilderAtEnd(g->b, next);
	}
}

static void cond_present(struct cg *g, const struct ir_cond *c, LLVMBasicBlockRef t,
			 LLVMBasicBlockRef f)
{
	if (c->hdr < 0 || c->hdr >= g->p->nheaders) {
		cg_fail(g, "codegen: internal error: presence of header %d", c->hdr);
		LLVMBuildBr(g->b, f);
		return;
	}
	const struct ir_header *h = &g->p->headers[c->hdr];
	if (!h->is_meta) {
		LLVMValueRef present = present_flag(g, c->hdr);
		if (LLVMIsAConstantInt(present))
			LLVMBuildBr(g->b, LLVMConstIntGetZExtValue(present) ? t : f);
		else
			br_if(g, present, t, f);
		return;
	}
	/* a meta block is present when any of its variables is set */
	LLVMValueRef any = LLVMConstInt(g->i1, 0, 0);
	for (int i = 0; i < h->nfields; i++)
		any = LLVMBuildOr(g->b, any,
				  meta_from_record(g, c->hdr, i)
					  ? rec_flag(g, g->rec_mset[c->hdr][i])
					  : LLVMBuildLoad2(g->b, g->i1, g->meta_set[c->hdr][i], ""),
				  "");
	br_if(g, any, t, f);
}

static LLVMIntPredicate predicate(enum ir_cmp op)
{
	switch (op) {
	case ICMP_EQ: return LLVMIntEQ;
	case ICMP_NE: return LLVMIntNE;
	case ICMP_LT: return LLVMIntULT;
	case ICMP_LE: return LLVMIntULE;
	case ICMP_GT: return LLVMIntUGT;
	case ICMP_GE: return LLVMIntUGE;
	}
	return LLVMIntEQ;
}

/* ---- CG_RECORD: atoms that need no presence test
 *
 * The record holds zeros for a header that is absent (it starts zeroed,
 * and a header found malformed after an earlier round of a loop state is
 * zeroed again). An atom over one header's fields that is false when
 * they are all zero is therefore false when the header is absent, just as
 * the language wants: it can read the record without testing presence
 * first. `tcp.dport == 22` qualifies; `tcp.dport != 22` and
 * `tcp.flags == 0` do not. */

/* The value of v when header *hdr (one header for all of v) reads as
 * zeros; false when v is not such a value. */
static bool zero_value(struct cg *g, const struct ir_val *v, int *hdr, uint64_t *out)
{
	if (!v || v->bits > 64 || v->bits <= 0)
		return false;
	uint64_t m = v->bits >= 64 ? ~0ull : (1ull << v->bits) - 1, a, b;
	switch (v->kind) {
	case IV_CONST:
		*out = v->c & m;
		return true;
	case IV_FIELD:
		if (v->hdr < 0 || v->hdr >= g->p->nheaders || g->p->headers[v->hdr].is_meta ||
		    !rule_reads(g, v->hdr) || (*hdr >= 0 && *hdr != v->hdr))
			return false;
		*hdr = v->hdr;
		*out = 0;
		return true;
	case IV_BIN:
		if (!zero_value(g, v->a, hdr, &a) || !zero_value(g, v->b, hdr, &b))
			return false;
		switch (v->op) {
		case IB_AND: *out = a & b; break;
		case IB_OR: *out = a | b; break;
		case IB_XOR: *out = a ^ b; break;
		case IB_ADD: *out = a + b; break;
		case IB_SUB: *out = a - b; break;
		case IB_MUL: *out = a * b; break;
		case IB_MOD: *out = b ? a % b : a; break;
		case IB_SHL: *out = b >= 64 ? 0 : a << b; break;
		case IB_SHR: *out = b >= 64 ? 0 : a >> b; break;
		default: return false;
		}
		*out &= m;
		return true;
	default:
		return false;
	}
}

static bool cmp_holds(enum ir_cmp op, uint64_t a, uint64_t b)
{
	switch (op) {
	case ICMP_EQ: return a == b;
	case ICMP_NE: return a != b;
	case ICMP_LT: return a < b;
	case ICMP_LE: return a <= b;
	case ICMP_GT: return a > b;
	case ICMP_GE: return a >= b;
	}
	return true;
}

static bool false_when_zero(struct cg *g, const struct ir_cond *c)
{
	if (!(g->in_chunk && g->mode == CG_RECORD))
		return false;
	int hdr = -1;
	uint64_t a, b, lo, hi;
	switch (c->kind) {
	case IC_CMP:
		return zero_value(g, c->a, &hdr, &a) && zero_value(g, c->b, &hdr, &b) && hdr >= 0 &&
		       !cmp_holds(c->cmp, a, b);
	case IC_RANGE:
		return zero_value(g, c->a, &hdr, &a) && zero_value(g, c->lo, &hdr, &lo) &&
		       zero_value(g, c->hi, &hdr, &hi) && hdr >= 0 && !(lo <= a && a <= hi);
	case IC_PREFIX: {
		if (c->plen <= 0 || !c->a || c->a->bits > 64 || !zero_value(g, c->a, &hdr, &a) || hdr < 0)
			return false;
		int plen = c->plen < c->a->bits ? c->plen : c->a->bits;
		uint64_t mask = ((c->a->bits >= 64 ? ~0ull : (1ull << c->a->bits) - 1) >> (c->a->bits - plen))
				<< (c->a->bits - plen);
		return (a & mask) != (c->prefix.lo & mask);
	}
	default:
		return false;
	}
}

static void cond_cmp(struct cg *g, const struct ir_cond *c, LLVMBasicBlockRef t, LLVMBasicBlockRef f)
{
	LLVMValueRef a = cg_emit_val(g, c->a, f);
	LLVMValueRef b = cg_emit_val(g, c->b, f);
	widen(g, &a, &b);
	br_if(g, LLVMBuildICmp(g->b, predicate(c->cmp), a, b, ""), t, f);
}

static void cond_range(struct cg *g, const struct ir_cond *c, LLVMBasicBlockRef t, LLVMBasicBlockRef f)
{
	LLVMValueRef a = cg_emit_val(g, c->a, f);
	LLVMValueRef lo = cg_emit_val(g, c->lo, f);
	LLVMValueRef hi = cg_emit_val(g, c->hi, f);
	widen(g, &a, &lo);
	widen(g, &a, &hi);
	widen(g, &lo, &hi);
	LLVMValueRef ge = LLVMBuildICmp(g->b, LLVMIntUGE, a, lo, "");
	LLVMValueRef le = LLVMBuildICmp(g->b, LLVMIntULE, a, hi, "");
	br_if(g, LLVMBuildAnd(g->b, ge, le, ""), t, f);
}

/* The top plen bits of a (a->bits wide) equal those of the prefix. The
 * prefix constant is the a->bits-wide value itself (ip4 10.0.0.0/8:
 * lo = 0x0a000000; ip6: hi:lo), host bits zero. */
static void cond_prefix(struct cg *g, const struct ir_cond *c, LLVMBasicBlockRef t, LLVMBasicBlockRef f)
{
	LLVMValueRef a = cg_emit_val(g, c->a, f);
	int bits = c->a->bits;
	if (c->plen <= 0) {
		LLVMBuildBr(g->b, t);
		return;
	}
	int plen = c->plen < bits ? c->plen : bits;
	/* mask = the low `bits` ones without the low (bits - plen) ones */
	uint64_t ahi, alo, hhi, hlo;
	low_ones(bits, &ahi, &alo);
	low_ones(bits - plen, &hhi, &hlo);
	uint64_t mhi = ahi & ~hhi, mlo = alo & ~hlo;
	LLVMValueRef mask = const_bits(g, bits, mhi, mlo);
	LLVMValueRef want = const_bits(g, bits, c->prefix.hi & mhi, c->prefix.lo & mlo);
	br_if(g, LLVMBuildICmp(g->b, LLVMIntEQ, LLVMBuildAnd(g->b, a, mask, ""), want, ""), t, f);
}

static void cond_in_map(struct cg *g, const struct ir_cond *c, LLVMBasicBlockRef t, LLVMBasicBlockRef f)
{
	LLVMValueRef elem = c->map ? map_lookup(g, c->map, c->keys, c->nkeys, f) : NULL;
	if (!elem) {
		if (!c->map)
			cg_fail(g, "codegen: internal error: `in` without a map");
		LLVMBuildBr(g->b, f);
		return;
	}
	if (c->map->expires) /* codegen_state.c */
		cg_in_expiring_set(g, elem, t, f);
	else
		br_if(g, LLVMBuildIsNotNull(g->b, elem, ""), t, f);
}

static void emit_cond(struct cg *g, const struct ir_cond *c, LLVMBasicBlockRef t, LLVMBasicBlockRef f)
{
	if (!c) {
		cg_fail(g, "codegen: internal error: missing condition");
		LLVMBuildBr(g->b, f);
		return;
	}
	/* a condition on its own line (0: its parent's, finally the rule's) */
	int outer = g->cur_line;
	if (c->line > 0)
		cg_set_line(g, c->line);
	emit_cond_kind(g, c, t, f);
	if (c->line > 0)
		cg_set_line(g, outer);
}

static void emit_cond_kind(struct cg *g, const struct ir_cond *c, LLVMBasicBlockRef t,
			   LLVMBasicBlockRef f)
{
	switch (c->kind) {
	case IC_TRUE: LLVMBuildBr(g->b, t); break;
	case IC_AND:
	case IC_OR: cond_andor(g, c, t, f); break;
	case IC_NOT:
		if (c->nkids != 1) {
			cg_fail(g, "codegen: internal error: `not` with %d operands", c->nkids);
			LLVMBuildBr(g->b, f);
			break;
		}
		emit_cond(g, c->kids[0], f, t); /* swapped: absent -> atom false -> not true */
		break;
	case IC_PRESENT: cond_present(g, c, t, f); break;
	case IC_CMP:
	case IC_RANGE:
	case IC_PREFIX:
		g->no_presence = false_when_zero(g, c);
		if (c->kind == IC_CMP)
			cond_cmp(g, c, t, f);
		else if (c->kind == IC_RANGE)
			cond_range(g, c, t, f);
		else
			cond_prefix(g, c, t, f);
		g->no_presence = false;
		break;
	case IC_IN_MAP: cond_in_map(g, c, t, f); break;
	default:
		cg_fail(g, "codegen: internal error: condition kind %d", (int)c->kind);
		LLVMBuildBr(g->b, f);
		break;
	}
}

/* ---------------------------------------------------------------- rules */

static int action_of(enum ir_verdict_kind k)
{
	return ir_verdict_action(k); /* XDPL_ACTION_EXT: codegen_verdict.c */
}

/* xdpl_stats[slot] += { 1, pkt.len } on this CPU's copy of the per-CPU
 * array: plain adds, nothing else writes this CPU's value meanwhile. */
static void emit_count(struct cg *g, LLVMValueRef slot)
{
	LLVMValueRef key = key_begin(g, 4);
	cg_store(g, slot, key, 4);
	LLVMValueRef c = cg_map_lookup(g, g->stats_map, key);
	key_end(g, key, 4);
	LLVMBasicBlockRef upd = cg_block(g, "count");
	LLVMBasicBlockRef done = cg_block(g, "counted");
	LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, c, ""), done, upd);
	LLVMPositionBuilderAtEnd(g->b, upd);
	LLVMValueRef pk = cg_load(g, g->i64, c, 8);
	cg_store(g, LLVMBuildAdd(g->b, pk, cg_const(g, g->i64, 1), ""), c, 8);
	LLVMValueRef bp = cg_gep_const(g, c, 8);
	LLVMValueRef by = cg_load(g, g->i64, bp, 8);
	cg_store(g, LLVMBuildAdd(g->b, by, g->pkt_len, ""), bp, 8);
	LLVMBuildBr(g->b, done);
	LLVMPositionBuilderAtEnd(g->b, done);
}

/* The action a deciding path brings to the shared tail: set right there
 * (an opaque copy), not hoisted by LLVM into one register that then
 * stays live from the entry, through helper calls, to the tail. */
static LLVMValueRef finish_action(struct cg *g, int action)
{
	LLVMValueRef v = cg_barrier_i64(g, cg_const(g, g->i64, (uint64_t)action));
	return LLVMBuildTrunc(g->b, v, g->i32, "");
}

/* Rule i: condition, then count and decide, or (continue) count and fall
 * through to the next rule. Deciding rules share one tail block. */
static void emit_rule(struct cg *g, const struct ir_rule *r)
{
	cg_set_loc(g, r->file, r->line);
	LLVMBasicBlockRef match = cg_block(g, r->name ? r->name : "rule");
	LLVMBasicBlockRef next = cg_block(g, "next_rule");
	g->rule_next = next;
	emit_cond(g, r->cond, match, next);
	g->rule_next = NULL;
	LLVMPositionBuilderAtEnd(g->b, match);
	cg_set_loc(g, r->file, r->line);
	cg_emit_rule_state(g, r, next); /* limit, set/map statements */
	cg_emit_verdict_key(g, r, next); /* redirect M[KEY]: KEY's headers absent -> no match */
	LLVMValueRef slot = cg_const(g, g->i32, (uint64_t)r->index);
	if (r->verdict.kind == IRV_CONTINUE) {
		cg_emit_continue_rewrites(g, r);
		emit_count(g, slot);
		LLVMBuildBr(g->b, next);
	} else if (g->in_chunk) {
		/* the deciding rule, for the caller: slot * 8 + action */
		LLVMBuildRet(g->b, cg_const(g, g->i32,
					    (uint64_t)r->index * 8 + (uint64_t)action_of(r->verdict.kind)));
	} else {
		LLVMValueRef act = finish_action(g, action_of(r->verdict.kind));
		LLVMBasicBlockRef from = LLVMGetInsertBlock(g->b);
		LLVMAddIncoming(g->finish_slot, &slot, &from, 1);
		LLVMAddIncoming(g->finish_action, &act, &from, 1);
		LLVMBuildBr(g->b, g->finish_bb);
	}
	LLVMPositionBuilderAtEnd(g->b, next);
}

/* A rule group (ir.h): one lookup of its key; the entry found is the
 * deciding rule's slot * 8 + action, as chunks return it. No entry, or a
 * key that cannot be read: on to the rule after the group. */
static void emit_group(struct cg *g, const struct ir_group *grp)
{
	const struct ir_rule *r0 = &g->p->rules[grp->first];
	cg_set_loc(g, r0->file, r0->line);
	LLVMBasicBlockRef next = cg_block(g, "after_group");
	LLVMValueRef v;
	if (grp->cls) {
		v = cg_emit_classifier(g, grp, next);
	} else {
		LLVMValueRef gv = cg_map_global(g, grp->map);
		LLVMValueRef key = gv ? build_key(g, grp->map, grp->keys, grp->nkeys, next) : NULL;
		if (!key) {
			cg_fail(g, "codegen: internal error: rule group %s", grp->map->name);
			return;
		}
		LLVMValueRef elem = cg_map_lookup(g, gv, key);
		key_end(g, key, grp->map->key_size);
		LLVMBasicBlockRef found = cg_block(g, "group_hit");
		LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, elem, ""), next, found);
		LLVMPositionBuilderAtEnd(g->b, found);
		v = cg_load(g, g->i32, elem, 4);
	}
	if (g->in_chunk) {
		LLVMBuildRet(g->b, v);
	} else {
		LLVMValueRef slot = LLVMBuildLShr(g->b, v, cg_const(g, g->i32, 3), "slot");
		LLVMValueRef act = LLVMBuildAnd(g->b, v, cg_const(g, g->i32, 7), "action");
		LLVMBasicBlockRef from = LLVMGetInsertBlock(g->b);
		LLVMAddIncoming(g->finish_slot, &slot, &from, 1);
		LLVMAddIncoming(g->finish_action, &act, &from, 1);
		LLVMBuildBr(g->b, g->finish_bb);
	}
	LLVMPositionBuilderAtEnd(g->b, next);
}

/* Rules [from, to), a group whole inside as one lookup (one cut by the
 * range, rule by rule). */
static void emit_rules_span(struct cg *g, int from, int to)
{
	for (int i = from; i < to && !g->failed;) {
		int gi = g->group_at ? g->group_at[i] : -1;
		const struct ir_group *grp = gi >= 0 ? &g->p->groups[gi] : NULL;
		if (grp && grp->first + grp->n <= to) {
			emit_group(g, grp);
			i += grp->n;
			continue;
		}
		emit_rule(g, &g->p->rules[i]);
		i++;
	}
}

/* No rule decided: the default, counted in slot nrules. */
static void emit_default(struct cg *g)
{
	const struct ir_program *p = g->p;
	cg_set_loc(g, NULL, p->default_line > 0 ? p->default_line : 1);
	LLVMValueRef slot = cg_const(g, g->i32, (uint64_t)p->nrules);
	LLVMValueRef act = finish_action(g, action_of(p->default_verdict.kind));
	LLVMBasicBlockRef from = LLVMGetInsertBlock(g->b);
	LLVMAddIncoming(g->finish_slot, &slot, &from, 1);
	LLVMAddIncoming(g->finish_action, &act, &from, 1);
	LLVMBuildBr(g->b, g->finish_bb);
}

static void emit_rule_list(struct cg *g, int from)
{
	emit_rules_span(g, from, g->p->nrules);
	if (!g->failed)
		emit_default(g);
}

static void finish_phis(struct cg *g)
{
	if (g->finish_slot)
		return;
	LLVMBuilderRef fb = LLVMCreateBuilderInContext(g->C);
	LLVMPositionBuilderAtEnd(fb, g->finish_bb);
	g->finish_slot = LLVMBuildPhi(fb, g->i32, "slot");
	g->finish_action = LLVMBuildPhi(fb, g->i32, "action");
	LLVMDisposeBuilder(fb);
}

/* CG_SPEC: rules [from, to) where the builder is (during parsing, see
 * emit_early_rules in codegen_parse.c); the builder ends where none of
 * them decided. */
void cg_emit_rule_range(struct cg *g, int from, int to)
{
	finish_phis(g);
	bool in_rules = g->in_rules;
	g->in_rules = true;
	emit_rules_span(g, from, to);
	g->in_rules = in_rules;
}

/* CG_RECORD, in the XDP function: the chunks in order; the first rule
 * that decides ends it (its slot and action come back as slot * 8 +
 * action; -1: no rule of the chunk decided). */
static void emit_chunk_calls(struct cg *g)
{
	LLVMValueRef rec = g->rec;
	LLVMValueRef ifindex = LLVMConstInt(g->i64, 0, 0), rxq = ifindex;
	if (g->use_ifindex)
		ifindex = val_pkt(g, &(struct ir_val){ .kind = IV_PKT, .pkt = IR_PKT_IFINDEX });
	if (g->use_rxq)
		rxq = val_pkt(g, &(struct ir_val){ .kind = IV_PKT, .pkt = IR_PKT_RXQ });
	for (int c = 0; c < g->nchunks; c++) {
		const struct ir_rule *r0 = &g->p->rules[g->chunk_start[c]];
		cg_set_loc(g, r0->file, r0->line);
		LLVMValueRef args[4] = { rec, g->pkt_len, ifindex, rxq };
		LLVMValueRef res = LLVMBuildCall2(g->b, g->chunk_ty, g->chunk_fn[c], args, 4, "decided");
		LLVMBasicBlockRef dec = cg_block(g, "decided");
		LLVMBasicBlockRef next = cg_block(g, "undecided");
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, res, cg_const(g, g->i32, 0), ""), dec,
				next);
		LLVMPositionBuilderAtEnd(g->b, dec);
		LLVMValueRef slot = LLVMBuildLShr(g->b, res, cg_const(g, g->i32, 3), "");
		LLVMValueRef act = LLVMBuildAnd(g->b, res, cg_const(g, g->i32, 7), "");
		LLVMAddIncoming(g->finish_slot, &slot, &dec, 1);
		LLVMAddIncoming(g->finish_action, &act, &dec, 1);
		LLVMBuildBr(g->b, g->finish_bb);
		LLVMPositionBuilderAtEnd(g->b, next);
	}
	emit_default(g);
}

/* The body of chunk c: int f(rec, pkt_len, ifindex, rxq). Emitted with
 * the XDP function's state swapped for the chunk's. */
static void emit_chunk(struct cg *g, int c)
{
	LLVMValueRef fn = g->chunk_fn[c];
	const struct ir_rule *r0 = &g->p->rules[g->chunk_start[c]];
	struct cg saved = *g;
	g->fn = fn;
	g->sp = cg_chunk_debug(g, fn, LLVMGetValueName(fn), r0->line);
	for (int i = 0; i < g->nfiles; i++)
		g->files[i].scope = i ? NULL : g->sp;
	g->rec = LLVMGetParam(fn, 0);
	g->pkt_len = LLVMGetParam(fn, 1);
	g->ifindex = LLVMGetParam(fn, 2);
	g->rxq = LLVMGetParam(fn, 3);
	g->ctx = NULL;
	g->in_chunk = true;
	g->in_rules = true;
	LLVMBasicBlockRef entry = cg_block(g, "entry");
	LLVMBasicBlockRef body = cg_block(g, "rules");
	LLVMBasicBlockRef norec = cg_block(g, "no_record");
	LLVMPositionBuilderAtEnd(g->b, entry);
	cg_set_loc(g, r0->file, r0->line);
	/* Arguments the chunk does not read are still arguments: used here,
	 * so that LLVM does not leave their registers unset at the calls
	 * (the verifier checks every argument against the BTF types). */
	for (unsigned i = 1; i < 4; i++)
		cg_barrier_i64(g, LLVMGetParam(fn, i));
	/* the verifier hands a global function a pointer that may be NULL */
	LLVMValueRef br = LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, g->rec, ""), norec, body);
	LLVMBuilderRef eb = LLVMCreateBuilderInContext(g->C);
	LLVMPositionBuilderBefore(eb, br);
	LLVMSetCurrentDebugLocation2(eb, LLVMGetCurrentDebugLocation2(g->b));
	g->eb = eb;
	LLVMPositionBuilderAtEnd(g->b, norec);
	LLVMBuildRet(g->b, cg_const(g, g->i32, (uint64_t)-1));
	LLVMPositionBuilderAtEnd(g->b, body);
	emit_rules_span(g, g->chunk_start[c], g->chunk_start[c + 1]);
	if (!g->failed)
		LLVMBuildRet(g->b, cg_const(g, g->i32, (uint64_t)-1));
	LLVMDisposeBuilder(eb);
	bool failed = g->failed;
	char *llvm_error = g->llvm_error;
	struct cg_file *files = g->files;
	int nfiles = g->nfiles;
	LLVMModuleRef *aux = g->aux_modules;
	int naux = g->naux_modules;
	*g = saved;
	g->failed = failed;
	g->llvm_error = llvm_error;
	g->files = files; /* cg_file_for may have added files */
	g->nfiles = nfiles;
	g->aux_modules = aux;
	g->naux_modules = naux;
	for (int i = 0; i < g->nfiles; i++)
		g->files[i].scope = i ? NULL : g->sp;
}

/* Declare the chunk functions (bodies: emit_chunk, after the XDP
 * function). */
static int declare_chunks(struct cg *g)
{
	LLVMTypeRef params[4] = { g->ptr, g->i64, g->i64, g->i64 };
	g->chunk_ty = LLVMFunctionType(g->i32, params, 4, 0);
	g->chunk_fn = calloc((size_t)g->nchunks + 1, sizeof(*g->chunk_fn));
	if (!g->chunk_fn) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	unsigned noinline = LLVMGetEnumAttributeKindForName(S("noinline"));
	unsigned nounwind = LLVMGetEnumAttributeKindForName(S("nounwind"));
	for (int c = 0; c < g->nchunks; c++) {
		char name[64];
		int k = 0;
		do
			snprintf(name, sizeof(name), "xdpl_rules%s%d", k ? "_" : "", c + k * 100000);
		while (cg_name_taken(g, name) && ++k < 10);
		LLVMValueRef fn = LLVMAddFunction(g->m, name, g->chunk_ty);
		LLVMSetSection(fn, ".text");
		LLVMSetLinkage(fn, LLVMExternalLinkage);
		LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
					LLVMCreateEnumAttribute(g->C, noinline, 0));
		LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
					LLVMCreateEnumAttribute(g->C, nounwind, 0));
		g->chunk_fn[c] = fn;
	}
	return 0;
}

int cg_emit_rules(struct cg *g)
{
	const struct ir_program *p = g->p;
	int dline = p->default_line > 0 ? p->default_line : 1;

	finish_phis(g);

	g->in_rules = true;
	LLVMPositionBuilderAtEnd(g->b, g->rules_bb);
	if (g->mode == CG_SPEC) {
		/* nothing branches to the generic entry */
		LLVMBuildUnreachable(g->b);
		for (int v = 0; v < g->nvariants && !g->failed; v++) {
			g->pres = g->variants[v].pres;
			LLVMPositionBuilderAtEnd(g->b, g->variants[v].bb);
			emit_rule_list(g, g->variants[v].done);
		}
	} else {
		if (declare_chunks(g))
			return -1;
		emit_chunk_calls(g);
	}
	g->in_rules = false;
	if (g->failed)
		return -1;

	LLVMPositionBuilderAtEnd(g->b, g->finish_bb);
	cg_set_loc(g, NULL, dline);
	cg_emit_rewrites(g); /* the deciding rule's field rewrites */
	emit_count(g, g->finish_slot);
	cg_emit_verdict_ret(g);
	return g->failed ? -1 : 0;
}

/* CG_RECORD: the bodies of the chunk functions (after the XDP function
 * has been optimised; see optimise() in codegen.c). */
int cg_emit_chunks(struct cg *g)
{
	for (int c = 0; c < g->nchunks && !g->failed; c++)
		emit_chunk(g, c);
	return g->failed ? -1 : 0;
}
