/* libxdpl internals shared by the runtime sources (not installed, not API). */
#ifndef XDPL_RUNTIME_INTERNAL_H
#define XDPL_RUNTIME_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bpf/libbpf.h>

#include "xdpl.h"

struct meta_rule {
	char *name;
	char *verdict;
	int line;
	/* Counts carried over from earlier versions whose stats map was
	 * replaced ("stats-base" records of an attached policy's meta). */
	uint64_t base_packets, base_bytes;
};

struct meta_map {
	char *name, *kind, *key_types, *value_type;
};

struct meta_init {
	char *map;
	uint8_t *key, *value;
	size_t key_len, value_len;
	int line; /* in the metadata text, for messages */
};

struct meta_ifname {
	uint32_t index;
	char *name;
};

/* A map of an attached policy, opened from its bpffs pin. */
struct pinned_map {
	char *name;
	int fd;
	uint32_t type, key_size, value_size, max_entries, flags, id;
};

struct xdpl_object {
	char *obj_name;          /* file path or name given to open_mem */
	void *elf_buf;           /* our copy: libbpf keeps pointing into it */
	size_t elf_len;
	struct bpf_object *bpf;
	struct bpf_program *prog;
	struct bpf_map *stats;
	bool loaded;
	bool have_meta;
	bool frags_ok;           /* "frags" record: the program handles multi-buffer frames */
	bool frags;              /* load it with the frags flag (default: frags_ok) */
	char *meta_text;         /* the .xdpl.meta text as found (NULL if none) */

	char *program_name;
	char *source;
	struct meta_rule *rules; /* nrules + 1 entries, default last */
	int nrules;
	struct meta_map *maps;
	int nmaps;
	struct meta_init *inits;
	int ninits;
	struct meta_ifname *ifnames;
	int nifnames;

	/* Maps whose fd came from a pin (bpf_map__reuse_fd) before load:
	 * their contents are kept, so init records are not applied to them. */
	char **reused;
	int nreused;

	/* An attached policy opened from bpffs (xdpl_object__open_attached):
	 * no bpf object, maps from pins. */
	bool attached;
	char *ifname;
	char *pin_dir;
	struct pinned_map *pins;
	int npins;
	int stats_fd;            /* -1 if none */
	struct xdpl_attached_info ainfo;

	char *log_buf;           /* verifier log (program load) */
	size_t log_size;
};

#define set_error xdpl__set_error
#define clear_error xdpl__clear_error
#define fail xdpl__fail
#define capture_begin xdpl__capture_begin
#define capture_end xdpl__capture_end
#define parse_meta xdpl__parse_meta
#define free_meta xdpl__free_meta
#define is_percpu xdpl__is_percpu
#define xzalloc xdpl__xzalloc
#define xstrndup xdpl__xstrndup
#define log_tail xdpl__log_tail

__attribute__((format(printf, 1, 2))) void set_error(const char *fmt, ...);
void clear_error(void);
/* Return -err after setting errno (libbpf style). */
int fail(int err);
/* libbpf's messages are captured while libxdpl calls into libbpf. */
libbpf_print_fn_t capture_begin(void);
void capture_end(libbpf_print_fn_t old);
/* The last warning libbpf printed during the capture ("" if none). */
const char *xdpl__libbpf_warn(void);
int parse_meta(struct xdpl_object *obj, const char *text);
void free_meta(struct xdpl_object *obj);
bool is_percpu(uint32_t map_type);
void *xzalloc(size_t n);
char *xstrndup(const char *s, size_t n);
const char *log_tail(const char *log, int n);

/* Load obj; skip init records of the maps named in obj->reused. */
int xdpl__load(struct xdpl_object *obj);
/* The stats map of a loaded or attached object: fd and geometry. */
int xdpl__stats_map(const struct xdpl_object *obj, int *fd, uint32_t *type, uint32_t *value_size,
		    uint32_t *max_entries);
/* Sum of the per-CPU raw counters (no stats-base) for slots 0..n-1 of fd. */
int xdpl__read_raw_counters(int fd, uint32_t max_entries, struct xdpl_counter *out, int n,
			    const char *what);

/* ------------------------------------------------------------ pins (pin.c) */

/* A network namespace: what pins are keyed by, and how messages name it. */
struct xdpl_netns {
	uint64_t ino, cookie;
	bool root;                /* the initial network namespace */
	char name[NAME_MAX + 1];  /* its name under /run/netns, "" if none */
};

/* Where this process's policies are pinned. top is locked while open. */
/* An attach pins the complete new version (every map, the link, the
 * metadata) in a staging directory STAGE_PREFIX + the device directory's
 * name, next to it, and exchanges the two directories when it commits.
 * "%n" never starts a device directory's name ('%' is always %XX there). */
#define XDPL_STAGE_PREFIX "%new-"
/* Entries of a staging directory that are not part of the version: */
#define XDPL_TMP_PREFIX "new-"
#define XDPL_PIN_PROG_MARK "new-prog" /* the new program: committed once the link runs it */
#define XDPL_PIN_META_NEXT "new-meta" /* the settled metadata, renamed over xdpl_meta */

struct pin_root {
	char top[PATH_MAX];       /* XDPL_PIN_ROOT as reachable from here, or pin_root */
	char dir[PATH_MAX];       /* this netns's device directories (top/netns-INO-COOKIE) */
	bool keyed;               /* the default layout: a directory per netns under top */
	bool made_top, made_dir;
	int lock;                 /* -1 when not locked */
	struct xdpl_netns ns;
};

int xdpl__netns_self(struct xdpl_netns *ns);
void xdpl__netns_describe(const struct xdpl_netns *ns, char *buf, size_t len);
/* How xdpl__pin_root_open prepares the pin root. */
enum pin_root_use {
	PIN_FIND,   /* paths only (reading a policy): nothing locked or made */
	PIN_LOCK,   /* locked (detach, stale pins) */
	PIN_CREATE, /* locked, bpffs mounted if needed (never in a private
		     * mount namespace), directories made (attach) */
};
/* Resolve the pin root for use. -ENOENT (except PIN_CREATE) when nothing
 * was ever pinned. */
int xdpl__pin_root_open(struct pin_root *r, const char *pin_root, enum pin_root_use use);
/* Unlock; removes the netns directory and top when they are empty. */
void xdpl__pin_root_close(struct pin_root *r);
int xdpl__dev_dir(const struct pin_root *r, const char *ifname, char *out, size_t outlen);
void xdpl__ifname_decode(const char *enc, char *out, size_t outlen);
int xdpl__join(char *out, size_t outlen, const char *dir, const char *prefix, const char *name);
/* Remove every entry of dir, then dir: 0 or -errno. */
int xdpl__remove_dir(const char *dir);
/* A path for messages (the host's /sys/fs/bpf instead of /proc/self/fd/N). */
const char *xdpl__shown(const char *path);
int xdpl__link_info(int fd, struct bpf_link_info *info);
enum xdpl_attach_mode xdpl__mode_of(int ifindex, uint32_t prog_id);
/* Link state of a device directory: fills ai; returns the link fd or -1. */
int xdpl__inspect_link(const char *dir, const char *ifname, struct xdpl_attached_info *ai);
int xdpl__map_info(int fd, struct bpf_map_info *info);
/* set_error("out of memory"), -ENOMEM. */
int xdpl__oom(void);
/* The policy pinned in dir, ifname's directory in netns ns. */
struct xdpl_object *xdpl__open_attached_dir(const char *dir, const char *ifname,
					    const struct xdpl_netns *ns);
/* The staging directory of device directory dev. */
int xdpl__stage_dir(const char *dev, char *out, size_t outlen);
/* Put the staged version stage in place of dev (an exchange, or a rename
 * when dev does not exist), then remove the old version and the markers. */
int xdpl__stage_install(const char *stage, const char *dev);
/* With the lock: finish (1) or undo (0) the attach interrupted in stage,
 * reporting through cb; -errno on failure. */
int xdpl__stage_recover(const struct pin_root *r, const char *stage, xdpl_stale_cb cb, void *ctx);
/* With r locked: remove every device directory whose attachment is gone. */
void xdpl__sweep(const struct pin_root *r, xdpl_stale_cb cb, void *ctx);

#endif
