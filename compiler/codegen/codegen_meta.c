/* The ".xdpl.meta" section (format: runtime/xdpl_meta.h): what the runtime
 * needs about the policy that BTF does not say — rule names and verdicts,
 * the source path, set/map types and their initial elements.
 *
 * It is a NUL-terminated text global with external linkage (so O2 keeps
 * it) and deliberately no debug info: without it the global gets no BTF
 * VAR/DATASEC, and libbpf, ip and bpftool skip the section as an unknown
 * data section instead of trying to make a map of it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_internal.h"

struct text {
	char *s;
	size_t len, cap;
	bool oom;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || t->oom)
		return;
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = (t->cap ? t->cap * 2 : 1024) + (size_t)n;
		char *s = realloc(t->s, cap);
		if (!s) {
			t->oom = true;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* The record format separates fields by spaces and records by newlines:
 * escape those (and '%' itself, and anything non-printable) as %XX. */
static void put_escaped(struct text *t, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
		if (*c <= ' ' || *c == '%' || *c == 0x7f)
			put(t, "%%%02X", *c);
		else
			put(t, "%c", *c);
	}
}

static void put_hex(struct text *t, const uint8_t *b, int n)
{
	if (!b || n <= 0) {
		put(t, "-");
		return;
	}
	for (int i = 0; i < n; i++)
		put(t, "%02x", b[i]);
}

static const char *map_kind_word(const struct ir_map *m)
{
	if (m->is_set)
		return xdpl_map_kind_info(m->kind == IRM_LPM ? XDPL_MAP_SET_LPM : XDPL_MAP_SET_HASH)->name;
	return ir_map_kind_name(m->kind);
}

static void put_type(struct text *t, enum ir_type ty, int bits)
{
	switch (ty) {
	case IR_BOOL: put(t, "bool"); break;
	case IR_MAC: put(t, "mac"); break;
	case IR_IP4: put(t, "ip4"); break;
	case IR_IP6: put(t, "ip6"); break;
	default: put(t, "u%d", bits); break;
	}
}

static void put_map(struct text *t, const struct ir_map *m)
{
	put(t, "map %s %s ", m->name, map_kind_word(m));
	if (ir_map_kind_array(m->kind) || m->nkeys <= 0) {
		put(t, "-");
	} else {
		for (int i = 0; i < m->nkeys; i++) {
			if (i)
				put(t, ",");
			put_type(t, m->key_types[i], m->key_bits[i]);
		}
	}
	put(t, " ");
	if (m->is_set)
		put(t, "-");
	else if (ir_map_kind_info(m->kind)->target)
		put(t, "u32");
	else
		put_type(t, m->value_type, m->value_bits);
	put(t, "\n");
	int vsize = m->is_set && !m->expires ? 1 : m->value_size;
	for (int i = 0; i < m->ninit; i++) {
		put(t, "init %s ", m->name);
		put_hex(t, m->init[i].key, m->key_size);
		put(t, " ");
		put_hex(t, m->init[i].value, vsize);
		put(t, "\n");
	}
}

static void build_text(struct cg *g, struct text *t)
{
	const struct ir_program *p = g->p;
	put(t, "xdpl-meta %d\n", XDPL_META_VERSION);
	put(t, "program %s\n", p->name ? p->name : g->fname);
	put(t, "source ");
	put_escaped(t, p->source_path);
	put(t, "\n");
	for (int i = 0; i < p->nrules; i++) {
		const struct ir_rule *r = &p->rules[i];
		put(t, "rule %d %s %d %s\n", r->index, r->name ? r->name : "-", r->line,
		    ir_verdict_name(r->verdict.kind));
	}
	put(t, "default %d %s %d\n", p->nrules, ir_verdict_name(p->default_verdict.kind),
	    p->default_line);
	put(t, "frags\n"); /* pkt.len and checksums cover every buffer of a frame */
	for (int i = 0; i < p->nmaps; i++)
		put_map(t, p->maps[i]);
	for (int i = 0; i < p->nifnames; i++)
		put(t, "ifname %d %s\n", i, p->ifnames[i]);
}

int cg_emit_meta(struct cg *g)
{
	struct text t = { 0 };
	build_text(g, &t);
	if (t.oom || !t.s) {
		free(t.s);
		cg_fail(g, "codegen: out of memory");
		return -1;
	}
	/* len + 1: the constant keeps the terminating NUL */
	LLVMValueRef init = LLVMConstStringInContext2(g->C, t.s, t.len, 0);
	LLVMValueRef gv = LLVMAddGlobal(g->m, LLVMArrayType2(g->i8, t.len + 1), "_xdpl_meta");
	LLVMSetInitializer(gv, init);
	LLVMSetGlobalConstant(gv, 1);
	LLVMSetSection(gv, XDPL_META_SECTION);
	LLVMSetAlignment(gv, 1);
	LLVMSetLinkage(gv, LLVMExternalLinkage);
	free(t.s);
	return 0;
}
