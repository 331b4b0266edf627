# Sourced by the live-traffic benches (live_bench, route_bench, l4lb_bench):
# they need xdpl-trafficgen's live frames (BPF_F_TEST_XDP_LIVE_FRAMES), which
# offer more frames than the programs under test process. Where the kernel
# refuses them (or XDPL_TRAFFICGEN=afpacket), trafficgen sends with an
# AF_PACKET socket, which is slower than the programs: the bench still runs,
# and says at its start and above its figures what they then measure.

# bench_tgen_mode TGEN NETNS DEV: TGEN_MODE = live or afpacket; notes the
# fallback on stderr.
bench_tgen_mode() {
    TGEN_MODE=$(nsenter --net="/run/netns/$2" "$1" --dev "$3" --mode 2>/dev/null) ||
        { echo "$1 --mode failed" >&2; exit 1; }
    [[ $TGEN_MODE == live ]] && return 0
    echo "NOTE: this benchmark needs live frames (BPF_F_TEST_XDP_LIVE_FRAMES), which" \
        "this kernel refuses (or XDPL_TRAFFICGEN=afpacket forces the fallback)." >&2
    echo "      Measuring with xdpl-trafficgen's AF_PACKET sender instead: its rate, not" \
        "the programs', bounds the Mpps below, and their ratios understate the differences." >&2
}

# bench_tgen_label: a line above the figures when they are the fallback's.
bench_tgen_label() {
    [[ $TGEN_MODE == live ]] ||
        echo "(AF_PACKET sender, no live frames: Mpps are bounded by the sender, not the programs' throughput)"
}
