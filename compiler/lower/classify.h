/* Multi-field classification (classify.c): a run of rules that each test
 * several fields with prefixes, ranges and exact values becomes decision
 * trees over the rules' boxes, stored as one constant blob that codegen
 * (codegen_classify.c) walks with straight-line code.
 *
 * Dimensions: each key a rule tests (a header field, a meta value or a
 * coalesce such as l4.dport) is one dimension of at most 64 bits; an ip6
 * key is two (its first and its last 8 bytes), so a 128-bit prefix is a
 * box too. A value that cannot be read is 0 with its dimension's "have"
 * bit clear; a rule whose atom reads a dimension needs that bit.
 *
 * Blob layout (all host order; offsets in bytes):
 *   nodes  u64[nnodes]  at 0: mask (bits 48-63; 0: a leaf), shift (40-47),
 *                       dim (32-39) or, for a leaf, its rule count,
 *                       base (0-31): first child node or first list entry.
 *                       Child = base + ((value[dim] >> shift) & mask).
 *   lists  u32[nlist]   at list_off: rule positions in the run, ascending
 *                       within a leaf (the first that matches wins there).
 *   rules  at rules_off, rec_size bytes each: per dimension lo and
 *          hi - lo (dim_bytes[d] each, at dim_off[d]), then u32 need
 *          and u32 IR_GROUP_VALUE(slot, action) at rec_size - 8.
 * Trees are walked in order of the first rule they hold; a walk stops
 * early once the best rule found comes before a tree's first rule. */
#ifndef XDPL_CLASSIFY_H
#define XDPL_CLASSIFY_H

#include "arena.h"
#include "ir.h"

#define CLS_MAX_DIMS 8
#define CLS_MAX_TREES 8

struct ir_cls_dim {
	struct ir_val *key;
	int part;          /* ip6 keys: 0 = bytes 0-7, 1 = bytes 8-15; else 0 */
	int bits;          /* width of the dimension, <= 64 */
};

struct ir_cls_tree {
	int root;          /* node index */
	int first;         /* smallest rule position it holds */
	int depth;         /* node levels on the longest path, leaf included */
	int max_leaf;      /* most rules in one leaf */
	int nrules;        /* rules entered (each once, however replicated) */
	int nnodes, nleaves;
	long nentries;     /* list entries of its leaves */
};

struct ir_classifier {
	int ndims;
	struct ir_cls_dim dims[CLS_MAX_DIMS];
	int dim_bytes[CLS_MAX_DIMS], dim_off[CLS_MAX_DIMS];
	int rec_size;
	int nrules;        /* the run's rules, by position */
	int ntrees;
	struct ir_cls_tree trees[CLS_MAX_TREES];
	uint8_t *blob;
	size_t blob_size;
	int nnodes, nlist;
	size_t list_off, rules_off;
	double build_ms;
};

/* Can rule r be classified (alone)? */
bool cls_rule_ok(const struct ir_rule *r);

/* Rules [first, first + n) as a classifier, or NULL when they do not fit
 * one (too many dimensions, leaves that would not split). */
struct ir_classifier *cls_build(struct arena *a, const struct ir_program *ir, int first, int n);

/* The longest run of classifiable rules from `first` whose keys fit in
 * CLS_MAX_DIMS dimensions (0: rule `first` is not classifiable). */
int cls_run_length(const struct ir_program *ir, int first);

/* `xdplc build --explain`: rule groups and classifiers, their sizes and
 * the estimated worst-case work per packet. */
void ir_explain(FILE *f, const struct ir_program *ir);

#endif
