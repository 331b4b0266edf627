# pyping.py DST COUNT: ICMP / ICMPv6 echo with raw sockets (no iputils
# needed). Prints "reply SEQ ttl=TTL " per reply (TTL / hop limit of the
# reply as received); exit status 0 only if every request was answered.
import os
import socket
import struct
import sys
import time

dst, count = sys.argv[1], int(sys.argv[2])
v6 = ":" in dst
if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(2)
ident = os.getpid() & 0xffff


def csum(b):
    if len(b) % 2:
        b += b"\0"
    x = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while x >> 16:
        x = (x & 0xffff) + (x >> 16)
    return ~x & 0xffff


ok = 0
for seq in range(count):
    payload = b"xdpl-route" * 4
    typ = 128 if v6 else 8
    hdr = struct.pack("!BBHHH", typ, 0, 0, ident, seq)
    if not v6:  # ICMPv6: the kernel fills in the checksum
        hdr = struct.pack("!BBHHH", typ, 0, csum(hdr + payload), ident, seq)
    s.sendto(hdr + payload, (dst, 0))
    end = time.time() + 2
    while time.time() < end:
        try:
            data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4))
        except socket.timeout:
            break
        if v6:
            icmp, ttl = data, None
            for lvl, t, d in anc:
                if lvl == socket.IPPROTO_IPV6 and t == socket.IPV6_HOPLIMIT:
                    ttl = struct.unpack("i", d[:4])[0]
        else:
            ttl, icmp = data[8], data[(data[0] & 15) * 4:]
        if len(icmp) >= 8 and icmp[0] == (129 if v6 else 0):
            _, _, _, i, q = struct.unpack("!BBHHH", icmp[:8])
            if i == ident and q == seq:
                print("reply %d ttl=%s " % (seq, ttl))
                ok += 1
                break
    time.sleep(0.05)
sys.exit(0 if ok == count else 1)
