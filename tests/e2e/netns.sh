#!/usr/bin/env bash
# xdplc in network namespaces, entered every way an operator does:
#   - `ip netns exec NS xdplc ...` (a private mount namespace with a fresh
#     /sys: the pins must still land on the host's bpffs and outlive the
#     command), `nsenter --net=/run/netns/NS`, and the root namespace;
#   - the state one command leaves (link, maps, set elements, counters) is
#     found by the next one, whichever way it enters;
#   - two namespaces with a device of the same name hold two policies that
#     do not collide, and the commands say which namespace they acted in;
#   - a device, or a whole namespace, going away: the next command removes
#     the pins left behind and says so;
#   - where no bpffs outlives the command, attach fails before attaching.
# Oracles: the kernel's view through `ip -d link` and bpftool, and bpffs.
set -u
XDPLC=$1 root=$2
source "$root/tests/lib.sh"
source "$root/tests/e2e/lib/attach_lib.sh"
need_root
for t in ip nsenter unshare bpftool; do
    command -v "$t" >/dev/null || fail "needs $t"
done

id=$XDPL_TEST_ID
N1=${id}n1 N2=${id}n2
V=${id}v W=${id}w       # the same device names in both namespaces
R0=${id}r0 R1=${id}r1   # a veth pair in the root namespace
PINS=/sys/fs/bpf/xdpl

for ns in "$N1" "$N2"; do
    ip netns add "$ns" || fail "ip netns add $ns"
    on_exit "ip netns del $ns"
    ip -n "$ns" link add "$V" type veth peer name "$W" || fail "veth in $ns"
    ip -n "$ns" link set "$V" up
    ip -n "$ns" link set "$W" up
    on_exit "nsenter --net=/run/netns/$ns $XDPLC detach --dev $V"
done
on_exit "rmdir $PINS"

for n in one two; do
    cat >"$XDPL_TMP/$n.xdpl" <<EOF
program ns_$n;
set ns_${n}_blocked: hash<ip4> max 16 = { 192.0.2.1 };
rule blocked {
    match ip4.src in ns_${n}_blocked;
    verdict drop;
}
default pass;
EOF
done

in_exec() { local ns=$1; shift; ip netns exec "$ns" "$XDPLC" "$@"; }
in_nsenter() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$XDPLC" "$@"; }
expect() { [[ $2 == "$3" ]] || fail "$1: expected '$3', got '$2'"; }
# prog_on NS DEV: "ID NAME" of the XDP program the kernel runs on DEV ("" if none).
prog_on() {
    ip -n "$1" -d link show dev "$2" | sed -n 's/.*prog\/xdp id \([0-9]*\) name \([^ ]*\).*/\1 \2/p'
}
# pin_dir NS DEV: the device's pin directory (keyed by the namespace's inode).
pin_dir() {
    local ino
    ino=$(stat -L -c %i "/run/netns/$1") || fail "no /run/netns/$1"
    compgen -G "$PINS/netns-$ino-*/$2"
}

# ---------------------------------------------------------------- ip netns exec
out=$(in_exec "$N1" attach "$XDPL_TMP/one.xdpl" --dev "$V") || fail "attach under ip netns exec: $out"
echo "$out"
grep -q "^attached ns_one on $V (native mode, prog id [0-9]*, link id [0-9]*) in netns $N1:" <<<"$out" ||
    fail "attach summary: $out"
# The command has exited: the program must still run and be pinned.
read -r pid1 name1 <<<"$(prog_on "$N1" "$V")"
expect "program on $V in $N1 after ip netns exec exited" "$name1" ns_one
d1=$(pin_dir "$N1" "$V") || fail "no pin directory for $V of $N1 under $PINS: $(ls -R $PINS)"
for f in link xdpl_meta xdpl_stats ns_one_blocked; do
    [[ -e $d1/$f ]] || fail "$d1/$f missing"
done
link1=$(bpftool -j link show pinned "$d1/link" | json_get "d['id']")
expect "pinned link's program" "$(bpftool -j link show pinned "$d1/link" | json_get "d['prog_id']")" "$pid1"
echo "ok: ip netns exec: attached and still running after the command exited (prog $pid1, link $link1)"

st=$(in_exec "$N1" status --json) || fail "status under ip netns exec"
expect "status netns" "$(json_get "d['netns']" <<<"$st")" "netns $N1"
expect "status lists" "$(json_get "[(a['dev'], a['program'], a['prog_id'], a['pin_dir']) for a in d['attached']]" <<<"$st")" \
    "[('$V', 'ns_one', $pid1, '$d1')]"
in_exec "$N1" status | grep -q "^xdpl policies in netns $N1:" || fail "status text does not name the namespace"
s=$(in_exec "$N1" stats --dev "$V" --json --interval 0) || fail "stats under ip netns exec"
expect "stats prog id" "$(json_get "d['prog_id']" <<<"$s")" "$pid1"
expect "stats netns" "$(json_get "d['netns']" <<<"$s")" "netns $N1"
in_exec "$N1" set --dev "$V" ns_one_blocked add 192.0.2.7 || fail "set add under ip netns exec"
expect "set list through nsenter" "$(in_nsenter "$N1" set --dev "$V" ns_one_blocked list | sort | tr '\n' ' ')" \
    "192.0.2.1 192.0.2.7 "
echo "ok: ip netns exec: status, stats and set find the state; nsenter sees the same"

# A second attach, the other way in, finds the first and replaces it.
out=$(in_nsenter "$N1" attach "$XDPL_TMP/one.xdpl" --dev "$V") || fail "re-attach through nsenter: $out"
grep -q "^replaced the policy with ns_one on $V .* in netns $N1: .*2 maps kept, 0 new" <<<"$out" || fail "re-attach: $out"
expect "set element kept over the replace" "$(in_exec "$N1" set --dev "$V" ns_one_blocked list | sort | tr '\n' ' ')" \
    "192.0.2.1 192.0.2.7 "
echo "ok: the replace found the policy and kept its set"

# ---------------------------------------------------------------- nsenter, same device name
out=$(in_nsenter "$N2" attach "$XDPL_TMP/two.xdpl" --dev "$V") || fail "attach through nsenter: $out"
grep -q "^attached ns_two on $V (native mode.*) in netns $N2:" <<<"$out" || fail "attach summary: $out"
read -r pid2 name2 <<<"$(prog_on "$N2" "$V")"
expect "program on $V in $N2" "$name2" ns_two
read -r p name <<<"$(prog_on "$N1" "$V")"
expect "program on $V in $N1 untouched" "$name" ns_one
d2=$(pin_dir "$N2" "$V") || fail "no pin directory for $V of $N2"
[[ $d1 != "$d2" ]] || fail "both namespaces share $d1"
expect "status in $N2" "$(in_exec "$N2" status --json | json_get "[(a['dev'], a['program']) for a in d['attached']]")" \
    "[('$V', 'ns_two')]"
expect "status in $N1" "$(in_nsenter "$N1" status --json | json_get "[(a['dev'], a['program']) for a in d['attached']]")" \
    "[('$V', 'ns_one')]"
expect "set of $N2" "$(in_exec "$N2" set --dev "$V" ns_two_blocked list)" "192.0.2.1"
echo "ok: same device name in two namespaces: two policies, two pin directories"

# ---------------------------------------------------------------- root namespace
ip link add "$R0" type veth peer name "$R1" || fail "veth in the root namespace"
on_exit "ip link del $R0"
on_exit "$XDPLC detach --dev $R0"
ip link set "$R0" up
ip link set "$R1" up
out=$("$XDPLC" attach "$XDPL_TMP/two.xdpl" --dev "$R0") || fail "attach in the root namespace: $out"
grep -q "^attached ns_two on $R0 (native mode.*) in the root netns:" <<<"$out" || fail "root attach: $out"
ip -d link show dev "$R0" | grep -q 'prog/xdp id [0-9]* name ns_two' || fail "no program on $R0"
"$XDPLC" status | grep -q "^$R0: ns_two" || fail "root status does not list $R0"
in_exec "$N1" status | grep -q "^$R0:" && fail "status in $N1 lists the root namespace's $R0"
out=$("$XDPLC" detach --dev "$R0") || fail "root detach: $out"
expect "root detach" "$out" "detached ns_two from $R0 in the root netns"
ip -d link show dev "$R0" | grep -q 'prog/xdp' && fail "program left on $R0"
echo "ok: root namespace: attach, status, detach"

# ---------------------------------------------------------------- no bpffs outlives the command
# A pid and mount namespace of its own without bpffs: no ancestor's bpffs
# can be reached, so `ip netns exec` must refuse before attaching.
ip -n "$N2" link add "${id}x" type veth peer name "${id}y" || fail "second veth in $N2"
ip -n "$N2" link set "${id}x" up
# attach_no_bpffs TAIL: in a pid and mount namespace of its own without
# bpffs, `ip netns exec` attach, then TAIL (with "; exit $?" the shell stays pid
# 1 and xdplc finds it; without, xdplc is pid 1 and sees no ancestor).
attach_no_bpffs() {
    ERR=$(unshare -m -p -f --mount-proc bash -c "
        while grep -q ' /sys/fs/bpf ' /proc/self/mounts; do umount -l /sys/fs/bpf || exit 9; done
        ip netns exec $N2 $XDPLC attach $XDPL_TMP/one.xdpl --dev ${id}x $1" 2>&1 >/dev/null)
    local rc=$?
    expect "exit status without a lasting bpffs ($1)" "$rc" 1
    grep -q "mount namespace of its own" <<<"$ERR" && grep -q "vanish" <<<"$ERR" ||
        fail "no clear error without a lasting bpffs: $ERR"
    [[ -z $(prog_on "$N2" "${id}x") ]] || fail "a program was attached although its pins could not be kept"
    pin_dir "$N2" "${id}x" >/dev/null && fail "pins made for ${id}x"
}
attach_no_bpffs "; exit \$?"
attach_no_bpffs ""
echo "ok: no lasting bpffs -> $ERR"

# ---------------------------------------------------------------- detach under ip netns exec
out=$(in_exec "$N1" detach --dev "$V") || fail "detach under ip netns exec: $out"
expect "detach" "$out" "detached ns_one from $V in netns $N1"
[[ -z $(prog_on "$N1" "$V") ]] || fail "program left on $V in $N1"
[[ -e $d1 ]] && fail "pins left in $d1"
wait_gone link "$link1"
read -r p name <<<"$(prog_on "$N2" "$V")"
expect "the other namespace's policy after detach" "$name" ns_two
echo "ok: ip netns exec: detach removed exactly its namespace's policy"

# ---------------------------------------------------------------- device gone
link2=$(bpftool -j link show pinned "$d2/link" | json_get "d['id']")
ip -n "$N2" link del "$V" || fail "deleting $V in $N2"
out=$("$XDPLC" status 2>&1) || fail "status after the device went: $out"
echo "$out"
grep -q "removed the pins of ns_two on $V in netns $N2 ($d2): the device is gone" <<<"$out" ||
    fail "status does not say it removed the pins of the deleted device: $out"
grep -q "^$V:" <<<"$out" && fail "status lists the deleted device"
[[ -e $d2 ]] && fail "pins of the deleted device left in $d2"
wait_gone link "$link2"
out=$("$XDPLC" status 2>&1)
grep -q removed <<<"$out" && fail "the removal was reported twice: $out"
echo "ok: a deleted device's pins are removed by the next command, which says so"

# ---------------------------------------------------------------- namespace gone
ip -n "$N1" link add "$V" type veth peer name "${id}z" 2>/dev/null || true
ip -n "$N1" link set "$V" up
out=$(in_exec "$N1" attach "$XDPL_TMP/one.xdpl" --dev "$V") || fail "attach before deleting $N1: $out"
d1=$(pin_dir "$N1" "$V") || fail "no pin directory for $V of $N1"
link1=$(bpftool -j link show pinned "$d1/link" | json_get "d['id']")
ip netns del "$N1" || fail "ip netns del $N1"
st=""
for ((t = 0; t < 50; t++)); do # the namespace is torn down asynchronously
    st=$(in_nsenter "$N2" status --json) || fail "status in $N2"
    [[ $(json_get "len(d['removed'])" <<<"$st") != 0 ]] && break
    sleep 0.1
done
expect "removed after the namespace went" "$(json_get "[(r['dev'], r['netns'], r['program'], r['removed']) for r in d['removed']]" <<<"$st")" \
    "[('$V', 'netns $N1', 'ns_one', True)]"
[[ -e $d1 ]] && fail "pins of the deleted namespace left in $d1"
[[ -e ${d1%/*} ]] && fail "the deleted namespace's directory ${d1%/*} is left"
wait_gone link "$link1"
echo "ok: a deleted namespace's pins are removed by the next command, which says so"
echo "ok: netns"
