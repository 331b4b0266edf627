#!/usr/bin/env bash
# Live-traffic benchmark (veth, native XDP): the bundled DDoS guard under a
# flood it drops, against an empty XDP_DROP program (the ceiling) and
# xdp-filter configured for the same flood, measured side by side in one
# run; plus attach latency (compile + load + attach) of the guard.
# Usage: bench/live_bench.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
secs=${2:-3}
rounds=3
xdplc=$build/xdplc tgen=$build/xdpl-trafficgen
[[ $(id -u) -eq 0 ]] || { echo "needs root" >&2; exit 1; }
mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf
ns=xbench$$ A=xbench$$a B=xbench$$b
tmp=$(mktemp -d /tmp/xdpl-live.XXXXXX)
in_ns() { nsenter --net=/run/netns/$ns "$@"; }
# libxdp (xdp-filter) makes these bpffs directories; remove the ones this
# run made once they are empty again
side_dirs=(/sys/fs/bpf/xdp/globals /sys/fs/bpf/xdp)
pre=()
for d in "${side_dirs[@]}"; do [[ -e $d ]] && pre+=("$d"); done
cleanup() {
    in_ns "$xdplc" detach --dev $B >/dev/null 2>&1 || true
    in_ns xdp-filter unload --all $B >/dev/null 2>&1 || true
    ip netns del $ns 2>/dev/null || true
    rm -rf "$tmp"
    local d
    for d in "${side_dirs[@]}"; do
        [[ " ${pre[*]} " == *" $d "* ]] || rmdir "$d" 2>/dev/null || true
    done
}
trap cleanup EXIT
ip netns add $ns
ip -n $ns link add $A type veth peer name $B
ip -n $ns link set $A up; ip -n $ns link set $B up
source "$root/bench/tgen_mode.sh"
bench_tgen_mode "$tgen" $ns $A

# The flood: sources on the blocklist and amplification replies.
/usr/bin/python3 - "$tmp/flood.pcap" <<'PY'
import sys
from scapy.all import Ether, IP, TCP, UDP, Raw, wrpcap
e = lambda: Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
pk = []
for i in range(1, 9):
    pk.append(e()/IP(src=f"198.51.100.{i}", dst="192.0.2.1")/TCP(sport=1000 + i, dport=80, flags="S"))
for port in (19, 123, 389, 1900, 3702, 11211):
    pk.append(e()/IP(src="192.0.2.77", dst="192.0.2.1")/UDP(sport=port, dport=40000)/Raw(b"x" * 18))
wrpcap(sys.argv[1], pk)
PY

clang-19 -O2 -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -x c -o "$tmp/drop.o" -c - <<'C'
#include <linux/bpf.h>
__attribute__((section("xdp"), used)) int xdp_drop_all(struct xdp_md *ctx) { return XDP_DROP; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
C

rx() { ip -n $ns -s -j link show dev $B | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'; }
measure() {  # prints Mpps received and processed by B's program
    local before after
    before=$(rx)
    in_ns "$tgen" --dev $A --pcap "$tmp/flood.pcap" --seconds "$secs" --burst 65536 >"$tmp/tgen.log"
    after=$(rx)
    awk -v d=$((after - before)) -v s="$secs" 'BEGIN { printf "%.3f", d / s / 1e6 }'
}

setup() {
    case $1 in
    ceiling) ip -n $ns link set dev $B xdp obj "$tmp/drop.o" sec xdp ;;
    xdpl) in_ns "$xdplc" attach "$root/examples/ddos_guard.xdpl" --dev $B >/dev/null ;;
    xdp-filter)
        in_ns xdp-filter load $B >/dev/null
        for i in 1 2 3 4 5 6 7 8; do in_ns xdp-filter ip 198.51.100.$i -m src >/dev/null; done
        in_ns xdp-filter ip 203.0.113.66 -m src >/dev/null
        for p in 19 123 389 1900 3702 11211; do in_ns xdp-filter port $p -m src -p udp >/dev/null; done ;;
    esac
}
teardown() {
    case $1 in
    ceiling) ip -n $ns link set dev $B xdp off ;;
    xdpl) in_ns "$xdplc" detach --dev $B >/dev/null ;;
    xdp-filter) in_ns xdp-filter unload --all $B >/dev/null ;;
    esac
}

declare -A best
for ((r = 0; r < rounds; r++)); do
    for v in ceiling xdpl xdp-filter; do
        setup $v
        m=$(measure)
        teardown $v
        best[$v]=$(awk -v a="${best[$v]:-0}" -v b="$m" 'BEGIN { print (b > a) ? b : a }')
    done
done

bench_tgen_label
printf '%-12s %10s %10s\n' program Mpps vs_ceiling
for v in ceiling xdpl xdp-filter; do
    awk -v n=$v -v m="${best[$v]}" -v c="${best[ceiling]}" 'BEGIN { printf "%-12s %10.3f %10.2f\n", n, m, m / c }'
done
awk -v x="${best[xdpl]}" -v f="${best[xdp-filter]}" 'BEGIN { printf "xdpl / xdp-filter: %.2fx\n", x / f }'

# Attach latency: compile + load + attach, then replace (re-attach).
lat() { local t0 t1; t0=$(date +%s%N); in_ns "$xdplc" attach "$root/examples/ddos_guard.xdpl" --dev $B >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }
first=$(lat); again=$(lat)
in_ns "$xdplc" detach --dev $B >/dev/null
echo "attach latency (compile+load+attach): first ${first} ms, replace ${again} ms"
