#!/usr/bin/env bash
# `xdplc stats --watch` ends promptly and cleanly on SIGINT, as
# `timeout -s INT T xdplc stats --watch` (attach_stats.sh) uses it: timeout
# signals the command, then its process group, and sends SIGCONT after each,
# so signals also arrive while xdplc exits (in an ASan build: while the leak
# checker runs; one such run once hung for 20 minutes).
# XDPL_SIGINT_RUNS times (default 30), after a random 0.05..1.5 s: exit
# status 0 (130 if the signal came before xdplc set its handler), within
# XDPL_SIGINT_BOUND seconds (default 10) of the signal (timeout -k kills a
# hung one: status 137), every line printed a whole JSON document, and at
# least one printed when it ran longer than an interval.
set -u
XDPLC=$1 root=$2
source "$root/tests/lib.sh"
source "$root/tests/e2e/lib/attach_lib.sh"
need_root
RUNS=${XDPL_SIGINT_RUNS:-30}
BOUND=${XDPL_SIGINT_BOUND:-10}

ns="${XDPL_TEST_ID}si"
e2e_netns "$ns"
B=${ns}b
e2e_cleanup_dev "$B"
cat >"$XDPL_TMP/p.xdpl" <<'EOF'
program e2e_sigint;
rule no_ssh {
    match tcp.dport == 22;
    verdict drop;
}
default pass;
EOF
out=$(inns "$XDPLC" attach "$XDPL_TMP/p.xdpl" --dev "$B") || fail "attach: $out"

slow=0 early=0
for ((i = 1; i <= RUNS; i++)); do
    d=$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.05 + r / 32767 * 1.45 }')
    t0=$(date +%s%N)
    timeout --preserve-status -k "$BOUND" -s INT "$d" \
        nsenter --net="/run/netns/$ns" "$XDPLC" stats --watch --json --interval 0.2 --dev "$B" \
        >"$XDPL_TMP/out" 2>"$XDPL_TMP/err"
    rc=$?
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    after=$(awk -v ms="$ms" -v d="$d" 'BEGIN { printf "%.2f", ms / 1000 - d }')
    [[ $rc == 0 || $rc == 130 ]] ||
        fail "run $i: SIGINT after $d s: exit status $rc after $ms ms: $(cat "$XDPL_TMP/err")"
    [[ $rc == 130 ]] && early=$((early + 1))
    awk -v a="$after" -v b="$BOUND" 'BEGIN { exit !(a < b) }' ||
        fail "run $i: took $after s after the signal to end"
    awk -v a="$after" 'BEGIN { exit !(a > 1) }' && slow=$((slow + 1))
    $PY -c "
import json, sys
lines = open('$XDPL_TMP/out').read().splitlines()
for l in lines:
    d = json.loads(l)
    assert d['program'] == 'e2e_sigint', d
if $rc == 0 and $d > 1.2 and not lines:
    sys.exit('nothing printed in $d s')
" || fail "run $i: output after SIGINT at $d s: $(cat "$XDPL_TMP/out")"
done
echo "ok: $RUNS x SIGINT ended stats --watch ($early before its handler was set, $slow took over 1 s after the signal)"
