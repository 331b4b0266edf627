/* The ".xdpl.meta" ELF section: what the runtime needs to know about a
 * compiled policy that BTF does not say. Codegen writes it as a data global
 * without debug info (so libbpf, ip and bpftool skip it); libxdpl reads it
 * with libelf.
 *
 * Format: NUL-terminated UTF-8 text, one record per line, fields separated
 * by single spaces; names never contain spaces (they are XDPL identifiers).
 *
 *   xdpl-meta 1
 *   program NAME
 *   frags                             (the program can run on multi-buffer
 *                                      frames: loaded with BPF_F_XDP_HAS_FRAGS
 *                                      and XDPL_FRAGS_VAR set to 1)
 *   source PATH                       (PATH is %-escaped: space -> %20)
 *   rule INDEX NAME LINE VERDICT      (VERDICT: pass drop abort tx redirect
 *                                      route continue)
 *   default INDEX VERDICT LINE        (INDEX = number of rules)
 *   map NAME KIND KEYTYPES VALUETYPE  (KIND: hash lru array percpu_hash
 *                                      percpu_array lpm devmap cpumap xskmap;
 *                                      KEYTYPES: comma list like ip4,u16 or
 *                                      "-" for arrays; VALUETYPE: u8..u64 or
 *                                      "-"; set maps have kind "set_hash" or
 *                                      "set_lpm")
 *   init NAME KEYHEX VALUEHEX         (initial element, in map byte layout)
 *   ifname INDEX NAME                 (devmap slot INDEX of the compiler's
 *                                      redirect map must be set to NAME's
 *                                      ifindex at load time)
 *
 * Readers ignore unknown record types (forward compatibility). */
#ifndef XDPL_META_H
#define XDPL_META_H

/* The helpers below are static inline: a file may include this header and
 * use none of them (a generated loader), and must still build warning-free. */
#define XDPL_META_FN static inline __attribute__((unused))

/* The value of a hex digit, -1 for anything else: hex strings in the
 * metadata, and in policies (`hex "..."`). */
XDPL_META_FN int xdpl_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#define XDPL_META_SECTION ".xdpl.meta"
#define XDPL_META_VERSION 1
#define XDPL_STATS_MAP "xdpl_stats"     /* per-CPU array of struct xdpl_counter */
/* A u32 in the object's .data, 0 in the ELF: the program then puts the
 * maps' initial elements (the "init" records) in itself on its first
 * packet, for loaders that know nothing of .xdpl.meta (ip, bpftool,
 * xdp-loader). xdpl's loaders set it to 1 before loading: they put the
 * elements in themselves, and only into maps they created. */
#define XDPL_SELF_INIT_VAR "_xdpl_self_init"
/* A u32 in the object's .rodata, 0 in the ELF: xdpl's loaders set it to 1
 * when they load the program with BPF_F_XDP_HAS_FRAGS (objects with the
 * "frags" record), so that pkt.len counts every buffer of a frame. */
#define XDPL_FRAGS_VAR "_xdpl_frags"

/* Compiler maps whose contents the program itself defines (anonymous
 * literal sets, rule groups, scratch space): made anew at every load and
 * filled from the object, never pinned or kept over a reload (a changed
 * policy must not run with the old contents). */
XDPL_META_FN int xdpl_map_is_fresh(const char *name)
{
	static const char *const prefixes[] = { "_xdpl_set", "_xdpl_group", "_xdpl_scratch" };
	for (unsigned i = 0; name && i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		const char *p = prefixes[i], *n = name;
		while (*p && *p == *n)
			p++, n++;
		if (!*p)
			return 1;
	}
	return 0;
}
#define XDPL_REDIRECT_MAP "xdpl_ports"  /* devmap for `redirect IFNAME` */
#define XDPL_CPU_MAP "xdpl_cpus"        /* cpumap for `redirect cpu N` */
#define XDPL_CPU_QSIZE 2048             /* its entries' queue size (init records) */

/* ---------------------------------------------------------------- map kinds
 *
 * The KIND words of "map" records, one row each: what the compiler writes
 * (ir.c's map-kind table refers to these rows) and libxdpl reads. */
enum xdpl_map_kind {
	XDPL_MAP_HASH, XDPL_MAP_LRU, XDPL_MAP_ARRAY, XDPL_MAP_PERCPU_HASH, XDPL_MAP_PERCPU_ARRAY,
	XDPL_MAP_LPM, XDPL_MAP_DEVMAP, XDPL_MAP_CPUMAP, XDPL_MAP_XSKMAP,
	XDPL_MAP_SET_HASH, XDPL_MAP_SET_LPM,
	XDPL_NMAP_KINDS
};

struct xdpl_map_kind_info {
	const char *name;
	int array;        /* keyed by one host-order u32 index */
	int lpm;          /* keys: u32 prefix length, then the address */
	int set;          /* a set: keys only (values: markers or expiry times) */
};

XDPL_META_FN const struct xdpl_map_kind_info *xdpl_map_kind_info(int k)
{
	static const struct xdpl_map_kind_info table[XDPL_NMAP_KINDS] = {
		[XDPL_MAP_HASH] = { "hash", 0, 0, 0 },
		[XDPL_MAP_LRU] = { "lru", 0, 0, 0 },
		[XDPL_MAP_ARRAY] = { "array", 1, 0, 0 },
		[XDPL_MAP_PERCPU_HASH] = { "percpu_hash", 0, 0, 0 },
		[XDPL_MAP_PERCPU_ARRAY] = { "percpu_array", 1, 0, 0 },
		[XDPL_MAP_LPM] = { "lpm", 0, 1, 0 },
		[XDPL_MAP_DEVMAP] = { "devmap", 1, 0, 0 },
		[XDPL_MAP_CPUMAP] = { "cpumap", 1, 0, 0 },
		[XDPL_MAP_XSKMAP] = { "xskmap", 1, 0, 0 },
		[XDPL_MAP_SET_HASH] = { "set_hash", 0, 0, 1 },
		[XDPL_MAP_SET_LPM] = { "set_lpm", 0, 1, 1 },
	};
	static const struct xdpl_map_kind_info unknown = { "?", 0, 0, 0 };
	return k >= 0 && k < XDPL_NMAP_KINDS ? &table[k] : &unknown;
}

/* Whether two NUL-terminated words are equal (this header needs no libc). */
XDPL_META_FN int xdpl_word_eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return !*a && !*b;
}

/* The map kind a word names, or -1. */
XDPL_META_FN int xdpl_map_kind_by_name(const char *name)
{
	for (int k = 0; name && k < XDPL_NMAP_KINDS; k++)
		if (xdpl_word_eq(xdpl_map_kind_info(k)->name, name))
			return k;
	return -1;
}

/* ---------------------------------------------------------------- verdicts
 *
 * One table of the verdicts, shared by the compiler (rule records above,
 * IR, codegen, test expectations) and libxdpl / xdplc (stats, test runs):
 * their words (in sources, "rule" records and stats) and the XDP action
 * each ends a packet with. The compiler's own table (compiler/lower/ir.c,
 * ir_verdict_info) adds what code generation needs. */

/* XDP actions as programs return them (the kernel's enum xdp_action). */
enum xdpl_action {
	XDPL_ACTION_NONE = -1,    /* none: `continue`, or chosen at run time (route) */
	XDPL_ACTION_ABORTED = 0,
	XDPL_ACTION_DROP = 1,
	XDPL_ACTION_PASS = 2,
	XDPL_ACTION_TX = 3,
	XDPL_ACTION_REDIRECT = 4,
	/* Not an XDP action: the verdict is carried out in the program's tail
	 * (redirect, route); rule code and rule groups store it as the action. */
	XDPL_ACTION_EXT = 5,
};

/* Verdicts that decide first, then those that let evaluation go on. */
enum xdpl_verdict {
	XDPL_VERDICT_PASS,
	XDPL_VERDICT_DROP,
	XDPL_VERDICT_ABORT,
	XDPL_VERDICT_TX,
	XDPL_VERDICT_REDIRECT,
	XDPL_VERDICT_ROUTE,
	XDPL_NFINAL_VERDICTS,
	XDPL_VERDICT_CONTINUE = XDPL_NFINAL_VERDICTS,
	XDPL_NVERDICTS
};

struct xdpl_verdict_info {
	const char *name;
	int xdp_action;   /* enum xdpl_action it ends with; NONE: it depends (route) or none */
};

XDPL_META_FN const struct xdpl_verdict_info *xdpl_verdict_info(int v)
{
	static const struct xdpl_verdict_info table[XDPL_NVERDICTS] = {
		[XDPL_VERDICT_PASS] = { "pass", XDPL_ACTION_PASS },
		[XDPL_VERDICT_DROP] = { "drop", XDPL_ACTION_DROP },
		[XDPL_VERDICT_ABORT] = { "abort", XDPL_ACTION_ABORTED },
		[XDPL_VERDICT_TX] = { "tx", XDPL_ACTION_TX },
		[XDPL_VERDICT_REDIRECT] = { "redirect", XDPL_ACTION_REDIRECT },
		[XDPL_VERDICT_ROUTE] = { "route", XDPL_ACTION_NONE },    /* pass or redirect: the FIB says */
		[XDPL_VERDICT_CONTINUE] = { "continue", XDPL_ACTION_NONE },
	};
	static const struct xdpl_verdict_info unknown = { "?", XDPL_ACTION_NONE };
	return v >= 0 && v < XDPL_NVERDICTS ? &table[v] : &unknown;
}

/* The verdict words in table order (the first XDPL_NFINAL_VERDICTS
 * decide), as an array. */
XDPL_META_FN const char *const *xdpl_verdict_names(void)
{
	static const char *names[XDPL_NVERDICTS];
	for (int v = 0; v < XDPL_NVERDICTS; v++)
		names[v] = xdpl_verdict_info(v)->name;
	return names;
}

/* The verdict a word names, or -1. */
XDPL_META_FN int xdpl_verdict_by_name(const char *name)
{
	for (int v = 0; name && v < XDPL_NVERDICTS; v++)
		if (xdpl_word_eq(xdpl_verdict_info(v)->name, name))
			return v;
	return -1;
}

/* The verdict word of an XDP action ("abort", "drop", "pass", "tx",
 * "redirect"), or NULL. */
XDPL_META_FN const char *xdpl_action_word(int action)
{
	for (int v = 0; action >= 0 && v < XDPL_NVERDICTS; v++)
		if (xdpl_verdict_info(v)->xdp_action == action)
			return xdpl_verdict_info(v)->name;
	return 0;
}


/* Where an attached policy lives in bpffs (names may not contain '.'), with
 * NS = netns-INODE-COOKIE of the device's network namespace (its inode as
 * `ls -l /proc/PID/ns/net` shows it, and its SO_NETNS_COOKIE):
 *   /sys/fs/bpf/xdpl/NS/IFNAME/link        the bpf_link attaching the program
 *   /sys/fs/bpf/xdpl/NS/IFNAME/MAPNAME     every map, by its source name
 *                                          (xdpl_stats included)
 *   /sys/fs/bpf/xdpl/NS/IFNAME/xdpl_meta   1-entry array map whose value is
 *                                          the .xdpl.meta text (NUL-padded),
 *                                          so status/stats/set need only bpffs
 * /sys/fs/bpf is the host's bpffs even under `ip netns exec` (runtime/pin.c).
 * xdplc and generated loaders use the same layout, so either can inspect
 * or detach what the other attached.
 *
 * Details of the layout (runtime/attach.c):
 *   - an IFNAME with '.' (eth0.100) gets directory "eth0%2e100" ('%' is
 *     written %25): bpffs names may not contain '.';
 *   - an attach pins the whole new version in "%new-IFNAME" next to
 *     IFNAME (with "new-prog", a pin of its program, the mark that tells
 *     whether it committed) and exchanges the two directories at the end;
 *     one left by a killed attach is finished or removed by the next
 *     command (runtime/pin.c, xdpl__stage_recover); a lock (flock on
 *     XDPL_PIN_ROOT) serialises the commands that change pins;
 *   - a device directory whose link is gone or detached (the device or its
 *     namespace went away) is stale: the next xdplc command removes it;
 *   - the xdpl_meta text of an attached policy may hold records of its own:
 *       netns NAME    the namespace it was attached in (its /run/netns name,
 *                     "root", or net:[INODE]), for the message that
 *                     reports its removal
 *       stats-base RULE PACKETS BYTES
 *     counts that RULE ("default" for the default) made in earlier
 *     versions of the policy and that are not in xdpl_stats: when a
 *     re-attach changes the rule list, xdpl_stats is replaced by an
 *     empty one and every count of the old one is added here by rule
 *     name (the rest of what the old program counted, after the swap
 *     once no CPU runs it). A rule's total is the sum of its xdpl_stats slot over all CPUs
 *     plus its stats-base. */
#define XDPL_PIN_ROOT "/sys/fs/bpf/xdpl"
#define XDPL_PIN_LINK "link"
#define XDPL_PIN_META "xdpl_meta"

#endif
