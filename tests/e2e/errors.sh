#!/usr/bin/env bash
# xdplc attach/detach/status/stats/set error cases, each: exit status 1, a
# one-line cause that says what to do (checked by key words), nothing leaked
# (pins, programs, maps), and the policy attached before still running
# unchanged (same program id, same pins, its counters still move exactly).
#   not root · no such device · verifier rejection (a clang-built object)
#   · native XDP unsupported (lo) · incompatible map change without --reset
#   · a foreign XDP program without --force · mode change · bpffs missing
#   and unmountable · unknown set / bad element · stale pins (device gone).
set -u
XDPLC=$1 root=$2
source "$root/tests/lib.sh"
source "$root/tests/e2e/lib/attach_lib.sh"
need_root
TGEN=$(dirname "$XDPLC")/xdpl-trafficgen
[[ -x $TGEN ]] || fail "no $TGEN: build the xdpl-trafficgen target"
CLANG=$(command -v clang-19 || command -v clang) || fail "no clang-19 (scripts/deps.sh installs it)"

ns="${XDPL_TEST_ID}er"
RE='^(e2e_errors|e2e_verif|e2e_foreign|er_)'
before=$(bpf_snapshot "$RE" "${ns}a" "${ns}b" lo)
e2e_netns "$ns"
A=${ns}a B=${ns}b
e2e_cleanup_dev "$B"
e2e_cleanup_dev "$A"
e2e_cleanup_dev lo

policy() { # policy FILE MAX: the test policy with its set's max
    cat >"$1" <<EOF
program e2e_errors;

set er_blocked: hash<ip4> max $2 = { 192.0.2.66 };

rule blocked {
    match ip4.src in er_blocked;
    verdict drop;
}

default pass;
EOF
}
policy "$XDPL_TMP/good.xdpl" 64
policy "$XDPL_TMP/bigger.xdpl" 128

# An XDP program the verifier refuses (reads the packet unchecked), and a
# harmless foreign one, both hand-written C.
cat >"$XDPL_TMP/prelude.h" <<'EOF'
typedef unsigned char __u8; typedef unsigned int __u32;
#define SEC(n) __attribute__((section(n), used))
struct xdp_md { __u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };
char LICENSE[] SEC("license") = "GPL";
EOF
cat >"$XDPL_TMP/bad.c" <<'EOF'
#include "prelude.h"
SEC("xdp") int e2e_verif(struct xdp_md *ctx) {
    __u8 *d = (__u8 *)(long)ctx->data;
    return d[20] == 7 ? 1 : 2;
}
EOF
cat >"$XDPL_TMP/foreign.c" <<'EOF'
#include "prelude.h"
SEC("xdp") int e2e_foreign(struct xdp_md *ctx) { return 2; }
EOF
for f in bad foreign; do
    "$CLANG" -O2 -g -target bpf -c "$XDPL_TMP/$f.c" -o "$XDPL_TMP/$f.o" || fail "clang $f.c"
done

$PY - "$XDPL_TMP/mix.pcap" <<'EOF' || fail "making the capture with scapy"
import sys
from scapy.all import Ether, IP, UDP, wrpcap
e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
wrpcap(sys.argv[1], [e / IP(src="192.0.2.66") / UDP(dport=53),    # blocked
                     e / IP(src="192.0.2.77") / UDP(dport=53)])   # blocked once added
EOF

# run NAME CMD...: run a command expecting exit 1; its stderr in $ERR.
run1() {
    local what=$1
    shift
    ERR=$("$@" 2>&1 >/dev/null)
    local rc=$?
    [[ $rc -eq 1 ]] || fail "$what: exit status $rc, expected 1 ($ERR)"
    [[ $(grep -c . <<<"$ERR") -ge 1 ]] || fail "$what: no message"
    echo "ok: $what -> $(head -1 <<<"$ERR")"
}
has() { grep -qi -- "$2" <<<"$ERR" || fail "$1: message lacks '$2': $ERR"; }

# The reference policy on B; runtime element 192.0.2.77.
out=$(inns "$XDPLC" attach "$XDPL_TMP/good.xdpl" --dev "$B") || fail "attach: $out"
inns "$XDPLC" set --dev "$B" er_blocked add 192.0.2.77 || fail "set add"
prog_id=$(inns "$XDPLC" stats --dev "$B" --json --interval 0 | json_get "d['prog_id']")
pins_state() { for f in "$(xdpl_pins "$ns" "$B")"/*; do bpftool -j map show pinned "$f" 2>/dev/null | json_get "d.get('id', 'not a map')"; done; ls "$(xdpl_pins "$ns" "$B")"; }
pins0=$(pins_state)
blocked=0

# still_works CASE: the reference policy is untouched and drops exactly.
still_works() {
    local s p
    s=$(inns "$XDPLC" stats --dev "$B" --json --interval 0) || fail "$1: stats"
    p=$(json_get "d['prog_id']" <<<"$s")
    [[ $p == "$prog_id" ]] || fail "$1: the program on $B changed ($prog_id -> $p)"
    [[ $(pins_state) == "$pins0" ]] || fail "$1: the pins of $B changed"
    inns "$TGEN" --dev "$A" --pcap "$XDPL_TMP/mix.pcap" --count 200 --burst 10 >/dev/null || fail "trafficgen"
    blocked=$((blocked + 200))
    s=$(inns "$XDPLC" stats --dev "$B" --json --interval 0)
    [[ $(json_get "[r for r in d['rules'] if r['name'] == 'blocked'][0]['packets']" <<<"$s") == "$blocked" ]] ||
        fail "$1: the policy on $B no longer drops what it should: $s"
    [[ $(inns "$XDPLC" set --dev "$B" er_blocked list | sort | tr '\n' ' ') == "192.0.2.66 192.0.2.77 " ]] ||
        fail "$1: the set of $B lost elements"
}
still_works "reference policy"

# ---------------------------------------------------------------- not root
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
NXDPLC=$XDPLC
if ! nobody test -x "$XDPLC"; then
    # The build is in a directory nobody may not enter: use a copy.
    d=$(mktemp -d /tmp/xdpl-nobody.XXXXXX)
    on_exit "rm -rf $d"
    chmod 755 "$d"
    cp "$XDPLC" "$d/xdplc"
    NXDPLC=$d/xdplc
fi
for cmd in "attach $XDPL_TMP/good.xdpl --dev $B" "detach --dev $B" "status" "stats --dev $B" \
    "set --dev $B er_blocked list"; do
    run1 "not root: xdplc ${cmd%% *}" nobody "$NXDPLC" $cmd
    has "not root" "needs root (CAP_BPF, CAP_NET_ADMIN): run with sudo"
done
still_works "not root"

# ---------------------------------------------------------------- no such device
for cmd in "attach $XDPL_TMP/good.xdpl --dev nosuchdev0" "detach --dev nosuchdev0" \
    "stats --dev nosuchdev0" "set --dev nosuchdev0 er_blocked list"; do
    run1 "no such device: xdplc ${cmd%% *}" inns "$XDPLC" $cmd
    grep -qE "no such network device 'nosuchdev0'|no xdpl policy is attached to nosuchdev0" <<<"$ERR" ||
        fail "no such device: $ERR"
done
[[ -e $(xdpl_pins "$ns" nosuchdev0) ]] && fail "pins made for a missing device"

# ---------------------------------------------------------------- verifier
run1 "verifier rejection" inns "$XDPLC" attach "$XDPL_TMP/bad.o" --dev "$B"
has verifier "verifier rejected"
has verifier "invalid access to packet"
has verifier "nothing was attached"
still_works "verifier rejection"

# ---------------------------------------------------------------- native unsupported
run1 "native XDP unsupported (lo)" inns "$XDPLC" attach "$XDPL_TMP/good.xdpl" --dev lo
has native "does not support native XDP"
has native "--mode skb"
[[ -e $(xdpl_pins "$ns" lo) ]] && fail "native unsupported: pins left for lo"
out=$(inns "$XDPLC" attach "$XDPL_TMP/good.xdpl" --dev lo --mode skb) || fail "attach --mode skb on lo: $out"
grep -q "(skb mode" <<<"$out" || fail "skb mode summary: $out"
inns "$XDPLC" detach --dev lo >/dev/null || fail "detach lo"
still_works "native unsupported"

# ---------------------------------------------------------------- map changed
run1 "map changed without --reset" inns "$XDPLC" attach "$XDPL_TMP/bigger.xdpl" --dev "$B"
has "map changed" "er_blocked"
has "map changed" "max entries 64 -> 128"
has "map changed" "--reset"
still_works "map changed"

# ---------------------------------------------------------------- mode change
run1 "mode change of a running policy" inns "$XDPLC" attach "$XDPL_TMP/good.xdpl" --dev "$B" --mode skb
has "mode change" "detach"
still_works "mode change"

# ---------------------------------------------------------------- foreign program
ip -n "$ns" link set dev "$A" xdp obj "$XDPL_TMP/foreign.o" sec xdp || fail "ip link ... xdp obj"
fid=$(ip -n "$ns" -j -d link show dev "$A" | json_get "d[0]['xdp']['prog']['id']")
run1 "foreign XDP program without --force" inns "$XDPLC" attach "$XDPL_TMP/good.xdpl" --dev "$A"
has foreign "already has an XDP program (id $fid, e2e_foreign) that xdpl did not attach"
has foreign "--force"
[[ $(ip -n "$ns" -j -d link show dev "$A" | json_get "d[0]['xdp']['prog']['id']") == "$fid" ]] ||
    fail "the foreign program was touched"
[[ -e $(xdpl_pins "$ns" "$A") ]] && fail "foreign: pins left for $A"
out=$(inns "$XDPLC" attach "$XDPL_TMP/good.xdpl" --dev "$A" --force) || fail "attach --force: $out"
grep -q "removed (--force)" <<<"$out" || fail "--force note: $out"
inns "$XDPLC" detach --dev "$A" >/dev/null || fail "detach $A"
ip -n "$ns" -d link show dev "$A" | grep -q prog/xdp && fail "program left on $A"
still_works "foreign program"

# ---------------------------------------------------------------- bpffs
# In a container-like pid and mount namespace without bpffs (no ancestor's
# bpffs reachable) and without CAP_SYS_ADMIN (CAP_BPF and CAP_NET_ADMIN
# kept), mounting bpffs fails.
ERR=$(unshare -m -p -f --mount-proc bash -c "
    while mount | grep -q ' /sys/fs/bpf type bpf'; do umount -l /sys/fs/bpf || exit 9; done
    nsenter --net=/run/netns/$ns setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin \
        $XDPLC attach $XDPL_TMP/good.xdpl --dev $A; exit \$?" 2>&1 >/dev/null)
rc=$?
[[ $rc -eq 1 ]] || fail "bpffs unmountable: exit status $rc ($ERR)"
has bpffs "bpffs is not mounted and mounting it failed"
has bpffs "mount -t bpf bpf /sys/fs/bpf"
echo "ok: bpffs missing and unmountable -> $ERR"
ip -n "$ns" -d link show dev "$A" | grep -q prog/xdp && fail "bpffs: a program was attached to $A"
still_works "bpffs"

# ---------------------------------------------------------------- sets
run1 "unknown set" inns "$XDPLC" set --dev "$B" nosuchset list
has "unknown set" "its sets and maps: er_blocked"
run1 "bad element" inns "$XDPLC" set --dev "$B" er_blocked add 192.0.2.300
has "bad element" "is not an IPv4 address"
run1 "tuple for a one-key set" inns "$XDPLC" set --dev "$B" er_blocked add "(192.0.2.1, 80)"
has "arity" "2 components"
run1 "element not there" inns "$XDPLC" set --dev "$B" er_blocked del 192.0.2.99
has "del" "is not in set 'er_blocked'"
still_works "set errors"

# ---------------------------------------------------------------- --reset
out=$(inns "$XDPLC" attach "$XDPL_TMP/bigger.xdpl" --dev "$B" --reset) || fail "attach --reset: $out"
[[ $(inns "$XDPLC" set --dev "$B" er_blocked list) == "192.0.2.66" ]] ||
    fail "--reset: the set should hold its initial elements only"
echo "ok: --reset replaced the changed set"

# ---------------------------------------------------------------- stale pins
# The next command removes the pins of a deleted device and says so.
ip -n "$ns" link del "$A"
st=$(inns "$XDPLC" status --json)
[[ $(json_get "[(r['dev'], r['removed']) for r in d['removed']]" <<<"$st") == "[('$B', True)]" ]] ||
    fail "the pins of a deleted device were not removed: $st"
[[ $(json_get "[a for a in d['attached'] if a['dev'] == '$B']" <<<"$st") == "[]" ]] ||
    fail "status lists a deleted device: $st"
[[ -e $(xdpl_pins "$ns" "$B") ]] && fail "stale pins left"
run1 "detach of a deleted device" inns "$XDPLC" detach --dev "$B"
has "detach of a deleted device" "no such network device"
echo "ok: stale pins removed by the next command, which says so"

wait_snapshot "$before" "$RE" "$A" "$B" lo || fail "bpffs/progs/maps not back to before"
echo "ok: nothing leaked"
