/* Verdicts that are more than an XDP action number (reference §9): redirect
 * IFNAME / ifindex N / cpu N / MAP[KEY], and route.
 *
 * A deciding rule hands the shared tail (or, CG_RECORD, its chunk's
 * caller) its counter slot and an action; these verdicts use the action
 * XDPL_ACTION_EXT instead of an XDP number. The tail counts as for any
 * verdict, then, for that action, switches on the slot (the rule, or
 * nrules for the default) to the verdict's own code, which returns the
 * helper's result. So a redirect is counted before it is attempted, like
 * every other verdict, and nothing here depends on how rules are emitted.
 *
 *   redirect IFNAME   bpf_redirect_map(xdpl_ports, slot, XDP_DROP): the
 *                     runtime points the slot at IFNAME's ifindex at load
 *                     (meta "ifname" records); no such interface then:
 *                     the packet is dropped.
 *   redirect ifindex N  bpf_redirect(N, 0).
 *   redirect cpu N    bpf_redirect_map(xdpl_cpus, N, XDP_DROP); the cpumap
 *                     entries (qsize XDPL_CPU_QSIZE) are initial elements.
 *   redirect M[KEY]   bpf_redirect_map(M, KEY, XDP_DROP): an empty slot
 *                     drops (the low bits of the flags are the action
 *                     returned when the lookup fails). A KEY that reads
 *                     headers is evaluated in the rule, after its match
 *                     (a header it needs is absent: the rule does not
 *                     match, as for rewrites); CG_SPEC keeps it in an
 *                     alloca for the tail, CG_RECORD evaluates it again
 *                     in the tail from the record (its bytes are in the
 *                     record: cg_verdict_use).
 *   route             bpf_fib_lookup on the packet's own Ethernet + IPv4 or
 *                     IPv6 header (read here, not through the parser, so
 *                     any rewrite or encap before it is seen); see
 *                     emit_route.
 */
#include <string.h>

#include "codegen_internal.h"

enum {
	HELPER_REDIRECT = 23,
	HELPER_REDIRECT_MAP = 51,
	HELPER_FIB_LOOKUP = 69,
	FIB_SIZE = 64,
	FIB_RET_SUCCESS = 0,
	FIB_RET_PROHIBIT = 3, /* 1..3: blackhole, unreachable, prohibit */
};

static bool key_computed(const struct ir_verdict *v)
{
	return v->kind == IRV_REDIRECT_MAP && v->key && v->key->kind != IV_CONST &&
	       v->key->kind != IV_PKT;
}

void cg_verdict_use(struct cg *g, const struct ir_rule *r, void (*use)(struct cg *, const struct ir_val *))
{
	if (key_computed(&r->verdict))
		use(g, r->verdict.key);
}

static LLVMValueRef to_i64(struct cg *g, LLVMValueRef v)
{
	unsigned w = LLVMGetIntTypeWidth(LLVMTypeOf(v));
	if (w < 64)
		return LLVMBuildZExt(g->b, v, g->i64, "");
	if (w > 64)
		return LLVMBuildTrunc(g->b, v, g->i64, "");
	return v;
}

void cg_emit_verdict_key(struct cg *g, const struct ir_rule *r, LLVMBasicBlockRef next)
{
	if (!key_computed(&r->verdict))
		return;
	LLVMValueRef k = to_i64(g, cg_emit_val(g, r->verdict.key, next));
	if (g->in_chunk || g->mode != CG_SPEC)
		return; /* evaluated again in the tail, from the record */
	if (!g->verdict_key) {
		g->verdict_key = cg_entry_alloca(g, g->i64, 8, "verdict_key");
		LLVMSetAlignment(LLVMBuildStore(g->eb, LLVMConstInt(g->i64, 0, 0), g->verdict_key), 8);
	}
	cg_store(g, k, g->verdict_key, 8);
}

static LLVMValueRef helper(struct cg *g, int id, LLVMTypeRef *params, unsigned n, LLVMValueRef *args)
{
	LLVMTypeRef ty = LLVMFunctionType(g->i64, params, n, 0);
	LLVMValueRef fn = LLVMConstIntToPtr(cg_const(g, g->i64, (uint64_t)id), g->ptr);
	return LLVMBuildCall2(g->b, ty, fn, args, n, "");
}

static void ret64(struct cg *g, LLVMValueRef v)
{
	LLVMBuildRet(g->b, LLVMBuildTrunc(g->b, v, g->i32, ""));
}

static void ret_action(struct cg *g, int action)
{
	LLVMBuildRet(g->b, cg_const(g, g->i32, (uint64_t)action));
}

static void redirect_map(struct cg *g, const struct ir_map *m, LLVMValueRef key)
{
	LLVMValueRef map = cg_map_global(g, m);
	if (!map) {
		ret_action(g, XDPL_ACTION_ABORTED);
		return;
	}
	LLVMTypeRef params[3] = { g->ptr, g->i64, g->i64 };
	LLVMValueRef args[3] = { map, key, cg_const(g, g->i64, XDPL_ACTION_DROP) };
	ret64(g, helper(g, HELPER_REDIRECT_MAP, params, 3, args));
}

static LLVMValueRef ctx_load32(struct cg *g, unsigned off)
{
	LLVMValueRef p = cg_gep_const(g, g->ctx, off);
	LLVMValueRef v = LLVMBuildLoad2(g->b, g->i32, p, "");
	LLVMSetAlignment(v, 4);
	return v;
}

static LLVMValueRef ctx_ptr(struct cg *g, unsigned off)
{
	return LLVMBuildIntToPtr(g->b, LLVMBuildZExt(g->b, ctx_load32(g, off), g->i64, ""), g->ptr, "");
}

static LLVMValueRef ld8(struct cg *g, LLVMValueRef base, unsigned off)
{
	return cg_load(g, g->i8, cg_gep_const(g, base, off), 1);
}

static void st8(struct cg *g, LLVMValueRef v, LLVMValueRef base, unsigned off)
{
	cg_store(g, v, cg_gep_const(g, base, off), 1);
}

/* n bytes from the stack (src, aligned accesses) into the packet (dst):
 * in 4/2/1-byte pieces aligned on the stack side; packet stores may be
 * unaligned on this architecture, and claiming the piece's own alignment
 * keeps the BPF backend from splitting them into bytes. */
static void copy_bytes(struct cg *g, LLVMValueRef dst, unsigned doff, LLVMValueRef src, unsigned soff,
		       unsigned n)
{
	for (unsigned i = 0; i < n;) {
		unsigned s = 4;
		while (s > n - i || (soff + i) % s)
			s /= 2;
		LLVMTypeRef t = LLVMIntTypeInContext(g->C, s * 8);
		LLVMValueRef v = cg_load(g, t, cg_gep_const(g, src, soff + i), s);
		cg_store(g, v, cg_gep_const(g, dst, doff + i), s);
		i += s;
	}
}

/* Branch to `bad` unless [data, data + n) is in the packet. */
static void need(struct cg *g, LLVMValueRef data, LLVMValueRef end, unsigned n, LLVMBasicBlockRef bad)
{
	LLVMValueRef lim = cg_barrier_ptr(g, cg_gep_const(g, data, n));
	LLVMBasicBlockRef ok = cg_block(g, "route_len");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULE, lim, end, ""), ok, bad);
	LLVMPositionBuilderAtEnd(g->b, ok);
}

/* The FIB query for IPv4 (block v4); returns the block that goes on to
 * the lookup. */
static LLVMBasicBlockRef route_fill4(struct cg *g, LLVMBasicBlockRef v4, LLVMValueRef data,
				     LLVMValueRef end, LLVMValueRef fib, LLVMBasicBlockRef pass,
				     LLVMBasicBlockRef look)
{
	LLVMPositionBuilderAtEnd(g->b, v4);
	need(g, data, end, 14 + 20, pass);
	LLVMValueRef ip = cg_gep_const(g, data, 14);
	LLVMValueRef ttl4 = ld8(g, ip, 8);
	LLVMBasicBlockRef v4ok = cg_block(g, "route_ip4_ttl");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULE, ttl4, cg_const(g, g->i8, 1), ""), pass, v4ok);
	LLVMPositionBuilderAtEnd(g->b, v4ok);
	cg_lifetime(g, true, fib, FIB_SIZE); /* dead before: shares rewrites' slots */
	for (unsigned o = 0; o < FIB_SIZE; o += 8)
		cg_store(g, cg_const(g, g->i64, 0), cg_gep_const(g, fib, o), 8);
	st8(g, cg_const(g, g->i8, 2), fib, 0);          /* family AF_INET */
	st8(g, ld8(g, ip, 9), fib, 1);                  /* l4_protocol */
	LLVMValueRef tot = LLVMBuildOr(g->b,
		LLVMBuildShl(g->b, LLVMBuildZExt(g->b, ld8(g, ip, 2), g->i16, ""), cg_const(g, g->i16, 8), ""),
		LLVMBuildZExt(g->b, ld8(g, ip, 3), g->i16, ""), "");
	cg_store(g, tot, cg_gep_const(g, fib, 6), 2);   /* tot_len, host order */
	st8(g, ld8(g, ip, 1), fib, 12);                 /* tos */
	copy_bytes(g, fib, 16, ip, 12, 4);              /* ipv4_src */
	copy_bytes(g, fib, 32, ip, 16, 4);              /* ipv4_dst */
	LLVMBuildBr(g->b, look);
	return LLVMGetInsertBlock(g->b);

}

/* The FIB query for IPv6 (block v6); as route_fill4. */
static LLVMBasicBlockRef route_fill6(struct cg *g, LLVMBasicBlockRef v6, LLVMValueRef data,
				     LLVMValueRef end, LLVMValueRef fib, LLVMBasicBlockRef pass,
				     LLVMBasicBlockRef look)
{
	LLVMPositionBuilderAtEnd(g->b, v6);
	need(g, data, end, 14 + 40, pass);
	LLVMValueRef ip6 = cg_gep_const(g, data, 14);
	LLVMValueRef hlim = ld8(g, ip6, 7);
	LLVMBasicBlockRef v6ok = cg_block(g, "route_ip6_hlim");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULE, hlim, cg_const(g, g->i8, 1), ""), pass, v6ok);
	LLVMPositionBuilderAtEnd(g->b, v6ok);
	cg_lifetime(g, true, fib, FIB_SIZE); /* dead before: shares rewrites' slots */
	for (unsigned o = 0; o < FIB_SIZE; o += 8)
		cg_store(g, cg_const(g, g->i64, 0), cg_gep_const(g, fib, o), 8);
	st8(g, cg_const(g, g->i8, 10), fib, 0);         /* family AF_INET6 */
	st8(g, ld8(g, ip6, 6), fib, 1);                 /* l4_protocol: next header */
	LLVMValueRef plen = LLVMBuildOr(g->b,
		LLVMBuildShl(g->b, LLVMBuildZExt(g->b, ld8(g, ip6, 4), g->i16, ""), cg_const(g, g->i16, 8), ""),
		LLVMBuildZExt(g->b, ld8(g, ip6, 5), g->i16, ""), "");
	cg_store(g, LLVMBuildAdd(g->b, plen, cg_const(g, g->i16, 40), ""), cg_gep_const(g, fib, 6), 2);
	/* flowinfo: the first word without the version */
	st8(g, LLVMBuildAnd(g->b, ld8(g, ip6, 0), cg_const(g, g->i8, 0x0f), ""), fib, 12);
	copy_bytes(g, fib, 13, ip6, 1, 3);
	copy_bytes(g, fib, 16, ip6, 8, 16);             /* ipv6_src */
	copy_bytes(g, fib, 32, ip6, 24, 16);            /* ipv6_dst */
	LLVMBuildBr(g->b, look);
	return LLVMGetInsertBlock(g->b);

}

/* IPv4 forward: TTL - 1; ip_decrease_ttl's checksum update: the word
 * holding the TTL drops by 0x0100, so the checksum (big-endian) rises by
 * 0x0100, end-around carry. */
static void route_ttl4(struct cg *g, LLVMValueRef d2, LLVMBasicBlockRef out)
{
	LLVMValueRef p4 = cg_gep_const(g, d2, 14);
	LLVMValueRef hi = LLVMBuildZExt(g->b, ld8(g, p4, 10), g->i32, "");
	LLVMValueRef lo = LLVMBuildZExt(g->b, ld8(g, p4, 11), g->i32, "");
	LLVMValueRef ck = LLVMBuildOr(g->b, LLVMBuildShl(g->b, hi, cg_const(g, g->i32, 8), ""), lo, "");
	ck = LLVMBuildAdd(g->b, ck, cg_const(g, g->i32, 0x0100), "");
	LLVMValueRef carry = LLVMBuildZExt(g->b,
		LLVMBuildICmp(g->b, LLVMIntUGE, ck, cg_const(g, g->i32, 0xffff), ""), g->i32, "");
	ck = LLVMBuildAdd(g->b, ck, carry, "");
	st8(g, LLVMBuildTrunc(g->b, LLVMBuildLShr(g->b, ck, cg_const(g, g->i32, 8), ""), g->i8, ""), p4, 10);
	st8(g, LLVMBuildTrunc(g->b, ck, g->i8, ""), p4, 11);
	st8(g, LLVMBuildSub(g->b, ld8(g, p4, 8), cg_const(g, g->i8, 1), ""), p4, 8);
	LLVMBuildBr(g->b, out);

}

/* FIB said forward: the packet pointers again (the helper call ends what
 * the verifier knew of them), TTL / hop limit - 1, MACs, redirect. */
static void route_forward(struct cg *g, LLVMValueRef fib, LLVMValueRef is6, LLVMBasicBlockRef pass)
{
	/* forward: the packet pointers again (the helper call ends what the
	 * verifier knew of them) */
	LLVMBasicBlockRef f4 = cg_block(g, "route_fwd4");
	LLVMBasicBlockRef f6 = cg_block(g, "route_fwd6");
	LLVMBasicBlockRef out = cg_block(g, "route_out");
	LLVMValueRef d2 = ctx_ptr(g, 0), e2 = ctx_ptr(g, 4);
	need(g, d2, e2, 14 + 20, pass);
	LLVMBuildCondBr(g->b, is6, f6, f4);

	LLVMPositionBuilderAtEnd(g->b, f4);
	route_ttl4(g, d2, out);

	LLVMPositionBuilderAtEnd(g->b, f6);
	need(g, d2, e2, 14 + 40, pass);
	{
		LLVMValueRef p6 = cg_gep_const(g, d2, 14);
		st8(g, LLVMBuildSub(g->b, ld8(g, p6, 7), cg_const(g, g->i8, 1), ""), p6, 7);
		LLVMBuildBr(g->b, out);
	}

	LLVMPositionBuilderAtEnd(g->b, out);
	copy_bytes(g, d2, 0, fib, 58, 6);   /* dmac */
	copy_bytes(g, d2, 6, fib, 52, 6);   /* smac */
	LLVMTypeRef rparams[2] = { g->i64, g->i64 };
	LLVMValueRef oif = LLVMBuildZExt(g->b, cg_load(g, g->i32, cg_gep_const(g, fib, 8), 4), g->i64, "");
	LLVMValueRef rargs[2] = { oif, cg_const(g, g->i64, 0) };
	ret64(g, helper(g, HELPER_REDIRECT, rparams, 2, rargs));

}

/* route: IPv4 / IPv6 directly after Ethernet (other packets: pass).
 * TTL / hop limit <= 1: pass (the stack sends ICMP time exceeded). The FIB
 * lookup (ingress ifindex, flags 0) then says:
 *   SUCCESS                          TTL - 1 (IPv4 checksum updated as
 *                                    ip_decrease_ttl does), MACs from the
 *                                    FIB, bpf_redirect(egress ifindex)
 *   BLACKHOLE, UNREACHABLE, PROHIBIT drop
 *   anything else                    pass (not forwarded, forwarding off,
 *                                    no neighbour yet, fragmentation
 *                                    needed, LWT: the stack knows better) */
static void emit_route(struct cg *g)
{
	LLVMBasicBlockRef pass = cg_block(g, "route_pass");
	LLVMBasicBlockRef drop = cg_block(g, "route_drop");
	LLVMBasicBlockRef v4 = cg_block(g, "route_ip4");
	LLVMBasicBlockRef v6 = cg_block(g, "route_ip6");
	LLVMBasicBlockRef look = cg_block(g, "route_lookup");

	LLVMValueRef data = ctx_ptr(g, 0), end = ctx_ptr(g, 4);
	need(g, data, end, 14, pass);
	LLVMValueRef proto = LLVMBuildOr(g->b,
		LLVMBuildShl(g->b, LLVMBuildZExt(g->b, ld8(g, data, 12), g->i32, ""), cg_const(g, g->i32, 8), ""),
		LLVMBuildZExt(g->b, ld8(g, data, 13), g->i32, ""), "ethertype");
	LLVMValueRef sw = LLVMBuildSwitch(g->b, proto, pass, 2);
	LLVMAddCase(sw, cg_const(g, g->i32, 0x0800), v4);
	LLVMAddCase(sw, cg_const(g, g->i32, 0x86dd), v6);

	LLVMValueRef fib = cg_entry_alloca(g, LLVMArrayType2(g->i8, FIB_SIZE), 8, "fib");

	LLVMBasicBlockRef from4 = route_fill4(g, v4, data, end, fib, pass, look);
	LLVMBasicBlockRef from6 = route_fill6(g, v6, data, end, fib, pass, look);

	/* the lookup */
	LLVMPositionBuilderAtEnd(g->b, look);
	LLVMValueRef is6 = LLVMBuildPhi(g->b, g->i1, "is6");
	LLVMValueRef inc[2] = { LLVMConstInt(g->i1, 0, 0), LLVMConstInt(g->i1, 1, 0) };
	LLVMBasicBlockRef froms[2] = { from4, from6 };
	LLVMAddIncoming(is6, inc, froms, 2);
	cg_store(g, ctx_load32(g, 12), cg_gep_const(g, fib, 8), 4); /* ifindex: ingress */
	LLVMTypeRef fparams[4] = { g->ptr, g->ptr, g->i64, g->i64 };
	LLVMValueRef fargs[4] = { g->ctx, fib, cg_const(g, g->i64, FIB_SIZE), cg_const(g, g->i64, 0) };
	LLVMValueRef rc = helper(g, HELPER_FIB_LOOKUP, fparams, 4, fargs);
	LLVMBasicBlockRef ok = cg_block(g, "route_fwd");
	LLVMBasicBlockRef notok = cg_block(g, "route_not_fwd");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, rc, cg_const(g, g->i64, FIB_RET_SUCCESS), ""),
			ok, notok);
	LLVMPositionBuilderAtEnd(g->b, notok);
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULE, rc, cg_const(g, g->i64, FIB_RET_PROHIBIT), ""),
			drop, pass);

	LLVMPositionBuilderAtEnd(g->b, ok);
	route_forward(g, fib, is6, pass);

	LLVMPositionBuilderAtEnd(g->b, pass);
	ret_action(g, XDPL_ACTION_PASS);
	LLVMPositionBuilderAtEnd(g->b, drop);
	ret_action(g, XDPL_ACTION_DROP);
}

static void emit_one(struct cg *g, const struct ir_verdict *v, bool in_rule)
{
	switch (v->kind) {
	case IRV_REDIRECT_IFINDEX:
		if (v->ifname) {
			redirect_map(g, v->map, cg_const(g, g->i64, v->num));
		} else {
			LLVMTypeRef params[2] = { g->i64, g->i64 };
			LLVMValueRef args[2] = { cg_const(g, g->i64, v->num & 0xffffffffu),
						 cg_const(g, g->i64, 0) };
			ret64(g, helper(g, HELPER_REDIRECT, params, 2, args));
		}
		break;
	case IRV_REDIRECT_CPU:
		redirect_map(g, v->map, cg_const(g, g->i64, v->num));
		break;
	case IRV_REDIRECT_MAP: {
		LLVMValueRef key;
		if (v->key && v->key->kind == IV_CONST) {
			key = cg_const(g, g->i64, v->key->c & 0xffffffffu);
		} else if (v->key && v->key->kind == IV_PKT && v->key->pkt != IR_PKT_LEN) {
			key = LLVMBuildZExt(g->b, ctx_load32(g, v->key->pkt == IR_PKT_RXQ ? 16 : 12), g->i64, "");
		} else if (v->key && in_rule && g->mode == CG_SPEC && g->verdict_key) {
			key = cg_load(g, g->i64, g->verdict_key, 8);
		} else if (v->key && in_rule && g->mode == CG_RECORD) {
			/* present: the rule checked it in its chunk */
			LLVMBasicBlockRef absent = cg_block(g, "verdict_key_absent");
			g->in_rules = true;
			key = to_i64(g, cg_emit_val(g, v->key, absent));
			g->in_rules = false;
			LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
			LLVMPositionBuilderAtEnd(g->b, absent);
			ret_action(g, XDPL_ACTION_DROP);
			LLVMPositionBuilderAtEnd(g->b, here);
		} else {
			cg_fail(g, "codegen: redirect MAP[KEY] with this KEY is not supported yet%s",
				in_rule ? "" : " as the default");
			ret_action(g, XDPL_ACTION_ABORTED);
			return;
		}
		redirect_map(g, v->map, key);
		break;
	}
	case IRV_ROUTE:
		emit_route(g);
		break;
	default:
		ret_action(g, XDPL_ACTION_ABORTED);
		break;
	}
}

/* The end of the shared tail, after the count: return the action, or run
 * the deciding rule's verdict. */
void cg_emit_verdict_ret(struct cg *g)
{
	const struct ir_program *p = g->p;
	int n = ir_verdict_in_tail(p->default_verdict.kind);
	for (int i = 0; i < p->nrules; i++)
		n += ir_verdict_in_tail(p->rules[i].verdict.kind);
	if (!n) {
		LLVMBuildRet(g->b, g->finish_action);
		return;
	}
	LLVMBasicBlockRef ext = cg_block(g, "verdict_ext");
	LLVMBasicBlockRef plain = cg_block(g, "verdict");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, g->finish_action,
					    cg_const(g, g->i32, XDPL_ACTION_EXT), ""), ext, plain);
	LLVMPositionBuilderAtEnd(g->b, plain);
	LLVMBuildRet(g->b, g->finish_action);

	LLVMPositionBuilderAtEnd(g->b, ext);
	LLVMBasicBlockRef bad = cg_block(g, "verdict_bad");
	LLVMValueRef sw = LLVMBuildSwitch(g->b, g->finish_slot, bad, (unsigned)n);
	LLVMBasicBlockRef route = NULL; /* one copy of the route code (and its 64 stack bytes) */
	for (int i = 0; i <= p->nrules && !g->failed; i++) {
		const struct ir_verdict *v = i < p->nrules ? &p->rules[i].verdict : &p->default_verdict;
		if (!ir_verdict_in_tail(v->kind))
			continue;
		int slot = i < p->nrules ? p->rules[i].index : p->nrules;
		if (v->kind == IRV_ROUTE && route) {
			LLVMAddCase(sw, cg_const(g, g->i32, (uint64_t)slot), route);
			continue;
		}
		if (i < p->nrules)
			cg_set_loc(g, p->rules[i].file, p->rules[i].line);
		else
			cg_set_loc(g, NULL, p->default_line > 0 ? p->default_line : 1);
		LLVMBasicBlockRef bb = cg_block(g, i < p->nrules ? "verdict_rule" : "verdict_default");
		LLVMAddCase(sw, cg_const(g, g->i32, (uint64_t)slot), bb);
		if (v->kind == IRV_ROUTE)
			route = bb;
		LLVMPositionBuilderAtEnd(g->b, bb);
		emit_one(g, v, i < p->nrules);
	}
	LLVMPositionBuilderAtEnd(g->b, bad);
	ret_action(g, XDPL_ACTION_ABORTED);
}
