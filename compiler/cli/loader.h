/* `xdplc build --loader OUT.c`: a standalone C loader for a compiled policy.
 * The C file embeds the object and builds with only
 *   cc OUT.c $(pkg-config --cflags --libs libbpf)
 * and offers `attach IFNAME [--mode native|skb]`, `detach IFNAME`,
 * `stats IFNAME` and `info`, pinning in the layout of runtime/xdpl_meta.h. */
#ifndef XDPL_LOADER_H
#define XDPL_LOADER_H

#include <stddef.h>
#include <stdio.h>

#include "ir.h"

/* Write the loader for program p, compiled to obj (obj_len bytes, the ELF
 * object from codegen_emit: it must have the .xdpl.meta section), to out.
 * Returns 0, or -1 with errno set (EINVAL: obj is not a codegen object;
 * ENOMEM; a write error of out). */
int loader_write(FILE *out, const struct ir_program *p, const void *obj, size_t obj_len);

/* s (NULL: "") as a C string literal, quotes included, safe in any C
 * dialect: '"', '\\' and '?' (trigraphs) escaped, \n and \t by name, every
 * other byte outside printable ASCII as a 3-digit octal escape. The result
 * is pure printable ASCII and round-trips to the same bytes. malloc'd;
 * NULL on out of memory. */
char *loader_c_string(const char *s);

/* s made safe as text inside a block comment: the same escapes, and a
 * backslash between '*' and '/' (either order) so it can neither close the
 * comment nor open a nested one. malloc'd; NULL on out of memory. */
char *loader_c_comment(const char *s);

#endif
