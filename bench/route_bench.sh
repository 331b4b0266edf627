#!/usr/bin/env bash
# L3 forwarding benchmark (veth, native XDP): `verdict route` against the
# kernel's own forwarding, on the same topology h1 -- router -- h2, for
# IPv4 and IPv6.
#   route   the router's ingress veth runs examples/router.xdpl as it is in
#           the repository (martian / link-local / multicast / ND / options
#           / expired checks, then route4 / route6: bpf_fib_lookup +
#           bpf_redirect)
#   kernel  the router's ingress veth runs `default pass` (needed: frames
#           sent by XDP into a veth need an XDP program on the peer) and
#           the stack forwards (ip_forward=1, ipv6 forwarding=1)
# xdpl-trafficgen sends live frames (AF_PACKET frames where the kernel
# refuses them: bench/tgen_mode.sh) (UDP, 10.201.1.1 -> 10.201.2.1, or
# fd00:201:1::1 -> fd00:201:2::1, to the router's MAC) from h1's veth;
# h2's veth runs `default drop` and counts what arrives (xdplc stats).
# Neighbours are static. Best of ROUNDS (3) rounds of SECONDS each.
# Usage: bench/route_bench.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
secs=${2:-3}
rounds=${ROUNDS:-3}
xdplc=$build/xdplc tgen=$build/xdpl-trafficgen
policy=$root/examples/router.xdpl
[[ $(id -u) -eq 0 ]] || { echo "needs root" >&2; exit 1; }
mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf
id=xrb$$
H1=${id}h1 H2=${id}h2 RT=${id}rt R1=${id}r1 R2=${id}r2
tmp=$(mktemp -d /tmp/xdpl-route.XXXXXX)
innet() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
cleanup() {
    innet $RT "$xdplc" detach --dev $R1 >/dev/null 2>&1 || rm -rf /sys/fs/bpf/xdpl/$R1
    innet $RT "$xdplc" detach --dev $R2 >/dev/null 2>&1 || rm -rf /sys/fs/bpf/xdpl/$R2
    innet $H1 "$xdplc" detach --dev $H1 >/dev/null 2>&1 || rm -rf /sys/fs/bpf/xdpl/$H1
    innet $H2 "$xdplc" detach --dev $H2 >/dev/null 2>&1 || rm -rf /sys/fs/bpf/xdpl/$H2
    for ns in $H1 $H2 $RT; do ip netns del $ns 2>/dev/null || true; done
    rmdir /sys/fs/bpf/xdpl 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for ns in $H1 $H2 $RT; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add $H1 netns $H1 type veth peer name $R1 netns $RT
ip link add $H2 netns $H2 type veth peer name $R2 netns $RT
ip -n $H1 link set $H1 up; ip -n $H2 link set $H2 up
ip -n $RT link set $R1 up; ip -n $RT link set $R2 up
ip -n $H1 addr add 10.201.1.1/24 dev $H1
ip -n $H1 addr add fd00:201:1::1/64 dev $H1 nodad
ip -n $H2 addr add 10.201.2.1/24 dev $H2
ip -n $H2 addr add fd00:201:2::1/64 dev $H2 nodad
ip -n $RT addr add 10.201.1.254/24 dev $R1
ip -n $RT addr add fd00:201:1::fe/64 dev $R1 nodad
ip -n $RT addr add 10.201.2.254/24 dev $R2
ip -n $RT addr add fd00:201:2::fe/64 dev $R2 nodad
ip netns exec $RT sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
mac() { ip -n "$1" -j link show dev "$2" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
ip -n $RT neigh replace 10.201.2.1 lladdr "$(mac $H2 $H2)" nud permanent dev $R2
ip -n $RT neigh replace 10.201.1.1 lladdr "$(mac $H1 $H1)" nud permanent dev $R1
ip -n $RT neigh replace fd00:201:2::1 lladdr "$(mac $H2 $H2)" nud permanent dev $R2
ip -n $RT neigh replace fd00:201:1::1 lladdr "$(mac $H1 $H1)" nud permanent dev $R1

# one flow capture per family, and the generator program for it: its XDP
# program puts back the Ethernet + IP header the router changed (TTL / hop
# limit, checksum, MACs): live frames are reused pages.
/usr/bin/python3 - "$tmp" "$(mac $H1 $H1)" "$(mac $RT $R1)" <<'PY'
import sys
from scapy.all import Ether, IP, IPv6, UDP, Raw, wrpcap
tmp, src, dst = sys.argv[1:]
e = Ether(src=src, dst=dst)
for fam, ip, hl in (("4", IP(src="10.201.1.1", dst="10.201.2.1", ttl=64), 34),
                    ("6", IPv6(src="fd00:201:1::1", dst="fd00:201:2::1", hlim=64), 54)):
    pkts = [e / ip / UDP(sport=1000 + i, dport=9) / Raw(b"x" * 18) for i in range(8)]
    wrpcap(f"{tmp}/flow{fam}.pcap", pkts)
    with open(f"{tmp}/hdr{fam}", "w") as f:
        f.write(",".join(str(b) for b in bytes(pkts[0])[:hl]))
PY
for fam in 4 6; do
    hdr=$(cat "$tmp/hdr$fam")
    n=$(awk -F, '{ print NF }' "$tmp/hdr$fam")
    clang-19 -O2 -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -x c -o "$tmp/gen$fam.o" -c - <<C
#include <linux/bpf.h>
static const unsigned char hdr[$n] = { $hdr };
__attribute__((section("xdp"), used)) int xdp_gen(struct xdp_md *ctx)
{
	unsigned char *d = (unsigned char *)(long)ctx->data, *e = (unsigned char *)(long)ctx->data_end;
	if (d + $n > e)
		return XDP_TX;
	__builtin_memcpy(d, hdr, $n);
	return XDP_TX;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
C
done
printf 'program bench_pass;\ndefault pass;\n' >"$tmp/pass.xdpl"
printf 'program bench_sink;\ndefault drop;\n' >"$tmp/sink.xdpl"
innet $H2 "$xdplc" attach "$tmp/sink.xdpl" --dev $H2 >/dev/null
innet $H1 "$xdplc" attach "$tmp/pass.xdpl" --dev $H1 >/dev/null

arrived() {
    innet $H2 "$xdplc" stats --dev $H2 --json --interval 0 |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["packets"])'
}
measure() {  # measure FAMILY: Mpps arriving at h2
    local before after
    before=$(arrived)
    innet $H1 "$tgen" --dev $H1 --pcap "$tmp/flow$1.pcap" --seconds "$secs" --burst 65536 --prog "$tmp/gen$1.o" >"$tmp/tgen.log"; [[ -n ${BENCH_VERBOSE:-} ]] && { cat "$tmp/tgen.log" >&2; ip -n $RT -s link show dev $R1 >&2; ip -n $RT -s link show dev $R2 >&2; ip -n $H2 -s link show dev $H2 >&2; innet $RT nstat -a 2>/dev/null | grep -E "Forw|Discard|Err|Drop|Ip6Out" >&2; for d in "$RT $R1" "$RT $R2" "$H2 $H2"; do set -- $d; innet $1 ethtool -S $2 | grep -vE ": 0$" >&2; done; }
    after=$(arrived)
    awk -v d=$((after - before)) -v s="$secs" 'BEGIN { printf "%.3f", d / s / 1e6 }'
}
setup() {
    case $1 in
    route) innet $RT "$xdplc" attach "$policy" --dev $R1 >/dev/null ;;
    kernel) innet $RT "$xdplc" attach "$tmp/pass.xdpl" --dev $R1 >/dev/null ;;
    esac
}
teardown() { innet $RT "$xdplc" detach --dev $R1 >/dev/null; }
fwd() {  # fwd FAMILY: packets the router's stack forwarded
    if [[ $1 == 4 ]]; then
        innet $RT awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp
    else
        innet $RT awk '$1 == "Ip6OutForwDatagrams" { print $2 }' /proc/net/snmp6
    fi
}
# routed FAMILY: packets the example's route4 / route6 rule took on r1
routed() {
    innet $RT "$xdplc" stats --dev $R1 --json --interval 0 | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(r["packets"] for r in d["rules"] if r["name"] == "route" + sys.argv[1]))' "$1"
}

source "$root/bench/tgen_mode.sh"
bench_tgen_mode "$tgen" $H1 $H1
declare -A best
for ((r = 0; r < rounds; r++)); do
    for fam in 4 6; do
        for v in route kernel; do
            setup $v
            f0=$(fwd $fam)
            [[ $v == route ]] && k0=$(routed $fam)
            m=$(measure $fam)
            f1=$(fwd $fam)
            if [[ $r -eq 0 ]]; then
                if [[ $v == route ]]; then
                    echo "ip$fam $v: router stack forwarded +$((f1 - f0)), route$fam counted +$(($(routed $fam) - k0))" >&2
                else
                    echo "ip$fam $v: router stack forwarded +$((f1 - f0))" >&2
                fi
            fi
            teardown $v
            best[$v$fam]=$(awk -v a="${best[$v$fam]:-0}" -v b="$m" 'BEGIN { print (b > a) ? b : a }')
        done
    done
done
bench_tgen_label
printf '%-8s %-6s %10s\n' mode family Mpps
for fam in 4 6; do
    for v in route kernel; do printf '%-8s %-6s %10.3f\n' $v ip$fam "${best[$v$fam]}"; done
done
for fam in 4 6; do
    awk -v f=$fam -v x="${best[route$fam]}" -v k="${best[kernel$fam]}" \
        'BEGIN { printf "ip%s forwarding: route/kernel = %.2fx\n", f, (k > 0 ? x / k : 0) }'
done
