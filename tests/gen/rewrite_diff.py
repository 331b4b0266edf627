#!/usr/bin/env python3
"""Rewrite differential: random policies with rewrites, random packets, an
independent model of the spec (Scapy, none of xdpl's code) against what the
kernel does (`xdplc run --pcap IN --write OUT --json`, BPF_PROG_TEST_RUN).

    tests/gen/rewrite_diff.py [--build DIR] [--policies N] [--packets K]
                              [--start SEED] [--mode fast|record|both]
                              [--keep DIR] [--jobs 1|2]

For each seed a policy of 1-12 rules (matches over header fields, rewrites:
= += -= swap, arithmetic values, push/pop vlan, encap ip4/ip6/gre/vxlan,
decap; verdicts pass/drop/abort/tx/continue) and K packets (Ethernet, VLAN
tags, IPv4/IPv6, TCP/UDP/ICMP/ICMPv6, VXLAN, IP-in-IP, GRE) are generated.
The model (spec §4-§7) gives each packet's verdict, deciding rule and
output bytes; checksums and lengths in the model's output are computed by
Scapy from scratch (the inputs' checksums are all correct, so a correct
incremental update gives the same bytes). Every output of the kernel has
its checksums verified again by Scapy. In `record` mode the policy is
padded with unrelated rules that match no generated packet to more than 64
rules, so the compiler uses its other code generation mode.

Differences are classified (verdict, rule, first differing field, bad
checksum, run error) and printed with a count and the smallest policy of
each class. Exit status 0 when there is no difference, 1 otherwise.
"""
import argparse
import concurrent.futures as cf
import ipaddress
import json
import os
import random
import subprocess
import sys
import tempfile

from scapy.all import (Ether, Dot1Q, IP, IPv6, TCP, UDP, ICMP, GRE, Raw,
                       ICMPv6EchoRequest, wrpcap, rdpcap, conf)
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, bind_layers
from scapy.fields import ByteField, ShortField, XShortField
from scapy.utils import checksum
import struct

conf.verb = 0
# Only the layers of the spec's parse graph are dissected: a UDP port 53
# payload is bytes here, not DNS (Scapy would bind sport 53 before VXLAN's
# dport 4789, and rebuild DNS with other bytes).
from scapy.packet import split_layers  # noqa: E402
from scapy.layers.dns import DNS  # noqa: E402
for _l4 in (UDP, TCP):
    for _k in ('sport', 'dport'):
        split_layers(_l4, DNS, **{_k: 53})
split_layers(UDP, DNS, sport=5353)
split_layers(UDP, DNS, dport=5353)


class ICMPx(Packet):
    """ICMP as the spec's stdlib sees it (type, code, csum, id, seq): one
    layout for every type, so that a rewritten type does not make Scapy
    read the rest as another message."""
    name = 'ICMPx'
    fields_desc = [ByteField('type', 8), ByteField('code', 0),
                   XShortField('chksum', None), ShortField('id', 0),
                   ShortField('seq', 0)]

    def post_build(self, p, pay):
        p += pay
        if self.chksum is None:
            c = checksum(p)
            p = p[:2] + struct.pack('!H', c) + p[4:]
        return p


split_layers(IP, ICMP, frag=0, proto=1)
bind_layers(IP, ICMPx, frag=0, proto=1)
ICMP = ICMPx  # noqa: F811
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# ---------------------------------------------------------------- pools
# Packets and rules draw from the same small pools so that rules match.
IP4 = ['10.0.0.1', '10.0.0.2', '10.1.2.3', '10.200.0.9']
IP6 = ['2001:db8:1::1', '2001:db8:1::2', '2001:db8:1:2::3', 'fd00::9']
MACS = ['02:00:00:00:00:01', '02:00:00:00:00:02', '0a:0b:0c:0d:0e:0f']
PORTS = [0, 1, 53, 80, 443, 4000, 8080, 65535]
BYTES = [0, 1, 2, 63, 64, 128, 255]
WORDS = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 12345]

# ---------------------------------------------------------------- fields
# name -> (header, scapy attribute, type): type is bits (int) or ip4/ip6/mac
FIELDS = {
    'eth.dst': ('eth', 'dst', 'mac'), 'eth.src': ('eth', 'src', 'mac'),
    'vlan.id': ('vlan', 'vlan', 12), 'vlan.pcp': ('vlan', 'prio', 3),
    'vlan2.id': ('vlan2', 'vlan', 12),
    'ip4.ttl': ('ip4', 'ttl', 8), 'ip4.id': ('ip4', 'id', 16),
    'ip4.dscp': ('ip4', 'dscp', 6), 'ip4.ecn': ('ip4', 'ecn', 2),
    'ip4.src': ('ip4', 'src', 'ip4'), 'ip4.dst': ('ip4', 'dst', 'ip4'),
    'ip6.hlim': ('ip6', 'hlim', 8), 'ip6.tc': ('ip6', 'tc', 8),
    'ip6.flow': ('ip6', 'fl', 20),
    'ip6.src': ('ip6', 'src', 'ip6'), 'ip6.dst': ('ip6', 'dst', 'ip6'),
    'tcp.sport': ('tcp', 'sport', 16), 'tcp.dport': ('tcp', 'dport', 16),
    'tcp.seq': ('tcp', 'seq', 32), 'tcp.ack_seq': ('tcp', 'ack', 32),
    'tcp.window': ('tcp', 'window', 16), 'tcp.urgptr': ('tcp', 'urgptr', 16),
    'tcp.flags': ('tcp', 'flags', 8),
    'udp.sport': ('udp', 'sport', 16), 'udp.dport': ('udp', 'dport', 16),
    'icmp.type': ('icmp', 'type', 8), 'icmp.code': ('icmp', 'code', 8),
    'icmp.id': ('icmp', 'id', 16), 'icmp.seq': ('icmp', 'seq', 16),
    'vxlan.vni': ('vxlan', 'vni', 24),
    'ip4_inner.ttl': ('ip4_inner', 'ttl', 8),
    'ip4_inner.src': ('ip4_inner', 'src', 'ip4'),
    'ip4_inner.dst': ('ip4_inner', 'dst', 'ip4'),
}
GENERIC = {'l4.sport': ['tcp.sport', 'udp.sport'],
           'l4.dport': ['tcp.dport', 'udp.dport']}
INT_FIELDS = [f for f, v in FIELDS.items() if isinstance(v[2], int)]
SWAPS = [('eth.src', 'eth.dst'), ('ip4.src', 'ip4.dst'), ('ip6.src', 'ip6.dst'),
         ('tcp.sport', 'tcp.dport'), ('udp.sport', 'udp.dport'),
         ('l4.sport', 'l4.dport')]
# writing udp.dport could turn VXLAN on or off for later rules: such
# rules also require `not vxlan` and never write 4789
NO_VXLAN = {'udp.dport', 'l4.dport'}


def ftype(f):
    return FIELDS[GENERIC[f][0] if f in GENERIC else f][2]


def to_int(t, v):
    if t == 'ip4':
        return int(ipaddress.IPv4Address(v))
    if t == 'ip6':
        return int(ipaddress.IPv6Address(v))
    if t == 'mac':
        return int(v.replace(':', ''), 16)
    return int(v)


def from_int(t, v):
    if t == 'ip4':
        return str(ipaddress.IPv4Address(v))
    if t == 'ip6':
        return str(ipaddress.IPv6Address(v))
    if t == 'mac':
        h = '%012x' % v
        return ':'.join(h[i:i + 2] for i in range(0, 12, 2))
    return v


# ---------------------------------------------------------------- parser model
def parse(p):
    """The parse graph of stdlib/ over a Scapy packet: name -> layer."""
    d = {}
    if not isinstance(p, Ether):
        return d
    d['eth'] = p
    cur = p.payload
    for name in ('vlan', 'vlan2'):
        if isinstance(cur, Dot1Q):
            d[name] = cur
            cur = cur.payload
    ip_layer(d, cur, '')
    return d


def ip_layer(d, cur, sfx):
    if isinstance(cur, IP) and ('ip4' + sfx) not in d:
        d['ip4' + sfx] = cur
        if sfx or cur.frag != 0:
            return
        upper(d, cur.payload)
    elif isinstance(cur, IPv6) and ('ip6' + sfx) not in d:
        d['ip6' + sfx] = cur
        if sfx:
            return
        upper(d, cur.payload)


def upper(d, cur):
    if isinstance(cur, TCP):
        d['tcp'] = cur
    elif isinstance(cur, UDP):
        d['udp'] = cur
        if cur.dport == 4789 and isinstance(cur.payload, VXLAN):
            d['vxlan'] = cur.payload
            inner = cur.payload.payload
            if isinstance(inner, Ether):
                d['eth_inner'] = inner
                ip_layer(d, inner.payload, '_inner')
    elif isinstance(cur, ICMP):
        d['icmp'] = cur
    elif isinstance(cur, ICMPv6EchoRequest):
        d['icmp6'] = cur
    elif isinstance(cur, (IP, IPv6)):
        ip_layer(d, cur, '_inner')
    elif isinstance(cur, GRE):
        d['gre'] = cur
        if isinstance(cur.payload, Ether):
            d['eth_inner'] = cur.payload
            ip_layer(d, cur.payload.payload, '_inner')
        else:
            ip_layer(d, cur.payload, '_inner')


def concrete(d, f):
    """A field name with generic names resolved for this packet, or None."""
    if f in GENERIC:
        for c in GENERIC[f]:
            if FIELDS[c][0] in d:
                return c
        return None
    return f if FIELDS[f][0] in d else None


def get(d, f):
    c = concrete(d, f)
    if c is None:
        raise Absent(f)
    hdr, attr, t = FIELDS[c]
    layer = d[hdr]
    if attr == 'dscp':
        return layer.tos >> 2
    if attr == 'ecn':
        return layer.tos & 3
    v = getattr(layer, attr)
    return to_int(t, v) if not isinstance(t, int) else int(v)


def put(d, f, v):
    c = concrete(d, f)
    if c is None:
        raise Absent(f)
    hdr, attr, t = FIELDS[c]
    layer = d[hdr]
    if attr == 'dscp':
        layer.tos = (v << 2) | (layer.tos & 3)
    elif attr == 'ecn':
        layer.tos = (layer.tos & 0xfc) | v
    else:
        setattr(layer, attr, from_int(t, v))


class Absent(Exception):
    pass


# ---------------------------------------------------------------- values
def width(e):
    """Width of a value (spec §5: the wider operand; a literal takes the
    other operand's)."""
    k = e[0]
    if k == 'f':
        t = ftype(e[1])
        return t if isinstance(t, int) else {'ip4': 32, 'ip6': 128, 'mac': 48}[t]
    if k == 'lit':
        return None
    a, b = width(e[2]), width(e[3])
    return max(x for x in (a, b) if x is not None)


def evalv(d, e):
    k = e[0]
    if k == 'f':
        return get(d, e[1])
    if k == 'lit':
        return e[1]
    w = width(e)
    a, b = evalv(d, e[2]), evalv(d, e[3])
    op = e[1]
    if op == '+':
        r = a + b
    elif op == '-':
        r = a - b
    elif op == '&':
        r = a & b
    elif op == '|':
        r = a | b
    elif op == '^':
        r = a ^ b
    elif op == '%':
        r = a % b if b else a
    elif op == '<<':
        r = a << b if b < w else 0
    else:
        r = a >> b if b < w else 0
    return r % (1 << w)


def vtext(e):
    if e[0] == 'f':
        return e[1]
    if e[0] == 'lit':
        return str(e[1])
    return '(%s %s %s)' % (vtext(e[2]), e[1], vtext(e[3]))


def cond(d, e):
    k = e[0]
    if k == 'hdr':
        return e[1] in d
    if k == 'not':
        return not cond(d, e[1])
    if k == 'and':
        return cond(d, e[1]) and cond(d, e[2])
    if k == 'or':
        return cond(d, e[1]) or cond(d, e[2])
    try:
        if k == 'cmp':
            a, op, b = evalv(d, e[1]), e[2], e[3]
            return {'==': a == b, '!=': a != b, '<': a < b, '<=': a <= b,
                    '>': a > b, '>=': a >= b}[op]
        if k == 'range':
            return e[2] <= get(d, e[1]) <= e[3]
        if k == 'set':
            return get(d, e[1]) in e[2]
        if k == 'prefix':
            net = ipaddress.ip_network(e[2])
            a = get(d, e[1])
            t = ftype(e[1])
            return t == ('ip4' if net.version == 4 else 'ip6') and \
                ipaddress.ip_address(a if t == 'ip6' else a) in net
    except Absent:
        return False
    raise ValueError(k)


def ctext(e):
    k = e[0]
    if k == 'hdr':
        return e[1]
    if k == 'not':
        return 'not (%s)' % ctext(e[1])
    if k in ('and', 'or'):
        return '(%s %s %s)' % (ctext(e[1]), k, ctext(e[2]))
    if k == 'cmp':
        t = ftype(e[1][1]) if e[1][0] == 'f' else 8
        rhs = e[3] if isinstance(t, int) else from_int(t, e[3])
        return '%s %s %s' % (vtext(e[1]), e[2], rhs)
    if k == 'range':
        return '%s in %d..%d' % (e[1], e[2], e[3])
    if k == 'set':
        return '%s in { %s }' % (e[1], ', '.join(map(str, e[2])))
    return '%s in %s' % (e[1], e[2])


# ---------------------------------------------------------------- generator
class PolicyGen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def p(self, x):
        return self.r.random() < x

    def pool(self, f):
        t = ftype(f)
        if t == 'ip4':
            return to_int(t, self.r.choice(IP4))
        if t == 'ip6':
            return to_int(t, self.r.choice(IP6))
        if t == 'mac':
            return to_int(t, self.r.choice(MACS))
        if t in (16,):
            return self.r.choice(PORTS)
        if t == 32:
            return self.r.choice(WORDS)
        if t == 8:
            return self.r.choice(BYTES)
        return self.r.randint(0, (1 << t) - 1)

    def atom(self):
        c = self.r.random()
        if c < 0.15:
            return ('hdr', self.r.choice(['tcp', 'udp', 'icmp', 'ip4', 'ip6',
                                          'vlan', 'vxlan', 'ip4_inner', 'gre',
                                          'icmp6', 'vlan2', 'eth_inner']))
        f = self.r.choice(list(FIELDS) + list(GENERIC))
        t = ftype(f)
        if c < 0.55 or not isinstance(t, int):
            if t in ('ip4', 'ip6') and self.p(0.3):
                a = ipaddress.ip_address(self.pool(f))
                ln = self.r.choice([8, 16, 24, 32] if t == 'ip4' else [32, 64, 128])
                return ('prefix', f, str(ipaddress.ip_network('%s/%d' % (a, ln),
                                                              strict=False)))
            op = self.r.choice(['==', '==', '!=', '<', '>='])
            return ('cmp', ('f', f), op, self.pool(f))
        if c < 0.7:
            e, w = self.arith(f)
            return ('cmp', e, self.r.choice(['==', '>', '<=', '!=']),
                    self.r.choice([0, 1, (1 << w) - 1, self.pool(f) % (1 << w)]))
        if c < 0.85:
            a, b = sorted([self.pool(f), self.pool(f)])
            return ('range', f, a, b)
        return ('set', f, sorted({self.pool(f) for _ in range(3)}))

    def arith(self, f, maxw=None):
        """An arithmetic value over int field f: (expr, width)."""
        w = ftype(f)
        op = self.r.choice(['+', '-', '&', '|', '^', '%', '<<', '>>', '-'])
        if op in ('<<', '>>'):
            lit = self.r.randint(0, w - 1)
        elif self.p(0.2):
            g = self.r.choice([x for x in INT_FIELDS if ftype(x) <= w])
            return ('op', op, ('f', f), ('f', g)), w
        else:
            lit = self.r.choice([0, 1, 2, 255, (1 << w) - 1]) % (1 << w)
        return ('op', op, ('f', f), ('lit', lit)), w

    def expr(self, depth=0):
        if depth >= 2 or self.p(0.5):
            a = self.atom()
            return ('not', a) if self.p(0.15) else a
        return (self.r.choice(['and', 'or']), self.expr(depth + 1),
                self.expr(depth + 1))

    def field_stmt(self):
        c = self.r.random()
        if c < 0.2:
            a, b = self.r.choice(SWAPS)
            return ('swap', a, b)
        f = self.r.choice([x for x in list(FIELDS) + list(GENERIC)
                           if x != 'vxlan.vni' or self.p(0.3)])
        t = ftype(f)
        if isinstance(t, int) and c < 0.45:
            return (self.r.choice(['+=', '-=']), f,
                    self.r.choice([1, 2, (1 << t) - 1, self.pool(f) % (1 << t)]))
        if isinstance(t, int) and c < 0.7:
            # a value of another field, no wider than the target
            g = self.r.choice([x for x in INT_FIELDS if ftype(x) <= t])
            e, _ = self.arith(g) if self.p(0.7) else (('f', g), 0)
            return ('=', f, e)
        v = self.pool(f)
        if f in NO_VXLAN and v == 4789:
            v = 4790
        return ('=', f, ('lit', v))

    def structural(self):
        c = self.r.random()
        if c < 0.25:
            return ('push', self.r.randint(0, 4095),
                    self.r.randint(0, 7) if self.p(0.5) else None)
        if c < 0.45:
            return ('pop',)
        if c < 0.65:
            return ('decap',)
        fam = self.r.choice(['ip4', 'ip6'])
        kind = self.r.choice(['ipip', 'gre', 'vxlan'] if fam == 'ip4'
                             else ['ipip', 'vxlan'])
        src = self.r.choice(IP4 if fam == 'ip4' else IP6)
        dst = self.r.choice(IP4 if fam == 'ip4' else IP6)
        ttl = self.r.randint(1, 255) if fam == 'ip4' and self.p(0.3) else None
        return ('encap', fam, kind, src, dst, ttl, self.r.randint(1024, 65535),
                self.r.randint(0, (1 << 24) - 1))

    def rule(self, i, record):
        verdict = self.r.choice(['pass', 'pass', 'tx', 'tx', 'tx', 'drop',
                                 'continue', 'continue', 'abort'
                                 if self.p(0.3) else 'tx'])
        if record and verdict == 'continue':
            verdict = 'tx'     # docs: field rewrites + continue <= 64 rules
        match = self.expr() if self.p(0.6) else None
        stmts = []
        if self.p(0.8):
            stmts = [self.field_stmt() for _ in range(self.r.choice([0, 1, 1, 2, 3]))]
            if verdict != 'continue' and self.p(0.35):
                stmts.append(self.structural())
        if not stmts and verdict == 'continue' and self.p(0.5):
            stmts = [self.field_stmt()]
        if any(s[1] in NO_VXLAN or (s[0] == 'swap' and s[2] in NO_VXLAN)
               for s in stmts if len(s) > 1 and isinstance(s[1], str)):
            nv = ('not', ('hdr', 'vxlan'))
            match = ('and', match, nv) if match else nv
        if any(s[0] == 'encap' and s[2] == 'vxlan' for s in stmts):
            # the outer Ethernet header of a tagged frame is not specified
            nv = ('not', ('hdr', 'vlan'))
            match = ('and', match, nv) if match else nv
        return dict(name='r%d' % i, match=match, stmts=stmts, verdict=verdict)

    def policy(self, record):
        n = self.r.randint(1, 12)
        rules = [self.rule(i, record) for i in range(n)]
        default = self.r.choice(['pass', 'pass', 'drop', 'tx'])
        if record:
            pads = [pad_rule(k, self.r) for k in range(66 - n + self.r.randint(0, 10))]
            for pr in pads:
                rules.insert(self.r.randint(0, len(rules)), pr)
        return rules, default


def pad_rule(k, r):
    """A rule no generated packet matches (addresses outside the pools)."""
    c = r.random()
    if c < 0.4:
        m = 'ip4.dst == 198.18.%d.%d' % (k // 250, k % 250 + 1)
    elif c < 0.6:
        m = 'ip6.src == 2001:db8:ffff::%x' % (k + 1)
    elif c < 0.8:
        m = 'ip4.src in 198.19.%d.0/24 and tcp' % (k % 250)
    else:
        m = 'eth.src == 06:00:00:00:%02x:%02x' % (k // 256, k % 256)
    return dict(name='pad%d' % k, text=m, verdict=r.choice(['drop', 'tx', 'pass']))


def stmt_text(s):
    k = s[0]
    if k == 'swap':
        return 'swap %s, %s' % (s[1], s[2])
    if k in ('=', '+=', '-='):
        t = ftype(s[1])
        if s[2][0] == 'lit' if k == '=' else False:
            v = s[2][1]
            return '%s = %s' % (s[1], v if isinstance(t, int) else from_int(t, v))
        return '%s %s %s' % (s[1], k, vtext(s[2]) if k == '=' else s[2])
    if k == 'push':
        return 'push vlan(id=%d%s)' % (s[1], '' if s[2] is None else ', pcp=%d' % s[2])
    if k == 'pop':
        return 'pop vlan'
    if k == 'decap':
        return 'decap'
    _, fam, kind, src, dst, ttl, sport, vni = s
    ip = '%s(src=%s, dst=%s%s)' % (fam, src, dst, '' if ttl is None else ', ttl=%d' % ttl)
    if kind == 'ipip':
        return 'encap ' + ip
    if kind == 'gre':
        return 'encap %s / gre()' % ip
    return 'encap %s / udp(sport=%d, dport=4789) / vxlan(vni=%d)' % (ip, sport, vni)


def policy_text(name, rules, default):
    out = ['program %s;' % name]
    for r in rules:
        if 'text' in r:
            out.append('rule %s { match %s; verdict %s; }' % (r['name'], r['text'],
                                                             r['verdict']))
            continue
        body = []
        if r['match']:
            body.append('match %s;' % ctext(r['match']))
        if r['stmts']:
            body.append('rewrite { %s; }' % '; '.join(stmt_text(s) for s in r['stmts']))
        body.append('verdict %s;' % r['verdict'])
        out.append('rule %s {\n    %s\n}' % (r['name'], '\n    '.join(body)))
    out.append('default %s;' % default)
    return '\n'.join(out) + '\n'


# ---------------------------------------------------------------- packets
def rand_l4(r, fam):
    c = r.random()
    if c < 0.4:
        return TCP(sport=r.choice(PORTS), dport=r.choice(PORTS),
                   seq=r.choice(WORDS), ack=r.choice(WORDS),
                   flags=r.choice([0x02, 0x10, 0x12, 0x11, 0x04, 0xff]),
                   window=r.choice(PORTS), urgptr=r.choice([0, 1, 65535]))
    if c < 0.75:
        u = UDP(sport=r.choice(PORTS), dport=r.choice([p for p in PORTS]))
        if fam == 4 and r.random() < 0.2:
            u.chksum = 0
        return u
    if fam == 4:
        return ICMP(type=r.choice([0, 8, 13]), code=r.choice([0, 1]),
                    id=r.choice(PORTS), seq=r.choice(PORTS))
    return ICMPv6EchoRequest(id=r.choice(PORTS), seq=r.choice(PORTS))


def rand_ip(r, fam):
    if fam == 4:
        return IP(src=r.choice(IP4), dst=r.choice(IP4), ttl=r.choice(BYTES),
                  tos=r.randint(0, 255), id=r.choice(PORTS))
    return IPv6(src=r.choice(IP6), dst=r.choice(IP6), hlim=r.choice(BYTES),
                tc=r.randint(0, 255), fl=r.randint(0, (1 << 20) - 1))


def rand_packet(r):
    eth = Ether(src=r.choice(MACS), dst=r.choice(MACS))
    p = eth
    c = r.random()
    if c < 0.25:
        p = p / Dot1Q(vlan=r.randint(0, 4095), prio=r.randint(0, 7))
        if r.random() < 0.3:
            p = p / Dot1Q(vlan=r.randint(0, 4095))
    fam = r.choice([4, 4, 6])
    t = r.random()
    payload = Raw(bytes(r.getrandbits(8) for _ in range(r.randint(0, 40))))
    if t < 0.12:      # VXLAN
        inner = Ether(src=r.choice(MACS), dst=r.choice(MACS)) / rand_ip(r, 4) / \
            rand_l4(r, 4) / payload
        p = p / rand_ip(r, fam) / UDP(sport=r.choice(PORTS), dport=4789) / \
            VXLAN(flags=0x08, NextProtocol=0, vni=r.randint(0, 99)) / inner
    elif t < 0.22:    # IP-in-IP
        ifam = r.choice([4, 6])
        p = p / rand_ip(r, fam) / rand_ip(r, ifam) / \
            (ICMP() if r.random() < 0.3 and ifam == 4 else rand_l4(r, ifam)) / payload
    elif t < 0.3:     # GRE (IPv4 inside)
        p = p / rand_ip(r, fam) / GRE(proto=0x0800) / rand_ip(r, 4) / \
            rand_l4(r, 4) / payload
    else:
        p = p / rand_ip(r, fam) / rand_l4(r, fam) / payload
    return Ether(bytes(p))


# ---------------------------------------------------------------- the model
def needed(stmts):
    """Fields a rewrite reads or writes (all must be present)."""
    fs = []
    for s in stmts:
        if s[0] == 'swap':
            fs += [s[1], s[2]]
        elif s[0] in ('=', '+=', '-='):
            fs.append(s[1])
            if s[0] == '=':
                fs += fields_in(s[2])
    return fs


def fields_in(e):
    if e[0] == 'f':
        return [e[1]]
    if e[0] == 'lit':
        return []
    return fields_in(e[2]) + fields_in(e[3])


def applies(d, stmts):
    """Does the rule's rewrite hold for this packet (spec §7: a rewrite that
    reads or writes an absent header, or whose covering checksum the parser
    did not reach, makes the rule not match)?"""
    for f in needed(stmts):
        if concrete(d, f) is None:
            return False
    for s in stmts:
        if s[0] in ('=', '+=', '-=', 'swap'):
            for f in s[1:3]:
                if isinstance(f, str) and f.startswith('ip4_inner.') and \
                        f != 'ip4_inner.ttl' and inner_l4(d):
                    return False
        if s[0] == 'pop' and 'vlan' not in d:
            return False
        if s[0] == 'decap' and not tunnel(d):
            return False
        if s[0] == 'encap' and s[2] != 'vxlan' and not ip_after_eth(d):
            return False
    return True


def inner_l4(d):
    il = d.get('ip4_inner')
    return il is not None and il.frag == 0 and il.proto in (6, 17)


def tunnel(d):
    return 'vxlan' in d or 'gre' in d or 'ip4_inner' in d or 'ip6_inner' in d


def ip_after_eth(d):
    return 'ip4' in d or 'ip6' in d


def run_stmts(pkt, stmts, udp_zero):
    """Apply the statements to pkt (a Scapy packet) and return the new one."""
    for s in stmts:
        d = parse(pkt)
        k = s[0]
        if k == 'swap':
            a, b = get(d, s[1]), get(d, s[2])
            put(d, s[1], b)
            put(d, s[2], a)
        elif k == '=':
            put(d, s[1], evalv(d, s[2]) % (1 << ftype(s[1]))
                if isinstance(ftype(s[1]), int) else evalv(d, s[2]))
        elif k in ('+=', '-='):
            w = ftype(s[1])
            v = get(d, s[1]) + (s[2] if k == '+=' else -s[2])
            put(d, s[1], v % (1 << w))
        elif k == 'push':
            pkt = push_vlan(pkt, s[1], s[2] or 0)
        elif k == 'pop':
            pkt = pop_vlan(pkt)
        elif k == 'decap':
            pkt = decap(pkt, d)
        elif k == 'encap':
            pkt = encap(pkt, d, s)
    return pkt


def push_vlan(pkt, vid, pcp):
    e = pkt
    rest = e.payload.copy()
    return Ether(dst=e.dst, src=e.src, type=0x8100) / \
        Dot1Q(prio=pcp, id=0, vlan=vid, type=e.type) / rest


def pop_vlan(pkt):
    tag = pkt.payload
    return Ether(dst=pkt.dst, src=pkt.src, type=tag.type) / tag.payload.copy()


def l2_prefix(pkt):
    """Copies of the Ethernet header and its VLAN tags, and the layer after."""
    head = [Ether(dst=pkt.dst, src=pkt.src, type=pkt.type)]
    cur = pkt.payload
    while isinstance(cur, Dot1Q):
        head.append(Dot1Q(prio=cur.prio, id=cur.id, vlan=cur.vlan, type=cur.type))
        cur = cur.payload
    return head, cur


def stack(layers, rest):
    p = layers[0]
    for l in layers[1:]:
        p = p / l
    return p / rest


def set_type(head, ethertype):
    head[-1].type = ethertype


def decap(pkt, d):
    if 'vxlan' in d:
        return Ether(bytes(d['vxlan'].payload))
    head, cur = l2_prefix(pkt)
    inner = cur.payload
    if isinstance(inner, GRE):
        if inner.proto == 0x6558:
            return Ether(bytes(inner.payload))
        inner = inner.payload
    set_type(head, 0x0800 if isinstance(inner, IP) else 0x86dd)
    return Ether(bytes(stack(head, inner.copy())))


def encap(pkt, d, s):
    _, fam, kind, src, dst, ttl, sport, vni = s
    kw = dict(src=src, dst=dst)
    if kind == 'vxlan':
        outer = IP(proto=17, **kw) if fam == 'ip4' else IPv6(nh=17, **kw)
        if ttl is not None:
            outer.ttl = ttl
        frame = Ether(bytes(pkt))
        return Ether(bytes(Ether(dst=pkt.dst, src=pkt.src) / outer /
                           UDP(sport=sport, dport=4789) /
                           VXLAN(flags=0x08, NextProtocol=0, vni=vni) / frame))
    head, cur = l2_prefix(pkt)
    inner4 = isinstance(cur, IP)
    if kind == 'gre':
        outer = [IP(proto=47, **kw), GRE(proto=0x0800 if inner4 else 0x86dd)]
    elif fam == 'ip4':
        outer = [IP(proto=4 if inner4 else 41, **kw)]
    else:
        outer = [IPv6(nh=4 if inner4 else 41, **kw)]
    if ttl is not None:
        outer[0].ttl = ttl
    set_type(head, 0x0800 if fam == 'ip4' else 0x86dd)
    return Ether(bytes(stack(head + outer, cur.copy())))


def model(rules, default, pkt):
    """-> (verdict, rule name, output bytes or None)."""
    pkt = Ether(bytes(pkt))
    zero = udp_zero_layers(pkt)
    for r in rules:
        d = parse(pkt)
        if 'text' in r:
            continue      # pads never match a generated packet
        if r['match'] and not cond(d, r['match']):
            continue
        if not applies(d, r['stmts']):
            continue
        try:
            pkt = run_stmts(pkt, r['stmts'], zero)
        except Absent:
            raise RuntimeError('model: absent field after applies()')
        if r['verdict'] == 'continue':
            continue
        return r['verdict'], r['name'], finish(pkt, zero)
    return default, 'default', finish(pkt, zero)


def udp_zero_layers(pkt):
    """UDP-over-IPv4 checksums that are 0 ("none") stay 0 (optional)."""
    out = set()
    l, i = pkt, 0
    while l and not isinstance(l, Raw):
        if isinstance(l, UDP) and l.chksum == 0:
            out.add((l.sport, l.dport, i))
        l, i = l.payload, i + 1
    return out


def checksum_fields(l):
    return [f for f in ('chksum', 'cksum') if f in l.fields_desc_names()] \
        if hasattr(l, 'fields_desc_names') else \
        [f.name for f in l.fields_desc if f.name in ('chksum', 'cksum')]


def finish(pkt, zero):
    """The model's output bytes: every checksum computed from scratch."""
    p = Ether(bytes(pkt))
    l = p
    while l and not isinstance(l, Raw):
        if isinstance(l, GRE):
            l = l.payload
            continue
        for f in checksum_fields(l):
            if isinstance(l, UDP) and l.chksum == 0 and isinstance(l.underlayer, IP):
                continue
            setattr(l, f, None)
        l = l.payload
    return bytes(p)


def bad_checksums(raw):
    """Layers of an output whose checksum Scapy computes differently."""
    p = Ether(raw)
    q = Ether(finish(p, None))
    bad = []
    a, b = p, q
    while a and b and not isinstance(a, Raw):
        for f in checksum_fields(a):
            if getattr(a, f) != getattr(b, f):
                bad.append('%s.%s' % (type(a).__name__, f))
        a, b = a.payload, b.payload
    return bad


def field_diffs(want, got):
    """Every field where two packets differ, as Layer.field (a second
    layer of the same kind is Layer2: IP2.ttl is the inner IPv4 TTL)."""
    a, b = Ether(want), Ether(got)
    out, seen = [], {}
    while a and b:
        n = type(a).__name__
        if type(a) is not type(b):
            return out + ['layer %s vs %s' % (n, type(b).__name__)]
        seen[n] = seen.get(n, 0) + 1
        tag = n + (str(seen[n]) if seen[n] > 1 else '')
        for f in a.fields_desc:
            if a.getfieldval(f.name) != b.getfieldval(f.name):
                out.append('%s.%s' % (tag, f.name))
        if isinstance(a, Raw):
            break
        a, b = a.payload, b.payload
    if len(want) != len(got):
        out.append('length')
    return out or ['bytes']


def diff_class(want, got):
    """Differing fields other than checksums name the class; a difference
    in checksums alone is its own class."""
    fs = field_diffs(want, got)
    main = [f for f in fs if not f.endswith(('.chksum', '.cksum'))]
    if main:
        return ', '.join(sorted(set(main))[:4])
    return 'checksum only: ' + ', '.join(fs)


# ---------------------------------------------------------------- the run
def run_seed(args, seed, mode):
    record = mode == 'record'
    g = PolicyGen(seed * 2 + record)
    rules, default = g.policy(record)
    name = 'diff%d%s' % (seed, 'r' if record else 'f')
    pr = random.Random(seed * 7919 + 1)
    pkts = [rand_packet(pr) for _ in range(args.packets)]
    return run_policy(args, seed, mode, name, rules, default, pkts)


def known_cases():
    """The rewrite cases of issue 11, as (name, mode, rules, default)."""
    r = random.Random(11)
    pads = [pad_rule(k, r) for k in range(70)]
    R = lambda n, m, st, v: dict(name=n, match=m, stmts=st, verdict=v)
    return [
        ('width', 'fast', [R('r', ('hdr', 'tcp'), [('=', 'tcp.seq', (
            'op', '-', ('f', 'tcp.sport'), ('lit', 1)))], 'tx')], 'pass'),
        ('width_match', 'fast', [R('r', ('cmp', ('op', '-', ('f', 'tcp.sport'),
                                                 ('lit', 1)), '>', 0xffff),
                                   [], 'drop')], 'pass'),
        ('vxlan_inner_ttl', 'fast', [R('r', ('hdr', 'vxlan'), [
            ('-=', 'ip4_inner.ttl', 1)], 'tx')], 'pass'),
        ('record_eth', 'record', pads + [
            R('e', ('hdr', 'tcp'), [('swap', 'ip4.dst', 'ip4.src')], 'tx'),
            R('f', None, [('=', 'eth.src', ('lit', to_int('mac', '02:00:00:00:00:09')))],
              'pass')], 'pass'),
    ]


def run_known(args):
    out = []
    for k, (name, mode, rules, default) in enumerate(known_cases()):
        pr = random.Random(k)
        pkts = [rand_packet(pr) for _ in range(args.packets)]
        # the packets each case is about
        pkts.append(Ether(bytes(Ether() / IP() / TCP(sport=0))))
        pkts.append(Ether(bytes(Ether() / IP(src='10.0.0.1') / UDP(sport=7, dport=4789) /
                                VXLAN(flags=8, NextProtocol=0, vni=1) / Ether() /
                                IP(ttl=9) / TCP() / Raw(b'abc'))))
        res = run_policy(args, k, mode, 'known_' + name, rules, default, pkts)
        res['seed'] = name
        out.append(res)
    return out


def run_policy(args, seed, mode, name, rules, default, pkts):
    text = policy_text(name, rules, default)
    res = dict(seed=seed, mode=mode, runs=0, diffs=[], text=text, changed=0)
    with tempfile.TemporaryDirectory(prefix='xdpldiff') as tmp:
        src = os.path.join(tmp, name + '.xdpl')
        with open(src, 'w') as f:
            f.write(text)
        pin, pout = os.path.join(tmp, 'in.pcap'), os.path.join(tmp, 'out.pcap')
        wrpcap(pin, pkts)
        try:
            p = subprocess.run([args.xdplc, 'run', src, '--pcap', pin, '--write',
                                pout, '--json'], capture_output=True, text=True,
                               timeout=600)
        except subprocess.TimeoutExpired:
            res['diffs'].append(('run: timeout', None, ''))
            return res
        if p.returncode != 0:
            import run as runmod
            if 'verifier rejected' in p.stderr:
                err = 'verifier: ' + runmod.verifier_line(p.stderr)
            else:
                err = ([l for l in p.stderr.splitlines() if 'error' in l] or
                       p.stderr.splitlines()[-1:] or ['exit %d' % p.returncode])[0]
                err = err.replace(src, 'POLICY')
            res['diffs'].append(('run-error: ' + runmod.norm(err), None,
                                 p.stderr[-3000:]))
            return res
        js = json.loads(p.stdout)
        outs = [bytes(x) for x in rdpcap(pout)] if os.path.exists(pout) else []
    oi = 0
    for i, (pk, got) in enumerate(zip(pkts, js['packets'])):
        try:
            want_v, want_r, want_b = model(rules, default, pk)
        except Exception as ex:   # a gap in the model is reported, not hidden
            res['diffs'].append(('model-error: %s' % type(ex).__name__, i,
                                 'packet %d: %s: %s' % (i + 1, pk.summary(), ex)))
            continue
        res['runs'] += 1
        gv, gr = got['verdict'], got['rule']
        out = None
        if gv not in ('drop', 'abort'):
            out = outs[oi] if oi < len(outs) else b''
            oi += 1
        where = 'packet %d: %s' % (i + 1, pk.summary())
        if (gv, gr) != (want_v, want_r):
            cls = 'verdict: model %s by %s, kernel %s by %s' % (
                want_v, 'default' if want_r == 'default' else 'rule',
                gv, 'default' if gr == 'default' else 'rule')
            res['diffs'].append(('%s' % cls, i, '%s: want %s by %s, got %s by %s' %
                                 (where, want_v, want_r, gv, gr)))
            continue
        if out is None:
            continue
        res['changed'] += out != bytes(pk)
        bad = bad_checksums(out)
        if bad:
            res['diffs'].append(('bad checksum in output: ' + ','.join(bad), i,
                                 '%s by %s: %s' % (where, gr, out.hex())))
        if out != want_b:
            fd = diff_class(want_b, out)
            res['diffs'].append(('bytes: ' + fd, i, '%s by %s:\n  want %s\n  got  %s'
                                 % (where, gr, want_b.hex(), out.hex())))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(REPO, 'build'))
    ap.add_argument('--policies', type=int, default=20)
    ap.add_argument('--packets', type=int, default=40)
    ap.add_argument('--start', type=int, default=1)
    ap.add_argument('--mode', choices=['fast', 'record', 'both'], default='both')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--keep', default=None, help='directory for differing policies')
    ap.add_argument('--known', action='store_true',
                    help="run the issue's known rewrite cases instead")
    ap.add_argument('--xdplc', default=None,
                    help='the xdplc to use (default: BUILD/xdplc)')
    args = ap.parse_args()
    args.xdplc = args.xdplc or os.path.join(os.path.abspath(args.build), 'xdplc')
    sys.path.insert(0, HERE)
    if os.geteuid() != 0:
        print('rewrite_diff: needs root (BPF_PROG_TEST_RUN)', file=sys.stderr)
        return 77
    modes = ['fast', 'record'] if args.mode == 'both' else [args.mode]
    work = [(s, m) for s in range(args.start, args.start + args.policies) for m in modes]
    keep = args.keep or tempfile.mkdtemp(prefix='xdpldiff-')
    os.makedirs(keep, exist_ok=True)
    classes, runs, changed = {}, {m: 0 for m in modes}, 0
    with cf.ThreadPoolExecutor(min(args.jobs, 2)) as ex:
        it = run_known(args) if args.known else \
            ex.map(lambda w: run_seed(args, *w), work)
        for res in it:
            runs[res['mode']] += res['runs']
            changed += res['changed']
            if res['diffs']:
                path = os.path.join(keep, 'diff%s_%s.xdpl' % (res['seed'], res['mode']))
                with open(path, 'w') as f:
                    f.write(res['text'])
                    for cls, i, detail in res['diffs']:
                        f.write('# %s\n#   %s\n' % (cls, detail.replace('\n', '\n#   ')))
            for cls, i, detail in res['diffs']:
                key = '%s | %s' % (res['mode'], cls)
                classes.setdefault(key, []).append((len(res['text']), res['seed'],
                                                    path, detail))
            print('seed %s %s: %d runs, %d differences' % (
                res['seed'], res['mode'], res['runs'], len(res['diffs'])), flush=True)
    total = sum(runs.values())
    ndiff = sum(len(v) for v in classes.values())
    print('runs %d (%s), %d outputs rewritten, differences %d; policies kept '
          'in %s' % (total, ', '.join('%s %d' % kv for kv in runs.items()),
                     changed, ndiff, keep))
    for key, v in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        small = min(v)
        print('%6d  %s\n        -> %s seed %s: %s' % (len(v), key, small[2], small[1],
                                                     small[3].split('\n')[0][:160]))
    return 1 if ndiff else 0


if __name__ == '__main__':
    sys.exit(main())
