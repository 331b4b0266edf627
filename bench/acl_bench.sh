#!/usr/bin/env bash
# ACL benchmark: bench/acl/acl.xdpl compiled by xdplc vs bench/acl/acl.c
# (the same logic by hand, clang-19 -O2), both run through
# BPF_PROG_TEST_RUN in this one run on the same packets with the same map
# contents. Prints ns/pkt and xlated instruction counts side by side, and
# xdpl/C ratios (goal: <= 1.0). Usage: bench/acl_bench.sh [XDPLC] [REPEAT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
xdplc=${1:-$root/build/xdplc}
repeat=${2:-2000000}
rounds=5
[[ $(id -u) -eq 0 ]] || { echo "needs root" >&2; exit 1; }
mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf
tmp=$(mktemp -d /tmp/xdpl-bench.XXXXXX)
pins=/sys/fs/bpf/xdpl_bench_$$
cleanup() { rm -rf "$pins" "$tmp"; }
trap cleanup EXIT

"$xdplc" build "$root/bench/acl/acl.xdpl" -o "$tmp/xdpl.o"
clang-19 -O2 -g -target bpf -mcpu=v3 -I/usr/include/"$(uname -m)"-linux-gnu \
    -c "$root/bench/acl/acl.c" -o "$tmp/c.o"

mkdir -p "$pins/xdpl" "$pins/c"
for v in xdpl c; do
    bpftool prog load "$tmp/$v.o" "$pins/$v/prog" type xdp pinmaps "$pins/$v"
    # identical blocklist contents for both (LPM key: u32 prefixlen, addr)
    for pfx in "24 198 51 100 0" "24 203 0 113 0" "25 192 0 2 128"; do
        set -- $pfx
        bpftool map update pinned "$pins/$v/blocklist" \
            key "$1" 0 0 0 "$2" "$3" "$4" "$5" value 1 any
    done
done

# One packet per decision the policy makes; ns/pkt is their mean.
/usr/bin/python3 - "$tmp" <<'PY'
import sys
from scapy.all import Ether, IP, TCP, UDP, Raw
d = sys.argv[1]
pkts = {
    "blocked": Ether()/IP(src="198.51.100.7", dst="192.0.2.1")/TCP(dport=80),
    "web":     Ether()/IP(src="192.0.2.10", dst="192.0.2.1")/TCP(dport=443, flags="A")/Raw(b"x"*64),
    "range":   Ether()/IP(src="192.0.2.10", dst="192.0.2.1")/TCP(dport=8080, flags="PA"),
    "ssh":     Ether()/IP(src="10.1.2.3", dst="192.0.2.1")/TCP(dport=22),
    "dns":     Ether()/IP(src="192.0.2.10", dst="192.0.2.1")/UDP(dport=53)/Raw(b"q"*30),
    "synfin":  Ether()/IP(src="192.0.2.10", dst="192.0.2.1")/TCP(dport=80, flags="SF"),
    "other":   Ether()/IP(src="192.0.2.10", dst="192.0.2.1")/UDP(dport=123),
}
for name, p in pkts.items():
    open(f"{d}/{name}.pkt", "wb").write(bytes(p))
PY

run_ns() {  # run_ns PROG PKT -> prints ns/pkt
    bpftool prog run pinned "$1" data_in "$2" repeat "$repeat" 2>&1 |
        sed -n 's/.*duration (average): \([0-9]*\)ns.*/\1/p'
}
verdict() {
    bpftool prog run pinned "$1" data_in "$2" repeat 1 2>&1 |
        sed -n 's/.*Return value: \([0-9]*\).*/\1/p'
}

declare -A sum
printf '%-8s %8s %8s %8s\n' packet xdpl_ns c_ns verdict
for pkt in "$tmp"/*.pkt; do
    name=$(basename "$pkt" .pkt)
    vx=$(verdict "$pins/xdpl/prog" "$pkt"); vc=$(verdict "$pins/c/prog" "$pkt")
    [[ $vx == "$vc" ]] || { echo "verdicts differ on $name: xdpl $vx, C $vc" >&2; exit 1; }
    bx=999999 bc=999999
    for ((r = 0; r < rounds; r++)); do   # interleaved; best of rounds
        x=$(run_ns "$pins/xdpl/prog" "$pkt"); c=$(run_ns "$pins/c/prog" "$pkt")
        ((x < bx)) && bx=$x; ((c < bc)) && bc=$c
    done
    sum[x]=$(( ${sum[x]:-0} + bx )); sum[c]=$(( ${sum[c]:-0} + bc ))
    printf '%-8s %8d %8d %8s\n' "$name" "$bx" "$bc" "$vx"
done
n=$(ls "$tmp"/*.pkt | wc -l)
insns() { bpftool prog show pinned "$1" --json | sed -n 's/.*"bytes_xlated":\([0-9]*\).*/\1/p' | awk '{print $1/8}'; }
ix=$(insns "$pins/xdpl/prog"); ic=$(insns "$pins/c/prog")
awk -v x="${sum[x]}" -v c="${sum[c]}" -v n="$n" -v ix="$ix" -v ic="$ic" 'BEGIN {
    printf "\n%-22s %10s %10s %8s\n", "", "xdpl", "hand C", "ratio";
    printf "%-22s %10.1f %10.1f %8.2f\n", "ns/pkt (mean)", x/n, c/n, (x/n)/(c/n);
    printf "%-22s %10d %10d %8.2f\n", "xlated instructions", ix, ic, ix/ic;
}'
