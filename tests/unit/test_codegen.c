/* Unit test of codegen: hand-built rule IR -> BPF object -> the kernel.
 *
 * Builds ir_programs by hand (eth/vlan/ip4/ip6/ip6ext/tcp/udp/icmp headers
 * and a parse graph like stdlib/parse.xdpl, the meta ip.proto, LPM and hash
 * sets, maps, and rules using every condition kind), compiles them with
 * codegen_emit, loads the objects with libbpf, runs hand-made packets with
 * BPF_PROG_TEST_RUN and checks verdicts and the xdpl_stats counters. Also
 * checks the .xdpl.meta text, --emit llvm/asm, error paths, and that
 * `bpftool prog dump xlated ... linum` names the .xdpl source.
 *
 * Needs root (BPF); exits 77 (skip) without it, nonzero on any failure. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "arena.h"
#include "codegen.h"
#include "diag.h"
#include "ir.h"
#include "xdpl.h"
#include "xdpl_meta.h"

static int failures;
static struct arena A;
static char tmpdir[64];
static char src_path[128];

#define CHECK(cond, ...)                                                                 \
	do {                                                                             \
		if (!(cond)) {                                                           \
			failures++;                                                      \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
			fprintf(stderr, __VA_ARGS__);                                    \
			fputc('\n', stderr);                                             \
		}                                                                        \
	} while (0)

/* ---------------------------------------------------------------- IR builders */

enum { H_ETH, H_VLAN, H_IP4, H_IP6, H_IP6EXT, H_TCP, H_UDP, H_ICMP, H_META_IP, NHDR };
enum { S_ETH, S_VLAN, S_IP4, S_IP4PAY, S_IP6, S_IP6EXT, S_TCP, S_UDP, S_ICMP, NSTATE };

static struct ir_header hdrs[NHDR];

/* field indexes */
enum { ETH_DST, ETH_SRC, ETH_TYPE };
enum { VLAN_PCP, VLAN_DEI, VLAN_ID, VLAN_TYPE };
enum { IP4_VERSION, IP4_IHL, IP4_DSCP, IP4_ECN, IP4_LEN, IP4_ID, IP4_FLAGS, IP4_FRAG, IP4_TTL,
       IP4_PROTO, IP4_CSUM, IP4_SRC, IP4_DST };
enum { IP6_VERSION, IP6_TC, IP6_FLOW, IP6_LEN, IP6_NEXT, IP6_HLIM, IP6_SRC, IP6_DST };
enum { EXT_NEXT, EXT_HLEN };
enum { TCP_SPORT, TCP_DPORT, TCP_SEQ, TCP_ACK, TCP_DOFF, TCP_RES, TCP_FLAGS, TCP_WIN, TCP_CSUM,
       TCP_URG };
enum { UDP_SPORT, UDP_DPORT, UDP_LEN, UDP_CSUM };
enum { ICMP_TYPE, ICMP_CODE, ICMP_CSUM, ICMP_ID, ICMP_SEQ };

struct fdef {
	const char *name;
	enum ir_type type;
	int bits;
};

static void def_header(int idx, const char *name, const struct fdef *f, int n, bool meta)
{
	struct ir_header *h = &hdrs[idx];
	h->name = name;
	h->index = idx;
	h->fields = arena_alloc(&A, sizeof(struct ir_field) * (size_t)n);
	h->nfields = n;
	int off = 0;
	for (int i = 0; i < n; i++) {
		h->fields[i].name = f[i].name;
		h->fields[i].type = f[i].type;
		h->fields[i].bits = f[i].bits;
		h->fields[i].bit_offset = meta ? 0 : off;
		off += f[i].bits;
	}
	h->fixed_bytes = meta ? 0 : off / 8;
	h->is_meta = meta;
}

static struct ir_val *v_new(enum ir_val_kind k, enum ir_type t, int bits)
{
	struct ir_val *v = NEW(&A, struct ir_val);
	v->kind = k;
	v->type = t;
	v->bits = bits;
	return v;
}

static struct ir_val *v_const(int bits, uint64_t c)
{
	struct ir_val *v = v_new(IV_CONST, IR_UINT, bits);
	v->c = c;
	return v;
}

static struct ir_val *v_field(int h, int f)
{
	struct ir_val *v = v_new(hdrs[h].is_meta ? IV_META : IV_FIELD, hdrs[h].fields[f].type,
				 hdrs[h].fields[f].bits);
	v->hdr = h;
	v->field = f;
	return v;
}

static struct ir_val *v_bin(enum ir_binop op, struct ir_val *a, struct ir_val *b, int bits)
{
	struct ir_val *v = v_new(IV_BIN, IR_UINT, bits);
	v->op = op;
	v->a = a;
	v->b = b;
	return v;
}

static struct ir_val *v_pkt(enum ir_pkt k, int bits)
{
	struct ir_val *v = v_new(IV_PKT, IR_UINT, bits);
	v->pkt = k;
	return v;
}

static struct ir_val **vlist(int n, va_list ap)
{
	struct ir_val **l = arena_alloc(&A, sizeof(*l) * (size_t)n);
	for (int i = 0; i < n; i++)
		l[i] = va_arg(ap, struct ir_val *);
	return l;
}

static struct ir_val *v_multi(enum ir_val_kind k, enum ir_type t, int bits, struct ir_map *m, int n,
			      ...)
{
	struct ir_val *v = v_new(k, t, bits);
	va_list ap;
	va_start(ap, n);
	v->keys = vlist(n, ap);
	va_end(ap);
	v->nkeys = n;
	v->map = m;
	return v;
}

static struct ir_cond *c_new(enum ir_cond_kind k)
{
	struct ir_cond *c = NEW(&A, struct ir_cond);
	c->kind = k;
	return c;
}

static struct ir_cond *c_cmp(enum ir_cmp op, struct ir_val *a, struct ir_val *b)
{
	struct ir_cond *c = c_new(IC_CMP);
	c->cmp = op;
	c->a = a;
	c->b = b;
	return c;
}

static struct ir_cond *c_range(struct ir_val *a, uint64_t lo, uint64_t hi)
{
	struct ir_cond *c = c_new(IC_RANGE);
	c->a = a;
	c->lo = v_const(a->bits, lo);
	c->hi = v_const(a->bits, hi);
	return c;
}

static struct ir_cond *c_prefix(struct ir_val *a, uint64_t hi, uint64_t lo, int plen)
{
	struct ir_cond *c = c_new(IC_PREFIX);
	c->a = a;
	c->prefix.hi = hi;
	c->prefix.lo = lo;
	c->plen = plen;
	return c;
}

static struct ir_cond *c_present(int h)
{
	struct ir_cond *c = c_new(IC_PRESENT);
	c->hdr = h;
	return c;
}

static struct ir_cond *c_kids(enum ir_cond_kind k, int n, ...)
{
	struct ir_cond *c = c_new(k);
	c->kids = arena_alloc(&A, sizeof(*c->kids) * (size_t)n);
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		c->kids[i] = va_arg(ap, struct ir_cond *);
	va_end(ap);
	c->nkids = n;
	return c;
}

static struct ir_cond *c_not(struct ir_cond *k)
{
	return c_kids(IC_NOT, 1, k);
}

static struct ir_cond *c_in(struct ir_map *m, int n, ...)
{
	struct ir_cond *c = c_new(IC_IN_MAP);
	c->map = m;
	va_list ap;
	va_start(ap, n);
	c->keys = vlist(n, ap);
	va_end(ap);
	c->nkeys = n;
	return c;
}

static struct ir_map *mk_map(const char *name, enum ir_map_kind kind, bool is_set, int nkeys,
			     const enum ir_type *kt, const int *kb, int key_size, enum ir_type vt,
			     int vbits, int vsize, uint32_t max)
{
	struct ir_map *m = NEW(&A, struct ir_map);
	m->name = name;
	m->kind = kind;
	m->is_set = is_set;
	m->user_visible = true;
	m->nkeys = nkeys;
	for (int i = 0; i < nkeys; i++) {
		m->key_types[i] = kt[i];
		m->key_bits[i] = kb[i];
	}
	m->key_size = key_size;
	m->value_type = vt;
	m->value_bits = vbits;
	m->value_size = vsize;
	m->max_entries = max;
	m->flags = kind == IRM_LPM ? 1 : 0;
	return m;
}

static void map_init(struct ir_map *m, const uint8_t *key, const uint8_t *value)
{
	struct ir_map_entry *e = arena_alloc(&A, sizeof(*e) * (size_t)(m->ninit + 1));
	if (m->ninit)
		memcpy(e, m->init, sizeof(*e) * (size_t)m->ninit);
	e[m->ninit].key = arena_memdup(&A, key, (size_t)m->key_size);
	e[m->ninit].value = arena_memdup(&A, value, (size_t)(m->is_set ? 1 : m->value_size));
	m->init = e;
	m->ninit++;
}

static struct ir_arm arm_vals(int target, int n, const uint64_t *vals)
{
	struct ir_arm a = { 0 };
	a.values = arena_memdup(&A, vals, sizeof(uint64_t) * (size_t)n);
	a.nvalues = n;
	a.target = target;
	return a;
}

static struct ir_arm arm_range(int target, uint64_t lo, uint64_t hi)
{
	struct ir_arm a = { 0 };
	a.lo = arena_memdup(&A, &lo, sizeof(lo));
	a.hi = arena_memdup(&A, &hi, sizeof(hi));
	a.nranges = 1;
	a.target = target;
	return a;
}

static struct ir_arm arm_default(int target)
{
	struct ir_arm a = { 0 };
	a.target = target;
	return a;
}

static const char *const STDLIB_PARSE = "<stdlib>/parse.xdpl"; /* as the frontend names embedded files */

static void def_state(struct ir_state *s, const char *name, int header, int loop,
		      struct ir_val *key, int narms, const struct ir_arm *arms, int line)
{
	s->name = name;
	s->header = header;
	s->loop = loop;
	s->key = key;
	s->arms = narms ? arena_memdup(&A, arms, sizeof(*arms) * (size_t)narms) : NULL;
	s->narms = narms;
	s->next_state = IR_ACCEPT;
	s->file = STDLIB_PARSE;
	s->line = line;
}

static void set_meta(struct ir_state *s, struct ir_val *v)
{
	s->sets = NEW(&A, struct ir_set_meta);
	s->sets->meta_hdr = H_META_IP;
	s->sets->field = 0;
	s->sets->value = v;
	s->nsets = 1;
}

static void define_headers(void)
{
	static const struct fdef eth[] = { { "dst", IR_MAC, 48 }, { "src", IR_MAC, 48 },
					   { "type", IR_UINT, 16 } };
	static const struct fdef vlan[] = { { "pcp", IR_UINT, 3 }, { "dei", IR_UINT, 1 },
					    { "id", IR_UINT, 12 }, { "type", IR_UINT, 16 } };
	static const struct fdef ip4[] = {
		{ "version", IR_UINT, 4 }, { "ihl", IR_UINT, 4 },  { "dscp", IR_UINT, 6 },
		{ "ecn", IR_UINT, 2 },	   { "len", IR_UINT, 16 }, { "id", IR_UINT, 16 },
		{ "flags", IR_UINT, 3 },   { "frag", IR_UINT, 13 }, { "ttl", IR_UINT, 8 },
		{ "proto", IR_UINT, 8 },   { "csum", IR_UINT, 16 }, { "src", IR_IP4, 32 },
		{ "dst", IR_IP4, 32 } };
	static const struct fdef ip6[] = { { "version", IR_UINT, 4 }, { "tc", IR_UINT, 8 },
					   { "flow", IR_UINT, 20 },   { "len", IR_UINT, 16 },
					   { "next", IR_UINT, 8 },    { "hlim", IR_UINT, 8 },
					   { "src", IR_IP6, 128 },    { "dst", IR_IP6, 128 } };
	static const struct fdef ext[] = { { "next", IR_UINT, 8 }, { "hlen", IR_UINT, 8 } };
	static const struct fdef tcp[] = {
		{ "sport", IR_UINT, 16 }, { "dport", IR_UINT, 16 }, { "seq", IR_UINT, 32 },
		{ "ack_seq", IR_UINT, 32 }, { "doff", IR_UINT, 4 }, { "res", IR_UINT, 4 },
		{ "flags", IR_UINT, 8 }, { "window", IR_UINT, 16 }, { "csum", IR_UINT, 16 },
		{ "urgptr", IR_UINT, 16 } };
	static const struct fdef udp[] = { { "sport", IR_UINT, 16 }, { "dport", IR_UINT, 16 },
					   { "len", IR_UINT, 16 }, { "csum", IR_UINT, 16 } };
	static const struct fdef icmp[] = { { "type", IR_UINT, 8 }, { "code", IR_UINT, 8 },
					    { "csum", IR_UINT, 16 }, { "id", IR_UINT, 16 },
					    { "seq", IR_UINT, 16 } };
	static const struct fdef meta[] = { { "proto", IR_UINT, 8 } };
	def_header(H_ETH, "eth", eth, 3, false);
	def_header(H_VLAN, "vlan", vlan, 4, false);
	def_header(H_IP4, "ip4", ip4, 13, false);
	def_header(H_IP6, "ip6", ip6, 8, false);
	def_header(H_IP6EXT, "ip6ext", ext, 2, false);
	def_header(H_TCP, "tcp", tcp, 10, false);
	def_header(H_UDP, "udp", udp, 4, false);
	def_header(H_ICMP, "icmp", icmp, 5, false);
	def_header(H_META_IP, "ip", meta, 1, true);
	/* options: bytes((ihl - 5) * 4) max 40 */
	hdrs[H_IP4].var_size = v_bin(IB_MUL, v_bin(IB_SUB, v_field(H_IP4, IP4_IHL), v_const(8, 5), 32),
				     v_const(32, 4), 32);
	hdrs[H_IP4].var_max = 40;
	hdrs[H_TCP].var_size = v_bin(IB_MUL, v_bin(IB_SUB, v_field(H_TCP, TCP_DOFF), v_const(8, 5), 32),
				     v_const(32, 4), 32);
	hdrs[H_TCP].var_max = 40;
	/* data: bytes(hlen * 8 + 6) max 2046 */
	hdrs[H_IP6EXT].var_size = v_bin(IB_ADD, v_bin(IB_MUL, v_field(H_IP6EXT, EXT_HLEN), v_const(16, 8), 16),
					v_const(16, 6), 16);
	hdrs[H_IP6EXT].var_max = 2046;
}

static struct ir_state states[NSTATE];

static void define_states(void)
{
	const uint64_t v_vlan[] = { 0x8100, 0x88a8 }, v_ip4[] = { 0x0800 }, v_ip6[] = { 0x86dd };
	const uint64_t zero[] = { 0 }, p_tcp[] = { 6 }, p_udp[] = { 17 }, p_icmp[] = { 1 };
	const uint64_t p_ext[] = { 0, 43, 60 };
	/* 802.3 length field instead of an EtherType: reject (drop, uncounted) */
	struct ir_arm eth_arms[] = { arm_vals(S_VLAN, 2, v_vlan), arm_vals(S_IP4, 1, v_ip4),
				     arm_vals(S_IP6, 1, v_ip6), arm_range(IR_REJECT, 1, 0x5dc),
				     arm_default(IR_ACCEPT) };
	def_state(&states[S_ETH], "eth", H_ETH, 0, v_field(H_ETH, ETH_TYPE), 5, eth_arms, 5);
	/* vlan loop 2: QinQ, both tags in the same header slot (last wins) */
	struct ir_arm vlan_arms[] = { arm_vals(S_VLAN, 2, v_vlan), arm_vals(S_IP4, 1, v_ip4),
				      arm_vals(S_IP6, 1, v_ip6), arm_default(IR_ACCEPT) };
	def_state(&states[S_VLAN], "vlan", H_VLAN, 2, v_field(H_VLAN, VLAN_TYPE), 4, vlan_arms, 15);
	struct ir_arm ip4_arms[] = { arm_vals(S_IP4PAY, 1, zero), arm_default(IR_ACCEPT) };
	def_state(&states[S_IP4], "ip4", H_IP4, 0, v_field(H_IP4, IP4_FRAG), 2, ip4_arms, 40);
	set_meta(&states[S_IP4], v_field(H_IP4, IP4_PROTO));
	struct ir_arm pay_arms[] = { arm_vals(S_TCP, 1, p_tcp), arm_vals(S_UDP, 1, p_udp),
				     arm_vals(S_ICMP, 1, p_icmp), arm_default(IR_ACCEPT) };
	def_state(&states[S_IP4PAY], "ip4_payload", -1, 0, v_field(H_IP4, IP4_PROTO), 4, pay_arms, 49);
	struct ir_arm ip6_arms[] = { arm_vals(S_IP6EXT, 3, p_ext), arm_vals(S_TCP, 1, p_tcp),
				     arm_vals(S_UDP, 1, p_udp), arm_default(IR_ACCEPT) };
	def_state(&states[S_IP6], "ip6", H_IP6, 0, v_field(H_IP6, IP6_NEXT), 4, ip6_arms, 58);
	set_meta(&states[S_IP6], v_field(H_IP6, IP6_NEXT));
	def_state(&states[S_IP6EXT], "ip6ext", H_IP6EXT, 4, v_field(H_IP6EXT, EXT_NEXT), 4, ip6_arms, 72);
	set_meta(&states[S_IP6EXT], v_field(H_IP6EXT, EXT_NEXT));
	def_state(&states[S_TCP], "tcp", H_TCP, 0, NULL, 0, NULL, 110);
	def_state(&states[S_UDP], "udp", H_UDP, 0, NULL, 0, NULL, 111);
	def_state(&states[S_ICMP], "icmp", H_ICMP, 0, NULL, 0, NULL, 112);
}

/* ---------------------------------------------------------------- reference hash */

static uint32_t rotl32(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* MurmurHash3 x86_32, seed 0 (what IV_HASH promises). */
static uint32_t murmur3(const uint8_t *d, int len)
{
	uint32_t h = 0, k;
	int i = 0;
	for (; i + 4 <= len; i += 4) {
		memcpy(&k, d + i, 4);
		k *= 0xcc9e2d51u;
		k = rotl32(k, 15);
		k *= 0x1b873593u;
		h ^= k;
		h = rotl32(h, 13);
		h = h * 5 + 0xe6546b64u;
	}
	k = 0;
	switch (len & 3) {
	case 3: k ^= (uint32_t)d[i + 2] << 16; /* fall through */
	case 2: k ^= (uint32_t)d[i + 1] << 8; /* fall through */
	case 1:
		k ^= d[i];
		k *= 0xcc9e2d51u;
		k = rotl32(k, 15);
		k *= 0x1b873593u;
		h ^= k;
	}
	h ^= (uint32_t)len;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* ---------------------------------------------------------------- the policy */

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((c) << 8) | (d))

enum {
	R_BLOCKED, R_BLOCKED6, R_SYN, R_ADMIN, R_SSH, R_PORTS, R_WEIGHT, R_NOT80, R_NE, R_HASH,
	R_HASHMOD, R_ECHO, R_HLIM, R_GRE, R_V6TCP, R_V4OPT, R_ARR, R_BIG, R_V6PFX, NRULES
};
static int rule_line(int r)
{
	return 3 + 2 * r; /* rules on odd lines of policy.xdpl */
}

static struct ir_map *m_blocked, *m_admin, *m_weights, *m_blocked6, *m_arr;
static uint32_t hash_expect;
static uint32_t hashmod_expect;

static void add_rule(struct ir_rule *rules, int i, const char *name, struct ir_cond *c,
		     enum ir_verdict_kind v)
{
	rules[i].name = name;
	rules[i].index = i;
	rules[i].file = src_path;
	rules[i].line = rule_line(i);
	rules[i].cond = c;
	rules[i].verdict.kind = v;
}

static void define_maps(struct ir_program *p)
{
	static const enum ir_type t4[] = { IR_IP4 }, t6[] = { IR_IP6 }, t4p[] = { IR_IP4, IR_UINT },
				  tu16[] = { IR_UINT }, tu32[] = { IR_UINT };
	static const int b32[] = { 32 }, b128[] = { 128 }, b4p[] = { 32, 16 }, b16[] = { 16 };
	m_blocked = mk_map("blocked", IRM_LPM, true, 1, t4, b32, 8, IR_UINT, 8, 1, 1024);
	map_init(m_blocked, (const uint8_t[]){ 24, 0, 0, 0, 198, 51, 100, 0 }, (const uint8_t[]){ 1 });
	map_init(m_blocked, (const uint8_t[]){ 32, 0, 0, 0, 203, 0, 113, 7 }, (const uint8_t[]){ 1 });
	m_admin = mk_map("admin", IRM_HASH, true, 2, t4p, b4p, 6, IR_UINT, 8, 1, 64);
	map_init(m_admin, (const uint8_t[]){ 192, 0, 2, 10, 0, 22 }, (const uint8_t[]){ 1 });
	m_weights = mk_map("weights", IRM_HASH, false, 1, tu16, b16, 2, IR_UINT, 32, 4, 64);
	uint32_t w = 500;
	map_init(m_weights, (const uint8_t[]){ 0x1f, 0x90 }, (const uint8_t *)&w); /* 8080 */
	m_blocked6 = mk_map("blocked6", IRM_LPM, true, 1, t6, b128, 20, IR_UINT, 8, 1, 64);
	map_init(m_blocked6, (const uint8_t[]){ 32, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
		 (const uint8_t[]){ 1 });
	m_arr = mk_map("arr", IRM_ARRAY, false, 1, tu32, b32, 4, IR_UINT, 64, 8, 4);
	uint64_t seventy7 = 77;
	map_init(m_arr, (const uint8_t[]){ 1, 0, 0, 0 }, (const uint8_t *)&seventy7);
	p->nmaps = 5;
	p->maps = arena_alloc(&A, sizeof(*p->maps) * 5);
	p->maps[0] = m_blocked;
	p->maps[1] = m_admin;
	p->maps[2] = m_weights;
	p->maps[3] = m_blocked6;
	p->maps[4] = m_arr;
}

static struct ir_val *l4_dport(void)
{
	return v_multi(IV_COALESCE, IR_UINT, 16, NULL, 2, v_field(H_TCP, TCP_DPORT),
		       v_field(H_UDP, UDP_DPORT));
}

static struct ir_program *build_policy(void)
{
	struct ir_program *p = NEW(&A, struct ir_program);
	p->name = "cgtest";
	p->source_path = src_path;
	p->source_dir = tmpdir;
	p->headers = hdrs;
	p->nheaders = NHDR;
	p->states = states;
	p->nstates = NSTATE;
	p->start_state = S_ETH;
	define_maps(p);
	struct ir_rule *r = arena_alloc(&A, sizeof(*r) * NRULES);
	struct ir_val *src4 = v_field(H_IP4, IP4_SRC);
	add_rule(r, R_BLOCKED, "drop_blocked", c_in(m_blocked, 1, src4), IRV_DROP);
	add_rule(r, R_BLOCKED6, "drop_blocked6", c_in(m_blocked6, 1, v_field(H_IP6, IP6_SRC)), IRV_DROP);
	/* tcp.flags & 0x12 == 0x02 (syn without ack), on its own line */
	struct ir_cond *syn = c_cmp(ICMP_EQ, v_bin(IB_AND, v_field(H_TCP, TCP_FLAGS), v_const(8, 0x12), 8),
				    v_const(8, 0x02));
	syn->line = rule_line(R_SYN) + 1;
	add_rule(r, R_SYN, "count_syn", syn, IRV_CONTINUE);
	add_rule(r, R_ADMIN, "admin_ok", c_in(m_admin, 2, src4, v_field(H_TCP, TCP_DPORT)), IRV_PASS);
	add_rule(r, R_SSH, "ssh_block",
		 c_kids(IC_AND, 2, c_cmp(ICMP_EQ, v_field(H_TCP, TCP_DPORT), v_const(16, 22)),
			c_not(c_prefix(src4, 0, IP4(10, 0, 0, 0), 8))),
		 IRV_DROP);
	add_rule(r, R_PORTS, "ports", c_range(l4_dport(), 1000, 2000), IRV_ABORT);
	add_rule(r, R_WEIGHT, "weight",
		 c_cmp(ICMP_GT, v_multi(IV_MAP_READ, IR_UINT, 32, m_weights, 1, l4_dport()),
		       v_const(32, 100)),
		 IRV_TX);
	/* not tcp.dport == 80 and ip4.ttl == 99: true for UDP (absent tcp) */
	add_rule(r, R_NOT80, "not80",
		 c_kids(IC_AND, 2, c_not(c_cmp(ICMP_EQ, v_field(H_TCP, TCP_DPORT), v_const(16, 80))),
			c_cmp(ICMP_EQ, v_field(H_IP4, IP4_TTL), v_const(8, 99))),
		 IRV_DROP);
	/* udp.dport != 53 and ip4.ttl == 98: false for TCP (absent udp) */
	add_rule(r, R_NE, "ne53",
		 c_kids(IC_AND, 2, c_cmp(ICMP_NE, v_field(H_UDP, UDP_DPORT), v_const(16, 53)),
			c_cmp(ICMP_EQ, v_field(H_IP4, IP4_TTL), v_const(8, 98))),
		 IRV_DROP);
	/* hash(ip4.src, udp.dport) == H: 6 bytes (a block and a 2-byte tail) */
	uint8_t hk[6] = { 192, 0, 2, 77, 0x30, 0x39 }; /* 192.0.2.77, 12345 */
	hash_expect = murmur3(hk, 6);
	add_rule(r, R_HASH, "hashed",
		 c_cmp(ICMP_EQ, v_multi(IV_HASH, IR_UINT, 32, NULL, 2, v_field(H_IP4, IP4_SRC), v_field(H_UDP, UDP_DPORT)),
		       v_const(32, hash_expect)),
		 IRV_TX);
	/* hash(ip4.dst) % 7 == H % 7 and udp.sport == 4242 (4-byte key, no tail) */
	uint8_t hk2[4] = { 198, 18, 0, 1 };
	hashmod_expect = murmur3(hk2, 4) % 7;
	add_rule(r, R_HASHMOD, "hashmod",
		 c_kids(IC_AND, 2, c_cmp(ICMP_EQ, v_field(H_UDP, UDP_SPORT), v_const(16, 4242)),
			c_cmp(ICMP_EQ, v_bin(IB_MOD, v_multi(IV_HASH, IR_UINT, 32, NULL, 1, v_field(H_IP4, IP4_DST)), v_const(32, 7), 32),
			      v_const(32, hashmod_expect))),
		 IRV_DROP);
	add_rule(r, R_ECHO, "echo",
		 c_kids(IC_OR, 2, c_cmp(ICMP_EQ, v_field(H_ICMP, ICMP_TYPE), v_const(8, 8)),
			c_cmp(ICMP_EQ, v_field(H_ICMP, ICMP_TYPE), v_const(8, 13))),
		 IRV_PASS);
	add_rule(r, R_HLIM, "hlim", c_cmp(ICMP_LT, v_field(H_IP6, IP6_HLIM), v_const(8, 2)), IRV_DROP);
	add_rule(r, R_GRE, "gre", c_cmp(ICMP_EQ, v_field(H_META_IP, 0), v_const(8, 47)), IRV_DROP);
	add_rule(r, R_V6TCP, "v6tcp",
		 c_kids(IC_AND, 2, c_present(H_IP6), c_cmp(ICMP_EQ, v_field(H_TCP, TCP_DPORT), v_const(16, 8443))),
		 IRV_TX);
	add_rule(r, R_V4OPT, "v4opt", c_cmp(ICMP_EQ, v_field(H_TCP, TCP_SPORT), v_const(16, 4444)), IRV_TX);
	struct ir_val *k1 = v_const(32, 1);
	add_rule(r, R_ARR, "arr_rule",
		 c_kids(IC_AND, 2, c_cmp(ICMP_EQ, v_field(H_UDP, UDP_DPORT), v_const(16, 7777)),
			c_cmp(ICMP_EQ, v_multi(IV_MAP_READ, IR_UINT, 64, m_arr, 1, k1), v_const(64, 77))),
		 IRV_DROP);
	add_rule(r, R_BIG, "big", c_cmp(ICMP_GT, v_pkt(IR_PKT_LEN, 32), v_const(32, 1000)), IRV_DROP);
	/* ip6.src in fd00::/8 and ip6.dst == ::1: 128-bit prefix and compare */
	struct ir_val *lo1 = v_const(128, 0);
	lo1->type = IR_IP6;
	lo1->c128.lo = 1;
	add_rule(r, R_V6PFX, "v6pfx",
		 c_kids(IC_AND, 2, c_prefix(v_field(H_IP6, IP6_SRC), 0xfd00000000000000ull, 0, 8),
			c_cmp(ICMP_EQ, v_field(H_IP6, IP6_DST), lo1)),
		 IRV_DROP);
	p->rules = r;
	p->nrules = NRULES;
	p->default_verdict.kind = IRV_PASS;
	p->default_line = rule_line(NRULES);
	return p;
}

/* ---------------------------------------------------------------- packets */

struct pkt {
	uint8_t b[1600];
	int n;
};

static uint8_t *put(struct pkt *p, int n)
{
	uint8_t *d = p->b + p->n;
	memset(d, 0, (size_t)n);
	p->n += n;
	return d;
}

static void put16(uint8_t *d, uint16_t v)
{
	d[0] = (uint8_t)(v >> 8);
	d[1] = (uint8_t)v;
}

static void put32(uint8_t *d, uint32_t v)
{
	put16(d, (uint16_t)(v >> 16));
	put16(d + 2, (uint16_t)v);
}

static void p_eth(struct pkt *p, uint16_t type)
{
	uint8_t *d = put(p, 14);
	memcpy(d, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	put16(d + 12, type);
}

static void p_vlan(struct pkt *p, uint16_t id, uint16_t type)
{
	uint8_t *d = put(p, 4);
	put16(d, id);
	put16(d + 2, type);
}

static void p_ip4(struct pkt *p, uint32_t src, uint32_t dst, uint8_t proto, uint8_t ttl, int ihl)
{
	uint8_t *d = put(p, ihl * 4 > 20 ? ihl * 4 : 20);
	d[0] = (uint8_t)(0x40 | ihl);
	d[8] = ttl;
	d[9] = proto;
	put32(d + 12, src);
	put32(d + 16, dst);
}

static void p_ip6(struct pkt *p, const uint8_t *src, uint8_t next, uint8_t hlim)
{
	uint8_t *d = put(p, 40);
	d[0] = 0x60;
	d[6] = next;
	d[7] = hlim;
	memcpy(d + 8, src, 16);
	d[39] = 1;
}

static void p_ext(struct pkt *p, uint8_t next, uint8_t hlen)
{
	uint8_t *d = put(p, (hlen + 1) * 8);
	d[0] = next;
	d[1] = hlen;
}

static void p_tcp(struct pkt *p, uint16_t sport, uint16_t dport, uint8_t flags)
{
	uint8_t *d = put(p, 20);
	put16(d, sport);
	put16(d + 2, dport);
	d[12] = 0x50;
	d[13] = flags;
}

static void p_udp(struct pkt *p, uint16_t sport, uint16_t dport)
{
	uint8_t *d = put(p, 8);
	put16(d, sport);
	put16(d + 2, dport);
}

static void p_icmp(struct pkt *p, uint8_t type)
{
	uint8_t *d = put(p, 8);
	d[0] = type;
}

static void p_pad(struct pkt *p, int n)
{
	put(p, n);
}

/* ---------------------------------------------------------------- kernel runs */

static int ncpus;
static struct xdpl_counter expect[NRULES + 1];

static int read_counters(int fd, int nslots, struct xdpl_counter *out)
{
	struct xdpl_counter *per = calloc((size_t)ncpus, sizeof(*per));
	if (!per)
		return -1;
	for (int s = 0; s < nslots; s++) {
		uint32_t key = (uint32_t)s;
		out[s].packets = out[s].bytes = 0;
		if (bpf_map_lookup_elem(fd, &key, per)) {
			free(per);
			return -1;
		}
		for (int c = 0; c < ncpus; c++) {
			out[s].packets += per[c].packets;
			out[s].bytes += per[c].bytes;
		}
	}
	free(per);
	return 0;
}

static const char *act_name(int a)
{
	static const char *const n[] = { "aborted", "drop", "pass", "tx", "redirect" };
	return a >= 0 && a <= 4 ? n[a] : "?";
}

/* Run one packet; `slots` lists the counter slots that must move (-1 ends;
 * none for `reject`). */
static void run(int prog, int stats, const char *what, struct pkt *p, int want, const int *slots)
{
	uint8_t out[1700];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->n,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	int err = bpf_prog_test_run_opts(prog, &o);
	CHECK(!err, "%s: test run failed: %s", what, strerror(errno));
	if (err)
		return;
	CHECK((int)o.retval == want, "%s: verdict %s, want %s", what, act_name((int)o.retval),
	      act_name(want));
	for (const int *s = slots; *s >= 0; s++) {
		expect[*s].packets++;
		expect[*s].bytes += (uint64_t)p->n;
	}
	struct xdpl_counter got[NRULES + 1];
	if (read_counters(stats, NRULES + 1, got)) {
		CHECK(0, "%s: reading counters: %s", what, strerror(errno));
		return;
	}
	for (int s = 0; s <= NRULES; s++) {
		CHECK(got[s].packets == expect[s].packets && got[s].bytes == expect[s].bytes,
		      "%s: slot %d counts %llu pkts/%llu bytes, want %llu/%llu", what, s,
		      (unsigned long long)got[s].packets, (unsigned long long)got[s].bytes,
		      (unsigned long long)expect[s].packets, (unsigned long long)expect[s].bytes);
		expect[s] = got[s]; /* report each divergence once */
	}
}

#define SLOTS(...) ((const int[]){ __VA_ARGS__, -1 })
#define NONE ((const int[]){ -1 })
enum { XDP_ABORTED_ = 0, XDP_DROP_ = 1, XDP_PASS_ = 2, XDP_TX_ = 3 };

static const uint8_t v6_doc[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t v6_other[16] = { 0x20, 0x01, 0x0d, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
static const uint8_t v6_ula[16] = { 0xfd, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 };
static const uint8_t v6_ula2[16] = { 0xfc, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 };

static void run_packets(int prog, int stats)
{
	struct pkt p;
	const int D = NRULES; /* the default's slot */
#define NEWP() memset(&p, 0, sizeof(p))
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(198, 51, 100, 9), IP4(192, 0, 2, 1), 17, 64, 5); p_udp(&p, 1, 53);
	run(prog, stats, "blocked /24", &p, XDP_DROP_, SLOTS(R_BLOCKED));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(203, 0, 113, 7), IP4(192, 0, 2, 1), 6, 64, 5); p_tcp(&p, 1, 80, 0x10);
	run(prog, stats, "blocked /32", &p, XDP_DROP_, SLOTS(R_BLOCKED));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(203, 0, 113, 8), IP4(192, 0, 2, 1), 6, 64, 5); p_tcp(&p, 1, 80, 0x10);
	run(prog, stats, "next to /32", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x8100); p_vlan(&p, 5, 0x0800); p_ip4(&p, IP4(198, 51, 100, 1), 1, 17, 64, 5); p_udp(&p, 1, 53);
	run(prog, stats, "vlan blocked", &p, XDP_DROP_, SLOTS(R_BLOCKED));
	NEWP(); p_eth(&p, 0x88a8); p_vlan(&p, 5, 0x8100); p_vlan(&p, 6, 0x0800); p_ip4(&p, IP4(198, 51, 100, 1), 1, 17, 64, 5); p_udp(&p, 1, 53);
	run(prog, stats, "qinq blocked", &p, XDP_DROP_, SLOTS(R_BLOCKED));
	NEWP(); p_eth(&p, 0x8100); p_vlan(&p, 5, 0x8100); p_vlan(&p, 6, 0x8100); p_vlan(&p, 7, 0x0800);
	p_ip4(&p, IP4(198, 51, 100, 1), 1, 17, 64, 5); p_udp(&p, 1, 53);
	run(prog, stats, "3 vlan tags: loop 2 stops parsing", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x86dd); p_ip6(&p, v6_doc, 6, 64); p_tcp(&p, 1, 80, 0x10);
	run(prog, stats, "ip6 blocked", &p, XDP_DROP_, SLOTS(R_BLOCKED6));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 10), 1, 6, 64, 5); p_tcp(&p, 1000, 22, 0x02);
	run(prog, stats, "syn from admin", &p, XDP_PASS_, SLOTS(R_SYN, R_ADMIN));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 11), 1, 6, 64, 5); p_tcp(&p, 1000, 22, 0x10);
	run(prog, stats, "ssh from outside", &p, XDP_DROP_, SLOTS(R_SSH));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(10, 1, 2, 3), 1, 6, 64, 5); p_tcp(&p, 1000, 22, 0x12);
	run(prog, stats, "ssh from 10/8", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 17, 64, 5); p_udp(&p, 1, 1500);
	run(prog, stats, "udp port range", &p, XDP_ABORTED_, SLOTS(R_PORTS));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 6, 64, 5); p_tcp(&p, 1, 2000, 0x10);
	run(prog, stats, "tcp port range end", &p, XDP_ABORTED_, SLOTS(R_PORTS));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 6, 64, 5); p_tcp(&p, 1, 8080, 0x10);
	run(prog, stats, "map read hit", &p, XDP_TX_, SLOTS(R_WEIGHT));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 6, 64, 5); p_tcp(&p, 1, 8081, 0x10);
	run(prog, stats, "map read miss", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 17, 99, 5); p_udp(&p, 1, 53);
	run(prog, stats, "not tcp.dport==80 on udp", &p, XDP_DROP_, SLOTS(R_NOT80));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 6, 99, 5); p_tcp(&p, 1, 80, 0x10);
	run(prog, stats, "not tcp.dport==80 on tcp 80", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 6, 98, 5); p_tcp(&p, 1, 80, 0x10);
	run(prog, stats, "udp.dport != 53 on tcp", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 17, 98, 5); p_udp(&p, 1, 54);
	run(prog, stats, "udp.dport != 53 on udp 54", &p, XDP_DROP_, SLOTS(R_NE));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 17, 98, 5); p_udp(&p, 1, 53);
	run(prog, stats, "udp.dport != 53 on udp 53", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 77), 1, 17, 64, 5); p_udp(&p, 1, 12345);
	run(prog, stats, "hash match", &p, XDP_TX_, SLOTS(R_HASH));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 78), 1, 17, 64, 5); p_udp(&p, 1, 12345);
	run(prog, stats, "hash mismatch", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 78), IP4(198, 18, 0, 1), 17, 64, 5); p_udp(&p, 4242, 12346);
	run(prog, stats, "hash % 7", &p, XDP_DROP_, SLOTS(R_HASHMOD));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 1, 64, 5); p_icmp(&p, 8);
	run(prog, stats, "icmp echo", &p, XDP_PASS_, SLOTS(R_ECHO));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 1, 64, 5); p_icmp(&p, 13);
	run(prog, stats, "icmp timestamp", &p, XDP_PASS_, SLOTS(R_ECHO));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 1, 64, 5); p_icmp(&p, 0);
	run(prog, stats, "icmp reply", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x86dd); p_ip6(&p, v6_other, 17, 1); p_udp(&p, 1, 53);
	run(prog, stats, "ip6 hlim 1", &p, XDP_DROP_, SLOTS(R_HLIM));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 47, 64, 5); p_pad(&p, 8);
	run(prog, stats, "ip4 gre via meta", &p, XDP_DROP_, SLOTS(R_GRE));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 47, 64, 4); p_pad(&p, 8);
	run(prog, stats, "ip4 ihl 4 is malformed: no meta", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 47, 64, 15);
	p.n -= 4;
	run(prog, stats, "ip4 options past the end", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x86dd); p_ip6(&p, v6_other, 0, 64); p_ext(&p, 47, 0); p_pad(&p, 8);
	run(prog, stats, "ip6 ext -> gre via meta", &p, XDP_DROP_, SLOTS(R_GRE));
	NEWP(); p_eth(&p, 0x86dd); p_ip6(&p, v6_other, 0, 64); p_ext(&p, 6, 1); p_tcp(&p, 1, 8443, 0x10);
	run(prog, stats, "ip6 ext(16) tcp", &p, XDP_TX_, SLOTS(R_V6TCP));
	NEWP(); p_eth(&p, 0x86dd); p_ip6(&p, v6_other, 0, 64);
	p_ext(&p, 43, 0); p_ext(&p, 60, 2); p_ext(&p, 0, 0); p_ext(&p, 6, 0); p_tcp(&p, 1, 8443, 0x10);
	run(prog, stats, "ip6 4 ext tcp", &p, XDP_TX_, SLOTS(R_V6TCP));
	NEWP(); p_eth(&p, 0x86dd); p_ip6(&p, v6_other, 0, 64);
	p_ext(&p, 43, 0); p_ext(&p, 60, 0); p_ext(&p, 0, 0); p_ext(&p, 0, 0); p_ext(&p, 6, 0); p_tcp(&p, 1, 8443, 0x10);
	run(prog, stats, "ip6 5 ext: loop 4 stops", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x86dd); p_ip6(&p, v6_other, 0, 64); p_ext(&p, 6, 100); p.n -= 100;
	run(prog, stats, "ip6 ext past the end", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 6, 64, 6); p_tcp(&p, 4444, 1, 0x10);
	run(prog, stats, "tcp after ip4 options", &p, XDP_TX_, SLOTS(R_V4OPT));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 6, 64, 5); p_tcp(&p, 4444, 1, 0x10);
	p.b[14 + 20 + 12] = 0xf0; /* doff 15: options past the end */
	run(prog, stats, "tcp malformed", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 17, 64, 5); p_udp(&p, 1, 7777);
	run(prog, stats, "array map read", &p, XDP_DROP_, SLOTS(R_ARR));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 17, 64, 5); p_udp(&p, 1, 53); p_pad(&p, 1100);
	run(prog, stats, "pkt.len > 1000", &p, XDP_DROP_, SLOTS(R_BIG));
	NEWP(); p_eth(&p, 0x86dd); p_ip6(&p, v6_ula, 59, 64);
	run(prog, stats, "ip6 fd00::/8 to ::1", &p, XDP_DROP_, SLOTS(R_V6PFX));
	NEWP(); p_eth(&p, 0x86dd); p_ip6(&p, v6_ula, 59, 64); p.b[14 + 39] = 2;
	run(prog, stats, "ip6 fd00::/8 to ::2", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x86dd); p_ip6(&p, v6_ula2, 59, 64);
	run(prog, stats, "ip6 fc00::/8 to ::1", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_pad(&p, 10);
	run(prog, stats, "truncated ip4", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0800); p_ip4(&p, IP4(192, 0, 2, 1), 1, 6, 64, 5); p_pad(&p, 10);
	run(prog, stats, "truncated tcp", &p, XDP_PASS_, SLOTS(D));
	NEWP(); p_eth(&p, 0x0100); p_pad(&p, 50);
	run(prog, stats, "802.3 length: reject", &p, XDP_DROP_, NONE);
	NEWP(); p_eth(&p, 0x9000); p_pad(&p, 50);
	run(prog, stats, "unknown ethertype", &p, XDP_PASS_, SLOTS(D));
#undef NEWP
}

/* ---------------------------------------------------------------- object checks */

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void fill_init(struct bpf_object *obj, const struct ir_map *m)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, m->name);
	CHECK(map, "map %s not in the object", m->name);
	if (!map)
		return;
	for (int i = 0; i < m->ninit; i++)
		CHECK(!bpf_map_update_elem(bpf_map__fd(map), m->init[i].key, m->init[i].value, BPF_ANY),
		      "init element %d of %s: %s", i, m->name, strerror(errno));
}

static void check_map_shape(struct bpf_object *obj, const char *name, enum bpf_map_type type,
			    unsigned key, unsigned value, unsigned max, unsigned flags)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	CHECK(m, "no map %s", name);
	if (!m)
		return;
	CHECK(bpf_map__type(m) == type, "%s: type %d want %d", name, bpf_map__type(m), type);
	CHECK(bpf_map__key_size(m) == key, "%s: key size %u want %u", name, bpf_map__key_size(m), key);
	CHECK(bpf_map__value_size(m) == value, "%s: value size %u want %u", name,
	      bpf_map__value_size(m), value);
	CHECK(bpf_map__max_entries(m) == max, "%s: max_entries %u want %u", name,
	      bpf_map__max_entries(m), max);
	CHECK(bpf_map__map_flags(m) == flags, "%s: flags %u want %u", name, bpf_map__map_flags(m), flags);
	/* libbpf drops key/value BTF where the kernel refuses it */
	bool btf_kv = type != BPF_MAP_TYPE_DEVMAP && type != BPF_MAP_TYPE_CPUMAP &&
		      type != BPF_MAP_TYPE_XSKMAP;
	CHECK(!btf_kv || (bpf_map__btf_key_type_id(m) != 0 && bpf_map__btf_value_type_id(m) != 0),
	      "%s: no BTF key/value types", name);
}

static void check_meta(const void *obj, size_t len)
{
	const char *m = memmem(obj, len, "xdpl-meta 1\n", 12);
	CHECK(m, "no .xdpl.meta text in the object");
	if (!m)
		return;
	char want[512];
	snprintf(want, sizeof(want), "xdpl-meta 1\nprogram cgtest\nsource %s\nrule 0 drop_blocked %d drop\n",
		 src_path, rule_line(0));
	CHECK(!strncmp(m, want, strlen(want)), "meta starts\n%.300s\nwant\n%s", m, want);
	char dflt[64];
	snprintf(dflt, sizeof(dflt), "default %d pass %d\n", NRULES, rule_line(NRULES));
	const char *recs[] = { "frags\n", "rule 2 count_syn 7 continue\n", "rule 5 ports 13 abort\n",
			       "rule 6 weight 15 tx\n", dflt, "map blocked set_lpm ip4 -\n",
			       "init blocked 18000000c6336400 01\n", "init blocked 20000000cb007107 01\n",
			       "map admin set_hash ip4,u16 -\n", "init admin c000020a0016 01\n",
			       "map weights hash u16 u32\n", "init weights 1f90 f4010000\n",
			       "map blocked6 set_lpm ip6 -\n", "map arr array - u64\n",
			       "init arr 01000000 4d00000000000000\n" };
	for (size_t i = 0; i < sizeof(recs) / sizeof(*recs); i++)
		CHECK(strstr(m, recs[i]), "meta lacks record %s", recs[i]);
}

static int write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = fwrite(buf, 1, len, f);
	return fclose(f) || n != len ? -1 : 0;
}

static bool mounted_bpffs;

static void ensure_bpffs(void)
{
	struct statfs st;
	if (!statfs("/sys/fs/bpf", &st) && st.f_type == 0xcafe4a11)
		return;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL) == 0)
		mounted_bpffs = true;
	else
		fprintf(stderr, "note: cannot mount bpffs: %s\n", strerror(errno));
}

/* bpftool loads the object on its own and its linum dump names the .xdpl
 * file and the line of every rule. */
static void check_bpftool(const char *obj_path)
{
	char pin[96], cmd[512];
	snprintf(pin, sizeof(pin), "/sys/fs/bpf/xdpl_cgtest_%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "bpftool prog load %s %s 2>&1", obj_path, pin);
	FILE *f = popen(cmd, "r");
	char line[512];
	char *dump = NULL;
	size_t dlen = 0;
	while (f && fgets(line, sizeof(line), f))
		fprintf(stderr, "bpftool: %s", line);
	int rc = f ? pclose(f) : -1;
	CHECK(rc == 0, "bpftool prog load failed (%d)", rc);
	if (rc)
		return;
	snprintf(cmd, sizeof(cmd), "bpftool prog dump xlated pinned %s linum 2>&1", pin);
	f = popen(cmd, "r");
	FILE *mem = open_memstream(&dump, &dlen);
	while (f && mem && fgets(line, sizeof(line), f))
		fputs(line, mem);
	if (f)
		pclose(f);
	if (mem)
		fclose(mem);
	unlink(pin);
	CHECK(dump && dlen > 0, "no bpftool dump");
	if (!dump)
		return;
	char want[256];
	snprintf(want, sizeof(want), "file:%s line_num:", src_path);
	CHECK(strstr(dump, want), "linum dump does not name %s", src_path);
	CHECK(strstr(dump, "file:<stdlib>/parse.xdpl line_num:"), "linum dump lacks the stdlib file");
	int missing = 0;
	for (int r = 0; r < NRULES; r++) {
		snprintf(want, sizeof(want), "file:%s line_num:%d ", src_path, rule_line(r));
		if (!strstr(dump, want)) {
			fprintf(stderr, "note: no line info for rule %d (line %d)\n", r, rule_line(r));
			missing++;
		}
	}
	CHECK(missing == 0, "%d rules without line info", missing);
	if (getenv("XDPL_CG_DUMP"))
		fputs(dump, stderr);
	free(dump);
}

static void report_size(int prog)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog, &info, &len)) {
		CHECK(0, "prog info: %s", strerror(errno));
		return;
	}
	printf("policy: %d rules, xlated %u insns, jited %u bytes, verified %u insns\n", NRULES,
	       info.xlated_prog_len / 8, info.jited_prog_len, info.verified_insns);
}

static void test_policy(void)
{
	struct ir_program *p = build_policy();
	struct codegen_opts o = { CODEGEN_OBJ, 0, CODEGEN_RULES_AUTO };
	void *obj = NULL;
	size_t len = 0;
	CHECK(codegen_emit(p, &o, &obj, &len) == 0, "codegen_emit failed");
	if (!obj)
		return;
	check_meta(obj, len);
	char obj_path[128];
	snprintf(obj_path, sizeof(obj_path), "%s/policy.o", tmpdir);
	CHECK(!write_file(obj_path, obj, len), "writing %s", obj_path);

	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "cgtest");
	struct bpf_object *bo = bpf_object__open_mem(obj, len, &oo);
	CHECK(bo, "bpf_object__open_mem: %s", strerror(errno));
	if (bo) {
		struct bpf_program *prog = bpf_object__find_program_by_name(bo, "cgtest");
		CHECK(prog, "no program named cgtest");
		if (prog)
			CHECK(!strcmp(bpf_program__section_name(prog), "xdp"), "section %s",
			      bpf_program__section_name(prog));
		int err = bpf_object__load(bo);
		CHECK(!err, "bpf_object__load: %d (verifier log above)", err);
		if (!err && prog) {
			check_map_shape(bo, "blocked", BPF_MAP_TYPE_LPM_TRIE, 8, 1, 1024, 1);
			check_map_shape(bo, "admin", BPF_MAP_TYPE_HASH, 6, 1, 64, 0);
			check_map_shape(bo, "weights", BPF_MAP_TYPE_HASH, 2, 4, 64, 0);
			check_map_shape(bo, "blocked6", BPF_MAP_TYPE_LPM_TRIE, 20, 1, 64, 1);
			check_map_shape(bo, "arr", BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0);
			check_map_shape(bo, XDPL_STATS_MAP, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 16, NRULES + 1, 0);
			for (int i = 0; i < p->nmaps; i++)
				fill_init(bo, p->maps[i]);
			report_size(bpf_program__fd(prog));
			struct bpf_map *st = bpf_object__find_map_by_name(bo, XDPL_STATS_MAP);
			if (st)
				run_packets(bpf_program__fd(prog), bpf_map__fd(st));
		}
		bpf_object__close(bo);
	}
	check_bpftool(obj_path);
	if (getenv("XDPL_CG_KEEP")) /* for inspection: readelf, bpftool btf dump */
		CHECK(!write_file(getenv("XDPL_CG_KEEP"), obj, len), "writing XDPL_CG_KEEP");
	unlink(obj_path);
	free(obj);

	/* the textual outputs */
	o.emit = CODEGEN_LLVM;
	CHECK(codegen_emit(p, &o, &obj, &len) == 0, "emit llvm failed");
	CHECK(obj && strstr(obj, "define") && strstr(obj, "section \"xdp\""), "llvm text lacks the function");
	free(obj);
	o.emit = CODEGEN_ASM;
	CHECK(codegen_emit(p, &o, &obj, &len) == 0, "emit asm failed");
	CHECK(obj && strstr(obj, "cgtest:"), "asm text lacks the function label");
	free(obj);
}

/* A program without a parser: rules on pkt.* only. */
static void test_no_parser(void)
{
	struct ir_program *p = NEW(&A, struct ir_program);
	p->name = "no-parser"; /* not an identifier: the function is xdpl_prog */
	p->source_path = src_path;
	p->start_state = IR_ACCEPT;
	struct ir_rule *r = arena_alloc(&A, sizeof(*r) * 2);
	r[0].name = "lo";
	r[0].index = 0;
	r[0].file = src_path;
	r[0].line = 3;
	/* test runs without a ctx come from lo (ifindex 1), queue 0 */
	r[0].cond = c_kids(IC_AND, 3, c_cmp(ICMP_EQ, v_pkt(IR_PKT_IFINDEX, 32), v_const(32, 1)),
			   c_cmp(ICMP_EQ, v_pkt(IR_PKT_RXQ, 32), v_const(32, 0)),
			   c_cmp(ICMP_EQ, v_pkt(IR_PKT_LEN, 32), v_const(32, 80)));
	r[0].verdict.kind = IRV_TX;
	r[1].name = "small";
	r[1].index = 1;
	r[1].file = src_path;
	r[1].line = 5;
	r[1].cond = c_cmp(ICMP_LT, v_pkt(IR_PKT_LEN, 32), v_const(32, 64));
	r[1].verdict.kind = IRV_DROP;
	p->rules = r;
	p->nrules = 2;
	p->default_verdict.kind = IRV_ABORT;
	void *obj = NULL;
	size_t len = 0;
	CHECK(codegen_emit(p, NULL, &obj, &len) == 0, "codegen_emit (no parser) failed");
	if (!obj)
		return;
	struct bpf_object *bo = bpf_object__open_mem(obj, len, NULL);
	CHECK(bo, "open (no parser)");
	if (bo && !bpf_object__load(bo)) {
		struct bpf_program *prog = bpf_object__find_program_by_name(bo, "xdpl_prog");
		CHECK(prog, "no program xdpl_prog");
		uint8_t pkt[100] = { 0 };
		struct xdp_md_ { uint32_t data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; } ctx = { 0 };
		ctx.data_end = 80;
		ctx.ingress_ifindex = 1;
		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = 80, .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);
		if (prog) {
			CHECK(!bpf_prog_test_run_opts(bpf_program__fd(prog), &t), "run: %s", strerror(errno));
			CHECK(t.retval == XDP_TX_, "ifindex rule: %u", t.retval);
			LIBBPF_OPTS(bpf_test_run_opts, t2, .data_in = pkt, .data_size_in = 40, .repeat = 1);
			CHECK(!bpf_prog_test_run_opts(bpf_program__fd(prog), &t2), "run: %s", strerror(errno));
			CHECK(t2.retval == XDP_DROP_, "len rule: %u", t2.retval);
			LIBBPF_OPTS(bpf_test_run_opts, t3, .data_in = pkt, .data_size_in = 90, .repeat = 1);
			CHECK(!bpf_prog_test_run_opts(bpf_program__fd(prog), &t3), "run: %s", strerror(errno));
			CHECK(t3.retval == XDP_ABORTED_, "default: %u", t3.retval);
		}
	} else {
		CHECK(0, "load (no parser) failed");
	}
	bpf_object__close(bo);
	free(obj);
}

/* Many rules of mixed shapes: the verifier must still accept the program
 * (its work grows with parse outcomes x rules). */
static void test_many_rules(int n)
{
	struct ir_program *p = NEW(&A, struct ir_program);
	p->name = "many";
	p->source_path = src_path;
	p->headers = hdrs;
	p->nheaders = NHDR;
	p->states = states;
	p->nstates = NSTATE;
	p->start_state = S_ETH;
	define_maps(p);
	struct ir_rule *r = arena_alloc(&A, sizeof(*r) * (size_t)n);
	for (int i = 0; i < n; i++) {
		struct ir_cond *c;
		switch (i % 5) {
		case 0:
			c = c_kids(IC_AND, 2, c_cmp(ICMP_EQ, v_field(H_TCP, TCP_DPORT), v_const(16, (uint64_t)(10000 + i))),
				   c_prefix(v_field(H_IP4, IP4_SRC), 0, IP4(10, i & 255, 0, 0), 16));
			break;
		case 1:
			c = c_range(l4_dport(), (uint64_t)(20000 + i), (uint64_t)(20000 + i + 3));
			break;
		case 2:
			c = c_kids(IC_OR, 2, c_cmp(ICMP_EQ, v_field(H_UDP, UDP_SPORT), v_const(16, (uint64_t)(30000 + i))),
				   c_cmp(ICMP_EQ, v_field(H_META_IP, 0), v_const(8, (uint64_t)(100 + i % 100))));
			break;
		case 3:
			c = c_kids(IC_AND, 2, c_not(c_present(H_TCP)),
				   c_cmp(ICMP_EQ, v_field(H_IP6, IP6_HLIM), v_const(8, (uint64_t)(i & 255))));
			break;
		default:
			c = c_kids(IC_AND, 2, c_cmp(ICMP_EQ, v_field(H_TCP, TCP_SPORT), v_const(16, (uint64_t)(40000 + i))),
				   c_in(m_admin, 2, v_field(H_IP4, IP4_SRC), v_field(H_TCP, TCP_DPORT)));
			break;
		}
		r[i].name = "r";
		r[i].index = i;
		r[i].file = src_path;
		r[i].line = 3;
		r[i].cond = c;
		r[i].verdict.kind = i % 7 == 0 ? IRV_CONTINUE : IRV_DROP;
	}
	p->rules = r;
	p->nrules = n;
	p->default_verdict.kind = IRV_PASS;
	void *obj = NULL;
	size_t len = 0;
	CHECK(codegen_emit(p, NULL, &obj, &len) == 0, "codegen_emit (%d rules) failed", n);
	if (!obj)
		return;
	struct bpf_object *bo = bpf_object__open_mem(obj, len, NULL);
	CHECK(bo, "open (%d rules)", n);
	int err = bo ? bpf_object__load(bo) : -1;
	CHECK(!err, "load (%d rules) failed: %d", n, err);
	if (!err) {
		struct bpf_program *prog = bpf_object__find_program_by_name(bo, "many");
		struct bpf_prog_info info;
		uint32_t ilen = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (prog && !bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &ilen))
			printf("%d rules: xlated %u insns, verified %u insns\n", n,
			       info.xlated_prog_len / 8, info.verified_insns);
		struct pkt pk;
		memset(&pk, 0, sizeof(pk));
		p_eth(&pk, 0x0800);
		p_ip4(&pk, IP4(10, 5, 1, 1), 1, 6, 64, 5);
		p_tcp(&pk, 1, 10005, 0x10); /* rule 5 (case 0: dport 10005, 10.5/16) */
		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pk.b, .data_size_in = (uint32_t)pk.n, .repeat = 1);
		if (prog) {
			CHECK(!bpf_prog_test_run_opts(bpf_program__fd(prog), &t), "run: %s", strerror(errno));
			CHECK(t.retval == XDP_DROP_, "%d rules: verdict %u", n, t.retval);
		}
	}
	bpf_object__close(bo);
	free(obj);
}

/* Chains of `not` over absent headers (the shape of tests/lang/
 * absent_headers.xdpl that once failed the verifier: presence tested as
 * pointer != NULL let LLVM put NULL copies of header pointers on branches
 * the verifier explores although they are impossible). */
static void test_absent_chain(void)
{
	struct ir_program *p = NEW(&A, struct ir_program);
	p->name = "absent";
	p->source_path = src_path;
	p->headers = hdrs;
	p->nheaders = NHDR;
	p->states = states;
	p->nstates = NSTATE;
	p->start_state = S_ETH;
	define_maps(p);
	struct ir_val *tdport = v_field(H_TCP, TCP_DPORT), *usport = v_field(H_UDP, UDP_SPORT);
	struct ir_val *ttl = v_field(H_IP4, IP4_TTL);
#define EQ(a, n, w) c_cmp(ICMP_EQ, (a), v_const((w), (n)))
	struct ir_val *hash_t = v_multi(IV_HASH, IR_UINT, 32, NULL, 1, tdport);
	struct ir_cond *conds[] = {
		/* part A: atoms over headers the packets lack */
		c_cmp(ICMP_NE, tdport, v_const(16, 22)),
		c_cmp(ICMP_NE, v_bin(IB_AND, v_field(H_TCP, TCP_FLAGS), v_const(8, 2), 8), v_const(8, 0)),
		c_range(tdport, 0, 65535),
		c_kids(IC_OR, 2, EQ(tdport, 53, 16), EQ(tdport, 80, 16)),
		c_cmp(ICMP_NE, v_field(H_IP6, IP6_TC), v_const(8, 0)),
		c_cmp(ICMP_NE, v_field(H_IP6, IP6_FLOW), v_const(20, 0)),
		c_cmp(ICMP_NE, v_field(H_VLAN, VLAN_ID), v_const(12, 1)),
		c_cmp(ICMP_NE, v_field(H_ICMP, ICMP_TYPE), v_const(8, 8)),
		c_cmp(ICMP_EQ, v_field(H_TCP, TCP_SPORT), usport),
		c_cmp(ICMP_NE, v_bin(IB_ADD, tdport, v_const(16, 0), 64), v_const(64, 1)),
		c_cmp(ICMP_NE, l4_dport(), v_const(16, 53)),
		c_cmp(ICMP_NE, v_field(H_IP4, IP4_ID), v_const(16, 1)),
		c_in(m_admin, 2, v_field(H_IP4, IP4_SRC), tdport),
		c_cmp(ICMP_EQ, hash_t, hash_t),
		c_kids(IC_OR, 2, c_cmp(ICMP_NE, tdport, v_const(16, 22)), c_cmp(ICMP_NE, v_field(H_IP6, IP6_TC), v_const(8, 0))),
		c_present(H_IP6EXT),
		c_kids(IC_AND, 2, c_present(H_IP4), c_present(H_IP6)),
		/* part B: `not` over absent atoms, selected by a present field */
		c_kids(IC_AND, 2, c_not(EQ(tdport, 22, 16)), EQ(usport, 1001, 16)),
		c_kids(IC_AND, 2, c_not(c_cmp(ICMP_NE, v_bin(IB_AND, v_field(H_TCP, TCP_FLAGS), v_const(8, 2), 8), v_const(8, 0))),
		       EQ(usport, 1003, 16)),
		c_kids(IC_AND, 2, c_not(EQ(v_field(H_IP6, IP6_HLIM), 64, 8)), EQ(ttl, 14, 8)),
		c_kids(IC_AND, 3, c_not(EQ(v_field(H_VLAN, VLAN_ID), 1, 12)), c_not(c_present(H_VLAN)), EQ(ttl, 15, 8)),
		c_kids(IC_OR, 2, EQ(tdport, 22, 16), EQ(usport, 1006, 16)),
		c_kids(IC_AND, 3, c_not(EQ(l4_dport(), 0, 16)), EQ(v_field(H_ICMP, ICMP_TYPE), 8, 8), EQ(ttl, 18, 8)),
		c_kids(IC_AND, 4, EQ(v_field(H_META_IP, 0), 6, 8), c_not(c_present(H_TCP)),
		       c_not(c_cmp(ICMP_NE, tdport, v_const(16, 80))), EQ(ttl, 19, 8)),
		c_kids(IC_AND, 2, c_not(c_kids(IC_OR, 2, EQ(tdport, 22, 16), EQ(tdport, 23, 16))), EQ(usport, 1014, 16)),
		c_kids(IC_AND, 2, c_not(c_cmp(ICMP_EQ, hash_t, hash_t)), EQ(usport, 1017, 16)),
		c_kids(IC_AND, 2, c_not(c_range(tdport, 0, 65535)), EQ(usport, 1007, 16)),
		c_kids(IC_AND, 2, c_not(c_in(m_admin, 2, v_field(H_IP4, IP4_SRC), tdport)), EQ(usport, 1019, 16)),
	};
#undef EQ
	int n = (int)(sizeof(conds) / sizeof(*conds));
	struct ir_rule *r = arena_alloc(&A, sizeof(*r) * (size_t)n);
	for (int i = 0; i < n; i++) {
		r[i].name = "b";
		r[i].index = i;
		r[i].file = src_path;
		r[i].line = 3 + 2 * i;
		r[i].cond = conds[i];
		r[i].verdict.kind = IRV_DROP;
	}
	p->rules = r;
	p->nrules = n;
	p->default_verdict.kind = IRV_PASS;
	void *obj = NULL;
	size_t len = 0;
	CHECK(codegen_emit(p, NULL, &obj, &len) == 0, "codegen_emit (absent chain) failed");
	if (!obj)
		return;
	struct bpf_object *bo = bpf_object__open_mem(obj, len, NULL);
	int err = bo ? bpf_object__load(bo) : -1;
	CHECK(!err, "load (absent chain) failed: %d (verifier log above)", err);
	if (!err) {
		int fd = bpf_program__fd(bpf_object__find_program_by_name(bo, "absent"));
		/* udp dport 53 from 192.0.2.1, ip4.id 1: no part-A rule holds */
		struct { int want; uint8_t proto, ttl; uint16_t sport, dport; } cases[] = {
			{ XDP_DROP_, 17, 64, 1014, 53 }, { XDP_DROP_, 17, 64, 1001, 53 },
			{ XDP_DROP_, 17, 64, 1007, 53 }, { XDP_DROP_, 17, 64, 1019, 53 },
			{ XDP_DROP_, 17, 15, 1, 53 },    { XDP_DROP_, 17, 14, 1, 53 },
			{ XDP_PASS_, 17, 19, 1, 53 },    { XDP_DROP_, 17, 64, 1017, 53 },
			{ XDP_DROP_, 6, 64, 1, 22 },     { XDP_DROP_, 17, 64, 1, 54 },
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
			struct pkt pk;
			memset(&pk, 0, sizeof(pk));
			p_eth(&pk, 0x0800);
			p_ip4(&pk, IP4(192, 0, 2, 1), 1, cases[i].proto, cases[i].ttl, 5);
			pk.b[14 + 5] = 1; /* ip4.id 1: the part-A rule ip4.id != 1 stays false */
			if (cases[i].proto == 6)
				p_tcp(&pk, cases[i].sport, cases[i].dport, 0x10);
			else
				p_udp(&pk, cases[i].sport, cases[i].dport);
			LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pk.b, .data_size_in = (uint32_t)pk.n, .repeat = 1);
			CHECK(!bpf_prog_test_run_opts(fd, &t), "run: %s", strerror(errno));
			CHECK((int)t.retval == cases[i].want, "absent chain case %zu: %s, want %s", i,
			      act_name((int)t.retval), act_name(cases[i].want));
		}
	}
	bpf_object__close(bo);
	free(obj);
}

/* Every other map kind: BTF shapes the kernel accepts, a tuple key with an
 * odd-offset u16 and a u24, a mac value, per-CPU reads. */
static void test_map_kinds(void)
{
	static const enum ir_type tf[] = { IR_UINT, IR_UINT, IR_UINT }, t4[] = { IR_IP4 },
				  tu[] = { IR_UINT };
	static const int bf[] = { 8, 16, 24 }, b32[] = { 32 };
	struct ir_map *dev = mk_map("dev", IRM_DEVMAP, false, 1, tu, b32, 4, IR_UINT, 32, 4, 8);
	struct ir_map *cpus = mk_map("cpus", IRM_CPUMAP, false, 1, tu, b32, 4, IR_UINT, 32, 4, 4);
	struct ir_map *xsk = mk_map("xsk", IRM_XSKMAP, false, 1, tu, b32, 4, IR_UINT, 32, 4, 4);
	struct ir_map *flows = mk_map("flows", IRM_LRU_HASH, false, 3, tf, bf, 6, IR_MAC, 48, 6, 128);
	struct ir_map *pc = mk_map("pc", IRM_PERCPU_HASH, false, 1, t4, b32, 4, IR_UINT, 64, 8, 16);
	struct ir_map *pa = mk_map("pa", IRM_PERCPU_ARRAY, false, 1, tu, b32, 4, IR_UINT, 16, 2, 2);
	struct ir_program *p = NEW(&A, struct ir_program);
	p->name = "maps";
	p->source_path = src_path;
	p->headers = hdrs;
	p->nheaders = NHDR;
	p->states = states;
	p->nstates = NSTATE;
	p->start_state = S_ETH;
	struct ir_map *all[] = { dev, cpus, xsk, flows, pc, pa };
	p->maps = arena_memdup(&A, all, sizeof(all));
	p->nmaps = 6;
	struct ir_rule *r = arena_alloc(&A, sizeof(*r) * 3);
	struct ir_val *mac = v_const(48, 0x020000000009ull);
	mac->type = IR_MAC;
	r[0].cond = c_cmp(ICMP_EQ, v_multi(IV_MAP_READ, IR_MAC, 48, flows, 3, v_field(H_META_IP, 0),
					   v_field(H_TCP, TCP_DPORT), v_const(24, 0x123456)),
			  mac);
	r[0].verdict.kind = IRV_DROP;
	r[1].cond = c_kids(IC_AND, 2, c_present(H_UDP),
			   c_cmp(ICMP_EQ, v_multi(IV_MAP_READ, IR_UINT, 16, pa, 1, v_const(32, 1)), v_const(16, 0)));
	r[1].verdict.kind = IRV_TX;
	r[2].cond = c_cmp(ICMP_GT, v_multi(IV_MAP_READ, IR_UINT, 64, pc, 1, v_field(H_IP4, IP4_DST)),
			  v_const(64, 5));
	r[2].verdict.kind = IRV_ABORT;
	for (int i = 0; i < 3; i++) {
		r[i].name = "m";
		r[i].index = i;
		r[i].file = src_path;
		r[i].line = 3 + 2 * i;
	}
	p->rules = r;
	p->nrules = 3;
	p->default_verdict.kind = IRV_PASS;
	void *obj = NULL;
	size_t len = 0;
	CHECK(codegen_emit(p, NULL, &obj, &len) == 0, "codegen_emit (map kinds) failed");
	if (!obj)
		return;
	const char *meta = memmem(obj, len, "xdpl-meta 1\n", 12);
	CHECK(meta && strstr(meta, "map flows lru u8,u16,u24 mac\n") &&
		      strstr(meta, "map dev devmap - u32\n") && strstr(meta, "map pa percpu_array - u16\n"),
	      "map records: %s", meta ? meta : "(none)");
	struct bpf_object *bo = bpf_object__open_mem(obj, len, NULL);
	int err = bo ? bpf_object__load(bo) : -1;
	CHECK(!err, "load (map kinds) failed: %d", err);
	if (!err) {
		check_map_shape(bo, "dev", BPF_MAP_TYPE_DEVMAP, 4, 4, 8, 0);
		check_map_shape(bo, "cpus", BPF_MAP_TYPE_CPUMAP, 4, 4, 4, 0);
		check_map_shape(bo, "xsk", BPF_MAP_TYPE_XSKMAP, 4, 4, 4, 0);
		check_map_shape(bo, "flows", BPF_MAP_TYPE_LRU_HASH, 6, 6, 128, 0);
		check_map_shape(bo, "pc", BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 16, 0);
		check_map_shape(bo, "pa", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 2, 2, 0);
		int fd = bpf_program__fd(bpf_object__find_program_by_name(bo, "maps"));
		uint8_t fkey[6] = { 6, 0x01, 0xbb, 0x12, 0x34, 0x56 }; /* proto 6, dport 443, 0x123456 */
		uint8_t fval[6] = { 2, 0, 0, 0, 0, 9 };                 /* as on the wire: 02:00:00:00:00:09 */
		CHECK(!bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(bo, "flows")), fkey, fval, 0),
		      "flows update: %s", strerror(errno));
		uint32_t dst = htonl(IP4(192, 0, 2, 99)); /* ip4 key: big-endian bytes */
		uint64_t *pcv = calloc((size_t)ncpus, 8);
		for (int c = 0; pcv && c < ncpus; c++)
			pcv[c] = 10;
		CHECK(pcv && !bpf_map_update_elem(bpf_map__fd(bpf_object__find_map_by_name(bo, "pc")), &dst, pcv, 0),
		      "pc update: %s", strerror(errno));
		free(pcv);
		struct { int want; uint8_t proto; uint16_t dport; uint32_t dst; } cases[] = {
			{ XDP_DROP_, 6, 443, IP4(192, 0, 2, 1) },     /* flows hit */
			{ XDP_PASS_, 6, 444, IP4(192, 0, 2, 1) },     /* flows miss */
			{ XDP_TX_, 17, 53, IP4(192, 0, 2, 1) },       /* per-CPU array reads 0 */
			{ XDP_ABORTED_, 6, 80, IP4(192, 0, 2, 99) },  /* per-CPU hash 10 > 5 */
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
			struct pkt pk;
			memset(&pk, 0, sizeof(pk));
			p_eth(&pk, 0x0800);
			p_ip4(&pk, IP4(192, 0, 2, 1), cases[i].dst, cases[i].proto, 64, 5);
			if (cases[i].proto == 6)
				p_tcp(&pk, 1, cases[i].dport, 0x10);
			else
				p_udp(&pk, 1, cases[i].dport);
			LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pk.b, .data_size_in = (uint32_t)pk.n, .repeat = 1);
			CHECK(!bpf_prog_test_run_opts(fd, &t), "run: %s", strerror(errno));
			CHECK((int)t.retval == cases[i].want, "map kinds case %zu: %s, want %s", i,
			      act_name((int)t.retval), act_name(cases[i].want));
		}
	}
	bpf_object__close(bo);
	free(obj);
}

/* Guards: unsupported verdicts and 128-bit arithmetic are errors. */
static void test_errors(void)
{
	char *msg = NULL;
	size_t mlen = 0;
	FILE *mem = open_memstream(&msg, &mlen);
	diag_set_stream(mem);
	struct ir_program *p = NEW(&A, struct ir_program);
	p->name = "bad";
	p->source_path = src_path;
	p->start_state = IR_ACCEPT;
	struct ir_rule *r = NEW(&A, struct ir_rule);
	r->name = "r";
	r->cond = c_new(IC_TRUE);
	/* default redirect MAP[KEY] with a computed key (lowering rejects it first) */
	r->verdict.kind = IRV_PASS;
	p->default_verdict.kind = IRV_REDIRECT_MAP;
	p->default_verdict.key = v_bin(IB_ADD, v_const(32, 1), v_const(32, 2), 32);
	p->rules = r;
	p->nrules = 1;
	void *obj = (void *)1;
	size_t len = 1;
	CHECK(codegen_emit(p, NULL, &obj, &len) == -1, "default redirect with a computed key accepted");
	p->default_verdict.kind = IRV_PASS;
	CHECK(!obj && !len, "output left on error");
	r->verdict.kind = IRV_PASS;
	struct ir_val *big = v_const(128, 0);
	big->type = IR_IP6;
	big->c128.lo = 5;
	r->cond = c_cmp(ICMP_EQ, v_bin(IB_MUL, big, big, 128), big);
	CHECK(codegen_emit(p, NULL, &obj, &len) == -1, "128-bit multiply accepted");
	fclose(mem);
	diag_set_stream(NULL);
	CHECK(msg && strstr(msg, "xdplc: error: codegen: redirect MAP[KEY] with this KEY is not supported yet as the default"),
	      "messages: %s", msg ? msg : "");
	CHECK(msg && strstr(msg, "multiplication on 128-bit values"), "messages: %s", msg ? msg : "");
	free(msg);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/xdpl_cg_XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(src_path, sizeof(src_path), "%s/policy.xdpl", tmpdir);
	/* a source file with a line per rule, so the line info has text */
	FILE *f = fopen(src_path, "w");
	if (!f) {
		perror(src_path);
		return 1;
	}
	fprintf(f, "# codegen unit test policy\nprogram cgtest;\n");
	for (int l = 3; l <= rule_line(NRULES) + 1; l++)
		fprintf(f, l % 2 ? "rule r%d { ... }\n" : "    match ...;\n", (l - 3) / 2);
	fclose(f);

	define_headers();
	define_states();
	test_errors();
	if (geteuid() != 0) {
		printf("SKIP kernel checks: not root\n");
		unlink(src_path);
		rmdir(tmpdir);
		arena_free(&A);
		return failures ? 1 : 77;
	}
	libbpf_set_print(libbpf_quiet);
	ensure_bpffs();
	ncpus = libbpf_num_possible_cpus();
	test_policy();
	test_no_parser();
	test_map_kinds();
	test_absent_chain();
	test_many_rules(100);
	test_many_rules(400);

	unlink(src_path);
	rmdir(tmpdir);
	if (mounted_bpffs)
		umount("/sys/fs/bpf");
	arena_free(&A);
	diag_reset();
	if (failures) {
		fprintf(stderr, "test_codegen: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_codegen: all passed\n");
	return 0;
}
