#!/usr/bin/env python3
"""Frames longer than a page, checked with Scapy (tests/kernel/jumbo.sh).

  jumbo.py gen SEED IN.pcap TESTS.xdpl
      the capture for `xdplc run` and `test` blocks for `xdplc test`
  jumbo.py check IN.pcap OUT.pcap RUN.json
      pkt.len classification, per-rule byte counters and VXLAN outputs
  jumbo.py nofrags IN.pcap RUN.json
      an object without the "frags" record runs only frames of one buffer

Every frame is Ether/IPv4/UDP with random payload bytes (odd lengths too).
The UDP destination port picks what the policy does (jumbo.sh):
  9  pkt.len classified: le_3520, le_4000, le_9000 or gt_9000
  7  L2 VXLAN over IPv4 (vx4): the whole frame is the inner frame
  8  L2 VXLAN over IPv6 with an outer Ethernet header (vx6)
"""
import json
import logging
import random
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import IP, UDP, VXLAN, Ether, IPv6, Raw, rdpcap, wrpcap

FIXED = [1500, 3520, 3521, 4000, 4016, 9000, 9016, 65000, 65016]
LINEAR_MAX = 3520  # one test-run buffer on 4 KiB pages
TOO_LONG = 65510   # VXLAN over IPv4 would need an outer length > 65535


def frame(rng, size, dport):
    p = Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb") / \
        IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=rng.randrange(1024, 65535), dport=dport)
    return p / Raw(bytes(rng.getrandbits(8) for _ in range(size - len(p))))


def sizes(rng):
    return FIXED + [rng.randrange(60, 65001) for _ in range(12)]


def expect_len_rule(n):
    if n <= 3520:
        return "le_3520"
    if n <= 4000:
        return "le_4000"
    return "le_9000" if n <= 9000 else "gt_9000"


def gen(seed, pcap, tests):
    rng = random.Random(seed)
    pkts = []
    for n in sizes(rng):
        pkts += [frame(rng, n, 9), frame(rng, n, 7), frame(rng, n, 8)]
    pkts.append(frame(rng, TOO_LONG, 7))
    wrpcap(pcap, pkts)
    with open(tests, "w") as f:
        for n in [1500, 3521, 9000, 65000]:
            p = frame(rng, n, 9)
            payload = bytes(p[Raw].load).hex()
            f.write('test "pkt.len of a %d-byte frame" {\n' % n)
            f.write('    packet eth(src=02:00:00:00:00:aa, dst=02:00:00:00:00:bb) / ip4(src=10.9.0.1, '
                    'dst=10.9.0.2) / udp(sport=%d, dport=9) / payload(hex "%s");\n' % (p[UDP].sport, payload))
            f.write('    expect pass by %s;\n}\n' % expect_len_rule(n))


def fail(msg):
    print("FAIL: " + msg)
    return 1


def check_vxlan(i, inp, out, six):
    """out: the frame `inp` in VXLAN, lengths and checksums as Scapy makes them."""
    raw = bytes(out)
    if six:
        if IPv6 not in out or out[IPv6].plen != len(raw) - 14 - 40:
            return fail("#%d: outer IPv6 payload length %s, frame %d bytes" %
                        (i, out[IPv6].plen if IPv6 in out else None, len(raw)))
    elif IP not in out or out[IP].len != len(raw) - 14:
        return fail("#%d: outer IPv4 length %s, frame %d bytes" %
                    (i, out[IP].len if IP in out else None, len(raw)))
    udp = out[UDP]
    if udp.dport != 4789 or udp.len != len(raw) - (14 + 40 if six else 14 + 20):
        return fail("#%d: outer UDP port %d length %d, frame %d bytes" % (i, udp.dport, udp.len, len(raw)))
    again = out.copy()
    del again[UDP].chksum
    if not six:
        del again[IP].chksum
    again = Ether(bytes(again))
    if udp.chksum != again[UDP].chksum:
        return fail("#%d: outer UDP checksum %#06x, Scapy computes %#06x (%d-byte frame)" %
                    (i, udp.chksum, again[UDP].chksum, len(raw)))
    if not six and out[IP].chksum != again[IP].chksum:
        return fail("#%d: outer IPv4 checksum %#06x, Scapy computes %#06x" % (i, out[IP].chksum, again[IP].chksum))
    if bytes(out[VXLAN].payload) != bytes(inp):
        return fail("#%d: the inner frame differs from the original (%d bytes)" % (i, len(inp)))
    return 0


def rule_bytes(run):
    return {r["name"]: (r["packets"], r["bytes"]) for r in run["rules"]}


def check(pin, pout, run_json):
    inp, out = rdpcap(pin), rdpcap(pout)
    run = json.load(open(run_json))
    rows = run["packets"]
    bad = 0
    if len(rows) != len(inp):
        return fail("xdplc ran %d packets of %d" % (len(rows), len(inp)))
    want = {}
    outs = iter(out)
    for i, (p, row) in enumerate(zip(inp, rows), 1):
        n = len(p)
        if row.get("len") != n or "error" in row:
            bad += fail("#%d: %d-byte frame: %s" % (i, n, row))
            continue
        dport = p[UDP].dport
        rule = {9: expect_len_rule(n), 7: "vx4", 8: "vx6"}[dport]
        verdict = "pass" if dport == 9 else "tx"
        if dport == 7 and n + 36 > 65535:
            rule, verdict = None, "drop"  # outer length does not fit: not encapsulated
        if row["rule"] != rule or row["verdict"] != verdict:
            bad += fail("#%d: %d-byte frame to port %d: %s by %s, expected %s by %s" %
                        (i, n, dport, row["verdict"], row["rule"], verdict, rule))
            continue
        if rule:
            c = want.setdefault(rule, [0, 0])
            c[0] += 1
            c[1] += n
        if verdict == "drop":
            continue
        o = next(outs, None)  # --write keeps every frame not dropped
        if o is None:
            bad += fail("#%d: no output packet" % i)
        elif verdict == "pass" and bytes(o) != bytes(p):
            bad += fail("#%d: a passed %d-byte frame changed" % (i, n))
        elif verdict == "tx":
            bad += check_vxlan(i, p, o, dport == 8)
    got = rule_bytes(run)
    for rule, (pk, by) in sorted(want.items()):
        if tuple(got.get(rule, (0, 0))) != (pk, by):
            bad += fail("rule %s counted %s packets/bytes, the frames sum to %d/%d" % (rule, got.get(rule), pk, by))
    if bad:
        return 1
    print("ok: %d frames of %d..%d bytes; pkt.len, byte counters and %d VXLAN outputs agree with Scapy" %
          (len(inp), min(len(p) for p in inp), max(len(p) for p in inp), sum(1 for r in rows if r["verdict"] == "tx")))
    return 0


def nofrags(pin, run_json):
    inp = rdpcap(pin)
    run = json.load(open(run_json))
    rows = run["packets"]
    bad = 0
    want = sum(len(p) for p in inp if len(p) <= LINEAR_MAX and p[UDP].dport == 9)
    if run["rules"][0]["bytes"] != want:
        bad += fail("rule0 (le_3520) counted %d bytes, the frames sum to %d" % (run["rules"][0]["bytes"], want))
    for i, (p, row) in enumerate(zip(inp, rows), 1):
        refused = "error" in row
        if refused != (len(p) > LINEAR_MAX):
            bad += fail("#%d: %d-byte frame %s" % (i, len(p), "refused" if refused else "run"))
        elif refused and "not built for multi-buffer frames" not in row["error"]:
            bad += fail("#%d: unclear refusal: %s" % (i, row["error"]))
        elif not refused and p[UDP].dport == 9 and row["rule"] != "rule0":
            # without names: rule0 is le_3520, the only one for these
            bad += fail("#%d: %d-byte frame decided by %s, expected rule0 (le_3520)" % (i, len(p), row["rule"]))
    if len(rows) != len(inp):
        bad += fail("%d rows for %d frames" % (len(rows), len(inp)))
    if not bad:
        print("ok: without the frags record, frames over %d bytes are refused, the others run" % LINEAR_MAX)
    return 1 if bad else 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        sys.exit(gen(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    if cmd == "check":
        sys.exit(check(*sys.argv[2:5]))
    if cmd == "nofrags":
        sys.exit(nofrags(*sys.argv[2:4]))
    sys.exit("usage: jumbo.py gen SEED IN.pcap TESTS.xdpl | check IN OUT RUN.json | nofrags IN RUN.json")
