#!/usr/bin/env bash
# Issue 11's rewrite semantics against Scapy (reference §7, §12), in both code
# generation modes: arithmetic in the wider operand's width with wrapping;
# every checksum covering changed bytes kept right, outer and inner (VXLAN:
# the outer UDP checksum covers the inner IPv4 header and its checksum; a
# zero IPv4 UDP checksum stays 0); an address rewrite whose covering
# checksum lies in a header the parser did not reach (TCP behind 5 IPv6
# extension headers, a tunnel's inner TCP/UDP) does not match. Scapy
# builds the packets, applies the expected rewrite itself and recomputes
# the checksums from scratch; the output of `xdplc run --write` must equal
# those bytes, and the verdicts the expected ones. Random ports, TTLs,
# addresses and payloads (seeded) around the hand-picked edge cases.
set -u
xdplc=$1 root=$2
source "$root/tests/lib.sh"
need_root
PY=/usr/bin/python3
"$PY" -c 'import scapy' 2>/dev/null || fail "needs Scapy for $PY"

cat >"$XDPL_TMP/p.xdpl" <<'XDPL'
program rwsem;
rule width      { match tcp.dport == 1001; rewrite { tcp.seq = tcp.sport - 1; } verdict tx; }
rule width_m    { match tcp.sport - 1 > 0xffff; verdict drop; }
rule nested     { match tcp.dport == 1002; rewrite { tcp.ack_seq = (ip4.ttl - 2) + tcp.sport; ip4.id = ip4.ttl << 4; } verdict tx; }
rule inner_ttl  { match vxlan and udp.sport == 7; rewrite { ip4_inner.ttl -= 1; } verdict tx; }
rule inner_nat  { match vxlan and udp.sport == 8; rewrite { ip4_inner.dst = 10.9.9.9; } verdict tx; }
rule nat6       { match ip6.dst == 2001:db8::2; rewrite { ip6.src = 2001:db8::99; } verdict tx; }
default pass;
XDPL
# the same policy past 64 rules: the record code generation mode
{
    sed '/^default/d' "$XDPL_TMP/p.xdpl"
    for i in $(seq 1 70); do
        echo "rule pad$i { match ip4.src == 198.18.$i.1 and tcp.dport == $((20000 + i)); verdict drop; }"
    done
    echo "default pass;"
} >"$XDPL_TMP/p_record.xdpl"

"$PY" - "$XDPL_TMP" <<'PY' || fail "writing the captures"
import random, sys, pickle
from scapy.all import Ether, IP, IPv6, IPv6ExtHdrDestOpt, TCP, UDP, ICMP, Raw, wrpcap
from scapy.layers.vxlan import VXLAN
r = random.Random(11)
def pl():
    return Raw(bytes(r.randrange(256) for _ in range(r.randrange(0, 30))))
def a4(): return "10.%d.%d.%d" % (r.randrange(256), r.randrange(256), r.randrange(1, 255))
def fresh(p):
    """p with every checksum and length computed by Scapy"""
    return Ether(bytes(p))
def recompute(p, keep_udp0=False):
    q = p.copy()
    for l in (IP, TCP, UDP, ICMP):
        k = 1
        while q.getlayer(l, k) is not None:
            x = q.getlayer(l, k)
            if not (l is UDP and keep_udp0 and x.chksum == 0):
                del x.chksum
            k += 1
    return fresh(q)
cases = []   # (input, expected output bytes or None for unchanged, verdict)
for i in range(12):
    sport = [0, 1, 65535][i] if i < 3 else r.randrange(65536)
    p = fresh(Ether() / IP(src=a4(), dst=a4()) / TCP(sport=sport, dport=1001, seq=r.randrange(1 << 32)) / pl())
    o = p.copy(); o[TCP].seq = (sport - 1) % 65536
    cases.append((p, recompute(o), "tx"))
for v6 in (False, True):
    l3 = IPv6() if v6 else IP()
    p = fresh(Ether() / l3 / TCP(sport=0, dport=80))
    cases.append((p, None, "pass"))
for i in range(8):
    ttl = [0, 1, 2][i] if i < 3 else r.randrange(256)
    sport = r.randrange(65536)
    p = fresh(Ether() / IP(ttl=ttl) / TCP(sport=sport, dport=1002) / pl())
    o = p.copy()
    o[TCP].ack = (((ttl - 2) % 256) + sport) % 65536
    o[IP].id = (ttl << 4) % 256
    cases.append((p, recompute(o), "tx"))
for i in range(12):
    zero = i % 3 == 2
    outer = IPv6(src="2001:db8::1") if i % 4 == 1 else IP(src=a4())
    inner = IP(src=a4(), dst=a4(), ttl=r.randrange(256))
    l4 = [TCP(dport=r.randrange(65536)), UDP(dport=r.randrange(65536)), ICMP()][i % 3]
    u = UDP(sport=7, dport=4789, chksum=0) if zero and IP in outer else UDP(sport=7, dport=4789)
    p = fresh(Ether() / outer / u / VXLAN(flags=8, vni=r.randrange(1 << 24)) / Ether() / inner / l4 / pl())
    o = p.copy(); o.getlayer(IP, 1 if IPv6 in o else 2).ttl = (inner.ttl - 1) % 256
    cases.append((p, recompute(o, keep_udp0=zero), "tx"))
for i in range(9):
    inner = IP(src=a4(), dst=a4())
    l4 = [TCP(), UDP(dport=99), ICMP()][i % 3]
    p = fresh(Ether() / IP(src=a4()) / UDP(sport=8, dport=4789) / VXLAN(flags=8, vni=1) / Ether() / inner / l4 / pl())
    if i % 3 == 2:
        o = p.copy(); o.getlayer(IP, 2).dst = "10.9.9.9"
        cases.append((p, recompute(o), "tx"))
    else:
        cases.append((p, None, "pass"))        # inner TCP/UDP not reached
for n in range(3, 7):
    ext = Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2")
    for _ in range(n):
        ext = ext / IPv6ExtHdrDestOpt()
    p = fresh(ext / TCP(sport=r.randrange(65536), dport=80) / pl())
    if n <= 4:
        o = p.copy(); o[IPv6].src = "2001:db8::99"
        cases.append((p, recompute(o), "tx"))
    else:
        cases.append((p, None, "pass"))        # behind more than 4: not reached
wrpcap(sys.argv[1] + "/in.pcap", [c[0] for c in cases])
with open(sys.argv[1] + "/want.pkl", "wb") as f:
    pickle.dump([(bytes(c[0]), bytes(c[1]) if c[1] is not None else None, c[2]) for c in cases], f)
PY

check() {
    local pol=$1 mode=$2
    "$xdplc" run "$pol" --pcap "$XDPL_TMP/in.pcap" --write "$XDPL_TMP/out_$mode.pcap" --json \
        >"$XDPL_TMP/run_$mode.json" || { cat "$XDPL_TMP/run_$mode.json"; fail "xdplc run ($mode)"; }
    "$PY" - "$XDPL_TMP" "$mode" <<'PY' || fail "rewrites differ from Scapy ($mode)"
import sys, json, pickle
from scapy.all import rdpcap, Ether
d, mode = sys.argv[1], sys.argv[2]
want = pickle.load(open(d + "/want.pkl", "rb"))
run = json.load(open(d + "/run_%s.json" % mode))["packets"]
outs = [bytes(p) for p in rdpcap(d + "/out_%s.pcap" % mode)]
assert len(want) == len(run), (len(want), len(run))
# the written capture holds the packets not dropped, in order
it = iter(outs)
outs = [b"" if res["verdict"] in ("drop", "abort") else next(it, b"") for res in run]
bad = 0
for n, ((i, o, v), got, res) in enumerate(zip(want, outs, run)):
    exp = o if o is not None else i
    if res["verdict"] != v or got != exp:
        bad += 1
        print("%s packet %d (%s): verdict %s by %s, want %s" % (mode, n + 1, Ether(i).summary(),
              res["verdict"], res["rule"], v))
        if got != exp:
            k = next(j for j in range(min(len(got), len(exp))) if got[j] != exp[j]) if len(got) == len(exp) else -1
            print("  first difference at byte %d: got %s want %s" % (k, got[k:k+4].hex(), exp[k:k+4].hex()))
print("%s: %d packets, %d differ" % (mode, len(want), bad))
sys.exit(1 if bad else 0)
PY
}
check "$XDPL_TMP/p.xdpl" fast
check "$XDPL_TMP/p_record.xdpl" record
echo "ok rewrite_semantics"
