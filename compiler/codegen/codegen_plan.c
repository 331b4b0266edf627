/* Planning the rules' code before it is emitted (codegen_rules.c emits
 * it): which headers and fields each rule reads, the layout of the record
 * that CG_RECORD reads them from, the rules checked early, the cost of
 * each rule and the split into chunk functions, and the choice between
 * CG_SPEC and CG_RECORD; then the record's writers used by the parser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"


/* Policies up to this many rules get CG_SPEC code (see codegen_internal.h). */
#define CG_SPEC_MAX_RULES IR_INLINE_RULES_MAX
/* ... and at most this many rule copies (rules x presence sets). */
#define CG_SPEC_MAX_COPIES 1024
/* The record must leave room on the 512-byte stack for keys and spills. */
#define CG_RECORD_MAX 320

static void use_header(struct cg *g, int hi, int first, int last)
{
	if (g->rel[hi] < 0)
		g->rel[hi] = g->nrel++;
	if (first < 0)
		return;
	if (g->use_hi[hi] <= g->use_lo[hi]) {
		g->use_lo[hi] = first;
		g->use_hi[hi] = last + 1;
		return;
	}
	if (first < g->use_lo[hi])
		g->use_lo[hi] = first;
	if (last + 1 > g->use_hi[hi])
		g->use_hi[hi] = last + 1;
}

static void use_val(struct cg *g, const struct ir_val *v)
{
	const struct ir_program *p = g->p;
	if (!v)
		return;
	switch (v->kind) {
	case IV_FIELD:
	case IV_META:
		if (v->hdr < 0 || v->hdr >= p->nheaders || v->field < 0 ||
		    v->field >= p->headers[v->hdr].nfields)
			return; /* reported when emitted */
		if (p->headers[v->hdr].is_meta) {
			g->meta_rel[v->hdr][v->field] = true;
		} else if (v->kind == IV_FIELD) {
			const struct ir_field *f = &p->headers[v->hdr].fields[v->field];
			if (f->bits > 0 && f->bit_offset >= 0 &&
			    f->bit_offset + f->bits <= p->headers[v->hdr].fixed_bytes * 8)
				use_header(g, v->hdr, f->bit_offset / 8, (f->bit_offset + f->bits - 1) / 8);
		}
		return;
	case IV_BIN:
		use_val(g, v->a);
		use_val(g, v->b);
		return;
	case IV_MAP_READ:
	case IV_HASH:
	case IV_COALESCE:
		for (int i = 0; i < v->nkeys; i++)
			use_val(g, v->keys[i]);
		return;
	case IV_PKT:
		g->use_ifindex |= v->pkt == IR_PKT_IFINDEX;
		g->use_rxq |= v->pkt == IR_PKT_RXQ;
		return;
	case IV_CONST:
		return;
	}
}

static void use_cond(struct cg *g, const struct ir_cond *c)
{
	const struct ir_program *p = g->p;
	if (!c)
		return;
	for (int i = 0; i < c->nkids; i++)
		use_cond(g, c->kids[i]);
	switch (c->kind) {
	case IC_PRESENT:
		if (c->hdr < 0 || c->hdr >= p->nheaders)
			return;
		if (p->headers[c->hdr].is_meta) {
			for (int f = 0; f < p->headers[c->hdr].nfields; f++)
				g->meta_rel[c->hdr][f] = true;
		} else {
			use_header(g, c->hdr, -1, -1);
		}
		return;
	case IC_CMP:
		use_val(g, c->a);
		use_val(g, c->b);
		return;
	case IC_RANGE:
		use_val(g, c->a);
		use_val(g, c->lo);
		use_val(g, c->hi);
		return;
	case IC_PREFIX:
		use_val(g, c->a);
		return;
	case IC_IN_MAP:
		for (int i = 0; i < c->nkeys; i++)
			use_val(g, c->keys[i]);
		return;
	default:
		return;
	}
}

static int next_flag_byte(int *pos)
{
	return (*pos)++;
}

static int layout_record(struct cg *g)
{
	const struct ir_program *p = g->p;
	int pos = 0;
	for (int h = 0; h < p->nheaders; h++) {
		g->rec_pres[h] = -1;
		if (g->rel[h] >= 0)
			g->rec_pres[h] = next_flag_byte(&pos);
		if (g->meta_rel[h])
			for (int f = 0; f < p->headers[h].nfields; f++)
				if (g->meta_rel[h][f])
					g->rec_mset[h][f] = next_flag_byte(&pos);
	}
	int off = (pos + 7) / 8 * 8;
	for (int h = 0; h < p->nheaders; h++) {
		if (g->rel[h] < 0 || g->use_hi[h] <= g->use_lo[h])
			continue;
		g->rec_bias[h] = g->use_lo[h] / 8 * 8;
		g->rec_base[h] = off;
		off += (g->use_hi[h] - g->rec_bias[h] + 7) / 8 * 8;
	}
	for (int h = 0; h < p->nheaders; h++)
		if (g->meta_rel[h])
			for (int f = 0; f < p->headers[h].nfields; f++)
				if (g->meta_rel[h][f]) {
					g->rec_mval[h][f] = off;
					off += p->headers[h].fields[f].bits > 64 ? 16 : 8;
				}
	g->rec_size = off;
	if (off > CG_RECORD_MAX) {
		cg_fail(g, "codegen: the rules read %d bytes of headers and meta variables; "
			   "at most %d fit on the stack", off, CG_RECORD_MAX);
		return -1;
	}
	return 0;
}

/* ---- CG_SPEC: rules evaluated during parsing (codegen_parse.c) */

static void items_val(struct cg *g, const struct ir_val *v, uint64_t *m)
{
	const struct ir_program *p = g->p;
	if (!v)
		return;
	if ((v->kind == IV_FIELD || v->kind == IV_META) && v->hdr >= 0 && v->hdr < p->nheaders &&
	    v->field >= 0 && v->field < p->headers[v->hdr].nfields) {
		if (p->headers[v->hdr].is_meta) {
			if (g->meta_item[v->hdr] && g->meta_item[v->hdr][v->field] >= 0)
				*m |= 1ull << g->meta_item[v->hdr][v->field];
		} else if (g->rel[v->hdr] >= 0) {
			*m |= 1ull << g->rel[v->hdr];
		}
	}
	items_val(g, v->a, m);
	items_val(g, v->b, m);
	for (int i = 0; i < v->nkeys; i++)
		items_val(g, v->keys[i], m);
}

static void items_cond(struct cg *g, const struct ir_cond *c, uint64_t *m)
{
	const struct ir_program *p = g->p;
	if (!c)
		return;
	for (int i = 0; i < c->nkids; i++)
		items_cond(g, c->kids[i], m);
	if (c->kind == IC_PRESENT && c->hdr >= 0 && c->hdr < p->nheaders) {
		if (!p->headers[c->hdr].is_meta) {
			if (g->rel[c->hdr] >= 0)
				*m |= 1ull << g->rel[c->hdr];
		} else if (g->meta_item[c->hdr]) {
			for (int f = 0; f < p->headers[c->hdr].nfields; f++)
				if (g->meta_item[c->hdr][f] >= 0)
					*m |= 1ull << g->meta_item[c->hdr][f];
		}
	}
	items_val(g, c->a, m);
	items_val(g, c->b, m);
	items_val(g, c->lo, m);
	items_val(g, c->hi, m);
	for (int i = 0; i < c->nkeys; i++)
		items_val(g, c->keys[i], m);
}

/* A rule may be evaluated during parsing when deciding is all it does:
 * no limit, no statements, a plain verdict, no packet rewrites. */
static bool plain_rule(const struct ir_rule *r)
{
	return ir_rule_plain(r);
}

static int plan_early_rules(struct cg *g)
{
	const struct ir_program *p = g->p;
	size_t n = (size_t)p->nheaders + 1;
	g->meta_item = calloc(n, sizeof(int *));
	g->rule_items = calloc((size_t)p->nrules + 1, sizeof(uint64_t));
	g->rule_early = calloc((size_t)p->nrules + 1, sizeof(bool));
	if (!g->meta_item || !g->rule_items || !g->rule_early) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	int items = g->nrel;
	for (int h = 0; h < p->nheaders; h++) {
		if (!p->headers[h].is_meta || !g->meta_rel[h])
			continue;
		g->meta_item[h] = malloc(sizeof(int) * ((size_t)p->headers[h].nfields + 1));
		if (!g->meta_item[h]) {
			cg_fail(g, "codegen: out of memory");
			return -1;
		}
		for (int f = 0; f < p->headers[h].nfields; f++)
			g->meta_item[h][f] = g->meta_rel[h][f] ? items++ : -1;
	}
	g->early_ok = items <= 64 && !cg_rewrites_packet(p);
	for (int i = 0; i < p->nrules; i++) {
		items_cond(g, p->rules[i].cond, &g->rule_items[i]);
		g->rule_early[i] = plain_rule(&p->rules[i]);
	}
	return 0;
}

/* A rough size of the code of a condition or value. */
static int val_cost(const struct ir_val *v)
{
	if (!v)
		return 0;
	int n = 1 + val_cost(v->a) + val_cost(v->b);
	for (int i = 0; i < v->nkeys; i++)
		n += val_cost(v->keys[i]);
	return n;
}

static int cond_cost(const struct ir_cond *c)
{
	if (!c)
		return 0;
	int n = 1 + val_cost(c->a) + val_cost(c->b) + val_cost(c->lo) + val_cost(c->hi);
	for (int i = 0; i < c->nkids; i++)
		n += cond_cost(c->kids[i]);
	for (int i = 0; i < c->nkeys; i++)
		n += val_cost(c->keys[i]);
	return n;
}

/* Chunks small enough for the verifier's limits on one function: its
 * queue of branches still to explore (8192) and 16-bit jump offsets. */
#define CG_CHUNK_RULES 512
#define CG_CHUNK_COST 4096

static int split_chunks(struct cg *g)
{
	const struct ir_program *p = g->p;
	g->chunk_start = malloc(sizeof(int) * ((size_t)p->nrules + 2));
	if (!g->chunk_start) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	g->nchunks = 0;
	int n = 0, cost = 0;
	for (int i = 0; i < p->nrules;) {
		int gi = g->group_at[i];
		int step = gi >= 0 ? p->groups[gi].n : 1; /* a group: one lookup */
		int c = 2 + cond_cost(p->rules[i].cond);
		for (int k = 0; gi >= 0 && k < p->groups[gi].nkeys; k++)
			c = (k ? c : 8) + 2 * val_cost(p->groups[gi].keys[k]);
		if (gi >= 0 && p->groups[gi].cls)
			c = CG_CHUNK_COST; /* a classifier: a chunk of its own */
		if (n && (n >= CG_CHUNK_RULES || cost + c > CG_CHUNK_COST)) {
			n = 0;
			cost = 0;
		}
		if (!n)
			g->chunk_start[g->nchunks++] = i;
		n++;
		cost += c;
		i += step;
	}
	g->chunk_start[g->nchunks] = p->nrules;
	return 0;
}

/* codegen_opts.rules overrides the choice. */
static enum cg_mode pick_mode(struct cg *g)
{
	enum codegen_rules_mode forced = g->opts->rules;
	bool spec_ok = g->nrel <= 64;
	if (forced == CODEGEN_RULES_RECORD)
		return CG_RECORD;
	if (forced == CODEGEN_RULES_SPEC && spec_ok)
		return CG_SPEC;
	if (g->force_record && !cg_continue_rewrites(g->p))
		return CG_RECORD;
	if (cg_continue_rewrites(g->p) && spec_ok)
		return CG_SPEC; /* later rules must read the rewritten packet */
	return spec_ok && g->nrules_eff <= CG_SPEC_MAX_RULES ? CG_SPEC : CG_RECORD;
}

bool cg_spec_too_big(struct cg *g)
{
	if (g->spec_overflow)
		return true;
	if (g->opts->rules == CODEGEN_RULES_SPEC || cg_continue_rewrites(g->p))
		return false;
	return (long)g->nvariants * g->nrules_eff > CG_SPEC_MAX_COPIES;
}

int cg_plan_rules(struct cg *g)
{
	const struct ir_program *p = g->p;
	size_t n = (size_t)p->nheaders + 1;
	g->rel = malloc(sizeof(int) * n);
	g->use_lo = calloc(n, sizeof(int));
	g->use_hi = calloc(n, sizeof(int));
	g->meta_rel = calloc(n, sizeof(bool *));
	g->rec_pres = malloc(sizeof(int) * n);
	g->rec_base = calloc(n, sizeof(int));
	g->rec_bias = calloc(n, sizeof(int));
	g->rec_mval = calloc(n, sizeof(int *));
	g->rec_mset = calloc(n, sizeof(int *));
	if (!g->rel || !g->use_lo || !g->use_hi || !g->meta_rel || !g->rec_pres || !g->rec_base ||
	    !g->rec_bias || !g->rec_mval || !g->rec_mset) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	for (int h = 0; h < p->nheaders; h++) {
		g->rel[h] = -1;
		if (!p->headers[h].is_meta)
			continue;
		size_t nf = (size_t)p->headers[h].nfields + 1;
		g->meta_rel[h] = calloc(nf, sizeof(bool));
		g->rec_mval[h] = calloc(nf, sizeof(int));
		g->rec_mset[h] = calloc(nf, sizeof(int));
		if (!g->meta_rel[h] || !g->rec_mval[h] || !g->rec_mset[h]) {
			cg_fail(g, "codegen: out of memory");
			return -1;
		}
	}
	for (int i = 0; i < p->nrules; i++) {
		use_cond(g, p->rules[i].cond);
		cg_state_use(g, &p->rules[i], use_val);
		cg_verdict_use(g, &p->rules[i], use_val);
	}
	g->group_at = malloc(sizeof(int) * ((size_t)p->nrules + 1));
	if (!g->group_at) {
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	for (int i = 0; i < p->nrules; i++)
		g->group_at[i] = -1;
	g->nrules_eff = p->nrules;
	for (int k = 0; k < p->ngroups; k++) {
		const struct ir_group *grp = &p->groups[k];
		if (grp->first < 0 || grp->n < 1 || grp->first + grp->n > p->nrules ||
		    (!grp->cls && (!grp->map || grp->nkeys < 1 || grp->nkeys > 8 || !grp->keys))) {
			cg_fail(g, "codegen: internal error: bad rule group");
			return -1;
		}
		g->group_at[grp->first] = k;
		g->nrules_eff -= grp->n - 1;
	}
	g->mode = pick_mode(g);
	if (g->mode != CG_RECORD)
		return g->mode == CG_SPEC ? plan_early_rules(g) : 0;
	return layout_record(g) || split_chunks(g) ? -1 : 0;
}

/* The zeroed record, in the entry block (every path then reads only
 * written stack, whatever the verifier knows of the presence bytes). */
void cg_record_init(struct cg *g)
{
	if (g->mode != CG_RECORD)
		return;
	int size = (g->rec_size + 7) / 8 * 8;
	if (size < 8)
		size = 8;
	g->rec = cg_entry_alloca(g, LLVMArrayType2(g->i8, (uint64_t)size), 8, "record");
	for (int off = 0; off < size; off += 8) {
		LLVMValueRef idx = cg_const(g, g->i64, (uint64_t)off);
		LLVMValueRef ptr = off ? LLVMBuildGEP2(g->eb, g->i8, g->rec, &idx, 1, "") : g->rec;
		LLVMValueRef st = LLVMBuildStore(g->eb, LLVMConstInt(g->i64, 0, 0), ptr);
		LLVMSetAlignment(st, 8);
		LLVMSetVolatile(st, 1);
	}
}

/* After `extract H` (present) or when H turned out malformed (absent):
 * the bytes rules read and the presence byte, in the record. */
void cg_record_header(struct cg *g, int hi, LLVMValueRef hp, bool present)
{
	if (g->mode != CG_RECORD || g->rel[hi] < 0)
		return;
	if (!present && g->use_hi[hi] > g->use_lo[hi]) {
		/* absent reads as zeros (see false_when_zero) */
		int size = (g->use_hi[hi] - g->rec_bias[hi] + 7) / 8 * 8;
		for (int o = 0; o < size; o += 8)
			cg_volatile_store(g, LLVMConstInt(g->i64, 0, 0),
					  cg_gep_const(g, g->rec, (uint64_t)(g->rec_base[hi] + o)), 8);
	}
	if (present && g->use_hi[hi] > g->use_lo[hi]) {
		LLVMValueRef base = cg_gep_const(g, g->rec, (uint64_t)g->rec_base[hi]);
		for (int o = g->rec_bias[hi], end = g->use_hi[hi]; o < end;) {
			int s = 8;
			while (s > end - o || o % s)
				s /= 2;
			LLVMValueRef ld = cg_load(g, LLVMIntTypeInContext(g->C, (unsigned)s * 8), cg_gep_const(g, hp, (uint64_t)o), (unsigned)s);
					cg_volatile_store(g, ld, cg_gep_const(g, base, (uint64_t)(o - g->rec_bias[hi])), (unsigned)s);
			o += s;
		}
	}
	cg_volatile_store(g, LLVMConstInt(g->i8, present, 0),
			  cg_gep_const(g, g->rec, (uint64_t)g->rec_pres[hi]), 1);
}

/* `set META.FIELD = v` (v NULL: unset), in the record. */
void cg_record_meta(struct cg *g, int mh, int f, LLVMValueRef v)
{
	if (g->mode != CG_RECORD || !g->meta_rel[mh] || !g->meta_rel[mh][f])
		return;
	if (v) {
		int bits = g->p->headers[mh].fields[f].bits;
		cg_volatile_store(g, cg_fit(g, v, bits), cg_gep_const(g, g->rec, (uint64_t)g->rec_mval[mh][f]),
				  8);
	}
	cg_volatile_store(g, LLVMConstInt(g->i8, v != NULL, 0),
			  cg_gep_const(g, g->rec, (uint64_t)g->rec_mset[mh][f]), 1);
}
