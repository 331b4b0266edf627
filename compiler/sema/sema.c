/* Semantic analysis driver: collects the declarations of all files (stdlib,
 * imports, main) into symbol tables, then runs the checks in dependency
 * order (layouts before anything that names fields, constants before
 * anything that uses them, ...). Also the helpers every part uses to word
 * its messages. See sema_internal.h for how the parts are split. */
#include "sema_internal.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- symbol tables */

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

struct symentry *sym_find(const struct symtab *t, const char *name)
{
	if (!t->cap || !name)
		return NULL;
	for (uint32_t i = str_hash(name) & (uint32_t)(t->cap - 1);; i = (i + 1) & (uint32_t)(t->cap - 1)) {
		struct symentry *e = &t->slots[i];
		if (!e->name)
			return NULL;
		if (!strcmp(e->name, name))
			return e;
	}
}

static void sym_grow(struct arena *a, struct symtab *t)
{
	struct symentry *old = t->slots;
	int oldcap = t->cap;
	t->cap = oldcap ? oldcap * 2 : 64;
	t->slots = arena_alloc(a, sizeof(*t->slots) * (size_t)t->cap);
	for (int i = 0; i < oldcap; i++) {
		if (!old[i].name)
			continue;
		uint32_t j = str_hash(old[i].name) & (uint32_t)(t->cap - 1);
		while (t->slots[j].name)
			j = (j + 1) & (uint32_t)(t->cap - 1);
		t->slots[j] = old[i];
	}
}

struct symentry *sym_add(struct arena *a, struct symtab *t, const char *name, enum sym_kind kind,
			 void *ptr, struct xdpl_loc loc)
{
	struct symentry *prev = sym_find(t, name);
	if (prev)
		return prev;
	if ((t->len + 1) * 10 >= t->cap * 7)
		sym_grow(a, t);
	uint32_t i = str_hash(name) & (uint32_t)(t->cap - 1);
	while (t->slots[i].name)
		i = (i + 1) & (uint32_t)(t->cap - 1);
	t->slots[i] = (struct symentry){ .name = name, .kind = kind, .ptr = ptr, .loc = loc };
	t->len++;
	return NULL;
}

/* ---------------------------------------------------------------- types */

struct xdpl_type ty_make(enum xdpl_type_kind k, int bits)
{
	return (struct xdpl_type){ .kind = k, .bits = bits };
}

bool ty_eq(struct xdpl_type a, struct xdpl_type b)
{
	if (a.kind != b.kind)
		return false;
	return a.kind != TY_UINT || a.bits == b.bits;
}

const char *ty_name(struct sema *s, struct xdpl_type t)
{
	switch (t.kind) {
	case TY_UINT:
		return arena_printf(s->a, "u%d", t.bits);
	case TY_BOOL:
		return "bool";
	case TY_MAC:
		return "mac";
	case TY_IP4:
		return "ip4";
	case TY_IP6:
		return "ip6";
	case TY_BYTES:
		return "bytes";
	case TY_COND:
		return "condition";
	case TY_INT_LIT:
		return "integer";
	case TY_NONE:
		break;
	}
	return "nothing";
}

bool uint_fits(uint64_t v, int bits)
{
	return bits >= 64 || v < ((uint64_t)1 << bits);
}

int uint_bits_needed(uint64_t v)
{
	int n = 1;
	while (n < 64 && !uint_fits(v, n))
		n++;
	return n;
}

/* ---------------------------------------------------------------- message helpers */

/* Indexes the lines of a file once, so quoting source is not a scan of
 * the whole file per message. */
static void index_lines(struct sema *s, int file, const char *text)
{
	struct ptrvec v = { 0 };
	ptrvec_push(s->a, &v, (void *)text);
	for (const char *p = text; *p; p++)
		if (*p == '\n')
			ptrvec_push(s->a, &v, (void *)(p + 1));
	s->lines_file = file;
	s->lines_text = text;
	s->lines = (const char **)v.items;
	s->nlines = v.len;
}

const char *src_text(struct sema *s, struct xdpl_loc loc)
{
	const char *text = diag_source_text(loc.file);
	if (!text || loc.first_line < 1 || loc.last_line != loc.first_line ||
	    loc.first_column < 1 || loc.last_column < loc.first_column)
		return NULL;
	if (s->lines_file != loc.file || s->lines_text != text)
		index_lines(s, loc.file, text);
	if (loc.first_line > s->nlines)
		return NULL;
	/* only the span is scanned: a 100k-term match is one long line */
	const char *p = s->lines[loc.first_line - 1];
	size_t len = strnlen(p, (size_t)loc.last_column);
	const char *eol = memchr(p, '\n', len);
	if (eol || (int)len < loc.last_column)
		return NULL;
	return arena_strndup(s->a, p + loc.first_column - 1,
			     (size_t)(loc.last_column - loc.first_column + 1));
}

static const char *fmt_addr(struct sema *s, const struct xdpl_lit *l, bool v6)
{
	char buf[INET6_ADDRSTRLEN];
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, l->bytes, buf, sizeof(buf)))
		return "?";
	return arena_strdup(s->a, buf);
}

const char *lit_str(struct sema *s, const struct xdpl_lit *l)
{
	switch (l->kind) {
	case LIT_INT:
		return arena_printf(s->a, "%" PRIu64, l->u);
	case LIT_BOOL:
		return l->u ? "true" : "false";
	case LIT_IP4:
		return fmt_addr(s, l, false);
	case LIT_IP6:
		return fmt_addr(s, l, true);
	case LIT_PREFIX4:
		return arena_printf(s->a, "%s/%d", fmt_addr(s, l, false), l->plen);
	case LIT_PREFIX6:
		return arena_printf(s->a, "%s/%d", fmt_addr(s, l, true), l->plen);
	case LIT_MAC:
		return arena_printf(s->a, "%02x:%02x:%02x:%02x:%02x:%02x", l->bytes[0], l->bytes[1],
				    l->bytes[2], l->bytes[3], l->bytes[4], l->bytes[5]);
	case LIT_STRING:
	case LIT_HEX:
		return arena_printf(s->a, "\"%.*s\"", l->len, l->str ? l->str : "");
	case LIT_RATE:
		return arena_printf(s->a, "rate %" PRIu64, l->u);
	case LIT_DURATION:
		return arena_printf(s->a, "%" PRIu64 "ms", l->u);
	}
	return "?";
}

const char *expr_str(struct sema *s, const struct ast_expr *e)
{
	const char *t = src_text(s, e->loc);
	if (t)
		return t;
	if (e->kind == E_NAME)
		return e->name;
	if (e->kind == E_LIT)
		return lit_str(s, &e->lit);
	return "expression";
}

const char *lit_kind_desc(const struct xdpl_lit *l)
{
	switch (l->kind) {
	case LIT_INT:
		return "an integer";
	case LIT_BOOL:
		return "a boolean";
	case LIT_IP4:
		return "an ip4 address";
	case LIT_IP6:
		return "an ip6 address";
	case LIT_MAC:
		return "a mac address";
	case LIT_PREFIX4:
		return "an ip4 prefix";
	case LIT_PREFIX6:
		return "an ip6 prefix";
	case LIT_STRING:
		return "a string";
	case LIT_HEX:
		return "hex bytes";
	case LIT_RATE:
		return "a rate";
	case LIT_DURATION:
		return "a duration";
	}
	return "a literal";
}

/* An alias whose alternatives have different types reads "ip4 or ip6". */
const char *alias_types_desc(struct sema *s, const struct ast_alias *al)
{
	const char *out = NULL;
	for (int i = 0; i < al->nalts; i++) {
		struct xdpl_type t = al->alts[i]->type;
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen |= ty_eq(al->alts[j]->type, t);
		if (seen || t.kind == TY_NONE)
			continue;
		out = out ? arena_printf(s->a, "%s or %s", out, ty_name(s, t)) : ty_name(s, t);
	}
	return out ? out : "nothing";
}

const char *expr_desc(struct sema *s, const struct ast_expr *e)
{
	if (e->kind == E_LIT)
		return lit_kind_desc(&e->lit);
	if (e->kind == E_NAME && e->ref.kind == REF_CONST && e->ref.konst &&
	    e->ref.konst->folded.kind != LIT_INT)
		return arena_printf(s->a, "%s (%s)", e->name,
				    lit_kind_desc(&e->ref.konst->folded) + 0);
	if (e->kind == E_NAME && e->ref.kind == REF_ALIAS && e->ref.alias)
		return arena_printf(s->a, "%s (%s)", expr_str(s, e), alias_types_desc(s, e->ref.alias));
	if (e->type.kind == TY_COND)
		return arena_printf(s->a, "%s (a condition)", expr_str(s, e));
	return arena_printf(s->a, "%s (%s)", expr_str(s, e), ty_name(s, e->type));
}

static bool is_word_char(char c)
{
	return c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

struct xdpl_loc name_loc(struct sema *s, struct xdpl_loc loc, const char *name)
{
	const char *span = src_text(s, loc);
	size_t n = name ? strlen(name) : 0;
	if (!span || !n)
		return loc;
	/* the first whole-word occurrence: `extract udp`, `redirect devs[...]`,
	 * `ip4(src=...)` */
	const char *hit = NULL;
	for (const char *p = strstr(span, name); p && !hit; p = strstr(p + 1, name))
		if ((p == span || !is_word_char(p[-1])) && !is_word_char(p[n]))
			hit = p;
	if (!hit)
		return loc;
	loc.first_column += (int)(hit - span);
	loc.last_column = loc.first_column + (int)n - 1;
	return loc;
}

/* Two adjacent letters swapped (scr / src): the likeliest typo of all,
 * though plain edit distance counts it as two changes. */
static bool is_transposition(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (n != strlen(b) || n < 2)
		return false;
	size_t i = 0;
	while (i < n && a[i] == b[i])
		i++;
	if (i + 1 >= n || a[i] != b[i + 1] || a[i + 1] != b[i])
		return false;
	return !strcmp(a + i + 2, b + i + 2);
}

const char *did_you_mean(struct sema *s, const char *name, struct ptrvec *cands)
{
	const char *best = NULL;
	for (int i = 0; i < cands->len && !best; i++)
		if (is_transposition(name, cands->items[i]))
			best = cands->items[i];
	if (!best)
		best = diag_closest(name, (const char *const *)cands->items, cands->len);
	if (!best || !strcmp(best, name))
		return "";
	return arena_printf(s->a, "; did you mean '%s'?", best);
}

void note_first(struct xdpl_loc loc)
{
	diag_note(loc, "first defined here");
}

/* ---------------------------------------------------------------- collecting */

static const char *sym_kind_name(const struct symentry *e)
{
	switch (e->kind) {
	case SYM_CONST:
		return "const";
	case SYM_SET:
		return ((struct ast_set *)e->ptr)->is_map ? "map" : "set";
	case SYM_HEADER:
		return ((struct ast_header *)e->ptr)->is_meta ? "meta block" : "header";
	case SYM_ALIAS:
		return "alias";
	case SYM_RULE:
		return "rule";
	case SYM_TEST:
		return "test";
	case SYM_STATE:
		return "state";
	}
	return "name";
}

bool sema_declare(struct sema *s, struct symtab *t, const char *name, enum sym_kind kind, void *ptr,
		    struct xdpl_loc loc)
{
	if (!name)
		return false;
	struct symentry *prev = sym_add(s->a, t, name, kind, ptr, loc);
	if (!prev)
		return true;
	struct symentry now = { .kind = kind, .ptr = ptr };
	const char *what = sym_kind_name(&now);
	if (!strcmp(what, sym_kind_name(prev)))
		diag_error(loc, "duplicate %s '%s'", what, name);
	else
		diag_error(loc, "duplicate name '%s': already declared as a %s", name,
			   sym_kind_name(prev));
	note_first(prev->loc);
	return false;
}

static void collect_decl(struct sema *s, struct ast_decl *d, bool is_main)
{
	switch (d->kind) {
	case D_PROGRAM:
		/* An imported file may be a program of its own; only the main
		 * file's name counts. */
		if (!is_main)
			break;
		if (s->have_program) {
			diag_error(d->loc, "program declared twice");
			diag_note(s->program_loc, "first declared here");
			break;
		}
		s->have_program = true;
		s->program_loc = d->loc;
		s->p->name = d->program;
		s->p->name_loc = d->loc;
		break;
	case D_IMPORT:
		break; /* the front end loaded it */
	case D_CONST:
		if (sema_declare(s, &s->values, d->konst->name, SYM_CONST, d->konst, d->konst->loc))
			ptrvec_push(s->a, &s->consts, d->konst);
		break;
	case D_HEADER:
		collect_header(s, d);
		break;
	case D_ALIAS:
		if (sema_declare(s, &s->aliases, d->alias->name, SYM_ALIAS, d->alias, d->alias->loc))
			ptrvec_push(s->a, &s->aliases_v, d->alias);
		break;
	case D_PARSER:
		ptrvec_push(s->a, &s->parsers, d);
		break;
	case D_SET:
		if (sema_declare(s, &s->values, d->set->name, SYM_SET, d->set, d->set->loc))
			ptrvec_push(s->a, &s->sets, d->set);
		break;
	case D_RULE:
		/* A duplicate rule still gets checked so its errors show too. */
		sema_declare(s, &s->rules, d->rule->name, SYM_RULE, d->rule, d->rule->loc);
		ptrvec_push(s->a, &s->rules_v, d->rule);
		break;
	case D_DEFAULT:
		if (s->have_default) {
			diag_error(d->loc, "default declared twice");
			diag_note(s->p->deflt_loc, "first declared here");
			break;
		}
		s->have_default = true;
		s->p->deflt = d->deflt;
		s->p->deflt_loc = d->loc;
		break;
	case D_TEST:
		sema_declare(s, &s->tests, d->test->name, SYM_TEST, d->test, d->test->loc);
		ptrvec_push(s->a, &s->tests_v, d->test);
		break;
	}
}

static void collect(struct sema *s, struct ast_file **files, int nfiles)
{
	s->p->deflt.kind = V_PASS;
	for (int i = 0; i < nfiles; i++) {
		if (!files[i])
			continue;
		for (int j = 0; j < files[i]->ndecls; j++)
			if (files[i]->decls[j])
				collect_decl(s, files[i]->decls[j], i == nfiles - 1);
	}
	if (s->have_default)
		check_verdict(s, &s->p->deflt, VCTX_DEFAULT);
}

static void check_program(struct sema *s, struct ast_file *main)
{
	if (s->have_program || !main)
		return;
	struct xdpl_loc loc = { 1, 1, 1, 1, main->file_id };
	diag_error(loc, "missing `program NAME;` at the start of the file");
}

/* ---------------------------------------------------------------- entry point */

#define PUBLISH(dst, n, vec)                                  \
	do {                                                  \
		(dst) = (void *)(vec).items;                  \
		(n) = (vec).len;                              \
	} while (0)

int sema_check(struct arena *a, struct ast_file **files, int nfiles, struct sema_program *out)
{
	int errors_before = diag_error_count();
	memset(out, 0, sizeof(*out));
	struct sema S = { .a = a, .p = out };
	struct sema *s = &S;
	struct ast_file *main = nfiles > 0 ? files[nfiles - 1] : NULL;
	if (main) {
		s->main_file = main->file_id;
		out->main_path = main->path ? main->path : diag_source_path(main->file_id);
	}

	collect(s, files, nfiles);
	check_headers(s);      /* layouts: everything else names fields */
	check_aliases(s);
	check_consts(s);
	check_header_defaults(s); /* may use constants */
	check_sets(s);
	check_parser(s);
	check_rules(s);
	check_tests(s);
	check_program(s, main);

	PUBLISH(out->headers, out->nheaders, s->headers);
	PUBLISH(out->aliases, out->naliases, s->aliases_v);
	PUBLISH(out->consts, out->nconsts, s->consts);
	PUBLISH(out->sets, out->nsets, s->sets);
	PUBLISH(out->rules, out->nrules, s->rules_v);
	PUBLISH(out->tests, out->ntests, s->tests_v);
	return diag_error_count() > errors_before ? -1 : 0;
}
