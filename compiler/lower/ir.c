/* Rule IR helpers: names and a readable dump (xdplc build --emit ir). */
#include "ir.h"

#include <inttypes.h>
#include <string.h>

/* ---------------------------------------------------------------- kinds */

static const struct ir_verdict_info verdicts[] = {
	[IRV_PASS] = { XDPL_VERDICT_PASS, XDPL_ACTION_PASS, .plain = true },
	[IRV_DROP] = { XDPL_VERDICT_DROP, XDPL_ACTION_DROP, .plain = true },
	[IRV_ABORT] = { XDPL_VERDICT_ABORT, XDPL_ACTION_ABORTED, .plain = true },
	[IRV_TX] = { XDPL_VERDICT_TX, XDPL_ACTION_TX, .plain = true },
	[IRV_REDIRECT_IFINDEX] = { XDPL_VERDICT_REDIRECT, XDPL_ACTION_EXT },
	[IRV_REDIRECT_MAP] = { XDPL_VERDICT_REDIRECT, XDPL_ACTION_EXT, .keyed = true },
	[IRV_REDIRECT_CPU] = { XDPL_VERDICT_REDIRECT, XDPL_ACTION_EXT },
	[IRV_ROUTE] = { XDPL_VERDICT_ROUTE, XDPL_ACTION_EXT },
	[IRV_CONTINUE] = { XDPL_VERDICT_CONTINUE, XDPL_ACTION_NONE, .plain = true },
};

const struct ir_verdict_info *ir_verdict_info(enum ir_verdict_kind k)
{
	static const struct ir_verdict_info unknown = { .word = XDPL_NVERDICTS, .action = XDPL_ACTION_NONE };
	return (unsigned)k < sizeof(verdicts) / sizeof(verdicts[0]) ? &verdicts[k] : &unknown;
}

bool ir_verdict_by_word(enum xdpl_verdict w, enum ir_verdict_kind *out)
{
	for (size_t k = 0; k < sizeof(verdicts) / sizeof(verdicts[0]); k++)
		if (verdicts[k].word == w) {
			*out = (enum ir_verdict_kind)k;
			return true;
		}
	return false;
}

bool ir_rule_plain(const struct ir_rule *r)
{
	return !r->limit && !r->nstmts && ir_verdict_info(r->verdict.kind)->plain;
}

bool ir_rule_groupable(const struct ir_rule *r)
{
	enum ir_verdict_kind k = r->verdict.kind;
	return !r->limit && !r->nstmts && ir_verdict_final(k) && !ir_verdict_info(k)->keyed;
}

static const struct ir_stmt_info stmts[] = {
	[IS_ASSIGN] = { "=", .rewrite = true, .csums = true },
	[IS_SWAP] = { "swap", .rewrite = true, .csums = true },
	[IS_PUSH] = { "push", .rewrite = true, .moves_head = true, .csums = true },
	[IS_POP] = { "pop", .rewrite = true, .moves_head = true, .csums = true },
	[IS_ENCAP] = { "encap", .rewrite = true, .moves_head = true },
	[IS_DECAP] = { "decap", .rewrite = true, .moves_head = true },
	[IS_SET_ADD] = { "add" },
	[IS_SET_DEL] = { "del" },
	[IS_MAP_STORE] = { "MAP[KEY] =" },
	[IS_MAP_ADD] = { "MAP[KEY] +=" },
};

const struct ir_stmt_info *ir_stmt_info(enum ir_stmt_kind k)
{
	static const struct ir_stmt_info unknown = { .name = "?" };
	return (unsigned)k < sizeof(stmts) / sizeof(stmts[0]) ? &stmts[k] : &unknown;
}

static const struct ir_map_kind_info map_kinds[] = {
	[IRM_HASH] = { XDPL_MAP_HASH, .writable = true, .set_ops = true },
	[IRM_LRU_HASH] = { XDPL_MAP_LRU, .writable = true, .set_ops = true },
	[IRM_ARRAY] = { XDPL_MAP_ARRAY, .writable = true },
	[IRM_PERCPU_HASH] = { XDPL_MAP_PERCPU_HASH, .writable = true, .set_ops = true },
	[IRM_PERCPU_ARRAY] = { XDPL_MAP_PERCPU_ARRAY, .writable = true },
	[IRM_LPM] = { XDPL_MAP_LPM, .set_ops = true },
	[IRM_DEVMAP] = { XDPL_MAP_DEVMAP, .target = true },
	[IRM_CPUMAP] = { XDPL_MAP_CPUMAP, .target = true },
	[IRM_XSKMAP] = { XDPL_MAP_XSKMAP, .target = true },
};

const struct ir_map_kind_info *ir_map_kind_info(enum ir_map_kind k)
{
	static const struct ir_map_kind_info unknown = { .word = XDPL_NMAP_KINDS };
	return (unsigned)k < sizeof(map_kinds) / sizeof(map_kinds[0]) ? &map_kinds[k] : &unknown;
}

/* ---------------------------------------------------------------- values */

bool ir_val_eq(const struct ir_val *x, const struct ir_val *y)
{
	if (x == y)
		return true;
	if (!x || !y || x->kind != y->kind || x->type != y->type || x->bits != y->bits || x->c != y->c ||
	    x->c128.hi != y->c128.hi || x->c128.lo != y->c128.lo || x->hdr != y->hdr || x->field != y->field ||
	    x->pkt != y->pkt || x->op != y->op || x->map != y->map || x->nkeys != y->nkeys ||
	    !ir_val_eq(x->a, y->a) || !ir_val_eq(x->b, y->b))
		return false;
	for (int i = 0; i < x->nkeys; i++)
		if (!ir_val_eq(x->keys[i], y->keys[i]))
			return false;
	return true;
}

static const char *type_name(enum ir_type t, int bits, char *buf, size_t n)
{
	switch (t) {
	case IR_BOOL: return "bool";
	case IR_MAC: return "mac";
	case IR_IP4: return "ip4";
	case IR_IP6: return "ip6";
	case IR_UINT: break;
	}
	snprintf(buf, n, "u%d", bits);
	return buf;
}

static void print_addr(FILE *f, enum ir_type t, uint64_t c, struct ir_u128 c128)
{
	switch (t) {
	case IR_IP4:
		fprintf(f, "%u.%u.%u.%u", (unsigned)(c >> 24) & 255, (unsigned)(c >> 16) & 255,
			(unsigned)(c >> 8) & 255, (unsigned)c & 255);
		return;
	case IR_MAC:
		for (int i = 5; i >= 0; i--)
			fprintf(f, "%02x%s", (unsigned)(c >> (i * 8)) & 255, i ? ":" : "");
		return;
	case IR_IP6:
		for (int i = 0; i < 8; i++) {
			uint64_t w = i < 4 ? c128.hi : c128.lo;
			fprintf(f, "%" PRIx64 "%s", (w >> ((3 - i % 4) * 16)) & 0xffff, i < 7 ? ":" : "");
		}
		return;
	default:
		if (c < 10)
			fprintf(f, "%" PRIu64, c);
		else
			fprintf(f, "0x%" PRIx64, c);
	}
}

static void print_field(FILE *f, const struct ir_program *p, int hdr, int field)
{
	if (hdr >= 0 && hdr < p->nheaders) {
		const struct ir_header *h = &p->headers[hdr];
		if (field >= 0 && field < h->nfields)
			fprintf(f, "%s.%s", h->name, h->fields[field].name);
		else
			fprintf(f, "%s.#%d", h->name, field);
	} else
		fprintf(f, "#%d.#%d", hdr, field);
}

static const char *binop_name(enum ir_binop op)
{
	static const char *const names[] = { "&", "|", "^", "+", "-", "*", "%", "<<", ">>" };
	return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

static void print_val(FILE *f, const struct ir_program *p, const struct ir_val *v)
{
	char tb[16];
	if (!v) {
		fputs("<null>", f);
		return;
	}
	switch (v->kind) {
	case IV_CONST:
		print_addr(f, v->type, v->c, v->c128);
		if (v->type == IR_UINT || v->type == IR_BOOL)
			fprintf(f, ":%s", type_name(v->type, v->bits, tb, sizeof(tb)));
		return;
	case IV_FIELD:
	case IV_META:
		print_field(f, p, v->hdr, v->field);
		return;
	case IV_PKT:
		fputs(v->pkt == IR_PKT_LEN ? "pkt.len" : v->pkt == IR_PKT_IFINDEX ? "pkt.ifindex"
										   : "pkt.rxq",
		      f);
		return;
	case IV_BIN:
		fputc('(', f);
		print_val(f, p, v->a);
		fprintf(f, " %s ", binop_name(v->op));
		print_val(f, p, v->b);
		fprintf(f, "):%s", type_name(v->type, v->bits, tb, sizeof(tb)));
		return;
	case IV_MAP_READ:
		fprintf(f, "%s[", v->map ? v->map->name : "?");
		for (int i = 0; i < v->nkeys; i++) {
			if (i)
				fputs(", ", f);
			print_val(f, p, v->keys[i]);
		}
		fputc(']', f);
		return;
	case IV_HASH:
	case IV_COALESCE:
		fputs(v->kind == IV_HASH ? "hash(" : "coalesce(", f);
		for (int i = 0; i < v->nkeys; i++) {
			if (i)
				fputs(", ", f);
			print_val(f, p, v->keys[i]);
		}
		fputc(')', f);
		return;
	}
}

static const char *cmp_name(enum ir_cmp c)
{
	static const char *const names[] = { "==", "!=", "<", "<=", ">", ">=" };
	return (unsigned)c < 6 ? names[c] : "?";
}

static void print_cond(FILE *f, const struct ir_program *p, const struct ir_cond *c)
{
	if (!c) {
		fputs("<null>", f);
		return;
	}
	switch (c->kind) {
	case IC_TRUE:
		fputs("true", f);
		return;
	case IC_AND:
	case IC_OR:
		fputc('(', f);
		for (int i = 0; i < c->nkids; i++) {
			if (i)
				fputs(c->kind == IC_AND ? " and " : " or ", f);
			print_cond(f, p, c->kids[i]);
		}
		fputc(')', f);
		return;
	case IC_NOT:
		if (c->nkids == 1 && c->kids[0]->kind == IC_TRUE) {
			fputs("false", f);
			return;
		}
		fputs("not ", f);
		print_cond(f, p, c->nkids ? c->kids[0] : NULL);
		return;
	case IC_PRESENT:
		fprintf(f, "present(%s)",
			c->hdr >= 0 && c->hdr < p->nheaders ? p->headers[c->hdr].name : "?");
		break;
	case IC_CMP:
		print_val(f, p, c->a);
		fprintf(f, " %s ", cmp_name(c->cmp));
		print_val(f, p, c->b);
		break;
	case IC_RANGE:
		print_val(f, p, c->a);
		fputs(" in ", f);
		print_val(f, p, c->lo);
		fputs("..", f);
		print_val(f, p, c->hi);
		break;
	case IC_PREFIX:
		print_val(f, p, c->a);
		fputs(" in ", f);
		print_addr(f, c->a ? c->a->type : IR_UINT, c->prefix.lo, c->prefix);
		fprintf(f, "/%d", c->plen);
		break;
	case IC_IN_MAP:
		if (c->nkeys != 1)
			fputc('(', f);
		for (int i = 0; i < c->nkeys; i++) {
			if (i)
				fputs(", ", f);
			print_val(f, p, c->keys[i]);
		}
		if (c->nkeys != 1)
			fputc(')', f);
		fprintf(f, " in %s", c->map ? c->map->name : "?");
		break;
	}
	if (c->line)
		fprintf(f, " @%d", c->line);
}

static void print_target(FILE *f, const struct ir_program *p, int t)
{
	if (t == IR_ACCEPT)
		fputs("accept", f);
	else if (t == IR_REJECT)
		fputs("reject", f);
	else if (t >= 0 && t < p->nstates)
		fputs(p->states[t].name, f);
	else
		fprintf(f, "#%d", t);
}

static void print_verdict(FILE *f, const struct ir_program *p, const struct ir_verdict *v)
{
	fputs(ir_verdict_name(v->kind), f);
	switch (v->kind) {
	case IRV_REDIRECT_IFINDEX:
		if (v->ifname)
			fprintf(f, " %s", v->ifname);
		else
			fprintf(f, " ifindex %" PRIu64, v->num);
		break;
	case IRV_REDIRECT_CPU:
		fprintf(f, " cpu %" PRIu64, v->num);
		break;
	case IRV_REDIRECT_MAP:
		fprintf(f, " %s[", v->map ? v->map->name : "?");
		print_val(f, p, v->key);
		fputc(']', f);
		break;
	default:
		break;
	}
}

static void print_hex(FILE *f, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
}

static void dump_headers(FILE *f, const struct ir_program *p)
{
	char tb[16];
	fputs("\n# headers\n", f);
	for (int i = 0; i < p->nheaders; i++) {
		const struct ir_header *h = &p->headers[i];
		fprintf(f, "%s %d %s: %d bytes", h->is_meta ? "meta" : "header", h->index, h->name,
			h->fixed_bytes);
		if (h->var_size) {
			fputs(" + ", f);
			print_val(f, p, h->var_size);
			fprintf(f, " max %d", h->var_max);
		}
		fputs(" {", f);
		for (int k = 0; k < h->nfields; k++) {
			const struct ir_field *F = &h->fields[k];
			fprintf(f, "%s %s:%s@%d", k ? "," : "", F->name,
				type_name(F->type, F->bits, tb, sizeof(tb)), F->bit_offset);
		}
		fputs(" }\n", f);
	}
}

static void dump_select(FILE *f, const struct ir_program *p, const struct ir_state *s)
{
	fputs(" select ", f);
	print_val(f, p, s->key);
	fputs(" {", f);
	for (int k = 0; k < s->narms; k++) {
		const struct ir_arm *A = &s->arms[k];
		fputc(' ', f);
		if (!A->nvalues && !A->nranges)
			fputc('_', f);
		for (int j = 0; j < A->nvalues; j++)
			fprintf(f, "%s0x%" PRIx64, j ? "," : "", A->values[j]);
		for (int j = 0; j < A->nranges; j++)
			fprintf(f, "%s0x%" PRIx64 "..0x%" PRIx64, j || A->nvalues ? "," : "", A->lo[j], A->hi[j]);
		fputs(" -> ", f);
		print_target(f, p, A->target);
		fputc(';', f);
	}
	fputs(" }", f);
}

static void dump_states(FILE *f, const struct ir_program *p)
{
	fputs("\n# parse graph\n", f);
	fputs("start ", f);
	print_target(f, p, p->start_state);
	fputc('\n', f);
	for (int i = 0; i < p->nstates; i++) {
		const struct ir_state *s = &p->states[i];
		fprintf(f, "state %d %s", i, s->name);
		if (s->loop)
			fprintf(f, " loop %d", s->loop);
		fputs(":", f);
		if (s->header >= 0 && s->header < p->nheaders)
			fprintf(f, " extract %s;", p->headers[s->header].name);
		for (int k = 0; k < s->nsets; k++) {
			fputs(" set ", f);
			print_field(f, p, s->sets[k].meta_hdr, s->sets[k].field);
			fputs(" = ", f);
			print_val(f, p, s->sets[k].value);
			fputc(';', f);
		}
		if (s->key) {
			dump_select(f, p, s);
		} else {
			fputs(" next ", f);
			print_target(f, p, s->next_state);
			fputc(';', f);
		}
		fputc('\n', f);
	}
}

static void dump_maps(FILE *f, const struct ir_program *p)
{
	char tb[16], tb2[16];
	fputs("\n# maps\n", f);
	for (int i = 0; i < p->nmaps; i++) {
		const struct ir_map *m = p->maps[i];
		fprintf(f, "%s %d %s: %s%s<", m->is_set ? "set" : "map", m->index, m->name,
			m->user_visible ? "" : "(anonymous) ", ir_map_kind_name(m->kind));
		for (int k = 0; k < m->nkeys; k++)
			fprintf(f, "%s%s", k ? "," : "",
				type_name(m->key_types[k], m->key_bits[k], tb, sizeof(tb)));
		fprintf(f, "> key %d bytes, value %s %d bytes, max %u", m->key_size,
			type_name(m->value_type, m->value_bits, tb2, sizeof(tb2)), m->value_size,
			m->max_entries);
		if (m->flags)
			fprintf(f, ", flags 0x%x", m->flags);
		fputc('\n', f);
		for (int k = 0; k < m->ninit; k++) {
			fputs("  init ", f);
			print_hex(f, m->init[k].key, (size_t)m->key_size);
			fputs(" = ", f);
			print_hex(f, m->init[k].value, (size_t)m->value_size);
			fputc('\n', f);
		}
	}
}

static void dump_groups(FILE *f, const struct ir_program *p)
{
	if (p->ngroups)
		fputs("\n# rule groups\n", f);
	for (int i = 0; i < p->ngroups; i++) {
		const struct ir_group *g = &p->groups[i];
		if (g->cls) { /* xdplc build --explain tells more */
			fprintf(f, "group rules %d..%d: classifier\n", g->first, g->first + g->n - 1);
			continue;
		}
		fprintf(f, "group rules %d..%d: %s", g->first, g->first + g->n - 1, g->nkeys > 1 ? "(" : "");
		for (int k = 0; k < g->nkeys; k++) {
			if (k)
				fputs(", ", f);
			print_val(f, p, g->keys[k]);
		}
		fputs(g->nkeys > 1 ? ")" : "", f);
		fprintf(f, " in %s (%d entries)\n", g->map->name, g->map->ninit);
	}
}

/* Field rewrites, push and pop (other statements are not dumped). */
static void dump_stmt(FILE *f, const struct ir_program *p, const struct ir_stmt *s)
{
	if (s->kind == IS_ASSIGN) {
		fputs("    ", f);
		print_field(f, p, s->hdr, s->field);
		fputs(" = ", f);
		print_val(f, p, s->value);
		fputc('\n', f);
	} else if (s->kind == IS_SWAP) {
		fputs("    swap ", f);
		print_field(f, p, s->hdr, s->field);
		fputs(", ", f);
		print_field(f, p, s->hdr2, s->field2);
		fputc('\n', f);
	} else if (s->kind == IS_PUSH || s->kind == IS_POP) {
		fprintf(f, "    %s %s at %s byte %d", ir_stmt_info(s->kind)->name, p->headers[s->hdr].name,
			p->headers[s->hdr2].name, s->field2);
		if (s->tmpl) {
			fputs(" bytes ", f);
			print_hex(f, s->tmpl->bytes, s->tmpl->len);
		}
		fputc('\n', f);
	}
}

static void dump_rules(FILE *f, const struct ir_program *p)
{
	fputs("\n# rules\n", f);
	for (int i = 0; i < p->nrules; i++) {
		const struct ir_rule *r = &p->rules[i];
		fprintf(f, "rule %d %s (%s:%d): ", r->index, r->name, r->file ? r->file : "?", r->line);
		print_cond(f, p, r->cond);
		fputs(" => ", f);
		print_verdict(f, p, &r->verdict);
		fputc('\n', f);
		for (int k = 0; k < r->nstmts; k++)
			dump_stmt(f, p, r->stmts[k]);
	}
	fprintf(f, "default %d (line %d) => ", p->nrules, p->default_line);
	print_verdict(f, p, &p->default_verdict);
	fputc('\n', f);
}

static void dump_tests(FILE *f, const struct ir_program *p)
{
	if (p->ntests)
		fputs("\n# tests\n", f);
	for (int i = 0; i < p->ntests; i++) {
		const struct ir_test *t = &p->tests[i];
		fprintf(f, "test \"%s\" (%s:%d): expect ", t->name, t->file ? t->file : "?", t->line);
		const char *act = xdpl_action_word(t->expect_action);
		fputs(act ? act : t->expect_action == -1 ? "redirect (any)" : "-", f);
		if (t->expect_rule >= 0)
			fprintf(f, " by %s", t->expect_rule < p->nrules ? p->rules[t->expect_rule].name
									: "default");
		fprintf(f, "\n  packet %zu bytes: ", t->packet_len);
		print_hex(f, t->packet, t->packet_len);
		fputc('\n', f);
		if (t->output) {
			fprintf(f, "  output %zu bytes: ", t->output_len);
			print_hex(f, t->output, t->output_len);
			fputc('\n', f);
		}
	}
}

void ir_dump(FILE *f, const struct ir_program *p)
{
	fprintf(f, "program %s\n", p->name ? p->name : "?");
	if (p->source_path)
		fprintf(f, "source %s\n", p->source_path);
	dump_headers(f, p);
	dump_states(f, p);
	dump_maps(f, p);
	dump_groups(f, p);
	dump_rules(f, p);
	dump_tests(f, p);
}
