/* Lexer + parser unit test: parses the standard library, the example policy
 * example and a set of tricky inputs, and checks the shape of the AST
 * (expressions are compared as S-expressions), source locations, the
 * diagnostics of broken inputs, and that truncated or random input never
 * crashes the parser.
 *
 * usage: test_parse [REPO_ROOT]   (default ".")
 * Exits 0 when every check passes, 1 otherwise. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"

static int failures;
static int checks;
static struct arena arena;

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		checks++;                                                                  \
		if (!(cond)) {                                                             \
			failures++;                                                        \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
			fprintf(stderr, __VA_ARGS__);                                      \
			fprintf(stderr, "\n");                                             \
		}                                                                          \
	} while (0)

#define CHECK_STR(got, want)                                                               \
	do {                                                                               \
		const char *g_ = (got), *w_ = (want);                                      \
		CHECK(g_ && !strcmp(g_, w_), "got '%s', want '%s'", g_ ? g_ : "(null)", w_); \
	} while (0)

/* ---------------------------------------------------------------- printing */

struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		char *p = arena_alloc(&arena, b->cap);
		if (b->len)
			memcpy(p, b->p, b->len);
		b->p = p;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void print_lit(struct buf *b, const struct xdpl_lit *l)
{
	char tmp[64];
	switch (l->kind) {
	case LIT_INT: bprintf(b, "%llu", (unsigned long long)l->u); break;
	case LIT_BOOL: bprintf(b, "%s", l->u ? "true" : "false"); break;
	case LIT_IP4:
	case LIT_PREFIX4:
		bprintf(b, "%u.%u.%u.%u", l->bytes[0], l->bytes[1], l->bytes[2], l->bytes[3]);
		if (l->kind == LIT_PREFIX4)
			bprintf(b, "/%d", l->plen);
		break;
	case LIT_IP6:
	case LIT_PREFIX6:
		inet_ntop(AF_INET6, l->bytes, tmp, sizeof(tmp));
		bprintf(b, "%s", tmp);
		if (l->kind == LIT_PREFIX6)
			bprintf(b, "/%d", l->plen);
		break;
	case LIT_MAC:
		bprintf(b, "%02x:%02x:%02x:%02x:%02x:%02x", l->bytes[0], l->bytes[1], l->bytes[2],
			l->bytes[3], l->bytes[4], l->bytes[5]);
		break;
	case LIT_STRING: bprintf(b, "\"%.*s\"", l->len, l->str); break;
	case LIT_HEX:
		bprintf(b, "hex\"");
		for (int i = 0; i < l->len; i++)
			bprintf(b, "%02x", (unsigned char)l->str[i]);
		bprintf(b, "\"");
		break;
	case LIT_RATE: {
		static const char *const u[] = { "/s", "/m", "/h", "kbps", "mbps", "gbps" };
		bprintf(b, "%llu%s", (unsigned long long)l->u, u[l->unit]);
		break;
	}
	case LIT_DURATION: bprintf(b, "%llums", (unsigned long long)l->u); break;
	}
}

static void print_expr(struct buf *b, const struct ast_expr *e);

static void print_args(struct buf *b, const struct ast_expr *e)
{
	for (int i = 0; i < e->nargs; i++) {
		bprintf(b, " ");
		print_expr(b, e->args[i]);
	}
}

static void print_expr(struct buf *b, const struct ast_expr *e)
{
	static const char *const ops[] = { "or", "and", "==", "!=", "<", "<=", ">", ">=", "&",
					   "|", "^", "+", "-", "*", "%", "<<", ">>" };
	if (!e) {
		bprintf(b, "NULL");
		return;
	}
	switch (e->kind) {
	case E_LIT: print_lit(b, &e->lit); break;
	case E_NAME: bprintf(b, "%s", e->name); break;
	case E_BINARY:
		bprintf(b, "(%s ", ops[e->op]);
		print_expr(b, e->lhs);
		bprintf(b, " ");
		print_expr(b, e->rhs);
		bprintf(b, ")");
		break;
	case E_NOT:
		bprintf(b, "(not ");
		print_expr(b, e->lhs);
		bprintf(b, ")");
		break;
	case E_IN:
	case E_RANGE:
		bprintf(b, "(%s ", e->kind == E_IN ? "in" : "..");
		print_expr(b, e->lhs);
		bprintf(b, " ");
		print_expr(b, e->rhs);
		bprintf(b, ")");
		break;
	case E_INDEX: bprintf(b, "(index %s", e->name); print_args(b, e); bprintf(b, ")"); break;
	case E_HASH: bprintf(b, "(hash"); print_args(b, e); bprintf(b, ")"); break;
	case E_TUPLE: bprintf(b, "(tuple"); print_args(b, e); bprintf(b, ")"); break;
	case E_SETLIT: bprintf(b, "{"); print_args(b, e); bprintf(b, " }"); break;
	case E_CALL: bprintf(b, "(call %s", e->name); print_args(b, e); bprintf(b, ")"); break;
	}
}

static const char *expr_str(const struct ast_expr *e)
{
	struct buf b = { 0 };
	print_expr(&b, e);
	return b.p;
}

static const char *loc_str(struct xdpl_loc l)
{
	return arena_printf(&arena, "%d:%d-%d:%d", l.first_line, l.first_column, l.last_line,
			    l.last_column);
}

static const char *verdict_str(const struct ast_verdict *v)
{
	switch (v->kind) {
	case V_PASS: return "pass";
	case V_DROP: return "drop";
	case V_ABORT: return "abort";
	case V_TX: return "tx";
	case V_REDIRECT_DEV: return arena_printf(&arena, "redirect dev %s", v->ifname);
	case V_REDIRECT_IFINDEX:
		return arena_printf(&arena, "redirect ifindex %llu", (unsigned long long)v->num);
	case V_REDIRECT_MAP:
		return arena_printf(&arena, "redirect map %s %s", v->map, expr_str(v->key));
	case V_REDIRECT_CPU:
		return arena_printf(&arena, "redirect cpu %llu", (unsigned long long)v->num);
	case V_REDIRECT_ANY: return "redirect";
	case V_ROUTE: return "route";
	case V_CONTINUE: return "continue";
	}
	return "?";
}

static const char *layer_str(const struct ast_layer *l)
{
	struct buf b = { 0 };
	if (l->kind == L_HEADER) {
		bprintf(&b, "%s(", l->header);
		for (int i = 0; i < l->nargs; i++) {
			bprintf(&b, "%s%s=", i ? ", " : "", l->args[i]->field);
			print_expr(&b, l->args[i]->value);
		}
		bprintf(&b, ")");
	} else {
		bprintf(&b, "%s[", l->kind == L_PAYLOAD ? "payload" : "raw");
		for (int i = 0; i < l->len; i++)
			bprintf(&b, "%02x", l->bytes[i]);
		bprintf(&b, "]");
	}
	return b.p;
}

static const char *layers_str(struct ast_layer **ls, int n)
{
	struct buf b = { 0 };
	bprintf(&b, "%s", "");
	for (int i = 0; i < n; i++)
		bprintf(&b, "%s%s", i ? " / " : "", layer_str(ls[i]));
	return b.p;
}

static const char *type_str(struct xdpl_type t)
{
	switch (t.kind) {
	case TY_UINT: return arena_printf(&arena, "u%d", t.bits);
	case TY_BOOL: return "bool";
	case TY_MAC: return "mac";
	case TY_IP4: return "ip4";
	case TY_IP6: return "ip6";
	case TY_BYTES: return "bytes";
	default: return "none";
	}
}

/* ---------------------------------------------------------------- parsing */

/* Messages of the last parse (diag output captured in memory). */
static char *diag_text;

static struct ast_file *parse_text(const char *path, const char *text, int *nerrors)
{
	size_t size = 0;
	FILE *f = open_memstream(&diag_text, &size);
	diag_set_stream(f);
	int before = diag_error_count();
	int id = diag_add_source(path, text, strlen(text));
	struct ast_file *file = parse_file(&arena, id);
	diag_set_stream(NULL);
	fclose(f);
	/* Keep the messages in the arena so nothing needs freeing later. */
	char *copy = arena_strdup(&arena, diag_text);
	free(diag_text);
	diag_text = copy;
	if (nerrors)
		*nerrors = diag_error_count() - before;
	return file;
}

/* Parse text that must be free of errors. */
static struct ast_file *parse_ok(const char *path, const char *text)
{
	int n;
	struct ast_file *f = parse_text(path, text, &n);
	CHECK(f && n == 0, "%s: %d unexpected errors:\n%s", path, n, diag_text);
	return f;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b = { 0 };
	char chunk[4096];
	size_t n;
	bprintf(&b, "%s", "");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		bprintf(&b, "%.*s", (int)n, chunk);
	fclose(f);
	return b.p;
}

static struct ast_decl *find_decl(struct ast_file *f, enum decl_kind kind, const char *name)
{
	for (int i = 0; f && i < f->ndecls; i++) {
		struct ast_decl *d = f->decls[i];
		if (d->kind != kind)
			continue;
		const char *n = NULL;
		switch (kind) {
		case D_PROGRAM: n = d->program; break;
		case D_CONST: n = d->konst->name; break;
		case D_HEADER: n = d->header->name; break;
		case D_ALIAS: n = d->alias->name; break;
		case D_SET: n = d->set->name; break;
		case D_RULE: n = d->rule->name; break;
		case D_TEST: n = d->test->name; break;
		case D_IMPORT: n = d->import->path; break;
		default: n = "";
		}
		if (!name || !strcmp(n, name))
			return d;
	}
	return NULL;
}

static struct ast_field *find_field(struct ast_header *h, const char *name)
{
	for (int i = 0; h && i < h->nfields; i++)
		if (!strcmp(h->fields[i]->name, name))
			return h->fields[i];
	return NULL;
}

static struct ast_state *find_state(struct ast_file *f, const char *name)
{
	for (int i = 0; f && i < f->ndecls; i++)
		if (f->decls[i]->kind == D_PARSER)
			for (int j = 0; j < f->decls[i]->nstates; j++)
				if (!strcmp(f->decls[i]->states[j]->name, name))
					return f->decls[i]->states[j];
	return NULL;
}

/* The match of rule NAME in a one-off program, as an S-expression. */
static const char *match_of(const char *expr)
{
	const char *src = arena_printf(&arena, "program p;\nrule r { match %s; verdict drop; }\n",
				       expr);
	struct ast_file *f = parse_ok(expr, src);
	struct ast_decl *d = find_decl(f, D_RULE, "r");
	if (!d)
		return "(no rule)";
	return expr_str(d->rule->match);
}

/* ---------------------------------------------------------------- stdlib */

static void test_stdlib(const char *root)
{
	static const char *const files[] = { "eth", "ip", "l4", "parse" };
	struct ast_file *f[4];
	for (int i = 0; i < 4; i++) {
		const char *path = arena_printf(&arena, "%s/stdlib/%s.xdpl", root, files[i]);
		char *text = read_file(path);
		CHECK(text, "cannot read %s", path);
		f[i] = text ? parse_ok(path, text) : NULL;
	}
	if (!f[0] || !f[1] || !f[2] || !f[3])
		return;

	/* eth.xdpl */
	struct ast_decl *d = find_decl(f[0], D_HEADER, "eth");
	CHECK(d && d->header->nfields == 3 && !d->header->is_meta, "eth header");
	if (d) {
		struct ast_field *dst = find_field(d->header, "dst");
		CHECK(dst && dst->type.kind == TY_MAC && dst->type.bits == 48, "eth.dst mac");
		CHECK_STR(expr_str(dst->deflt), "ff:ff:ff:ff:ff:ff");
		CHECK_STR(loc_str(dst->loc), "7:5-7:7");
		CHECK_STR(loc_str(dst->deflt->loc), "7:16-7:32");
		struct ast_field *type = find_field(d->header, "type");
		CHECK(type && type->type.kind == TY_UINT && type->type.bits == 16, "eth.type u16");
		CHECK_STR(expr_str(type->deflt), "36864");
	}
	d = find_decl(f[0], D_HEADER, "vlan");
	CHECK(d && d->header->nfields == 4, "vlan");
	if (d) {
		CHECK(d->header->fields[0]->type.bits == 3 && !d->header->fields[0]->deflt, "pcp u3");
		CHECK(d->header->fields[1]->type.bits == 1, "dei u1");
		CHECK(d->header->fields[2]->type.bits == 12, "id u12");
	}
	d = find_decl(f[0], D_HEADER, "vlan2");
	CHECK(d && d->header->layout_of && !strcmp(d->header->layout_of, "vlan") &&
		      d->header->nfields == 0, "vlan2 = vlan");
	d = find_decl(f[0], D_HEADER, "arp");
	CHECK(d && d->header->nfields == 9, "arp fields");
	if (d)
		CHECK_STR(expr_str(find_field(d->header, "spa")->deflt), "0.0.0.0");

	/* ip.xdpl */
	d = find_decl(f[1], D_HEADER, "ip4");
	CHECK(d && d->header->nfields == 14, "ip4 fields");
	if (d) {
		struct ast_header *h = d->header;
		struct ast_field *flags = find_field(h, "flags");
		CHECK(flags && flags->nflags == 3 && flags->type.bits == 3, "ip4.flags bits");
		if (flags && flags->nflags == 3) {
			CHECK_STR(flags->flags[1]->name, "df");
			CHECK(flags->flags[1]->mask == 2, "df mask");
			CHECK(flags->flags[2]->mask == 4, "evil mask");
		}
		CHECK_STR(expr_str(find_field(h, "len")->deflt), "(call total_len)");
		CHECK_STR(expr_str(find_field(h, "csum")->deflt), "(call checksum)");
		CHECK_STR(expr_str(find_field(h, "src")->deflt), "127.0.0.1");
		CHECK(find_field(h, "proto")->deflt == NULL, "proto has no default");
		struct ast_field *opt = find_field(h, "options");
		CHECK(opt && opt->type.kind == TY_BYTES && opt->max_bytes == 40, "ip4 options");
		if (opt) {
			CHECK_STR(expr_str(opt->size), "(* (- ihl 5) 4)");
			CHECK(opt->size->lhs->parenthesized, "(ihl - 5) parenthesized");
		}
	}
	d = find_decl(f[1], D_HEADER, "ip6");
	CHECK(d && d->header->nfields == 8, "ip6 fields");
	if (d) {
		struct ast_field *next = find_field(d->header, "next");
		CHECK(next && next->type.bits == 8, "ip6 has field 'next' (a keyword)");
		CHECK_STR(expr_str(find_field(d->header, "src")->deflt), "::1");
		CHECK(find_field(d->header, "src")->type.kind == TY_IP6, "ip6.src ip6");
		CHECK(find_field(d->header, "flow")->type.bits == 20, "flow u20");
		CHECK_STR(expr_str(find_field(d->header, "len")->deflt), "(call payload_len)");
	}
	d = find_decl(f[1], D_HEADER, "ip6ext");
	CHECK(d && find_field(d->header, "data") &&
		      !strcmp(expr_str(find_field(d->header, "data")->size), "(+ (* hlen 8) 6)") &&
		      find_field(d->header, "data")->max_bytes == 2046, "ip6ext data");
	d = find_decl(f[1], D_HEADER, "ip");
	CHECK(d && d->header->is_meta && d->header->nfields == 1, "meta ip");
	d = find_decl(f[1], D_ALIAS, "ip.src");
	CHECK(d && d->alias->nalts == 2, "alias ip.src");
	if (d) {
		CHECK_STR(expr_str(d->alias->alts[0]), "ip4.src");
		CHECK_STR(expr_str(d->alias->alts[1]), "ip6.src");
		CHECK_STR(loc_str(d->alias->loc), "54:7-54:12");
		CHECK_STR(loc_str(d->alias->alts[1]->loc), "54:26-54:32");
	}

	/* l4.xdpl */
	d = find_decl(f[2], D_HEADER, "tcp");
	CHECK(d && d->header->nfields == 11, "tcp fields");
	if (d) {
		struct ast_field *flags = find_field(d->header, "flags");
		CHECK(flags && flags->nflags == 8, "tcp flags");
		if (flags && flags->nflags == 8) {
			CHECK_STR(flags->flags[7]->name, "cwr");
			CHECK(flags->flags[7]->mask == 0x80, "cwr mask");
			CHECK_STR(expr_str(flags->deflt), "2");
		}
		CHECK_STR(expr_str(find_field(d->header, "csum")->deflt), "(call checksum pseudo)");
	}
	d = find_decl(f[2], D_HEADER, "icmp");
	CHECK(d && !strcmp(expr_str(find_field(d->header, "csum")->deflt),
			   "(call checksum payload)"), "checksum(payload)");
	CHECK(find_decl(f[2], D_ALIAS, "l4.dport"), "alias l4.dport");

	/* parse.xdpl */
	CHECK(f[3]->ndecls == 1 && f[3]->decls[0]->kind == D_PARSER, "one parser block");
	CHECK(f[3]->ndecls == 1 && f[3]->decls[0]->nstates == 14, "14 states");
	struct ast_state *s = find_state(f[3], "eth");
	CHECK(s && s->nstmts == 2 && s->loop == 0, "state eth");
	if (s && s->nstmts == 2) {
		CHECK(s->stmts[0]->kind == PS_EXTRACT && !strcmp(s->stmts[0]->header, "eth"), "x");
		struct ast_pstmt *sel = s->stmts[1];
		CHECK(sel->kind == PS_SELECT && sel->narms == 5, "select eth.type");
		CHECK_STR(expr_str(sel->expr), "eth.type");
		if (sel->narms == 5) {
			CHECK(sel->arms[0]->nvalues == 2, "two values");
			CHECK_STR(expr_str(sel->arms[0]->values[1]), "34984");
			CHECK_STR(sel->arms[0]->target.state, "vlan");
			CHECK(sel->arms[4]->is_default && sel->arms[4]->target.accept, "_ -> accept");
			CHECK_STR(loc_str(sel->arms[1]->loc), "10:13-10:25");
		}
	}
	s = find_state(f[3], "ip6ext");
	CHECK(s && s->loop == 4, "ip6ext loop 4");
	s = find_state(f[3], "ip4");
	CHECK(s && s->nstmts == 3 && s->stmts[1]->kind == PS_SET, "set ip.proto");
	if (s && s->nstmts == 3) {
		CHECK_STR(expr_str(s->stmts[1]->lhs), "ip.proto");
		CHECK_STR(expr_str(s->stmts[1]->expr), "ip4.proto");
	}
	s = find_state(f[3], "arp");
	CHECK(s && s->nstmts == 2 && s->stmts[1]->kind == PS_NEXT && s->stmts[1]->target.accept,
	      "accept;");
	s = find_state(f[3], "ip6");
	if (s && s->nstmts == 3)
		CHECK_STR(expr_str(s->stmts[1]->expr), "ip6.next");
}

/* ---------------------------------------------------------------- example policy */

/* The example policy of tests/lang/spec_example.xdpl, kept once there (where it also runs in
 * the kernel); read in main(). */
static char *spec_example;

static void test_spec_example(void)
{
	CHECK(spec_example != NULL, "tests/lang/spec_example.xdpl not readable");
	if (!spec_example)
		return;
	struct ast_file *f = parse_ok("spec.xdpl", spec_example);
	if (!f)
		return;
	CHECK(f->ndecls == 10, "10 decls, got %d", f->ndecls);
	struct ast_decl *d = find_decl(f, D_PROGRAM, NULL);
	CHECK(d && !strcmp(d->program, "edge_guard"), "program");
	if (d)
		CHECK_STR(loc_str(d->loc), "2:1-2:18");

	d = find_decl(f, D_SET, "blocked");
	CHECK(d && d->set->kind == SK_SET_LPM && !d->set->is_map && d->set->nkey == 1 &&
		      d->set->key[0].kind == TY_IP4 && d->set->max == 65536, "set blocked");
	if (d) {
		CHECK_STR(expr_str(d->set->init), "{ 198.51.100.0/24 203.0.113.7 }");
		CHECK_STR(loc_str(d->set->loc), "4:5-4:11");
		CHECK_STR(loc_str(d->set->key_loc[0]), "4:18-4:20");
		CHECK_STR(loc_str(d->set->max_loc), "4:27-4:31");
		CHECK_STR(loc_str(d->set->init->args[0]->loc), "4:37-4:51");
	}
	d = find_decl(f, D_SET, "admin_ports");
	CHECK(d && d->set->kind == SK_SET_HASH && d->set->key[0].kind == TY_UINT &&
		      d->set->key[0].bits == 16 && d->set->max == 0, "set admin_ports");

	d = find_decl(f, D_RULE, "drop_blocked");
	CHECK(d && d->rule->has_verdict && d->rule->verdict.kind == V_DROP && !d->rule->limit,
	      "rule drop_blocked");
	if (d) {
		CHECK_STR(expr_str(d->rule->match), "(in ip4.src blocked)");
		CHECK_STR(loc_str(d->rule->match->loc), "8:11-8:28");
		CHECK_STR(loc_str(d->rule->match->lhs->loc), "8:11-8:17");
		CHECK_STR(loc_str(d->rule->loc), "7:6-7:17");
	}
	d = find_decl(f, D_RULE, "syn_flood");
	CHECK(d && d->rule->limit, "limit");
	if (d && d->rule->limit) {
		struct ast_limit *l = d->rule->limit;
		CHECK_STR(expr_str(d->rule->match), "(and tcp.flags.syn (not tcp.flags.ack))");
		CHECK(l->over && l->rate.kind == LIT_RATE && l->rate.u == 1000 &&
			      l->rate.unit == RATE_PPS, "over 1000/s");
		CHECK_STR(expr_str(l->burst), "200");
		CHECK(l->nper == 1 && !strcmp(expr_str(l->per[0]), "ip4.src"), "per ip4.src");
		CHECK_STR(loc_str(l->loc), "14:5-14:43");
	}
	d = find_decl(f, D_RULE, "admin_only_inside");
	if (d)
		CHECK_STR(expr_str(d->rule->match),
			  "(and (in tcp.dport admin_ports) (not (in ip4.src 10.0.0.0/8)))");
	d = find_decl(f, D_RULE, "answer_ping");
	CHECK(d && d->rule->has_rewrite && d->rule->nrewrite == 3 &&
		      d->rule->verdict.kind == V_TX, "answer_ping");
	if (d && d->rule->nrewrite == 3) {
		struct ast_stmt **s = d->rule->rewrite;
		CHECK(s[0]->kind == S_SWAP && !strcmp(expr_str(s[0]->lhs), "eth.src") &&
			      !strcmp(expr_str(s[0]->rhs), "eth.dst"), "swap");
		CHECK(s[2]->kind == S_ASSIGN && s[2]->op == OP_EQ &&
			      !strcmp(expr_str(s[2]->lhs), "icmp.type") &&
			      !strcmp(expr_str(s[2]->rhs), "0"), "assign");
		CHECK_STR(loc_str(s[0]->loc), "26:9-26:29");
		CHECK_STR(loc_str(d->rule->verdict.loc), "30:13-30:14");
	}
	d = find_decl(f, D_DEFAULT, NULL);
	CHECK(d && d->deflt.kind == V_PASS, "default pass");

	d = find_decl(f, D_TEST, "blocked prefix is dropped");
	CHECK(d && d->test->npacket == 3 && d->test->has_expect &&
		      d->test->expect.kind == V_DROP && d->test->by &&
		      !strcmp(d->test->by, "drop_blocked") && !d->test->has_output, "test 1");
	if (d) {
		CHECK_STR(layers_str(d->test->packet, d->test->npacket),
			  "eth() / ip4(src=198.51.100.9, dst=192.0.2.1) / udp(dport=53)");
		CHECK_STR(loc_str(d->test->by_loc), "37:20-37:31");
		CHECK_STR(loc_str(d->test->packet[1]->loc), "36:20-36:55");
		CHECK_STR(loc_str(d->test->packet[1]->args[1]->loc), "36:42-36:44");
		CHECK_STR(loc_str(d->test->loc), "35:6-35:32");
	}
	d = find_decl(f, D_TEST, "ping is answered");
	CHECK(d && d->test->has_output && d->test->noutput == 3 && !d->test->by, "test 2");
	if (d && d->test->noutput == 3)
		CHECK_STR(layers_str(d->test->output, d->test->noutput),
			  "eth(src=02:00:00:00:00:02, dst=02:00:00:00:00:01) / "
			  "ip4(src=192.0.2.1, dst=192.0.2.10) / icmp(type=0, id=7, seq=1)");
}

/* ---------------------------------------------------------------- expressions */

static void test_expressions(void)
{
	/* reference §7: arithmetic binds tighter than comparisons */
	CHECK_STR(match_of("tcp.flags & 0x12 == 0x12"), "(== (& tcp.flags 18) 18)");
	CHECK_STR(match_of("not tcp.dport == 22"), "(not (== tcp.dport 22))");
	CHECK_STR(match_of("a or b and c"), "(or a (and b c))");
	CHECK_STR(match_of("a and b or c"), "(or (and a b) c)");
	CHECK_STR(match_of("not a and b"), "(and (not a) b)");
	CHECK_STR(match_of("!a && b || c"), "(or (and (not a) b) c)");
	CHECK_STR(match_of("not not a"), "(not (not a))");
	CHECK_STR(match_of("a | b ^ c & d"), "(| a (^ b (& c d)))");
	CHECK_STR(match_of("a + b << 2 == 8"), "(== (<< (+ a b) 2) 8)");
	CHECK_STR(match_of("a - b - c < 1"), "(< (- (- a b) c) 1)");
	CHECK_STR(match_of("(ihl - 5) * 4 % 3 >= 1"), "(>= (% (* (- ihl 5) 4) 3) 1)");
	CHECK_STR(match_of("x >> 1 <= 2"), "(<= (>> x 1) 2)");
	CHECK_STR(match_of("x != 0 and y > 1"), "(and (!= x 0) (> y 1))");
	CHECK_STR(match_of("tcp.dport in 1024..65535"), "(in tcp.dport (.. 1024 65535))");
	CHECK_STR(match_of("tcp.dport in 1_024..0xff_ff"), "(in tcp.dport (.. 1024 65535))");
	CHECK_STR(match_of("x in LO..HI"), "(in x (.. LO HI))");
	CHECK_STR(match_of("x in lo + 1 .. hi"), "(in x (.. (+ lo 1) hi))");
	CHECK_STR(match_of("ip4.src in 10.0.0.0/8"), "(in ip4.src 10.0.0.0/8)");
	CHECK_STR(match_of("ip4.src in 10.0.0.1..10.0.0.9"), "(in ip4.src (.. 10.0.0.1 10.0.0.9))");
	CHECK_STR(match_of("ip6.src in ::1..::5"), "(in ip6.src (.. ::1 ::5))");
	CHECK_STR(match_of("tcp.dport in { 22, 80, 1000..2000, }"),
		  "(in tcp.dport { 22 80 (.. 1000 2000) })");
	CHECK_STR(match_of("ip.src in { 10.0.0.0/8, 2001:db8::/32, ::ffff:1.2.3.4 }"),
		  "(in ip.src { 10.0.0.0/8 2001:db8::/32 ::ffff:1.2.3.4 })");
	CHECK_STR(match_of("(ip4.src, tcp.dport) in pairs"), "(in (tuple ip4.src tcp.dport) pairs)");
	CHECK_STR(match_of("(a, b) in { (1, 2), (3, 4..5) }"),
		  "(in (tuple a b) { (tuple 1 2) (tuple 3 (.. 4 5)) })");
	CHECK_STR(match_of("counts[ip4.src] > 10"), "(> (index counts ip4.src) 10)");
	CHECK_STR(match_of("m[ip4.src, tcp.dport] == 1"), "(== (index m ip4.src tcp.dport) 1)");
	CHECK_STR(match_of("hash(ip4.src, ip4.dst) % 4 == 0"),
		  "(== (% (hash ip4.src ip4.dst) 4) 0)");
	CHECK_STR(match_of("tcp.flags.syn"), "tcp.flags.syn");
	CHECK_STR(match_of("tcp"), "tcp");
	CHECK_STR(match_of("flag == true or flag == false"), "(or (== flag true) (== flag false))");
	CHECK_STR(match_of("eth.src == 02:00:00:AA:bb:cc"), "(== eth.src 02:00:00:aa:bb:cc)");
	CHECK_STR(match_of("ip6.dst == fe80::1"), "(== ip6.dst fe80::1)");
	CHECK_STR(match_of("ip6.dst == ::"), "(== ip6.dst ::)");
	CHECK_STR(match_of("ip6.dst == 1:2:3:4:5:6:7:8"), "(== ip6.dst 1:2:3:4:5:6:7:8)");
	CHECK_STR(match_of("ip6.dst == ::ffff:1.2.3.4"), "(== ip6.dst ::ffff:1.2.3.4)");
	CHECK_STR(match_of("ip6.dst in ::ffff:0.0.0.0/96"), "(in ip6.dst ::ffff:0.0.0.0/96)");
	CHECK_STR(match_of("x == 0b1010_1010"), "(== x 170)");
	CHECK_STR(match_of("x == 18446744073709551615"), "(== x 18446744073709551615)");
	CHECK_STR(match_of("x == 0xFFFFFFFFFFFFFFFF"), "(== x 18446744073709551615)");
	CHECK_STR(match_of("payload_bytes == hex \"0a 0B\" \"ff\""),
		  "(== payload_bytes hex\"0a0bff\")");

	/* locations: binary spans its operands, parentheses are included */
	struct ast_file *f = parse_ok("loc.xdpl", "program p;\nrule r {\n"
						  "  match (tcp.dport + 1) == 0x16 and tcp.flags.syn;\n"
						  "  verdict drop; }\n");
	struct ast_decl *d = find_decl(f, D_RULE, "r");
	if (d && d->rule->match && d->rule->match->kind == E_BINARY) {
		struct ast_expr *m = d->rule->match;
		CHECK_STR(loc_str(m->loc), "3:9-3:49");
		CHECK_STR(loc_str(m->lhs->loc), "3:9-3:31");
		CHECK_STR(loc_str(m->lhs->lhs->loc), "3:9-3:23");
		CHECK(m->lhs->lhs->parenthesized, "parenthesized");
		CHECK(!m->lhs->parenthesized, "not parenthesized");
		CHECK_STR(loc_str(m->lhs->lhs->lhs->loc), "3:10-3:18");
		CHECK_STR(loc_str(m->lhs->rhs->loc), "3:28-3:31");
		CHECK_STR(loc_str(m->rhs->loc), "3:37-3:49");
		CHECK(m->loc.file == f->file_id && m->rhs->loc.file == f->file_id, "file id");
	} else {
		CHECK(0, "loc.xdpl match");
	}
}

/* ---------------------------------------------------------------- declarations */

static void test_declarations(void)
{
	struct ast_file *f = parse_ok(
		"decls.xdpl",
		"program p; // comment\n"
		"import \"lib/extra.xdpl\";\n"
		"/* block\n comment */ const LIMIT_PORT = 1024;\n"
		"const NETS = { 10.0.0.0/8, 192.168.0.0/16 };\n"
		"header vxlan { flags: u8 = 0x08; reserved: u24; vni: u24; reserved2: u8; }\n"
		"header h { next: u8; set: u1; max: u7; payload: bool; m: mac; a4: ip4; a6: ip6; "
		"x: u64 = 0xffff_ffff_ffff_ffff; b: bytes(m * 2) max 8; }\n"
		"header eth_inner = eth;\n"
		"parser {\n"
		"  state udp { extract udp; select udp.dport { 4789 -> vxlan; _ -> accept; } }\n"
		"  state vxlan loop 2 { extract vxlan; next eth_inner; }\n"
		"  state bad { reject; }\n"
		"  state s { select (a, b) { (1, 2) -> x; 3..4, 7 -> reject; } }\n"
		"}\n"
		"set pairs: hash<ip4, u16> max 1000 = { (192.0.2.1, 80), (192.0.2.2, 443) };\n"
		"set empty: hash<mac> = { };\n"
		"set nets6: lpm<ip6>;\n"
		"map counts: hash<ip4, u64> max 1024;\n"
		"map flows: lru<ip4, u16, u32> max 4096;\n"
		"map arr: array<u32> max 16;\n"
		"map pc: percpu_hash<u32, u64>;\n"
		"map pa: percpu_array<u64> max 4;\n"
		"map devs: devmap max 8;\n"
		"map cpus: cpumap max 4;\n"
		"map xsks: xskmap max 64;\n"
		"default drop;\n");
	if (!f)
		return;
	struct ast_decl *d = find_decl(f, D_IMPORT, NULL);
	CHECK(d && !strcmp(d->import->path, "lib/extra.xdpl"), "import");
	if (d)
		CHECK_STR(loc_str(d->import->loc), "2:8-2:23");
	d = find_decl(f, D_CONST, "LIMIT_PORT");
	CHECK(d && !strcmp(expr_str(d->konst->value), "1024"), "const");
	if (d)
		CHECK_STR(loc_str(d->konst->loc), "4:19-4:28");
	d = find_decl(f, D_CONST, "NETS");
	CHECK(d && !strcmp(expr_str(d->konst->value), "{ 10.0.0.0/8 192.168.0.0/16 }"), "NETS");
	d = find_decl(f, D_HEADER, "h");
	CHECK(d && d->header->nfields == 9, "header h");
	if (d && d->header->nfields == 9) {
		struct ast_field **fl = d->header->fields;
		CHECK_STR(fl[0]->name, "next");
		CHECK_STR(fl[1]->name, "set");
		CHECK_STR(fl[2]->name, "max");
		CHECK_STR(fl[3]->name, "payload");
		CHECK(fl[3]->type.kind == TY_BOOL && fl[3]->type.bits == 1, "bool");
		CHECK_STR(type_str(fl[4]->type), "mac");
		CHECK_STR(type_str(fl[5]->type), "ip4");
		CHECK_STR(type_str(fl[6]->type), "ip6");
		CHECK(fl[7]->type.bits == 64, "u64");
		CHECK_STR(expr_str(fl[7]->deflt), "18446744073709551615");
		CHECK_STR(expr_str(fl[8]->size), "(* m 2)");
		CHECK(fl[8]->max_bytes == 8, "max 8");
	}
	d = find_decl(f, D_HEADER, "eth_inner");
	CHECK(d && !strcmp(d->header->layout_of, "eth"), "eth_inner");

	struct ast_state *s = find_state(f, "vxlan");
	CHECK(s && s->loop == 2 && s->nstmts == 2 && s->stmts[1]->kind == PS_NEXT &&
		      !strcmp(s->stmts[1]->target.state, "eth_inner"), "next eth_inner");
	s = find_state(f, "bad");
	CHECK(s && s->nstmts == 1 && s->stmts[0]->target.reject, "reject");
	s = find_state(f, "s");
	CHECK(s && s->nstmts == 1 && s->stmts[0]->narms == 2, "tuple select");
	if (s && s->nstmts == 1 && s->stmts[0]->narms == 2) {
		CHECK_STR(expr_str(s->stmts[0]->expr), "(tuple a b)");
		CHECK_STR(expr_str(s->stmts[0]->arms[0]->values[0]), "(tuple 1 2)");
		CHECK(s->stmts[0]->arms[1]->nvalues == 2 && s->stmts[0]->arms[1]->target.reject,
		      "range arm");
		CHECK_STR(expr_str(s->stmts[0]->arms[1]->values[0]), "(.. 3 4)");
	}

	d = find_decl(f, D_SET, "pairs");
	CHECK(d && d->set->nkey == 2 && d->set->key[0].kind == TY_IP4 &&
		      d->set->key[1].bits == 16 && d->set->max == 1000, "pairs");
	if (d)
		CHECK_STR(expr_str(d->set->init), "{ (tuple 192.0.2.1 80) (tuple 192.0.2.2 443) }");
	d = find_decl(f, D_SET, "empty");
	CHECK(d && d->set->init && d->set->init->kind == E_SETLIT && d->set->init->nargs == 0,
	      "empty set");
	d = find_decl(f, D_SET, "nets6");
	CHECK(d && d->set->kind == SK_SET_LPM && d->set->key[0].kind == TY_IP6 && !d->set->init,
	      "nets6");
	d = find_decl(f, D_SET, "counts");
	CHECK(d && d->set->is_map && d->set->kind == SK_MAP_HASH && d->set->nkey == 1 &&
		      d->set->key[0].kind == TY_IP4 && d->set->value.bits == 64 &&
		      d->set->max == 1024, "counts");
	d = find_decl(f, D_SET, "flows");
	CHECK(d && d->set->kind == SK_MAP_LRU && d->set->nkey == 2 && d->set->value.bits == 32,
	      "flows");
	d = find_decl(f, D_SET, "arr");
	CHECK(d && d->set->kind == SK_MAP_ARRAY && d->set->nkey == 1 &&
		      d->set->key[0].bits == 32 && d->set->value.bits == 32, "arr");
	d = find_decl(f, D_SET, "pc");
	CHECK(d && d->set->kind == SK_MAP_PERCPU_HASH, "pc");
	d = find_decl(f, D_SET, "pa");
	CHECK(d && d->set->kind == SK_MAP_PERCPU_ARRAY && d->set->value.bits == 64, "pa");
	d = find_decl(f, D_SET, "devs");
	CHECK(d && d->set->kind == SK_MAP_DEVMAP && d->set->max == 8, "devs");
	d = find_decl(f, D_SET, "cpus");
	CHECK(d && d->set->kind == SK_MAP_CPUMAP, "cpus");
	d = find_decl(f, D_SET, "xsks");
	CHECK(d && d->set->kind == SK_MAP_XSKMAP, "xsks");
	d = find_decl(f, D_DEFAULT, NULL);
	CHECK(d && d->deflt.kind == V_DROP, "default drop");
}

static void test_rules_and_tests(void)
{
	struct ast_file *f = parse_ok(
		"rules.xdpl",
		"program p;\n"
		"rule a { verdict pass; }\n"
		"rule b { verdict redirect eth1; }\n"
		"rule c { verdict redirect ifindex 4; }\n"
		"rule d { verdict redirect devs[ip4.dst & 7]; }\n"
		"rule e { verdict redirect cpu 2; }\n"
		"rule f { verdict route; }\n"
		"rule g { verdict continue; }\n"
		"rule h { verdict abort; }\n"
		"rule i { verdict redirect \"eth0.100\"; }\n"
		"rule j {\n"
		"  limit 10mbps per ip4.src, ip4.dst;\n"
		"  rewrite {\n"
		"    ip4.ttl -= 1; counts[ip4.src] += 1; ip4.dscp = 46;\n"
		"    push vlan(id=100, pcp=3); pop vlan;\n"
		"    encap udp(dport=4789) / vxlan(vni=42);\n"
		"    encap ip4(src=192.0.2.1, dst=192.0.2.2);\n"
		"    decap;\n"
		"    blocked add ip4.src timeout 60s;\n"
		"    seen add (ip4.src, tcp.dport) timeout 5 m;\n"
		"    blocked add ip4.dst;\n"
		"    blocked del ip4.src;\n"
		"  }\n"
		"  verdict tx;\n"
		"}\n"
		"rule k { limit 5/m; verdict drop; }\n"
		"rule l { limit 3 / h burst 10; verdict drop; }\n"
		"rule m { limit 1gbps; verdict drop; }\n"
		"test \"t\" {\n"
		"  packet eth() / ip6(next=59, hlim=1) / payload(\"ab\\x00\\n\\\"\\\\\");\n"
		"  expect redirect by default;\n"
		"}\n"
		"test \"raw\" { packet raw(hex \"0a0b 0c\\n0d\"); expect pass; }\n"
		"test \"hexpayload\" { packet eth()/payload(hex \"ff\" \"00\");\n"
		"  expect redirect eth1 by b; output eth()/ip4(options=hex \"01010101\"); }\n");
	CHECK(f != NULL, "rules.xdpl parsed");
	if (!f)
		return;
	static const char *const want[] = {
		"pass", "redirect dev eth1", "redirect ifindex 4", "redirect map devs (& ip4.dst 7)",
		"redirect cpu 2", "route", "continue", "abort", "redirect dev eth0.100",
	};
	for (int i = 0; i < 9; i++) {
		char name[2] = { (char)('a' + i), 0 };
		struct ast_decl *d = find_decl(f, D_RULE, name);
		CHECK(d && d->rule->has_verdict && !d->rule->match, "rule %s", name);
		if (d)
			CHECK_STR(verdict_str(&d->rule->verdict), want[i]);
	}
	struct ast_decl *d = find_decl(f, D_RULE, "j");
	CHECK(d && d->rule->limit && d->rule->nrewrite == 12, "rule j");
	if (d && d->rule->limit && d->rule->nrewrite == 12) {
		struct ast_limit *l = d->rule->limit;
		CHECK(!l->over && l->rate.u == 10 && l->rate.unit == RATE_MBPS && !l->burst &&
			      l->nper == 2, "10mbps");
		struct ast_stmt **s = d->rule->rewrite;
		CHECK(s[0]->kind == S_ASSIGN && s[0]->op == OP_SUB, "-=");
		CHECK(s[1]->kind == S_ASSIGN && s[1]->op == OP_ADD &&
			      !strcmp(expr_str(s[1]->lhs), "(index counts ip4.src)"), "map +=");
		CHECK(s[3]->kind == S_PUSH && s[3]->nlayers == 1 &&
			      !strcmp(layer_str(s[3]->layers[0]), "vlan(id=100, pcp=3)"), "push");
		CHECK(s[4]->kind == S_POP && !strcmp(s[4]->header, "vlan"), "pop");
		CHECK(s[5]->kind == S_ENCAP && s[5]->nlayers == 2 &&
			      !strcmp(layers_str(s[5]->layers, 2), "udp(dport=4789) / vxlan(vni=42)"),
		      "encap");
		CHECK(s[7]->kind == S_DECAP, "decap");
		CHECK(s[8]->kind == S_SET_ADD && !strcmp(s[8]->set, "blocked") && s[8]->has_timeout &&
			      s[8]->timeout.kind == LIT_DURATION && s[8]->timeout.u == 60000,
		      "add timeout 60s");
		CHECK(s[9]->kind == S_SET_ADD && s[9]->timeout.u == 300000 &&
			      !strcmp(expr_str(s[9]->key), "(tuple ip4.src tcp.dport)"), "5 m");
		CHECK(s[10]->kind == S_SET_ADD && !s[10]->has_timeout &&
			      s[10]->timeout.kind == LIT_INT, "add without timeout");
		CHECK(s[11]->kind == S_SET_DEL && !strcmp(expr_str(s[11]->key), "ip4.src"), "del");
		CHECK_STR(loc_str(s[8]->loc), "19:5-19:35");
	}
	d = find_decl(f, D_RULE, "k");
	CHECK(d && d->rule->limit && d->rule->limit->rate.unit == RATE_PPM &&
		      d->rule->limit->rate.u == 5, "5/m");
	d = find_decl(f, D_RULE, "l");
	CHECK(d && d->rule->limit && d->rule->limit->rate.unit == RATE_PPH &&
		      !strcmp(expr_str(d->rule->limit->burst), "10"), "3 / h burst 10");

	d = find_decl(f, D_TEST, "t");
	CHECK(d && d->test->npacket == 3 && d->test->expect.kind == V_REDIRECT_ANY &&
		      !strcmp(d->test->by, "default"), "test t");
	if (d && d->test->npacket == 3) {
		CHECK_STR(layer_str(d->test->packet[1]), "ip6(next=59, hlim=1)");
		CHECK_STR(layer_str(d->test->packet[2]), "payload[6162000a225c]");
	}
	d = find_decl(f, D_TEST, "raw");
	CHECK(d && d->test->npacket == 1 && !strcmp(layer_str(d->test->packet[0]), "raw[0a0b0c0d]"),
	      "raw");
	d = find_decl(f, D_TEST, "hexpayload");
	CHECK(d && d->test->npacket == 2 && d->test->expect.kind == V_REDIRECT_DEV &&
		      d->test->has_output, "hexpayload");
	if (d && d->test->npacket == 2) {
		CHECK_STR(layer_str(d->test->packet[1]), "payload[ff00]");
		CHECK_STR(layers_str(d->test->output, d->test->noutput),
			  "eth() / ip4(options=hex\"01010101\")");
	}
}

/* ---------------------------------------------------------------- errors */

/* Parse text, expect exactly nerr errors, and every wanted string (a
 * "line:col: error: message" fragment) among the diagnostics. */
static struct ast_file *expect_errors(const char *name, const char *text, int nerr, ...)
{
	int n;
	struct ast_file *f = parse_text(name, text, &n);
	CHECK(n == nerr, "%s: %d errors, want %d:\n%s", name, n, nerr, diag_text);
	va_list ap;
	va_start(ap, nerr);
	const char *want;
	while ((want = va_arg(ap, const char *))) {
		const char *full = arena_printf(&arena, "%s:%s", name, want);
		CHECK(strstr(diag_text, full), "%s: no '%s' in:\n%s", name, full, diag_text);
	}
	va_end(ap);
	return f;
}

static void test_errors(void)
{
	/* lexical errors: reported where they are, the scan goes on */
	expect_errors("bad_char.xdpl", "program p;\nrule r {\n    match tcp.dport == 22 $ ;\n"
		      "    verdict drop;\n}\n", 1,
		      "3:27: error: invalid character '$'", NULL);
	expect_errors("bad_ip6.xdpl", "program p;\nrule r {\n    match ip6.src == 2001:db8:::1;\n"
		      "    verdict drop;\n}\n", 1,
		      "3:22: error: invalid IPv6 address '2001:db8:::1'", NULL);
	expect_errors("int_overflow.xdpl",
		      "program p;\nrule r {\n    match ip4.id == 99999999999999999999999;\n"
		      "    verdict drop;\n}\n", 1,
		      "3:21: error: integer literal '99999999999999999999999' is too large", NULL);
	expect_errors("hex_overflow.xdpl", "program p; const X = 0x1_0000_0000_0000_0000;", 1,
		      "1:22: error: integer literal", NULL);
	expect_errors("prefix_len.xdpl",
		      "program p;\nrule r {\n    match ip4.src in 10.0.0.0/33;\n    verdict drop;\n}\n",
		      1, "3:31: error: prefix length 33 is out of range (0..32)", NULL);
	expect_errors("prefix6_len.xdpl", "program p; const N = 2001:db8::/129;", 1,
		      "1:33: error: prefix length 129 is out of range (0..128)", NULL);
	expect_errors("octet.xdpl", "program p; const A = 10.256.0.1;", 1,
		      "1:25: error: IPv4 address part '256' is out of range", NULL);
	expect_errors("dotted.xdpl", "program p; const A = 1.5; const B = 1.2.3.4.5;", 2,
		      "1:22: error: invalid IPv4 address '1.5'",
		      "1:37: error: invalid IPv4 address '1.2.3.4.5'", NULL);
	expect_errors("badnum.xdpl", "program p; const A = 12ab; const B = 1__0; const C = 0xZZ;\n"
		      "const D = 10_; const E = 0b102;", 5,
		      "1:22: error: invalid number '12ab'", "1:38: error: invalid number '1__0'",
		      "1:54: error: invalid number '0xZZ'", "2:11: error: invalid number '10_'",
		      "2:26: error: invalid number '0b102'", NULL);
	expect_errors("unterminated_string.xdpl",
		      "program p;\ntest \"never closed {\n    packet eth();\n    expect pass;\n}\n",
		      1, "2:6: error: unterminated string", NULL);
	expect_errors("bad_escape.xdpl",
		      "program p; test \"a\\qb\\x4\" { packet payload(\"\\x41\"); expect pass; }", 2,
		      "1:19: error: bad escape '\\q'", "1:22: error: bad escape '\\x'", NULL);
	struct ast_file *f = expect_errors(
		"unterminated_comment.xdpl",
		"program p;\n/* this comment\nrule r { verdict drop; }\n", 1,
		"2:1: error: unterminated comment", NULL);
	CHECK(f && f->ndecls == 1, "program kept before the comment");
	expect_errors("hex_odd.xdpl", "program p; test \"x\" { packet raw(hex \"0a0\"); "
		      "packet raw(hex \"zz\"); }", 3,
		      "1:38: error: hex string has an odd number of digits",
		      "1:61: error: invalid character 'z' in hex string", NULL);
	expect_errors("non_ascii.xdpl", "program p; # ünïcode ok in comments\n"
		      "test \"ünï\" { expect pass; } const é = 1;", 1,
		      "2:37: error: non-ASCII character", NULL);
	expect_errors("rate_unit.xdpl", "program p; rule r { limit 10/sec; limit 5 kbs; "
		      "verdict drop; }\nrule s { rewrite { x add y timeout 10; z add y timeout 5min; "
		      "w add y timeout 3 d; } verdict pass; }", 6,
		      "1:29: error: unknown rate unit '/sec'", "1:41: error: unknown rate unit 'kbs'",
		      "1:35: error: rule 'r' has more than one 'limit'",
		      "2:36: error: duration needs a unit", "2:56: error: invalid number '5min'",
		      "2:78: error: unknown duration unit 'd'", NULL);

	/* syntax errors with friendly wording, and recovery */
	f = expect_errors("missing_semicolon.xdpl",
			  "program p;\nrule r {\n    match tcp.dport == 22\n    verdict drop;\n}\n"
			  "rule s { match x; verdict pass }\nprogram q\n", 3,
			  "3:26: error: missing ';' after '22'",
			  "6:31: error: missing ';' after 'pass'",
			  "7:10: error: missing ';' after 'q'", NULL);
	if (f) {
		struct ast_decl *d = find_decl(f, D_RULE, "r");
		CHECK(d && d->rule->match && d->rule->has_verdict, "rule r recovered whole");
		d = find_decl(f, D_RULE, "s");
		CHECK(d && d->rule->has_verdict && d->rule->verdict.kind == V_PASS, "rule s whole");
		CHECK(find_decl(f, D_PROGRAM, "q"), "program q kept");
	}
	f = expect_errors("syntax_recovery.xdpl",
			  "program p;\nrule a {\n    match tcp.dport == == 22;\n    verdict drop;\n}\n"
			  "rule b {\n    match udp.dport == 53;\n    verdict pas;\n}\n"
			  "rule c {\n    match tcp.dport == 80;\n    verdict drop;\n}\n", 2,
			  "3:24: error: syntax error, unexpected '=='",
			  "8:13: error: unknown verdict 'pas'; did you mean 'pass'?", NULL);
	if (f) {
		CHECK(f->ndecls == 4, "all rules kept, got %d", f->ndecls);
		struct ast_decl *a = find_decl(f, D_RULE, "a");
		CHECK(a && !a->rule->match && a->rule->has_verdict, "rule a keeps its verdict");
		struct ast_decl *c = find_decl(f, D_RULE, "c");
		CHECK(c && c->rule->match && c->rule->has_verdict, "rule c intact");
	}
	expect_errors("two_verdicts.xdpl",
		      "program p;\nrule r {\n    match tcp.dport == 22;\n    verdict drop;\n"
		      "    verdict pass;\n}\n", 1,
		      "5:5: error: rule 'r' has more than one 'verdict'", NULL);
	expect_errors("keyword_name.xdpl", "program p;\nrule next { verdict drop; }\n", 1,
		      "2:6: error: 'next' is a reserved word and cannot be used as a name here",
		      NULL);
	expect_errors("missing_brace.xdpl",
		      "program p;\nrule a {\n  match x;\n  verdict drop;\nrule b { verdict pass; }\n",
		      1, "5:1: error: missing '}' before 'rule'", NULL);
	expect_errors("eof.xdpl", "program p;\nrule a {\n  match x;\n", 1,
		      "4:1: error: unexpected end of file: missing '}'", NULL);
	expect_errors("types.xdpl", "program p; header h { a: u65; b: u0; c: int; d: ip4x; }\n"
		      "set s: hash<u16, u8> = {1}; set t: lpm<ip4, ip4>; set v: lru<u8>;\n"
		      "map m: hash<u8>; map n: array; map o: devmap<u32>; map q: bogus;", 10,
		      "1:26: error: integer type 'u65' is too wide",
		      "1:34: error: unknown type 'u0'", "1:41: error: unknown type 'int'",
		      "1:49: error: unknown type 'ip4x'; did you mean 'ip4'?",
		      "2:36: error: an lpm set has one key type",
		      "2:58: error: unknown set kind 'lru'", "3:8: error: 'hash' map needs a key",
		      "3:25: error: 'array' map has one value type",
		      "3:39: error: 'devmap' takes no types", "3:59: error: unknown map kind 'bogus'",
		      NULL);
	expect_errors("redirect_bare.xdpl", "program p; rule r { verdict redirect; }\n"
		      "default redirect;", 2,
		      "1:29: error: 'redirect' needs a target", "2:9: error: 'redirect' needs", NULL);
	expect_errors("loop.xdpl", "program p; parser { state s loop 0 { accept; } }", 1,
		      "1:34: error: loop bound must be between 1 and 1024", NULL);
	f = expect_errors("several.xdpl",
			  "program p;\nheader h { a: u8 b: u8; c u8; d: u8; }\n"
			  "rule r { match a b c; verdict drop; }\nrule s { match ; verdict drop; }\n"
			  "set x: hash<u8> = { 1, 2 ;\n"
			  "rule t { match ok; verdict drop; }\n", 5,
			  "2:17: error: missing ';' after 'u8'",
			  "2:27: error: syntax error, unexpected identifier 'u8', expecting ':'",
			  "3:18: error: syntax error, unexpected identifier 'b'",
			  "4:16: error: syntax error, unexpected ';'",
			  "5:26: error: syntax error, unexpected ';', expecting '}'", NULL);
	if (f) {
		struct ast_decl *h = find_decl(f, D_HEADER, "h");
		CHECK(h && h->header->nfields == 3, "h keeps a, b and d, got %d",
		      h ? h->header->nfields : -1);
		CHECK(find_decl(f, D_RULE, "t"), "rule t after errors");
	}
	/* the broken statement's own ';' ends it: the next one survives */
	f = expect_errors("own_semi.xdpl",
			  "program p;\nrule r { match a == ; verdict drop; }\n"
			  "alias a.b = c.d | ;\nrule s { rewrite { x = ; y = 1; } verdict pass; }\n",
			  3, "2:21: error: syntax error, unexpected ';', expecting an expression",
			  "3:19: error:", "4:24: error:", NULL);
	if (f) {
		struct ast_decl *r = find_decl(f, D_RULE, "r");
		CHECK(r && !r->rule->match && r->rule->has_verdict, "r keeps its verdict only");
		struct ast_decl *s2 = find_decl(f, D_RULE, "s");
		CHECK(s2 && s2->rule->nrewrite == 1 && s2->rule->has_verdict, "s keeps y = 1");
	}
}

/* ---------------------------------------------------------------- robustness */

static unsigned rng_state = 12345;

static unsigned rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 16;
}

/* Every prefix of valid input, token soup and random bytes: the parser may
 * complain but must not crash, leak or loop. */
static void test_robustness(const char *root)
{
	FILE *devnull = fopen("/dev/null", "w");
	const char *path = arena_printf(&arena, "%s/stdlib/l4.xdpl", root);
	const char *inputs[] = { spec_example, read_file(path) };
	for (int k = 0; k < 2; k++) {
		const char *in = inputs[k];
		if (!in)
			continue;
		size_t len = strlen(in);
		for (size_t cut = 0; cut <= len; cut += 1) {
			char *t = arena_strndup(&arena, in, cut);
			diag_set_stream(devnull);
			int id = diag_add_source("cut.xdpl", t, cut);
			struct ast_file *f = parse_file(&arena, id);
			diag_set_stream(NULL);
			CHECK(f != NULL, "truncated at %zu", cut);
		}
		/* and with one byte replaced */
		for (int i = 0; i < 300; i++) {
			char *t = arena_strdup(&arena, in);
			t[rng() % len] = " ;{}()[]<>=,./:!x0\"#*\\"[rng() % 22];
			diag_set_stream(devnull);
			int id = diag_add_source("mut.xdpl", t, len);
			CHECK(parse_file(&arena, id) != NULL, "mutated");
			diag_set_stream(NULL);
		}
	}
	static const char *const soup[] = {
		"program", "rule", "header", "set", "map", "test", "parser", "state", "select",
		"match", "verdict", "rewrite", "limit", "{", "}", "(", ")", "[", "]", ";", ",", "=",
		"==", "->", "..", "/", ":", "<", ">", "in", "not", "and", "x", "a.b", "1", "0x10",
		"1.2.3.4", "::1", "02:00:00:00:00:01", "10.0.0.0/8", "\"s\"", "hex", "_", "drop",
		"redirect", "payload", "60s", "5/s", "u8", "bits", "bytes", "max", "\n", "/*", "*/",
		"#", "\"",
	};
	int nsoup = (int)(sizeof(soup) / sizeof(soup[0]));
	for (int i = 0; i < 2000; i++) {
		struct buf b = { 0 };
		bprintf(&b, "%s", "");
		int n = (int)(rng() % 60);
		for (int j = 0; j < n; j++)
			bprintf(&b, "%s ", soup[rng() % (unsigned)nsoup]);
		diag_set_stream(devnull);
		int id = diag_add_source("soup.xdpl", b.p, b.len);
		CHECK(parse_file(&arena, id) != NULL, "soup");
		diag_set_stream(NULL);
	}
	for (int i = 0; i < 500; i++) {
		char t[256];
		int n = (int)(rng() % 255);
		for (int j = 0; j < n; j++)
			t[j] = (char)(rng() % 255 + 1);
		t[n] = 0;
		diag_set_stream(devnull);
		int id = diag_add_source("bytes.xdpl", t, (size_t)n);
		CHECK(parse_file(&arena, id) != NULL, "bytes");
		diag_set_stream(NULL);
	}
	/* deep nesting is an error, not a stack overflow */
	{
		struct buf b = { 0 };
		bprintf(&b, "program p; rule r { match ");
		for (int i = 0; i < 20000; i++)
			bprintf(&b, "(");
		bprintf(&b, "x");
		for (int i = 0; i < 20000; i++)
			bprintf(&b, ")");
		bprintf(&b, "; verdict drop; }");
		diag_set_stream(devnull);
		int before = diag_error_count();
		int id = diag_add_source("deep.xdpl", b.p, b.len);
		CHECK(parse_file(&arena, id) != NULL, "deep");
		CHECK(diag_error_count() > before, "deep nesting reported");
		diag_set_stream(NULL);
	}
	/* the error limit stops a file of garbage early */
	{
		struct buf b = { 0 };
		for (int i = 0; i < 5000; i++)
			bprintf(&b, "$ ");
		diag_set_stream(devnull);
		int before = diag_error_count();
		int id = diag_add_source("garbage.xdpl", b.p, b.len);
		CHECK(parse_file(&arena, id) != NULL, "garbage");
		CHECK(diag_error_count() - before <= 60, "error limit, got %d",
		      diag_error_count() - before);
		diag_set_stream(NULL);
	}
	fclose(devnull);
}

int main(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : ".";
	spec_example = read_file(arena_printf(&arena, "%s/tests/lang/spec_example.xdpl", root));
	test_stdlib(root);
	test_spec_example();
	test_expressions();
	test_declarations();
	test_rules_and_tests();
	test_errors();
	test_robustness(root);
	arena_free(&arena);
	diag_reset();
	printf("test_parse: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
