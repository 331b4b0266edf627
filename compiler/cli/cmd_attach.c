/* xdplc attach, detach, status, stats and set (reference §15): thin commands
 * over libxdpl's attach API (runtime/attach.c, runtime/elem.c). Every
 * failure is one line with the cause and what to do; exit 1 for those, 2
 * for internal errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <math.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "codegen.h"
#include "xdpl.h"
#include "xdpl_meta.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Checked before anything is touched: CAP_BPF (or CAP_SYS_ADMIN) and
 * CAP_NET_ADMIN in the effective set. */
static bool privileged(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d))
		return geteuid() == 0;
	uint64_t eff = d[0].effective | (uint64_t)d[1].effective << 32;
	bool admin = eff & (1ull << CAP_SYS_ADMIN);
	return (admin || (eff & (1ull << CAP_BPF))) && (eff & (1ull << CAP_NET_ADMIN));
}

static int need_privileges(const char *cmd)
{
	if (privileged())
		return EXIT_OK;
	error("xdplc %s needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo", cmd);
	return EXIT_USER;
}

static int need_device(const char *dev)
{
	if (if_nametoindex(dev))
		return EXIT_OK;
	if (errno == ENODEV || errno == ENXIO || errno == 0)
		error("no such network device '%s' (see 'ip link show')", dev);
	else
		error("cannot look up the network device '%s': %s", dev, strerror(errno));
	return EXIT_USER;
}

/* libxdpl error → exit status. */
static int lib_status(int err)
{
	if (err == -ENOMEM)
		return EXIT_INTERNAL;
	return EXIT_USER;
}

static void lib_error(int err)
{
	const char *m = xdpl_last_error();
	error("%s", *m ? m : strerror(-err));
}

/* This process's network namespace, for messages ("netns blue"). */
static const char *netns_here(void)
{
	static char buf[300];
	if (!buf[0] && xdpl_netns_describe(buf, sizeof(buf)))
		snprintf(buf, sizeof(buf), "this netns");
	return buf;
}

/* The namespace a stale policy was attached in, as its xdpl_meta says. */
static void stale_netns(const struct xdpl_stale_info *si, char *buf, size_t len)
{
	if (!si->netns)
		snprintf(buf, len, "an unknown netns");
	else if (strcmp(si->netns, "root") == 0)
		snprintf(buf, len, "the root netns");
	else
		snprintf(buf, len, "netns %s", si->netns);
}

/* A stale policy removed: one line on f (stderr, or status's stdout). */
static void note_stale(const struct xdpl_stale_info *si, void *ctx)
{
	FILE *f = ctx ? ctx : stderr;
	char where[300];
	stale_netns(si, where, sizeof(where));
	if (si->error)
		fprintf(f, "xdplc: warning: cannot remove the stale pins %s (%s on %s in %s: %s): %s\n",
			si->dir, si->program ? si->program : "a policy", si->ifname, where, si->reason,
			strerror(-si->error));
	else if (si->completed)
		fprintf(f, "xdplc: note: completed the interrupted attach of %s on %s in %s (%s): %s\n",
			si->program ? si->program : "a policy", si->ifname, where, si->dir,
			si->reason);
	else
		fprintf(f, "xdplc: note: removed the pins of %s on %s in %s (%s): %s\n",
			si->program ? si->program : "a policy", si->ifname, where, si->dir,
			si->reason);
}

/* Before every command: pins of policies whose device or namespace is gone
 * are removed, and said so. */
static void sweep_stale(void)
{
	if (xdpl_cleanup_stale(NULL, note_stale, NULL))
		fprintf(stderr, "xdplc: warning: looking for stale pins failed: %s\n",
			xdpl_last_error());
}

/* ------------------------------------------------------------ attach */

const char attach_help[] =
	"Compiles FILE (XDPL source; a .o is used as it is), loads it and attaches\n"
	"it to the device IF of this network namespace with a pinned bpf_link under\n"
	XDPL_PIN_ROOT "/netns-INODE-COOKIE/IF (the host's bpffs, also under 'ip\n"
	"netns exec').\n"
	"If an xdpl policy is attached there already, the program is replaced\n"
	"atomically (bpf_link_update): sets, maps and counters keep their\n"
	"contents, initial elements go only into new sets.\n"
	"\n"
	"options:\n"
	"  -d, --dev IF           the network device\n"
	"      --mode native|skb  native (driver) XDP, the default, or generic (skb)\n"
	"                         XDP for devices without XDP support\n"
	"      --force            replace an XDP program that xdpl did not attach\n"
	"      --reset            replace sets and maps whose definition changed\n"
	"                         (max, key or value type): their elements are lost\n"
	"  -h, --help             show this help\n"
	"\n"
	"Needs root. Mounts bpffs at /sys/fs/bpf when it is not mounted.\n";

static int parse_mode(const struct command *c, const char *v, void *dst)
{
	enum xdpl_attach_mode *mode = dst;
	if (strcmp(v, "native") == 0 || strcmp(v, "drv") == 0)
		*mode = XDPL_MODE_NATIVE;
	else if (strcmp(v, "skb") == 0 || strcmp(v, "generic") == 0)
		*mode = XDPL_MODE_SKB;
	else
		return usage_error(c, "--mode takes 'native' or 'skb', not '%s'", v);
	return EXIT_OK;
}

/* The option table's result as these commands use it: 0 to go on (with
 * the positional arguments from *first), -1 after --help, else the exit
 * status of a usage error. */
static int parse_opts(const struct command *c, int argc, char **argv, const struct cli_opt *opts,
		      unsigned flags, int *first)
{
	int st = cli_parse(c, argc, argv, opts, flags, first);
	return st < 0 ? 0 : st == EXIT_OK ? -1 : st;
}

/* Options of attach; 0 to go on, else the exit status (-1: help shown). */
static int attach_parse(int argc, char **argv, const char **dev, struct xdpl_attach_opts *opts)
{
	const struct command *c = find_command("attach");
	const struct cli_opt table[] = {
		{ "dev", 'd', CLI_STRING, dev, NULL },
		{ "mode", 0, CLI_CUSTOM, &opts->mode, parse_mode },
		{ "force", 0, CLI_FLAG, &opts->force, NULL },
		{ "reset", 0, CLI_FLAG, &opts->reset, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	int first, st = parse_opts(c, argc, argv, table, 0, &first);
	if (st)
		return st;
	if (first >= argc)
		return usage_error(c, "no input file");
	if (argc - first > 1)
		return usage_error(c, "one policy at a time ('%s' is extra)", argv[first + 1]);
	if (!*dev)
		return usage_error(c, "--dev IF is required");
	return 0;
}

/* The policy to attach: an object file as it is, or compiled from source
 * (then *compiled and comp hold the compilation). NULL: *status says why. */
static struct xdpl_object *attach_open(const char *path, struct compilation *comp, bool *compiled,
				       int *status)
{
	struct xdpl_object *obj;
	*compiled = false;
	if (is_elf_file(path)) {
		obj = xdpl_object__open_file(path);
		if (!obj)
			*status = errno == ENOMEM ? EXIT_INTERNAL : EXIT_USER;
	} else {
		*status = compile(path, CODEGEN_OBJ, comp);
		if (*status != EXIT_OK) {
			compilation_free(comp);
			return NULL;
		}
		*compiled = true;
		obj = xdpl_object__open_mem(comp->out, comp->out_len, path);
		if (!obj) {
			compilation_free(comp);
			*compiled = false;
			*status = EXIT_INTERNAL;
		}
	}
	if (!obj)
		error("%s", xdpl_last_error());
	return obj;
}

static int attach_failed(const char *path, const char *dev, int err, bool compiled)
{
	if (err != -XDPL_ERRNO__VERIFY) {
		lib_error(err);
		return lib_status(err);
	}
	int status = EXIT_USER;
	if (compiled)
		status = report_load_error(path, err, compiled);
	else
		lib_error(err);
	fprintf(stderr, "xdplc: note: nothing was attached; what ran on %s before still runs\n",
		dev);
	return status;
}

static void attach_report(struct xdpl_object *obj, const char *dev,
			  const struct xdpl_attach_result *res, double t0)
{
	double ms = (now_s() - t0) * 1e3;
	int nrules = xdpl_object__rule_count(obj);
	printf("%s %s on %s (%s mode, prog id %u, link id %u) in %s: %d rule%s + default, "
	       "%d map%s kept, %d new%s; %.1f ms (program swap %.0f us)\n",
	       res->replaced ? "replaced the policy with" : "attached",
	       xdpl_object__program_name(obj), dev, xdpl_mode_name(res->mode), res->prog_id,
	       res->link_id, netns_here(), nrules, nrules == 1 ? "" : "s", res->maps_reused,
	       res->maps_reused == 1 ? "" : "s", res->maps_created,
	       res->stats_migrated ? ", counters carried over by rule name" : "", ms,
	       (double)res->swap_ns / 1e3);
	if (res->forced)
		printf("xdplc: note: the XDP program that was on %s was removed (--force)\n", dev);
}

int cmd_attach(int argc, char **argv)
{
	double t0 = now_s();
	const char *dev = NULL;
	struct xdpl_attach_opts opts = { .sz = sizeof(opts) };
	int status = attach_parse(argc, argv, &dev, &opts);
	if (status)
		return status < 0 ? EXIT_OK : status;
	const char *path = argv[optind];
	if ((status = need_privileges("attach")) || (status = need_device(dev)))
		return status;
	sweep_stale();
	if (access(path, R_OK)) {
		error("cannot read %s: %s", path, strerror(errno));
		return EXIT_USER;
	}
	struct compilation comp;
	bool compiled;
	struct xdpl_object *obj = attach_open(path, &comp, &compiled, &status);
	if (!obj)
		return status;
	struct xdpl_attach_result res;
	int err = xdpl_object__attach(obj, dev, &opts, &res);
	if (err)
		status = attach_failed(path, dev, err, compiled);
	else
		attach_report(obj, dev, &res, t0);
	xdpl_object__close(obj);
	if (compiled)
		compilation_free(&comp);
	return status;
}

/* ------------------------------------------------------------ detach */

const char detach_help[] =
	"Detaches the xdpl policy of IF (of this network namespace) and removes its\n"
	"pins (link, maps, metadata): its sets, maps and counters are gone.\n"
	"\n"
	"options:\n"
	"  -d, --dev IF           the network device\n"
	"  -h, --help             show this help\n";

int cmd_detach(int argc, char **argv)
{
	const struct command *c = find_command("detach");
	const char *dev = NULL;
	const struct cli_opt table[] = {
		{ "dev", 'd', CLI_STRING, &dev, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	int first, status = parse_opts(c, argc, argv, table, 0, &first);
	if (status)
		return status < 0 ? EXIT_OK : status;
	if (optind < argc && !dev && argc - optind == 1)
		dev = argv[optind++];
	if (optind < argc)
		return usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (!dev)
		return usage_error(c, "--dev IF is required");
	if ((status = need_privileges("detach")))
		return status;
	sweep_stale();
	char *name = NULL;
	struct xdpl_object *o = xdpl_object__open_attached(dev, NULL);
	if (o && xdpl_object__program_name(o))
		name = strdup(xdpl_object__program_name(o));
	xdpl_object__close(o);
	int err = xdpl_detach(dev, NULL);
	if (err) {
		lib_error(err);
		free(name);
		return lib_status(err);
	}
	printf("detached %s from %s in %s\n", name ? name : "the policy", dev, netns_here());
	free(name);
	return EXIT_OK;
}

/* ------------------------------------------------------------ status */

const char status_help[] =
	"Lists the xdpl policies attached in this network namespace (pins under\n"
	XDPL_PIN_ROOT "/netns-INODE-COOKIE on the host's bpffs): program, source,\n"
	"program and link ids, mode, rules and maps. Pins left by policies whose\n"
	"device or whole network namespace is gone are removed first (in every\n"
	"namespace), and each removal is reported.\n"
	"\n"
	"options:\n"
	"      --json             print one JSON document\n"
	"  -h, --help             show this help\n";

/* A removed stale policy as a JSON object (status --json, "removed"). */
static void stale_json(const struct xdpl_stale_info *si, void *ctx)
{
	FILE *f = ctx;
	char where[300];
	stale_netns(si, where, sizeof(where));
	fprintf(f, "%s{\"dev\": ", ftell(f) ? ", " : "");
	json_string(f, si->ifname);
	fprintf(f, ", \"netns\": ");
	json_string(f, where);
	fprintf(f, ", \"program\": ");
	if (si->program)
		json_string(f, si->program);
	else
		fprintf(f, "null");
	fprintf(f, ", \"completed\": %s, \"reason\": ", si->completed ? "true" : "false");
	json_string(f, si->reason);
	fprintf(f, ", \"removed\": %s}", si->error ? "false" : "true");
}

static const char *status_note(const struct xdpl_attached_info *ai)
{
	if (ai->stale)
		return ai->stale_reason;
	if (ai->other_netns)
		return "its link is on another device (renamed, or moved to another network "
		       "namespace?)";
	return NULL;
}

static void status_maps_json(struct xdpl_object *o)
{
	int nm = xdpl_object__map_count(o);
	printf(", \"maps\": [");
	for (int k = 0; k < nm; k++) {
		struct xdpl_map_info mi;
		xdpl_object__map_info(o, k, &mi);
		printf("%s{\"name\": ", k ? ", " : "");
		json_string(stdout, mi.name);
		printf(", \"kind\": ");
		json_string(stdout, mi.kind);
		printf(", \"key\": ");
		json_string(stdout, mi.key_types);
		printf(", \"value\": ");
		json_string(stdout, mi.value_type);
		printf("}");
	}
	printf("]");
}

static void json_or_null(const char *s)
{
	if (s)
		json_string(stdout, s);
	else
		printf("null");
}

static void status_json(const char *dev, struct xdpl_object *o, const struct xdpl_attached_info *ai)
{
	char dir[4096];
	printf("{\"dev\": ");
	json_string(stdout, dev);
	printf(", \"program\": ");
	json_string(stdout, xdpl_object__program_name(o));
	printf(", \"source\": ");
	json_or_null(xdpl_object__source(o));
	printf(", \"pin_dir\": ");
	json_or_null(xdpl_pin_dir(dev, NULL, dir, sizeof(dir)) ? NULL : dir);
	printf(", \"prog_id\": %u, \"link_id\": %u, \"ifindex\": %d, \"mode\": ", ai->prog_id,
	       ai->link_id, ai->ifindex);
	json_or_null(ai->mode ? xdpl_mode_name(ai->mode) : NULL);
	printf(", \"rules\": %d, \"stale\": %s, \"note\": ", xdpl_object__rule_count(o),
	       ai->stale ? "true" : "false");
	json_or_null(status_note(ai));
	status_maps_json(o);
	printf("}");
}

static void status_maps_text(struct xdpl_object *o)
{
	int nm = xdpl_object__map_count(o);
	printf("    maps:");
	if (!nm)
		printf(" none");
	for (int k = 0; k < nm; k++) {
		struct xdpl_map_info mi;
		xdpl_object__map_info(o, k, &mi);
		if (mi.name[0] == '_')
			continue;
		printf(" %s (%s", mi.name, mi.kind);
		if (strcmp(mi.key_types, "-") != 0)
			printf(" %s", mi.key_types);
		if (strcmp(mi.value_type, "-") != 0)
			printf(" -> %s", mi.value_type);
		printf(")%s", k + 1 < nm ? "," : "");
	}
	printf("\n");
}

static void status_text(const char *dev, struct xdpl_object *o, const struct xdpl_attached_info *ai)
{
	const char *note = status_note(ai);
	int nr = xdpl_object__rule_count(o);
	printf("%s: %s", dev, xdpl_object__program_name(o));
	if (xdpl_object__source(o))
		printf(" (from %s)", xdpl_object__source(o));
	printf("\n");
	if (note)
		printf("    %s: %s%s%s%s\n", ai->stale ? "STALE" : "note", note,
		       ai->stale ? "; remove the pins with 'xdplc detach --dev " : "",
		       ai->stale ? dev : "", ai->stale ? "'" : "");
	printf("    prog id %u, link id %u, %s mode, %d rule%s + default\n", ai->prog_id,
	       ai->link_id, ai->mode ? xdpl_mode_name(ai->mode) : "unknown", nr, nr == 1 ? "" : "s");
	status_maps_text(o);
}

/* One device's entry (index i of the listing). */
static void status_entry(const char *dev, int i, bool json)
{
	struct xdpl_object *o = xdpl_object__open_attached(dev, NULL);
	if (json)
		printf("%s\n  ", i ? "," : "");
	if (!o && json) {
		printf("{\"dev\": ");
		json_string(stdout, dev);
		printf(", \"error\": ");
		json_string(stdout, xdpl_last_error());
		printf("}");
	} else if (!o) {
		printf("%s: cannot be read: %s\n", dev, xdpl_last_error());
	}
	if (!o)
		return;
	struct xdpl_attached_info ai;
	xdpl_object__attached_info(o, &ai);
	if (json)
		status_json(dev, o, &ai);
	else
		status_text(dev, o, &ai);
	xdpl_object__close(o);
}

/* Stale pins removed first: notes on stdout, or JSON into *removed. */
static void status_sweep(bool json, char **removed)
{
	size_t len = 0;
	FILE *f = json ? open_memstream(removed, &len) : stdout;
	if (!f || xdpl_cleanup_stale(NULL, json ? stale_json : note_stale, f))
		fprintf(stderr, "xdplc: warning: looking for stale pins failed: %s\n",
			f ? xdpl_last_error() : strerror(errno));
	if (f && json)
		fclose(f);
}

static int status_parse(int argc, char **argv, bool *json)
{
	const struct command *c = find_command("status");
	const struct cli_opt table[] = {
		{ "json", 0, CLI_FLAG, json, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	int first, status = parse_opts(c, argc, argv, table, 0, &first);
	if (status)
		return status;
	if (optind < argc)
		return usage_error(c, "unexpected argument '%s'", argv[optind]);
	return need_privileges("status");
}

int cmd_status(int argc, char **argv)
{
	bool json = false;
	int status = status_parse(argc, argv, &json);
	if (status)
		return status < 0 ? EXIT_OK : status;
	char *removed = NULL, **names = NULL;
	status_sweep(json, &removed);
	int n = xdpl_list_attached(NULL, &names);
	if (n < 0) {
		free(removed);
		lib_error(n);
		return lib_status(n);
	}
	if (json) {
		printf("{\"netns\": ");
		json_string(stdout, netns_here());
		printf(", \"removed\": [%s], \"attached\": [", removed ? removed : "");
	} else {
		printf(n ? "xdpl policies in %s:\n" : "no xdpl policy is attached in %s\n",
		       netns_here());
	}
	free(removed);
	for (int i = 0; i < n; i++)
		status_entry(names[i], i, json);
	if (json)
		printf("%s]}\n", n ? "\n" : "");
	xdpl_free_names(names, n);
	return EXIT_OK;
}

/* ------------------------------------------------------------ stats */

const char stats_help[] =
	"Prints packets and bytes per rule and per verdict of the policy attached\n"
	"to IF, and the rates (pps, bits/s) measured over the interval. Counters\n"
	"continue across re-attaches; continue rules count but do not decide, so\n"
	"they are not in the verdict totals.\n"
	"\n"
	"options:\n"
	"  -d, --dev IF           the network device\n"
	"      --json             print JSON (with --watch: one document per line)\n"
	"  -w, --watch            repeat every interval until interrupted\n"
	"  -i, --interval S       the measuring interval in seconds (default 1;\n"
	"                         0: counters only, no rates)\n"
	"  -h, --help             show this help\n";

struct sample {
	int n; /* slots: rules + default */
	char **names;
	char **verdicts;
	int *lines;
	struct xdpl_counter *c;
	char *program;
	uint32_t prog_id;
	double t;
};

static void sample_free(struct sample *s)
{
	for (int i = 0; i < s->n; i++) {
		free(s->names[i]);
		free(s->verdicts[i]);
	}
	free(s->names);
	free(s->verdicts);
	free(s->lines);
	free(s->c);
	free(s->program);
	memset(s, 0, sizeof(*s));
}

static int take_sample(const char *dev, struct sample *s)
{
	memset(s, 0, sizeof(*s));
	struct xdpl_object *o = xdpl_object__open_attached(dev, NULL);
	if (!o)
		return errno ? -errno : -EINVAL;
	struct xdpl_attached_info ai;
	xdpl_object__attached_info(o, &ai);
	int n = xdpl_object__rule_count(o) + 1;
	s->n = n;
	s->names = calloc((size_t)n, sizeof(char *));
	s->verdicts = calloc((size_t)n, sizeof(char *));
	s->lines = calloc((size_t)n, sizeof(int));
	s->c = calloc((size_t)n, sizeof(*s->c));
	s->program = strdup(xdpl_object__program_name(o));
	s->prog_id = ai.prog_id;
	if (!s->names || !s->verdicts || !s->lines || !s->c || !s->program) {
		xdpl_object__close(o);
		s->n = 0;
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		s->names[i] = strdup(xdpl_object__rule_name(o, i));
		s->verdicts[i] = strdup(xdpl_object__rule_verdict(o, i));
		s->lines[i] = xdpl_object__rule_line(o, i);
	}
	int err = xdpl_object__read_counters(o, s->c, n);
	s->t = now_s();
	xdpl_object__close(o);
	return err;
}

static const struct xdpl_counter *find_prev(const struct sample *prev, const char *name)
{
	if (!prev || !prev->n)
		return NULL;
	for (int i = 0; i < prev->n; i++)
		if (strcmp(prev->names[i], name) == 0)
			return &prev->c[i];
	return NULL;
}

#define verdict_keys (xdpl_verdict_names()) /* stats per verdict that decides */
#define NVK XDPL_NFINAL_VERDICTS

struct agg {
	uint64_t packets, bytes;
	double pps, bps;
};

static void rate(const struct xdpl_counter *now, const struct xdpl_counter *before, double dt,
		 double *pps, double *bps)
{
	*pps = *bps = NAN;
	if (!before || dt <= 0)
		return;
	uint64_t dp = now->packets >= before->packets ? now->packets - before->packets : 0;
	uint64_t db = now->bytes >= before->bytes ? now->bytes - before->bytes : 0;
	*pps = (double)dp / dt;
	*bps = (double)db * 8 / dt;
}

static void json_num(double v)
{
	if (isnan(v))
		printf("null");
	else
		printf("%.1f", v);
}

static void human_rate(char *buf, size_t len, double v, const char *unit)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (v >= 1e9)
		snprintf(buf, len, "%.2fG%s", v / 1e9, unit);
	else if (v >= 1e6)
		snprintf(buf, len, "%.2fM%s", v / 1e6, unit);
	else if (v >= 1e3)
		snprintf(buf, len, "%.2fk%s", v / 1e3, unit);
	else
		snprintf(buf, len, "%.0f%s", v, unit);
}

/* Rates per rule, and totals per verdict and overall, of one sample. */
struct stats_view {
	const struct sample *s;
	double dt;
	bool rates;              /* a previous sample: rates are known */
	double *pps, *bps;       /* per rule */
	struct agg per[NVK + 1]; /* per verdict; NVK: unknown verdicts */
	struct agg total;
};

static int verdict_key(const char *verdict)
{
	for (int v = 0; v < NVK; v++)
		if (strcmp(verdict, verdict_keys[v]) == 0)
			return v;
	return NVK;
}

static void agg_add(struct agg *a, const struct xdpl_counter *c, double pps, double bps,
		    bool rates)
{
	a->packets += c->packets;
	a->bytes += c->bytes;
	if (rates) {
		a->pps += pps;
		a->bps += bps;
	}
}

static int stats_view(struct stats_view *v, const struct sample *s, const struct sample *prev)
{
	memset(v, 0, sizeof(*v));
	v->s = s;
	v->dt = prev && prev->n ? s->t - prev->t : 0;
	v->rates = prev && prev->n && v->dt > 0;
	v->pps = calloc((size_t)s->n, sizeof(double));
	v->bps = calloc((size_t)s->n, sizeof(double));
	if (!v->pps || !v->bps)
		return -ENOMEM;
	for (int k = 0; k <= NVK; k++)
		v->per[k].pps = v->per[k].bps = v->rates ? 0 : NAN;
	v->total.pps = v->total.bps = v->rates ? 0 : NAN;
	for (int i = 0; i < s->n; i++) {
		rate(&s->c[i], v->rates ? find_prev(prev, s->names[i]) : NULL, v->dt, &v->pps[i],
		     &v->bps[i]);
		if (v->rates && isnan(v->pps[i])) { /* a new rule: all it counted is new */
			v->pps[i] = (double)s->c[i].packets / v->dt;
			v->bps[i] = (double)s->c[i].bytes * 8 / v->dt;
		}
		if (strcmp(s->verdicts[i], "continue") == 0)
			continue; /* counts, but does not decide */
		agg_add(&v->per[verdict_key(s->verdicts[i])], &s->c[i], v->pps[i], v->bps[i], v->rates);
		agg_add(&v->total, &s->c[i], v->pps[i], v->bps[i], v->rates);
	}
	return 0;
}

static void json_agg(const struct agg *a)
{
	printf("{\"packets\": %llu, \"bytes\": %llu, \"pps\": ", (unsigned long long)a->packets,
	       (unsigned long long)a->bytes);
	json_num(a->pps);
	printf(", \"bps\": ");
	json_num(a->bps);
	printf("}");
}

static void print_stats_json(const char *dev, const struct stats_view *v)
{
	const struct sample *s = v->s;
	printf("{\"dev\": ");
	json_string(stdout, dev);
	printf(", \"netns\": ");
	json_string(stdout, netns_here());
	printf(", \"program\": ");
	json_string(stdout, s->program);
	printf(", \"prog_id\": %u, \"interval\": ", s->prog_id);
	json_num(v->rates ? v->dt : NAN);
	printf(", \"rules\": [");
	for (int i = 0; i < s->n; i++) {
		printf("%s{\"index\": %d, \"name\": ", i ? ", " : "", i);
		json_string(stdout, s->names[i]);
		printf(", \"verdict\": ");
		json_string(stdout, s->verdicts[i]);
		printf(", \"line\": %d, \"packets\": %llu, \"bytes\": %llu, \"pps\": ", s->lines[i],
		       (unsigned long long)s->c[i].packets, (unsigned long long)s->c[i].bytes);
		json_num(v->pps[i]);
		printf(", \"bps\": ");
		json_num(v->bps[i]);
		printf("}");
	}
	printf("], \"verdicts\": {");
	for (int k = 0; k <= NVK; k++) {
		if (k == NVK && !v->per[k].packets)
			continue;
		printf("%s\"%s\": ", k ? ", " : "", k < NVK ? verdict_keys[k] : "unknown");
		json_agg(&v->per[k]);
	}
	printf("}, \"total\": ");
	json_agg(&v->total);
	printf("}\n");
}

/* One row of the text tables. */
static void text_row(int w, const char *name, const char *verdict, uint64_t packets,
		     uint64_t bytes, double pps, double bps)
{
	char a[32], b[32];
	human_rate(a, sizeof(a), pps, "");
	human_rate(b, sizeof(b), bps, "");
	printf("%-*s  %-9s %14llu %16llu %12s %12s\n", w, name, verdict,
	       (unsigned long long)packets, (unsigned long long)bytes, a, b);
}

static void print_stats_text(const char *dev, const struct stats_view *v, double interval)
{
	const struct sample *s = v->s;
	int w = 8;
	for (int i = 0; i < s->n; i++)
		if ((int)strlen(s->names[i]) > w)
			w = (int)strlen(s->names[i]);
	printf("%s on %s in %s (prog id %u)", s->program, dev, netns_here(), s->prog_id);
	if (v->rates)
		printf(", rates over %.2f s", v->dt);
	else if (interval > 0)
		printf(", no rates yet");
	printf("\n\n%-*s  %-9s %14s %16s %12s %12s\n", w, "rule", "verdict", "packets", "bytes",
	       "pps", "bit/s");
	for (int i = 0; i < s->n; i++)
		text_row(w, s->names[i], s->verdicts[i], s->c[i].packets, s->c[i].bytes, v->pps[i],
			 v->bps[i]);
	printf("\n%-*s  %-9s %14s %16s %12s %12s\n", w, "verdict", "", "packets", "bytes", "pps",
	       "bit/s");
	for (int k = 0; k <= NVK; k++)
		if (k < NVK || v->per[k].packets)
			text_row(w, k < NVK ? verdict_keys[k] : "unknown", "", v->per[k].packets,
				 v->per[k].bytes, v->per[k].pps, v->per[k].bps);
	text_row(w, "total", "", v->total.packets, v->total.bytes, v->total.pps, v->total.bps);
}

static void print_stats(const char *dev, const struct sample *s, const struct sample *prev,
			bool json, double interval)
{
	struct stats_view v;
	if (stats_view(&v, s, prev) == 0) {
		if (json)
			print_stats_json(dev, &v);
		else
			print_stats_text(dev, &v, interval);
	}
	free(v.pps);
	free(v.bps);
	fflush(stdout);
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* From SIGINT/SIGTERM on, later termination signals stay pending until
 * the process is gone: timeout(1) signals the command and then its whole
 * process group, and sends SIGCONT after each, and a signal arriving while
 * the process exits interrupts what runs at exit (ASan's leak checker
 * ptrace-stops the process from a helper and waits for it: with a signal
 * in between, both waited for each other). */
static void block_exit_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGCONT);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

/* Sleep up to s seconds; false when interrupted. */
static bool nap(double s)
{
	double end = now_s() + s;
	while (!interrupted) {
		double left = end - now_s();
		if (left <= 0)
			return true;
		struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
		nanosleep(&ts, NULL);
	}
	return false;
}

static int parse_interval(const struct command *c, const char *v, void *dst)
{
	char *end;
	double interval = strtod(v, &end);
	if (*end || !(interval >= 0) || interval > 86400)
		return usage_error(c, "--interval takes seconds (0..86400), not '%s'", v);
	*(double *)dst = interval;
	return EXIT_OK;
}

int cmd_stats(int argc, char **argv)
{
	const struct command *c = find_command("stats");
	const char *dev = NULL;
	bool json = false, watch = false;
	double interval = 1.0;
	const struct cli_opt table[] = {
		{ "dev", 'd', CLI_STRING, &dev, NULL },
		{ "json", 0, CLI_FLAG, &json, NULL },
		{ "watch", 'w', CLI_FLAG, &watch, NULL },
		{ "interval", 'i', CLI_CUSTOM, &interval, parse_interval },
		{ NULL, 0, 0, NULL, NULL },
	};
	int first, status = parse_opts(c, argc, argv, table, 0, &first);
	if (status)
		return status < 0 ? EXIT_OK : status;
	if (optind < argc)
		return usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (!dev)
		return usage_error(c, "--dev IF is required");
	if (watch && interval <= 0)
		return usage_error(c, "--watch needs an interval above 0");
	/* the handler only sets a flag; nap() and the loop check it (no
	 * SA_RESTART: nanosleep returns at once) */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((status = need_privileges("stats")))
		return status;
	sweep_stale();

	bool tty = isatty(STDOUT_FILENO);
	struct sample prev = { 0 }, cur;
	int err = 0;
	if (interval > 0) {
		err = take_sample(dev, &prev);
		if (err)
			goto fail;
		if (!nap(interval) && !watch)
			goto done;
	}
	for (;;) {
		err = take_sample(dev, &cur);
		if (err)
			goto fail;
		if (watch && tty && !json)
			printf("\033[H\033[2J");
		print_stats(dev, &cur, interval > 0 ? &prev : NULL, json, interval);
		sample_free(&prev);
		prev = cur;
		if (!watch || !nap(interval))
			break;
		if (!json && !tty)
			printf("\n");
	}
done:
	block_exit_signals();
	sample_free(&prev);
	return EXIT_OK;
fail:
	block_exit_signals();
	sample_free(&prev);
	lib_error(err);
	return lib_status(err);
}

/* ------------------------------------------------------------ set */

const char set_help[] =
	"Adds, deletes or lists elements of a set or map of the policy attached to\n"
	"IF, while it runs. Elements are written as in XDPL source: 192.0.2.1,\n"
	"2001:db8::1, 10.0.0.0/8 (lpm sets; an address alone is a full-length\n"
	"prefix), 02:00:00:00:00:01, 80 or 0x50, true, tuples (192.0.2.1, 80) or\n"
	"192.0.2.1,80. Maps take KEY VALUE (or KEY = VALUE); list prints one\n"
	"element per line (maps: KEY = VALUE).\n"
	"\n"
	"options:\n"
	"  -d, --dev IF           the network device\n"
	"  -h, --help             show this help\n";

static int print_elem(const char *key, const char *value, void *ctx)
{
	(void)ctx;
	if (value)
		printf("%s = %s\n", key, value);
	else
		printf("%s\n", key);
	return 0;
}

static char *join_args(char **v, int n)
{
	size_t len = 1;
	for (int i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	char *s = malloc(len);
	if (!s)
		return NULL;
	s[0] = 0;
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, v[i]);
	}
	return s;
}

/* Is NAME a map (KEY VALUE) or a set (KEY only)? */
static bool is_map(struct xdpl_object *o, const char *name)
{
	for (int i = 0; i < xdpl_object__map_count(o); i++) {
		struct xdpl_map_info mi;
		if (xdpl_object__map_info(o, i, &mi) == 0 && strcmp(mi.name, name) == 0)
			return strncmp(mi.kind, "set_", 4) != 0;
	}
	return false;
}

/* KEY VALUE of a map element: "KEY = VALUE", "KEY VALUE" (the last word is
 * the value) or "KEY=VALUE". */
static void split_map_element(char **rest, int nrest, char **key, char **value)
{
	int eq = -1;
	for (int i = 0; i < nrest; i++)
		if (strcmp(rest[i], "=") == 0)
			eq = i;
	char *e = strchr(rest[0], '=');
	if (eq >= 0) {
		*key = join_args(rest, eq);
		*value = join_args(rest + eq + 1, nrest - eq - 1);
	} else if (nrest >= 2) {
		*key = join_args(rest, nrest - 1);
		*value = join_args(rest + nrest - 1, 1);
	} else if (e) {
		*key = strndup(rest[0], (size_t)(e - rest[0]));
		*value = strdup(e + 1);
	} else {
		*key = strdup(rest[0]);
	}
}

/* set add/del: the element from the words after the operation. */
static int set_change(struct xdpl_object *o, const char *name, bool add, char **rest, int nrest)
{
	char *key = NULL, *value = NULL;
	if (add && is_map(o, name))
		split_map_element(rest, nrest, &key, &value);
	else
		key = join_args(rest, nrest);
	int err;
	if (!key)
		err = -ENOMEM;
	else if (add)
		err = xdpl_object__map_add(o, name, key, value && *value ? value : NULL);
	else
		err = xdpl_object__map_del(o, name, key);
	free(key);
	free(value);
	return err;
}

int cmd_set(int argc, char **argv)
{
	const struct command *c = find_command("set");
	const char *dev = NULL;
	const struct cli_opt table[] = {
		{ "dev", 'd', CLI_STRING, &dev, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	/* in order: options end at NAME, so elements may start with '-' */
	int first, status = parse_opts(c, argc, argv, table, CLI_IN_ORDER, &first);
	if (status)
		return status < 0 ? EXIT_OK : status;
	if (!dev)
		return usage_error(c, "--dev IF is required");
	if (argc - optind < 2)
		return usage_error(c, "expected NAME and add, del or list");
	const char *name = argv[optind], *op = argv[optind + 1];
	char **rest = argv + optind + 2;
	int nrest = argc - optind - 2;
	bool add = strcmp(op, "add") == 0, del = strcmp(op, "del") == 0 || strcmp(op, "delete") == 0,
	     list = strcmp(op, "list") == 0 || strcmp(op, "ls") == 0;
	if (!add && !del && !list)
		return usage_error(c, "unknown operation '%s': use add, del or list", op);
	if (list && nrest)
		return usage_error(c, "list takes no element ('%s' is extra)", rest[0]);
	if ((add || del) && !nrest)
		return usage_error(c, "%s needs an element", op);
	if ((status = need_privileges("set")))
		return status;
	sweep_stale();

	struct xdpl_object *o = xdpl_object__open_attached(dev, NULL);
	if (!o) {
		int e = errno;
		lib_error(-e);
		return e == ENOMEM ? EXIT_INTERNAL : EXIT_USER;
	}
	int err = 0;
	if (list)
		err = xdpl_object__map_list(o, name, print_elem, NULL);
	else
		err = set_change(o, name, add, rest, nrest);
	xdpl_object__close(o);
	if (err) {
		lib_error(err);
		return lib_status(err);
	}
	return EXIT_OK;
}
