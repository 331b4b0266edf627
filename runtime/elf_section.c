/* One section of a 64-bit ELF object in memory (see elf_section.h). Every
 * offset and size is checked against the buffer before it is used. */
#include "elf_section.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define SHT_STRTAB_ 3
#define SHT_NOBITS_ 8
#define SHF_COMPRESSED_ 0x800

struct elf_view {
	const unsigned char *p;
	size_t len;
	bool big; /* ELFDATA2MSB */
};

static uint64_t rd(const struct elf_view *e, uint64_t off, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | e->p[off + (uint64_t)(e->big ? i : n - 1 - i)];
	return v;
}

/* [off, off + size) lies inside the object. */
static bool inside(const struct elf_view *e, uint64_t off, uint64_t size)
{
	return off <= e->len && size <= e->len - off;
}

int xdpl__elf_section(const void *obj, size_t len, const char *name, const unsigned char **data,
		      size_t *size)
{
	struct elf_view e = { obj, len, false };
	if (!obj || len < 64 || memcmp(obj, "\177ELF", 4) != 0 || e.p[4] != 2 /* ELFCLASS64 */ ||
	    (e.p[5] != 1 && e.p[5] != 2))
		return -EINVAL;
	e.big = e.p[5] == 2;
	/* Section headers are Elf64_Shdr (64 bytes) whatever e_shentsize says,
	 * as libelf (and so libbpf) reads them. */
	uint64_t shoff = rd(&e, 0x28, 8), shentsize = 64, shnum = rd(&e, 0x3c, 2);
	uint64_t shstrndx = rd(&e, 0x3e, 2);
	if (shnum == 0 || shstrndx >= shnum || !inside(&e, shoff, shnum * shentsize))
		return -EINVAL;
	uint64_t strsh = shoff + shstrndx * shentsize;
	uint64_t stroff = rd(&e, strsh + 0x18, 8), strsize = rd(&e, strsh + 0x20, 8);
	if (rd(&e, strsh + 4, 4) != SHT_STRTAB_ || (rd(&e, strsh + 8, 8) & SHF_COMPRESSED_) ||
	    !inside(&e, stroff, strsize))
		return -EINVAL;
	size_t nlen = strlen(name);
	for (uint64_t i = 1; i < shnum; i++) { /* section 0 is reserved */
		uint64_t sh = shoff + i * shentsize, noff = rd(&e, sh, 4);
		if (noff >= strsize || strsize - noff < nlen + 1 ||
		    memcmp(e.p + stroff + noff, name, nlen + 1) != 0)
			continue;
		uint64_t off = rd(&e, sh + 0x18, 8), sz = rd(&e, sh + 0x20, 8);
		if (rd(&e, sh + 4, 4) == SHT_NOBITS_)
			continue; /* no contents in the file */
		if (!inside(&e, off, sz))
			return -EINVAL;
		*data = e.p + off;
		*size = (size_t)sz;
		return 0;
	}
	return -ENOENT;
}
