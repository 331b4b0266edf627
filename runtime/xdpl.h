/* libxdpl: load, run, attach and inspect compiled XDPL policies.
 * libbpf style: opaque objects, object__verb() names, negative errno
 * returns, and a message for the user in xdpl_last_error(). */
#ifndef XDPL_RUNTIME_H
#define XDPL_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Per-rule counters, one slot per rule then one for `default`
 * (value type of the XDPL_STATS_MAP per-CPU array). */
struct xdpl_counter {
	uint64_t packets;
	uint64_t bytes;
};

struct xdpl_object;
struct bpf_object;

/* Error codes beyond errno, returned negated (like libbpf's LIBBPF_ERRNO__*).
 * A privilege problem is -EPERM; xdpl_last_error() says what to do. */
enum {
	XDPL_ERRNO__VERIFY = 4100, /* the kernel verifier rejected the program */
};

/* Human-readable cause of the last failure in this thread ("" if none). */
const char *xdpl_last_error(void);

/* Open an ELF object from memory or a file; reads .xdpl.meta. */
struct xdpl_object *xdpl_object__open_mem(const void *buf, size_t len, const char *name);
struct xdpl_object *xdpl_object__open_file(const char *path);
/* Load into the kernel (verifier) and fill sets with their initial
 * elements. On verifier rejection the log tail is in xdpl_last_error(). */
int xdpl_object__load(struct xdpl_object *obj);
/* Before load: whether the program may get multi-buffer frames (frames
 * longer than a page; the kernel attaches a program without it only where
 * frames fit one buffer). On by default for objects built for it (their
 * "frags" record; -EOPNOTSUPP for others); off, pkt.len costs no helper
 * call. */
int xdpl_object__set_frags(struct xdpl_object *obj, bool on);
void xdpl_object__close(struct xdpl_object *obj);

int xdpl_object__prog_fd(const struct xdpl_object *obj);
const char *xdpl_object__program_name(const struct xdpl_object *obj);
int xdpl_object__rule_count(const struct xdpl_object *obj);     /* without default */
const char *xdpl_object__rule_name(const struct xdpl_object *obj, int idx); /* idx == count: "default" */
const char *xdpl_object__rule_verdict(const struct xdpl_object *obj, int idx);
int xdpl_object__rule_line(const struct xdpl_object *obj, int idx);

/* Sum of per-CPU counters for slots 0..n-1 (n = rule_count + 1). */
int xdpl_object__read_counters(const struct xdpl_object *obj, struct xdpl_counter *out, int n);

/* One packet through the program with BPF_PROG_TEST_RUN. res may be NULL
 * (run only). With repeat > 1 the program runs repeat times over the same
 * buffer, so out holds the result of all runs.
 * rule: the index of the rule that decided (rule_count for default), found
 * from the counter that moved for a non-continue rule; -1 if unknown. */
struct xdpl_run_result {
	int action;             /* XDP_* */
	int rule;
	uint32_t duration_ns;   /* average per packet when repeat > 1 */
	uint8_t *out;           /* malloc'd output packet (caller frees) */
	size_t out_len;
};
int xdpl_object__test_run(struct xdpl_object *obj, const void *pkt, size_t len, int repeat,
			  struct xdpl_run_result *res);

const char *xdpl_action_name(int action); /* "pass", "drop", ... */

/* Whether the object has a .xdpl.meta section (without one, rules are
 * named "rule<N>", their count comes from the stats map, verdicts are
 * "unknown"). */
bool xdpl_object__has_meta(const struct xdpl_object *obj);
/* The `source` record (the .xdpl file it was built from), or NULL. */
const char *xdpl_object__source(const struct xdpl_object *obj);
/* The underlying libbpf object (NULL after a failed load). */
struct bpf_object *xdpl_object__bpf_object(const struct xdpl_object *obj);

/* Sets and maps described by `map` records, in record order. */
struct xdpl_map_info {
	const char *name;
	const char *kind;       /* hash lru array ... set_hash set_lpm */
	const char *key_types;  /* "ip4,u16" or "-" */
	const char *value_type; /* "u32" or "-" */
	int fd;                 /* -1 until loaded */
};
int xdpl_object__map_count(const struct xdpl_object *obj);
int xdpl_object__map_info(const struct xdpl_object *obj, int idx, struct xdpl_map_info *info);
/* fd of any map of the loaded object by name; -ENOENT if none. */
int xdpl_object__map_fd(const struct xdpl_object *obj, const char *name);

/* ------------------------------------------------------------ attaching
 * An attached policy lives in bpffs (layout: xdpl_meta.h): a pinned
 * bpf_link, every map by its source name and the xdpl_meta map. xdplc and
 * generated loaders share the layout, so any of them can inspect, change or
 * detach what another attached. Every call is transactional: on failure,
 * nothing it created is left behind and a policy already attached keeps
 * running unchanged. */

enum xdpl_attach_mode {
	XDPL_MODE_DEFAULT = 0, /* attach: the running policy's mode, else native */
	XDPL_MODE_NATIVE = 1,  /* driver mode (XDP_FLAGS_DRV_MODE) */
	XDPL_MODE_SKB = 2,     /* generic mode (XDP_FLAGS_SKB_MODE) */
};
const char *xdpl_mode_name(enum xdpl_attach_mode mode); /* "native", "skb", "unknown" */

struct xdpl_attach_opts {
	size_t sz;                  /* sizeof(struct xdpl_attach_opts) */
	enum xdpl_attach_mode mode;
	bool force;                 /* replace an XDP program xdpl did not attach */
	bool reset;                 /* discard pinned maps whose definition changed */
	/* NULL: XDPL_PIN_ROOT/netns-INO-COOKIE on the host's bpffs (xdpl_meta.h);
	 * else the directory holding the device directories (on bpffs). */
	const char *pin_root;
	size_t :0;
};
#define xdpl_attach_opts__last_field pin_root

/* What xdpl_object__attach did. */
struct xdpl_attach_result {
	uint32_t prog_id, link_id;
	int ifindex;
	enum xdpl_attach_mode mode;
	bool replaced;              /* an attached xdpl policy was replaced atomically */
	bool forced;                /* a program xdpl did not attach was removed */
	int maps_reused;            /* pinned maps kept with their contents */
	int maps_created;
	bool stats_migrated;        /* rule list changed: counters copied by rule name */
	uint64_t duration_ns;       /* whole call */
	uint64_t swap_ns;           /* bpf_link_update / bpf_link_create alone */
};

/* Load obj (opened, not yet loaded) and attach it to ifname. Maps already
 * pinned for ifname with an unchanged definition are reused, so their
 * contents survive; initial elements go only into maps created now. The
 * stats map is migrated by rule name when the rule list changed. If an
 * xdpl policy is attached, the program is swapped with bpf_link_update:
 * no packet sees no program. res may be NULL.
 * Errors (negative errno; xdpl_last_error() says what to do): -EPERM no
 * privilege, -ENODEV no such device, -EEXIST a foreign XDP program (use
 * force), -EOPNOTSUPP native mode unsupported, -EBUSY a map changed (use
 * reset) or a mode change, -XDPL_ERRNO__VERIFY verifier, -EMEDIUMTYPE bpffs
 * missing and not mountable, or only private to this mount namespace as
 * under `ip netns exec` (or pin_root not on bpffs). */
int xdpl_object__attach(struct xdpl_object *obj, const char *ifname,
			const struct xdpl_attach_opts *opts, struct xdpl_attach_result *res);

struct xdpl_detach_opts {
	size_t sz;
	const char *pin_root;
	size_t :0;
};
#define xdpl_detach_opts__last_field pin_root

/* Detach the xdpl policy of ifname and remove all its pins. -ENOENT if
 * none. A stale directory (device gone) is cleaned up too. */
int xdpl_detach(const char *ifname, const struct xdpl_detach_opts *opts);

/* The state of an attached policy (from bpffs and the kernel). */
struct xdpl_attached_info {
	int ifindex;                /* the link's device; 0 if it is gone */
	uint32_t prog_id, link_id;
	enum xdpl_attach_mode mode; /* DEFAULT if unknown */
	bool stale;                 /* pins left without a working attachment */
	const char *stale_reason;   /* why, when stale */
	bool other_netns;           /* its link is on another device (renamed, or
				     * moved to another network namespace) */
};

/* Open the policy attached to ifname from bpffs alone (no object file):
 * rule names, counters (xdpl_object__read_counters), sets and maps
 * (xdpl_object__map_*) work on it; prog_fd and test_run do not.
 * pin_root NULL: XDPL_PIN_ROOT. */
struct xdpl_object *xdpl_object__open_attached(const char *ifname, const char *pin_root);
int xdpl_object__attached_info(const struct xdpl_object *obj, struct xdpl_attached_info *info);

/* Pins left by policies whose device, or whole network namespace, is gone
 * (a container stopped): xdpl_cleanup_stale removes them, in every
 * namespace, and calls cb for each; an attach killed midway is finished
 * (its program runs already) or undone (it does not) and reported too.
 * xdplc runs it before every command. */
struct xdpl_stale_info {
	const char *ifname;
	const char *netns;          /* the namespace it was attached in; NULL if unknown */
	const char *program;        /* NULL if unknown */
	const char *reason;         /* why it was stale */
	const char *dir;            /* the directory removed */
	bool here;                  /* in this process's network namespace */
	int error;                  /* 0, or -errno when removing failed */
	bool completed;             /* an interrupted attach whose program ran:
				     * its pins were put in place, not removed */
};
typedef void (*xdpl_stale_cb)(const struct xdpl_stale_info *info, void *ctx);
int xdpl_cleanup_stale(const char *pin_root, xdpl_stale_cb cb, void *ctx);

/* This process's network namespace for messages: "netns NAME" (its name
 * under /run/netns), "the root netns" or "netns net:[INODE]". */
int xdpl_netns_describe(char *buf, size_t len);
/* The pin directory of ifname in this network namespace (for messages and
 * tools; pin_root NULL: the default layout). */
int xdpl_pin_dir(const char *ifname, const char *pin_root, char *buf, size_t len);

/* Names of the interfaces of this network namespace with an xdpl
 * directory under pin_root, sorted.
 * Returns the count (names malloc'd, free with xdpl_free_names) or -errno. */
int xdpl_list_attached(const char *pin_root, char ***names);
void xdpl_free_names(char **names, int n);

/* ------------------------------------------------------------ elements
 * Sets and maps in the notation of XDPL source: ip4 192.0.2.1, ip6
 * 2001:db8::1, prefixes 10.0.0.0/8 (lpm; an address alone is full length),
 * mac 02:00:00:00:00:01, integers in decimal or 0x hex, bool true/false,
 * tuples (192.0.2.1, 80) or 192.0.2.1,80. Byte layout: compiler/lower/ir.h. */

/* Parse text as a key of the given meta types ("ip4,u16"; "-" = u32
 * array index) into out (size bytes: the map's key size). lpm: the key is
 * {host-order u32 prefixlen, address}. */
int xdpl_key_parse(const char *types, bool lpm, const char *text, void *out, size_t size);
int xdpl_key_format(const char *types, bool lpm, const void *key, size_t size, char *buf,
		    size_t buflen);
/* A value of a meta value type (u8..u64 bool ip4 ip6 mac): host order. */
int xdpl_value_parse(const char *type, const char *text, void *out, size_t size);
int xdpl_value_format(const char *type, const void *val, size_t size, char *buf, size_t buflen);

/* Change a set or map of a loaded or attached object. value: NULL for sets.
 * Errors: -ENOENT unknown set (the message lists them), -EINVAL bad element,
 * -E2BIG full. */
int xdpl_object__map_add(struct xdpl_object *obj, const char *map, const char *key,
			 const char *value);
int xdpl_object__map_del(struct xdpl_object *obj, const char *map, const char *key);
/* Calls cb for every element (arrays: every non-zero one) in the notation
 * above; value NULL for sets; per-CPU values are summed. Stops when cb
 * returns non-zero and returns that. */
typedef int (*xdpl_elem_cb)(const char *key, const char *value, void *ctx);
int xdpl_object__map_list(struct xdpl_object *obj, const char *map, xdpl_elem_cb cb, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
