/* Name resolution. An E_NAME is looked up in this order (design.md):
 * const, set/map, header instance (bare name: presence), alias (ip.src),
 * meta field (ip.proto), header field (tcp.dport), named flag bit
 * (tcp.flags.syn), pkt.len / pkt.ifindex / pkt.rxq. */
#include "sema_internal.h"

#include <string.h>

struct ast_header *find_header(struct sema *s, const char *name)
{
	struct symentry *e = sym_find(&s->values, name);
	return e && e->kind == SYM_HEADER ? e->ptr : NULL;
}

struct ast_set *find_set(struct sema *s, const char *name)
{
	struct symentry *e = sym_find(&s->values, name);
	return e && e->kind == SYM_SET ? e->ptr : NULL;
}

struct symentry *find_const(struct sema *s, const char *name)
{
	struct symentry *e = sym_find(&s->values, name);
	return e && e->kind == SYM_CONST ? e : NULL;
}

struct ast_rule *find_rule(struct sema *s, const char *name)
{
	struct symentry *e = sym_find(&s->rules, name);
	return e ? e->ptr : NULL;
}

/* Fields live on the layout (vlan2 uses vlan's). */
struct ast_field *find_field(const struct ast_header *h, const char *name)
{
	if (h && h->layout)
		h = h->layout;
	for (int i = 0; h && i < h->nfields; i++)
		if (h->fields[i] && !strcmp(h->fields[i]->name, name))
			return h->fields[i];
	return NULL;
}

static struct ast_flag *find_flag(const struct ast_field *f, const char *name)
{
	for (int i = 0; i < f->nflags; i++)
		if (!strcmp(f->flags[i]->name, name))
			return f->flags[i];
	return NULL;
}

/* ---------------------------------------------------------------- candidates */

void cands_headers(struct sema *s, struct ptrvec *v, bool with_meta)
{
	for (int i = 0; i < s->headers.len; i++) {
		struct ast_header *h = s->headers.items[i];
		if (with_meta || !h->is_meta)
			ptrvec_push(s->a, v, (void *)h->name);
	}
}

void cands_sets(struct sema *s, struct ptrvec *v, bool sets, bool maps)
{
	for (int i = 0; i < s->sets.len; i++) {
		struct ast_set *set = s->sets.items[i];
		if (set->is_map ? maps : sets)
			ptrvec_push(s->a, v, (void *)set->name);
	}
}

void cands_rules(struct sema *s, struct ptrvec *v)
{
	for (int i = 0; i < s->rules_v.len; i++)
		ptrvec_push(s->a, v, (void *)((struct ast_rule *)s->rules_v.items[i])->name);
}

void cands_values(struct sema *s, struct ptrvec *v)
{
	for (int i = 0; i < s->consts.len; i++)
		ptrvec_push(s->a, v, (void *)((struct ast_const *)s->consts.items[i])->name);
	cands_sets(s, v, true, true);
	cands_headers(s, v, false);
}

void cands_layout_fields(struct sema *s, const struct ast_header *h, struct ptrvec *v)
{
	if (h->layout)
		h = h->layout;
	for (int i = 0; i < h->nfields; i++)
		ptrvec_push(s->a, v, (void *)h->fields[i]->name);
}

/* Every dotted name a user can write: header fields, flags, meta fields,
 * aliases and pkt.*. */
void cands_fields(struct sema *s, struct ptrvec *v)
{
	for (int i = 0; i < s->headers.len; i++) {
		struct ast_header *h = s->headers.items[i];
		const struct ast_header *l = h->layout ? h->layout : h;
		for (int j = 0; j < l->nfields; j++) {
			struct ast_field *f = l->fields[j];
			ptrvec_push(s->a, v, arena_printf(s->a, "%s.%s", h->name, f->name));
			for (int k = 0; k < f->nflags; k++)
				ptrvec_push(s->a, v,
					    arena_printf(s->a, "%s.%s.%s", h->name, f->name,
							 f->flags[k]->name));
		}
	}
	for (int i = 0; i < s->aliases_v.len; i++)
		ptrvec_push(s->a, v, (void *)((struct ast_alias *)s->aliases_v.items[i])->name);
	ptrvec_push(s->a, v, "pkt.len");
	ptrvec_push(s->a, v, "pkt.ifindex");
	ptrvec_push(s->a, v, "pkt.rxq");
}

/* ---------------------------------------------------------------- aliases */

struct xdpl_type alias_type(struct sema *s, const struct ast_alias *al)
{
	(void)s;
	struct xdpl_type t = ty_make(TY_NONE, 0);
	for (int i = 0; i < al->nalts; i++) {
		struct xdpl_type at = al->alts[i]->type;
		if (at.kind == TY_NONE)
			return ty_make(TY_NONE, 0);
		if (i == 0 || (at.kind == TY_UINT && t.kind == TY_UINT && at.bits > t.bits))
			t = at;
		/* ip4 alternatives are read as IPv4-mapped ip6 (::ffff:a.b.c.d)
		 * where the context does not choose a family (limit per, hash). */
		else if ((at.kind == TY_IP6 && t.kind == TY_IP4))
			t = at;
	}
	return t;
}

struct xdpl_type alias_pick(const struct ast_alias *al, enum xdpl_type_kind k)
{
	struct xdpl_type best = ty_make(TY_NONE, 0);
	enum xdpl_type_kind want = k == TY_INT_LIT ? TY_UINT : k;
	for (int i = 0; i < al->nalts; i++) {
		struct xdpl_type t = al->alts[i]->type;
		if (t.kind != want)
			continue;
		if (best.kind == TY_NONE || (t.kind == TY_UINT && t.bits > best.bits))
			best = t;
	}
	/* An integer literal may also be compared with a bool alternative. */
	if (best.kind == TY_NONE && k == TY_INT_LIT)
		return alias_pick(al, TY_BOOL);
	return best;
}

/* ---------------------------------------------------------------- resolution */

static void set_ref(struct ast_expr *e, enum ref_kind k, struct ast_header *h, struct ast_field *f,
		    struct xdpl_type t)
{
	e->ref.kind = k;
	e->ref.hdr = h;
	e->ref.field = f;
	e->type = t;
}

/* Bare names inside a bytes() size expression are the header's own
 * earlier fields (`bytes((ihl - 5) * 4)`). Returns 1 resolved, 0 not a
 * field of the header, -1 reported. */
static int resolve_size_field(struct sema *s, struct ast_expr *e, const char *fname)
{
	struct ast_header *h = s->size_hdr;
	for (int i = 0; i < h->nfields; i++) {
		struct ast_field *f = h->fields[i];
		if (strcmp(f->name, fname))
			continue;
		if (i >= s->size_limit) {
			diag_error(e->loc, "the size of '%s' can only use fields before it; '%s' comes after it",
				   h->fields[s->size_limit]->name, fname);
			return -1;
		}
		if (f->type.kind != TY_UINT && f->type.kind != TY_BOOL) {
			diag_error(e->loc, "the size of '%s' must be computed from integer fields; '%s' is %s",
				   h->fields[s->size_limit]->name, fname, ty_name(s, f->type));
			return -1;
		}
		set_ref(e, REF_FIELD, h, f, f->type);
		return 1;
	}
	return 0;
}

static bool resolve_bare(struct sema *s, struct ast_expr *e)
{
	if (s->size_hdr) {
		int r = resolve_size_field(s, e, e->name);
		if (r)
			return r > 0;
	}
	struct symentry *se = sym_find(&s->values, e->name);
	if (se && se->kind == SYM_CONST) {
		e->ref.kind = REF_CONST;
		e->ref.konst = se->ptr;
		if (!fold_const(s, se))
			return false;
		if (!se->collection) {
			struct ast_const *k = se->ptr;
			switch (k->folded.kind) {
			case LIT_INT: e->type = ty_make(TY_INT_LIT, 64); break;
			case LIT_BOOL: e->type = ty_make(TY_BOOL, 1); break;
			case LIT_IP4: e->type = ty_make(TY_IP4, 32); break;
			case LIT_IP6: e->type = ty_make(TY_IP6, 128); break;
			case LIT_MAC: e->type = ty_make(TY_MAC, 48); break;
			default: break; /* prefixes, strings: not values */
			}
		}
		return true;
	}
	if (se && se->kind == SYM_SET) {
		e->ref.kind = REF_SET;
		e->ref.set = se->ptr;
		return true;
	}
	if (se && se->kind == SYM_HEADER) {
		set_ref(e, REF_HEADER, se->ptr, NULL, ty_make(TY_COND, 0));
		return true;
	}
	struct symentry *al = sym_find(&s->aliases, e->name);
	if (al) {
		e->ref.kind = REF_ALIAS;
		e->ref.alias = al->ptr;
		e->type = alias_type(s, al->ptr);
		return e->type.kind != TY_NONE;
	}
	struct ptrvec c = { 0 };
	if (s->size_hdr) {
		cands_layout_fields(s, s->size_hdr, &c);
		diag_error(e->loc, "unknown field '%s' in header %s%s", e->name, s->size_hdr->name,
			   did_you_mean(s, e->name, &c));
		return false;
	}
	cands_values(s, &c);
	diag_error(e->loc, "unknown name '%s'%s", e->name, did_you_mean(s, e->name, &c));
	return false;
}

static bool resolve_pkt(struct ast_expr *e, const char *rest)
{
	static const char *const names[] = { "len", "ifindex", "rxq" };
	for (int i = 0; i < 3; i++) {
		if (!strcmp(rest, names[i])) {
			e->ref.kind = REF_PKT;
			e->ref.pkt_field = (enum pkt_field)i;
			e->type = ty_make(TY_UINT, 32);
			return true;
		}
	}
	return false;
}

static void unknown_dotted(struct sema *s, struct ast_expr *e, const char *head,
			   struct ast_header *h, struct ast_field *f)
{
	struct ptrvec c = { 0 };
	cands_fields(s, &c);
	const char *hint = did_you_mean(s, e->name, &c);
	if (*hint)
		diag_error(e->loc, "unknown field '%s'%s", e->name, hint);
	else if (f && f->nflags == 0)
		diag_error(e->loc, "unknown field '%s': %s.%s has no named bits", e->name, head, f->name);
	else if (h || !strcmp(head, "pkt"))
		diag_error(e->loc, "unknown field '%s'", e->name);
	else
		diag_error(e->loc, "unknown field '%s': there is no header '%s'", e->name, head);
}

bool resolve_name(struct sema *s, struct ast_expr *e)
{
	memset(&e->ref, 0, sizeof(e->ref));
	e->type = ty_make(TY_NONE, 0);
	if (!e->name)
		return false;
	const char *dot = strchr(e->name, '.');
	if (!dot)
		return resolve_bare(s, e);

	const char *head = arena_strndup(s->a, e->name, (size_t)(dot - e->name));
	const char *rest = dot + 1;
	const char *dot2 = strchr(rest, '.');
	const char *fname = dot2 ? arena_strndup(s->a, rest, (size_t)(dot2 - rest)) : rest;
	struct ast_header *h = find_header(s, head);
	struct ast_field *f = h ? find_field(h, fname) : NULL;

	/* An alias named like a field is an error of its own; the field wins. */
	struct symentry *al = f && !dot2 ? NULL : sym_find(&s->aliases, e->name);
	if (al && !s->size_hdr) {
		e->ref.kind = REF_ALIAS;
		e->ref.alias = al->ptr;
		e->type = alias_type(s, al->ptr);
		return e->type.kind != TY_NONE; /* a broken alias was reported */
	}

	if (h && s->size_hdr && h == s->size_hdr && !dot2) {
		int r = resolve_size_field(s, e, fname);
		if (!r)
			unknown_dotted(s, e, head, h, f);
		return r > 0;
	}
	if (s->size_hdr && h) {
		diag_error(e->loc, "the size of '%s' can only use fields of header %s",
			   s->size_hdr->fields[s->size_limit]->name, s->size_hdr->name);
		return false;
	}
	if (f && !dot2) {
		set_ref(e, h->is_meta ? REF_META : REF_FIELD, h, f, f->type);
		return true;
	}
	if (f && dot2 && !strchr(dot2 + 1, '.')) {
		struct ast_flag *fl = find_flag(f, dot2 + 1);
		if (fl) {
			set_ref(e, REF_FLAG, h, f, ty_make(TY_BOOL, 1));
			e->ref.flag = fl;
			return true;
		}
	}
	if (!h && !strcmp(head, "pkt") && !dot2 && resolve_pkt(e, rest))
		return true;
	unknown_dotted(s, e, head, h, f);
	return false;
}
