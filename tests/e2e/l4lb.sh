#!/usr/bin/env bash
# examples/l4lb.xdpl end to end: an L4 load balancer with IP-in-IP tunnels
# and direct server return, on four netns joined by veth pairs:
#
#   client C 10.210.1.1 --- l0 [LB] l1 --- B1 10.210.2.1   (VIP on lo)
#                   10.210.1.254    l2 --- B2 10.210.2.2   (VIP on lo)
#                    LB_ADDR 10.210.2.254 on l1 and l2
#
# The policy runs on l0 (the LB's client-facing veth). Packets to
# VIP 10.210.0.100:80/443 are tunnelled to a backend and sent out by
# `route` (bpf_fib_lookup + bpf_redirect into l1 / l2). Backends answer the
# client directly (their default route is the LB, whose stack forwards the
# replies: only the client -> service direction crosses the XDP program).
#
# Backends decapsulate in XDP with examples/l4lb_backend.xdpl (`decap`):
# the test kernel has no ipip tunnel driver (CONFIG_NET_IPIP off, no
# modules), so the kernel's ipip cannot be used. That policy is also what
# lets their veths take the frames the LB redirects into them.
#
# Checked:
#  (a) 40 TCP connections, several messages each (one of 4000 bytes on every
#      fourth: full-size segments through the tunnel), each answered by one
#      backend only;
#  (b) both backends got connections (slots 0-7 -> B1, 8-15 -> B2);
#  (c) `xdplc set flows list` holds each connection's 5-tuple with the
#      backend that answered it as value;
#  (d) all 16 slots -> B1 while the 40 connections stay open: each of them
#      keeps its backend for further messages, 16 new ones all go to B1;
#  (e) the LB's stack did not forward what the XDP program tunnelled: TCP
#      phase, the stack forwarded exactly the backends' replies and the
#      backends decapsulated every packet the client sent; UDP phase (one
#      way, 20 flows x 5 datagrams to VIP:443), Ip ForwDatagrams flat, while
#      new_flow / known_flow grew by 20 / 80;
#  (f) an empty slot: a new flow is dropped by no_backend.
#
# MTU: encapsulation adds 20 bytes, so the LB <-> backend veths get MTU 1600
# (a frame redirected into a veth must fit the receiver's MTU); the client
# keeps 1500, so full-size client segments (1500 + 20) still fit.
# Neighbours are static (no ARP, IPv6 off): no warm-up packets through the
# stack, exact counts. Checksum offload is off on the client (a redirected
# frame is not an skb any more: a partial checksum would not be completed).
#
# L4LB_IMPL=c runs the same test against the hand-written C program
# bench/l4lb/l4lb_ref.c (loaded with bpftool; no rule counters there) to
# check the topology independently of the compiler.
set -u
XDPLC=$1 root=$2
source "$root/tests/lib.sh"
source "$root/tests/e2e/lib/attach_lib.sh"
need_root
PY=/usr/bin/python3
IMPL=${L4LB_IMPL:-xdpl}
# scripts/deps.sh installs both: missing, they are a broken setup, not a skip.
[[ $IMPL == xdpl ]] || command -v clang-19 >/dev/null || fail "needs clang-19 for l4lb_ref.c (scripts/deps.sh installs it)"
$PY -c 'import socket' || fail "needs python3 (scripts/deps.sh installs it)"

VIP=10.210.0.100 LB_ADDR=10.210.2.254 BE1=10.210.2.1 BE2=10.210.2.2 CLI=10.210.1.1 GW=10.210.1.254
id=$XDPL_TEST_ID
C=${id}c LB=${id}lb B1=${id}b1 B2=${id}b2      # netns; also the names of their veths
L0=${id}l0 L1=${id}l1 L2=${id}l2               # the LB's veths

innet() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
mac() { ip -n "$1" -j link show dev "$2" | json_get "d[0]['address']"; }

# --- programs
out=$("$XDPLC" test "$root/examples/l4lb_backend.xdpl" 2>&1) || fail "xdplc test examples/l4lb_backend.xdpl: $out"
if [[ $IMPL == xdpl ]]; then
    out=$("$XDPLC" check "$root/examples/l4lb.xdpl" 2>&1) ||
        fail "examples/l4lb.xdpl does not compile: $out"
    out=$("$XDPLC" test "$root/examples/l4lb.xdpl" 2>&1) || fail "xdplc test examples/l4lb.xdpl: $out"
else
    clang-19 -O2 -g -target bpf -mcpu=v3 -I/usr/include/"$(uname -m)"-linux-gnu \
        -c "$root/bench/l4lb/l4lb_ref.c" -o "$XDPL_TMP/ref.o" || fail "compile l4lb_ref.c"
fi

# --- topology
for ns in "$C" "$LB" "$B1" "$B2"; do
    ip netns add "$ns" || fail "ip netns add $ns"
    on_exit "ip netns del $ns"
    # before any device exists, so every device inherits it
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0 >/dev/null 2>&1
    ip -n "$ns" link set lo up
done
ip link add "$C" netns "$C" type veth peer name "$L0" netns "$LB" || fail "veth C-LB"
ip link add "$B1" netns "$B1" mtu 1600 type veth peer name "$L1" netns "$LB" mtu 1600 || fail "veth B1-LB"
ip link add "$B2" netns "$B2" mtu 1600 type veth peer name "$L2" netns "$LB" mtu 1600 || fail "veth B2-LB"
for d in "$C:$C" "$LB:$L0" "$LB:$L1" "$LB:$L2" "$B1:$B1" "$B2:$B2"; do
    ns=${d%%:*} dev=${d#*:}
    ip netns exec "$ns" ethtool -K "$dev" tx off >/dev/null 2>&1
    ip -n "$ns" link set "$dev" up || fail "link up $dev"
done
ip -n "$C" addr add $CLI/24 dev "$C"
ip -n "$C" route add default via $GW
ip -n "$LB" addr add $GW/24 dev "$L0"
ip -n "$LB" addr add $LB_ADDR peer $BE1/32 dev "$L1" || fail "LB addr on $L1"
ip -n "$LB" addr add $LB_ADDR peer $BE2/32 dev "$L2" || fail "LB addr on $L2"
ip netns exec "$LB" sysctl -qw net.ipv4.ip_forward=1 || fail "ip_forward"
for b in "$B1:$BE1" "$B2:$BE2"; do
    ns=${b%%:*} addr=${b#*:}
    ip -n "$ns" addr add "$addr" peer $LB_ADDR/32 dev "$ns"
    ip -n "$ns" route add default via $LB_ADDR
    ip -n "$ns" addr add $VIP/32 dev lo
done
ip -n "$C" neigh replace $GW lladdr "$(mac "$LB" "$L0")" nud permanent dev "$C"
ip -n "$LB" neigh replace $CLI lladdr "$(mac "$C" "$C")" nud permanent dev "$L0"
ip -n "$LB" neigh replace $BE1 lladdr "$(mac "$B1" "$B1")" nud permanent dev "$L1"
ip -n "$LB" neigh replace $BE2 lladdr "$(mac "$B2" "$B2")" nud permanent dev "$L2"
ip -n "$B1" neigh replace $LB_ADDR lladdr "$(mac "$LB" "$L1")" nud permanent dev "$B1"
ip -n "$B2" neigh replace $LB_ADDR lladdr "$(mac "$LB" "$L2")" nud permanent dev "$B2"

for b in "$B1" "$B2"; do
    on_exit "nsenter --net=/run/netns/$b $XDPLC detach --dev $b || xdpl_rm_pins $b $b"
    out=$(innet "$b" "$XDPLC" attach "$root/examples/l4lb_backend.xdpl" --dev "$b" 2>&1) ||
        fail "attach the backend policy on $b: $out"
done

# --- the balancer: attach, fill slots, read flows and counters
REF_PINS=/sys/fs/bpf/xdpl_l4lb_$id
if [[ $IMPL == xdpl ]]; then
    on_exit "nsenter --net=/run/netns/$LB $XDPLC detach --dev $L0 || xdpl_rm_pins $LB $L0"
    out=$(innet "$LB" "$XDPLC" attach "$root/examples/l4lb.xdpl" --dev "$L0" 2>&1) || fail "attach: $out"
else
    on_exit "rm -rf $REF_PINS"
    mkdir -p "$REF_PINS"
    bpftool prog load "$XDPL_TMP/ref.o" "$REF_PINS/prog" type xdp pinmaps "$REF_PINS" || fail "load ref"
    innet "$LB" bpftool net attach xdpdrv pinned "$REF_PINS/prog" dev "$L0" || fail "attach ref"
fi

set_slot() { # SLOT ADDR
    if [[ $IMPL == xdpl ]]; then
        innet "$LB" "$XDPLC" set --dev "$L0" backends add "$1" "$2" >/dev/null || fail "set slot $1 $2"
    else
        bpftool map update pinned "$REF_PINS/backends" key "$1" 0 0 0 value ${2//./ } ||
            fail "set slot $1 $2"
    fi
}
# flows: one line per entry, "SRC DST SPORT DPORT PROTO BACKEND"
flows() {
    if [[ $IMPL == xdpl ]]; then
        innet "$LB" "$XDPLC" set --dev "$L0" flows list | $PY -c '
import re, sys
for l in sys.stdin:
    f = re.findall(r"[0-9][0-9.]*", l)
    if len(f) == 6:
        print(" ".join(f))'
    else
        bpftool -j map dump pinned "$REF_PINS/flows" | $PY -c '
import json, sys
for e in json.load(sys.stdin):
    k = [int(x, 16) for x in e["key"]]; v = [int(x, 16) for x in e["value"]]
    ip = lambda b: ".".join(map(str, b))
    print(ip(k[0:4]), ip(k[4:8]), k[8] << 8 | k[9], k[10] << 8 | k[11], k[12], ip(v))'
    fi
}
rule_packets() { # NAME (xdpl only)
    innet "$LB" "$XDPLC" stats --dev "$L0" --json --interval 0 |
        json_get "[r for r in d['rules'] if r['name'] == '$1'][0]['packets']"
}
decapped() { # B: packets the backend's policy decapsulated (rule from_balancer)
    innet "$1" "$XDPLC" stats --dev "$1" --json --interval 0 |
        json_get "[r for r in d['rules'] if r['name'] == 'from_balancer'][0]['packets']"
}
fwd_datagrams() {
    innet "$LB" awk '/^Ip: [0-9]/ { print $7 }' /proc/net/snmp
}
rx_packets() { # NS DEV
    ip -n "$1" -s -j link show dev "$2" | json_get "d[0]['stats64']['rx']['packets']"
}
counters() { # a snapshot of what (e) compares, once the counters settled
    # (veth and per-CPU counters of redirected frames trail the traffic a
    # little: read until two snapshots 0.2 s apart agree, at most ~3 s)
    local a b i
    a=$(counters_now)
    for ((i = 0; i < 15; i++)); do
        sleep 0.2
        b=$(counters_now)
        [[ $a == "$b" ]] && break
        a=$b
    done
    echo "$a"
}
counters_now() {
    local s
    s="fwd=$(fwd_datagrams) l0=$(rx_packets "$LB" "$L0")"
    s+=" l12=$(($(rx_packets "$LB" "$L1") + $(rx_packets "$LB" "$L2")))"
    s+=" dec=$(($(decapped "$B1") + $(decapped "$B2")))"
    if [[ $IMPL == xdpl ]]; then
        s+=" new=$(rule_packets new_flow) known=$(rule_packets known_flow) none=$(rule_packets no_backend)"
    fi
    echo "$s"
}
cval() { sed -n "s/.*\b$1=\([0-9]*\).*/\1/p" <<<"$2"; }

for s in 0 1 2 3 4 5 6 7; do set_slot $s $BE1; done
for s in 8 9 10 11 12 13 14 15; do set_slot $s $BE2; done

# --- backends: TCP VIP:80 answers "NAME LINE" per line; UDP VIP:443 logs
cat >"$XDPL_TMP/server.py" <<'EOF'
import socket, sys, threading
name, log, ready = sys.argv[1:4]
VIP = "10.210.0.100"
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((VIP, 80))
t.listen(128)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((VIP, 443))
def serve(c):
    with c, c.makefile("rb") as f:
        for line in f:
            c.sendall(name.encode() + b" " + line)
def accept():
    while True:
        c, _ = t.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()
lf = open(log, "a", buffering=1)
open(ready, "w").close()
while True:
    d, a = u.recvfrom(2048)
    lf.write("%s %d %s\n" % (a[0], a[1], d.decode()))
EOF
for b in B1 B2; do
    ns=${!b}
    nsenter --net="/run/netns/$ns" $PY "$XDPL_TMP/server.py" "$b" "$XDPL_TMP/$b.udp" "$XDPL_TMP/$b.ready" \
        >"$XDPL_TMP/$b.log" 2>&1 &
    on_exit "kill $!"
done
for ((t = 0; t < 50; t++)); do
    [[ -e $XDPL_TMP/B1.ready && -e $XDPL_TMP/B2.ready ]] && break
    sleep 0.1
done
[[ -e $XDPL_TMP/B1.ready && -e $XDPL_TMP/B2.ready ]] ||
    fail "servers did not start: $(cat "$XDPL_TMP"/B?.log)"

# --- client: phase 1 (40 connections, kept open), then waits for the flag
# file `changed`, then phase 2 (more messages on the 40, 16 new ones)
cat >"$XDPL_TMP/client.py" <<'EOF'
import json, os, socket, sys, time
tmp, N, M = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
VIP = "10.210.0.100"
def dump(name, obj):
    with open(f"{tmp}/{name}.tmp", "w") as f:
        json.dump(obj, f)
    os.rename(f"{tmp}/{name}.tmp", f"{tmp}/{name}")
def talk(c, msgs):
    names = []
    for m in msgs:
        c[0].sendall(m + b"\n")
        line = c[1].readline()
        name, _, echo = line.rstrip(b"\n").partition(b" ")
        if echo != m:
            raise RuntimeError("port %d: bad echo %r" % (c[2], line[:80]))
        names.append(name.decode())
    return names
def conn():
    s = socket.create_connection((VIP, 80), timeout=5)
    return (s, s.makefile("rb"), s.getsockname()[1])
try:
    old = [conn() for _ in range(N)]
    p1 = []
    for i, c in enumerate(old):
        msgs = [b"hello %d.%d" % (i, j) for j in range(3)]
        if i % 4 == 0:
            msgs.append(b"x" * 4000)
        p1.append({"sport": c[2], "names": talk(c, msgs)})
    dump("phase1.json", p1)
    for _ in range(600):
        if os.path.exists(f"{tmp}/changed"):
            break
        time.sleep(0.1)
    else:
        raise RuntimeError("no `changed` flag")
    p2 = {"old": [], "new": []}
    for i, c in enumerate(old):
        p2["old"].append({"sport": c[2], "names": talk(c, [b"again %d.%d" % (i, j) for j in range(3)])})
    for i in range(M):
        c = conn()
        p2["new"].append({"sport": c[2], "names": talk(c, [b"new %d.%d" % (i, j) for j in range(2)])})
        c[0].close()
    for c in old:
        c[0].close()
    dump("phase2.json", p2)
except Exception as e:
    dump("error.json", repr(e))
EOF
N=40 M=16
c0=$(counters)
nsenter --net="/run/netns/$C" $PY "$XDPL_TMP/client.py" "$XDPL_TMP" $N $M >"$XDPL_TMP/client.log" 2>&1 &
cpid=$!
on_exit "kill $cpid"
wait_file() {
    local t
    for ((t = 0; t < 300; t++)); do
        [[ -e $XDPL_TMP/$1 ]] && return 0
        [[ -e $XDPL_TMP/error.json ]] && fail "client: $(cat "$XDPL_TMP/error.json") $(cat "$XDPL_TMP/client.log")"
        sleep 0.1
    done
    fail "client: no $1 after 30 s: $(cat "$XDPL_TMP/client.log")"
}
wait_file phase1.json
c1=$(counters)
flows >"$XDPL_TMP/flows1.txt"

# (a) (b)
by_port=$($PY - "$XDPL_TMP/phase1.json" <<'EOF'
import json, sys
p1 = json.load(open(sys.argv[1]))
for c in p1:
    names = set(c["names"])
    if len(names) != 1:
        sys.exit("port %d answered by %s" % (c["sport"], sorted(names)))
    print(c["sport"], c["names"][0])
EOF
) || fail "(a) $by_port"
n1=$(grep -c ' B1$' <<<"$by_port") n2=$(grep -c ' B2$' <<<"$by_port")
((n1 + n2 == N)) || fail "(a) expected $N connections, got $((n1 + n2))"
echo "ok (a): $N connections, each answered by one backend (3-4 messages each, 4000-byte ones included)"
((n1 > 0 && n2 > 0)) || fail "(b) no spread: B1 $n1, B2 $n2 connections"
echo "ok (b): spread over the backends: B1 $n1, B2 $n2"

# (c)
while read -r sport name; do
    [[ $name == B1 ]] && want=$BE1 || want=$BE2
    grep -qx "$CLI $VIP $sport 80 6 $want" "$XDPL_TMP/flows1.txt" ||
        fail "(c) no flows entry '$CLI $VIP $sport 80 6 = $want'; flows: $(cat "$XDPL_TMP/flows1.txt")"
done <<<"$by_port"
nf=$(wc -l <"$XDPL_TMP/flows1.txt")
((nf == N)) || fail "(c) flows holds $nf entries, expected $N: $(cat "$XDPL_TMP/flows1.txt")"
echo "ok (c): flows holds one entry per connection, valued with the backend that answered it"

# (e), TCP part: every client packet was tunnelled by XDP and decapsulated
# by a backend; the LB's stack forwarded the replies only
d_l0=$(($(cval l0 "$c1") - $(cval l0 "$c0"))) d_dec=$(($(cval dec "$c1") - $(cval dec "$c0")))
d_fwd=$(($(cval fwd "$c1") - $(cval fwd "$c0"))) d_l12=$(($(cval l12 "$c1") - $(cval l12 "$c0")))
echo "TCP phase: client packets into l0 $d_l0, decapsulated by backends $d_dec;" \
     "LB stack ForwDatagrams +$d_fwd, replies from backends $d_l12"
((d_l0 > 4 * N && d_dec == d_l0)) || fail "(e) $d_l0 client packets, $d_dec decapsulated"
((d_fwd == d_l12)) || fail "(e) the LB's stack forwarded $d_fwd packets, the backends sent $d_l12"
if [[ $IMPL == xdpl ]]; then
    d_new=$(($(cval new "$c1") - $(cval new "$c0"))) d_known=$(($(cval known "$c1") - $(cval known "$c0")))
    echo "TCP phase: new_flow +$d_new, known_flow +$d_known"
    ((d_new == N && d_new + d_known == d_l0)) ||
        fail "(e) new_flow +$d_new (expected $N), known_flow +$d_known, client packets $d_l0"
fi

# (d): all slots -> B1 while the connections stay open
for ((s = 0; s < 16; s++)); do set_slot $s $BE1; done
touch "$XDPL_TMP/changed"
wait_file phase2.json
wait $cpid
$PY - "$XDPL_TMP/phase1.json" "$XDPL_TMP/phase2.json" <<'EOF' || fail "(d)"
import json, sys
p1 = {c["sport"]: c["names"][0] for c in json.load(open(sys.argv[1]))}
p2 = json.load(open(sys.argv[2]))
moved = [c for c in p2["old"] if set(c["names"]) != {p1[c["sport"]]}]
if moved:
    sys.exit("(d) open connections moved: %s" % moved)
b2 = sum(1 for c in p2["old"] if p1[c["sport"]] == "B2")
if b2 == 0:
    sys.exit("(d) no open connection on B2: nothing shown")
notb1 = [c for c in p2["new"] if set(c["names"]) != {"B1"}]
if notb1:
    sys.exit("(d) new connections not on B1: %s" % notb1)
print("ok (d): slots -> B1 only: the %d open connections kept their backend (%d of them on B2),"
      " the %d new ones all went to B1" % (len(p2["old"]), b2, len(p2["new"])))
EOF
flows >"$XDPL_TMP/flows2.txt"
for sport in $($PY -c "import json; print(' '.join(str(c['sport']) for c in json.load(open('$XDPL_TMP/phase2.json'))['new']))"); do
    grep -qx "$CLI $VIP $sport 80 6 $BE1" "$XDPL_TMP/flows2.txt" || fail "(d) no flows entry for new port $sport -> $BE1"
done

# (e), UDP part: one-way traffic, the LB's stack must forward nothing
for s in 8 9 10 11 12 13 14 15; do set_slot $s $BE2; done
cat >"$XDPL_TMP/udp.py" <<'EOF'
import socket, sys, time
flows, per, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(flows)]
for i, s in enumerate(socks):
    s.bind(("0.0.0.0", 0))
    for j in range(per):
        s.sendto(b"%s %d.%d" % (tag.encode(), i, j), ("10.210.0.100", 443))
time.sleep(0.5)
EOF
u0=$(counters)
innet "$C" $PY "$XDPL_TMP/udp.py" 20 5 udp || fail "udp client"
u1=$(counters)
got1=$(grep -c " udp " "$XDPL_TMP/B1.udp" 2>/dev/null) got2=$(grep -c " udp " "$XDPL_TMP/B2.udp" 2>/dev/null)
d_fwd=$(($(cval fwd "$u1") - $(cval fwd "$u0"))) d_dec=$(($(cval dec "$u1") - $(cval dec "$u0")))
echo "UDP phase: 100 datagrams in 20 flows: B1 got $got1, B2 got $got2, decapsulated $d_dec, LB stack ForwDatagrams +$d_fwd"
((got1 + got2 == 100 && d_dec == 100)) || fail "(e) datagrams lost: B1 $got1, B2 $got2, decapsulated $d_dec"
((d_fwd == 0)) || fail "(e) the LB's stack forwarded $d_fwd packets of one-way tunnelled traffic"
split=$(cat "$XDPL_TMP"/B?.udp | awk '{print $2}' | sort -u | wc -l)
both=$(cat "$XDPL_TMP"/B1.udp | awk '{print $2}' | sort -u | grep -cxFf - <(awk '{print $2}' "$XDPL_TMP/B2.udp" | sort -u))
((split == 20 && both == 0)) || fail "(e) UDP flows: $split source ports, $both at both backends"
if [[ $IMPL == xdpl ]]; then
    d_new=$(($(cval new "$u1") - $(cval new "$u0"))) d_known=$(($(cval known "$u1") - $(cval known "$u0")))
    ((d_new == 20 && d_known == 80)) || fail "(e) UDP: new_flow +$d_new (want 20), known_flow +$d_known (want 80)"
    echo "ok (e): the LB's stack was bypassed; new_flow +$d_new, known_flow +$d_known"
else
    echo "ok (e): the LB's stack was bypassed"
fi

# (f) empty slots: a new flow has no backend
for ((s = 0; s < 16; s++)); do set_slot $s 0.0.0.0; done
f0=$(counters)
innet "$C" $PY "$XDPL_TMP/udp.py" 3 2 none || fail "udp client (no backend)"
f1=$(counters)
lost=$(cat "$XDPL_TMP"/B?.udp | grep -c " none ")
((lost == 0)) || fail "(f) $lost datagrams reached a backend with every slot empty"
if [[ $IMPL == xdpl ]]; then
    d_none=$(($(cval none "$f1") - $(cval none "$f0")))
    ((d_none == 6)) || fail "(f) no_backend +$d_none, expected 6"
fi
echo "ok (f): with every slot empty, new flows are dropped"
exit 0
