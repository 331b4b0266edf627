/* libxdpl pins: which bpffs, which network namespace, which directory.
 *
 * Layout (xdpl_meta.h): XDPL_PIN_ROOT/netns-INO-COOKIE/IFNAME/..., one
 * directory per network namespace, named by the namespace's inode (what
 * `ls -l /proc/PID/ns/net` and lsns show) and its cookie (SO_NETNS_COOKIE,
 * never reused while the system runs, so a new namespace that gets a dead
 * one's inode does not inherit its pins).
 *
 * The bpffs: pins must outlive the command, so they go to a bpffs mount
 * that outlives it. `ip netns exec` runs the command in a mount namespace
 * of its own with a fresh /sys: a bpffs mounted there (or found there)
 * disappears with the command, and a pinned link with it. So when this
 * process's mount namespace differs from its parent's (or init's), the
 * /sys/fs/bpf of that ancestor is used, reached through /proc/PID/root and
 * kept open as a directory fd (pins are then made under /proc/self/fd/N,
 * which follows the fd into the host's bpffs). When no such bpffs can be
 * found, an attach fails before it changes anything.
 *
 * Needs only libc and libbpf: generated loaders carry this file. */
#define _GNU_SOURCE
#include "internal.h"
#include "xdpl_meta.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define BPFFS_DEFAULT "/sys/fs/bpf"
/* The initial namespaces' fixed inodes (include/linux/proc_ns.h). */
#define INIT_MNT_INO 0xEFFFFFF8u
#define INIT_NET_INO 0xEFFFFFF9u
#define NETNS_PREFIX "netns-"

/* ------------------------------------------------------------ network namespace */

static uint64_t ns_inode(const char *path)
{
	struct stat st;
	return stat(path, &st) ? 0 : (uint64_t)st.st_ino;
}

static uint64_t netns_cookie(void)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0; /* kernels before 5.14: the inode alone */
	if (fd >= 0)
		close(fd);
	return cookie;
}

/* The name `ip netns` gave the namespace with inode ino, if any. */
static void netns_name(uint64_t ino, char *out, size_t outlen)
{
	out[0] = 0;
	DIR *d = opendir("/run/netns");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[PATH_MAX];
		if (de->d_name[0] == '.' ||
		    (size_t)snprintf(path, sizeof(path), "/run/netns/%s", de->d_name) >= sizeof(path))
			continue;
		if (ns_inode(path) == ino) {
			snprintf(out, outlen, "%s", de->d_name);
			break;
		}
	}
	if (d)
		closedir(d);
}

int xdpl__netns_self(struct xdpl_netns *ns)
{
	memset(ns, 0, sizeof(*ns));
	ns->ino = ns_inode("/proc/self/ns/net");
	if (!ns->ino) {
		int e = errno;
		set_error("cannot identify this network namespace (/proc/self/ns/net): %s",
			  strerror(e));
		return fail(e ? e : EINVAL);
	}
	ns->cookie = netns_cookie();
	ns->root = ns->ino == INIT_NET_INO || ns->ino == ns_inode("/proc/1/ns/net");
	netns_name(ns->ino, ns->name, sizeof(ns->name));
	return 0;
}

void xdpl__netns_describe(const struct xdpl_netns *ns, char *buf, size_t len)
{
	if (ns->name[0])
		snprintf(buf, len, "netns %s", ns->name);
	else if (ns->root)
		snprintf(buf, len, "the root netns");
	else
		snprintf(buf, len, "netns net:[%llu]", (unsigned long long)ns->ino);
}

int xdpl_netns_describe(char *buf, size_t len)
{
	struct xdpl_netns ns;
	int err = xdpl__netns_self(&ns);
	if (!err)
		xdpl__netns_describe(&ns, buf, len);
	return err;
}

/* ------------------------------------------------------------ which bpffs */

static bool is_bpffs(const char *path)
{
	struct statfs st;
	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/* The parent of pid from /proc/PID/stat, 0 if unknown. */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* the command name may hold anything */
	int ppid = 0;
	char state;
	if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
		return 0;
	return (pid_t)ppid;
}

/* An ancestor's /sys/fs/bpf (init first, then the parents) that lives in
 * another mount namespace than ours and is a bpffs, opened as O_PATH; -1
 * if none. *other: some ancestor is in another mount namespace. */
static int ancestor_bpffs(bool *other)
{
	uint64_t self = ns_inode("/proc/self/ns/mnt");
	pid_t pid = 1, next = getppid();
	*other = false;
	for (int steps = 0; self && pid > 0 && steps < 64; steps++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
		uint64_t ino = ns_inode(path); /* 0: not ours to look at */
		if (ino && ino != self) {
			*other = true;
			snprintf(path, sizeof(path), "/proc/%d/root" BPFFS_DEFAULT, (int)pid);
			if (is_bpffs(path)) {
				int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
				if (fd >= 0)
					return fd;
			}
		}
		pid = next;
		next = pid > 1 ? parent_of(pid) : 0;
	}
	return -1;
}

static bool same_fs(int fd, const char *path)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev;
}

static int mount_bpffs(void)
{
	if (mkdir(BPFFS_DEFAULT, 0755) && errno != EEXIST) {
		int e = errno;
		set_error("cannot create %s: %s", BPFFS_DEFAULT, strerror(e));
		return fail(e);
	}
	if (mount("bpf", BPFFS_DEFAULT, "bpf", 0, "mode=0700")) {
		int e = errno;
		set_error("bpffs is not mounted and mounting it failed: %s; mount it with "
			  "'mount -t bpf bpf %s'",
			  strerror(e), BPFFS_DEFAULT);
		return fail(e == EPERM || e == EACCES ? EPERM : EMEDIUMTYPE);
	}
	return 0;
}

/* Whether a bpffs mounted now in this mount namespace outlives the
 * command: only in the initial one, or in init's (a container's). A
 * process that is itself pid 1 cannot tell, so it does not mount. */
static bool lasting_mount_ns(void)
{
	uint64_t self = ns_inode("/proc/self/ns/mnt");
	return self && (self == INIT_MNT_INO || (getpid() != 1 && self == ns_inode("/proc/1/ns/mnt")));
}

/* The bpffs this process pins into: "/sys/fs/bpf", or "/proc/self/fd/N"
 * for the host's when this mount namespace is private. Found once. */
static char bpffs_base[64];

static int private_mount_error(void)
{
	set_error("this command runs in a mount namespace of its own (as under 'ip netns "
		  "exec'), and no bpffs that outlives it was found: pins made here would vanish "
		  "when it exits, and the policy with them. Mount bpffs on the host ('mount -t "
		  "bpf bpf %s'), or enter the network namespace with 'nsenter --net=/run/netns/NS'",
		  BPFFS_DEFAULT);
	return fail(EMEDIUMTYPE);
}

/* may_mount: mount bpffs at /sys/fs/bpf when this is not a private mount
 * namespace and nothing is mounted there. -ENOENT: no bpffs (nothing can
 * be pinned yet) and may_mount is false. */
static int resolve_bpffs(bool may_mount)
{
	if (bpffs_base[0])
		return 0;
	bool local = is_bpffs(BPFFS_DEFAULT), other;
	int fd = ancestor_bpffs(&other);
	if (fd >= 0 && local && same_fs(fd, BPFFS_DEFAULT)) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		snprintf(bpffs_base, sizeof(bpffs_base), "/proc/self/fd/%d", fd);
		return 0;
	}
	if (!local && !may_mount)
		return fail(ENOENT);
	if (!local && (other || !lasting_mount_ns()))
		return private_mount_error();
	if (!local) {
		int err = mount_bpffs();
		if (err)
			return err;
	}
	snprintf(bpffs_base, sizeof(bpffs_base), "%s", BPFFS_DEFAULT);
	return 0;
}

/* path for messages: the host's /sys/fs/bpf, not /proc/self/fd/N. */
const char *xdpl__shown(const char *path)
{
	static __thread char bufs[2][PATH_MAX];
	static __thread int which;
	size_t n = strlen(bpffs_base);
	if (!n || strcmp(bpffs_base, BPFFS_DEFAULT) == 0 || strncmp(path, bpffs_base, n) != 0 ||
	    (path[n] && path[n] != '/'))
		return path;
	char *b = bufs[which ^= 1];
	snprintf(b, PATH_MAX, "%s%s", BPFFS_DEFAULT, path + n);
	return b;
}

/* ------------------------------------------------------------ directories */

int xdpl__join(char *out, size_t outlen, const char *dir, const char *prefix, const char *name)
{
	if ((size_t)snprintf(out, outlen, "%s/%s%s", dir, prefix, name) >= outlen) {
		set_error("pin path %s/%s is too long", xdpl__shown(dir), name);
		return fail(ENAMETOOLONG);
	}
	return 0;
}

/* bpffs names may not contain '.': an interface "eth0.100" gets directory
 * "eth0%2e100" ('%' itself is written %25). */
int xdpl__dev_dir(const struct pin_root *r, const char *ifname, char *out, size_t outlen)
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
	return xdpl__join(out, outlen, r->dir, "", enc);
}

void xdpl__ifname_decode(const char *enc, char *out, size_t outlen)
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

int xdpl__remove_dir(const char *dir)
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
		if (xdpl__join(path, sizeof(path), dir, "", de->d_name) == 0 && unlink(path) && !err)
			err = -errno;
	}
	closedir(d);
	if (rmdir(dir) && !err)
		err = -errno;
	return err;
}

/* ------------------------------------------------------------ the pin root */

static int mkdir_reported(const char *dir, bool *made)
{
	*made = false;
	if (mkdir(dir, 0700) == 0) {
		*made = true;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	int e = errno;
	if (e == EPERM || e == EACCES)
		set_error("cannot create %s: %s: needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo",
			  xdpl__shown(dir), strerror(e));
	else
		set_error("cannot create %s: %s", xdpl__shown(dir), strerror(e));
	return fail(e == EACCES ? EPERM : e);
}

/* flock on top: serialises every xdpl process changing pins. */
static int lock_top(struct pin_root *r)
{
	int fd = open(r->top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			return fail(ENOENT);
		set_error("cannot open %s: %s", xdpl__shown(r->top), strerror(e));
		return fail(e == EACCES ? EPERM : e);
	}
	if (flock(fd, LOCK_EX)) {
		int e = errno;
		set_error("cannot lock %s: %s", xdpl__shown(r->top), strerror(e));
		close(fd);
		return fail(e);
	}
	r->lock = fd;
	return 0;
}

static int root_paths(struct pin_root *r, const char *pin_root, const char *base)
{
	int err = xdpl__netns_self(&r->ns);
	if (err)
		return err;
	r->keyed = !pin_root || !*pin_root;
	if (!r->keyed) {
		snprintf(r->top, sizeof(r->top), "%s", pin_root);
		snprintf(r->dir, sizeof(r->dir), "%s", pin_root);
		return 0;
	}
	char name[64];
	snprintf(name, sizeof(name), NETNS_PREFIX "%llu-%llu", (unsigned long long)r->ns.ino,
		 (unsigned long long)r->ns.cookie);
	if ((size_t)snprintf(r->top, sizeof(r->top), "%s%s", base,
			     &XDPL_PIN_ROOT[strlen(BPFFS_DEFAULT)]) >= sizeof(r->top))
		return fail(ENAMETOOLONG);
	return xdpl__join(r->dir, sizeof(r->dir), r->top, "", name);
}

/* An explicit pin_root must be on a bpffs as it is. */
static int check_explicit(const char *pin_root)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", pin_root);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = 0;
	if (is_bpffs(parent))
		return 0;
	set_error("%s is not on a BPF filesystem (bpffs): pins cannot be made there", pin_root);
	return fail(EMEDIUMTYPE);
}

int xdpl__pin_root_open(struct pin_root *r, const char *pin_root, enum pin_root_use use)
{
	bool create = use == PIN_CREATE;
	memset(r, 0, sizeof(*r));
	r->lock = -1;
	bool explicit = pin_root && *pin_root;
	int err = explicit ? (create ? check_explicit(pin_root) : 0) : resolve_bpffs(create);
	if (!err)
		err = root_paths(r, pin_root, bpffs_base);
	if (!err && create)
		err = mkdir_reported(r->top, &r->made_top);
	if (!err && use != PIN_FIND)
		err = lock_top(r);
	if (!err && create && r->keyed)
		err = mkdir_reported(r->dir, &r->made_dir);
	if (err)
		xdpl__pin_root_close(r);
	return err;
}

void xdpl__pin_root_close(struct pin_root *r)
{
	if (r->lock < 0 && !r->made_top)
		return; /* only the lock holder (or who made top) tidies up */
	if (r->keyed && r->dir[0])
		rmdir(r->dir); /* only when empty */
	if (r->top[0])
		rmdir(r->top);
	if (r->lock >= 0)
		close(r->lock);
	r->lock = -1;
	r->made_top = false;
}

/* ------------------------------------------------------------ objects */

int xdpl__oom(void)
{
	set_error("out of memory");
	return fail(ENOMEM);
}

int xdpl__map_info(int fd, struct bpf_map_info *info)
{
	memset(info, 0, sizeof(*info));
	__u32 len = sizeof(*info);
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

int xdpl__link_info(int fd, struct bpf_link_info *info)
{
	memset(info, 0, sizeof(*info));
	__u32 len = sizeof(*info);
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/* Which mode runs prog_id on ifindex in this netns (DEFAULT: not here). */
enum xdpl_attach_mode xdpl__mode_of(int ifindex, uint32_t prog_id)
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

static int stale(struct xdpl_attached_info *ai, const char *why)
{
	ai->stale = true;
	ai->stale_reason = why;
	return -1;
}

/* Link state of a device directory: fills ai; returns the link fd or -1. */
int xdpl__inspect_link(const char *dir, const char *ifname, struct xdpl_attached_info *ai)
{
	char path[PATH_MAX];
	memset(ai, 0, sizeof(*ai));
	if (xdpl__join(path, sizeof(path), dir, "", XDPL_PIN_LINK))
		return -1;
	int fd = bpf_obj_get(path);
	if (fd < 0)
		return stale(ai, "no link pin: nothing is attached");
	struct bpf_link_info li;
	if (xdpl__link_info(fd, &li) || li.type != BPF_LINK_TYPE_XDP) {
		close(fd);
		return stale(ai, "the link pin is not an XDP link");
	}
	ai->link_id = li.id;
	ai->prog_id = li.prog_id;
	ai->ifindex = (int)li.xdp.ifindex;
	if (!ai->ifindex) {
		stale(ai, "the device is gone");
		return fd;
	}
	ai->mode = xdpl__mode_of(ai->ifindex, li.prog_id);
	if (ai->mode == XDPL_MODE_DEFAULT || (int)if_nametoindex(ifname) != ai->ifindex)
		ai->other_netns = true;
	return fd;
}

/* ------------------------------------------------------------ stale pins */

/* The value of the first "KEY VALUE" record of a device's xdpl_meta. */
static void meta_record(const char *dir, const char *key, char *out, size_t outlen)
{
	char path[PATH_MAX];
	out[0] = 0;
	if (xdpl__join(path, sizeof(path), dir, "", XDPL_PIN_META))
		return;
	int fd = bpf_obj_get(path);
	struct bpf_map_info mi;
	if (fd < 0 || xdpl__map_info(fd, &mi) || mi.key_size != 4) {
		if (fd >= 0)
			close(fd);
		return;
	}
	char *text = calloc(1, (size_t)mi.value_size + 1);
	uint32_t k = 0;
	size_t kl = strlen(key);
	if (text && bpf_map_lookup_elem(fd, &k, text) == 0)
		for (char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
			if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
				snprintf(out, outlen, "%.*s", (int)strcspn(p + kl + 1, "\n"), p + kl + 1);
				break;
			}
	free(text);
	close(fd);
}

/* The program and namespace of the pins in dir (an entry of a netns
 * directory), for messages: from its xdpl_meta, else the directory name. */
static void describe_pins(const struct pin_root *r, const char *dir, char program[256],
			  char netns[256])
{
	meta_record(dir, "program", program, 256);
	meta_record(dir, "netns", netns, 256);
	const char *end = strrchr(dir, '/'), *base = end;
	while (base && base > dir && base[-1] != '/')
		base--;
	unsigned long long ino = 0;
	if (!netns[0] && r->keyed && base && sscanf(base, NETNS_PREFIX "%llu", &ino) == 1)
		snprintf(netns, 256, "net:[%llu]", ino);
}

/* ------------------------------------------------------------ staged versions */

int xdpl__stage_dir(const char *dev, char *out, size_t outlen)
{
	const char *base = strrchr(dev, '/');
	if (!base)
		return fail(EINVAL);
	if ((size_t)snprintf(out, outlen, "%.*s/%s%s", (int)(base - dev), dev, XDPL_STAGE_PREFIX,
			     base + 1) >= outlen) {
		set_error("pin path %s is too long", xdpl__shown(dev));
		return fail(ENAMETOOLONG);
	}
	return 0;
}

/* Entries of dir named XDPL_TMP_PREFIX...: markers of the attach that made it. */
static void remove_markers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];
	while (d && (de = readdir(d)))
		if (strncmp(de->d_name, XDPL_TMP_PREFIX, strlen(XDPL_TMP_PREFIX)) == 0 &&
		    xdpl__join(path, sizeof(path), dir, "", de->d_name) == 0)
			unlink(path);
	if (d)
		closedir(d);
}

int xdpl__stage_install(const char *stage, const char *dev)
{
	struct stat st;
	bool exchange = stat(dev, &st) == 0;
	if (exchange ? renameat2(AT_FDCWD, stage, AT_FDCWD, dev, RENAME_EXCHANGE)
		     : rename(stage, dev)) {
		int e = errno;
		set_error("cannot put %s in place of %s: %s", xdpl__shown(stage), xdpl__shown(dev),
			  strerror(e));
		return fail(e);
	}
	if (exchange)
		xdpl__remove_dir(stage); /* the old version now */
	remove_markers(dev);
	return 0;
}

/* The id of the program or link pinned at dir/name, 0 if none. */
static uint32_t pinned_id(const char *dir, const char *name, bool link)
{
	char path[PATH_MAX];
	int fd = xdpl__join(path, sizeof(path), dir, "", name) ? -1 : bpf_obj_get(path);
	if (fd < 0)
		return 0;
	uint32_t id = 0;
	if (link) {
		struct bpf_link_info li;
		if (xdpl__link_info(fd, &li) == 0 && li.type == BPF_LINK_TYPE_XDP)
			id = li.prog_id;
	} else {
		struct bpf_prog_info pi;
		__u32 len = sizeof(pi);
		memset(&pi, 0, sizeof(pi));
		if (bpf_obj_get_info_by_fd(fd, &pi, &len) == 0)
			id = pi.id;
	}
	close(fd);
	return id;
}

/* The attach that staged this was killed after its commit: the link pinned
 * there runs the program it staged. Before the commit the staged link (on
 * a replace, the running one) runs another program, or there is none. */
static bool stage_committed(const char *stage)
{
	uint32_t want = pinned_id(stage, XDPL_PIN_PROG_MARK, false);
	return want && pinned_id(stage, XDPL_PIN_LINK, true) == want;
}

int xdpl__stage_recover(const struct pin_root *r, const char *stage, xdpl_stale_cb cb, void *ctx)
{
	char dev[PATH_MAX], ifname[3 * IFNAMSIZ + 1], program[256], netns[256];
	const char *base = strrchr(stage, '/');
	size_t pl = strlen(XDPL_STAGE_PREFIX);
	if (!base || strncmp(base + 1, XDPL_STAGE_PREFIX, pl) != 0 ||
	    (size_t)snprintf(dev, sizeof(dev), "%.*s/%s", (int)(base - stage), stage,
			     base + 1 + pl) >= sizeof(dev))
		return fail(EINVAL);
	xdpl__ifname_decode(base + 1 + pl, ifname, sizeof(ifname));
	describe_pins(r, stage, program, netns);
	bool done = stage_committed(stage);
	int err = done ? xdpl__stage_install(stage, dev) : xdpl__remove_dir(stage);
	struct xdpl_stale_info si = {
		.ifname = ifname,
		.netns = netns[0] ? netns : NULL,
		.program = program[0] ? program : NULL,
		.reason = done ? "an attach was killed after its program started: its pins were "
				 "put in place"
			       : "an attach was killed before its program started: what it had "
				 "pinned was removed",
		.here = strncmp(stage, r->dir, strlen(r->dir)) == 0 && stage[strlen(r->dir)] == '/',
		.error = err,
		.dir = xdpl__shown(done && !err ? dev : stage),
		.completed = done,
	};
	if (cb)
		cb(&si, ctx);
	return err ? err : done;
}

/* Remove the device directory dev of netns directory nsdir when its link
 * is gone or detached; report it through cb. */
static void sweep_dev(const struct pin_root *r, const char *nsdir, const char *dev,
		      xdpl_stale_cb cb, void *ctx)
{
	char dir[PATH_MAX], ifname[3 * IFNAMSIZ + 1], program[256], netns[256];
	if (xdpl__join(dir, sizeof(dir), nsdir, "", dev))
		return;
	xdpl__ifname_decode(dev, ifname, sizeof(ifname));
	struct xdpl_attached_info ai;
	int lfd = xdpl__inspect_link(dir, ifname, &ai);
	if (lfd >= 0)
		close(lfd);
	if (!ai.stale)
		return;
	describe_pins(r, dir, program, netns);
	int err = xdpl__remove_dir(dir);
	struct xdpl_stale_info si = {
		.ifname = ifname,
		.netns = netns[0] ? netns : NULL,
		.program = program[0] ? program : NULL,
		.reason = ai.stale_reason,
		.here = strcmp(nsdir, r->dir) == 0,
		.error = err,
		.dir = xdpl__shown(dir),
	};
	if (cb)
		cb(&si, ctx);
}

static bool is_stage(const char *name)
{
	return strncmp(name, XDPL_STAGE_PREFIX, strlen(XDPL_STAGE_PREFIX)) == 0;
}

/* Interrupted attaches first (finishing one may make a device directory),
 * then device directories whose attachment is gone. */
static void sweep_ns_dir(const struct pin_root *r, const char *nsdir, xdpl_stale_cb cb, void *ctx)
{
	for (int pass = 0; pass < 2; pass++) {
		DIR *d = opendir(nsdir);
		struct dirent *de;
		char stage[PATH_MAX];
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.' || de->d_type != DT_DIR || is_stage(de->d_name) != !pass)
				continue;
			if (!pass && !xdpl__join(stage, sizeof(stage), nsdir, "", de->d_name))
				xdpl__stage_recover(r, stage, cb, ctx);
			else if (pass)
				sweep_dev(r, nsdir, de->d_name, cb, ctx);
		}
		if (d)
			closedir(d);
	}
	if (r->keyed)
		rmdir(nsdir); /* only when empty */
}

/* With r locked: every device directory (of every netns) whose
 * attachment is gone is removed. */
void xdpl__sweep(const struct pin_root *r, xdpl_stale_cb cb, void *ctx)
{
	if (!r->keyed) {
		sweep_ns_dir(r, r->dir, cb, ctx);
		return;
	}
	DIR *d = opendir(r->top);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char nsdir[PATH_MAX];
		if (strncmp(de->d_name, NETNS_PREFIX, strlen(NETNS_PREFIX)) == 0 &&
		    de->d_type == DT_DIR && !xdpl__join(nsdir, sizeof(nsdir), r->top, "", de->d_name))
			sweep_ns_dir(r, nsdir, cb, ctx);
	}
	if (d)
		closedir(d);
}

int xdpl_cleanup_stale(const char *pin_root, xdpl_stale_cb cb, void *ctx)
{
	struct pin_root r;
	int err = xdpl__pin_root_open(&r, pin_root, PIN_LOCK);
	if (err == -ENOENT) {
		clear_error();
		return 0; /* nothing pinned anywhere */
	}
	if (err)
		return err;
	xdpl__sweep(&r, cb, ctx);
	xdpl__pin_root_close(&r);
	clear_error();
	return 0;
}

int xdpl_pin_dir(const char *ifname, const char *pin_root, char *buf, size_t len)
{
	struct pin_root r;
	memset(&r, 0, sizeof(r));
	int err = pin_root && *pin_root ? 0 : resolve_bpffs(false);
	if (err == -ENOENT) /* not mounted yet: where it would be */
		err = 0;
	if (!err)
		err = root_paths(&r, pin_root, bpffs_base[0] ? bpffs_base : BPFFS_DEFAULT);
	char dir[PATH_MAX];
	if (!err)
		err = xdpl__dev_dir(&r, ifname, dir, sizeof(dir));
	if (!err && (size_t)snprintf(buf, len, "%s", xdpl__shown(dir)) >= len)
		err = fail(ENAMETOOLONG);
	return err;
}
