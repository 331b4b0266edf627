/* libxdpl runtime test: compiles small hand-written XDP programs with clang
 * (what xdplc's codegen emits, in miniature: a BTF "xdpl_stats" per-CPU
 * array, a hash set and a ".xdpl.meta" section), then opens, loads and runs
 * them through the kernel with libxdpl.
 *
 * usage: test_runtime [CLANG [TMPDIR]]   (or $XDPL_CLANG, $TMPDIR)
 * Needs root (BPF_PROG_LOAD, BPF_PROG_TEST_RUN): exits 77 (skipped) without.
 * Exits 0 when all checks pass, 1 otherwise; every temporary file is
 * removed. */
#define _GNU_SOURCE
#include "xdpl.h"
#include "xdpl_meta.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
static int checks;

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

/* ------------------------------------------------------------ BPF sources */

/* Self-contained (no system headers: they need the multiarch include path). */
static const char prelude[] =
	"typedef unsigned char __u8; typedef unsigned short __u16;\n"
	"typedef unsigned int __u32; typedef unsigned long long __u64;\n"
	"#define SEC(n) __attribute__((section(n), used))\n"
	"#define __uint(name, val) int (*name)[val]\n"
	"#define __type(name, val) typeof(val) *name\n"
	"struct xdp_md { __u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index,"
	" egress_ifindex; };\n"
	"static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;\n"
	"struct xdpl_counter { __u64 packets, bytes; };\n"
	"char LICENSE[] SEC(\"license\") = \"GPL\";\n";

/* Rules: 0 mark (continue, always), 1 drop_blocked (ip4.src in blocked),
 * 2 answer (ICMP: swap MACs, tx), 3 default pass. */
static const char good_src[] =
	"struct { __uint(type, 6); __uint(max_entries, 4); __type(key, __u32);\n"
	"         __type(value, struct xdpl_counter); } xdpl_stats SEC(\".maps\");\n"
	"struct { __uint(type, 1); __uint(max_entries, 16); __type(key, __u32);\n"
	"         __type(value, __u8); } blocked SEC(\".maps\");\n"
	"struct { __uint(type, 2); __uint(max_entries, 2); __type(key, __u32);\n"
	"         __type(value, __u64); } numbers SEC(\".maps\");\n"
	"#ifndef NO_META\n"
	"char xdpl_meta[] SEC(\".xdpl.meta\") =\n"
	"  \"xdpl-meta 1\\n\"\n"
	"  \"program tiny\\n\"\n"
	"  \"source /tmp/my%20policy.xdpl\\n\"\n"
	"  \"rule 0 mark 3 continue\\n\"\n"
	"  \"rule 1 drop_blocked 5 drop\\n\"\n"
	"  \"rule 2 answer 9 tx\\n\"\n"
	"  \"default 3 pass 12\\n\"\n"
	"  \"map blocked set_hash ip4 -\\n\"\n"
	"  \"map numbers array - u64\\n\"\n"
	"  \"init blocked c6336409 01\\n\"\n"
	"  \"init blocked CB007107 01\\n\"\n"
	"  \"init numbers 01000000 2a00000000000000\\n\"\n"
	"  \"some-future-record with fields\\n\";\n"
	"#endif\n"
	"static __attribute__((always_inline)) void count(__u32 slot, struct xdp_md *ctx) {\n"
	"  struct xdpl_counter *c = bpf_map_lookup_elem(&xdpl_stats, &slot);\n"
	"  if (c) { c->packets++; c->bytes += ctx->data_end - ctx->data; }\n"
	"}\n"
	"SEC(\"xdp\") int tiny(struct xdp_md *ctx) {\n"
	"  __u8 *d = (__u8 *)(long)ctx->data, *end = (__u8 *)(long)ctx->data_end;\n"
	"  count(0, ctx);\n"
	"  if (d + 34 > end) goto deflt;\n"
	"  if (d[12] != 0x08 || d[13] != 0x00) goto deflt;\n"
	"  __u32 src; __builtin_memcpy(&src, d + 26, 4);\n"
	"  if (bpf_map_lookup_elem(&blocked, &src)) { count(1, ctx); return 1; }\n"
	"  if (d[23] == 1) {\n"
	"    for (int i = 0; i < 6; i++) { __u8 t = d[i]; d[i] = d[6 + i]; d[6 + i] = t; }\n"
	"    count(2, ctx); return 3;\n"
	"  }\n"
	"deflt:\n"
	"  count(3, ctx); return 2;\n"
	"}\n";

/* Reads the packet without a bounds check: the verifier must refuse it. */
static const char bad_src[] =
	"struct { __uint(type, 6); __uint(max_entries, 1); __type(key, __u32);\n"
	"         __type(value, struct xdpl_counter); } xdpl_stats SEC(\".maps\");\n"
	"char xdpl_meta[] SEC(\".xdpl.meta\") = \"xdpl-meta 1\\nprogram bad\\n"
	"default 0 pass 1\\n\";\n"
	"SEC(\"xdp\") int bad(struct xdp_md *ctx) {\n"
	"  __u8 *d = (__u8 *)(long)ctx->data;\n"
	"  return d[20] == 7 ? 1 : 2;\n"
	"}\n";

/* Malformed metadata (a rule record with a missing field). */
static const char badmeta_src[] =
	"char xdpl_meta[] SEC(\".xdpl.meta\") = \"xdpl-meta 1\\nrule 0 r1 drop\\n\";\n"
	"SEC(\"xdp\") int p(struct xdp_md *ctx) { return 2; }\n";

/* ------------------------------------------------------------ helpers */

static char tmpdir[4096];
static const char *clang;

static int write_file(const char *path, const char *a, const char *b)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(a, f);
	fputs(b, f);
	return fclose(f);
}

/* Compile src to DIR/NAME.o; returns the malloc'd .o path or NULL. */
static char *compile(const char *name, const char *src, const char *extra_flag)
{
	char *c = NULL, *o = NULL, *cmd = NULL;
	if (asprintf(&c, "%s/%s.c", tmpdir, name) < 0 || asprintf(&o, "%s/%s.o", tmpdir, name) < 0)
		exit(2);
	if (write_file(c, prelude, src)) {
		fprintf(stderr, "cannot write %s: %s\n", c, strerror(errno));
		exit(2);
	}
	if (asprintf(&cmd, "'%s' -O2 -g -target bpf %s -c '%s' -o '%s'", clang,
		     extra_flag ? extra_flag : "", c, o) < 0)
		exit(2);
	int r = system(cmd);
	unlink(c);
	free(c);
	free(cmd);
	if (r != 0) {
		fprintf(stderr, "FAIL: compiling %s with %s failed\n", name, clang);
		failures++;
		checks++;
		unlink(o);
		free(o);
		return NULL;
	}
	return o;
}

static void *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	void *buf = malloc((size_t)n);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* eth / ip4(src, proto) / 8 bytes of payload: 42 bytes. */
static size_t make_packet(uint8_t *p, const uint8_t src[4], uint8_t proto)
{
	static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00 };
	memset(p, 0, 42);
	memcpy(p, eth, 14);
	p[14] = 0x45;
	p[17] = 28;
	p[22] = 64;
	p[23] = proto;
	memcpy(p + 26, src, 4);
	const uint8_t dst[4] = { 192, 0, 2, 1 };
	memcpy(p + 30, dst, 4);
	return 42;
}

/* ------------------------------------------------------------ tests */

static void test_good(const char *obj_path)
{
	struct xdpl_object *obj = xdpl_object__open_file(obj_path);
	CHECK(obj != NULL, "open: %s", xdpl_last_error());
	if (!obj)
		return;
	CHECK(xdpl_object__has_meta(obj), "metadata found");
	CHECK(strcmp(xdpl_object__program_name(obj), "tiny") == 0, "program %s",
	      xdpl_object__program_name(obj));
	CHECK(xdpl_object__source(obj) && strcmp(xdpl_object__source(obj), "/tmp/my policy.xdpl") == 0,
	      "source %s", xdpl_object__source(obj) ? xdpl_object__source(obj) : "(null)");
	CHECK(xdpl_object__rule_count(obj) == 3, "rule count %d", xdpl_object__rule_count(obj));
	CHECK(strcmp(xdpl_object__rule_name(obj, 1), "drop_blocked") == 0, "name 1 %s",
	      xdpl_object__rule_name(obj, 1));
	CHECK(strcmp(xdpl_object__rule_name(obj, 3), "default") == 0, "name 3");
	CHECK(strcmp(xdpl_object__rule_verdict(obj, 0), "continue") == 0, "verdict 0");
	CHECK(strcmp(xdpl_object__rule_verdict(obj, 3), "pass") == 0, "verdict default");
	CHECK(xdpl_object__rule_line(obj, 2) == 9, "line 2 = %d", xdpl_object__rule_line(obj, 2));
	CHECK(xdpl_object__rule_line(obj, 3) == 12, "line default");
	CHECK(xdpl_object__rule_name(obj, 4) == NULL, "out of range");
	CHECK(xdpl_object__map_count(obj) == 2, "map count %d", xdpl_object__map_count(obj));
	struct xdpl_map_info mi;
	CHECK(xdpl_object__map_info(obj, 0, &mi) == 0 && strcmp(mi.name, "blocked") == 0 &&
		      strcmp(mi.kind, "set_hash") == 0 && strcmp(mi.key_types, "ip4") == 0 &&
		      mi.fd == -1,
	      "map info");
	CHECK(xdpl_object__prog_fd(obj) < 0, "no fd before load");

	int r = xdpl_object__load(obj);
	CHECK(r == 0, "load: %d %s", r, xdpl_last_error());
	if (r) {
		xdpl_object__close(obj);
		return;
	}
	CHECK(xdpl_object__prog_fd(obj) >= 0, "prog fd");
	CHECK(xdpl_object__load(obj) == -EBUSY, "second load refused");

	/* init records filled the maps. */
	int fd = xdpl_object__map_fd(obj, "blocked");
	CHECK(fd >= 0, "blocked fd");
	uint8_t k1[4] = { 198, 51, 100, 9 }, k2[4] = { 203, 0, 113, 7 }, k3[4] = { 10, 0, 0, 1 };
	uint8_t v = 0;
	CHECK(bpf_map_lookup_elem(fd, k1, &v) == 0 && v == 1, "198.51.100.9 in blocked");
	CHECK(bpf_map_lookup_elem(fd, k2, &v) == 0, "203.0.113.7 in blocked (upper-case hex)");
	CHECK(bpf_map_lookup_elem(fd, k3, &v) != 0, "10.0.0.1 not in blocked");
	uint32_t one = 1;
	uint64_t num = 0;
	int nfd = xdpl_object__map_fd(obj, "numbers");
	CHECK(nfd >= 0 && bpf_map_lookup_elem(nfd, &one, &num) == 0 && num == 42, "numbers[1] = %llu",
	      (unsigned long long)num);
	CHECK(xdpl_object__map_fd(obj, "nope") == -ENOENT, "unknown map");
	CHECK(xdpl_object__map_info(obj, 0, &mi) == 0 && mi.fd == fd, "map info fd");

	uint8_t pkt[64];
	struct xdpl_run_result res;

	/* Blocked source: drop by rule 1 (rule 0, a continue rule, also counts). */
	size_t n = make_packet(pkt, k1, 17);
	r = xdpl_object__test_run(obj, pkt, n, 1, &res);
	CHECK(r == 0, "run: %s", xdpl_last_error());
	CHECK(res.action == 1, "action %d", res.action);
	CHECK(res.rule == 1, "rule %d", res.rule);
	CHECK(res.out_len == n && res.out && memcmp(res.out, pkt, n) == 0, "unchanged output");
	free(res.out);

	/* ICMP: tx with MACs swapped. */
	n = make_packet(pkt, k3, 1);
	r = xdpl_object__test_run(obj, pkt, n, 1, &res);
	CHECK(r == 0 && res.action == 3 && res.rule == 2, "tx: r %d action %d rule %d", r,
	      res.action, res.rule);
	CHECK(res.out_len == n && res.out && memcmp(res.out, pkt + 6, 6) == 0 &&
		      memcmp(res.out + 6, pkt, 6) == 0 && memcmp(res.out + 12, pkt + 12, n - 12) == 0,
	      "swapped MACs");
	free(res.out);

	/* UDP from elsewhere: default. */
	n = make_packet(pkt, k3, 17);
	r = xdpl_object__test_run(obj, pkt, n, 1, &res);
	CHECK(r == 0 && res.action == 2 && res.rule == 3, "default: action %d rule %d",
	      res.action, res.rule);
	CHECK(strcmp(xdpl_action_name(res.action), "pass") == 0, "action name");
	free(res.out);

	/* Repeat: counters move by the repeat count; res may be NULL. */
	n = make_packet(pkt, k2, 6);
	CHECK(xdpl_object__test_run(obj, pkt, n, 5, NULL) == 0, "repeat run: %s",
	      xdpl_last_error());

	/* Short non-IP packet (14 bytes): default. */
	r = xdpl_object__test_run(obj, pkt, 14, 1, &res);
	CHECK(r == 0 && res.action == 2 && res.rule == 3 && res.out_len == 14, "short packet");
	free(res.out);

	/* Too short for XDP at all. */
	r = xdpl_object__test_run(obj, pkt, 10, 1, &res);
	CHECK(r == -EINVAL && strstr(xdpl_last_error(), "too short"), "10-byte packet: %d %s", r,
	      xdpl_last_error());

	struct xdpl_counter c[4];
	r = xdpl_object__read_counters(obj, c, 4);
	CHECK(r == 0, "counters: %s", xdpl_last_error());
	CHECK(c[0].packets == 9, "mark packets %llu", (unsigned long long)c[0].packets);
	CHECK(c[1].packets == 6 && c[1].bytes == 6 * 42, "drop_blocked %llu/%llu",
	      (unsigned long long)c[1].packets, (unsigned long long)c[1].bytes);
	CHECK(c[2].packets == 1 && c[2].bytes == 42, "answer %llu", (unsigned long long)c[2].packets);
	CHECK(c[3].packets == 2 && c[3].bytes == 42 + 14, "default %llu/%llu",
	      (unsigned long long)c[3].packets, (unsigned long long)c[3].bytes);
	/* Fewer slots than the map has is fine. */
	struct xdpl_counter c2[2];
	CHECK(xdpl_object__read_counters(obj, c2, 2) == 0 && c2[1].packets == 6, "partial read");

	xdpl_object__close(obj);
}

static void test_mem_and_no_meta(const char *obj_path)
{
	size_t len;
	void *buf = read_all(obj_path, &len);
	CHECK(buf != NULL, "read %s", obj_path);
	if (!buf)
		return;
	struct xdpl_object *obj = xdpl_object__open_mem(buf, len, "nometa");
	/* The caller's buffer may go away right after open. */
	memset(buf, 0, len);
	free(buf);
	CHECK(obj != NULL, "open_mem: %s", xdpl_last_error());
	if (!obj)
		return;
	CHECK(!xdpl_object__has_meta(obj), "no metadata");
	CHECK(xdpl_object__rule_count(obj) == 3, "rules from the stats map: %d",
	      xdpl_object__rule_count(obj));
	CHECK(strcmp(xdpl_object__rule_name(obj, 1), "rule1") == 0, "generic name %s",
	      xdpl_object__rule_name(obj, 1));
	CHECK(strcmp(xdpl_object__program_name(obj), "tiny") == 0, "program name from BPF");
	CHECK(xdpl_object__source(obj) == NULL, "no source");
	int r = xdpl_object__load(obj);
	CHECK(r == 0, "load: %s", xdpl_last_error());
	if (r == 0) {
		uint8_t pkt[64], src[4] = { 198, 51, 100, 9 };
		size_t n = make_packet(pkt, src, 17);
		struct xdpl_run_result res;
		/* No init records: the set is empty, so the default applies. */
		r = xdpl_object__test_run(obj, pkt, n, 1, &res);
		CHECK(r == 0 && res.action == 2 && res.rule == 3, "no-meta run: action %d rule %d",
		      res.action, res.rule);
		free(res.out);
	}
	xdpl_object__close(obj);
}

static void test_verifier_rejection(const char *obj_path)
{
	struct xdpl_object *obj = xdpl_object__open_file(obj_path);
	CHECK(obj != NULL, "open bad: %s", xdpl_last_error());
	if (!obj)
		return;
	int r = xdpl_object__load(obj);
	CHECK(r == -XDPL_ERRNO__VERIFY, "load of a bad program: %d", r);
	const char *e = xdpl_last_error();
	CHECK(strstr(e, "the kernel verifier rejected the program") != NULL, "message: %s", e);
	CHECK(strstr(e, "invalid access to packet") != NULL, "log tail in message: %s", e);
	int lines = 0;
	for (const char *p = e; *p; p++)
		lines += *p == '\n';
	CHECK(lines >= 1 && lines <= 21, "at most ~20 log lines (%d)", lines);
	/* Failed load leaves nothing usable behind. */
	CHECK(xdpl_object__prog_fd(obj) < 0, "no prog fd after failed load");
	struct xdpl_counter c[1];
	CHECK(xdpl_object__read_counters(obj, c, 1) < 0, "no counters after failed load");
	CHECK(xdpl_object__load(obj) == -EINVAL, "no second load after a failed one");
	CHECK(xdpl_object__test_run(obj, "0123456789abcdef", 16, 1, NULL) == -EINVAL,
	      "no run after a failed load");
	xdpl_object__close(obj);
}

static void test_open_errors(const char *badmeta_path)
{
	errno = 0;
	struct xdpl_object *obj = xdpl_object__open_file("/nonexistent/x.o");
	CHECK(!obj && errno == ENOENT && strstr(xdpl_last_error(), "/nonexistent/x.o"),
	      "missing file: %s", xdpl_last_error());
	const char junk[] = "program not_an_object;\n";
	obj = xdpl_object__open_mem(junk, sizeof(junk), "junk.o");
	CHECK(!obj && strstr(xdpl_last_error(), "junk.o"), "not ELF: %s", xdpl_last_error());
	if (badmeta_path) {
		obj = xdpl_object__open_file(badmeta_path);
		CHECK(!obj && strstr(xdpl_last_error(), "malformed"), "bad metadata: %s",
		      xdpl_last_error());
		xdpl_object__close(obj);
	}
	xdpl_object__close(NULL);
}

/* Without privileges, load says what to do. */
static void test_unprivileged(const char *obj_path)
{
	size_t len;
	void *buf = read_all(obj_path, &len); /* the temp dir is private */
	CHECK(buf != NULL, "read %s", obj_path);
	if (!buf)
		return;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(3);
		struct xdpl_object *obj = xdpl_object__open_mem(buf, len, "unprivileged");
		free(buf);
		if (!obj) {
			fprintf(stderr, "unprivileged open: %s\n", xdpl_last_error());
			_exit(4);
		}
		int r = xdpl_object__load(obj);
		int ok = r == -EPERM && strstr(xdpl_last_error(), "run with sudo");
		if (!ok)
			fprintf(stderr, "unprivileged load: %d %s\n", r, xdpl_last_error());
		xdpl_object__close(obj);
		_exit(ok ? 0 : 5);
	}
	free(buf);
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 3), "unprivileged child: %d",
	      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* Elements: what users write <-> map bytes (layout of compiler/lower/ir.h). */
static void test_elements(void)
{
	uint8_t k[64];
	char buf[256];

	CHECK(xdpl_key_parse("ip4", false, "192.0.2.1", k, 4) == 0 && k[0] == 192 && k[3] == 1,
	      "ip4 key: %s", xdpl_last_error());
	CHECK(xdpl_key_parse("ip4,u16", false, "(192.0.2.1, 80)", k, 6) == 0 && k[4] == 0 &&
		      k[5] == 80,
	      "tuple key: %s", xdpl_last_error());
	CHECK(xdpl_key_format("ip4,u16", false, k, 6, buf, sizeof(buf)) == 0 &&
		      strcmp(buf, "(192.0.2.1, 80)") == 0,
	      "tuple format: %s", buf);
	CHECK(xdpl_key_parse("ip4,u16", false, "192.0.2.1,0x1f90", k, 6) == 0 && k[4] == 0x1f &&
		      k[5] == 0x90,
	      "tuple without parentheses, hex: %s", xdpl_last_error());
	CHECK(xdpl_key_parse("ip4,u16", false, "192.0.2.1", k, 6) == -EINVAL &&
		      strstr(xdpl_last_error(), "tuples of 2"),
	      "arity: %s", xdpl_last_error());
	CHECK(xdpl_key_parse("u8", false, "300", k, 1) < 0 &&
		      strstr(xdpl_last_error(), "'300' does not fit in u8"),
	      "range: %s", xdpl_last_error());
	CHECK(xdpl_key_parse("u24", false, "0x123456", k, 3) == 0 && k[0] == 0x12 && k[2] == 0x56,
	      "u24 big-endian");
	CHECK(xdpl_key_parse("mac", false, "02:00:00:00:00:0a", k, 6) == 0 && k[0] == 2 && k[5] == 10,
	      "mac");
	CHECK(xdpl_key_format("mac", false, k, 6, buf, sizeof(buf)) == 0 &&
		      strcmp(buf, "02:00:00:00:00:0a") == 0,
	      "mac format %s", buf);
	CHECK(xdpl_key_parse("bool", false, "true", k, 1) == 0 && k[0] == 1, "bool");
	CHECK(xdpl_key_parse("ip6", false, "2001:db8::1", k, 16) == 0 && k[0] == 0x20 && k[15] == 1,
	      "ip6");
	CHECK(xdpl_key_format("ip6", false, k, 16, buf, sizeof(buf)) == 0 &&
		      strcmp(buf, "2001:db8::1") == 0,
	      "ip6 format %s", buf);
	/* LPM: host-order prefix length, then the address. */
	uint32_t pl;
	CHECK(xdpl_key_parse("ip4", true, "10.0.0.0/8", k, 8) == 0, "lpm: %s", xdpl_last_error());
	memcpy(&pl, k, 4);
	CHECK(pl == 8 && k[4] == 10 && k[5] == 0, "lpm bytes");
	CHECK(xdpl_key_format("ip4", true, k, 8, buf, sizeof(buf)) == 0 &&
		      strcmp(buf, "10.0.0.0/8") == 0,
	      "lpm format %s", buf);
	CHECK(xdpl_key_parse("ip4", true, "203.0.113.7", k, 8) == 0, "lpm address alone");
	memcpy(&pl, k, 4);
	CHECK(pl == 32, "address alone = full length (%u)", pl);
	CHECK(xdpl_key_format("ip4", true, k, 8, buf, sizeof(buf)) == 0 &&
		      strcmp(buf, "203.0.113.7") == 0,
	      "full-length prefix printed as an address: %s", buf);
	CHECK(xdpl_key_parse("ip4", true, "10.0.0.1/8", k, 8) < 0 &&
		      strstr(xdpl_last_error(), "did you mean 10.0.0.0/8"),
	      "host bits: %s", xdpl_last_error());
	CHECK(xdpl_key_parse("ip6", true, "2001:db8::/32", k, 20) == 0, "lpm ip6");
	/* Array index: host order. */
	CHECK(xdpl_key_parse("-", false, "3", k, 4) == 0 && *(uint32_t *)k == 3, "index");
	/* Values: numbers in host order, addresses as on the wire (like keys). */
	uint8_t v[16];
	CHECK(xdpl_value_parse("u32", "70000", v, 4) == 0 && *(uint32_t *)v == 70000, "u32 value");
	CHECK(xdpl_value_parse("ip4", "10.0.0.1", v, 4) == 0 && v[0] == 10 && v[1] == 0 && v[2] == 0 && v[3] == 1,
	      "ip4 value");
	CHECK(xdpl_value_format("ip4", v, 4, buf, sizeof(buf)) == 0 && strcmp(buf, "10.0.0.1") == 0,
	      "ip4 value format %s", buf);
	CHECK(xdpl_value_parse("mac", "02:00:00:00:00:09", v, 6) == 0 && v[0] == 2 && v[5] == 9, "mac value");
	CHECK(xdpl_value_format("mac", v, 6, buf, sizeof(buf)) == 0 && strcmp(buf, "02:00:00:00:00:09") == 0,
	      "mac value format %s", buf);
	CHECK(xdpl_value_parse("u16", "-1", v, 2) < 0, "negative value refused");
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static int count_elem(const char *key, const char *value, void *ctx)
{
	(void)value;
	if (strcmp(key, "192.0.2.99") == 0)
		(*(int *)ctx)++;
	return 0;
}

/* The attach API end to end on lo of a fresh network namespace (generic
 * mode), with a private pin root: attach, open from bpffs, sets, replace
 * (maps kept), counters shared, detach leaves nothing. Runs in a child. */
static int attach_child(const char *obj_path)
{
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 3;
	}
	char root[128], link[192], blocked[192];
	snprintf(root, sizeof(root), "/sys/fs/bpf/xdpl_unit_%d", (int)getpid());
	snprintf(link, sizeof(link), "%s/lo/link", root);
	snprintf(blocked, sizeof(blocked), "%s/lo/blocked", root);
	int before = failures;

	struct xdpl_object *obj = xdpl_object__open_file(obj_path);
	CHECK(obj != NULL, "open: %s", xdpl_last_error());
	if (!obj)
		return 1;
	struct xdpl_attach_opts opts = { .sz = sizeof(opts), .mode = XDPL_MODE_NATIVE, .pin_root = root };
	struct xdpl_attach_result res;
	int r = xdpl_object__attach(obj, "lo", &opts, &res);
	CHECK(r == -EOPNOTSUPP && strstr(xdpl_last_error(), "--mode skb"), "native on lo: %d %s", r,
	      xdpl_last_error());
	CHECK(!exists(root), "nothing left after a failed attach");
	xdpl_object__close(obj);

	obj = xdpl_object__open_file(obj_path);
	opts.mode = XDPL_MODE_SKB;
	r = xdpl_object__attach(obj, "lo", &opts, &res);
	CHECK(r == 0, "attach: %d %s", r, xdpl_last_error());
	if (r) {
		xdpl_object__close(obj);
		return 1;
	}
	CHECK(!res.replaced && res.mode == XDPL_MODE_SKB && res.prog_id && res.link_id &&
		      res.maps_created == 3 && res.maps_reused == 0,
	      "result: replaced %d mode %d created %d reused %d", res.replaced, res.mode,
	      res.maps_created, res.maps_reused);
	CHECK(exists(link) && exists(blocked), "pins");

	struct xdpl_object *att = xdpl_object__open_attached("lo", root);
	CHECK(att != NULL, "open attached: %s", xdpl_last_error());
	if (att) {
		struct xdpl_attached_info ai;
		CHECK(xdpl_object__attached_info(att, &ai) == 0 && ai.prog_id == res.prog_id &&
			      ai.link_id == res.link_id && ai.mode == XDPL_MODE_SKB && !ai.stale,
		      "attached info: prog %u mode %d stale %d", ai.prog_id, ai.mode, ai.stale);
		CHECK(strcmp(xdpl_object__program_name(att), "tiny") == 0 &&
			      xdpl_object__rule_count(att) == 3 &&
			      strcmp(xdpl_object__rule_name(att, 1), "drop_blocked") == 0,
		      "metadata from bpffs");
		CHECK(xdpl_object__map_add(att, "blocked", "192.0.2.99", NULL) == 0, "set add: %s",
		      xdpl_last_error());
		CHECK(xdpl_object__map_add(att, "nope", "1", NULL) == -ENOENT &&
			      strstr(xdpl_last_error(), "blocked, numbers"),
		      "unknown set: %s", xdpl_last_error());
		CHECK(xdpl_object__map_add(att, "numbers", "1", "7") == 0, "map add: %s",
		      xdpl_last_error());
	}
	/* Packets through the attached program's twin (same maps) count in
	 * the pinned stats map. */
	uint8_t pkt[64], src[4] = { 192, 0, 2, 99 };
	size_t n = make_packet(pkt, src, 17);
	struct xdpl_run_result rr;
	r = xdpl_object__test_run(obj, pkt, n, 3, &rr);
	CHECK(r == 0 && rr.action == 1 && rr.rule == 1, "run-time element drops: %d %d", rr.action,
	      rr.rule);
	free(rr.out);
	xdpl_object__close(obj);

	/* Replace: maps kept with their contents, counters continue. */
	obj = xdpl_object__open_file(obj_path);
	opts.mode = XDPL_MODE_DEFAULT;
	r = xdpl_object__attach(obj, "lo", &opts, &res);
	CHECK(r == 0 && res.replaced && res.maps_reused == 3 && res.maps_created == 0 &&
		      res.mode == XDPL_MODE_SKB,
	      "replace: %d %s replaced %d reused %d", r, xdpl_last_error(), res.replaced,
	      res.maps_reused);
	xdpl_object__close(obj);
	if (att) {
		int seen = 0;
		CHECK(xdpl_object__map_list(att, "blocked", count_elem, &seen) == 0 && seen == 1,
		      "element kept across the replace");
		struct xdpl_counter c[4];
		CHECK(xdpl_object__read_counters(att, c, 4) == 0 && c[1].packets == 3,
		      "counters kept: %llu", (unsigned long long)c[1].packets);
		xdpl_object__close(att);
	}

	CHECK(xdpl_detach("lo", &(struct xdpl_detach_opts){ .sz = sizeof(struct xdpl_detach_opts),
							     .pin_root = root }) == 0,
	      "detach: %s", xdpl_last_error());
	CHECK(!exists(root), "pin root removed");
	CHECK(xdpl_detach("lo", &(struct xdpl_detach_opts){ .sz = sizeof(struct xdpl_detach_opts),
							     .pin_root = root }) == -ENOENT,
	      "second detach: %s", xdpl_last_error());
	CHECK(xdpl_object__attach(NULL, "lo", NULL, NULL) == -EINVAL, "NULL object");
	obj = xdpl_object__open_file(obj_path);
	CHECK(xdpl_object__attach(obj, "nosuchdev0", &opts, NULL) == -ENODEV &&
		      strstr(xdpl_last_error(), "no such network device 'nosuchdev0'"),
	      "no device: %s", xdpl_last_error());
	xdpl_object__close(obj);
	return failures > before ? 1 : 0;
}

static void test_attach(const char *obj_path)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(attach_child(obj_path));
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "attach checks (see above): status %d",
	      WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(int argc, char **argv)
{
	clang = argc > 1 ? argv[1] : getenv("XDPL_CLANG");
	if (!clang || !*clang)
		clang = "clang-19";
	const char *base = argc > 2 ? argv[2] : getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/xdpl-rt-XXXXXX", base);
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "mkdtemp %s: %s\n", tmpdir, strerror(errno));
		return 2;
	}
	if (geteuid() != 0) {
		rmdir(tmpdir);
		printf("test_runtime: skipped: loading BPF programs needs root\n");
		return 77; /* "skipped" for ctest (SKIP_RETURN_CODE 77) */
	}

	char *good = compile("good", good_src, NULL);
	char *nometa = compile("nometa", good_src, "-DNO_META");
	char *bad = compile("bad", bad_src, NULL);
	char *badmeta = compile("badmeta", badmeta_src, NULL);

	test_elements();
	if (good) {
		test_good(good);
		test_unprivileged(good);
		test_attach(good);
	}
	if (nometa)
		test_mem_and_no_meta(nometa);
	if (bad)
		test_verifier_rejection(bad);
	test_open_errors(badmeta);

	char *files[] = { good, nometa, bad, badmeta };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i])
			unlink(files[i]);
		free(files[i]);
	}
	if (rmdir(tmpdir))
		fprintf(stderr, "warning: cannot remove %s: %s\n", tmpdir, strerror(errno));

	printf("test_runtime: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
