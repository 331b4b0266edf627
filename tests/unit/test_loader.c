/* Unit test of the loader generator (compiler/cli/loader.c), no kernel needed.
 *
 * 1. loader_c_string / loader_c_comment on hostile strings: exact expected
 *    literals, and the properties that make them safe (printable ASCII only,
 *    no "??" trigraph, no comment terminator or opener, no newline).
 * 2. Round trip through the C compiler: hundreds of hostile and random byte
 *    strings written as literals (and as comment text) into a C file that
 *    is compiled with -std=c11 (trigraphs on) -Wall -Wextra -Werror and run;
 *    it must print back exactly the original bytes.
 * 3. loader_write on a real object (codegen_emit of a small IR) whose
 *    source path holds quotes, backslashes, a newline, `* /`, "??=" and
 *    UTF-8: the generated loader (libxdpl's own sources, embedded at build
 *    time, plus the object) builds with only `cc -std=c11 -Wall -Wextra
 *    -Werror $(pkg-config --cflags --libs libbpf)`, `./loader info` prints
 *    the program, the exact source path, the rules and the set from the
 *    object, the embedded bytes are the object's, and no "??" is in it.
 * 4. loader_write refuses an object without .xdpl.meta (EINVAL).
 * 5. xdpl__elf_section (runtime/elf_section.c, the libelf-free reader the
 *    loaders carry) against libelf on that object and on thousands of
 *    mutations of its ELF and section headers and truncations: they agree
 *    on where .xdpl.meta is, and nothing is read outside the buffer (ASan).
 *
 * Usage: test_loader [REPO_ROOT] (unused). Exit 0 on success; 1 on failure, also
 * when no C compiler or libbpf development files are found. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gelf.h>
#include <libelf.h>

#include "codegen.h"
#include "elf_section.h"
#include "ir.h"
#include "loader.h"

static int failures;
static char tmpdir[64];

#define CHECK(cond, ...)                                                                 \
	do {                                                                             \
		if (!(cond)) {                                                           \
			failures++;                                                      \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
			fprintf(stderr, __VA_ARGS__);                                    \
			fputc('\n', stderr);                                             \
		}                                                                        \
	} while (0)

/* Strings no escaper should get wrong. */
static const char *const hostile[] = {
	"",
	"plain",
	"a\"b",
	"back\\slash",
	"ends with backslash\\",
	"new\nline",
	"tab\there",
	"cr\rlf\r\n",
	"?\?=?\?/?\?'?\?(?\?)?\?!?\?<?\?>?\?-",
	"?\?\?/",
	"?\?/ split",
	"*/ closes a comment",
	"/* opens one */",
	"a/*/b*/*/c",
	"**//**/",
	"// line comment",
	"\\\n",
	"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	"\x01\x02\x1f\x7f\x80\xff",
	"\x01" "2 octal then digit",
	"\xff" "ff hex-looking",
	"%s %n %%",
	"trailing ?",
	"#define X 1",
	"/tmp/we\"ird \\ dir */ ?\?= \xc3\xa9\nline2/policy.xdpl",
};
#define NHOSTILE ((int)(sizeof(hostile) / sizeof(hostile[0])))

static bool printable_ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f)
			return false;
	return true;
}

static void test_exact(void)
{
	static const struct {
		const char *in, *lit;
	} cases[] = {
		{ "", "\"\"" },
		{ "abc", "\"abc\"" },
		{ "a\"b", "\"a\\\"b\"" },
		{ "a\\b", "\"a\\\\b\"" },
		{ "?\?=", "\"\\?\\?=\"" },
		{ "x\ny\tz", "\"x\\ny\\tz\"" },
		{ "\x01" "2", "\"\\0012\"" },
		{ "\x7f\xc3\xa9", "\"\\177\\303\\251\"" },
		{ "*/", "\"*/\"" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *lit = loader_c_string(cases[i].in);
		CHECK(lit && strcmp(lit, cases[i].lit) == 0, "literal of case %zu: got [%s], want [%s]",
		      i, lit ? lit : "(null)", cases[i].lit);
		free(lit);
	}
	char *lit = loader_c_string(NULL);
	CHECK(lit && strcmp(lit, "\"\"") == 0, "NULL -> \"\"");
	free(lit);

	static const struct {
		const char *in, *text;
	} comments[] = {
		{ "*/", "*\\/" },
		{ "/*", "/\\*" },
		{ "a/*/b", "a/\\*\\/b" },
		{ "/x/y z", "/x/y z" },
		{ "?\?/\n", "\\?\\?/\\n" },
	};
	for (size_t i = 0; i < sizeof(comments) / sizeof(comments[0]); i++) {
		char *t = loader_c_comment(comments[i].in);
		CHECK(t && strcmp(t, comments[i].text) == 0, "comment of case %zu: got [%s], want [%s]",
		      i, t ? t : "(null)", comments[i].text);
		free(t);
	}

	for (int i = 0; i < NHOSTILE; i++) {
		char *l = loader_c_string(hostile[i]);
		char *c = loader_c_comment(hostile[i]);
		CHECK(l && printable_ascii(l), "literal of hostile[%d] is not printable ASCII", i);
		CHECK(c && printable_ascii(c), "comment of hostile[%d] is not printable ASCII", i);
		CHECK(l && !strstr(l, "?\?"), "literal of hostile[%d] has ?\?", i);
		CHECK(c && !strstr(c, "?\?") && !strstr(c, "*/") && !strstr(c, "/*"),
		      "comment text of hostile[%d] is unsafe: [%s]", i, c ? c : "");
		free(l);
		free(c);
	}
}

static int run(const char *cmd)
{
	int r = system(cmd);
	return r == -1 ? -1 : WIFEXITED(r) ? WEXITSTATUS(r) : 128;
}

/* ---------------------------------------------------------------- round trip */

#define NRANDOM 300

static void test_round_trip(void)
{
	char *strs[NHOSTILE + NRANDOM];
	int n = 0;
	for (int i = 0; i < NHOSTILE; i++)
		strs[n++] = strdup(hostile[i]);
	/* Random non-NUL bytes, biased towards the characters that matter. */
	static const char special[] = "?\\\"*/\n\t\r\x01\x7f\x80\xff" "0789afAF%'";
	srand(7);
	for (int i = 0; i < NRANDOM; i++) {
		int len = rand() % 40;
		char *s = malloc((size_t)len + 1);
		for (int j = 0; j < len; j++) {
			int r = rand() % 3;
			if (r == 0)
				s[j] = special[rand() % (int)(sizeof(special) - 1)];
			else if (r == 1)
				s[j] = (char)(1 + rand() % 255);
			else
				s[j] = (char)(' ' + rand() % 95);
		}
		s[len] = 0;
		strs[n++] = s;
	}

	char src[128], bin[128], out[128], cmd[1024];
	snprintf(src, sizeof(src), "%s/rt.c", tmpdir);
	snprintf(bin, sizeof(bin), "%s/rt", tmpdir);
	snprintf(out, sizeof(out), "%s/rt.out", tmpdir);
	FILE *f = fopen(src, "w");
	CHECK(f != NULL, "cannot write %s", src);
	if (!f)
		return;
	fprintf(f, "#include <stdio.h>\n#include <string.h>\n");
	for (int i = 0; i < n; i++) {
		char *l = loader_c_string(strs[i]);
		char *c = loader_c_comment(strs[i]);
		fprintf(f, "/* %s */\nstatic const char s%d[] = %s;\n", c, i, l);
		free(l);
		free(c);
	}
	fprintf(f, "static const char *const all[] = {\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "\ts%d,\n", i);
	fprintf(f, "};\nstatic const unsigned long lens[] = {\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "\tsizeof(s%d) - 1,\n", i);
	fprintf(f, "};\nint main(void)\n{\n"
		   "\tfor (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++) {\n"
		   "\t\tif (strlen(all[i]) != lens[i]) return 1;\n"
		   "\t\tfwrite(all[i], 1, lens[i], stdout);\n"
		   "\t\tputchar(0);\n"
		   "\t}\n\treturn 0;\n}\n");
	fclose(f);

	for (int pass = 0; pass < 2; pass++) {
		const char *std = pass == 0 ? "-std=c11" : "-std=gnu11";
		snprintf(cmd, sizeof(cmd), "cc %s -Wall -Wextra -Werror -o %s %s && %s > %s", std, bin,
			 src, bin, out);
		int r = run(cmd);
		CHECK(r == 0, "round trip program failed to build or run (%s): %s", std, cmd);
		if (r != 0)
			continue;
		FILE *in = fopen(out, "rb");
		CHECK(in != NULL, "no output");
		if (!in)
			continue;
		static char got[1 << 20];
		size_t glen = fread(got, 1, sizeof(got), in);
		fclose(in);
		size_t off = 0;
		for (int i = 0; i < n; i++) {
			size_t l = strlen(strs[i]);
			bool ok = off + l + 1 <= glen && memcmp(got + off, strs[i], l) == 0 &&
				  got[off + l] == 0;
			CHECK(ok, "%s: string %d did not round-trip", std, i);
			if (!ok)
				break;
			off += l + 1;
		}
		CHECK(off == glen, "%s: %zu bytes of output left over", std, glen - off);
	}
	for (int i = 0; i < n; i++)
		free(strs[i]);
}

/* ---------------------------------------------------------------- loader_write */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

/* A minimal ELF64 LSB relocatable with sections "", .shstrtab, .xdpl.meta. */
static uint8_t *make_elf(const char *meta, size_t *len)
{
	static const char shstr[] = "\0.shstrtab\0.xdpl.meta";
	size_t mlen = strlen(meta) + 1;
	size_t off_str = 64, off_meta = off_str + sizeof(shstr);
	size_t off_sh = (off_meta + mlen + 7) / 8 * 8;
	size_t total = off_sh + 3 * 64;
	uint8_t *b = calloc(1, total);
	memcpy(b, "\177ELF", 4);
	b[4] = 2; /* 64-bit */
	b[5] = 1; /* little-endian */
	b[6] = 1; /* version */
	put16(b + 0x10, 1);   /* ET_REL */
	put16(b + 0x12, 247); /* EM_BPF */
	put32(b + 0x14, 1);
	put64(b + 0x28, off_sh);
	put16(b + 0x34, 64);
	put16(b + 0x3a, 64);
	put16(b + 0x3c, 3);
	put16(b + 0x3e, 1);
	memcpy(b + off_str, shstr, sizeof(shstr));
	memcpy(b + off_meta, meta, mlen);
	uint8_t *sh = b + off_sh + 64; /* [1] .shstrtab */
	put32(sh, 1);
	put32(sh + 4, 3); /* SHT_STRTAB */
	put64(sh + 0x18, off_str);
	put64(sh + 0x20, sizeof(shstr));
	sh += 64; /* [2] .xdpl.meta */
	put32(sh, 11);
	put32(sh + 4, 1); /* SHT_PROGBITS */
	put64(sh + 0x18, off_meta);
	put64(sh + 0x20, mlen);
	*len = total;
	return b;
}

/* A policy as IR: rules r0 (drop, line 3) and r1 (tx, line 7), default
 * pass (line 9), a u16 hash set unit_set with one initial element. */
static void make_program(struct ir_program *p, struct ir_map *m, struct ir_map_entry *e,
			 struct ir_rule *rules, struct ir_cond *t, const char *source)
{
	static uint8_t k[2] = { 0x3f, 0x3f }, v[1] = { 1 }; /* "??" as key bytes */
	*m = (struct ir_map){ .name = "unit_set", .kind = IRM_HASH, .is_set = true,
			      .user_visible = true, .nkeys = 1, .key_size = 2,
			      .max_entries = 16, .init = e, .ninit = 1 };
	m->key_types[0] = IR_UINT;
	m->key_bits[0] = 16;
	*e = (struct ir_map_entry){ k, v };
	*t = (struct ir_cond){ .kind = IC_TRUE };
	rules[0] = (struct ir_rule){ .name = "r0", .index = 0, .line = 3, .cond = t,
				     .verdict = { .kind = IRV_DROP } };
	rules[1] = (struct ir_rule){ .name = "r1", .index = 1, .line = 7, .cond = t,
				     .verdict = { .kind = IRV_TX } };
	*p = (struct ir_program){ .name = "loader_unit", .source_path = source, .rules = rules,
				  .nrules = 2, .default_line = 9 };
	p->default_verdict.kind = IRV_PASS;
}

static void test_refused(const struct ir_program *p)
{
	char junk[100] = "not an elf";
	errno = 0;
	CHECK(loader_write(stdout, p, junk, sizeof(junk)) == -1 && errno == EINVAL,
	      "a non-ELF object is refused with EINVAL (errno %d)", errno);
	size_t nolen;
	uint8_t *nometa = make_elf("", &nolen);
	memcpy(nometa + 64 + 11, ".xdpl.metX", 10); /* rename the section */
	errno = 0;
	CHECK(loader_write(stdout, p, nometa, nolen) == -1 && errno == EINVAL,
	      "an object without .xdpl.meta is refused with EINVAL");
	free(nometa);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	*len = 0;
	if (f && fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		buf = n >= 0 ? calloc(1, (size_t)n + 1) : NULL;
		rewind(f);
		*len = buf ? fread(buf, 1, (size_t)n, f) : 0;
	}
	if (f)
		fclose(f);
	return buf;
}

/* The bytes of the xdpl_loader_object initializer equal obj. */
static bool blob_is(const char *text, const uint8_t *obj, size_t olen)
{
	const char *p = NULL; /* the definition: the last mention, at the end */
	for (const char *q = text; (q = strstr(q, "const unsigned char xdpl_loader_object[")); q++)
		p = q;
	p = p ? strstr(p, "] = {") : NULL;
	p = p ? p + 5 : NULL;
	size_t i = 0;
	unsigned v;
	int used;
	while (p && i <= olen && sscanf(p, " 0x%2x,%n", &v, &used) == 1) {
		if (i == olen || v != obj[i])
			return false;
		i++;
		p += used;
	}
	return p && i == olen && strncmp(p, "\n};", 3) == 0;
}

static void check_info(const char *out, const char *source, size_t olen)
{
	char *want = NULL;
	size_t wlen = 0, glen;
	FILE *w = open_memstream(&want, &wlen);
	fprintf(w, "program loader_unit\nsource %s\n", source);
	fprintf(w, "rule r0 drop 3\nrule r1 tx 7\nrule default pass 9\nmap unit_set set_hash\n");
	fprintf(w, "object %zu bytes\n", olen);
	fclose(w);
	char *got = read_file(out, &glen);
	CHECK(got && glen == wlen && memcmp(got, want, wlen) == 0,
	      "`loader info` output differs:\n--- want\n%s--- got\n%.*s", want, (int)glen,
	      got ? got : "");
	free(want);
	free(got);
}

static void test_loader_write(void)
{
	const char *source = hostile[NHOSTILE - 1];
	struct ir_program p;
	struct ir_map m;
	struct ir_map_entry e;
	struct ir_rule rules[2];
	struct ir_cond t;
	make_program(&p, &m, &e, rules, &t, source);
	test_refused(&p);
	struct ir_map *maps[1] = { &m };
	p.maps = maps;
	p.nmaps = 1;
	void *obj = NULL;
	size_t olen = 0;
	CHECK(codegen_emit(&p, NULL, &obj, &olen) == 0, "codegen_emit failed");
	char src[128], bin[128], out[128], cmd[1024];
	snprintf(src, sizeof(src), "%s/loader.c", tmpdir);
	snprintf(bin, sizeof(bin), "%s/loader", tmpdir);
	snprintf(out, sizeof(out), "%s/info.out", tmpdir);
	FILE *f = obj ? fopen(src, "w") : NULL;
	CHECK(!obj || f, "cannot write %s", src);
	int r = f ? loader_write(f, &p, obj, olen) : -1;
	CHECK(!f || r == 0, "loader_write failed: %s", strerror(errno));
	if (f)
		fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "cc -std=c11 -Wall -Wextra -Werror -o %s %s $(pkg-config --cflags --libs libbpf) "
		 "&& %s info > %s",
		 bin, src, bin, out);
	r = r ? r : run(cmd);
	CHECK(r == 0, "the generated loader did not build or run: %s", cmd);
	size_t tlen;
	char *text = r ? NULL : read_file(src, &tlen);
	if (text) {
		check_info(out, source, olen);
		CHECK(blob_is(text, obj, olen), "the embedded bytes are not the object's");
		CHECK(!strstr(text, "?\?"), "the generated file contains \"?\?\"");
	}
	free(text);
	free(obj);
}

/* ---------------------------------------------------------------- elf_section */

/* libelf's answer: .xdpl.meta's offset and size; -1 if libelf finds no
 * such section, -2 if it refuses the object (then so would libbpf). */
static int libelf_meta(const uint8_t *buf, size_t len, uint64_t *off, uint64_t *size)
{
	uint8_t *copy = malloc(len ? len : 1); /* libelf may write to its image */
	memcpy(copy, buf, len);
	Elf *e = elf_memory((char *)copy, len);
	size_t shstrndx;
	int found = -2;
	if (e && elf_kind(e) == ELF_K_ELF && gelf_getclass(e) == ELFCLASS64 &&
	    elf_getshdrstrndx(e, &shstrndx) == 0)
		found = -1;
	if (found == -1)
		for (Elf_Scn *scn = elf_nextscn(e, NULL); scn && found < 0; scn = elf_nextscn(e, scn)) {
			GElf_Shdr sh;
			const char *name = gelf_getshdr(scn, &sh) ? elf_strptr(e, shstrndx, sh.sh_name) : NULL;
			if (name && strcmp(name, ".xdpl.meta") == 0 && sh.sh_type != SHT_NOBITS) {
				*off = sh.sh_offset;
				*size = sh.sh_size;
				found = 0;
			}
		}
	elf_end(e);
	free(copy);
	return found;
}

/* One buffer: where both readers find .xdpl.meta in bounds, they agree; a
 * section ours reports is the one libelf reports. Returns whether ours
 * found it. */
static bool compare_readers(const uint8_t *buf, size_t len, int *disagree)
{
	const unsigned char *d = NULL;
	size_t n = 0;
	uint64_t off = 0, size = 0;
	int ours = xdpl__elf_section(buf, len, ".xdpl.meta", &d, &n);
	int theirs = libelf_meta(buf, len, &off, &size);
	bool in_bounds = theirs == 0 && off <= len && size <= len - off;
	bool bad = false;
	if (ours == 0 && theirs != -2 && !(theirs == 0 && (uint64_t)(d - buf) == off && n == size))
		bad = true;
	else if (ours != 0 && in_bounds && len >= 64 && (buf[0x3c] | buf[0x3d]))
		bad = true; /* (e_shnum 0 is extended numbering, which ours does not read) */
	if (bad && *disagree < 5)
		fprintf(stderr, "elf_section.c and libelf disagree on a %zu-byte object: ours %d at "
			"%zd+%zu, libelf %d at %llu+%llu\n",
			len, ours, ours ? (ssize_t)-1 : (ssize_t)(d - buf), n, theirs,
			(unsigned long long)off, (unsigned long long)size);
	*disagree += bad;
	return ours == 0;
}

static void test_elf_section(void)
{
	struct ir_program p;
	struct ir_map m;
	struct ir_map_entry e;
	struct ir_rule rules[2];
	struct ir_cond t;
	make_program(&p, &m, &e, rules, &t, "/tmp/p.xdpl");
	void *obj = NULL;
	size_t olen = 0;
	CHECK(codegen_emit(&p, NULL, &obj, &olen) == 0, "codegen_emit failed");
	if (!obj)
		return;
	elf_version(EV_CURRENT);
	int disagree = 0, found = 0, cases = 0;
	CHECK(compare_readers(obj, olen, &disagree) && !disagree, "the object itself");
	uint8_t *buf = malloc(olen);
	const uint8_t *o = obj;
	uint64_t shoff = 0;
	for (int i = 7; i >= 0; i--)
		shoff = shoff << 8 | o[0x28 + i];
	srand(7);
	for (int round = 0; round < 4000; round++, cases++) {
		memcpy(buf, obj, olen);
		for (int k = 0; k < 1 + rand() % 3; k++) { /* header or section header bytes */
			size_t at = rand() % 2 ? (size_t)rand() % 64
					       : (size_t)(shoff + (uint64_t)rand() % (olen - shoff));
			buf[at] = rand() % 4 ? (uint8_t)rand() : (uint8_t)(buf[at] ^ (1u << (rand() % 8)));
		}
		found += compare_readers(buf, olen, &disagree);
	}
	for (size_t cut = 0; cut < olen; cut += 1 + olen / 500, cases++) {
		uint8_t *part = malloc(cut ? cut : 1); /* exact size: ASan sees any overrun */
		memcpy(part, obj, cut);
		found += compare_readers(part, cut, &disagree);
		free(part);
	}
	CHECK(disagree == 0, "%d of %d mutated objects: elf_section.c and libelf disagree", disagree,
	      cases);
	CHECK(found > cases / 10, "only %d of %d mutated objects still had .xdpl.meta found", found,
	      cases);
	printf("ok: elf_section.c agrees with libelf on %d mutated objects (%d with .xdpl.meta)\n",
	       cases, found);
	free(buf);
	free(obj);
}

int main(void)
{
	if (run("command -v cc >/dev/null 2>&1 && pkg-config --exists libbpf") != 0) {
		fprintf(stderr, "FAIL: needs cc and libbpf's pkg-config file (scripts/deps.sh installs them)\n");
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/xdpl-test-loader.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_exact();
	test_round_trip();
	test_loader_write();
	test_elf_section();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	run(cmd);
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("ok: loader escaping and generation\n");
	return 0;
}
