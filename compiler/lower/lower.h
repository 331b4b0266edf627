/* Lowering: checked AST -> rule IR (ir.h). Also builds the bytes of every
 * test packet and expected output (reference §14) from the header layouts and
 * their declared defaults, so codegen and the runtime never see layers. */
#ifndef XDPL_LOWER_H
#define XDPL_LOWER_H

#include "ir.h"
#include "sema.h"

/* Switches for comparing and debugging (the CLI sets them; all false is
 * what `xdplc build` does). */
struct lower_opts {
	bool no_prune;      /* keep parse states no rule reads (lower_parse.c) */
	bool no_regroup;    /* no rule groups: every rule is tested on its own */
	bool no_classify;   /* rule groups of one field or tuple only, no classifier */
};

/* Returns NULL after reporting errors through diag (e.g. a feature whose
 * code generation is not supported yet, at its location). opts may be
 * NULL (all false); lower_program() is lower_program_opts() without. */
struct ir_program *lower_program_opts(struct arena *a, const struct sema_program *p,
				      const struct lower_opts *opts);
struct ir_program *lower_program(struct arena *a, const struct sema_program *p);

/* Build the bytes of a layer stack (test packet, output, encap template).
 * Exposed for unit tests. Returns 0, or -1 after a diag error. */
int lower_build_packet(struct arena *a, const struct sema_program *p,
		       struct ast_layer **layers, int nlayers, uint8_t **out, size_t *out_len);

#endif
