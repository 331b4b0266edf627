/* The parse graph, unrolled into basic blocks.
 *
 * Each state instance is a block that receives, as a phi, the pointer
 * where its header starts: the checked end of the header before it, so
 * no offset arithmetic from `data` is redone per header. An instance is a
 * state plus the number of times each `loop N` state was entered on the
 * way to it, so a path may pass a loop state at most N times; entering it
 * once more stops parsing (accept). Instances reached with equal counts
 * share a block, and counts of loop states that cannot be reached again
 * are forgotten, which keeps the unrolled graph a DAG of modest size
 * (stdlib: eth, vlan x2, ip4, ip6, ip6ext x4, ... each once, not once per
 * path). In CG_SPEC (codegen_internal.h) the instance also carries which
 * of the headers the rules read are present, and parsing ends in the
 * rules entry of that presence set.
 *
 * Each header has a pointer slot and an i1 presence flag (allocas that
 * SROA turns into phis) for reads during parsing (see codegen.c on why
 * presence is not pointer != NULL). Meta variables have a value and an i1
 * "set" flag per field. In CG_RECORD the bytes rules read are also copied
 * into the record (cg_record_header, cg_record_meta).
 *
 * Selects on a packet field compare its bytes as they are with arm values
 * swapped at compile time, as one switch weighted toward the arms that
 * lead to headers the rules read; bounds checks are weighted to pass. */
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"

/* A bound on the unrolled size; only reachable when a cycle has no `loop`
 * state, which lowering rejects. */
#define MAX_INSTANCES 4096

static struct cg_inst *inst(struct cg *g, int i)
{
	return &g->insts[i];
}

static void mark_reach(const struct ir_program *p, bool *row, int s)
{
	const struct ir_state *st = &p->states[s];
	int n = st->key ? st->narms : 1;
	for (int i = 0; i < n; i++) {
		int t = st->key ? st->arms[i].target : st->next_state;
		if (t >= 0 && t < p->nstates && !row[t]) {
			row[t] = true;
			mark_reach(p, row, t);
		}
	}
}

/* reach[s * nstates + t]: state t can follow state s (through any path). */
static int compute_reach(struct cg *g)
{
	const struct ir_program *p = g->p;
	size_t n = (size_t)p->nstates;
	g->reach = calloc(n * n + 1, sizeof(bool));
	if (!g->reach) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	for (size_t s = 0; s < n; s++)
		mark_reach(p, g->reach + s * n, (int)s);
	return 0;
}

/* Loop counts only matter for loop states that can still be entered:
 * forgetting the others lets paths that passed a loop a different number
 * of times share everything after it (ip4 after one or two vlan tags is
 * one instance), instead of unrolling the rest of the graph per count. */
static void forget_unreachable(struct cg *g, int target, int *counts)
{
	int n = g->p->nstates;
	const bool *row = g->reach + (size_t)target * (size_t)n;
	for (int l = 0; l < n; l++)
		if (counts[l] && l != target && !row[l])
			counts[l] = 0;
}

/* Find or create the instance of `state` with loop counts `counts` (and
 * in CG_SPEC the presence set g->pres); returns its index, or -1 after an
 * error. */
static int get_inst(struct cg *g, int state, const int *counts)
{
	int n = g->p->nstates;
	for (int i = 0; i < g->ninsts; i++)
		if (g->insts[i].state == state && g->insts[i].pres == g->pres &&
		    g->insts[i].done == g->done &&
		    !memcmp(g->insts[i].counts, counts, sizeof(int) * (size_t)n))
			return i;
	if (g->mode == CG_SPEC && g->ninsts >= CG_SPEC_MAX_INSTANCES && !g->spec_overflow) {
		/* presence sets multiply the instances: CG_RECORD instead
		 * (codegen_emit builds again) */
		g->spec_overflow = true;
	}
	if (g->spec_overflow)
		return -1;
	if (g->ninsts >= MAX_INSTANCES) {
		cg_fail(g, "codegen: the parse graph unrolls to more than %d states "
			   "(a cycle without a `loop` state?)", MAX_INSTANCES);
		return -1;
	}
	if (g->ninsts == g->insts_cap) {
		int cap = g->insts_cap ? g->insts_cap * 2 : 32;
		struct cg_inst *v = realloc(g->insts, sizeof(*v) * (size_t)cap);
		if (!v) {
			cg_fail(g, "codegen: out of memory");
			return -1;
		}
		g->insts = v;
		g->insts_cap = cap;
	}
	struct cg_inst *in = &g->insts[g->ninsts];
	memset(in, 0, sizeof(*in));
	in->state = state;
	in->pres = g->pres;
	in->done = g->done;
	in->counts = malloc(sizeof(int) * (size_t)(n ? n : 1));
	if (!in->counts) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	memcpy(in->counts, counts, sizeof(int) * (size_t)n);
	const char *name = g->p->states[state].name;
	in->bb = cg_block(g, name ? name : "state");
	LLVMBuilderRef tb = LLVMCreateBuilderInContext(g->C);
	LLVMPositionBuilderAtEnd(tb, in->bb);
	in->at = LLVMBuildPhi(tb, g->ptr, "at");
	LLVMDisposeBuilder(tb);
	return g->ninsts++;
}

LLVMBasicBlockRef cg_rules_entry(struct cg *g, uint64_t pres)
{
	if (g->mode != CG_SPEC)
		return g->rules_bb;
	for (int i = 0; i < g->nvariants; i++)
		if (g->variants[i].pres == pres && g->variants[i].done == g->done)
			return g->variants[i].bb;
	if (g->nvariants == g->variants_cap) {
		int cap = g->variants_cap ? g->variants_cap * 2 : 8;
		struct cg_variant *v = realloc(g->variants, sizeof(*v) * (size_t)cap);
		if (!v) {
			cg_fail(g, "codegen: out of memory");
			return g->rules_bb;
		}
		g->variants = v;
		g->variants_cap = cap;
	}
	struct cg_variant *v = &g->variants[g->nvariants++];
	v->pres = pres;
	v->done = g->done;
	v->bb = cg_block(g, "rules");
	return v->bb;
}

/* Branch from the current block to `target`, whose header starts at `at`. */
static void goto_target(struct cg *g, int target, const int *counts, LLVMValueRef at)
{
	const struct ir_program *p = g->p;
	LLVMBasicBlockRef rules = cg_rules_entry(g, g->pres);
	if (target == IR_ACCEPT) {
		LLVMBuildBr(g->b, rules);
		return;
	}
	if (target == IR_REJECT) {
		LLVMBuildBr(g->b, g->reject_bb);
		return;
	}
	if (target < 0 || target >= p->nstates) {
		cg_fail(g, "codegen: internal error: parse target %d out of range", target);
		LLVMBuildBr(g->b, rules);
		return;
	}
	int n = p->nstates;
	int *c = malloc(sizeof(int) * (size_t)(n ? n : 1));
	if (!c) {
		cg_fail(g, "codegen: out of memory");
		LLVMBuildBr(g->b, rules);
		return;
	}
	memcpy(c, counts, sizeof(int) * (size_t)n);
	const struct ir_state *st = &p->states[target];
	if (st->loop > 0) {
		if (c[target] >= st->loop) {
			/* entered as often as `loop N` allows: stop parsing */
			free(c);
			LLVMBuildBr(g->b, rules);
			return;
		}
		c[target]++;
	}
	forget_unreachable(g, target, c);
	int i = get_inst(g, target, c);
	free(c);
	if (i < 0) {
		LLVMBuildBr(g->b, rules);
		return;
	}
	LLVMValueRef vals[1] = { at };
	LLVMBasicBlockRef from[1] = { LLVMGetInsertBlock(g->b) };
	LLVMAddIncoming(inst(g, i)->at, vals, from, 1);
	LLVMBuildBr(g->b, inst(g, i)->bb);
}

static void set_weights(struct cg *g, LLVMValueRef br, uint32_t taken, uint32_t not_taken)
{
	LLVMMetadataRef md[3] = {
		LLVMMDStringInContext2(g->C, "branch_weights", 14),
		LLVMValueAsMetadata(cg_const(g, g->i32, taken)),
		LLVMValueAsMetadata(cg_const(g, g->i32, not_taken)),
	};
	LLVMSetMetadata(br, LLVMGetMDKindIDInContext(g->C, "prof", 4),
			LLVMMetadataAsValue(g->C, LLVMMDNodeInContext2(g->C, md, 3)));
}

/* Continue in a new block when `cond` holds, else go to `otherwise`.
 * Used for bounds and size checks: packets that fail them (truncated,
 * malformed) are the rare ones, so the checked path is laid out as the
 * fall-through. */
static void check_or(struct cg *g, LLVMValueRef cond, LLVMBasicBlockRef otherwise, const char *name)
{
	LLVMBasicBlockRef ok = cg_block(g, name);
	set_weights(g, LLVMBuildCondBr(g->b, cond, ok, otherwise), 1000, 1);
	LLVMPositionBuilderAtEnd(g->b, ok);
}

/* The variable part: size = var_size (over this header's fields), at most
 * var_max, and inside the packet; else the header is malformed: absent,
 * and parsing stops. Returns the pointer after it (checked). */
static LLVMValueRef emit_var_part(struct cg *g, const struct ir_header *h, int hi, LLVMValueRef hp,
				  LLVMValueRef fixed_end)
{
	LLVMBasicBlockRef bad = cg_block(g, "malformed");
	g->cur_hdr = hi;
	g->cur_ptr = hp;
	LLVMValueRef var = cg_emit_val(g, h->var_size, bad);
	g->cur_hdr = -1;
	var = LLVMBuildZExtOrBitCast(g->b, cg_fit(g, var, 64), g->i64, "");
	check_or(g, LLVMBuildICmp(g->b, LLVMIntULE, var, cg_const(g, g->i64, (uint64_t)h->var_max), ""),
		 bad, "var_ok");
	/* The verifier must see the bounded register itself added to the
	 * pointer: an opaque copy made after the test keeps LLVM from adding
	 * a copy it computed before it. */
	var = cg_barrier_i64(g, var);
	LLVMValueRef vend = cg_gep(g, fixed_end, var);
	check_or(g, LLVMBuildICmp(g->b, LLVMIntULE, vend, g->data_end, ""), bad, "var_in");
	LLVMBasicBlockRef cont = LLVMGetInsertBlock(g->b);

	LLVMPositionBuilderAtEnd(g->b, bad);
	/* A loop state may have set the header on an earlier round. */
	LLVMBuildStore(g->b, LLVMConstInt(g->i1, 0, 0), g->hdr_present[hi]);
	cg_record_header(g, hi, NULL, false);
	uint64_t pres = g->pres;
	if (g->rel[hi] >= 0 && g->mode == CG_SPEC)
		pres &= ~(1ull << g->rel[hi]);
	LLVMBuildBr(g->b, cg_rules_entry(g, pres));
	LLVMPositionBuilderAtEnd(g->b, cont);
	return vend;
}

/* `extract H` at `at`: ONE bounds check of the fixed bytes; on success
 * the checked pointer goes into H's slot. Returns where the next header
 * starts (the checked end of this one), with the builder in the block
 * where H is present. */
static LLVMValueRef emit_extract(struct cg *g, int hi, LLVMValueRef at)
{
	const struct ir_header *h = &g->p->headers[hi];
	/* The checked pointer is an opaque copy: reads and the bounds check
	 * must use the very register the verifier saw compared. */
	LLVMValueRef hp = cg_barrier_ptr(g, at);
	LLVMValueRef end = cg_gep_const(g, hp, (uint64_t)h->fixed_bytes);
	/* Too short: the header is absent (or, in a loop state, stays as an
	 * earlier round left it); parsing stops, rules run. */
	check_or(g, LLVMBuildICmp(g->b, LLVMIntULE, end, g->data_end, ""), cg_rules_entry(g, g->pres),
		 h->name);
	if (h->var_size)
		end = emit_var_part(g, h, hi, hp, end);
	LLVMBuildStore(g->b, hp, g->hdr_slot[hi]);
	LLVMBuildStore(g->b, LLVMConstInt(g->i1, 1, 0), g->hdr_present[hi]);
	cg_record_header(g, hi, hp, true);
	if (g->rel[hi] >= 0 && g->mode == CG_SPEC)
		g->pres |= 1ull << g->rel[hi];
	return end;
}

/* `set META.FIELD = VALUE`: assigns, or unsets when VALUE's inputs are
 * absent. */
static void emit_set_meta(struct cg *g, const struct ir_set_meta *s)
{
	const struct ir_program *p = g->p;
	if (s->meta_hdr < 0 || s->meta_hdr >= p->nheaders || !p->headers[s->meta_hdr].is_meta ||
	    s->field < 0 || s->field >= p->headers[s->meta_hdr].nfields) {
		cg_fail(g, "codegen: internal error: bad meta assignment");
		return;
	}
	const struct ir_field *f = &p->headers[s->meta_hdr].fields[s->field];
	LLVMBasicBlockRef unset = cg_block(g, "meta_unset");
	LLVMBasicBlockRef done = cg_block(g, "meta_done");
	LLVMValueRef v = cg_emit_val(g, s->value, unset);
	LLVMBuildStore(g->b, cg_fit(g, v, f->bits), g->meta_val[s->meta_hdr][s->field]);
	LLVMBuildStore(g->b, LLVMConstInt(g->i1, 1, 0), g->meta_set[s->meta_hdr][s->field]);
	cg_record_meta(g, s->meta_hdr, s->field, v);
	LLVMBuildBr(g->b, done);
	LLVMPositionBuilderAtEnd(g->b, unset);
	LLVMBuildStore(g->b, LLVMConstInt(g->i1, 0, 0), g->meta_set[s->meta_hdr][s->field]);
	cg_record_meta(g, s->meta_hdr, s->field, NULL);
	LLVMBuildBr(g->b, done);
	LLVMPositionBuilderAtEnd(g->b, done);
}

/* The low n bytes of x in the opposite order. */
static uint64_t swap_bytes(uint64_t x, int n)
{
	uint64_t r = 0;
	for (int i = 0; i < n; i++)
		r = r << 8 | ((x >> (8 * i)) & 0xff);
	return r;
}

/* How a select compares its key: as a number, or (a packet field, arms
 * of values only) as the packet's bytes: `raw & mask == value`, with the
 * field's mask and the arm values swapped at compile time instead of the
 * key at run time. */
struct sel_key {
	LLVMValueRef key;  /* the key as a number, or NULL */
	LLVMValueRef raw;  /* raw & mask, or NULL */
	int nbytes, shift;
	uint64_t fmask;    /* the key's own bits, unswapped */
};

/* Does one arm match? An i1 over the numeric key (values: equality;
 * ranges: inclusive). */
static LLVMValueRef arm_matches(struct cg *g, const struct ir_arm *a, const struct sel_key *k)
{
	LLVMValueRef any = LLVMConstInt(g->i1, 0, 0);
	for (int i = 0; i < a->nvalues; i++)
		any = LLVMBuildOr(g->b, any,
				  LLVMBuildICmp(g->b, LLVMIntEQ, k->key, cg_const(g, g->i64, a->values[i]), ""),
				  "");
	for (int i = 0; i < a->nranges; i++) {
		LLVMValueRef ge = LLVMBuildICmp(g->b, LLVMIntUGE, k->key, cg_const(g, g->i64, a->lo[i]), "");
		LLVMValueRef le = LLVMBuildICmp(g->b, LLVMIntULE, k->key, cg_const(g, g->i64, a->hi[i]), "");
		any = LLVMBuildOr(g->b, any, LLVMBuildAnd(g->b, ge, le, ""), "");
	}
	return any;
}

/* Does state t lead straight to a header the rules read (through states
 * that extract nothing)? Such arms are taken as the likely ones. */
static bool leads_to_rule_header(struct cg *g, int t, int depth)
{
	const struct ir_program *p = g->p;
	if (t < 0 || t >= p->nstates || depth > 4)
		return false;
	const struct ir_state *st = &p->states[t];
	if (st->header >= 0)
		return st->header < p->nheaders && g->rel[st->header] >= 0;
	if (!st->key)
		return leads_to_rule_header(g, st->next_state, depth + 1);
	for (int i = 0; i < st->narms; i++)
		if (leads_to_rule_header(g, st->arms[i].target, depth + 1))
			return true;
	return false;
}

/* A select whose arms are all values: one LLVM switch, each value taken
 * by the first arm that lists it, weighted toward arms that lead to
 * headers the rules read. */
static void emit_switch(struct cg *g, const struct ir_state *st, const int *counts, LLVMValueRef next,
			const struct sel_key *k, LLVMBasicBlockRef rules)
{
	LLVMValueRef key = k->raw ? k->raw : k->key;
	int nvals = 0, dflt = -1;
	for (int i = 0; i < st->narms; i++) {
		nvals += st->arms[i].nvalues;
		if (!st->arms[i].nvalues && dflt < 0)
			dflt = i;
	}
	LLVMBasicBlockRef dbb = cg_block(g, "arm_default");
	LLVMValueRef sw = LLVMBuildSwitch(g->b, key, dbb, (unsigned)nvals);
	uint64_t *seen = calloc((size_t)nvals + 1, sizeof(uint64_t));
	LLVMMetadataRef *md = calloc((size_t)nvals + 2, sizeof(LLVMMetadataRef));
	if (!seen || !md) {
		free(seen);
		free(md);
		cg_fail(g, "codegen: out of memory");
		LLVMPositionBuilderAtEnd(g->b, dbb);
		LLVMBuildBr(g->b, rules);
		return;
	}
	int nseen = 0, nmd = 2;
	md[0] = LLVMMDStringInContext2(g->C, "branch_weights", 14);
	md[1] = LLVMValueAsMetadata(cg_const(g, g->i32, 1));
	for (int i = 0; i < st->narms && (dflt < 0 || i < dflt); i++) {
		const struct ir_arm *a = &st->arms[i];
		LLVMBasicBlockRef take = NULL;
		uint32_t w = leads_to_rule_header(g, a->target, 0) ? 64 : 1;
		for (int j = 0; j < a->nvalues; j++) {
			uint64_t v;
			if (k->raw) {
				if (a->values[j] & ~k->fmask)
					continue; /* wider than the key: never equal */
				v = swap_bytes(a->values[j] << k->shift, k->nbytes);
			} else {
				v = a->values[j];
			}
			bool dup = false;
			for (int s = 0; s < nseen; s++)
				dup |= seen[s] == v;
			if (dup)
				continue; /* an earlier arm takes it */
			seen[nseen++] = v;
			if (!take)
				take = cg_block(g, "arm");
			LLVMAddCase(sw, cg_const(g, g->i64, v), take);
			md[nmd++] = LLVMValueAsMetadata(cg_const(g, g->i32, w));
		}
		if (take) {
			LLVMPositionBuilderAtEnd(g->b, take);
			goto_target(g, a->target, counts, next);
		}
	}
	if (nmd > 2)
		LLVMSetMetadata(sw, LLVMGetMDKindIDInContext(g->C, "prof", 4),
				LLVMMetadataAsValue(g->C, LLVMMDNodeInContext2(g->C, md, (size_t)nmd)));
	free(seen);
	free(md);
	LLVMPositionBuilderAtEnd(g->b, dbb);
	if (dflt >= 0)
		goto_target(g, st->arms[dflt].target, counts, next);
	else
		LLVMBuildBr(g->b, rules);
}

/* `select KEY { arms }`: arms in order; the default arm or no match
 * accepts. A key whose inputs are absent accepts as well. Arms toward
 * headers the rules read are weighted likely, so the compiled compare
 * chain tests them first (ip4 before vlan, ip6, arp for ip4 rules). */
static void emit_select(struct cg *g, const struct ir_state *st, const int *counts,
			LLVMValueRef next)
{
	if (!st->key) {
		goto_target(g, st->next_state, counts, next);
		return;
	}
	LLVMBasicBlockRef rules = cg_rules_entry(g, g->pres);
	if (st->key->bits > 64) {
		cg_fail(g, "codegen: a select key wider than 64 bits is not supported");
		LLVMBuildBr(g->b, rules);
		return;
	}
	struct sel_key k = { 0 };
	bool ranges = false;
	for (int i = 0; i < st->narms; i++)
		ranges |= st->arms[i].nranges > 0;
	if (!ranges)
		k.raw = cg_raw_field(g, st->key, rules, &k.nbytes, &k.shift);
	if (k.raw) {
		int bits = st->key->bits;
		k.fmask = bits >= 64 ? ~0ull : (1ull << bits) - 1;
		uint64_t m = swap_bytes(k.fmask << k.shift, k.nbytes);
		if (m != (k.nbytes >= 8 ? ~0ull : (1ull << (8 * k.nbytes)) - 1))
			k.raw = LLVMBuildAnd(g->b, k.raw, cg_const(g, g->i64, m), "");
	} else {
		k.key = cg_fit(g, cg_emit_val(g, st->key, rules), st->key->bits);
	}
	if (!ranges) {
		emit_switch(g, st, counts, next, &k, rules);
		return;
	}
	for (int i = 0; i < st->narms; i++) {
		const struct ir_arm *a = &st->arms[i];
		if (!a->nvalues && !a->nranges) {
			goto_target(g, a->target, counts, next);
			return;
		}
		LLVMBasicBlockRef take = cg_block(g, "arm");
		LLVMBasicBlockRef other = cg_block(g, "arm_next");
		LLVMBuildCondBr(g->b, arm_matches(g, a, &k), take, other);
		LLVMPositionBuilderAtEnd(g->b, take);
		goto_target(g, a->target, counts, next);
		LLVMPositionBuilderAtEnd(g->b, other);
	}
	LLVMBuildBr(g->b, rules);
}

/* CG_SPEC: which rule inputs are final after state s (no state that can
 * follow s, s again included when it can repeat, extracts or sets them),
 * and whether `reject` can still end this parse. */
static int plan_early(struct cg *g)
{
	const struct ir_program *p = g->p;
	int n = p->nstates;
	g->state_final = calloc((size_t)n + 1, sizeof(uint64_t));
	g->state_reject = calloc((size_t)n + 1, sizeof(bool));
	if (!g->state_final || !g->state_reject) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	for (int s = 0; s < n; s++) {
		uint64_t changed = 0;
		bool reject = false;
		for (int t = 0; t < n; t++) {
			if (t != s && !g->reach[(size_t)s * (size_t)n + (size_t)t])
				continue;
			const struct ir_state *ts = &p->states[t];
			int nt = ts->key ? ts->narms : 1;
			for (int i = 0; i < nt; i++)
				reject |= (ts->key ? ts->arms[i].target : ts->next_state) == IR_REJECT;
			if (t == s && !g->reach[(size_t)s * (size_t)n + (size_t)s])
				continue; /* s itself ran already */
			if (ts->header >= 0 && ts->header < p->nheaders && g->rel[ts->header] >= 0)
				changed |= 1ull << g->rel[ts->header];
			for (int i = 0; i < ts->nsets; i++) {
				const struct ir_set_meta *sm = &ts->sets[i];
				if (sm->meta_hdr >= 0 && sm->meta_hdr < p->nheaders && g->meta_item[sm->meta_hdr] &&
				    sm->field >= 0 && sm->field < p->headers[sm->meta_hdr].nfields &&
				    g->meta_item[sm->meta_hdr][sm->field] >= 0)
					changed |= 1ull << g->meta_item[sm->meta_hdr][sm->field];
			}
		}
		g->state_final[s] = ~changed;
		g->state_reject[s] = reject;
	}
	return 0;
}

/* CG_SPEC: the leading rules whose inputs are final here are evaluated
 * here, before parsing goes on: a blocklist rule on ip4.src decides
 * before the transport header is parsed, as a hand-written program would.
 * The first rule that matches still wins (rules run in order, on the same
 * inputs); none of it happens where `reject` may still end parsing, as a
 * rejected packet must not be decided or counted by a rule. */
static void emit_early_rules(struct cg *g, int s)
{
	if (g->mode != CG_SPEC || !g->early_ok || !g->state_final || g->state_reject[s])
		return;
	int k = g->done;
	while (k < g->p->nrules && g->rule_early[k] && !(g->rule_items[k] & ~g->state_final[s]))
		k++;
	if (k == g->done)
		return;
	cg_emit_rule_range(g, g->done, k);
	g->done = k;
	const struct ir_state *st = &g->p->states[s];
	cg_set_loc(g, st->file, st->line);
}

static void emit_inst(struct cg *g, int idx)
{
	const struct ir_program *p = g->p;
	struct cg_inst *in = inst(g, idx);
	in->emitted = true;
	const struct ir_state *st = &p->states[in->state];
	int *counts = in->counts; /* stays valid: g->insts may move, counts do not */
	LLVMValueRef at = in->at;
	g->pres = in->pres;
	g->done = in->done;
	LLVMPositionBuilderAtEnd(g->b, in->bb);
	cg_set_loc(g, st->file, st->line);
	LLVMValueRef next = at;
	if (st->header >= 0) {
		if (st->header >= p->nheaders) {
			cg_fail(g, "codegen: internal error: state %s extracts header %d",
				st->name ? st->name : "?", st->header);
			LLVMBuildBr(g->b, cg_rules_entry(g, g->pres));
			return;
		}
		if (!p->headers[st->header].is_meta)
			next = emit_extract(g, st->header, at);
	}
	for (int i = 0; i < st->nsets; i++)
		emit_set_meta(g, &st->sets[i]);
	emit_early_rules(g, in->state);
	emit_select(g, st, counts, next);
}

int cg_emit_parser(struct cg *g)
{
	const struct ir_program *p = g->p;
	g->pres = 0;
	g->done = 0;
	if (p->start_state == IR_ACCEPT || p->nstates == 0) {
		LLVMBuildBr(g->b, cg_rules_entry(g, 0));
		return 0;
	}
	if (compute_reach(g))
		return -1;
	if (g->mode == CG_SPEC && g->early_ok && plan_early(g))
		return -1;
	int *zero = calloc((size_t)p->nstates, sizeof(int));
	if (!zero) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	/* the entry edge: the first header starts at data */
	goto_target(g, p->start_state, zero, g->data);
	free(zero);
	/* get_inst appends while we emit: a worklist in creation order */
	for (int i = 0; i < g->ninsts && !g->failed; i++)
		emit_inst(g, i);
	return g->failed ? -1 : 0;
}
