#!/usr/bin/env bash
# Frames longer than a page (multi-buffer frames; jumbo frames on NICs):
# pkt.len and the byte counters count the whole frame, and a VXLAN encap
# of such a frame has the right outer lengths and UDP checksum.
#  (a) `xdplc test`: test blocks of 1500, 3521, 9000 and 65000-byte frames
#      classified by pkt.len;
#  (b) `xdplc run --pcap --write --json` on a Scapy capture of fixed sizes
#      (1500 .. 65016, around the 3520-byte buffer) and random ones: the
#      rule each frame takes, each rule's packets and bytes, and every
#      VXLAN output re-checked by Scapy (tests/kernel/lib/jumbo.py); a
#      frame whose outer length would pass 65535 is dropped, not sent;
#  (c) the same object without its .xdpl.meta section (so without the
#      "frags" record, like a program of unknown origin): `xdplc run`
#      refuses the frames longer than one buffer, clearly, and runs the rest;
#  (d) attach to a veth pair: at MTU 1500 `xdplc attach` loads the program
#      without the frags flag (pkt.len from data_end - data) and frames are
#      counted right; at MTU 9000 the kernel refuses a program without the
#      flag (ip link, section xdp), `xdplc attach` loads it with the flag,
#      and 1500..9014-byte frames sent over the pair are counted whole by
#      `xdplc stats`.
set -u
xdplc=$1 root=$2
source "$root/tests/lib.sh"
need_root
PY=/usr/bin/python3
"$PY" -c 'import scapy' 2>/dev/null || fail "needs Scapy for $PY"
OBJCOPY=$(command -v llvm-objcopy-19 || command -v llvm-objcopy) || fail "needs llvm-objcopy (llvm-19)"
HELPER=$root/tests/kernel/lib/jumbo.py
SEED=${XDPL_SEED:-$RANDOM}
echo "seed $SEED (XDPL_SEED=$SEED to repeat)"

cat >"$XDPL_TMP/p.xdpl" <<'XDPL'
program jumbo;

rule le_3520 { match udp.dport == 9 and pkt.len <= 3520; verdict pass; }
rule le_4000 { match udp.dport == 9 and pkt.len <= 4000; verdict pass; }
rule le_9000 { match udp.dport == 9 and pkt.len <= 9000; verdict pass; }
rule gt_9000 { match udp.dport == 9 and pkt.len > 9000; verdict pass; }
rule vx4 {
    match udp.dport == 7;
    rewrite { encap ip4(src=192.0.2.1, dst=192.0.2.4) / udp(sport=49152, dport=4789) / vxlan(vni=77); }
    verdict tx;
}
rule vx6 {
    match udp.dport == 8;
    rewrite {
        encap eth(src=02:00:00:00:00:01, dst=02:00:00:00:00:02) / ip6(src=2001:db8::1, dst=2001:db8::7)
              / udp(sport=40000, dport=4789) / vxlan(vni=4242);
    }
    verdict tx;
}
default drop;
XDPL

"$PY" "$HELPER" gen "$SEED" "$XDPL_TMP/in.pcap" "$XDPL_TMP/tests.xdpl" || fail "writing the capture with Scapy"

# (a) the policy with its tests appended
cat "$XDPL_TMP/p.xdpl" "$XDPL_TMP/tests.xdpl" >"$XDPL_TMP/t.xdpl"
"$xdplc" test "$XDPL_TMP/t.xdpl" >"$XDPL_TMP/test.out" 2>&1 \
    || { cat "$XDPL_TMP/test.out"; fail "xdplc test on 1500..65000-byte frames"; }
grep -qx "4 passed, 0 failed" "$XDPL_TMP/test.out" || { cat "$XDPL_TMP/test.out"; fail "xdplc test counts"; }
echo "ok (a) xdplc test: pkt.len of 1500, 3521, 9000 and 65000-byte frames"

# (b) run a capture
"$xdplc" build "$XDPL_TMP/p.xdpl" -o "$XDPL_TMP/p.o" || fail "xdplc build"
"$xdplc" run "$XDPL_TMP/p.o" --pcap "$XDPL_TMP/in.pcap" --write "$XDPL_TMP/out.pcap" --json \
    >"$XDPL_TMP/run.json" 2>"$XDPL_TMP/run.err" \
    || { cat "$XDPL_TMP/run.err"; fail "xdplc run"; }
"$PY" "$HELPER" check "$XDPL_TMP/in.pcap" "$XDPL_TMP/out.pcap" "$XDPL_TMP/run.json" \
    || fail "pkt.len, byte counters or VXLAN outputs of long frames (see above)"
echo "ok (b) xdplc run"

# (c) no "frags" record: frames over one buffer are refused, not cut up
"$OBJCOPY" --remove-section .xdpl.meta "$XDPL_TMP/p.o" "$XDPL_TMP/nometa.o" || fail objcopy
"$xdplc" run "$XDPL_TMP/nometa.o" --pcap "$XDPL_TMP/in.pcap" --json >"$XDPL_TMP/nf.json" \
    2>"$XDPL_TMP/nf.err" || { cat "$XDPL_TMP/nf.err"; fail "xdplc run (no metadata)"; }
grep -q "could not be run.*not built for multi-buffer frames" "$XDPL_TMP/nf.err" \
    || { cat "$XDPL_TMP/nf.err"; fail "no warning about the refused frames"; }
"$PY" "$HELPER" nofrags "$XDPL_TMP/in.pcap" "$XDPL_TMP/nf.json" || fail "frames of an object without frags"
echo "ok (c) objects without the frags record"

# (d) attach to a veth: at MTU 1500 (loaded without the frags flag: pkt.len
# is data_end - data), then at 9000 (with it), counting real frames
ns="${XDPL_TEST_ID}jb"
A="${ns}a" B="${ns}b"
xdpl_netns_veth "$ns"
IN_NS="nsenter --net=/run/netns/$ns" # keeps the host's bpffs
# stats_are RULE PACKETS BYTES...: xdplc stats agrees (frames arrive async)
stats_are() {
    local i
    for i in $(seq 50); do
        $IN_NS "$xdplc" stats --dev "$A" --json >"$XDPL_TMP/stats.json" 2>&1 || true
        "$PY" - "$XDPL_TMP/stats.json" "$@" <<'EOF' && return 0
import json, sys
rules = {r["name"]: (r["packets"], r["bytes"]) for r in json.load(open(sys.argv[1]))["rules"]}
a = sys.argv[2:]
sys.exit(0 if all(rules.get(a[i]) == (int(a[i + 1]), int(a[i + 2])) for i in range(0, len(a), 3)) else 1)
EOF
        sleep 0.1
    done
    cat "$XDPL_TMP/stats.json"
    return 1
}
send() { # send SIZE...: UDP frames to port 9 from B
    $IN_NS "$PY" - "$B" "$@" <<'EOF' || fail "sending frames with Scapy"
import sys
import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import Ether, IP, UDP, Raw, sendp
for n in map(int, sys.argv[2:]):
    p = Ether(dst="02:00:00:00:00:bb") / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(dport=9)
    sendp(p / Raw(b"x" * (n - len(p))), iface=sys.argv[1], verbose=False)
EOF
}
$IN_NS "$xdplc" attach "$XDPL_TMP/p.o" --dev "$A" --mode native >"$XDPL_TMP/att.out" 2>&1 \
    || { cat "$XDPL_TMP/att.out"; fail "xdplc attach at MTU 1500"; }
on_exit "$IN_NS $xdplc detach --dev $A"
send 60 1514
stats_are le_3520 2 1574 || fail "xdplc stats after 60 and 1514-byte frames at MTU 1500"
$IN_NS "$xdplc" detach --dev "$A" >/dev/null || fail "detach"
echo "ok (d) attach at MTU 1500"
ip -n "$ns" link set "$A" mtu 9000 || fail "mtu 9000 on $A"
ip -n "$ns" link set "$B" mtu 9000 || fail "mtu 9000 on $B"
if $IN_NS ip link set dev "$A" xdpdrv obj "$XDPL_TMP/p.o" sec xdp 2>"$XDPL_TMP/ip.err"; then
    $IN_NS ip link set dev "$A" xdpdrv off
    fail "the kernel attached a program without the frags flag at MTU 9000 (expected a refusal)"
fi
$IN_NS "$xdplc" attach "$XDPL_TMP/p.o" --dev "$A" --mode native >"$XDPL_TMP/att.out" 2>&1 \
    || { cat "$XDPL_TMP/att.out"; fail "xdplc attach at MTU 9000"; }
on_exit "$IN_NS $xdplc detach --dev $A"
send 1500 4000 9000 9014
stats_are le_3520 1 1500 le_4000 1 4000 le_9000 1 9000 gt_9000 1 9014 \
    || fail "xdplc stats after 1500/4000/9000/9014-byte frames on the wire"
echo "ok (d) attach at MTU 9000; frames counted whole"
echo "ok jumbo"
