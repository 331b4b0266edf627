/* libxdpl attach, detach and attached policies in bpffs (spec §11).
 *
 * Pin layout: xdpl_meta.h. An attach is a transaction:
 *   prepare  check the device and what runs on it, decide per map whether
 *            the pinned one is reused (contents kept) or a new one made,
 *            load (verifier), fill initial elements of new maps, copy the
 *            counters when the rule list changed, pin every new map at a
 *            temporary name "new-NAME" (not a valid XDPL name)
 *   commit   bpf_link_update of the pinned link (atomic program swap), or
 *            bpf_link_create + pin "new-link"
 *   finish   write the xdpl_meta map, rename every "new-NAME" over NAME
 *            (bpffs rename replaces atomically), unpin maps the new
 *            version no longer has
 * A failure before the commit undoes what this call created (temporary
 * pins, directories); after it, the link is put back to the old program
 * (or the new link detached) first. The policy that was attached keeps
 * running throughout. A lock (flock on the pin root) serialises xdpl
 * processes changing pins. */
#define _GNU_SOURCE
#include "internal.h"
#include "xdpl.h"
#include "xdpl_meta.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/membarrier.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define TMP_PREFIX "new-"
#define BPFFS_DEFAULT "/sys/fs/bpf"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *xdpl_mode_name(enum xdpl_attach_mode mode)
{
	switch (mode) {
	case XDPL_MODE_NATIVE: return "native";
	case XDPL_MODE_SKB: return "skb";
	default: return "unknown";
	}
}

static const char *root_of(const char *pin_root)
{
	return pin_root && *pin_root ? pin_root : XDPL_PIN_ROOT;
}

/* bpffs names may not contain '.': an interface "eth0.100" gets directory
 * "eth0%2e100" ('%' itself is written %25). */
static int ifname_dir(const char *root, const char *ifname, char *out, size_t outlen)
{
	size_t n = strlen(ifname);
	if (!n || n >= IFNAMSIZ || strchr(ifname, '/')) {
		set_error("'%s' is not a network device name", ifname);
		return fail(EINVAL);
	}
	char enc[3 * IFNAMSIZ + 1];
	size_t w = 0;
	for (const char *p = ifname; *p; p++) {
		if (*p == '.' || *p == '%')
			w += (size_t)snprintf(enc + w, sizeof(enc) - w, "%%%02x", (unsigned char)*p);
		else
			enc[w++] = *p;
	}
	enc[w] = 0;
	if ((size_t)snprintf(out, outlen, "%s/%s", root, enc) >= outlen) {
		set_error("pin path for '%s' is too long", ifname);
		return fail(ENAMETOOLONG);
	}
	return 0;
}

static void ifname_decode(const char *enc, char *out, size_t outlen)
{
	size_t w = 0;
	for (const char *p = enc; *p && w + 1 < outlen; p++) {
		unsigned v;
		if (p[0] == '%' && p[1] && p[2] && sscanf(p + 1, "%2x", &v) == 1) {
			out[w++] = (char)v;
			p += 2;
		} else {
			out[w++] = *p;
		}
	}
	out[w] = 0;
}

static bool is_bpffs(const char *path)
{
	struct statfs st;
	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) && errno != EEXIST ? -1 : 0;
}

/* The directory holding the pin root must be on bpffs; the default one is
 * mounted when it is not. */
static int ensure_bpffs(const char *root)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", root);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = 0;
	if (is_bpffs(parent))
		return 0;
	if (strcmp(parent, BPFFS_DEFAULT) != 0) {
		set_error("%s is not on a BPF filesystem (bpffs): pins cannot be made there", root);
		return fail(EMEDIUMTYPE);
	}
	if (mkdir_p(parent, 0755) || mount("bpf", parent, "bpf", 0, "mode=0700")) {
		int e = errno;
		set_error("bpffs is not mounted and mounting it failed: %s; mount it with "
			  "'mount -t bpf bpf %s'",
			  strerror(e), parent);
		return fail(e == EPERM || e == EACCES ? EPERM : EMEDIUMTYPE);
	}
	return 0;
}

static int join(char *out, size_t outlen, const char *dir, const char *prefix, const char *name)
{
	if ((size_t)snprintf(out, outlen, "%s/%s%s", dir, prefix, name) >= outlen) {
		set_error("pin path %s/%s is too long", dir, name);
		return fail(ENAMETOOLONG);
	}
	return 0;
}

static int lock_root(const char *root, bool *created)
{
	*created = false;
	if (mkdir(root, 0700) == 0)
		*created = true;
	else if (errno != EEXIST) {
		int e = errno;
		if (e == EPERM || e == EACCES)
			set_error("cannot create %s: %s: needs root (CAP_BPF, CAP_NET_ADMIN): run "
				  "with sudo",
				  root, strerror(e));
		else
			set_error("cannot create %s: %s", root, strerror(e));
		return fail(e == EACCES ? EPERM : e);
	}
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		set_error("cannot open %s: %s", root, strerror(e));
		if (*created)
			rmdir(root);
		return fail(e);
	}
	if (flock(fd, LOCK_EX)) {
		int e = errno;
		set_error("cannot lock %s: %s", root, strerror(e));
		close(fd);
		if (*created)
			rmdir(root);
		return fail(e);
	}
	return fd;
}

static int map_info_fd(int fd, struct bpf_map_info *info)
{
	memset(info, 0, sizeof(*info));
	__u32 len = sizeof(*info);
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

static int link_info_fd(int fd, struct bpf_link_info *info)
{
	memset(info, 0, sizeof(*info));
	__u32 len = sizeof(*info);
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

static int prog_info_fd(int fd, struct bpf_prog_info *info)
{
	memset(info, 0, sizeof(*info));
	__u32 len = sizeof(*info);
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

static const char *map_type_name(uint32_t t)
{
	const char *n = libbpf_bpf_map_type_str((enum bpf_map_type)t);
	return n ? n : "unknown";
}

/* ------------------------------------------------------------ attached objects */

/* Which mode runs prog_id on ifindex in this netns (DEFAULT: not here). */
static enum xdpl_attach_mode mode_of(int ifindex, uint32_t prog_id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	if (!ifindex || !prog_id || bpf_xdp_query(ifindex, 0, &q))
		return XDPL_MODE_DEFAULT;
	if (q.drv_prog_id == prog_id)
		return XDPL_MODE_NATIVE;
	if (q.skb_prog_id == prog_id)
		return XDPL_MODE_SKB;
	return XDPL_MODE_DEFAULT;
}

/* Link state of a pin dir: fills info; returns the link fd or -1. */
static int inspect_link(const char *dir, const char *ifname, struct xdpl_attached_info *ai)
{
	char path[PATH_MAX];
	memset(ai, 0, sizeof(*ai));
	if (join(path, sizeof(path), dir, "", XDPL_PIN_LINK))
		return -1;
	int fd = bpf_obj_get(path);
	if (fd < 0) {
		ai->stale = true;
		ai->stale_reason = "no link pin: nothing is attached";
		return -1;
	}
	struct bpf_link_info li;
	if (link_info_fd(fd, &li) || li.type != BPF_LINK_TYPE_XDP) {
		ai->stale = true;
		ai->stale_reason = "the link pin is not an XDP link";
		close(fd);
		return -1;
	}
	ai->link_id = li.id;
	ai->prog_id = li.prog_id;
	ai->ifindex = (int)li.xdp.ifindex;
	if (!ai->ifindex) {
		ai->stale = true;
		ai->stale_reason = "the device the link was attached to is gone";
		return fd;
	}
	ai->mode = mode_of(ai->ifindex, li.prog_id);
	if (ai->mode == XDPL_MODE_DEFAULT || (int)if_nametoindex(ifname) != ai->ifindex)
		ai->other_netns = true;
	return fd;
}

static struct xdpl_object *open_dir(const char *dir, const char *ifname)
{
	struct xdpl_object *obj = xzalloc(sizeof(*obj));
	if (!obj) {
		set_error("out of memory");
		errno = ENOMEM;
		return NULL;
	}
	obj->attached = true;
	obj->stats_fd = -1;
	obj->ifname = strdup(ifname);
	obj->pin_dir = strdup(dir);
	if (asprintf(&obj->obj_name, "policy on %s", ifname) < 0)
		obj->obj_name = NULL;
	int err = 0;
	DIR *d = opendir(dir);
	if (!obj->ifname || !obj->pin_dir || !obj->obj_name) {
		err = -ENOMEM;
		set_error("out of memory");
		goto out;
	}
	if (!d) {
		err = -errno;
		if (err == -ENOENT)
			set_error("no xdpl policy is attached to %s (nothing in %s)", ifname, dir);
		else if (err == -EACCES || err == -EPERM)
			set_error("cannot read %s: needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo",
				  dir);
		else
			set_error("cannot read %s: %s", dir, strerror(-err));
		goto out;
	}
	char *meta = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (n[0] == '.' || strcmp(n, XDPL_PIN_LINK) == 0 ||
		    strncmp(n, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
			continue;
		char path[PATH_MAX];
		if (join(path, sizeof(path), dir, "", n))
			continue;
		int fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		struct bpf_map_info mi;
		if (map_info_fd(fd, &mi)) {
			close(fd);
			continue;
		}
		if (strcmp(n, XDPL_PIN_META) == 0) {
			uint32_t k = 0;
			char *buf = xzalloc((size_t)mi.value_size + 1);
			if (buf && mi.type == BPF_MAP_TYPE_ARRAY && bpf_map_lookup_elem(fd, &k, buf) == 0) {
				free(meta);
				meta = buf;
			} else {
				free(buf);
			}
			close(fd);
			continue;
		}
		struct pinned_map *p = realloc(obj->pins, sizeof(*p) * (size_t)(obj->npins + 1));
		if (!p) {
			close(fd);
			err = -ENOMEM;
			set_error("out of memory");
			break;
		}
		obj->pins = p;
		p = &obj->pins[obj->npins++];
		p->name = strdup(n);
		p->fd = fd;
		p->type = mi.type;
		p->key_size = mi.key_size;
		p->value_size = mi.value_size;
		p->max_entries = mi.max_entries;
		p->flags = mi.map_flags;
		p->id = mi.id;
		if (!p->name) {
			err = -ENOMEM;
			set_error("out of memory");
			break;
		}
	}
	closedir(d);
	if (!err && meta && meta[0]) {
		err = parse_meta(obj, meta);
		obj->meta_text = meta;
		meta = NULL;
	}
	free(meta);
	if (!err && !obj->rules) {
		/* No metadata: rules from the stats map size, generic names. */
		int n = 0;
		for (int i = 0; i < obj->npins; i++)
			if (strcmp(obj->pins[i].name, XDPL_STATS_MAP) == 0 && obj->pins[i].max_entries)
				n = (int)obj->pins[i].max_entries - 1;
		obj->nrules = n;
		obj->rules = xzalloc(sizeof(*obj->rules) * (size_t)(n + 1));
		for (int i = 0; obj->rules && i < n; i++)
			if (asprintf(&obj->rules[i].name, "rule%d", i) < 0)
				obj->rules[i].name = NULL;
		if (!obj->rules) {
			err = -ENOMEM;
			set_error("out of memory");
		}
	}
	if (!err && !obj->program_name)
		obj->program_name = strdup("unknown");
	if (!err) {
		int lfd = inspect_link(dir, ifname, &obj->ainfo);
		if (lfd >= 0)
			close(lfd);
	}
out:
	if (d == NULL && !err)
		err = -EINVAL;
	if (err) {
		xdpl_object__close(obj);
		errno = -err;
		return NULL;
	}
	clear_error();
	return obj;
}

struct xdpl_object *xdpl_object__open_attached(const char *ifname, const char *pin_root)
{
	char dir[PATH_MAX];
	if (!ifname) {
		set_error("no device name");
		errno = EINVAL;
		return NULL;
	}
	int err = ifname_dir(root_of(pin_root), ifname, dir, sizeof(dir));
	if (err) {
		errno = -err;
		return NULL;
	}
	struct stat st;
	if (stat(dir, &st) && errno == ENOENT) {
		if (!if_nametoindex(ifname) && errno == ENODEV)
			set_error("no such network device '%s'", ifname);
		else
			set_error("no xdpl policy is attached to %s (nothing in %s)", ifname, dir);
		errno = ENOENT;
		return NULL;
	}
	return open_dir(dir, ifname);
}

int xdpl_object__attached_info(const struct xdpl_object *obj, struct xdpl_attached_info *info)
{
	if (!obj || !info || !obj->attached)
		return fail(EINVAL);
	*info = obj->ainfo;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void xdpl_free_names(char **names, int n)
{
	for (int i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int xdpl_list_attached(const char *pin_root, char ***names)
{
	*names = NULL;
	const char *root = root_of(pin_root);
	DIR *d = opendir(root);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		if (e == EACCES || e == EPERM)
			set_error("cannot read %s: needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo",
				  root);
		else
			set_error("cannot read %s: %s", root, strerror(e));
		return fail(e == EACCES ? EPERM : e);
	}
	char **v = NULL;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		char **nv = realloc(v, sizeof(*v) * (size_t)(n + 1));
		char name[IFNAMSIZ * 3 + 1];
		ifname_decode(de->d_name, name, sizeof(name));
		if (!nv || !(nv[n] = strdup(name))) {
			free(nv ? nv : v);
			closedir(d);
			set_error("out of memory");
			return fail(ENOMEM);
		}
		v = nv;
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof(*v), cmp_str);
	*names = v;
	return n;
}

/* ------------------------------------------------------------ detach */

/* Remove every entry of dir, then dir. */
static int remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *de;
	int err = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char path[PATH_MAX];
		if (join(path, sizeof(path), dir, "", de->d_name) == 0 && unlink(path) && !err)
			err = -errno;
	}
	closedir(d);
	if (rmdir(dir) && !err)
		err = -errno;
	return err;
}

int xdpl_detach(const char *ifname, const struct xdpl_detach_opts *opts)
{
	if (!ifname)
		return fail(EINVAL);
	if (opts && opts->sz && opts->sz < offsetof(struct xdpl_detach_opts, pin_root) + sizeof(char *))
		return fail(EINVAL);
	const char *root = root_of(opts ? opts->pin_root : NULL);
	char dir[PATH_MAX];
	int err = ifname_dir(root, ifname, dir, sizeof(dir));
	if (err)
		return err;
	bool exists = if_nametoindex(ifname) != 0;
	struct stat st;
	if (stat(root, &st)) {
		if (errno == EACCES || errno == EPERM) {
			set_error("needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo");
			return fail(EPERM);
		}
		if (!exists) {
			set_error("no such network device '%s'", ifname);
			return fail(ENODEV);
		}
		set_error("no xdpl policy is attached to %s (nothing in %s)", ifname, dir);
		return fail(ENOENT);
	}
	bool created;
	int lock = lock_root(root, &created);
	if (lock < 0)
		return lock;
	if (stat(dir, &st)) {
		int e = errno;
		if (e == EACCES || e == EPERM) {
			set_error("needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo");
			err = fail(EPERM);
		} else if (!exists) {
			set_error("no such network device '%s'", ifname);
			err = fail(ENODEV);
		} else {
			set_error("no xdpl policy is attached to %s (nothing in %s)", ifname, dir);
			err = fail(ENOENT);
		}
		goto out;
	}
	struct xdpl_attached_info ai;
	int lfd = inspect_link(dir, ifname, &ai);
	if (lfd >= 0 && !ai.stale && ai.other_netns && exists) {
		set_error("%s belongs to a device named %s in another network namespace (ifindex "
			  "%d, program id %u): detach it from there",
			  dir, ifname, ai.ifindex, ai.prog_id);
		close(lfd);
		err = fail(EBUSY);
		goto out;
	}
	if (lfd >= 0) {
		/* Detach even if someone else holds the link open. */
		if (!ai.stale && bpf_link_detach(lfd) && errno != ENOLINK && errno != EINVAL) {
			int e = errno;
			set_error("detaching the XDP link of %s failed: %s", ifname, strerror(e));
			close(lfd);
			err = fail(e);
			goto out;
		}
		close(lfd);
	}
	err = remove_dir(dir);
	if (err) {
		set_error("cannot remove the pins in %s: %s", dir, strerror(-err));
		err = fail(-err);
		goto out;
	}
	clear_error();
out:
	rmdir(root); /* only when empty */
	close(lock);
	return err;
}

/* ------------------------------------------------------------ attach */

struct staged {
	char *name;     /* final pin name */
	bool renamed;
};

struct txn {
	const char *root, *ifname;
	char dir[PATH_MAX];
	bool created_root, created_dir;
	int lock;
	struct staged *pins;
	int npins;
};

static int stage_pin(struct txn *t, int fd, const char *name)
{
	char path[PATH_MAX];
	int err = join(path, sizeof(path), t->dir, TMP_PREFIX, name);
	if (err)
		return err;
	unlink(path);
	if (bpf_obj_pin(fd, path)) {
		int e = errno;
		set_error("cannot pin %s: %s", path, strerror(e));
		return fail(e);
	}
	struct staged *p = realloc(t->pins, sizeof(*p) * (size_t)(t->npins + 1));
	if (!p || !(p[t->npins].name = strdup(name))) {
		if (p)
			t->pins = p;
		unlink(path);
		set_error("out of memory");
		return fail(ENOMEM);
	}
	t->pins = p;
	t->pins[t->npins].renamed = false;
	t->npins++;
	return 0;
}

static int commit_pins(struct txn *t)
{
	for (int i = 0; i < t->npins; i++) {
		char from[PATH_MAX], to[PATH_MAX];
		if (join(from, sizeof(from), t->dir, TMP_PREFIX, t->pins[i].name) ||
		    join(to, sizeof(to), t->dir, "", t->pins[i].name))
			return -ENAMETOOLONG;
		if (rename(from, to)) {
			int e = errno;
			set_error("cannot rename %s to %s: %s", from, to, strerror(e));
			return fail(e);
		}
		t->pins[i].renamed = true;
	}
	return 0;
}

static void txn_rollback(struct txn *t)
{
	for (int i = 0; i < t->npins; i++) {
		char path[PATH_MAX];
		if (!t->pins[i].renamed &&
		    join(path, sizeof(path), t->dir, TMP_PREFIX, t->pins[i].name) == 0)
			unlink(path);
	}
	if (t->created_dir)
		remove_dir(t->dir);
	if (t->created_root)
		rmdir(t->root);
}

static void txn_free(struct txn *t)
{
	for (int i = 0; i < t->npins; i++)
		free(t->pins[i].name);
	free(t->pins);
	if (t->lock >= 0)
		close(t->lock);
}

/* Per-slot per-CPU counter values. */
#define COUNTER_STRIDE ((sizeof(struct xdpl_counter) + 7) / 8 * 8)

struct stats_plan {
	bool migrate;          /* new stats map, counters copied by name */
	int old_fd;            /* old stats map (migrate) */
	uint32_t old_max;
	int *from;             /* new slot -> old slot or -1 */
	struct xdpl_counter *copied; /* per old slot: what was copied */
	int nslots;            /* new slots */
};

static int rule_index_by_name(const struct xdpl_object *o, const char *name)
{
	for (int i = 0; i <= o->nrules; i++) {
		const char *n = i == o->nrules ? "default" : o->rules[i].name;
		if (n && strcmp(n, name) == 0)
			return i;
	}
	return -1;
}

static bool same_rules(const struct xdpl_object *a, const struct xdpl_object *b)
{
	if (a->nrules != b->nrules)
		return false;
	for (int i = 0; i < a->nrules; i++)
		if (!a->rules[i].name || !b->rules[i].name ||
		    strcmp(a->rules[i].name, b->rules[i].name) != 0)
			return false;
	return true;
}

/* Copy per-CPU counters old -> new by rule name, before the new program
 * runs (nobody writes the new map yet). */
static int stats_copy(struct xdpl_object *obj, struct xdpl_object *old, struct stats_plan *sp)
{
	int ncpus = libbpf_num_possible_cpus();
	if (ncpus < 1)
		return fail(EINVAL);
	int new_fd = bpf_map__fd(obj->stats);
	sp->nslots = (int)bpf_map__max_entries(obj->stats);
	sp->from = calloc((size_t)sp->nslots, sizeof(int));
	sp->copied = calloc((size_t)sp->old_max + 1, sizeof(*sp->copied));
	uint8_t *vals = calloc((size_t)ncpus, COUNTER_STRIDE);
	if (!sp->from || !sp->copied || !vals) {
		free(vals);
		set_error("out of memory");
		return fail(ENOMEM);
	}
	for (int i = 0; i < sp->nslots; i++) {
		sp->from[i] = -1;
		if (i > obj->nrules)
			continue;
		const char *name = i == obj->nrules ? "default" : obj->rules[i].name;
		int j = name ? rule_index_by_name(old, name) : -1;
		if (j < 0 || (uint32_t)j >= sp->old_max)
			continue;
		uint32_t kj = (uint32_t)j, ki = (uint32_t)i;
		if (bpf_map_lookup_elem(sp->old_fd, &kj, vals))
			continue;
		if (bpf_map_update_elem(new_fd, &ki, vals, BPF_ANY)) {
			int e = errno;
			free(vals);
			set_error("cannot copy the counters of rule '%s' to the new stats map: %s",
				  name, strerror(e));
			return fail(e);
		}
		sp->from[i] = j;
		for (int c = 0; c < ncpus; c++) {
			struct xdpl_counter v;
			memcpy(&v, vals + COUNTER_STRIDE * (size_t)c, sizeof(v));
			sp->copied[j].packets += v.packets;
			sp->copied[j].bytes += v.bytes;
		}
	}
	free(vals);
	return 0;
}

/* Wait until no CPU runs the old program any more: XDP runs inside RCU
 * read-side sections, and membarrier(GLOBAL) is synchronize_rcu(). */
static void wait_old_program(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0)
		usleep(100000);
}

static int append(char **s, size_t *len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int append(char **s, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *add = NULL;
	int n = vasprintf(&add, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	char *ns = realloc(*s, *len + (size_t)n + 1);
	if (!ns) {
		free(add);
		return -ENOMEM;
	}
	memcpy(ns + *len, add, (size_t)n + 1);
	*len += (size_t)n;
	*s = ns;
	free(add);
	return 0;
}

/* The meta text to pin: the object's own (or one made from what is known),
 * without stats-base records, then the new stats-base records. */
static char *meta_text_for(struct xdpl_object *obj)
{
	char *s = NULL;
	size_t len = 0;
	int err = 0;
	if (obj->meta_text && obj->meta_text[0]) {
		const char *p = obj->meta_text;
		while (*p && !err) {
			const char *eol = strchr(p, '\n');
			size_t n = eol ? (size_t)(eol - p) : strlen(p);
			if (strncmp(p, "stats-base ", 11) != 0)
				err = append(&s, &len, "%.*s\n", (int)n, p);
			p += n + (eol ? 1 : 0);
		}
	} else {
		err = append(&s, &len, "xdpl-meta %d\nprogram %s\n", XDPL_META_VERSION,
			     obj->program_name ? obj->program_name : "unknown");
		for (int i = 0; i < obj->nrules && !err; i++)
			err = append(&s, &len, "rule %d %s 0 unknown\n", i, obj->rules[i].name);
		if (!err)
			err = append(&s, &len, "default %d unknown 0\n", obj->nrules);
	}
	for (int i = 0; i <= obj->nrules && !err; i++) {
		const struct meta_rule *r = &obj->rules[i];
		if (r->base_packets || r->base_bytes)
			err = append(&s, &len, "stats-base %s %llu %llu\n",
				     i == obj->nrules ? "default" : r->name,
				     (unsigned long long)r->base_packets,
				     (unsigned long long)r->base_bytes);
	}
	if (err) {
		free(s);
		return NULL;
	}
	return s ? s : strdup("");
}

static int make_meta_map(const char *text)
{
	size_t len = strlen(text) + 1;
	uint32_t vs = (uint32_t)((len + 7) / 8 * 8);
	LIBBPF_OPTS(bpf_map_create_opts, mo);
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, XDPL_PIN_META, 4, vs, 1, &mo);
	if (fd < 0) {
		int e = errno;
		set_error("cannot create the %s map (%u bytes): %s", XDPL_PIN_META, vs, strerror(e));
		return fail(e);
	}
	char *buf = xzalloc(vs);
	uint32_t k = 0;
	if (!buf) {
		close(fd);
		set_error("out of memory");
		return fail(ENOMEM);
	}
	memcpy(buf, text, len);
	int r = bpf_map_update_elem(fd, &k, buf, BPF_ANY);
	int e = errno;
	free(buf);
	if (r) {
		close(fd);
		set_error("cannot write the %s map: %s", XDPL_PIN_META, strerror(e));
		return fail(e);
	}
	bpf_map_freeze(fd); /* read-only from now on */
	return fd;
}

/* Describe how a pinned map differs from the new definition. */
static void describe_change(char *buf, size_t len, const struct bpf_map_info *mi, struct bpf_map *m)
{
	size_t w = 0;
	buf[0] = 0;
#define ADD(...) w += (size_t)snprintf(buf + w, w < len ? len - w : 0, __VA_ARGS__)
	if (mi->type != bpf_map__type(m))
		ADD("%stype %s -> %s", w ? ", " : "", map_type_name(mi->type),
		    map_type_name(bpf_map__type(m)));
	if (mi->key_size != bpf_map__key_size(m))
		ADD("%skey size %u -> %u bytes", w ? ", " : "", mi->key_size, bpf_map__key_size(m));
	if (mi->value_size != bpf_map__value_size(m))
		ADD("%svalue size %u -> %u bytes", w ? ", " : "", mi->value_size,
		    bpf_map__value_size(m));
	if (mi->max_entries != bpf_map__max_entries(m))
		ADD("%smax entries %u -> %u", w ? ", " : "", mi->max_entries,
		    bpf_map__max_entries(m));
	if (mi->map_flags != bpf_map__map_flags(m))
		ADD("%sflags 0x%x -> 0x%x", w ? ", " : "", mi->map_flags, bpf_map__map_flags(m));
#undef ADD
}

static bool same_map(const struct bpf_map_info *mi, struct bpf_map *m)
{
	return mi->type == bpf_map__type(m) && mi->key_size == bpf_map__key_size(m) &&
	       mi->value_size == bpf_map__value_size(m) &&
	       mi->max_entries == bpf_map__max_entries(m) && mi->map_flags == bpf_map__map_flags(m);
}

static bool pinnable(struct bpf_map *m)
{
	const char *n = bpf_map__name(m);
	return !bpf_map__is_internal(m) && n && *n && !strchr(n, '.') && !xdpl_map_is_fresh(n) &&
	       strncmp(n, TMP_PREFIX, strlen(TMP_PREFIX)) != 0 && strcmp(n, XDPL_PIN_LINK) != 0 &&
	       strcmp(n, XDPL_PIN_META) != 0;
}

/* A program attached to ifindex that is not ours: its id, else 0. */
static uint32_t foreign_prog(int ifindex, uint32_t ours, uint32_t *flags)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	if (bpf_xdp_query(ifindex, 0, &q))
		return 0;
	if (q.drv_prog_id && q.drv_prog_id != ours) {
		*flags = XDP_FLAGS_DRV_MODE;
		return q.drv_prog_id;
	}
	if (q.skb_prog_id && q.skb_prog_id != ours) {
		*flags = XDP_FLAGS_SKB_MODE;
		return q.skb_prog_id;
	}
	if (q.hw_prog_id && q.hw_prog_id != ours) {
		*flags = XDP_FLAGS_HW_MODE;
		return q.hw_prog_id;
	}
	return 0;
}

/* The XDP link on ifindex running prog_id, as an fd, or -1. */
static int find_xdp_link(int ifindex, uint32_t prog_id)
{
	__u32 id = 0;
	while (bpf_link_get_next_id(id, &id) == 0) {
		int fd = bpf_link_get_fd_by_id(id);
		if (fd < 0)
			continue;
		struct bpf_link_info li;
		if (link_info_fd(fd, &li) == 0 && li.type == BPF_LINK_TYPE_XDP &&
		    (int)li.xdp.ifindex == ifindex && li.prog_id == prog_id)
			return fd;
		close(fd);
	}
	return -1;
}

/* The device's MTU; INT_MAX when it cannot be read. Frames fit one
 * buffer up to about 3500 bytes: a program attached at an ordinary MTU is
 * loaded without the frags flag (and the kernel then refuses MTU changes
 * that would let longer frames in). */
static int device_mtu(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int ok = s >= 0 && ioctl(s, SIOCGIFMTU, &ifr) == 0;
	if (s >= 0)
		close(s);
	return ok ? ifr.ifr_mtu : INT_MAX;
}

int xdpl_object__attach(struct xdpl_object *obj, const char *ifname,
			const struct xdpl_attach_opts *opts, struct xdpl_attach_result *res)
{
	uint64_t t0 = now_ns();
	struct xdpl_attach_result r = { 0 };
	if (res)
		memset(res, 0, sizeof(*res));
	if (!obj || !ifname)
		return fail(EINVAL);
	if (opts && opts->sz && opts->sz < offsetof(struct xdpl_attach_opts, pin_root) + sizeof(char *)) {
		set_error("xdpl_attach_opts: unsupported size %zu", opts->sz);
		return fail(EINVAL);
	}
	enum xdpl_attach_mode mode = opts ? opts->mode : XDPL_MODE_DEFAULT;
	bool force = opts && opts->force, reset = opts && opts->reset;
	if (obj->loaded || obj->attached || !obj->bpf) {
		set_error("%s: already loaded (or a load failed): open the object again to attach it",
			  obj->obj_name);
		return fail(EBUSY);
	}
	if (mode != XDPL_MODE_DEFAULT && mode != XDPL_MODE_NATIVE && mode != XDPL_MODE_SKB) {
		set_error("unknown attach mode %d", (int)mode);
		return fail(EINVAL);
	}
	int ifindex = (int)if_nametoindex(ifname);
	if (!ifindex) {
		set_error("no such network device '%s'", ifname);
		return fail(ENODEV);
	}
	r.ifindex = ifindex;

	struct txn t = { .root = root_of(opts ? opts->pin_root : NULL), .ifname = ifname, .lock = -1 };
	int err = ifname_dir(t.root, ifname, t.dir, sizeof(t.dir));
	if (err)
		return err;
	err = ensure_bpffs(t.root);
	if (err)
		return err;
	t.lock = lock_root(t.root, &t.created_root);
	if (t.lock < 0)
		return t.lock;

	struct xdpl_object *old = NULL;
	int link_fd = -1, new_link_fd = -1, old_prog_fd = -1, foreign_fd = -1;
	uint32_t foreign_flags = 0;
	struct stats_plan sp = { .old_fd = -1 };
	bool committed = false, here = false, swapped_link = false;
	struct xdpl_attached_info ai = { 0 };
	char path[PATH_MAX];
	char **keep = NULL; /* final pin names of the new version */
	struct bpf_map **keep_maps = NULL;
	int nkeep = 0;

	if (mkdir(t.dir, 0700) == 0) {
		t.created_dir = true;
	} else if (errno != EEXIST) {
		int e = errno;
		set_error("cannot create %s: %s", t.dir, strerror(e));
		err = fail(e);
		goto out;
	} else {
		/* Leftovers of an attach that was killed midway. */
		DIR *d = opendir(t.dir);
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 &&
			    join(path, sizeof(path), t.dir, "", de->d_name) == 0)
				unlink(path);
		if (d)
			closedir(d);
		old = open_dir(t.dir, ifname);
		if (!old) {
			err = -errno;
			goto out;
		}
		link_fd = inspect_link(t.dir, ifname, &ai);
	}

	/* What runs on the device now. */
	if (link_fd >= 0 && !ai.stale) {
		if (ai.other_netns) {
			set_error("%s belongs to a device named %s in another network namespace "
				  "(ifindex %d, program id %u); detach it there first",
				  t.dir, ifname, ai.ifindex, ai.prog_id);
			err = fail(EBUSY);
			goto out;
		}
		here = true;
		if (mode != XDPL_MODE_DEFAULT && mode != ai.mode) {
			set_error("%s runs its xdpl policy in %s mode; to switch to %s mode, detach it "
				  "first (xdplc detach --dev %s)",
				  ifname, xdpl_mode_name(ai.mode), xdpl_mode_name(mode), ifname);
			err = fail(EBUSY);
			goto out;
		}
		mode = ai.mode;
	} else {
		uint32_t fid = foreign_prog(ifindex, 0, &foreign_flags);
		if (fid) {
			char name[BPF_OBJ_NAME_LEN + 2] = "?";
			foreign_fd = bpf_prog_get_fd_by_id(fid);
			struct bpf_prog_info pi;
			if (foreign_fd >= 0 && prog_info_fd(foreign_fd, &pi) == 0 && pi.name[0])
				snprintf(name, sizeof(name), "%s", pi.name);
			if (!force) {
				set_error("%s already has an XDP program (id %u, %s) that xdpl did not "
					  "attach; use --force to replace it",
					  ifname, fid, name);
				err = fail(EEXIST);
				goto out;
			}
		}
		if (mode == XDPL_MODE_DEFAULT)
			mode = XDPL_MODE_NATIVE;
	}
	r.mode = mode;

	/* Maps: reuse the pinned ones that did not change. */
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj->bpf)
	{
		if (!pinnable(m))
			continue;
		/* Our own copy: bpf_map__reuse_fd renames the map to the
		 * kernel's (15-character) name. */
		char **nk = realloc(keep, sizeof(*keep) * (size_t)(nkeep + 1));
		struct bpf_map **nm = realloc(keep_maps, sizeof(*nm) * (size_t)(nkeep + 1));
		if (nk)
			keep = nk;
		if (nm)
			keep_maps = nm;
		if (!nk || !nm || !(keep[nkeep] = strdup(bpf_map__name(m)))) {
			set_error("out of memory");
			err = fail(ENOMEM);
			goto out;
		}
		keep_maps[nkeep] = m;
		const char *name = keep[nkeep++];
		if ((err = join(path, sizeof(path), t.dir, "", name)))
			goto out;
		int fd = old ? bpf_obj_get(path) : -1;
		if (fd < 0)
			continue;
		struct bpf_map_info mi;
		if (map_info_fd(fd, &mi)) {
			close(fd);
			continue;
		}
		bool same = same_map(&mi, m);
		if (strcmp(name, XDPL_STATS_MAP) == 0) {
			if (same && same_rules(old, obj)) {
				/* reuse below */
			} else {
				sp.migrate = true;
				sp.old_fd = fd;
				sp.old_max = mi.max_entries;
				continue;
			}
		}
		if (!same) {
			if (reset) {
				close(fd);
				continue;
			}
			char what[256];
			describe_change(what, sizeof(what), &mi, m);
			set_error("map '%s' of the policy on %s changed (%s), so its contents cannot be "
				  "kept; attach with --reset to replace it (its current elements are "
				  "discarded). The attached policy is unchanged",
				  name, ifname, what);
			close(fd);
			err = fail(EBUSY);
			goto out;
		}
		libbpf_print_fn_t pold = capture_begin();
		int rr = bpf_map__reuse_fd(m, fd);
		capture_end(pold);
		close(fd);
		if (rr) {
			set_error("cannot reuse the pinned map %s: %s", path, strerror(-rr));
			err = fail(-rr);
			goto out;
		}
		char **nr = realloc(obj->reused, sizeof(*nr) * (size_t)(obj->nreused + 1));
		if (!nr || !(nr[obj->nreused] = strdup(name))) {
			if (nr)
				obj->reused = nr;
			set_error("out of memory");
			err = fail(ENOMEM);
			goto out;
		}
		obj->reused = nr;
		obj->nreused++;
		r.maps_reused++;
	}

	/* Load: the verifier. Initial elements go into new maps only. */
	if (device_mtu(ifname) <= 1500) /* no multi-buffer frames: pkt.len without a helper call */
		xdpl_object__set_frags(obj, false);
	err = xdpl_object__load(obj);
	if (err)
		goto out;
	int prog_fd = xdpl_object__prog_fd(obj);
	struct bpf_prog_info pinfo;
	if (prog_info_fd(prog_fd, &pinfo) == 0)
		r.prog_id = pinfo.id;

	/* Counters: continue from the old ones. */
	if (obj->stats && old) {
		if (sp.migrate) {
			r.stats_migrated = true;
			if ((err = stats_copy(obj, old, &sp)))
				goto out;
			for (int i = 0; i < sp.nslots && i <= obj->nrules; i++)
				if (sp.from[i] >= 0) {
					obj->rules[i].base_packets = old->rules[sp.from[i]].base_packets;
					obj->rules[i].base_bytes = old->rules[sp.from[i]].base_bytes;
				}
		} else if (same_rules(old, obj)) {
			for (int i = 0; i <= obj->nrules; i++) {
				obj->rules[i].base_packets = old->rules[i].base_packets;
				obj->rules[i].base_bytes = old->rules[i].base_bytes;
			}
		}
	}

	/* Stage the new maps' pins. */
	for (int k = 0; k < nkeep; k++) {
		bool reused = false;
		for (int i = 0; i < obj->nreused && !reused; i++)
			reused = strcmp(obj->reused[i], keep[k]) == 0;
		if (reused)
			continue;
		if ((err = stage_pin(&t, bpf_map__fd(keep_maps[k]), keep[k])))
			goto out;
		r.maps_created++;
	}

	/* Commit: swap the program, or attach. */
	if (here) {
		struct bpf_link_info li;
		if (link_info_fd(link_fd, &li) == 0)
			old_prog_fd = bpf_prog_get_fd_by_id(li.prog_id);
		uint64_t s0 = now_ns();
		if (bpf_link_update(link_fd, prog_fd, NULL)) {
			int e = errno;
			set_error("replacing the program on %s (bpf_link_update) failed: %s", ifname,
				  strerror(e));
			err = fail(e);
			goto out;
		}
		r.swap_ns = now_ns() - s0;
		committed = true;
		r.replaced = true;
		r.link_id = ai.link_id;
	} else {
		if (foreign_fd >= 0) {
			/* --force: a link can only be detached; a netlink program is
			 * put back if attaching ours fails. */
			struct bpf_prog_info fi;
			int fl = prog_info_fd(foreign_fd, &fi) == 0 ? find_xdp_link(ifindex, fi.id) : -1;
			if (fl >= 0) {
				if (bpf_link_detach(fl)) {
					int e = errno;
					close(fl);
					set_error("cannot detach the XDP link holding program %u on %s: %s",
						  fi.id, ifname, strerror(e));
					err = fail(e);
					goto out;
				}
				close(fl);
				close(foreign_fd);
				foreign_fd = -1; /* cannot be put back */
			} else {
				LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = foreign_fd);
				if (bpf_xdp_detach(ifindex, foreign_flags, &xo) &&
				    bpf_xdp_detach(ifindex, foreign_flags, NULL)) {
					int e = errno;
					set_error("cannot remove the XDP program on %s: %s", ifname,
						  strerror(e));
					err = fail(e);
					goto out;
				}
			}
			r.forced = true;
		}
		LIBBPF_OPTS(bpf_link_create_opts, lo,
			    .flags = mode == XDPL_MODE_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
		uint64_t s0 = now_ns();
		new_link_fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lo);
		r.swap_ns = now_ns() - s0;
		if (new_link_fd < 0) {
			int e = errno;
			if (mode == XDPL_MODE_NATIVE && (e == EOPNOTSUPP || e == ENOTSUP))
				set_error("%s does not support native XDP (its driver has no XDP "
					  "support); attach in generic mode with --mode skb",
					  ifname);
			else if (mode == XDPL_MODE_NATIVE && e == EINVAL)
				set_error("the driver of %s refused the program in native mode (%s); "
					  "try --mode skb",
					  ifname, strerror(e));
			else if (e == EPERM || e == EACCES)
				set_error("needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo");
			else if (e == EBUSY || e == EEXIST)
				set_error("%s got another XDP program meanwhile (%s); see 'ip link show "
					  "dev %s'",
					  ifname, strerror(e), ifname);
			else
				set_error("attaching to %s in %s mode failed: %s", ifname,
					  xdpl_mode_name(mode), strerror(e));
			err = fail(e == ENOTSUP ? EOPNOTSUPP : e);
			goto out;
		}
		committed = true;
		struct bpf_link_info li;
		if (link_info_fd(new_link_fd, &li) == 0)
			r.link_id = li.id;
		if ((err = stage_pin(&t, new_link_fd, XDPL_PIN_LINK)))
			goto out;
	}

	/* The old program no longer runs: counters it made after the copy go
	 * into the stats-base records. */
	if (sp.migrate && here) {
		wait_old_program();
		struct xdpl_counter *fin = calloc((size_t)sp.old_max + 1, sizeof(*fin));
		if (!fin) {
			set_error("out of memory");
			err = fail(ENOMEM);
			goto out;
		}
		if (xdpl__read_raw_counters(sp.old_fd, sp.old_max, fin, (int)sp.old_max, "old stats") == 0)
			for (int i = 0; i < sp.nslots && i <= obj->nrules; i++) {
				int j = sp.from[i];
				if (j < 0)
					continue;
				obj->rules[i].base_packets += fin[j].packets - sp.copied[j].packets;
				obj->rules[i].base_bytes += fin[j].bytes - sp.copied[j].bytes;
			}
		free(fin);
	}

	/* Metadata, then every pin into place. */
	char *text = meta_text_for(obj);
	if (!text) {
		set_error("out of memory");
		err = fail(ENOMEM);
		goto out;
	}
	int meta_fd = make_meta_map(text);
	free(text);
	if (meta_fd < 0) {
		err = meta_fd;
		goto out;
	}
	err = stage_pin(&t, meta_fd, XDPL_PIN_META);
	close(meta_fd);
	if (err)
		goto out;
	if ((err = commit_pins(&t)))
		goto out;
	swapped_link = true;

	/* Maps the new version no longer has. */
	DIR *d = opendir(t.dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		const char *n = de->d_name;
		if (n[0] == '.' || strcmp(n, XDPL_PIN_LINK) == 0 || strcmp(n, XDPL_PIN_META) == 0)
			continue;
		bool wanted = false;
		for (int i = 0; i < nkeep && !wanted; i++)
			wanted = strcmp(keep[i], n) == 0;
		if (!wanted && join(path, sizeof(path), t.dir, "", n) == 0)
			unlink(path);
	}
	if (d)
		closedir(d);
	err = 0;
	clear_error();

out:
	if (err && committed && !swapped_link) {
		/* Undo the commit: the old program back, or our link off. */
		if (here && old_prog_fd >= 0)
			bpf_link_update(link_fd, old_prog_fd, NULL);
		if (new_link_fd >= 0)
			bpf_link_detach(new_link_fd);
		if (foreign_fd >= 0 && r.forced)
			bpf_xdp_attach(ifindex, foreign_fd, foreign_flags, NULL);
	}
	if (err && !swapped_link)
		txn_rollback(&t);
	txn_free(&t);
	for (int k = 0; k < nkeep; k++)
		free(keep[k]);
	free(keep);
	free(keep_maps);
	free(sp.from);
	free(sp.copied);
	if (sp.old_fd >= 0)
		close(sp.old_fd);
	if (link_fd >= 0)
		close(link_fd);
	if (new_link_fd >= 0)
		close(new_link_fd);
	if (old_prog_fd >= 0)
		close(old_prog_fd);
	if (foreign_fd >= 0)
		close(foreign_fd);
	xdpl_object__close(old);
	r.duration_ns = now_ns() - t0;
	if (res && !err)
		*res = r;
	if (err)
		errno = -err;
	return err;
}
