/* Code generation driver: rule IR -> one LLVM module -> "default<O2>" ->
 * BPF ELF object, textual LLVM IR or BPF assembly in a malloc'd buffer.
 *
 * The module holds the XDP program (section "xdp"), the BTF-defined maps
 * in ".maps", the license, the ".xdpl.meta" text for the runtime and
 * libxdp's ".xdp_run_config". The function is laid out as
 *
 *   entry:   allocas, header slots = NULL, ctx->data / data_end, pkt.len
 *            (CG_RECORD: the zeroed record)
 *   parse:   one block per unrolled parse-state instance (codegen_parse.c)
 *   rules:   CG_SPEC: the rules once per presence set that ends parsing;
 *            CG_RECORD: calls of the rule chunks (codegen_rules.c)
 *   finish:  count the deciding rule in xdpl_stats, return its action
 *   reject:  `reject` in the parse graph: XDP_DROP, not counted
 *
 * In CG_RECORD the rules live in global functions in ".text" (one per
 * chunk of rules), which the verifier checks once each, on their own;
 * they are built after O2 has run on the XDP function and get a short
 * pipeline of their own (see optimise()).
 *
 * Verifier notes (kernel 6.18), each solved where it arises:
 *  - packet pointers pass through an empty `asm volatile` after their
 *    bounds check so LLVM cannot rebuild them as data + (off + k) with a
 *    different register, which the verifier would not know is checked
 *    (llvm issue 96847); see cg_barrier_ptr.
 *  - sizes of variable header parts go through the same barrier after their
 *    `<= max` test so the bounded register is the one added to the pointer.
 *  - stack buffers passed to helpers are zeroed first.
 *  - header presence is an i1 flag per header, never a NULL test of the
 *    header pointer: the verifier does not know packet pointers are
 *    non-NULL and explores the "== NULL" branch too, where LLVM has
 *    (rightly) replaced the pointer by the constant NULL, and then
 *    rejects the load it cannot prove dead (R1 invalid mem access
 *    'scalar'). Branches on constant flags are followed exactly.
 */
#include <llvm-c/Analysis.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"
#include "diag.h"

#define S(x) x, sizeof(x) - 1

/* ---------------------------------------------------------------- helpers */

void cg_fail(struct cg *g, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* loc.file = 0: codegen has no source position; prints "xdplc: error:" */
	struct xdpl_loc none = { 0 };
	diag_error(none, "%s", buf);
	g->failed = true;
}

LLVMValueRef cg_const(struct cg *g, LLVMTypeRef t, uint64_t v)
{
	(void)g;
	return LLVMConstInt(t, v, 0);
}

/* Plain (not inbounds) byte GEPs: packet offsets must stay exactly what we
 * wrote; `inbounds` would let LLVM reason about and fold the comparisons
 * against data_end. */
LLVMValueRef cg_gep(struct cg *g, LLVMValueRef base, LLVMValueRef off)
{
	return LLVMBuildGEP2(g->b, g->i8, base, &off, 1, "");
}

LLVMValueRef cg_gep_const(struct cg *g, LLVMValueRef base, uint64_t off)
{
	if (!off)
		return base;
	return cg_gep(g, base, cg_const(g, g->i64, off));
}

LLVMBasicBlockRef cg_block(struct cg *g, const char *name)
{
	return LLVMAppendBasicBlockInContext(g->C, g->fn, name);
}

/* long NAME(u64 index, void *ctx): a new bpf_loop callback (internal,
 * never inlined) with its debug info (*sp) at line. */
LLVMValueRef cg_add_callback(struct cg *g, const char *name, int line, LLVMMetadataRef *sp)
{
	LLVMTypeRef params[2] = { g->i64, g->ptr };
	LLVMValueRef fn = LLVMAddFunction(g->m, name, LLVMFunctionType(g->i64, params, 2, 0));
	LLVMSetLinkage(fn, LLVMInternalLinkage);
	LLVMSetSection(fn, ".text");
	unsigned attrs[2] = { LLVMGetEnumAttributeKindForName("nounwind", 8),
			      LLVMGetEnumAttributeKindForName("noinline", 8) };
	for (int i = 0; i < 2; i++)
		LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->C, attrs[i], 0));
	*sp = cg_callback_debug(g, fn, name, line);
	return fn;
}

/* Allocas live in the entry block so SROA/mem2reg can promote them. */
LLVMValueRef cg_entry_alloca(struct cg *g, LLVMTypeRef t, unsigned align, const char *name)
{
	LLVMValueRef a = LLVMBuildAlloca(g->eb, t, name);
	LLVMSetAlignment(a, align);
	return a;
}

LLVMValueRef cg_load(struct cg *g, LLVMTypeRef t, LLVMValueRef p, unsigned align)
{
	LLVMValueRef v = LLVMBuildLoad2(g->b, t, p, "");
	LLVMSetAlignment(v, align);
	return v;
}

void cg_store(struct cg *g, LLVMValueRef v, LLVMValueRef p, unsigned align)
{
	LLVMSetAlignment(LLVMBuildStore(g->b, v, p), align);
}

/* An empty `asm volatile("" : "=r"(x) : "0"(x))`: an opaque copy. The
 * result is the same register at run time, but LLVM can no longer see how
 * it was computed, so it cannot re-derive it (see the file comment). */
LLVMValueRef cg_barrier_ptr(struct cg *g, LLVMValueRef p)
{
	return LLVMBuildCall2(g->b, g->barrier_ptr_ty, g->barrier_ptr_asm, &p, 1, "chk");
}

LLVMValueRef cg_barrier_i64(struct cg *g, LLVMValueRef v)
{
	return LLVMBuildCall2(g->b, g->barrier_i64_ty, g->barrier_i64_asm, &v, 1, "bnd");
}

/* BPF helpers are called through their number: call inttoptr(ID). */
LLVMValueRef cg_map_lookup(struct cg *g, LLVMValueRef map, LLVMValueRef key)
{
	LLVMValueRef args[2] = { map, key };
	return LLVMBuildCall2(g->b, g->lookup_ty, g->lookup_fn, args, 2, "elem");
}

LLVMValueRef cg_intrinsic(struct cg *g, const char *name, LLVMTypeRef overload,
			  LLVMValueRef *args, unsigned nargs)
{
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	LLVMTypeRef ov[1] = { overload };
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->m, id, ov, overload ? 1 : 0);
	LLVMTypeRef ty = LLVMIntrinsicGetType(g->C, id, ov, overload ? 1 : 0);
	return LLVMBuildCall2(g->b, ty, fn, args, nargs, "");
}

/* Lifetime markers let the backend's stack colouring share one stack slot
 * between the keys of different lookups: BPF has only 512 stack bytes. */
void cg_lifetime(struct cg *g, bool start, LLVMValueRef alloca, uint64_t size)
{
	LLVMValueRef args[2] = { cg_const(g, g->i64, size), alloca };
	cg_intrinsic(g, start ? "llvm.lifetime.start" : "llvm.lifetime.end", g->ptr, args, 2);
}

/* ---------------------------------------------------------------- checks */

static bool is_c_ident(const char *s)
{
	if (!s || !*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	return true;
}

static bool verdict_supported(enum ir_verdict_kind k)
{
	return ir_verdict_info(k)->word < XDPL_NVERDICTS;
}

/* Lowering rejects what codegen cannot do yet, with a source location;
 * these checks are the guard behind it. */
static int check_program(struct cg *g)
{
	const struct ir_program *p = g->p;
	for (int i = 0; i < p->nrules; i++) {
		const struct ir_rule *r = &p->rules[i];
		if (!verdict_supported(r->verdict.kind)) {
			cg_fail(g, "codegen: verdict %s is not supported yet",
				ir_verdict_name(r->verdict.kind));
			return -1;
		}
		if (r->index < 0 || r->index >= p->nrules) {
			cg_fail(g, "codegen: internal error: rule %s has counter slot %d of %d",
				r->name ? r->name : "?", r->index, p->nrules);
			return -1;
		}
		if (!r->cond) {
			cg_fail(g, "codegen: internal error: rule %s has no condition",
				r->name ? r->name : "?");
			return -1;
		}
	}
	if (!verdict_supported(p->default_verdict.kind) || !ir_verdict_final(p->default_verdict.kind)) {
		cg_fail(g, "codegen: verdict %s is not supported yet as the default",
			ir_verdict_name(p->default_verdict.kind));
		return -1;
	}
	for (int i = 0; i < p->nmaps; i++) {
		const struct ir_map *m = p->maps[i];
		if (!is_c_ident(m->name)) {
			cg_fail(g, "codegen: internal error: map name '%s' is not an identifier",
				m->name ? m->name : "");
			return -1;
		}
		if (!strcmp(m->name, XDPL_STATS_MAP)) {
			cg_fail(g, "codegen: the name '%s' is reserved for the rule counters",
				XDPL_STATS_MAP);
			return -1;
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(p->maps[j]->name, m->name)) {
				cg_fail(g, "codegen: internal error: two maps named '%s'", m->name);
				return -1;
			}
	}
	return 0;
}

static bool name_taken(const struct ir_program *p, const char *name)
{
	if (!strcmp(name, XDPL_STATS_MAP))
		return true;
	for (int i = 0; i < p->nmaps; i++)
		if (!strcmp(p->maps[i]->name, name))
			return true;
	return false;
}

bool cg_name_taken(struct cg *g, const char *name)
{
	return name_taken(g->p, name) || (g->fname && !strcmp(g->fname, name));
}

/* The function (= kernel program) name: the program's name when it is a C
 * identifier that no map uses (the ELF symbol table holds both), else a
 * stable fallback. */
static const char *function_name(const struct ir_program *p)
{
	static const char *const fallback[] = { "xdpl_prog", "xdpl_prog_main", "_xdpl_prog" };
	if (is_c_ident(p->name) && !name_taken(p, p->name))
		return p->name;
	for (size_t i = 0; i < sizeof(fallback) / sizeof(*fallback); i++)
		if (!name_taken(p, fallback[i]))
			return fallback[i];
	return "_xdpl_prog_"; /* map names are identifiers that lowering gives us; not this one */
}

/* ---------------------------------------------------------------- setup */

static void on_llvm_diag(LLVMDiagnosticInfoRef di, void *arg)
{
	struct cg *g = arg;
	if (LLVMGetDiagInfoSeverity(di) != LLVMDSError)
		return;
	char *msg = LLVMGetDiagInfoDescription(di);
	if (!g->llvm_error)
		g->llvm_error = msg;
	else
		LLVMDisposeMessage(msg);
}

static int init_target(struct cg *g)
{
	static bool done;
	if (!done) {
		LLVMInitializeBPFTargetInfo();
		LLVMInitializeBPFTarget();
		LLVMInitializeBPFTargetMC();
		LLVMInitializeBPFAsmPrinter();
		done = true;
	}
	char *err = NULL;
	LLVMTargetRef t;
	if (LLVMGetTargetFromTriple("bpfel", &t, &err)) {
		cg_fail(g, "codegen: no BPF target in LLVM: %s", err ? err : "?");
		LLVMDisposeMessage(err);
		return -1;
	}
	g->tm = LLVMCreateTargetMachine(t, "bpfel", "v3", "", LLVMCodeGenLevelDefault,
					LLVMRelocDefault, LLVMCodeModelDefault);
	if (!g->tm) {
		cg_fail(g, "codegen: cannot create the BPF target machine");
		return -1;
	}
	return 0;
}

static void init_module(struct cg *g)
{
	g->C = LLVMContextCreate();
	LLVMContextSetDiagnosticHandler(g->C, on_llvm_diag, g);
	g->m = LLVMModuleCreateWithNameInContext(g->p->name ? g->p->name : "xdpl", g->C);
	LLVMSetTarget(g->m, "bpfel");
	LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(g->tm);
	LLVMSetModuleDataLayout(g->m, dl);
	LLVMDisposeTargetData(dl);
	g->b = LLVMCreateBuilderInContext(g->C);
	g->eb = LLVMCreateBuilderInContext(g->C);

	g->i1 = LLVMInt1TypeInContext(g->C);
	g->i8 = LLVMInt8TypeInContext(g->C);
	g->i16 = LLVMInt16TypeInContext(g->C);
	g->i32 = LLVMInt32TypeInContext(g->C);
	g->i64 = LLVMInt64TypeInContext(g->C);
	g->i128 = LLVMInt128TypeInContext(g->C);
	g->ptr = LLVMPointerTypeInContext(g->C, 0);
	g->void_t = LLVMVoidTypeInContext(g->C);

	LLVMTypeRef args[2] = { g->ptr, g->ptr };
	g->lookup_ty = LLVMFunctionType(g->ptr, args, 2, 0);
	g->lookup_fn = LLVMConstIntToPtr(cg_const(g, g->i64, CG_HELPER_MAP_LOOKUP_ELEM), g->ptr);
	g->barrier_ptr_ty = LLVMFunctionType(g->ptr, &g->ptr, 1, 0);
	g->barrier_ptr_asm = LLVMGetInlineAsm(g->barrier_ptr_ty, S(""), S("=r,0"), 1, 0,
					      LLVMInlineAsmDialectATT, 0);
	g->barrier_i64_ty = LLVMFunctionType(g->i64, &g->i64, 1, 0);
	g->barrier_i64_asm = LLVMGetInlineAsm(g->barrier_i64_ty, S(""), S("=r,0"), 1, 0,
					      LLVMInlineAsmDialectATT, 0);
}

static void emit_license(struct cg *g)
{
	LLVMValueRef lic = LLVMAddGlobal(g->m, LLVMArrayType2(g->i8, 4), "_license");
	LLVMSetInitializer(lic, LLVMConstStringInContext2(g->C, "GPL", 3, 0));
	LLVMSetSection(lic, "license");
	LLVMSetAlignment(lic, 1);
}

/* ---------------------------------------------------------------- function */

/* ctx fields are u32 loads the verifier rewrites (data, data_end into
 * packet pointers); they must stay exactly 32-bit loads at their offsets. */
static LLVMValueRef ctx_u32(struct cg *g, LLVMBuilderRef b, unsigned off, const char *name)
{
	LLVMValueRef idx = cg_const(g, g->i64, off);
	LLVMValueRef p = off ? LLVMBuildGEP2(b, g->i8, g->ctx, &idx, 1, "") : g->ctx;
	LLVMValueRef v = LLVMBuildLoad2(b, g->i32, p, name);
	LLVMSetAlignment(v, 4);
	return v;
}

/* pkt.len (and the byte counters, byte rates, an L2 encap's inner
 * length): the whole frame. Loaded with the frags flag (docs/design.md,
 * "Frames larger than a page"), the program may get multi-buffer frames,
 * of which data_end - data is only the first buffer: xdpl's loaders then
 * set the .rodata flag XDPL_FRAGS_VAR, and pkt.len is
 * bpf_xdp_get_buff_len(). Otherwise (the flag 0, as ip, bpftool and
 * xdp-loader leave it) frames are linear and data_end - data is the
 * length, without a helper call: the verifier knows the frozen .rodata
 * value and drops the other branch. */
static void emit_pkt_len(struct cg *g)
{
	LLVMValueRef flag = LLVMAddGlobal(g->m, g->i32, XDPL_FRAGS_VAR);
	LLVMSetInitializer(flag, LLVMConstInt(g->i32, 0, 0));
	LLVMSetGlobalConstant(flag, 1);
	LLVMSetSection(flag, ".rodata");
	LLVMSetAlignment(flag, 4);
	cg_global_debug(g, flag, XDPL_FRAGS_VAR, 4);
	/* pointer subtraction on 64 bits (allowed for privileged programs;
	 * a 32-bit ALU op on packet pointers is not) */
	LLVMValueRef linear = LLVMBuildSub(g->b, LLVMBuildPtrToInt(g->b, g->data_end, g->i64, ""),
					   LLVMBuildPtrToInt(g->b, g->data, g->i64, ""), "linear_len");
	LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b), frags = cg_block(g, "len_frags"),
			  done = cg_block(g, "len_done");
	LLVMValueRef on = LLVMBuildICmp(g->b, LLVMIntNE, cg_volatile_load(g, g->i32, flag, 4),
					cg_const(g, g->i32, 0), "");
	LLVMBuildCondBr(g->b, on, frags, done);
	LLVMPositionBuilderAtEnd(g->b, frags);
	LLVMTypeRef lp[1] = { g->ptr };
	LLVMValueRef whole = LLVMBuildCall2(g->b, LLVMFunctionType(g->i64, lp, 1, 0),
					    LLVMConstIntToPtr(cg_const(g, g->i64, CG_HELPER_XDP_GET_BUFF_LEN), g->ptr),
					    &g->ctx, 1, "buff_len");
	LLVMBuildBr(g->b, done);
	LLVMPositionBuilderAtEnd(g->b, done);
	LLVMValueRef len = LLVMBuildPhi(g->b, g->i64, "");
	LLVMValueRef vals[2] = { linear, whole };
	LLVMBasicBlockRef from[2] = { here, frags };
	LLVMAddIncoming(len, vals, from, 2);
	/* computed here, once: left to LLVM, the computation sinks to the
	 * counter update and keeps data and data_end live through the rules */
	g->pkt_len = LLVMBuildCall2(g->b, g->barrier_i64_ty, g->barrier_i64_asm, &len, 1, "pkt_len");
}

static void emit_prologue(struct cg *g)
{
	const struct ir_program *p = g->p;
	g->ctx = LLVMGetParam(g->fn, 0);
	LLVMSetValueName2(g->ctx, S("ctx"));
	g->entry_bb = cg_block(g, "entry");
	LLVMBasicBlockRef start = cg_block(g, "start");
	LLVMPositionBuilderAtEnd(g->b, g->entry_bb);
	const struct ir_state *st0 = p->start_state >= 0 && p->start_state < p->nstates
					     ? &p->states[p->start_state]
					     : NULL;
	cg_set_loc(g, st0 ? st0->file : NULL, st0 ? st0->line : (p->default_line ? p->default_line : 1));
	LLVMValueRef br = LLVMBuildBr(g->b, start);
	LLVMPositionBuilderBefore(g->eb, br);
	LLVMSetCurrentDebugLocation2(g->eb, LLVMGetCurrentDebugLocation2(g->b));

	LLVMValueRef d32 = ctx_u32(g, g->eb, 0, "data32");
	LLVMValueRef e32 = ctx_u32(g, g->eb, 4, "data_end32");
	g->data = LLVMBuildIntToPtr(g->eb, LLVMBuildZExt(g->eb, d32, g->i64, ""), g->ptr, "data");
	g->data_end = LLVMBuildIntToPtr(g->eb, LLVMBuildZExt(g->eb, e32, g->i64, ""), g->ptr,
					"data_end");

	/* Header slots and meta variables start absent on every path. */
	g->hdr_slot = calloc((size_t)p->nheaders + 1, sizeof(*g->hdr_slot));
	g->hdr_present = calloc((size_t)p->nheaders + 1, sizeof(*g->hdr_present));
	g->meta_val = calloc((size_t)p->nheaders + 1, sizeof(*g->meta_val));
	g->meta_set = calloc((size_t)p->nheaders + 1, sizeof(*g->meta_set));
	for (int h = 0; h < p->nheaders; h++) {
		const struct ir_header *hd = &p->headers[h];
		if (!hd->is_meta) {
			/* The pointer starts NULL rather than undefined so that
			 * no path ever reads an unwritten stack slot where it
			 * is spilled; presence is the separate flag. */
			g->hdr_slot[h] = LLVMBuildAlloca(g->eb, g->ptr, hd->name);
			LLVMBuildStore(g->eb, LLVMConstNull(g->ptr), g->hdr_slot[h]);
			g->hdr_present[h] = LLVMBuildAlloca(g->eb, g->i1, "");
			LLVMBuildStore(g->eb, LLVMConstInt(g->i1, 0, 0), g->hdr_present[h]);
			continue;
		}
		g->meta_val[h] = calloc((size_t)hd->nfields + 1, sizeof(LLVMValueRef));
		g->meta_set[h] = calloc((size_t)hd->nfields + 1, sizeof(LLVMValueRef));
		for (int f = 0; f < hd->nfields; f++) {
			LLVMTypeRef t = cg_repr(g, hd->fields[f].bits);
			g->meta_val[h][f] = LLVMBuildAlloca(g->eb, t, hd->fields[f].name);
			LLVMBuildStore(g->eb, LLVMConstNull(t), g->meta_val[h][f]);
			g->meta_set[h][f] = LLVMBuildAlloca(g->eb, g->i1, "");
			LLVMBuildStore(g->eb, LLVMConstInt(g->i1, 0, 0), g->meta_set[h][f]);
		}
	}
	cg_record_init(g);
	g->cur_hdr = -1;
	g->rules_bb = cg_block(g, "rules");
	g->reject_bb = cg_block(g, "reject");
	g->finish_bb = cg_block(g, "finish");
	LLVMPositionBuilderAtEnd(g->b, start);
	emit_pkt_len(g);
	cg_emit_self_init(g);
}

/* `reject` in the parse graph drops the packet at once: it is a parse
 * error, not a rule decision, so no rule counter moves. */
static void emit_reject(struct cg *g)
{
	LLVMPositionBuilderAtEnd(g->b, g->reject_bb);
	cg_set_loc(g, NULL, g->p->default_line ? g->p->default_line : 1);
	LLVMBuildRet(g->b, cg_const(g, g->i32, XDPL_ACTION_DROP));
}

static int emit_function(struct cg *g)
{
	LLVMTypeRef fty = LLVMFunctionType(g->i32, &g->ptr, 1, 0);
	g->fn = LLVMAddFunction(g->m, g->fname, fty);
	LLVMSetSection(g->fn, "xdp");
	LLVMAddAttributeAtIndex(g->fn, LLVMAttributeFunctionIndex,
				LLVMCreateEnumAttribute(g->C,
							LLVMGetEnumAttributeKindForName(S("nounwind")), 0));
	cg_emit_function_debug(g);
	if (cg_plan_rules(g))
		return -1;
	emit_prologue(g);
	if (cg_emit_parser(g) || g->failed)
		return -1;
	if (g->mode == CG_SPEC && cg_spec_too_big(g))
		return 1; /* build again with CG_RECORD */
	if (cg_emit_rules(g) || g->failed)
		return -1;
	emit_reject(g);
	return 0;
}

/* ---------------------------------------------------------------- output */

static int run_passes(struct cg *g, const char *pipeline)
{
	LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
	LLVMErrorRef e = LLVMRunPasses(g->m, pipeline, g->tm, po);
	LLVMDisposePassBuilderOptions(po);
	if (e) {
		char *msg = LLVMGetErrorMessage(e);
		cg_fail(g, "codegen: internal error: LLVM passes failed: %s", msg);
		LLVMDisposeErrorMessage(msg);
		return -1;
	}
	return 0;
}

static int verify(struct cg *g)
{
	char *err = NULL;
	if (LLVMVerifyModule(g->m, LLVMReturnStatusAction, &err)) {
		cg_fail(g, "codegen: internal error: invalid LLVM IR: %s", err ? err : "?");
		LLVMDisposeMessage(err);
		return -1;
	}
	LLVMDisposeMessage(err);
	return 0;
}

static int optimise(struct cg *g)
{
	LLVMDIBuilderFinalize(g->D);
	if (verify(g))
		return -1;
	if (run_passes(g, "default<O2>"))
		return -1;
	/* The rule chunks of CG_RECORD (thousands of rules) are built only
	 * now, and get a short function pipeline instead of O2: O2 costs
	 * seconds there and finds little in code that compares record bytes
	 * with constants. */
	if (g->nchunks) {
		if (cg_emit_chunks(g))
			return -1;
		LLVMDIBuilderFinalize(g->D);
		if (verify(g) ||
		    run_passes(g, "function(sroa,instcombine<no-verify-fixpoint>,simplifycfg)"))
			return -1;
	}
	if (g->llvm_error) {
		cg_fail(g, "codegen: LLVM: %s", g->llvm_error);
		return -1;
	}
	return 0;
}

static int copy_out(struct cg *g, const char *data, size_t len, void **out, size_t *out_len)
{
	char *buf = malloc(len + 1);
	if (!buf) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	memcpy(buf, data, len);
	buf[len] = 0; /* text outputs are also C strings */
	*out = buf;
	*out_len = len;
	return 0;
}

/* LLVM's "BPF stack limit is exceeded" is the policy's size, not a bug:
 * say so as a user error naming the function's rules and the limit. The
 * message names the function ("in function NAME"): a rules chunk, or the
 * XDP function itself. */
static void stack_error(struct cg *g)
{
	const char *in = strstr(g->llvm_error, "in function ");
	size_t n = in ? strcspn(in + 12, " \n") : 0;
	for (int c = 0; in && c < g->nchunks; c++) {
		size_t len = 0;
		const char *name = LLVMGetValueName2(g->chunk_fn[c], &len);
		if (len != n || strncmp(name, in + 12, n))
			continue;
		const struct ir_rule *a = &g->p->rules[g->chunk_start[c]];
		const struct ir_rule *b = &g->p->rules[g->chunk_start[c + 1] - 1];
		cg_fail(g, "%s:%d: rules %s to %s need more than the kernel's %d-byte BPF stack; "
			   "fewer map reads, limits and set/map updates in them would fit",
			a->file ? a->file : "?", a->line, a->name, b->name, CG_BPF_STACK);
		return;
	}
	const struct ir_rule *r = g->p->nrules ? &g->p->rules[0] : NULL;
	cg_fail(g, "%s:%d: the policy's XDP function needs more than the kernel's %d-byte BPF stack; "
		   "fewer rules after a `continue`, map reads, limits and set/map updates would fit",
		r && r->file ? r->file : "?", r ? r->line : 0, CG_BPF_STACK);
}

static int emit_output(struct cg *g, void **out, size_t *out_len)
{
	if (g->opts->emit == CODEGEN_LLVM) {
		char *s = LLVMPrintModuleToString(g->m);
		int rc = copy_out(g, s, strlen(s), out, out_len);
		LLVMDisposeMessage(s);
		return rc;
	}
	char *err = NULL;
	LLVMMemoryBufferRef mb = NULL;
	LLVMCodeGenFileType ft = g->opts->emit == CODEGEN_ASM ? LLVMAssemblyFile : LLVMObjectFile;
	if (LLVMTargetMachineEmitToMemoryBuffer(g->tm, g->m, ft, &err, &mb)) {
		cg_fail(g, "codegen: BPF backend failed: %s", err ? err : "?");
		LLVMDisposeMessage(err);
		return -1;
	}
	int rc = 0;
	if (g->llvm_error && strstr(g->llvm_error, "stack limit is exceeded")) {
		stack_error(g);
		rc = -E2BIG;
	} else if (g->llvm_error) {
		/* e.g. an operation the BPF backend cannot lower (128-bit
		 * multiplication needs a library call BPF does not have) */
		cg_fail(g, "codegen: BPF backend: %s", g->llvm_error);
		rc = -1;
	} else {
		rc = copy_out(g, LLVMGetBufferStart(mb), LLVMGetBufferSize(mb), out, out_len);
	}
	LLVMDisposeMemoryBuffer(mb);
	return rc;
}

static void cleanup(struct cg *g)
{
	if (g->p) {
		for (int h = 0; h < g->p->nheaders; h++) {
			if (g->meta_val)
				free(g->meta_val[h]);
			if (g->meta_set)
				free(g->meta_set[h]);
		}
	}
	free(g->meta_val);
	free(g->meta_set);
	free(g->hdr_slot);
	free(g->hdr_present);
	free(g->hoist);
	free(g->group_at);
	if (g->p) {
		for (int h = 0; h < g->p->nheaders; h++) {
			if (g->meta_rel)
				free(g->meta_rel[h]);
			if (g->rec_mval)
				free(g->rec_mval[h]);
			if (g->rec_mset)
				free(g->rec_mset[h]);
		}
	}
	free(g->rel);
	free(g->use_lo);
	free(g->use_hi);
	free(g->meta_rel);
	free(g->rec_pres);
	free(g->rec_base);
	free(g->rec_bias);
	free(g->rec_mval);
	free(g->rec_mset);
	free(g->variants);
	free(g->chunk_start);
	free(g->chunk_fn);
	if (g->p && g->meta_item)
		for (int h = 0; h < g->p->nheaders; h++)
			free(g->meta_item[h]);
	free(g->meta_item);
	free(g->rule_items);
	free(g->rule_early);
	free(g->state_final);
	free(g->state_reject);
	free(g->map_globals);
	for (int i = 0; i < g->ninsts; i++)
		free(g->insts[i].counts);
	free(g->insts);
	free(g->reach);
	free(g->files);
	if (g->llvm_error)
		LLVMDisposeMessage(g->llvm_error);
	if (g->D)
		LLVMDisposeDIBuilder(g->D);
	if (g->b)
		LLVMDisposeBuilder(g->b);
	if (g->eb)
		LLVMDisposeBuilder(g->eb);
	if (g->m)
		LLVMDisposeModule(g->m);
	for (int i = 0; i < g->naux_modules; i++)
		LLVMDisposeModule(g->aux_modules[i]);
	free(g->aux_modules);
	if (g->C)
		LLVMContextDispose(g->C);
	if (g->tm)
		LLVMDisposeTargetMachine(g->tm);
}

static int build(struct cg *g)
{
	if (check_program(g) || init_target(g))
		return -1;
	init_module(g);
	g->fname = function_name(g->p);
	if (cg_debug_init(g))
		return -1;
	/* Maps first: their symbols must keep their source names exactly;
	 * any later global that happened to clash is the one LLVM renames. */
	if (cg_emit_maps(g))
		return -1;
	emit_license(g);
	cg_emit_run_config(g);
	if (cg_emit_meta(g))
		return -1;
	return emit_function(g);
}

int codegen_emit(const struct ir_program *p, const struct codegen_opts *opts, void **out,
		 size_t *out_len)
{
	static const struct codegen_opts defaults = { CODEGEN_OBJ, 0, CODEGEN_RULES_AUTO };
	*out = NULL;
	*out_len = 0;
	struct cg g = { 0 };
	g.p = p;
	g.opts = opts ? opts : &defaults;
	g.cur_hdr = -1;
	int rc = build(&g);
	if (rc == 1) {
		/* CG_SPEC would copy the rules too often: the record instead */
		cleanup(&g);
		memset(&g, 0, sizeof(g));
		g.p = p;
		g.opts = opts ? opts : &defaults;
		g.cur_hdr = -1;
		g.force_record = true;
		rc = build(&g);
	}
	if (!rc)
		rc = optimise(&g);
	if (!rc)
		rc = emit_output(&g, out, out_len);
	if (!rc && g.failed)
		rc = -1; /* -E2BIG stays: the policy does not fit (a user error) */
	if (rc) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	cleanup(&g);
	return rc;
}
