/* libxdpl set and map elements: parse what users write (XDPL literal
 * notation) into the map byte layout of compiler/lower/ir.h, format it back, and
 * add/delete/list elements of a loaded or attached policy.
 *
 * Layout: hash keys are packed big-endian components, each (bits + 7) / 8
 * bytes; LPM keys a host-order u32 prefix length then the address bytes;
 * array-like keys a host-order u32 index; values host-order integers of the
 * map's value size (ip4 and mac as numbers, ip6 as a 128-bit number); set
 * values a 1-byte marker 1, or for sets a rule adds to with a timeout an
 * 8-byte expiry time (CLOCK_MONOTONIC ns, 0: never). */
#define _GNU_SOURCE
#include "internal.h"
#include "xdpl.h"
#include "xdpl_meta.h"
#include "xdpl_u128.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

enum tkind { T_UINT, T_BOOL, T_IP4, T_IP6, T_MAC };

struct ty {
	enum tkind kind;
	int bits;
	char name[16];
};

#define MAX_COMPONENTS 8

static int parse_type(const char *s, size_t n, struct ty *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%.*s", (int)n, s);
	if (strcmp(t->name, "bool") == 0) {
		t->kind = T_BOOL;
		t->bits = 8;
	} else if (strcmp(t->name, "ip4") == 0) {
		t->kind = T_IP4;
		t->bits = 32;
	} else if (strcmp(t->name, "ip6") == 0) {
		t->kind = T_IP6;
		t->bits = 128;
	} else if (strcmp(t->name, "mac") == 0) {
		t->kind = T_MAC;
		t->bits = 48;
	} else if (t->name[0] == 'u' && isdigit((unsigned char)t->name[1])) {
		char *end;
		long b = strtol(t->name + 1, &end, 10);
		if (*end || b < 1 || b > 64)
			return -1;
		t->kind = T_UINT;
		t->bits = (int)b;
	} else {
		return -1;
	}
	return 0;
}

/* "ip4,u16" or "-" (a u32 index). */
static int parse_types(const char *types, struct ty *out, int *n)
{
	*n = 0;
	if (!types || !*types || strcmp(types, "-") == 0) {
		parse_type("u32", 3, &out[0]);
		*n = 1;
		return 0;
	}
	const char *p = types;
	while (*p) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if (*n == MAX_COMPONENTS || parse_type(p, len, &out[*n])) {
			set_error("unknown key type '%.*s'", (int)len, p);
			return fail(EINVAL);
		}
		(*n)++;
		p += len + (c ? 1 : 0);
	}
	return 0;
}

static int bytes_of(int bits)
{
	return (bits + 7) / 8;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

static int parse_mac(const char *s, uint8_t out[6])
{
	unsigned v[6];
	char c1, c2, c3, c4, c5, extra;
	if (sscanf(s, "%2x%c%2x%c%2x%c%2x%c%2x%c%2x%c", &v[0], &c1, &v[1], &c2, &v[2], &c3, &v[3],
		   &c4, &v[4], &c5, &v[5], &extra) != 11)
		return -1;
	char sep = c1;
	if ((sep != ':' && sep != '-') || c2 != sep || c3 != sep || c4 != sep || c5 != sep)
		return -1;
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)v[i];
	return 0;
}

static const char *kind_word(enum tkind k)
{
	switch (k) {
	case T_IP4: return "an IPv4 address";
	case T_IP6: return "an IPv6 address";
	case T_MAC: return "a MAC address";
	case T_BOOL: return "true or false";
	default: return "a number";
	}
}

/* One component as a number (ip6: 128 bits, as big-endian value). */
static int parse_scalar(const struct ty *t, const char *s, u128 *out)
{
	*out = 0;
	switch (t->kind) {
	case T_BOOL:
		if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
			*out = 1;
		else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
			*out = 0;
		else
			goto bad;
		return 0;
	case T_IP4: {
		struct in_addr a;
		if (inet_pton(AF_INET, s, &a) != 1)
			goto bad;
		*out = ntohl(a.s_addr);
		return 0;
	}
	case T_IP6: {
		uint8_t b[16];
		if (inet_pton(AF_INET6, s, b) != 1)
			goto bad;
		for (int i = 0; i < 16; i++)
			*out = *out << 8 | b[i];
		return 0;
	}
	case T_MAC: {
		uint8_t b[6];
		if (parse_mac(s, b))
			goto bad;
		for (int i = 0; i < 6; i++)
			*out = *out << 8 | b[i];
		return 0;
	}
	case T_UINT: {
		if (!*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
			goto bad;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 0);
		if (*end)
			goto bad;
		if (errno == ERANGE || (t->bits < 64 && v >> t->bits)) {
			set_error("'%s' does not fit in %s (0..%llu)", s, t->name,
				  t->bits == 64 ? ~0ull : (1ull << t->bits) - 1);
			return fail(ERANGE);
		}
		*out = v;
		return 0;
	}
	}
bad:
	set_error("'%s' is not %s (%s)", s, kind_word(t->kind), t->name);
	return fail(EINVAL);
}

static void type_list(const struct ty *t, int n, char *buf, size_t len)
{
	size_t w = 0;
	buf[0] = 0;
	for (int i = 0; i < n && w < len; i++)
		w += (size_t)snprintf(buf + w, len - w, "%s%s", i ? ", " : "", t[i].name);
}

/* Split "(a, b)" / "a,b" / "a b" into components (in place). */
static int split(char *s, char **parts, int max)
{
	s = trim(s);
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '(' && s[n - 1] == ')') {
		s[n - 1] = 0;
		s = trim(s + 1);
	}
	/* Components never contain spaces or commas: either separates. */
	int k = 0;
	if (!*s)
		parts[k++] = s;
	for (char *save = NULL, *tok = strtok_r(s, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (k < max)
			parts[k] = tok;
		k++;
	}
	return k;
}

int xdpl_key_parse(const char *types, bool lpm, const char *text, void *out, size_t size)
{
	struct ty t[MAX_COMPONENTS];
	int nt, err = parse_types(types, t, &nt);
	if (err)
		return err;
	if (!text) {
		set_error("no element given");
		return fail(EINVAL);
	}
	char *copy = strdup(text);
	if (!copy) {
		set_error("out of memory");
		return fail(ENOMEM);
	}
	uint8_t *o = out;
	memset(out, 0, size);
	char *parts[MAX_COMPONENTS];
	char tl[128];
	type_list(t, nt, tl, sizeof(tl));
	int np = split(copy, parts, MAX_COMPONENTS);
	if (np != nt || (np == 1 && !*parts[0])) {
		if (!*trim(copy) || (np == 1 && !*parts[0]))
			set_error("empty element: expected %s%s%s", nt > 1 ? "(" : "", tl,
				  nt > 1 ? ")" : "");
		else if (nt > 1)
			set_error("'%s' has %d component%s; keys here are tuples of %d (%s): write "
				  "them like (A, B)",
				  text, np, np == 1 ? "" : "s", nt, tl);
		else
			set_error("'%s' has %d components; keys here are one %s", text, np, tl);
		free(copy);
		return fail(EINVAL);
	}
	if (lpm) {
		if (nt != 1 || (t[0].kind != T_IP4 && t[0].kind != T_IP6) ||
		    size != 4 + (size_t)bytes_of(t[0].bits)) {
			free(copy);
			set_error("unsupported LPM key type %s", tl);
			return fail(EINVAL);
		}
		char *a = parts[0], *slash = strchr(a, '/');
		long plen = t[0].bits;
		if (slash) {
			*slash = 0;
			char *end;
			errno = 0;
			plen = strtol(slash + 1, &end, 10);
			if (!slash[1] || *end || errno || plen < 0 || plen > t[0].bits) {
				set_error("'%s': the prefix length must be 0..%d", text, t[0].bits);
				free(copy);
				return fail(EINVAL);
			}
		}
		u128 v;
		err = parse_scalar(&t[0], trim(a), &v);
		int w = t[0].bits;
		u128 full = u128_mask(w);
		u128 host = plen >= w ? 0 : (plen == 0 ? full : full >> plen);
		if (!err && (v & host)) {
			char nb[64];
			uint8_t b[16];
			u128_put_be(b, bytes_of(w), v & ~host & full);
			inet_ntop(t[0].kind == T_IP4 ? AF_INET : AF_INET6, b, nb, sizeof(nb));
			set_error("'%s' has host bits set; did you mean %s/%ld?", text, nb, plen);
			err = fail(EINVAL);
		}
		if (!err) {
			uint32_t pl = (uint32_t)plen;
			memcpy(o, &pl, 4);
			u128_put_be(o + 4, bytes_of(t[0].bits), v);
		}
		free(copy);
		return err;
	}
	bool index = !types || !*types || strcmp(types, "-") == 0;
	size_t need = 0;
	for (int i = 0; i < nt; i++)
		need += (size_t)bytes_of(t[i].bits);
	if (index)
		need = 4;
	if (need != size) {
		free(copy);
		set_error("key types %s make %zu bytes but the map's keys have %zu", tl, need, size);
		return fail(EINVAL);
	}
	size_t off = 0;
	for (int i = 0; i < nt && !err; i++) {
		u128 v;
		err = parse_scalar(&t[i], parts[i], &v);
		if (err)
			break;
		if (index) {
			u128_put_host(o, 4, v);
		} else {
			u128_put_be(o + off, bytes_of(t[i].bits), v);
			off += (size_t)bytes_of(t[i].bits);
		}
	}
	free(copy);
	return err;
}

static int format_scalar(const struct ty *t, u128 v, char *buf, size_t len)
{
	switch (t->kind) {
	case T_BOOL:
		return snprintf(buf, len, "%s", v ? "true" : "false");
	case T_IP4:
	case T_IP6: {
		uint8_t b[16];
		char s[INET6_ADDRSTRLEN];
		u128_put_be(b, bytes_of(t->bits), v);
		inet_ntop(t->kind == T_IP4 ? AF_INET : AF_INET6, b, s, sizeof(s));
		return snprintf(buf, len, "%s", s);
	}
	case T_MAC: {
		uint8_t b[6];
		u128_put_be(b, 6, v);
		return snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3],
				b[4], b[5]);
	}
	default:
		return snprintf(buf, len, "%llu", (unsigned long long)v);
	}
}

int xdpl_key_format(const char *types, bool lpm, const void *key, size_t size, char *buf,
		    size_t buflen)
{
	struct ty t[MAX_COMPONENTS];
	int nt, err = parse_types(types, t, &nt);
	if (err)
		return err;
	const uint8_t *k = key;
	if (lpm) {
		if (nt != 1 || size < 4 + (size_t)bytes_of(t[0].bits))
			return fail(EINVAL);
		uint32_t pl;
		memcpy(&pl, k, 4);
		int n = format_scalar(&t[0], u128_get_be(k + 4, bytes_of(t[0].bits)), buf, buflen);
		if (pl != (uint32_t)t[0].bits && n >= 0 && (size_t)n < buflen)
			snprintf(buf + n, buflen - (size_t)n, "/%u", pl);
		return 0;
	}
	if (!types || !*types || strcmp(types, "-") == 0) {
		if (size < 4)
			return fail(EINVAL);
		snprintf(buf, buflen, "%llu", (unsigned long long)u128_get_host(k, 4));
		return 0;
	}
	size_t off = 0, w = 0;
	if (nt > 1)
		w += (size_t)snprintf(buf + w, buflen > w ? buflen - w : 0, "(");
	for (int i = 0; i < nt; i++) {
		int nb = bytes_of(t[i].bits);
		if (off + (size_t)nb > size)
			return fail(EINVAL);
		if (i)
			w += (size_t)snprintf(buf + w, buflen > w ? buflen - w : 0, ", ");
		char s[64];
		format_scalar(&t[i], u128_get_be(k + off, nb), s, sizeof(s));
		w += (size_t)snprintf(buf + w, buflen > w ? buflen - w : 0, "%s", s);
		off += (size_t)nb;
	}
	if (nt > 1)
		snprintf(buf + w, buflen > w ? buflen - w : 0, ")");
	return 0;
}

static bool addr_type(const struct ty *t)
{
	return t->kind == T_IP4 || t->kind == T_IP6 || t->kind == T_MAC;
}

int xdpl_value_parse(const char *type, const char *text, void *out, size_t size)
{
	struct ty t;
	if (!type || parse_type(type, strlen(type), &t)) {
		set_error("unknown value type '%s'", type ? type : "");
		return fail(EINVAL);
	}
	char *copy = strdup(text ? text : "");
	if (!copy) {
		set_error("out of memory");
		return fail(ENOMEM);
	}
	u128 v;
	int err = parse_scalar(&t, trim(copy), &v);
	free(copy);
	if (err)
		return err;
	memset(out, 0, size);
	/* addresses are stored as on the wire (like keys), numbers in host order */
	if (addr_type(&t))
		u128_put_be(out, (int)size, v);
	else
		u128_put_host(out, size, v);
	return 0;
}

int xdpl_value_format(const char *type, const void *val, size_t size, char *buf, size_t buflen)
{
	struct ty t;
	if (!type || parse_type(type, strlen(type), &t))
		return fail(EINVAL);
	format_scalar(&t, addr_type(&t) ? u128_get_be(val, (int)size) : u128_get_host(val, size), buf, buflen);
	return 0;
}

/* ------------------------------------------------------------ map operations */

struct target {
	const char *name, *kind, *key_types, *value_type;
	bool is_set, lpm, array, percpu;
	int fd;
	struct bpf_map_info info;
};

static int find_target(struct xdpl_object *obj, const char *name, struct target *tg)
{
	memset(tg, 0, sizeof(*tg));
	int n = xdpl_object__map_count(obj);
	for (int i = 0; i < n; i++) {
		struct xdpl_map_info mi;
		if (xdpl_object__map_info(obj, i, &mi) || strcmp(mi.name, name) != 0)
			continue;
		tg->name = mi.name;
		tg->kind = mi.kind;
		tg->key_types = mi.key_types;
		tg->value_type = mi.value_type;
		tg->fd = mi.fd;
		const struct xdpl_map_kind_info *K = xdpl_map_kind_info(xdpl_map_kind_by_name(mi.kind));
		tg->is_set = K->set;
		tg->lpm = K->lpm;
		tg->array = K->array;
		if (tg->fd < 0) {
			set_error("%s '%s' is not loaded", tg->is_set ? "set" : "map", name);
			return fail(EINVAL);
		}
		__u32 len = sizeof(tg->info);
		if (bpf_obj_get_info_by_fd(tg->fd, &tg->info, &len)) {
			int e = errno;
			set_error("cannot inspect %s: %s", name, strerror(e));
			return fail(e);
		}
		tg->percpu = is_percpu(tg->info.type);
		return 0;
	}
	/* Unknown: list what there is. */
	char list[1024];
	size_t w = 0;
	list[0] = 0;
	for (int i = 0; i < n && w < sizeof(list); i++) {
		struct xdpl_map_info mi;
		if (xdpl_object__map_info(obj, i, &mi) == 0 && mi.name[0] != '_')
			w += (size_t)snprintf(list + w, sizeof(list) - w, "%s%s", w ? ", " : "", mi.name);
	}
	const char *prog = xdpl_object__program_name(obj);
	if (w)
		set_error("policy %s has no set or map named '%s'; its sets and maps: %s",
			  prog ? prog : "?", name, list);
	else
		set_error("policy %s has no set or map named '%s' (it has none%s)", prog ? prog : "?",
			  name, xdpl_object__has_meta(obj) ? "" : ", or its object has no metadata");
	return fail(ENOENT);
}

static const char *what(const struct target *tg)
{
	return tg->is_set ? "set" : "map";
}

static int value_bytes(const struct target *tg, const char *value, uint8_t **out, size_t *outlen)
{
	int ncpus = tg->percpu ? libbpf_num_possible_cpus() : 1;
	if (ncpus < 1)
		ncpus = 1;
	size_t vs = tg->info.value_size;
	size_t stride = tg->percpu ? (vs + 7) / 8 * 8 : vs;
	uint8_t *buf = calloc((size_t)ncpus, stride ? stride : 1);
	if (!buf) {
		set_error("out of memory");
		return fail(ENOMEM);
	}
	int err = 0;
	if (tg->is_set) {
		/* 1-byte marker; sets a rule adds to with a timeout hold a u64
		 * expiry time (bpf_ktime_get_ns), 0: never expires */
		if (vs == 1)
			buf[0] = 1;
	} else if (strcmp(tg->kind, "devmap") == 0 && value && !isdigit((unsigned char)value[0])) {
		unsigned idx = if_nametoindex(value);
		if (!idx) {
			set_error("no such network device '%s'", value);
			err = fail(ENODEV);
		} else {
			u128_put_host(buf, vs < 4 ? vs : 4, idx);
		}
	} else {
		err = xdpl_value_parse(tg->value_type, value, buf, vs);
	}
	for (int c = 1; !err && c < ncpus; c++)
		memcpy(buf + stride * (size_t)c, buf, vs);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*outlen = stride * (size_t)ncpus;
	return 0;
}

static int key_bytes_for(const struct target *tg, const char *key, uint8_t *out)
{
	const char *types = tg->array ? "-" : tg->key_types;
	int err = xdpl_key_parse(types, tg->lpm, key, out, tg->info.key_size);
	if (err == -EINVAL && !strstr(xdpl_last_error(), "'") && key) {
		char m[512];
		snprintf(m, sizeof(m), "%s", xdpl_last_error());
		set_error("%s '%s': %s", what(tg), tg->name, m);
	}
	if (!err && tg->array) {
		uint32_t idx;
		memcpy(&idx, out, 4);
		if (idx >= tg->info.max_entries) {
			set_error("index %u is out of range: %s '%s' has %u entries (0..%u)", idx,
				  what(tg), tg->name, tg->info.max_entries, tg->info.max_entries - 1);
			return fail(ERANGE);
		}
	}
	return err;
}

int xdpl_object__map_add(struct xdpl_object *obj, const char *map, const char *key,
			 const char *value)
{
	if (!obj || !map || !key)
		return fail(EINVAL);
	struct target tg;
	int err = find_target(obj, map, &tg);
	if (err)
		return err;
	if (tg.is_set && value) {
		set_error("set '%s' holds keys only; '%s' is extra (a map takes KEY VALUE)", map, value);
		return fail(EINVAL);
	}
	if (!tg.is_set && !value) {
		set_error("map '%s' needs a value: add KEY VALUE (value type %s)", map, tg.value_type);
		return fail(EINVAL);
	}
	uint8_t kb[64 + 4];
	if (tg.info.key_size > sizeof(kb)) {
		set_error("%s '%s': %u-byte keys are not supported", what(&tg), map, tg.info.key_size);
		return fail(EINVAL);
	}
	if ((err = key_bytes_for(&tg, key, kb)))
		return err;
	uint8_t *vb = NULL;
	size_t vlen = 0;
	if ((err = value_bytes(&tg, value, &vb, &vlen)))
		return err;
	int r = bpf_map_update_elem(tg.fd, kb, vb, BPF_ANY);
	int e = errno;
	free(vb);
	if (r) {
		if (e == E2BIG || e == ENOSPC)
			set_error("%s '%s' is full (max %u elements): delete some, or raise `max` in its "
				  "declaration and attach with --reset",
				  what(&tg), map, tg.info.max_entries);
		else if (e == EPERM || e == EACCES)
			set_error("changing %s '%s' needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo",
				  what(&tg), map);
		else
			set_error("cannot add '%s' to %s '%s': %s", key, what(&tg), map, strerror(e));
		return fail(e);
	}
	clear_error();
	return 0;
}

int xdpl_object__map_del(struct xdpl_object *obj, const char *map, const char *key)
{
	if (!obj || !map || !key)
		return fail(EINVAL);
	struct target tg;
	int err = find_target(obj, map, &tg);
	if (err)
		return err;
	uint8_t kb[64 + 4];
	if (tg.info.key_size > sizeof(kb))
		return fail(EINVAL);
	if ((err = key_bytes_for(&tg, key, kb)))
		return err;
	if (tg.array) {
		set_error("elements of %s '%s' (an array) cannot be deleted; set one to 0 with "
			  "'add %s 0'",
			  what(&tg), map, key);
		return fail(EINVAL);
	}
	if (bpf_map_delete_elem(tg.fd, kb)) {
		int e = errno;
		if (e == ENOENT)
			set_error("'%s' is not in %s '%s'", key, what(&tg), map);
		else
			set_error("cannot delete '%s' from %s '%s': %s", key, what(&tg), map,
				  strerror(e));
		return fail(e);
	}
	clear_error();
	return 0;
}

static int cmp_keys(const void *a, const void *b, void *arg)
{
	const struct target *tg = arg;
	size_t ks = tg->info.key_size;
	if (tg->lpm) {
		int c = memcmp((const uint8_t *)a + 4, (const uint8_t *)b + 4, ks - 4);
		if (c)
			return c;
		uint32_t pa, pb;
		memcpy(&pa, a, 4);
		memcpy(&pb, b, 4);
		return pa < pb ? -1 : pa > pb;
	}
	if (tg->array) {
		uint32_t x, y;
		memcpy(&x, a, 4);
		memcpy(&y, b, 4);
		return x < y ? -1 : x > y;
	}
	return memcmp(a, b, ks);
}

/* bpf_ktime_get_ns()'s clock. */
static u128 monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u128)ts.tv_sec * 1000000000u + (u128)ts.tv_nsec;
}

/* Append one key of ks bytes to a growing array; -ENOMEM when it cannot
 * grow (the array is left as it was). */
static int keys_push(uint8_t **keys, size_t *n, size_t *cap, size_t ks, const void *key)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		uint8_t *nk = realloc(*keys, nc * ks);
		if (!nk)
			return -ENOMEM;
		*keys = nk;
		*cap = nc;
	}
	memcpy(*keys + *n * ks, key, ks);
	(*n)++;
	return 0;
}

int xdpl_object__map_list(struct xdpl_object *obj, const char *map, xdpl_elem_cb cb, void *ctx)
{
	if (!obj || !map || !cb)
		return fail(EINVAL);
	struct target tg;
	int err = find_target(obj, map, &tg);
	if (err)
		return err;
	size_t ks = tg.info.key_size, vs = tg.info.value_size;
	int ncpus = tg.percpu ? libbpf_num_possible_cpus() : 1;
	if (ncpus < 1)
		ncpus = 1;
	size_t stride = tg.percpu ? (vs + 7) / 8 * 8 : vs;
	uint8_t *keys = NULL;
	size_t nkeys = 0, cap = 0;
	uint8_t *prev = NULL, *cur = malloc(ks ? ks : 1);
	uint8_t *val = malloc(stride * (size_t)ncpus + 1);
	if (!cur || !val) {
		free(cur);
		free(val);
		set_error("out of memory");
		return fail(ENOMEM);
	}
	if (tg.array) {
		for (uint32_t i = 0; i < tg.info.max_entries && !err; i++)
			err = keys_push(&keys, &nkeys, &cap, ks, &i); /* array keys: u32, ks 4 */
	} else {
		while (!err && bpf_map_get_next_key(tg.fd, prev, cur) == 0) {
			err = keys_push(&keys, &nkeys, &cap, ks, cur);
			if (!err) /* after the push: keys may have moved */
				prev = keys + (nkeys - 1) * ks;
		}
	}
	if (err) {
		set_error("out of memory");
		goto out;
	}
	if (nkeys > 1)
		qsort_r(keys, nkeys, ks, cmp_keys, &tg);
	for (size_t i = 0; i < nkeys && !err; i++) {
		const uint8_t *k = keys + i * ks;
		if (bpf_map_lookup_elem(tg.fd, k, val))
			continue; /* deleted meanwhile */
		u128 sum = 0;
		for (int c = 0; c < ncpus; c++)
			sum += u128_get_host(val + stride * (size_t)c, vs);
		if (tg.array && sum == 0)
			continue;
		if (tg.is_set && vs == 8 && sum && sum <= monotonic_ns())
			continue; /* expired: not in the set */
		char kt[512], vt[128];
		err = xdpl_key_format(tg.array ? "-" : tg.key_types, tg.lpm, k, ks, kt, sizeof(kt));
		if (err)
			break;
		const char *v = NULL;
		if (!tg.is_set) {
			uint8_t tmp[16] = { 0 };
			u128_put_host(tmp, vs < 16 ? vs : 16, sum);
			if (xdpl_value_format(tg.value_type, tmp, vs, vt, sizeof(vt)) == 0)
				v = vt;
			else
				snprintf(vt, sizeof(vt), "%llu", (unsigned long long)sum), v = vt;
		}
		err = cb(kt, v, ctx);
	}
	if (!err)
		clear_error();
out:
	free(keys);
	free(cur);
	free(val);
	return err;
}
