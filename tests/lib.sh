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

# xdpl_pins NS DEV: the directory xdplc pins DEV of netns NS in ("" for NS:
# this shell's namespace). Layout (runtime/xdpl_meta.h):
# /sys/fs/bpf/xdpl/netns-INODE-COOKIE/DEV. Without one, a path that does
# not exist, so `[[ -e $(xdpl_pins NS DEV) ]]` tells whether pins are there.
xdpl_pins() {
    local ino m ns=/proc/self/ns/net
    [[ -n $1 ]] && ns=/run/netns/$1
    ino=$(stat -L -c %i "$ns") || return 1
    m=$(compgen -G "/sys/fs/bpf/xdpl/netns-$ino-*/$2" | head -1)
    echo "${m:-/sys/fs/bpf/xdpl/netns-$ino-none/$2}"
}

# xdpl_rm_pins NS DEV: remove them whatever state they are in (cleanup).
xdpl_rm_pins() {
    local d
    d=$(xdpl_pins "$1" "$2") || return 0
    rm -rf "$d"
    rmdir "${d%/*}" /sys/fs/bpf/xdpl 2>/dev/null
    return 0
}
