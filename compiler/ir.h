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

#include "arena.h"

/* Scalar types as codegen sees them. Values up to 64 bits are held in an
 * integer of `bits` width (zero-extended); ip6 is 128 bits. */
enum ir_type { IR_UINT, IR_BOOL, IR_MAC, IR_IP4, IR_IP6 };

struct ir_u128 {
	uint64_t hi, lo; /* network order: hi holds the first 8 bytes */
};

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
};

/* ---------------------------------------------------------------- values */

enum ir_val_kind {
	IV_CONST,    /* c (c128 for ip6) */
	IV_FIELD,    /* hdr, field: requires the header to be present */
	IV_META,     /* hdr (a meta block), field: requires it to be set */
	IV_PKT,      /* pkt: PKT_* below */
	IV_BIN,      /* op, a, b: arithmetic/bitwise, width of the result = bits */
	IV_MAP_READ, /* map, keys: requires the key to be present */
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

enum ir_cmp { ICMP_EQ, ICMP_NE, ICMP_LT, ICMP_LE, ICMP_GT, ICMP_GE };

/* Atoms are false when any header/meta/map value they read is absent
 * (spec §5, "absent headers"), including ICMP_NE; IC_NOT then negates. */
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
	struct ir_arm *arms;     /* tried in order; default arm last if any */
	int narms;
	int next_state;          /* with no select: target (IR_ACCEPT...) */
	const char *file;
	int line;
};

/* ---------------------------------------------------------------- maps */

enum ir_map_kind {
	IRM_HASH, IRM_LRU_HASH, IRM_ARRAY, IRM_PERCPU_HASH, IRM_PERCPU_ARRAY,
	IRM_LPM, IRM_DEVMAP, IRM_CPUMAP, IRM_XSKMAP,
};

/* Keys are packed big-endian byte strings, each component in its natural
 * size (u8/bool 1, u16 2, u24 3, u32/ip4 4, mac 6, u64 8, ip6 16) in
 * declaration order. LPM keys are a host-order u32 prefix length followed
 * by the address bytes, as the kernel wants. Values are host-order
 * integers of value_size bytes (sets: a 1-byte marker). */
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
	uint64_t num;            /* ifindex or cpu */
	const char *ifname;      /* IRV_REDIRECT_IFINDEX given by name: resolved at load */
	struct ir_map *map;
	struct ir_val *key;
};

struct ir_rule {
	const char *name;
	int index;               /* counter slot */
	const char *file;        /* source file of the rule (debug line info) */
	int line;
	struct ir_cond *cond;    /* never NULL: IC_TRUE when no match */
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

struct ir_program {
	const char *name;        /* program NAME */
	const char *source_path; /* main .xdpl file (for debug info) */
	const char *source_dir;
	struct ir_header *headers;
	int nheaders;
	struct ir_state *states;
	int nstates;
	int start_state;         /* IR_ACCEPT when no parser */
	struct ir_map **maps;
	int nmaps;
	struct ir_rule *rules;
	int nrules;
	struct ir_verdict default_verdict;
	int default_line;
	struct ir_test *tests;
	int ntests;
};

/* Names of things for the runtime and for messages. */
const char *ir_verdict_name(enum ir_verdict_kind k);

#endif
