/* Hand-written equivalent of bench/acl/acl.xdpl, the way an engineer writes
 * XDP C today: parse Ethernet (with up to two VLAN tags), IPv4 (options
 * skipped by ihl), TCP/UDP; LPM blocklist; per-rule packet/byte counters. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u8);
} blocklist SEC(".maps");

enum { R_BLOCK, R_NULL, R_SYNFIN, R_SSH, R_WEB, R_DNS, R_DEFAULT, R_COUNT };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, R_COUNT);
	__type(key, __u32);
	__type(value, struct counter);
} xdpl_stats SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

static __always_inline int count(__u32 rule, __u64 len, int action)
{
	struct counter *c = bpf_map_lookup_elem(&xdpl_stats, &rule);
	if (c) {
		c->packets++;
		c->bytes += len;
	}
	return action;
}

SEC("xdp")
int acl(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 len = end - data;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return count(R_DEFAULT, len, XDP_DROP);
	__u16 proto = eth->h_proto;
	void *p = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *v = p;
		if ((void *)(v + 1) > end)
			return count(R_DEFAULT, len, XDP_DROP);
		proto = v->proto;
		p = v + 1;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return count(R_DEFAULT, len, XDP_DROP);
	struct iphdr *ip = p;
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return count(R_DEFAULT, len, XDP_DROP);
	struct lpm_key key = { .prefixlen = 32 };
	__builtin_memcpy(key.addr, &ip->saddr, 4);
	if (bpf_map_lookup_elem(&blocklist, &key))
		return count(R_BLOCK, len, XDP_DROP);
	void *l4 = p + ip->ihl * 4;
	int first_frag = (ip->frag_off & bpf_htons(0x1fff)) == 0;
	if (ip->protocol == IPPROTO_TCP && first_frag) {
		struct tcphdr *t = l4;
		if ((void *)(t + 1) > end)
			return count(R_DEFAULT, len, XDP_DROP);
		__u8 flags = ((__u8 *)t)[13];
		if (flags == 0)
			return count(R_NULL, len, XDP_DROP);
		if ((flags & 0x03) == 0x03)
			return count(R_SYNFIN, len, XDP_DROP);
		__u16 dport = bpf_ntohs(t->dest);
		if (dport == 22 && (ip->saddr & bpf_htonl(0xff000000)) == bpf_htonl(0x0a000000))
			return count(R_SSH, len, XDP_PASS);
		if (dport == 80 || dport == 443 || (dport >= 8000 && dport <= 8100))
			return count(R_WEB, len, XDP_PASS);
	} else if (ip->protocol == IPPROTO_UDP && first_frag) {
		struct udphdr *u = l4;
		if ((void *)(u + 1) > end)
			return count(R_DEFAULT, len, XDP_DROP);
		if (u->dest == bpf_htons(53))
			return count(R_DNS, len, XDP_PASS);
	}
	return count(R_DEFAULT, len, XDP_DROP);
}

char LICENSE[] SEC("license") = "GPL";
