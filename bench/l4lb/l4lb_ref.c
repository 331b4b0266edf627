// SPDX-License-Identifier: GPL-2.0
/* Hand-written XDP L4 load balancer: the same logic as examples/l4lb.xdpl,
 * written as an XDP developer would, for bench/l4lb_bench.sh and as a
 * stand-in for the xdpl program in tests/e2e/l4lb.sh (L4LB_IMPL=c).
 *
 * eth -> ipv4 -> tcp/udp. Packets to VIP:80/443: the 5-tuple is looked up
 * in `flows` (LRU); a miss takes backends[hash % 16] (0.0.0.0 = empty slot:
 * drop) and remembers it in `flows`. The packet is then encapsulated in an
 * outer IPv4 header (IP-in-IP: src LB_ADDR, dst backend, ttl 64, id 1, DF
 * clear, tos 0, proto 4) and routed: bpf_fib_lookup on the outer header,
 * TTL - 1, MACs from the FIB, bpf_redirect. FIB blackhole / unreachable /
 * prohibit: drop; any other failure (no neighbour, not forwarded...): the
 * stack gets the (encapsulated) packet. Other packets to the VIP: drop;
 * everything else: pass.
 *
 * Maps (names, types, sizes and key layout as xdplc makes them):
 *   backends  array, key u32 slot, value __be32 address (16 slots)
 *   flows     lru_hash, key = 13 packed bytes (src, dst, sport, dport,
 *             proto, all big-endian), value __be32 backend (65536)
 * One difference: xdplc stores an ip4 map *value* as a host-order integer
 * (compiler/lower/ir.h), this program as the address bytes in network order.
 * The flow hash is the one xdplc generates for hash(...): MurmurHash3
 * x86_32, seed 0, over those 13 key bytes, so both programs pick the same
 * slot for the same flow (bench/l4lb_bench.sh compares their output).
 *
 * Build: clang-19 -O2 -g -target bpf -mcpu=v3 -c l4lb_ref.c -o l4lb_ref.o
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif

#define VIP     bpf_htonl(0x0ad20064)	/* 10.210.0.100 */
#define LB_ADDR bpf_htonl(0x0ad202fe)	/* 10.210.2.254 */
#define SLOTS   16

struct flow_key {
	__be32 src;
	__be32 dst;
	__be16 sport;
	__be16 dport;
	__u8 proto;
} __attribute__((packed));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, __be32);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, __be32);
} flows SEC(".maps");

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 murmur3_mix(__u32 k)
{
	k *= 0xcc9e2d51u;
	k = rotl32(k, 15);
	return k * 0x1b873593u;
}

/* MurmurHash3 x86_32, seed 0, of the 13 key bytes (blocks read
 * little-endian, as the reference implementation does on x86) */
static __always_inline __u32 flow_hash(const struct flow_key *k)
{
	__u32 h = 0, b;

	b = (__u32)k->src;		/* bytes 0..3, already in memory order */
	h ^= murmur3_mix(b);
	h = rotl32(h, 13) * 5 + 0xe6546b64u;
	b = (__u32)k->dst;		/* bytes 4..7 */
	h ^= murmur3_mix(b);
	h = rotl32(h, 13) * 5 + 0xe6546b64u;
	b = (__u32)k->sport | (__u32)k->dport << 16;	/* bytes 8..11 */
	h ^= murmur3_mix(b);
	h = rotl32(h, 13) * 5 + 0xe6546b64u;
	h ^= murmur3_mix(k->proto);	/* tail: byte 12 */
	h ^= sizeof(*k);
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* IP-in-IP: room for an outer header in front, Ethernet header moved to
 * the new start, outer IPv4 header written (checksum over its ten 16-bit
 * words). Returns the outer header, or NULL if the head could not grow. */
static __always_inline struct iphdr *encap_ipip(struct xdp_md *ctx, __be32 daddr, __u16 inner_len)
{
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return NULL;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data, *old = data + sizeof(struct iphdr);
	struct iphdr *outer = data + sizeof(*eth);

	if ((void *)(outer + 1) > data_end)
		return NULL;
	__builtin_memcpy(eth, old, sizeof(*eth));	/* 14 < 20: no overlap */

	__u16 tot = inner_len + sizeof(struct iphdr);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = 0;
	outer->tot_len = bpf_htons(tot);
	outer->id = bpf_htons(1);
	outer->frag_off = 0;
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = LB_ADDR;
	outer->daddr = daddr;

	__u32 sum = 0;
	__u16 *w = (__u16 *)outer;
#pragma unroll
	for (int i = 0; i < (int)(sizeof(*outer) / 2); i++)
		sum += w[i];
	outer->check = csum_fold(sum);
	return outer;
}

static __always_inline int route(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + sizeof(*eth);
	struct bpf_fib_lookup fib = {};

	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	if (iph->ttl <= 1)
		return XDP_PASS;		/* the stack sends time exceeded */
	fib.family = AF_INET;
	fib.tos = iph->tos;
	fib.l4_protocol = iph->protocol;
	fib.tot_len = bpf_ntohs(iph->tot_len);
	fib.ipv4_src = iph->saddr;
	fib.ipv4_dst = iph->daddr;
	fib.ifindex = ctx->ingress_ifindex;

	int rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return XDP_DROP;
	default:
		return XDP_PASS;
	}
	/* pointers again: the helper call invalidated them */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	iph = data + sizeof(*eth);
	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	/* ip_decrease_ttl */
	__u32 check = (__u32)iph->check + (__u32)bpf_htons(0x0100);
	iph->check = (__u16)(check + (check >= 0xffff));
	iph->ttl--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect(fib.ifindex, 0);
}

SEC("xdp")
int l4lb_ref(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + sizeof(*eth);

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (iph->daddr != VIP)
		return XDP_PASS;
	if (iph->ihl < 5)
		return XDP_DROP;

	/* ports: first fragments only, full TCP / UDP header present */
	struct flow_key key;
	void *l4 = (void *)iph + iph->ihl * 4;
	__be16 *ports = l4;

	if (iph->frag_off & bpf_htons(0x1fff))
		return XDP_DROP;
	if (iph->protocol == IPPROTO_TCP) {
		if (l4 + sizeof(struct tcphdr) > data_end)
			return XDP_DROP;
	} else if (iph->protocol == IPPROTO_UDP) {
		if (l4 + sizeof(struct udphdr) > data_end)
			return XDP_DROP;
	} else {
		return XDP_DROP;
	}
	if (ports[1] != bpf_htons(80) && ports[1] != bpf_htons(443))
		return XDP_DROP;

	key.src = iph->saddr;
	key.dst = iph->daddr;
	key.sport = ports[0];
	key.dport = ports[1];
	key.proto = iph->protocol;

	__u16 inner_len = bpf_ntohs(iph->tot_len);
	__be32 backend;
	__be32 *known = bpf_map_lookup_elem(&flows, &key);
	if (known) {
		backend = *known;
	} else {
		__u32 slot = flow_hash(&key) % SLOTS;
		__be32 *b = bpf_map_lookup_elem(&backends, &slot);
		if (!b || !*b)
			return XDP_DROP;
		backend = *b;
		bpf_map_update_elem(&flows, &key, &backend, BPF_ANY);
	}

	if (!encap_ipip(ctx, backend, inner_len))
		return XDP_ABORTED;
	return route(ctx);
}

char LICENSE[] SEC("license") = "GPL";
