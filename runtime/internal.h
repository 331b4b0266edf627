/* libxdpl internals shared by the runtime sources (not installed, not API). */
#ifndef XDPL_RUNTIME_INTERNAL_H
#define XDPL_RUNTIME_INTERNAL_H

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

#endif
