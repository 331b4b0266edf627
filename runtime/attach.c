/* libxdpl attach (reference §15): load a policy and attach it, or replace the
 * one attached, keeping its maps and counters.
 *
 * Pin layout: xdpl_meta.h. An attach is a transaction:
 *   prepare  check the device and what runs on it, decide per map whether
 *            the pinned one is reused (contents kept) or a new one made,
 *            load (verifier), fill initial elements of new maps, put the
 *            old counts into stats-base when the stats map is replaced,
 *            pin the whole new version in the staging directory
 *            (xdpl__stage_dir), the new program last as the mark
 *   commit   bpf_link_update of the pinned link (atomic program swap), or
 *            bpf_link_create + pin it in the staging directory
 *   finish   settle the counters, exchange the staging and the device
 *            directories (xdpl__stage_install)
 * A failure before the commit removes the staging directory; after it,
 * the link is put back to the old program (or the new link detached)
 * first. The policy that was attached keeps running throughout. A kill
 * at any point is settled by the next command (xdpl__stage_recover). A
 * lock (flock on the pin root) serialises xdpl
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

/* ------------------------------------------------------------ the transaction */

/* The new version is pinned complete in the staging directory dir
 * (xdpl__stage_dir), which replaces the device directory dev in one
 * rename at the end: a kill at any point leaves either version whole. */
struct txn {
	char dir[PATH_MAX];
	char dev[PATH_MAX];
	bool created_dir;
};

static int stage_pin(struct txn *t, int fd, const char *name)
{
	char path[PATH_MAX];
	int err = xdpl__join(path, sizeof(path), t->dir, "", name);
	if (err)
		return err;
	if (bpf_obj_pin(fd, path)) {
		int e = errno;
		set_error("cannot pin %s: %s", xdpl__shown(path), strerror(e));
		return fail(e);
	}
	return 0;
}

static void txn_rollback(struct txn *t)
{
	if (t->created_dir)
		xdpl__remove_dir(t->dir);
}

struct stats_plan {
	bool migrate;          /* new stats map: the old counts go into stats-base */
	int old_fd;            /* old stats map (migrate) */
	uint32_t old_max;
	int *from;             /* new slot -> old slot or -1 */
	struct xdpl_counter *seen; /* per old slot: its counts before the swap */
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

/* A new stats map starts empty and is never written from here: the
 * program's plain per-CPU adds must be the only writers of a map it runs
 * with, and one quantity must live in one place. Every count of the old
 * map goes into stats-base by rule name instead: what it holds now (so
 * metadata staged before the commit is nearly complete), and at
 * settle_counters what the old program added until it stopped. */
static int stats_snapshot(struct xdpl_object *obj, struct xdpl_object *old, struct stats_plan *sp)
{
	sp->nslots = (int)bpf_map__max_entries(obj->stats);
	sp->from = calloc((size_t)sp->nslots + 1, sizeof(int));
	sp->seen = calloc((size_t)sp->old_max + 1, sizeof(*sp->seen));
	if (!sp->from || !sp->seen)
		return xdpl__oom();
	int err = xdpl__read_raw_counters(sp->old_fd, sp->old_max, sp->seen, (int)sp->old_max,
					  "the stats of the attached policy");
	for (int i = 0; i < sp->nslots; i++) {
		const char *name = i > obj->nrules ? NULL : i == obj->nrules ? "default" : obj->rules[i].name;
		int j = name ? rule_index_by_name(old, name) : -1;
		sp->from[i] = j >= 0 && (uint32_t)j < sp->old_max ? j : -1;
	}
	return err;
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

/* The object's meta text without the records an attach writes itself. */
static int append_own_meta(struct xdpl_object *obj, char **s, size_t *len)
{
	int err = 0;
	if (!obj->meta_text || !obj->meta_text[0]) {
		err = append(s, len, "xdpl-meta %d\nprogram %s\n", XDPL_META_VERSION,
			     obj->program_name ? obj->program_name : "unknown");
		for (int i = 0; i < obj->nrules && !err; i++)
			err = append(s, len, "rule %d %s 0 unknown\n", i, obj->rules[i].name);
		return err ? err : append(s, len, "default %d unknown 0\n", obj->nrules);
	}
	for (const char *p = obj->meta_text; *p && !err;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (strncmp(p, "stats-base ", 11) != 0 && strncmp(p, "netns ", 6) != 0)
			err = append(s, len, "%.*s\n", (int)n, p);
		p += n + (eol ? 1 : 0);
	}
	return err;
}

/* "netns NAME": the namespace the policy was attached in, for the message
 * of whoever removes its pins once the namespace is gone. */
static int append_netns(const struct xdpl_netns *ns, char **s, size_t *len)
{
	char name[NAME_MAX + 32];
	if (ns->name[0])
		snprintf(name, sizeof(name), "%s", ns->name);
	else if (ns->root)
		snprintf(name, sizeof(name), "root");
	else
		snprintf(name, sizeof(name), "net:[%llu]", (unsigned long long)ns->ino);
	for (char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return append(s, len, "netns %s\n", name);
}

/* The meta text to pin: the object's own (or one made from what is known),
 * then the netns and the new stats-base records. */
static char *meta_text_for(struct xdpl_object *obj, const struct xdpl_netns *ns)
{
	char *s = NULL;
	size_t len = 0;
	int err = append_own_meta(obj, &s, &len);
	if (!err)
		err = append_netns(ns, &s, &len);
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
	return s;
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
	       strncmp(n, XDPL_TMP_PREFIX, strlen(XDPL_TMP_PREFIX)) != 0 && strcmp(n, XDPL_PIN_LINK) != 0 &&
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
		if (xdpl__link_info(fd, &li) == 0 && li.type == BPF_LINK_TYPE_XDP &&
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

/* ------------------------------------------------------------ attach */

/* One attach: what it found, what it made, what it must undo. */
struct attach {
	struct xdpl_object *obj;
	struct xdpl_object *old;   /* the policy pinned for the device, or NULL */
	const char *ifname;
	int ifindex;
	enum xdpl_attach_mode mode;
	bool force, reset;
	struct pin_root root;
	struct txn t;
	int link_fd;               /* the pinned link (old) */
	int new_link_fd, old_prog_fd, foreign_fd;
	uint32_t foreign_flags;
	struct stats_plan sp;
	bool here;                 /* our link runs on the device: replace */
	bool committed;            /* the new program runs */
	bool finished;             /* every pin is in place */
	struct xdpl_attached_info ai;
	char **keep;               /* final pin names of the new version */
	struct bpf_map **keep_maps;
	int nkeep;
	struct xdpl_attach_result r;
};

static int check_args(struct attach *a, const struct xdpl_attach_opts *opts)
{
	if (!a->obj || !a->ifname)
		return fail(EINVAL);
	if (opts && opts->sz && opts->sz < offsetof(struct xdpl_attach_opts, pin_root) + sizeof(char *)) {
		set_error("xdpl_attach_opts: unsupported size %zu", opts->sz);
		return fail(EINVAL);
	}
	a->mode = opts ? opts->mode : XDPL_MODE_DEFAULT;
	a->force = opts && opts->force;
	a->reset = opts && opts->reset;
	if (a->obj->loaded || a->obj->attached || !a->obj->bpf) {
		set_error("%s: already loaded (or a load failed): open the object again to attach it",
			  a->obj->obj_name);
		return fail(EBUSY);
	}
	if (a->mode != XDPL_MODE_DEFAULT && a->mode != XDPL_MODE_NATIVE && a->mode != XDPL_MODE_SKB) {
		set_error("unknown attach mode %d", (int)a->mode);
		return fail(EINVAL);
	}
	a->ifindex = (int)if_nametoindex(a->ifname);
	if (!a->ifindex) {
		set_error("no such network device '%s'", a->ifname);
		return fail(ENODEV);
	}
	a->r.ifindex = a->ifindex;
	return 0;
}

/* The staging directory made (after settling what an attach killed
 * midway left there), and the policy pinned for the device opened. */
static int open_dev_dir(struct attach *a, const char *pin_root)
{
	int err = xdpl__pin_root_open(&a->root, pin_root, PIN_CREATE);
	if (!err)
		err = xdpl__dev_dir(&a->root, a->ifname, a->t.dev, sizeof(a->t.dev));
	if (!err)
		err = xdpl__stage_dir(a->t.dev, a->t.dir, sizeof(a->t.dir));
	if (err)
		return err;
	struct stat st;
	if (stat(a->t.dir, &st) == 0)
		xdpl__stage_recover(&a->root, a->t.dir, NULL, NULL);
	if (mkdir(a->t.dir, 0700)) {
		int e = errno;
		set_error("cannot create %s: %s", xdpl__shown(a->t.dir), strerror(e));
		return fail(e);
	}
	a->t.created_dir = true;
	if (stat(a->t.dev, &st))
		return 0; /* nothing attached yet */
	a->old = xdpl__open_attached_dir(a->t.dev, a->ifname, &a->root.ns);
	if (!a->old)
		return -errno;
	a->link_fd = xdpl__inspect_link(a->t.dev, a->ifname, &a->ai);
	return 0;
}

/* Our link runs on the device: the program is replaced in the same mode. */
static int check_ours(struct attach *a)
{
	if (a->ai.other_netns) {
		set_error("%s holds a link to ifindex %d (program id %u), which is not %s here (was "
			  "it renamed or moved to another namespace?); detach it there first",
			  xdpl__shown(a->t.dev), a->ai.ifindex, a->ai.prog_id, a->ifname);
		return fail(EBUSY);
	}
	if (a->mode != XDPL_MODE_DEFAULT && a->mode != a->ai.mode) {
		set_error("%s runs its xdpl policy in %s mode; to switch to %s mode, detach it "
			  "first (xdplc detach --dev %s)",
			  a->ifname, xdpl_mode_name(a->ai.mode), xdpl_mode_name(a->mode), a->ifname);
		return fail(EBUSY);
	}
	a->here = true;
	a->mode = a->ai.mode;
	return 0;
}

/* No link of ours: a program someone else attached is only replaced with force. */
static int check_foreign(struct attach *a)
{
	uint32_t fid = foreign_prog(a->ifindex, 0, &a->foreign_flags);
	if (fid) {
		char name[BPF_OBJ_NAME_LEN + 2] = "?";
		struct bpf_prog_info pi;
		a->foreign_fd = bpf_prog_get_fd_by_id(fid);
		if (a->foreign_fd >= 0 && prog_info_fd(a->foreign_fd, &pi) == 0 && pi.name[0])
			snprintf(name, sizeof(name), "%s", pi.name);
		if (!a->force) {
			set_error("%s already has an XDP program (id %u, %s) that xdpl did not "
				  "attach; use --force to replace it",
				  a->ifname, fid, name);
			return fail(EEXIST);
		}
	}
	if (a->mode == XDPL_MODE_DEFAULT)
		a->mode = XDPL_MODE_NATIVE;
	return 0;
}

static int check_running(struct attach *a)
{
	int err = a->link_fd >= 0 && !a->ai.stale ? check_ours(a) : check_foreign(a);
	a->r.mode = a->mode;
	return err;
}

/* Remember m's source name (bpf_map__reuse_fd renames the map to the
 * kernel's 15-character name). */
static int keep_map(struct attach *a, struct bpf_map *m)
{
	char **nk = realloc(a->keep, sizeof(*nk) * (size_t)(a->nkeep + 1));
	if (nk)
		a->keep = nk;
	struct bpf_map **nm = realloc(a->keep_maps, sizeof(*nm) * (size_t)(a->nkeep + 1));
	if (nm)
		a->keep_maps = nm;
	if (!nk || !nm || !(a->keep[a->nkeep] = strdup(bpf_map__name(m))))
		return xdpl__oom();
	a->keep_maps[a->nkeep++] = m;
	return 0;
}

static int reuse_map(struct attach *a, struct bpf_map *m, int fd, const char *name,
		     const char *path)
{
	libbpf_print_fn_t pold = capture_begin();
	int rr = bpf_map__reuse_fd(m, fd);
	capture_end(pold);
	close(fd);
	if (rr) {
		set_error("cannot reuse the pinned map %s: %s", xdpl__shown(path), strerror(-rr));
		return fail(-rr);
	}
	struct xdpl_object *obj = a->obj;
	char **nr = realloc(obj->reused, sizeof(*nr) * (size_t)(obj->nreused + 1));
	if (nr)
		obj->reused = nr;
	if (!nr || !(nr[obj->nreused] = strdup(name)))
		return xdpl__oom();
	obj->nreused++;
	a->r.maps_reused++;
	return 0;
}

static int map_changed(struct attach *a, struct bpf_map *m, int fd, const char *name,
		       const struct bpf_map_info *mi)
{
	close(fd);
	if (a->reset)
		return 0;
	char what[256];
	describe_change(what, sizeof(what), mi, m);
	set_error("map '%s' of the policy on %s changed (%s), so its contents cannot be "
		  "kept; attach with --reset to replace it (its current elements are "
		  "discarded). The attached policy is unchanged",
		  name, a->ifname, what);
	return fail(EBUSY);
}

/* One map of the new object: the pinned one is reused when unchanged. */
static int plan_map(struct attach *a, struct bpf_map *m)
{
	char path[PATH_MAX];
	int err = keep_map(a, m);
	const char *name = err ? NULL : a->keep[a->nkeep - 1];
	if (!err)
		err = xdpl__join(path, sizeof(path), a->t.dev, "", name);
	int fd = !err && a->old ? bpf_obj_get(path) : -1;
	struct bpf_map_info mi;
	if (fd < 0 || xdpl__map_info(fd, &mi)) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	bool same = same_map(&mi, m);
	if (strcmp(name, XDPL_STATS_MAP) == 0 && !(same && same_rules(a->old, a->obj))) {
		a->sp.migrate = true;
		a->sp.old_fd = fd;
		a->sp.old_max = mi.max_entries;
		return 0;
	}
	if (!same)
		return map_changed(a, m, fd, name, &mi);
	return reuse_map(a, m, fd, name, path);
}

static int plan_maps(struct attach *a)
{
	struct bpf_map *m;
	bpf_object__for_each_map(m, a->obj->bpf)
	{
		int err = pinnable(m) ? plan_map(a, m) : 0;
		if (err)
			return err;
	}
	return 0;
}

/* The verifier. Initial elements go into new maps only. */
static int load(struct attach *a)
{
	if (device_mtu(a->ifname) <= 1500) /* no multi-buffer frames: pkt.len without a helper call */
		xdpl_object__set_frags(a->obj, false);
	int err = xdpl_object__load(a->obj);
	struct bpf_prog_info pinfo;
	if (!err && prog_info_fd(xdpl_object__prog_fd(a->obj), &pinfo) == 0)
		a->r.prog_id = pinfo.id;
	return err;
}

static void copy_base(struct meta_rule *to, const struct meta_rule *from)
{
	to->base_packets = from->base_packets;
	to->base_bytes = from->base_bytes;
}

/* Counters continue from the old ones. */
static int carry_counters(struct attach *a)
{
	struct xdpl_object *obj = a->obj, *old = a->old;
	struct stats_plan *sp = &a->sp;
	if (!obj->stats || !old)
		return 0;
	if (sp->migrate) {
		a->r.stats_migrated = true;
		int err = stats_snapshot(obj, old, sp);
		for (int i = 0; !err && i < sp->nslots && i <= obj->nrules; i++) {
			int j = sp->from[i];
			if (j < 0)
				continue;
			copy_base(&obj->rules[i], &old->rules[j]);
			obj->rules[i].base_packets += sp->seen[j].packets;
			obj->rules[i].base_bytes += sp->seen[j].bytes;
		}
		return err;
	}
	if (same_rules(old, obj))
		for (int i = 0; i <= obj->nrules; i++)
			copy_base(&obj->rules[i], &old->rules[i]);
	return 0;
}

static bool was_reused(const struct xdpl_object *obj, const char *name)
{
	for (int i = 0; i < obj->nreused; i++)
		if (strcmp(obj->reused[i], name) == 0)
			return true;
	return false;
}

static int pin_meta(struct attach *a, const char *name)
{
	char *text = meta_text_for(a->obj, &a->root.ns);
	if (!text)
		return xdpl__oom();
	int meta_fd = make_meta_map(text);
	free(text);
	if (meta_fd < 0)
		return meta_fd;
	int err = stage_pin(&a->t, meta_fd, name);
	close(meta_fd);
	return err;
}

/* The whole new version in the staging directory before the commit:
 * every map (reused ones too), the running link on a replace, the
 * metadata, and last the program (the mark that tells a later command
 * whether the commit happened: xdpl__stage_recover). */
static int stage_version(struct attach *a)
{
	int err = 0;
	for (int k = 0; k < a->nkeep && !err; k++) {
		err = stage_pin(&a->t, bpf_map__fd(a->keep_maps[k]), a->keep[k]);
		if (!err && !was_reused(a->obj, a->keep[k]))
			a->r.maps_created++;
	}
	if (!err && a->here)
		err = stage_pin(&a->t, a->link_fd, XDPL_PIN_LINK);
	if (!err)
		err = pin_meta(a, XDPL_PIN_META);
	if (!err)
		err = stage_pin(&a->t, xdpl_object__prog_fd(a->obj), XDPL_PIN_PROG_MARK);
	return err;
}

/* Commit, replacing: the program of our link is swapped atomically. */
static int swap_program(struct attach *a)
{
	struct bpf_link_info li;
	if (xdpl__link_info(a->link_fd, &li) == 0)
		a->old_prog_fd = bpf_prog_get_fd_by_id(li.prog_id);
	uint64_t s0 = now_ns();
	if (bpf_link_update(a->link_fd, xdpl_object__prog_fd(a->obj), NULL)) {
		int e = errno;
		set_error("replacing the program on %s (bpf_link_update) failed: %s", a->ifname,
			  strerror(e));
		return fail(e);
	}
	a->r.swap_ns = now_ns() - s0;
	a->committed = true;
	a->r.replaced = true;
	a->r.link_id = a->ai.link_id;
	return 0;
}

/* --force: a link can only be detached (it cannot be put back); a netlink
 * program is put back if attaching ours fails. */
static int remove_foreign(struct attach *a)
{
	struct bpf_prog_info fi;
	int fl = prog_info_fd(a->foreign_fd, &fi) == 0 ? find_xdp_link(a->ifindex, fi.id) : -1;
	if (fl >= 0) {
		int r = bpf_link_detach(fl), e = errno;
		close(fl);
		if (r) {
			set_error("cannot detach the XDP link holding program %u on %s: %s", fi.id,
				  a->ifname, strerror(e));
			return fail(e);
		}
		close(a->foreign_fd);
		a->foreign_fd = -1;
	} else {
		LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = a->foreign_fd);
		if (bpf_xdp_detach(a->ifindex, a->foreign_flags, &xo) &&
		    bpf_xdp_detach(a->ifindex, a->foreign_flags, NULL)) {
			int e = errno;
			set_error("cannot remove the XDP program on %s: %s", a->ifname, strerror(e));
			return fail(e);
		}
	}
	a->r.forced = true;
	return 0;
}

static int link_create_error(const struct attach *a, int e)
{
	const char *ifname = a->ifname;
	if (a->mode == XDPL_MODE_NATIVE && (e == EOPNOTSUPP || e == ENOTSUP))
		set_error("%s does not support native XDP (its driver has no XDP support); attach "
			  "in generic mode with --mode skb",
			  ifname);
	else if (a->mode == XDPL_MODE_NATIVE && e == EINVAL)
		set_error("the driver of %s refused the program in native mode (%s); try --mode skb",
			  ifname, strerror(e));
	else if (e == EPERM || e == EACCES)
		set_error("needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo");
	else if (e == EBUSY || e == EEXIST)
		set_error("%s got another XDP program meanwhile (%s); see 'ip link show dev %s'",
			  ifname, strerror(e), ifname);
	else
		set_error("attaching to %s in %s mode failed: %s", ifname, xdpl_mode_name(a->mode),
			  strerror(e));
	return fail(e == ENOTSUP ? EOPNOTSUPP : e);
}

/* Commit, attaching: a new link, pinned at its temporary name. */
static int attach_link(struct attach *a)
{
	int err = a->foreign_fd >= 0 ? remove_foreign(a) : 0;
	if (err)
		return err;
	LIBBPF_OPTS(bpf_link_create_opts, lo,
		    .flags = a->mode == XDPL_MODE_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
	uint64_t s0 = now_ns();
	a->new_link_fd = bpf_link_create(xdpl_object__prog_fd(a->obj), a->ifindex, BPF_XDP, &lo);
	a->r.swap_ns = now_ns() - s0;
	if (a->new_link_fd < 0)
		return link_create_error(a, errno);
	a->committed = true;
	struct bpf_link_info li;
	if (xdpl__link_info(a->new_link_fd, &li) == 0)
		a->r.link_id = li.id;
	return stage_pin(&a->t, a->new_link_fd, XDPL_PIN_LINK);
}

static int commit(struct attach *a)
{
	return a->here ? swap_program(a) : attach_link(a);
}

/* The old program no longer runs: what it counted after the copy goes into
 * the stats-base records. */
static int settle_counters(struct attach *a)
{
	struct stats_plan *sp = &a->sp;
	struct xdpl_object *obj = a->obj;
	if (!sp->migrate || !a->here)
		return 0;
	wait_old_program();
	struct xdpl_counter *fin = calloc((size_t)sp->old_max + 1, sizeof(*fin));
	if (!fin)
		return xdpl__oom();
	if (xdpl__read_raw_counters(sp->old_fd, sp->old_max, fin, (int)sp->old_max, "old stats") == 0)
		for (int i = 0; i < sp->nslots && i <= obj->nrules; i++) {
			int j = sp->from[i];
			if (j < 0)
				continue;
			obj->rules[i].base_packets += fin[j].packets - sp->seen[j].packets;
			obj->rules[i].base_bytes += fin[j].bytes - sp->seen[j].bytes;
		}
	free(fin);
	return 0;
}

/* The metadata again with the settled stats-base records, then the new
 * version in place of the old one. */
static int finish(struct attach *a)
{
	int err = 0;
	if (a->sp.migrate && a->here) {
		char from[PATH_MAX], to[PATH_MAX];
		err = pin_meta(a, XDPL_PIN_META_NEXT);
		if (!err)
			err = xdpl__join(from, sizeof(from), a->t.dir, "", XDPL_PIN_META_NEXT);
		if (!err)
			err = xdpl__join(to, sizeof(to), a->t.dir, "", XDPL_PIN_META);
		if (!err && rename(from, to)) {
			int e = errno;
			set_error("cannot rename %s to %s: %s", xdpl__shown(from), xdpl__shown(to), strerror(e));
			err = fail(e);
		}
	}
	if (!err)
		err = xdpl__stage_install(a->t.dir, a->t.dev);
	if (err)
		return err;
	a->finished = true;
	a->t.created_dir = false;
	return 0;
}

/* A failure: the old program back (or our link off, or a program removed
 * by force back on), then every pin this call made removed. */
static void undo(struct attach *a)
{
	if (a->finished)
		return;
	if (a->committed && a->here && a->old_prog_fd >= 0)
		bpf_link_update(a->link_fd, a->old_prog_fd, NULL);
	if (a->committed && a->new_link_fd >= 0)
		bpf_link_detach(a->new_link_fd);
	if (a->committed && a->foreign_fd >= 0 && a->r.forced)
		bpf_xdp_attach(a->ifindex, a->foreign_fd, a->foreign_flags, NULL);
	txn_rollback(&a->t);
}

static void close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

static void attach_free(struct attach *a)
{
	xdpl__pin_root_close(&a->root);
	for (int k = 0; k < a->nkeep; k++)
		free(a->keep[k]);
	free(a->keep);
	free(a->keep_maps);
	free(a->sp.from);
	free(a->sp.seen);
	close_fd(a->sp.old_fd);
	close_fd(a->link_fd);
	close_fd(a->new_link_fd);
	close_fd(a->old_prog_fd);
	close_fd(a->foreign_fd);
	xdpl_object__close(a->old);
}

int xdpl_object__attach(struct xdpl_object *obj, const char *ifname,
			const struct xdpl_attach_opts *opts, struct xdpl_attach_result *res)
{
	uint64_t t0 = now_ns();
	struct attach a = { .obj = obj, .ifname = ifname, .root.lock = -1, .link_fd = -1,
			    .new_link_fd = -1, .old_prog_fd = -1, .foreign_fd = -1,
			    .sp.old_fd = -1 };
	if (res)
		memset(res, 0, sizeof(*res));
	int err = check_args(&a, opts);
	if (!err)
		err = open_dev_dir(&a, opts ? opts->pin_root : NULL);
	if (!err)
		err = check_running(&a);
	if (!err)
		err = plan_maps(&a);
	if (!err)
		err = load(&a);
	if (!err)
		err = carry_counters(&a);
	if (!err)
		err = stage_version(&a);
	if (!err)
		err = commit(&a);
	if (!err)
		err = settle_counters(&a);
	if (!err)
		err = finish(&a);
	if (err)
		undo(&a);
	else
		clear_error();
	attach_free(&a);
	a.r.duration_ns = now_ns() - t0;
	if (res && !err)
		*res = a.r;
	if (err)
		errno = -err;
	return err;
}
