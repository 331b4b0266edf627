# Independent (Scapy) checks of encap/decap outputs, for
# tests/kernel/encap_scapy.sh.
#   encap_scapy.py gen IN.pcap              write the input capture
#   encap_scapy.py check IN.pcap OUT.pcap RUN.json
# Every case is rebuilt from the same seed by both steps; `check` compares
# the capture it reads with the one it would write, so the two never drift.
import json
import random
import sys

from scapy.all import (GRE, ICMP, IP, TCP, UDP, VXLAN, Dot1AD, Dot1Q, Ether,
                       ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, Padding, Raw,
                       rdpcap, wrpcap)

KEY = "02:00:00:00:ee:%02x"     # eth.dst selecting an encap rule of the policy
SIZES = [0, 1, 2, 3, 7, 8, 33, 64, 255, 512, 1001, 1400, 1472]


def rnd4(r):
    return "10.%d.%d.%d" % (r.randrange(256), r.randrange(256), r.randrange(1, 255))


def rnd6(r):
    return "2001:db8:%x:%x::%x" % (r.randrange(1, 65536), r.randrange(65536), r.randrange(1, 65536))


def inner_l3(r, fam, l4, size):
    """A realistic inner IP packet; Scapy computes its lengths and checksums."""
    pl = Raw(bytes(r.randrange(256) for _ in range(size))) if size else b""
    if fam == 4:
        ip = IP(src=rnd4(r), dst=rnd4(r), ttl=r.randrange(1, 256), id=r.randrange(65536),
                tos=r.randrange(256), flags=r.choice([0, 2]))
        if r.random() < 0.3:
            ip.options = [b"\x01\x01\x01\x01"] if r.random() < 0.5 else [b"\x07\x07\x04\x00\x00\x00\x00\x00"]
    else:
        ip = IPv6(src=rnd6(r), dst=rnd6(r), hlim=r.randrange(1, 256), tc=r.randrange(256),
                  fl=r.randrange(1 << 20))
    if l4 == "tcp":
        t = TCP(sport=r.randrange(20000, 30000), dport=r.choice([4000, 7000, 9999]), seq=r.randrange(1 << 32),
                ack=r.randrange(1 << 32), flags=r.choice(["S", "SA", "PA", "FA"]), window=r.randrange(65536))
        if r.random() < 0.4:
            t.options = [("MSS", 1460), ("NOP", None), ("WScale", 7)]
    elif l4 == "udp":
        t = UDP(sport=r.randrange(20000, 30000), dport=r.choice([4000, 7000, 9999]))
    else:
        t = (ICMP(type=8, id=r.randrange(65536), seq=r.randrange(65536)) if fam == 4
             else ICMPv6EchoRequest(id=r.randrange(65536), seq=r.randrange(65536)))
    p = ip / t / pl
    return (IP if fam == 4 else IPv6)(bytes(p))


def link(r, dst, tags, fam, src=None):
    """Ethernet (+ 0, 1 or 2 tags) ending with the EtherType of `fam`."""
    et = 0x0800 if fam == 4 else 0x86dd
    src = src or "02:00:00:00:%02x:%02x" % (r.randrange(256), r.randrange(256))
    if tags == 0:
        return Ether(dst=dst, src=src, type=et)
    if tags == 1:
        return Ether(dst=dst, src=src, type=0x8100) / Dot1Q(vlan=r.randrange(1, 4095), prio=r.randrange(8), type=et)
    outer = r.choice([0x8100, 0x88a8])
    return (Ether(dst=dst, src=src, type=outer) / Dot1Q(vlan=r.randrange(1, 4095), prio=r.randrange(8), type=0x8100)
            / Dot1Q(vlan=r.randrange(1, 4095), type=et))


def relink(lk, fam):
    """The same link header(s), last EtherType set for `fam` (bytes)."""
    b = bytearray(bytes(lk))
    b[-2:] = (0x0800 if fam == 4 else 0x86dd).to_bytes(2, "big")
    return bytes(b)


def cases():
    """[(input frame bytes, category, expected rule, expected output bytes)]"""
    r = random.Random(4789)
    out = []

    def add(frame, cat, rule, expect):
        if cat.startswith("encap"):
            l3 = next(x for x in layers(Ether(bytes(frame))) if isinstance(x, (IP, IPv6)))
            cat += ", inner IPv%d" % (6 if isinstance(l3, IPv6) else 4)
        out.append((bytes(frame), cat, rule, bytes(expect)))

    def inner(fam=None):
        fam = fam or r.choice([4, 6])
        return fam, inner_l3(r, fam, r.choice(["tcp", "udp", "icmp"]), r.choice(SIZES))

    # ---- encap ----
    for fam in (4, 6):
        for l4 in ("tcp", "udp", "icmp"):
            for tags in (0, 1, 2):
                for size in (r.choice(SIZES), r.choice([1, 3, 7, 33, 1001])):
                    il = inner_l3(r, fam, l4, size)
                    proto = 4 if fam == 4 else 41
                    gp = 0x0800 if fam == 4 else 0x86dd

                    lk = link(r, KEY % 1, tags, fam)
                    add(lk / il, "encap ip4 (IP-in-IP)", "ipip4",
                        relink(lk, 4) + bytes(IP(src="192.0.2.1", dst="192.0.2.2", proto=proto) / Raw(bytes(il))))

                    lk = link(r, KEY % 2, tags, fam)
                    add(lk / il, "encap ip6 (IP-in-IP)", "ipip6",
                        relink(lk, 6) + bytes(IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=17, nh=proto)
                                              / Raw(bytes(il))))

                    lk = link(r, KEY % 3, tags, fam)
                    add(lk / il, "encap ip4/gre", "gre4",
                        relink(lk, 4) + bytes(IP(src="192.0.2.1", dst="192.0.2.3", ttl=32, proto=47)
                                              / GRE(proto=gp) / Raw(bytes(il))))

                    lk = link(r, KEY % 4, tags, fam)
                    add(lk / il, "encap ip4/gre(k, s)", "gre_key",
                        relink(lk, 4) + bytes(IP(src="192.0.2.1", dst="192.0.2.8", proto=47)
                                              / GRE(key_present=1, seqnum_present=1, key=42, sequence_number=7, proto=gp)
                                              / Raw(bytes(il))))

                    lk = link(r, KEY % 9, tags, fam)
                    add(lk / il, "encap ip6/gre", "gre6",
                        relink(lk, 6) + bytes(IPv6(src="2001:db8::1", dst="2001:db8::9", nh=47)
                                              / GRE(proto=gp) / Raw(bytes(il))))

                    # VXLAN: the whole frame (tags included) goes inside; the
                    # outer Ethernet header has the frame's MACs and no tags.
                    lk = link(r, KEY % 5, tags, fam)
                    f = lk / il
                    add(f, "encap ip4/udp/vxlan", "vxlan4",
                        bytes(Ether(dst=lk.dst, src=lk.src, type=0x0800)
                              / IP(src="192.0.2.1", dst="192.0.2.4", proto=17)
                              / UDP(sport=49152, dport=4789) / VXLAN(flags=0x08, vni=77) / Raw(bytes(f))))

                    lk = link(r, KEY % 6, tags, fam)
                    f = lk / il
                    add(f, "encap ip6/udp/vxlan", "vxlan6",
                        bytes(Ether(dst=lk.dst, src=lk.src, type=0x86dd)
                              / IPv6(src="2001:db8::1", dst="2001:db8::5", nh=17)
                              / UDP(sport=40000, dport=4789) / VXLAN(flags=0x08, vni=0x123456)
                              / Raw(bytes(f))))

                    lk = link(r, KEY % 7, tags, fam)
                    f = lk / il
                    add(f, "encap eth/ip6/udp/vxlan", "vxlan6_eth",
                        bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01", type=0x86dd)
                              / IPv6(src="2001:db8::1", dst="2001:db8::7", nh=17)
                              / UDP(sport=49152, dport=4789) / VXLAN(flags=0x08, vni=4242)
                              / Raw(bytes(f))))

                    # run-time values, read from the packet before the encap
                    lk = link(r, KEY % 8, tags, fam)
                    if fam == 4:
                        outer = IP(src=il.dst, dst=il.src, ttl=il.ttl, id=il.id ^ 0x5555, proto=4)
                        add(lk / il, "encap ip4 with run-time values", "reflect4",
                            relink(lk, 4) + bytes(outer / Raw(bytes(il))))
                    else:
                        outer = IPv6(src=il.dst, dst=il.src, hlim=il.hlim, nh=41)
                        add(lk / il, "encap ip6 with run-time values", "reflect6",
                            relink(lk, 6) + bytes(outer / Raw(bytes(il))))

    # ---- decap ----
    for tags in (0, 1, 2):
        for rep in range(4):
            for ifam in (4, 6):
                _, il = inner(ifam)
                ip4o = dict(src="192.0.2.%d" % r.randrange(1, 255), dst="198.51.100.1",
                            ttl=r.randrange(1, 256), id=r.randrange(65536))
                ip6o = dict(src="2001:db8::%x" % r.randrange(1, 65536), dst="2001:db8::100",
                            hlim=r.randrange(1, 256))
                gp = 0x0800 if ifam == 4 else 0x86dd
                want = lambda lk: relink(lk, ifam) + bytes(il)
                tun = "%din4" % ifam

                lk = link(r, "02:00:00:00:dd:01", tags, 4)
                add(lk / IP(**ip4o) / il, "decap IP-in-IP %s" % tun, "decap4", want(lk))

                lk = link(r, "02:00:00:00:dd:02", tags, 4)
                opts = r.choice([[b"\x01\x01\x01\x00"], [b"\x07\x07\x04\x00\x00\x00\x00\x00"],
                                 [b"\x94\x04\x00\x00"], [b"\x01" * 40]])
                add(lk / IP(options=opts, **ip4o) / il, "decap IP-in-IP %s, outer IPv4 options" % tun,
                    "decap4", want(lk))

                lk = link(r, "02:00:00:00:dd:03", tags, 6)
                add(lk / IPv6(**ip6o) / il, "decap IP-in-IP %din6" % ifam, "decap6", want(lk))

                for g, what in ((GRE(proto=gp), "plain"),
                                (GRE(key_present=1, key=r.randrange(1 << 32), proto=gp), "key"),
                                (GRE(key_present=1, seqnum_present=1, key=42, sequence_number=r.randrange(1 << 32),
                                     proto=gp), "key+seq"),
                                (GRE(seqnum_present=1, sequence_number=r.randrange(1 << 32), proto=gp), "seq"),
                                (GRE(chksum_present=1, key_present=1, seqnum_present=1, key=1,
                                     sequence_number=2, proto=gp), "csum+key+seq")):
                    lk = link(r, "02:00:00:00:dd:04", tags, 4)
                    opts = [] if r.random() < 0.7 else [b"\x01\x01\x01\x00"]
                    add(lk / IP(options=opts, **ip4o) / g / il, "decap GRE (%s) over IPv4" % what, "decap4", want(lk))
                lk = link(r, "02:00:00:00:dd:05", tags, 6)
                add(lk / IPv6(**ip6o) / GRE(key_present=1, key=9, proto=gp) / il, "decap GRE over IPv6",
                    "decap6", want(lk))

                # VXLAN: the inner frame (maybe tagged itself) is the packet
                ilk = link(r, "02:00:00:00:99:%02x" % r.randrange(256), r.choice([0, 0, 1]), ifam)
                inner_frame = ilk / il
                lk = link(r, "02:00:00:00:dd:06", tags, 4)
                u = UDP(sport=r.randrange(49152, 65536), dport=4789)
                if r.random() < 0.5:
                    u.chksum = 0
                add(lk / IP(src="192.0.2.77", dst="192.0.2.78") / u / VXLAN(vni=9) / inner_frame,
                    "decap VXLAN over IPv4", "decap_vxlan", bytes(inner_frame))
                lk = link(r, "02:00:00:00:dd:07", tags, 6)
                add(lk / IPv6(src="2001:db8::77", dst="2001:db8::78") / UDP(sport=50000, dport=4789)
                    / VXLAN(vni=9) / inner_frame, "decap VXLAN over IPv6", "decap_vxlan", bytes(inner_frame))

        # no tunnel behind the decap rule's address: the rule does not match
        lk = link(r, "02:00:00:00:dd:08", tags, 4)
        f = lk / IP(dst="198.51.100.1") / TCP(dport=80) / Raw(b"x" * 5)
        add(f, "decap without a tunnel (no match)", "default", bytes(f))
        lk = link(r, "02:00:00:00:dd:08", tags, 4)
        f = lk / IP(dst="192.0.2.99") / UDP(dport=4789) / VXLAN(vni=10) / Ether() / IP() / ICMP()
        add(f, "decap of a VXLAN with another VNI (no match)", "default", bytes(f))
    return out


# ---------------------------------------------------------------- checks
CK = {IP: "chksum", TCP: "chksum", UDP: "chksum", ICMP: "chksum",
      ICMPv6EchoRequest: "cksum", ICMPv6EchoReply: "cksum"}
LEN = {IP: "len", IPv6: "plen", UDP: "len"}


def layers(p):
    out, l = [], p
    while l and not isinstance(l, (Raw, Padding)):
        out.append(l)
        l = l.payload
    return out


def recompute(frame, idx, field):
    """Field `field` of layer number idx, deleted and rebuilt by Scapy."""
    q = Ether(frame)
    l = layers(q)[idx]
    setattr(l, field, None)
    return getattr(layers(Ether(bytes(q)))[idx], field)


def check_sums(frame, vxlan_udp):
    """Every checksum and length field of every layer, recomputed from
    scratch. Returns (errors, {counter: n})."""
    errs, seen = [], {}
    p = Ether(frame)
    if Padding in p:
        errs.append("trailing bytes after the outer IP packet (its length field is short)")
    ls = layers(p)
    for i, l in enumerate(ls):
        t = type(l)
        # outer: the first IP header and what follows it up to the next one
        outer = sum(isinstance(x, (IP, IPv6)) for x in ls[:i + 1]) <= 1
        where = ("outer " if outer else "inner ") + t.__name__
        if t in LEN:
            got, want = getattr(l, LEN[t]), recompute(frame, i, LEN[t])
            seen["length " + t.__name__] = seen.get("length " + t.__name__, 0) + 1
            if got != want:
                errs.append("%s %s %d, Scapy computes %d" % (where, LEN[t], got, want))
        if t in CK:
            got = getattr(l, CK[t])
            want = recompute(frame, i, CK[t])
            name = "checksum " + ("outer " if outer else "inner ") + t.__name__
            seen[name] = seen.get(name, 0) + 1
            if got != want:
                errs.append("%s checksum %#06x, Scapy computes %#06x" % (where, got, want))
    return errs, seen


def check_encap(inp, out, rule):
    """Structure of an encap output, field by field, for clear messages."""
    e = []
    i, o = Ether(inp), Ether(out)
    il = next(x for x in layers(i) if isinstance(x, (IP, IPv6)))     # the original L3 packet
    ifam = 4 if isinstance(il, IP) else 6
    ol = layers(o)
    # the L3 header after the link headers
    k = 1
    while isinstance(ol[k - 1].payload, (Dot1Q, Dot1AD)):
        k += 1
    l3 = ol[k] if k < len(ol) else None
    last_type = ol[k - 1].type
    vx = rule.startswith("vxlan")
    ofam = 4 if rule in ("ipip4", "gre4", "gre_key", "vxlan4", "reflect4") else 6
    if not isinstance(l3, IP if ofam == 4 else IPv6):
        return ["no outer IPv%d header after the link header(s): %s" % (ofam, o.summary())]
    if last_type != (0x0800 if ofam == 4 else 0x86dd):
        e.append("EtherType %#06x before the outer IPv%d header" % (last_type, ofam))
    # link headers: IP-in-IP and GRE keep the frame's, VXLAN has a plain Ethernet header
    if vx:
        if k != 1:
            e.append("VXLAN outer frame has %d VLAN tag(s), want none" % (k - 1))
        wsrc, wdst = ("02:00:00:00:00:01", "02:00:00:00:00:02") if rule == "vxlan6_eth" else (i.src, i.dst)
        if (o.src, o.dst) != (wsrc, wdst):
            e.append("outer MACs %s > %s, want %s > %s" % (o.src, o.dst, wsrc, wdst))
    else:
        ni = len([x for x in layers(i) if isinstance(x, (Dot1Q, Dot1AD))])
        if k - 1 != ni or bytes(o)[:12 + 4 * ni] != bytes(i)[:12 + 4 * ni]:
            e.append("link header(s) not kept: in %s, out %s" % (bytes(i)[:12 + 4 * ni].hex(), bytes(o)[:12 + 4 * k - 4].hex()))
    want_addr = {"ipip4": ("192.0.2.1", "192.0.2.2"), "gre4": ("192.0.2.1", "192.0.2.3"),
                 "gre_key": ("192.0.2.1", "192.0.2.8"), "vxlan4": ("192.0.2.1", "192.0.2.4"),
                 "ipip6": ("2001:db8::1", "2001:db8::2"), "vxlan6": ("2001:db8::1", "2001:db8::5"),
                 "vxlan6_eth": ("2001:db8::1", "2001:db8::7"), "gre6": ("2001:db8::1", "2001:db8::9"),
                 "reflect4": (il.dst, il.src), "reflect6": (il.dst, il.src)}[rule]
    if (l3.src, l3.dst) != want_addr:
        e.append("outer addresses %s > %s, want %s > %s" % (l3.src, l3.dst, *want_addr))
    if ofam == 4:
        wttl = il.ttl if rule == "reflect4" else 32 if rule == "gre4" else 64
        wid = il.id ^ 0x5555 if rule == "reflect4" else 1
        if l3.ttl != wttl:
            e.append("outer TTL %d, want %d" % (l3.ttl, wttl))
        if (l3.id, int(l3.flags), l3.frag, l3.tos, l3.ihl) != (wid, 0, 0, 0, 5):
            e.append("outer IPv4 id/flags/frag/tos/ihl %s, want %s" % ((l3.id, int(l3.flags), l3.frag, l3.tos, l3.ihl),
                                                                      (wid, 0, 0, 0, 5)))
        proto = l3.proto
    else:
        whl = il.hlim if rule == "reflect6" else 17 if rule == "ipip6" else 64
        if l3.hlim != whl:
            e.append("outer hop limit %d, want %d" % (l3.hlim, whl))
        if (l3.tc, l3.fl) != (0, 0):
            e.append("outer IPv6 tc/flow %s, want (0, 0)" % ((l3.tc, l3.fl),))
        proto = l3.nh
    tail = bytes(l3.payload)
    if rule.startswith("gre"):
        if proto != 47:
            e.append("outer protocol %d, want 47 (GRE)" % proto)
        g = l3.payload
        if not isinstance(g, GRE) or g.proto != (0x0800 if ifam == 4 else 0x86dd):
            e.append("GRE proto %#06x, want %#06x" % (getattr(g, "proto", -1), 0x0800 if ifam == 4 else 0x86dd))
        ghl = 4 + 4 * ((g.chksum_present or g.routing_present) + g.key_present + g.seqnum_present)
        if rule == "gre_key" and bytes(g)[:ghl].hex() != "%s0000002a00000007" % ("3000" + ("0800" if ifam == 4 else "86dd")):
            e.append("GRE header %s, want key 42 and sequence number 7" % bytes(g)[:ghl].hex())
        if rule != "gre_key" and ghl != 4:
            e.append("GRE header has options, want none")
        tail = bytes(g)[ghl:]
        if tail != bytes(il):
            e.append("the GRE payload is not the original IP packet")
    elif vx:
        if proto != 17:
            e.append("outer protocol %d, want 17 (UDP)" % proto)
        u = l3.payload
        wsport = 40000 if rule == "vxlan6" else 49152
        if not isinstance(u, UDP) or (u.sport, u.dport) != (wsport, 4789):
            e.append("outer UDP ports %s, want %d > 4789" % ((getattr(u, "sport", None), getattr(u, "dport", None)), wsport))
        v = bytes(u)[8:16]
        wvni = {"vxlan4": 77, "vxlan6": 0x123456, "vxlan6_eth": 4242}[rule]
        if v != bytes([8, 0, 0, 0]) + wvni.to_bytes(3, "big") + b"\0":
            e.append("VXLAN header %s, want flags 0x08 and VNI %d" % (v.hex(), wvni))
        if bytes(u)[16:] != inp:
            e.append("the VXLAN payload is not the original frame")
    else:
        wp = 4 if ifam == 4 else 41
        if proto != wp:
            e.append("outer protocol %d, want %d (IPv%d in IP)" % (proto, wp, ifam))
        if tail != bytes(il):
            e.append("the outer IP payload is not the original IP packet")
    return e


def main():
    if sys.argv[1] == "gen":
        wrpcap(sys.argv[2], [Ether(c[0]) for c in cases()])
        return 0
    ins, outs = rdpcap(sys.argv[2]), rdpcap(sys.argv[3])
    run = json.load(open(sys.argv[4]))["packets"]
    cs = cases()
    assert [bytes(p) for p in ins] == [c[0] for c in cs], "the input capture differs from the cases"
    if len(outs) != len(cs) or len(run) != len(cs):
        print("FAIL: %d cases, %d verdicts, %d packets written" % (len(cs), len(run), len(outs)))
        return 1
    bad, cats, sums = 0, {}, {}
    for n, ((inp, cat, rule, want), o, v) in enumerate(zip(cs, outs, run)):
        o = bytes(o)
        errs = []
        wrule = rule
        wverdict = "pass" if rule == "default" else "tx"
        if (v["rule"], v["verdict"]) != (wrule, wverdict):
            errs.append("verdict %s by %s, want %s by %s" % (v["verdict"], v["rule"], wverdict, wrule))
        vx_idx = set()
        p = Ether(o)
        ls = layers(p)
        if rule.startswith("vxlan"):
            vx_idx = {j for j, l in enumerate(ls) if isinstance(l, UDP) and isinstance(l.payload, VXLAN)}
        e, seen = check_sums(o, vx_idx)
        errs += e
        for k2, c in seen.items():
            sums[k2] = sums.get(k2, 0) + c
        if rule.startswith(("ipip", "gre", "vxlan", "reflect")):
            try:
                errs += check_encap(inp, o, rule)
            except Exception as ex:  # a malformed output: say so, don't crash
                errs.append("cannot dissect the output: %r" % ex)
        if o != want:
            d = next((j for j in range(min(len(o), len(want))) if o[j] != want[j]), min(len(o), len(want)))
            errs.append("output differs from Scapy's expected packet at byte %d (got %d bytes, want %d)"
                        % (d, len(o), len(want)))
        cats.setdefault(cat, [0, 0])[0] += 1
        if errs:
            bad += 1
            cats[cat][1] += 1
            if bad > 20:
                continue
            print("packet %d (%s, rule %s):" % (n + 1, cat, rule))
            for x in errs:
                print("    " + x)
            print("    in:   " + inp.hex())
            print("    got:  " + o.hex())
            print("    want: " + want.hex())
    if bad > 20:
        print("... and %d more wrong packets" % (bad - 20))
    for cat, (tot, nbad) in sorted(cats.items()):
        print("%s %s: %d packets%s" % ("FAIL" if nbad else "ok:", cat, tot, ", %d wrong" % nbad if nbad else ""))
    print("ok: Scapy recomputed " + ", ".join("%s %d" % kv for kv in sorted(sums.items())))
    return 1 if bad else 0


sys.exit(main())
