/* The abstract syntax tree of an XDPL compilation (docs/reference.md).
 *
 * The parser builds it (all nodes in the compilation's arena); sema checks it
 * and fills the "resolved" fields marked [sema]; lowering reads the checked
 * tree and never looks at source text again. */
#ifndef XDPL_AST_H
#define XDPL_AST_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"
#include "xdpl_meta.h"

/* ---------------------------------------------------------------- types */

/* Value types of fields, constants, set keys and map values (reference §8). */
enum xdpl_type_kind {
	TY_NONE,    /* not a value (e.g. boolean condition, error) */
	TY_UINT,    /* unsigned integer of `bits` width, 1..64 (u8, u3, u24...) */
	TY_BOOL,    /* a 1-bit truth value (bool, tcp.flags.syn) */
	TY_MAC,     /* 48-bit Ethernet address */
	TY_IP4,     /* 32-bit IPv4 address */
	TY_IP6,     /* 128-bit IPv6 address */
	TY_BYTES,   /* variable header part: bytes(EXPR) max N */
	TY_COND,    /* result of a match expression (and/or/not/cmp/in) */
	TY_INT_LIT, /* an integer literal not yet given a width */
};

struct xdpl_type {
	enum xdpl_type_kind kind;
	int bits; /* TY_UINT: width; TY_BOOL 1; TY_MAC 48; TY_IP4 32; TY_IP6 128 */
};

/* ---------------------------------------------------------------- literals */

enum lit_kind {
	LIT_INT,      /* u: value (decimal, 0x, 0b; '_' between digits) */
	LIT_BOOL,     /* u: 0/1 (true/false) */
	LIT_IP4,      /* bytes[0..3], network order */
	LIT_IP6,      /* bytes[0..15], network order */
	LIT_MAC,      /* bytes[0..5] */
	LIT_PREFIX4,  /* bytes[0..3] + plen; host bits are a sema error */
	LIT_PREFIX6,  /* bytes[0..15] + plen */
	LIT_STRING,   /* str/len: decoded escapes (may contain NUL) */
	LIT_HEX,      /* hex "...": str/len hold the decoded bytes */
	LIT_RATE,     /* u: amount, unit: packets per second/minute/hour or bits */
	LIT_DURATION, /* u: milliseconds */
};

enum rate_unit { RATE_PPS, RATE_PPM, RATE_PPH, RATE_KBPS, RATE_MBPS, RATE_GBPS };

struct xdpl_lit {
	enum lit_kind kind;
	uint64_t u;
	uint8_t bytes[16];
	int plen;
	const char *str;
	int len;
	enum rate_unit unit;
};

/* ---------------------------------------------------------------- expressions */

enum expr_kind {
	E_LIT,    /* lit */
	E_NAME,   /* name: "tcp", "tcp.dport", "tcp.flags.syn", "ip.src", a const
		   * or a set/map name; resolved by sema into ref */
	E_BINARY, /* op, lhs, rhs */
	E_NOT,    /* lhs */
	E_IN,     /* lhs in rhs; lhs may be an E_TUPLE; rhs is a collection:
		   * E_SETLIT, E_NAME (set), E_LIT (prefix) or E_RANGE */
	E_INDEX,  /* name[args...]: map read */
	E_HASH,   /* hash(args...) */
	E_TUPLE,  /* (a, b, ...) as set key or set element */
	E_RANGE,  /* lhs .. rhs (inclusive) */
	E_SETLIT, /* { args... } literal set: values, prefixes, ranges, tuples */
	E_CALL,   /* name(args...): builtins in header defaults (checksum(), ...) */
};

enum binop {
	OP_OR, OP_AND,                                   /* conditions */
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,        /* comparisons */
	OP_BAND, OP_BOR, OP_BXOR, OP_ADD, OP_SUB, OP_MUL, OP_MOD, OP_SHL, OP_SHR,
};

/* What an E_NAME refers to after sema. */
enum ref_kind {
	REF_NONE,
	REF_HEADER,   /* a bare header instance: presence test; hdr */
	REF_FIELD,    /* hdr + field */
	REF_FLAG,     /* hdr + field + flag (a named bit of a field) */
	REF_META,     /* meta variable: meta + field (parser-set, e.g. ip.proto) */
	REF_ALIAS,    /* alias: generic field over alternatives (ip.src) */
	REF_PKT,      /* pkt.len / pkt.ifindex / pkt.rxq: pkt_field */
	REF_CONST,    /* constant: konst */
	REF_SET,      /* set or map: set */
};

enum pkt_field { PKT_LEN, PKT_IFINDEX, PKT_RXQ };

struct ast_header;
struct ast_field;
struct ast_flag;
struct ast_const;
struct ast_set;
struct ast_alias;

struct xdpl_ref {
	enum ref_kind kind;
	struct ast_header *hdr;   /* header instance (for meta: the meta block) */
	struct ast_field *field;
	struct ast_flag *flag;
	struct ast_alias *alias;
	struct ast_const *konst;
	struct ast_set *set;
	enum pkt_field pkt_field;
};

struct ast_expr {
	enum expr_kind kind;
	struct xdpl_loc loc;
	struct xdpl_lit lit;        /* E_LIT */
	const char *name;           /* E_NAME, E_INDEX, E_CALL */
	enum binop op;              /* E_BINARY */
	struct ast_expr *lhs, *rhs; /* E_BINARY, E_NOT (lhs), E_IN, E_RANGE */
	struct ast_expr **args;     /* E_INDEX, E_HASH, E_TUPLE, E_SETLIT, E_CALL */
	int nargs;
	bool parenthesized;         /* written inside ( ) */

	struct xdpl_ref ref;        /* [sema] E_NAME, E_INDEX (set = the map) */
	struct xdpl_type type;      /* [sema] type of the value or TY_COND */
};

/* ---------------------------------------------------------------- headers, parser */

struct ast_flag {                 /* flags: u8 bits { fin = 0x01, ... } */
	const char *name;
	uint64_t mask;
	struct xdpl_loc loc;
};

struct ast_field {
	const char *name;
	struct xdpl_loc loc;
	struct xdpl_type type;       /* TY_UINT/TY_BOOL/TY_MAC/TY_IP4/TY_IP6/TY_BYTES */
	struct ast_expr *size;       /* TY_BYTES: size expression over earlier fields */
	int max_bytes;               /* TY_BYTES: declared maximum */
	struct ast_flag **flags;     /* named bits, may be empty */
	int nflags;
	/* Default for test packets and encap (reference §14): a literal/const value
	 * expression, or an E_CALL to a builtin: total_len(), payload_len(),
	 * checksum(), checksum(pseudo), checksum(payload). NULL: zero, or the
	 * select value that leads to the next layer if this field is the
	 * select key of the header's parser state. */
	struct ast_expr *deflt;

	int bit_offset;              /* [sema] from the start of the header */
	int index;                   /* [sema] position in the header */
};

/* header NAME { fields }  or  header NAME = OTHER;  (a second instance with
 * OTHER's layout, e.g. vlan2, eth_inner).  meta NAME { fields } declares
 * per-packet variables set by the parser (is_meta). */
struct ast_header {
	const char *name;
	struct xdpl_loc loc;
	const char *layout_of;       /* header NAME = OTHER: OTHER's name */
	bool is_meta;
	struct ast_field **fields;
	int nfields;

	struct ast_header *layout;   /* [sema] header whose fields this uses (self if none) */
	int fixed_bytes;             /* [sema] size without the bytes() part */
	int max_bytes;               /* [sema] fixed_bytes + max of the bytes() part */
	int index;                   /* [sema] instance number, 0..n-1 */
	bool from_stdlib;            /* [sema] declared by the standard library */
};

/* alias ip.src = ip4.src | ip6.src; */
struct ast_alias {
	const char *name;            /* "ip.src" */
	struct xdpl_loc loc;
	struct ast_expr **alts;      /* E_NAME, each resolved to a REF_FIELD/REF_META */
	int nalts;
};

enum pstmt_kind {
	PS_EXTRACT, /* extract HEADER; */
	PS_SET,     /* set META.FIELD = EXPR; */
	PS_NEXT,    /* next STATE; (or accept/reject) */
	PS_SELECT,  /* select EXPR { arms } */
};

/* Target of a transition. */
struct ast_target {
	const char *state;           /* NULL with accept/reject */
	bool accept, reject;
	struct xdpl_loc loc;
	struct ast_state *resolved;  /* [sema] */
};

struct ast_arm {                 /* v1, v2, lo..hi -> TARGET;  or  _ -> TARGET; */
	struct ast_expr **values;    /* empty for the '_' arm */
	int nvalues;
	bool is_default;
	struct ast_target target;
	struct xdpl_loc loc;
};

struct ast_pstmt {
	enum pstmt_kind kind;
	struct xdpl_loc loc;
	const char *header;          /* PS_EXTRACT */
	struct ast_header *hdr;      /* [sema] PS_EXTRACT */
	struct ast_expr *lhs;        /* PS_SET: E_NAME of a meta field */
	struct ast_expr *expr;       /* PS_SET value, PS_SELECT key */
	struct ast_target target;    /* PS_NEXT */
	struct ast_arm **arms;       /* PS_SELECT */
	int narms;
};

/* state NAME [loop N] { stmts }.  A state declared again (e.g. by a user
 * file after the stdlib) extends the earlier one: its select arms are tried
 * first, its other statements are appended. */
struct ast_state {
	const char *name;
	struct xdpl_loc loc;
	int loop;                    /* 0: not a loop; N: may repeat N times */
	struct ast_pstmt **stmts;
	int nstmts;
	int index;                   /* [sema] */
};

/* ---------------------------------------------------------------- sets and maps */

enum set_kind {
	SK_SET_HASH, SK_SET_LPM,                        /* set NAME: hash<..> / lpm<..> */
	SK_MAP_HASH, SK_MAP_LRU, SK_MAP_ARRAY, SK_MAP_PERCPU_HASH, SK_MAP_PERCPU_ARRAY,
	SK_MAP_DEVMAP, SK_MAP_CPUMAP, SK_MAP_XSKMAP,
};

struct ast_set {
	const char *name;
	struct xdpl_loc loc;
	enum set_kind kind;
	bool is_map;
	struct xdpl_type key[8];     /* key types in order (tuple keys) */
	struct xdpl_loc key_loc[8];
	int nkey;
	struct xdpl_type value;      /* maps with a value type */
	uint64_t max;                /* 0: not given */
	struct xdpl_loc max_loc;
	struct ast_expr *init;       /* E_SETLIT or NULL */
	int index;                   /* [sema] */
};

/* ---------------------------------------------------------------- rules */

struct ast_limit {
	struct xdpl_loc loc;
	bool over;
	struct xdpl_lit rate;        /* LIT_RATE */
	struct ast_expr *burst;      /* NULL: rate per second */
	struct ast_expr **per;       /* key expressions */
	int nper;
};

/* A verdict word of runtime/xdpl_meta.h's table (the same numbers: the
 * parser takes any word of the table that needs no target), or a redirect
 * with its target. */
enum verdict_kind {
	V_PASS = XDPL_VERDICT_PASS,
	V_DROP = XDPL_VERDICT_DROP,
	V_ABORT = XDPL_VERDICT_ABORT,
	V_TX = XDPL_VERDICT_TX,
	V_ROUTE = XDPL_VERDICT_ROUTE,
	V_CONTINUE = XDPL_VERDICT_CONTINUE,
	V_REDIRECT_DEV = XDPL_NVERDICTS, /* redirect IFNAME: ifname */
	V_REDIRECT_IFINDEX, /* redirect ifindex N: num */
	V_REDIRECT_MAP,     /* redirect MAP[EXPR]: map, key */
	V_REDIRECT_CPU,     /* redirect cpu N: num */
	V_REDIRECT_ANY,     /* only in `expect redirect;` */
};

/* "pass", "redirect"...: the verdict's word. */
static inline const char *ast_verdict_word(enum verdict_kind k)
{
	return (int)k < XDPL_NVERDICTS ? xdpl_verdict_info((int)k)->name : "redirect";
}

/* The XDP action a verdict ends a packet with (XDPL_ACTION_NONE: none, or
 * it depends: route). */
static inline int ast_verdict_action(enum verdict_kind k)
{
	return (int)k < XDPL_NVERDICTS ? xdpl_verdict_info((int)k)->xdp_action : XDPL_ACTION_REDIRECT;
}

struct ast_verdict {
	enum verdict_kind kind;
	struct xdpl_loc loc;
	const char *ifname;
	uint64_t num;
	const char *map;
	struct ast_expr *key;
	struct ast_set *map_ref;     /* [sema] */
};

/* A layer of a test packet, output packet, encap or push:
 * HEADER(field=value, ...), payload("..") / payload(hex ".."), raw(hex ".."). */
enum layer_kind { L_HEADER, L_PAYLOAD, L_RAW };

struct ast_layer_arg {
	const char *field;
	struct xdpl_loc loc;
	struct ast_expr *value;
	struct ast_field *resolved;  /* [sema] */
};

struct ast_layer {
	enum layer_kind kind;
	struct xdpl_loc loc;
	const char *header;          /* L_HEADER */
	struct ast_layer_arg **args;
	int nargs;
	const uint8_t *bytes;        /* L_PAYLOAD / L_RAW */
	int len;
	struct ast_header *hdr;      /* [sema] */
};

enum stmt_kind {
	S_ASSIGN,    /* lhs op rhs: op is OP_EQ for '=', OP_ADD '+=', OP_SUB '-=';
		      * lhs is a field E_NAME or a map E_INDEX */
	S_SWAP,      /* swap lhs, rhs */
	S_PUSH,      /* push layer (vlan) */
	S_POP,       /* pop HEADER (vlan) */
	S_ENCAP,     /* encap layers */
	S_DECAP,     /* decap */
	S_SET_ADD,   /* set add key [timeout] */
	S_SET_DEL,   /* set del key */
};

struct ast_stmt {
	enum stmt_kind kind;
	struct xdpl_loc loc;
	enum binop op;
	struct ast_expr *lhs, *rhs;
	struct ast_layer **layers;   /* S_PUSH (1), S_ENCAP */
	int nlayers;
	const char *header;          /* S_POP */
	const char *set;             /* S_SET_ADD/DEL */
	struct ast_expr *key;
	struct xdpl_lit timeout;     /* LIT_DURATION, kind LIT_INT with u=0 if none */
	bool has_timeout;
	struct ast_set *set_ref;     /* [sema] */
};

struct ast_rule {
	const char *name;
	struct xdpl_loc loc;
	struct ast_expr *match;      /* NULL: always */
	struct ast_limit *limit;     /* NULL: none */
	struct ast_stmt **rewrite;   /* NULL/0: none */
	int nrewrite;
	bool has_rewrite;
	struct ast_verdict verdict;
	bool has_verdict;
	int index;                   /* [sema] position in rule order */
	bool always;                 /* [sema] match always holds (for warnings) */
};

struct ast_test {
	const char *name;
	struct xdpl_loc loc;
	struct ast_layer **packet;
	int npacket;
	struct ast_verdict expect;
	bool has_expect;
	const char *by;              /* expect ... by RULE (or "default") */
	struct xdpl_loc by_loc;
	struct ast_rule *by_rule;    /* [sema] NULL with by default or none */
	struct ast_layer **output;
	int noutput;
	bool has_output;
};

struct ast_const {
	const char *name;
	struct xdpl_loc loc;
	struct ast_expr *value;
	struct xdpl_lit folded;      /* [sema] the evaluated literal */
};

struct ast_import {
	const char *path;
	struct xdpl_loc loc;
};

/* ---------------------------------------------------------------- top level */

enum decl_kind {
	D_PROGRAM, D_IMPORT, D_CONST, D_HEADER, D_ALIAS, D_PARSER, D_SET,
	D_RULE, D_DEFAULT, D_TEST,
};

struct ast_decl {
	enum decl_kind kind;
	struct xdpl_loc loc;
	const char *program;         /* D_PROGRAM */
	struct ast_import *import;
	struct ast_const *konst;
	struct ast_header *header;   /* D_HEADER (also meta blocks) */
	struct ast_alias *alias;
	struct ast_state **states;   /* D_PARSER */
	int nstates;
	struct ast_set *set;
	struct ast_rule *rule;
	struct ast_verdict deflt;    /* D_DEFAULT */
	struct ast_test *test;
	bool from_stdlib;            /* declared by the standard library */
};

/* One parsed file: its declarations in source order. */
struct ast_file {
	const char *path;
	int file_id;
	struct ast_decl **decls;
	int ndecls;
};

/* Parse one file already registered with diag_add_source(). Errors are
 * reported through diag; the returned file holds what could be parsed
 * (error recovery at ';' and '}'), NULL only on a fatal error. */
struct ast_file *parse_file(struct arena *a, int file_id);

#endif
