/* libxdpl attached policies: open one from its pins alone (status, stats,
 * set), list them, detach one. Pin layout: xdpl_meta.h; which bpffs and
 * which directory: pin.c. */
#define _GNU_SOURCE
#include "internal.h"
#include "xdpl.h"
#include "xdpl_meta.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* ------------------------------------------------------------ opening */

/* The xdpl_meta text pinned as fd (malloc'd into *meta). */
static void read_meta_pin(int fd, const struct bpf_map_info *mi, char **meta)
{
	uint32_t k = 0;
	char *buf = xzalloc((size_t)mi->value_size + 1);
	if (buf && mi->type == BPF_MAP_TYPE_ARRAY && bpf_map_lookup_elem(fd, &k, buf) == 0) {
		free(*meta);
		*meta = buf;
	} else {
		free(buf);
	}
}

static int add_pinned_map(struct xdpl_object *obj, const char *name, int fd,
			  const struct bpf_map_info *mi)
{
	struct pinned_map *p = realloc(obj->pins, sizeof(*p) * (size_t)(obj->npins + 1));
	if (!p)
		return xdpl__oom();
	obj->pins = p;
	p = &obj->pins[obj->npins++];
	*p = (struct pinned_map){ .name = strdup(name), .fd = fd, .type = mi->type,
				  .key_size = mi->key_size, .value_size = mi->value_size,
				  .max_entries = mi->max_entries, .flags = mi->map_flags,
				  .id = mi->id };
	return p->name ? 0 : xdpl__oom();
}

/* One entry of a device directory: a map pin, or the metadata. */
static int open_entry(struct xdpl_object *obj, const char *dir, const char *n, char **meta)
{
	char path[PATH_MAX];
	if (n[0] == '.' || strcmp(n, XDPL_PIN_LINK) == 0 ||
	    strncmp(n, XDPL_TMP_PREFIX, strlen(XDPL_TMP_PREFIX)) == 0 ||
	    xdpl__join(path, sizeof(path), dir, "", n))
		return 0;
	int fd = bpf_obj_get(path);
	struct bpf_map_info mi;
	if (fd < 0)
		return 0;
	if (xdpl__map_info(fd, &mi)) {
		close(fd);
		return 0;
	}
	if (strcmp(n, XDPL_PIN_META) == 0) {
		read_meta_pin(fd, &mi, meta);
		close(fd);
		return 0;
	}
	int err = add_pinned_map(obj, n, fd, &mi);
	if (err && (!obj->npins || obj->pins[obj->npins - 1].fd != fd))
		close(fd);
	return err;
}

static int dir_error(const char *dir, const char *ifname, const struct xdpl_netns *ns, int err)
{
	char where[NAME_MAX + 32];
	xdpl__netns_describe(ns, where, sizeof(where));
	if (err == -ENOENT)
		set_error("no xdpl policy is attached to %s in %s (nothing in %s)", ifname, where,
			  xdpl__shown(dir));
	else if (err == -EACCES || err == -EPERM)
		set_error("cannot read %s: needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo",
			  xdpl__shown(dir));
	else
		set_error("cannot read %s: %s", xdpl__shown(dir), strerror(-err));
	return err;
}

static int read_pins(struct xdpl_object *obj, const char *dir, const struct xdpl_netns *ns,
		     char **meta)
{
	DIR *d = opendir(dir);
	if (!d)
		return dir_error(dir, obj->ifname, ns, -errno);
	int err = 0;
	struct dirent *de;
	while (!err && (de = readdir(d)))
		err = open_entry(obj, dir, de->d_name, meta);
	closedir(d);
	return err;
}

/* Without metadata: rules from the stats map size, generic names. */
static int generic_rules(struct xdpl_object *obj)
{
	int n = 0;
	for (int i = 0; i < obj->npins; i++)
		if (strcmp(obj->pins[i].name, XDPL_STATS_MAP) == 0 && obj->pins[i].max_entries)
			n = (int)obj->pins[i].max_entries - 1;
	obj->nrules = n;
	obj->rules = xzalloc(sizeof(*obj->rules) * (size_t)(n + 1));
	if (!obj->rules)
		return xdpl__oom();
	for (int i = 0; i < n; i++)
		if (asprintf(&obj->rules[i].name, "rule%d", i) < 0)
			return obj->rules[i].name = NULL, xdpl__oom();
	return 0;
}

static struct xdpl_object *new_attached(const char *dir, const char *ifname)
{
	struct xdpl_object *obj = xzalloc(sizeof(*obj));
	if (!obj)
		return NULL;
	obj->attached = true;
	obj->stats_fd = -1;
	obj->ifname = strdup(ifname);
	obj->pin_dir = strdup(dir);
	if (asprintf(&obj->obj_name, "policy on %s", ifname) < 0)
		obj->obj_name = NULL;
	if (!obj->ifname || !obj->pin_dir || !obj->obj_name) {
		xdpl_object__close(obj);
		return NULL;
	}
	return obj;
}

/* The policy pinned in dir (ifname's directory of netns ns). */
static struct xdpl_object *open_dir(const char *dir, const char *ifname,
				    const struct xdpl_netns *ns)
{
	struct xdpl_object *obj = new_attached(dir, ifname);
	if (!obj) {
		errno = -xdpl__oom();
		return NULL;
	}
	char *meta = NULL;
	int err = read_pins(obj, dir, ns, &meta);
	if (!err && meta && meta[0]) {
		err = parse_meta(obj, meta);
		obj->meta_text = meta;
		meta = NULL;
	}
	free(meta);
	if (!err && !obj->rules)
		err = generic_rules(obj);
	if (!err && !obj->program_name && !(obj->program_name = strdup("unknown")))
		err = xdpl__oom();
	if (err) {
		xdpl_object__close(obj);
		errno = -err;
		return NULL;
	}
	int lfd = xdpl__inspect_link(dir, ifname, &obj->ainfo);
	if (lfd >= 0)
		close(lfd);
	clear_error();
	return obj;
}

struct xdpl_object *xdpl__open_attached_dir(const char *dir, const char *ifname,
					    const struct xdpl_netns *ns)
{
	return open_dir(dir, ifname, ns);
}

/* The device directory of ifname; -ENOENT (with the message) if absent. */
static int find_dev_dir(const char *ifname, const char *pin_root, char *dir, size_t len,
			struct xdpl_netns *ns)
{
	struct pin_root r;
	if (!ifname) {
		set_error("no device name");
		return fail(EINVAL);
	}
	int err = xdpl__pin_root_open(&r, pin_root, PIN_FIND);
	*ns = r.ns;
	if (!err)
		err = xdpl__dev_dir(&r, ifname, dir, len);
	xdpl__pin_root_close(&r);
	struct stat st;
	if (err == -ENOENT || (!err && stat(dir, &st) && errno == ENOENT)) {
		if (!if_nametoindex(ifname) && errno == ENODEV)
			set_error("no such network device '%s'", ifname);
		else
			dir_error(err ? XDPL_PIN_ROOT : dir, ifname, ns, -ENOENT);
		return fail(ENOENT);
	}
	return err;
}

struct xdpl_object *xdpl_object__open_attached(const char *ifname, const char *pin_root)
{
	char dir[PATH_MAX];
	struct xdpl_netns ns;
	int err = find_dev_dir(ifname, pin_root, dir, sizeof(dir), &ns);
	if (err) {
		errno = -err;
		return NULL;
	}
	return open_dir(dir, ifname, &ns);
}

int xdpl_object__attached_info(const struct xdpl_object *obj, struct xdpl_attached_info *info)
{
	if (!obj || !info || !obj->attached)
		return fail(EINVAL);
	*info = obj->ainfo;
	return 0;
}

/* ------------------------------------------------------------ listing */

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

static int list_dir(const char *dir, char ***names)
{
	DIR *d = opendir(dir);
	if (!d) {
		int e = errno;
		if (e == ENOENT)
			return 0;
		if (e == EACCES || e == EPERM)
			set_error("cannot read %s: needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo",
				  xdpl__shown(dir));
		else
			set_error("cannot read %s: %s", xdpl__shown(dir), strerror(e));
		return fail(e == EACCES ? EPERM : e);
	}
	char **v = NULL;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || de->d_type != DT_DIR ||
		    strncmp(de->d_name, XDPL_STAGE_PREFIX, strlen(XDPL_STAGE_PREFIX)) == 0)
			continue; /* an attach in progress (or killed: the next sweep settles it) */
		char **nv = realloc(v, sizeof(*v) * (size_t)(n + 1));
		char name[IFNAMSIZ * 3 + 1];
		xdpl__ifname_decode(de->d_name, name, sizeof(name));
		if (!nv || !(nv[n] = strdup(name))) {
			xdpl_free_names(nv ? nv : v, n);
			closedir(d);
			return xdpl__oom();
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

int xdpl_list_attached(const char *pin_root, char ***names)
{
	*names = NULL;
	struct pin_root r;
	int err = xdpl__pin_root_open(&r, pin_root, PIN_FIND);
	if (err == -ENOENT) {
		clear_error();
		return 0;
	}
	int n = err ? err : list_dir(r.dir, names);
	xdpl__pin_root_close(&r);
	return n;
}

/* ------------------------------------------------------------ detach */

/* Why ifname has nothing to detach: no device, no pins, no privilege. */
static int nothing_to_detach(const char *dir, const char *ifname, const struct xdpl_netns *ns,
			     int e)
{
	if (e == EACCES || e == EPERM) {
		set_error("needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo");
		return fail(EPERM);
	}
	if (!if_nametoindex(ifname)) {
		set_error("no such network device '%s'", ifname);
		return fail(ENODEV);
	}
	dir_error(dir, ifname, ns, -ENOENT);
	return fail(ENOENT);
}

/* Detach the link of dir (even if someone else holds it open). */
static int detach_link(const char *dir, const char *ifname)
{
	struct xdpl_attached_info ai;
	int lfd = xdpl__inspect_link(dir, ifname, &ai);
	int err = 0;
	if (lfd >= 0 && !ai.stale && ai.other_netns) {
		set_error("%s holds a link to ifindex %d (program id %u), which is not %s here "
			  "(was it renamed or moved to another namespace?): detach it there",
			  xdpl__shown(dir), ai.ifindex, ai.prog_id, ifname);
		err = fail(EBUSY);
	} else if (lfd >= 0 && !ai.stale && bpf_link_detach(lfd) && errno != ENOLINK &&
		   errno != EINVAL) {
		int e = errno;
		set_error("detaching the XDP link of %s failed: %s", ifname, strerror(e));
		err = fail(e);
	}
	if (lfd >= 0)
		close(lfd);
	return err;
}

static int detach_locked(struct pin_root *r, const char *ifname)
{
	char dir[PATH_MAX];
	int err = xdpl__dev_dir(r, ifname, dir, sizeof(dir));
	if (err)
		return err;
	struct stat st;
	if (stat(dir, &st))
		return nothing_to_detach(dir, ifname, &r->ns, errno);
	if ((err = detach_link(dir, ifname)))
		return err;
	err = xdpl__remove_dir(dir);
	if (err) {
		set_error("cannot remove the pins in %s: %s", xdpl__shown(dir), strerror(-err));
		return fail(-err);
	}
	return 0;
}

int xdpl_detach(const char *ifname, const struct xdpl_detach_opts *opts)
{
	if (!ifname)
		return fail(EINVAL);
	if (opts && opts->sz && opts->sz < offsetof(struct xdpl_detach_opts, pin_root) + sizeof(char *))
		return fail(EINVAL);
	struct pin_root r;
	int err = xdpl__pin_root_open(&r, opts ? opts->pin_root : NULL, PIN_LOCK);
	if (err == -ENOENT)
		err = nothing_to_detach(r.dir[0] ? r.dir : XDPL_PIN_ROOT, ifname, &r.ns, ENOENT);
	else if (!err)
		err = detach_locked(&r, ifname);
	xdpl__pin_root_close(&r);
	if (!err)
		clear_error();
	return err;
}
