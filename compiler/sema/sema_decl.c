/* Declarations (reference §8, §13): header layouts and their defaults, meta
 * blocks, aliases, sets and maps, and the parse graph. */
#include "sema_internal.h"

#include <inttypes.h>
#include <string.h>

/* ---------------------------------------------------------------- headers */

/* Same fields, in order, of the same types (defaults may differ). */
static bool same_layout(const struct ast_header *a, const struct ast_header *b)
{
	if (a->layout_of || b->layout_of)
		return a->layout_of && b->layout_of && !strcmp(a->layout_of, b->layout_of);
	if (a->is_meta || b->is_meta || a->nfields != b->nfields)
		return false;
	for (int i = 0; i < a->nfields; i++) {
		const struct ast_field *x = a->fields[i], *y = b->fields[i];
		if (strcmp(x->name, y->name) || x->type.kind != y->type.kind || x->type.bits != y->type.bits ||
		    x->max_bytes != y->max_bytes)
			return false;
	}
	return true;
}

void collect_header(struct sema *s, struct ast_decl *d)
{
	struct ast_header *h = d->header;
	if (!h->name)
		return;
	if (!strcmp(h->name, "pkt")) {
		diag_error(h->loc, "header name 'pkt' is reserved for packet metadata (pkt.len, pkt.ifindex, pkt.rxq)");
		return;
	}
	if (!strcmp(h->name, "payload") || !strcmp(h->name, "raw")) {
		diag_error(h->loc, "header name '%s' is reserved for test packet layers", h->name);
		return;
	}
	h->from_stdlib = d->from_stdlib;
	/* A file may declare a header the standard library declares (the
	 * spec's own vxlan example does): its declaration replaces the
	 * library's, and the library's parse states then extract it. */
	struct symentry *prev = d->from_stdlib ? NULL : sym_find(&s->values, h->name);
	if (prev && prev->kind == SYM_HEADER && ((struct ast_header *)prev->ptr)->from_stdlib &&
	    same_layout(prev->ptr, h)) {
		for (int i = 0; i < s->headers.len; i++)
			if (s->headers.items[i] == prev->ptr)
				s->headers.items[i] = h;
		prev->ptr = h;
		prev->loc = h->loc;
		return;
	}
	if (sema_declare(s, &s->values, h->name, SYM_HEADER, h, h->loc))
		ptrvec_push(s->a, &s->headers, h);
}

/* header B = A;  B uses A's layout (following chains, refusing cycles).
 * False after an error: B is then an empty header nobody checks again. */
static bool resolve_layout(struct sema *s, struct ast_header *h)
{
	struct ast_header *l = h;
	for (int depth = 0; l->layout_of; depth++) {
		struct ast_header *next = find_header(s, l->layout_of);
		if (!next) {
			struct ptrvec c = { 0 };
			cands_headers(s, &c, false);
			diag_error(h->loc, "unknown header '%s' in `header %s = %s;`%s", l->layout_of, h->name,
				   l->layout_of, did_you_mean(s, l->layout_of, &c));
			l = NULL;
			break;
		}
		if (next->is_meta) {
			diag_error(h->loc, "header '%s' cannot use the layout of meta block '%s'", h->name,
				   next->name);
			l = NULL;
			break;
		}
		if (depth > s->headers.len) {
			diag_error(h->loc, "header '%s' is defined as a copy of itself", h->name);
			l = NULL;
			break;
		}
		l = next;
	}
	h->layout = l ? l : h;
	if (!l) {
		h->nfields = 0;
		h->layout_of = NULL;
	}
	return l != NULL;
}

static const char *field_name(struct sema *s, const struct ast_header *h, const struct ast_field *f)
{
	return arena_printf(s->a, "%s.%s", h->name, f->name);
}

static void check_flags(struct sema *s, struct ast_header *h, struct ast_field *f)
{
	if (f->nflags && f->type.kind != TY_UINT) {
		diag_error(f->flags[0]->loc, "named bits need an integer field, but %s is %s",
			   field_name(s, h, f), ty_name(s, f->type));
		return;
	}
	for (int i = 0; i < f->nflags; i++) {
		struct ast_flag *fl = f->flags[i];
		for (int j = 0; j < i; j++) {
			if (!strcmp(f->flags[j]->name, fl->name)) {
				diag_error(fl->loc, "duplicate flag '%s' in %s", fl->name, field_name(s, h, f));
				note_first(f->flags[j]->loc);
				break;
			}
		}
		if (!fl->mask)
			diag_error(fl->loc, "flag '%s' has mask 0; it names no bit", fl->name);
		else if (!uint_fits(fl->mask, f->type.bits))
			diag_error(fl->loc, "flag mask 0x%" PRIx64 " does not fit in %s (%s)", fl->mask,
				   field_name(s, h, f), ty_name(s, f->type));
	}
}

/* bytes(EXPR) max N: EXPR over the fields before it, computed in 32 bits. */
static void check_bytes_field(struct sema *s, struct ast_header *h, struct ast_field *f, int i,
			      bool *seen_bytes)
{
	if (h->is_meta) {
		diag_error(f->loc, "meta block fields cannot be bytes()");
		return;
	}
	if (*seen_bytes)
		diag_error(f->loc, "header '%s' has two bytes() fields; only one, the last, is allowed",
			   h->name);
	else if (i != h->nfields - 1)
		diag_error(f->loc, "bytes() field '%s' must be the last field of header '%s'", f->name,
			   h->name);
	*seen_bytes = true;
	if (f->max_bytes <= 0)
		diag_error(f->loc, "bytes() field '%s' needs a maximum: `%s: bytes(EXPR) max N;`", f->name,
			   f->name);
	else if (f->max_bytes > 65535)
		diag_error(f->loc, "bytes() field '%s' has max %d; at most 65535", f->name, f->max_bytes);
	if (!f->size) {
		diag_error(f->loc, "bytes() field '%s' needs a size expression", f->name);
		return;
	}
	s->size_hdr = h;
	s->size_limit = i;
	struct xdpl_type t = check_value(s, f->size);
	s->size_hdr = NULL;
	if (t.kind == TY_INT_LIT)
		f->size->type = ty_make(TY_UINT, 32);
	else if (t.kind == TY_UINT && t.bits < 32)
		f->size->type = ty_make(TY_UINT, 32);
	else if (t.kind != TY_UINT && t.kind != TY_NONE)
		diag_error(f->size->loc, "the size of '%s' must be an integer, but %s is %s", f->name,
			   expr_str(s, f->size), ty_name(s, t));
}

/* Widths of the fixed-size types; 0: not a field type. */
static int field_width(struct ast_header *h, struct ast_field *f)
{
	switch (f->type.kind) {
	case TY_UINT:
		if (f->type.bits < 1 || f->type.bits > 64) {
			diag_error(f->loc, "field '%s' is %d bits wide; integer fields are 1..64 bits",
				   f->name, f->type.bits);
			return 0;
		}
		return f->type.bits;
	case TY_BOOL:
		f->type.bits = 1;
		return 1;
	case TY_MAC:
		f->type.bits = 48;
		return 48;
	case TY_IP4:
		f->type.bits = 32;
		return 32;
	case TY_IP6:
		f->type.bits = 128;
		return 128;
	default:
		diag_error(f->loc, "field '%s' of header '%s' has no valid type", f->name, h->name);
		return 0;
	}
}

/* Bit offsets, sizes and the whole-bytes rule (reference §13). */
static void compute_layout(struct sema *s, struct ast_header *h)
{
	int bit = 0, var_max = 0;
	bool seen_bytes = false;
	if (h->nfields == 0)
		diag_error(h->loc, "%s '%s' has no fields", h->is_meta ? "meta block" : "header", h->name);
	for (int i = 0; i < h->nfields; i++) {
		struct ast_field *f = h->fields[i];
		f->index = i;
		f->bit_offset = bit;
		for (int j = 0; j < i; j++) {
			if (!strcmp(h->fields[j]->name, f->name)) {
				diag_error(f->loc, "duplicate field '%s' in %s '%s'", f->name,
					   h->is_meta ? "meta block" : "header", h->name);
				note_first(h->fields[j]->loc);
				break;
			}
		}
		if (f->type.kind == TY_BYTES) {
			check_bytes_field(s, h, f, i, &seen_bytes);
			if (f->max_bytes > 0)
				var_max += f->max_bytes;
			continue;
		}
		int w = field_width(h, f);
		bool addr = f->type.kind == TY_MAC || f->type.kind == TY_IP4 || f->type.kind == TY_IP6;
		if (addr && bit % 8)
			diag_error(f->loc, "field '%s' (%s) starts at bit %d of header '%s'; address fields must start on a byte boundary",
				   f->name, ty_name(s, f->type), bit, h->name);
		check_flags(s, h, f);
		bit += w;
	}
	if (!h->is_meta && bit % 8)
		diag_error(h->loc, "header '%s' is %d bits long; a header must be a whole number of bytes (pad it to %d bits)",
			   h->name, bit, (bit + 7) / 8 * 8);
	h->fixed_bytes = (bit + 7) / 8;
	h->max_bytes = h->fixed_bytes + var_max;
}

void check_headers(struct sema *s)
{
	bool *bad = arena_alloc(s->a, (size_t)s->headers.len + 1);
	for (int i = 0; i < s->headers.len; i++) {
		struct ast_header *h = s->headers.items[i];
		h->index = i;
		bad[i] = !resolve_layout(s, h);
	}
	for (int i = 0; i < s->headers.len; i++) {
		struct ast_header *h = s->headers.items[i];
		if (h->layout == h && !bad[i])
			compute_layout(s, h);
	}
	/* Instances (vlan2) share the layout's fields and sizes. */
	for (int i = 0; i < s->headers.len; i++) {
		struct ast_header *h = s->headers.items[i];
		if (h->layout == h)
			continue;
		h->fields = h->layout->fields;
		h->nfields = h->layout->nfields;
		h->fixed_bytes = h->layout->fixed_bytes;
		h->max_bytes = h->layout->max_bytes;
	}
}

/* total_len(), payload_len(), checksum(), checksum(payload|pseudo). */
static void check_default_call(struct sema *s, struct ast_header *h, struct ast_field *f,
			       struct ast_expr *e)
{
	static const char *const fns[] = { "total_len", "payload_len", "checksum" };
	int fn = -1;
	for (int i = 0; i < 3; i++)
		if (!strcmp(e->name, fns[i]))
			fn = i;
	if (fn < 0) {
		struct ptrvec c = { 0 };
		for (int i = 0; i < 3; i++)
			ptrvec_push(s->a, &c, (void *)fns[i]);
		const char *hint = did_you_mean(s, e->name, &c);
		diag_error(e->loc, "unknown default function '%s()'%s%s", e->name, hint,
			   *hint ? "" : "; use total_len(), payload_len(), checksum(), checksum(payload) or checksum(pseudo)");
		return;
	}
	if (h->is_meta) {
		diag_error(e->loc, "meta fields cannot have computed defaults");
		return;
	}
	if (f->type.kind != TY_UINT || f->type.bits < 16) {
		diag_error(e->loc, "%s() needs an integer field of at least 16 bits, but %s is %s",
			   e->name, field_name(s, h, f), ty_name(s, f->type));
		return;
	}
	e->type = f->type;
	if (fn < 2 && e->nargs) {
		diag_error(e->args[0]->loc, "%s() takes no arguments", e->name);
		return;
	}
	/* checksum([payload|pseudo][, optional]): optional = a zero field
	 * means "no checksum" and rewrites leave it alone (UDP over IPv4) */
	if (fn == 2) {
		int n = e->nargs;
		if (n >= 1 && e->args[n - 1]->kind == E_NAME && !strcmp(e->args[n - 1]->name, "optional"))
			n--;
		if (n > 1 || (n == 1 && (e->args[0]->kind != E_NAME ||
					 (strcmp(e->args[0]->name, "payload") &&
					  strcmp(e->args[0]->name, "pseudo")))))
			diag_error(e->args[n > 1 ? 1 : 0]->loc,
				   "checksum() takes no argument, `payload` or `pseudo` (then optionally `optional`)");
	}
}

static void check_default(struct sema *s, struct ast_header *h, struct ast_field *f)
{
	struct ast_expr *e = f->deflt;
	if (e->kind == E_CALL) {
		check_default_call(s, h, f, e);
		return;
	}
	const char *what = field_name(s, h, f);
	if (f->type.kind == TY_BYTES) {
		if (e->kind != E_LIT || (e->lit.kind != LIT_HEX && e->lit.kind != LIT_STRING)) {
			diag_error(e->loc, "the default of bytes() field %s must be hex \"...\" or a string",
				   what);
			return;
		}
		if (f->max_bytes > 0 && e->lit.len > f->max_bytes)
			diag_error(e->loc, "default of %d bytes does not fit in %s (max %d)", e->lit.len,
				   what, f->max_bytes);
		return;
	}
	if (check_value(s, e).kind == TY_NONE)
		return;
	if (e->kind != E_LIT && !(e->kind == E_NAME && e->ref.kind == REF_CONST)) {
		diag_error(e->loc, "the default of %s must be a literal or a constant", what);
		return;
	}
	fit_value(s, e, f->type, what, FIT_ELEM);
}

void check_header_defaults(struct sema *s)
{
	for (int i = 0; i < s->headers.len; i++) {
		struct ast_header *h = s->headers.items[i];
		if (h->layout != h)
			continue;
		for (int j = 0; j < h->nfields; j++)
			if (h->fields[j]->deflt)
				check_default(s, h, h->fields[j]);
	}
}

/* ---------------------------------------------------------------- aliases */

static bool alias_types_compatible(struct xdpl_type a, struct xdpl_type b)
{
	if (a.kind == b.kind)
		return true;
	return (a.kind == TY_IP4 || a.kind == TY_IP6) && (b.kind == TY_IP4 || b.kind == TY_IP6);
}

static void check_alias(struct sema *s, struct ast_alias *al)
{
	const char *dot = strchr(al->name, '.');
	if (dot) {
		struct ast_header *h = find_header(s, arena_strndup(s->a, al->name, (size_t)(dot - al->name)));
		if (h && find_field(h, dot + 1)) {
			diag_error(al->loc, "alias '%s' has the name of a field of %s '%s'", al->name,
				   h->is_meta ? "meta block" : "header", h->name);
			return;
		}
	}
	bool ok = true;
	for (int i = 0; i < al->nalts; i++) {
		struct ast_expr *e = al->alts[i];
		if (e->kind != E_NAME || !resolve_name(s, e)) {
			if (e->kind != E_NAME)
				diag_error(e->loc, "alias alternatives must be header or meta fields");
			ok = false;
			continue;
		}
		if ((e->ref.kind != REF_FIELD && e->ref.kind != REF_META) || e->type.kind == TY_BYTES) {
			diag_error(e->loc, "alias alternatives must be header or meta fields; %s is not one",
				   e->name);
			ok = false;
			continue;
		}
		for (int j = 0; j < i; j++) {
			if (ok && !alias_types_compatible(al->alts[j]->type, e->type)) {
				diag_error(e->loc, "alias '%s' mixes %s (%s) and %s (%s)", al->name,
					   al->alts[j]->name, ty_name(s, al->alts[j]->type), e->name,
					   ty_name(s, e->type));
				ok = false;
			}
		}
	}
	/* A broken alias has no type, so its uses stay quiet. */
	if (!ok)
		for (int i = 0; i < al->nalts; i++)
			al->alts[i]->type = ty_make(TY_NONE, 0);
}

void check_aliases(struct sema *s)
{
	for (int i = 0; i < s->aliases_v.len; i++)
		check_alias(s, s->aliases_v.items[i]);
}

/* ---------------------------------------------------------------- sets and maps */

/* Defaults when `max` is not given. BPF needs a size; 1024 entries is
 * small enough to cost nothing and large enough for hand-written policies.
 * dev/cpu/xsk maps are indexed by ifindex slot, CPU or queue: 64. */
enum { SET_DEFAULT_MAX = 1024, XMAP_DEFAULT_MAX = 64, SET_MAX_MAX = 16 * 1024 * 1024 };

const char *set_kind_name(const struct ast_set *set)
{
	switch (set->kind) {
	case SK_SET_HASH: return "hash set";
	case SK_SET_LPM: return "lpm set";
	case SK_MAP_HASH: return "hash map";
	case SK_MAP_LRU: return "lru map";
	case SK_MAP_ARRAY: return "array map";
	case SK_MAP_PERCPU_HASH: return "percpu_hash map";
	case SK_MAP_PERCPU_ARRAY: return "percpu_array map";
	case SK_MAP_DEVMAP: return "devmap";
	case SK_MAP_CPUMAP: return "cpumap";
	case SK_MAP_XSKMAP: return "xskmap";
	}
	return "map";
}

bool set_is_hashlike_map(const struct ast_set *set)
{
	return set->kind == SK_MAP_HASH || set->kind == SK_MAP_LRU || set->kind == SK_MAP_PERCPU_HASH;
}

static bool storable_type(struct xdpl_type t)
{
	switch (t.kind) {
	case TY_UINT:
		return t.bits == 8 || t.bits == 16 || t.bits == 32 || t.bits == 64;
	case TY_BOOL:
	case TY_MAC:
	case TY_IP4:
	case TY_IP6:
		return true;
	default:
		return false;
	}
}

static void check_set_types(struct sema *s, struct ast_set *set)
{
	const char *what = set->is_map ? "map" : "set";
	bool keyed = set->kind == SK_SET_HASH || set->kind == SK_SET_LPM || set_is_hashlike_map(set);
	if (keyed && (set->nkey < 1 || set->nkey > 8)) {
		diag_error(set->loc, "%s '%s' needs 1 to 8 key types", what, set->name);
		return;
	}
	if (set->kind == SK_SET_LPM) {
		if (set->nkey != 1 || (set->key[0].kind != TY_IP4 && set->key[0].kind != TY_IP6))
			diag_error(set->key_loc[0], "lpm sets take one ip4 or ip6 key, not %s",
				   ty_name(s, set->key[0]));
		return;
	}
	for (int i = 0; keyed && i < set->nkey; i++)
		if (!storable_type(set->key[i]))
			diag_error(set->key_loc[i], "%s key type %s is not supported; use u8, u16, u32, u64, bool, mac, ip4 or ip6",
				   what, ty_name(s, set->key[i]));
	bool valued = set->is_map && set->kind != SK_MAP_DEVMAP && set->kind != SK_MAP_CPUMAP &&
		      set->kind != SK_MAP_XSKMAP;
	if (valued && !storable_type(set->value))
		diag_error(set->loc, "map '%s' has value type %s, which is not supported; use u8, u16, u32, u64, bool, mac, ip4 or ip6",
			   set->name, ty_name(s, set->value));
}

static void check_set_max(struct ast_set *set)
{
	/* The parser refuses `max 0`; an absent max is 0 here. */
	if (set->max > SET_MAX_MAX)
		diag_error(set->max_loc, "max %" PRIu64 " is too large; at most %d entries", set->max,
			   SET_MAX_MAX);
	if (set->max == 0)
		set->max = set->kind == SK_MAP_DEVMAP || set->kind == SK_MAP_CPUMAP ||
					   set->kind == SK_MAP_XSKMAP
				   ? XMAP_DEFAULT_MAX
				   : SET_DEFAULT_MAX;
}

/* How many entries an element makes: ranges expand in hash sets. */
static uint64_t elem_count(const struct ast_expr *el)
{
	if (el->kind == E_RANGE && el->lhs->kind == E_LIT && el->rhs->kind == E_LIT) {
		const struct xdpl_lit *lo = &el->lhs->lit, *hi = &el->rhs->lit;
		uint64_t a = lo->u, b = hi->u;
		if (lo->kind == LIT_IP4) {
			a = (uint64_t)lo->bytes[0] << 24 | lo->bytes[1] << 16 | lo->bytes[2] << 8 | lo->bytes[3];
			b = (uint64_t)hi->bytes[0] << 24 | hi->bytes[1] << 16 | hi->bytes[2] << 8 | hi->bytes[3];
		}
		return b >= a ? b - a + 1 : 0;
	}
	if (el->kind == E_TUPLE) {
		uint64_t n = 1;
		for (int i = 0; i < el->nargs; i++) {
			uint64_t k = elem_count(el->args[i]);
			n = k && n > UINT64_MAX / k ? UINT64_MAX : n * k;
		}
		return n;
	}
	return 1;
}

/* A canonical spelling of an element, to find duplicates. */
static const char *elem_key(struct sema *s, const struct ast_expr *el)
{
	const struct xdpl_lit *l = el->kind == E_LIT ? &el->lit
				 : el->kind == E_NAME && el->ref.konst ? &el->ref.konst->folded : NULL;
	if (l)
		return lit_str(s, l);
	if (el->kind == E_RANGE)
		return arena_printf(s->a, "%s..%s", elem_key(s, el->lhs), elem_key(s, el->rhs));
	const char *out = "(";
	for (int i = 0; i < el->nargs; i++)
		out = arena_printf(s->a, "%s%s,", out, elem_key(s, el->args[i]));
	return out;
}

static void check_set_init(struct sema *s, struct ast_set *set)
{
	struct ast_expr *init = set->init;
	if (set->is_map) {
		diag_error(init->loc, "map '%s' cannot have initial elements; fill it at run time with `xdplc set`",
			   set->name);
		return;
	}
	if (init->kind != E_SETLIT) {
		diag_error(init->loc, "the initial elements of set '%s' must be written { ... }", set->name);
		return;
	}
	expand_setlit(s, init);
	struct keyspec k = { .n = set->nkey, .what = arena_printf(s->a, "set '%s'", set->name) };
	for (int i = 0; i < set->nkey && i < 8; i++)
		k.types[i] = set->key[i];
	bool lpm = set->kind == SK_SET_LPM;
	struct symtab seen = { 0 };
	uint64_t count = 0;
	for (int i = 0; i < init->nargs; i++) {
		struct ast_expr *el = init->args[i];
		int errs = diag_error_count();
		check_elem(s, el, &k, lpm, !lpm);
		if (diag_error_count() != errs)
			continue;
		const char *key = elem_key(s, el);
		struct symentry *prev = sym_add(s->a, &seen, key, SYM_CONST, el, el->loc);
		if (prev) {
			diag_warning(el->loc, "duplicate element %s in set '%s'", expr_str(s, el), set->name);
			continue;
		}
		uint64_t n = elem_count(el);
		count = count + n < count ? UINT64_MAX : count + n;
	}
	if (count > set->max)
		diag_error(init->loc, "set '%s' has %" PRIu64 " initial elements but max %" PRIu64,
			   set->name, count, set->max);
}

void check_sets(struct sema *s)
{
	for (int i = 0; i < s->sets.len; i++) {
		struct ast_set *set = s->sets.items[i];
		set->index = i;
		int errs = diag_error_count();
		check_set_types(s, set);
		check_set_max(set);
		if (diag_error_count() != errs) /* its uses would only repeat it */
			sym_add(s->a, &s->broken, set->name, SYM_SET, set, set->loc);
		else if (set->init)
			check_set_init(s, set);
	}
}

/* ---------------------------------------------------------------- parse graph */

/* A state while declarations are merged: its extract/set statements and
 * its single transition (select or next/accept/reject). */
struct mstate {
	struct ast_state *st;
	struct ptrvec pre;
	struct ast_pstmt *trans;
	struct ast_pstmt *extract; /* the first extract, for conflict messages */
};

/* Names of states the merge invents contain '#' so no user name clashes. */
static const char *state_display(struct sema *s, const char *name)
{
	const char *h = strchr(name, '#');
	return h ? arena_strndup(s->a, name, (size_t)(h - name)) : name;
}

static bool has_value_arms(const struct ast_pstmt *t)
{
	if (!t || t->kind != PS_SELECT)
		return false;
	for (int i = 0; i < t->narms; i++)
		if (!t->arms[i]->is_default)
			return true;
	return false;
}

static struct ast_arm *default_arm(const struct ast_pstmt *t)
{
	for (int i = 0; t && t->kind == PS_SELECT && i < t->narms; i++)
		if (t->arms[i]->is_default)
			return t->arms[i];
	return NULL;
}

static struct mstate *new_mstate(struct sema *s, struct ptrvec *order, struct ast_state *st)
{
	struct mstate *m = NEW(s->a, struct mstate);
	m->st = st;
	sym_add(s->a, &s->states, st->name, SYM_STATE, m, st->loc);
	ptrvec_push(s->a, order, m);
	return m;
}

static void push_arm(struct sema *s, struct ptrvec *arms, struct ast_target target, struct xdpl_loc loc)
{
	struct ast_arm *arm = NEW(s->a, struct ast_arm);
	arm->is_default = true;
	arm->target = target;
	arm->loc = loc;
	ptrvec_push(s->a, arms, arm);
}

static bool same_target(const struct ast_target *a, const struct ast_target *b)
{
	if (a->accept || a->reject || b->accept || b->reject)
		return a->accept == b->accept && a->reject == b->reject;
	return a->state && b->state && !strcmp(a->state, b->state);
}

static bool same_arm(const struct ast_arm *a, const struct ast_arm *b)
{
	if (a->nvalues != b->nvalues || !same_target(&a->target, &b->target))
		return false;
	for (int i = 0; i < a->nvalues; i++) {
		const struct ast_expr *x = a->values[i], *y = b->values[i];
		if (x->kind != E_LIT || y->kind != E_LIT || x->lit.kind != y->lit.kind || x->lit.u != y->lit.u)
			return false;
	}
	return true;
}

/* Every value arm of the old select is also in the new one (a state
 * declared again the same way, like the spec's vxlan example over the
 * stdlib's udp state): replacing loses nothing. */
static bool select_covers(const struct ast_pstmt *nt, const struct ast_pstmt *ot)
{
	if (nt->kind != PS_SELECT || ot->kind != PS_SELECT || !nt->expr || !ot->expr ||
	    nt->expr->kind != E_NAME || ot->expr->kind != E_NAME || strcmp(nt->expr->name, ot->expr->name))
		return false;
	for (int i = 0; i < ot->narms; i++) {
		if (ot->arms[i]->is_default)
			continue;
		bool found = false;
		for (int j = 0; j < nt->narms && !found; j++)
			found = same_arm(nt->arms[j], ot->arms[i]);
		if (!found)
			return false;
	}
	return true;
}

/* A state declared again: its select arms are tried first (design.md).
 * Same select key: one select with the new arms, then the old ones. A
 * different key: the new select falls back (`_`) to a state holding the
 * old transition. A new `_` arm or `next` replaces the old transition. */
static void merge_transition(struct sema *s, struct ptrvec *order, struct mstate *m,
			     struct ast_pstmt *nt)
{
	struct ast_pstmt *ot = m->trans;
	if (!nt)
		return;
	if (!ot) {
		m->trans = nt;
		return;
	}
	struct ast_arm *nd = default_arm(nt);
	struct ast_arm *od = default_arm(ot);
	bool same_key = nt->kind == PS_SELECT && ot->kind == PS_SELECT && nt->expr && ot->expr &&
			nt->expr->kind == E_NAME && ot->expr->kind == E_NAME &&
			!strcmp(nt->expr->name, ot->expr->name);
	/* `_ -> accept` over a select whose own `_` is `accept` too changes
	 * nothing: the old arms are kept after the new ones (a user's udp
	 * ports do not hide the stdlib's VXLAN port). */
	bool keep_old = nd && same_key && od && same_target(&nd->target, &od->target);
	if (nt->kind != PS_SELECT || (nd && !keep_old)) {
		if (has_value_arms(ot) && !select_covers(nt, ot)) {
			diag_warning(nd ? nd->loc : nt->loc,
				     "this %s replaces the select of the earlier declaration of state '%s'; its arms will never be tried",
				     nd ? "`_` arm" : "transition", m->st->name);
			diag_note(ot->loc, "earlier select here");
		}
		m->trans = nt;
		return;
	}
	struct ast_pstmt *merged = NEW(s->a, struct ast_pstmt);
	*merged = *nt;
	struct ptrvec arms = { 0 };
	for (int i = 0; i < nt->narms; i++)
		if (!nt->arms[i]->is_default)
			ptrvec_push(s->a, &arms, nt->arms[i]);
	if (ot->kind == PS_NEXT) {
		push_arm(s, &arms, ot->target, ot->loc);
	} else if (ot->expr && nt->expr && ot->expr->kind == E_NAME && nt->expr->kind == E_NAME &&
		   !strcmp(ot->expr->name, nt->expr->name)) {
		for (int i = 0; i < ot->narms; i++) {
			bool dup = false; /* declared again the same way */
			for (int j = 0; j < nt->narms && !dup; j++)
				dup = !ot->arms[i]->is_default && same_arm(nt->arms[j], ot->arms[i]);
			if (!dup)
				ptrvec_push(s->a, &arms, ot->arms[i]);
		}
	} else {
		struct ast_state *cont = NEW(s->a, struct ast_state);
		cont->name = arena_printf(s->a, "%s#%d", m->st->name, order->len);
		cont->loc = ot->loc;
		cont->loop = m->st->loop; /* a continuation runs as often as its state */
		struct mstate *cm = new_mstate(s, order, cont);
		cm->trans = ot;
		struct ast_target t = { .state = cont->name, .loc = ot->loc };
		push_arm(s, &arms, t, ot->loc);
	}
	merged->arms = (struct ast_arm **)arms.items;
	merged->narms = arms.len;
	m->trans = merged;
}

static void merge_extract(struct sema *s, struct mstate *m, struct ast_pstmt *ps, bool again)
{
	if (again && m->extract) {
		for (int i = 0; i < m->pre.len; i++) {
			struct ast_pstmt *p = m->pre.items[i];
			if (p->kind == PS_EXTRACT && !strcmp(p->header, ps->header))
				return; /* extracting the same header again: once is enough */
		}
		diag_error(name_loc(s, ps->loc, ps->header), "state '%s' already extracts '%s'; declaring it again cannot extract '%s'",
			   m->st->name, m->extract->header, ps->header);
		diag_note(m->extract->loc, "'%s' is extracted here", m->extract->header);
		return;
	}
	if (!m->extract)
		m->extract = ps;
	ptrvec_push(s->a, &m->pre, ps);
}

static void add_state(struct sema *s, struct ptrvec *order, struct ast_state *st)
{
	struct symentry *prev = sym_find(&s->states, st->name);
	struct mstate *m = prev ? prev->ptr : new_mstate(s, order, st);
	bool again = prev != NULL;
	if (again && st->loop) {
		if (m->st->loop && m->st->loop != st->loop)
			diag_error(st->loc, "state '%s' is declared with loop %d here and loop %d before",
				   st->name, st->loop, m->st->loop);
		m->st->loop = st->loop;
	}
	struct ast_pstmt *trans = NULL;
	for (int i = 0; i < st->nstmts; i++) {
		struct ast_pstmt *ps = st->stmts[i];
		if (ps->kind == PS_NEXT || ps->kind == PS_SELECT) {
			if (trans)
				diag_error(ps->loc, "state '%s' already has a transition; a state has one `select` or `next`",
					   st->name);
			else
				trans = ps;
			continue;
		}
		if (trans) {
			diag_error(ps->loc, "this statement comes after the transition of state '%s' and would never run",
				   st->name);
			continue;
		}
		if (ps->kind == PS_EXTRACT)
			merge_extract(s, m, ps, again);
		else
			ptrvec_push(s->a, &m->pre, ps);
	}
	if (again)
		merge_transition(s, order, m, trans);
	else
		m->trans = trans;
}

static void resolve_target(struct sema *s, struct ast_target *t)
{
	if (t->accept || t->reject || !t->state)
		return;
	struct symentry *e = sym_find(&s->states, t->state);
	if (e) {
		t->resolved = ((struct mstate *)e->ptr)->st;
		return;
	}
	struct ptrvec c = { 0 };
	for (int i = 0; i < s->states.cap; i++)
		if (s->states.slots[i].name && !strchr(s->states.slots[i].name, '#'))
			ptrvec_push(s->a, &c, (void *)s->states.slots[i].name);
	diag_error(t->loc, "unknown state '%s'%s", t->state, did_you_mean(s, t->state, &c));
}

static void check_extract(struct sema *s, struct ast_pstmt *ps)
{
	struct ast_header *h = find_header(s, ps->header);
	if (!h) {
		struct ptrvec c = { 0 };
		cands_headers(s, &c, false);
		diag_error(name_loc(s, ps->loc, ps->header), "unknown header '%s'%s", ps->header, did_you_mean(s, ps->header, &c));
		return;
	}
	if (h->is_meta) {
		diag_error(name_loc(s, ps->loc, ps->header), "'%s' is a meta block; only headers can be extracted (meta fields are assigned with `set`)",
			   h->name);
		return;
	}
	ps->hdr = h;
}

static void check_pset(struct sema *s, struct ast_pstmt *ps)
{
	struct ast_expr *lhs = ps->lhs;
	bool lhs_ok = lhs && lhs->kind == E_NAME && resolve_name(s, lhs);
	if (lhs_ok && lhs->ref.kind != REF_META) {
		diag_error(lhs->loc, "`set` assigns meta fields (declared in `meta NAME { ... }`); %s is not one",
			   expr_str(s, lhs));
		lhs_ok = false;
	}
	if (!ps->expr)
		return;
	struct xdpl_type t = check_value(s, ps->expr);
	if (lhs_ok && t.kind != TY_NONE)
		fit_value(s, ps->expr, lhs->type, lhs->name, FIT_ASSIGN);
}

static void check_select(struct sema *s, struct ast_state *st, struct ast_pstmt *ps)
{
	struct xdpl_type kt = ps->expr ? check_value(s, ps->expr) : ty_make(TY_NONE, 0);
	struct keyspec k = { .n = 1, .what = "the select key" };
	k.exprs[0] = ps->expr;
	k.types[0] = kt;
	bool seen_default = false;
	for (int i = 0; i < ps->narms; i++) {
		struct ast_arm *arm = ps->arms[i];
		if (seen_default) {
			diag_warning(arm->loc, "this arm comes after `_` in state '%s' and is never taken",
				     state_display(s, st->name));
			break;
		}
		seen_default |= arm->is_default;
		for (int j = 0; kt.kind != TY_NONE && j < arm->nvalues; j++)
			check_elem(s, arm->values[j], &k, true, true);
	}
	/* An explicit end: no arm matches -> accept. */
	if (!seen_default) {
		struct ptrvec arms = { 0 };
		for (int i = 0; i < ps->narms; i++)
			ptrvec_push(s->a, &arms, ps->arms[i]);
		struct ast_target acc = { .accept = true, .loc = ps->loc };
		push_arm(s, &arms, acc, ps->loc);
		ps->arms = (struct ast_arm **)arms.items;
		ps->narms = arms.len;
	}
}

/* Finishes a merged state: statements = extracts/sets + one transition
 * (a state without one accepts). */
static void finish_state(struct sema *s, struct mstate *m, int index)
{
	struct ast_state *st = m->st;
	if (!m->trans) {
		struct ast_pstmt *acc = NEW(s->a, struct ast_pstmt);
		acc->kind = PS_NEXT;
		acc->loc = st->loc;
		acc->target.accept = true;
		acc->target.loc = st->loc;
		m->trans = acc;
	}
	ptrvec_push(s->a, &m->pre, m->trans);
	st->stmts = (struct ast_pstmt **)m->pre.items;
	st->nstmts = m->pre.len;
	st->index = index; /* `loop N` is range-checked by the parser */
}

static void check_state(struct sema *s, struct ast_state *st)
{
	for (int i = 0; i < st->nstmts; i++) {
		struct ast_pstmt *ps = st->stmts[i];
		switch (ps->kind) {
		case PS_EXTRACT:
			check_extract(s, ps);
			break;
		case PS_SET:
			check_pset(s, ps);
			break;
		case PS_NEXT:
			resolve_target(s, &ps->target);
			break;
		case PS_SELECT:
			check_select(s, st, ps);
			for (int j = 0; j < ps->narms; j++)
				resolve_target(s, &ps->arms[j]->target);
			break;
		}
	}
}

/* Cycle search over the states that are not loop states: any cycle left
 * there has no bound (loop states are unrolled by codegen). */
struct cycle_dfs {
	struct ast_state **stack;
	int depth;
	char *color; /* 0 white, 1 on stack, 2 done */
};

static void dfs_edge(struct sema *s, struct cycle_dfs *d, struct ast_target *t);

static void dfs_state(struct sema *s, struct cycle_dfs *d, struct ast_state *st)
{
	d->color[st->index] = 1;
	d->stack[d->depth++] = st;
	for (int i = 0; i < st->nstmts; i++) {
		struct ast_pstmt *ps = st->stmts[i];
		if (ps->kind == PS_NEXT)
			dfs_edge(s, d, &ps->target);
		for (int j = 0; ps->kind == PS_SELECT && j < ps->narms; j++)
			dfs_edge(s, d, &ps->arms[j]->target);
	}
	d->depth--;
	d->color[st->index] = 2;
}

static void dfs_edge(struct sema *s, struct cycle_dfs *d, struct ast_target *t)
{
	struct ast_state *v = t->resolved;
	if (!v || v->loop > 0)
		return;
	if (d->color[v->index] == 0) {
		dfs_state(s, d, v);
		return;
	}
	if (d->color[v->index] != 1)
		return;
	int from = d->depth - 1;
	while (from > 0 && d->stack[from] != v)
		from--;
	const char *path = state_display(s, v->name);
	const char *last = path;
	for (int i = from + 1; i < d->depth; i++) {
		const char *n = state_display(s, d->stack[i]->name);
		if (strcmp(n, last))
			path = arena_printf(s->a, "%s -> %s", path, n);
		last = n;
	}
	path = arena_printf(s->a, "%s -> %s", path, state_display(s, v->name));
	diag_error(t->loc, "parse graph cycle %s has no loop bound; add `loop N` to a state on it", path);
}

static void check_cycles(struct sema *s, struct ptrvec *order)
{
	struct cycle_dfs d = {
		.stack = arena_alloc(s->a, sizeof(struct ast_state *) * (size_t)(order->len + 1)),
		.color = arena_alloc(s->a, (size_t)order->len + 1),
	};
	for (int i = 0; i < order->len; i++) {
		struct ast_state *st = ((struct mstate *)order->items[i])->st;
		if (!st->loop && !d.color[i])
			dfs_state(s, &d, st);
	}
}

void check_parser(struct sema *s)
{
	int errors_before = diag_error_count();
	struct ptrvec order = { 0 };
	struct ast_state *start = NULL;
	for (int i = 0; i < s->parsers.len; i++) {
		struct ast_decl *d = s->parsers.items[i];
		for (int j = 0; j < d->nstates; j++) {
			if (!d->states[j] || !d->states[j]->name)
				continue;
			add_state(s, &order, d->states[j]);
			if (!start)
				start = d->states[j];
		}
	}
	struct ast_state **states = arena_alloc(s->a, sizeof(*states) * (size_t)(order.len + 1));
	for (int i = 0; i < order.len; i++) {
		struct mstate *m = order.items[i];
		finish_state(s, m, i);
		states[i] = m->st;
	}
	for (int i = 0; i < order.len; i++)
		check_state(s, states[i]);
	check_cycles(s, &order);
	s->graph_ok = diag_error_count() == errors_before;
	s->p->states = states;
	s->p->nstates = order.len;
	s->p->start = start;
}
