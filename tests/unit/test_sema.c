/* Unit test of the front end (frontend.c + parser + sema).
 *
 *  - the example policy of tests/lang/spec_example.xdpl, the standard library alone and a program using
 *    most of the language are accepted without a diagnostic, and the
 *    [sema] fields of the AST are filled in;
 *  - each bad snippet produces exactly the expected first diagnostic
 *    ("file:line:col: error: message"), or the expected full list;
 *  - rules that can never match or apply are warned about, with the parse
 *    graph deciding which headers can be on one packet;
 *  - every examples/ and tests/lang/ policy gets no warning but the
 *    deserved ones listed here.
 *
 * Usage: test_sema [REPO_ROOT]  (the stdlib is embedded; the root gives the
 * policies to check).
 * Exits 1 on any failure. */
#include "frontend.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
			failures++;                                       \
		}                                                         \
	} while (0)

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");
	if (!f) {
		perror(name);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

/* Runs the front end on t.xdpl holding src; *diags gets everything that
 * was reported (malloc'd). */
static int run(struct arena *a, const char *src, struct sema_program *p, char **diags)
{
	size_t len = 0;
	FILE *ds = open_memstream(diags, &len);
	diag_reset();
	diag_set_stream(ds);
	write_file("t.xdpl", src);
	int rc = frontend_load(a, "t.xdpl", p);
	fclose(ds);
	diag_set_stream(NULL);
	return rc;
}

/* The "file:line:col: level: message" lines of a diagnostic dump. */
static char *headlines(const char *diags, bool first_only)
{
	size_t cap = strlen(diags) + 1, n = 0;
	char *out = calloc(1, cap);
	for (const char *p = diags; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		/* source lines and carets start with spaces; headlines do not */
		if (len && p[0] != ' ') {
			if (n)
				out[n++] = '\n';
			memcpy(out + n, p, len);
			n += len;
			if (first_only)
				break;
		}
		p += len + (eol ? 1 : 0);
	}
	out[n] = 0;
	return out;
}

/* ---------------------------------------------------------------- good programs */

/* The example policy of tests/lang/spec_example.xdpl, kept once there (where it also runs in
 * the kernel); read in main() before moving to the scratch directory. */
static char *spec_example;

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(m);
	fclose(f);
	return buf;
}

/* Most of the language, valid: must give no diagnostic at all. */
static const char *features =
	"program features;\n"
	"import \"lib.xdpl\";\n"
	"const SSH = 22;\n"
	"const WEB = { 80, 443, 8000..8080 };\n"
	"const NET = 10.0.0.0/8;\n"
	"const MASK = 0x10 | 0x02;\n"
	"set pairs: hash<ip4, u16> = { (192.0.2.1, 80), (192.0.2.2, SSH) };\n"
	"set seen: hash<ip4> max 4096;\n"
	"set nets6: lpm<ip6> = { 2001:db8::/32, 2001:db8:1::1 };\n"
	"set vlans: hash<u16> = { 10, 20 };\n"
	"map counts: lru<ip4, u64> max 100000;\n"
	"map slots: array<u32> max 16;\n"
	"map devs: devmap max 8;\n"
	"header vxlan { flags: u8 = 0x08; reserved: u24; vni: u24; reserved2: u8; }\n"
	"header eth_inner = eth;\n"
	"parser {\n"
	"    state udp { extract udp; select udp.dport { 4789 -> vxlan; } }\n"
	"    state vxlan { extract vxlan; next eth_inner; }\n"
	"}\n"
	"rule a { match tcp.dport == SSH and ip4.src in NET; verdict drop; }\n"
	"rule b { match tcp.dport in WEB or l4.dport in { 53, 123 }; verdict pass; }\n"
	"rule c { match (ip4.src, tcp.dport) in pairs; verdict drop; }\n"
	"rule d { match ip.src == 10.0.0.1 or ip.src in 2001:db8::/32 or ip.dst in nets6; verdict drop; }\n"
	"rule e { match tcp.flags & MASK == MASK and ip4.ttl <= 1 and not vlan; verdict drop; }\n"
	"rule f { match hash(ip4.src, tcp.sport) % 4 == 1 and pkt.len > 1000 and ip.proto == 6;\n"
	"         verdict redirect devs[hash(ip4.src) % 8]; }\n"
	"rule g { match counts[ip4.src] > 100 and slots[3] == 1; verdict drop; }\n"
	"rule h { match vlan.id in vlans or vlan2.id in vlans or ip4.src in 10.0.0.1..10.0.0.9;\n"
	"         verdict redirect eth1; }\n"
	"rule i { match vxlan.vni == 42 and eth_inner.src == 02:00:00:00:00:09 and ip4_inner.ttl == 1;\n"
	"         verdict drop; }\n"
	"rule j { match udp;\n"
	"         limit 10mbps burst 1000 per ip4.src, udp.dport;\n"
	"         rewrite {\n"
	"             ip4.ttl -= 1; l4.dport = 8080; ip.dst = 10.0.0.1; counts[ip4.src] += 1;\n"
	"             seen add ip4.src timeout 30s; seen del ip4.dst; swap ip.src, ip.dst;\n"
	"             push vlan(id=10, pcp=3); pop vlan; decap; tcp.flags.syn = 1;\n"
	"             encap ip4(src=10.0.0.1, dst=ip4.src) / udp(dport=4789) / vxlan(vni=7);\n"
	"         }\n"
	"         verdict continue; }\n"
	"rule k { match ip4.dst in seen and LIB == 1; verdict route; }\n"
	"default drop;\n"
	"test \"ssh\" { packet eth() / ip4(ttl=1) / tcp(dport=SSH, options=hex \"01010101\"); expect drop by a; }\n"
	"test \"raw\" { packet raw(hex \"00\"); expect drop by default; }\n"
	"test \"payload\" { packet eth() / ip4() / udp() / payload(\"hi\"); expect redirect; }\n";

static const char *features_lib =
	"const LIB = 1;\n"
	"rule lib_rule { match LIB == 1 and udp; verdict continue; }\n";

static struct ast_rule *rule_named(struct sema_program *p, const char *name)
{
	for (int i = 0; i < p->nrules; i++)
		if (!strcmp(p->rules[i]->name, name))
			return p->rules[i];
	return NULL;
}

static struct ast_header *header_named(struct sema_program *p, const char *name)
{
	for (int i = 0; i < p->nheaders; i++)
		if (!strcmp(p->headers[i]->name, name))
			return p->headers[i];
	return NULL;
}

static struct ast_state *state_named(struct sema_program *p, const char *name)
{
	for (int i = 0; i < p->nstates; i++)
		if (!strcmp(p->states[i]->name, name))
			return p->states[i];
	return NULL;
}

static void test_spec_example(void)
{
	struct arena a = { 0 };
	struct sema_program p;
	char *diags = NULL;
	CHECK(spec_example != NULL, "tests/lang/spec_example.xdpl not readable");
	if (!spec_example)
		return;
	int rc = run(&a, spec_example, &p, &diags);
	CHECK(rc == 0 && !*diags, "spec example: rc %d, diagnostics:\n%s", rc, diags);
	free(diags);
	if (rc) {
		arena_free(&a);
		return;
	}
	CHECK(!strcmp(p.name, "edge_guard"), "program name");
	CHECK(p.nrules == 4 && p.ntests == 2 && p.nsets == 2, "4 rules, 2 tests, 2 sets");
	for (int i = 0; i < p.nrules; i++)
		CHECK(p.rules[i]->index == i && !p.rules[i]->always, "rule %d index/always", i);
	CHECK(p.deflt.kind == V_PASS, "default pass");
	CHECK(p.sets[0]->max == 65536 && p.sets[1]->max == 1024, "set max (given, default)");

	struct ast_header *tcp = header_named(&p, "tcp"), *ip4 = header_named(&p, "ip4");
	struct ast_header *vlan = header_named(&p, "vlan"), *vlan2 = header_named(&p, "vlan2");
	CHECK(tcp && tcp->fixed_bytes == 20 && tcp->max_bytes == 60, "tcp sizes");
	CHECK(ip4 && ip4->fixed_bytes == 20 && ip4->max_bytes == 60, "ip4 sizes");
	CHECK(tcp && tcp->fields[1]->bit_offset == 16 && tcp->fields[1]->index == 1, "tcp.dport offset");
	CHECK(ip4 && ip4->fields[7]->bit_offset == 51, "ip4.frag offset %d", ip4 ? ip4->fields[7]->bit_offset : -1);
	CHECK(vlan && vlan2 && vlan2->layout == vlan && vlan->layout == vlan &&
		      vlan2->index != vlan->index && vlan2->fixed_bytes == 4,
	      "vlan2 shares vlan's layout");
	for (int i = 0; i < p.nheaders; i++)
		CHECK(p.headers[i]->index == i, "header index %d", i);
	CHECK(p.start && !strcmp(p.start->name, "eth"), "parse graph starts at eth");
	CHECK(p.nstates == 19, "19 stdlib states, got %d", p.nstates);
	for (int i = 0; i < p.nstates; i++) {
		struct ast_state *st = p.states[i];
		CHECK(st->index == i && st->nstmts > 0, "state %s", st->name);
		struct ast_pstmt *last = st->stmts[st->nstmts - 1];
		CHECK(last->kind == PS_NEXT || last->kind == PS_SELECT, "state %s ends in a transition",
		      st->name);
		if (last->kind == PS_SELECT)
			for (int j = 0; j < last->narms; j++)
				CHECK(last->arms[j]->target.accept || last->arms[j]->target.reject ||
					      last->arms[j]->target.resolved,
				      "state %s arm %d resolved", st->name, j);
	}

	struct ast_expr *m = p.rules[1]->match; /* tcp.flags.syn and not tcp.flags.ack */
	CHECK(m->type.kind == TY_COND && m->lhs->ref.kind == REF_FLAG && m->lhs->type.kind == TY_BOOL &&
		      !strcmp(m->lhs->ref.flag->name, "syn") && m->lhs->ref.hdr == tcp,
	      "tcp.flags.syn is a flag");
	m = p.rules[3]->match; /* icmp.type == 8 */
	CHECK(m->lhs->ref.kind == REF_FIELD && m->rhs->type.kind == TY_UINT && m->rhs->type.bits == 8,
	      "literal 8 takes icmp.type's width");
	m = p.rules[0]->match; /* ip4.src in blocked */
	CHECK(m->rhs->ref.kind == REF_SET && m->rhs->ref.set == p.sets[0], "set reference");
	CHECK(p.tests[0]->by_rule == p.rules[0] && !p.tests[1]->by_rule, "test by rule");
	struct ast_layer *l = p.tests[0]->packet[1];
	CHECK(l->hdr == ip4 && l->args[0]->resolved == ip4->fields[11], "layer arg ip4(src=...)");
	arena_free(&a);
}

static void test_stdlib_alone(void)
{
	struct arena a = { 0 };
	struct sema_program p;
	char *diags = NULL;
	int rc = run(&a, "program p;\n", &p, &diags);
	CHECK(rc == 0 && !*diags, "stdlib alone: rc %d, diagnostics:\n%s", rc, diags);
	free(diags);
	CHECK(rc || (p.nrules == 0 && p.deflt.kind == V_PASS && p.naliases == 4), "empty program");
	arena_free(&a);
}

static void test_features(void)
{
	struct arena a = { 0 };
	struct sema_program p;
	char *diags = NULL;
	write_file("lib.xdpl", features_lib);
	int rc = run(&a, features, &p, &diags);
	CHECK(rc == 0 && !*diags, "features: rc %d, diagnostics:\n%s", rc, diags);
	free(diags);
	if (rc) {
		arena_free(&a);
		return;
	}
	CHECK(p.rules[0] == rule_named(&p, "lib_rule"), "imported rules come first");
	struct ast_state *udp = state_named(&p, "udp");
	struct ast_pstmt *t = udp ? udp->stmts[udp->nstmts - 1] : NULL;
	CHECK(udp && udp->nstmts == 2 && t->kind == PS_SELECT && t->narms == 2 &&
		      !t->arms[0]->is_default && t->arms[1]->is_default && t->arms[1]->target.accept,
	      "udp state extended: the user's arm, then the stdlib's accept");
	struct ast_rule *d = rule_named(&p, "d");
	struct ast_expr *m = d->match->lhs->lhs; /* ip.src == 10.0.0.1 */
	CHECK(m->lhs->ref.kind == REF_ALIAS && m->lhs->type.kind == TY_IP4, "ip.src picks ip4");
	struct ast_rule *a_ = rule_named(&p, "a");
	m = a_->match->lhs; /* tcp.dport == SSH */
	CHECK(m->rhs->ref.kind == REF_CONST && m->rhs->type.kind == TY_UINT && m->rhs->type.bits == 16 &&
		      m->rhs->ref.konst->folded.u == 22,
	      "const SSH adapts to u16");
	struct ast_rule *b = rule_named(&p, "b");
	m = b->match->lhs; /* tcp.dport in WEB */
	CHECK(m->rhs->kind == E_SETLIT && m->rhs->nargs == 3 && m->rhs->args[2]->kind == E_RANGE,
	      "collection constant substituted");
	struct ast_rule *f = rule_named(&p, "f");
	CHECK(f->verdict.map_ref && !strcmp(f->verdict.map_ref->name, "devs"), "redirect map");
	arena_free(&a);
}

/* ---------------------------------------------------------------- bad programs */

struct bad {
	const char *src;
	const char *want; /* first headline; with '\n': all headlines */
};

#define P "program p;\n"
#define R(body) "rule r { " body " }\n"

static const struct bad bad[] = {
	/* program, default, duplicates */
	{ "rule r { verdict drop; }\n",
	  "t.xdpl:1:1: error: missing `program NAME;` at the start of the file" },
	{ P "program q;\n",
	  "t.xdpl:2:1: error: program declared twice\n"
	  "t.xdpl:1:1: note: first declared here" },
	{ P "default pass;\ndefault drop;\n",
	  "t.xdpl:3:1: error: default declared twice\n"
	  "t.xdpl:2:1: note: first declared here" },
	{ P "default continue;\n",
	  "t.xdpl:2:9: error: default cannot be `continue`; it must decide the packet" },
	{ P "rule x { verdict drop; }\nrule x { match udp; verdict pass; }\n",
	  "t.xdpl:3:6: error: duplicate rule 'x'\n"
	  "t.xdpl:2:6: note: first defined here\n"
	  "t.xdpl:3:6: warning: rule 'x' is unreachable: rule 'x' always matches" },
	{ P "set s: hash<u16>;\nmap s: hash<u16, u8>;\n",
	  "t.xdpl:3:5: error: duplicate name 's': already declared as a set\n"
	  "t.xdpl:2:5: note: first defined here" },
	{ P "const A = 1;\nconst A = 2;\n", "t.xdpl:3:7: error: duplicate const 'A'" },
	{ P "header tcp { a: u8; }\n", "t.xdpl:2:8: error: duplicate header 'tcp'" },
	{ P "test \"x\" { packet eth(); expect pass; }\ntest \"x\" { packet eth(); expect pass; }\n",
	  "t.xdpl:3:6: error: duplicate test 'x'" },
	{ P "alias ip.src = ip4.dst;\n", "t.xdpl:2:7: error: duplicate alias 'ip.src'" },

	/* names */
	{ P R("match tcp.dprot == 22; verdict drop;"),
	  "t.xdpl:2:16: error: unknown field 'tcp.dprot'; did you mean 'tcp.dport'?" },
	{ P R("match tpc.dport == 22; verdict drop;"),
	  "t.xdpl:2:16: error: unknown field 'tpc.dport'; did you mean 'tcp.dport'?" },
	{ P R("match foo.bar == 1; verdict drop;"),
	  "t.xdpl:2:16: error: unknown field 'foo.bar': there is no header 'foo'" },
	{ P R("match tcp.flags.syc; verdict drop;"),
	  "t.xdpl:2:16: error: unknown field 'tcp.flags.syc'; did you mean 'tcp.flags.syn'?" },
	{ P R("match pkt.lenn > 5; verdict drop;"),
	  "t.xdpl:2:16: error: unknown field 'pkt.lenn'; did you mean 'pkt.len'?" },
	{ P "const SSH = 22;\n" R("match tcp.dport == SHH; verdict drop;"),
	  "t.xdpl:3:29: error: unknown name 'SHH'; did you mean 'SSH'?" },
	{ P "set blocked: lpm<ip4>;\n" R("match ip4.src in blokced; verdict drop;"),
	  "t.xdpl:3:27: error: unknown set 'blokced'; did you mean 'blocked'?" },
	{ P "header pkt { a: u8; }\n",
	  "t.xdpl:2:8: error: header name 'pkt' is reserved for packet metadata (pkt.len, pkt.ifindex, pkt.rxq)" },

	/* types in conditions */
	{ P R("match tcp.dport == 70000; verdict drop;"),
	  "t.xdpl:2:29: error: value 70000 does not fit in tcp.dport (u16)" },
	{ P "const BIG = 0x1_0000;\n" R("match tcp.dport == BIG; verdict drop;"),
	  "t.xdpl:3:29: error: value BIG (65536) does not fit in tcp.dport (u16)" },
	{ P R("match ip4.src == 02:00:00:00:00:01; verdict drop;"),
	  "t.xdpl:2:27: error: cannot compare ip4.src (ip4) with a mac address" },
	{ P R("match ip.src == 02:00:00:00:00:01; verdict drop;"),
	  "t.xdpl:2:26: error: cannot compare ip.src (ip4 or ip6) with a mac address" },
	{ P R("match ip4.src == eth.src; verdict drop;"),
	  "t.xdpl:2:16: error: cannot compare ip4.src (ip4) with eth.src (mac)" },
	{ P R("match ip4.src in 2001:db8::/32; verdict drop;"),
	  "t.xdpl:2:27: error: type mismatch: ip4.src is ip4 but 2001:db8::/32 is an ip6 prefix" },
	{ P R("match ip4.src == 10.0.0.0/8; verdict drop;"),
	  "t.xdpl:2:27: error: cannot compare with prefix 10.0.0.0/8 using '=='; test it with `ip4.src in 10.0.0.0/8`" },
	{ P R("match ip4.src in 10.0.0.1/8; verdict drop;"),
	  "t.xdpl:2:27: error: prefix 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?" },
	{ P R("match ip6.src in 2001:db8::1/32; verdict drop;"),
	  "t.xdpl:2:27: error: prefix 2001:db8::1/32 has host bits set; did you mean 2001:db8::/32?" },
	{ P R("match tcp.dport; verdict drop;"),
	  "t.xdpl:2:16: error: tcp.dport is a u16, not a condition; compare it" },
	{ P R("match tcp.flags & 0x12; verdict drop;"),
	  "t.xdpl:2:16: error: tcp.flags & 0x12 is a u8, not a condition; compare it" },
	{ P R("match ip4.src + 1 == 10.0.0.2; verdict drop;"),
	  "t.xdpl:2:16: error: operator '+' needs integers, but ip4.src is an ip4" },
	/* an operand literal may be wider (reference §7: the smallest width that
	 * holds it); the result then must fit what it is compared with */
	{ P R("match tcp.flags & 0x1f == 0x1ff; verdict drop;"),
	  "t.xdpl:2:36: error: value 0x1ff does not fit in tcp.flags & 0x1f (u8)" },
	{ P R("match tcp.flags << 8 == 0; verdict drop;"),
	  "t.xdpl:2:29: error: shift count 8 is not less than the width of tcp.flags (u8)" },
	{ P R("match tcp.flags.syn == 2; verdict drop;"),
	  "t.xdpl:2:33: error: value 2 does not fit in tcp.flags.syn (bool)" },
	{ P R("match tcp == 1; verdict drop;"),
	  "t.xdpl:2:16: error: 'tcp' is a header, not a value; name one of its fields" },
	{ P "set s: hash<u16>;\n" R("match s; verdict drop;"),
	  "t.xdpl:3:16: error: 's' is a set, not a condition; test membership with `VALUE in s`" },
	{ P R("match (tcp.dport == 1) + 1 == 2; verdict drop;"),
	  "t.xdpl:2:16: error: (tcp.dport == 1) is a condition, not a value" },
	{ P R("match tcp.dport in 1024..80; verdict drop;"),
	  "t.xdpl:2:29: error: range 1024..80 is empty: 1024 is greater than 80" },
	{ P R("match tcp.dport in 1024..70000; verdict drop;"),
	  "t.xdpl:2:35: error: value 70000 does not fit in tcp.dport (u16)" },
	{ P R("match tcp.dport in { 22, 10.0.0.1 }; verdict drop;"),
	  "t.xdpl:2:35: error: type mismatch: tcp.dport is u16 but 10.0.0.1 is an ip4 address" },
	{ P R("match tcp.dport in 22; verdict drop;"),
	  "t.xdpl:2:29: error: 22 is a single value; compare it with == instead of `in`" },
	{ P R("match (ip4.src, tcp.dport) in { (1.2.3.4, 5, 6) }; verdict drop;"),
	  "t.xdpl:2:42: error: tuple (1.2.3.4, 5, 6) has 3 values but (ip4.src, tcp.dport) has 2" },

	/* sets and maps */
	{ P "set s: hash<u16> = { 22, 80 };\n" R("match ip4.src in s; verdict drop;"),
	  "t.xdpl:3:16: error: set 's' has key type u16 but is matched with ip4.src (ip4)" },
	{ P "set s: lpm<ip4>;\n" R("match ip6.src in s; verdict drop;"),
	  "t.xdpl:3:16: error: set 's' has key type ip4 but is matched with ip6.src (ip6)" },
	{ P "set s: hash<ip4, u16>;\n" R("match (ip4.src, tcp.dport, tcp.sport) in s; verdict drop;"),
	  "t.xdpl:3:16: error: set 's' has key type (ip4, u16) but is matched with 3 values" },
	{ P "set s: lpm<u32>;\n" R("match ip4.src in s; verdict drop;"),
	  "t.xdpl:2:12: error: lpm sets take one ip4 or ip6 key, not u32" },
	{ P "set s: hash<u12>;\n",
	  "t.xdpl:2:13: error: set key type u12 is not supported; use u8, u16, u32, u64, bool, mac, ip4 or ip6" },
	{ P "set s: hash<u8> = { 22, 300 };\n",
	  "t.xdpl:2:25: error: value 300 does not fit in set 's' key (u8)" },
	{ P "set s: hash<u16> = { 22, 192.0.2.1 };\n",
	  "t.xdpl:2:26: error: type mismatch: set 's' has key type u16 but 192.0.2.1 is an ip4 address" },
	{ P "set s: lpm<ip4> = { 192.0.2.1/24 };\n",
	  "t.xdpl:2:21: error: prefix 192.0.2.1/24 has host bits set; did you mean 192.0.2.0/24?" },
	{ P "set s: hash<ip4> = { 10.0.0.0/8 };\n",
	  "t.xdpl:2:22: error: prefix 10.0.0.0/8 needs an lpm set (set NAME: lpm<ip4>)" },
	{ P "set s: hash<ip4, u16> = { (192.0.2.1, 80, 3) };\n",
	  "t.xdpl:2:27: error: tuple (192.0.2.1, 80, 3) has 3 values but set 's' has key type (ip4, u16)" },
	{ P "set s: hash<u16> = { 22, 80, 22 };\n",
	  "t.xdpl:2:30: warning: duplicate element 22 in set 's'" },
	{ P "set s: hash<u16> max 2 = { 22, 80, 443 };\n",
	  "t.xdpl:2:26: error: set 's' has 3 initial elements but max 2" },
	{ P "map m: hash<ip4, u12>;\n",
	  "t.xdpl:2:5: error: map 'm' has value type u12, which is not supported; use u8, u16, u32, u64, bool, mac, ip4 or ip6" },
	{ P "map seen: hash<ip4, u64>;\n" R("match seen[tcp.dport] > 10; verdict drop;"),
	  "t.xdpl:3:21: error: map 'seen' has key type ip4 but is matched with tcp.dport (u16)" },
	{ P "set s: hash<ip4>;\n" R("match s[ip4.src] > 1; verdict drop;"),
	  "t.xdpl:3:16: error: 's' is a set, not a map; test membership with `KEY in s`" },
	{ P "map d: devmap;\n" R("match d[1] == 1; verdict drop;"),
	  "t.xdpl:3:16: error: 'd' is a devmap; it can only be used in `verdict redirect d[KEY]`" },
	{ P "map d: hash<u32, u32>;\n" R("verdict redirect d[1];"),
	  "t.xdpl:3:27: error: 'd' is a hash map; `redirect d[KEY]` needs a devmap, cpumap or xskmap" },
	{ P R("verdict redirect devz[1];"),
	  "t.xdpl:2:27: error: unknown map 'devz'" },

	/* constants */
	{ P "const A = B + 1;\nconst B = A * 2;\n",
	  "t.xdpl:2:7: error: constant 'A' is defined in terms of itself" },
	{ P "const A = 5 - 10;\n", "t.xdpl:2:11: error: constant 5 - 10 is negative" },
	{ P "const A = tcp.dport;\n",
	  "t.xdpl:2:11: error: a constant can only use literals and other constants; 'tcp.dport' is not a constant" },
	{ P "const PORTS = { 22, 80 };\n" R("match tcp.dport == PORTS; verdict drop;"),
	  "t.xdpl:3:29: error: 'PORTS' is a collection constant; use it after `in`" },
	{ P "const PORTS = { 22, 70000 };\n" R("match tcp.dport in PORTS; verdict drop;"),
	  "t.xdpl:2:21: error: value 70000 does not fit in tcp.dport (u16)" },

	/* headers */
	{ P "header odd { a: u4; b: u8; }\n",
	  "t.xdpl:2:8: error: header 'odd' is 12 bits long; a header must be a whole number of bytes (pad it to 16 bits)" },
	{ P "header h { a: u8; a: u8; }\n",
	  "t.xdpl:2:19: error: duplicate field 'a' in header 'h'\n"
	  "t.xdpl:2:12: note: first defined here" },
	{ P "header h { n: u8; d: bytes(n) max 8; x: u8; }\n",
	  "t.xdpl:2:19: error: bytes() field 'd' must be the last field of header 'h'" },
	{ P "header h { d: bytes(n * 2) max 8; n: u8; }\n",
	  "t.xdpl:2:12: error: bytes() field 'd' must be the last field of header 'h'\n"
	  "t.xdpl:2:21: error: the size of 'd' can only use fields before it; 'n' comes after it" },
	{ P "header h { len: u8; d: bytes(lne * 2) max 8; }\n",
	  "t.xdpl:2:30: error: unknown field 'lne' in header h; did you mean 'len'?" },
	{ P "header h { f: u4 bits { a = 0x10 }; x: u4; }\n",
	  "t.xdpl:2:25: error: flag mask 0x10 does not fit in h.f (u4)" },
	{ P "header h { a: u8 = 300; }\n", "t.xdpl:2:20: error: value 300 does not fit in h.a (u8)" },
	{ P "header h { m: mac = 1.2.3.4; }\n",
	  "t.xdpl:2:21: error: type mismatch: h.m is mac but 1.2.3.4 is an ip4 address" },
	{ P "header h { c: u8 = total_len(); }\n",
	  "t.xdpl:2:20: error: total_len() needs an integer field of at least 16 bits, but h.c is u8" },
	{ P "header h { c: u16 = chksum(); }\n",
	  "t.xdpl:2:21: error: unknown default function 'chksum()'; did you mean 'checksum'?" },
	{ P "header h { a: u4; s: ip4; b: u4; }\n",
	  "t.xdpl:2:19: error: field 's' (ip4) starts at bit 4 of header 'h'; address fields must start on a byte boundary" },
	{ P "header v3 = vlna;\n",
	  "t.xdpl:2:8: error: unknown header 'vlna' in `header v3 = vlna;`; did you mean 'vlan'?" },
	{ P "alias x.y = tcp.dport | eth.src;\n",
	  "t.xdpl:2:25: error: alias 'x.y' mixes tcp.dport (u16) and eth.src (mac)" },

	/* parse graph */
	{ P "header shim { next: u8; len: u8; }\n"
	    "parser {\n"
	    "    state udp { extract udp; select udp.dport { 7777 -> shim; _ -> accept; } }\n"
	    "    state shim { extract shim; select shim.next { 1 -> shim2; _ -> accept; } }\n"
	    "    state shim2 { next shim; }\n"
	    "}\n",
	  "t.xdpl:6:24: error: parse graph cycle shim -> shim2 -> shim has no loop bound; add `loop N` to a state on it" },
	{ P "header shim { next: u8; }\n"
	    "parser {\n"
	    "    state udp { extract udp; select udp.dport { 7777 -> shmi; } }\n"
	    "    state shim { extract shim; accept; }\n"
	    "}\n",
	  "t.xdpl:4:57: error: unknown state 'shmi'; did you mean 'shim'?" },
	{ P "parser { state x { extract tpc; } }\n",
	  "t.xdpl:2:28: error: unknown header 'tpc'; did you mean 'tcp'?" },
	{ P "parser { state x { extract ip; } }\n",
	  "t.xdpl:2:28: error: 'ip' is a meta block; only headers can be extracted (meta fields are assigned with `set`)" },
	{ P "header foo { a: u8; }\nparser { state udp { extract foo; } }\n",
	  "t.xdpl:3:30: error: state 'udp' already extracts 'udp'; declaring it again cannot extract 'foo'\n"
	  "<stdlib>/stdlib/parse.xdpl:123:17: note: 'udp' is extracted here" },
	{ P "parser { state x { set tcp.dport = 5; } }\n",
	  "t.xdpl:2:24: error: `set` assigns meta fields (declared in `meta NAME { ... }`); tcp.dport is not one" },
	{ P "parser { state x { set ip.proto = ip6.src; } }\n",
	  "t.xdpl:2:35: error: cannot assign ip6.src (ip6) to ip.proto (u8)" },
	{ P "parser { state eth { select eth.type { 0x10000 -> accept; } } }\n",
	  "t.xdpl:2:40: error: value 0x10000 does not fit in eth.type (u16)" },
	{ P "header foo { a: u8; }\n"
	    "parser { state ip4_payload { select ip4.proto { 99 -> foo; _ -> reject; } }\n"
	    "         state foo { extract foo; } }\n",
	  "t.xdpl:3:60: warning: this `_` arm replaces the select of the earlier declaration of state 'ip4_payload'; its arms will never be tried" },

	/* rules */
	{ P R("match tcp.dport == 22;"),
	  "t.xdpl:2:6: error: rule 'r' has no verdict; add `verdict drop;` (or pass, tx, redirect ...)" },
	{ P "rule all { verdict drop; }\nrule ssh { match tcp.dport == 22; verdict pass; }\n",
	  "t.xdpl:3:6: warning: rule 'ssh' is unreachable: rule 'all' always matches" },
	{ P "rule a { match true or tcp; verdict pass; }\nrule b { match tcp; verdict drop; }\n",
	  "t.xdpl:3:6: warning: rule 'b' is unreachable: rule 'a' always matches" },
	{ P "rule a { match false; verdict pass; }\n", "t.xdpl:2:16: warning: rule 'a' can never match" },
	{ P R("match tcp; limit 1000/s burst 5000000000; verdict drop;"),
	  "t.xdpl:2:40: error: value 5000000000 does not fit in burst (u32)" },
	{ P R("match tcp; limit 10/s burst tcp.dport; verdict drop;"),
	  "t.xdpl:2:38: error: burst must be a constant number of packets" },
	{ P R("match tcp; limit 10/s per ip4.src, 5; verdict drop;"),
	  "t.xdpl:2:45: error: `per` needs packet values such as ip4.src; 5 is a constant" },
	{ P R("rewrite { ip4.ttl = 300; } verdict tx;"),
	  "t.xdpl:2:30: error: value 300 does not fit in ip4.ttl (u8)" },
	{ P R("rewrite { ip4.src = 02:00:00:00:00:01; } verdict tx;"),
	  "t.xdpl:2:30: error: cannot assign a mac address to ip4.src (ip4)" },
	{ P R("rewrite { ip.proto = 5; } verdict tx;"),
	  "t.xdpl:2:20: error: ip.proto is set by the parser and cannot be rewritten" },
	{ P R("rewrite { eth.src += 1; } verdict tx;"),
	  "t.xdpl:2:20: error: '+=' needs an integer, but eth.src is mac" },
	{ P R("rewrite { ip4.ttl = tcp.dport; } verdict tx;"),
	  "t.xdpl:2:30: error: cannot assign tcp.dport (u16) to ip4.ttl (u8): it may not fit" },
	{ P R("rewrite { swap eth.src, ip4.src; } verdict tx;"),
	  "t.xdpl:2:20: error: cannot swap eth.src (mac) with ip4.src (ip4): their types differ" },
	{ P "set s: hash<ip4>;\n" R("rewrite { s add tcp.dport; } verdict tx;"),
	  "t.xdpl:3:26: error: set 's' has key type ip4 but is matched with tcp.dport (u16)" },
	{ P "map m: hash<ip4, u32>;\n" R("rewrite { m add ip4.src; } verdict tx;"),
	  "t.xdpl:3:20: error: 'm' is a hash map; `add` puts keys in sets; write map entries with MAP[KEY] = VALUE" },
	{ P R("rewrite { push vlan(idd=1); } verdict tx;"),
	  "t.xdpl:2:30: error: header vlan has no field 'idd'; did you mean 'id'?" },
	{ P R("rewrite { push vlna(id=1); } verdict tx;"),
	  "t.xdpl:2:25: error: unknown header 'vlna'; did you mean 'vlan'?" },
	{ P R("rewrite { encap payload(\"x\"); } verdict tx;"),
	  "t.xdpl:2:26: error: payload and raw layers are only allowed in test packets" },

	/* tests */
	{ P "rule ssh { match tcp.dport == 22; verdict drop; }\n"
	    "test \"t\" { packet eth() / ip4() / tcp(dport=22); }\n",
	  "t.xdpl:3:6: error: test 't' has no expect; add `expect VERDICT;`" },
	{ P "test \"t\" { expect pass; }\n",
	  "t.xdpl:2:6: error: test 't' has no packet; add `packet eth() / ...;`" },
	{ P "rule ssh { match tcp.dport == 22; verdict drop; }\n"
	    "test \"t\" { packet eth() / ip4(scr=10.0.0.1) / tcp(dport=22); expect drop by ssh; }\n",
	  "t.xdpl:3:31: error: header ip4 has no field 'scr'; did you mean 'src'?" },
	{ P "rule ssh { match tcp.dport == 22; verdict drop; }\n"
	    "test \"t\" { packet eth() / ip4() / tcp(dport=22); expect drop by shh; }\n",
	  "t.xdpl:3:65: error: unknown rule 'shh'; did you mean 'ssh'?" },
	{ P "test \"t\" { packet eth() / ip4(src=02:00:00:00:00:01); expect pass; }\n",
	  "t.xdpl:2:35: error: type mismatch: ip4.src is ip4 but 02:00:00:00:00:01 is a mac address" },
	{ P "test \"t\" { packet eth() / ip4(ttl=300); expect pass; }\n",
	  "t.xdpl:2:35: error: value 300 does not fit in ip4.ttl (u8)" },
	{ P "test \"t\" { packet eth() / ip4(ttl=ip4.id); expect pass; }\n",
	  "t.xdpl:2:35: error: test packets are built at compile time; ip4.id is not a constant" },
	{ P "test \"t\" { packet eth() / tcp(options=5); expect pass; }\n",
	  "t.xdpl:2:39: error: tcp.options is a bytes() field; give it bytes as hex \"...\"" },
	{ P "test \"t\" { packet eth() / tcp(dport=1, dport=2); expect pass; }\n",
	  "t.xdpl:2:40: error: field 'dport' is given twice\n"
	  "t.xdpl:2:31: note: first given here" },
	{ P "test \"t\" { packet ip(proto=1); expect pass; }\n",
	  "t.xdpl:2:19: error: 'ip' is a meta block, not a header; it cannot be a packet layer" },
	{ P "test \"t\" { packet eth(); expect continue; }\n",
	  "t.xdpl:2:33: error: a test cannot expect `continue`; it is not a final verdict" },
	{ P "rule r { verdict drop; }\ntest \"t\" { packet eth(); expect pass by r; }\n",
	  "t.xdpl:3:41: warning: test 't' expects pass by rule 'r', whose verdict is drop" },

	/* several errors in one run, in order */
	{ P "rule a { match tcp.dprot == 22; verdict drop; }\n"
	    "rule b { match udp.dport == 100000; verdict drop; }\n"
	    "rule c { match ip4.src in 10.0.0.1/8; verdict drop; }\n",
	  "t.xdpl:2:16: error: unknown field 'tcp.dprot'; did you mean 'tcp.dport'?\n"
	  "t.xdpl:3:29: error: value 100000 does not fit in udp.dport (u16)\n"
	  "t.xdpl:4:27: error: prefix 10.0.0.1/8 has host bits set; did you mean 10.0.0.0/8?" },
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct arena a = { 0 };
		struct sema_program p;
		char *diags = NULL;
		bool is_warning = strstr(bad[i].want, ": warning: ") && !strstr(bad[i].want, ": error: ");
		int rc = run(&a, bad[i].src, &p, &diags);
		bool all = strchr(bad[i].want, '\n') != NULL;
		char *got = headlines(diags, !all);
		CHECK(!strcmp(got, bad[i].want), "case %zu:\n%s\n  want: %s\n  got:  %s\n  full output:\n%s",
		      i, bad[i].src, bad[i].want, got, diags);
		CHECK(is_warning ? rc == 0 : rc == -1, "case %zu: rc %d", i, rc);
		free(got);
		free(diags);
		arena_free(&a);
	}
}

/* ---------------------------------------------------------------- rules that never match */

/* Which headers can be on one packet is read from the parse graph, the
 * user's extensions included: the same rule warns or not with the graph. */
static const struct bad never[] = {
	{ P R("match ip4_inner and tcp.dport == 1; verdict drop;"),
	  "t.xdpl:2:30: warning: rule 'r' can never match: `ip4_inner` needs ip4_inner and `tcp.dport == 1` needs tcp, but no path of the parse graph has both" },
	{ P "parser { state ip4_inner { select ip4_inner.proto { 6 -> tcp; _ -> accept; } } }\n"
	    R("match ip4_inner and tcp.dport == 1; verdict drop;"),
	  "" },
	{ P "header foo { a: u8; }\n"
	    "parser { state udp { select udp.dport { 9999 -> foo; _ -> accept; } } state foo { extract foo; } }\n"
	    "rule r { match foo.a == 1 and udp; verdict drop; }\n"
	    "rule s { match foo and tcp; verdict drop; }\n",
	  "t.xdpl:5:24: warning: rule 's' can never match: `foo` needs foo and `tcp` needs tcp, but no path of the parse graph has both" },
	/* values: one field, all the forms of a constraint */
	{ P R("match pkt.len < 64 and pkt.len >= 64; verdict drop;"),
	  "t.xdpl:2:33: warning: rule 'r' can never match: no value of pkt.len satisfies both `pkt.len < 64` and `pkt.len >= 64`" },
	{ P R("match ip6.src in 2001:db8::/32 and ip6.src == 2001:db9::1; verdict drop;"),
	  "t.xdpl:2:45: warning: rule 'r' can never match: no value of ip6.src satisfies both `ip6.src in 2001:db8::/32` and `ip6.src == 2001:db9::1`" },
	{ P R("match eth.src == 02:00:00:00:00:01 and 02:00:00:00:00:02 == eth.src; verdict drop;"),
	  "t.xdpl:2:49: warning: rule 'r' can never match: no value of eth.src satisfies both `eth.src == 02:00:00:00:00:01` and `02:00:00:00:00:02 == eth.src`" },
	{ P R("match 100 < tcp.dport and tcp.dport in { 1..50, 60..100 }; verdict drop;"),
	  "t.xdpl:2:36: warning: rule 'r' can never match: no value of tcp.dport satisfies both `100 < tcp.dport` and `tcp.dport in { 1..50, 60..100 }`" },
	{ P R("match tcp.dport in 1..9 and tcp.dport > 3 and tcp.dport < 5 and tcp.dport != 4; verdict drop;"),
	  "t.xdpl:2:74: warning: rule 'r' can never match: no value of tcp.dport satisfies both `tcp.dport < 5` and `tcp.dport != 4` (with the earlier conditions on it)" },
	/* can match: arithmetic, tuples, named sets, `not`, an `or` with one live arm */
	{ P R("match tcp.dport + 1 == 1 and tcp.dport == 1; verdict drop;"), "" },
	{ P "set s: hash<u16>;\n" R("match tcp.dport in s and tcp.dport == 1; verdict drop;"), "" },
	{ P R("match not (tcp.dport == 1 and tcp.dport == 2) and not udp; verdict drop;"), "" },
	{ P R("match (tcp or udp) and (udp.dport == 1 or icmp) and ip4; verdict drop;"), "" },
	{ P R("match tcp.flags.syn and tcp.flags.ack; verdict drop;"), "" },
};

static void test_never(void)
{
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		struct arena a = { 0 };
		struct sema_program p;
		char *diags = NULL;
		int rc = run(&a, never[i].src, &p, &diags);
		char *got = headlines(diags, false);
		CHECK(rc == 0 && !strcmp(got, never[i].want), "never case %zu:\n%s\n  want: %s\n  got:  %s\n",
		      i, never[i].src, never[i].want, diags);
		free(got);
		free(diags);
		arena_free(&a);
	}
}

/* Random rules against an oracle written apart from sema_sat.c: every
 * path of the parse graph (depth-first enumeration, not reachability) times
 * every value of ip4.ttl (a linear scan, not intervals), with the spec's
 * meaning of absent headers. A warned rule must have no satisfying packet
 * (sound); a plain conjunction without one must be warned (complete). */
enum { N_HDRS = 17, MAX_PATHS = 4096 };
static const char *const oracle_hdrs[N_HDRS] = {
	"eth", "vlan", "vlan2", "arp", "ip4", "ip6", "ip6ext", "ip6frag", "tcp", "udp", "icmp",
	"icmp6", "gre", "vxlan", "eth_inner", "ip4_inner", "ip6_inner",
};

struct gnode {
	enum { G_AND, G_OR, G_NOT, G_HDR, G_TTL_CMP, G_TTL_SET, G_TTL_RANGE } kind;
	struct gnode *a, *b;
	int hdr, op, v[3];
};

static uint64_t oracle_rng = 0x2545f4914f6cdd1dULL;

static unsigned rnd(unsigned n)
{
	oracle_rng ^= oracle_rng >> 12;
	oracle_rng ^= oracle_rng << 25;
	oracle_rng ^= oracle_rng >> 27;
	return (unsigned)((oracle_rng * 2685821657736338717ULL) >> 33) % n;
}

static struct gnode *gen(struct arena *a, int depth, bool plain)
{
	struct gnode *g = NEW(a, struct gnode);
	unsigned k = depth > 0 ? rnd(plain ? 2 : 6) : 1;
	if (k == 0 || (!plain && k == 2) || (!plain && k == 3)) {
		g->kind = plain ? G_AND : k == 0 ? G_AND : k == 2 ? G_OR : G_NOT;
		g->a = gen(a, depth - 1, plain);
		g->b = g->kind == G_NOT ? NULL : gen(a, depth - 1, plain);
		return g;
	}
	g->kind = rnd(2) ? G_HDR : G_TTL_CMP + (int)rnd(3);
	g->hdr = (int)rnd(N_HDRS);
	g->op = (int)rnd(6);
	g->v[0] = (int)rnd(256);
	g->v[1] = (g->v[0] + 1 + (int)rnd(40)) % 256;
	g->v[2] = (g->v[1] + 1 + (int)rnd(40)) % 256;
	if (g->kind == G_TTL_SET && (g->v[2] == g->v[0]))
		g->v[2] = (g->v[0] + 128) % 256 == g->v[1] ? (g->v[0] + 129) % 256 : (g->v[0] + 128) % 256;
	if (g->kind == G_TTL_RANGE && g->v[1] < g->v[0]) {
		int t = g->v[0];
		g->v[0] = g->v[1], g->v[1] = t;
	}
	return g;
}

static const char *const cmp_ops[6] = { "==", "!=", "<", "<=", ">", ">=" };

static void gprint(FILE *f, const struct gnode *g)
{
	switch (g->kind) {
	case G_AND:
	case G_OR:
		fputc('(', f), gprint(f, g->a), fputs(g->kind == G_AND ? ") and (" : ") or (", f);
		gprint(f, g->b), fputc(')', f);
		break;
	case G_NOT: fputs("not (", f), gprint(f, g->a), fputc(')', f); break;
	case G_HDR: fputs(oracle_hdrs[g->hdr], f); break;
	case G_TTL_CMP: fprintf(f, "ip4.ttl %s %d", cmp_ops[g->op], g->v[0]); break;
	case G_TTL_SET: fprintf(f, "ip4.ttl in { %d, %d, %d }", g->v[0], g->v[1], g->v[2]); break;
	case G_TTL_RANGE: fprintf(f, "ip4.ttl in %d..%d", g->v[0], g->v[1]); break;
	}
}

static bool geval(const struct gnode *g, const bool *has, int ttl)
{
	static const int ip4 = 4;
	switch (g->kind) {
	case G_AND: return geval(g->a, has, ttl) && geval(g->b, has, ttl);
	case G_OR: return geval(g->a, has, ttl) || geval(g->b, has, ttl);
	case G_NOT: return !geval(g->a, has, ttl);
	case G_HDR: return has[g->hdr];
	case G_TTL_CMP: {
		int c = g->v[0];
		bool r[6] = { ttl == c, ttl != c, ttl < c, ttl <= c, ttl > c, ttl >= c };
		return has[ip4] && r[g->op];
	}
	case G_TTL_SET: return has[ip4] && (ttl == g->v[0] || ttl == g->v[1] || ttl == g->v[2]);
	case G_TTL_RANGE: return has[ip4] && ttl >= g->v[0] && ttl <= g->v[1];
	}
	return false;
}

/* Every header set a path from the start state can extract. */
static void paths_from(const struct ast_state *st, bool *on_path, bool *has, bool (*out)[N_HDRS], int *n)
{
	if (on_path[st->index] || *n >= MAX_PATHS)
		return;
	on_path[st->index] = true;
	bool saved[N_HDRS];
	memcpy(saved, has, sizeof(saved));
	for (int i = 0; i < st->nstmts; i++) {
		const struct ast_pstmt *ps = st->stmts[i];
		for (int h = 0; ps->kind == PS_EXTRACT && ps->hdr && h < N_HDRS; h++)
			has[h] |= !strcmp(ps->hdr->name, oracle_hdrs[h]);
		int narm = ps->kind == PS_SELECT ? ps->narms : ps->kind == PS_NEXT ? 1 : 0;
		for (int j = 0; j < narm; j++) {
			const struct ast_target *t = ps->kind == PS_NEXT ? &ps->target : &ps->arms[j]->target;
			if (t->resolved)
				paths_from(t->resolved, on_path, has, out, n);
		}
	}
	/* a path may also end here (accept, a malformed next header) */
	if (*n < MAX_PATHS)
		memcpy(out[(*n)++], has, sizeof(bool) * N_HDRS);
	memcpy(has, saved, sizeof(saved));
	on_path[st->index] = false;
}

static void test_never_oracle(void)
{
	enum { RULES = 400 };
	struct arena ga = { 0 };
	struct gnode *rules[RULES];
	bool plain[RULES];
	char *src = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&src, &len);
	fputs(P, m);
	for (int i = 0; i < RULES; i++) {
		plain[i] = i % 2 == 0;
		rules[i] = gen(&ga, 1 + (int)rnd(3), plain[i]);
		fprintf(m, "rule r%d { match ", i);
		gprint(m, rules[i]);
		fputs("; verdict drop; }\n", m);
	}
	fclose(m);
	struct arena a = { 0 };
	struct sema_program p;
	char *diags = NULL;
	int rc = run(&a, src, &p, &diags);
	CHECK(rc == 0 && p.start, "oracle program: rc %d\n%s", rc, diags);
	static bool paths[MAX_PATHS][N_HDRS];
	bool has[N_HDRS] = { 0 }, *on_path = calloc((size_t)p.nstates + 1, 1);
	int npaths = 0;
	if (p.start)
		paths_from(p.start, on_path, has, paths, &npaths);
	CHECK(npaths > 10 && npaths < MAX_PATHS, "%d parse paths", npaths);
	int warned = 0, unsat = 0;
	for (int i = 0; i < RULES && rc == 0; i++) {
		char key[64];
		snprintf(key, sizeof(key), ": warning: rule 'r%d' can never match", i);
		bool w = strstr(diags, key) != NULL;
		bool sat = false;
		for (int k = 0; k < npaths && !sat; k++)
			for (int ttl = 0; ttl < 256 && !sat; ttl++)
				sat = geval(rules[i], paths[k], ttl);
		warned += w;
		unsat += !sat;
		char *text = NULL;
		size_t tl = 0;
		FILE *t = open_memstream(&text, &tl);
		gprint(t, rules[i]);
		fclose(t);
		CHECK(!(w && sat), "rule r%d warned but a packet matches it: %s", i, text);
		CHECK(!(plain[i] && !sat && !w), "conjunction r%d never matches but was not warned: %s", i, text);
		free(text);
	}
	printf("never-match oracle: %d rules, %d parse paths, %d never match, %d warned\n", RULES, npaths,
	       unsat, warned);
	free(on_path);
	free(diags);
	free(src);
	arena_free(&a);
	arena_free(&ga);
}

/* Every example and conformance policy: no warning but the deserved ones
 * listed here (rules written on purpose to never match, and `limit` + drop
 * rules testing that the limit holds within the rate). */
static const char *const deserved[] = {
	"tests/lang/absent_headers.xdpl:28:30: warning: rule 'a_cross_field' can never match: ",
	"tests/lang/absent_headers.xdpl:36:38: warning: rule 'a_both_families' can never match: ",
	"tests/lang/limit.xdpl:11:5: warning: rule 'within_two' drops the packets within the rate",
	"tests/lang/limit.xdpl:32:5: warning: rule 'bytes_bucket' drops the packets within the rate",
	"tests/lang/limit.xdpl:40:5: warning: rule 'untouched' drops the packets within the rate",
	"tests/lang/limit.xdpl:47:5: warning: rule 'default_burst' drops the packets within the rate",
	"tests/lang/limit.xdpl:54:5: warning: rule 'per_absent' drops the packets within the rate",
};

static void check_policies(const char *root, const char *pattern, struct ptrvec *lines, struct arena *keep)
{
	char pat[4096];
	glob_t g;
	snprintf(pat, sizeof(pat), "%s/%s", root, pattern);
	CHECK(glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0, "no policy matches %s", pat);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct arena a = { 0 };
		struct sema_program p;
		char *diags = NULL;
		size_t len = 0;
		FILE *ds = open_memstream(&diags, &len);
		diag_reset();
		diag_set_stream(ds);
		int rc = frontend_load(&a, g.gl_pathv[i], &p);
		fclose(ds);
		diag_set_stream(NULL);
		CHECK(rc == 0, "%s: rc %d\n%s", g.gl_pathv[i], rc, diags);
		char *heads = headlines(diags, false);
		for (char *l = strtok(heads, "\n"); l; l = strtok(NULL, "\n"))
			ptrvec_push(keep, lines, arena_strdup(keep, l + strlen(root) + 1));
		free(heads);
		free(diags);
		arena_free(&a);
	}
	globfree(&g);
}

static void test_policy_warnings(const char *root)
{
	struct arena a = { 0 };
	struct ptrvec got = { 0 };
	check_policies(root, "examples/*.xdpl", &got, &a);
	check_policies(root, "tests/lang/*.xdpl", &got, &a);
	size_t n = sizeof(deserved) / sizeof(deserved[0]);
	CHECK((size_t)got.len == n, "policies: %d diagnostics, %zu deserved", got.len, n);
	for (int i = 0; i < got.len; i++)
		CHECK((size_t)i < n && !strncmp(got.items[i], deserved[i], strlen(deserved[i])),
		      "policies: undeserved or moved diagnostic: %s", (char *)got.items[i]);
	arena_free(&a);
}

/* ---------------------------------------------------------------- long chains */

/* `match tcp and tcp ...`, `... or ...`, `tcp.dport + 1 + 1 ... == 5`,
 * `const C = 0 + 1 + 1 ...` of n terms: the front end accepts them (no recursion per term) in time and
 * memory linear in n. Each size runs in a child; its CPU time and peak RSS
 * come from wait4, so sizes are compared side by side, never to a clock. */
enum chain_kind { CHAIN_AND, CHAIN_OR, CHAIN_PLUS, CHAIN_CONST };

static char *chain_src(enum chain_kind k, int n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	fputs(P, m);
	if (k == CHAIN_CONST)
		fputs("const C = 0", m);
	else
		fputs("rule r {\n    match ", m);
	if (k == CHAIN_PLUS)
		fputs("tcp.dport", m);
	for (int i = 0; i < n; i++) {
		if (k == CHAIN_AND)
			fputs(i ? " and tcp" : "tcp", m);
		else if (k == CHAIN_OR)
			fprintf(m, "%stcp.dport == %d", i ? " or " : "", i % 65536);
		else
			fputs(" + 1", m);
	}
	if (k == CHAIN_CONST)
		fputs(";\nrule r {\n    match tcp.seq == C", m);
	fputs(k == CHAIN_PLUS ? " == 5;\n" : ";\n", m);
	fputs("    verdict drop;\n}\n", m);
	fclose(m);
	return buf;
}

struct cost {
	double cpu;  /* seconds */
	long rss_kb;
};

/* Front end on src in a child: its cost, or cpu < 0 when it failed. */
static struct cost chain_cost(const char *src)
{
	write_file("chain.xdpl", src);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct arena a = { 0 };
		struct sema_program p;
		diag_set_stream(fopen("/dev/null", "w"));
		_exit(frontend_load(&a, "chain.xdpl", &p) == 0 && diag_warning_count() == 0 ? 0 : 1);
	}
	int st = 0;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return (struct cost){ -1, 0 };
	return (struct cost){ ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
				      (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
			      ru.ru_maxrss };
}

static void test_long_chains(void)
{
	static const char *const names[] = { "and", "or", "+", "const +" };
	enum { SMALL = 25000, BIG = 100000 }; /* 4x: linear 4, quadratic 16 */
	char *base_src = chain_src(CHAIN_AND, 1);
	struct cost base = chain_cost(base_src);
	free(base_src);
	for (int k = CHAIN_AND; k <= CHAIN_CONST; k++) {
		char *small = chain_src(k, SMALL), *big = chain_src(k, BIG);
		struct cost a = chain_cost(small), b = chain_cost(big);
		/* best of two: a busy machine only adds time */
		struct cost a2 = chain_cost(small), b2 = chain_cost(big);
		a.cpu = a2.cpu >= 0 && a2.cpu < a.cpu ? a2.cpu : a.cpu;
		b.cpu = b2.cpu >= 0 && b2.cpu < b.cpu ? b2.cpu : b.cpu;
		CHECK(a.cpu >= 0 && b.cpu >= 0, "chain of %d '%s' is not accepted", BIG, names[k]);
		double tr = b.cpu / (a.cpu > 0.01 ? a.cpu : 0.01);
		double mr = (double)(b.rss_kb - base.rss_kb) / (double)(a.rss_kb - base.rss_kb > 1024 ? a.rss_kb - base.rss_kb : 1024);
		CHECK(tr < 8 && mr < 8, "chain '%s' %d -> %d terms: time x%.1f (%.2fs -> %.2fs), memory x%.1f "
		      "(%ld -> %ld KB over %ld): not linear", names[k], SMALL, BIG, tr, a.cpu, b.cpu, mr,
		      a.rss_kb, b.rss_kb, base.rss_kb);
		printf("chain '%s' %d -> %d terms: time x%.1f, memory x%.1f\n", names[k], SMALL, BIG, tr, mr);
		free(small);
		free(big);
	}
}

/* ---------------------------------------------------------------- imports */

static void test_imports(void)
{
	struct arena a = { 0 };
	struct sema_program p;
	char *diags = NULL;
	if (system("mkdir -p sub") != 0)
		exit(2);
	/* relative to the importer; each file once (sub/b is reached twice) */
	write_file("sub/a.xdpl", "import \"b.xdpl\";\nconst A = B + 1;\n");
	write_file("sub/b.xdpl", "const B = 1;\n");
	int rc = run(&a, P "import \"sub/a.xdpl\";\nimport \"sub/b.xdpl\";\n"
			   R("match tcp.dport == A; verdict drop;"), &p, &diags);
	CHECK(rc == 0 && !*diags, "imports: rc %d\n%s", rc, diags);
	CHECK(rc || (p.nconsts == 2 && !strcmp(p.consts[0]->name, "B")), "imports depth-first");
	free(diags);
	arena_free(&a);

	write_file("sub/c.xdpl", "import \"d.xdpl\";\n");
	write_file("sub/d.xdpl", "import \"c.xdpl\";\n");
	rc = run(&a, P "import \"sub/c.xdpl\";\n", &p, &diags);
	char *got = headlines(diags, true);
	CHECK(rc == -1 && !strcmp(got, "sub/d.xdpl:1:8: error: import cycle: sub/c.xdpl -> sub/d.xdpl -> sub/c.xdpl"),
	      "import cycle: %s", got);
	free(got);
	free(diags);
	arena_free(&a);

	rc = run(&a, P "import \"nope.xdpl\";\n", &p, &diags);
	got = headlines(diags, true);
	CHECK(rc == -1 && !strcmp(got, "t.xdpl:2:8: error: cannot import 'nope.xdpl': No such file or directory"),
	      "missing import: %s", got);
	free(got);
	free(diags);
	arena_free(&a);

	/* a syntax error stops before sema */
	rc = run(&a, P R("match tcp.dport == == 22; verdict drop;"), &p, &diags);
	got = headlines(diags, false);
	CHECK(rc == -1 && !strchr(got, '\n'), "syntax errors only: %s", got);
	free(got);
	free(diags);
	arena_free(&a);
}

int main(int argc, char **argv)
{
	char path[4200], root[4096];
	if (!realpath(argc > 1 ? argv[1] : ".", root)) {
		perror("repository root");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/tests/lang/spec_example.xdpl", root);
	spec_example = slurp(path);
	char dir[] = "/tmp/test_sema.XXXXXX";
	if (!mkdtemp(dir) || chdir(dir) != 0) {
		perror("tmpdir");
		return 2;
	}
	test_spec_example();
	test_stdlib_alone();
	test_features();
	test_bad();
	test_never();
	test_never_oracle();
	test_policy_warnings(root);
	test_long_chains();
	test_imports();
	free(spec_example);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	if (failures) {
		fprintf(stderr, "test_sema: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_sema: ok (%zu bad programs)\n", sizeof(bad) / sizeof(bad[0]));
	return 0;
}
