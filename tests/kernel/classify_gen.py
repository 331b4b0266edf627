#!/usr/bin/env python3
"""Random rule sets and packets for tests/kernel/classify.sh.

  classify_gen.py SHAPE NRULES NPACKETS SEED OUT.xdpl OUT.pcap

Shapes (each a policy the classifier takes, compared by classify.sh with
the same policy built rule by rule):
  overlap  nested and overlapping ip4 prefixes, few distinct roots
  ranges   port ranges crossing each other, tcp/udp/l4
  dups     rules repeated (same box, other verdicts) and shadowed rules
  wild     many wildcards: rules testing one or two fields of five
  ip6      ip6 prefixes of all lengths (crossing the 64-bit halves)
  mixed    all of the above plus exact and `!=` rules that split runs
Packets: 3/4 drawn inside a random rule's box (edges included), 1/4 at
random over the same value pools.
"""
import random
import struct
import sys

PROTOS = [6, 17, 1]


def rnd_prefix(rng, bits, roots):
    plen = rng.choice([0, 1, 4, 8, 12, 16, 20, 24, 28, 31, bits]) if bits == 32 else \
        rng.choice([0, 1, 16, 32, 48, 60, 63, 64, 65, 72, 96, 112, 120, 127, 128])
    base = rng.choice(roots) ^ (rng.getrandbits(bits) >> (bits // 4))
    mask = ((1 << plen) - 1) << (bits - plen) if plen else 0
    return base & mask, plen


def rnd_range(rng):
    a = rng.choice([0, 1, 22, 53, 80, 443, 1023, 1024, 5000, 8080, 32768, 65534, 65535, rng.randrange(65536)])
    w = rng.choice([0, 0, 1, 2, 15, 255, 1000, 30000, 65535])
    return a, min(65535, a + w)


def ip6_text(v):
    return ":".join("%x" % ((v >> (112 - 16 * i)) & 0xFFFF) for i in range(8))


def ip4_text(v):
    return ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))


def make_rule(rng, shape, roots4, roots6):
    """A rule as a dict of constraints: src/dst (value, plen, v6), proto, sport/dport (lo, hi, l4 name)."""
    r = {"v6": shape == "ip6" or (shape == "mixed" and rng.random() < 0.2)}
    bits = 128 if r["v6"] else 32
    roots = roots6 if r["v6"] else roots4
    wild = shape == "wild"
    p_field = 0.35 if wild else 0.8
    for f in ("src", "dst"):
        if rng.random() < p_field:
            r[f] = rnd_prefix(rng, bits, roots)
    if rng.random() < (0.3 if wild else 0.6):
        r["proto"] = rng.choice(PROTOS)
    l4 = {6: "tcp", 17: "udp"}.get(r.get("proto"), "l4")
    for f in ("sport", "dport"):
        if rng.random() < (0.25 if wild else 0.5 if shape != "ranges" else 0.9):
            r[f] = rnd_range(rng) + (l4,)
    if shape == "mixed" and rng.random() < 0.05:
        r["odd"] = True  # `ip4.ttl != 7`: not a classifier atom, splits the run
    return r


def rule_text(i, r, verdict):
    atoms = []
    fam = "ip6" if r["v6"] else "ip4"
    for f in ("src", "dst"):
        if f in r:
            v, plen = r[f]
            text = ip6_text(v) if r["v6"] else ip4_text(v)
            bits = 128 if r["v6"] else 32
            atoms.append("%s.%s %s" % (fam, f, "== " + text if plen == bits else "in %s/%d" % (text, plen)))
    if "proto" in r:
        atoms.append("%s == %d" % ("ip.proto" if r["v6"] else "ip4.proto", r["proto"]))
    for f in ("sport", "dport"):
        if f in r:
            lo, hi, l4 = r[f]
            atoms.append("%s.%s %s" % (l4, f, "== %d" % lo if lo == hi else "in %d..%d" % (lo, hi)))
    if r.get("odd"):
        atoms.append("ip4.ttl != 7")
    m = "match %s; " % " and ".join(atoms) if atoms else ""
    return "rule r%d { %sverdict %s; }" % (i, m, verdict)


def point(rng, r, roots4, roots6):
    """A header (v6, src, dst, proto, sport, dport) inside r's box when r, else random."""
    v6 = r["v6"] if r else rng.random() < 0.3
    bits = 128 if v6 else 32
    roots = roots6 if v6 else roots4
    h = {"v6": v6}
    for f in ("src", "dst"):
        v = rng.choice(roots) ^ rng.getrandbits(bits) >> rng.choice([0, 8, 16, 24, bits - 4])
        if r and f in r:
            base, plen = r[f]
            host = (1 << (bits - plen)) - 1
            v = base | rng.choice([0, host, rng.getrandbits(bits) & host])
        h[f] = v
    h["proto"] = r["proto"] if r and "proto" in r and rng.random() < 0.9 else rng.choice(PROTOS + [6, 17])
    for f in ("sport", "dport"):
        v = rng.choice([0, 53, 80, 1024, 65535, rng.randrange(65536)])
        if r and f in r:
            lo, hi, _ = r[f]
            v = rng.choice([lo, hi, rng.randint(lo, hi), max(0, lo - 1), min(65535, hi + 1)])
        h[f] = v
    return h


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(rng, h):
    p = h["proto"]
    if p == 6:
        l4 = struct.pack("!HHIIBBHHH", h["sport"], h["dport"], 1, 0, 0x50, 0x10, 8192, 0, 0)
    elif p == 17:
        l4 = struct.pack("!HHHH", h["sport"], h["dport"], 8, 0)
    else:
        l4 = struct.pack("!BBHI", 8, 0, 0, 0)  # ICMP echo
    if h["v6"]:
        ip = struct.pack("!IHBB", 6 << 28, len(l4), p if p != 1 else 58, 64)
        ip += h["src"].to_bytes(16, "big") + h["dst"].to_bytes(16, "big")
        et = 0x86DD
    else:
        ttl = rng.choice([7, 64])
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(l4), 1, 0, ttl, p, 0, h["src"], h["dst"])
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        et = 0x0800
    return bytes.fromhex("020000000002020000000001") + struct.pack("!H", et) + ip + l4


def main():
    shape, nrules, npk, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    roots4 = [rng.getrandbits(32) for _ in range(3 if shape == "overlap" else 12)]
    roots6 = [(0x20010DB8 << 96) | rng.getrandbits(64) << rng.choice([0, 32]) for _ in range(6)]
    rules = []
    verdicts = ["drop", "pass", "tx", "abort"]
    while len(rules) < nrules:
        if shape in ("dups", "mixed") and rules and rng.random() < 0.25:
            r = dict(rng.choice(rules))  # a duplicate (or a shadowed copy) of an earlier rule
        else:
            r = make_rule(rng, shape, roots4, roots6)
        if shape == "mixed" and not r["v6"] and rng.random() < 0.1:
            r = {"v6": False, "src": (rng.choice(roots4), 32)}  # exact
        rules.append(r)
    with open(sys.argv[5], "w") as f:
        f.write("program classify_%s;\n" % shape)
        for i, r in enumerate(rules):
            f.write(rule_text(i, r, rng.choice(verdicts)) + "\n")
        f.write("default pass;\n")
    with open(sys.argv[6], "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n in range(npk):
            r = rng.choice(rules) if rng.random() < 0.75 else None
            p = frame(rng, point(rng, r, roots4, roots6))
            f.write(struct.pack("<IIII", n, 0, len(p), len(p)) + p)


if __name__ == "__main__":
    main()
