/* Code generation: rule IR -> LLVM IR (through the LLVM C API) -> BPF ELF
 * with BTF, .BTF.ext line info, BTF-defined maps, section "xdp", license GPL
 * and the ".xdpl.meta" section the runtime reads (runtime/xdpl_meta.h). */
#ifndef XDPL_CODEGEN_H
#define XDPL_CODEGEN_H

#include <stddef.h>

#include "ir.h"

enum codegen_emit { CODEGEN_OBJ, CODEGEN_LLVM, CODEGEN_ASM };

/* How rules are compiled (docs/design.md, "Rule code generation"): chosen
 * by the policy's size, or forced (for comparing the two). */
enum codegen_rules_mode { CODEGEN_RULES_AUTO, CODEGEN_RULES_SPEC, CODEGEN_RULES_RECORD };

struct codegen_opts {
	enum codegen_emit emit;
	int xdp_priority;       /* .xdp_run_config priority for libxdp (0: 50) */
	enum codegen_rules_mode rules; /* CODEGEN_RULES_SPEC: when the policy allows it */
};

/* Produce the requested output in a malloc'd buffer (*out, *out_len).
 * Returns 0, or -1 after printing the cause through diag; -E2BIG (also
 * printed) when the policy's code does not fit the BPF stack, which is
 * the policy's size, a user error. */
int codegen_emit(const struct ir_program *p, const struct codegen_opts *opts, void **out,
		 size_t *out_len);

#endif
