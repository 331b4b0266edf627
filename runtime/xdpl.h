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

#ifdef __cplusplus
}
#endif

#endif
