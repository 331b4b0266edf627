/* Lowering of rules and tests: verdicts (and the maps redirects need),
 * limits, the set/map statements of rewrite blocks, the rule itself, and
 * test packets and expectations. */
#include "lower_internal.h"

#include <string.h>

/* ---------------------------------------------------------------- rules, tests */

/* The map the compiler declares for `redirect IFNAME` (a devmap, slot per
 * distinct name) or `redirect cpu N` (a cpumap whose initial elements give
 * each CPU used a queue of XDPL_CPU_QSIZE frames). */
static struct ir_map *verdict_map(struct lctx *c, const char *name, enum ir_map_kind kind,
				  const struct ast_verdict *v)
{
	struct ir_map *m = NULL;
	for (int i = 0; i < c->maps.len; i++) {
		struct ir_map *x = c->maps.items[i];
		if (strcmp(x->name, name) == 0)
			m = x;
	}
	if (m && m->user_visible) {
		diag_error(v->loc, "the map name '%s' is reserved for `redirect`; rename the map", name);
		return NULL;
	}
	if (!m) {
		m = new_map(c, name, kind, false);
		m->user_visible = false;
		m->line = v->loc.first_line;
		index_key(m);
		m->value_type = IR_UINT;
		m->value_bits = 32;
		m->value_size = 4;
		/* room to grow: a re-attach that adds a target reuses the pinned
		 * map only if its definition is unchanged */
		m->max_entries = 64;
	}
	return m;
}

static bool lower_redirect(struct lctx *c, const struct ast_verdict *v, struct ir_verdict *out)
{
	struct ir_map *m;
	switch (v->kind) {
	case V_REDIRECT_DEV: /* slot = the name's position among the distinct names */
		if (!(m = verdict_map(c, XDPL_REDIRECT_MAP, IRM_DEVMAP, v)))
			return false;
		out->kind = IRV_REDIRECT_IFINDEX;
		out->ifname = v->ifname;
		out->map = m;
		for (out->num = 0; out->num < (uint64_t)c->ir->nifnames; out->num++)
			if (strcmp(c->ir->ifnames[out->num], v->ifname) == 0)
				break;
		if (out->num == (uint64_t)c->ir->nifnames) {
			const char **n = arena_alloc(c->a, sizeof(*n) * (size_t)(c->ir->nifnames + 1));
			if (c->ir->nifnames)
				memcpy(n, c->ir->ifnames, sizeof(*n) * (size_t)c->ir->nifnames);
			n[c->ir->nifnames++] = v->ifname;
			c->ir->ifnames = n;
			if (m->max_entries < (uint32_t)c->ir->nifnames)
				m->max_entries = (uint32_t)c->ir->nifnames;
		}
		return true;
	case V_REDIRECT_IFINDEX:
		out->kind = IRV_REDIRECT_IFINDEX;
		out->num = v->num;
		return true;
	case V_REDIRECT_CPU: {
		if (v->num >= 4096) {
			diag_error(v->loc, "`redirect cpu %llu`: CPU numbers go up to 4095",
				   (unsigned long long)v->num);
			return false;
		}
		if (!(m = verdict_map(c, XDPL_CPU_MAP, IRM_CPUMAP, v)))
			return false;
		out->kind = IRV_REDIRECT_CPU;
		out->num = v->num;
		out->map = m;
		if (m->max_entries < v->num + 1)
			m->max_entries = (uint32_t)v->num + 1;
		for (int i = 0; i < m->ninit; i++)
			if (memcmp(m->init[i].key, &(uint32_t){ (uint32_t)v->num }, 4) == 0)
				return true;
		struct ir_map_entry *e = arena_alloc(c->a, sizeof(*e) * (size_t)(m->ninit + 1));
		if (m->ninit)
			memcpy(e, m->init, sizeof(*e) * (size_t)m->ninit);
		uint32_t key = (uint32_t)v->num, qsize = XDPL_CPU_QSIZE;
		e[m->ninit].key = arena_alloc(c->a, 4);
		e[m->ninit].value = arena_alloc(c->a, 4);
		memcpy(e[m->ninit].key, &key, 4);   /* map byte layout: host order */
		memcpy(e[m->ninit].value, &qsize, 4);
		m->init = e;
		m->ninit++;
		return true;
	}
	case V_REDIRECT_MAP:
		out->kind = IRV_REDIRECT_MAP;
		out->map = set_map(c, v->map_ref);
		out->key = v->key ? lower_val(c, v->key, NULL) : NULL;
		if (!out->map || !out->key)
			return false;
		if (c->lowering_default && out->key->kind != IV_CONST && out->key->kind != IV_PKT) {
			diag_error(v->key->loc, "`default redirect %s[KEY]` with a KEY other than a "
				   "constant, pkt.rxq or pkt.ifindex is not supported yet", v->map);
			return false;
		}
		return true;
	default:
		return false;
	}
}

bool lower_verdict(struct lctx *c, const struct ast_verdict *v, struct ir_verdict *out)
{
	memset(out, 0, sizeof(*out));
	switch (v->kind) {
	case V_REDIRECT_DEV:
	case V_REDIRECT_IFINDEX:
	case V_REDIRECT_CPU:
	case V_REDIRECT_MAP:
		return lower_redirect(c, v, out);
	default:
		/* a word without a target: its row of ir.c's table */
		if ((int)v->kind < XDPL_NVERDICTS && ir_verdict_by_word((enum xdpl_verdict)v->kind, &out->kind))
			return true;
		diag_error(v->loc, "verdict '%s' is not supported yet", ast_verdict_word(v->kind));
		return false;
	}
}

/* ---------------------------------------------------------------- state: limits, set and map updates
 *
 * `limit` (reference §9) and the rewrite statements that change sets and maps
 * (`SET add KEY [timeout D]`, `SET del KEY`, `MAP[KEY] = V`, `MAP[KEY] += N`,
 * reference §12). Codegen: compiler/codegen/codegen_state.c. */

/* Buckets of a `limit ... per KEYS` live in an LRU hash of this many keys;
 * without `per`, the one bucket is a 1-slot array. */
#define LIMIT_PER_MAX 65536

static bool lower_limit(struct lctx *c, const struct ast_rule *r, struct ir_limit **out)
{
	const struct ast_limit *l = r->limit;
	struct ir_limit *x = NEW(c->a, struct ir_limit);
	x->over = l->over;
	x->line = l->loc.first_line;
	uint64_t amount = l->rate.u, period = 1;
	switch (l->rate.unit) {
	case RATE_PPS: break;
	case RATE_PPM: period = 60; break;
	case RATE_PPH: period = 3600; break;
	case RATE_KBPS: x->bytes = true; amount = amount * 1000 / 8; break;
	case RATE_MBPS: x->bytes = true; amount = amount * 1000000 / 8; break;
	case RATE_GBPS: x->bytes = true; amount = amount * 1000000000 / 8; break;
	}
	if (amount == 0 || l->rate.u > UINT64_MAX / 1000000000) {
		diag_error(l->loc, "this rate is out of range");
		return false;
	}
	x->amount = amount;
	x->period_s = period;
	x->rate_per_sec = amount / period;
	if (l->burst) {
		uint64_t b = 0;
		if (l->burst->kind == E_LIT)
			b = l->burst->lit.u;
		else {
			struct ir_val *bv = lower_val(c, l->burst, NULL);
			if (!bv || bv->kind != IV_CONST) {
				diag_error(l->burst->loc, "burst must be a constant");
				return false;
			}
			b = (uint64_t)cval(bv);
		}
		x->burst = b ? b : 1;
	} else {
		x->burst = x->rate_per_sec ? x->rate_per_sec : 1;
	}
	int n = l->nper > 8 ? 8 : l->nper;
	x->keys = arena_alloc(c->a, sizeof(*x->keys) * (size_t)(n + 1));
	x->nkeys = n;
	for (int i = 0; i < n; i++) {
		x->keys[i] = lower_val(c, l->per[i], NULL);
		if (!x->keys[i])
			return false;
	}
	struct ir_map *m = new_map(c, arena_printf(c->a, "_xdpl_limit_%s", r->name), n ? IRM_LRU_HASH : IRM_ARRAY,
				   false);
	m->user_visible = false;
	m->line = x->line;
	if (n) {
		m->nkeys = n;
		for (int i = 0; i < n; i++) {
			m->key_types[i] = x->keys[i]->type;
			m->key_bits[i] = x->keys[i]->bits;
		}
		map_key_layout(m);
		m->max_entries = LIMIT_PER_MAX;
	} else {
		index_key(m);
		m->max_entries = 1;
	}
	m->value_type = IR_UINT;
	m->value_bits = 64;
	m->value_size = 8;
	x->map = m;
	*out = x;
	return true;
}

/* Whether st is one of the statements lowered here. */
static bool is_state_stmt(const struct ast_stmt *st)
{
	return st && (st->kind == S_SET_ADD || st->kind == S_SET_DEL ||
		      (st->kind == S_ASSIGN && st->lhs && st->lhs->kind == E_INDEX));
}

static struct ir_stmt *lower_state_stmt(struct lctx *c, const struct ast_stmt *st)
{
	struct ir_stmt *s = new_stmt(c, IS_SET_ADD, st); /* kind: below */
	if (st->kind == S_ASSIGN) {
		if (!st->rhs)
			return NULL;
		struct ir_map *m = set_map(c, st->lhs->ref.set);
		if (!m || m->is_set) {
			diag_error(st->lhs->loc, "internal: unresolved map '%s'", st->lhs->name ? st->lhs->name : "?");
			return NULL;
		}
		if (st->op != OP_EQ && st->op != OP_ADD) {
			diag_error(st->loc, "only MAP[KEY] = VALUE and MAP[KEY] += N change map entries");
			return NULL;
		}
		if (!ir_map_kind_info(m->kind)->writable) {
			diag_error(st->lhs->loc, "entries of '%s' cannot be written by a rule", m->name);
			return NULL;
		}
		s->kind = st->op == OP_EQ ? IS_MAP_STORE : IS_MAP_ADD;
		s->map = m;
		if (!map_keys(c, m, st->lhs->args, st->lhs->nargs, &s->keys))
			return NULL;
		s->nkeys = st->lhs->nargs;
		struct ir_val hint = { .type = m->value_type, .bits = m->value_bits };
		s->value = lower_val(c, st->rhs, &hint);
		if (!s->value)
			return NULL;
		s->value = retype_const(c, s->value, &hint);
		return s;
	}
	struct ir_map *m = set_map(c, st->set_ref);
	if (!m) {
		diag_error(st->loc, "internal: unresolved set '%s'", st->set ? st->set : "?");
		return NULL;
	}
	if (!ir_map_kind_info(m->kind)->set_ops) {
		diag_error(st->loc, "%s on '%s' (not a hash set) is not supported yet",
			   st->kind == S_SET_ADD ? "add" : "del", m->name);
		return NULL;
	}
	s->kind = st->kind == S_SET_ADD ? IS_SET_ADD : IS_SET_DEL;
	s->map = m;
	if (st->has_timeout)
		s->timeout_ns = st->timeout.u * 1000000; /* ms; m->expires is set */
	if (!st->key)
		return NULL;
	struct ast_expr **keys = st->key->kind == E_TUPLE ? st->key->args : (struct ast_expr **)&st->key;
	int n = st->key->kind == E_TUPLE ? st->key->nargs : 1;
	if (!map_keys(c, m, keys, n, &s->keys))
		return NULL;
	s->nkeys = n;
	return s;
}

/* The limit and the set/map statements of rule r (others: not yet). */
static void lower_rule_state(struct lctx *c, const struct ast_rule *r, struct ir_rule *out)
{
	if (r->limit)
		lower_limit(c, r, &out->limit);
	if (!r->nrewrite)
		return;
	/* generic names become one statement per alternative (at most 8) */
	out->stmts = arena_alloc(c->a, sizeof(*out->stmts) * (size_t)(8 * r->nrewrite + 1));
	for (int k = 0; k < r->nrewrite; k++) {
		const struct ast_stmt *st = r->rewrite[k];
		if (!st)
			continue;
		if (!is_state_stmt(st)) {
			int n = lower_rewrite_stmt(c, st, out->stmts + out->nstmts, 8, k);
			if (n > 0)
				out->nstmts += n;
			continue;
		}
		struct ir_stmt *s = lower_state_stmt(c, st);
		if (s)
			out->stmts[out->nstmts++] = s;
	}
}

void lower_rule(struct lctx *c, const struct ast_rule *r, int i, struct ir_rule *out)
{
	out->name = r->name;
	out->index = i;
	out->file = diag_source_path(r->loc.file);
	out->line = r->loc.first_line;
	lower_rule_state(c, r, out);
	lower_verdict(c, &r->verdict, &out->verdict);
	struct ir_cond *x = r->match ? lower_cond(c, r->match) : c_true(c);
	out->cond = x ? x : c_true(c);
	lower_rewrite_requires(c, r, out);
}

static int expect_action(const struct ast_test *t)
{
	if (!t->has_expect)
		return -2;
	if (t->expect.kind == V_REDIRECT_ANY)
		return -1;
	int a = ast_verdict_action(t->expect.kind);
	if (a >= 0)
		return a;
	diag_error(t->expect.loc, "a test cannot expect '%s'", ast_verdict_word(t->expect.kind));
	return -2;
}

void lower_test(struct lctx *c, const struct ast_test *t, struct ir_test *out)
{
	out->name = t->name;
	out->file = diag_source_path(t->loc.file);
	out->line = t->loc.first_line;
	out->expect_action = expect_action(t);
	if (t->by_rule)
		out->expect_rule = t->by_rule->index;
	else if (t->by && strcmp(t->by, "default") == 0)
		out->expect_rule = c->p->nrules;
	else if (t->by) {
		int r = -1;
		for (int i = 0; i < c->p->nrules; i++)
			if (strcmp(c->p->rules[i]->name, t->by) == 0)
				r = i;
		if (r < 0)
			diag_error(t->by_loc, "no rule named '%s'", t->by);
		out->expect_rule = r;
	} else
		out->expect_rule = -1;
	lower_build_packet(c->a, c->p, t->packet, t->npacket, &out->packet, &out->packet_len);
	if (t->has_output)
		lower_build_packet(c->a, c->p, t->output, t->noutput, &out->output, &out->output_len);
}
