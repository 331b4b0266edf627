/* Classifiers (lower/classify.h): the decision trees of a run of
 * multi-field rules, walked by straight-line code over their constant
 * blob.
 *
 * The blob is a constant global in its own section (.rodata.clsN: each
 * such section is one frozen array map of one element, so a 100k-rule
 * policy's several blobs do not share the kernel's 4 MB limit on one map
 * value). Every tree is unrolled to its own depth and its largest leaf:
 * no loops for the verifier, and every offset into the blob is checked
 * against the blob's parts right before it is used, so the verifier sees
 * bounded map-value accesses.
 *
 * Per packet: each dimension's value (0 when it cannot be read, with its
 * bit in `have` clear) is computed once and stored in a small stack array
 * the walk indexes by the node's dimension; then each tree in order of
 * its first rule, unless the best rule so far comes before it: node steps
 * to a leaf, then the leaf's rules in order until one matches or comes
 * after the best so far. */
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "codegen_internal.h"

/* The arguments of a tree function: the dimensions' values, then `have`. */
#define CLS_ARGS (CLS_MAX_DIMS + 1)

struct walk {
	const struct ir_classifier *C;
	LLVMValueRef blob, vals;       /* blob global; i64[CLS_ARGS] */
	LLVMValueRef best;             /* in a tree function: the best rule so far */
	LLVMValueRef v[CLS_MAX_DIMS], have;
};

static LLVMValueRef blob_global(struct cg *g, const struct ir_classifier *C, int index)
{
	char name[64], sec[64];
	snprintf(name, sizeof(name), "_xdpl_cls%d", index);
	LLVMValueRef gv = LLVMGetNamedGlobal(g->m, name);
	if (gv)
		return gv; /* CG_SPEC emits the rules once per presence set */
	snprintf(sec, sizeof(sec), ".rodata.cls%d", index);
	LLVMTypeRef t = LLVMArrayType2(g->i8, (uint64_t)C->blob_size);
	gv = LLVMAddGlobal(g->m, t, name);
	LLVMSetInitializer(gv, LLVMConstStringInContext(g->C, (const char *)C->blob, (unsigned)C->blob_size, 1));
	LLVMSetGlobalConstant(gv, 1);
	LLVMSetSection(gv, sec);
	LLVMSetAlignment(gv, 8);
	cg_global_debug(g, gv, name, (int)C->blob_size);
	return gv;
}

/* Load a little-endian uN (n = 4 or 8) at blob + off as i64. */
static LLVMValueRef blob_load(struct cg *g, struct walk *W, LLVMValueRef off, int n)
{
	LLVMValueRef v = cg_load(g, n == 8 ? g->i64 : g->i32, cg_gep(g, W->blob, off), (unsigned)n);
	return n == 8 ? v : LLVMBuildZExt(g->b, v, g->i64, "");
}

/* x where x < limit, else go to `out`. The compare is on an opaque copy
 * that is then used: LLVM can neither narrow it to 32 bits nor compare a
 * different register than the one the verifier must see bounded. */
static LLVMValueRef check_below(struct cg *g, LLVMValueRef x, uint64_t limit, LLVMBasicBlockRef out)
{
	LLVMBasicBlockRef ok = cg_block(g, "cls_in");
	x = cg_barrier_i64(g, x);
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, x, cg_const(g, g->i64, limit), ""), ok, out);
	LLVMPositionBuilderAtEnd(g->b, ok);
	return x;
}

static LLVMValueRef u64(struct cg *g, uint64_t v)
{
	return cg_const(g, g->i64, v);
}

/* Each dimension's value and the `have` mask. */
static void read_dims(struct cg *g, struct walk *W)
{
	const struct ir_classifier *C = W->C;
	W->have = u64(g, 0);
	for (int d = 0; d < CLS_MAX_DIMS; d++)
		cg_store(g, u64(g, 0), cg_gep_const(g, W->vals, (uint64_t)d * 8), 8);
	for (int d = 0; d < C->ndims; d++) {
		const struct ir_cls_dim *D = &C->dims[d];
		if (D->part == 1 && d > 0 && C->dims[d - 1].key == D->key && C->dims[d - 1].part == 0)
			continue; /* read with part 0 */
		LLVMBasicBlockRef absent = cg_block(g, "cls_absent"), join = cg_block(g, "cls_value");
		LLVMValueRef v = cg_emit_val(g, D->key, absent), x[2];
		int nparts = D->key->bits > 64 ? 2 : 1;
		if (nparts == 2) {
			x[0] = LLVMBuildTrunc(g->b, LLVMBuildLShr(g->b, v, LLVMConstInt(g->i128, 64, 0), ""), g->i64, "");
			x[1] = LLVMBuildTrunc(g->b, v, g->i64, "");
		} else {
			x[0] = LLVMBuildZExtOrBitCast(g->b, v, g->i64, "");
		}
		LLVMBasicBlockRef from = LLVMGetInsertBlock(g->b);
		LLVMBuildBr(g->b, join);
		LLVMPositionBuilderAtEnd(g->b, absent);
		LLVMBuildBr(g->b, join);
		LLVMPositionBuilderAtEnd(g->b, join);
		LLVMBasicBlockRef bb[2] = { from, absent };
		for (int p = 0; p < nparts; p++) {
			LLVMValueRef phi = LLVMBuildPhi(g->b, g->i64, "dim");
			LLVMValueRef in[2] = { x[p], u64(g, 0) };
			LLVMAddIncoming(phi, in, bb, 2);
			W->v[d + p] = phi;
		}
		LLVMValueRef hv = LLVMBuildPhi(g->b, g->i64, "have");
		LLVMValueRef hin[2] = { u64(g, (nparts == 2 ? 3ull : 1ull) << d), u64(g, 0) };
		LLVMAddIncoming(hv, hin, bb, 2);
		W->have = LLVMBuildOr(g->b, W->have, hv, "");
	}
	for (int d = 0; d < C->ndims; d++)
		cg_store(g, W->v[d], cg_gep_const(g, W->vals, (uint64_t)d * 8), 8);
	cg_store(g, W->have, cg_gep_const(g, W->vals, CLS_MAX_DIMS * 8), 8);
}

/* Rule `pos` (< nrules, checked) against the packet: to `hit` when it
 * matches, else to `no`. */
static void check_rule(struct cg *g, struct walk *W, LLVMValueRef pos, LLVMBasicBlockRef hit, LLVMBasicBlockRef no)
{
	const struct ir_classifier *C = W->C;
	LLVMValueRef rec = LLVMBuildAdd(g->b, u64(g, C->rules_off),
					LLVMBuildMul(g->b, pos, u64(g, (uint64_t)C->rec_size), ""), "rule");
	for (int d = 0; d < C->ndims; d++) {
		int n = C->dim_bytes[d];
		LLVMValueRef lo = blob_load(g, W, LLVMBuildAdd(g->b, rec, u64(g, (uint64_t)C->dim_off[d]), ""), n);
		LLVMValueRef w = blob_load(g, W, LLVMBuildAdd(g->b, rec, u64(g, (uint64_t)(C->dim_off[d] + n)), ""), n);
		LLVMValueRef in = LLVMBuildICmp(g->b, LLVMIntULE, LLVMBuildSub(g->b, W->v[d], lo, ""), w, "");
		LLVMBasicBlockRef ok = cg_block(g, "cls_dim_ok");
		LLVMBuildCondBr(g->b, in, ok, no);
		LLVMPositionBuilderAtEnd(g->b, ok);
	}
	LLVMValueRef need = blob_load(g, W, LLVMBuildAdd(g->b, rec, u64(g, (uint64_t)(C->rec_size - 8)), ""), 4);
	LLVMValueRef lack = LLVMBuildAnd(g->b, need, LLVMBuildNot(g->b, W->have, ""), "");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, lack, u64(g, 0), ""), hit, no);
}

/* The leaf's rules (node: the leaf's word) in order; the first that
 * matches before the best so far becomes the best. Ends at `done`. */
static void scan_leaf(struct cg *g, struct walk *W, LLVMValueRef node, int max_leaf, LLVMBasicBlockRef done)
{
	const struct ir_classifier *C = W->C;
	LLVMValueRef start = LLVMBuildAnd(g->b, node, u64(g, 0xffffffffu), "start");
	LLVMValueRef cnt = LLVMBuildAnd(g->b, LLVMBuildLShr(g->b, node, u64(g, 32), ""), u64(g, 0xff), "count");
	for (int j = 0; j < max_leaf; j++) {
		LLVMBasicBlockRef more = cg_block(g, "cls_entry"), hit = cg_block(g, "cls_hit");
		LLVMBasicBlockRef next = cg_block(g, "cls_next");
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, u64(g, (uint64_t)j), cnt, ""), more, done);
		LLVMPositionBuilderAtEnd(g->b, more);
		LLVMValueRef e = LLVMBuildAdd(g->b, start, u64(g, (uint64_t)j), "");
		e = check_below(g, e, (uint64_t)C->nlist, done);
		LLVMValueRef pos = blob_load(g, W, LLVMBuildAdd(g->b, u64(g, C->list_off),
								 LLVMBuildShl(g->b, e, u64(g, 2), ""), ""), 4);
		pos = check_below(g, pos, (uint64_t)C->nrules, done);
		LLVMBasicBlockRef earlier = cg_block(g, "cls_earlier");
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, pos, W->best, ""), earlier, done);
		LLVMPositionBuilderAtEnd(g->b, earlier);
		check_rule(g, W, pos, hit, next);
		LLVMPositionBuilderAtEnd(g->b, hit);
		LLVMBuildRet(g->b, LLVMBuildTrunc(g->b, pos, g->i32, ""));
		LLVMPositionBuilderAtEnd(g->b, next);
	}
	LLVMBuildBr(g->b, done);
}

/* Tree t: node steps from its root to a leaf, then the leaf. */
static void walk_tree(struct cg *g, struct walk *W, const struct ir_cls_tree *t, LLVMBasicBlockRef done)
{
	const struct ir_classifier *C = W->C;
	LLVMBasicBlockRef cur = LLVMGetInsertBlock(g->b), leaf = cg_block(g, "cls_leaf");
	LLVMPositionBuilderAtEnd(g->b, leaf);
	LLVMValueRef lnode = LLVMBuildPhi(g->b, g->i64, "leaf");
	LLVMPositionBuilderAtEnd(g->b, cur);
	LLVMValueRef idx = u64(g, (uint64_t)t->root);
	for (int s = 0; s < t->depth; s++) {
		LLVMValueRef node = blob_load(g, W, LLVMBuildShl(g->b, idx, u64(g, 3), ""), 8);
		LLVMValueRef mask = LLVMBuildLShr(g->b, node, u64(g, 48), "mask");
		LLVMBasicBlockRef from = LLVMGetInsertBlock(g->b);
		if (s == t->depth - 1) { /* the deepest level holds leaves only */
			LLVMBuildBr(g->b, leaf);
			LLVMAddIncoming(lnode, &node, &from, 1);
			break;
		}
		LLVMBasicBlockRef inner = cg_block(g, "cls_node");
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, mask, u64(g, 0), ""), leaf, inner);
		LLVMAddIncoming(lnode, &node, &from, 1);
		LLVMPositionBuilderAtEnd(g->b, inner);
		LLVMValueRef d = LLVMBuildAnd(g->b, LLVMBuildLShr(g->b, node, u64(g, 32), ""), u64(g, CLS_MAX_DIMS - 1), "");
		LLVMValueRef sh = LLVMBuildAnd(g->b, LLVMBuildLShr(g->b, node, u64(g, 40), ""), u64(g, 63), "");
		LLVMValueRef v = cg_load(g, g->i64, cg_gep(g, W->vals, LLVMBuildShl(g->b, d, u64(g, 3), "")), 8);
		LLVMValueRef child = LLVMBuildAnd(g->b, LLVMBuildLShr(g->b, v, sh, ""), mask, "");
		idx = LLVMBuildAdd(g->b, LLVMBuildAnd(g->b, node, u64(g, 0xffffffffu), ""), child, "child");
		idx = check_below(g, idx, (uint64_t)C->nnodes, done);
	}
	LLVMPositionBuilderAtEnd(g->b, leaf);
	scan_leaf(g, W, lnode, t->max_leaf, done);
}

/* Tree t of classifier gi as a global function
 * int f(u64 args[CLS_ARGS], u64 best, u64, u64): the earliest matching
 * rule of the tree before `best`, else best. The verifier checks a global
 * function once, on its own: the trees' paths do not multiply. (It has
 * the signature of the chunk functions, for their BTF.) */
static LLVMValueRef tree_fn(struct cg *g, struct walk *M, int gi, int t)
{
	char name[64];
	snprintf(name, sizeof(name), "xdpl_cls%d_tree%d", gi, t);
	LLVMValueRef fn = LLVMGetNamedFunction(g->m, name);
	if (fn)
		return fn;
	fn = LLVMAddFunction(g->m, name, g->chunk_ty);
	LLVMSetSection(fn, ".text");
	LLVMSetLinkage(fn, LLVMExternalLinkage);
	const char *attrs[2] = { "noinline", "nounwind" };
	for (int i = 0; i < 2; i++)
		LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
					LLVMCreateEnumAttribute(g->C, LLVMGetEnumAttributeKindForName(attrs[i], strlen(attrs[i])), 0));
	int rec_size = g->rec_size;
	g->rec_size = CLS_ARGS * 8; /* the BTF size of the first argument */
	cg_chunk_debug(g, fn, name, g->p->rules[g->p->groups[gi].first].line);
	g->rec_size = rec_size;

	LLVMBuilderRef b = g->b;
	LLVMValueRef outer = g->fn;
	g->b = LLVMCreateBuilderInContext(g->C);
	g->fn = fn;
	const struct ir_classifier *C = M->C;
	struct walk W = { .C = C, .blob = M->blob, .vals = LLVMGetParam(fn, 0), .best = LLVMGetParam(fn, 1) };
	LLVMBasicBlockRef entry = cg_block(g, "entry"), body = cg_block(g, "walk"), done = cg_block(g, "none");
	LLVMPositionBuilderAtEnd(g->b, entry);
	for (unsigned i = 1; i < 4; i++) /* set at every call (see emit_chunk) */
		cg_barrier_i64(g, LLVMGetParam(fn, i));
	LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, W.vals, ""), done, body);
	LLVMPositionBuilderAtEnd(g->b, done);
	LLVMBuildRet(g->b, LLVMBuildTrunc(g->b, W.best, g->i32, ""));
	LLVMPositionBuilderAtEnd(g->b, body);
	for (int d = 0; d < C->ndims; d++)
		W.v[d] = cg_load(g, g->i64, cg_gep_const(g, W.vals, (uint64_t)d * 8), 8);
	W.have = cg_load(g, g->i64, cg_gep_const(g, W.vals, CLS_MAX_DIMS * 8), 8);
	walk_tree(g, &W, &C->trees[t], done);
	LLVMDisposeBuilder(g->b);
	g->b = b;
	g->fn = outer;
	return fn;
}

/* The stack array for the tree functions' arguments: one per function,
 * shared by its classifiers (each writes it whole before its calls; in
 * CG_SPEC the rules are emitted once per presence set). */
static LLVMValueRef args_slot(struct cg *g)
{
	for (LLVMValueRef i = LLVMGetFirstInstruction(LLVMGetEntryBasicBlock(g->fn)); i;
	     i = LLVMGetNextInstruction(i)) {
		size_t n;
		const char *name = LLVMGetValueName2(i, &n);
		if (LLVMGetInstructionOpcode(i) == LLVMAlloca && n >= 8 && !strncmp(name, "cls_args", 8))
			return i;
	}
	return cg_entry_alloca(g, LLVMArrayType2(g->i64, CLS_ARGS), 8, "cls_args");
}

/* The classifier of group grp: on a hit the builder is left where the
 * deciding rule's IR_GROUP_VALUE (i32) is returned; no rule: to next. */
LLVMValueRef cg_emit_classifier(struct cg *g, const struct ir_group *grp, LLVMBasicBlockRef next)
{
	const struct ir_classifier *C = grp->cls;
	int gi = (int)(grp - g->p->groups);
	struct walk W = { .C = C };
	W.blob = blob_global(g, C, gi);
	W.vals = args_slot(g);
	read_dims(g, &W);
	if (!g->chunk_ty) { /* CG_SPEC: no chunk functions declared */
		LLVMTypeRef params[4] = { g->ptr, g->i64, g->i64, g->i64 };
		g->chunk_ty = LLVMFunctionType(g->i32, params, 4, 0);
	}
	LLVMValueRef best = u64(g, (uint64_t)C->nrules);
	for (int t = 0; t < C->ntrees; t++) {
		LLVMValueRef fn = tree_fn(g, &W, gi, t);
		LLVMBasicBlockRef from = LLVMGetInsertBlock(g->b);
		LLVMBasicBlockRef go = cg_block(g, "cls_tree"), done = cg_block(g, "cls_tree_done");
		/* a rule found before this tree's first: the tree cannot beat it */
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, u64(g, (uint64_t)C->trees[t].first), best, ""),
				go, done);
		LLVMPositionBuilderAtEnd(g->b, go);
		LLVMValueRef args[4] = { W.vals, best, u64(g, 0), u64(g, 0) };
		LLVMValueRef r = LLVMBuildCall2(g->b, g->chunk_ty, fn, args, 4, "");
		r = LLVMBuildZExt(g->b, r, g->i64, "");
		LLVMBasicBlockRef after = LLVMGetInsertBlock(g->b);
		LLVMBuildBr(g->b, done);
		LLVMPositionBuilderAtEnd(g->b, done);
		LLVMValueRef phi = LLVMBuildPhi(g->b, g->i64, "best");
		LLVMValueRef in[2] = { best, r };
		LLVMBasicBlockRef bb[2] = { from, after };
		LLVMAddIncoming(phi, in, bb, 2);
		best = phi;
	}
	best = check_below(g, best, (uint64_t)C->nrules, next);
	LLVMValueRef off = LLVMBuildAdd(g->b, u64(g, C->rules_off + (uint64_t)C->rec_size - 4),
					LLVMBuildMul(g->b, best, u64(g, (uint64_t)C->rec_size), ""), "");
	return cg_load(g, g->i32, cg_gep(g, W.blob, off), 4);
}
