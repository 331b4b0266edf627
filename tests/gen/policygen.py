#!/usr/bin/env python3
"""Grammar-based generator of valid XDPL policies (issue 11).

Deterministic per seed: `policygen.py --seed N` prints the same policy for
the same N. Every construct of the language (spec §3-§10) is produced:
consts (values, prefixes, literal sets, rates, durations, expressions of
consts), sets (hash, tuples, lpm; max; initial elements), maps of every
kind, match expressions (and/or/not and &&/||/!, comparisons, `in` prefix /
range / literal set / set name / map name / tuple in set, arithmetic, hash(),
map reads, generic names, pkt.*, bare headers, flag bits), limit, rewrites
(= += -= swap, push/pop vlan, encap ip4/ip6/gre/vxlan, decap, set add
[timeout]/del, map[k] = v, map[k] += n), every verdict, a default verdict
and test blocks.

--extras P gives the probability of constructs the spec allows but the
compiler documents as "not supported yet" (log; push/pop/encap/decap with
`continue` or `route`; a field rewrite after push; two structural rewrites
in one rule). With the default 0 the policies stay inside what
docs/language.md says is supported, so failures are failures to build or
load, not known gaps.
"""
import argparse
import random

# ---------------------------------------------------------------- types
# A type is ('int', bits) or one of 'ip4', 'ip6', 'mac', 'bool'.
U = lambda w: ('int', w)

# header -> [(field, type, writable)]
HEADERS = {
    'eth': [('dst', 'mac', 1), ('src', 'mac', 1), ('type', U(16), 0)],
    'vlan': [('pcp', U(3), 1), ('dei', U(1), 1), ('id', U(12), 1),
             ('type', U(16), 0)],
    'arp': [('op', U(16), 1), ('sha', 'mac', 1), ('tha', 'mac', 1),
            ('spa', 'ip4', 1), ('tpa', 'ip4', 1)],
    'ip4': [('version', U(4), 0), ('ihl', U(4), 0), ('dscp', U(6), 1),
            ('ecn', U(2), 1), ('len', U(16), 0), ('id', U(16), 1),
            ('flags', U(3), 0), ('frag', U(13), 0), ('ttl', U(8), 1),
            ('proto', U(8), 0), ('csum', U(16), 0), ('src', 'ip4', 1),
            ('dst', 'ip4', 1)],
    'ip6': [('version', U(4), 0), ('tc', U(8), 1), ('flow', U(20), 1),
            ('len', U(16), 0), ('next', U(8), 0), ('hlim', U(8), 1),
            ('src', 'ip6', 1), ('dst', 'ip6', 1)],
    'tcp': [('sport', U(16), 1), ('dport', U(16), 1), ('seq', U(32), 1),
            ('ack_seq', U(32), 1), ('doff', U(4), 0), ('flags', U(8), 1),
            ('window', U(16), 1), ('csum', U(16), 0), ('urgptr', U(16), 1)],
    'udp': [('sport', U(16), 1), ('dport', U(16), 1), ('len', U(16), 0),
            ('csum', U(16), 0)],
    'icmp': [('type', U(8), 1), ('code', U(8), 1), ('csum', U(16), 0),
             ('id', U(16), 1), ('seq', U(16), 1)],
    'icmp6': [('type', U(8), 1), ('code', U(8), 1), ('csum', U(16), 0)],
    'vxlan': [('flags', U(8), 0), ('vni', U(24), 1)],
    'gre': [('proto', U(16), 0), ('ver', U(3), 0), ('k', U(1), 0)],
}
HEADERS['vlan2'] = HEADERS['vlan']
HEADERS['eth_inner'] = HEADERS['eth']
HEADERS['ip4_inner'] = HEADERS['ip4']
HEADERS['ip6_inner'] = HEADERS['ip6']
BARE = ['eth', 'vlan', 'vlan2', 'arp', 'ip4', 'ip6', 'tcp', 'udp', 'icmp',
        'icmp6', 'gre', 'vxlan', 'eth_inner', 'ip4_inner', 'ip6_inner',
        'ip6ext', 'ip6frag']
FLAGS = ['tcp.flags.' + b for b in
         ('fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr')] + \
        ['ip4.flags.' + b for b in ('mf', 'df', 'evil')]
GENERIC = [('ip.proto', U(8), 0), ('l4.sport', U(16), 1),
           ('l4.dport', U(16), 1), ('pkt.len', U(32), 0),
           ('pkt.ifindex', U(32), 0), ('pkt.rxq', U(32), 0)]
SWAPS = [('eth.src', 'eth.dst'), ('ip4.src', 'ip4.dst'),
         ('ip6.src', 'ip6.dst'), ('tcp.sport', 'tcp.dport'),
         ('udp.sport', 'udp.dport'), ('ip.src', 'ip.dst'),
         ('l4.sport', 'l4.dport'), ('arp.spa', 'arp.tpa'),
         ('arp.sha', 'arp.tha'), ('ip4_inner.src', 'ip4_inner.dst')]
KEYTYPES = [U(8), U(16), U(32), U(64), 'ip4', 'ip6', 'mac', 'bool']
TYPENAME = {U(8): 'u8', U(16): 'u16', U(32): 'u32', U(64): 'u64',
            'ip4': 'ip4', 'ip6': 'ip6', 'mac': 'mac', 'bool': 'bool'}
IFNAMES = ['lo', 'xdplgen0', '"eth0.100"']


def all_fields(user=None):
    """Every readable field: stdlib's, generic names, and the headers the
    policy declares itself (spec §9)."""
    out = []
    for h, fs in list(HEADERS.items()) + list((user or {}).items()):
        for f, t, w in fs:
            out.append((h + '.' + f, t, w))
    out += GENERIC
    out += [('ip.src', 'ip4', 1), ('ip.dst', 'ip4', 1),
            ('ip.src', 'ip6', 1), ('ip.dst', 'ip6', 1)]
    return out


def fields_of(fields, t, writable=False):
    return [f for f, ft, w in fields if ft == t and (w or not writable)]


def int_fields(fields, maxw=64, writable=False):
    return [(f, ft[1]) for f, ft, w in fields
            if ft != 'bool' and isinstance(ft, tuple) and ft[1] <= maxw
            and (w or not writable)]


def std_width(w):
    for s in (8, 16, 32, 64):
        if w <= s:
            return s
    return 64


class Gen:
    def __init__(self, seed, rules=None, max_rules=200, extras=0.0,
                 record_pad=False):
        self.r = random.Random(seed)
        self.seed = seed
        self.extras = extras
        n = rules or self._rule_count(max_rules)
        self.nrules = n
        self.record_pad = record_pad
        self.consts = []       # (name, kind, type-or-None, text)
        self.sets = []         # (name, kind('hash'|'lpm'), [types], timeout_ok)
        self.maps = []         # (name, kind, keytype, valtype)
        self.names = 0
        self.user_headers = {}
        self.fields = all_fields()

    def fields_of(self, t, writable=False):
        return fields_of(self.fields, t, writable)

    def int_fields(self, maxw=64, writable=False):
        return int_fields(self.fields, maxw, writable)

    # ------------------------------------------------------------ helpers
    def _rule_count(self, mx):
        r = self.r.random()
        if r < 0.35 or mx <= 8:
            return self.r.randint(1, min(8, mx))
        if r < 0.7 or mx <= 64:
            return self.r.randint(9, min(64, mx))
        return self.r.randint(65, mx)

    def p(self, x):
        return self.r.random() < x

    def name(self, prefix):
        self.names += 1
        return '%s%d' % (prefix, self.names)

    def lit_int(self, w, small=False):
        if small or self.p(0.5):
            return str(self.r.randint(0, min((1 << w) - 1, 300)))
        v = self.r.randint(0, (1 << w) - 1)
        return self.r.choice([str(v), hex(v)]) if w > 1 else str(v)

    def lit_ip4(self):
        return '%d.%d.%d.%d' % (self.r.choice([10, 192, 198, 203, 172]),
                                self.r.randint(0, 255), self.r.randint(0, 255),
                                self.r.randint(1, 254))

    def lit_ip6(self):
        return '2001:db8:%x::%x' % (self.r.randint(0, 0xffff),
                                    self.r.randint(1, 0xffff))

    def lit_mac(self):
        return '02:00:00:%02x:%02x:%02x' % tuple(self.r.randint(0, 255)
                                               for _ in range(3))

    def lit_of(self, t):
        if t == 'ip4':
            return self.lit_ip4()
        if t == 'ip6':
            return self.lit_ip6()
        if t == 'mac':
            return self.lit_mac()
        if t == 'bool':
            return self.r.choice(['true', 'false'])
        return self.lit_int(t[1])

    def prefix(self, t):
        if t == 'ip4':
            ln = self.r.randint(0, 32)
            a = self.r.getrandbits(32) & (((1 << ln) - 1) << (32 - ln))
            return '%d.%d.%d.%d/%d' % (a >> 24, (a >> 16) & 255,
                                       (a >> 8) & 255, a & 255, ln)
        ln = self.r.randint(16, 128)
        a = (0x20010db8 << 96) | self.r.getrandbits(96)
        a &= ((1 << ln) - 1) << (128 - ln)
        import ipaddress
        return '%s/%d' % (ipaddress.IPv6Address(a), ln)

    def range_of(self, t):
        if t == 'ip4':
            a = self.r.getrandbits(32)
            b = min(a + self.r.randint(0, 1000), (1 << 32) - 1)
            f = lambda x: '%d.%d.%d.%d' % (x >> 24, (x >> 16) & 255,
                                           (x >> 8) & 255, x & 255)
            return '%s..%s' % (f(a), f(b))
        w = t[1]
        a = self.r.randint(0, (1 << w) - 1)
        b = self.r.randint(a, (1 << w) - 1)
        return '%d..%d' % (a, b)

    # ------------------------------------------------------------ decls
    def decl_consts(self):
        out = []
        for _ in range(self.r.randint(0, 4)):
            n = self.name('C')
            k = self.r.choice(['int', 'int', 'ip4', 'mac', 'prefix', 'set',
                               'rate', 'dur', 'expr', 'ip6'])
            if k == 'int':
                txt = self.lit_int(16)
                self.consts.append((n, 'val', U(16), txt))
            elif k == 'expr':
                ints = [c for c in self.consts
                        if c[1] == 'val' and c[2] == U(16)]
                if not ints:
                    continue
                c = self.r.choice(ints)
                txt = '%s + %d' % (c[0], self.r.randint(0, 100))
                self.consts.append((n, 'val', U(16), txt))
            elif k in ('ip4', 'ip6', 'mac'):
                txt = self.lit_of(k)
                self.consts.append((n, 'val', k, txt))
            elif k == 'prefix':
                t = self.r.choice(['ip4', 'ip6'])
                txt = self.prefix(t)
                self.consts.append((n, 'prefix', t, txt))
            elif k == 'set':
                txt = '{ %s }' % ', '.join(self.lit_int(16, True)
                                           for _ in range(self.r.randint(1, 5)))
                self.consts.append((n, 'set', U(16), txt))
            elif k == 'rate':
                txt = self.rate()
                self.consts.append((n, 'rate', None, txt))
            else:
                txt = self.duration()
                self.consts.append((n, 'dur', None, txt))
            out.append('const %s = %s;' % (n, txt))
        return out

    def rate(self):
        n = self.r.randint(1, 5000)
        units = ['/s', '/m', '/h', 'kbps', 'mbps', 'gbps']
        if self.p(self.extras):
            units = [' / s', ' mbps']    # docs: "may be spaced"
        return '%d%s' % (n, self.r.choice(units))

    def duration(self):
        units = ['ms', 's', 'm', 'h']
        if self.p(self.extras):
            units = [' s']
        return '%d%s' % (self.r.randint(1, 600), self.r.choice(units))

    def decl_sets(self):
        out = []
        for _ in range(self.r.randint(0, 4)):
            n = self.name('s')
            if self.p(0.35):
                t = self.r.choice(['ip4', 'ip6'])
                elems = [self.prefix(t) for _ in range(self.r.randint(0, 4))]
                elems += [self.lit_of(t) for _ in range(self.r.randint(0, 2))]
                self.sets.append((n, 'lpm', [t], False))
                head = 'set %s: lpm<%s>' % (n, t)
            else:
                ts = [self.r.choice(KEYTYPES)
                      for _ in range(self.r.choice([1, 1, 1, 2, 3]))]
                elems = []
                for _ in range(self.r.randint(0, 4)):
                    vs = [self.lit_of(t) for t in ts]
                    elems.append(vs[0] if len(vs) == 1 else
                                 '(%s)' % ', '.join(vs))
                self.sets.append((n, 'hash', ts, True))
                head = 'set %s: hash<%s>' % (n, ', '.join(TYPENAME[t]
                                                          for t in ts))
            if self.p(0.4):
                head += ' max %d' % self.r.choice([1, 16, 256, 4096, 65536])
            if elems and self.p(0.8):
                # max must hold the initial elements
                if ' max 1' in head and not head.endswith('max 16') and \
                        head.endswith(' max 1'):
                    elems = elems[:1]
                head += ' = { %s }' % ', '.join(elems)
            out.append(head + ';')
        return out

    def decl_maps(self):
        out = []
        kinds = ['hash', 'lru', 'array', 'percpu_hash', 'percpu_array',
                 'devmap', 'cpumap', 'xskmap']
        for _ in range(self.r.randint(0, 5)):
            n = self.name('m')
            k = self.r.choice(kinds)
            if k in ('hash', 'lru', 'percpu_hash'):
                kt = self.r.choice(KEYTYPES)
                vt = self.r.choice(KEYTYPES)
                decl = 'map %s: %s<%s, %s>' % (n, k, TYPENAME[kt], TYPENAME[vt])
            elif k in ('array', 'percpu_array'):
                kt, vt = U(32), self.r.choice(KEYTYPES)
                decl = 'map %s: %s<%s>' % (n, k, TYPENAME[vt])
            else:
                kt, vt = U(32), None
                decl = 'map %s: %s' % (n, k)
            if self.p(0.5) or k == 'cpumap':
                mx = self.r.choice([1, 2, 4, 8, 64, 1024])
                if k == 'cpumap':
                    mx = min(mx, 64)
                decl += ' max %d' % mx
            self.maps.append((n, k, kt, vt))
            out.append(decl + ';')
        return out

    # ------------------------------------------------------------ values
    def value_maps(self, vt=None):
        return [m for m in self.maps
                if m[1] in ('hash', 'lru', 'array', 'percpu_hash',
                            'percpu_array') and (vt is None or m[3] == vt)]

    def key_expr(self, kt, depth):
        if isinstance(kt, tuple):
            return self.int_value(kt[1], depth + 1)[0]
        fs = self.fields_of(kt)
        if kt != 'bool' and fs and self.p(0.7):
            return self.r.choice(fs)
        return self.lit_of(kt)

    def int_leaf(self, maxw):
        """An int-valued leaf no wider than maxw: (text, width)."""
        c = self.r.random()
        if c < 0.55:
            f, w = self.r.choice(self.int_fields(maxw))
            return f, w
        if c < 0.75 and maxw >= 32:
            args = [self.any_value(2) for _ in range(self.r.randint(1, 4))]
            return 'hash(%s)' % ', '.join(args), 32
        if c < 0.85:
            ms = [m for m in self.value_maps()
                  if isinstance(m[3], tuple) and m[3][1] <= maxw]
            if ms:
                m = self.r.choice(ms)
                return '%s[%s]' % (m[0], self.key_expr(m[2], 2)), m[3][1]
        f, w = self.r.choice(self.int_fields(maxw))
        return f, w

    def int_value(self, maxw, depth=0, exact=False):
        """An int expression whose width is <= maxw."""
        text, w = self.int_leaf(maxw)
        if depth < 2 and self.p(0.3):
            op = self.r.choice(['&', '|', '^', '+', '-', '%', '<<', '>>'])
            # shifts by a literal: sema gives a shift its left operand's
            # width (see README: a finding), so a variable amount is
            # left to --extras
            if self.p(0.6) or (op in ('<<', '>>') and not self.p(self.extras)):
                if op in ('<<', '>>'):
                    rhs = str(self.r.randint(0, w - 1))
                else:
                    rhs = self.lit_int(w, small=True) \
                        if w >= 9 else str(self.r.randint(0, (1 << w) - 1))
            else:
                rhs, w2 = self.int_value(maxw, depth + 1)
                w = max(w, w2)
            text = '%s %s %s' % (text, op, rhs)
            if self.p(0.5):
                text = '(%s)' % text
        return text, w

    def any_value(self, depth):
        t = self.r.choice(['int', 'int', 'ip4', 'ip6', 'mac'])
        if t == 'int':
            return self.int_value(64, depth)[0]
        return self.r.choice(self.fields_of(t))

    # ------------------------------------------------------------ matches
    def atom(self, depth):
        c = self.r.random()
        if c < 0.10:
            return self.r.choice(BARE)
        if c < 0.16:
            return self.r.choice(FLAGS)
        if c < 0.40:
            text, w = self.int_value(64, 0)
            op = self.r.choice(['==', '!=', '<', '<=', '>', '>='])
            rhs = self.lit_int(w) if w >= 2 else str(self.r.randint(0, 1))
            if self.p(0.15):
                cs = [x for x in self.consts if x[1] == 'val' and x[2] == U(16)]
                if cs and w >= 16:
                    rhs = self.r.choice(cs)[0]
            return '%s %s %s' % (text, op, rhs)
        if c < 0.50:
            f, w = self.r.choice(self.int_fields(64))
            coll = self.r.choice(['range', 'set'])
            if coll == 'range':
                return '%s in %s' % (f, self.range_of(U(w)))
            n = self.r.choice([1, 3, 5, 20]) if w >= 5 else 2
            es = []
            for _ in range(n):
                es.append(self.range_of(U(w)) if self.p(0.2) and w > 1
                          else self.lit_int(w))
            return '%s in { %s }' % (f, ', '.join(es))
        if c < 0.62:
            t = self.r.choice(['ip4', 'ip6'])
            f = self.r.choice(self.fields_of(t))
            k = self.r.choice(['==', 'prefix', 'range', 'set', 'cmp', 'const'])
            if k == '==':
                return '%s %s %s' % (f, self.r.choice(['==', '!=']),
                                     self.lit_of(t))
            if k == 'prefix':
                return '%s in %s' % (f, self.prefix(t))
            if k == 'range' and t == 'ip4':
                return '%s in %s' % (f, self.range_of(t))
            if k == 'cmp':
                return '%s %s %s' % (f, self.r.choice(['<', '>=']),
                                     self.lit_of(t))
            if k == 'const':
                cs = [x for x in self.consts if x[2] == t]
                if cs:
                    x = self.r.choice(cs)
                    return ('%s in %s' if x[1] == 'prefix' else '%s == %s') \
                        % (f, x[0])
            es = [self.r.choice([self.lit_of(t), self.prefix(t)])
                  for _ in range(self.r.randint(1, 4))]
            return '%s in { %s }' % (f, ', '.join(es))
        if c < 0.66:
            f = self.r.choice(self.fields_of('mac'))
            return '%s %s %s' % (f, self.r.choice(['==', '!=']), self.lit_mac())
        if c < 0.76 and self.sets:
            s = self.r.choice(self.sets)
            keys = [self.key_expr(t, 1) for t in s[2]]
            if len(keys) == 1:
                return '%s in %s' % (keys[0], s[0])
            return '(%s) in %s' % (', '.join(keys), s[0])
        if c < 0.80:
            cs = [x for x in self.consts if x[1] == 'set']
            if cs:
                return '%s in %s' % (self.r.choice(
                    [f for f, w in self.int_fields(16) if w == 16]),
                    self.r.choice(cs)[0])
        if c < 0.88 and self.value_maps():
            m = self.r.choice(self.value_maps())
            if m[1] in ('hash', 'lru') and self.p(0.3):
                return '%s in %s' % (self.key_expr(m[2], 1), m[0])
            rd = '%s[%s]' % (m[0], self.key_expr(m[2], 1))
            if m[3] == 'bool':
                return '%s == %s' % (rd, self.lit_of('bool'))
            if isinstance(m[3], tuple):
                return '%s %s %s' % (rd, self.r.choice(['==', '>', '<=']),
                                     self.lit_int(m[3][1]))
            return '%s == %s' % (rd, self.lit_of(m[3]))
        return self.r.choice(BARE[:10])

    def expr(self, depth=0):
        if depth >= 3 or self.p(0.45):
            a = self.atom(depth)
            if self.p(0.15):
                return self.r.choice(['not ', '!', 'not ']) + a
            return a
        op = self.r.choice(['and', 'or', '&&', '||', 'and'])
        e = '%s %s %s' % (self.expr(depth + 1), op, self.expr(depth + 1))
        if self.p(0.4):
            e = '(%s)' % e
            if self.p(0.3):
                e = self.r.choice(['not ', '! ']) + e
        return e

    # ------------------------------------------------------------ rewrites
    def field_rewrite(self):
        c = self.r.random()
        if c < 0.15:
            a, b = self.r.choice(SWAPS)
            return 'swap %s, %s' % (a, b)
        if c < 0.55:
            t = self.r.choice(['ip4', 'ip6', 'mac'])
            f = self.r.choice(self.fields_of(t, writable=True))
            if self.p(0.6):
                v = self.lit_of(t)
            elif self.p(0.5):
                v = self.r.choice(self.fields_of(t))
            else:
                ms = self.value_maps(t)
                v = ('%s[%s]' % (ms[0][0], self.key_expr(ms[0][2], 1))
                     if ms else self.lit_of(t))
            return '%s = %s' % (f, v)
        if c < 0.62:
            f = self.r.choice(FLAGS[:8])
            return '%s = %s' % (f, self.r.choice(['true', 'false']))
        f, w = self.r.choice(self.int_fields(64, writable=True))
        op = self.r.choice(['=', '=', '+=', '-='])
        if op == '=' and self.p(0.6):
            v, _ = self.int_value(w)
        else:
            v = self.lit_int(w, small=self.p(0.5)) if w > 1 else '1'
        return '%s %s %s' % (f, op, v)

    def state_rewrite(self):
        if self.sets and self.p(0.5):
            s = self.r.choice(self.sets)
            keys = [self.key_expr(t, 1) for t in s[2]]
            key = keys[0] if len(keys) == 1 else '(%s)' % ', '.join(keys)
            if s[1] == 'lpm':
                key = self.r.choice(self.fields_of(s[2][0]))
            if self.p(0.7):
                st = '%s add %s' % (s[0], key)
                if self.p(0.4):
                    ds = [x[0] for x in self.consts if x[1] == 'dur']
                    st += ' timeout %s' % (self.r.choice(ds) if ds and self.p(0.3)
                                           else self.duration())
                return st
            return '%s del %s' % (s[0], key)
        ms = self.value_maps()
        if not ms:
            return self.field_rewrite()
        m = self.r.choice(ms)
        k = self.key_expr(m[2], 1)
        if isinstance(m[3], tuple) and self.p(0.5):
            return '%s[%s] += %s' % (m[0], k, self.lit_int(m[3][1], True))
        if isinstance(m[3], tuple):
            v = self.int_value(m[3][1])[0]
        elif m[3] in ('ip4', 'ip6', 'mac') and self.p(0.5):
            v = self.r.choice(self.fields_of(m[3]))
        else:
            v = self.lit_of(m[3])
        return '%s[%s] = %s' % (m[0], k, v)

    def structural(self):
        c = self.r.random()
        if c < 0.2:
            args = 'id=%d' % self.r.randint(0, 4095)
            if self.p(0.5):
                args += ', pcp=%d' % self.r.randint(0, 7)
            return 'push vlan(%s)' % args
        if c < 0.35:
            return 'pop vlan'
        if c < 0.55:
            return 'decap'
        return 'encap ' + self.encap_layers()

    def addr_arg(self, t):
        if self.p(0.8):
            return self.lit_of(t)
        if self.p(0.5):
            return self.r.choice(['ip4.dst', 'ip4.src'] if t == 'ip4'
                                 else ['ip6.src', 'ip6.dst'])
        ms = self.value_maps(t)
        if ms:
            return '%s[%s]' % (ms[0][0], self.key_expr(ms[0][2], 1))
        return self.lit_of(t)

    def encap_layers(self):
        fam = self.r.choice(['ip4', 'ip6'])
        ip = '%s(src=%s, dst=%s' % (fam, self.addr_arg(fam), self.addr_arg(fam))
        if fam == 'ip4' and self.p(0.3):
            ip += ', ttl=%d' % self.r.randint(1, 255)
        if fam == 'ip4' and self.p(0.2):
            ip += ', id=hash(ip4.src, l4.sport) & 0xffff'
        ip += ')'
        k = self.r.choice(['ipip', 'gre', 'vxlan', 'vxlan_eth'])
        if k == 'ipip':
            return ip
        if k == 'gre':
            return ip + ' / gre()'
        vx = ' / udp(sport=%d, dport=4789) / vxlan(vni=%d)' % (
            self.r.randint(1024, 65535), self.r.randint(0, (1 << 24) - 1))
        if k == 'vxlan_eth':
            return 'eth(src=%s, dst=%s) / %s%s' % (self.lit_mac(),
                                                   self.lit_mac(), ip, vx)
        return ip + vx

    @staticmethod
    def is_field_stmt(s):
        w = s.split()
        return w[0] == 'swap' or (len(w) > 1 and w[1] in ('=', '+=', '-=')
                                  and '[' not in w[0])

    def rewrite_block(self, verdict):
        stmts = []
        for _ in range(self.r.choice([1, 1, 2, 3, 4])):
            stmts.append(self.field_rewrite() if self.p(0.65)
                         else self.state_rewrite())
        extra = self.p(self.extras)
        if verdict == 'continue' and not extra:
            # docs: field rewrites + continue only in policies <= 64 rules
            if self.nrules > 64:
                return [s for s in stmts if not self.is_field_stmt(s)]
            return stmts
        if verdict == 'route' and not extra and self.p(0.8):
            return stmts
        if self.p(0.3):
            s = self.structural()
            if verdict == 'route' and not extra and s.split()[0] in ('push', 'pop'):
                return stmts
            stmts.append(s)
            if extra and self.p(0.5):
                if self.p(0.5):
                    stmts.append(self.structural())
                else:
                    stmts.append(self.field_rewrite())
        return stmts

    # ------------------------------------------------------------ rules
    def verdict(self, final=False):
        c = self.r.random()
        simple = ['pass', 'drop', 'abort', 'tx']
        if c < 0.45:
            return self.r.choice(simple)
        if c < 0.55:
            return 'redirect ' + self.r.choice(IFNAMES)
        if c < 0.60:
            return 'redirect ifindex %d' % self.r.randint(1, 64)
        if c < 0.65:
            return 'redirect cpu %d' % self.r.randint(0, 1)
        if c < 0.75:
            ms = [m for m in self.maps if m[1] in ('devmap', 'cpumap', 'xskmap')]
            if ms:
                m = self.r.choice(ms)
                if final:
                    key = self.r.choice(['pkt.rxq', 'pkt.ifindex', '0', '1'])
                else:
                    key = self.r.choice([
                        'pkt.rxq', '0', 'l4.dport % 8',
                        'hash(ip4.src, ip4.dst) % 8', 'udp.sport & 3',
                        'ip4.ttl'])
                return 'redirect %s[%s]' % (m[0], key)
        if c < 0.82:
            return 'route'
        if not final and c < 0.95:
            return 'continue'
        return self.r.choice(simple)

    def limit(self):
        rs = [x[0] for x in self.consts if x[1] == 'rate']
        rate = self.r.choice(rs) if rs and self.p(0.3) else self.rate()
        s = 'limit '
        if self.p(0.5):
            s += 'over '
        s += rate
        if self.p(0.5):
            s += ' burst %d' % self.r.randint(1, 10000)
        if self.p(0.5):
            keys = [self.r.choice(['ip4.src', 'ip6.src', 'ip.src', 'l4.dport',
                                   'tcp.sport', 'eth.src', 'pkt.ifindex',
                                   'udp.dport % 16', 'ip4.proto'])
                    for _ in range(self.r.randint(1, 3))]
            s += ' per ' + ', '.join(keys)
        return s

    def log(self):
        s = 'log'
        c = self.r.random()
        if c < 0.3:
            s += ' every %d' % self.r.randint(1, 100)
        elif c < 0.6:
            s += ' %d/s' % self.r.randint(1, 1000)
        if self.p(0.5):
            s += ' snap %d' % self.r.randint(14, 256)
        return s

    def rule(self, i):
        lines = ['rule r%d {' % i]
        if self.p(0.85):
            lines.append('    match %s;' % self.expr())
        if self.p(0.15):
            lines.append('    %s;' % self.limit())
        if self.p(self.extras * 0.5):
            lines.append('    %s;' % self.log())
        v = self.verdict()
        if self.p(0.45):
            stmts = self.rewrite_block(v)
            if stmts:
                lines.append('    rewrite { %s; }' % '; '.join(stmts))
        lines.append('    verdict %s;' % v)
        lines.append('}')
        return '\n'.join(lines)

    # ------------------------------------------------------------ tests
    def layer_stack(self):
        fam = self.r.choice(['ip4', 'ip6'])
        ls = ['eth(src=%s, dst=%s)' % (self.lit_mac(), self.lit_mac())]
        if self.p(0.2):
            ls.append('vlan(id=%d)' % self.r.randint(1, 4094))
        ls.append('%s(src=%s, dst=%s)' % (fam, self.lit_of(fam), self.lit_of(fam)))
        l4 = self.r.choice(['tcp', 'udp'])
        ls.append('%s(sport=%d, dport=%d)' % (l4, self.r.randint(1, 65535),
                                             self.r.randint(1, 65535)))
        if self.p(0.5):
            ls.append('payload("%s")' % ('x' * self.r.randint(1, 20)))
        return ' / '.join(ls)

    def test_block(self, k):
        v = self.r.choice(['pass', 'drop', 'tx', 'abort', 'redirect'])
        return ('test "t%d" {\n    packet %s;\n    expect %s;\n}'
                % (k, self.layer_stack(), v))

    # ------------------------------------------------------------ protocols
    def decl_protocols(self):
        """Spec §9: a user header and parser states (the spec's own vxlan
        redeclaration, and a header with a variable part on a UDP port)."""
        out = []
        if self.p(0.05):
            out += ['header vxlan { flags: u8; reserved: u24; vni: u24; '
                    'reserved2: u8; }',
                    'parser {',
                    '    state udp { extract udp; select udp.dport '
                    '{ 4789 -> vxlan; _ -> accept; } }',
                    '    state vxlan { extract vxlan; next eth_inner; }', '}']
        if self.p(0.1):
            port = self.r.randint(1000, 60000)
            out += ['header myp { kind: u8; hlen: u8; value: u16; '
                    'opt: bytes(hlen * 4) max 16; }',
                    'parser {',
                    '    state udp { select udp.dport { %d -> myp; } }' % port,
                    '    state myp { extract myp; accept; }', '}']
            self.user_headers.update(myp=[('kind', U(8), 1), ('hlen', U(8), 0),
                                     ('value', U(16), 1)])
        return out

    # ------------------------------------------------------------ program
    def policy(self):
        out = ['# policygen seed %d' % self.seed, 'program gen%d;' % self.seed]
        out += self.decl_protocols()
        self.fields = all_fields(self.user_headers)
        out += self.decl_consts()
        out += self.decl_sets()
        out += self.decl_maps()
        for i in range(self.nrules):
            out.append(self.rule(i))
        if self.p(0.7):
            out.append('default %s;' % self.verdict(final=True))
        for k in range(self.r.choice([0, 0, 0, 1, 2])):
            out.append(self.test_block(k))
        return '\n'.join(out) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--rules', type=int, default=None,
                    help='exact rule count (default: random 1..max)')
    ap.add_argument('--max-rules', type=int, default=200)
    ap.add_argument('--extras', type=float, default=0.0,
                    help='probability of spec constructs documented as '
                         '"not supported yet"')
    ap.add_argument('-o', '--out', default='-')
    a = ap.parse_args()
    text = Gen(a.seed, a.rules, a.max_rules, a.extras).policy()
    if a.out == '-':
        print(text, end='')
    else:
        with open(a.out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
