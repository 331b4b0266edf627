/* The packet builder's internal API (compiler/lower/pktbuild.c), shared with
 * lowering. The public entry point, lower_build_packet(), is in lower.h.
 *
 * The builder knows no protocol: everything it does comes from the header
 * layouts, their declared defaults and the parse graph of the checked AST
 * (docs/design.md, "Protocols live in XDPL"). */
#ifndef XDPL_PKTBUILD_H
#define XDPL_PKTBUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "ir.h"
#include "sema.h"

/* The numeric value of a scalar literal: ints and bools as they are, ip4 and
 * mac as big-endian numbers (ip4 10.0.0.1 = 0x0A000001), ip6 with hi = the
 * first 8 bytes big-endian; prefixes give their address. False for strings,
 * hex strings, rates and durations. */
bool pkt_lit_value(const struct xdpl_lit *l, struct ir_u128 *out);

/* Width in bits of a literal's natural type (ip4 32, mac 48, ip6 128,
 * bool 1, prefix: its address width); 0 for untyped integers and others. */
int pkt_lit_bits(const struct xdpl_lit *l);

/* Evaluate a constant expression: literals, consts (ast_const.folded),
 * parentheses and the arithmetic/bitwise operators, in wrapping 128-bit
 * arithmetic (so `(ihl - 5) * 4` with ihl 3 is -8 when read as int64).
 * With lay/vals given, names of lay's fields read vals[field->index].
 * False (no diagnostic) when the expression is not constant. */
bool pkt_eval(const struct ast_expr *e, const struct ast_header *lay, const struct ir_u128 *vals,
	      struct ir_u128 *out);

/* The layout header of an instance (vlan2 -> vlan); h itself if none. */
const struct ast_header *pkt_layout(const struct ast_header *h);

/* The select-derived values for a layer of header `from` followed by a
 * layer of header `to`: the parse-graph path from a state extracting `from`
 * to one extracting `to` (exact instance first, then any instance with the
 * same layout) through states that extract nothing, taking arms in order.
 * For each select on the path whose key is a field of `from`, the arm's
 * first value (ranges: lo) is a constraint. `proto` is the value of the last
 * value-carrying arm on the path (the protocol number that selects `to`). */
struct pkt_path {
	int nsteps;
	struct {
		const struct ast_field *field; /* a field of from's layout */
		struct ir_u128 value;
	} steps[32];
	bool has_proto;
	struct ir_u128 proto;
};
bool pkt_find_path(const struct sema_program *p, const struct ast_header *from,
		   const struct ast_header *to, struct pkt_path *out);

/* A field default that the builder computes: total_len(), payload_len(),
 * checksum(), checksum(payload), checksum(pseudo) (a trailing `optional`
 * argument aside). PKT_B_NONE for other defaults; *bad for an unknown
 * call. */
enum pkt_builtin { PKT_B_NONE, PKT_B_TOTAL_LEN, PKT_B_PAYLOAD_LEN, PKT_B_CSUM, PKT_B_CSUM_PAYLOAD, PKT_B_CSUM_PSEUDO };
enum pkt_builtin pkt_builtin_of(const struct ast_expr *d, bool *bad);

/* RFC 1071 internet checksum of buf with `sum` (host-order 32-bit partial
 * sum of 16-bit big-endian words) added; returns the final folded,
 * complemented 16-bit value. */
uint16_t pkt_checksum(const uint8_t *buf, size_t len, uint32_t sum);

#endif
