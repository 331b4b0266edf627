/* Private to the code generator (compiler/codegen*.c): the state shared by
 * its parts while one ir_program is turned into one LLVM module.
 *
 *   codegen.c        driver: target, module, function skeleton, emission
 *   codegen_btf.c    debug info: files, locations, BTF types, .maps globals
 *   codegen_meta.c   the ".xdpl.meta" text section (runtime/xdpl_meta.h)
 *   codegen_parse.c  the parse graph, unrolled into basic blocks
 *   codegen_rules.c  values, conditions, rules, verdicts and counters
 */
#ifndef XDPL_CODEGEN_INTERNAL_H
#define XDPL_CODEGEN_INTERNAL_H

#include <llvm-c/Core.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/TargetMachine.h>
#include <stdbool.h>

#include "codegen.h"
#include "ir.h"
#include "xdpl_meta.h"

/* Kernel ABI numbers (uapi/linux/bpf.h); spelled out so the compiler does
 * not depend on the build host's kernel headers. */
enum {
	CG_BPF_MAP_TYPE_HASH = 1,
	CG_BPF_MAP_TYPE_ARRAY = 2,
	CG_BPF_MAP_TYPE_PERCPU_HASH = 5,
	CG_BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	CG_BPF_MAP_TYPE_LRU_HASH = 9,
	CG_BPF_MAP_TYPE_LPM_TRIE = 11,
	CG_BPF_MAP_TYPE_DEVMAP = 14,
	CG_BPF_MAP_TYPE_CPUMAP = 16,
	CG_BPF_MAP_TYPE_XSKMAP = 17,
	CG_BPF_F_NO_PREALLOC = 1,
	CG_HELPER_MAP_LOOKUP_ELEM = 1,
	CG_XDP_ABORTED = 0,
	CG_XDP_DROP = 1,
	CG_XDP_PASS = 2,
	CG_XDP_TX = 3,
};

/* One source file as debug info sees it: the DIFile, and the scope to use
 * for locations in it (the subprogram for the main file, a lexical block
 * file for the others: a DILocation's file is its scope's file). */
struct cg_file {
	const char *path; /* as given in the IR */
	LLVMMetadataRef file;
	LLVMMetadataRef scope;
};

/* One instance of a parse state in the unrolled graph: the state plus how
 * many times each `loop` state has been entered on the way here. */
struct cg_inst {
	int state;
	int *counts;          /* nstates entries */
	LLVMBasicBlockRef bb;
	LLVMValueRef off;     /* phi: byte offset of this state in the packet */
	bool emitted;
};

struct cg {
	const struct ir_program *p;
	const struct codegen_opts *opts;

	LLVMContextRef C;
	LLVMModuleRef m;
	LLVMTargetMachineRef tm;
	LLVMDIBuilderRef D;
	LLVMBuilderRef b;       /* the builder everything is emitted with */
	LLVMBuilderRef eb;      /* positioned before the entry block's branch */
	char *llvm_error;       /* first error reported by an LLVM pass */
	bool failed;            /* a diag error was reported (cg_fail) */

	LLVMTypeRef i1, i8, i16, i32, i64, i128, ptr, void_t;

	/* debug info */
	LLVMMetadataRef cu, sp;
	struct cg_file *files;
	int nfiles;
	LLVMMetadataRef di_int, di_u8, di_u16, di_u32, di_u64;
	LLVMMetadataRef cur_scope; /* scope of the rule or state being emitted */
	int cur_line;

	/* globals */
	const char *fname;      /* the program function's (and ELF symbol's) name */
	LLVMValueRef fn;
	LLVMValueRef *map_globals; /* parallel to p->maps */
	LLVMValueRef stats_map;

	/* function-wide values */
	LLVMBasicBlockRef entry_bb, rules_bb, reject_bb, finish_bb;
	LLVMValueRef ctx, data, data_end, pkt_len, ifindex, rxq;
	LLVMValueRef *hdr_slot;     /* per header: alloca ptr, valid when present */
	LLVMValueRef *hdr_present;  /* per header: alloca i1 */
	LLVMValueRef **meta_val;    /* per meta header, per field: alloca value */
	LLVMValueRef **meta_set;    /* per meta header, per field: alloca i1 */
	LLVMValueRef finish_slot, finish_action; /* phis of the shared tail */

	/* While a parse state reads its own header: the checked pointer, so
	 * reads skip the presence test (cur_hdr = -1 outside). */
	int cur_hdr;
	LLVMValueRef cur_ptr;

	/* parse graph instances (codegen_parse.c) */
	struct cg_inst *insts;
	int ninsts, insts_cap;
	bool *reach;            /* nstates x nstates: t can follow s */

	/* helper declarations */
	LLVMTypeRef lookup_ty;
	LLVMValueRef lookup_fn;
	LLVMTypeRef barrier_ptr_ty, barrier_i64_ty;
	LLVMValueRef barrier_ptr_asm, barrier_i64_asm;
};

/* codegen.c */
void cg_fail(struct cg *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
LLVMValueRef cg_const(struct cg *g, LLVMTypeRef t, uint64_t v);
LLVMValueRef cg_gep(struct cg *g, LLVMValueRef base, LLVMValueRef off);
LLVMValueRef cg_gep_const(struct cg *g, LLVMValueRef base, uint64_t off);
LLVMBasicBlockRef cg_block(struct cg *g, const char *name);
LLVMValueRef cg_entry_alloca(struct cg *g, LLVMTypeRef t, unsigned align, const char *name);
LLVMValueRef cg_barrier_ptr(struct cg *g, LLVMValueRef p);
LLVMValueRef cg_barrier_i64(struct cg *g, LLVMValueRef v);
LLVMValueRef cg_map_lookup(struct cg *g, LLVMValueRef map, LLVMValueRef key);
LLVMValueRef cg_intrinsic(struct cg *g, const char *name, LLVMTypeRef overload,
			  LLVMValueRef *args, unsigned nargs);
void cg_lifetime(struct cg *g, bool start, LLVMValueRef alloca, uint64_t size);
LLVMValueRef cg_load(struct cg *g, LLVMTypeRef t, LLVMValueRef p, unsigned align);
void cg_store(struct cg *g, LLVMValueRef v, LLVMValueRef p, unsigned align);

/* codegen_btf.c */
int cg_debug_init(struct cg *g);
struct cg_file *cg_file_for(struct cg *g, const char *path);
void cg_set_loc(struct cg *g, const char *file, int line);
void cg_set_line(struct cg *g, int line);
int cg_emit_maps(struct cg *g);
LLVMValueRef cg_map_global(struct cg *g, const struct ir_map *m);
int cg_key_component_bytes(enum ir_type t, int bits);
bool cg_map_is_array_like(enum ir_map_kind k);
void cg_emit_function_debug(struct cg *g);
void cg_emit_run_config(struct cg *g);

/* codegen_meta.c */
int cg_emit_meta(struct cg *g);
const char *cg_verdict_word(enum ir_verdict_kind k);

/* codegen_parse.c */
int cg_emit_parser(struct cg *g);

/* codegen_rules.c */
int cg_emit_rules(struct cg *g);
LLVMTypeRef cg_repr(struct cg *g, int bits);
LLVMValueRef cg_emit_val(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent);
LLVMValueRef cg_fit(struct cg *g, LLVMValueRef v, int bits);

#endif
