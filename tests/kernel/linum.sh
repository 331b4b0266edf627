#!/usr/bin/env bash
# `bpftool prog dump xlated linum` of a built object names the .xdpl file
# and the line of each rule.
set -u
xdplc=$1 root=$2
source "$root/tests/lib.sh"
need_root

src="$XDPL_TMP/lines.xdpl"
cat >"$src" <<'XDPL'
program lines;

rule ssh {
    match tcp.dport == 22;
    verdict drop;
}

rule dns {
    match udp.dport == 53 and ip4.src in 10.0.0.0/8;
    verdict pass;
}

rule old_ttl {
    match ip4.ttl < 2;
    verdict drop;
}

default pass;
XDPL
"$xdplc" build "$src" -o "$XDPL_TMP/lines.o" || fail "build"
pin="/sys/fs/bpf/${XDPL_TEST_ID}_linum"
on_exit "rm -f $pin"
bpftool prog load "$XDPL_TMP/lines.o" "$pin" || fail "bpftool prog load"
bpftool prog dump xlated pinned "$pin" linum >"$XDPL_TMP/dump.txt" || fail "dump"
# Each rule is named by the line of its match (the rule code O2 keeps).
for line in 4 9 14; do
    grep -q "file:$src line_num:$line " "$XDPL_TMP/dump.txt" ||
        { cat "$XDPL_TMP/dump.txt"; fail "line $line of $src not in the xlated dump"; }
done
echo "ok: the match lines 4, 9, 14 of the three rules of lines.xdpl appear in the xlated dump"
