#!/usr/bin/env bash
# Initial map elements reach the kernel whoever loads the object:
#  (a) bpftool alone (it knows nothing of .xdpl.meta): the program puts a
#      set's initial elements and its rule groups' entries in itself on its
#      first packet (codegen_init.c); verdicts checked with BPF_PROG_TEST_RUN;
#  (b) xdplc: its loader puts them in and marks the program, so a reload
#      that keeps the maps does not bring back an element `xdplc set del`
#      removed.
set -u
xdplc=$1 root=$2
source "$root/tests/lib.sh"
need_root
PY=/usr/bin/python3
"$PY" -c 'import scapy' 2>/dev/null || fail "needs Scapy for $PY"

{
    echo "program self_init;"
    echo "set bad_nets: lpm<ip4> = { 198.51.100.0/24 };"
    echo "set bad_ports: hash<u16> = { 9999 };"
    echo "rule nets { match ip4.src in bad_nets; verdict drop; }"
    echo "rule ports { match udp.dport in bad_ports; verdict drop; }"
    # 70 rules on one field: a rule group (a map of its own; policies of
    # more than 64 rules get them)
    for i in $(seq 1 69); do echo "rule g$i { match tcp.dport == $((1000 + i)); verdict drop; }"; done
    echo "rule g70 { match tcp.dport == 1070; verdict tx; }"
    echo "default pass;"
} >"$XDPL_TMP/p.xdpl"
"$xdplc" build "$XDPL_TMP/p.xdpl" -o "$XDPL_TMP/p.o" || fail "xdplc build"
grep -q _xdpl_group0 "$XDPL_TMP/p.o" || fail "the policy has no rule group"
"$PY" - "$XDPL_TMP" <<'PY'
import sys
from scapy.all import Ether, IP, TCP, UDP
d = sys.argv[1]
pk = {
    "net": Ether() / IP(src="198.51.100.7") / UDP(dport=53),
    "port": Ether() / IP(src="192.0.2.1") / UDP(dport=9999),
    "group_drop": Ether() / IP(src="192.0.2.1") / TCP(dport=1004),
    "group_tx": Ether() / IP(src="192.0.2.1") / TCP(dport=1070),
    "other": Ether() / IP(src="192.0.2.1") / UDP(dport=53),
}
for k, p in pk.items():
    open("%s/%s.pkt" % (d, k), "wb").write(bytes(p))
PY

# (a) bpftool
pin=/sys/fs/bpf/xdpl_selfinit_$$
on_exit "rm -f $pin"
bpftool prog load "$XDPL_TMP/p.o" "$pin" type xdp >/dev/null 2>&1 || fail "bpftool prog load"
verdict() { bpftool prog run pinned "$pin" data_in "$XDPL_TMP/$1.pkt" repeat 1 2>&1 | sed -n 's/.*Return value: \([0-9]*\).*/\1/p'; }
for t in "net 1" "port 1" "group_drop 1" "group_tx 3" "other 2" "net 1"; do
    read -r name want <<<"$t"
    got=$(verdict "$name")
    [[ $got == "$want" ]] || fail "bpftool-loaded object: $name gave $got, want $want"
done
echo "ok: loaded by bpftool alone, the initial set elements and rule group entries hold"
rm -f "$pin"

# (b) xdplc: a deleted initial element stays deleted across a reload
ns="${XDPL_TEST_ID}si"
xdpl_netns_veth "$ns"
dev="${ns}a"
IN_NS="nsenter --net=/run/netns/$ns"
on_exit "$IN_NS $xdplc detach --dev $dev || xdpl_rm_pins $ns $dev"
$IN_NS "$xdplc" attach "$XDPL_TMP/p.xdpl" --dev "$dev" >/dev/null || fail "attach"
$IN_NS "$xdplc" set --dev "$dev" bad_ports del 9999 || fail "set del"
$IN_NS "$xdplc" attach "$XDPL_TMP/p.xdpl" --dev "$dev" >/dev/null || fail "re-attach"
# a packet through the program (the self-init would run on it if unmarked)
ip netns exec "$ns" "$PY" - "${ns}b" <<'PY' || fail "send"
import sys
from scapy.all import Ether, IP, UDP, sendp
sendp(Ether(dst="ff:ff:ff:ff:ff:ff") / IP(src="192.0.2.1") / UDP(dport=9999), iface=sys.argv[1], verbose=0)
PY
sleep 0.2
left=$($IN_NS "$xdplc" set --dev "$dev" bad_ports list) || fail "set list"
[[ -z $left ]] || fail "bad_ports holds '$left' after del and a reload: the initial element came back"
echo "ok: xdplc's loader marks the program: a deleted initial element stays deleted across a reload"

# (c) a changed policy gets its own rule groups: re-attached with g70
# dropping instead of sending back, and one rule more (the group's map
# changes size), the attach works and the new verdict holds
sed 's/rule g70 { match tcp.dport == 1070; verdict tx; }/rule g70 { match tcp.dport == 1070; verdict drop; }\nrule g71 { match tcp.dport == 1071; verdict drop; }/' \
    "$XDPL_TMP/p.xdpl" >"$XDPL_TMP/p2.xdpl"
grep -q 'g71' "$XDPL_TMP/p2.xdpl" || fail "could not make the changed policy"
out=$($IN_NS "$xdplc" attach "$XDPL_TMP/p2.xdpl" --dev "$dev" 2>&1) || fail "re-attach of the changed policy: $out"
id=$($IN_NS "$xdplc" status | sed -n 's/.*prog id \([0-9]*\).*/\1/p' | head -1)
[[ -n $id ]] || fail "no prog id in xdplc status"
got=$(bpftool prog run id "$id" data_in "$XDPL_TMP/group_tx.pkt" repeat 1 2>&1 | sed -n 's/.*Return value: \([0-9]*\).*/\1/p')
[[ $got == 1 ]] || fail "after the change, tcp 1070 gave $got, want 1 (drop): the old group's entries were kept"
pins=$(xdpl_pins "$ns" "$dev")
[[ -e $pins/link && ! -e $pins/_xdpl_group0 ]] || fail "a rule group's map is pinned (or no pins in $pins)"
echo "ok: a changed policy re-attaches with its own rule groups (maps made anew, not pinned)"
