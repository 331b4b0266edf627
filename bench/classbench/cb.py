#!/usr/bin/env python3
"""ClassBench rule sets and traces for xdpl (bench/classbench.sh).

  cb.py xdpl   RULES.gz N [--ip6]         the first N rules as .xdpl on stdout
  cb.py oracle RULES.gz N TRACE.gz        expected first match per trace line
  cb.py pcap   TRACE.gz OUT.pcap [--ip6]  the trace headers as Ethernet frames
  cb.py sample IN.pcap OUT.pcap K          K packets spread evenly over IN
  cb.py mix    OUT.gz N RULES.gz...        N rules interleaved from the sets,
                                           copies beyond them moved to other
                                           address blocks; traces still hit
                                           the first copy
  cb.py cat    OUT.gz K TRACE.gz...        every K-th header of the traces

Rules are `rule rI { match ...; verdict drop; }` (I: 0-based rule index),
the default passes. Wildcards are omitted; proto 6/17 test ports as
tcp./udp., any other protocol (or any) as l4. -- a port range other than
0:65535 never matches a packet without TCP/UDP, as the ClassBench README
says. --ip6 writes each IPv4 address A as 2001:db8::A (prefix length + 96).

The oracle is a plain linear scan in Python, independent of xdpl: for
each trace header the index of the first rule that matches, or `-`.
"""
import gzip
import struct
import sys


def parse_rules(path, n):
    rules = []
    with gzip.open(path, "rt") as f:
        for line in f:
            if not line.startswith("@"):
                continue
            t = line[1:].replace(":", " ").split()
            # SRC/LEN DST/LEN SPLO SPHI DPLO DPHI PROTO/MASK FLAGS/MASK
            src, slen = t[0].split("/")
            dst, dlen = t[1].split("/")
            proto, pmask = (int(x, 16) for x in t[6].split("/"))
            rules.append((ip4(src), int(slen), ip4(dst), int(dlen), int(t[2]), int(t[3]),
                          int(t[4]), int(t[5]), proto & pmask, pmask))
            if len(rules) == n:
                break
    return rules


def ip4(s):
    a, b, c, d = (int(x) for x in s.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def ip4s(v):
    return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)


def ip6s(v):
    return "2001:db8::%x:%x" % (v >> 16, v & 0xFFFF)


def match_text(r, v6):
    src, slen, dst, dlen, splo, sphi, dplo, dphi, proto, pmask = r
    atoms = []
    for name, addr, plen in (("src", src, slen), ("dst", dst, dlen)):
        if plen == 0:
            continue
        if v6:
            atoms.append("ip6.%s in %s/%d" % (name, ip6s(addr), plen + 96))
        else:
            atoms.append("ip4.%s in %s/%d" % (name, ip4s(addr), plen))
    if pmask:
        atoms.append("%s == %d" % ("ip.proto" if v6 else "ip4.proto", proto))
    l4 = {6: "tcp", 17: "udp"}.get(proto, "l4") if pmask else "l4"
    for name, lo, hi in (("sport", splo, sphi), ("dport", dplo, dphi)):
        if (lo, hi) == (0, 65535):
            continue
        if lo == hi:
            atoms.append("%s.%s == %d" % (l4, name, lo))
        else:
            atoms.append("%s.%s in %d..%d" % (l4, name, lo, hi))
    return " and ".join(atoms)


def cmd_xdpl(args):
    v6 = "--ip6" in args
    rules = parse_rules(args[0], int(args[1]))
    out = ["program classbench;"]
    for i, r in enumerate(rules):
        m = match_text(r, v6)
        out.append("rule r%d { %sverdict drop; }" % (i, "match %s; " % m if m else ""))
    out.append("default pass;")
    print("\n".join(out))


def parse_trace(path):
    with gzip.open(path, "rt") as f:
        return [tuple(int(x) for x in line.split()[:5]) for line in f if line.strip()]


def first_match(rules, h):
    src, dst, sp, dp, proto = h
    for i, (rs, sl, rd, dl, splo, sphi, dplo, dphi, rp, pm) in enumerate(rules):
        if sl and (src ^ rs) >> (32 - sl):
            continue
        if dl and (dst ^ rd) >> (32 - dl):
            continue
        if (proto & pm) != rp:
            continue
        if (splo, sphi, dplo, dphi) != (0, 65535, 0, 65535):
            # ports exist only for TCP and UDP
            if proto not in (6, 17) or not (splo <= sp <= sphi and dplo <= dp <= dphi):
                continue
        return i
    return None


def cmd_oracle(args):
    rules = parse_rules(args[0], int(args[1]))
    for h in parse_trace(args[2]):
        i = first_match(rules, h)
        print("-" if i is None else "r%d" % i)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(h, v6):
    src, dst, sp, dp, proto = h
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sp, dp, 1, 0, 5 << 4, 0x10, 8192, 0, 0)
    elif proto == 17:
        l4 = struct.pack("!HHHH", sp, dp, 8, 0)
    else:
        l4 = b""
    if v6:
        a = bytes.fromhex("20010db8000000000000000000000000")
        ip = struct.pack("!IHBB", 6 << 28, len(l4), proto, 64)
        ip += a[:12] + struct.pack("!I", src) + a[:12] + struct.pack("!I", dst)
        et = 0x86DD
    else:
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        et = 0x0800
    eth = bytes.fromhex("020000000002020000000001") + struct.pack("!H", et)
    return eth + ip + l4


def cmd_pcap(args):
    v6 = "--ip6" in args
    with open(args[1], "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n, h in enumerate(parse_trace(args[0])):
            p = frame(h, v6)
            f.write(struct.pack("<IIII", n, 0, len(p), len(p)) + p)


def cmd_sample(args):
    src = open(args[0], "rb").read()
    pk, off = [], 24
    while off < len(src):
        n = struct.unpack("<IIII", src[off:off + 16])[2]
        pk.append(src[off:off + 16 + n])
        off += 16 + n
    k = int(args[2])
    step = max(1, len(pk) // k)
    with open(args[1], "wb") as f:
        f.write(src[:24] + b"".join(pk[::step][:k]))


def rule_line(r):
    src, slen, dst, dlen, splo, sphi, dplo, dphi, proto, pmask = r
    return "@%s/%d\t%s/%d\t%d : %d\t%d : %d\t0x%02X/0x%02X\t0x0000/0x0000\n" % (
        ip4s(src), slen, ip4s(dst), dlen, splo, sphi, dplo, dphi, proto, pmask)


def cmd_mix(args):
    n = int(args[1])
    sets = [parse_rules(p, -1) for p in args[2:]]
    base = [r for group in zip(*sets) for r in group]
    with gzip.open(args[0], "wt") as f:
        for i in range(n):
            r = list(base[i % len(base)])
            c = i // len(base)
            for a, l in ((0, 1), (2, 3)):  # copy c: another /8 block (host bits stay zero)
                mask = ((1 << r[l]) - 1) << (32 - r[l]) if r[l] else 0
                r[a] = (r[a] ^ (c * 0x3B << 24)) & mask
            f.write(rule_line(r))


def cmd_cat(args):
    lines = []
    for p in args[2:]:
        with gzip.open(p, "rt") as t:
            lines += [x for x in t if x.strip()]
    with gzip.open(args[0], "wt") as f:
        f.write("".join(lines[::int(args[1])]))


def main():
    cmds = {"xdpl": cmd_xdpl, "oracle": cmd_oracle, "pcap": cmd_pcap, "sample": cmd_sample,
            "mix": cmd_mix, "cat": cmd_cat}
    if len(sys.argv) < 3 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
