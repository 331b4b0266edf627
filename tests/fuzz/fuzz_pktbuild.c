/* libFuzzer target for the packet builder (compiler/lower/pktbuild.c): the
 * input is a layer stack as written after `packet` in a test block
 * (`eth() / ip4(ttl=3) / udp(dport=53) / payload("x")`). It becomes both
 * the packet and the expected output of a test, so every layer, field
 * value, computed default (lengths, checksums) and payload form is built
 * through the front end and lowering, under ASan+UBSan.
 * Build: CMake option XDPL_LIBFUZZER (tests/fuzz/README.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static const char head[] = "program fuzz_pkt;\ntest \"t\" {\n    packet ";
static const char mid[] = ";\n    expect pass;\n    output ";
static const char tail[] = ";\n}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	/* Keep the layers on their own lines of the wrapper: a NUL or a
	 * newline inside them is the front end's to report. */
	size_t n = sizeof(head) - 1 + len + sizeof(mid) - 1 + len + sizeof(tail) - 1;
	uint8_t *src = malloc(n);
	if (!src)
		return 0;
	uint8_t *p = src;
	memcpy(p, head, sizeof(head) - 1), p += sizeof(head) - 1;
	memcpy(p, data, len), p += len;
	memcpy(p, mid, sizeof(mid) - 1), p += sizeof(mid) - 1;
	memcpy(p, data, len), p += len;
	memcpy(p, tail, sizeof(tail) - 1);
	fuzz_run_source(src, n, 0);
	free(src);
	return 0;
}
