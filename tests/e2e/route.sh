#!/usr/bin/env bash
# `verdict route` as an L3 router: h1 -- router -- h2, three netns joined by
# veth pairs, IPv4 and IPv6, forwarding on in the router. The policy
#     rule fwd { match ip4 or ip6; verdict route; } default pass;
# is attached to both router veths; the host-side veths carry a `default
# pass` policy (XDP_REDIRECT into a veth needs an XDP program on its peer).
# Checked: ping h1 <-> h2 in both families, with the TTL / hop limit one
# lower (ttl=63); a TCP exchange in both families; and that the router's
# stack forwarded nothing (Ip ForwDatagrams, Ip6OutForwDatagrams flat) while
# the `fwd` counters grew: the packets went through bpf_fib_lookup +
# bpf_redirect. The first packets (neighbours not yet resolved: NO_NEIGH)
# go to the stack, which resolves them, so the check starts after a
# warm-up.
set -u
XDPLC=$1 root=$2
source "$root/tests/lib.sh"
source "$root/tests/e2e/lib/attach_lib.sh"
need_root
PY=/usr/bin/python3

id=$XDPL_TEST_ID
H1=${id}h1 H2=${id}h2 RT=${id}rt
R1=${id}r1 R2=${id}r2          # router side
for ns in "$H1" "$H2" "$RT"; do
    ip netns add "$ns" || fail "ip netns add $ns"
    on_exit "ip netns del $ns"
    ip -n "$ns" link set lo up
done
ip link add "$H1" netns "$H1" type veth peer name "$R1" netns "$RT" || fail "veth h1"
ip link add "$H2" netns "$H2" type veth peer name "$R2" netns "$RT" || fail "veth h2"
for d in "$H1:$H1" "$H2:$H2" "$RT:$R1" "$RT:$R2"; do
    ns=${d%%:*} dev=${d#*:}
    # checksums filled in by the sender: a redirected frame is not an skb
    # any more, a partial checksum would not be completed
    ip netns exec "$ns" ethtool -K "$dev" tx off >/dev/null 2>&1
    ip -n "$ns" link set "$dev" up
done
ip -n "$H1" addr add 10.201.1.1/24 dev "$H1"
ip -n "$H1" addr add fd00:201:1::1/64 dev "$H1" nodad
ip -n "$H1" route add default via 10.201.1.254
ip -n "$H1" -6 route add default via fd00:201:1::fe
ip -n "$H2" addr add 10.201.2.1/24 dev "$H2"
ip -n "$H2" addr add fd00:201:2::1/64 dev "$H2" nodad
ip -n "$H2" route add default via 10.201.2.254
ip -n "$H2" -6 route add default via fd00:201:2::fe
ip -n "$RT" addr add 10.201.1.254/24 dev "$R1"
ip -n "$RT" addr add fd00:201:1::fe/64 dev "$R1" nodad
ip -n "$RT" addr add 10.201.2.254/24 dev "$R2"
ip -n "$RT" addr add fd00:201:2::fe/64 dev "$R2" nodad
ip netns exec "$RT" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 ||
    fail "forwarding sysctl"

innet() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
ping() { innet "$1" $PY "$root/tests/e2e/lib/pyping.py" "$2" "$3"; } # NS DST COUNT
for d in "$H1:$H1" "$H2:$H2" "$RT:$R1" "$RT:$R2"; do
    on_exit "nsenter --net=/run/netns/${d%%:*} $XDPLC detach --dev ${d#*:} || rm -rf /sys/fs/bpf/xdpl/${d#*:}; rmdir /sys/fs/bpf/xdpl"
done

cat >"$XDPL_TMP/route.xdpl" <<'EOF'
program e2e_route;

rule fwd {
    match ip4 or ip6;
    verdict route;
}

default pass;
EOF
cat >"$XDPL_TMP/pass.xdpl" <<'EOF'
program e2e_route_peer;
default pass;
EOF
for d in "$RT:$R1" "$RT:$R2"; do
    out=$(innet "${d%%:*}" "$XDPLC" attach "$XDPL_TMP/route.xdpl" --dev "${d#*:}") || fail "attach route: $out"
done
for d in "$H1:$H1" "$H2:$H2"; do
    out=$(innet "${d%%:*}" "$XDPLC" attach "$XDPL_TMP/pass.xdpl" --dev "${d#*:}") || fail "attach pass: $out"
done

fwd_packets() {
    innet "$RT" "$XDPLC" stats --dev "$1" --json --interval 0 |
        json_get "[r for r in d['rules'] if r['name'] == 'fwd'][0]['packets']"
}
snmp() { # snmp FILE FIELD: a counter of the router's stack
    innet "$RT" $PY - "$1" "$2" <<'EOF'
import sys
f, want = sys.argv[1], sys.argv[2]
lines = open(f).read().split("\n")
if f.endswith("snmp6"):
    print(dict(l.split() for l in lines if l.strip())[want])
else:
    for h, v in zip(lines[0::2], lines[1::2]):
        h, v = h.split(), v.split()
        if h and h[0] == "Ip:":
            print(dict(zip(h, v))[want])
EOF
}

# warm-up: neighbours get resolved (the first packets go through the stack)
ping "$H1" 10.201.2.1 2 >/dev/null || fail "warm-up ping (ip4)"
ping "$H1" fd00:201:2::1 2 >/dev/null || fail "warm-up ping (ip6)"
ping "$H2" 10.201.1.1 1 >/dev/null || fail "warm-up ping back (ip4)"
ping "$H2" fd00:201:1::1 1 >/dev/null || fail "warm-up ping back (ip6)"

f40=$(snmp /proc/net/snmp ForwDatagrams) f60=$(snmp /proc/net/snmp6 Ip6OutForwDatagrams)
a0=$(fwd_packets "$R1") b0=$(fwd_packets "$R2")

N=5
for t in "$H1 10.201.2.1" "$H1 fd00:201:2::1" "$H2 10.201.1.1" "$H2 fd00:201:1::1"; do
    read -r from to <<<"$t"
    out=$(ping "$from" "$to" $N) || fail "ping $from -> $to: $out"
    n=$(grep -c "ttl=63 " <<<"$out")
    [[ $n -eq $N ]] || fail "ping $from -> $to: expected $N replies with ttl=63 (one hop), got: $out"
done
echo "ok: ping h1 <-> h2, ip4 and ip6, ttl/hlim 64 -> 63"

# TCP, both families: h2 echoes what h1 sends (upper-cased)
for t in "10.201.2.1 AF_INET" "fd00:201:2::1 AF_INET6"; do
    read -r addr fam <<<"$t"
    innet "$H2" $PY - "$fam" >"$XDPL_TMP/srv.txt" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket(getattr(socket, sys.argv[1]), socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if sys.argv[1] == "AF_INET6" else "0.0.0.0", 8899))
s.listen(1)
s.settimeout(10)
c, _ = s.accept()
c.settimeout(10)
data = b""
while not data.endswith(b"\n"):
    chunk = c.recv(65536)
    if not chunk:
        break
    data += chunk
c.sendall(data.upper())
c.close()
EOF
    srv=$!
    on_exit "kill $srv"
    got=$(innet "$H1" $PY - "$fam" "$addr" <<'EOF'
import socket, sys, time
msg = b"hello over xdp route " * 500 + b"\n"
for _ in range(50):
    try:
        c = socket.create_connection((sys.argv[2], 8899), timeout=5)
        break
    except (ConnectionRefusedError, OSError):
        time.sleep(0.1)
c.sendall(msg)
data = b""
while not data.endswith(b"\n"):
    chunk = c.recv(65536)
    if not chunk:
        break
    data += chunk
print("ok" if data == msg.upper() else "bad %d bytes" % len(data))
EOF
)
    wait $srv
    [[ $got == ok ]] || fail "tcp $fam h1 -> h2: $got ($(cat "$XDPL_TMP/srv.txt"))"
done
echo "ok: tcp h1 <-> h2, ip4 and ip6"

f41=$(snmp /proc/net/snmp ForwDatagrams) f61=$(snmp /proc/net/snmp6 Ip6OutForwDatagrams)
a1=$(fwd_packets "$R1") b1=$(fwd_packets "$R2")
echo "router stack: ForwDatagrams $f40 -> $f41, Ip6OutForwDatagrams $f60 -> $f61;" \
     "fwd on $R1: $a0 -> $a1, on $R2: $b0 -> $b1"
[[ $f41 -eq $f40 ]] || fail "the router's stack forwarded $((f41 - f40)) IPv4 packets"
[[ $f61 -eq $f60 ]] || fail "the router's stack forwarded $((f61 - f60)) IPv6 packets"
# 4 pings of N requests: 2N requests enter on each side, 2N replies too
((a1 - a0 >= 4 * N && b1 - b0 >= 4 * N)) || fail "fwd counters grew by $((a1 - a0)) / $((b1 - b0))"
echo "ok: the router's stack was bypassed; route counted $((a1 - a0)) + $((b1 - b0)) packets"
