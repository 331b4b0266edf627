#!/usr/bin/env bash
# L3 forwarding benchmark (veth, native XDP): `verdict route` against the
# kernel's own forwarding, on the same topology h1 -- router -- h2.
#   route   the router's ingress veth runs `rule fwd { match ip4 or ip6;
#           verdict route; } default pass;` (bpf_fib_lookup + bpf_redirect)
#   kernel  the router's ingress veth runs `default pass` (needed: frames
#           sent by XDP into a veth need an XDP program on the peer) and
#           the stack forwards (ip_forward=1)
# xdpl-trafficgen sends live frames (UDP, 10.201.1.1 -> 10.201.2.1, to
# the router's MAC) from h1's veth; h2's veth runs `default drop` and counts
# what arrives (xdplc stats). Neighbours are static. Best of 3 rounds.
# Usage: bench/route_bench.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
secs=${2:-3}
rounds=${ROUNDS:-3}
xdplc=$build/xdplc tgen=$build/xdpl-trafficgen
[[ $(id -u) -eq 0 ]] || { echo "needs root" >&2; exit 1; }
mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf
id=xrb$$
H1=${id}h1 H2=${id}h2 RT=${id}rt R1=${id}r1 R2=${id}r2
tmp=$(mktemp -d /tmp/xdpl-route.XXXXXX)
innet() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
cleanup() {
    innet $RT "$xdplc" detach --dev $R1 >/dev/null 2>&1 || true
    innet $RT "$xdplc" detach --dev $R2 >/dev/null 2>&1 || true
    innet $H1 "$xdplc" detach --dev $H1 >/dev/null 2>&1 || true
    innet $H2 "$xdplc" detach --dev $H2 >/dev/null 2>&1 || true
    for ns in $H1 $H2 $RT; do ip netns del $ns 2>/dev/null || true; done
    rmdir /sys/fs/bpf/xdpl 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
for ns in $H1 $H2 $RT; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add $H1 netns $H1 type veth peer name $R1 netns $RT
ip link add $H2 netns $H2 type veth peer name $R2 netns $RT
ip -n $H1 link set $H1 up; ip -n $H2 link set $H2 up
ip -n $RT link set $R1 up; ip -n $RT link set $R2 up
ip -n $H1 addr add 10.201.1.1/24 dev $H1
ip -n $H2 addr add 10.201.2.1/24 dev $H2
ip -n $RT addr add 10.201.1.254/24 dev $R1
ip -n $RT addr add 10.201.2.254/24 dev $R2
ip netns exec $RT sysctl -qw net.ipv4.ip_forward=1
mac() { ip -n "$1" -j link show dev "$2" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
ip -n $RT neigh replace 10.201.2.1 lladdr "$(mac $H2 $H2)" nud permanent dev $R2
ip -n $RT neigh replace 10.201.1.1 lladdr "$(mac $H1 $H1)" nud permanent dev $R1

/usr/bin/python3 - "$tmp/flow.pcap" "$(mac $H1 $H1)" "$(mac $RT $R1)" <<'PY'
import sys
from scapy.all import Ether, IP, UDP, Raw, wrpcap
e = Ether(src=sys.argv[2], dst=sys.argv[3])
wrpcap(sys.argv[1], [e / IP(src="10.201.1.1", dst="10.201.2.1", ttl=64) /
                     UDP(sport=1000 + i, dport=9) / Raw(b"x" * 18) for i in range(8)])
PY
# The generator's own XDP program puts back the Ethernet + IPv4 header the
# router changed (TTL, checksum, MACs): live frames are reused pages.
hdr=$(/usr/bin/python3 -c "
from scapy.all import rdpcap
print(','.join(str(b) for b in bytes(rdpcap('$tmp/flow.pcap')[0])[:34]))")
clang-19 -O2 -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -x c -o "$tmp/gen.o" -c - <<C
#include <linux/bpf.h>
static const unsigned char hdr[34] = { $hdr };
__attribute__((section("xdp"), used)) int xdp_gen(struct xdp_md *ctx)
{
	unsigned char *d = (unsigned char *)(long)ctx->data, *e = (unsigned char *)(long)ctx->data_end;
	if (d + 34 > e)
		return XDP_TX;
	__builtin_memcpy(d, hdr, 34);
	return XDP_TX;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
C
printf 'program bench_route;\nrule fwd { match ip4 or ip6; verdict route; }\ndefault pass;\n' >"$tmp/route.xdpl"
printf 'program bench_pass;\ndefault pass;\n' >"$tmp/pass.xdpl"
printf 'program bench_sink;\ndefault drop;\n' >"$tmp/sink.xdpl"
innet $H2 "$xdplc" attach "$tmp/sink.xdpl" --dev $H2 >/dev/null
innet $H1 "$xdplc" attach "$tmp/pass.xdpl" --dev $H1 >/dev/null

arrived() {
    innet $H2 "$xdplc" stats --dev $H2 --json --interval 0 |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["packets"])'
}
measure() {  # Mpps arriving at h2
    local before after
    before=$(arrived)
    innet $H1 "$tgen" --dev $H1 --pcap "$tmp/flow.pcap" --seconds "$secs" --burst 65536 --prog "$tmp/gen.o" >"$tmp/tgen.log"; [[ -n ${BENCH_VERBOSE:-} ]] && { cat "$tmp/tgen.log" >&2; ip -n $RT -s link show dev $R1 >&2; ip -n $RT -s link show dev $R2 >&2; ip -n $H2 -s link show dev $H2 >&2; innet $RT nstat -a 2>/dev/null | grep -E "Forw|Discard|Err|Drop|Ip6Out" >&2; for d in "$RT $R1" "$RT $R2" "$H2 $H2"; do set -- $d; innet $1 ethtool -S $2 | grep -vE ": 0$" >&2; done; }
    after=$(arrived)
    awk -v d=$((after - before)) -v s="$secs" 'BEGIN { printf "%.3f", d / s / 1e6 }'
}
setup() {
    case $1 in
    route) innet $RT "$xdplc" attach "$tmp/route.xdpl" --dev $R1 >/dev/null ;;
    kernel) innet $RT "$xdplc" attach "$tmp/pass.xdpl" --dev $R1 >/dev/null ;;
    esac
}
teardown() { innet $RT "$xdplc" detach --dev $R1 >/dev/null; }
fwd() { innet $RT awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp; }

declare -A best
for ((r = 0; r < rounds; r++)); do
    for v in route kernel; do
        setup $v
        f0=$(fwd)
        m=$(measure)
        f1=$(fwd)
        teardown $v
        [[ $r -eq 0 ]] && echo "$v: router stack ForwDatagrams +$((f1 - f0))" >&2
        best[$v]=$(awk -v a="${best[$v]:-0}" -v b="$m" 'BEGIN { print (b > a) ? b : a }')
    done
done
printf '%-8s %10s\n' mode Mpps
for v in route kernel; do printf '%-8s %10.3f\n' $v "${best[$v]}"; done
awk -v x="${best[route]}" -v k="${best[kernel]}" 'BEGIN { printf "route / kernel forwarding: %.2fx\n", x / k }'
