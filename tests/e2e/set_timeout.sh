#!/usr/bin/env bash
# `SET add KEY timeout D` under live traffic (reference §12), and `xdplc set` on
# such a set: a rule learns a source for five seconds; while it is in the set
# the next packet is dropped, after the timeout it is not (and `xdplc set
# list` no longer shows it); an element added with `xdplc set add` never
# expires.
set -u
XDPLC=$1 root=$2
source "$root/tests/lib.sh"
source "$root/tests/e2e/lib/attach_lib.sh"
need_root
e2e_need_tgen

ns="${XDPL_TEST_ID}st"
e2e_netns "$ns"
A=${ns}a B=${ns}b
e2e_cleanup_dev "$B"

cat >"$XDPL_TMP/policy.xdpl" <<'EOF'
program e2e_set_timeout;

set st_recent: hash<ip4> max 64;

rule seen {
    match ip4.src in st_recent;
    verdict drop;
}

rule learn {
    match udp.dport == 9;
    rewrite { st_recent add ip4.src timeout 5s; }
    verdict pass;
}

default pass;
EOF

$PY - "$XDPL_TMP/one.pcap" <<'EOF' || fail "making the capture with scapy"
import sys
from scapy.all import Ether, IP, UDP, Raw, wrpcap
e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
wrpcap(sys.argv[1], [e / IP(src="192.0.2.10", dst="192.0.2.1") / UDP(dport=9) / Raw(b"x" * 18)])
EOF

out=$(inns "$XDPLC" attach "$XDPL_TMP/policy.xdpl" --dev "$B") || fail "attach: $out"
echo "$out"
send1() { inns "$TGEN" --dev "$A" --pcap "$XDPL_TMP/one.pcap" --count 1 --burst 1 >/dev/null || fail "trafficgen"; }
S=
stats() { S=$(inns "$XDPLC" stats --dev "$B" --json --interval 0) || fail "stats"; }
rule() { json_get "[r for r in d['rules'] if r['name'] == '$1'][0]['packets']" <<<"$S"; }
list() { inns "$XDPLC" set --dev "$B" st_recent list | sort | tr '\n' ' '; }
expect() { [[ $2 == "$3" ]] || fail "$1: expected '$3', got '$2'"; }

send1
stats
expect "first packet learnt" "$(rule learn)/$(rule seen)" "1/0"
expect "set list after learning" "$(list)" "192.0.2.10 "
send1
stats
expect "second packet seen" "$(rule learn)/$(rule seen)" "1/1"
inns "$XDPLC" set --dev "$B" st_recent add 192.0.2.99 || fail "set add"
sleep 5.5
expect "set list after the timeout" "$(list)" "192.0.2.99 "
send1
stats
expect "after the timeout learnt again" "$(rule learn)/$(rule seen)" "2/1"
echo "ok: a key added with a timeout expires; one added by xdplc set does not"
out=$(inns "$XDPLC" detach --dev "$B") || fail "detach: $out"
