/* The contents of one section of an ELF object in memory, without libelf
 * (runtime/elf_section.c): libxdpl reads .xdpl.meta with it, and so do the
 * standalone loaders, which may link nothing but libbpf. */
#ifndef XDPL_ELF_SECTION_H
#define XDPL_ELF_SECTION_H

#include <stddef.h>

/* Section name of a 64-bit ELF object (either byte order) of len bytes:
 * *data and *size point into obj. 0; -ENOENT if there is no such section;
 * -EINVAL if obj is not a well-formed 64-bit ELF object. */
int xdpl__elf_section(const void *obj, size_t len, const char *name, const unsigned char **data,
		      size_t *size);

#endif
