/* The command line of a standalone loader (`xdplc build --loader`).
 *
 * A generated loader is one C file: libxdpl's sources that need only libc
 * and libbpf (elf_section.c, object.c, pin.c, attach.c, attached.c), this
 * file, and the policy's BPF object as xdpl_loader_object. So it attaches,
 * replaces, reports and detaches exactly as xdplc does, with the same pins.
 * The build compiles the same text as one translation unit (see
 * CMakeLists.txt, loader_runtime.c), so it cannot drift from libxdpl. */
#define _GNU_SOURCE
#include "internal.h"
#include "xdpl.h"
#include "xdpl_meta.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The policy: defined at the end of the generated file. */
extern const unsigned char xdpl_loader_object[];
extern const size_t xdpl_loader_object_len;

#define ERR_USER 1

static const char *me = "loader";

__attribute__((format(printf, 1, 2))) static int loader_error(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "%s: error: ", me);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return ERR_USER;
}

static int lib_failed(void)
{
	return loader_error("%s", xdpl_last_error()[0] ? xdpl_last_error() : strerror(errno));
}

static const char *netns_here(void)
{
	static char buf[NAME_MAX + 32];
	if (!buf[0] && xdpl_netns_describe(buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "this netns");
	return buf;
}

static struct xdpl_object *open_policy(void)
{
	struct xdpl_object *obj = xdpl_object__open_mem(xdpl_loader_object, xdpl_loader_object_len,
							 me);
	if (!obj)
		lib_failed();
	return obj;
}

/* Pins of policies whose device or namespace is gone: removed, said so. */
static void note_stale(const struct xdpl_stale_info *si, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "%s: note: %s %s on %s (%s%s): %s\n", me,
		si->completed ? "completed the interrupted attach of" : "removed the pins of",
		si->program ? si->program : "a policy", si->ifname, si->netns ? "netns " : "",
		si->netns ? si->netns : "netns unknown", si->reason);
}

static void sweep_stale(void)
{
	if (xdpl_cleanup_stale(NULL, note_stale, NULL))
		fprintf(stderr, "%s: warning: looking for stale pins failed: %s\n", me,
			xdpl_last_error());
}

/* ------------------------------------------------------------ commands */

static int cmd_attach(const char *ifname, const struct xdpl_attach_opts *opts)
{
	sweep_stale();
	struct xdpl_object *obj = open_policy();
	if (!obj)
		return ERR_USER;
	struct xdpl_attach_result res;
	int err = xdpl_object__attach(obj, ifname, opts, &res);
	if (err) {
		xdpl_object__close(obj);
		return lib_failed();
	}
	char dir[PATH_MAX];
	if (xdpl_pin_dir(ifname, NULL, dir, sizeof(dir)))
		snprintf(dir, sizeof(dir), "%s", XDPL_PIN_ROOT);
	printf("%s %s on %s (%s mode, prog id %u, link id %u) in %s: %d map%s kept, %d new; "
	       "pinned at %s\n",
	       res.replaced ? "replaced the policy with" : "attached",
	       xdpl_object__program_name(obj), ifname, xdpl_mode_name(res.mode), res.prog_id,
	       res.link_id, netns_here(), res.maps_reused, res.maps_reused == 1 ? "" : "s",
	       res.maps_created, dir);
	if (res.forced)
		printf("%s: note: the XDP program that was on %s was removed (--force)\n", me, ifname);
	xdpl_object__close(obj);
	return 0;
}

static int cmd_detach(const char *ifname)
{
	sweep_stale();
	if (xdpl_detach(ifname, NULL))
		return lib_failed();
	printf("detached the xdpl policy from %s in %s\n", ifname, netns_here());
	return 0;
}

static int cmd_stats(const char *ifname)
{
	sweep_stale();
	struct xdpl_object *o = xdpl_object__open_attached(ifname, NULL);
	if (!o)
		return lib_failed();
	int n = xdpl_object__rule_count(o) + 1, w = 4;
	struct xdpl_counter *c = calloc((size_t)n, sizeof(*c));
	if (!c || xdpl_object__read_counters(o, c, n)) {
		int r = c ? lib_failed() : loader_error("out of memory");
		free(c);
		xdpl_object__close(o);
		return r;
	}
	for (int i = 0; i < n; i++)
		if ((int)strlen(xdpl_object__rule_name(o, i)) > w)
			w = (int)strlen(xdpl_object__rule_name(o, i));
	printf("%s on %s in %s\n\n", xdpl_object__program_name(o), ifname, netns_here());
	printf("%-*s  %-9s %14s %16s\n", w, "rule", "verdict", "packets", "bytes");
	for (int i = 0; i < n; i++)
		printf("%-*s  %-9s %14llu %16llu\n", w, xdpl_object__rule_name(o, i),
		       xdpl_object__rule_verdict(o, i), (unsigned long long)c[i].packets,
		       (unsigned long long)c[i].bytes);
	free(c);
	xdpl_object__close(o);
	return 0;
}

/* What the loader carries (no kernel needed). */
static int cmd_info(void)
{
	struct xdpl_object *obj = open_policy();
	if (!obj)
		return ERR_USER;
	const char *src = xdpl_object__source(obj);
	printf("program %s\nsource %s\n", xdpl_object__program_name(obj), src ? src : "-");
	for (int i = 0; i <= xdpl_object__rule_count(obj); i++)
		printf("rule %s %s %d\n", xdpl_object__rule_name(obj, i),
		       xdpl_object__rule_verdict(obj, i), xdpl_object__rule_line(obj, i));
	for (int i = 0; i < xdpl_object__map_count(obj); i++) {
		struct xdpl_map_info mi;
		if (xdpl_object__map_info(obj, i, &mi) == 0 && !xdpl_map_is_fresh(mi.name))
			printf("map %s %s\n", mi.name, mi.kind);
	}
	printf("object %zu bytes\n", xdpl_loader_object_len);
	xdpl_object__close(obj);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s attach IFNAME [--mode native|skb] [--force] [--reset]\n"
		"       %s detach IFNAME\n"
		"       %s stats IFNAME\n"
		"       %s info\n"
		"\n"
		"Loads the XDP policy built into this loader and attaches it to IFNAME of this\n"
		"network namespace with a BPF link, or replaces the xdpl policy attached there\n"
		"atomically (sets, maps and counters keep their contents). The link and maps\n"
		"are pinned under %s/netns-INODE-COOKIE/IFNAME on the host's bpffs,\n"
		"where xdplc status, stats, set and detach find them too (also under\n"
		"'ip netns exec'). --force replaces an XDP program xdpl did not attach;\n"
		"--reset replaces sets and maps whose definition changed. Needs root.\n"
		"XDPL_DEBUG=1 prints libbpf's messages.\n",
		me, me, me, me, XDPL_PIN_ROOT);
}

/* ------------------------------------------------------------ arguments */

static int parse_mode(const char *val, struct xdpl_attach_opts *opts)
{
	if (strcmp(val, "native") == 0)
		opts->mode = XDPL_MODE_NATIVE;
	else if (strcmp(val, "skb") == 0)
		opts->mode = XDPL_MODE_SKB;
	else
		return loader_error("--mode takes native or skb, not '%s'", val);
	return 0;
}

/* One argument after the command at argv[*i]; attach options only for attach. */
static int parse_arg(char **argv, int argc, int *i, bool attach, const char **ifname,
		     struct xdpl_attach_opts *opts)
{
	const char *a = argv[*i], *cmd = argv[1];
	if (attach && (strcmp(a, "--mode") == 0 || strcmp(a, "-m") == 0)) {
		if (*i + 1 >= argc)
			return loader_error("%s needs a value: native or skb", a);
		return parse_mode(argv[++*i], opts);
	}
	if (attach && strncmp(a, "--mode=", 7) == 0)
		return parse_mode(a + 7, opts);
	if (attach && strcmp(a, "--force") == 0)
		return opts->force = true, 0;
	if (attach && strcmp(a, "--reset") == 0)
		return opts->reset = true, 0;
	if (a[0] == '-')
		return loader_error("unknown option '%s' for %s (try '%s --help')", a, cmd, me);
	if (*ifname)
		return loader_error("one interface at a time ('%s' is extra)", a);
	*ifname = a;
	return 0;
}

static int run(int argc, char **argv)
{
	const char *cmd = argv[1], *ifname = NULL;
	struct xdpl_attach_opts opts = { .sz = sizeof(opts) };
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
		return usage(stdout), 0;
	if (strcmp(cmd, "info") == 0)
		return argc == 2 ? cmd_info() : loader_error("'info' takes no arguments");
	bool attach = strcmp(cmd, "attach") == 0;
	if (!attach && strcmp(cmd, "detach") != 0 && strcmp(cmd, "stats") != 0)
		return loader_error("unknown command '%s' (try '%s --help')", cmd, me);
	for (int i = 2; i < argc; i++)
		if (parse_arg(argv, argc, &i, attach, &ifname, &opts))
			return ERR_USER;
	if (!ifname)
		return loader_error("%s needs an interface name (try '%s --help')", cmd, me);
	if (attach)
		return cmd_attach(ifname, &opts);
	return strcmp(cmd, "detach") == 0 ? cmd_detach(ifname) : cmd_stats(ifname);
}

int main(int argc, char **argv)
{
	if (argc > 0 && argv[0][0]) {
		const char *slash = strrchr(argv[0], '/');
		me = slash ? slash + 1 : argv[0];
	}
	if (argc < 2) {
		usage(stderr);
		return ERR_USER;
	}
	int r = run(argc, argv);
	if (fflush(stdout) != 0)
		return loader_error("writing the output failed: %s", strerror(errno));
	return r ? ERR_USER : 0;
}
