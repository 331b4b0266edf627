/* The policy object of xdpl-loader-check (the loader's runtime built as a
 * program on its own): a file that is not an ELF object, so every command
 * that opens it must fail with one line (tests/unit/test_loader.c). */
#include <stddef.h>

const unsigned char xdpl_loader_object[] = "not an ELF object";
const size_t xdpl_loader_object_len = sizeof(xdpl_loader_object) - 1;
