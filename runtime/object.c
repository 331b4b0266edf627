/* libxdpl objects: open a compiled policy (BPF ELF + .xdpl.meta), load it
 * into the kernel, fill its sets, run packets through it and read its
 * counters. See xdpl.h for the contract and xdpl_meta.h for the metadata. */
#define _GNU_SOURCE
#include "xdpl.h"
#include "xdpl_meta.h"
#include "internal.h"
#include "elf_section.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

/* ------------------------------------------------------------ last error */

static __thread char last_error[16384];

const char *xdpl_last_error(void)
{
	return last_error;
}

void clear_error(void)
{
	last_error[0] = 0;
}

void set_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

/* Return -err after setting errno (libbpf style: negative errno and errno). */
int fail(int err)
{
	errno = err;
	return -err;
}

/* ------------------------------------------------------------ libbpf output */

/* While libxdpl calls into libbpf, libbpf's messages are captured instead of
 * printed: xdplc reports one clear line, not libbpf's chatter. The last
 * warning is kept to explain failures. XDPL_DEBUG=1 in the environment
 * prints everything libbpf says. The print callback is process-global in
 * libbpf, so it is swapped in only around libxdpl's own calls. */
static __thread char libbpf_last_warn[512];

static int capture_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static int debug = -1;
	if (debug < 0) {
		const char *e = getenv("XDPL_DEBUG");
		debug = e && *e && strcmp(e, "0") != 0;
	}
	if (debug) {
		va_list ap2;
		va_copy(ap2, ap);
		vfprintf(stderr, fmt, ap2);
		va_end(ap2);
	}
	if (level == LIBBPF_WARN) {
		char buf[sizeof(libbpf_last_warn)];
		vsnprintf(buf, sizeof(buf), fmt, ap);
		size_t n = strlen(buf);
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
			buf[--n] = 0;
		/* Keep the first line of a multi-line message only. */
		char *nl = strchr(buf, '\n');
		if (nl)
			*nl = 0;
		const char *b = buf;
		if (strncmp(b, "libbpf: ", 8) == 0)
			b += 8;
		if (*b)
			snprintf(libbpf_last_warn, sizeof(libbpf_last_warn), "%s", b);
	}
	return 0;
}

libbpf_print_fn_t capture_begin(void)
{
	libbpf_last_warn[0] = 0;
	return libbpf_set_print(capture_print);
}

void capture_end(libbpf_print_fn_t old)
{
	libbpf_set_print(old);
}

const char *xdpl__libbpf_warn(void)
{
	return libbpf_last_warn;
}

/* ------------------------------------------------------------ object */

/* The verifier log buffer. Kernels >= 6.4 keep the tail of the log when it
 * does not fit (rotating mode), which is the part that says what failed. */
#define LOG_BUF_SIZE (4u << 20)

void *xzalloc(size_t n)
{
	return calloc(1, n ? n : 1);
}

char *xstrndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

/* Decode hex ("-" = empty). Returns 0 or -1 on malformed input. */
static int decode_hex(const char *s, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	size_t n = strlen(s);
	if (n == 0 || n % 2)
		return -1;
	uint8_t *b = malloc(n / 2);
	if (!b)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = xdpl_hexval((unsigned char)s[2 * i]), lo = xdpl_hexval((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(b);
			return -1;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = b;
	*out_len = n / 2;
	return 0;
}

/* %-unescape in place. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '%' && xdpl_hexval((unsigned char)r[1]) >= 0 &&
		    xdpl_hexval((unsigned char)r[2]) >= 0) {
			*w++ = (char)(xdpl_hexval((unsigned char)r[1]) << 4 | xdpl_hexval((unsigned char)r[2]));
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

void free_meta(struct xdpl_object *obj)
{
	if (obj->rules)
		for (int i = 0; i <= obj->nrules; i++) {
			free(obj->rules[i].name);
			free(obj->rules[i].verdict);
		}
	free(obj->rules);
	for (int i = 0; i < obj->nmaps; i++) {
		free(obj->maps[i].name);
		free(obj->maps[i].kind);
		free(obj->maps[i].key_types);
		free(obj->maps[i].value_type);
	}
	free(obj->maps);
	for (int i = 0; i < obj->ninits; i++) {
		free(obj->inits[i].map);
		free(obj->inits[i].key);
		free(obj->inits[i].value);
	}
	free(obj->inits);
	for (int i = 0; i < obj->nifnames; i++)
		free(obj->ifnames[i].name);
	free(obj->ifnames);
	free(obj->program_name);
	free(obj->source);
	obj->rules = NULL;
	obj->maps = NULL;
	obj->inits = NULL;
	obj->ifnames = NULL;
	obj->program_name = obj->source = NULL;
	obj->nrules = obj->nmaps = obj->ninits = obj->nifnames = 0;
}

/* Grow *arr (of elem bytes each) to hold n + 1 elements. */
static int grow(void **arr, int n, size_t elem)
{
	void *p = realloc(*arr, elem * (size_t)(n + 1));
	if (!p)
		return -1;
	memset((char *)p + elem * (size_t)n, 0, elem);
	*arr = p;
	return 0;
}

#define MAX_FIELDS 8

/* What parse_meta collects before it can size obj->rules. */
struct meta_parse {
	struct xdpl_object *obj;
	struct tmp_rule {
		long index;
		char *name, *verdict;
		long line;
	} *tr;
	int ntr;
	long def_index, def_line;
	char *def_verdict;
	struct tmp_base {
		char *name;
		unsigned long long packets, bytes;
	} *tb;
	int ntb;
	int lineno;
	bool seen_header; /* the first line with fields */
};

/* One record type: f[0..nf) are its fields (f[0] the type, at most
 * MAX_FIELDS + 1 stored); false when the record is malformed. */
struct meta_record {
	const char *type;
	bool (*parse)(struct meta_parse *mp, char **f, int nf);
};

static bool meta_program(struct meta_parse *mp, char **f, int nf)
{
	if (nf != 2)
		return false;
	free(mp->obj->program_name);
	mp->obj->program_name = strdup(f[1]);
	return true;
}

/* Loaded with the frags flag unless xdpl_object__set_frags says not. */
static bool meta_frags(struct meta_parse *mp, char **f, int nf)
{
	(void)f;
	(void)nf;
	mp->obj->frags_ok = mp->obj->frags = true;
	return true;
}

static bool meta_source(struct meta_parse *mp, char **f, int nf)
{
	if (nf != 2)
		return false;
	free(mp->obj->source);
	mp->obj->source = strdup(f[1]);
	if (mp->obj->source)
		unescape(mp->obj->source);
	return true;
}

static bool meta_rule(struct meta_parse *mp, char **f, int nf)
{
	long a = 0, b = 0;
	if (nf != 5 || !parse_int(f[1], 0, 1 << 24, &a) || !parse_int(f[3], 0, 1L << 30, &b) ||
	    grow((void **)&mp->tr, mp->ntr, sizeof(*mp->tr)))
		return false;
	struct tmp_rule *r = &mp->tr[mp->ntr++];
	r->index = a;
	r->line = b;
	r->name = strdup(f[2]);
	r->verdict = strdup(f[4]);
	return true;
}

static bool meta_default(struct meta_parse *mp, char **f, int nf)
{
	long a = 0, b = 0;
	if (nf != 4 || !parse_int(f[1], 0, 1 << 24, &a) || !parse_int(f[3], 0, 1L << 30, &b))
		return false;
	mp->def_index = a;
	mp->def_line = b;
	free(mp->def_verdict);
	mp->def_verdict = strdup(f[2]);
	return true;
}

static bool meta_map(struct meta_parse *mp, char **f, int nf)
{
	struct xdpl_object *obj = mp->obj;
	if (nf != 5 || grow((void **)&obj->maps, obj->nmaps, sizeof(*obj->maps)))
		return false;
	struct meta_map *m = &obj->maps[obj->nmaps++];
	m->name = strdup(f[1]);
	m->kind = strdup(f[2]);
	m->key_types = strdup(f[3]);
	m->value_type = strdup(f[4]);
	return true;
}

static bool meta_init(struct meta_parse *mp, char **f, int nf)
{
	struct xdpl_object *obj = mp->obj;
	if (nf != 4 || grow((void **)&obj->inits, obj->ninits, sizeof(*obj->inits)))
		return false;
	struct meta_init *in = &obj->inits[obj->ninits];
	if (decode_hex(f[2], &in->key, &in->key_len) || decode_hex(f[3], &in->value, &in->value_len)) {
		free(in->key);
		free(in->value);
		in->key = in->value = NULL;
		return false;
	}
	in->map = strdup(f[1]);
	in->line = mp->lineno;
	obj->ninits++;
	return true;
}

static bool meta_stats_base(struct meta_parse *mp, char **f, int nf)
{
	char *e1 = NULL, *e2 = NULL;
	unsigned long long pk = 0, by = 0;
	if (nf == 4) {
		errno = 0;
		pk = strtoull(f[2], &e1, 10);
		by = strtoull(f[3], &e2, 10);
	}
	if (nf != 4 || errno || !e1 || *e1 || !e2 || *e2 || grow((void **)&mp->tb, mp->ntb, sizeof(*mp->tb)))
		return false;
	struct tmp_base *t = &mp->tb[mp->ntb++];
	t->name = strdup(f[1]);
	t->packets = pk;
	t->bytes = by;
	return true;
}

static bool meta_ifname(struct meta_parse *mp, char **f, int nf)
{
	struct xdpl_object *obj = mp->obj;
	long a = 0;
	if (nf != 3 || !parse_int(f[1], 0, UINT32_MAX, &a) ||
	    grow((void **)&obj->ifnames, obj->nifnames, sizeof(*obj->ifnames)))
		return false;
	obj->ifnames[obj->nifnames].index = (uint32_t)a;
	obj->ifnames[obj->nifnames].name = strdup(f[2]);
	obj->nifnames++;
	return true;
}

/* Unknown record types are skipped (forward compatibility). */
static const struct meta_record meta_records[] = {
	{ "program", meta_program }, { "frags", meta_frags },	   { "source", meta_source },
	{ "rule", meta_rule },	     { "default", meta_default },  { "map", meta_map },
	{ "init", meta_init },	     { "stats-base", meta_stats_base }, { "ifname", meta_ifname },
};

static int meta_header(const struct xdpl_object *obj, char **f, int nf)
{
	long v = 0;
	if (strcmp(f[0], "xdpl-meta") != 0 || nf < 2 || !parse_int(f[1], 1, 1000000, &v)) {
		set_error("%s: the %s section does not start with \"xdpl-meta VERSION\": "
			  "not an object written by xdplc",
			  obj->obj_name, XDPL_META_SECTION);
		return -EINVAL;
	}
	return 0; /* newer versions only add records */
}

/* Split line at spaces into f (at most MAX_FIELDS + 1 kept); the count. */
static int meta_fields(char *line, char **f)
{
	int nf = 0;
	for (char *save = NULL, *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (nf < MAX_FIELDS + 1)
			f[nf] = t;
		nf++;
	}
	return nf;
}

/* One line of the text (len bytes at p). */
static int meta_line(struct meta_parse *mp, const char *p, size_t len)
{
	char *line = xstrndup(p, len);
	if (!line)
		return -ENOMEM;
	if (len && line[len - 1] == '\r')
		line[--len] = 0;
	char *f[MAX_FIELDS + 1];
	int nf = meta_fields(line, f), err = 0;
	if (nf > 0 && !mp->seen_header) {
		mp->seen_header = true;
		err = meta_header(mp->obj, f, nf);
	} else if (nf > 0) {
		for (size_t i = 0; i < sizeof(meta_records) / sizeof(meta_records[0]); i++)
			if (strcmp(f[0], meta_records[i].type) == 0 && !meta_records[i].parse(mp, f, nf)) {
				set_error("%s: malformed %s record on line %d: \"%.200s\"", mp->obj->obj_name,
					  XDPL_META_SECTION, mp->lineno, f[0]);
				err = -EINVAL;
			}
	}
	free(line);
	return err;
}

/* The stats-base records add to the counters of the rules they name. */
static void meta_apply_bases(struct meta_parse *mp)
{
	struct xdpl_object *obj = mp->obj;
	int n = obj->nrules;
	for (int i = 0; i < mp->ntb; i++)
		for (int r = 0; r <= n; r++) {
			const char *rn = r == n ? "default" : obj->rules[r].name;
			if (rn && mp->tb[i].name && strcmp(rn, mp->tb[i].name) == 0) {
				obj->rules[r].base_packets += mp->tb[i].packets;
				obj->rules[r].base_bytes += mp->tb[i].bytes;
				break;
			}
		}
}

/* obj->rules from the rule and default records: rules below the
 * default's index (or up to the last rule without one), default last. */
static int meta_rules(struct meta_parse *mp)
{
	struct xdpl_object *obj = mp->obj;
	int n = mp->def_index >= 0 ? (int)mp->def_index : 0;
	for (int i = 0; i < mp->ntr; i++)
		if (mp->tr[i].index + 1 > n && mp->def_index < 0)
			n = (int)mp->tr[i].index + 1;
	for (int i = 0; i < mp->ntr; i++)
		if (mp->tr[i].index >= n) {
			set_error("%s: %s: rule index %ld is not below the default's index %d", obj->obj_name,
				  XDPL_META_SECTION, mp->tr[i].index, n);
			return -EINVAL;
		}
	obj->rules = xzalloc(sizeof(*obj->rules) * (size_t)(n + 1));
	if (!obj->rules)
		return -ENOMEM;
	obj->nrules = n;
	for (int i = 0; i < mp->ntr; i++) {
		struct meta_rule *r = &obj->rules[mp->tr[i].index];
		free(r->name);
		free(r->verdict);
		r->name = mp->tr[i].name;
		r->verdict = mp->tr[i].verdict;
		r->line = (int)mp->tr[i].line;
		mp->tr[i].name = mp->tr[i].verdict = NULL;
	}
	obj->rules[n].verdict = mp->def_verdict;
	obj->rules[n].line = (int)mp->def_line;
	mp->def_verdict = NULL;
	obj->have_meta = true;
	meta_apply_bases(mp);
	return 0;
}

static void meta_parse_free(struct meta_parse *mp)
{
	for (int i = 0; i < mp->ntb; i++)
		free(mp->tb[i].name);
	free(mp->tb);
	for (int i = 0; i < mp->ntr; i++) {
		free(mp->tr[i].name);
		free(mp->tr[i].verdict);
	}
	free(mp->tr);
	free(mp->def_verdict);
}

/* Parse the metadata text (NUL-terminated). Fills rules etc. on obj.
 * Returns 0 or a negative errno with the message set. */
int parse_meta(struct xdpl_object *obj, const char *text)
{
	struct meta_parse mp = { .obj = obj, .def_index = -1 };
	int err = 0;
	for (const char *p = text; *p && !err;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		mp.lineno++;
		err = meta_line(&mp, p, len);
		p += len + (eol ? 1 : 0);
	}
	if (!err)
		err = meta_rules(&mp);
	meta_parse_free(&mp);
	return err;
}

/* The metadata section (elf_section.c: no libelf, so standalone loaders
 * can carry this file). *text is a malloc'd NUL-terminated copy, or NULL
 * when the object has none. */
static int read_meta_section(struct xdpl_object *obj, char **text)
{
	const unsigned char *d = NULL;
	size_t n = 0;
	*text = NULL;
	int err = xdpl__elf_section(obj->elf_buf, obj->elf_len, XDPL_META_SECTION, &d, &n);
	if (err == -ENOENT)
		return 0;
	if (err) {
		set_error("%s: not an ELF object", obj->obj_name);
		return err;
	}
	*text = xstrndup((const char *)d, strnlen((const char *)d, n));
	return *text ? 0 : -ENOMEM;
}

/* Without metadata: rule slots from the stats map size, generic names. */
static int default_meta(struct xdpl_object *obj)
{
	int n = 0;
	if (obj->stats && bpf_map__max_entries(obj->stats) > 0)
		n = (int)bpf_map__max_entries(obj->stats) - 1;
	obj->nrules = n;
	obj->rules = xzalloc(sizeof(*obj->rules) * (size_t)(n + 1));
	return obj->rules ? 0 : -ENOMEM;
}

void xdpl_object__close(struct xdpl_object *obj)
{
	if (!obj)
		return;
	libbpf_print_fn_t old = capture_begin();
	bpf_object__close(obj->bpf);
	capture_end(old);
	free_meta(obj);
	free(obj->meta_text);
	for (int i = 0; i < obj->nreused; i++)
		free(obj->reused[i]);
	free(obj->reused);
	for (int i = 0; i < obj->npins; i++) {
		if (obj->pins[i].fd >= 0)
			close(obj->pins[i].fd);
		free(obj->pins[i].name);
	}
	free(obj->pins);
	if (obj->attached && obj->stats_fd >= 0)
		close(obj->stats_fd);
	free(obj->ifname);
	free(obj->pin_dir);
	free(obj->log_buf);
	free(obj->elf_buf);
	free(obj->obj_name);
	free(obj);
}

static struct xdpl_object *open_common(void *buf, size_t len, const char *name)
{
	int err;
	struct xdpl_object *obj = xzalloc(sizeof(*obj));
	if (!obj) {
		free(buf);
		set_error("out of memory");
		errno = ENOMEM;
		return NULL;
	}
	obj->elf_buf = buf;
	obj->elf_len = len;
	obj->obj_name = strdup(name ? name : "<memory>");
	if (!obj->obj_name) {
		err = -ENOMEM;
		set_error("out of memory");
		goto fail;
	}

	char *text = NULL;
	err = read_meta_section(obj, &text);
	if (err)
		goto fail;

	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = obj->obj_name);
	libbpf_print_fn_t old = capture_begin();
	obj->bpf = bpf_object__open_mem(obj->elf_buf, obj->elf_len, &opts);
	err = obj->bpf ? 0 : -errno;
	capture_end(old);
	if (!obj->bpf) {
		free(text);
		if (!err)
			err = -EINVAL;
		char msg[128];
		libbpf_strerror(err, msg, sizeof(msg));
		if (libbpf_last_warn[0])
			set_error("%s: cannot open the BPF object: %s (%s)", obj->obj_name, msg,
				  libbpf_last_warn);
		else
			set_error("%s: cannot open the BPF object: %s", obj->obj_name, msg);
		goto fail;
	}

	/* The XDP program: the first one in section "xdp*", else the first. */
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj->bpf)
	{
		if (!obj->prog)
			obj->prog = prog;
		if (strncmp(bpf_program__section_name(prog), "xdp", 3) == 0) {
			obj->prog = prog;
			break;
		}
	}
	if (!obj->prog) {
		free(text);
		set_error("%s: the object contains no BPF program", obj->obj_name);
		err = -ENOENT;
		goto fail;
	}
	bpf_object__for_each_program(prog, obj->bpf) bpf_program__set_autoload(prog, prog == obj->prog);
	obj->stats = bpf_object__find_map_by_name(obj->bpf, XDPL_STATS_MAP);

	if (text && text[0]) {
		err = parse_meta(obj, text);
		obj->meta_text = text;
	} else {
		free(text);
		err = default_meta(obj);
	}
	if (err) {
		if (err == -ENOMEM)
			set_error("out of memory");
		goto fail;
	}
	for (int i = 0; i < obj->nrules; i++)
		if (!obj->rules[i].name && asprintf(&obj->rules[i].name, "rule%d", i) < 0) {
			obj->rules[i].name = NULL;
			err = -ENOMEM;
			set_error("out of memory");
			goto fail;
		}
	if (!obj->program_name) {
		obj->program_name = strdup(bpf_program__name(obj->prog));
		if (!obj->program_name) {
			err = -ENOMEM;
			set_error("out of memory");
			goto fail;
		}
	}
	clear_error();
	return obj;
fail:
	xdpl_object__close(obj);
	errno = -err;
	return NULL;
}

struct xdpl_object *xdpl_object__open_mem(const void *buf, size_t len, const char *name)
{
	if (!buf || !len) {
		set_error("%s: empty object", name ? name : "<memory>");
		errno = EINVAL;
		return NULL;
	}
	void *copy = malloc(len);
	if (!copy) {
		set_error("out of memory");
		errno = ENOMEM;
		return NULL;
	}
	memcpy(copy, buf, len);
	return open_common(copy, len, name);
}

struct xdpl_object *xdpl_object__open_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		set_error("cannot open %s: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		int e = S_ISDIR(st.st_mode) ? EISDIR : errno ? errno : EINVAL;
		set_error("cannot read %s: %s", path, strerror(e));
		close(fd);
		errno = e;
		return NULL;
	}
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len ? len : 1);
	if (!buf) {
		close(fd);
		set_error("out of memory");
		errno = ENOMEM;
		return NULL;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			set_error("cannot read %s: %s", path, strerror(e));
			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		got += (size_t)r;
	}
	close(fd);
	if (len == 0) {
		free(buf);
		set_error("%s: empty file, not a BPF object", path);
		errno = EINVAL;
		return NULL;
	}
	return open_common(buf, len, path);
}

/* ------------------------------------------------------------ load */

/* The last n lines of a log, without trailing blank lines. */
const char *log_tail(const char *log, int n)
{
	size_t len = strlen(log);
	while (len && (log[len - 1] == '\n' || log[len - 1] == ' '))
		len--;
	size_t i = len;
	int lines = 0;
	while (i > 0) {
		if (log[i - 1] == '\n' && ++lines == n)
			break;
		i--;
	}
	return log + i;
}

bool is_percpu(uint32_t t)
{
	return t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static int apply_inits(struct xdpl_object *obj)
{
	int ncpus = libbpf_num_possible_cpus();
	if (ncpus < 1)
		ncpus = 1;
	for (int i = 0; i < obj->ninits; i++) {
		struct meta_init *in = &obj->inits[i];
		bool reused = false;
		for (int r = 0; r < obj->nreused && !reused; r++)
			reused = strcmp(obj->reused[r], in->map) == 0;
		if (reused)
			continue; /* a pinned map keeps what it holds */
		struct bpf_map *m = bpf_object__find_map_by_name(obj->bpf, in->map);
		if (!m) {
			set_error("%s: initial element for unknown map '%s'", obj->obj_name, in->map);
			return fail(ENOENT);
		}
		size_t ks = bpf_map__key_size(m), vs = bpf_map__value_size(m);
		if (in->key_len != ks || in->value_len > vs) {
			set_error("%s: initial element of '%s' has a %zu-byte key and %zu-byte value, "
				  "the map wants %zu and %zu",
				  obj->obj_name, in->map, in->key_len, in->value_len, ks, vs);
			return fail(EINVAL);
		}
		bool pc = is_percpu(bpf_map__type(m));
		size_t stride = pc ? (vs + 7) / 8 * 8 : vs;
		size_t total = stride * (size_t)(pc ? ncpus : 1);
		uint8_t *val = xzalloc(total);
		if (!val) {
			set_error("out of memory");
			return fail(ENOMEM);
		}
		for (int c = 0; c < (pc ? ncpus : 1); c++)
			if (in->value_len)
				memcpy(val + stride * (size_t)c, in->value, in->value_len);
		int r = bpf_map_update_elem(bpf_map__fd(m), in->key, val, BPF_ANY);
		int e = errno;
		free(val);
		if (r) {
			if (e == E2BIG)
				set_error("%s: set '%s' is full: its initial elements do not fit in "
					  "max %u; raise `max` in the declaration",
					  obj->obj_name, in->map, bpf_map__max_entries(m));
			else
				set_error("%s: cannot add an initial element to '%s': %s",
					  obj->obj_name, in->map, strerror(e));
			return fail(e ? e : EINVAL);
		}
	}
	return 0;
}

static int apply_ifnames(struct xdpl_object *obj)
{
	if (!obj->nifnames)
		return 0;
	struct bpf_map *m = bpf_object__find_map_by_name(obj->bpf, XDPL_REDIRECT_MAP);
	if (!m) {
		set_error("%s: `redirect IFNAME` needs the map %s, which the object lacks",
			  obj->obj_name, XDPL_REDIRECT_MAP);
		return fail(ENOENT);
	}
	size_t vs = bpf_map__value_size(m);
	for (int i = 0; i < obj->nifnames; i++) {
		unsigned idx = if_nametoindex(obj->ifnames[i].name);
		if (!idx)
			continue; /* not on this host (yet): redirects to it fail */
		uint8_t val[64] = { 0 };
		uint32_t ifx = idx;
		memcpy(val, &ifx, sizeof(ifx));
		if (vs > sizeof(val)) {
			set_error("%s: unexpected value size %zu of %s", obj->obj_name, vs,
				  XDPL_REDIRECT_MAP);
			return fail(EINVAL);
		}
		if (bpf_map_update_elem(bpf_map__fd(m), &obj->ifnames[i].index, val, BPF_ANY)) {
			int e = errno;
			set_error("%s: cannot point redirect slot %u at %s: %s", obj->obj_name,
				  obj->ifnames[i].index, obj->ifnames[i].name, strerror(e));
			return fail(e);
		}
	}
	return 0;
}
/* XDPL_SELF_INIT_VAR (xdpl_meta.h) = 1 in the object's .data: this
 * loader puts initial elements in itself (into maps it creates), so the
 * program must not (it would refill maps kept from an earlier load). */
/* The offset of global `var` in the BTF datasec `sec`; -1 if absent. */
static long global_offset(struct bpf_object *bo, const char *sec, const char *var)
{
	struct btf *btf = bpf_object__btf(bo);
	int id = btf ? btf__find_by_name_kind(btf, sec, BTF_KIND_DATASEC) : -1;
	if (id < 0)
		return -1;
	const struct btf_type *t = btf__type_by_id(btf, (__u32)id);
	const struct btf_var_secinfo *vs = btf_var_secinfos(t);
	long off = -1;
	for (int i = 0; i < btf_vlen(t); i++) {
		const struct btf_type *vt = btf__type_by_id(btf, vs[i].type);
		if (vt && !strcmp(btf__name_by_offset(btf, vt->name_off), var))
			off = (long)vs[i].offset;
	}
	return off;
}

/* Set the u32 global `var` of section `sec` (".data", ".rodata") to v in
 * the object's initial data, before load; an object without it is left
 * as it is. */
static int set_global_u32(struct bpf_object *bo, const char *sec, const char *var, __u32 v)
{
	long off = global_offset(bo, sec, var);
	size_t sl = strlen(sec);
	struct bpf_map *m;
	bpf_object__for_each_map(m, bo) {
		const char *name = bpf_map__name(m);
		size_t n = strlen(name), size = 0;
		if (off < 0 || !bpf_map__is_internal(m) || n < sl || strcmp(name + n - sl, sec))
			continue;
		const void *init = bpf_map__initial_value(m, &size);
		if (!init || size < (size_t)off + 4)
			continue;
		unsigned char *buf = malloc(size);
		if (!buf) {
			set_error("out of memory");
			return fail(ENOMEM);
		}
		memcpy(buf, init, size);
		memcpy(buf + off, &v, 4);
		int err = bpf_map__set_initial_value(m, buf, size);
		free(buf);
		if (err) {
			set_error("cannot set %s in %s: %s", var, name, strerror(-err));
			return fail(-err);
		}
	}
	return 0;
}

/* xdpl loaders put the initial elements in themselves (XDPL_SELF_INIT_VAR),
 * and say whether the program may get multi-buffer frames: with the frags
 * flag, XDPL_FRAGS_VAR tells it to count every buffer. */
static int mark_loader(struct xdpl_object *obj)
{
	int err = set_global_u32(obj->bpf, ".data", XDPL_SELF_INIT_VAR, 1);
	if (err || !obj->frags)
		return err;
	/* as section "xdp.frags" would make libbpf do */
	bpf_program__set_flags(obj->prog, bpf_program__flags(obj->prog) | BPF_F_XDP_HAS_FRAGS);
	return set_global_u32(obj->bpf, ".rodata", XDPL_FRAGS_VAR, 1);
}

int xdpl_object__set_frags(struct xdpl_object *obj, bool on)
{
	if (!obj || obj->loaded)
		return fail(EINVAL);
	if (on && !obj->frags_ok) {
		set_error("%s: not built for multi-buffer frames", obj->obj_name);
		return fail(EOPNOTSUPP);
	}
	obj->frags = on;
	return 0;
}

int xdpl_object__load(struct xdpl_object *obj)
{
	if (!obj)
		return fail(EINVAL);
	if (obj->loaded) {
		set_error("%s: already loaded", obj->obj_name);
		return fail(EBUSY);
	}
	if (!obj->bpf) {
		set_error("%s: an earlier load failed; open the object again to retry",
			  obj->obj_name);
		return fail(EINVAL);
	}
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	setrlimit(RLIMIT_MEMLOCK, &rl); /* pre-5.11 kernels charge memlock */

	if (!obj->log_buf) {
		obj->log_buf = malloc(LOG_BUF_SIZE);
		if (!obj->log_buf) {
			set_error("out of memory");
			return fail(ENOMEM);
		}
		obj->log_size = LOG_BUF_SIZE;
	}
	obj->log_buf[0] = 0;
	bpf_program__set_log_buf(obj->prog, obj->log_buf, obj->log_size);

	int serr = mark_loader(obj);
	if (serr)
		return serr;
	libbpf_print_fn_t old = capture_begin();
	int err = bpf_object__load(obj->bpf);
	int e = errno;
	capture_end(old);
	if (err) {
		if (err > 0)
			err = -err;
		if (!e || e == ENOSPC)
			e = -err;
		if (obj->log_buf[0]) {
			/* The program reached the verifier and was refused. */
			const char *tail = log_tail(obj->log_buf, 20);
			size_t n = strlen(tail);
			while (n && (tail[n - 1] == '\n' || tail[n - 1] == ' '))
				n--;
			set_error("%s: the kernel verifier rejected the program; end of its log:\n%.*s",
				  obj->obj_name, (int)n, tail);
			err = -XDPL_ERRNO__VERIFY;
		} else if (e == EPERM || e == EACCES) {
			set_error("loading BPF programs needs root (CAP_BPF and CAP_NET_ADMIN): "
				  "run with sudo");
			err = -EPERM;
		} else {
			char msg[128];
			libbpf_strerror(e, msg, sizeof(msg));
			if (libbpf_last_warn[0])
				set_error("%s: loading into the kernel failed: %s (%s)", obj->obj_name,
					  msg, libbpf_last_warn);
			else
				set_error("%s: loading into the kernel failed: %s", obj->obj_name, msg);
			err = -e;
		}
		/* Leave nothing behind: maps created so far die with the object. */
		old = capture_begin();
		bpf_object__close(obj->bpf);
		capture_end(old);
		obj->bpf = NULL;
		obj->prog = NULL;
		obj->stats = NULL;
		errno = -err;
		return err;
	}
	obj->loaded = true;
	err = apply_inits(obj);
	if (!err)
		err = apply_ifnames(obj);
	if (err) {
		old = capture_begin();
		bpf_object__close(obj->bpf);
		capture_end(old);
		obj->bpf = NULL;
		obj->prog = NULL;
		obj->stats = NULL;
		obj->loaded = false;
		errno = -err;
		return err;
	}
	/* The log buffer is only needed while loading. */
	free(obj->log_buf);
	obj->log_buf = NULL;
	obj->log_size = 0;
	clear_error();
	return 0;
}

/* ------------------------------------------------------------ accessors */

/* A map by its source name. bpf_map__reuse_fd renames a map to the name
 * the kernel keeps (BPF_OBJ_NAME_LEN - 1 characters), so a long name is
 * also looked up by that prefix. */
static struct bpf_map *find_map(const struct xdpl_object *obj, const char *name)
{
	if (!obj->bpf)
		return NULL;
	struct bpf_map *m = bpf_object__find_map_by_name(obj->bpf, name);
	if (m || strlen(name) < BPF_OBJ_NAME_LEN - 1)
		return m;
	bpf_object__for_each_map(m, obj->bpf)
		if (strlen(bpf_map__name(m)) == BPF_OBJ_NAME_LEN - 1 &&
		    strncmp(bpf_map__name(m), name, BPF_OBJ_NAME_LEN - 1) == 0)
			return m;
	return NULL;
}

int xdpl_object__prog_fd(const struct xdpl_object *obj)
{
	if (!obj || !obj->loaded)
		return fail(EINVAL);
	return bpf_program__fd(obj->prog);
}

const char *xdpl_object__program_name(const struct xdpl_object *obj)
{
	return obj ? obj->program_name : NULL;
}

const char *xdpl_object__source(const struct xdpl_object *obj)
{
	return obj ? obj->source : NULL;
}

int xdpl_object__rule_count(const struct xdpl_object *obj)
{
	return obj ? obj->nrules : 0;
}

bool xdpl_object__has_meta(const struct xdpl_object *obj)
{
	return obj && obj->have_meta;
}

const char *xdpl_object__rule_name(const struct xdpl_object *obj, int idx)
{
	if (!obj || idx < 0 || idx > obj->nrules)
		return NULL;
	if (idx == obj->nrules)
		return "default";
	return obj->rules[idx].name;
}

const char *xdpl_object__rule_verdict(const struct xdpl_object *obj, int idx)
{
	if (!obj || idx < 0 || idx > obj->nrules)
		return NULL;
	return obj->rules[idx].verdict ? obj->rules[idx].verdict : "unknown";
}

int xdpl_object__rule_line(const struct xdpl_object *obj, int idx)
{
	if (!obj || idx < 0 || idx > obj->nrules)
		return 0;
	return obj->rules[idx].line;
}

struct bpf_object *xdpl_object__bpf_object(const struct xdpl_object *obj)
{
	return obj ? obj->bpf : NULL;
}

int xdpl_object__map_count(const struct xdpl_object *obj)
{
	return obj ? obj->nmaps : 0;
}

int xdpl_object__map_info(const struct xdpl_object *obj, int idx, struct xdpl_map_info *info)
{
	if (!obj || idx < 0 || idx >= obj->nmaps || !info)
		return fail(EINVAL);
	const struct meta_map *m = &obj->maps[idx];
	info->name = m->name;
	info->kind = m->kind;
	info->key_types = m->key_types;
	info->value_type = m->value_type;
	info->fd = -1;
	if (obj->attached) {
		for (int i = 0; i < obj->npins; i++)
			if (strcmp(obj->pins[i].name, m->name) == 0)
				info->fd = obj->pins[i].fd;
		return 0;
	}
	struct bpf_map *bm = find_map(obj, m->name);
	info->fd = bm && obj->loaded ? bpf_map__fd(bm) : -1;
	return 0;
}

int xdpl_object__map_fd(const struct xdpl_object *obj, const char *name)
{
	if (!obj || !name || (!obj->loaded && !obj->attached))
		return fail(EINVAL);
	if (obj->attached) {
		for (int i = 0; i < obj->npins; i++)
			if (strcmp(obj->pins[i].name, name) == 0)
				return obj->pins[i].fd;
		set_error("%s: no map named '%s'", obj->obj_name, name);
		return fail(ENOENT);
	}
	struct bpf_map *m = find_map(obj, name);
	if (!m) {
		set_error("%s: no map named '%s'", obj->obj_name, name);
		return fail(ENOENT);
	}
	return bpf_map__fd(m);
}

/* ------------------------------------------------------------ counters */

#define COUNTER_STRIDE ((sizeof(struct xdpl_counter) + 7) / 8 * 8)

int xdpl__stats_map(const struct xdpl_object *obj, int *fd, uint32_t *type, uint32_t *value_size,
		    uint32_t *max_entries)
{
	if (obj->attached) {
		for (int i = 0; i < obj->npins; i++)
			if (strcmp(obj->pins[i].name, XDPL_STATS_MAP) == 0) {
				*fd = obj->pins[i].fd;
				*type = obj->pins[i].type;
				*value_size = obj->pins[i].value_size;
				*max_entries = obj->pins[i].max_entries;
				return 0;
			}
	} else if (obj->loaded && obj->stats) {
		*fd = bpf_map__fd(obj->stats);
		*type = bpf_map__type(obj->stats);
		*value_size = bpf_map__value_size(obj->stats);
		*max_entries = bpf_map__max_entries(obj->stats);
		return 0;
	}
	set_error("%s: the %s has no %s map", obj->obj_name,
		  obj->attached ? "attached policy" : "object", XDPL_STATS_MAP);
	return fail(ENOENT);
}

int xdpl__read_raw_counters(int fd, uint32_t max, struct xdpl_counter *out, int n, const char *what)
{
	memset(out, 0, sizeof(*out) * (size_t)n);
	uint32_t want = (uint32_t)n < max ? (uint32_t)n : max;
	if (!want)
		return 0;
	int ncpus = libbpf_num_possible_cpus();
	if (ncpus < 1) {
		set_error("cannot count the possible CPUs: %s", strerror(-ncpus));
		return fail(-ncpus);
	}
	size_t per_key = COUNTER_STRIDE * (size_t)ncpus;
	uint8_t *vals = malloc(per_key * want);
	uint32_t *keys = malloc(sizeof(uint32_t) * want);
	if (!vals || !keys) {
		free(vals);
		free(keys);
		set_error("out of memory");
		return fail(ENOMEM);
	}

	/* One syscall for all slots where the kernel can (array batch ops). */
	uint32_t got = 0;
	uint32_t out_batch = 0;
	bool batched = false;
	{
		uint32_t count = want;
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		int r = bpf_map_lookup_batch(fd, NULL, &out_batch, keys, vals, &count, &bo);
		/* ENOENT: the whole map was read in this batch. */
		if ((r == 0 || errno == ENOENT) && count == want) {
			batched = true;
			for (uint32_t i = 0; i < count; i++)
				if (keys[i] != i)
					batched = false;
			got = count;
		}
	}
	if (!batched) {
		for (uint32_t k = 0; k < want; k++) {
			if (bpf_map_lookup_elem(fd, &k, vals + per_key * k)) {
				int e = errno;
				free(vals);
				free(keys);
				set_error("%s: cannot read counters: %s", what, strerror(e));
				return fail(e);
			}
		}
		got = want;
	}
	for (uint32_t k = 0; k < got; k++)
		for (int c = 0; c < ncpus; c++) {
			struct xdpl_counter v;
			memcpy(&v, vals + per_key * k + COUNTER_STRIDE * (size_t)c, sizeof(v));
			out[k].packets += v.packets;
			out[k].bytes += v.bytes;
		}
	free(vals);
	free(keys);
	return 0;
}

int xdpl_object__read_counters(const struct xdpl_object *obj, struct xdpl_counter *out, int n)
{
	if (!obj || !out || n < 0)
		return fail(EINVAL);
	if (!obj->loaded && !obj->attached) {
		set_error("%s: not loaded", obj->obj_name);
		return fail(EINVAL);
	}
	int fd;
	uint32_t type, vs, max;
	int err = xdpl__stats_map(obj, &fd, &type, &vs, &max);
	if (err)
		return err;
	if (type != BPF_MAP_TYPE_PERCPU_ARRAY || vs != sizeof(struct xdpl_counter)) {
		set_error("%s: %s is not a per-CPU array of {packets, bytes}", obj->obj_name,
			  XDPL_STATS_MAP);
		return fail(EINVAL);
	}
	err = xdpl__read_raw_counters(fd, max, out, n, obj->obj_name);
	if (err)
		return err;
	for (int i = 0; i < n && i <= obj->nrules && obj->rules; i++) {
		out[i].packets += obj->rules[i].base_packets;
		out[i].bytes += obj->rules[i].base_bytes;
	}
	return 0;
}

/* ------------------------------------------------------------ test run */

/* The longest frame BPF_PROG_TEST_RUN puts in one buffer: a page less
 * XDP_PACKET_HEADROOM (256) and the skb_shared_info at its end (320 on
 * 64-bit kernels): 3520 bytes with 4 KiB pages. The rest of a longer frame
 * goes into fragments, as a driver's multi-buffer frames do. */
static size_t test_run_linear_max(void)
{
	long page = sysconf(_SC_PAGESIZE);
	return (size_t)(page > 4096 ? page : 4096) - 256 - 320;
}

/* A frame longer than one buffer reaches a program loaded without the
 * frags flag only in test runs (the kernel refuses to attach such a
 * program where frames can be longer), and arrives cut up behind its back:
 * refuse it instead. */
static int check_frame_fits(const struct xdpl_object *obj, size_t len)
{
	size_t max = test_run_linear_max();
	if (obj->frags || len <= max)
		return 0;
	set_error("a %zu-byte frame is longer than one buffer (%zu bytes), and %s is not built for "
		  "multi-buffer frames (its program would see only the first %zu bytes); objects "
		  "built by this xdplc are",
		  len, max, obj->obj_name, max);
	return fail(E2BIG);
}

int xdpl_object__test_run(struct xdpl_object *obj, const void *pkt, size_t len, int repeat,
			  struct xdpl_run_result *res)
{
	if (res)
		memset(res, 0, sizeof(*res));
	if (!obj || (!pkt && len))
		return fail(EINVAL);
	if (!obj->loaded) {
		set_error("%s: not loaded", obj->obj_name);
		return fail(EINVAL);
	}
	if (len < 14) {
		set_error("a packet of %zu bytes is too short to test: XDP needs at least an "
			  "Ethernet header (14 bytes)",
			  len);
		return fail(EINVAL);
	}
	if (len > UINT32_MAX - 4096) {
		set_error("a %zu-byte packet is too large to test", len);
		return fail(E2BIG);
	}
	if (repeat < 1)
		repeat = 1;
	int err = check_frame_fits(obj, len);
	if (err)
		return err;

	int nslots = obj->nrules + 1;
	struct xdpl_counter *before = NULL, *after = NULL;
	bool counters = false;
	if (obj->stats) {
		before = calloc((size_t)nslots, sizeof(*before));
		after = calloc((size_t)nslots, sizeof(*after));
		if (!before || !after) {
			free(before);
			free(after);
			set_error("out of memory");
			return fail(ENOMEM);
		}
		int r = xdpl_object__read_counters(obj, before, nslots);
		if (r) {
			free(before);
			free(after);
			return r;
		}
		counters = true;
	}

	size_t cap = len + 4096;
	uint8_t *out = malloc(cap);
	if (!out) {
		free(before);
		free(after);
		set_error("out of memory");
		return fail(ENOMEM);
	}
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = (uint32_t)cap, .repeat = repeat);
	int r = bpf_prog_test_run_opts(bpf_program__fd(obj->prog), &opts);
	if (r) {
		int e = errno;
		if ((e == ENOMEM || e == EINVAL) && len > test_run_linear_max())
			set_error("running the program on a %zu-byte frame failed: %s (a test run "
				  "holds at most one buffer and %d page-sized fragments)",
				  len, strerror(e), 17 /* MAX_SKB_FRAGS */);
		else if (e == EPERM || e == EACCES)
			set_error("running BPF programs needs root (CAP_BPF and CAP_NET_ADMIN): "
				  "run with sudo");
		else
			set_error("running the program on a packet (BPF_PROG_TEST_RUN) failed: %s",
				  strerror(e));
		free(out);
		free(before);
		free(after);
		return fail(e);
	}

	int rule = -1;
	if (counters && xdpl_object__read_counters(obj, after, nslots) == 0) {
		int fallback = -1;
		for (int i = nslots - 1; i >= 0; i--) {
			if (after[i].packets <= before[i].packets)
				continue;
			const char *v = obj->rules[i].verdict;
			if (fallback < 0)
				fallback = i;
			if (!v || xdpl_verdict_by_name(v) != XDPL_VERDICT_CONTINUE) {
				rule = i;
				break;
			}
		}
		/* Without verdicts (no metadata) the last slot that moved is the
		 * deciding one: continue rules always come before it. */
		if (rule < 0 && !obj->have_meta)
			rule = fallback;
	}
	free(before);
	free(after);

	if (res) {
		res->action = (int)opts.retval;
		res->rule = rule;
		res->duration_ns = opts.duration;
		res->out_len = opts.data_size_out;
		res->out = out;
	} else {
		free(out);
	}
	clear_error();
	return 0;
}

const char *xdpl_action_name(int action)
{
	const char *w = xdpl_action_word(action);
	return w ? w : "unknown";
}
