/* Unit tests of lowering (compiler/lower/lower*.c) and the packet builder
 * (compiler/lower/pktbuild.c): the example policy of tests/lang/spec_example.xdpl lowers to the expected rule IR,
 * and test packets are byte-for-byte what Scapy builds for the same layers
 * (checksums included). The Scapy comparison shells out to
 * /usr/bin/python3; without Scapy it fails (scripts/deps.sh installs it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "frontend.h"
#include "classify.h"
#include "lower.h"

static int failures;
static char tmpdir[64];

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);   \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			failures++;                                             \
		}                                                               \
	} while (0)

static const char *write_src(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

/* Compile src through the front end and lowering. Diagnostics go to *diags
 * (malloc'd). Returns the IR or NULL. */
static struct ir_program *compile(struct arena *a, const char *name, const char *src, char **diags,
				  int *front_ok)
{
	size_t dlen = 0;
	FILE *ds = open_memstream(diags, &dlen);
	diag_reset();
	diag_set_stream(ds);
	struct sema_program sp;
	memset(&sp, 0, sizeof(sp));
	const char *path = write_src(name, src);
	struct ir_program *ir = NULL;
	*front_ok = frontend_load(a, path, &sp) == 0;
	if (*front_ok)
		ir = lower_program(a, &sp);
	fclose(ds);
	diag_set_stream(NULL);
	return ir;
}

static char *dump(const struct ir_program *ir)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ir_dump(f, ir);
	fclose(f);
	return buf;
}

static void expect_in(const char *hay, const char *needle)
{
	CHECK(strstr(hay, needle) != NULL, "expected in the IR dump: %s", needle);
}

/* ---------------------------------------------------------------- example policy */

static const char *spec_example =
	"# blocks floods, answers ping, lets the rest through\n"
	"program edge_guard;\n"
	"\n"
	"set blocked: lpm<ip4> max 65536 = { 198.51.100.0/24, 203.0.113.7 };\n"
	"set admin_ports: hash<u16> = { 22, 8022 };\n"
	"\n"
	"rule drop_blocked {\n"
	"    match ip4.src in blocked;\n"
	"    verdict drop;\n"
	"}\n"
	"\n"
	"rule syn_flood {\n"
	"    match tcp.flags.syn and not tcp.flags.ack;\n"
	"%s"
	"    verdict drop;\n"
	"}\n"
	"\n"
	"rule admin_only_inside {\n"
	"    match tcp.dport in admin_ports and not ip4.src in 10.0.0.0/8;\n"
	"    verdict drop;\n"
	"}\n"
	"\n"
	"rule answer_ping {\n"
	"    match icmp.type == 8;\n"
	"%s"
	"    verdict tx;\n"
	"}\n"
	"\n"
	"default pass;\n"
	"\n"
	"test \"blocked prefix is dropped\" {\n"
	"    packet eth() / ip4(src=198.51.100.9, dst=192.0.2.1) / udp(dport=53);\n"
	"    expect drop by drop_blocked;\n"
	"}\n"
	"\n"
	"test \"ping is answered\" {\n"
	"    packet eth(src=02:00:00:00:00:01, dst=02:00:00:00:00:02)\n"
	"         / ip4(src=192.0.2.10, dst=192.0.2.1) / icmp(type=8, id=7, seq=1);\n"
	"    expect tx;\n"
	"    output eth(src=02:00:00:00:00:02, dst=02:00:00:00:00:01)\n"
	"         / ip4(src=192.0.2.1, dst=192.0.2.10) / icmp(type=0, id=7, seq=1);\n"
	"}\n";

static void test_spec_example(void)
{
	char src[8192];
	struct arena a = { 0 };
	char *diags = NULL;
	int ok;

	/* As written, with limit and rewrite. */
	snprintf(src, sizeof(src), spec_example,
		 "    limit over 1000/s burst 200 per ip4.src;\n",
		 "    rewrite {\n        swap eth.src, eth.dst;\n        swap ip4.src, ip4.dst;\n"
		 "        icmp.type = 0;\n    }\n");
	struct ir_program *ir = compile(&a, "full.xdpl", src, &diags, &ok);
	CHECK(ok, "front end rejected the spec example:\n%s", diags);
	CHECK(!strstr(diags, "limit"), "limit lowers (ir_limit), yet:\n%s", diags);
	const struct ir_limit *lim = NULL;
	for (int i = 0; ir && i < ir->nrules; i++)
		if (ir->rules[i].limit)
			lim = ir->rules[i].limit;
	/* limit over 1000/s burst 200 per ip4.src: an LRU hash of u64 buckets */
	CHECK(!ir || (lim && lim->over && !lim->bytes && lim->amount == 1000 && lim->period_s == 1 &&
		      lim->burst == 200 && lim->nkeys == 1 && lim->map && lim->map->kind == IRM_LRU_HASH &&
		      lim->map->max_entries == 65536 && lim->map->key_size == 4 &&
		      lim->map->value_size == 8 && !lim->map->user_visible),
	      "the limit of the spec example lowered wrong");
	/* the rewrite: swap, swap, assign; checksum info from the stdlib */
	const struct ir_rule *ping = NULL;
	for (int i = 0; ir && i < ir->nrules; i++)
		if (ir->rules[i].nstmts)
			ping = &ir->rules[i];
	CHECK(!ir || (ping && ping->nstmts == 3 && ping->stmts[0]->kind == IS_SWAP &&
		      ping->stmts[1]->kind == IS_SWAP && ping->stmts[2]->kind == IS_ASSIGN &&
		      ping->cond->kind == IC_AND),
	      "the rewrite of the spec example lowered wrong");
	for (int h = 0; ir && h < ir->nheaders; h++) {
		const struct ir_header *H = &ir->headers[h];
		if (!strcmp(H->name, "ip4"))
			CHECK(H->csum_field >= 0 && !strcmp(H->fields[H->csum_field].name, "csum") &&
			      H->csum_kind == IR_CSUM_HEADER && !H->csum_optional && H->addr_src >= 0,
			      "ip4 checksum info");
		if (!strcmp(H->name, "udp"))
			CHECK(H->csum_field >= 0 && H->csum_kind == IR_CSUM_PSEUDO && H->csum_optional,
			      "udp checksum info");
		if (!strcmp(H->name, "icmp"))
			CHECK(H->csum_field >= 0 && H->csum_kind == IR_CSUM_PAYLOAD, "icmp checksum info");
	}
	free(diags);
	arena_free(&a);

	/* Without them it lowers. */
	snprintf(src, sizeof(src), spec_example, "", "");
	ir = compile(&a, "edge.xdpl", src, &diags, &ok);
	CHECK(ok && ir, "spec example (no limit/rewrite) failed:\n%s", diags);
	free(diags);
	if (!ir) {
		arena_free(&a);
		return;
	}
	char *d = dump(ir);
	if (getenv("DUMP"))
		fputs(d, stdout);
	CHECK(ir->nrules == 4, "4 rules, got %d", ir->nrules);
	expect_in(d, "program edge_guard");
	expect_in(d, "rule 0 drop_blocked");
	expect_in(d, "ip4.src in blocked @8 => drop");
	expect_in(d, "((tcp.flags & 2:u8):u8 != 0:u8 @13 and not (tcp.flags & 0x10:u8):u8 != 0:u8 @13) => drop");
	expect_in(d, "(tcp.dport in admin_ports @18 and not ip4.src in 10.0.0.0/8 @18) => drop");
	expect_in(d, "icmp.type == 8:u8 @23 => tx");
	expect_in(d, "default 4 (line 27) => pass");
	/* maps: LPM keys are a host-order prefix length then the address */
	expect_in(d, "set 0 blocked: lpm<ip4> key 8 bytes, value u8 1 bytes, max 65536, flags 0x1");
	expect_in(d, "init 18000000c6336400 = 01");
	expect_in(d, "init 20000000cb007107 = 01");
	expect_in(d, "set 1 admin_ports: hash<u16> key 2 bytes, value u8 1 bytes, max 1024");
	expect_in(d, "init 0016 = 01");
	expect_in(d, "init 1f56 = 01");
	/* parse graph (states that lead only to headers no rule reads go to accept: udp, tunnels) */
	expect_in(d, "state 0 eth: extract eth; select eth.type { 0x8100,0x88a8 -> vlan; 0x800 -> ip4;");
	expect_in(d, "ip4_payload: select ip4.proto { 0x6 -> tcp; 0x11 -> accept; 0x1 -> icmp; 0x4 -> accept; 0x29 -> accept; 0x2f -> accept; _ -> accept; }");
	expect_in(d, "ip6ext loop 4: extract ip6ext; set ip.proto = ip6ext.next;");
	expect_in(d, "tcp: extract tcp; next accept;");
	expect_in(d, "ip4: 20 bytes + ((ip4.ihl - 5:u64):u32 * 4:u64):u32 max 40");
	/* tests */
	CHECK(ir->ntests == 2, "2 tests");
	if (ir->ntests == 2) {
		CHECK(ir->tests[0].expect_action == 1 && ir->tests[0].expect_rule == 0,
		      "test 0 expects drop by rule 0 (%d, %d)", ir->tests[0].expect_action,
		      ir->tests[0].expect_rule);
		CHECK(ir->tests[1].expect_action == 3 && ir->tests[1].expect_rule == -1,
		      "test 1 expects tx (%d, %d)", ir->tests[1].expect_action,
		      ir->tests[1].expect_rule);
		CHECK(ir->tests[0].packet_len == 42, "test 0 packet is 42 bytes, got %zu",
		      ir->tests[0].packet_len);
		CHECK(ir->tests[1].output && ir->tests[1].output_len == 42, "test 1 has an output");
	}
	free(d);
	arena_free(&a);
}

/* ---------------------------------------------------------------- conditions */

static void test_conditions(void)
{
	static const char *src =
		"program conds;\n"
		"const SSH = 22;\n"
		"const NETS = { 10.0.0.0/8, 192.168.0.0/16 };\n"
		"set pairs: hash<ip4, u16> = { (192.0.2.1, 80), (192.0.2.2, 443) };\n"
		"rule r_swap { match 22 == tcp.dport or 1024 < udp.sport; verdict drop; }\n"
		"rule r_const { match tcp.dport == SSH and 1 == 1; verdict drop; }\n"
		"rule r_small { match tcp.dport in { 22, 80, 8000..8080 }; verdict drop; }\n"
		"rule r_mixed { match ip.src in { 10.0.0.0/8, 2001:db8::/32 }; verdict drop; }\n"
		"rule r_alias { match l4.dport == 53; verdict drop; }\n"
		"rule r_tuple { match (ip4.src, tcp.dport) in pairs; verdict drop; }\n"
		"rule r_nets { match ip4.dst in NETS; verdict drop; }\n"
		"rule r_large { match udp.dport in { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 100..200 }; verdict drop; }\n"
		"rule r_large_pfx { match ip4.src in { 10.0.0.0/8, 10.1.0.0/16, 10.2.0.0/16, 10.3.0.0/16, 10.4.0.0/16,\n"
		"   10.5.0.0/16, 10.6.0.0/16, 10.7.0.0/16, 10.8.0.0/16, 10.9.0.0/16, 10.10.0.0/16, 10.11.0.0/16,\n"
		"   10.12.0.0/16, 10.13.0.0/16, 10.14.0.0/16, 10.15.0.0/16, 192.0.2.1 }; verdict drop; }\n"
		"rule r_bits { match tcp.flags & 0x12 == 0x12 and ip4.ttl <= 1; verdict drop; }\n"
		"rule r_flag_eq { match tcp.flags.fin == false; verdict continue; }\n"
		"rule r_present { match vlan and not ip6; verdict pass; }\n"
		"rule r_range { match tcp.sport in 1024..65535; verdict drop; }\n"
		"rule r_mac { match eth.src == 02:00:00:00:00:01; verdict drop; }\n"
		"rule r_ip6 { match ip6.dst == 2001:db8::1; verdict drop; }\n"
		"rule r_always { verdict pass; }\n"
		"default drop;\n";
	struct arena a = { 0 };
	char *diags = NULL;
	int ok;
	struct ir_program *ir = compile(&a, "conds.xdpl", src, &diags, &ok);
	CHECK(ok && ir, "conditions program failed:\n%s", diags);
	free(diags);
	if (!ir) {
		arena_free(&a);
		return;
	}
	char *d = dump(ir);
	if (getenv("DUMP"))
		fputs(d, stdout);
	expect_in(d, "conds.xdpl:5): (tcp.dport == 0x16:u16 @5 or udp.sport > 0x400:u16 @5) => drop");
	expect_in(d, "conds.xdpl:6): tcp.dport == 0x16:u16 @6 => drop");
	expect_in(d, "conds.xdpl:7): (tcp.dport == 0x16:u16 @7 or tcp.dport == 0x50:u16 @7 or tcp.dport in 0x1f40:u16..0x1f90:u16 @7) => drop");
	expect_in(d, "conds.xdpl:8): (ip4.src in 10.0.0.0/8 @8 or ip6.src in 2001:db8:0:0:0:0:0:0/32 @8) => drop");
	expect_in(d, "conds.xdpl:9): coalesce(tcp.dport, udp.dport) == 0x35:u16 @9 => drop");
	expect_in(d, "conds.xdpl:10): (ip4.src, tcp.dport) in pairs @10 => drop");
	expect_in(d, "init c00002010050 = 01");
	expect_in(d, "conds.xdpl:11): (ip4.dst in 10.0.0.0/8 @11 or ip4.dst in 192.168.0.0/16 @11) => drop");
	expect_in(d, "conds.xdpl:12): (udp.dport in _xdpl_set0 @12 or udp.dport in 0x64:u16..0xc8:u16 @12) => drop");
	expect_in(d, "set 1 _xdpl_set0: (anonymous) hash<u16> key 2 bytes, value u8 1 bytes, max 17");
	expect_in(d, "init 0011 = 01");
	expect_in(d, "conds.xdpl:13): ip4.src in _xdpl_set1 @13 => drop");
	expect_in(d, "set 2 _xdpl_set1: (anonymous) lpm<ip4> key 8 bytes, value u8 1 bytes, max 17, flags 0x1");
	expect_in(d, "init 080000000a000000 = 01");
	expect_in(d, "init 20000000c0000201 = 01");
	expect_in(d, "conds.xdpl:16): ((tcp.flags & 0x12:u8):u8 == 0x12:u8 @16 and ip4.ttl <= 1:u8 @16) => drop");
	expect_in(d, "conds.xdpl:17): (tcp.flags & 1:u8):u8 == 0:u8 @17 => continue");
	expect_in(d, "conds.xdpl:18): (present(vlan) @18 and not present(ip6) @18) => pass");
	expect_in(d, "conds.xdpl:19): tcp.sport in 0x400:u16..0xffff:u16 @19 => drop");
	expect_in(d, "conds.xdpl:20): eth.src == 02:00:00:00:00:01 @20 => drop");
	expect_in(d, "conds.xdpl:21): ip6.dst == 2001:db8:0:0:0:0:0:1 @21 => drop");
	expect_in(d, "conds.xdpl:22): true => pass");
	expect_in(d, "default 16 (line 23) => drop");
	free(d);
	arena_free(&a);
}

static void test_unsupported(void)
{
	static const char *src =
		"program u;\n"
		"map devs: devmap max 8;\n"
		"rule a { match tcp; verdict route; }\n"
		"rule b { match udp; verdict redirect ifindex 3; }\n"
		"rule c { match icmp; verdict redirect eth7; }\n"
		"rule d { match arp; verdict redirect eth7; }\n"
		"rule e { match ip6; verdict redirect cpu 3; }\n"
		"rule f { match ip4; verdict redirect devs[pkt.rxq]; }\n"
		"default redirect eth8;\n";
	struct arena a = { 0 };
	char *diags = NULL;
	int ok;
	struct ir_program *ir = compile(&a, "u.xdpl", src, &diags, &ok);
	CHECK(ok && ir, "route/redirect did not lower:\n%s", diags);
	if (ir) {
		CHECK(ir->rules[0].verdict.kind == IRV_ROUTE, "route");
		CHECK(ir->rules[1].verdict.kind == IRV_REDIRECT_IFINDEX && ir->rules[1].verdict.num == 3 &&
		      !ir->rules[1].verdict.ifname, "redirect ifindex");
		CHECK(ir->rules[2].verdict.ifname && ir->rules[2].verdict.num == 0 &&
		      ir->rules[3].verdict.num == 0 && ir->default_verdict.num == 1 &&
		      ir->nifnames == 2 && !strcmp(ir->ifnames[1], "eth8") &&
		      ir->rules[2].verdict.map && !strcmp(ir->rules[2].verdict.map->name, "xdpl_ports"),
		      "redirect IFNAME: one devmap slot per distinct name");
		const struct ir_map *cm = ir->rules[4].verdict.map;
		CHECK(cm && !strcmp(cm->name, "xdpl_cpus") && cm->kind == IRM_CPUMAP && cm->ninit == 1,
		      "redirect cpu: the compiler's cpumap with an initial element");
		CHECK(ir->rules[5].verdict.kind == IRV_REDIRECT_MAP && ir->rules[5].verdict.key &&
		      ir->rules[5].verdict.key->kind == IV_PKT, "redirect MAP[pkt.rxq]");
	}
	free(diags);
	arena_free(&a);

	static const char *src2 =
		"program u;\n"
		"map devs: devmap max 8;\n"
		"rule f { match udp; verdict redirect devs[udp.dport & 7]; }\n"
		"default redirect devs[udp.dport & 7];\n";
	struct arena a2 = { 0 };
	diags = NULL;
	ir = compile(&a2, "u.xdpl", src2, &diags, &ok);
	CHECK(ok, "front end rejected:\n%s", diags);
	CHECK(!ir, "default redirect MAP[header key] must not lower yet");
	CHECK(!strstr(diags, "u.xdpl:3:") && strstr(diags, "u.xdpl:4:") &&
	      strstr(diags, "is not supported yet"),
	      "redirect key diagnostic:\n%s", diags);
	free(diags);
	arena_free(&a2);
}

/* ---------------------------------------------------------------- packets vs Scapy */

struct pcase {
	const char *name;
	const char *layers; /* XDPL */
	const char *scapy;  /* Python expression */
};

static const struct pcase pcases[] = {
	{ "udp", "eth() / ip4(src=192.0.2.1, dst=192.0.2.2) / udp(dport=53) / payload(\"hi\")",
	  "Ether(dst='ff:ff:ff:ff:ff:ff',src='00:00:00:00:00:00')/IP(src='192.0.2.1',dst='192.0.2.2')/UDP(dport=53)/'hi'" },
	{ "udp defaults", "eth() / ip4() / udp()",
	  "E/IP(src='127.0.0.1',dst='127.0.0.1')/UDP()" },
	{ "tcp", "eth() / ip4(src=10.0.0.1, dst=10.0.0.2) / tcp(dport=22) / payload(\"hello\")",
	  "E/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(dport=22)/'hello'" },
	{ "tcp flags", "eth() / ip4(src=10.0.0.1, dst=10.0.0.2, ttl=3, id=77, flags=2) / tcp(sport=1234, dport=443, flags=0x12, seq=1000, ack_seq=2000, window=1)",
	  "E/IP(src='10.0.0.1',dst='10.0.0.2',ttl=3,id=77,flags='DF')/TCP(sport=1234,dport=443,flags='SA',seq=1000,ack=2000,window=1)" },
	{ "tcp options", "eth() / ip4(src=10.0.0.1, dst=10.0.0.2) / tcp(options=hex \"020405b4\") / payload(\"x\")",
	  "E/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(options=[('MSS',1460)])/'x'" },
	{ "ip4 options", "eth() / ip4(src=10.0.0.1, dst=10.0.0.2, options=hex \"01010101\") / udp()",
	  "E/IP(src='10.0.0.1',dst='10.0.0.2',options=[IPOption_NOP(),IPOption_NOP(),IPOption_NOP(),IPOption_NOP()])/UDP()" },
	{ "icmp", "eth(src=02:00:00:00:00:01, dst=02:00:00:00:00:02) / ip4(src=192.0.2.10, dst=192.0.2.1) / icmp(type=8, id=7, seq=1) / payload(\"ping\")",
	  "Ether(src='02:00:00:00:00:01',dst='02:00:00:00:00:02')/IP(src='192.0.2.10',dst='192.0.2.1')/ICMP(type=8,id=7,seq=1)/'ping'" },
	{ "ip6 tcp", "eth() / ip6(src=2001:db8::1, dst=2001:db8::2) / tcp(dport=80) / payload(\"GET\")",
	  "E/IPv6(src='2001:db8::1',dst='2001:db8::2')/TCP(dport=80)/'GET'" },
	{ "ip6 udp", "eth() / ip6(src=2001:db8::1, dst=2001:db8::2, hlim=9, flow=0x12345, tc=3) / udp(sport=1000, dport=2000) / payload(\"abc\")",
	  "E/IPv6(src='2001:db8::1',dst='2001:db8::2',hlim=9,fl=0x12345,tc=3)/UDP(sport=1000,dport=2000)/'abc'" },
	{ "icmp6 echo", "eth() / ip6(src=fe80::1, dst=ff02::1) / icmp6(id=1, seq=2) / payload(\"xyz\")",
	  "E/IPv6(src='fe80::1',dst='ff02::1')/ICMPv6EchoRequest(id=1,seq=2,data=b'xyz')" },
	{ "vlan", "eth() / vlan(id=100) / ip4(src=10.0.0.1, dst=10.0.0.2) / udp()",
	  "E/Dot1Q(vlan=100)/IP(src='10.0.0.1',dst='10.0.0.2')/UDP()" },
	{ "qinq", "eth() / vlan(id=100, pcp=3) / vlan2(id=200) / ip4(src=10.0.0.1, dst=10.0.0.2) / tcp()",
	  "E/Dot1Q(vlan=100,prio=3)/Dot1Q(vlan=200)/IP(src='10.0.0.1',dst='10.0.0.2')/TCP()" },
	{ "qinq same name", "eth(type=0x88a8) / vlan(id=100) / vlan(id=200) / ip6(src=::1, dst=::2) / udp()",
	  "Ether(dst='ff:ff:ff:ff:ff:ff',src='00:00:00:00:00:00',type=0x88a8)/Dot1Q(vlan=100)/Dot1Q(vlan=200)/IPv6(src='::1',dst='::2')/UDP()" },
	{ "arp", "eth(src=02:00:00:00:00:01) / arp(sha=02:00:00:00:00:01, spa=192.0.2.1, tpa=192.0.2.2)",
	  "Ether(dst='ff:ff:ff:ff:ff:ff',src='02:00:00:00:00:01')/ARP(hwsrc='02:00:00:00:00:01',psrc='192.0.2.1',pdst='192.0.2.2',hwdst='00:00:00:00:00:00')" },
	{ "ip6 hop-by-hop", "eth() / ip6(src=2001:db8::1, dst=2001:db8::2) / ip6ext(data=hex \"010400000000\") / tcp() / payload(\"x\")",
	  "E/IPv6(src='2001:db8::1',dst='2001:db8::2')/IPv6ExtHdrHopByHop()/TCP()/'x'" },
	{ "ip6 hbh icmp6", "eth() / ip6(src=2001:db8::1, dst=2001:db8::2) / ip6ext(data=hex \"010400000000\") / icmp6(id=9)",
	  "E/IPv6(src='2001:db8::1',dst='2001:db8::2')/IPv6ExtHdrHopByHop()/ICMPv6EchoRequest(id=9)" },
	{ "bad checksum", "eth() / ip4(src=10.0.0.1, dst=10.0.0.2, csum=0xdead, len=99) / udp(csum=0x1234, len=5)",
	  "E/IP(src='10.0.0.1',dst='10.0.0.2',chksum=0xdead,len=99)/UDP(chksum=0x1234,len=5)" },
	{ "eth only", "eth()", "E" },
	{ "raw", "eth() / raw(hex \"0800 4500\")", "E/Raw(b'\\x08\\x00\\x45\\x00')" },
	{ "ip4 no l4", "eth() / ip4(src=1.2.3.4, dst=5.6.7.8) / payload(hex \"00ff\")",
	  "E/IP(src='1.2.3.4',dst='5.6.7.8',proto=0)/Raw(b'\\x00\\xff')" },
};
#define NPCASES ((int)(sizeof(pcases) / sizeof(pcases[0])))

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = 0;
}

static void test_packets(void)
{
	/* The program: one test per case, in order. */
	char *src = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&src, &len);
	fputs("program pk;\n", f);
	for (int i = 0; i < NPCASES; i++)
		fprintf(f, "test \"%s\" {\n    packet %s;\n    expect pass;\n}\n", pcases[i].name,
			pcases[i].layers);
	fclose(f);
	struct arena a = { 0 };
	char *diags = NULL;
	int ok;
	struct ir_program *ir = compile(&a, "pk.xdpl", src, &diags, &ok);
	free(src);
	CHECK(ok && ir, "packet program failed:\n%s", diags);
	free(diags);
	if (!ir || ir->ntests != NPCASES) {
		arena_free(&a);
		return;
	}

	/* Scapy's bytes for the same packets. */
	char script[300];
	snprintf(script, sizeof(script), "%s/ref.py", tmpdir);
	f = fopen(script, "w");
	fputs("import sys\n"
	      "try:\n"
	      "    from scapy.all import *\n"
	      "except Exception as e:\n"
	      "    print('NOSCAPY', e)\n"
	      "    sys.exit(0)\n"
	      "E = Ether(dst='ff:ff:ff:ff:ff:ff', src='00:00:00:00:00:00')\n",
	      f);
	for (int i = 0; i < NPCASES; i++)
		fprintf(f, "print('HEX', bytes(%s).hex())\n", pcases[i].scapy);
	fclose(f);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s 2>/dev/null", script);
	FILE *py = access("/usr/bin/python3", X_OK) == 0 ? popen(cmd, "r") : NULL;
	if (!py) {
		CHECK(0, "packets vs Scapy: /usr/bin/python3 not found (scripts/deps.sh installs it)");
		arena_free(&a);
		return;
	}
	static char line[65536];
	int n = 0;
	while (fgets(line, sizeof(line), py)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!strncmp(line, "NOSCAPY", 7)) {
			CHECK(0, "packets vs Scapy: Scapy is not installed (%s; scripts/deps.sh installs python3-scapy)", line);
			pclose(py);
			arena_free(&a);
			return;
		}
		if (strncmp(line, "HEX ", 4) != 0)
			continue; /* Scapy's own warnings */
		memmove(line, line + 4, strlen(line + 4) + 1);
		if (n >= NPCASES) {
			CHECK(0, "unexpected Python output: %s", line);
			continue;
		}
		const struct ir_test *t = &ir->tests[n];
		static char ours[65536];
		hex_of(t->packet, t->packet_len, ours);
		CHECK(strcmp(ours, line) == 0, "packet '%s' (%s)\n  ours:  %s\n  scapy: %s",
		      pcases[n].name, pcases[n].layers, ours, line);
		n++;
	}
	int rc = pclose(py);
	CHECK(rc == 0 && n == NPCASES, "Scapy script failed (rc %d, %d of %d lines)", rc, n,
	      NPCASES);
	printf("test_lower: %d packets compared with Scapy\n", n);
	arena_free(&a);
}

/* A user-declared protocol: udp.dport of udp()/vxlan() comes from the
 * user's select arm. */
static void test_user_protocol(void)
{
	static const char *src =
		"program vx;\n"
		"header vxlan { flags: u8 = 0x08; reserved: u24; vni: u24; reserved2: u8; }\n"
		"header eth_inner = eth;\n"
		"parser {\n"
		"    state udp { extract udp; select udp.dport { 4789 -> vxlan; _ -> accept; } }\n"
		"    state vxlan { extract vxlan; next eth_inner; }\n"
		"    state eth_inner { extract eth_inner; accept; }\n"
		"}\n"
		"rule v { match vxlan.vni == 42; verdict drop; }\n"
		"test \"vxlan\" {\n"
		"    packet eth() / ip4(src=10.0.0.1, dst=10.0.0.2) / udp() / vxlan(vni=42)\n"
		"         / eth_inner(src=02:00:00:00:00:09);\n"
		"    expect drop by v;\n"
		"}\n"
		"test \"by default\" { packet eth(); expect pass by default; }\n"
		"test \"ttl\" { packet eth() / ip4(ttl=1); expect pass; }\n";
	struct arena a = { 0 };
	char *diags = NULL;
	int ok;
	struct ir_program *ir = compile(&a, "vx.xdpl", src, &diags, &ok);
	CHECK(ok && ir, "vxlan program failed:\n%s", diags);
	free(diags);
	if (!ir) {
		arena_free(&a);
		return;
	}
	char *d = dump(ir);
	if (getenv("DUMP"))
		fputs(d, stdout);
	expect_in(d, "udp: extract udp; select udp.dport { 0x12b5 -> vxlan; _ -> accept; }");
	CHECK(ir->ntests == 3, "3 tests");
	if (ir->ntests == 3) {
		const struct ir_test *t = &ir->tests[0];
		/* eth 14 + ip4 20 + udp 8 + vxlan 8 + eth 14 */
		CHECK(t->packet_len == 64, "vxlan packet is 64 bytes, got %zu", t->packet_len);
		if (t->packet_len == 64) {
			CHECK(t->packet[36] == 0x12 && t->packet[37] == 0xb5, "udp.dport = 4789");
			CHECK(t->packet[42] == 0x08, "vxlan.flags default");
			CHECK(t->packet[46] == 0 && t->packet[47] == 0 && t->packet[48] == 42,
			      "vxlan.vni");
			CHECK(t->packet[62] == 0x90 && t->packet[63] == 0x00,
			      "inner eth.type default 0x9000");
		}
		CHECK(t->expect_action == 1 && t->expect_rule == 0, "expect drop by v");
		CHECK(ir->tests[1].expect_action == 2 && ir->tests[1].expect_rule == 1,
		      "by default -> nrules");
		CHECK(ir->tests[2].expect_action == 2 && ir->tests[2].expect_rule == -1,
		      "expect pass, no rule");
	}
	free(d);
	arena_free(&a);
}

static void test_packet_errors(void)
{
	static const char *src =
		"program pe;\n"
		"test \"bad options\" { packet eth() / ip4(options=hex \"010101\"); expect pass; }\n"
		"test \"mismatch\" { packet eth() / ip4(ihl=5, options=hex \"01010101\"); expect pass; }\n";
	struct arena a = { 0 };
	char *diags = NULL;
	int ok;
	struct ir_program *ir = compile(&a, "pe.xdpl", src, &diags, &ok);
	CHECK(ok && !ir, "variable-part errors must fail lowering:\n%s", diags);
	CHECK(strstr(diags, "pe.xdpl:2:") && strstr(diags, "no value of 'ihl' makes 'options' 3 bytes long"),
	      "bad options diagnostic:\n%s", diags);
	CHECK(strstr(diags, "pe.xdpl:3:") && strstr(diags, "'options' has 4 bytes but its size fields give 0 bytes"),
	      "mismatch diagnostic:\n%s", diags);
	free(diags);
	arena_free(&a);
}

/* Rule groups (regroup.c): a run of 8+ rules on one key is one map; first
 * match decides the entries; another shape ends the run. */
static void test_rule_groups(void)
{
	static const char *src =
		"program g;\n"
		"rule a0 { match tcp.dport == 1; verdict drop; }\n"
		"rule a1 { match tcp.dport == 2; verdict pass; }\n"
		"rule a2 { match tcp.dport == 1; verdict tx; }\n"
		"rule a3 { match tcp.dport == 3 or tcp.dport == 4; verdict drop; }\n"
		"rule a4 { match tcp.dport == 5; verdict drop; }\n"
		"rule a5 { match tcp.dport == 6; verdict drop; }\n"
		"rule a6 { match tcp.dport == 7; verdict drop; }\n"
		"rule a7 { match tcp.dport == 8; verdict route; }\n"
		"rule x { match udp.dport == 1; verdict drop; }\n"
		"rule b0 { match ip4.src in 10.0.0.0/8; verdict drop; }\n"
		"rule b1 { match ip4.src in 10.1.0.0/16; verdict pass; }\n"
		"rule b2 { match ip4.src == 192.0.2.1; verdict pass; }\n"
		"rule b3 { match ip4.src in 192.0.2.0/24; verdict drop; }\n"
		"rule b4 { match ip4.src in 198.51.100.0/24; verdict drop; }\n"
		"rule b5 { match ip4.src in 203.0.113.0/24; verdict drop; }\n"
		"rule b6 { match ip4.src in 172.16.0.0/12; verdict drop; }\n"
		"rule b7 { match ip4.src in 100.64.0.0/10; verdict drop; }\n"
		"rule c0 { match tcp.dport == 9; verdict drop; }\n";
	/* groups are made in policies of more than IR_INLINE_RULES_MAX rules:
	 * 50 more, a run over the tuple (udp.dport, ip4.ttl) */
	char *big = malloc(strlen(src) + 64 * 64);
	strcpy(big, src);
	for (int i = 0; i < 50; i++)
		sprintf(big + strlen(big), "rule f%d { match udp.dport == %d and ip4.ttl == %d; verdict drop; }\n", i,
			i + 1, i + 1);
	struct arena a = { 0 };
	char *diags = NULL;
	int ok;
	struct ir_program *ir = compile(&a, "g.xdpl", big, &diags, &ok);
	free(big);
	CHECK(ok && ir, "groups program failed:\n%s", diags);
	free(diags);
	if (!ir) {
		arena_free(&a);
		return;
	}
	CHECK(ir->ngroups == 3, "3 groups, got %d", ir->ngroups);
	if (ir->ngroups == 3) {
		const struct ir_group *g2 = &ir->groups[2];
		CHECK(g2->first == 18 && g2->n == 50 && g2->nkeys == 2 && g2->map->kind == IRM_HASH &&
			      g2->map->nkeys == 2 && g2->map->key_size == 3 && g2->map->ninit == 50,
		      "group 2: the tuple run, (u16, u8) keys");
		/* udp.dport 1, ip4.ttl 1, whichever order lowering gave the atoms */
		const uint8_t *k0 = g2->map->init[0].key;
		CHECK((k0[0] == 0 && k0[1] == 1 && k0[2] == 1) || (k0[0] == 1 && k0[1] == 0 && k0[2] == 1),
		      "first tuple key");
	}
	if (ir->ngroups >= 2) {
		const struct ir_group *g0 = &ir->groups[0], *g1 = &ir->groups[1];
		CHECK(g0->first == 0 && g0->n == 8 && g0->map->kind == IRM_HASH, "group 0: rules 0-7, hash");
		/* 1 (a0; a2's 1 is shadowed), 2, 3, 4, 5, 6, 7, 8 */
		CHECK(g0->map->ninit == 8, "group 0: 8 entries, got %d", g0->map->ninit);
		uint32_t v;
		memcpy(&v, g0->map->init[0].value, 4);
		CHECK(g0->map->init[0].key[0] == 0 && g0->map->init[0].key[1] == 1 &&
			      v == IR_GROUP_VALUE(0, XDPL_ACTION_DROP),
		      "dport 1 -> a0 drop (%u)", v);
		memcpy(&v, g0->map->init[7].value, 4);
		CHECK(v == IR_GROUP_VALUE(7, XDPL_ACTION_EXT), "dport 8 -> a7 route (%u)", v);
		CHECK(g1->first == 9 && g1->n == 8 && g1->map->kind == IRM_LPM && g1->map->key_size == 8,
		      "group 1: rules 9-16, LPM");
		/* 10.1/16 after 10/8 never decides: not entered */
		CHECK(g1->map->ninit == 7, "group 1: 7 entries, got %d", g1->map->ninit);
		uint32_t plen;
		memcpy(&plen, g1->map->init[1].key, 4);
		CHECK(plen == 32 && g1->map->init[1].key[4] == 192 && g1->map->init[1].key[7] == 1,
		      "192.0.2.1 as a /32 (plen %u)", plen);
	}
	arena_free(&a);
}

/* One table per kind (ir.c, runtime/xdpl_meta.h): every kind has a row,
 * the derived predicates agree with what each verdict does, and every
 * verdict word without a target lowers to the kind of its row, as the
 * language's keywords and the table's word for it. */
static void test_kind_tables(void)
{
	static const char *const actions[] = { "abort", "drop", "pass", "tx", "redirect" };
	for (int a = 0; a < 5; a++)
		CHECK(xdpl_action_word(a) && !strcmp(xdpl_action_word(a), actions[a]), "action %d word", a);
	CHECK(!xdpl_action_word(XDPL_ACTION_EXT) && !xdpl_action_word(-1), "not XDP actions");
	for (int k = IRV_PASS; k <= IRV_CONTINUE; k++) {
		const struct ir_verdict_info *v = ir_verdict_info((enum ir_verdict_kind)k);
		bool tail = k == IRV_REDIRECT_IFINDEX || k == IRV_REDIRECT_MAP || k == IRV_REDIRECT_CPU ||
			    k == IRV_ROUTE;
		CHECK((int)v->word < XDPL_NVERDICTS, "verdict kind %d has a word", k);
		CHECK(xdpl_verdict_by_name(ir_verdict_name((enum ir_verdict_kind)k)) == (int)v->word,
		      "verdict kind %d: name and word agree", k);
		CHECK(ir_verdict_final((enum ir_verdict_kind)k) == (k != IRV_CONTINUE), "final %d", k);
		CHECK(ir_verdict_in_tail((enum ir_verdict_kind)k) == tail, "in tail %d", k);
		CHECK(v->plain == (!tail), "plain %d", k);
	}
	for (int k = IS_ASSIGN; k <= IS_MAP_ADD; k++)
		CHECK(strcmp(ir_stmt_info((enum ir_stmt_kind)k)->name, "?") != 0, "statement kind %d name", k);
	for (int k = IRM_HASH; k <= IRM_XSKMAP; k++)
		CHECK(strcmp(ir_map_kind_name((enum ir_map_kind)k), "?") != 0, "map kind %d name", k);

	char src[2048];
	size_t n = (size_t)snprintf(src, sizeof(src), "program v;\n");
	int nw = 0;
	for (int w = 0; w < XDPL_NVERDICTS; w++)
		if (w != XDPL_VERDICT_REDIRECT)
			n += (size_t)snprintf(src + n, sizeof(src) - n, "rule r%d { match tcp.dport == %d; verdict %s; }\n",
					      nw++, w + 1, xdpl_verdict_info(w)->name);
	snprintf(src + n, sizeof(src) - n, "default drop;\n");
	struct arena a = { 0 };
	char *diags = NULL;
	int ok;
	struct ir_program *ir = compile(&a, "v.xdpl", src, &diags, &ok);
	CHECK(ok && ir && ir->nrules == nw, "every verdict word lowers:\n%s", diags);
	for (int i = 0, w = 0; ir && i < ir->nrules; i++, w++) {
		if (w == XDPL_VERDICT_REDIRECT)
			w++;
		CHECK(ir_verdict_info(ir->rules[i].verdict.kind)->word == (enum xdpl_verdict)w,
		      "rule %d: verdict %s", i, xdpl_verdict_info(w)->name);
	}
	free(diags);
	arena_free(&a);
}

/* encap/decap find their headers by their place in the parse graph
 * (lower_parse.c, lower_roles): with the stdlib, eth (and the VLAN tags),
 * ip4/ip6 after them, and the second instances eth_inner, ip4_inner,
 * ip6_inner found past them. */
static int hdr_index(const struct ir_program *ir, const char *name)
{
	for (int i = 0; i < ir->nheaders; i++)
		if (!strcmp(ir->headers[i].name, name))
			return i;
	return -2;
}

static void test_header_roles(void)
{
	static const char *src =
		"program roles;\n"
		"rule d { match gre; rewrite { decap; } verdict pass; }\n"
		"rule e { match udp; rewrite { encap ip6(src=::1, dst=::2) / udp(dport=4789) / vxlan(vni=7); } verdict tx; }\n"
		"default pass;\n";
	struct arena a = { 0 };
	char *diags = NULL;
	int ok;
	struct ir_program *ir = compile(&a, "roles.xdpl", src, &diags, &ok);
	CHECK(ok && ir, "encap/decap did not lower:\n%s", diags);
	for (int r = 0; ir && r < 2; r++) {
		const struct ir_stmt *s = ir->rules[r].nstmts ? ir->rules[r].stmts[0] : NULL;
		const struct ir_encap *E = s ? s->encap : NULL;
		CHECK(E, "rule %d: an encap/decap statement", r);
		if (!E)
			continue;
		CHECK(E->nlink == 3 && E->link[0] == hdr_index(ir, "eth") && E->link[1] == hdr_index(ir, "vlan") &&
		      E->link[2] == hdr_index(ir, "vlan2"), "rule %d: link headers eth, vlan, vlan2", r);
		CHECK(E->ip4 == hdr_index(ir, "ip4") && E->ip6 == hdr_index(ir, "ip6"), "rule %d: network headers", r);
		if (s->kind == IS_DECAP)
			CHECK(E->eth_inner == hdr_index(ir, "eth_inner") && E->inner_ip4 == hdr_index(ir, "ip4_inner") &&
			      E->inner_ip6 == hdr_index(ir, "ip6_inner") && E->key_v4 == 0x0800 && E->key_v6 == 0x86dd,
			      "decap: inner headers and link keys");
		else
			CHECK(E->l2 && E->eth_inner == -1, "encap ... / vxlan: an L2 encap");
	}
	free(diags);
	arena_free(&a);
}

/* A run of multi-field rules becomes one classifier (lower/classify.c):
 * its dimensions (an ip6 key as two), each rule's box in the blob. */
static void test_classifier(void)
{
	char *src = malloc(200 * 100);
	strcpy(src, "program c;\n");
	for (int i = 0; i < 80; i++)
		sprintf(src + strlen(src),
			"rule r%d { match ip4.src in 10.%d.0.0/16 and tcp.dport in %d..%d; verdict drop; }\n", i, i,
			i * 10, i * 10 + 5);
	strcat(src, "rule v6 { match ip6.src in 2001:db8:0:1:8000::/65 and tcp.dport == 7; verdict pass; }\n");
	struct arena a = { 0 };
	char *diags = NULL;
	int ok;
	struct ir_program *ir = compile(&a, "c.xdpl", src, &diags, &ok);
	free(src);
	CHECK(ok && ir, "classifier program failed:\n%s", diags);
	free(diags);
	if (!ir) {
		arena_free(&a);
		return;
	}
	const struct ir_classifier *C = ir->ngroups == 1 ? ir->groups[0].cls : NULL;
	CHECK(C && ir->groups[0].first == 0 && ir->groups[0].n == 81, "one classifier for rules 0-80");
	if (C) {
		CHECK(C->ndims == 4 && C->dims[2].part == 0 && C->dims[3].part == 1 && C->dims[3].bits == 64,
		      "dimensions ip4.src, tcp.dport, ip6.src in two halves (%d)", C->ndims);
		const uint8_t *r = C->blob + C->rules_off + 80 * (size_t)C->rec_size;
		uint64_t lo2, w2, lo3, w3;
		memcpy(&lo2, r + C->dim_off[2], 8);
		memcpy(&w2, r + C->dim_off[2] + 8, 8);
		memcpy(&lo3, r + C->dim_off[3], 8);
		memcpy(&w3, r + C->dim_off[3] + 8, 8);
		CHECK(lo2 == 0x20010db800000001ull && w2 == 0 && lo3 == 0x8000000000000000ull &&
			      w3 == 0x7fffffffffffffffull,
		      "/65: the first half exact, the second's top bit");
		uint32_t need, value;
		memcpy(&need, r + C->rec_size - 8, 4);
		memcpy(&value, r + C->rec_size - 4, 4);
		CHECK(need == 0xe && value == IR_GROUP_VALUE(80, XDPL_ACTION_PASS), "rule 80 needs dport and ip6.src");
		long held = 0;
		for (int t = 0; t < C->ntrees; t++)
			held += C->trees[t].nrules;
		CHECK(held == 81, "every rule in one tree (%ld)", held);
	}
	arena_free(&a);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_lower.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_spec_example();
	test_conditions();
	test_unsupported();
	test_packets();
	test_user_protocol();
	test_packet_errors();
	test_rule_groups();
	test_kind_tables();
	test_header_roles();
	test_classifier();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	diag_reset();
	if (failures) {
		fprintf(stderr, "test_lower: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_lower: all passed\n");
	return 0;
}
