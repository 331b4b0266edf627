#!/usr/bin/env bash
# Atomic reloads under live traffic: while xdpl-trafficgen sends >= 1 Mpps
# (live frames; >= 0.01 Mpps from its AF_PACKET sender, which a loaded
# machine slows most) into veth B,
# `xdplc attach` replaces the policy 20 times, alternating two versions
# (same sets and maps; rules reordered and widened, so the program and the
# stats layout really change). Then, exactly:
#   - every frame sent reached B and ran through a policy: B's rx packets and
#     the policy's counters summed over all rules (incl. default) both equal
#     the frames sent (a frame meeting no program, or a lost count, shows);
#   - counters are continuous: the total never goes down across a reload,
#     and each rule's count equals the frames of its own kind that were sent
#     (rules are matched by name across the reordered versions);
#   - a set element added at run time before the reloads is still there
#     after every reload, and still drops its frames at the end;
#   - frames passed to the stack (B's rx "otherhost") = the pass rules.
# Prints the rate and the reload latencies.
# Counting races show on a loaded machine: XDPL_RELOADS=100 XDPL_RELOAD_HOGS=2
# XDPL_TRAFFICGEN=afpacket adds 2 busy processes for the reloads.
set -u
XDPLC=$1 root=$2
source "$root/tests/lib.sh"
source "$root/tests/e2e/lib/attach_lib.sh"
need_root
e2e_need_tgen
RELOADS=${XDPL_RELOADS:-20}

ns="${XDPL_TEST_ID}rl"
before=$(bpf_snapshot '^(e2e_reload|rl_)' "${ns}b")
e2e_netns "$ns"
A=${ns}a B=${ns}b
e2e_cleanup_dev "$B"
e2e_tgen_mode "$A"
MIN_MPPS=${XDPL_RELOAD_MIN_MPPS:-$([[ $TGEN_MODE == live ]] && echo 1.0 || echo 0.01)}

common='
set rl_blocked: hash<ip4> max 64 = { 192.0.2.66 };
map rl_hits: hash<u16, u32> max 16;
'
cat >"$XDPL_TMP/v1.xdpl" <<EOF
program e2e_reload;
$common
rule no_ssh {
    match tcp.dport == 22;
    verdict drop;
}

rule blocked_udp {
    match udp and ip4.src in rl_blocked;
    verdict drop;
}

rule web {
    match tcp.dport == 80;
    verdict pass;
}

default pass;
EOF
cat >"$XDPL_TMP/v2.xdpl" <<EOF
program e2e_reload;
$common
rule blocked_udp {
    match udp and ip4.src in rl_blocked;
    verdict drop;
}

rule web {
    match tcp.dport == 80 or tcp.dport == 8080;
    verdict pass;
}

rule no_ssh {
    match tcp.dport == 22 or tcp.dport == 2222;
    verdict drop;
}

default pass;
EOF
for v in v1 v2; do
    "$XDPLC" build "$XDPL_TMP/$v.xdpl" -o "$XDPL_TMP/$v.o" || fail "build $v"
done

$PY - "$XDPL_TMP/mix.pcap" <<'EOF' || fail "making the capture with scapy"
import sys
from scapy.all import Ether, IP, TCP, UDP, wrpcap
e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
wrpcap(sys.argv[1], [
    e / IP(src="192.0.2.10", dst="192.0.2.1") / TCP(dport=22),   # no_ssh
    e / IP(src="192.0.2.66", dst="192.0.2.1") / UDP(dport=53),   # blocked_udp (initial element)
    e / IP(src="192.0.2.77", dst="192.0.2.1") / UDP(dport=53),   # blocked_udp (added at run time)
    e / IP(src="192.0.2.10", dst="192.0.2.1") / TCP(dport=80),   # web
    e / IP(src="192.0.2.10", dst="192.0.2.1") / UDP(dport=53),   # default
])
EOF

stats() { inns "$XDPLC" stats --dev "$B" --json --interval 0; }
rule() { json_get "[r for r in d['rules'] if r['name'] == '$1'][0]['packets']" <<<"$S"; }
expect() { [[ $2 == "$3" ]] || fail "$1: expected $3, got $2"; }

out=$(inns "$XDPLC" attach "$XDPL_TMP/v1.o" --dev "$B") || fail "attach v1: $out"
echo "$out"
inns "$XDPLC" set --dev "$B" rl_blocked add 192.0.2.77 || fail "set add"
inns "$XDPLC" set --dev "$B" rl_hits add 443 7 || fail "map add"
rx0=$(rx_stat "$B" packets) oh0=$(rx_stat "$B" otherhost)

# One reload step (attach and the checks after it) is timed before the
# traffic starts, so the traffic lasts for all steps even on a slow build
# (ASan) or a loaded machine.
step_check() {
    inns "$XDPLC" set --dev "$B" rl_blocked list | grep -qx 192.0.2.77 || return 1
    [[ $(inns "$XDPLC" set --dev "$B" rl_hits list) == "443 = 7" ]] || return 1
    inns "$XDPLC" stats --dev "$B" --json --interval 0 | json_get "d['prog_id']" >/dev/null
}
t0=$(date +%s%N)
for v in 2 1; do
    inns "$XDPLC" attach "$XDPL_TMP/v$v.o" --dev "$B" >/dev/null || fail "warm-up reload to v$v"
    step_check || fail "warm-up reload to v$v: the run-time elements are gone"
done
step_ms=$((($(date +%s%N) - t0) / 2000000))
SECS=${XDPL_RELOAD_SECONDS:-$((3 + RELOADS * step_ms * 3 / 1000))}
echo "one reload step takes $step_ms ms without traffic: sending for $SECS s"
inns "$TGEN" --dev "$A" --pcap "$XDPL_TMP/mix.pcap" --seconds "$SECS" >"$XDPL_TMP/tgen.txt" 2>&1 &
tg=$!
on_exit "kill $tg"
for ((h = 0; h < ${XDPL_RELOAD_HOGS:-0}; h++)); do
    (while :; do :; done) &
    on_exit "kill $!"
done
sleep 1

last_total=0 prev_prog=0
lat=() swap=() inner=()
for ((i = 1; i <= RELOADS; i++)); do
    v=$((i % 2 ? 2 : 1))
    t0=$(date +%s%N)
    out=$(inns "$XDPLC" attach "$XDPL_TMP/v$v.o" --dev "$B") || fail "reload $i (v$v): $out"
    t1=$(date +%s%N)
    grep -q "^replaced the policy with e2e_reload on $B" <<<"$out" || fail "reload $i was not a replace: $out"
    lat+=($(((t1 - t0) / 1000)))
    swap+=("$(sed -n 's/.*program swap \([0-9]*\) us.*/\1/p' <<<"$out")")
    inner+=("$(sed -n 's/.*; \([0-9]*\)\.[0-9] ms (program swap.*/\1/p' <<<"$out")")
    # the runtime element survived, in the set and in the map
    inns "$XDPLC" set --dev "$B" rl_blocked list | grep -qx 192.0.2.77 ||
        fail "reload $i: 192.0.2.77 is gone from rl_blocked"
    [[ $(inns "$XDPLC" set --dev "$B" rl_hits list) == "443 = 7" ]] || fail "reload $i: rl_hits lost its element"
    S=$(stats) || fail "stats after reload $i"
    read -r first prog total < <(json_get "d['rules'][0]['name'], d['prog_id'], d['total']['packets']" <<<"$S" | tr -d "(),'")
    [[ $first == $([[ $v == 1 ]] && echo no_ssh || echo blocked_udp) ]] || fail "reload $i: v$v not in place (first rule $first)"
    [[ $prog != "$prev_prog" ]] || fail "reload $i: program id unchanged ($prog)"
    prev_prog=$prog
    ((total >= last_total)) || fail "reload $i: counters went back from $last_total to $total"
    last_total=$total
done
running=1
kill -0 $tg 2>/dev/null || running=0
wait $tg || fail "trafficgen: $(cat "$XDPL_TMP/tgen.txt")"
((running)) || fail "traffic ended before the reloads did; raise XDPL_RELOAD_SECONDS"
cat "$XDPL_TMP/tgen.txt"

sent=$(sed -n 's/^sent \([0-9]*\) packets.*/\1/p' "$XDPL_TMP/tgen.txt")
mpps=$(sed -n 's/.*: \([0-9.]*\) Mpps$/\1/p' "$XDPL_TMP/tgen.txt")
mapfile -t n < <(sed -n 's/^packet [0-9]*: [0-9]* bytes, sent \([0-9]*\)$/\1/p' "$XDPL_TMP/tgen.txt")
[[ ${#n[@]} -eq 5 ]] || fail "trafficgen output"

S=$(stats)
rx1=$(rx_stat "$B" packets) oh1=$(rx_stat "$B" otherhost)
expect "frames that reached $B" $((rx1 - rx0)) "$sent"
echo "per rule: $(json_get "', '.join('%s %d' % (r['name'], r['packets']) for r in d['rules'])" <<<"$S"); sent per packet: ${n[*]}"
expect "sum of all rule counters (incl. default)" "$(json_get "sum(r['packets'] for r in d['rules'])" <<<"$S")" "$sent"
expect "no_ssh" "$(rule no_ssh)" "${n[0]}"
expect "blocked_udp (initial + run-time element)" "$(rule blocked_udp)" $((n[1] + n[2]))
expect "web" "$(rule web)" "${n[3]}"
expect "default" "$(rule default)" "${n[4]}"
expect "drop verdict" "$(json_get "d['verdicts']['drop']['packets']" <<<"$S")" $((n[0] + n[1] + n[2]))
expect "pass verdict" "$(json_get "d['verdicts']['pass']['packets']" <<<"$S")" $((n[3] + n[4]))
expect "passed to $B's stack (otherhost)" $((oh1 - oh0)) $((n[3] + n[4]))

stat_line() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1; s+=$1} END {printf "min %d, median %d, max %d, mean %d", a[1], a[int((NR+1)/2)], a[NR], s/NR}'; }
echo "ok: $RELOADS reloads under $mpps Mpps: $sent frames sent = received = counted, per rule exact"
echo "reload latency (xdplc attach OBJ.o, whole command, us): $(stat_line "${lat[@]}")"
echo "reload latency (inside xdplc: open, reuse maps, verify, swap, pin; ms): $(stat_line "${inner[@]}")"
echo "program swap (bpf_link_update alone, us): $(stat_line "${swap[@]}")"
awk -v m="$mpps" -v min="$MIN_MPPS" 'BEGIN { exit !(m >= min) }' ||
    fail "traffic was $mpps Mpps, below $MIN_MPPS Mpps (a loaded machine? XDPL_RELOAD_MIN_MPPS lowers the bar)"

out=$(inns "$XDPLC" detach --dev "$B") || fail "detach: $out"
wait_snapshot "$before" '^(e2e_reload|rl_)' "$B" || fail "bpffs/progs/maps not back to before"
echo "ok: detached, nothing left"
