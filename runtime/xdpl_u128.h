/* 128-bit values (ip6 addresses, and every narrower key or value widened to
 * them) and their byte layouts, shared by the compiler (lowering, the
 * packet builder, rule groups) and libxdpl (set elements): both sides must
 * write map keys and values byte for byte alike.
 *
 * Big-endian ("be"): as on the wire and in map keys, the last n bytes of v.
 * Host order ("host"): as the native integer of n bytes (1, 2, 4, 8; other
 * sizes: the first n bytes of the native 128-bit integer), as map values
 * are. Private to this repository (not installed). */
#ifndef XDPL_U128_H
#define XDPL_U128_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;

/* The low `bits` bits set (0..128). */
static inline u128 u128_mask(int bits)
{
	if (bits >= 128)
		return ~(u128)0;
	if (bits <= 0)
		return 0;
	return ((u128)1 << bits) - 1;
}

static inline void u128_put_be(uint8_t *p, size_t n, u128 v)
{
	for (size_t i = n; i-- > 0;) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline u128 u128_get_be(const uint8_t *p, size_t n)
{
	u128 v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static inline void u128_put_host(uint8_t *p, size_t n, u128 v)
{
	uint8_t tmp[16] = { 0 };
	switch (n) {
	case 1: { uint8_t x = (uint8_t)v; memcpy(tmp, &x, 1); break; }
	case 2: { uint16_t x = (uint16_t)v; memcpy(tmp, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(tmp, &x, 4); break; }
	case 8: { uint64_t x = (uint64_t)v; memcpy(tmp, &x, 8); break; }
	default: memcpy(tmp, &v, 16); break;
	}
	memcpy(p, tmp, n < 16 ? n : 16);
}

static inline u128 u128_get_host(const uint8_t *p, size_t n)
{
	switch (n) {
	case 1: return p[0];
	case 2: { uint16_t x; memcpy(&x, p, 2); return x; }
	case 4: { uint32_t x; memcpy(&x, p, 4); return x; }
	case 8: { uint64_t x; memcpy(&x, p, 8); return x; }
	default: { u128 x = 0; memcpy(&x, p, n < 16 ? n : 16); return x; }
	}
}

#endif
