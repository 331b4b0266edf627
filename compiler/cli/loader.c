/* xdplc build --loader: a standalone C loader for one compiled policy.
 *
 * The generated file embeds the BPF object and what the loader must know
 * about it (rule names and verdicts, maps, the initial elements of sets,
 * `redirect IFNAME` slots, the .xdpl.meta text) and builds with nothing but
 * `cc loader.c $(pkg-config --cflags --libs libbpf)`. It attaches with a BPF
 * link and pins exactly as runtime/xdpl_meta.h describes (link, every map
 * by its source name, xdpl_meta), so xdplc can inspect or detach what it
 * attached and the other way round.
 *
 * Layout of the output: a header comment, includes and the table types;
 * the tables (names as escaped C string literals); a declaration of the
 * object's bytes; the fixed runtime (loader_runtime below, written out line
 * by line); the object's bytes at the end (the metadata text is read from
 * its .xdpl.meta section in place).
 *
 * Everything that comes from the source or the object -- program, rule and
 * map names, the source path, interface names -- is written through
 * loader_c_string() (string literals) or loader_c_comment() (comment
 * text), never raw.
 *
 * The runtime part was written and tested as a plain C file; keep it
 * compiling with -std=c11 -Wall -Wextra -Werror against libbpf >= 1.0 (the
 * tests build the output that way) and avoid "??" in it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "loader.h"
#include "xdpl_meta.h"

/* ------------------------------------------------------------ escaping */

struct buf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static char *buf_done(struct buf *b)
{
	if (b->oom || !b->s) {
		free(b->s);
		if (!b->oom) /* empty result */
			return calloc(1, 1);
		errno = ENOMEM;
		return NULL;
	}
	return b->s;
}

/* One byte of s escaped for a string literal or a comment. Printable ASCII
 * stays, except '"' and '\\' (string syntax) and '?' (so no "??x" trigraph
 * can form, in any -std); \n and \t by name; anything else (controls, DEL,
 * every byte of a UTF-8 sequence) as a 3-digit octal escape, which cannot
 * swallow a following digit the way \x can. */
static void escape_byte(struct buf *b, unsigned char c)
{
	char tmp[8];
	switch (c) {
	case '"': buf_add(b, "\\\"", 2); return;
	case '\\': buf_add(b, "\\\\", 2); return;
	case '?': buf_add(b, "\\?", 2); return;
	case '\n': buf_add(b, "\\n", 2); return;
	case '\t': buf_add(b, "\\t", 2); return;
	default: break;
	}
	if (c < 0x20 || c >= 0x7f) {
		snprintf(tmp, sizeof(tmp), "\\%03o", c);
		buf_add(b, tmp, 4);
	} else {
		tmp[0] = (char)c;
		buf_add(b, tmp, 1);
	}
}

char *loader_c_string(const char *s)
{
	struct buf b = { 0 };
	buf_add(&b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
		escape_byte(&b, *p);
	buf_add(&b, "\"", 1);
	return buf_done(&b);
}

/* Inside a block comment the same escapes keep everything on one line and
 * trigraph-free; in addition "*" "/" and "/" "*" are split with a
 * backslash so the text can neither end the comment nor open a nested one
 * (-Wcomment). */
char *loader_c_comment(const char *s)
{
	struct buf b = { 0 };
	unsigned char prev = 0;
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if ((*p == '/' && prev == '*') || (*p == '*' && prev == '/'))
			buf_add(&b, "\\", 1);
		escape_byte(&b, *p);
		prev = *p;
	}
	return buf_done(&b);
}

/* ------------------------------------------------------------ the object */

static uint64_t rd(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The contents of section `name` of a 64-bit little-endian ELF object
 * (what codegen writes for bpfel). 0, or -1 if absent or malformed. */
static int elf_section(const unsigned char *obj, size_t len, const char *name,
		       const unsigned char **data, size_t *size)
{
	if (len < 64 || memcmp(obj, "\177ELF", 4) != 0 || obj[4] != 2 /* ELFCLASS64 */ ||
	    obj[5] != 1 /* ELFDATA2LSB */)
		return -1;
	uint64_t shoff = rd(obj + 0x28, 8);
	uint64_t shentsize = rd(obj + 0x3a, 2), shnum = rd(obj + 0x3c, 2);
	uint64_t shstrndx = rd(obj + 0x3e, 2);
	if (shentsize < 64 || shnum == 0 || shstrndx >= shnum || shoff > len ||
	    shnum > (len - shoff) / shentsize)
		return -1;
	const unsigned char *strsh = obj + shoff + shstrndx * shentsize;
	uint64_t stroff = rd(strsh + 0x18, 8), strsize = rd(strsh + 0x20, 8);
	if (stroff > len || strsize > len - stroff)
		return -1;
	size_t nlen = strlen(name);
	for (uint64_t i = 0; i < shnum; i++) {
		const unsigned char *sh = obj + shoff + i * shentsize;
		uint64_t noff = rd(sh, 4);
		if (noff >= strsize || strsize - noff < nlen + 1 ||
		    memcmp(obj + stroff + noff, name, nlen + 1) != 0)
			continue;
		uint64_t off = rd(sh + 0x18, 8), sz = rd(sh + 0x20, 8);
		if (off > len || sz > len - off)
			return -1;
		*data = obj + off;
		*size = (size_t)sz;
		return 0;
	}
	return -1;
}

/* ------------------------------------------------------------ output */

/* The fixed part of the loader, after the tables. */
static const char *const loader_runtime[] = {
	"/* ------------------------------------------------------------------ runtime */",
	"",
	"#define ERR_USER 1",
	"",
	"static const char *me = \"loader\";",
	"static char libbpf_msg[512];   /* libbpf's last warning, for error messages */",
	"static bool debug;",
	"",
	"__attribute__((format(printf, 1, 2))) static int error(const char *fmt, ...)",
	"{",
	"\tva_list ap;",
	"\tfflush(stdout);",
	"\tfprintf(stderr, \"%s: error: \", me);",
	"\tva_start(ap, fmt);",
	"\tvfprintf(stderr, fmt, ap);",
	"\tva_end(ap);",
	"\tfputc('\\n', stderr);",
	"\treturn -1;",
	"}",
	"",
	"static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)",
	"{",
	"\tif (debug)",
	"\t\treturn vfprintf(stderr, fmt, ap);",
	"\tif (level == LIBBPF_WARN) {",
	"\t\tchar buf[sizeof(libbpf_msg)];",
	"\t\tvsnprintf(buf, sizeof(buf), fmt, ap);",
	"\t\tsize_t n = strlen(buf);",
	"\t\twhile (n && (buf[n - 1] == '\\n' || buf[n - 1] == ' '))",
	"\t\t\tbuf[--n] = 0;",
	"\t\tif (n)",
	"\t\t\tmemcpy(libbpf_msg, buf, n + 1);",
	"\t}",
	"\treturn 0;",
	"}",
	"",
	"static int check_ifname(const char *ifname)",
	"{",
	"\tsize_t n = strlen(ifname);",
	"\tif (n == 0 || n >= IF_NAMESIZE || strchr(ifname, '/'))",
	"\t\treturn error(\"'%s' is not a network device name\", ifname);",
	"\treturn 0;",
	"}",
	"",
	"/* \"PIN_ROOT/IFNAME[/NAME]\" into buf; -1 if it does not fit. bpffs names may",
	" * not contain '.', so as in xdplc '.' is written %2e and '%' itself %25",
	" * (\"eth0.100\" -> \"eth0%2e100\"). */",
	"static int pin_path(char *buf, size_t size, const char *ifname, const char *name)",
	"{",
	"\tchar enc[3 * IF_NAMESIZE + 1];",
	"\tsize_t w = 0;",
	"\tfor (const char *p = ifname; *p && w + 4 < sizeof(enc); p++) {",
	"\t\tif (*p == '.' || *p == '%')",
	"\t\t\tw += (size_t)snprintf(enc + w, sizeof(enc) - w, \"%%%02x\", (unsigned char)*p);",
	"\t\telse",
	"\t\t\tenc[w++] = *p;",
	"\t}",
	"\tenc[w] = 0;",
	"\tint n = name \? snprintf(buf, size, \"%s/%s/%s\", PIN_ROOT, enc, name)",
	"\t\t     : snprintf(buf, size, \"%s/%s\", PIN_ROOT, enc);",
	"\treturn n < 0 || (size_t)n >= size \? -1 : 0;",
	"}",
	"",
	"static bool is_percpu(enum bpf_map_type t)",
	"{",
	"\treturn t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH ||",
	"\t       t == BPF_MAP_TYPE_LRU_PERCPU_HASH;",
	"}",
	"",
	"static int possible_cpus(void)",
	"{",
	"\tint n = libbpf_num_possible_cpus();",
	"\treturn n < 1 \? 1 : n;",
	"}",
	"",
	"/* bpffs mounted at BPFFS_ROOT (mounting it if needed). */",
	"static int prepare_bpffs(void)",
	"{",
	"\tstruct statfs st;",
	"\tif (statfs(BPFFS_ROOT, &st) != 0)",
	"\t\treturn error(\"cannot use %s: %s\", BPFFS_ROOT, strerror(errno));",
	"\tif ((unsigned long)st.f_type != 0xcafe4a11UL /* BPF_FS_MAGIC */) {",
	"\t\tif (mount(\"bpf\", BPFFS_ROOT, \"bpf\", 0, \"mode=0700\") != 0)",
	"\t\t\treturn error(\"%s is not a bpf filesystem and mounting one there failed: %s\",",
	"\t\t\t\t     BPFFS_ROOT, strerror(errno));",
	"\t}",
	"\treturn 0;",
	"}",
	"",
	"/* xdplc and its loaders serialise changes to the pins with an exclusive",
	" * flock on PIN_ROOT (created if needed). Returns the locked fd. */",
	"static int lock_root(void)",
	"{",
	"\tif (mkdir(PIN_ROOT, 0700) != 0 && errno != EEXIST) {",
	"\t\tif (errno == EPERM || errno == EACCES)",
	"\t\t\treturn error(\"cannot create %s: needs root: run with sudo\", PIN_ROOT);",
	"\t\treturn error(\"cannot create %s: %s\", PIN_ROOT, strerror(errno));",
	"\t}",
	"\tint fd = open(PIN_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);",
	"\tif (fd < 0) {",
	"\t\tif (errno == EPERM || errno == EACCES)",
	"\t\t\treturn error(\"cannot open %s: needs root: run with sudo\", PIN_ROOT);",
	"\t\treturn error(\"cannot open %s: %s\", PIN_ROOT, strerror(errno));",
	"\t}",
	"\tif (flock(fd, LOCK_EX) != 0) {",
	"\t\tint e = errno;",
	"\t\tclose(fd);",
	"\t\treturn error(\"cannot lock %s: %s\", PIN_ROOT, strerror(e));",
	"\t}",
	"\treturn fd;",
	"}",
	"",
	"/* ------------------------------------------------------------------ attach */",
	"",
	"struct attach_state {",
	"\tconst char *ifname;",
	"\tchar dir[256];",
	"\tbool made_dir;",
	"\tchar (*pins)[256];",
	"\tint npins;",
	"\tstruct bpf_object *obj;",
	"\tvoid *obj_copy;",
	"\tint meta_fd, link_fd;",
	"};",
	"",
	"static int add_pin(struct attach_state *st, int fd, const char *name)",
	"{",
	"\tchar path[256];",
	"\tif (pin_path(path, sizeof(path), st->ifname, name) != 0)",
	"\t\treturn error(\"pin path for '%s' is too long\", name);",
	"\tchar (*np)[256] = realloc(st->pins, sizeof(*st->pins) * (size_t)(st->npins + 1));",
	"\tif (!np)",
	"\t\treturn error(\"out of memory\");",
	"\tst->pins = np;",
	"\tif (bpf_obj_pin(fd, path) != 0)",
	"\t\treturn error(\"cannot pin %s: %s\", path, strerror(errno));",
	"\tmemcpy(st->pins[st->npins++], path, sizeof(path));",
	"\treturn 0;",
	"}",
	"",
	"/* Undo a failed attach: nothing may stay behind. */",
	"static void attach_rollback(struct attach_state *st)",
	"{",
	"\tfor (int i = st->npins - 1; i >= 0; i--)",
	"\t\tunlink(st->pins[i]);",
	"\tif (st->link_fd >= 0)",
	"\t\tclose(st->link_fd); /* an unpinned link detaches when closed */",
	"\tif (st->meta_fd >= 0)",
	"\t\tclose(st->meta_fd);",
	"\tif (st->made_dir)",
	"\t\trmdir(st->dir);",
	"\trmdir(PIN_ROOT); /* only when empty */",
	"}",
	"",
	"static int apply_inits(struct bpf_object *obj)",
	"{",
	"\tint ncpus = possible_cpus();",
	"\tfor (const struct loader_init *in = policy_inits; in->map; in++) {",
	"\t\tstruct bpf_map *m = bpf_object__find_map_by_name(obj, in->map);",
	"\t\tif (!m)",
	"\t\t\treturn error(\"the object has no map '%s' for its initial elements\", in->map);",
	"\t\tsize_t ks = bpf_map__key_size(m), vs = bpf_map__value_size(m);",
	"\t\tif (in->key_len != ks || in->value_len > vs)",
	"\t\t\treturn error(\"initial element of '%s' does not match the map's layout\",",
	"\t\t\t\t     in->map);",
	"\t\tbool pc = is_percpu(bpf_map__type(m));",
	"\t\tsize_t stride = pc \? (vs + 7) / 8 * 8 : vs;",
	"\t\tint copies = pc \? ncpus : 1;",
	"\t\tunsigned char *val = calloc((size_t)copies, stride \? stride : 1);",
	"\t\tif (!val)",
	"\t\t\treturn error(\"out of memory\");",
	"\t\tfor (int c = 0; c < copies; c++)",
	"\t\t\tmemcpy(val + stride * (size_t)c, in->value, in->value_len);",
	"\t\tint r = bpf_map_update_elem(bpf_map__fd(m), in->key, val, BPF_ANY);",
	"\t\tint e = errno;",
	"\t\tfree(val);",
	"\t\tif (r != 0) {",
	"\t\t\tif (e == E2BIG)",
	"\t\t\t\treturn error(\"set '%s' is full: its initial elements do not fit in \"",
	"\t\t\t\t\t     \"max %u\", in->map, bpf_map__max_entries(m));",
	"\t\t\treturn error(\"cannot add an initial element to '%s': %s\", in->map,",
	"\t\t\t\t     strerror(e));",
	"\t\t}",
	"\t}",
	"\treturn 0;",
	"}",
	"",
	"/* `redirect IFNAME`: point the devmap slots at the interfaces present now. */",
	"static int apply_ifnames(struct bpf_object *obj)",
	"{",
	"\tif (!policy_ifnames[0].name)",
	"\t\treturn 0;",
	"\tstruct bpf_map *m = bpf_object__find_map_by_name(obj, REDIRECT_MAP);",
	"\tif (!m)",
	"\t\treturn error(\"the object lacks the map %s that `redirect IFNAME` needs\",",
	"\t\t\t     REDIRECT_MAP);",
	"\tfor (const struct loader_ifname *r = policy_ifnames; r->name; r++) {",
	"\t\tunsigned idx = if_nametoindex(r->name);",
	"\t\tif (!idx) {",
	"\t\t\tfprintf(stderr, \"%s: warning: no interface %s here: `redirect %s` drops\\n\",",
	"\t\t\t\tme, r->name, r->name);",
	"\t\t\tcontinue;",
	"\t\t}",
	"\t\tunsigned char val[64] = { 0 };",
	"\t\tuint32_t ifx = idx;",
	"\t\tif (bpf_map__value_size(m) > sizeof(val))",
	"\t\t\treturn error(\"unexpected value size of %s\", REDIRECT_MAP);",
	"\t\tmemcpy(val, &ifx, sizeof(ifx));",
	"\t\tuint32_t key = r->slot;",
	"\t\tif (bpf_map_update_elem(bpf_map__fd(m), &key, val, BPF_ANY) != 0)",
	"\t\t\treturn error(\"cannot point redirect slot %u at %s: %s\", r->slot, r->name,",
	"\t\t\t\t     strerror(errno));",
	"\t}",
	"\treturn 0;",
	"}",
	"",
	"/* The xdpl_meta map: a 1-entry array whose value is the metadata text. */",
	"static int make_meta_map(void)",
	"{",
	"\tsize_t len = strlen((const char *)policy_meta);",
	"\tsize_t vs = (len + 1 + 7) / 8 * 8;",
	"\tint fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, PIN_META, 4, (unsigned)vs, 1, NULL);",
	"\tif (fd < 0)",
	"\t\treturn error(\"cannot create the %s map (%zu bytes): %s\", PIN_META, vs,",
	"\t\t\t     strerror(errno));",
	"\tchar *val = calloc(1, vs);",
	"\tif (!val) {",
	"\t\tclose(fd);",
	"\t\treturn error(\"out of memory\");",
	"\t}",
	"\tmemcpy(val, policy_meta, len);",
	"\tuint32_t key = 0;",
	"\tint r = bpf_map_update_elem(fd, &key, val, BPF_ANY);",
	"\tint e = errno;",
	"\tfree(val);",
	"\tif (r != 0) {",
	"\t\tclose(fd);",
	"\t\treturn error(\"cannot fill the %s map: %s\", PIN_META, strerror(e));",
	"\t}",
	"\tbpf_map_freeze(fd); /* read-only from now on, as xdplc makes it */",
	"\treturn fd;",
	"}",
	"",
	"/* " XDPL_SELF_INIT_VAR " = 1 in .data: this loader puts the initial",
	" * elements in itself (xdpl_meta.h). */",
	"static int mark_self_init(struct bpf_object *bo)",
	"{",
	"\tstruct btf *btf = bpf_object__btf(bo);",
	"\tint id = btf ? btf__find_by_name_kind(btf, \".data\", BTF_KIND_DATASEC) : -1;",
	"\tif (id < 0)",
	"\t\treturn 0;",
	"\tconst struct btf_type *t = btf__type_by_id(btf, (__u32)id);",
	"\tconst struct btf_var_secinfo *vs = btf_var_secinfos(t);",
	"\tlong off = -1;",
	"\tfor (int i = 0; i < btf_vlen(t); i++) {",
	"\t\tconst struct btf_type *vt = btf__type_by_id(btf, vs[i].type);",
	"\t\tif (vt && !strcmp(btf__name_by_offset(btf, vt->name_off), \"" XDPL_SELF_INIT_VAR "\"))",
	"\t\t\toff = (long)vs[i].offset;",
	"\t}",
	"\tstruct bpf_map *m;",
	"\tbpf_object__for_each_map(m, bo) {",
	"\t\tconst char *name = bpf_map__name(m);",
	"\t\tsize_t n = strlen(name), size = 0;",
	"\t\tif (off < 0 || !bpf_map__is_internal(m) || n < 5 || strcmp(name + n - 5, \".data\"))",
	"\t\t\tcontinue;",
	"\t\tconst void *init = bpf_map__initial_value(m, &size);",
	"\t\tif (!init || size < (size_t)off + 4)",
	"\t\t\tcontinue;",
	"\t\tunsigned char *buf = malloc(size);",
	"\t\tif (!buf)",
	"\t\t\treturn error(\"out of memory\");",
	"\t\tmemcpy(buf, init, size);",
	"\t\tuint32_t one = 1;",
	"\t\tmemcpy(buf + off, &one, 4);",
	"\t\tint err = bpf_map__set_initial_value(m, buf, size);",
	"\t\tfree(buf);",
	"\t\tif (err)",
	"\t\t\treturn error(\"cannot set %s: %s\", name, strerror(-err));",
	"\t}",
	"\treturn 0;",
	"}",
	"",
	"static int load_object(struct attach_state *st)",
	"{",
	"\tst->obj_copy = malloc(sizeof(policy_object));",
	"\tif (!st->obj_copy)",
	"\t\treturn error(\"out of memory\");",
	"\tmemcpy(st->obj_copy, policy_object, sizeof(policy_object));",
	"\tLIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = \"xdpl\");",
	"\tst->obj = bpf_object__open_mem(st->obj_copy, sizeof(policy_object), &oo);",
	"\tif (!st->obj)",
	"\t\treturn error(\"cannot open the embedded object: %s%s%s\", strerror(errno),",
	"\t\t\t     libbpf_msg[0] \? \" -- \" : \"\", libbpf_msg);",
	"\tstruct bpf_program *prog = bpf_object__next_program(st->obj, NULL);",
	"\tif (!prog)",
	"\t\treturn error(\"the embedded object has no program\");",
	"\tstatic char vlog[1 << 20];",
	"\tvlog[0] = 0;",
	"\tbpf_program__set_log_buf(prog, vlog, sizeof(vlog));",
	"\tif (mark_self_init(st->obj) != 0)",
	"\t\treturn -1;",
	"\tif (bpf_object__load(st->obj) != 0) {",
	"\t\tint e = errno;",
	"\t\tif (vlog[0]) {",
	"\t\t\tsize_t n = strlen(vlog);",
	"\t\t\twhile (n && (vlog[n - 1] == '\\n' || vlog[n - 1] == ' '))",
	"\t\t\t\tvlog[--n] = 0;",
	"\t\t\tconst char *last = strrchr(vlog, '\\n');",
	"\t\t\terror(\"the kernel verifier rejected the program: %s%s\",",
	"\t\t\t      last \? last + 1 : vlog,",
	"\t\t\t      debug \? \"\" : \" (XDPL_DEBUG=1 shows the whole log)\");",
	"\t\t\tif (debug)",
	"\t\t\t\tfprintf(stderr, \"%s\\n\", vlog);",
	"\t\t\treturn -1;",
	"\t\t}",
	"\t\tif (e == EPERM || e == EACCES)",
	"\t\t\treturn error(\"loading BPF programs needs root (CAP_BPF, CAP_NET_ADMIN): \"",
	"\t\t\t\t     \"run with sudo\");",
	"\t\treturn error(\"loading the program failed: %s%s%s\", strerror(e),",
	"\t\t\t     libbpf_msg[0] \? \" -- \" : \"\", libbpf_msg);",
	"\t}",
	"\treturn 0;",
	"}",
	"",
	"static int cmd_attach(const char *ifname, unsigned flags, const char *mode)",
	"{",
	"\tif (check_ifname(ifname) != 0)",
	"\t\treturn -1;",
	"\tunsigned ifindex = if_nametoindex(ifname);",
	"\tif (!ifindex)",
	"\t\treturn error(\"no network interface named '%s' (in this network namespace)\",",
	"\t\t\t     ifname);",
	"\tif (prepare_bpffs() != 0)",
	"\t\treturn -1;",
	"\tint lock = lock_root();",
	"\tif (lock < 0)",
	"\t\treturn -1;",
	"",
	"\tstruct attach_state st = { .ifname = ifname, .meta_fd = -1, .link_fd = -1 };",
	"\tint ret = -1;",
	"\tif (pin_path(st.dir, sizeof(st.dir), ifname, NULL) != 0) {",
	"\t\terror(\"pin path for '%s' is too long\", ifname);",
	"\t\tgoto out;",
	"\t}",
	"\t/* The directory is the lock: whoever creates it owns IFNAME. */",
	"\tif (mkdir(st.dir, 0700) != 0) {",
	"\t\tif (errno == EEXIST)",
	"\t\t\terror(\"%s already has an xdpl policy (pinned at %s); run '%s detach %s' \"",
	"\t\t\t      \"first\", ifname, st.dir, me, ifname);",
	"\t\telse",
	"\t\t\terror(\"cannot create %s: %s\", st.dir, strerror(errno));",
	"\t\tgoto out;",
	"\t}",
	"\tst.made_dir = true;",
	"",
	"\tif (load_object(&st) != 0 || apply_inits(st.obj) != 0 || apply_ifnames(st.obj) != 0)",
	"\t\tgoto out;",
	"\tst.meta_fd = make_meta_map();",
	"\tif (st.meta_fd < 0)",
	"\t\tgoto out;",
	"",
	"\tstruct bpf_program *prog = bpf_object__next_program(st.obj, NULL);",
	"\tLIBBPF_OPTS(bpf_link_create_opts, lo, .flags = flags);",
	"\tst.link_fd = bpf_link_create(bpf_program__fd(prog), (int)ifindex, BPF_XDP, &lo);",
	"\tif (st.link_fd < 0) {",
	"\t\tint e = errno;",
	"\t\tst.link_fd = -1;",
	"\t\tif (e == EBUSY || e == EEXIST)",
	"\t\t\terror(\"%s already has an XDP program attached by another tool; remove it \"",
	"\t\t\t      \"first (ip link set dev %s xdp off)\", ifname, ifname);",
	"\t\telse if (e == EOPNOTSUPP && (flags & (1U << 2)))",
	"\t\t\terror(\"%s does not support native XDP; use --mode skb\", ifname);",
	"\t\telse if (e == EPERM || e == EACCES)",
	"\t\t\terror(\"attaching XDP programs needs root (CAP_NET_ADMIN): run with sudo\");",
	"\t\telse",
	"\t\t\terror(\"cannot attach to %s: %s\", ifname, strerror(e));",
	"\t\tgoto out;",
	"\t}",
	"",
	"\tstruct bpf_map *m;",
	"\tbpf_object__for_each_map(m, st.obj) {",
	"\t\tconst char *name = bpf_map__name(m);",
	"\t\tif (bpf_map__is_internal(m) || strchr(name, '.'))",
	"\t\t\tcontinue;",
	"\t\t/* maps the program fills itself are made anew at every load (xdpl_meta.h) */",
	"\t\tif (!strncmp(name, \"_xdpl_set\", 9) || !strncmp(name, \"_xdpl_group\", 11) ||",
	"\t\t    !strncmp(name, \"_xdpl_scratch\", 13))",
	"\t\t\tcontinue;",
	"\t\tif (strcmp(name, PIN_LINK) == 0 || strcmp(name, PIN_META) == 0 ||",
	"\t\t    strncmp(name, \"new-\", 4) == 0) {",
	"\t\t\t/* names the pin layout reserves: xdplc does not pin these either */",
	"\t\t\tfprintf(stderr, \"%s: warning: map '%s' is not pinned: the pin layout \"",
	"\t\t\t\t\"reserves that name\\n\", me, name);",
	"\t\t\tcontinue;",
	"\t\t}",
	"\t\tif (add_pin(&st, bpf_map__fd(m), name) != 0)",
	"\t\t\tgoto out;",
	"\t}",
	"\tif (add_pin(&st, st.meta_fd, PIN_META) != 0)",
	"\t\tgoto out;",
	"\t/* The link last: once it is pinned the policy is attached. */",
	"\tif (add_pin(&st, st.link_fd, PIN_LINK) != 0)",
	"\t\tgoto out;",
	"",
	"\tstruct bpf_prog_info pi;",
	"\tuint32_t pil = sizeof(pi);",
	"\tmemset(&pi, 0, sizeof(pi));",
	"\tbpf_obj_get_info_by_fd(bpf_program__fd(prog), &pi, &pil);",
	"\tLIBBPF_OPTS(bpf_xdp_query_opts, q);",
	"\tif (bpf_xdp_query((int)ifindex, 0, &q) == 0 && pi.id) {",
	"\t\tif (q.drv_prog_id == pi.id)",
	"\t\t\tmode = \"native mode\";",
	"\t\telse if (q.skb_prog_id == pi.id)",
	"\t\t\tmode = \"skb mode\";",
	"\t}",
	"\tprintf(\"attached %s to %s (%s, prog id %u); pinned at %s\\n\", policy_program, ifname,",
	"\t       mode, pi.id, st.dir);",
	"\tclose(st.link_fd);",
	"\tclose(st.meta_fd);",
	"\tst.link_fd = st.meta_fd = -1;",
	"\tret = 0;",
	"out:",
	"\tif (ret != 0)",
	"\t\tattach_rollback(&st);",
	"\tbpf_object__close(st.obj);",
	"\tfree(st.obj_copy);",
	"\tfree(st.pins);",
	"\tclose(lock);",
	"\treturn ret;",
	"}",
	"",
	"/* ------------------------------------------------------------------ detach */",
	"",
	"/* The link pinned at path is attached to IFNAME of another network",
	" * namespace: a live link whose device is not IFNAME here, or whose program",
	" * is not the one XDP runs on IFNAME here. */",
	"static bool link_elsewhere(int link_fd, const char *ifname, unsigned *ifindex)",
	"{",
	"\tstruct bpf_link_info li;",
	"\tuint32_t len = sizeof(li);",
	"\tmemset(&li, 0, sizeof(li));",
	"\tif (bpf_obj_get_info_by_fd(link_fd, &li, &len) != 0 || li.type != BPF_LINK_TYPE_XDP ||",
	"\t    li.xdp.ifindex == 0)",
	"\t\treturn false; /* not live: nothing to compare */",
	"\t*ifindex = li.xdp.ifindex;",
	"\tif (if_nametoindex(ifname) != li.xdp.ifindex)",
	"\t\treturn true;",
	"\tLIBBPF_OPTS(bpf_xdp_query_opts, q);",
	"\tif (bpf_xdp_query((int)li.xdp.ifindex, 0, &q) != 0)",
	"\t\treturn false;",
	"\treturn q.drv_prog_id != li.prog_id && q.skb_prog_id != li.prog_id &&",
	"\t       q.hw_prog_id != li.prog_id;",
	"}",
	"",
	"static int cmd_detach(const char *ifname)",
	"{",
	"\tchar dir[256], path[256 + 256];",
	"\tif (check_ifname(ifname) != 0)",
	"\t\treturn -1;",
	"\tif (pin_path(dir, sizeof(dir), ifname, NULL) != 0)",
	"\t\treturn error(\"pin path for '%s' is too long\", ifname);",
	"\tstruct stat sb;",
	"\tif (stat(dir, &sb) != 0) {",
	"\t\tif (errno == EPERM || errno == EACCES)",
	"\t\t\treturn error(\"detaching needs root: run with sudo\");",
	"\t\treturn error(\"no xdpl policy is attached to %s (nothing in %s)\", ifname, dir);",
	"\t}",
	"\tint lock = lock_root();",
	"\tif (lock < 0)",
	"\t\treturn -1;",
	"\tint ret = -1;",
	"\tDIR *d = opendir(dir);",
	"\tif (!d) {",
	"\t\tif (errno == ENOENT)",
	"\t\t\terror(\"no xdpl policy is attached to %s (nothing in %s)\", ifname, dir);",
	"\t\telse",
	"\t\t\terror(\"cannot open %s: %s\", dir, strerror(errno));",
	"\t\tgoto out;",
	"\t}",
	"\tsnprintf(path, sizeof(path), \"%s/%s\", dir, PIN_LINK);",
	"\tint fd = bpf_obj_get(path);",
	"\tif (fd >= 0) {",
	"\t\tunsigned ifx = 0;",
	"\t\tif (link_elsewhere(fd, ifname, &ifx)) {",
	"\t\t\tclose(fd);",
	"\t\t\terror(\"%s belongs to a device named %s in another network namespace \"",
	"\t\t\t      \"(ifindex %u): detach it from there\", dir, ifname, ifx);",
	"\t\t\tgoto out;",
	"\t\t}",
	"\t\t/* Detach even if someone else holds the link open. */",
	"\t\tif (bpf_link_detach(fd) != 0 && errno != ENOLINK && errno != EINVAL) {",
	"\t\t\tint e = errno;",
	"\t\t\tclose(fd);",
	"\t\t\terror(\"cannot detach the link %s: %s\", path, strerror(e));",
	"\t\t\tgoto out;",
	"\t\t}",
	"\t\tclose(fd);",
	"\t} else if (errno != ENOENT) {",
	"\t\tif (errno == EPERM || errno == EACCES)",
	"\t\t\terror(\"detaching needs root: run with sudo\");",
	"\t\telse",
	"\t\t\terror(\"cannot open the link %s: %s\", path, strerror(errno));",
	"\t\tgoto out;",
	"\t}",
	"\tret = 0;",
	"\tstruct dirent *de;",
	"\twhile ((de = readdir(d)) != NULL) {",
	"\t\tif (strcmp(de->d_name, \".\") == 0 || strcmp(de->d_name, \"..\") == 0)",
	"\t\t\tcontinue;",
	"\t\tsnprintf(path, sizeof(path), \"%s/%s\", dir, de->d_name);",
	"\t\tif (unlink(path) != 0 && errno != ENOENT)",
	"\t\t\tret = error(\"cannot remove %s: %s\", path, strerror(errno));",
	"\t}",
	"\tif (ret == 0 && rmdir(dir) != 0)",
	"\t\tret = error(\"cannot remove %s: %s\", dir, strerror(errno));",
	"\tif (ret == 0)",
	"\t\tprintf(\"detached the xdpl policy from %s\\n\", ifname);",
	"out:",
	"\tif (d)",
	"\t\tclosedir(d);",
	"\trmdir(PIN_ROOT); /* only when empty */",
	"\tclose(lock);",
	"\treturn ret;",
	"}",
	"",
	"/* ------------------------------------------------------------------ stats */",
	"",
	"struct stat_rule {",
	"\tconst char *name, *verdict;",
	"\tunsigned long long base_packets, base_bytes; /* \"stats-base\" records */",
	"};",
	"",
	"/* The metadata text of the policy pinned at dir (malloc'd), or NULL. */",
	"static char *read_pinned_meta(const char *dir)",
	"{",
	"\tchar path[512];",
	"\tsnprintf(path, sizeof(path), \"%s/%s\", dir, PIN_META);",
	"\tint fd = bpf_obj_get(path);",
	"\tif (fd < 0)",
	"\t\treturn NULL;",
	"\tstruct bpf_map_info info;",
	"\tuint32_t len = sizeof(info);",
	"\tmemset(&info, 0, sizeof(info));",
	"\tchar *text = NULL;",
	"\tif (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.key_size == 4 &&",
	"\t    info.value_size > 0) {",
	"\t\ttext = calloc(1, (size_t)info.value_size + 1);",
	"\t\tuint32_t key = 0;",
	"\t\tif (text && bpf_map_lookup_elem(fd, &key, text) != 0) {",
	"\t\t\tfree(text);",
	"\t\t\ttext = NULL;",
	"\t\t}",
	"\t}",
	"\tclose(fd);",
	"\treturn text;",
	"}",
	"",
	"/* Rule names and verdicts from \"rule I NAME LINE VERDICT\" and",
	" * \"default I VERDICT LINE\" records; *program from \"program NAME\"; counts",
	" * to add from \"stats-base NAME PACKETS BYTES\" (what earlier versions of a",
	" * policy counted before xdplc replaced it). */",
	"static void parse_meta_rules(char *text, struct stat_rule *rules, int n, char **program)",
	"{",
	"\tchar *bases[64];",
	"\tint nbases = 0;",
	"\tfor (char *save = NULL, *line = strtok_r(text, \"\\n\", &save); line;",
	"\t     line = strtok_r(NULL, \"\\n\", &save)) {",
	"\t\tif (strncmp(line, \"stats-base \", 11) == 0) {",
	"\t\t\tif (nbases < 64)",
	"\t\t\t\tbases[nbases++] = line; /* after the rules are known */",
	"\t\t\tcontinue;",
	"\t\t}",
	"\t\tchar *f[6];",
	"\t\tint nf = 0;",
	"\t\tfor (char *s2 = NULL, *t = strtok_r(line, \" \", &s2); t && nf < 6;",
	"\t\t     t = strtok_r(NULL, \" \", &s2))",
	"\t\t\tf[nf++] = t;",
	"\t\tif (nf == 5 && strcmp(f[0], \"rule\") == 0) {",
	"\t\t\tint i = atoi(f[1]);",
	"\t\t\tif (i >= 0 && i < n) {",
	"\t\t\t\trules[i].name = f[2];",
	"\t\t\t\trules[i].verdict = f[4];",
	"\t\t\t}",
	"\t\t} else if (nf == 4 && strcmp(f[0], \"default\") == 0) {",
	"\t\t\tint i = atoi(f[1]);",
	"\t\t\tif (i >= 0 && i < n) {",
	"\t\t\t\trules[i].name = \"default\";",
	"\t\t\t\trules[i].verdict = f[2];",
	"\t\t\t}",
	"\t\t} else if (nf == 2 && strcmp(f[0], \"program\") == 0) {",
	"\t\t\t*program = f[1];",
	"\t\t}",
	"\t}",
	"\tfor (int b = 0; b < nbases; b++) {",
	"\t\tchar name[256];",
	"\t\tunsigned long long pk, by;",
	"\t\tif (sscanf(bases[b], \"stats-base %255s %llu %llu\", name, &pk, &by) != 3)",
	"\t\t\tcontinue;",
	"\t\tfor (int i = 0; i < n; i++)",
	"\t\t\tif (rules[i].name && strcmp(rules[i].name, name) == 0) {",
	"\t\t\t\trules[i].base_packets += pk;",
	"\t\t\t\trules[i].base_bytes += by;",
	"\t\t\t\tbreak;",
	"\t\t\t}",
	"\t}",
	"}",
	"",
	"static int cmd_stats(const char *ifname)",
	"{",
	"\tchar dir[256], path[512];",
	"\tif (check_ifname(ifname) != 0)",
	"\t\treturn -1;",
	"\tif (pin_path(dir, sizeof(dir), ifname, NULL) != 0)",
	"\t\treturn error(\"pin path for '%s' is too long\", ifname);",
	"\tstruct stat sb;",
	"\tif (stat(dir, &sb) != 0) {",
	"\t\tif (errno == EPERM || errno == EACCES)",
	"\t\t\treturn error(\"reading counters needs root: run with sudo\");",
	"\t\treturn error(\"no xdpl policy is attached to %s (nothing in %s)\", ifname, dir);",
	"\t}",
	"\tsnprintf(path, sizeof(path), \"%s/%s\", dir, STATS_MAP);",
	"\tint fd = bpf_obj_get(path);",
	"\tif (fd < 0) {",
	"\t\tif (errno == EPERM || errno == EACCES)",
	"\t\t\treturn error(\"reading counters needs root: run with sudo\");",
	"\t\treturn error(\"cannot open the counters %s: %s\", path, strerror(errno));",
	"\t}",
	"\tstruct bpf_map_info info;",
	"\tuint32_t ilen = sizeof(info);",
	"\tmemset(&info, 0, sizeof(info));",
	"\tif (bpf_obj_get_info_by_fd(fd, &info, &ilen) != 0 ||",
	"\t    info.type != BPF_MAP_TYPE_PERCPU_ARRAY || info.value_size != 16 ||",
	"\t    info.max_entries == 0 || info.max_entries > (1u << 24)) {",
	"\t\tclose(fd);",
	"\t\treturn error(\"%s is not an xdpl counter map\", path);",
	"\t}",
	"\tint n = (int)info.max_entries;",
	"\tint ncpus = possible_cpus();",
	"\tstruct stat_rule *rules = calloc((size_t)n, sizeof(*rules));",
	"\tuint64_t *vals = calloc((size_t)ncpus * 2, sizeof(uint64_t));",
	"\tuint64_t *tot = calloc((size_t)n * 2, sizeof(uint64_t));",
	"\tchar *meta = read_pinned_meta(dir);",
	"\tchar *program = NULL;",
	"\tint ret = 0;",
	"\tif (!rules || !vals || !tot) {",
	"\t\tret = error(\"out of memory\");",
	"\t\tgoto out;",
	"\t}",
	"\tif (meta) {",
	"\t\tparse_meta_rules(meta, rules, n, &program);",
	"\t} else {",
	"\t\tint nr = 0;",
	"\t\twhile (policy_rules[nr].name)",
	"\t\t\tnr++;",
	"\t\tif (nr == n) /* no metadata pinned: ours, if it has our shape */",
	"\t\t\tfor (int i = 0; i < n; i++) {",
	"\t\t\t\trules[i].name = policy_rules[i].name;",
	"\t\t\t\trules[i].verdict = policy_rules[i].verdict;",
	"\t\t\t}",
	"\t}",
	"\tfor (uint32_t i = 0; i < (uint32_t)n; i++) {",
	"\t\tif (bpf_map_lookup_elem(fd, &i, vals) != 0) {",
	"\t\t\tret = error(\"cannot read counter %u of %s: %s\", i, path, strerror(errno));",
	"\t\t\tgoto out;",
	"\t\t}",
	"\t\tfor (int c = 0; c < ncpus; c++) {",
	"\t\t\ttot[2 * i] += vals[2 * c];",
	"\t\t\ttot[2 * i + 1] += vals[2 * c + 1];",
	"\t\t}",
	"\t}",
	"\tint w = 4;",
	"\tchar generic[32];",
	"\tfor (int i = 0; i < n; i++)",
	"\t\tif (rules[i].name && (int)strlen(rules[i].name) > w)",
	"\t\t\tw = (int)strlen(rules[i].name);",
	"\tprintf(\"%s on %s\\n\\n\", program \? program : \"xdpl policy\", ifname);",
	"\tprintf(\"%-*s  %-9s %14s %16s\\n\", w, \"rule\", \"verdict\", \"packets\", \"bytes\");",
	"\tfor (int i = 0; i < n; i++) {",
	"\t\tconst char *name = rules[i].name;",
	"\t\tif (!name) {",
	"\t\t\tsnprintf(generic, sizeof(generic), \"rule%d\", i);",
	"\t\t\tname = generic;",
	"\t\t}",
	"\t\tprintf(\"%-*s  %-9s %14llu %16llu\\n\", w, name,",
	"\t\t       rules[i].verdict \? rules[i].verdict : \"unknown\",",
	"\t\t       (unsigned long long)tot[2 * i] + rules[i].base_packets,",
	"\t\t       (unsigned long long)tot[2 * i + 1] + rules[i].base_bytes);",
	"\t}",
	"out:",
	"\tclose(fd);",
	"\tfree(rules);",
	"\tfree(vals);",
	"\tfree(tot);",
	"\tfree(meta);",
	"\treturn ret;",
	"}",
	"",
	"/* ------------------------------------------------------------------ info, main */",
	"",
	"static void cmd_info(void)",
	"{",
	"\tprintf(\"program %s\\nsource %s\\n\", policy_program, policy_source);",
	"\tfor (const struct loader_rule *r = policy_rules; r->name; r++)",
	"\t\tprintf(\"rule %s %s %d\\n\", r->name, r->verdict, r->line);",
	"\tfor (const char *const *m = policy_maps; *m; m++)",
	"\t\tprintf(\"map %s\\n\", *m);",
	"\tprintf(\"object %zu bytes\\n\", sizeof(policy_object));",
	"}",
	"",
	"static void usage(FILE *f)",
	"{",
	"\tfprintf(f,",
	"\t\t\"usage: %s attach IFNAME [--mode native|skb]\\n\"",
	"\t\t\"       %s detach IFNAME\\n\"",
	"\t\t\"       %s stats IFNAME\\n\"",
	"\t\t\"       %s info\\n\"",
	"\t\t\"\\n\"",
	"\t\t\"Loads the XDP policy '%s' (built by xdplc from %s),\\n\"",
	"\t\t\"attaches it to IFNAME with a BPF link and pins the link and its maps under\\n\"",
	"\t\t\"%s/IFNAME/, where `xdplc status`, `xdplc stats` and `xdplc detach`\\n\"",
	"\t\t\"find it too. Needs root. XDPL_DEBUG=1 prints libbpf's messages.\\n\",",
	"\t\tme, me, me, me, policy_program, policy_source, PIN_ROOT);",
	"}",
	"",
	"int main(int argc, char **argv)",
	"{",
	"\tif (argc > 0 && argv[0][0]) {",
	"\t\tconst char *slash = strrchr(argv[0], '/');",
	"\t\tme = slash \? slash + 1 : argv[0];",
	"\t}",
	"\tconst char *dbg = getenv(\"XDPL_DEBUG\");",
	"\tdebug = dbg && *dbg && strcmp(dbg, \"0\") != 0;",
	"\tlibbpf_set_print(libbpf_print);",
	"\tif (argc < 2) {",
	"\t\tusage(stderr);",
	"\t\treturn ERR_USER;",
	"\t}",
	"\tconst char *cmd = argv[1];",
	"\tif (strcmp(cmd, \"-h\") == 0 || strcmp(cmd, \"--help\") == 0 || strcmp(cmd, \"help\") == 0) {",
	"\t\tusage(stdout);",
	"\t\treturn 0;",
	"\t}",
	"\tif (strcmp(cmd, \"info\") == 0) {",
	"\t\tif (argc != 2) {",
	"\t\t\terror(\"'info' takes no arguments\");",
	"\t\t\treturn ERR_USER;",
	"\t\t}",
	"\t\tcmd_info();",
	"\t\treturn 0;",
	"\t}",
	"\tconst char *ifname = NULL, *mode = \"mode chosen by the kernel\";",
	"\tunsigned flags = 0;",
	"\tbool is_attach = strcmp(cmd, \"attach\") == 0;",
	"\tif (!is_attach && strcmp(cmd, \"detach\") != 0 && strcmp(cmd, \"stats\") != 0) {",
	"\t\terror(\"unknown command '%s' (try '%s --help')\", cmd, me);",
	"\t\treturn ERR_USER;",
	"\t}",
	"\tfor (int i = 2; i < argc; i++) {",
	"\t\tconst char *a = argv[i];",
	"\t\tconst char *val = NULL;",
	"\t\tif (is_attach && (strcmp(a, \"--mode\") == 0 || strcmp(a, \"-m\") == 0)) {",
	"\t\t\tif (i + 1 >= argc) {",
	"\t\t\t\terror(\"%s needs a value: native or skb\", a);",
	"\t\t\t\treturn ERR_USER;",
	"\t\t\t}",
	"\t\t\tval = argv[++i];",
	"\t\t} else if (is_attach && strncmp(a, \"--mode=\", 7) == 0) {",
	"\t\t\tval = a + 7;",
	"\t\t} else if (a[0] == '-') {",
	"\t\t\terror(\"unknown option '%s' for %s (try '%s --help')\", a, cmd, me);",
	"\t\t\treturn ERR_USER;",
	"\t\t} else if (ifname) {",
	"\t\t\terror(\"one interface at a time ('%s' is extra)\", a);",
	"\t\t\treturn ERR_USER;",
	"\t\t} else {",
	"\t\t\tifname = a;",
	"\t\t}",
	"\t\tif (val) {",
	"\t\t\tif (strcmp(val, \"native\") == 0) {",
	"\t\t\t\tflags = 1U << 2; /* XDP_FLAGS_DRV_MODE */",
	"\t\t\t\tmode = \"native mode\";",
	"\t\t\t} else if (strcmp(val, \"skb\") == 0) {",
	"\t\t\t\tflags = 1U << 1; /* XDP_FLAGS_SKB_MODE */",
	"\t\t\t\tmode = \"skb mode\";",
	"\t\t\t} else {",
	"\t\t\t\terror(\"--mode takes native or skb, not '%s'\", val);",
	"\t\t\t\treturn ERR_USER;",
	"\t\t\t}",
	"\t\t}",
	"\t}",
	"\tif (!ifname) {",
	"\t\terror(\"%s needs an interface name (try '%s --help')\", cmd, me);",
	"\t\treturn ERR_USER;",
	"\t}",
	"\tint r;",
	"\tif (is_attach)",
	"\t\tr = cmd_attach(ifname, flags, mode);",
	"\telse if (strcmp(cmd, \"detach\") == 0)",
	"\t\tr = cmd_detach(ifname);",
	"\telse",
	"\t\tr = cmd_stats(ifname);",
	"\tif (fflush(stdout) != 0) {",
	"\t\terror(\"writing the output failed: %s\", strerror(errno));",
	"\t\treturn ERR_USER;",
	"\t}",
	"\treturn r == 0 \? 0 : ERR_USER;",
	"}",
};

/* The part before the tables. */
static const char *const loader_prologue[] = {
	"#ifndef _GNU_SOURCE",
	"#define _GNU_SOURCE",
	"#endif",
	"#include <bpf/bpf.h>",
	"#include <bpf/btf.h>",
	"#include <bpf/libbpf.h>",
	"#include <dirent.h>",
	"#include <errno.h>",
	"#include <fcntl.h>",
	"#include <net/if.h>",
	"#include <stdarg.h>",
	"#include <stdbool.h>",
	"#include <stdint.h>",
	"#include <stdio.h>",
	"#include <stdlib.h>",
	"#include <string.h>",
	"#include <sys/file.h>",
	"#include <sys/mount.h>",
	"#include <sys/stat.h>",
	"#include <sys/vfs.h>",
	"#include <unistd.h>",
	"",
	"struct loader_rule {",
	"\tconst char *name;",
	"\tconst char *verdict;",
	"\tint line;",
	"};",
	"",
	"/* An initial element: key and value bytes in the map's layout. */",
	"struct loader_init {",
	"\tconst char *map;",
	"\tconst char *key;",
	"\tunsigned key_len;",
	"\tconst char *value;",
	"\tunsigned value_len;",
	"};",
	"",
	"/* `redirect IFNAME`: devmap slot to point at IFNAME's ifindex. */",
	"struct loader_ifname {",
	"\tunsigned slot;",
	"\tconst char *name;",
	"};",
	"",
};

static void put_lines(FILE *out, const char *const *lines, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fputs(lines[i], out);
		fputc('\n', out);
	}
}

/* s as a string literal; NULL on out of memory (reported by the caller
 * through the write status). */
static bool put_string(FILE *out, const char *s)
{
	char *lit = loader_c_string(s);
	if (!lit)
		return false;
	fputs(lit, out);
	free(lit);
	return true;
}

/* n bytes as a string literal of \x escapes (every byte escaped, so no
 * escape can run into the next character). */
static void put_bytes_literal(FILE *out, const uint8_t *b, int n)
{
	fputc('"', out);
	for (int i = 0; i < n; i++)
		fprintf(out, "\\x%02x", b[i]);
	fputc('"', out);
}

static void put_blob(FILE *out, const char *name, const unsigned char *b, size_t n)
{
	fprintf(out, "static const unsigned char %s[%zu] = {", name, n);
	for (size_t i = 0; i < n; i++) {
		if (i % 12 == 0)
			fputs("\n\t", out);
		else
			fputc(' ', out);
		fprintf(out, "0x%02x,", b[i]);
	}
	fputs("\n};\n", out);
}

/* The value of a "KEY VALUE" line of the metadata text (for "program"). */
static char *meta_field(const char *meta, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = meta; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > kl + 1 && memcmp(p, key, kl) == 0 && p[kl] == ' ')
			return strndup(p + kl + 1, len - kl - 1);
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* "ifname SLOT NAME" records -> table rows. */
static bool put_ifnames(FILE *out, const char *meta)
{
	bool ok = true;
	for (const char *p = meta; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char *line = strndup(p, len);
		if (!line)
			return false;
		unsigned long slot;
		char name[64];
		int used = 0;
		if (sscanf(line, "ifname %lu %63s%n", &slot, name, &used) == 2 &&
		    (size_t)used == len && slot <= UINT32_MAX) {
			fprintf(out, "\t{ %lu, ", slot);
			ok = put_string(out, name) && ok;
			fputs(" },\n", out);
		}
		free(line);
		p = eol ? eol + 1 : NULL;
	}
	return ok;
}

int loader_write(FILE *out, const struct ir_program *p, const void *obj, size_t obj_len)
{
	const unsigned char *meta = NULL;
	size_t meta_len = 0;
	if (!obj || elf_section(obj, obj_len, XDPL_META_SECTION, &meta, &meta_len) != 0 ||
	    meta_len == 0 || memchr(meta, 0, meta_len) == NULL) {
		errno = EINVAL; /* not an object from codegen */
		return -1;
	}
	const char *meta_text = (const char *)meta;

	char *prog_name = p->name ? strdup(p->name) : meta_field(meta_text, "program");
	const char *source = p->source_path ? p->source_path : "";
	char *c_prog = loader_c_comment(prog_name ? prog_name : "xdpl");
	char *c_src = loader_c_comment(source);
	bool ok = c_prog && c_src;

	/* header comment */
	if (ok) {
		fprintf(out,
			"/* Standalone loader for the XDP policy \"%s\", generated by xdplc\n"
			" * from \"%s\".\n"
			" *\n"
			" * Build: cc -O2 -Wall -o loader THIS_FILE.c $(pkg-config --cflags --libs libbpf)\n"
			" * Use:   ./loader attach IFNAME [--mode native|skb]\n"
			" *        ./loader stats IFNAME\n"
			" *        ./loader detach IFNAME\n"
			" *        ./loader info\n"
			" *\n"
			" * attach loads the embedded BPF object (%zu bytes, at the end of this\n"
			" * file), fills sets with their initial elements, attaches it to IFNAME\n"
			" * with a BPF link and pins the link and the maps as xdplc does:\n"
			" *   %s/IFNAME/%s        the link (detach = unpin + detach)\n"
			" *   %s/IFNAME/MAPNAME     every map by source name (%s: counters)\n"
			" *   %s/IFNAME/%s   the policy's .xdpl.meta text\n"
			" * ('.' in IFNAME is written %%2e and '%%' %%25: bpffs names cannot hold '.')\n"
			" * so `xdplc status`, `xdplc stats`, `xdplc set` and `xdplc detach` work\n"
			" * on it, and this loader's stats and detach work on what xdplc attached.\n"
			" * Needs root. XDPL_DEBUG=1 prints libbpf's messages. Do not edit: run\n"
			" * `xdplc build --loader` again after changing the policy. */\n",
			c_prog, c_src, obj_len, XDPL_PIN_ROOT, XDPL_PIN_LINK, XDPL_PIN_ROOT,
			XDPL_STATS_MAP, XDPL_PIN_ROOT, XDPL_PIN_META);
	}
	free(c_prog);
	free(c_src);

	if (ok) {
		put_lines(out, loader_prologue, sizeof(loader_prologue) / sizeof(*loader_prologue));

		/* where the pins go (runtime/xdpl_meta.h) */
		char root[256];
		snprintf(root, sizeof(root), "%s", XDPL_PIN_ROOT);
		char *slash = strrchr(root, '/');
		if (slash && slash != root)
			*slash = 0;
		fputs("#define BPFFS_ROOT ", out);
		ok = put_string(out, root) && ok;
		fputs("\n#define PIN_ROOT ", out);
		ok = put_string(out, XDPL_PIN_ROOT) && ok;
		fputs("\n#define PIN_LINK ", out);
		ok = put_string(out, XDPL_PIN_LINK) && ok;
		fputs("\n#define PIN_META ", out);
		ok = put_string(out, XDPL_PIN_META) && ok;
		fputs("\n#define STATS_MAP ", out);
		ok = put_string(out, XDPL_STATS_MAP) && ok;
		fputs("\n#define REDIRECT_MAP ", out);
		ok = put_string(out, XDPL_REDIRECT_MAP) && ok;
		fputs("\n\n", out);

		fputs("static const char policy_program[] = ", out);
		ok = put_string(out, prog_name ? prog_name : "xdpl") && ok;
		fputs(";\nstatic const char policy_source[] = ", out);
		ok = put_string(out, source) && ok;
		fputs(";\n\n", out);

		/* rules in counter-slot order, then default */
		fputs("/* Counter slots: the rules in order, then the default. */\n"
		      "static const struct loader_rule policy_rules[] = {\n", out);
		for (int slot = 0; slot < p->nrules; slot++) {
			const struct ir_rule *r = &p->rules[slot];
			for (int i = 0; i < p->nrules; i++)
				if (p->rules[i].index == slot) {
					r = &p->rules[i];
					break;
				}
			fputs("\t{ ", out);
			ok = put_string(out, r->name ? r->name : "-") && ok;
			fputs(", ", out);
			ok = put_string(out, ir_verdict_name(r->verdict.kind)) && ok;
			fprintf(out, ", %d },\n", r->line);
		}
		fputs("\t{ \"default\", ", out);
		ok = put_string(out, ir_verdict_name(p->default_verdict.kind)) && ok;
		fprintf(out, ", %d },\n\t{ NULL, NULL, 0 },\n};\n\n", p->default_line);

		/* the maps pinned and kept over reloads (not the ones the
		 * program fills itself: xdpl_map_is_fresh) */
		fputs("static const char *const policy_maps[] = {\n", out);
		for (int i = 0; i < p->nmaps; i++) {
			if (xdpl_map_is_fresh(p->maps[i]->name))
				continue;
			fputs("\t", out);
			ok = put_string(out, p->maps[i]->name) && ok;
			fputs(",\n", out);
		}
		fputs("\tNULL,\n};\n\n", out);

		fputs("static const struct loader_init policy_inits[] = {\n", out);
		for (int i = 0; i < p->nmaps; i++) {
			const struct ir_map *m = p->maps[i];
			int vsize = m->is_set && !m->expires ? 1 : m->value_size;
			for (int j = 0; j < m->ninit; j++) {
				const struct ir_map_entry *e = &m->init[j];
				fputs("\t{ ", out);
				ok = put_string(out, m->name) && ok;
				fputs(", ", out);
				put_bytes_literal(out, e->key, e->key ? m->key_size : 0);
				fprintf(out, ", %d, ", e->key ? m->key_size : 0);
				put_bytes_literal(out, e->value, e->value ? vsize : 0);
				fprintf(out, ", %d },\n", e->value ? vsize : 0);
			}
		}
		fputs("\t{ NULL, NULL, 0, NULL, 0 },\n};\n\n", out);

		fputs("static const struct loader_ifname policy_ifnames[] = {\n", out);
		ok = put_ifnames(out, meta_text) && ok;
		fputs("\t{ 0, NULL },\n};\n\n", out);

		fputs("/* The BPF object, at the end of the file; policy_meta is the text of\n"
		      " * its .xdpl.meta section (NUL-terminated), pinned as xdpl_meta. */\n",
		      out);
		fprintf(out, "static const unsigned char policy_object[%zu];\n", obj_len);
		fprintf(out, "#define policy_meta (policy_object + %zu)\n\n",
			(size_t)(meta - (const unsigned char *)obj));

		put_lines(out, loader_runtime, sizeof(loader_runtime) / sizeof(*loader_runtime));

		fputs("\n/* ------------------------------------------------------------------ "
		      "data */\n\n",
		      out);
		put_blob(out, "policy_object", obj, obj_len);
	}
	free(prog_name);
	if (!ok) {
		errno = ENOMEM;
		return -1;
	}
	if (ferror(out)) {
		if (!errno)
			errno = EIO;
		return -1;
	}
	return 0;
}
