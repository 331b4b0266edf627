/* Constants, values, conditions and `in` collections (reference §7).
 *
 * Conventions the later stages rely on:
 *  - every checked expression has e->type; errors leave TY_NONE (already
 *    reported, so callers stay quiet about it);
 *  - integer literals take the type of what they meet (tcp.dport == 22
 *    gives the 22 type u16); arithmetic over literals only is folded into
 *    one E_LIT;
 *  - in value positions a constant stays an E_NAME with ref REF_CONST and
 *    its value in ref.konst->folded; in collection positions (right of
 *    `in`, set elements) prefix and collection constants are replaced by a
 *    copy of their definition, so lowering never sees a const there;
 *  - an alias (ip.src) gets the type of the alternative the context picks
 *    (ip4 when compared with an ip4 literal). Where nothing picks one
 *    (hash(ip.src), limit ... per ip.src) it keeps the joined type:
 *    the widest uint, or ip6 for ip4|ip6 (ip4 then reads as ::ffff:a.b.c.d).
 */
#include "sema_internal.h"

#include <inttypes.h>
#include <string.h>

static const char *op_name(enum binop op)
{
	static const char *const names[] = {
		[OP_OR] = "or", [OP_AND] = "and", [OP_EQ] = "==", [OP_NE] = "!=",
		[OP_LT] = "<", [OP_LE] = "<=", [OP_GT] = ">", [OP_GE] = ">=",
		[OP_BAND] = "&", [OP_BOR] = "|", [OP_BXOR] = "^", [OP_ADD] = "+",
		[OP_SUB] = "-", [OP_MUL] = "*", [OP_MOD] = "%", [OP_SHL] = "<<", [OP_SHR] = ">>",
	};
	return (unsigned)op < sizeof(names) / sizeof(names[0]) && names[op] ? names[op] : "?";
}

static bool is_cmp(enum binop op)
{
	return op >= OP_EQ && op <= OP_GE;
}

static bool is_arith(enum binop op)
{
	return op >= OP_BAND;
}

/* "a u16", "an ip4" */
static const char *a_type(struct sema *s, struct xdpl_type t)
{
	const char *n = ty_name(s, t);
	return arena_printf(s->a, "%s %s", n[0] == 'i' ? "an" : "a", n);
}

const struct xdpl_lit *expr_const_lit(const struct ast_expr *e)
{
	if (e->kind == E_LIT)
		return &e->lit;
	if (e->kind == E_NAME && e->ref.kind == REF_CONST && e->ref.konst)
		return &e->ref.konst->folded;
	return NULL;
}

bool expr_int_value(const struct ast_expr *e, uint64_t *v)
{
	const struct xdpl_lit *l = expr_const_lit(e);
	if (!l || (l->kind != LIT_INT && l->kind != LIT_BOOL))
		return false;
	*v = l->u;
	return true;
}

/* The value text for "value X does not fit": the source, plus the value of
 * a named constant. */
static const char *value_text(struct sema *s, const struct ast_expr *e)
{
	uint64_t v;
	if (e->kind == E_NAME && expr_int_value(e, &v))
		return arena_printf(s->a, "%s (%" PRIu64 ")", e->name, v);
	return expr_str(s, e);
}

struct ast_expr *clone_expr(struct sema *s, const struct ast_expr *e, struct xdpl_loc loc)
{
	if (!e)
		return NULL;
	struct ast_expr *c = NEW(s->a, struct ast_expr);
	*c = *e;
	if (loc.file)
		c->loc = loc;
	struct xdpl_loc keep = { 0 };
	c->lhs = clone_expr(s, e->lhs, keep);
	c->rhs = clone_expr(s, e->rhs, keep);
	if (e->nargs) {
		c->args = arena_alloc(s->a, sizeof(*c->args) * (size_t)e->nargs);
		for (int i = 0; i < e->nargs; i++)
			c->args[i] = clone_expr(s, e->args[i], keep);
	}
	return c;
}

/* ---------------------------------------------------------------- literals */

/* A prefix with host bits set is an error (reference §2); the literal is then
 * masked so later checks (and repeated uses of a constant) stay quiet. */
void check_prefix_lit(struct sema *s, struct ast_expr *e)
{
	struct xdpl_lit *l = &e->lit;
	if (e->kind != E_LIT || (l->kind != LIT_PREFIX4 && l->kind != LIT_PREFIX6))
		return;
	int bits = l->kind == LIT_PREFIX4 ? 32 : 128;
	if (l->plen < 0 || l->plen > bits) {
		diag_error(e->loc, "prefix length %d is out of range for %s (0..%d)", l->plen,
			   bits == 32 ? "ip4" : "ip6", bits);
		l->plen = bits;
		return;
	}
	struct xdpl_lit masked = *l;
	bool host = false;
	for (int i = 0; i < bits / 8; i++) {
		int keep = l->plen - i * 8;
		uint8_t m = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
		masked.bytes[i] = l->bytes[i] & m;
		host |= masked.bytes[i] != l->bytes[i];
	}
	if (host) {
		diag_error(e->loc, "prefix %s has host bits set; did you mean %s?", expr_str(s, e),
			   lit_str(s, &masked));
		*l = masked;
	}
}

static struct xdpl_type lit_type(const struct xdpl_lit *l)
{
	switch (l->kind) {
	case LIT_INT:
		return ty_make(TY_INT_LIT, 64);
	case LIT_BOOL:
		return ty_make(TY_BOOL, 1);
	case LIT_IP4:
		return ty_make(TY_IP4, 32);
	case LIT_IP6:
		return ty_make(TY_IP6, 128);
	case LIT_MAC:
		return ty_make(TY_MAC, 48);
	default:
		return ty_make(TY_NONE, 0);
	}
}

static struct xdpl_type check_lit_value(struct sema *s, struct ast_expr *e)
{
	struct xdpl_lit *l = &e->lit;
	switch (l->kind) {
	case LIT_PREFIX4:
	case LIT_PREFIX6:
		check_prefix_lit(s, e);
		diag_error(e->loc, "prefix %s is not a single value; test it with `in`", expr_str(s, e));
		break;
	case LIT_STRING:
	case LIT_HEX:
		diag_error(e->loc, "%s is not allowed here; strings and hex bytes are only field values of test packets",
			   lit_kind_desc(l));
		break;
	case LIT_RATE:
	case LIT_DURATION:
		diag_error(e->loc, "%s is not a value", lit_kind_desc(l));
		break;
	default:
		break;
	}
	return lit_type(l);
}

/* ---------------------------------------------------------------- constants */

/* Integer arithmetic of constants: exact, or an error (no silent wrap). */
static bool fold_int_op(struct sema *s, struct ast_expr *e, uint64_t a, uint64_t b, uint64_t *r)
{
	switch (e->op) {
	case OP_BAND: *r = a & b; return true;
	case OP_BOR: *r = a | b; return true;
	case OP_BXOR: *r = a ^ b; return true;
	case OP_ADD:
		if (__builtin_add_overflow(a, b, r))
			break;
		return true;
	case OP_MUL:
		if (__builtin_mul_overflow(a, b, r))
			break;
		return true;
	case OP_SUB:
		if (b > a) {
			diag_error(e->loc, "constant %s is negative", expr_str(s, e));
			return false;
		}
		*r = a - b;
		return true;
	case OP_MOD:
		if (!b) {
			diag_error(e->loc, "modulo by zero in %s", expr_str(s, e));
			return false;
		}
		*r = a % b;
		return true;
	case OP_SHL:
		if (b >= 64 || (a && uint_bits_needed(a) + (int)b > 64))
			break;
		*r = a << b;
		return true;
	case OP_SHR:
		*r = b >= 64 ? 0 : a >> b;
		return true;
	default:
		diag_error(e->loc, "operator '%s' cannot be used in a constant", op_name(e->op));
		return false;
	}
	diag_error(e->loc, "constant %s does not fit in 64 bits", expr_str(s, e));
	return false;
}

static bool fold_expr(struct sema *s, struct ast_expr *e, struct xdpl_lit *out, bool *collection);

/* Set literal, range or tuple constant: only checked for being made of
 * literals and constants; its elements are typed where it is used. */
static bool fold_collection(struct sema *s, struct ast_expr *e)
{
	bool ok = true;
	struct xdpl_lit dummy;
	bool coll;
	if (e->kind == E_RANGE) {
		ok &= fold_expr(s, e->lhs, &dummy, &coll);
		ok &= fold_expr(s, e->rhs, &dummy, &coll);
		return ok;
	}
	for (int i = 0; i < e->nargs; i++)
		ok &= fold_expr(s, e->args[i], &dummy, &coll);
	return ok;
}

/* e = lhs OP rhs with lhs folded into a (ok: without error). */
static bool fold_binary(struct sema *s, struct ast_expr *e, bool ok, const struct xdpl_lit *a,
			bool ca, struct xdpl_lit *out)
{
	struct xdpl_lit b;
	bool cb;
	/* the right side too, so errors in each are reported */
	if (!fold_expr(s, e->rhs, &b, &cb) || !ok)
		return false;
	const struct ast_expr *bad = a->kind != LIT_INT || ca ? e->lhs : e->rhs;
	if (ca || cb || a->kind != LIT_INT || b.kind != LIT_INT) {
		diag_error(bad->loc, "operator '%s' needs integers, but %s is not one", op_name(e->op),
			   expr_str(s, bad));
		return false;
	}
	memset(out, 0, sizeof(*out));
	out->kind = LIT_INT;
	e->type = ty_make(TY_INT_LIT, 64);
	return fold_int_op(s, e, a->u, b.u, &out->u);
}

/* `A + 1 + 1 ...` may be 100k operators long: the left spine is folded
 * bottom-up in a loop, like check_arith. */
static bool fold_arith(struct sema *s, struct ast_expr *e, struct xdpl_lit *out)
{
	if (!is_arith(e->op)) {
		diag_error(e->loc, "a constant must be a value, not a condition");
		return false;
	}
	struct ptrvec spine = { 0 };
	struct ast_expr *x = e;
	for (; x->kind == E_BINARY && is_arith(x->op); x = x->lhs)
		ptrvec_push(s->a, &spine, x);
	struct xdpl_lit acc = { 0 };
	bool coll = false;
	bool ok = fold_expr(s, x, &acc, &coll);
	for (int i = spine.len - 1; i >= 0; i--) {
		struct xdpl_lit r = { 0 };
		ok = fold_binary(s, spine.items[i], ok, &acc, coll, &r);
		acc = r;
		coll = false;
	}
	*out = acc;
	return ok;
}

static bool fold_expr(struct sema *s, struct ast_expr *e, struct xdpl_lit *out, bool *collection)
{
	*collection = false;
	switch (e->kind) {
	case E_LIT:
		check_prefix_lit(s, e);
		*out = e->lit;
		e->type = lit_type(&e->lit);
		return true;
	case E_NAME: {
		struct symentry *se = find_const(s, e->name);
		if (!se) {
			diag_error(e->loc, "a constant can only use literals and other constants; '%s' is not a constant",
				   e->name);
			return false;
		}
		e->ref.kind = REF_CONST;
		e->ref.konst = se->ptr;
		if (!fold_const(s, se))
			return false;
		*collection = se->collection;
		*out = ((struct ast_const *)se->ptr)->folded;
		e->type = se->collection ? ty_make(TY_NONE, 0) : lit_type(out);
		return true;
	}
	case E_BINARY:
		return fold_arith(s, e, out);
	case E_SETLIT:
	case E_RANGE:
	case E_TUPLE:
		*collection = true;
		memset(out, 0, sizeof(*out));
		return fold_collection(s, e);
	default:
		diag_error(e->loc, "a constant can only be made of literals and other constants");
		return false;
	}
}

/* Folds a constant once; a constant reached again while it is being
 * folded closes a cycle, reported at the constant that starts it. */
bool fold_const(struct sema *s, struct symentry *se)
{
	struct ast_const *k = se->ptr;
	if (se->state == CS_DONE)
		return true;
	if (se->state == CS_ERROR)
		return false;
	if (se->state == CS_BUSY) {
		diag_error(k->loc, "constant '%s' is defined in terms of itself", k->name);
		se->state = CS_ERROR;
		return false;
	}
	se->state = CS_BUSY;
	bool coll = false;
	bool ok = k->value && fold_expr(s, k->value, &k->folded, &coll);
	if (se->state == CS_ERROR)
		return false; /* the cycle came back here: reported once */
	se->collection = coll;
	se->state = ok ? CS_DONE : CS_ERROR;
	return ok;
}

void check_consts(struct sema *s)
{
	for (int i = 0; i < s->consts.len; i++) {
		struct ast_const *k = s->consts.items[i];
		struct symentry *se = find_const(s, k->name);
		if (se && se->ptr == k)
			fold_const(s, se);
	}
}

/* ---------------------------------------------------------------- fitting values */

enum fit_msg { MSG_COMPARE, MSG_ASSIGN, MSG_ELEM, MSG_SETKEY };

/* What a value must fit. Named lazily: the words of a message are only
 * put together when there is an error (10k rules must not pay for them). */
struct fit_target {
	struct xdpl_type t;
	const char *name;            /* a fixed name: "burst", "h.f", "set 'x'" */
	const struct ast_expr *expr; /* or the expression, named by its source */
	const struct ast_set *set;   /* or a set or map: "set 'x'" */
};

static const char *target_name(struct sema *s, const struct fit_target *ft)
{
	if (ft->name)
		return ft->name;
	if (ft->set)
		return arena_printf(s->a, "%s '%s'", ft->set->is_map ? "map" : "set", ft->set->name);
	return ft->expr ? expr_str(s, ft->expr) : "the value";
}

/* "u16", or "ip4 or ip6" for an alias that no context narrowed */
static const char *target_type(struct sema *s, const struct fit_target *ft)
{
	const struct ast_expr *x = ft->expr;
	if (x && x->kind == E_NAME && x->ref.kind == REF_ALIAS && x->ref.alias &&
	    ty_eq(x->type, alias_type(s, x->ref.alias)))
		return alias_types_desc(s, x->ref.alias);
	return ty_name(s, ft->t);
}

static bool fit_core(struct sema *s, struct ast_expr *e, const struct fit_target *ft, enum fit_msg msg)
{
	struct xdpl_type t = ft->t;
	if (e->type.kind == TY_NONE || t.kind == TY_NONE)
		return false;
	if (e->kind == E_NAME && e->ref.kind == REF_ALIAS && e->ref.alias) {
		struct xdpl_type p = alias_pick(e->ref.alias, t.kind);
		if (p.kind != TY_NONE)
			e->type = p;
	}
	struct xdpl_type et = e->type;
	uint64_t v = 0;
	if (et.kind == TY_INT_LIT && expr_int_value(e, &v)) {
		if (t.kind == TY_UINT || t.kind == TY_BOOL) {
			int bits = t.kind == TY_BOOL ? 1 : t.bits;
			if (!uint_fits(v, bits)) {
				diag_error(e->loc, "value %s does not fit in %s%s (%s)", value_text(s, e),
					   target_name(s, ft), msg == MSG_SETKEY ? " key" : "",
					   target_type(s, ft));
				return false;
			}
			e->type = t;
			return true;
		}
		if (t.kind == TY_INT_LIT)
			return true;
	} else if (et.kind == t.kind) {
		if (et.kind != TY_UINT || msg != MSG_ASSIGN || et.bits <= t.bits)
			return true;
		diag_error(e->loc, "cannot assign %s to %s (%s): it may not fit", expr_desc(s, e),
			   target_name(s, ft), target_type(s, ft));
		return false;
	} else if (t.kind == TY_INT_LIT && et.kind == TY_UINT) {
		return true;
	}
	switch (msg) {
	case MSG_COMPARE:
		diag_error(e->loc, "cannot compare %s (%s) with %s", target_name(s, ft), target_type(s, ft),
			   expr_desc(s, e));
		break;
	case MSG_ASSIGN:
		diag_error(e->loc, "cannot assign %s to %s (%s)", expr_desc(s, e), target_name(s, ft),
			   target_type(s, ft));
		break;
	case MSG_ELEM:
	case MSG_SETKEY:
		diag_error(e->loc, "type mismatch: %s %s %s but %s is %s", target_name(s, ft),
			   msg == MSG_SETKEY ? "has key type" : "is", target_type(s, ft), expr_str(s, e),
			   e->kind == E_LIT ? lit_kind_desc(&e->lit) : a_type(s, et));
		break;
	}
	return false;
}

bool fit_value(struct sema *s, struct ast_expr *e, struct xdpl_type t, const char *what,
	       enum fit_mode mode)
{
	static const enum fit_msg msgs[] = { [FIT_COMPARE] = MSG_COMPARE, [FIT_ASSIGN] = MSG_ASSIGN,
					      [FIT_ELEM] = MSG_ELEM };
	struct fit_target ft = { .t = t, .name = what };
	return fit_core(s, e, &ft, msgs[mode]);
}

/* The target of a fit is another expression. */
static bool fit_to_expr(struct sema *s, struct ast_expr *e, struct ast_expr *target, enum fit_msg msg)
{
	struct fit_target ft = { .t = target->type, .expr = target };
	return fit_core(s, e, &ft, msg);
}

bool require_const(struct sema *s, struct ast_expr *e)
{
	if (e->kind == E_LIT || (e->kind == E_NAME && e->ref.kind == REF_CONST))
		return true;
	if (e->type.kind != TY_NONE)
		diag_error(e->loc, "test packets are built at compile time; %s is not a constant",
			   expr_str(s, e));
	return false;
}

/* ---------------------------------------------------------------- values */

static struct xdpl_type name_value(struct sema *s, struct ast_expr *e)
{
	if (!resolve_name(s, e))
		return e->type = ty_make(TY_NONE, 0);
	switch (e->ref.kind) {
	case REF_CONST: {
		struct symentry *se = find_const(s, e->name);
		struct ast_const *k = e->ref.konst;
		if (se && se->collection)
			diag_error(e->loc, "'%s' is a collection constant; use it after `in`", e->name);
		else if (k->folded.kind == LIT_PREFIX4 || k->folded.kind == LIT_PREFIX6)
			diag_error(e->loc, "'%s' is a prefix; test it with `in`", e->name);
		else if (e->type.kind == TY_NONE)
			diag_error(e->loc, "'%s' is %s, not a value", e->name, lit_kind_desc(&k->folded));
		break;
	}
	case REF_SET:
		if (e->ref.set->is_map)
			diag_error(e->loc, "'%s' is a map, not a value; read it with %s[KEY]", e->name, e->name);
		else
			diag_error(e->loc, "'%s' is a set, not a value; test membership with `VALUE in %s`",
				   e->name, e->name);
		e->type = ty_make(TY_NONE, 0);
		break;
	case REF_HEADER:
		diag_error(e->loc, "'%s' is a header, not a value; name one of its fields", e->name);
		e->type = ty_make(TY_NONE, 0);
		break;
	case REF_FIELD:
	case REF_META:
		if (e->type.kind == TY_BYTES) {
			diag_error(e->loc, "%s is a variable-length bytes field and cannot be used as a value",
				   e->name);
			e->type = ty_make(TY_NONE, 0);
		}
		break;
	default:
		break;
	}
	return e->type;
}

static bool is_intlike(struct xdpl_type t)
{
	return t.kind == TY_UINT || t.kind == TY_INT_LIT;
}

/* Arithmetic and bitwise operators (reference §7): uints only; the result is
 * as wide as the wider side, a literal must fit the other side. In a
 * bytes() size expression everything is computed in (at least) 32 bits so
 * `(ihl - 5) * 4` does not wrap at 4 bits. */
static struct xdpl_type arith_type(struct sema *s, struct ast_expr *e, struct xdpl_type lt,
				    struct xdpl_type rt);

/* `a + b + c ...` is left-deep and may be 100k operators long: its left
 * spine is checked bottom-up in a loop (right operands nest only as deep
 * as precedence levels and the parser's bounded parentheses). */
static struct xdpl_type check_arith(struct sema *s, struct ast_expr *e)
{
	struct ptrvec spine = { 0 };
	struct ast_expr *x = e;
	for (; x->kind == E_BINARY && is_arith(x->op); x = x->lhs)
		ptrvec_push(s->a, &spine, x);
	struct xdpl_type t = check_value(s, x);
	for (int i = spine.len - 1; i >= 0; i--) {
		struct ast_expr *n = spine.items[i];
		t = arith_type(s, n, t, check_value(s, n->rhs));
	}
	return t;
}

/* The type of e from the types of its checked operands (folding two
 * literals into one). */
static struct xdpl_type arith_type(struct sema *s, struct ast_expr *e, struct xdpl_type lt,
				    struct xdpl_type rt)
{
	if (lt.kind == TY_NONE || rt.kind == TY_NONE)
		return e->type = ty_make(TY_NONE, 0);
	struct ast_expr *bad = !is_intlike(lt) ? e->lhs : !is_intlike(rt) ? e->rhs : NULL;
	if (bad) {
		diag_error(bad->loc, "operator '%s' needs integers, but %s is %s", op_name(e->op),
			   expr_str(s, bad), a_type(s, bad->type));
		return e->type = ty_make(TY_NONE, 0);
	}
	uint64_t a, b, r;
	if (lt.kind == TY_INT_LIT && rt.kind == TY_INT_LIT && expr_int_value(e->lhs, &a) &&
	    expr_int_value(e->rhs, &b)) {
		if (!fold_int_op(s, e, a, b, &r))
			return e->type = ty_make(TY_NONE, 0);
		bool paren = e->parenthesized;
		struct xdpl_loc loc = e->loc;
		memset(e, 0, sizeof(*e));
		e->kind = E_LIT;
		e->loc = loc;
		e->parenthesized = paren;
		e->lit.kind = LIT_INT;
		e->lit.u = r;
		return e->type = ty_make(TY_INT_LIT, 64);
	}
	int minbits = s->size_hdr ? 32 : 1;
	if (e->op == OP_SHL || e->op == OP_SHR) {
		/* as wide as the wider operand too: a literal count or
		 * shifted literal takes the other side's width */
		int w = lt.kind == TY_UINT ? lt.bits : rt.kind == TY_UINT ? rt.bits : 64;
		if (rt.kind == TY_UINT && rt.bits > w)
			w = rt.bits;
		if (lt.kind == TY_INT_LIT && expr_int_value(e->lhs, &a) && !uint_fits(a, w))
			w = uint_bits_needed(a);
		if (w < minbits)
			w = minbits;
		struct xdpl_type res = ty_make(TY_UINT, w);
		if (expr_int_value(e->rhs, &b) && rt.kind == TY_INT_LIT) {
			if (b >= (uint64_t)w) {
				diag_error(e->rhs->loc, "shift count %" PRIu64 " is not less than the width of %s (u%d)",
					   b, expr_str(s, e->lhs), w);
				return e->type = ty_make(TY_NONE, 0);
			}
			e->rhs->type = res;
		}
		if (lt.kind == TY_INT_LIT && !fit_value(s, e->lhs, res, "the shifted value", FIT_COMPARE))
			return e->type = ty_make(TY_NONE, 0);
		return e->type = res;
	}
	int w = lt.kind == TY_UINT ? lt.bits : 0;
	if (rt.kind == TY_UINT && rt.bits > w)
		w = rt.bits;
	/* A literal takes the other side's width, or the smallest that
	 * holds it (then the wider operand): `ip4.ttl + 256` is a u9. */
	struct ast_expr *lit = lt.kind == TY_INT_LIT ? e->lhs : rt.kind == TY_INT_LIT ? e->rhs : NULL;
	struct ast_expr *other = lit == e->lhs ? e->rhs : e->lhs;
	if (lit && expr_int_value(lit, &a) && !uint_fits(a, w))
		w = uint_bits_needed(a);
	if (w < minbits)
		w = minbits;
	struct xdpl_type res = ty_make(TY_UINT, w);
	if (lit) {
		struct fit_target ft = { .t = res, .expr = other };
		bool ok = s->size_hdr ? fit_value(s, lit, res, "the size computation", FIT_COMPARE)
				      : fit_core(s, lit, &ft, MSG_COMPARE);
		if (!ok)
			return e->type = ty_make(TY_NONE, 0);
	}
	return e->type = res;
}

/* Key types of a set or map as the program sees them: arrays and
 * dev/cpu/xsk maps are indexed by a u32. */
static int set_keys(const struct ast_set *set, struct xdpl_type *out)
{
	switch (set->kind) {
	case SK_MAP_ARRAY:
	case SK_MAP_PERCPU_ARRAY:
	case SK_MAP_DEVMAP:
	case SK_MAP_CPUMAP:
	case SK_MAP_XSKMAP:
		out[0] = ty_make(TY_UINT, 32);
		return 1;
	default:
		for (int i = 0; i < set->nkey && i < 8; i++)
			out[i] = set->key[i];
		return set->nkey < 8 ? set->nkey : 8;
	}
}

static const char *key_types_str(struct sema *s, struct xdpl_type *t, int n)
{
	if (n == 1)
		return ty_name(s, t[0]);
	const char *out = "(";
	for (int i = 0; i < n; i++)
		out = arena_printf(s->a, "%s%s%s", out, i ? ", " : "", ty_name(s, t[i]));
	return arena_printf(s->a, "%s)", out);
}

/* One key value against key type kt[i] of a set: uints may be narrower
 * than the key (zero-extended), literals must fit, other kinds equal. */
static void check_one_key(struct sema *s, struct ast_set *set, struct ast_expr *k, struct xdpl_type *kt,
			  int n, int i)
{
	struct xdpl_type vt = check_value(s, k);
	if (vt.kind == TY_NONE)
		return;
	if (k->kind == E_NAME && k->ref.kind == REF_ALIAS) {
		struct xdpl_type p = alias_pick(k->ref.alias, kt[i].kind);
		if (p.kind != TY_NONE)
			k->type = vt = p;
	}
	if (vt.kind == TY_INT_LIT) {
		struct fit_target ft = { .t = kt[i], .set = set };
		fit_core(s, k, &ft, MSG_SETKEY);
		return;
	}
	if (vt.kind == kt[i].kind && (vt.kind != TY_UINT || vt.bits <= kt[i].bits))
		return;
	diag_error(k->loc, "%s '%s' has key type %s but is matched with %s%s", set->is_map ? "map" : "set",
		   set->name, key_types_str(s, kt, n), expr_desc(s, k), n > 1 ? " here" : "");
}

void check_set_key(struct sema *s, struct ast_set *set, struct ast_expr **keys, int nkeys,
		   struct xdpl_loc where)
{
	struct xdpl_type kt[8];
	int n = set_keys(set, kt);
	if (sym_find(&s->broken, set->name)) {
		for (int i = 0; i < nkeys; i++)
			check_value(s, keys[i]);
		return;
	}
	if (nkeys != n) {
		diag_error(where, "%s '%s' has key type %s but is %s with %d value%s",
			   set->is_map ? "map" : "set", set->name, key_types_str(s, kt, n),
			   set->is_map ? "indexed" : "matched", nkeys, nkeys == 1 ? "" : "s");
		for (int i = 0; i < nkeys; i++)
			check_value(s, keys[i]);
		return;
	}
	for (int i = 0; i < n; i++)
		check_one_key(s, set, keys[i], kt, n, i);
}

/* MAP[KEY, ...]: a map read, typed as the map's value. */
static struct xdpl_type check_index(struct sema *s, struct ast_expr *e)
{
	struct ast_set *set = find_set(s, e->name);
	e->type = ty_make(TY_NONE, 0);
	if (!set) {
		struct ptrvec c = { 0 };
		cands_sets(s, &c, false, true);
		diag_error(e->loc, "unknown map '%s'%s", e->name, did_you_mean(s, e->name, &c));
		for (int i = 0; i < e->nargs; i++)
			check_value(s, e->args[i]);
		return e->type;
	}
	e->ref.kind = REF_SET;
	e->ref.set = set;
	if (!set->is_map) {
		diag_error(e->loc, "'%s' is a set, not a map; test membership with `KEY in %s`", set->name,
			   set->name);
		return e->type;
	}
	if (set->kind == SK_MAP_DEVMAP || set->kind == SK_MAP_CPUMAP || set->kind == SK_MAP_XSKMAP) {
		diag_error(e->loc, "'%s' is a %s; it can only be used in `verdict redirect %s[KEY]`",
			   set->name, set_kind_name(set), set->name);
		return e->type;
	}
	check_set_key(s, set, e->args, e->nargs, e->loc);
	return e->type = set->value;
}

struct xdpl_type check_value(struct sema *s, struct ast_expr *e)
{
	switch (e->kind) {
	case E_LIT:
		return e->type = check_lit_value(s, e);
	case E_NAME:
		return name_value(s, e);
	case E_BINARY:
		if (is_arith(e->op))
			return check_arith(s, e);
		__attribute__((fallthrough)); /* a condition where a value is needed */
	case E_NOT:
	case E_IN:
		check_cond(s, e);
		if (e->type.kind == TY_COND)
			diag_error(e->loc, "%s is a condition, not a value", expr_str(s, e));
		return e->type = ty_make(TY_NONE, 0);
	case E_INDEX:
		return check_index(s, e);
	case E_HASH:
		for (int i = 0; i < e->nargs; i++)
			check_value(s, e->args[i]);
		/* the hash buffer codegen packs the values into has 16 slots */
		if (e->nargs > HASH_MAX_VALUES) {
			diag_error(e->args[HASH_MAX_VALUES]->loc, "hash() takes at most %d values; this one has %d",
				   HASH_MAX_VALUES, e->nargs);
			return e->type = ty_make(TY_NONE, 0);
		}
		return e->type = ty_make(TY_UINT, 32);
	case E_TUPLE:
		diag_error(e->loc, "a tuple is only allowed as a set key: (A, B) in SET");
		break;
	case E_RANGE:
		diag_error(e->loc, "a range is only allowed after `in`");
		break;
	case E_SETLIT:
		diag_error(e->loc, "a set literal { ... } is only allowed after `in`");
		break;
	case E_CALL:
		diag_error(e->loc, "'%s()' is only allowed as the default of a header field", e->name);
		break;
	}
	return e->type = ty_make(TY_NONE, 0);
}

/* ---------------------------------------------------------------- comparisons */

/* A prefix literal or a prefix constant (looked up quietly: unknown names
 * are reported when the operand is checked as a value). */
static bool is_prefix_operand(struct sema *s, const struct ast_expr *x)
{
	if (x->kind == E_LIT)
		return x->lit.kind == LIT_PREFIX4 || x->lit.kind == LIT_PREFIX6;
	if (x->kind != E_NAME || strchr(x->name, '.'))
		return false;
	struct symentry *se = find_const(s, x->name);
	if (!se || !fold_const(s, se) || se->collection)
		return false;
	const struct xdpl_lit *l = &((struct ast_const *)se->ptr)->folded;
	return l->kind == LIT_PREFIX4 || l->kind == LIT_PREFIX6;
}

static bool is_literalish(const struct ast_expr *e)
{
	return e->kind == E_LIT || (e->kind == E_NAME && e->ref.kind == REF_CONST);
}

/* An alias compared with something concrete takes the matching alternative. */
static void narrow_alias(struct ast_expr *e, struct xdpl_type other)
{
	if (e->kind != E_NAME || e->ref.kind != REF_ALIAS || !e->ref.alias)
		return;
	if (other.kind == TY_NONE || other.kind == TY_COND)
		return;
	struct xdpl_type p = alias_pick(e->ref.alias, other.kind);
	if (p.kind != TY_NONE)
		e->type = p;
}

static bool is_alias(const struct ast_expr *e)
{
	return e->kind == E_NAME && e->ref.kind == REF_ALIAS;
}

static void check_compare(struct sema *s, struct ast_expr *e)
{
	e->type = ty_make(TY_COND, 0);
	/* `ip4.src == 10.0.0.0/8` is a prefix test written with the wrong operator. */
	for (int side = 0; side < 2; side++) {
		struct ast_expr *x = side ? e->rhs : e->lhs, *y = side ? e->lhs : e->rhs;
		if (!is_prefix_operand(s, x))
			continue;
		check_prefix_lit(s, x);
		diag_error(x->loc, "cannot compare with prefix %s using '%s'; test it with `%s in %s`",
			   expr_str(s, x), op_name(e->op), expr_str(s, y), expr_str(s, x));
		check_value(s, y);
		return;
	}
	struct xdpl_type lt = check_value(s, e->lhs);
	struct xdpl_type rt = check_value(s, e->rhs);
	if (lt.kind == TY_NONE || rt.kind == TY_NONE)
		return;
	if (is_alias(e->lhs) && !is_alias(e->rhs))
		narrow_alias(e->lhs, rt);
	if (is_alias(e->rhs) && !is_alias(e->lhs))
		narrow_alias(e->rhs, lt);
	lt = e->lhs->type;
	rt = e->rhs->type;
	if (lt.kind == TY_INT_LIT && rt.kind == TY_INT_LIT) {
		e->lhs->type = e->rhs->type = ty_make(TY_UINT, 64);
		return;
	}
	/* The literal side adapts to the other one; report at the literal. */
	if (is_literalish(e->rhs) || rt.kind == TY_INT_LIT) {
		fit_to_expr(s, e->rhs, e->lhs, MSG_COMPARE);
		return;
	}
	if (is_literalish(e->lhs) || lt.kind == TY_INT_LIT) {
		fit_to_expr(s, e->lhs, e->rhs, MSG_COMPARE);
		return;
	}
	if (lt.kind == rt.kind)
		return; /* uints of any widths compare as numbers */
	diag_error(e->loc, "cannot compare %s with %s", expr_desc(s, e->lhs), expr_desc(s, e->rhs));
}

/* ---------------------------------------------------------------- collections */

static struct xdpl_type keyspec_type(struct keyspec *k, int i, enum xdpl_type_kind want)
{
	struct ast_expr *x = k->exprs[i];
	if (x && is_alias(x) && want != TY_NONE) {
		struct xdpl_type p = alias_pick(x->ref.alias, want);
		if (p.kind != TY_NONE)
			return p;
	}
	return k->types[i];
}

static const char *keyspec_name(struct sema *s, struct keyspec *k, int i)
{
	if (k->exprs[i])
		return expr_str(s, k->exprs[i]);
	return k->what;
}

static enum fit_msg keyspec_msg(struct keyspec *k)
{
	return k->exprs[0] ? MSG_ELEM : MSG_SETKEY;
}

/* The kind of value a literal element holds (prefixes: their family). */
static enum xdpl_type_kind elem_kind(const struct ast_expr *el)
{
	const struct xdpl_lit *l = el->kind == E_LIT ? &el->lit
				 : el->kind == E_NAME && el->ref.kind == REF_CONST && el->ref.konst
					 ? &el->ref.konst->folded : NULL;
	if (!l)
		return TY_NONE;
	switch (l->kind) {
	case LIT_INT: return TY_INT_LIT;
	case LIT_BOOL: return TY_BOOL;
	case LIT_IP4: case LIT_PREFIX4: return TY_IP4;
	case LIT_IP6: case LIT_PREFIX6: return TY_IP6;
	case LIT_MAC: return TY_MAC;
	default: return TY_NONE;
	}
}

/* A constant used where a collection element is expected is replaced by a
 * copy of its definition (prefixes, ranges, tuples, set literals). */
static void substitute_const(struct sema *s, struct ast_expr *el)
{
	if (el->kind != E_NAME)
		return;
	struct symentry *se = find_const(s, el->name);
	if (!se || !fold_const(s, se))
		return;
	struct ast_const *k = se->ptr;
	if (se->collection) {
		struct ast_expr *c = clone_expr(s, k->value, (struct xdpl_loc){ 0 });
		*el = *c;
	} else if (k->folded.kind == LIT_PREFIX4 || k->folded.kind == LIT_PREFIX6) {
		struct xdpl_loc loc = el->loc;
		memset(el, 0, sizeof(*el));
		el->kind = E_LIT;
		el->loc = loc;
		el->lit = k->folded;
	}
}

void expand_setlit(struct sema *s, struct ast_expr *lit)
{
	struct ptrvec v = { 0 };
	for (int i = 0; i < lit->nargs; i++) {
		struct ast_expr *el = lit->args[i];
		substitute_const(s, el);
		if (el->kind == E_SETLIT) {
			expand_setlit(s, el);
			for (int j = 0; j < el->nargs; j++)
				ptrvec_push(s->a, &v, el->args[j]);
		} else {
			ptrvec_push(s->a, &v, el);
		}
	}
	lit->args = (struct ast_expr **)v.items;
	lit->nargs = v.len;
}

static void check_scalar_elem(struct sema *s, struct ast_expr *el, struct keyspec *k, int i)
{
	if (el->kind == E_NAME)
		resolve_name(s, el);
	enum xdpl_type_kind ek = elem_kind(el);
	struct xdpl_type kt = keyspec_type(k, i, ek);
	if (el->kind != E_LIT && !(el->kind == E_NAME && el->ref.kind == REF_CONST)) {
		if (el->kind == E_NAME && el->type.kind == TY_NONE && el->ref.kind == REF_NONE)
			return; /* unknown name: reported */
		diag_error(el->loc, "set elements must be literals or constants; %s is neither",
			   expr_str(s, el));
		return;
	}
	if (el->kind == E_LIT && (el->lit.kind == LIT_PREFIX4 || el->lit.kind == LIT_PREFIX6)) {
		check_prefix_lit(s, el);
		el->type = ty_make(ek, ek == TY_IP4 ? 32 : 128);
		if (kt.kind != ek && kt.kind != TY_NONE)
			diag_error(el->loc, "type mismatch: %s %s %s but %s is %s", keyspec_name(s, k, i),
				   k->exprs[i] ? "is" : "has key type", ty_name(s, kt), expr_str(s, el),
				   lit_kind_desc(&el->lit));
		return;
	}
	if (check_value(s, el).kind == TY_NONE)
		return;
	struct fit_target ft = { .t = kt, .expr = k->exprs[i], .name = k->exprs[i] ? NULL : k->what };
	fit_core(s, el, &ft, keyspec_msg(k));
}

/* lo <= hi, compared as numbers (addresses as big-endian bytes). */
static int lit_cmp(const struct xdpl_lit *a, const struct xdpl_lit *b)
{
	if (a->kind == LIT_INT || a->kind == LIT_BOOL)
		return a->u < b->u ? -1 : a->u > b->u;
	int n = a->kind == LIT_IP4 ? 4 : a->kind == LIT_MAC ? 6 : 16;
	return memcmp(a->bytes, b->bytes, (size_t)n);
}

static void check_range_elem(struct sema *s, struct ast_expr *el, struct keyspec *k, int i)
{
	substitute_const(s, el->lhs);
	substitute_const(s, el->rhs);
	int errs = diag_error_count();
	check_scalar_elem(s, el->lhs, k, i);
	if (diag_error_count() == errs)
		check_scalar_elem(s, el->rhs, k, i);
	if (diag_error_count() != errs)
		return;
	struct xdpl_type kt = keyspec_type(k, i, elem_kind(el->lhs));
	el->type = el->lhs->type;
	if (kt.kind != TY_UINT && kt.kind != TY_IP4 && kt.kind != TY_INT_LIT) {
		diag_error(el->loc, "a range needs an integer or ip4 key, but %s is %s",
			   keyspec_name(s, k, i), ty_name(s, kt));
		return;
	}
	const struct xdpl_lit *lo = expr_const_lit(el->lhs), *hi = expr_const_lit(el->rhs);
	if (lo && hi && lo->kind == hi->kind && lit_cmp(lo, hi) > 0)
		diag_error(el->loc, "range %s is empty: %s is greater than %s", expr_str(s, el),
			   expr_str(s, el->lhs), expr_str(s, el->rhs));
}

/* "set 'pairs' has key type (ip4, u16)", "(ip4.src, tcp.dport) has 2" */
static const char *keyspec_shape(struct sema *s, struct keyspec *k)
{
	if (!k->exprs[0])
		return arena_printf(s->a, "%s has key type %s", k->what, key_types_str(s, k->types, k->n));
	if (k->n == 1)
		return arena_printf(s->a, "%s is a single value", expr_str(s, k->exprs[0]));
	const char *lhs = "(";
	for (int i = 0; i < k->n; i++)
		lhs = arena_printf(s->a, "%s%s%s", lhs, i ? ", " : "", expr_str(s, k->exprs[i]));
	return arena_printf(s->a, "%s) has %d", lhs, k->n);
}

void check_elem(struct sema *s, struct ast_expr *el, struct keyspec *k, bool allow_prefix,
		bool allow_range)
{
	substitute_const(s, el);
	if (el->kind == E_TUPLE) {
		if (k->n != el->nargs) {
			diag_error(el->loc, "tuple %s has %d values but %s", expr_str(s, el), el->nargs,
				   keyspec_shape(s, k));
			return;
		}
		for (int i = 0; i < k->n; i++) {
			struct keyspec one = { .n = 1, .what = k->what };
			one.exprs[0] = k->exprs[i];
			one.types[0] = k->types[i];
			check_elem(s, el->args[i], &one, allow_prefix, allow_range);
		}
		return;
	}
	if (k->n != 1) {
		diag_error(el->loc, "%s is a single value but %s", expr_str(s, el), keyspec_shape(s, k));
		return;
	}
	if (el->kind == E_RANGE) {
		if (!allow_range)
			diag_error(el->loc, allow_prefix ? "an lpm set holds prefixes and addresses, not ranges"
							 : "a range is not allowed here");
		else
			check_range_elem(s, el, k, 0);
		return;
	}
	if (el->kind == E_LIT && (el->lit.kind == LIT_PREFIX4 || el->lit.kind == LIT_PREFIX6) &&
	    !allow_prefix) {
		check_prefix_lit(s, el);
		diag_error(el->loc, "prefix %s needs an lpm set (set NAME: lpm<%s>)", expr_str(s, el),
			   el->lit.kind == LIT_PREFIX4 ? "ip4" : "ip6");
		return;
	}
	if (el->kind == E_SETLIT) {
		diag_error(el->loc, "set literals cannot be nested");
		return;
	}
	check_scalar_elem(s, el, k, 0);
}

/* An alias matched against literal elements of one family takes it
 * (ip.src in { 10.0.0.0/8 } is ip4.src); mixed families keep the joined
 * type and each element applies to its own family. */
static void narrow_alias_by_elems(struct ast_expr *lhs, struct ast_expr **els, int n)
{
	if (!is_alias(lhs))
		return;
	enum xdpl_type_kind k = TY_NONE;
	for (int i = 0; i < n; i++) {
		struct ast_expr *el = els[i]->kind == E_RANGE ? els[i]->lhs : els[i];
		enum xdpl_type_kind ek = elem_kind(el);
		if (ek == TY_NONE)
			return;
		if (k != TY_NONE && ek != k)
			return;
		k = ek;
	}
	struct xdpl_type p = alias_pick(lhs->ref.alias, k);
	if (p.kind != TY_NONE)
		lhs->type = p;
}

static void check_in_named(struct sema *s, struct ast_expr *e, struct ast_expr **keys, int nkeys)
{
	struct ast_expr *r = e->rhs;
	if (strchr(r->name, '.')) {
		diag_error(r->loc, "the right side of `in` must be a set, a prefix, a range or { ... }; %s is not one",
			   r->name);
		return;
	}
	struct symentry *se = sym_find(&s->values, r->name);
	if (!se) {
		struct ptrvec c = { 0 };
		cands_sets(s, &c, true, true);
		for (int i = 0; i < s->consts.len; i++)
			ptrvec_push(s->a, &c, (void *)((struct ast_const *)s->consts.items[i])->name);
		diag_error(r->loc, "unknown set '%s'%s", r->name, did_you_mean(s, r->name, &c));
		return;
	}
	if (se->kind == SYM_HEADER) {
		diag_error(r->loc, "'%s' is a header, not a set", r->name);
		return;
	}
	struct ast_set *set = se->ptr;
	r->ref.kind = REF_SET;
	r->ref.set = set;
	if (set->is_map && !set_is_hashlike_map(set)) {
		diag_error(r->loc, "'%s' is a %s; `in` needs a set or a hash map", set->name,
			   set_kind_name(set));
		return;
	}
	check_set_key(s, set, keys, nkeys, e->lhs->loc);
}

static void check_in(struct sema *s, struct ast_expr *e)
{
	e->type = ty_make(TY_COND, 0);
	struct ast_expr *lhs = e->lhs;
	struct ast_expr **keys = lhs->kind == E_TUPLE ? lhs->args : &e->lhs;
	int nkeys = lhs->kind == E_TUPLE ? lhs->nargs : 1;
	if (nkeys > 8) {
		diag_error(lhs->loc, "a key has at most 8 values");
		return;
	}

	if (e->rhs->kind == E_NAME) {
		struct symentry *se = find_const(s, e->rhs->name);
		if (!se) {
			check_in_named(s, e, keys, nkeys);
			return;
		}
		if (!fold_const(s, se)) { /* reported at the constant */
			for (int i = 0; i < nkeys; i++)
				check_value(s, keys[i]);
			return;
		}
		substitute_const(s, e->rhs);
		if (e->rhs->kind == E_NAME)
			resolve_name(s, e->rhs);
	}
	/* literal collections: every element against the lhs value(s) */
	struct keyspec k = { .n = nkeys, .what = "the key" };
	bool bad = false;
	for (int i = 0; i < nkeys; i++) {
		k.exprs[i] = keys[i];
		k.types[i] = check_value(s, keys[i]);
		bad |= k.types[i].kind == TY_NONE;
	}
	if (lhs->kind == E_TUPLE)
		lhs->type = ty_make(TY_NONE, 0);
	struct ast_expr *r = e->rhs;
	switch (r->kind) {
	case E_SETLIT:
		expand_setlit(s, r);
		if (!bad) {
			for (int i = 0; i < r->nargs; i++)
				check_elem(s, r->args[i], &k, true, true);
			if (nkeys == 1)
				narrow_alias_by_elems(lhs, r->args, r->nargs);
		}
		break;
	case E_RANGE:
	case E_TUPLE:
		if (!bad) {
			check_elem(s, r, &k, true, true);
			if (nkeys == 1)
				narrow_alias_by_elems(lhs, &e->rhs, 1);
		}
		break;
	case E_LIT:
		if (r->lit.kind == LIT_PREFIX4 || r->lit.kind == LIT_PREFIX6) {
			if (!bad) {
				check_elem(s, r, &k, true, false);
				narrow_alias_by_elems(lhs, &e->rhs, 1);
			} else {
				check_prefix_lit(s, r);
			}
			break;
		}
		diag_error(r->loc, "%s is a single value; compare it with == instead of `in`",
			   expr_str(s, r));
		break;
	case E_NAME: /* a scalar constant */
		diag_error(r->loc, "'%s' is a single value; compare it with == instead of `in`", r->name);
		break;
	default:
		diag_error(r->loc, "the right side of `in` must be a set, a prefix, a range or { ... }");
		break;
	}
}

/* ---------------------------------------------------------------- conditions */

static void not_a_cond(struct sema *s, struct ast_expr *e)
{
	if (e->type.kind == TY_NONE || e->type.kind == TY_BOOL || e->type.kind == TY_COND)
		return;
	diag_error(e->loc, "%s is %s, not a condition; compare it", expr_str(s, e), a_type(s, e->type));
}

static void check_name_cond(struct sema *s, struct ast_expr *e)
{
	if (!resolve_name(s, e))
		return;
	switch (e->ref.kind) {
	case REF_HEADER:
		e->type = ty_make(TY_COND, 0);
		return;
	case REF_SET:
		diag_error(e->loc, "'%s' is a %s, not a condition; test membership with `VALUE in %s`",
			   e->name, e->ref.set->is_map ? "map" : "set", e->name);
		return;
	case REF_CONST:
		if (e->type.kind == TY_BOOL)
			return;
		name_value(s, e); /* reports collections and prefixes */
		if (e->type.kind != TY_NONE)
			diag_error(e->loc, "constant '%s' is %s, not a condition", e->name,
				   lit_kind_desc(&e->ref.konst->folded));
		return;
	default:
		if (name_value(s, e).kind == TY_NONE)
			return;
		/* a bool alias (or one with a bool alternative) is a condition */
		if (is_alias(e)) {
			struct xdpl_type p = alias_pick(e->ref.alias, TY_BOOL);
			if (p.kind != TY_NONE)
				e->type = p;
		}
		not_a_cond(s, e);
	}
}

static bool is_andor(const struct ast_expr *e)
{
	return e->kind == E_BINARY && (e->op == OP_AND || e->op == OP_OR);
}

static void check_cond_atom(struct sema *s, struct ast_expr *e);

/* and/or chains may be 100k operands long: they are walked with a stack of
 * their own (left to right, as the diagnostics read), not recursion. */
void check_cond(struct sema *s, struct ast_expr *e)
{
	if (!is_andor(e)) {
		check_cond_atom(s, e);
		return;
	}
	struct ptrvec todo = { 0 };
	ptrvec_push(s->a, &todo, e);
	while (todo.len) {
		struct ast_expr *x = todo.items[--todo.len];
		if (!is_andor(x)) {
			check_cond_atom(s, x);
			continue;
		}
		x->type = ty_make(TY_COND, 0);
		ptrvec_push(s->a, &todo, x->rhs);
		ptrvec_push(s->a, &todo, x->lhs);
	}
}

static void check_cond_atom(struct sema *s, struct ast_expr *e)
{
	switch (e->kind) {
	case E_BINARY:
		if (is_cmp(e->op)) {
			check_compare(s, e);
		} else {
			check_arith(s, e);
			not_a_cond(s, e);
		}
		return;
	case E_NOT:
		check_cond(s, e->lhs);
		e->type = ty_make(TY_COND, 0);
		return;
	case E_IN:
		check_in(s, e);
		return;
	case E_NAME:
		check_name_cond(s, e);
		return;
	case E_LIT:
		if (check_lit_value(s, e).kind == TY_BOOL) {
			e->type = ty_make(TY_BOOL, 1);
			return;
		}
		if (e->lit.kind != LIT_PREFIX4 && e->lit.kind != LIT_PREFIX6 && e->lit.kind != LIT_STRING &&
		    e->lit.kind != LIT_HEX && e->lit.kind != LIT_RATE && e->lit.kind != LIT_DURATION)
			diag_error(e->loc, "%s is %s, not a condition", expr_str(s, e),
				   lit_kind_desc(&e->lit));
		e->type = ty_make(TY_NONE, 0);
		return;
	case E_INDEX:
	case E_HASH:
		check_value(s, e);
		not_a_cond(s, e);
		return;
	default:
		check_value(s, e);
		return;
	}
}

int fold_cond(const struct ast_expr *e)
{
	uint64_t a, b;
	int x, y;
	switch (e->kind) {
	case E_LIT:
		return e->lit.kind == LIT_BOOL ? e->lit.u != 0 : -1;
	case E_NAME:
		if (e->ref.kind == REF_CONST && e->ref.konst && e->ref.konst->folded.kind == LIT_BOOL)
			return e->ref.konst->folded.u != 0;
		return -1;
	case E_NOT:
		x = fold_cond(e->lhs);
		return x < 0 ? -1 : !x;
	case E_BINARY:
		if (e->op == OP_AND || e->op == OP_OR) {
			/* a chain `a and b and c` is left-deep: loop down its
			 * left spine (only parentheses nest to the right, and
			 * the parser bounds them) */
			enum binop op = e->op;
			x = op == OP_AND; /* the identity of op */
			for (const struct ast_expr *c = e;; c = c->lhs) {
				bool last = !(c->kind == E_BINARY && c->op == op);
				y = fold_cond(last ? c : c->rhs);
				if (op == OP_AND)
					x = x == 0 || y == 0 ? 0 : x == 1 && y == 1 ? 1 : -1;
				else
					x = x == 1 || y == 1 ? 1 : x == 0 && y == 0 ? 0 : -1;
				if (last)
					return x;
			}
		}
		if (!is_cmp(e->op) || !expr_int_value(e->lhs, &a) || !expr_int_value(e->rhs, &b))
			return -1;
		switch (e->op) {
		case OP_EQ: return a == b;
		case OP_NE: return a != b;
		case OP_LT: return a < b;
		case OP_LE: return a <= b;
		case OP_GT: return a > b;
		case OP_GE: return a >= b;
		default: return -1;
		}
	default:
		return -1;
	}
}
