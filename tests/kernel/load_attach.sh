#!/usr/bin/env bash
# Every policy in tests/ and examples/ builds, loads with `bpftool prog load`
# and attaches with `ip link set dev VETH xdp obj F.o sec xdp` in a netns.
set -u
xdplc=$1 root=$2
source "$root/tests/lib.sh"
need_root

ns="${XDPL_TEST_ID}la"
xdpl_netns_veth "$ns"
pin="/sys/fs/bpf/${XDPL_TEST_ID}_load"
on_exit "rm -f $pin"

n=0
for f in "$root"/tests/lang/*.xdpl "$root"/examples/*.xdpl; do
    [[ -e $f ]] || continue
    name=$(basename "$f" .xdpl)
    obj="$XDPL_TMP/$name.o"
    "$xdplc" build "$f" -o "$obj" || fail "$name: xdplc build failed"
    bpftool prog load "$obj" "$pin" >"$XDPL_TMP/load.log" 2>&1 ||
        { cat "$XDPL_TMP/load.log"; fail "$name: bpftool prog load rejected the object"; }
    rm -f "$pin"
    ip -n "$ns" link set dev "${ns}a" xdp obj "$obj" sec xdp 2>"$XDPL_TMP/ip.log" ||
        { cat "$XDPL_TMP/ip.log"; fail "$name: ip link ... xdp obj rejected the object"; }
    ip -n "$ns" -d link show dev "${ns}a" | grep -q 'prog/xdp' ||
        fail "$name: no XDP program shown on ${ns}a after attach"
    ip -n "$ns" link set dev "${ns}a" xdp off || fail "$name: xdp off"
    n=$((n + 1))
done
((n > 0)) || fail "no policies found"
echo "ok: $n objects loaded with bpftool and attached with ip"
