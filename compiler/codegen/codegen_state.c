/* Rule state: `limit` token buckets (reference §9) and the rewrite statements
 * that change sets and maps (reference §12: SET add/del, MAP[K] = V, MAP[K] += N).
 *
 * Rate limits are GCRA ("generic cell rate algorithm"), the token bucket
 * written as one 64-bit "theoretical arrival time" (TAT) per key:
 *
 *   T    = time one unit (packet or byte) of the rate is worth
 *   tau  = burst * T, the bucket depth as time
 *   now  = bpf_ktime_get_ns()
 *   base = TAT when it lies in (now, now + tau + slack], else now
 *   new  = base + T * cost             (cost: 1 packet, or pkt.len bytes)
 *   conforming  <=>  new - now <= tau  (then TAT := new)
 *
 * which lets `burst` units through at once and `rate` units per second
 * after that. Time is ns << shift (the shift keeps T precise for fast
 * rates) and all of it is modular: only differences are compared, so the
 * wrap of the scaled clock does not matter, and a TAT that is not in the
 * window above (a stale bucket, a fresh zeroed one) counts as "now": a full
 * bucket. The update is one compare-and-exchange of the TAT, retried with
 * the value another CPU stored (at most CG_LIMIT_TRIES attempts, unrolled:
 * the verifier needs bounded code); when all attempts lose, the packet is
 * counted as over the rate. A packet is only let through after its TAT
 * update won, so concurrent CPUs together never exceed rate + burst. The
 * slack (one second) keeps a CPU whose `now` lags another's from taking a
 * bucket another CPU just filled for stale.
 *
 * Without `per` the bucket is the one slot of a 1-entry array; with `per`
 * buckets live in an LRU hash (lower.c: LIMIT_PER_MAX keys), created on a
 * key's first packet with BPF_NOEXIST (a lost race falls back to the
 * compare-and-exchange on the winner's entry).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"

#define CG_HELPER_MAP_UPDATE_ELEM 2
#define CG_HELPER_MAP_DELETE_ELEM 3
#define CG_HELPER_KTIME_GET_NS 5
#define CG_BPF_ANY 0
#define CG_BPF_NOEXIST 1
#define CG_LIMIT_TRIES 4
#define CG_LIMIT_SLACK_NS 1000000000ull

static LLVMValueRef helper(struct cg *g, uint64_t id, LLVMTypeRef ret, LLVMTypeRef *params, unsigned n,
			   LLVMValueRef *args)
{
	LLVMTypeRef ty = LLVMFunctionType(ret, params, n, 0);
	LLVMValueRef fn = LLVMConstIntToPtr(cg_const(g, g->i64, id), g->ptr);
	return LLVMBuildCall2(g->b, ty, fn, args, n, "");
}

static LLVMValueRef map_update(struct cg *g, LLVMValueRef map, LLVMValueRef key, LLVMValueRef val,
			       uint64_t flags)
{
	LLVMTypeRef p[4] = { g->ptr, g->ptr, g->ptr, g->i64 };
	LLVMValueRef a[4] = { map, key, val, cg_const(g, g->i64, flags) };
	return helper(g, CG_HELPER_MAP_UPDATE_ELEM, g->i64, p, 4, a);
}

static LLVMValueRef map_delete(struct cg *g, LLVMValueRef map, LLVMValueRef key)
{
	LLVMTypeRef p[2] = { g->ptr, g->ptr };
	LLVMValueRef a[2] = { map, key };
	return helper(g, CG_HELPER_MAP_DELETE_ELEM, g->i64, p, 2, a);
}

static LLVMValueRef ktime_ns(struct cg *g)
{
	return helper(g, CG_HELPER_KTIME_GET_NS, g->i64, NULL, 0, NULL);
}

static LLVMTypeRef int_n(struct cg *g, int bytes)
{
	return LLVMIntTypeInContext(g->C, (unsigned)bytes * 8);
}

/* bpf_map_update_elem(map, key, &v, flags) with v stored as a host-order
 * integer of n bytes in a stack buffer. The buffer is live only around the
 * call: the lifetime markers let LLVM's stack colouring give every update
 * in the program the same slot, instead of one 8-byte slot per statement
 * (which exceeds the 512-byte BPF frame in policies of a few dozen rules). */
static LLVMValueRef map_update_value(struct cg *g, LLVMValueRef map, LLVMValueRef key, LLVMValueRef v, int n,
				     uint64_t flags)
{
	uint64_t size = (uint64_t)(n < 8 ? 8 : n);
	LLVMValueRef a = cg_entry_alloca(g, LLVMArrayType2(g->i8, size), 8, "value");
	LLVMTypeRef t = int_n(g, n);
	unsigned w = LLVMGetIntTypeWidth(LLVMTypeOf(v));
	if (w > (unsigned)n * 8)
		v = LLVMBuildTrunc(g->b, v, t, "");
	else if (w < (unsigned)n * 8)
		v = LLVMBuildZExt(g->b, v, t, "");
	cg_lifetime(g, true, a, size);
	cg_store(g, v, a, (unsigned)(n > 8 ? 8 : n));
	LLVMValueRef rc = map_update(g, map, key, a, flags);
	cg_lifetime(g, false, a, size);
	return rc;
}

static LLVMValueRef i64_of(struct cg *g, LLVMValueRef v)
{
	unsigned w = LLVMGetIntTypeWidth(LLVMTypeOf(v));
	if (w > 64)
		return LLVMBuildTrunc(g->b, v, g->i64, "");
	if (w < 64)
		return LLVMBuildZExt(g->b, v, g->i64, "");
	return v;
}

/* ---------------------------------------------------------------- limit */

struct limit_params {
	unsigned shift;
	uint64_t t;      /* scaled time per unit */
	uint64_t tau;    /* scaled bucket depth */
	uint64_t slack;  /* scaled */
};

/* The largest shift (at most 16) that keeps tau + slack + the largest
 * cost well below 2^63; T rounded to nearest. */
static bool limit_params(const struct ir_limit *l, struct limit_params *out)
{
	typedef unsigned __int128 u128;
	for (int s = 16; s >= 0; s--) {
		u128 num = ((u128)1000000000u * l->period_s) << s;
		u128 t = (num + l->amount / 2) / l->amount;
		if (t == 0)
			continue;
		u128 tau = t * l->burst;
		u128 slack = (u128)CG_LIMIT_SLACK_NS << s;
		u128 maxcost = t * (l->bytes ? 65536 : 1);
		if (tau + slack + maxcost >= ((u128)1 << 62))
			continue;
		out->shift = (unsigned)s;
		out->t = (uint64_t)t;
		out->tau = (uint64_t)tau;
		out->slack = (uint64_t)slack;
		return true;
	}
	return false;
}

static LLVMValueRef limit_key(struct cg *g, const struct ir_limit *l, LLVMBasicBlockRef absent, int *size)
{
	const struct ir_map *m = l->map;
	*size = m->key_size;
	if (l->nkeys)
		return cg_build_key(g, m, l->keys, l->nkeys, absent);
	LLVMValueRef a = cg_entry_alloca(g, LLVMArrayType2(g->i8, 8), 8, "limit_key");
	cg_store(g, cg_const(g, g->i64, 0), a, 8);
	*size = 8;
	return a;
}

/* Emit the bucket test; continue in a block where the limit holds, going
 * to `fail` where it does not (or where a per key is absent). */
void cg_emit_limit(struct cg *g, const struct ir_rule *r, LLVMBasicBlockRef fail)
{
	const struct ir_limit *l = r->limit;
	struct limit_params lp;
	if (!l->map || !limit_params(l, &lp)) {
		cg_fail(g, "%s:%d: rule %s: this limit's rate and burst are out of range", r->file ? r->file : "?",
			l->line, r->name);
		LLVMBuildBr(g->b, fail);
		return;
	}
	cg_set_line(g, l->line > 0 ? l->line : r->line);
	LLVMValueRef gv = cg_map_global(g, l->map);
	if (!gv) {
		LLVMBuildBr(g->b, fail);
		return;
	}
	int ksize;
	LLVMValueRef key = limit_key(g, l, fail, &ksize);
	if (!key) {
		LLVMBuildBr(g->b, fail);
		return;
	}
	LLVMValueRef now = LLVMBuildShl(g->b, ktime_ns(g), cg_const(g, g->i64, lp.shift), "now");
	LLVMValueRef cost = cg_const(g, g->i64, lp.t);
	if (l->bytes)
		cost = LLVMBuildMul(g->b, i64_of(g, g->pkt_len), cost, "cost");
	LLVMValueRef tau = cg_const(g, g->i64, lp.tau);
	LLVMValueRef window = cg_const(g, g->i64, lp.tau + lp.slack);

	LLVMBasicBlockRef ok = cg_block(g, "limit_ok");
	LLVMBasicBlockRef over = cg_block(g, "limit_over");
	LLVMBasicBlockRef have = cg_block(g, "limit_bucket");

	LLVMValueRef elem = cg_map_lookup(g, gv, key);
	LLVMBasicBlockRef from_lookup = LLVMGetInsertBlock(g->b);
	if (l->nkeys) {
		/* a new key: its first packet fills a fresh bucket */
		LLVMBasicBlockRef fresh = cg_block(g, "limit_new");
		LLVMBasicBlockRef insert = cg_block(g, "limit_insert");
		LLVMBasicBlockRef raced = cg_block(g, "limit_raced");
		LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, elem, ""), fresh, have);
		LLVMPositionBuilderAtEnd(g->b, fresh);
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntUGT, cost, tau, ""), over, insert);
		LLVMPositionBuilderAtEnd(g->b, insert);
		LLVMValueRef rc = map_update_value(g, gv, key, LLVMBuildAdd(g->b, now, cost, ""), 8, CG_BPF_NOEXIST);
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, rc, cg_const(g, g->i64, 0), ""), ok, raced);
		LLVMPositionBuilderAtEnd(g->b, raced);
		LLVMValueRef elem2 = cg_map_lookup(g, gv, key);
		LLVMBasicBlockRef from_raced = LLVMGetInsertBlock(g->b);
		LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, elem2, ""), over, have);
		LLVMPositionBuilderAtEnd(g->b, have);
		LLVMValueRef phi = LLVMBuildPhi(g->b, g->ptr, "bucket");
		LLVMAddIncoming(phi, &elem, &from_lookup, 1);
		LLVMAddIncoming(phi, &elem2, &from_raced, 1);
		elem = phi;
	} else {
		LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, elem, ""), over, have);
		LLVMPositionBuilderAtEnd(g->b, have);
	}
	LLVMValueRef old = cg_volatile_load(g, g->i64, elem, 8);
	for (int i = 0; i < CG_LIMIT_TRIES; i++) {
		/* base = old when 1 <= old - now <= tau + slack, else now */
		LLVMValueRef d = LLVMBuildSub(g->b, LLVMBuildSub(g->b, old, now, ""), cg_const(g, g->i64, 1), "");
		LLVMValueRef future = LLVMBuildICmp(g->b, LLVMIntULT, d, window, "");
		LLVMValueRef base = LLVMBuildSelect(g->b, future, old, now, "");
		LLVMValueRef nw = LLVMBuildAdd(g->b, base, cost, "tat");
		LLVMValueRef exceeds = LLVMBuildICmp(g->b, LLVMIntUGT, LLVMBuildSub(g->b, nw, now, ""), tau, "");
		LLVMBasicBlockRef take = cg_block(g, "limit_take");
		LLVMBuildCondBr(g->b, exceeds, over, take);
		LLVMPositionBuilderAtEnd(g->b, take);
		LLVMValueRef x = LLVMBuildAtomicCmpXchg(g->b, elem, old, nw, LLVMAtomicOrderingSequentiallyConsistent,
						       LLVMAtomicOrderingSequentiallyConsistent, 0);
		LLVMValueRef won = LLVMBuildExtractValue(g->b, x, 1, "won");
		LLVMValueRef seen = LLVMBuildExtractValue(g->b, x, 0, "seen");
		LLVMBasicBlockRef retry = i + 1 < CG_LIMIT_TRIES ? cg_block(g, "limit_retry") : over;
		LLVMBuildCondBr(g->b, won, ok, retry);
		if (i + 1 < CG_LIMIT_TRIES) {
			LLVMPositionBuilderAtEnd(g->b, retry);
			old = seen;
		}
	}
	/* ok: within the rate; over: not. `limit over` holds in the second. */
	LLVMBasicBlockRef holds = cg_block(g, "limit_holds");
	LLVMPositionBuilderAtEnd(g->b, ok);
	LLVMBuildBr(g->b, l->over ? fail : holds);
	LLVMPositionBuilderAtEnd(g->b, over);
	LLVMBuildBr(g->b, l->over ? holds : fail);
	LLVMPositionBuilderAtEnd(g->b, holds);
	if (l->nkeys)
		cg_key_end(g, key, ksize);
}

/* ---------------------------------------------------------------- statements */

bool cg_is_state_stmt(const struct ir_stmt *s)
{
	return s && (s->kind == IS_SET_ADD || s->kind == IS_SET_DEL || s->kind == IS_MAP_STORE ||
		     s->kind == IS_MAP_ADD);
}

/* Evaluate what a statement reads, for the branches only: a value of a
 * header the packet lacks makes the rule not match (reference §12) before any
 * statement (or the limit) has changed anything. */
void cg_state_stmt_reads(struct cg *g, const struct ir_stmt *s, LLVMBasicBlockRef absent)
{
	for (int i = 0; i < s->nkeys; i++)
		cg_emit_val(g, s->keys[i], absent);
	if (s->value)
		cg_emit_val(g, s->value, absent);
}

void cg_emit_state_stmt(struct cg *g, const struct ir_stmt *s, LLVMBasicBlockRef absent)
{
	const struct ir_map *m = s->map;
	LLVMValueRef gv = m ? cg_map_global(g, m) : NULL;
	if (!gv) {
		if (!m)
			cg_fail(g, "codegen: internal error: a set/map statement without a map");
		return;
	}
	if (s->line > 0)
		cg_set_line(g, s->line);
	LLVMValueRef val = NULL;
	if (s->value)
		val = cg_emit_val(g, s->value, absent);
	LLVMValueRef key = cg_build_key(g, m, s->keys, s->nkeys, absent);
	if (!key)
		return;
	switch (s->kind) {
	case IS_SET_ADD: {
		/* sets with timeouts hold expiry times (0: never) */
		LLVMValueRef v = cg_const(g, g->i64, 1);
		if (m->expires)
			v = s->timeout_ns ? LLVMBuildAdd(g->b, ktime_ns(g), cg_const(g, g->i64, s->timeout_ns), "expiry")
					  : cg_const(g, g->i64, 0);
		map_update_value(g, gv, key, v, m->value_size > 0 ? m->value_size : 1, CG_BPF_ANY);
		break;
	}
	case IS_SET_DEL:
		map_delete(g, gv, key);
		break;
	case IS_MAP_STORE:
		if (cg_value_is_addr(m))
			val = cg_swap_bytes(g, val, m->value_size);
		map_update_value(g, gv, key, val, m->value_size, CG_BPF_ANY);
		break;
	case IS_MAP_ADD: {
		/* found: add in place (atomic for 4- and 8-byte values); absent:
		 * create it holding N, and when another CPU created it first,
		 * add to theirs */
		int n = m->value_size;
		LLVMTypeRef t = int_n(g, n);
		LLVMValueRef nv = LLVMBuildTrunc(g->b, cg_fit(g, val, 64), g->i64, "");
		nv = n < 8 ? LLVMBuildTrunc(g->b, nv, t, "") : n > 8 ? LLVMBuildZExt(g->b, nv, t, "") : nv;
		LLVMBasicBlockRef add = cg_block(g, "map_add");
		LLVMBasicBlockRef create = cg_block(g, "map_create");
		LLVMBasicBlockRef raced = cg_block(g, "map_raced");
		LLVMBasicBlockRef done = cg_block(g, "map_added");
		LLVMValueRef elem = cg_map_lookup(g, gv, key);
		LLVMBasicBlockRef from1 = LLVMGetInsertBlock(g->b);
		LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, elem, ""), create, add);
		LLVMPositionBuilderAtEnd(g->b, create);
		LLVMValueRef rc = map_update_value(g, gv, key, nv, n, CG_BPF_NOEXIST);
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, rc, cg_const(g, g->i64, 0), ""), done, raced);
		LLVMPositionBuilderAtEnd(g->b, raced);
		LLVMValueRef elem2 = cg_map_lookup(g, gv, key);
		LLVMBasicBlockRef from2 = LLVMGetInsertBlock(g->b);
		LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, elem2, ""), done, add);
		LLVMPositionBuilderAtEnd(g->b, add);
		LLVMValueRef p = LLVMBuildPhi(g->b, g->ptr, "entry");
		LLVMAddIncoming(p, &elem, &from1, 1);
		LLVMAddIncoming(p, &elem2, &from2, 1);
		if (n == 4 || n == 8) {
			LLVMBuildAtomicRMW(g->b, LLVMAtomicRMWBinOpAdd, p, nv, LLVMAtomicOrderingMonotonic, 0);
		} else {
			LLVMValueRef cur = cg_load(g, t, p, (unsigned)(n > 8 ? 8 : n));
			cg_store(g, LLVMBuildAdd(g->b, cur, nv, ""), p, (unsigned)(n > 8 ? 8 : n));
		}
		LLVMBuildBr(g->b, done);
		LLVMPositionBuilderAtEnd(g->b, done);
		break;
	}
	default:
		break;
	}
	cg_key_end(g, key, m->key_size);
}

static bool reads_map(const struct ir_val *v)
{
	if (!v)
		return false;
	if (v->kind == IV_MAP_READ)
		return true;
	for (int i = 0; i < v->nkeys; i++)
		if (reads_map(v->keys[i]))
			return true;
	return reads_map(v->a) || reads_map(v->b);
}

/* The rewrite values of r that read a map (field values, encap fields):
 * a map value that is absent makes the rule not match (reference §7), so they
 * are read when the rule decides, before its limit or state statements
 * change anything; the tail's statements use what was read then. */
static int map_reading_vals(const struct ir_rule *r, const struct ir_val **out, int max)
{
	int n = 0;
	for (int i = 0; i < r->nstmts; i++) {
		const struct ir_stmt *s = r->stmts[i];
		if (s->kind == IS_ASSIGN && reads_map(s->value) && n < max)
			out[n++] = s->value;
		for (int k = 0; s->kind == IS_ENCAP && s->encap && k < s->encap->npatches; k++)
			if (reads_map(s->encap->patches[k].value) && n < max)
				out[n++] = s->encap->patches[k].value;
	}
	return n;
}

#define CG_MAX_HOIST 32

static LLVMValueRef *hoist_slot(struct cg *g, const struct ir_val *v)
{
	for (int i = 0; i < g->nhoist; i++)
		if (g->hoist[i].v == v)
			return &g->hoist[i].slot;
	return NULL;
}

static void hoist_val(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef next)
{
	LLVMValueRef x = cg_emit_val(g, v, next);
	if (g->in_chunk || g->mode != CG_SPEC || g->failed)
		return; /* the tail reads it again (from the record's copy of its inputs) */
	LLVMValueRef *slot = hoist_slot(g, v);
	if (!slot) {
		if (g->nhoist == g->hoist_cap) {
			int cap = g->hoist_cap ? 2 * g->hoist_cap : 8;
			struct cg_hoist *h = realloc(g->hoist, sizeof(*h) * (size_t)cap);
			if (!h) {
				cg_fail(g, "codegen: out of memory");
				return;
			}
			g->hoist = h;
			g->hoist_cap = cap;
		}
		g->hoist[g->nhoist].v = v;
		g->hoist[g->nhoist].slot = cg_entry_alloca(g, LLVMTypeOf(x), 8, "rewrite_val");
		slot = &g->hoist[g->nhoist++].slot;
	}
	cg_store(g, x, *slot, 8);
}

LLVMValueRef cg_rewrite_val(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent)
{
	LLVMValueRef *slot = hoist_slot(g, v);
	if (slot) {
		int bits = v->bits > 0 ? v->bits : 64;
		return cg_load(g, cg_repr(g, bits), *slot, 8);
	}
	return cg_emit_val(g, v, absent);
}

void cg_emit_rule_state(struct cg *g, const struct ir_rule *r, LLVMBasicBlockRef next)
{
	const struct ir_val *hv[CG_MAX_HOIST];
	int nh = map_reading_vals(r, hv, CG_MAX_HOIST);
	for (int i = 0; i < nh && !g->failed; i++)
		hoist_val(g, hv[i], next);
	bool any = false;
	for (int i = 0; i < r->nstmts; i++)
		any |= cg_is_state_stmt(r->stmts[i]);
	if (!r->limit && !any)
		return;
	int line = g->cur_line;
	for (int i = 0; i < r->nstmts && any; i++)
		if (cg_is_state_stmt(r->stmts[i]))
			cg_state_stmt_reads(g, r->stmts[i], next);
	if (r->limit)
		cg_emit_limit(g, r, next);
	for (int i = 0; i < r->nstmts && !g->failed; i++)
		if (cg_is_state_stmt(r->stmts[i]))
			cg_emit_state_stmt(g, r->stmts[i], next);
	cg_set_line(g, line > 0 ? line : r->line);
}

void cg_state_use(struct cg *g, const struct ir_rule *r, void (*use)(struct cg *, const struct ir_val *))
{
	const struct ir_val *hv[CG_MAX_HOIST];
	int nh = map_reading_vals(r, hv, CG_MAX_HOIST);
	for (int i = 0; i < nh; i++)
		use(g, hv[i]);
	if (r->limit)
		for (int i = 0; i < r->limit->nkeys; i++)
			use(g, r->limit->keys[i]);
	for (int i = 0; i < r->nstmts; i++) {
		const struct ir_stmt *s = r->stmts[i];
		if (!cg_is_state_stmt(s))
			continue;
		for (int k = 0; k < s->nkeys; k++)
			use(g, s->keys[k]);
		use(g, s->value);
	}
}

/* `KEY in SET` for a set with timeouts, given the lookup's element: an
 * element whose expiry time has passed is not in the set (it stays in the
 * map until added again, deleted, or removed with `xdplc set ... del`). */
void cg_in_expiring_set(struct cg *g, LLVMValueRef elem, LLVMBasicBlockRef t, LLVMBasicBlockRef f)
{
	LLVMBasicBlockRef found = cg_block(g, "in_set");
	LLVMBasicBlockRef timed = cg_block(g, "in_set_timed");
	LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, elem, ""), f, found);
	LLVMPositionBuilderAtEnd(g->b, found);
	LLVMValueRef exp = cg_volatile_load(g, g->i64, elem, 8);
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, exp, cg_const(g, g->i64, 0), ""), t, timed);
	LLVMPositionBuilderAtEnd(g->b, timed);
	LLVMValueRef left = LLVMBuildSub(g->b, exp, ktime_ns(g), "");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, left, cg_const(g, g->i64, 0), ""), t, f);
}
