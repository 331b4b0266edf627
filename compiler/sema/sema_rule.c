/* Rules (reference §9), rewrite statements (§12), verdicts, and tests (§14). */
#include "sema_internal.h"

#include <inttypes.h>
#include <string.h>

/* ---------------------------------------------------------------- verdicts */

static bool is_redirect(enum verdict_kind k)
{
	return k == V_REDIRECT_DEV || k == V_REDIRECT_IFINDEX || k == V_REDIRECT_MAP ||
	       k == V_REDIRECT_CPU || k == V_REDIRECT_ANY;
}

/* redirect MAP[KEY]: a devmap, cpumap or xskmap the user declared. */
static void check_redirect_map(struct sema *s, struct ast_verdict *v)
{
	struct ast_set *m = v->map ? find_set(s, v->map) : NULL;
	if (!m) {
		struct ptrvec c = { 0 };
		cands_sets(s, &c, false, true);
		diag_error(name_loc(s, v->loc, v->map), "unknown map '%s'%s", v->map ? v->map : "?",
			   did_you_mean(s, v->map ? v->map : "", &c));
		if (v->key)
			check_value(s, v->key);
		return;
	}
	v->map_ref = m;
	if (m->kind != SK_MAP_DEVMAP && m->kind != SK_MAP_CPUMAP && m->kind != SK_MAP_XSKMAP) {
		diag_error(name_loc(s, v->loc, v->map), "'%s' is a %s; `redirect %s[KEY]` needs a devmap, cpumap or xskmap",
			   m->name, m->is_map ? set_kind_name(m) : "set", m->name);
		return;
	}
	if (v->key)
		check_set_key(s, m, &v->key, 1, v->key->loc);
}

void check_verdict(struct sema *s, struct ast_verdict *v, int ctx)
{
	switch (v->kind) {
	case V_REDIRECT_DEV:
		if (!v->ifname || !*v->ifname || strlen(v->ifname) > 15)
			diag_error(v->loc, "interface name '%s' is not valid; names have 1 to 15 characters",
				   v->ifname ? v->ifname : "");
		break;
	case V_REDIRECT_IFINDEX:
		if (v->num == 0 || v->num > UINT32_MAX)
			diag_error(v->loc, "ifindex %" PRIu64 " is not a valid interface index", v->num);
		break;
	case V_REDIRECT_CPU:
		if (v->num >= 4096)
			diag_error(v->loc, "cpu %" PRIu64 " is out of range (0..4095)", v->num);
		break;
	case V_REDIRECT_MAP:
		check_redirect_map(s, v);
		break;
	case V_REDIRECT_ANY:
		if (ctx != VCTX_EXPECT)
			diag_error(v->loc, "`redirect` needs a target: an interface name, ifindex N, cpu N or MAP[KEY]");
		break;
	case V_CONTINUE:
		if (ctx == VCTX_DEFAULT)
			diag_error(v->loc, "default cannot be `continue`; it must decide the packet");
		else if (ctx == VCTX_EXPECT)
			diag_error(v->loc, "a test cannot expect `continue`; it is not a final verdict");
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------- limit */

/* `limit NAME` / `timeout NAME`: the rate or duration constant NAME. */
static void const_lit(struct sema *s, struct xdpl_lit *lit, struct xdpl_loc loc, const char *what)
{
	if (!lit->str || lit->u)
		return;
	struct symentry *se = find_const(s, lit->str);
	const struct ast_const *k = se && fold_const(s, se) ? se->ptr : NULL;
	if (k && k->folded.kind == lit->kind) {
		*lit = k->folded;
		return;
	}
	if (!se)
		diag_error(loc, "'%s' is not a constant; %s", lit->str,
			   lit->kind == LIT_RATE ? "a limit takes a rate such as 1000/s or 10mbps"
						 : "a timeout takes a duration such as 30s");
	else if (k)
		diag_error(loc, "'%s' is %s, not %s", lit->str, lit_kind_desc(&k->folded), what);
	lit->u = 1; /* reported: no follow-on errors */
}

static void check_limit(struct sema *s, struct ast_limit *l)
{
	const_lit(s, &l->rate, l->loc, "a rate");
	if (l->rate.kind != LIT_RATE)
		diag_error(l->loc, "limit needs a rate such as 1000/s or 10mbps");
	else if (l->rate.u == 0)
		diag_error(l->loc, "a limit rate must be greater than 0");
	if (l->burst && check_value(s, l->burst).kind != TY_NONE) {
		uint64_t b;
		if (!expr_int_value(l->burst, &b) || l->burst->type.kind != TY_INT_LIT)
			diag_error(l->burst->loc, "burst must be a constant number of %s",
				   l->rate.unit >= RATE_KBPS ? "bytes" : "packets");
		else if (b == 0)
			diag_error(l->burst->loc, "burst must be at least 1");
		else
			fit_value(s, l->burst, ty_make(TY_UINT, 32), "burst", FIT_COMPARE);
	}
	if (l->nper > 8)
		diag_error(l->per[8]->loc, "a limit has at most 8 `per` keys");
	for (int i = 0; i < l->nper; i++) {
		struct ast_expr *k = l->per[i];
		if (check_value(s, k).kind == TY_NONE)
			continue;
		if (k->kind == E_LIT || (k->kind == E_NAME && k->ref.kind == REF_CONST))
			diag_error(k->loc, "`per` needs packet values such as ip4.src; %s is a constant",
				   expr_str(s, k));
		else if (k->type.kind == TY_INT_LIT)
			k->type = ty_make(TY_UINT, 64);
	}
}

/* ---------------------------------------------------------------- rewrites */

/* What may be written: header fields, named bits, aliases, map entries. */
static bool check_lvalue(struct sema *s, struct ast_expr *lhs)
{
	if (lhs->kind == E_INDEX)
		return check_value(s, lhs).kind != TY_NONE;
	if (lhs->kind != E_NAME) {
		diag_error(lhs->loc, "the left side of an assignment must be a field or MAP[KEY]");
		return false;
	}
	if (!resolve_name(s, lhs))
		return false;
	switch (lhs->ref.kind) {
	case REF_FIELD:
		if (lhs->type.kind == TY_BYTES) {
			diag_error(lhs->loc, "%s is a bytes() field and cannot be assigned", lhs->name);
			return false;
		}
		return true;
	case REF_FLAG:
	case REF_ALIAS:
		return true;
	case REF_META:
		diag_error(lhs->loc, "%s is set by the parser and cannot be rewritten", lhs->name);
		return false;
	case REF_PKT:
		diag_error(lhs->loc, "%s cannot be assigned", lhs->name);
		return false;
	case REF_CONST:
		diag_error(lhs->loc, "'%s' is a constant and cannot be assigned", lhs->name);
		return false;
	case REF_HEADER:
		diag_error(lhs->loc, "cannot assign to header '%s'; assign one of its fields", lhs->name);
		return false;
	case REF_SET:
		if (lhs->ref.set->is_map)
			diag_error(lhs->loc, "cannot assign to map '%s' as a whole; write %s[KEY] = VALUE",
				   lhs->name, lhs->name);
		else
			diag_error(lhs->loc, "cannot assign to set '%s'; write `%s add KEY;` or `%s del KEY;`",
				   lhs->name, lhs->name, lhs->name);
		return false;
	case REF_NONE:
		break;
	}
	return false;
}

static void check_assign(struct sema *s, struct ast_stmt *st)
{
	bool ok = st->lhs && check_lvalue(s, st->lhs);
	if (!st->rhs)
		return;
	struct xdpl_type rt = check_value(s, st->rhs);
	if (!ok || rt.kind == TY_NONE)
		return;
	struct ast_expr *lhs = st->lhs;
	if (lhs->kind == E_NAME && lhs->ref.kind == REF_ALIAS) {
		struct xdpl_type p = alias_pick(lhs->ref.alias, rt.kind);
		if (p.kind != TY_NONE)
			lhs->type = p;
	}
	const char *what = expr_str(s, lhs);
	if (st->op == OP_ADD || st->op == OP_SUB) {
		if (lhs->type.kind != TY_UINT) {
			diag_error(lhs->loc, "'%s=' needs an integer, but %s is %s", st->op == OP_ADD ? "+" : "-",
				   what, ty_name(s, lhs->type));
			return;
		}
	} else if (st->op != OP_EQ) {
		diag_error(st->loc, "only =, += and -= can be used in a rewrite");
		return;
	}
	fit_value(s, st->rhs, lhs->type, what, FIT_ASSIGN);
}

/* swap A, B: both writable, same type; aliases swap family by family. */
static bool swappable(struct sema *s, struct ast_expr *e)
{
	if (e->kind != E_NAME) {
		diag_error(e->loc, "swap needs two fields");
		return false;
	}
	if (!resolve_name(s, e))
		return false;
	if ((e->ref.kind == REF_FIELD && e->type.kind != TY_BYTES) || e->ref.kind == REF_ALIAS)
		return true;
	diag_error(e->loc, "swap needs two header fields; %s is not one", expr_str(s, e));
	return false;
}

static bool alias_alts_pair(const struct ast_alias *a, const struct ast_alias *b)
{
	if (a->nalts != b->nalts)
		return false;
	for (int i = 0; i < a->nalts; i++)
		if (a->alts[i]->ref.hdr != b->alts[i]->ref.hdr ||
		    !ty_eq(a->alts[i]->type, b->alts[i]->type))
			return false;
	return true;
}

static void check_swap(struct sema *s, struct ast_stmt *st)
{
	bool a = st->lhs && swappable(s, st->lhs);
	bool b = st->rhs && swappable(s, st->rhs);
	if (!a || !b)
		return;
	struct ast_expr *x = st->lhs, *y = st->rhs;
	bool xa = x->ref.kind == REF_ALIAS, ya = y->ref.kind == REF_ALIAS;
	if (xa || ya) {
		if (!xa || !ya || !alias_alts_pair(x->ref.alias, y->ref.alias))
			diag_error(st->loc, "cannot swap %s with %s: %s", expr_desc(s, x), expr_desc(s, y),
				   xa && ya ? "their alternatives differ"
					    : "swap two generic names or two fields");
		return;
	}
	if (!ty_eq(x->type, y->type))
		diag_error(st->loc, "cannot swap %s with %s: their types differ", expr_desc(s, x),
			   expr_desc(s, y));
}

static void check_pop(struct sema *s, struct ast_stmt *st)
{
	struct ast_header *h = st->header ? find_header(s, st->header) : NULL;
	if (!h) {
		struct ptrvec c = { 0 };
		cands_headers(s, &c, false);
		diag_error(name_loc(s, st->loc, st->header), "unknown header '%s'%s", st->header ? st->header : "?",
			   did_you_mean(s, st->header ? st->header : "", &c));
	} else if (h->is_meta) {
		diag_error(name_loc(s, st->loc, st->header), "'%s' is a meta block, not a header", h->name);
	}
}

static void check_set_update(struct sema *s, struct ast_stmt *st)
{
	struct ast_set *set = st->set ? find_set(s, st->set) : NULL;
	bool add = st->kind == S_SET_ADD;
	if (!set) {
		struct ptrvec c = { 0 };
		cands_sets(s, &c, true, !add);
		diag_error(name_loc(s, st->loc, st->set), "unknown set '%s'%s", st->set ? st->set : "?",
			   did_you_mean(s, st->set ? st->set : "", &c));
	} else if (set->is_map && (add || !set_is_hashlike_map(set))) {
		diag_error(name_loc(s, st->loc, st->set), "'%s' is a %s; %s", set->name, set_kind_name(set),
			   add ? "`add` puts keys in sets; write map entries with MAP[KEY] = VALUE"
			       : "`del` removes keys from sets and hash maps");
		set = NULL;
	}
	st->set_ref = set;
	if (st->has_timeout)
		const_lit(s, &st->timeout, st->loc, "a duration");
	if (st->has_timeout && !add)
		diag_error(st->loc, "a timeout only applies to `add`");
	else if (st->has_timeout && (st->timeout.kind != LIT_DURATION || st->timeout.u == 0))
		diag_error(st->loc, "a timeout must be a duration greater than 0 (e.g. 30s)");
	if (!st->key)
		return;
	struct ast_expr **keys = st->key->kind == E_TUPLE ? st->key->args : &st->key;
	int n = st->key->kind == E_TUPLE ? st->key->nargs : 1;
	if (set)
		check_set_key(s, set, keys, n, st->key->loc);
	else
		for (int i = 0; i < n; i++)
			check_value(s, keys[i]);
}

static void check_stmt(struct sema *s, struct ast_stmt *st)
{
	switch (st->kind) {
	case S_ASSIGN:
		check_assign(s, st);
		break;
	case S_SWAP:
		check_swap(s, st);
		break;
	case S_PUSH:
	case S_ENCAP:
		if (st->nlayers == 0)
			diag_error(st->loc, "%s needs a layer such as %s", st->kind == S_PUSH ? "push" : "encap",
				   st->kind == S_PUSH ? "vlan(id=10)" : "ip4(src=..., dst=...)");
		for (int i = 0; i < st->nlayers; i++)
			check_layer(s, st->layers[i], false);
		break;
	case S_POP:
		check_pop(s, st);
		break;
	case S_DECAP:
		break;
	case S_SET_ADD:
	case S_SET_DEL:
		check_set_update(s, st);
		break;
	}
}

/* ---------------------------------------------------------------- rules */

/* `limit RATE` holds while the traffic is within RATE: with `drop`, the
 * rule drops the conforming traffic and lets the excess on, which is the
 * opposite of what a rate limit is usually for. */
static void check_limit_drop(struct sema *s, const struct ast_rule *r)
{
	const struct ast_limit *l = r->limit;
	if (!l || l->over || !r->has_verdict || r->verdict.kind != V_DROP)
		return;
	const char *text = src_text(s, l->loc);
	const char *fix = text && !strncmp(text, "limit ", 6) ? arena_printf(s->a, "`limit over %s`", text + 6)
							      : "`limit over RATE`";
	diag_warning(l->loc, "rule '%s' drops the packets within the rate and lets those over it through: "
		     "`limit` without `over` holds while the rate is not exceeded; to drop what exceeds "
		     "the rate, write %s", r->name, fix);
}

static void check_rule(struct sema *s, struct ast_rule *r, int index)
{
	int errors_before = diag_error_count();
	r->index = index;
	if (r->match)
		check_cond(s, r->match);
	if (r->limit)
		check_limit(s, r->limit);
	for (int i = 0; i < r->nrewrite; i++)
		if (r->rewrite[i])
			check_stmt(s, r->rewrite[i]);
	if (!r->has_verdict)
		diag_error(r->loc, "rule '%s' has no verdict; add `verdict drop;` (or pass, tx, redirect ...)",
			   r->name);
	else if (r->has_verdict)
		check_verdict(s, &r->verdict, VCTX_RULE);
	int folded = r->match ? fold_cond(r->match) : 1;
	r->always = folded == 1;
	if (folded == 0)
		diag_warning(r->match->loc, "rule '%s' can never match", r->name);
	else if (diag_error_count() == errors_before)
		check_rule_sat(s, r);
	if (diag_error_count() == errors_before)
		check_limit_drop(s, r);
}

void check_rules(struct sema *s)
{
	struct ast_rule *catch_all = NULL;
	bool warned = false;
	for (int i = 0; i < s->rules_v.len; i++) {
		struct ast_rule *r = s->rules_v.items[i];
		check_rule(s, r, i);
		if (catch_all && !warned) {
			diag_warning(r->loc, "rule '%s' is unreachable: rule '%s' always matches", r->name,
				     catch_all->name);
			warned = true; /* the rules after it are as unreachable; once is enough */
		}
		if (!catch_all && r->always && !r->limit && r->has_verdict &&
		    r->verdict.kind != V_CONTINUE)
			catch_all = r;
	}
}

/* ---------------------------------------------------------------- layers */

static void check_layer_value(struct sema *s, struct ast_header *h, struct ast_field *f,
			      struct ast_expr *v, bool in_test)
{
	const char *what = arena_printf(s->a, "%s.%s", h->name, f->name);
	bool bytes_lit = v->kind == E_LIT && (v->lit.kind == LIT_HEX || v->lit.kind == LIT_STRING);
	if (f->type.kind == TY_BYTES) {
		if (!bytes_lit)
			diag_error(v->loc, "%s is a bytes() field; give it bytes as hex \"...\"", what);
		else if (f->max_bytes > 0 && v->lit.len > f->max_bytes)
			diag_error(v->loc, "%d bytes do not fit in %s (max %d)", v->lit.len, what,
				   f->max_bytes);
		return;
	}
	if (bytes_lit) {
		diag_error(v->loc, "type mismatch: %s is %s but %s is %s", what, ty_name(s, f->type),
			   expr_str(s, v), lit_kind_desc(&v->lit));
		return;
	}
	if (check_value(s, v).kind == TY_NONE)
		return;
	if (in_test && !require_const(s, v))
		return;
	fit_value(s, v, f->type, what, FIT_ELEM);
}

void check_layer(struct sema *s, struct ast_layer *l, bool in_test)
{
	if (l->kind != L_HEADER) {
		if (!in_test)
			diag_error(l->loc, "payload and raw layers are only allowed in test packets");
		return;
	}
	struct ast_header *h = l->header ? find_header(s, l->header) : NULL;
	if (!h) {
		struct ptrvec c = { 0 };
		cands_headers(s, &c, false);
		if (in_test) {
			ptrvec_push(s->a, &c, "payload");
			ptrvec_push(s->a, &c, "raw");
		}
		diag_error(name_loc(s, l->loc, l->header), "unknown header '%s'%s", l->header ? l->header : "?",
			   did_you_mean(s, l->header ? l->header : "", &c));
		return;
	}
	if (h->is_meta) {
		diag_error(name_loc(s, l->loc, l->header), "'%s' is a meta block, not a header; it cannot be a packet layer", h->name);
		return;
	}
	l->hdr = h;
	for (int i = 0; i < l->nargs; i++) {
		struct ast_layer_arg *arg = l->args[i];
		struct ast_field *f = find_field(h, arg->field);
		if (!f) {
			struct ptrvec c = { 0 };
			cands_layout_fields(s, h, &c);
			diag_error(arg->loc, "header %s has no field '%s'%s", h->name, arg->field,
				   did_you_mean(s, arg->field, &c));
			if (arg->value)
				check_value(s, arg->value);
			continue;
		}
		for (int j = 0; j < i; j++) {
			if (!strcmp(l->args[j]->field, arg->field)) {
				diag_error(arg->loc, "field '%s' is given twice", arg->field);
				diag_note(l->args[j]->loc, "first given here");
				break;
			}
		}
		arg->resolved = f;
		if (arg->value)
			check_layer_value(s, h, f, arg->value, in_test);
	}
}

/* ---------------------------------------------------------------- tests */

/* `expect V by R`: warn when R's verdict can never be V. */
static void check_expect_by(struct sema *s, struct ast_test *t, const struct ast_verdict *decides,
			    const char *who)
{
	(void)s;
	enum verdict_kind e = t->expect.kind, d = decides->kind;
	if (d == V_CONTINUE) {
		diag_warning(t->by_loc, "%s has verdict continue, so it never decides a packet", who);
		return;
	}
	int ea = ast_verdict_action(e), da = ast_verdict_action(d);
	if (da == XDPL_ACTION_NONE || e == d || (e == V_REDIRECT_ANY && is_redirect(d)) ||
	    (!is_redirect(e) && ea == da))
		return;
	diag_warning(t->by_loc, "test '%s' expects %s by %s, whose verdict is %s", t->name,
		     ast_verdict_word(e), who, ast_verdict_word(d));
}

static void check_test(struct sema *s, struct ast_test *t)
{
	if (t->npacket == 0)
		diag_error(t->loc, "test '%s' has no packet; add `packet eth() / ...;`", t->name);
	for (int i = 0; i < t->npacket; i++)
		check_layer(s, t->packet[i], true);
	if (!t->has_expect)
		diag_error(t->loc, "test '%s' has no expect; add `expect VERDICT;`", t->name);
	else if (t->has_expect)
		check_verdict(s, &t->expect, VCTX_EXPECT);
	if (t->by && !strcmp(t->by, "default")) {
		if (t->has_expect)
			check_expect_by(s, t, &s->p->deflt, "default");
	} else if (t->by) {
		t->by_rule = find_rule(s, t->by);
		if (!t->by_rule) {
			struct ptrvec c = { 0 };
			cands_rules(s, &c);
			diag_error(t->by_loc, "unknown rule '%s'%s", t->by, did_you_mean(s, t->by, &c));
		} else if (t->has_expect && t->by_rule->has_verdict) {
			check_expect_by(s, t, &t->by_rule->verdict,
					arena_printf(s->a, "rule '%s'", t->by));
		}
	}
	for (int i = 0; i < t->noutput; i++)
		check_layer(s, t->output[i], true);
}

void check_tests(struct sema *s)
{
	for (int i = 0; i < s->tests_v.len; i++)
		check_test(s, s->tests_v.items[i]);
}
