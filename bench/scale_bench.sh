#!/usr/bin/env bash
# Rule-count scaling (docs/design.md, rule groups): policies of N rules of
# one shape -- `ip4.src == ADDR` (exact), `ip4.src in PREFIX/24` (prefix)
# or `ip4.src == ADDR and udp.dport == 53` (tuple) -- for
# N = 10 .. 10000, run through BPF_PROG_TEST_RUN (loaded with bpftool: the
# program puts its rule groups' entries in itself), with a packet that
# matches the last rule and one that matches none. Prints ns/pkt, the
# ratio to N = 10 (the goal: about 1), xlated instructions and compile
# time; then N = 1000 without regrouping (XDPL_NO_REGROUP=1) for contrast.
# Usage: bench/scale_bench.sh [XDPLC] [REPEAT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
xdplc=${1:-$root/build/xdplc}
repeat=${2:-1000000}
[[ $(id -u) -eq 0 ]] || { echo "needs root" >&2; exit 1; }
mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf
tmp=$(mktemp -d /tmp/xdpl-scale.XXXXXX)
pins=/sys/fs/bpf/xdpl_scale_$$
cleanup() { rm -rf "$pins" "$tmp"; }
trap cleanup EXIT
mkdir -p "$pins"

gen() { # gen SHAPE N FILE: rule i tests address 10.(i/256).(i%256).1 or its /24
    /usr/bin/python3 - "$1" "$2" >"$3" <<'PY'
import sys
shape, n = sys.argv[1], int(sys.argv[2])
print("program scale;")
for i in range(n):
    a = "10.%d.%d" % (i // 256, i % 256)
    m = {"exact": "ip4.src == %s.1" % a, "prefix": "ip4.src in %s.0/24" % a,
         "tuple": "ip4.src == %s.1 and udp.dport == 53" % a}[shape]
    print("rule r%d { match %s; verdict drop; }" % (i, m))
print("default pass;")
PY
}
pkt() { # pkt SRC FILE
    /usr/bin/python3 -c "
import sys
from scapy.all import Ether, IP, UDP
open(sys.argv[2], 'wb').write(bytes(Ether() / IP(src=sys.argv[1], dst='192.0.2.1') / UDP(dport=53)))" "$1" "$2"
}
run_ns() { # best of 3
    local b=999999 x i
    for i in 1 2 3; do
        x=$(bpftool prog run pinned "$1" data_in "$2" repeat "$repeat" 2>&1 |
            sed -n 's/.*duration (average): \([0-9]*\)ns.*/\1/p')
        ((x < b)) && b=$x
    done
    echo "$b"
}
insns() { bpftool prog show pinned "$1" --json | sed -n 's/.*"bytes_xlated":\([0-9]*\).*/\1/p' | awk '{print $1/8}'; }

pkt 192.0.2.7 "$tmp/none.pkt"
printf '%-6s %6s %10s %10s %8s %8s %9s\n' shape rules last_ns none_ns ratio insns build_s
for shape in exact prefix tuple; do
    base=""
    for n in 10 100 1000 10000 x1000; do
        real=${n#x} env=()
        [[ $n == x* ]] && env=(XDPL_NO_REGROUP=1)
        gen "$shape" "$real" "$tmp/p.xdpl"
        t0=$(date +%s.%N)
        env "${env[@]}" "$xdplc" build "$tmp/p.xdpl" -o "$tmp/p.o"
        t1=$(date +%s.%N)
        i=$((real - 1))
        pkt "10.$((i / 256)).$((i % 256)).1" "$tmp/last.pkt"
        pin="$pins/$shape$n"
        bpftool prog load "$tmp/p.o" "$pin" type xdp >/dev/null 2>&1
        v=$(bpftool prog run pinned "$pin" data_in "$tmp/last.pkt" repeat 1 2>&1 | sed -n 's/.*Return value: \([0-9]*\).*/\1/p')
        [[ $v == 1 ]] || { echo "$shape $n: the last rule did not drop (verdict $v)" >&2; exit 1; }
        last=$(run_ns "$pin" "$tmp/last.pkt") none=$(run_ns "$pin" "$tmp/none.pkt")
        [[ -n $base ]] || base=$none
        label=$real; [[ $n == x* ]] && label="${real}*"
        awk -v s="$shape" -v n="$label" -v l="$last" -v z="$none" -v b="$base" -v i="$(insns "$pin")" \
            -v t="$(echo "$t1 - $t0" | bc)" \
            'BEGIN { printf "%-6s %6s %10d %10d %8.2f %8d %9.2f\n", s, n, l, z, z / b, i, t }'
        rm -f "$pin"
    done
done
echo "(* = XDPL_NO_REGROUP=1: rule by rule; ratio = none_ns / none_ns at 10 rules)"
