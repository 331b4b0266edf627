# Shared helpers for shell tests: unique names, a netns with a veth pair,
# and cleanup of everything created, on success and on failure alike.
# Usage: source tests/lib.sh; then xdpl_netns_veth NS; cleanup is automatic.

XDPL_TEST_ID="xt$$"
XDPL_CLEANUP=()
XDPL_TMP=$(mktemp -d "/tmp/xdpl-test.XXXXXX")

# iproute2 and libxdp create these bpffs directories as a side effect of
# loading objects; remove the ones a test created (only when left empty).
XDPL_BPFFS_SIDE_DIRS=(/sys/fs/bpf/tc/globals /sys/fs/bpf/tc /sys/fs/bpf/ip
                      /sys/fs/bpf/xdp/globals /sys/fs/bpf/xdp)
XDPL_BPFFS_PREEXISTING=()
for d in "${XDPL_BPFFS_SIDE_DIRS[@]}"; do
    [[ -e $d || -L $d ]] && XDPL_BPFFS_PREEXISTING+=("$d")
done

xdpl_cleanup() {
    local i d
    for ((i = ${#XDPL_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${XDPL_CLEANUP[i]}" >/dev/null 2>&1 || true
    done
    for d in "${XDPL_BPFFS_SIDE_DIRS[@]}"; do
        [[ " ${XDPL_BPFFS_PREEXISTING[*]} " == *" $d "* ]] && continue
        if [[ -L $d ]]; then rm -f "$d"; else rmdir "$d" 2>/dev/null || true; fi
    done
    rm -rf "$XDPL_TMP"
}
trap xdpl_cleanup EXIT
trap 'exit 130' INT TERM

on_exit() { XDPL_CLEANUP+=("$*"); }

fail() { echo "FAIL: $*" >&2; exit 1; }

need_root() {
    [[ $(id -u) -eq 0 ]] || fail "this test needs root (loads BPF programs, makes netns)"
    mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf
}

# xdpl_netns_veth NS: netns NS holding veth pair NS-a <-> NS-b, both up.
# The names stay under 15 characters (IFNAMSIZ).
xdpl_netns_veth() {
    local ns=$1
    ip netns add "$ns" || fail "ip netns add $ns"
    on_exit "ip netns del $ns"
    ip -n "$ns" link add "${ns}a" type veth peer name "${ns}b" || fail "veth in $ns"
    ip -n "$ns" link set "${ns}a" up
    ip -n "$ns" link set "${ns}b" up
    ip -n "$ns" link set lo up
}
