#!/usr/bin/env bash
# `xdplc build --loader`: the generated standalone loader, end to end.
# (The generator's unit test is unit/loader, tests/unit/test_loader.c.)
#   - a policy whose path holds '"', '\', spaces, "*/", "??=", UTF-8 and a
#     newline gets a loader that builds with only
#     `cc -Wall -Wextra -Werror $(pkg-config --cflags --libs libbpf)` and
#     prints that path back byte for byte
#   - `loader attach` on a veth in a netns (through nsenter) pins link, maps
#     and xdpl_meta as xdplc does; real UDP from the peer namespace is
#     dropped/passed as the policy says and `loader stats` counts it per
#     rule; `xdplc status` and `xdplc stats` read it
#   - a second attach replaces the program atomically as xdplc does: same
#     link, new program, set elements and counters kept
#   - bad arguments and missing interfaces fail with one line and exit 1,
#     leaving the attached policy alone
#   - under `ip netns exec` the loader's policy outlives the command
#   - `loader detach` leaves nothing: no pin directory, no XDP on the device,
#     no link, no program
set -u
xdplc=$1 root=$2
source "$root/tests/lib.sh"
need_root
for t in cc pkg-config ip bpftool nsenter; do
    command -v "$t" >/dev/null || fail "needs $t"
done
pkg-config --exists libbpf || fail "needs libbpf's pkg-config file (libbpf-dev)"
read -ra LIBBPF_FLAGS <<<"$(pkg-config --cflags --libs libbpf)"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3) || fail "needs python3"

# ---------------------------------------------------------------- build the loader
dir="$XDPL_TMP/"$'we"ird \\ dir */ ??= caf\xc3\xa9\nline2'
mkdir -p "$dir" || fail "cannot make a directory with a hostile name"
policy="$dir/policy.xdpl"
cat >"$policy" <<'EOF'
program loader_e2e;
set blocked_ports: hash<u16> = { 9999, 7777 };
rule drop_blocked {
    match udp.dport in blocked_ports;
    verdict drop;
}
rule count_8888 {
    match udp.dport == 8888;
    verdict pass;
}
default pass;
EOF
"$xdplc" build "$policy" -o "$XDPL_TMP/policy.o" --loader "$XDPL_TMP/loader.c" ||
    fail "xdplc build --loader failed"
[[ -s $XDPL_TMP/loader.c ]] || fail "no loader written"
L="$XDPL_TMP/loader"
cc -O2 -Wall -Wextra -Werror -o "$L" "$XDPL_TMP/loader.c" "${LIBBPF_FLAGS[@]}" ||
    fail "the generated loader does not build with cc + libbpf alone"
cc -std=c11 -Wall -Wextra -Werror -o "$XDPL_TMP/loader_c11" "$XDPL_TMP/loader.c" \
    "${LIBBPF_FLAGS[@]}" || fail "the generated loader does not build with -std=c11 (trigraphs on)"
# The embedded object is the one -o wrote.
cmp <("$L" info | sed -n 's/^object \([0-9]*\) bytes$/\1/p') <(stat -c %s "$XDPL_TMP/policy.o") >/dev/null ||
    fail "the embedded object's size differs from policy.o"
printf 'program loader_e2e\nsource %s\nrule drop_blocked drop 3\nrule count_8888 pass 7\nrule default pass 11\n' \
    "$policy" >"$XDPL_TMP/info.want"
"$L" info | head -c "$(stat -c %s "$XDPL_TMP/info.want")" | cmp - "$XDPL_TMP/info.want" ||
    { "$L" info; fail "loader info does not print the program, the exact source path and the rules"; }
echo "ok: the loader builds with cc + libbpf and keeps the hostile source path intact"

# ---------------------------------------------------------------- network
ns="${XDPL_TEST_ID}ld"
peer="${ns}p"
A="${ns}a" B="${ns}b"
IPA=10.202.0.1 IPB=10.202.0.2
xdpl_netns_veth "$ns"
ip netns add "$peer" || fail "ip netns add $peer"
on_exit "ip netns del $peer"
ip -n "$ns" link set "$B" netns "$peer" || fail "move $B to $peer"
ip -n "$peer" link set lo up
ip -n "$peer" link set "$B" up
ip -n "$ns" addr add "$IPA/24" dev "$A"
ip -n "$peer" addr add "$IPB/24" dev "$B"
maca=$(ip -n "$ns" -br link show "$A" | awk '{print $3}')
macb=$(ip -n "$peer" -br link show "$B" | awk '{print $3}')
ip -n "$peer" neigh replace "$IPA" lladdr "$maca" dev "$B" nud permanent
ip -n "$ns" neigh replace "$IPB" lladdr "$macb" dev "$A" nud permanent
IN_NS="nsenter --net=/run/netns/$ns" # keeps the host's bpffs (ip netns exec remounts /sys)
on_exit "xdpl_rm_pins $ns $A"
on_exit "$IN_NS $L detach $A"

cat >"$XDPL_TMP/udp.py" <<'EOF'
# recv IP READYFILE PORT...: count datagrams per port until "END" on the
#   first port (or 5 s), print "PORT=N ..."
# send IP N PORT...: N datagrams to each port, then "END" to the first
import select, socket, sys, time
mode, ip = sys.argv[1], sys.argv[2]
if mode == "recv":
    ports = [int(p) for p in sys.argv[4:]]
    socks = {}
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, p))
        socks[s] = p
    counts = dict.fromkeys(ports, 0)
    open(sys.argv[3], "w").write("ready\n")
    end, done = time.time() + 5, False
    while time.time() < end and not done:
        r, _, _ = select.select(list(socks), [], [], 0.1)
        for s in r:
            if s.recv(2048) == b"END":
                done = True
            else:
                counts[socks[s]] += 1
    time.sleep(0.05)
    for s in socks:
        s.setblocking(False)
        try:
            while True:
                if s.recv(2048) != b"END":
                    counts[socks[s]] += 1
        except BlockingIOError:
            pass
    print(" ".join("%d=%d" % (p, counts[p]) for p in ports))
else:
    n, ports = int(sys.argv[3]), [int(p) for p in sys.argv[4:]]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for p in ports:
        for i in range(n):
            s.sendto(b"payload %d" % i, (ip, p))
    time.sleep(0.05)
    s.sendto(b"END", (ip, ports[0]))
EOF

# traffic N WANT: N datagrams each to 8888 9999 7777 from the peer, then
# END to 8888; WANT is what must arrive ("8888=N 9999=0 7777=0").
traffic() {
    local n=$1 want=$2 got i
    rm -f "$XDPL_TMP/ready"
    ip netns exec "$ns" "$PY" "$XDPL_TMP/udp.py" recv "$IPA" "$XDPL_TMP/ready" 8888 9999 7777 \
        >"$XDPL_TMP/counts" 2>"$XDPL_TMP/recv.err" &
    local pid=$!
    for ((i = 0; i < 50; i++)); do
        [[ -e $XDPL_TMP/ready ]] && break
        sleep 0.1
    done
    [[ -e $XDPL_TMP/ready ]] || { cat "$XDPL_TMP/recv.err"; fail "the UDP listener did not start"; }
    ip netns exec "$peer" "$PY" "$XDPL_TMP/udp.py" send "$IPA" "$n" 8888 9999 7777 || fail "sending failed"
    wait "$pid" || { cat "$XDPL_TMP/recv.err"; fail "the UDP listener failed"; }
    got=$(cat "$XDPL_TMP/counts")
    [[ $got == "$want" ]] || fail "expected $want to arrive, got $got"
    echo "ok: traffic: $got arrived"
}

# stat_of RULE COLUMN: packets (3) or bytes (4) of RULE in `loader stats`.
stat_of() {
    awk -v r="$1" -v c="$2" '$1 == r { print $c }' "$XDPL_TMP/stats"
}

# ---------------------------------------------------------------- attach
$IN_NS "$L" attach "$A" >"$XDPL_TMP/attach.out" 2>&1 || { cat "$XDPL_TMP/attach.out"; fail "loader attach failed"; }
cat "$XDPL_TMP/attach.out"
pins=$(xdpl_pins "$ns" "$A")
for f in link xdpl_stats xdpl_meta blocked_ports; do
    [[ -e $pins/$f ]] || fail "loader attach did not pin $pins/$f"
done
bpftool link show pinned "$pins/link" | grep -q 'type xdp\|xdp' || fail "$pins/link is not an XDP link"
prog_id=$(ip -n "$ns" -d link show dev "$A" | sed -n 's/.*prog\/xdp id \([0-9]*\) name loader_e2e.*/\1/p')
[[ -n $prog_id ]] || { ip -n "$ns" -d link show dev "$A"; fail "$A does not run loader_e2e after attach"; }
link_id=$(bpftool link show pinned "$pins/link" | sed -n '1s/^\([0-9]*\):.*/\1/p')
bpftool map dump pinned "$pins/xdpl_meta" -j | grep -q '"value"' || fail "xdpl_meta map is empty"
# The pinned metadata is the object's .xdpl.meta text.
meta_hex=$(bpftool map lookup pinned "$pins/xdpl_meta" key 0 0 0 0 -j |
    "$PY" -c 'import json,sys; v=json.load(sys.stdin)["value"]; print(bytes(int(x,16) for x in v).rstrip(b"\0").decode())')
grep -q '^program loader_e2e$' <<<"$meta_hex" && grep -q '^rule 0 drop_blocked ' <<<"$meta_hex" ||
    { echo "$meta_hex"; fail "xdpl_meta does not hold the policy's .xdpl.meta text"; }
echo "ok: attached (program $prog_id, link $link_id), pins in $pins"

# Attaching again replaces the program on the same link, keeping the set
# (with an element added at run time) -- as xdplc does.
$IN_NS "$xdplc" set --dev "$A" blocked_ports add 5555 || fail "xdplc set add on the loader's policy"
$IN_NS "$L" attach "$A" >"$XDPL_TMP/again.out" 2>&1 || { cat "$XDPL_TMP/again.out"; fail "a second attach failed"; }
grep -q "^replaced the policy with loader_e2e on $A (native mode, prog id [0-9]*, link id $link_id) in netns $ns: 2 maps kept, 0 new" \
    "$XDPL_TMP/again.out" || { cat "$XDPL_TMP/again.out"; fail "a second attach did not replace in place"; }
new_id=$(ip -n "$ns" -d link show dev "$A" | sed -n 's/.*prog\/xdp id \([0-9]*\) name loader_e2e.*/\1/p')
[[ -n $new_id && $new_id != "$prog_id" ]] || fail "the program was not replaced ($prog_id -> $new_id)"
[[ $($IN_NS "$xdplc" set --dev "$A" blocked_ports list | sort | tr '\n' ' ') == "5555 7777 9999 " ]] ||
    fail "the set lost its elements over the replace"
$IN_NS "$xdplc" set --dev "$A" blocked_ports del 5555 || fail "xdplc set del"
prog_id=$new_id
echo "ok: a second attach replaced the program (link $link_id kept, set kept)"

# Bad arguments and missing devices fail with one line and exit 1.
for args in "attach nosuchdev0" "attach $A --mode turbo" "attach" "frobnicate $A" "stats nosuchdev0" "detach nosuchdev0"; do
    # shellcheck disable=SC2086
    $IN_NS "$L" $args >"$XDPL_TMP/bad.out" 2>&1
    rc=$?
    ((rc == 1)) || fail "'loader $args' exited $rc, not 1"
    (($(wc -l <"$XDPL_TMP/bad.out") == 1)) || { cat "$XDPL_TMP/bad.out"; fail "'loader $args' did not fail with one line"; }
done
ip -n "$ns" -d link show dev "$A" | grep -q "prog/xdp id $prog_id " || fail "the failed attaches disturbed the attached program"
echo "ok: bad attaches fail in one line with exit 1 and leave the policy alone"

# ---------------------------------------------------------------- traffic and stats
traffic 5 "8888=5 9999=0 7777=0"
traffic 3 "8888=3 9999=0 7777=0"
$IN_NS "$L" stats "$A" >"$XDPL_TMP/stats" || fail "loader stats failed"
cat "$XDPL_TMP/stats"
head -1 "$XDPL_TMP/stats" | grep -q "^loader_e2e on $A in netns $ns$" || fail "stats does not name the program and netns"
[[ $(stat_of drop_blocked 2) == drop && $(stat_of count_8888 2) == pass && $(stat_of default 2) == pass ]] ||
    fail "stats does not show the verdicts"
# 8 each to 9999 and 7777 dropped; 8 + 2 END to 8888 passed.
[[ $(stat_of drop_blocked 3) == 16 ]] || fail "drop_blocked counted $(stat_of drop_blocked 3) packets, not 16"
[[ $(stat_of count_8888 3) == 10 ]] || fail "count_8888 counted $(stat_of count_8888 3) packets, not 10"
(($(stat_of drop_blocked 4) >= 16 * 42)) || fail "drop_blocked counted too few bytes"
echo "ok: loader stats counts per rule"

$IN_NS "$xdplc" status >"$XDPL_TMP/status" 2>&1 || { cat "$XDPL_TMP/status"; fail "xdplc status failed"; }
grep -q "$A" "$XDPL_TMP/status" && grep -q loader_e2e "$XDPL_TMP/status" ||
    { cat "$XDPL_TMP/status"; fail "xdplc status does not list loader_e2e on $A"; }
echo "ok: xdplc status lists what the loader attached"
$IN_NS "$xdplc" stats --dev "$A" >"$XDPL_TMP/xstats" 2>&1 || { cat "$XDPL_TMP/xstats"; fail "xdplc stats --dev $A failed"; }
grep -Eq 'drop_blocked.*\b16\b' "$XDPL_TMP/xstats" ||
    { cat "$XDPL_TMP/xstats"; fail "xdplc stats does not show drop_blocked = 16"; }
echo "ok: xdplc stats reads the loader's counters"

# ---------------------------------------------------------------- detach
$IN_NS "$L" detach "$A" || fail "loader detach failed"
[[ ! -e $pins ]] || { ls -la "$pins"; fail "detach left $pins"; }
ip -n "$ns" -d link show dev "$A" | grep -q 'prog/xdp' && fail "detach left an XDP program on $A"
gone=0
for ((i = 0; i < 40; i++)); do
    if ! bpftool link show id "$link_id" >/dev/null 2>&1 && ! bpftool prog show id "$prog_id" >/dev/null 2>&1; then
        gone=1
        break
    fi
    sleep 0.05
done
((gone)) || fail "detach left link $link_id or program $prog_id in the kernel"
$IN_NS "$L" detach "$A" >"$XDPL_TMP/detach2.out" 2>&1 && fail "detaching twice succeeded"
grep -q 'no xdpl policy is attached' "$XDPL_TMP/detach2.out" || { cat "$XDPL_TMP/detach2.out"; fail "second detach message"; }
echo "ok: detach left no pins, link or program"

# ---------------------------------------------------------------- ip netns exec
ip netns exec "$ns" "$L" attach "$A" >"$XDPL_TMP/exec.out" 2>&1 || { cat "$XDPL_TMP/exec.out"; fail "loader attach under ip netns exec"; }
ip -n "$ns" -d link show dev "$A" | grep -q 'prog/xdp id [0-9]* name loader_e2e' ||
    fail "the loader's policy did not outlive ip netns exec"
[[ -e $(xdpl_pins "$ns" "$A")/link ]] || fail "no link pinned on the host's bpffs under ip netns exec"
ip netns exec "$ns" "$L" stats "$A" >/dev/null || fail "loader stats under ip netns exec"
ip netns exec "$ns" "$L" detach "$A" || fail "loader detach under ip netns exec"
ip -n "$ns" -d link show dev "$A" | grep -q 'prog/xdp' && fail "detach under ip netns exec left a program"
echo "ok: under ip netns exec the loader's policy outlives the command and is found again"

# ---------------------------------------------------------------- with xdplc
$IN_NS "$L" attach "$A" --mode skb >/dev/null || fail "loader attach --mode skb"
ip -n "$ns" -d link show dev "$A" | grep -q 'xdpgeneric' || fail "--mode skb did not attach in skb mode"
$IN_NS "$xdplc" detach --dev "$A" || fail "xdplc detach could not detach what the loader attached"
[[ ! -e $pins ]] || fail "xdplc detach left $pins"
$IN_NS "$xdplc" attach "$policy" --dev "$A" >/dev/null || fail "xdplc attach"
traffic 2 "8888=2 9999=0 7777=0"
$IN_NS "$L" stats "$A" >"$XDPL_TMP/stats" || fail "loader stats on what xdplc attached"
[[ $(stat_of drop_blocked 3) == 4 ]] || { cat "$XDPL_TMP/stats"; fail "loader stats on xdplc's attach: drop_blocked != 4"; }
$IN_NS "$L" detach "$A" || fail "loader detach of what xdplc attached"
[[ ! -e $pins ]] || fail "loader detach left $pins (xdplc attach)"
ip -n "$ns" -d link show dev "$A" | grep -q 'prog/xdp' && fail "an XDP program is left on $A"
echo "ok: xdplc detaches the loader's policy and the loader detaches xdplc's"
echo "ok: standalone loader"
