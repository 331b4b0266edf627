/* Debug info for codegen: what becomes .BTF (types of maps and of the
 * program) and .BTF.ext (line info pointing at the .xdpl sources).
 *
 * The kernel only accepts the BTF and keeps the line info when the module
 * has "Debug Info Version" 3, a compile unit with full emission, a
 * DISubprogram for the function and a parameter variable for ctx. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/IRReader.h>

#include "codegen_internal.h"

#define S(x) x, sizeof(x) - 1

enum { DW_ATE_signed = 0x05, DW_ATE_unsigned = 0x07, DW_ATE_unsigned_char = 0x08 };

/* ---------------------------------------------------------------- files */

/* Above this many rules the line info carries no source text: LLVM's
 * BTF writer looks every string up by a linear scan of its table, so one
 * distinct source line per rule makes emission quadratic (10k rules: 3 s
 * of 5). File names and line numbers stay. */
#define CG_SOURCE_TEXT_MAX_RULES 2000

static void put_ir_string(char *out, size_t n, const char *s)
{
	size_t o = 0;
	for (; *s && o + 4 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, n - o, "\\%02X", c);
		else
			out[o++] = (char)c;
	}
	out[o] = 0;
}

/* A DIFile with an embedded source of one empty line (an empty source
 * counts as none): the C API has no way to set the source, the IR parser
 * does. NULL when that fails. */
static LLVMMetadataRef difile_without_text(struct cg *g, const char *name, const char *dir)
{
	char en[2 * PATH_MAX], ed[2 * PATH_MAX], text[4 * PATH_MAX + 128];
	put_ir_string(en, sizeof(en), name);
	put_ir_string(ed, sizeof(ed), dir);
	int len = snprintf(text, sizeof(text),
			   "!xdpl.file = !{!0}\n!0 = !DIFile(filename: \"%s\", directory: \"%s\", "
			   "source: \"\\0A\")\n", en, ed);
	if (len < 0 || (size_t)len >= sizeof(text))
		return NULL;
	LLVMMemoryBufferRef mb = LLVMCreateMemoryBufferWithMemoryRangeCopy(text, (size_t)len, "difile");
	LLVMModuleRef m = NULL;
	char *err = NULL;
	if (LLVMParseIRInContext(g->C, mb, &m, &err)) { /* takes mb */
		LLVMDisposeMessage(err);
		return NULL;
	}
	LLVMValueRef file = NULL; /* the operand of !xdpl.file: the DIFile */
	if (LLVMGetNamedMetadataNumOperands(m, "xdpl.file") == 1)
		LLVMGetNamedMetadataOperands(m, "xdpl.file", &file);
	/* the node belongs to the context; the module is kept until cleanup */
	g->aux_modules = realloc(g->aux_modules, sizeof(*g->aux_modules) * (size_t)(g->naux_modules + 1));
	if (g->aux_modules)
		g->aux_modules[g->naux_modules++] = m;
	else
		LLVMDisposeModule(m);
	return file && g->aux_modules ? LLVMValueAsMetadata(file) : NULL;
}

/* A DIFile names the real file: LLVM stores "directory/filename" in the
 * line info (and reads the file to embed the source lines), so relative
 * paths are resolved when the file exists. Embedded files (stdlib) that
 * do not exist on disk keep their name as given. */
static LLVMMetadataRef make_difile(struct cg *g, const char *path)
{
	char resolved[PATH_MAX];
	const char *full = path && *path ? path : "<unknown>";
	if (path && realpath(path, resolved))
		full = resolved;
	const char *slash = strrchr(full, '/');
	char dir[PATH_MAX];
	const char *name = full;
	dir[0] = 0;
	if (slash) {
		size_t dirlen = slash == full ? 1 : (size_t)(slash - full);
		if (dirlen >= sizeof(dir))
			dirlen = sizeof(dir) - 1;
		memcpy(dir, full, dirlen);
		dir[dirlen] = 0;
		name = slash + 1;
	}
	if (g->p->nrules > CG_SOURCE_TEXT_MAX_RULES) {
		LLVMMetadataRef f = difile_without_text(g, name, dir);
		if (f)
			return f;
	}
	return LLVMDIBuilderCreateFile(g->D, name, strlen(name), dir, strlen(dir));
}

static bool same_path(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a, b);
}

/* files[0] is the main file; NULL means the main file too. */
struct cg_file *cg_file_for(struct cg *g, const char *path)
{
	if (!path)
		return &g->files[0];
	for (int i = 0; i < g->nfiles; i++)
		if (same_path(g->files[i].path, path))
			return &g->files[i];
	struct cg_file *f = realloc(g->files, sizeof(*f) * (size_t)(g->nfiles + 1));
	if (!f) {
		cg_fail(g, "codegen: out of memory");
		return &g->files[0];
	}
	g->files = f;
	f = &g->files[g->nfiles++];
	f->path = path;
	f->file = make_difile(g, path);
	f->scope = NULL;
	return f;
}

/* The location of what is emitted next: a state, a rule or a condition. A
 * DILocation's file is its scope's file, so other files than the main one
 * get a lexical block file inside the subprogram. */
void cg_set_loc(struct cg *g, const char *file, int line)
{
	struct cg_file *f = cg_file_for(g, file);
	if (!f->scope)
		f->scope = f == &g->files[0] ? g->sp
					     : LLVMDIBuilderCreateLexicalBlockFile(g->D, g->sp, f->file, 0);
	g->cur_scope = f->scope;
	g->cur_line = line > 0 ? line : 0;
	LLVMSetCurrentDebugLocation2(
		g->b, LLVMDIBuilderCreateDebugLocation(g->C, (unsigned)g->cur_line, 1, g->cur_scope, NULL));
}

/* Another line in the current file (a condition on its own line). */
void cg_set_line(struct cg *g, int line)
{
	if (line <= 0)
		line = g->cur_line;
	g->cur_line = line;
	LLVMSetCurrentDebugLocation2(
		g->b, LLVMDIBuilderCreateDebugLocation(g->C, (unsigned)line, 1, g->cur_scope, NULL));
}

int cg_debug_init(struct cg *g)
{
	LLVMAddModuleFlag(g->m, LLVMModuleFlagBehaviorWarning, S("Debug Info Version"),
			  LLVMValueAsMetadata(cg_const(g, g->i32, 3)));
	LLVMAddModuleFlag(g->m, LLVMModuleFlagBehaviorWarning, S("Dwarf Version"),
			  LLVMValueAsMetadata(cg_const(g, g->i32, 5)));
	g->D = LLVMCreateDIBuilder(g->m);
	g->files = calloc(1, sizeof(*g->files));
	if (!g->files) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	g->nfiles = 1;
	g->files[0].path = g->p->source_path;
	g->files[0].file = make_difile(g, g->p->source_path);
	g->cu = LLVMDIBuilderCreateCompileUnit(g->D, LLVMDWARFSourceLanguageC, g->files[0].file,
					       S("xdplc"), 1, "", 0, 0, "", 0,
					       LLVMDWARFEmissionFull, 0, 0, 0, "", 0, "", 0);
	g->di_int = LLVMDIBuilderCreateBasicType(g->D, S("int"), 32, DW_ATE_signed, 0);
	g->di_u8 = LLVMDIBuilderCreateBasicType(g->D, S("unsigned char"), 8, DW_ATE_unsigned_char, 0);
	g->di_u16 = LLVMDIBuilderCreateBasicType(g->D, S("unsigned short"), 16, DW_ATE_unsigned, 0);
	g->di_u32 = LLVMDIBuilderCreateBasicType(g->D, S("unsigned int"), 32, DW_ATE_unsigned, 0);
	g->di_u64 = LLVMDIBuilderCreateBasicType(g->D, S("unsigned long long"), 64, DW_ATE_unsigned, 0);
	return 0;
}

/* ---------------------------------------------------------------- types */

static LLVMMetadataRef main_file(struct cg *g)
{
	return g->files[0].file;
}

static LLVMMetadataRef di_member(struct cg *g, const char *name, uint64_t bits, uint64_t off_bits,
				 LLVMMetadataRef ty)
{
	return LLVMDIBuilderCreateMemberType(g->D, main_file(g), name, strlen(name), main_file(g), 0,
					     bits, 0, off_bits, 0, ty);
}

static LLVMMetadataRef di_struct(struct cg *g, const char *name, uint64_t bytes,
				 LLVMMetadataRef *members, unsigned n)
{
	return LLVMDIBuilderCreateStructType(g->D, main_file(g), name, strlen(name), main_file(g), 0,
					     bytes * 8, 8, 0, NULL, members, n, 0, NULL, "", 0);
}

static LLVMMetadataRef di_ptr(struct cg *g, LLVMMetadataRef to)
{
	return LLVMDIBuilderCreatePointerType(g->D, to, 64, 0, 0, "", 0);
}

static LLVMMetadataRef di_array(struct cg *g, LLVMMetadataRef elem, uint64_t elem_bits, unsigned n)
{
	LLVMMetadataRef sub = LLVMDIBuilderGetOrCreateSubrange(g->D, 0, n);
	return LLVMDIBuilderCreateArrayType(g->D, elem_bits * n, 8, elem, &sub, 1);
}

/* BTF map attributes are "int (*name)[N]": a pointer to an array of N ints. */
static LLVMMetadataRef di_int_array_ptr(struct cg *g, unsigned n)
{
	LLVMMetadataRef sub = LLVMDIBuilderGetOrCreateSubrange(g->D, 0, n);
	LLVMMetadataRef arr = LLVMDIBuilderCreateArrayType(g->D, (uint64_t)n * 32, 32, g->di_int,
							   &sub, 1);
	return di_ptr(g, arr);
}

static LLVMMetadataRef di_uint(struct cg *g, int bytes)
{
	switch (bytes) {
	case 1: return g->di_u8;
	case 2: return g->di_u16;
	case 4: return g->di_u32;
	default: return g->di_u64;
	}
}

static LLVMMetadataRef di_bytes(struct cg *g, int n)
{
	return di_array(g, g->di_u8, 8, (unsigned)n);
}

/* Integer member types only where a C compiler would put them: natural
 * size and alignment; everything else (ip4/mac/ip6, u24, odd offsets) is a
 * byte array, which is what the packed big-endian layout really is. */
static LLVMMetadataRef di_component(struct cg *g, enum ir_type t, int bytes, int off)
{
	bool intlike = t == IR_UINT || t == IR_BOOL;
	if (intlike && (bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8) && off % bytes == 0)
		return di_uint(g, bytes);
	return di_bytes(g, bytes);
}

/* ---------------------------------------------------------------- maps */

int cg_key_component_bytes(enum ir_type t, int bits)
{
	switch (t) {
	case IR_IP6: return 16;
	case IR_MAC: return 6;
	case IR_IP4: return 4;
	case IR_BOOL: return 1;
	default: return bits > 0 ? (bits + 7) / 8 : 1;
	}
}

static unsigned map_type_number(enum ir_map_kind k)
{
	switch (k) {
	case IRM_HASH: return CG_BPF_MAP_TYPE_HASH;
	case IRM_LRU_HASH: return CG_BPF_MAP_TYPE_LRU_HASH;
	case IRM_ARRAY: return CG_BPF_MAP_TYPE_ARRAY;
	case IRM_PERCPU_HASH: return CG_BPF_MAP_TYPE_PERCPU_HASH;
	case IRM_PERCPU_ARRAY: return CG_BPF_MAP_TYPE_PERCPU_ARRAY;
	case IRM_LPM: return CG_BPF_MAP_TYPE_LPM_TRIE;
	case IRM_DEVMAP: return CG_BPF_MAP_TYPE_DEVMAP;
	case IRM_CPUMAP: return CG_BPF_MAP_TYPE_CPUMAP;
	case IRM_XSKMAP: return CG_BPF_MAP_TYPE_XSKMAP;
	}
	return CG_BPF_MAP_TYPE_HASH;
}

/* struct NAME_key { ... } in the packed layout of ir.h: components in
 * order, big-endian, no padding; LPM: { u32 prefixlen; u8 addr[n]; }. */
static LLVMMetadataRef map_key_type(struct cg *g, const struct ir_map *m)
{
	if (ir_map_kind_array(m->kind))
		return g->di_u32;
	char name[300];
	snprintf(name, sizeof(name), "%s_key", m->name);
	if (m->kind == IRM_LPM) {
		int n = m->key_size - 4;
		if (n != 4 && n != 16) {
			cg_fail(g, "codegen: internal error: LPM map %s has key size %d", m->name,
				m->key_size);
			return NULL;
		}
		LLVMMetadataRef mem[2] = { di_member(g, "prefixlen", 32, 0, g->di_u32),
					   di_member(g, "addr", (uint64_t)n * 8, 32, di_bytes(g, n)) };
		return di_struct(g, name, (uint64_t)m->key_size, mem, 2);
	}
	if (m->nkeys < 1 || m->nkeys > 8) {
		cg_fail(g, "codegen: internal error: map %s has %d key components", m->name, m->nkeys);
		return NULL;
	}
	LLVMMetadataRef mem[8];
	int off = 0;
	for (int i = 0; i < m->nkeys; i++) {
		int n = cg_key_component_bytes(m->key_types[i], m->key_bits[i]);
		char mname[16];
		snprintf(mname, sizeof(mname), "k%d", i);
		mem[i] = di_member(g, mname, (uint64_t)n * 8, (uint64_t)off * 8,
				   di_component(g, m->key_types[i], n, off));
		off += n;
	}
	if (off != m->key_size) {
		cg_fail(g, "codegen: internal error: map %s: key components take %d bytes, key_size is %d",
			m->name, off, m->key_size);
		return NULL;
	}
	return di_struct(g, name, (uint64_t)m->key_size, mem, (unsigned)m->nkeys);
}

static LLVMMetadataRef map_value_type(struct cg *g, const struct ir_map *m)
{
	if (m->is_set && !m->expires) /* expiring sets: u64 expiry times */
		return g->di_u8;
	if (ir_map_kind_info(m->kind)->target)
		return g->di_u32; /* ifindex / queue size / socket: u32 */
	int n = m->value_size;
	if (n <= 0) {
		cg_fail(g, "codegen: internal error: map %s has value size %d", m->name, n);
		return NULL;
	}
	if (n == 1 || n == 2 || n == 4 || n == 8)
		return di_uint(g, n);
	return di_bytes(g, n);
}

/* struct { int (*type)[T]; int (*max_entries)[N]; KEY *key; VALUE *value;
 *          [int (*map_flags)[F];] } NAME SEC(".maps"); */
static LLVMValueRef emit_map_global(struct cg *g, const char *name, unsigned type, unsigned max,
				    unsigned flags, LLVMMetadataRef key, LLVMMetadataRef value)
{
	LLVMMetadataRef mem[5];
	unsigned n = 0;
	mem[n] = di_member(g, "type", 64, 64 * n, di_int_array_ptr(g, type)), n++;
	mem[n] = di_member(g, "max_entries", 64, 64 * n, di_int_array_ptr(g, max)), n++;
	mem[n] = di_member(g, "key", 64, 64 * n, di_ptr(g, key)), n++;
	mem[n] = di_member(g, "value", 64, 64 * n, di_ptr(g, value)), n++;
	if (flags)
		mem[n] = di_member(g, "map_flags", 64, 64 * n, di_int_array_ptr(g, flags)), n++;

	LLVMTypeRef fields[5] = { g->ptr, g->ptr, g->ptr, g->ptr, g->ptr };
	LLVMTypeRef st = LLVMStructTypeInContext(g->C, fields, n, 0);
	LLVMValueRef gv = LLVMAddGlobal(g->m, st, name);
	LLVMSetInitializer(gv, LLVMConstNull(st));
	LLVMSetSection(gv, ".maps");
	LLVMSetAlignment(gv, 8);

	LLVMMetadataRef sty = LLVMDIBuilderCreateStructType(g->D, main_file(g), "", 0, main_file(g),
							     0, 64 * n, 64, 0, NULL, mem, n, 0, NULL,
							     "", 0);
	LLVMMetadataRef gve = LLVMDIBuilderCreateGlobalVariableExpression(
		g->D, g->cu, name, strlen(name), name, strlen(name), main_file(g), 0, sty, 0,
		LLVMDIBuilderCreateExpression(g->D, NULL, 0), NULL, 64);
	LLVMGlobalSetMetadata(gv, LLVMGetMDKindIDInContext(g->C, S("dbg")), gve);
	return gv;
}

static LLVMValueRef emit_stats_map(struct cg *g)
{
	LLVMMetadataRef mem[2] = { di_member(g, "packets", 64, 0, g->di_u64),
				   di_member(g, "bytes", 64, 64, g->di_u64) };
	LLVMMetadataRef counter = di_struct(g, "xdpl_counter", 16, mem, 2);
	return emit_map_global(g, XDPL_STATS_MAP, CG_BPF_MAP_TYPE_PERCPU_ARRAY,
			       (unsigned)g->p->nrules + 1, 0, g->di_u32, counter);
}

int cg_emit_maps(struct cg *g)
{
	const struct ir_program *p = g->p;
	g->map_globals = calloc((size_t)p->nmaps + 1, sizeof(*g->map_globals));
	if (!g->map_globals) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	for (int i = 0; i < p->nmaps; i++) {
		const struct ir_map *m = p->maps[i];
		LLVMMetadataRef key = map_key_type(g, m);
		LLVMMetadataRef value = key ? map_value_type(g, m) : NULL;
		if (!key || !value)
			return -1;
		if (!m->max_entries) {
			cg_fail(g, "codegen: internal error: map %s has max_entries 0", m->name);
			return -1;
		}
		/* The kernel refuses LPM tries without BPF_F_NO_PREALLOC. */
		unsigned flags = m->flags | (m->kind == IRM_LPM ? CG_BPF_F_NO_PREALLOC : 0);
		g->map_globals[i] = emit_map_global(g, m->name, map_type_number(m->kind),
						    m->max_entries, flags, key, value);
	}
	g->stats_map = emit_stats_map(g);
	return 0;
}

/* The global of an IR map (maps are referenced by pointer in the IR). */
LLVMValueRef cg_map_global(struct cg *g, const struct ir_map *m)
{
	for (int i = 0; i < g->p->nmaps; i++)
		if (g->p->maps[i] == m)
			return g->map_globals[i];
	cg_fail(g, "codegen: internal error: map %s is not in the program's map list",
		m && m->name ? m->name : "?");
	return NULL;
}

/* ---------------------------------------------------------------- function */

/* int NAME(struct xdp_md *ctx): the BTF func info the kernel checks
 * against the program, with ctx as a real parameter variable. */
void cg_emit_function_debug(struct cg *g)
{
	static const char *const mn[] = { "data", "data_end", "data_meta", "ingress_ifindex",
					  "rx_queue_index", "egress_ifindex" };
	LLVMMetadataRef f = main_file(g);
	LLVMMetadataRef xm[6];
	for (int i = 0; i < 6; i++)
		xm[i] = LLVMDIBuilderCreateMemberType(g->D, f, mn[i], strlen(mn[i]), f, 0, 32, 32,
						      (uint64_t)i * 32, 0, g->di_u32);
	LLVMMetadataRef xdp_md = LLVMDIBuilderCreateStructType(g->D, f, S("xdp_md"), f, 0, 192, 32,
							       0, NULL, xm, 6, 0, NULL, "", 0);
	LLVMMetadataRef ctx_ty = di_ptr(g, xdp_md);
	LLVMMetadataRef sig[2] = { g->di_int, ctx_ty };
	unsigned line = 1;
	for (int i = 0; i < g->p->nrules; i++)
		if (same_path(g->p->rules[i].file, g->p->source_path) && g->p->rules[i].line > 0) {
			line = (unsigned)g->p->rules[i].line;
			break;
		}
	g->sp = LLVMDIBuilderCreateFunction(g->D, f, g->fname, strlen(g->fname), g->fname,
					    strlen(g->fname), f, line,
					    LLVMDIBuilderCreateSubroutineType(g->D, f, sig, 2, 0), 0, 1,
					    line, LLVMDIFlagPrototyped, 1);
	LLVMSetSubprogram(g->fn, g->sp);
	LLVMDIBuilderCreateParameterVariable(g->D, g->sp, S("ctx"), 1, f, line, ctx_ty, 1, 0);
	g->files[0].scope = g->sp;
}

/* The DISubprogram (hence BTF FUNC) of a function other than the XDP one:
 * sig[0] the return type, sig[1..n] the parameters named pn. */
static LLVMMetadataRef fn_debug(struct cg *g, LLVMValueRef fn, const char *name, int line,
				LLVMMetadataRef *sig, const char *const *pn, unsigned n, bool local)
{
	LLVMMetadataRef f = main_file(g);
	unsigned l = line > 0 ? (unsigned)line : 1;
	LLVMMetadataRef sp = LLVMDIBuilderCreateFunction(
		g->D, f, name, strlen(name), name, strlen(name), f, l,
		LLVMDIBuilderCreateSubroutineType(g->D, f, sig, n + 1, 0), local, 1, l, LLVMDIFlagPrototyped, 1);
	LLVMSetSubprogram(fn, sp);
	for (unsigned i = 0; i < n; i++)
		LLVMDIBuilderCreateParameterVariable(g->D, sp, pn[i], strlen(pn[i]), i + 1, f, l, sig[i + 1],
						     1, 0);
	return sp;
}

/* int NAME(struct xdpl_record *rec, u64 pkt_len, u64 ifindex, u64 rxq):
 * a global function evaluating a chunk of rules (codegen_rules.c). The
 * verifier checks global functions once, against these BTF types. */
LLVMMetadataRef cg_chunk_debug(struct cg *g, LLVMValueRef fn, const char *name, int line)
{
	static const char *const pn[] = { "rec", "pkt_len", "ifindex", "rxq" };
	int size = g->rec_size > 0 ? g->rec_size : 1;
	LLVMMetadataRef mem = di_member(g, "bytes", (uint64_t)size * 8, 0, di_bytes(g, size));
	LLVMMetadataRef rec_ty = di_ptr(g, di_struct(g, "xdpl_record", (uint64_t)size, &mem, 1));
	LLVMMetadataRef sig[5] = { g->di_int, rec_ty, g->di_u64, g->di_u64, g->di_u64 };
	return fn_debug(g, fn, name, line, sig, pn, 4, false);
}

/* long NAME(u64 index, void *ctx): a bpf_loop callback (codegen_init.c). */
LLVMMetadataRef cg_callback_debug(struct cg *g, LLVMValueRef fn, const char *name, int line)
{
	static const char *const pn[] = { "index", "ctx" };
	LLVMMetadataRef sig[3] = { g->di_u64, g->di_u64, di_ptr(g, g->di_u8) };
	return fn_debug(g, fn, name, line, sig, pn, 2, true);
}

/* Debug info (hence BTF) for a global variable of global data
 * (.rodata, .data): libbpf types the section's map from it. */
void cg_global_debug(struct cg *g, LLVMValueRef gv, const char *name, int bytes)
{
	LLVMMetadataRef ty = bytes == 4 ? g->di_u32 : di_bytes(g, bytes);
	LLVMMetadataRef gve = LLVMDIBuilderCreateGlobalVariableExpression(
		g->D, g->cu, name, strlen(name), name, strlen(name), main_file(g), 0, ty, 1,
		LLVMDIBuilderCreateExpression(g->D, NULL, 0), NULL, 64);
	LLVMGlobalSetMetadata(gv, LLVMGetMDKindIDInContext(g->C, S("dbg")), gve);
}

/* libxdp's run configuration: struct { int (*priority)[P];
 * int (*XDP_PASS)[1]; } _NAME SEC(".xdp_run_config"), read from BTF by
 * libxdp (xdp-loader) to order programs in its dispatcher; chain calls
 * continue after XDP_PASS, as libxdp's default. */
void cg_emit_run_config(struct cg *g)
{
	unsigned prio = g->opts->xdp_priority > 0 ? (unsigned)g->opts->xdp_priority : 50;
	char name[300];
	snprintf(name, sizeof(name), "_%s", g->fname);
	LLVMMetadataRef mem[2] = { di_member(g, "priority", 64, 0, di_int_array_ptr(g, prio)),
				   di_member(g, "XDP_PASS", 64, 64, di_int_array_ptr(g, 1)) };
	LLVMTypeRef fields[2] = { g->ptr, g->ptr };
	LLVMTypeRef st = LLVMStructTypeInContext(g->C, fields, 2, 0);
	LLVMValueRef gv = LLVMAddGlobal(g->m, st, name);
	LLVMSetInitializer(gv, LLVMConstNull(st));
	LLVMSetSection(gv, ".xdp_run_config");
	LLVMSetAlignment(gv, 8);
	LLVMMetadataRef sty = LLVMDIBuilderCreateStructType(g->D, main_file(g), "", 0, main_file(g),
							     0, 128, 64, 0, NULL, mem, 2, 0, NULL, "",
							     0);
	LLVMMetadataRef gve = LLVMDIBuilderCreateGlobalVariableExpression(
		g->D, g->cu, name, strlen(name), name, strlen(name), main_file(g), 0, sty, 0,
		LLVMDIBuilderCreateExpression(g->D, NULL, 0), NULL, 64);
	LLVMGlobalSetMetadata(gv, LLVMGetMDKindIDInContext(g->C, S("dbg")), gve);
}
