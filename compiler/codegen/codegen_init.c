/* Initial map elements without the xdpl runtime.
 *
 * Set initializers, large literal sets and rule groups (ir.h) live in maps
 * whose elements the xdpl runtime and generated loaders put in from the
 * object's "init" records. ip, bpftool and xdp-loader do not read those:
 * loaded by them, the maps would be empty and the policy would not hold.
 * So the program carries the elements itself, as global data (.rodata,
 * which every libbpf-based loader loads), and on a packet that finds the
 * flag XDPL_SELF_INIT_VAR (.data) still 0 it puts them in with bpf_loop
 * and bpf_map_update_elem, then sets the flag. Concurrent first packets on
 * several CPUs write the same elements: harmless. xdpl's own loaders set
 * the flag to 1 before loading (they fill new maps themselves and keep
 * reused maps as they are). devmaps and cpumaps cannot be written by a
 * program: their initial elements need an xdpl loader.
 *
 * Per packet this costs one load and a branch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"

#define CG_HELPER_MAP_UPDATE_ELEM 2
#define CG_HELPER_LOOP 181

static bool self_init_map(const struct ir_map *m)
{
	return m->ninit > 0 && !ir_map_kind_info(m->kind)->target;
}

/* A constant byte array in .rodata. */
static LLVMValueRef rodata_bytes(struct cg *g, const char *name, const uint8_t *bytes, size_t n)
{
	LLVMTypeRef t = LLVMArrayType2(g->i8, (uint64_t)n);
	LLVMValueRef gv = LLVMAddGlobal(g->m, t, name);
	LLVMSetInitializer(gv, LLVMConstStringInContext(g->C, (const char *)bytes, (unsigned)n, 1));
	LLVMSetGlobalConstant(gv, 1);
	LLVMSetSection(gv, ".rodata");
	LLVMSetAlignment(gv, 8);
	cg_global_debug(g, gv, name, (int)n);
	return gv;
}

static int value_bytes_of(const struct ir_map *m)
{
	return m->is_set && !m->expires ? 1 : m->value_size;
}

/* long cb(u64 i, void *ctx): element i of map m into m; 1 (stop) past the
 * last. */
static LLVMValueRef emit_callback(struct cg *g, const struct ir_map *m, int mi)
{
	int ks = m->key_size, vs = value_bytes_of(m);
	size_t n = (size_t)m->ninit;
	uint8_t *kb = malloc(n * (size_t)ks + 1), *vb = malloc(n * (size_t)vs + 1);
	if (!kb || !vb) {
		free(kb);
		free(vb);
		cg_fail(g, "codegen: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(kb + i * (size_t)ks, m->init[i].key, (size_t)ks);
		memcpy(vb + i * (size_t)vs, m->init[i].value, (size_t)vs);
	}
	char name[96];
	snprintf(name, sizeof(name), "_xdpl_init_keys_%d", mi);
	LLVMValueRef keys = rodata_bytes(g, name, kb, n * (size_t)ks);
	snprintf(name, sizeof(name), "_xdpl_init_values_%d", mi);
	LLVMValueRef vals = rodata_bytes(g, name, vb, n * (size_t)vs);
	free(kb);
	free(vb);

	snprintf(name, sizeof(name), "_xdpl_init_%d", mi);
	int line = m->line > 0 ? m->line : 1;
	LLVMMetadataRef sp;
	LLVMValueRef fn = cg_add_callback(g, name, line, &sp);

	LLVMBuilderRef b = LLVMCreateBuilderInContext(g->C);
	LLVMSetCurrentDebugLocation2(b, LLVMDIBuilderCreateDebugLocation(g->C, (unsigned)line, 0, sp, NULL));
	LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(g->C, fn, "entry");
	LLVMBasicBlockRef put = LLVMAppendBasicBlockInContext(g->C, fn, "put");
	LLVMBasicBlockRef stop = LLVMAppendBasicBlockInContext(g->C, fn, "stop");
	LLVMPositionBuilderAtEnd(b, entry);
	LLVMValueRef i = LLVMGetParam(fn, 0);
	LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntULT, i, LLVMConstInt(g->i64, n, 0), ""), put, stop);
	LLVMPositionBuilderAtEnd(b, put);
	LLVMValueRef ko = LLVMBuildMul(b, i, LLVMConstInt(g->i64, (uint64_t)ks, 0), "");
	LLVMValueRef vo = LLVMBuildMul(b, i, LLVMConstInt(g->i64, (uint64_t)vs, 0), "");
	LLVMValueRef kp = LLVMBuildGEP2(b, g->i8, keys, &ko, 1, "key");
	LLVMValueRef vp = LLVMBuildGEP2(b, g->i8, vals, &vo, 1, "value");
	LLVMTypeRef up[4] = { g->ptr, g->ptr, g->ptr, g->i64 };
	LLVMValueRef ua[4] = { cg_map_global(g, m), kp, vp, LLVMConstInt(g->i64, 0, 0) /* BPF_ANY */ };
	LLVMValueRef uf = LLVMConstIntToPtr(LLVMConstInt(g->i64, CG_HELPER_MAP_UPDATE_ELEM, 0), g->ptr);
	LLVMBuildCall2(b, LLVMFunctionType(g->i64, up, 4, 0), uf, ua, 4, "");
	LLVMBuildRet(b, LLVMConstInt(g->i64, 0, 0));
	LLVMPositionBuilderAtEnd(b, stop);
	LLVMBuildRet(b, LLVMConstInt(g->i64, 1, 0));
	LLVMDisposeBuilder(b);
	return fn;
}

void cg_emit_self_init(struct cg *g)
{
	const struct ir_program *p = g->p;
	int any = 0;
	for (int i = 0; i < p->nmaps; i++)
		any += self_init_map(p->maps[i]);
	if (!any || g->failed)
		return;
	LLVMValueRef flag = LLVMAddGlobal(g->m, g->i32, XDPL_SELF_INIT_VAR);
	LLVMSetInitializer(flag, LLVMConstInt(g->i32, 0, 0));
	LLVMSetSection(flag, ".data");
	LLVMSetAlignment(flag, 4);
	cg_global_debug(g, flag, XDPL_SELF_INIT_VAR, 4);

	LLVMBasicBlockRef fill = cg_block(g, "self_init"), go = cg_block(g, "initialised");
	LLVMValueRef v = cg_volatile_load(g, g->i32, flag, 4);
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntNE, v, cg_const(g, g->i32, 0), ""), go, fill);
	LLVMPositionBuilderAtEnd(g->b, fill);
	LLVMTypeRef lp[4] = { g->i32, g->ptr, g->ptr, g->i64 };
	LLVMTypeRef lty = LLVMFunctionType(g->i64, lp, 4, 0);
	LLVMValueRef lf = LLVMConstIntToPtr(cg_const(g, g->i64, CG_HELPER_LOOP), g->ptr);
	for (int i = 0; i < p->nmaps && !g->failed; i++) {
		const struct ir_map *m = p->maps[i];
		if (!self_init_map(m))
			continue;
		LLVMValueRef cb = emit_callback(g, m, i);
		if (!cb)
			return;
		LLVMValueRef la[4] = { cg_const(g, g->i32, (uint64_t)m->ninit), cb, LLVMConstNull(g->ptr),
				       cg_const(g, g->i64, 0) };
		LLVMBuildCall2(g->b, lty, lf, la, 4, "");
	}
	cg_volatile_store(g, cg_const(g, g->i32, 1), flag, 4);
	LLVMBuildBr(g->b, go);
	LLVMPositionBuilderAtEnd(g->b, go);
}
