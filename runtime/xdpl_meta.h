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

#define XDPL_META_SECTION ".xdpl.meta"
#define XDPL_META_VERSION 1
#define XDPL_STATS_MAP "xdpl_stats"     /* per-CPU array of struct xdpl_counter */
/* A u32 in the object's .data, 0 in the ELF: the program then puts the
 * maps' initial elements (the "init" records) in itself on its first
 * packet, for loaders that know nothing of .xdpl.meta (ip, bpftool,
 * xdp-loader). xdpl's loaders set it to 1 before loading: they put the
 * elements in themselves, and only into maps they created. */
#define XDPL_SELF_INIT_VAR "_xdpl_self_init"

/* Compiler maps whose contents the program itself defines (anonymous
 * literal sets, rule groups, scratch space): made anew at every load and
 * filled from the object, never pinned or kept over a reload (a changed
 * policy must not run with the old contents). */
static inline int xdpl_map_is_fresh(const char *name)
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
