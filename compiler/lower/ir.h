/* The lowered rule IR: what codegen consumes. No source text, no names to
 * resolve: header layouts with bit offsets, a finite parse graph, maps with
 * their byte layouts and initial contents, and rules as condition trees over
 * typed atoms.
 *
 * Shape: a rule's condition is a tree of AND/OR/NOT over atoms, and every
 * atom is "field OP constant", "field in collection" or a general compare.
 * Keeping atoms in this normal form (value on the left, constant on the
 * right where possible) is what lets a later pass regroup many rules'
 * atoms on the same field into one map lookup or decision tree. */
#ifndef XDPL_IR_H
#define XDPL_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "xdpl_meta.h"
#include "xdpl_u128.h"

/* Scalar types as codegen sees them. Values up to 64 bits are held in an
 * integer of `bits` width (zero-extended); ip6 is 128 bits. */
enum ir_type { IR_UINT, IR_BOOL, IR_MAC, IR_IP4, IR_IP6 };

struct ir_u128 {
	uint64_t hi, lo; /* network order: hi holds the first 8 bytes */
};

static inline u128 u128_from_ir(struct ir_u128 v)
{
	return ((u128)v.hi << 64) | v.lo;
}

static inline struct ir_u128 u128_to_ir(u128 v)
{
	struct ir_u128 r = { (uint64_t)(v >> 64), (uint64_t)v };
	return r;
}

/* ---------------------------------------------------------------- headers */

struct ir_field {
	const char *name;
	enum ir_type type;
	int bits;       /* width; IR_IP6 128 */
	int bit_offset; /* from the header start, MSB-first as on the wire */
};

struct ir_val;

struct ir_header {
	const char *name;    /* instance name: "vlan2" */
	int index;
	struct ir_field *fields;
	int nfields;
	int fixed_bytes;     /* bytes that are read and bounds-checked */
	/* Variable part after the fixed bytes (ip4 options, tcp options,
	 * ip6 extension body): its size in bytes, an expression over this
	 * header's fields, clamped to var_max. NULL: none. */
	struct ir_val *var_size;
	int var_max;
	bool is_meta;        /* parser-set variables, not packet bytes */
	/* Rewrites (IS_ASSIGN/IS_SWAP): the checksum this header carries,
	 * from its stdlib default. csum_field: the field (-1: none);
	 * csum_kind: what it covers (IR_CSUM_HEADER: checksum(), this
	 * header's fixed bytes; IR_CSUM_PAYLOAD: checksum(payload), this
	 * header and every header after it; IR_CSUM_PSEUDO: checksum(pseudo),
	 * the same plus the pseudo header, i.e. the addr_src/addr_dst fields
	 * of the nearest enclosing header that has them). csum_optional
	 * (checksum(..., optional)): a zero field means "no checksum" and is
	 * left alone (UDP over IPv4); computed zeros are written as 0xffff
	 * for pseudo checksums, as the packet builder does. addr_src/addr_dst:
	 * this header's ip4/ip6 `src`/`dst` fields, the pseudo-header
	 * addresses of checksums in later headers (-1: none). Checksums are
	 * updated with 16-bit words counted from each header's start, so
	 * every header is assumed to start at an even offset from the header
	 * carrying the checksum (true of every stdlib header). */
	int csum_field;
	enum ir_csum_kind { IR_CSUM_HEADER, IR_CSUM_PAYLOAD, IR_CSUM_PSEUDO } csum_kind;
	bool csum_optional;
	int addr_src, addr_dst;
};

/* ---------------------------------------------------------------- values */

/* Constants: c holds values of up to 64 bits (ip4 and mac as big-endian
 * numbers: 10.0.0.1 = 0x0A000001); c128 holds the same value as 128 bits
 * (for ip6 hi = the first 8 bytes big-endian; for narrower ones hi = 0 and
 * lo = c).  IV_BIN arithmetic (+ - * << % and the operands of >>) is done
 * in 64-bit unsigned wrapping arithmetic (128 for ip6 operands) and then
 * cut to `bits`, the width of the result (spec: the wider operand, a
 * literal taking the other's width or the smallest that holds it; & may
 * keep the narrower, the same value); operands narrower than the
 * result are zero-extended. A flag read as a value is a 0/1 IR_BOOL built
 * from IV_BIN (field >> bit) & 1. Inside hash(...), a generic name mixing
 * ip4 and ip6 (ip.src) is coalesce(ip4.src | ::ffff:0:0, ip6.src): ip4 as
 * an IPv4-mapped ip6 value (an IV_BIN IB_OR with a 128-bit constant). */
enum ir_val_kind {
	IV_CONST,    /* c (c128 for ip6) */
	IV_FIELD,    /* hdr, field: requires the header to be present */
	IV_META,     /* hdr (a meta block), field: requires it to be set */
	IV_PKT,      /* pkt: PKT_* below */
	IV_BIN,      /* op, a, b: arithmetic/bitwise, width of the result = bits */
	IV_MAP_READ, /* map, keys: requires the key to be present; the value
		      * read is value_bits wide (host order in the map) */
	IV_HASH,     /* keys: u32 flow hash */
	IV_COALESCE, /* keys: the first alternative whose headers are present
		      * (generic names: l4.dport = tcp.dport | udp.dport) */
};

enum ir_pkt { IR_PKT_LEN, IR_PKT_IFINDEX, IR_PKT_RXQ };

enum ir_binop { IB_AND, IB_OR, IB_XOR, IB_ADD, IB_SUB, IB_MUL, IB_MOD, IB_SHL, IB_SHR };

struct ir_map;

struct ir_val {
	enum ir_val_kind kind;
	enum ir_type type;
	int bits;
	uint64_t c;
	struct ir_u128 c128;
	int hdr, field;         /* IV_FIELD, IV_META */
	enum ir_pkt pkt;
	enum ir_binop op;
	struct ir_val *a, *b;
	struct ir_map *map;
	struct ir_val **keys;   /* IV_MAP_READ, IV_HASH, IV_COALESCE */
	int nkeys;
};

/* ---------------------------------------------------------------- conditions */

enum ir_cond_kind {
	IC_TRUE,
	IC_AND, IC_OR, IC_NOT,   /* kids */
	IC_PRESENT,              /* hdr is present (parsed) / meta set */
	IC_CMP,                  /* cmp(a, b) */
	IC_RANGE,                /* lo <= a <= hi (constants) */
	IC_PREFIX,               /* a has prefix c/c128 of plen bits (width a->bits) */
	IC_IN_MAP,               /* keys found in map (hash set or LPM) */
};

/* Conditions lowering produces:
 * - false is IC_NOT with one kid IC_TRUE (only where a whole condition
 *   folds to false; AND/OR never hold constant kids);
 * - IC_AND/IC_OR have >= 2 kids and no kid of the same kind (flattened);
 * - IC_CMP: a is never a constant when b is not (constants on the right:
 *   `22 == tcp.dport` becomes tcp.dport == 22); both constant is folded;
 *   a constant b has a's type and width (unless it does not fit in it);
 * - IC_RANGE: lo, hi are IV_CONST of a's type, lo < hi;
 * - IC_PREFIX: `prefix` is the address as a number of a->bits bits, host
 *   bits zero, i.e. left-aligned in a->bits: for a->bits <= 64 it is in
 *   prefix.lo (ip4 10.0.0.0/8 -> prefix.lo = 0x0A000000, hi = 0), for ip6
 *   in hi (first 8 bytes big-endian) and lo. The test is
 *   (a & mask) == prefix with mask = the top plen of a->bits bits;
 *   0 <= plen < a->bits (a full-length prefix becomes ICMP_EQ; plen 0 stays
 *   an IC_PREFIX that holds whenever a can be read -- lowering also uses it
 *   for `ip.src != 10.0.0.1` on the ip6 alternative);
 * - IC_IN_MAP: keys[i] matches map->key_types[i]; for an LPM map keys[0]
 *   is the address and the lookup key is {prefixlen = full width, addr}.
 * - cond.line is the source line of the atom (0 on AND/OR/NOT/TRUE). */

enum ir_cmp { ICMP_EQ, ICMP_NE, ICMP_LT, ICMP_LE, ICMP_GT, ICMP_GE };

/* Atoms are false when any header/meta/map value they read is absent
 * (reference §7, "absent headers"), including ICMP_NE; IC_NOT then negates. */
struct ir_cond {
	enum ir_cond_kind kind;
	struct ir_cond **kids;
	int nkids;
	int hdr;                 /* IC_PRESENT */
	enum ir_cmp cmp;
	struct ir_val *a, *b;
	struct ir_val *lo, *hi;  /* IC_RANGE */
	struct ir_u128 prefix;   /* IC_PREFIX: value, left-aligned in a->bits */
	int plen;
	struct ir_map *map;      /* IC_IN_MAP */
	struct ir_val **keys;
	int nkeys;
	int line;                /* source line for debug info, 0 = rule's */
};

/* ---------------------------------------------------------------- parse graph */

#define IR_ACCEPT (-1)
#define IR_REJECT (-2)

struct ir_arm {
	/* The arm matches when the key is one of values, or in one of ranges
	 * (lo..hi inclusive). Both empty: the default arm. */
	uint64_t *values;
	int nvalues;
	uint64_t *lo, *hi;
	int nranges;
	int target;              /* state index, IR_ACCEPT or IR_REJECT */
};

struct ir_set_meta {             /* set META.FIELD = VALUE in a state */
	int meta_hdr, field;
	struct ir_val *value;
};

struct ir_state {
	const char *name;
	int header;              /* header instance extracted (-1: none) */
	int loop;                /* 0, or how many times the state may repeat */
	struct ir_set_meta *sets;
	int nsets;
	struct ir_val *key;      /* select key; NULL: go to next_state */
	struct ir_arm *arms;     /* tried in order; with a key, lowering always
				  * ends them with the default arm (the `_`
				  * arm, else the state's `next`, else accept) */
	int narms;
	int next_state;          /* with no select: target (IR_ACCEPT...);
				  * with one: the default arm's target */
	const char *file;
	int line;
};

/* ---------------------------------------------------------------- maps */

enum ir_map_kind {
	IRM_HASH, IRM_LRU_HASH, IRM_ARRAY, IRM_PERCPU_HASH, IRM_PERCPU_ARRAY,
	IRM_LPM, IRM_DEVMAP, IRM_CPUMAP, IRM_XSKMAP,
};

/* Keys are packed big-endian byte strings, each component in its natural
 * size ((key_bits + 7) / 8 bytes: u8/bool 1, u16 2, u24 3, u32/ip4 4, mac 6,
 * u64 8, ip6 16) in declaration order. LPM keys are a host-order u32 prefix
 * length followed by the address bytes, as the kernel wants. Array-like
 * maps (array, percpu_array, devmap, cpumap, xskmap) have one IR_UINT 32
 * key: a host-order u32 index, as the kernel wants. Values are host-order
 * integers (addresses: ip4, ip6, mac as on the wire, like keys) of value_size bytes (1, 2, 4, 8 or 16 for ip6; sets: a 1-byte
 * marker 1, or with `expires` a u64 expiry time; devmap/cpumap/xskmap: u32). Anonymous maps made for large
 * literal sets (`x in { ... }`) have user_visible = false and hold their
 * whole contents in init. */
struct ir_map_entry {
	uint8_t *key;
	uint8_t *value;
};

struct ir_map {
	const char *name;        /* as in the source; anonymous: "_xdpl_setN" */
	int index;
	enum ir_map_kind kind;
	bool is_set;
	bool user_visible;       /* declared in the source */
	enum ir_type key_types[8];
	int key_bits[8];
	int nkeys;
	int key_size;            /* bytes, LPM included */
	enum ir_type value_type;
	int value_bits;
	int value_size;          /* bytes */
	uint32_t max_entries;
	uint32_t flags;          /* BPF_F_NO_PREALLOC for LPM */
	bool expires;            /* a set some rule adds to with a timeout: its
				  * values are u64 expiry times (bpf_ktime_get_ns,
				  * 0: never), `in` ignores expired elements */
	struct ir_map_entry *init;
	int ninit;
	int line;
};

/* ---------------------------------------------------------------- rules */

enum ir_verdict_kind {
	IRV_PASS, IRV_DROP, IRV_ABORT, IRV_TX, IRV_REDIRECT_IFINDEX,
	IRV_REDIRECT_MAP, IRV_REDIRECT_CPU, IRV_ROUTE, IRV_CONTINUE,
};

struct ir_verdict {
	enum ir_verdict_kind kind;
	uint64_t num;            /* ifindex, cpu, or (with ifname) the devmap slot */
	const char *ifname;      /* IRV_REDIRECT_IFINDEX given by name: resolved at load
				  * through slot num of map (XDPL_REDIRECT_MAP) */
	struct ir_map *map;      /* IRV_REDIRECT_MAP: the user's; IRV_REDIRECT_CPU:
				  * XDPL_CPU_MAP; by name: XDPL_REDIRECT_MAP */
	struct ir_val *key;      /* IRV_REDIRECT_MAP: IV_CONST or IV_PKT */
};

/* ---------------------------------------------------------------- rewrites and state */

/* Statements of a rule's rewrite block (reference §12), run in order after the
 * match and limit hold and before the verdict. A statement that reads or
 * writes a header the packet lacks makes the rule not match (reference §12): the
 * rule's "requires" set is checked before any statement runs. Checksums
 * (the header fields whose stdlib default is checksum(), checksum(payload)
 * or checksum(pseudo)) are updated incrementally (RFC 1624) after every
 * change; lengths (total_len()/payload_len()) after size changes. */
enum ir_stmt_kind {
	IS_ASSIGN,    /* hdr.field = value (+= / -= arrive as IV_BIN over the field) */
	IS_SWAP,      /* hdr.field <-> hdr2.field2 (same width) */
	IS_PUSH,      /* insert template (a header instance `hdr`) right after
		       * header `hdr2` (vlan after eth or after vlan) */
	IS_POP,       /* remove header instance hdr */
	/* IS_PUSH/IS_POP as lowering makes them (the "in-place" form): hdr2
	 * is the first header (the start state's, eth), hdr the header
	 * inserted or removed right after it (vlan); hdr2's select key is
	 * its last field, at byte field2, and hdr's key is hdr's last field
	 * of the same width. IS_PUSH inserts tmpl->len bytes at byte field2
	 * (tmpl->bytes: the start state's first arm value selecting hdr,
	 * then hdr's bytes before its key, packet-builder defaults), so the
	 * old key becomes hdr's key without moving; IS_POP removes
	 * headers[hdr].fixed_bytes bytes at field2 (hdr2's key then is
	 * hdr's old key). Both move the bytes before field2 and adjust the
	 * packet head; at most one per rule, after every field rewrite,
	 * never with `continue` or `route` (not supported yet). */
	IS_ENCAP,     /* insert tmpl's layers as outer headers (struct ir_encap) */
	IS_DECAP,     /* remove the outermost tunnel the parser found (ir_encap:
		       * link headers, the inner headers) */
	IS_SET_ADD,   /* map (a set), keys, timeout_ns (0: none) */
	IS_SET_DEL,   /* map, keys */
	IS_MAP_STORE, /* map[keys] = value */
	IS_MAP_ADD,   /* map[keys] += value (atomic; creates the entry at 0) */
};

/* A pre-built header stack for push/encap: the bytes as the packet builder
 * lays them out with defaults; fields computed at run time (lengths,
 * checksums, the select key of the layer before the inserted bytes) are
 * listed so codegen patches them after insertion. */
struct ir_template {
	uint8_t *bytes;
	size_t len;
	int *hdrs;              /* header instance of each layer */
	int *offsets;           /* byte offset of each layer in bytes */
	int nlayers;
};

/* encap / decap (reference §12). Two shapes:
 *  - L3 (IP-in-IP, GRE, UDP carrying an IP packet): the template goes
 *    between the link headers (eth, vlan, vlan2: link[]) and the packet's
 *    IP header, which becomes the inner packet; the last link header's
 *    select key becomes link_key (the outer IP's EtherType).
 *  - L2 (VXLAN, GRE with EtherType 0x6558, or a template starting with
 *    eth): the whole frame is the inner packet; the template goes in front
 *    of it. Without an eth layer in the template (copy_eth) the outer
 *    Ethernet header is the frame's own, with type link_key.
 * Fields the run time fills in after the template is written: */
enum ir_patch_kind {
	IRP_VALUE,       /* value, computed when the rule decides */
	IRP_TOTAL_LEN,   /* bytes from the layer's start to the inner packet's end */
	IRP_PAYLOAD_LEN, /* bytes after the layer's end */
	IRP_INNER_KEY,   /* v4 or v6: the select value for the inner IP family */
	IRP_CSUM,        /* IPv4 header checksum of the layer (computed last) */
	IRP_CSUM_PSEUDO, /* UDP/TCP checksum over the layer, everything after it
			  * and the pseudo header: addresses at addr_off
			  * (addr_bytes each, src then dst, template bytes),
			  * protocol `proto` (computed last) */
};

struct ir_patch {
	enum ir_patch_kind kind;
	int layer;              /* in tmpl */
	int bit_offset, bits;   /* in the template's bytes */
	struct ir_val *value;   /* IRP_VALUE */
	uint64_t v4, v6;        /* IRP_INNER_KEY */
	int addr_off, addr_bytes; /* IRP_CSUM_PSEUDO */
	uint64_t proto;
};

#define IR_MAX_LINK 4

struct ir_encap {
	bool l2;
	bool copy_eth;          /* l2: the outer MACs are the frame's own */
	uint64_t link_key;      /* L3: the link header's new select value;
				 * copy_eth: the outer eth.type */
	int link[IR_MAX_LINK];  /* link headers, outermost first */
	int nlink;
	int ip4, ip6;           /* the IP headers right after the link headers
				 * (L3 encap: the inner packet; decap: the outer) */
	/* decap: the inner headers (-1: none); a tunnel is present when one
	 * of them is. eth_inner: the whole outer frame goes; else the outer
	 * IP header up to inner_ip4/6 goes and the link key becomes
	 * key_v4/key_v6. */
	int eth_inner, inner_ip4, inner_ip6;
	uint64_t key_v4, key_v6;
	struct ir_patch *patches;
	int npatches;
	/* IRP_CSUM_PSEUDO: a per-CPU scratch buffer (_xdpl_scratch, one
	 * entry of IR_SCRATCH_BYTES) the packet is copied to for summing */
	struct ir_map *scratch;
};

#define IR_SCRATCH_BYTES 520

struct ir_stmt {
	enum ir_stmt_kind kind;
	int line;
	int hdr, field;         /* IS_ASSIGN, IS_SWAP (first), IS_PUSH/IS_POP */
	int hdr2, field2;       /* IS_SWAP (second), IS_PUSH (insert after) */
	struct ir_val *value;   /* IS_ASSIGN, IS_MAP_STORE, IS_MAP_ADD */
	struct ir_template *tmpl; /* IS_PUSH, IS_ENCAP */
	struct ir_encap *encap;   /* IS_ENCAP, IS_DECAP */
	struct ir_map *map;     /* IS_SET_*, IS_MAP_* */
	struct ir_val **keys;
	int nkeys;
	uint64_t timeout_ns;
	/* A generic name as a target (l4.dport = 8080, swap ip.src, ip.dst)
	 * becomes one statement per alternative, each run only when its
	 * headers are present (if_present); the rule requires one of them
	 * (group: the source statement's index, -1 otherwise). */
	bool if_present;
	int group;
};

/* limit [over] RATE [burst N] [per KEYS] (reference §9): a token bucket per key
 * in an LRU hash map (`map`, key = packed keys, or one slot without per).
 * Tokens are counted in packets (bytes for kbps/mbps/gbps rates). */
struct ir_limit {
	bool over;              /* holds once the rate is exceeded */
	bool bytes;             /* rate in bytes per second, not packets */
	uint64_t rate_per_sec;  /* packets or bytes per second (rounded down) */
	uint64_t amount;        /* exactly: amount per period_s seconds */
	uint64_t period_s;      /* 1 (N/s, kbps...), 60 (N/m) or 3600 (N/h) */
	uint64_t burst;         /* bucket depth, same unit */
	struct ir_map *map;
	struct ir_val **keys;
	int nkeys;
	int line;
};

struct ir_rule {
	const char *name;
	int index;               /* counter slot */
	const char *file;        /* source file of the rule (debug line info) */
	int line;
	struct ir_cond *cond;    /* never NULL: IC_TRUE when no match */
	struct ir_limit *limit;  /* NULL: none */
	struct ir_stmt **stmts;  /* rewrite block */
	int nstmts;
	struct ir_verdict verdict;
};

/* ---------------------------------------------------------------- tests */

/* XDP action numbers; -1 with expect redirect (any redirect). */
struct ir_test {
	const char *name;
	const char *file;
	int line;
	uint8_t *packet;
	size_t packet_len;
	int expect_action;       /* XDP_* or -1: any redirect; -2: no expect */
	int expect_rule;         /* rule index, nrules for default, -1: not given */
	uint8_t *output;         /* NULL: no output check */
	size_t output_len;
};

/* ---------------------------------------------------------------- program */

/* ---------------------------------------------------------------- rule groups */

/* A run of rules [first, first + n) that each test one key value against
 * constants (== C, in PREFIX, in { C, PREFIX, ... }), or the same tuple of
 * keys for equality (K1 == C1 and K2 == C2 ...), and decide with no
 * limit, rewrite or computed key: evaluated as one lookup in `map` (hash
 * for exact values, LPM when prefixes are among them) whose value is the
 * deciding rule's IR_GROUP_VALUE(slot, action). Built in file order so the
 * first matching rule wins, as rule by rule (regroup.c). The rules stay in
 * rules[]: their counters, names, lines and tests are theirs. */
struct ir_classifier;

struct ir_group {
	int first, n;
	struct ir_val **keys;   /* one key, or a tuple: `K1 == C1 and K2 == C2 ...` */
	int nkeys;
	struct ir_map *map;
	/* non-NULL (keys and map NULL): rules testing several fields, as
	 * decision trees (lower/classify.h) */
	struct ir_classifier *cls;
};

/* Policies of up to this many rules (a group counted once) are compiled
 * rule by rule into the XDP function (codegen's CG_SPEC): the fastest code
 * for them, so rule groups are only made in larger policies, and field
 * rewrites with `continue` only work in such policies. */
#define IR_INLINE_RULES_MAX 64

/* A rule group's map value: the deciding rule's slot and its action
 * (ir_verdict_action). */
#define IR_GROUP_VALUE(slot, action) ((uint32_t)(slot) * 8u + (uint32_t)(action))

struct ir_program {
	const char *name;        /* program NAME */
	const char *source_path; /* main .xdpl file (for debug info) */
	const char *source_dir;
	struct ir_header *headers;
	int nheaders;
	struct ir_state *states;
	int nstates;
	int start_state;         /* IR_ACCEPT when no parser */
	/* nheaders x nheaders: hdr_after[a * nheaders + b] is true when
	 * header b can follow header a in the parse graph (on some path from
	 * the state extracting a). Rewrites use it for which checksums cover
	 * a field (checksum(payload|pseudo) of a covers b's bytes). */
	bool *hdr_after;
	struct ir_map **maps;
	int nmaps;
	struct ir_rule *rules;
	int nrules;
	struct ir_verdict default_verdict;
	int default_line;
	/* `redirect IFNAME`: slot i of the devmap XDPL_REDIRECT_MAP (in maps[])
	 * is set to ifnames[i]'s ifindex at load (meta "ifname" records) */
	const char **ifnames;
	int nifnames;
	struct ir_test *tests;
	int ntests;
	struct ir_group *groups; /* by first rule, ascending, not overlapping */
	int ngroups;
};

/* ---------------------------------------------------------------- kinds: one table each (ir.c) */

struct ir_verdict_info {
	enum xdpl_verdict word;  /* its name and XDP action (runtime/xdpl_meta.h) */
	int action;              /* what its rule's code returns or stores: an XDP
				  * action, XDPL_ACTION_EXT (carried out in the
				  * tail, codegen_verdict.c) or XDPL_ACTION_NONE
				  * (continue: evaluation goes on) */
	bool plain;              /* nothing to compute but the action: such rules
				  * may run while the packet is parsed */
	bool keyed;              /* the target is chosen per packet (redirect
				  * MAP[KEY]): never in a rule group */
};

/* Never NULL: an unknown kind has word XDPL_NVERDICTS and no action. */
const struct ir_verdict_info *ir_verdict_info(enum ir_verdict_kind k);

/* The kind of a verdict given by its word alone (no target): the first
 * row with that word. false: none. */
bool ir_verdict_by_word(enum xdpl_verdict w, enum ir_verdict_kind *out);

/* "pass", "drop", "abort", "tx", "redirect", "route", "continue": for the
 * runtime (meta records) and messages. */
static inline const char *ir_verdict_name(enum ir_verdict_kind k)
{
	return xdpl_verdict_info((int)ir_verdict_info(k)->word)->name;
}

static inline int ir_verdict_action(enum ir_verdict_kind k)
{
	return ir_verdict_info(k)->action;
}

/* Decides (every verdict but continue). */
static inline bool ir_verdict_final(enum ir_verdict_kind k)
{
	return ir_verdict_info(k)->action != XDPL_ACTION_NONE;
}

/* Carried out in the XDP function's tail (redirect, route). */
static inline bool ir_verdict_in_tail(enum ir_verdict_kind k)
{
	return ir_verdict_info(k)->action == XDPL_ACTION_EXT;
}

/* A rule that only decides: no limit, no statements, a plain verdict. */
bool ir_rule_plain(const struct ir_rule *r);

/* A rule whose decision can go into a rule group's map: no limit, no
 * statements, a final verdict whose target does not depend on the packet. */
bool ir_rule_groupable(const struct ir_rule *r);

struct ir_stmt_info {
	const char *name;        /* for messages: "push", "encap", "add"... */
	bool rewrite;            /* changes the packet (runs in the tail) */
	bool moves_head;         /* moves the packet's start (bpf_xdp_adjust_head):
				  * at most one per rule, after the field rewrites */
	bool csums;              /* changes bytes checksums may cover: headers
				  * carrying a checksum stay parsed */
};

const struct ir_stmt_info *ir_stmt_info(enum ir_stmt_kind k);

struct ir_map_kind_info {
	enum xdpl_map_kind word; /* its name in "map" meta records and the IR
				  * dump, index keys or not (xdpl_meta.h) */
	bool target;             /* a redirect target (devmap, cpumap, xskmap):
				  * u32 values set at load, none in the object */
	bool writable;           /* rules may store into it (MAP[KEY] = / +=) */
	bool set_ops;            /* rules may add to / delete from it as a set */
};

const struct ir_map_kind_info *ir_map_kind_info(enum ir_map_kind k);

static inline const char *ir_map_kind_name(enum ir_map_kind k)
{
	return xdpl_map_kind_info((int)ir_map_kind_info(k)->word)->name;
}

/* Keyed by one host-order u32 index (array, percpu_array, devmap, ...). */
static inline bool ir_map_kind_array(enum ir_map_kind k)
{
	return xdpl_map_kind_info((int)ir_map_kind_info(k)->word)->array;
}

/* Structural equality of two values (same reads, same constants). */
bool ir_val_eq(const struct ir_val *x, const struct ir_val *y);

/* A readable dump of the whole program (xdplc build --emit ir, debugging). */
void ir_dump(FILE *f, const struct ir_program *p);

#endif
