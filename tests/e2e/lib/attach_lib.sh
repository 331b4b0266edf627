# Helpers for the attach e2e tests (sourced after tests/lib.sh; not a test
# itself: tests.cmake registers tests/e2e/*.sh only).
#
# xdplc works the same under `ip netns exec` (tests/e2e/netns.sh); these
# tests enter the test netns with `inns` (nsenter).

# e2e_netns NS: netns NS with veth NSa <-> NSb, IPv6 off (no stray neighbour
# discovery frames that would spoil exact counts), all up. Deleted on exit
# (which removes the veths and detaches their XDP programs).
e2e_netns() {
    local ns=$1
    ip netns add "$ns" || fail "ip netns add $ns"
    on_exit "ip netns del $ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
    ip -n "$ns" link add "${ns}a" type veth peer name "${ns}b" || fail "veth in $ns"
    ip -n "$ns" link set "${ns}a" up
    ip -n "$ns" link set "${ns}b" up
    ip -n "$ns" link set lo up
    E2E_NS=$ns
}

inns() { nsenter --net="/run/netns/$E2E_NS" "$@"; }

# Remove the pins of a device even if the test fails midway (and even if
# xdplc cannot run any more).
e2e_cleanup_dev() {
    on_exit "nsenter --net=/run/netns/$E2E_NS $XDPLC detach --dev $1 || xdpl_rm_pins $E2E_NS $1"
}

# jq-free JSON access with the system python (it has scapy too).
PY=/usr/bin/python3

# json_get EXPR: evaluate a python expression on the JSON document `d` read
# from stdin, print the result.
json_get() { $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# rx_stat DEV FIELD: receive counter of DEV (in the test netns), e.g.
# packets, otherhost (frames passed to the stack for another host's MAC).
rx_stat() {
    ip -n "$E2E_NS" -s -s -j link show dev "$1" | json_get "d[0]['stats64']['rx'].get('$2', 0)"
}

# State that must come back after a test (other tests may run at the same
# time, so only what is ours is compared): bpf_snapshot NAMEREGEX DEV...
# lists the pin directories of the devices and the ids of programs and maps
# whose name matches NAMEREGEX.
bpf_snapshot() {
    local re=$1 dev
    shift
    for dev in "$@"; do # before the test netns exists, it has no pins
        [[ -n ${E2E_NS:-} && -e /run/netns/$E2E_NS ]] && ls -R "$(xdpl_pins "$E2E_NS" "$dev")" 2>/dev/null
    done
    echo "--- progs"
    bpftool -j prog show | json_get "'\\n'.join(str(p['id']) for p in d if __import__('re').search(r'$re', p.get('name','')))"
    echo "--- maps"
    bpftool -j map show | json_get "'\\n'.join(str(m['id']) for m in d if __import__('re').search(r'$re', m.get('name','')))"
}

# prog_map_ids ID: the ids of the maps a program uses.
prog_map_ids() {
    bpftool -j prog show id "$1" | json_get "' '.join(str(x) for x in d.get('map_ids', []))"
}

# wait_gone KIND ID...: the objects are freed (deferred in the kernel: poll).
wait_gone() {
    local kind=$1 id t
    shift
    for id in "$@"; do
        for ((t = 0; t < 50; t++)); do
            bpftool "$kind" show id "$id" >/dev/null 2>&1 || break
            sleep 0.1
        done
        bpftool "$kind" show id "$id" >/dev/null 2>&1 && fail "$kind id $id still exists after detach"
    done
    return 0
}

# wait_snapshot EXPECTED NAMEREGEX: poll until bpf_snapshot equals EXPECTED.
wait_snapshot() {
    local want=$1 re=$2 t now
    for ((t = 0; t < 50; t++)); do
        now=$(bpf_snapshot "$re")
        [[ $now == "$want" ]] && return 0
        sleep 0.1
    done
    echo "before:"; echo "$want"; echo "after:"; echo "$now"
    return 1
}

# e2e_need_tgen: TGEN = the traffic generator built next to $XDPLC; the
# tests that use it build their frames with Scapy.
e2e_need_tgen() {
    TGEN=$(dirname "$XDPLC")/xdpl-trafficgen
    [[ -x $TGEN ]] || fail "no $TGEN: build the xdpl-trafficgen target"
    $PY -c 'import scapy' 2>/dev/null || fail "$PY has no scapy (scripts/deps.sh installs python3-scapy)"
}

# e2e_tgen_mode DEV: TGEN_MODE = the sender trafficgen uses from DEV in the
# test netns: live (live frames) or afpacket (where the kernel refuses live
# frames, or XDPL_TRAFFICGEN=afpacket forces it). Only the offered rate
# differs: tests that need a rate scale their parameters by it.
e2e_tgen_mode() {
    TGEN_MODE=$(inns "$TGEN" --dev "$1" --mode 2>/dev/null) || fail "$TGEN --mode failed"
    echo "traffic generator: $TGEN_MODE sender"
}

# tgen_summary FILE: the "sent N packets in S s: R Mpps" line of a saved
# trafficgen output (which may hold its stderr notes too).
tgen_summary() { grep -m1 '^sent ' "$1"; }
