#!/usr/bin/env bash
# encap/decap (reference §12) checked by an independent implementation, Scapy:
# `xdplc run POLICY --pcap IN --write OUT` on a Scapy-built capture, then
# tests/kernel/lib/encap_scapy.py checks every output packet:
#  - every IPv4 header, TCP, UDP, ICMP and ICMPv6 checksum, outer and inner,
#    deleted and recomputed by Scapy, equals the one in the packet (the
#    outer UDP checksum of VXLAN too: it covers the whole inner frame);
#  - IPv4 total length, IPv6 payload length and UDP length, recomputed;
#  - protocol numbers: outer proto/next header 4 or 41 by the inner family
#    (IP-in-IP), 47 with GRE proto 0x0800/0x86dd, 17 for VXLAN; the EtherType
#    (or the last VLAN tag's) of the outer family;
#  - outer addresses, TTL/hop limit (64 or the given one), the defaults of
#    the other outer fields (as Scapy's), GRE options, UDP ports, VNI;
#  - the inner bytes are exactly the original (IP-in-IP/GRE: the L3 packet;
#    VXLAN: the whole frame, tags included);
#  - decap: the output is the inner packet behind the outer frame's link
#    header(s) with the inner family's EtherType (VXLAN: the inner frame);
#  - and the whole output equals the packet Scapy builds from the same
#    description.
# Inner packets are realistic TCP/UDP/ICMP/ICMPv6 with Scapy's checksums,
# payloads of 0..1400 bytes (odd lengths included), IPv4/TCP options, 0, 1
# or 2 VLAN tags (0x8100 and 0x88a8 outer).
set -u
xdplc=$1 root=$2
source "$root/tests/lib.sh"
need_root
PY=/usr/bin/python3
"$PY" -c 'import scapy' 2>/dev/null || fail "needs Scapy for $PY"
HELPER=$root/tests/kernel/lib/encap_scapy.py

# Decap rules first (keyed by the outer destination or the VNI), then one
# encap rule per eth.dst 02:00:00:00:ee:NN.
cat >"$XDPL_TMP/p.xdpl" <<'XDPL'
program encap_scapy;

rule decap4 {
    match ip4.dst == 198.51.100.1;
    rewrite { decap; }
    verdict tx;
}
rule decap6 {
    match ip6.dst == 2001:db8::100;
    rewrite { decap; }
    verdict tx;
}
rule decap_vxlan {
    match vxlan.vni == 9;
    rewrite { decap; }
    verdict tx;
}
rule ipip4 {
    match eth.dst == 02:00:00:00:ee:01;
    rewrite { encap ip4(src=192.0.2.1, dst=192.0.2.2); }
    verdict tx;
}
rule ipip6 {
    match eth.dst == 02:00:00:00:ee:02;
    rewrite { encap ip6(src=2001:db8::1, dst=2001:db8::2, hlim=17); }
    verdict tx;
}
rule gre4 {
    match eth.dst == 02:00:00:00:ee:03;
    rewrite { encap ip4(src=192.0.2.1, dst=192.0.2.3, ttl=32) / gre(); }
    verdict tx;
}
rule gre_key {
    match eth.dst == 02:00:00:00:ee:04;
    rewrite { encap ip4(src=192.0.2.1, dst=192.0.2.8) / gre(c=0, k=1, s=1, options=hex "0000002a00000007"); }
    verdict tx;
}
rule vxlan4 {
    match eth.dst == 02:00:00:00:ee:05;
    rewrite { encap ip4(src=192.0.2.1, dst=192.0.2.4) / udp(sport=49152, dport=4789) / vxlan(vni=77); }
    verdict tx;
}
rule vxlan6 {
    match eth.dst == 02:00:00:00:ee:06;
    rewrite { encap ip6(src=2001:db8::1, dst=2001:db8::5) / udp(sport=40000, dport=4789) / vxlan(vni=0x123456); }
    verdict tx;
}
rule vxlan6_eth {
    match eth.dst == 02:00:00:00:ee:07;
    rewrite {
        encap eth(src=02:00:00:00:00:01, dst=02:00:00:00:00:02) / ip6(src=2001:db8::1, dst=2001:db8::7)
              / udp(sport=49152, dport=4789) / vxlan(vni=4242);
    }
    verdict tx;
}
rule reflect4 {
    match eth.dst == 02:00:00:00:ee:08 and ip4;
    rewrite { encap ip4(src=ip4.dst, dst=ip4.src, ttl=ip4.ttl, id=ip4.id ^ 0x5555); }
    verdict tx;
}
rule reflect6 {
    match eth.dst == 02:00:00:00:ee:08 and ip6;
    rewrite { encap ip6(src=ip6.dst, dst=ip6.src, hlim=ip6.hlim); }
    verdict tx;
}
rule gre6 {
    match eth.dst == 02:00:00:00:ee:09;
    rewrite { encap ip6(src=2001:db8::1, dst=2001:db8::9) / gre(); }
    verdict tx;
}
default pass;
XDPL

"$PY" "$HELPER" gen "$XDPL_TMP/in.pcap" || fail "writing the capture with Scapy"

"$xdplc" run "$XDPL_TMP/p.xdpl" --pcap "$XDPL_TMP/in.pcap" --write "$XDPL_TMP/out.pcap" --json \
    >"$XDPL_TMP/run.json" 2>"$XDPL_TMP/run.err" \
    || { cat "$XDPL_TMP/run.err" "$XDPL_TMP/run.json"; fail "xdplc run"; }

"$PY" "$HELPER" check "$XDPL_TMP/in.pcap" "$XDPL_TMP/out.pcap" "$XDPL_TMP/run.json" \
    || fail "encap/decap outputs do not check out with Scapy (see above)"
echo "ok encap_scapy"
