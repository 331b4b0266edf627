/* The parser's node builders: what parser.y's actions call (parse_build.h). */
#include <stdlib.h>
#include <string.h>

#include "parse_build.h"

struct xdpl_loc parse_span(struct xdpl_loc first, struct xdpl_loc last)
{
	first.last_line = last.last_line;
	first.last_column = last.last_column;
	return first;
}

struct ptrvec parse_vec1(struct parse_ctx *ctx, void *item)
{
	struct ptrvec v = { 0 };
	ptrvec_push(ctx->a, &v, item);
	return v;
}

struct ptrvec parse_vec_add(struct parse_ctx *ctx, struct ptrvec v, void *item)
{
	ptrvec_push(ctx->a, &v, item);
	return v;
}

struct ast_expr *parse_expr(struct parse_ctx *ctx, enum expr_kind kind,
				   struct xdpl_loc loc)
{
	struct ast_expr *e = NEW(ctx->a, struct ast_expr);
	e->kind = kind;
	e->loc = loc;
	return e;
}

struct ast_expr *parse_binary(struct parse_ctx *ctx, enum binop op,
				     struct ast_expr *lhs, struct ast_expr *rhs,
				     struct xdpl_loc loc)
{
	struct ast_expr *e = parse_expr(ctx, E_BINARY, loc);
	e->op = op;
	e->lhs = lhs;
	e->rhs = rhs;
	return e;
}

struct ast_expr *parse_name(struct parse_ctx *ctx, const char *name,
				   struct xdpl_loc loc)
{
	struct ast_expr *e = parse_expr(ctx, E_NAME, loc);
	e->name = name;
	return e;
}

struct ast_expr *parse_lit(struct parse_ctx *ctx, struct xdpl_lit lit,
				  struct xdpl_loc loc)
{
	struct ast_expr *e = parse_expr(ctx, E_LIT, loc);
	e->lit = lit;
	return e;
}

struct ast_expr *parse_int(struct parse_ctx *ctx, uint64_t v, struct xdpl_loc loc)
{
	return parse_lit(ctx, (struct xdpl_lit){ .kind = LIT_INT, .u = v }, loc);
}

struct ast_expr *parse_list_expr(struct parse_ctx *ctx, enum expr_kind kind,
					const char *name, struct ptrvec *args,
					struct xdpl_loc loc)
{
	struct ast_expr *e = parse_expr(ctx, kind, loc);
	e->name = name;
	if (args) {
		e->args = (struct ast_expr **)args->items;
		e->nargs = args->len;
	}
	return e;
}

/* "ab" "cd" → "abcd" (for hex strings split over lines). */
struct xdpl_lit parse_concat(struct parse_ctx *ctx, struct xdpl_lit a, struct xdpl_lit b)
{
	char *s = arena_alloc(ctx->a, (size_t)a.len + (size_t)b.len + 1);
	memcpy(s, a.str, (size_t)a.len);
	memcpy(s + a.len, b.str, (size_t)b.len);
	a.str = s;
	a.len += b.len;
	return a;
}

/* hex "0a 0b0c": pairs of hex digits, whitespace anywhere between them. */
struct xdpl_lit parse_hex(struct parse_ctx *ctx, struct xdpl_lit s, struct xdpl_loc loc)
{
	struct xdpl_lit out = { .kind = LIT_HEX };
	char *bytes = arena_alloc(ctx->a, (size_t)s.len / 2 + 1);
	int n = 0, half = -1;
	for (int i = 0; i < s.len; i++) {
		char c = s.str[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		int v = xdpl_hexval((unsigned char)c);
		if (v < 0) {
			if (c >= 0x20 && c < 0x7f)
				PARSE_ERROR(ctx, loc, "invalid character '%c' in hex string", c);
			else
				PARSE_ERROR(ctx, loc, "invalid byte 0x%02x in hex string",
					    (unsigned char)c);
			return out;
		}
		if (half < 0) {
			half = v;
		} else {
			bytes[n++] = (char)(half << 4 | v);
			half = -1;
		}
	}
	if (half >= 0)
		PARSE_ERROR(ctx, loc, "hex string has an odd number of digits");
	out.str = bytes;
	out.len = n;
	return out;
}

/* uN (1..64), bool, mac, ip4, ip6. */
struct xdpl_type parse_type_name(struct parse_ctx *ctx, const char *name,
					struct xdpl_loc loc)
{
	if (name[0] == 'u' && name[1] >= '1' && name[1] <= '9') {
		int bits = 0;
		const char *p = name + 1;
		while (*p >= '0' && *p <= '9' && bits <= 64)
			bits = bits * 10 + (*p++ - '0');
		if (!*p && bits >= 1 && bits <= 64)
			return (struct xdpl_type){ TY_UINT, bits };
		if (!*p) {
			PARSE_ERROR(ctx, loc, "integer type '%s' is too wide (u1 to u64)", name);
			return (struct xdpl_type){ TY_UINT, 64 };
		}
	}
	if (!strcmp(name, "bool"))
		return (struct xdpl_type){ TY_BOOL, 1 };
	if (!strcmp(name, "mac"))
		return (struct xdpl_type){ TY_MAC, 48 };
	if (!strcmp(name, "ip4"))
		return (struct xdpl_type){ TY_IP4, 32 };
	if (!strcmp(name, "ip6"))
		return (struct xdpl_type){ TY_IP6, 128 };
	static const char *const names[] = { "u8", "u16", "u32", "u64", "bool", "mac", "ip4",
					     "ip6" };
	const char *hint = diag_closest(name, names, 8);
	if (hint)
		PARSE_ERROR(ctx, loc, "unknown type '%s'; did you mean '%s'?", name, hint);
	else
		PARSE_ERROR(ctx, loc, "unknown type '%s' (types are u1..u64, bool, mac, ip4 "
			    "and ip6)", name);
	return (struct xdpl_type){ TY_NONE, 0 };
}

struct ast_decl *parse_decl(struct parse_ctx *ctx, enum decl_kind kind,
				   struct xdpl_loc loc)
{
	struct ast_decl *d = NEW(ctx->a, struct ast_decl);
	d->kind = kind;
	d->loc = loc;
	return d;
}

struct ast_decl *parse_header(struct parse_ctx *ctx, const char *name,
				     struct xdpl_loc name_loc, bool is_meta, struct ptrvec *fields,
				     struct xdpl_loc loc)
{
	struct ast_decl *d = parse_decl(ctx, D_HEADER, loc);
	struct ast_header *h = NEW(ctx->a, struct ast_header);
	h->name = name;
	h->loc = name_loc;
	h->is_meta = is_meta;
	if (fields) {
		h->fields = (struct ast_field **)fields->items;
		h->nfields = fields->len;
	}
	d->header = h;
	return d;
}

struct ast_field *parse_field(struct parse_ctx *ctx, const char *name,
				     struct xdpl_loc loc)
{
	struct ast_field *f = NEW(ctx->a, struct ast_field);
	f->name = name;
	f->loc = loc;
	return f;
}

/* Map kinds: how many types they take, and whether the last one is the
 * value. Array-like maps and devmap/cpumap/xskmap are indexed by u32 in
 * BPF, so they get key u32 without writing it; devmap, cpumap and xskmap
 * hold u32 values (ifindex, queue size, socket). */
static const struct {
	const char *name;
	enum set_kind kind;
	int ntypes;          /* -1: two or more (keys..., value) */
} parse_map_kinds[] = {
	{ "hash", SK_MAP_HASH, -1 },       { "lru", SK_MAP_LRU, -1 },
	{ "percpu_hash", SK_MAP_PERCPU_HASH, -1 },
	{ "array", SK_MAP_ARRAY, 1 },      { "percpu_array", SK_MAP_PERCPU_ARRAY, 1 },
	{ "devmap", SK_MAP_DEVMAP, 0 },    { "cpumap", SK_MAP_CPUMAP, 0 },
	{ "xskmap", SK_MAP_XSKMAP, 0 },
};

struct ast_decl *parse_set(struct parse_ctx *ctx, bool is_map, const char *name,
				  struct xdpl_loc name_loc, struct parse_kind *kind,
				  uint64_t max, struct xdpl_loc max_loc, struct ast_expr *init,
				  struct xdpl_loc loc)
{
	struct ast_decl *d = parse_decl(ctx, D_SET, loc);
	struct ast_set *s = NEW(ctx->a, struct ast_set);
	d->set = s;
	s->name = name;
	s->loc = name_loc;
	s->is_map = is_map;
	s->max = max;
	s->max_loc = max_loc;
	s->init = init;
	struct parse_type **types = (struct parse_type **)kind->types.items;
	int ntypes = kind->types.len;
	int nkeys = ntypes;  /* how many of types are keys */

	if (!is_map) {
		if (!strcmp(kind->name, "hash")) {
			s->kind = SK_SET_HASH;
		} else if (!strcmp(kind->name, "lpm")) {
			s->kind = SK_SET_LPM;
			if (ntypes != 1)
				PARSE_ERROR(ctx, kind->loc, "an lpm set has one key type: "
					    "lpm<ip4> or lpm<ip6>");
		} else {
			PARSE_ERROR(ctx, kind->loc, "unknown set kind '%s' (sets are hash<...> "
				    "or lpm<...>; did you mean 'map'?)", kind->name);
			s->kind = SK_SET_HASH;
		}
	} else {
		size_t i, n = sizeof(parse_map_kinds) / sizeof(parse_map_kinds[0]);
		for (i = 0; i < n; i++)
			if (!strcmp(kind->name, parse_map_kinds[i].name))
				break;
		if (i == n) {
			PARSE_ERROR(ctx, kind->loc, "unknown map kind '%s' (hash, lru, array, "
				    "percpu_hash, percpu_array, devmap, cpumap or xskmap)",
				    kind->name);
			s->kind = SK_MAP_HASH;
			ntypes = nkeys = 0;
		} else {
			s->kind = parse_map_kinds[i].kind;
			int want = parse_map_kinds[i].ntypes;
			if (want < 0 && ntypes < 2) {
				PARSE_ERROR(ctx, kind->loc, "'%s' map needs a key and a value type: "
					    "%s<KEY, VALUE>", kind->name, kind->name);
				ntypes = nkeys = 0;
			} else if (want >= 0 && (ntypes != want || kind->has_types != (want > 0))) {
				if (want == 0)
					PARSE_ERROR(ctx, kind->loc, "'%s' takes no types", kind->name);
				else
					PARSE_ERROR(ctx, kind->loc, "'%s' map has one value type: "
						    "%s<VALUE>", kind->name, kind->name);
				ntypes = nkeys = 0;
			}
			if (want < 0 && ntypes >= 2) {
				nkeys = ntypes - 1;
				s->value = types[ntypes - 1]->type;
			} else if (want >= 0) {
				nkeys = 0;
				s->key[0] = (struct xdpl_type){ TY_UINT, 32 };
				s->key_loc[0] = kind->loc;
				s->nkey = 1;
				if (want == 1 && ntypes == 1)
					s->value = types[0]->type;
				else
					s->value = (struct xdpl_type){ TY_UINT, 32 };
			}
		}
	}
	if (nkeys > 8) {
		PARSE_ERROR(ctx, types[8]->loc, "too many key types (at most 8)");
		nkeys = 8;
	}
	for (int i = 0; i < nkeys; i++) {
		s->key[i] = types[i]->type;
		s->key_loc[i] = types[i]->loc;
	}
	if (nkeys)
		s->nkey = nkeys;
	return d;
}

struct parse_item *parse_item(struct parse_ctx *ctx, enum parse_item_kind kind,
				     struct xdpl_loc loc)
{
	struct parse_item *it = NEW(ctx->a, struct parse_item);
	it->kind = kind;
	it->loc = loc;
	return it;
}

/* One of each item per block: a second one is an error pointing at both. */
static bool parse_once(struct parse_ctx *ctx, struct parse_item **seen, struct parse_item *it,
		       const char *what, const char *block, const char *name)
{
	if (!seen[it->kind]) {
		seen[it->kind] = it;
		return true;
	}
	PARSE_ERROR(ctx, it->loc, "%s '%s' has more than one '%s'", block, name, what);
	diag_note(seen[it->kind]->loc, "the first '%s' is here", what);
	return false;
}

struct ast_decl *parse_rule(struct parse_ctx *ctx, const char *name,
				   struct xdpl_loc name_loc, struct ptrvec *items,
				   struct xdpl_loc loc)
{
	static const char *const what[] = { "match", "limit", "rewrite", "verdict" };
	struct ast_decl *d = parse_decl(ctx, D_RULE, loc);
	struct ast_rule *r = NEW(ctx->a, struct ast_rule);
	struct parse_item *seen[PI_OUTPUT + 1] = { 0 };
	d->rule = r;
	r->name = name;
	r->loc = name_loc;
	for (int i = 0; i < items->len; i++) {
		struct parse_item *it = items->items[i];
		if (!parse_once(ctx, seen, it, what[it->kind], "rule", name))
			continue;
		switch (it->kind) {
		case PI_MATCH:
			r->match = it->expr;
			break;
		case PI_LIMIT:
			r->limit = it->limit;
			break;
		case PI_REWRITE:
			r->rewrite = (struct ast_stmt **)it->list.items;
			r->nrewrite = it->list.len;
			r->has_rewrite = true;
			break;
		case PI_VERDICT:
			r->verdict = it->verdict;
			r->has_verdict = true;
			break;
		default:
			break;
		}
	}
	return d;
}

struct ast_decl *parse_test(struct parse_ctx *ctx, struct xdpl_lit name,
				   struct xdpl_loc name_loc, struct ptrvec *items,
				   struct xdpl_loc loc)
{
	static const char *const what[] = { "", "", "", "", "packet", "expect", "output" };
	struct ast_decl *d = parse_decl(ctx, D_TEST, loc);
	struct ast_test *t = NEW(ctx->a, struct ast_test);
	struct parse_item *seen[PI_OUTPUT + 1] = { 0 };
	d->test = t;
	t->name = name.str;
	t->loc = name_loc;
	for (int i = 0; i < items->len; i++) {
		struct parse_item *it = items->items[i];
		if (!parse_once(ctx, seen, it, what[it->kind], "test", name.str))
			continue;
		switch (it->kind) {
		case PI_PACKET:
			t->packet = (struct ast_layer **)it->list.items;
			t->npacket = it->list.len;
			break;
		case PI_EXPECT:
			t->expect = it->verdict;
			t->has_expect = true;
			t->by = it->by;
			t->by_loc = it->by_loc;
			break;
		case PI_OUTPUT:
			t->output = (struct ast_layer **)it->list.items;
			t->noutput = it->list.len;
			t->has_output = true;
			break;
		default:
			break;
		}
	}
	return d;
}

struct ast_pstmt *parse_pstmt(struct parse_ctx *ctx, enum pstmt_kind kind,
				     struct xdpl_loc loc)
{
	struct ast_pstmt *p = NEW(ctx->a, struct ast_pstmt);
	p->kind = kind;
	p->loc = loc;
	return p;
}

struct ast_stmt *parse_stmt(struct parse_ctx *ctx, enum stmt_kind kind,
				   struct xdpl_loc loc)
{
	struct ast_stmt *s = NEW(ctx->a, struct ast_stmt);
	s->kind = kind;
	s->loc = loc;
	s->timeout.kind = LIT_INT;
	return s;
}

struct ast_stmt *parse_assign(struct parse_ctx *ctx, enum binop op,
				     struct ast_expr *lhs, struct ast_expr *rhs,
				     struct xdpl_loc loc)
{
	struct ast_stmt *s = parse_stmt(ctx, S_ASSIGN, loc);
	s->op = op;
	s->lhs = lhs;
	s->rhs = rhs;
	return s;
}

struct ast_target parse_target(const char *state, bool accept, bool reject,
				      struct xdpl_loc loc)
{
	return (struct ast_target){ .state = state, .accept = accept, .reject = reject,
				    .loc = loc };
}

struct ast_verdict parse_verdict(enum verdict_kind kind, struct xdpl_loc loc)
{
	return (struct ast_verdict){ .kind = kind, .loc = loc };
}

/* A verdict word that is not a keyword (runtime/xdpl_meta.h's table:
 * adding a verdict there needs no grammar change), else an error with the
 * closest word. */
struct ast_verdict parse_verdict_word(struct parse_ctx *ctx, const char *word, struct xdpl_loc loc)
{
	int v = xdpl_verdict_by_name(word);
	if (v >= 0 && v != XDPL_VERDICT_REDIRECT)
		return parse_verdict((enum verdict_kind)v, loc);
	const char *const *names = xdpl_verdict_names();
	char list[256];
	size_t n = 0;
	for (int k = 0; k < XDPL_NVERDICTS; k++)
		n += (size_t)snprintf(list + n, n < sizeof(list) ? sizeof(list) - n : 0, "%s%s",
				      k == 0 ? "" : k == XDPL_NVERDICTS - 1 ? " or " : ", ", names[k]);
	const char *hint = diag_closest(word, names, XDPL_NVERDICTS);
	if (hint)
		PARSE_ERROR(ctx, loc, "unknown verdict '%s'; did you mean '%s'?", word, hint);
	else
		PARSE_ERROR(ctx, loc, "unknown verdict '%s' (expected %s)", word, list);
	return parse_verdict(V_PASS, loc);
}

/* A bare `redirect` only means "any redirect" in `expect`. */
void parse_check_verdict(struct parse_ctx *ctx, const struct ast_verdict *v)
{
	if (v->kind == V_REDIRECT_ANY)
		PARSE_ERROR(ctx, v->loc, "'redirect' needs a target: an interface name, "
			    "ifindex N, MAP[KEY] or cpu N");
}

struct ast_layer *parse_layer(struct parse_ctx *ctx, enum layer_kind kind,
				     struct xdpl_loc loc)
{
	struct ast_layer *l = NEW(ctx->a, struct ast_layer);
	l->kind = kind;
	l->loc = loc;
	return l;
}

struct ast_layer *parse_bytes_layer(struct parse_ctx *ctx, enum layer_kind kind,
					   struct xdpl_lit bytes, struct xdpl_loc loc)
{
	struct ast_layer *l = parse_layer(ctx, kind, loc);
	l->bytes = (const uint8_t *)(bytes.str ? bytes.str : "");
	l->len = bytes.len;
	return l;
}

/* `1000 / s` and `10 mbps` written with spaces. */
struct xdpl_lit parse_rate_words(struct parse_ctx *ctx, uint64_t n, const char *unit,
					struct xdpl_loc loc, bool per)
{
	static const struct {
		const char *name;
		bool per;
		enum rate_unit unit;
	} units[] = {
		{ "s", true, RATE_PPS },     { "m", true, RATE_PPM },     { "h", true, RATE_PPH },
		{ "kbps", false, RATE_KBPS }, { "mbps", false, RATE_MBPS }, { "gbps", false, RATE_GBPS },
	};
	struct xdpl_lit lit = { .kind = LIT_RATE, .u = n };
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (units[i].per == per && !strcmp(units[i].name, unit)) {
			lit.unit = units[i].unit;
			return lit;
		}
	PARSE_ERROR(ctx, loc, "unknown rate unit '%s%s' (use N/s, N/m, N/h, Nkbps, Nmbps or "
		    "Ngbps)", per ? "/" : "", unit);
	return lit;
}

struct xdpl_lit parse_duration_words(struct parse_ctx *ctx, uint64_t n,
					    const char *unit, struct xdpl_loc loc)
{
	static const struct {
		const char *name;
		uint64_t ms;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
	struct xdpl_lit lit = { .kind = LIT_DURATION };
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(units[i].name, unit)) {
			if (n > UINT64_MAX / units[i].ms)
				PARSE_ERROR(ctx, loc, "duration is too long");
			else
				lit.u = n * units[i].ms;
			return lit;
		}
	PARSE_ERROR(ctx, loc, "unknown duration unit '%s' (use ms, s, m or h)", unit);
	return lit;
}

