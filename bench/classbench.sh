#!/usr/bin/env bash
# ClassBench (docs/performance.md): for each shared rule set (acl, fw, ipc)
# at its first 10, 1,000 (the 1k file) and 10,000 (the 10k file) rules,
# and acl written over IPv6, and a 100k-rule mix of all three:
#  - agreement: every header of the set's trace run through the loaded
#    program (BPF_PROG_TEST_RUN, xdpl-cbrun) must move the counter of the
#    rule a linear scan (bench/classbench/cb.py oracle) finds first;
#  - ns/pkt: mean over 200 trace packets spread over the trace, each
#    repeated REPEAT times, and the ratio to the same set's first 10 rules;
#  - xdplc build wall time and peak RSS.
# One table from one run. The data is read from ../shared/bench/classbench
# beside the repository (XDPL_CLASSBENCH_DATA overrides the folder, for
# worktrees elsewhere). Usage: bench/classbench.sh [BUILD_DIR] [REPEAT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
repeat=${2:-5000}
data=${XDPL_CLASSBENCH_DATA:-$root/../shared/bench/classbench}
if [[ ! -f $data/acl2_1000.gz ]]; then
    echo "classbench.sh: no ClassBench data at $data" >&2
    echo "  (the shared/ folder must sit beside the repository: <dir>/<repo> and <dir>/shared)" >&2
    exit 1
fi
xdplc=$build/xdplc cbrun=$build/xdpl-cbrun
[[ -x $xdplc && -x $cbrun ]] || { echo "classbench.sh: build xdplc and xdpl-cbrun in $build first" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "classbench.sh: needs root (BPF_PROG_TEST_RUN)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/xdpl-classbench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cb() { /usr/bin/python3 "$root/bench/classbench/cb.py" "$@"; }
fail=0

# row NAME N RULES.gz TRACE.gz [--ip6]: one line of the table; $base: ns of 10 rules
row() {
    local name=$1 n=$2 rules=$3 trace=$4 v6=${5:-} key
    key=$(basename "$trace" .gz)$v6
    [[ -f $tmp/$key.pcap ]] || {
        cb pcap "$trace" "$tmp/$key.pcap" $v6
        cb sample "$tmp/$key.pcap" "$tmp/$key.s.pcap" 200
    }
    cb xdpl "$rules" "$n" $v6 >"$tmp/p.xdpl"
    local real; real=$(grep -c '^rule' "$tmp/p.xdpl")
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$xdplc" build "$tmp/p.xdpl" -o "$tmp/p.o" 2>"$tmp/build.log" ||
        { cat "$tmp/build.log" >&2; echo "$name $n: build failed" >&2; exit 1; }
    cb oracle "$rules" "$n" "$trace" >"$tmp/want"
    local total agree ns
    total=$(wc -l <"$tmp/want")
    agree=$("$cbrun" "$tmp/p.o" "$tmp/$key.pcap" 1 "$tmp/want" | sed -n 's/^agree //p')
    [[ $agree == "$total/$total" ]] || fail=1
    ns=$("$cbrun" "$tmp/p.o" "$tmp/$key.s.pcap" "$repeat" | sed -n 's/^mean_ns //p')
    ((n == 10)) && base=$ns
    read -r secs usr sys kb <"$tmp/time"
    awk -v s="$name" -v n="$real" -v a="$agree" -v ns="$ns" -v b="$base" -v t="$secs" -v u="$usr" -v y="$sys" \
        -v m="$kb" 'BEGIN { printf "%-8s %7d %13s %8.1f %7.2f %8.2f %7.2f %7.0f\n",
                            s, n, a, ns, ns / b, t, u + y, m / 1024 }'
}

printf '%-8s %7s %13s %8s %7s %8s %7s %7s\n' set rules agree ns/pkt ratio build_s cpu_s rss_MB
for set in acl2 fw2 ipc2; do
    for n in 10 1000 10000; do
        f=${set}_$((n <= 1000 ? 1000 : 10000))
        row "${set%2}" "$n" "$data/$f.gz" "$data/${f}_trace.gz"
    done
done
for n in 10 1000 10000; do
    f=acl2_$((n <= 1000 ? 1000 : 10000))
    row acl-ip6 "$n" "$data/$f.gz" "$data/${f}_trace.gz" --ip6
done
# 100k: acl, fw and ipc interleaved, then copies in other address blocks;
# every 30th header of the three traces (the oracle scans 100k rules)
cb mix "$tmp/mix.gz" 100000 "$data/acl2_10000.gz" "$data/fw2_10000.gz" "$data/ipc2_10000.gz"
cb cat "$tmp/mixtrace.gz" 30 "$data/acl2_10000_trace.gz" "$data/fw2_10000_trace.gz" "$data/ipc2_10000_trace.gz"
for n in 10 100000; do
    row mix "$n" "$tmp/mix.gz" "$tmp/mixtrace.gz"
done
echo "(ratio: ns/pkt over the same set's first 10 rules; agree: trace headers whose rule is the oracle's;"
echo " build_s: xdplc build wall time, cpu_s: its user + system time, rss_MB: its peak RSS)"
uname -srm; grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'
exit $fail
