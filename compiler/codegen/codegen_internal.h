/* Private to the code generator (compiler/codegen/ files): the state shared
 * by its parts while one ir_program is turned into one LLVM module.
 *
 *   codegen.c          driver: target, module, function skeleton, emission
 *   codegen_btf.c      debug info: files, locations, BTF types, .maps globals
 *   codegen_meta.c     the ".xdpl.meta" text section (runtime/xdpl_meta.h)
 *   codegen_init.c     initial map elements the program puts in itself
 *   codegen_parse.c    the parse graph, unrolled into basic blocks
 *   codegen_plan.c     what the rules read, the record, modes and chunks
 *   codegen_rules.c    values, conditions, rules, rule groups and counters
 *   codegen_classify.c multi-field classifiers: the tree walk over its blob
 *   codegen_verdict.c  redirect and route verdicts in the shared tail
 *   codegen_state.c    limits and the statements that change sets and maps
 *   codegen_rewrite.c  field rewrites, checksums, push/pop, encap/decap
 *                      (reference §12)
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
	CG_BPF_STACK = 512, /* MAX_BPF_STACK: one frame, and all frames of a call chain */
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
	CG_HELPER_XDP_GET_BUFF_LEN = 188,
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
	uint64_t pres;        /* CG_SPEC: rule-read headers present (static) */
	int done;             /* CG_SPEC: rules [0, done) already evaluated, false */
	LLVMBasicBlockRef bb;
	LLVMValueRef at;      /* phi: where this state's header starts */
	bool emitted;
};

/* How rules see headers and meta variables (cg_plan_rules picks one).
 *
 *  CG_SPEC    the parse graph instances carry which of the headers rules
 *             read are present, and the rules are emitted once per
 *             presence set that reaches them: presence tests fold away and
 *             header pointers are plain SSA values. Fastest code; its size
 *             and the verifier's work grow with rules x presence sets, and
 *             rule atoms share loaded values (the verifier then walks the
 *             later rules again per outcome of an earlier one), so it is
 *             used for small policies.
 *  CG_RECORD  the parser copies the bytes rules read (and presence bytes,
 *             and meta variables) into a zeroed stack record; the rules
 *             are emitted once and read only the record, with volatile
 *             loads. No packet pointer and no value is live from one rule
 *             to the next, so every parse outcome reaches the rules in the
 *             same verifier state and each rule's outcomes meet again at
 *             the next rule: the verifier's work is linear in the rules
 *             (and so is LLVM's). */
enum cg_mode { CG_SPEC, CG_RECORD };
#define CG_SPEC_MAX_INSTANCES 512

/* A rules entry of CG_SPEC: the block for one presence set. */
struct cg_variant {
	uint64_t pres;
	int done;             /* rules [0, done) were evaluated during parsing */
	LLVMBasicBlockRef bb;
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
	LLVMModuleRef *aux_modules; /* parsed for metadata (codegen_btf.c) */
	int naux_modules;
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

	/* What the rules read (cg_plan_rules): per header, its bit among the
	 * headers rules read (-1: none) and the bytes [use_lo, use_hi) read;
	 * per meta header and field, whether rules read it. */
	enum cg_mode mode;
	bool force_record;      /* CG_SPEC came out too big: built again */
	bool spec_overflow;     /* CG_SPEC: too many parse instances */
	int *rel;
	int nrel;
	int *use_lo, *use_hi;
	bool **meta_rel;
	bool in_rules;          /* emitting rule code, not the parser */
	uint64_t pres;          /* CG_SPEC: static presence where emitting */
	int done;               /* CG_SPEC: rules evaluated early on this path */
	/* CG_SPEC, early rules: what each rule reads (bits: headers by rel,
	 * then meta fields by meta_item), whether it may be evaluated during
	 * parsing, and per parse state the items no later state can change
	 * and whether `reject` can still follow (codegen_parse.c) */
	bool early_ok;
	uint64_t *rule_items;
	bool *rule_early;
	int **meta_item;
	uint64_t *state_final;
	bool *state_reject;
	struct cg_variant *variants;
	int nvariants, variants_cap;
	/* CG_RECORD: the record (alloca) and its layout, byte offsets */
	LLVMValueRef rec;
	int rec_size;
	int *rec_pres;          /* per header: presence byte, -1 */
	int *rec_base;          /* per header: where header byte rec_bias lives */
	int *rec_bias;          /* per header: first copied header byte (8-aligned) */
	int **rec_mval, **rec_mset; /* per meta header, per field: value, set byte */
	/* CG_RECORD: the rules run in global functions (the verifier checks
	 * each once, on its own), chunk c holding rules [chunk_start[c],
	 * chunk_start[c + 1]) */
	int *chunk_start;
	int nchunks;
	LLVMValueRef *chunk_fn;
	LLVMTypeRef chunk_ty;
	bool in_chunk;
	bool no_presence;       /* reading an atom that is false on zeros */
	LLVMBasicBlockRef rule_next; /* where the rule being emitted goes on */
	LLVMValueRef verdict_key;    /* CG_SPEC: i64 alloca, `redirect M[KEY]` KEY (codegen_verdict.c) */
	/* rewrite values that read a map, evaluated when the rule decides
	 * (codegen_state.c); CG_SPEC keeps each in an alloca for the tail */
	int *group_at;          /* per rule: the rule group it starts (ir.h), -1 */
	int nrules_eff;         /* rules, a group counted once */
	struct cg_hoist { const struct ir_val *v; LLVMValueRef slot; } *hoist;
	int nhoist, hoist_cap;
	bool use_ifindex, use_rxq;
	int pkt_written;        /* cg_packet_written: 0 unknown, 1 no, 2 yes */

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
bool cg_name_taken(struct cg *g, const char *name); /* by a map or the program */
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
void cg_emit_function_debug(struct cg *g);
LLVMMetadataRef cg_callback_debug(struct cg *g, LLVMValueRef fn, const char *name, int line);
LLVMValueRef cg_add_callback(struct cg *g, const char *name, int line, LLVMMetadataRef *sp);
void cg_global_debug(struct cg *g, LLVMValueRef gv, const char *name, int bytes);
/* Initial map elements put in by the program itself when no xdpl loader
 * did (codegen_init.c): at the start of the XDP function. */
void cg_emit_self_init(struct cg *g);
LLVMMetadataRef cg_chunk_debug(struct cg *g, LLVMValueRef fn, const char *name, int line);
void cg_emit_run_config(struct cg *g);

/* codegen_meta.c */
int cg_emit_meta(struct cg *g);

/* codegen_verdict.c */
void cg_emit_verdict_ret(struct cg *g);
void cg_verdict_use(struct cg *g, const struct ir_rule *r, void (*use)(struct cg *, const struct ir_val *));
void cg_emit_verdict_key(struct cg *g, const struct ir_rule *r, LLVMBasicBlockRef next);
/* A rewrite value for the tail: the rule phase's copy (CG_SPEC) or
 * evaluated again (to `absent` when it cannot be read any more). */
LLVMValueRef cg_rewrite_val(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent);
/* Field rewrites of `continue` rules run where the rule matched. */
bool cg_continue_rewrites(const struct ir_program *p);
/* Map values of address types (ip4, ip6, mac) are stored as on the wire,
 * like keys; numbers in host order. */
bool cg_value_is_addr(const struct ir_map *m);
LLVMValueRef cg_swap_bytes(struct cg *g, LLVMValueRef v, int n);
void cg_emit_continue_rewrites(struct cg *g, const struct ir_rule *r);

/* codegen_parse.c */
int cg_emit_parser(struct cg *g);
/* Where parsing ends: the rules (CG_SPEC: for presence set pres). */
LLVMBasicBlockRef cg_rules_entry(struct cg *g, uint64_t pres);

/* codegen_rules.c */
int cg_plan_rules(struct cg *g);
bool cg_spec_too_big(struct cg *g);
void cg_record_init(struct cg *g);
void cg_record_header(struct cg *g, int hi, LLVMValueRef hp, bool present);
void cg_record_meta(struct cg *g, int mh, int f, LLVMValueRef v);
LLVMValueRef cg_volatile_load(struct cg *g, LLVMTypeRef t, LLVMValueRef p, unsigned align);
void cg_volatile_store(struct cg *g, LLVMValueRef v, LLVMValueRef p, unsigned align);
int cg_emit_rules(struct cg *g);
int cg_emit_chunks(struct cg *g);
void cg_emit_rule_range(struct cg *g, int from, int to);
LLVMTypeRef cg_repr(struct cg *g, int bits);
LLVMValueRef cg_emit_val(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent);
LLVMValueRef cg_fit(struct cg *g, LLVMValueRef v, int bits);
LLVMValueRef cg_raw_field(struct cg *g, const struct ir_val *v, LLVMBasicBlockRef absent, int *nbytes,
			  int *shift);
LLVMValueRef cg_build_key(struct cg *g, const struct ir_map *m, struct ir_val **keys, int nkeys,
			  LLVMBasicBlockRef absent);
void cg_key_end(struct cg *g, LLVMValueRef key, int size);
/* codegen_classify.c: a classifier group (lower/classify.h); on a hit the
 * builder is where the deciding rule's slot * 8 + action (i32) is known */
LLVMValueRef cg_emit_classifier(struct cg *g, const struct ir_group *grp, LLVMBasicBlockRef next);

/* codegen_state.c: `limit` and the set/map rewrite statements of rule r,
 * at its match block (continues where they hold, else goes to next);
 * what they read, for cg_plan_rules. cg_emit_rule_state = the reads of
 * all set/map statements (cg_state_stmt_reads: presence branches only),
 * then cg_emit_limit, then each cg_emit_state_stmt in order; the pieces
 * are exported for a caller that interleaves other rewrite statements. */
void cg_emit_rule_state(struct cg *g, const struct ir_rule *r, LLVMBasicBlockRef next);
bool cg_is_state_stmt(const struct ir_stmt *s);
void cg_state_stmt_reads(struct cg *g, const struct ir_stmt *s, LLVMBasicBlockRef absent);
void cg_emit_limit(struct cg *g, const struct ir_rule *r, LLVMBasicBlockRef fail);
void cg_emit_state_stmt(struct cg *g, const struct ir_stmt *s, LLVMBasicBlockRef absent);
void cg_state_use(struct cg *g, const struct ir_rule *r, void (*use)(struct cg *, const struct ir_val *));
void cg_in_expiring_set(struct cg *g, LLVMValueRef elem, LLVMBasicBlockRef t, LLVMBasicBlockRef f);

/* codegen_rewrite.c: field rewrites (IS_ASSIGN/IS_SWAP) of the deciding
 * rule, run in the shared tail before counting; whether any rule has
 * them (the packet is then written: no invariant loads). */
bool cg_rewrites_packet(const struct ir_program *p);
bool cg_packet_written(struct cg *g); /* the same, cached */
void cg_emit_rewrites(struct cg *g);

#endif
