#!/usr/bin/env bash
# Rewrites keep every checksum right (reference §12), checked by an independent
# implementation: `xdplc run POLICY --pcap IN --write OUT`, then Scapy
# recomputes the IPv4 header, TCP, UDP, ICMP and ICMPv6 checksums of every
# output packet from scratch (chksum deleted, packet rebuilt) and compares.
# A UDP checksum of 0 (none, IPv4) must stay 0. push/pop vlan are in the
# mix. The rewrites themselves are checked too (fields changed as the
# policy says, tags pushed and popped).
set -u
xdplc=$1 root=$2
source "$root/tests/lib.sh"
need_root
PY=/usr/bin/python3
"$PY" -c 'import scapy' 2>/dev/null || fail "needs Scapy for $PY"

cat >"$XDPL_TMP/p.xdpl" <<'XDPL'
program csums;

rule untag_ping {
    match vlan and icmp.type == 8;
    rewrite { pop vlan; }
    verdict pass;
}

rule tag_udp6 {
    match ip6 and udp;
    rewrite { udp.sport = 4242; push vlan(id=42, pcp=2); }
    verdict pass;
}

rule answer_ping {
    match icmp.type == 8;
    rewrite {
        swap eth.src, eth.dst;
        swap ip4.src, ip4.dst;
        icmp.type = 0;
    }
    verdict tx;
}

rule answer_ping6 {
    match icmp6.type == 128;
    rewrite { swap ip6.src, ip6.dst; icmp6.type = 129; ip6.hlim -= 1; }
    verdict tx;
}

rule nat4 {
    match ip4.src in 10.0.0.0/8;
    rewrite { ip4.src = 203.0.113.77; ip4.ttl -= 1; ip4.dscp = 46; }
    verdict pass;
}

rule ports_tcp {
    match tcp;
    rewrite { tcp.dport = 8443; tcp.sport += 1000; tcp.flags.ack = true; }
    verdict pass;
}

rule ports_udp {
    match udp;
    rewrite { udp.sport = 5353; udp.dport -= 1; }
    verdict pass;
}

default pass;
XDPL

"$PY" - "$XDPL_TMP/in.pcap" <<'PY' || fail "writing the capture"
import random, sys
from scapy.all import Ether, Dot1Q, IP, IPv6, TCP, UDP, ICMP, ICMPv6EchoRequest, Raw, wrpcap
random.seed(7)
def pl():
    return Raw(bytes(random.randrange(256) for _ in range(random.randrange(0, 40))))
def a4():
    return "%d.%d.%d.%d" % (random.choice([10, 192, 198, 203]), random.randrange(256), random.randrange(256), random.randrange(1, 255))
def a6():
    return "2001:db8:%x::%x" % (random.randrange(65536), random.randrange(1, 65536))
pk = []
for i in range(40):
    e = Ether(src="02:00:00:00:00:%02x" % i, dst="02:00:00:00:01:%02x" % i)
    if i % 4 == 0:
        e = e / Dot1Q(vlan=random.randrange(1, 4095))
    pk.append(e / IP(src=a4(), dst=a4(), ttl=random.randrange(1, 256)) / ICMP(type=8, id=i, seq=i * 3) / pl())
    pk.append(e / IP(src=a4(), dst=a4(), ihl=random.choice([5, 6]), options=[]) / TCP(sport=random.randrange(65536), dport=random.randrange(65536), seq=random.randrange(1 << 32), flags="S") / pl())
    pk.append(e / IP(src=a4(), dst=a4()) / UDP(sport=random.randrange(65536), dport=random.randrange(65536)) / pl())
    u = UDP(sport=random.randrange(65536), dport=random.randrange(1, 65536), chksum=0)
    pk.append(e / IP(src=a4(), dst=a4()) / u / pl())
    pk.append(e / IPv6(src=a6(), dst=a6(), hlim=random.randrange(1, 256)) / ICMPv6EchoRequest(id=i, seq=i) / pl())
    pk.append(e / IPv6(src=a6(), dst=a6()) / TCP(sport=random.randrange(65536), dport=random.randrange(65536), flags="SA") / pl())
    pk.append(e / IPv6(src=a6(), dst=a6()) / UDP(sport=random.randrange(65536), dport=random.randrange(1, 65536)) / pl())
# Scapy computes the checksums of the input once, when writing
for p in pk:
    if IP in p and p[IP].ihl == 6:
        p[IP].options = [b"\x01\x01\x01\x01"]
wrpcap(sys.argv[1], [Ether(bytes(p)) for p in pk])
PY

"$xdplc" run "$XDPL_TMP/p.xdpl" --pcap "$XDPL_TMP/in.pcap" --write "$XDPL_TMP/out.pcap" >"$XDPL_TMP/run.txt" \
    || { cat "$XDPL_TMP/run.txt"; fail "xdplc run"; }

"$PY" - "$XDPL_TMP/in.pcap" "$XDPL_TMP/out.pcap" <<'PY' || fail "checksums"
import sys
from scapy.all import rdpcap, Ether, Dot1Q, IP, IPv6, TCP, UDP, ICMP, ICMPv6EchoRequest, ICMPv6EchoReply
ins, outs = rdpcap(sys.argv[1]), rdpcap(sys.argv[2])
assert len(ins) == len(outs), (len(ins), len(outs))
bad = 0
checked = {}
def fname(layer):
    return "cksum" if layer.__name__.startswith("ICMPv6") else "chksum"
def recomputed(p, layer):
    q = Ether(bytes(p))
    delattr(q[layer], fname(layer))
    return getattr(Ether(bytes(q))[layer], fname(layer))
for n, (i, o) in enumerate(zip(ins, outs)):
    i, o = Ether(bytes(i)), Ether(bytes(o))
    for layer in (IP, TCP, UDP, ICMP, ICMPv6EchoReply, ICMPv6EchoRequest):
        if layer not in o:
            continue
        got = getattr(o[layer], fname(layer))
        if layer is UDP and IP in o and i[UDP].chksum == 0:
            ok = got == 0
            want = 0
        else:
            want = recomputed(o, layer)
            ok = got == want
        checked[layer.__name__] = checked.get(layer.__name__, 0) + 1
        if not ok:
            bad += 1
            print("packet %d: %s checksum %#06x, recomputed %#06x: %s" % (n + 1, layer.__name__, got, want, o.summary()))
    # the rewrites happened
    try:
        if Dot1Q in i and ICMP in i and i[ICMP].type == 8:
            assert Dot1Q not in o and o.type == 0x0800 and bytes(o[IP]) == bytes(i[IP])
        elif IPv6 in i and UDP in i:
            assert o[Dot1Q].vlan == 42 and o[Dot1Q].prio == 2 and o[UDP].sport == 4242
            assert o[IPv6].src == i[IPv6].src and bytes(o[UDP].payload) == bytes(i[UDP].payload)
            if Dot1Q in i:
                assert o[Dot1Q].payload[Dot1Q].vlan == i[Dot1Q].vlan
        elif ICMP in i and i[ICMP].type == 8:
            assert o[ICMP].type == 0 and o[IP].src == i[IP].dst and o[IP].dst == i[IP].src
            assert o.src == i.dst and o.dst == i.src
        elif ICMPv6EchoRequest in i:
            assert ICMPv6EchoReply in o and o[IPv6].src == i[IPv6].dst and o[IPv6].hlim == (i[IPv6].hlim - 1) % 256
        else:
            if IP in i and i[IP].src.startswith("10."):
                assert o[IP].src == "203.0.113.77" and o[IP].ttl == (i[IP].ttl - 1) % 256 and o[IP].tos >> 2 == 46
            elif TCP in i:
                assert o[TCP].dport == 8443 and o[TCP].sport == (i[TCP].sport + 1000) % 65536 and o[TCP].flags & 0x10
            elif UDP in i:
                assert o[UDP].sport == 5353 and o[UDP].dport == (i[UDP].dport - 1) % 65536
    except (AssertionError, IndexError) as e:
        bad += 1
        print("packet %d: not rewritten as expected: %s -> %s" % (n + 1, i.summary(), o.summary()))
print("checked:", ", ".join("%s %d" % kv for kv in sorted(checked.items())))
sys.exit(1 if bad else 0)
PY
echo "ok checksums"
