/* The parse graph, unrolled into basic blocks.
 *
 * Each state instance is a block that receives the byte offset of its
 * header as a phi. An instance is a state plus the number of times each
 * `loop N` state was entered on the way to it, so a path may pass a loop
 * state at most N times; entering it once more stops parsing (accept).
 * Instances reached with equal counts share a block, and counts of loop
 * states that cannot be reached again are forgotten, which keeps the
 * unrolled graph a DAG of modest size (stdlib: eth, vlan x2, ip4, ip6,
 * ip6ext x4, ... each once, not once per path).
 *
 * Each header has a pointer slot and an i1 presence flag (allocas that
 * SROA turns into phis): rules test the flag, then read through the
 * pointer (see codegen.c on why presence is not pointer != NULL). Meta
 * variables have a value and an i1 "set" flag per field. */
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

/* Find or create the instance of `state` with loop counts `counts`;
 * returns its index, or -1 after an error. */
static int get_inst(struct cg *g, int state, const int *counts)
{
	int n = g->p->nstates;
	for (int i = 0; i < g->ninsts; i++)
		if (g->insts[i].state == state &&
		    !memcmp(g->insts[i].counts, counts, sizeof(int) * (size_t)n))
			return i;
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
	in->off = LLVMBuildPhi(tb, g->i64, "off");
	LLVMDisposeBuilder(tb);
	return g->ninsts++;
}

/* Branch from the current block to `target` with the packet offset `off`. */
static void goto_target(struct cg *g, int target, const int *counts, LLVMValueRef off)
{
	const struct ir_program *p = g->p;
	if (target == IR_ACCEPT) {
		LLVMBuildBr(g->b, g->rules_bb);
		return;
	}
	if (target == IR_REJECT) {
		LLVMBuildBr(g->b, g->reject_bb);
		return;
	}
	if (target < 0 || target >= p->nstates) {
		cg_fail(g, "codegen: internal error: parse target %d out of range", target);
		LLVMBuildBr(g->b, g->rules_bb);
		return;
	}
	int n = p->nstates;
	int *c = malloc(sizeof(int) * (size_t)(n ? n : 1));
	if (!c) {
		cg_fail(g, "codegen: out of memory");
		LLVMBuildBr(g->b, g->rules_bb);
		return;
	}
	memcpy(c, counts, sizeof(int) * (size_t)n);
	const struct ir_state *st = &p->states[target];
	if (st->loop > 0) {
		if (c[target] >= st->loop) {
			/* entered as often as `loop N` allows: stop parsing */
			free(c);
			LLVMBuildBr(g->b, g->rules_bb);
			return;
		}
		c[target]++;
	}
	forget_unreachable(g, target, c);
	int i = get_inst(g, target, c);
	free(c);
	if (i < 0) {
		LLVMBuildBr(g->b, g->rules_bb);
		return;
	}
	LLVMValueRef vals[1] = { off };
	LLVMBasicBlockRef from[1] = { LLVMGetInsertBlock(g->b) };
	LLVMAddIncoming(inst(g, i)->off, vals, from, 1);
	LLVMBuildBr(g->b, inst(g, i)->bb);
}

/* Continue in a new block when `cond` holds, else go to `otherwise`. */
static void check_or(struct cg *g, LLVMValueRef cond, LLVMBasicBlockRef otherwise, const char *name)
{
	LLVMBasicBlockRef ok = cg_block(g, name);
	LLVMBuildCondBr(g->b, cond, ok, otherwise);
	LLVMPositionBuilderAtEnd(g->b, ok);
}

/* The variable part: size = var_size (over this header's fields), at most
 * var_max, and inside the packet; else the header is malformed: absent,
 * and parsing stops. Returns the part's size (a bounded i64). */
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
	LLVMBuildBr(g->b, g->rules_bb);
	LLVMPositionBuilderAtEnd(g->b, cont);
	return var;
}

/* `extract H` at `off`: ONE bounds check of the fixed bytes; on success
 * the checked pointer goes into H's slot. Returns the offset after the
 * header, with the builder in the block where H is present. */
static LLVMValueRef emit_extract(struct cg *g, int hi, LLVMValueRef off)
{
	const struct ir_header *h = &g->p->headers[hi];
	/* The checked pointer is an opaque copy: reads and the bounds check
	 * must use the very register the verifier saw compared. */
	LLVMValueRef hp = cg_barrier_ptr(g, cg_gep(g, g->data, off));
	LLVMValueRef end = cg_gep_const(g, hp, (uint64_t)h->fixed_bytes);
	/* Too short: the header is absent; parsing stops, rules run. */
	check_or(g, LLVMBuildICmp(g->b, LLVMIntULE, end, g->data_end, ""), g->rules_bb, h->name);
	LLVMValueRef size = cg_const(g, g->i64, (uint64_t)h->fixed_bytes);
	if (h->var_size)
		size = LLVMBuildAdd(g->b, size, emit_var_part(g, h, hi, hp, end), "");
	LLVMBuildStore(g->b, hp, g->hdr_slot[hi]);
	LLVMBuildStore(g->b, LLVMConstInt(g->i1, 1, 0), g->hdr_present[hi]);
	return LLVMBuildAdd(g->b, off, size, "next");
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
	LLVMBuildBr(g->b, done);
	LLVMPositionBuilderAtEnd(g->b, unset);
	LLVMBuildStore(g->b, LLVMConstInt(g->i1, 0, 0), g->meta_set[s->meta_hdr][s->field]);
	LLVMBuildBr(g->b, done);
	LLVMPositionBuilderAtEnd(g->b, done);
}

/* Does one arm match? An i1 over the key (values: equality; ranges:
 * inclusive). */
static LLVMValueRef arm_matches(struct cg *g, const struct ir_arm *a, LLVMValueRef key)
{
	LLVMValueRef any = LLVMConstInt(g->i1, 0, 0);
	for (int i = 0; i < a->nvalues; i++)
		any = LLVMBuildOr(g->b, any,
				  LLVMBuildICmp(g->b, LLVMIntEQ, key, cg_const(g, g->i64, a->values[i]), ""),
				  "");
	for (int i = 0; i < a->nranges; i++) {
		LLVMValueRef ge = LLVMBuildICmp(g->b, LLVMIntUGE, key, cg_const(g, g->i64, a->lo[i]), "");
		LLVMValueRef le = LLVMBuildICmp(g->b, LLVMIntULE, key, cg_const(g, g->i64, a->hi[i]), "");
		any = LLVMBuildOr(g->b, any, LLVMBuildAnd(g->b, ge, le, ""), "");
	}
	return any;
}

/* `select KEY { arms }`: arms in order; the default arm or no match
 * accepts. A key whose inputs are absent accepts as well. */
static void emit_select(struct cg *g, const struct ir_state *st, const int *counts,
			LLVMValueRef next)
{
	if (!st->key) {
		goto_target(g, st->next_state, counts, next);
		return;
	}
	if (st->key->bits > 64) {
		cg_fail(g, "codegen: a select key wider than 64 bits is not supported");
		LLVMBuildBr(g->b, g->rules_bb);
		return;
	}
	LLVMValueRef key = cg_fit(g, cg_emit_val(g, st->key, g->rules_bb), st->key->bits);
	for (int i = 0; i < st->narms; i++) {
		const struct ir_arm *a = &st->arms[i];
		if (!a->nvalues && !a->nranges) {
			goto_target(g, a->target, counts, next);
			return;
		}
		LLVMBasicBlockRef take = cg_block(g, "arm");
		LLVMBasicBlockRef other = cg_block(g, "arm_next");
		LLVMBuildCondBr(g->b, arm_matches(g, a, key), take, other);
		LLVMPositionBuilderAtEnd(g->b, take);
		goto_target(g, a->target, counts, next);
		LLVMPositionBuilderAtEnd(g->b, other);
	}
	LLVMBuildBr(g->b, g->rules_bb);
}

static void emit_inst(struct cg *g, int idx)
{
	const struct ir_program *p = g->p;
	struct cg_inst *in = inst(g, idx);
	in->emitted = true;
	const struct ir_state *st = &p->states[in->state];
	int *counts = in->counts; /* stays valid: g->insts may move, counts do not */
	LLVMValueRef off = in->off;
	LLVMPositionBuilderAtEnd(g->b, in->bb);
	cg_set_loc(g, st->file, st->line);
	LLVMValueRef next = off;
	if (st->header >= 0) {
		if (st->header >= p->nheaders) {
			cg_fail(g, "codegen: internal error: state %s extracts header %d",
				st->name ? st->name : "?", st->header);
			LLVMBuildBr(g->b, g->rules_bb);
			return;
		}
		if (!p->headers[st->header].is_meta)
			next = emit_extract(g, st->header, off);
	}
	for (int i = 0; i < st->nsets; i++)
		emit_set_meta(g, &st->sets[i]);
	emit_select(g, st, counts, next);
}

int cg_emit_parser(struct cg *g)
{
	const struct ir_program *p = g->p;
	if (p->start_state == IR_ACCEPT || p->nstates == 0) {
		LLVMBuildBr(g->b, g->rules_bb);
		return 0;
	}
	if (compute_reach(g))
		return -1;
	int *zero = calloc((size_t)p->nstates, sizeof(int));
	if (!zero) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	/* the entry edge: offset 0 */
	goto_target(g, p->start_state, zero, cg_const(g, g->i64, 0));
	free(zero);
	/* get_inst appends while we emit: a worklist in creation order */
	for (int i = 0; i < g->ninsts && !g->failed; i++)
		emit_inst(g, i);
	return g->failed ? -1 : 0;
}
