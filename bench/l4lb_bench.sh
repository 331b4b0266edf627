#!/usr/bin/env bash
# L4 load balancer benchmark: examples/l4lb.xdpl compiled by xdplc against
# bench/l4lb/l4lb_ref.c (the same logic by hand, clang-19 -O2), same map
# contents, same packets, in one run:
#
#  1. BPF_PROG_TEST_RUN, one packet per call (bench/l4lb/testrun.py;
#     median over the calls, programs interleaved):
#       known flow  TCP to VIP:80 whose 5-tuple is in `flows`: lookup,
#                   encap, fib lookup, redirect (20000 calls)
#       new flow    a 5-tuple not in `flows` (4000 fresh ones): hash,
#                   backends lookup, flows update, encap, fib, redirect
#       not VIP     TCP to another address: parse and pass
#     `repeat N` cannot be used for the first two: the kernel reruns the
#     program on the same, already encapsulated buffer. Single calls carry
#     a fixed cost (clock reads, setup, cold caches), shown by an empty
#     program; "- empty" lines subtract it. `repeat N` is used for the
#     pass path only (it leaves the packet alone).
#     The runs happen in a netns with a route and a static neighbour for
#     the backends, so `route`'s bpf_fib_lookup succeeds (XDP_REDIRECT; in
#     a test run nothing is sent). Both programs use the same flow hash
#     (MurmurHash3 x86_32 over the packed key): verdicts and output frames
#     must be byte-identical and the 4000 new flows must get the same
#     backends; checked, the script fails otherwise.
#  2. Live traffic (native XDP on veth, SECONDS per round, best of 3):
#     xdpl-trafficgen sends known-flow frames (8 flows) into the LB's
#     veth; the LB tunnels and redirects them into the veth of a backend,
#     whose `default drop` policy counts them. Mpps arriving; and, in a
#     separate pass with kernel.bpf_stats_enabled, the LB program's own
#     run time per packet (run_time_ns / run_cnt: warm caches).
# Also: xlated instruction counts. LIVE=0 skips part 2; L4LB_XDPL=FILE
# measures another version of the example, REF_SRC=FILE another C program.
# Usage: bench/l4lb_bench.sh [BUILD_DIR] [SECONDS]   (BUILD_DIR default
# build/ in this repository; REPEAT=N for test runs, default 2000000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
secs=${2:-3}
repeat=${REPEAT:-2000000}
rounds=5
xdplc=$build/xdplc tgen=$build/xdpl-trafficgen
PY=/usr/bin/python3
[[ $(id -u) -eq 0 ]] || { echo "needs root" >&2; exit 1; }
mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf
id=xlb$$
NS=${id}n                        # test runs: a netns with a route to the backend
H=${id}h LB=${id}lb BE=${id}be   # live: generator -- LB -- backend
tmp=$(mktemp -d /tmp/xdpl-l4lb.XXXXXX)
pins=/sys/fs/bpf/xdpl_l4lb_bench_$$
innet() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
# libxdp / iproute2 make these bpffs directories as a side effect: remove
# the ones this run made (when left empty), as tests/lib.sh does
side_dirs=(/sys/fs/bpf/tc/globals /sys/fs/bpf/tc /sys/fs/bpf/ip /sys/fs/bpf/xdp/globals /sys/fs/bpf/xdp)
side_pre=()
for d in "${side_dirs[@]}"; do [[ -e $d ]] && side_pre+=("$d"); done
cleanup() {
    set +e
    for d in "$LB:${id}l0" "$BE:${id}b" "$H:${id}g"; do
        innet "${d%%:*}" "$xdplc" detach --dev "${d#*:}" >/dev/null 2>&1
    done
    for ns in $NS $H $LB $BE; do ip netns del $ns 2>/dev/null; done
    rmdir /sys/fs/bpf/xdpl 2>/dev/null
    for d in "${side_dirs[@]}"; do
        [[ " ${side_pre[*]} " == *" $d "* ]] || rmdir "$d" 2>/dev/null
    done
    rm -rf "$pins" "$tmp"
}
trap cleanup EXIT

VIP=10.210.0.100 LB_ADDR=10.210.2.254 BE1=10.210.2.1 BE2=10.210.2.2
# ---------------------------------------------------------------- objects
xsrc=${L4LB_XDPL:-$root/examples/l4lb.xdpl}   # L4LB_XDPL: try a variant of the example
have_xdpl=1
if ! "$xdplc" build "$xsrc" -o "$tmp/xdpl.o" 2>"$tmp/xdpl.err"; then
    have_xdpl=0
    echo "xdpl: $xsrc does not build, measuring the C program only:" >&2
    sed 's/^/    /' "$tmp/xdpl.err" >&2
fi
clang-19 -O2 -g -target bpf -mcpu=v3 -I/usr/include/"$(uname -m)"-linux-gnu \
    -c "${REF_SRC:-$root/bench/l4lb/l4lb_ref.c}" -o "$tmp/c.o"
vs=(c)
((have_xdpl)) && vs=(xdpl c)

# ---------------------------------------------------------------- 1. test runs
ip netns add $NS
ip -n $NS link set lo up
ip -n $NS link add ${id}a type veth peer name ${id}b
ip -n $NS link set ${id}a up
ip -n $NS link set ${id}b up
ip -n $NS addr add $LB_ADDR peer $BE1/32 dev ${id}a
ip -n $NS route add $BE2/32 dev ${id}a
ip netns exec $NS sysctl -qw net.ipv4.ip_forward=1
ip -n $NS neigh replace $BE1 lladdr 02:00:00:00:be:01 nud permanent dev ${id}a
ip -n $NS neigh replace $BE2 lladdr 02:00:00:00:be:02 nud permanent dev ${id}a

# map values: an ip4 value is stored as on the wire (big-endian bytes) by
# xdplc and by the C program (__be32), like the keys
val() {  # val V ADDR: the value bytes for bpftool
    echo "${2//./ }"
}
mkdir -p "$pins"
for v in "${vs[@]}"; do
    mkdir -p "$pins/$v"
    bpftool prog load "$tmp/$v.o" "$pins/$v/prog" type xdp pinmaps "$pins/$v"
    for s in 0 1 2 3 4 5 6 7; do
        bpftool map update pinned "$pins/$v/backends" key $s 0 0 0 value $(val $v $BE1)
        bpftool map update pinned "$pins/$v/backends" key $((s + 8)) 0 0 0 value $(val $v $BE2)
    done
    # the known flow: 10.210.1.1:40000 -> VIP:80 TCP -> backend 2
    bpftool map update pinned "$pins/$v/flows" \
        key 10 210 1 1 ${VIP//./ } 0x9c 0x40 0 80 6 value $(val $v $BE2)
done

$PY - "$tmp" <<'PY'
import sys
from scapy.all import Ether, IP, TCP, Raw
d = sys.argv[1]
e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
pl = Raw(b"x" * 64)
open(f"{d}/known-0.pkt", "wb").write(bytes(
    e / IP(src="10.210.1.1", dst="10.210.0.100") / TCP(sport=40000, dport=80, flags="A") / pl))
open(f"{d}/other-0.pkt", "wb").write(bytes(
    e / IP(src="10.210.1.1", dst="10.210.0.7") / TCP(sport=40000, dport=80, flags="A") / pl))
for i in range(4000):
    open(f"{d}/new-{i}.pkt", "wb").write(bytes(
        e / IP(src="10.210.1.%d" % (2 + i // 60000), dst="10.210.0.100") /
        TCP(sport=1024 + i, dport=443, flags="S")))
PY

# an empty program: the fixed cost of a single test run
printf '#include <linux/bpf.h>\n__attribute__((section("xdp"), used)) int xdp_empty(struct xdp_md *c) { return XDP_PASS; }\nchar LICENSE[] __attribute__((section("license"), used)) = "GPL";\n' |
    clang-19 -O2 -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -x c -o "$tmp/empty.o" -c -
mkdir -p "$pins/empty"
bpftool prog load "$tmp/empty.o" "$pins/empty/prog" type xdp
pinlist=()
for v in "${vs[@]}" empty; do pinlist+=("$pins/$v/prog"); done
declare -A med mean rv ins nf
single() {  # single NAME RUNS: one test run per call, all programs interleaved
    local k out
    mapfile -t out < <(innet $NS $PY "$root/bench/l4lb/testrun.py" "$2" "$tmp" "$1" "${pinlist[@]}")
    for k in "${!out[@]}"; do
        read -r _ "med[$1.$k]" "mean[$1.$k]" "rv[$1.$k]" <<<"${out[k]}"
    done
}
single new 4000      # first: every packet is a flow not seen yet
single known 20000
single other 20000
# equivalence: same verdict and same output frame (index 0 xdpl, 1 C)
for p in known new other; do
    if ((have_xdpl)); then
        [[ ${rv[$p.0]} == "${rv[$p.1]}" ]] || { echo "$p: verdicts differ: xdpl ${rv[$p.0]}, C ${rv[$p.1]}" >&2; exit 1; }
        cmp -s "$tmp/$p.out-0" "$tmp/$p.out-1" || {
            echo "$p: output frames differ" >&2
            for k in 0 1; do echo "${vs[k]}:"; od -An -tx1 "$tmp/$p.out-$k" | head -5; done >&2
            exit 1
        }
    fi
done
c=$(( ${#vs[@]} - 1 ))   # index of C
[[ ${rv[known.$c]} == 4 && ${rv[new.$c]} == 4 && ${rv[other.$c]} == 2 ]] ||
    { echo "C verdicts: known ${rv[known.$c]}, new ${rv[new.$c]}, other ${rv[other.$c]} (want 4 4 2)" >&2; exit 1; }
$PY - "$tmp/known.out-$c" <<'PY'
import sys
from scapy.all import Ether
p = Ether(open(sys.argv[1], "rb").read())
o, i = p["IP"], p["IP"].payload
assert o.proto == 4 and o.src == "10.210.2.254" and o.dst == "10.210.2.2" and o.ttl == 63, o.show(dump=True)
q = Ether(bytes(p))
del q["IP"].chksum
assert Ether(bytes(q))["IP"].chksum == o.chksum, "outer checksum"
print("known flow output: %s > %s, outer %s > %s ttl %d id %d proto %d, inner %s > %s %s"
      % (p.src, p.dst, o.src, o.dst, o.ttl, o.id, o.proto, i.src, i.dst, i.payload.summary()),
      file=sys.stderr)
PY
if ((have_xdpl)); then
    # the same backend chosen for each of the 4000 new flows (same hash)
    for v in xdpl c; do bpftool -j map dump pinned "$pins/$v/flows" >"$tmp/flows.$v.json"; done
    $PY - "$tmp/flows.xdpl.json" "$tmp/flows.c.json" <<'PY' || exit 1
import json, sys
def load(f, rev):
    return {tuple(e["key"]): tuple(reversed(e["value"]) if rev else e["value"]) for e in json.load(open(f))}
x, c = load(sys.argv[1], False), load(sys.argv[2], False)   # both: ip4 values as on the wire
if x != c:
    sys.exit("flows differ after the new-flow runs: %d vs %d entries, %d differ"
             % (len(x), len(c), sum(1 for k in x if x[k] != c.get(k))))
print("new flows: xdpl and C chose the same backend for all %d flows" % (len(x) - 1), file=sys.stderr)
PY
fi
# the pass path leaves the packet alone, so a repeated run is valid there
rep() {
    innet $NS bpftool prog run pinned "$pins/$1/prog" data_in "$tmp/other-0.pkt" repeat "$repeat" 2>&1 |
        sed -n 's/.*duration[^:]*: \([0-9]*\)ns.*/\1/p'
}
declare -A best
for v in "${vs[@]}"; do best[$v]=999999; done
for ((r = 0; r < rounds; r++)); do
    for v in "${vs[@]}"; do x=$(rep $v); ((x < best[$v])) && best[$v]=$x; done
done

insns() { bpftool prog show pinned "$1" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["bytes_xlated"] // 8)'; }
for v in "${vs[@]}"; do ins[$v]=$(insns "$pins/$v/prog"); done

line() {  # line LABEL XDPL C UNIT
    if ((have_xdpl)); then
        awk -v l="$1" -v x="$2" -v c="$3" -v u="$4" 'BEGIN {
            printf "l4lb %-20s xdpl %7.1f %s, C %7.1f %s, ratio xdpl/C = %.2f\n", l ":", x, u, c, u, x / c }'
    else
        awk -v l="$1" -v c="$3" -v u="$4" 'BEGIN { printf "l4lb %-20s xdpl     n/a, C %7.1f %s\n", l ":", c, u }'
    fi
}
e=${#vs[@]}              # index of the empty program
echo "BPF_PROG_TEST_RUN, one packet per call (median of 20000 calls, new flow: 4000 fresh flows)"
echo "  an empty XDP program takes ${med[known.$e]} ns/call here (clock reads and run setup, included below)"
line "known flow" "${med[known.0]}" "${med[known.$c]}" ns/pkt
line "new flow" "${med[new.0]}" "${med[new.$c]}" ns/pkt
line "not VIP" "${med[other.0]}" "${med[other.$c]}" ns/pkt
line "known - empty" "$(( ${med[known.0]%.*} - ${med[known.$e]%.*} ))" "$(( ${med[known.$c]%.*} - ${med[known.$e]%.*} ))" ns/pkt
line "new - empty" "$(( ${med[new.0]%.*} - ${med[new.$e]%.*} ))" "$(( ${med[new.$c]%.*} - ${med[new.$e]%.*} ))" ns/pkt
echo "BPF_PROG_TEST_RUN repeat $repeat (valid for the pass path only; best of $rounds)"
line "not VIP (repeat)" "${best[xdpl]:-0}" "${best[c]}" ns/pkt
line "xlated insns" "${ins[xdpl]:-0}" "${ins[c]}" insns
rm -rf "$pins"
ip netns del $NS

# ---------------------------------------------------------------- 2. live
[[ ${LIVE:-1} == 0 ]] && exit 0
G=${id}g L0=${id}l0 L1=${id}l1 B=${id}b
for ns in $H $LB $BE; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add $G netns $H type veth peer name $L0 netns $LB
ip link add $B netns $BE mtu 1600 type veth peer name $L1 netns $LB mtu 1600
ip -n $H link set $G up; ip -n $LB link set $L0 up; ip -n $LB link set $L1 up; ip -n $BE link set $B up
source "$root/bench/tgen_mode.sh"
bench_tgen_mode "$tgen" $H $G
ip -n $LB addr add 10.210.1.254/24 dev $L0
ip -n $LB addr add $LB_ADDR peer $BE1/32 dev $L1
ip -n $LB route add $BE2/32 dev $L1
ip netns exec $LB sysctl -qw net.ipv4.ip_forward=1
mac() { ip -n "$1" -j link show dev "$2" | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
ip -n $LB neigh replace $BE1 lladdr "$(mac $BE $B)" nud permanent dev $L1
ip -n $LB neigh replace $BE2 lladdr "$(mac $BE $B)" nud permanent dev $L1

$PY - "$tmp/flows.pcap" "$(mac $H $G)" "$(mac $LB $L0)" <<'PY'
import sys
from scapy.all import Ether, IP, TCP, Raw, wrpcap
e = Ether(src=sys.argv[2], dst=sys.argv[3])
wrpcap(sys.argv[1], [e / IP(src="10.210.1.1", dst="10.210.0.100", ttl=64) /
                     TCP(sport=40000 + i, dport=80, flags="A") / Raw(b"x" * 18) for i in range(8)])
PY
# the generator's XDP program puts back the Ethernet + IPv4 header the LB
# overwrote (live frames are reused pages; the inner header stays intact)
hdr=$($PY -c "
from scapy.all import rdpcap
print(','.join(str(b) for b in bytes(rdpcap('$tmp/flows.pcap')[0])[:34]))")
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
printf 'program bench_sink;\ndefault drop;\n' >"$tmp/sink.xdpl"
printf 'program bench_pass;\ndefault pass;\n' >"$tmp/pass.xdpl"
innet $BE "$xdplc" attach "$tmp/sink.xdpl" --dev $B >/dev/null
innet $H "$xdplc" attach "$tmp/pass.xdpl" --dev $G >/dev/null

arrived() {
    innet $BE "$xdplc" stats --dev $B --json --interval 0 | $PY -c 'import json,sys; print(json.load(sys.stdin)["total"]["packets"])'
}
setup() {
    case $1 in
    xdpl)
        innet $LB "$xdplc" attach "$xsrc" --dev $L0 >/dev/null
        for s in $(seq 0 15); do innet $LB "$xdplc" set --dev $L0 backends add $s $BE1 >/dev/null; done ;;
    c)
        mkdir -p "$pins"
        bpftool prog load "$tmp/c.o" "$pins/prog" type xdp pinmaps "$pins"
        for s in $(seq 0 15); do bpftool map update pinned "$pins/backends" key $s 0 0 0 value $(val c $BE1); done
        innet $LB bpftool net attach xdpdrv pinned "$pins/prog" dev $L0 ;;
    esac
}
teardown() {
    case $1 in
    xdpl) innet $LB "$xdplc" detach --dev $L0 >/dev/null ;;
    c) innet $LB bpftool net detach xdpdrv dev $L0; rm -rf "$pins" ;;
    esac
}
measure() {
    local before after
    before=$(arrived)
    innet $H "$tgen" --dev $G --pcap "$tmp/flows.pcap" --seconds "$secs" --burst 65536 --prog "$tmp/gen.o" >"$tmp/tgen.log"
    after=$(arrived)
    awk -v d=$((after - before)) -v s="$secs" 'BEGIN { printf "%.3f", d / s / 1e6 }'
}
fwd() { innet $LB awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp; }
# ns per run of the LB program in live traffic (warm caches, unlike the
# single test runs): kernel.bpf_stats_enabled run_time_ns / run_cnt, in a
# separate pass (the stats add two clock reads per run)
lb_prog() { ip -n $LB -j -d link show dev $L0 | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["xdp"]["prog"]["id"])'; }
prog_stat() { bpftool prog show id "$1" --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d.get("run_time_ns", 0), d.get("run_cnt", 0))'; }
stats_was=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled=$stats_was; cleanup' EXIT
declare -A runns
for v in "${vs[@]}"; do
    setup $v
    sysctl -qw kernel.bpf_stats_enabled=1
    pid=$(lb_prog)
    read -r t0 n0 < <(prog_stat $pid)
    measure >/dev/null
    read -r t1 n1 < <(prog_stat $pid)
    sysctl -qw kernel.bpf_stats_enabled="$stats_was"
    teardown $v
    runns[$v]=$(awk -v t=$((t1 - t0)) -v n=$((n1 - n0)) 'BEGIN { printf "%.1f", n ? t / n : 0 }')
done
declare -A mpps
for ((r = 0; r < 3; r++)); do
    for v in "${vs[@]}"; do
        setup $v
        f0=$(fwd)
        m=$(measure)
        f1=$(fwd)
        teardown $v
        ((r == 0)) && echo "live $v: LB stack ForwDatagrams +$((f1 - f0)) (expected 0)" >&2
        mpps[$v]=$(awk -v a="${mpps[$v]:-0}" -v b="$m" 'BEGIN { print (b > a) ? b : a }')
    done
done
echo "live, veth, native XDP (best of 3 x ${secs}s; Mpps arriving at the backend)"
bench_tgen_label
line "known flow" "${mpps[xdpl]:-0}" "${mpps[c]}" Mpps
line "live run time" "${runns[xdpl]:-0}" "${runns[c]}" ns/pkt
