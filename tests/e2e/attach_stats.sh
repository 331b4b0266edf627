#!/usr/bin/env bash
# xdplc attach / stats / set / status / detach against live traffic.
#
# A policy (drop tcp dport 22, drop udp from a set, pass the rest) is
# attached to veth B in a netns; xdpl-trafficgen sends an exact mix from the
# peer A. Checked exactly: every frame arrived at B (B's rx packets), the
# policy's counters per rule and per verdict (xdplc stats --json), the frames
# passed to B's stack (B's rx "otherhost" counter: the test frames carry
# another host's MAC). Then a source is added to the set at run time and
# takes effect; rates are measured under load; detach leaves nothing behind.
set -u
XDPLC=$1 root=$2
source "$root/tests/lib.sh"
source "$root/tests/e2e/lib/attach_lib.sh"
need_root
e2e_need_tgen

ns="${XDPL_TEST_ID}as"
before=$(bpf_snapshot '^(e2e_attach_stat|as_blocked)' "${ns}b")
e2e_netns "$ns"
A=${ns}a B=${ns}b
e2e_cleanup_dev "$B"

cat >"$XDPL_TMP/policy.xdpl" <<'EOF'
program e2e_attach_stats;

set as_blocked: hash<ip4> max 64 = { 192.0.2.66 };

rule no_ssh {
    match tcp.dport == 22;
    verdict drop;
}

rule blocked_udp {
    match udp and ip4.src in as_blocked;
    verdict drop;
}

default pass;
EOF

# The mix: one packet per case, each a different length (bytes are checked).
$PY - "$XDPL_TMP/mix.pcap" <<'EOF' || fail "making the capture with scapy"
import sys
from scapy.all import Ether, IP, TCP, UDP, Raw, wrpcap
e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
pk = [
    e / IP(src="192.0.2.10", dst="192.0.2.1") / TCP(dport=22) / Raw(b"s" * 6),    # no_ssh
    e / IP(src="192.0.2.66", dst="192.0.2.1") / UDP(dport=53) / Raw(b"b" * 58),   # blocked_udp
    e / IP(src="192.0.2.77", dst="192.0.2.1") / UDP(dport=53) / Raw(b"l" * 38),   # default, later blocked
    e / IP(src="192.0.2.10", dst="192.0.2.1") / TCP(dport=80) / Raw(b"w" * 16),   # default
]
wrpcap(sys.argv[1], pk)
EOF
mapfile -t LEN < <($PY -c "
from scapy.all import rdpcap
for p in rdpcap('$XDPL_TMP/mix.pcap'): print(len(p))")
[[ ${#LEN[@]} -eq 4 ]] || fail "capture has ${#LEN[@]} packets"

# send N: N copies of each of the 4 packets, exactly.
send() {
    local n=$1 out
    out=$(inns "$TGEN" --dev "$A" --pcap "$XDPL_TMP/mix.pcap" --count $((4 * n)) --burst 100) ||
        fail "trafficgen: $out"
    for i in 0 1 2 3; do
        grep -q "^packet $i: ${LEN[i]} bytes, sent $n\$" <<<"$out" || fail "trafficgen did not send $n of packet $i: $out"
    done
}

stats() { inns "$XDPLC" stats --dev "$B" --json --interval 0; }
# rule NAME FIELD / verdict NAME FIELD / total FIELD from a stats document
rule() { json_get "[r for r in d['rules'] if r['name'] == '$1'][0]['$2']" <<<"$S"; }
verdict() { json_get "d['verdicts']['$1']['$2']" <<<"$S"; }
total() { json_get "d['total']['$1']" <<<"$S"; }
expect() { [[ $2 == "$3" ]] || fail "$1: expected $3, got $2"; }

# ---------------------------------------------------------------- attach
out=$(inns "$XDPLC" attach "$XDPL_TMP/policy.xdpl" --dev "$B") || fail "attach: $out"
echo "$out"
grep -q "attached e2e_attach_stats on $B (native mode" <<<"$out" || fail "attach summary: $out"
ip -n "$ns" -d link show dev "$B" | grep -q 'prog/xdp id' || fail "no XDP program on $B"
P=$(xdpl_pins "$ns" "$B")
[[ -e $P/link && -e $P/as_blocked && -e $P/xdpl_stats && -e $P/xdpl_meta ]] || fail "pin layout: $(ls -R /sys/fs/bpf/xdpl)"

st=$(inns "$XDPLC" status --json) || fail "status"
prog_id=$(json_get "[a for a in d['attached'] if a['dev'] == '$B'][0]['prog_id']" <<<"$st")
link_id=$(json_get "[a for a in d['attached'] if a['dev'] == '$B'][0]['link_id']" <<<"$st")
mode=$(json_get "[a for a in d['attached'] if a['dev'] == '$B'][0]['mode']" <<<"$st")
expect "status mode" "$mode" native
read -r -a map_ids <<<"$(prog_map_ids "$prog_id")"
meta_id=$(bpftool -j map show pinned "$P/xdpl_meta" | json_get "d['id']")
((${#map_ids[@]} >= 2)) || fail "program $prog_id uses ${#map_ids[@]} maps"
inns "$XDPLC" status | grep -q "^$B: e2e_attach_stats (from $XDPL_TMP/policy.xdpl)" || fail "status text"

# ---------------------------------------------------------------- traffic
N=25000
rx0=$(rx_stat "$B" packets) oh0=$(rx_stat "$B" otherhost)
send $N
S=$(stats)
rx1=$(rx_stat "$B" packets) oh1=$(rx_stat "$B" otherhost)
expect "frames received by $B" $((rx1 - rx0)) $((4 * N))
expect "no_ssh packets" "$(rule no_ssh packets)" $N
expect "no_ssh bytes" "$(rule no_ssh bytes)" $((N * LEN[0]))
expect "blocked_udp packets" "$(rule blocked_udp packets)" $N
expect "blocked_udp bytes" "$(rule blocked_udp bytes)" $((N * LEN[1]))
expect "default packets" "$(rule default packets)" $((2 * N))
expect "default bytes" "$(rule default bytes)" $((N * (LEN[2] + LEN[3])))
expect "drop verdict" "$(verdict drop packets)" $((2 * N))
expect "pass verdict" "$(verdict pass packets)" $((2 * N))
expect "tx verdict" "$(verdict tx packets)" 0
expect "total" "$(total packets)" $((4 * N))
expect "passed to $B's stack (otherhost)" $((oh1 - oh0)) "$(verdict pass packets)"
echo "ok: $((4 * N)) frames: per rule, per verdict and at the receiver exact"

inns "$XDPLC" stats --dev "$B" --interval 0 >"$XDPL_TMP/stats.txt" || fail "stats text"
grep -Eq "^no_ssh +drop +$N " "$XDPL_TMP/stats.txt" || { cat "$XDPL_TMP/stats.txt"; fail "stats text table"; }

# ---------------------------------------------------------------- set at run time
inns "$XDPLC" set --dev "$B" as_blocked add 192.0.2.77 || fail "set add"
got=$(inns "$XDPLC" set --dev "$B" as_blocked list) || fail "set list"
expect "set list" "$(sort <<<"$got" | tr '\n' ' ')" "192.0.2.66 192.0.2.77 "
send $N
S=$(stats)
oh2=$(rx_stat "$B" otherhost)
expect "blocked_udp after add" "$(rule blocked_udp packets)" $((3 * N))
expect "default after add" "$(rule default packets)" $((3 * N))
expect "drop after add" "$(verdict drop packets)" $((5 * N))
expect "passed to the stack after add" $((oh2 - oh1)) $N
inns "$XDPLC" set --dev "$B" as_blocked del 192.0.2.77 || fail "set del"
expect "set list after del" "$(inns "$XDPLC" set --dev "$B" as_blocked list)" "192.0.2.66"
echo "ok: a source added at run time is dropped from the next packet on"

# ---------------------------------------------------------------- rates
inns "$TGEN" --dev "$A" --pcap "$XDPL_TMP/mix.pcap" --seconds 3 >"$XDPL_TMP/tgen.txt" 2>&1 &
tg=$!
on_exit "kill $tg"
sleep 0.5
R=$(inns "$XDPLC" stats --dev "$B" --json --interval 1) || fail "stats --interval 1"
wait $tg || fail "trafficgen: $(cat "$XDPL_TMP/tgen.txt")"
pps=$(json_get "int(d['total']['pps'])" <<<"$R")
iv=$(json_get "d['interval']" <<<"$R")
mpps=$(awk '{print $(NF-1)}' <<<"$(tgen_summary "$XDPL_TMP/tgen.txt")")
((pps > 10000)) || fail "measured rate $pps pps under load (trafficgen: $mpps Mpps)"
awk -v i="$iv" 'BEGIN { exit !(i >= 0.9 && i <= 1.5) }' || fail "interval $iv"
echo "ok: stats measured $pps pps over ${iv} s while trafficgen sent $mpps Mpps"
W=$(timeout -s INT 2.5 nsenter --net="/run/netns/$ns" "$XDPLC" stats --dev "$B" --json --watch --interval 1)
expect "stats --watch documents in 2.5 s" "$(grep -c '"rules"' <<<"$W")" 2

# ---------------------------------------------------------------- detach
out=$(inns "$XDPLC" detach --dev "$B") || fail "detach: $out"
expect "detach" "$out" "detached e2e_attach_stats from $B in netns $ns"
[[ ! -e $P ]] || fail "pins left: $(ls $P)"
ip -n "$ns" -d link show dev "$B" | grep -q 'prog/xdp' && fail "XDP program still on $B"
wait_gone prog "$prog_id"
wait_gone link "$link_id"
wait_gone map "${map_ids[@]}" "$meta_id"
wait_snapshot "$before" '^(e2e_attach_stat|as_blocked)' "$B" || fail "bpffs/progs/maps not back to before"
inns "$XDPLC" status | grep -q "^$B:" && fail "status still lists $B"
echo "ok: detach left no pin, program, link or map"
