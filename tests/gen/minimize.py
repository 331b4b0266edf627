#!/usr/bin/env python3
"""Delta-debug a failing policy down to a small one with the same failure.

    tests/gen/minimize.py POLICY.xdpl [--build DIR] [--class TEXT] [-o OUT]

The failure class is the one run.py gives (check/build/load, normalised
message); by default the class of the input. Top-level items (rules,
declarations, tests) are removed with ddmin, then each rule's match, limit
and rewrite lines, single rewrite statements, and/or operands of the match,
while the class stays the same. OUT gets the smallest policy with the
failure message in a comment at its top.
"""
import argparse
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402


def split_items(text):
    """-> (header lines, [item text]) where an item is a top-level block or
    line after `program`."""
    lines = [l for l in text.splitlines() if not l.startswith('#')]
    head, items, cur, depth = [], [], [], 0
    for l in lines:
        if not items and not cur and l.startswith('program'):
            head.append(l)
            continue
        if not l.strip():
            continue
        cur.append(l)
        depth += l.count('{') - l.count('}')
        if depth <= 0:
            items.append('\n'.join(cur))
            cur, depth = [], 0
    if cur:
        items.append('\n'.join(cur))
    return head, items


def join(head, items):
    return '\n'.join(head + items) + '\n'


class Oracle:
    def __init__(self, xdplc, target, tmp):
        self.xdplc, self.target, self.tmp = xdplc, target, tmp
        self.tries = 0
        self.msg = ''
        self.progress = None

    def classify(self, text):
        path = os.path.join(self.tmp, 'min%d.xdpl' % self.tries)
        self.tries += 1
        with open(path, 'w') as f:
            f.write(text)
        stage, cls, msg = run.run_policy(self.xdplc, path, 'min%d' % os.getpid(),
                                         'bpftool')
        os.unlink(path)
        return cls, msg

    def fails(self, text):
        cls, msg = self.classify(text)
        if cls == self.target:
            self.msg = msg
            if self.progress:       # keep the best so far: tries are slow
                with open(self.progress, 'w') as f:
                    f.write('# minimize.py in progress (%d tries), class: %s\n%s'
                            % (self.tries, self.target, text))
            return True
        return False


def ddmin(items, test):
    """Classic ddmin over a list: smallest sublist for which test holds."""
    n = 2
    while len(items) >= 2:
        chunk = max(1, len(items) // n)
        reduced = False
        for i in range(0, len(items), chunk):
            rest = items[:i] + items[i + chunk:]
            if rest and test(rest):
                items, n, reduced = rest, max(n - 1, 2), True
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(items), n * 2)
    return items


def top_split(expr, ops=(' or ', ' || ', ' and ', ' && ')):
    """Operands of the outermost and/or of a match expression."""
    depth, parts, last, i = 0, [], 0, 0
    while i < len(expr):
        c = expr[i]
        if c == '(':
            depth += 1
        elif c == ')':
            depth -= 1
        elif depth == 0:
            for op in ops:
                if expr.startswith(op, i):
                    parts.append(expr[last:i])
                    last = i + len(op)
                    i += len(op) - 1
                    break
        i += 1
    parts.append(expr[last:])
    e = expr.strip()
    if len(parts) == 1 and e.startswith('(') and e.endswith(')'):
        return [e[1:-1]]
    return [p.strip() for p in parts if p.strip()]


def shrink_rule(rule, test_rule):
    """Try smaller variants of one rule block; test_rule(new) -> bool."""
    lines = rule.split('\n')
    # drop whole lines (match, limit, rewrite), but not rule/verdict/}
    i = 1
    while i < len(lines) - 1:
        if lines[i].strip().startswith(('match', 'limit', 'rewrite', 'log')):
            cand = lines[:i] + lines[i + 1:]
            if test_rule('\n'.join(cand)):
                lines = cand
                continue
        i += 1
    for i, l in enumerate(lines):
        m = re.match(r'(\s*rewrite \{ )(.*)(; \})$', l)
        if m:
            stmts = m.group(2).split('; ')
            def t(ss, i=i):
                c = list(lines)
                c[i] = m.group(1) + '; '.join(ss) + m.group(3)
                return test_rule('\n'.join(c))
            stmts = ddmin(stmts, t)
            lines[i] = m.group(1) + '; '.join(stmts) + m.group(3)
        m = re.match(r'(\s*match )(.*)(;)$', l)
        if m:
            expr = m.group(2)
            changed = True
            while changed:
                changed = False
                for part in top_split(expr):
                    if part == expr:
                        continue
                    c = list(lines)
                    c[i] = m.group(1) + part + m.group(3)
                    if test_rule('\n'.join(c)):
                        expr, lines, changed = part, c, True
                        break
        m = re.match(r'(\s*verdict )(.*)(;)$', l)
        if m and m.group(2) not in ('pass', 'drop'):
            for v in ('drop', 'pass'):
                c = list(lines)
                c[i] = m.group(1) + v + m.group(3)
                if test_rule('\n'.join(c)):
                    lines = c
                    break
    return '\n'.join(lines)


def minimize(text, oracle):
    head, items = split_items(text)
    items = ddmin(items, lambda its: oracle.fails(join(head, its)))
    for k in range(len(items)):
        if items[k].startswith('rule'):
            def t(new, k=k):
                return oracle.fails(join(head, items[:k] + [new] + items[k + 1:]))
            items[k] = shrink_rule(items[k], t)
    # a second item pass: shrunk rules may have freed declarations
    items = ddmin(items, lambda its: oracle.fails(join(head, its)))
    return join(head, items)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('policy')
    ap.add_argument('--build', default=os.path.join(run.REPO, 'build'))
    ap.add_argument('--xdplc', default=None, help='the xdplc to use (default: BUILD/xdplc)')
    ap.add_argument('--class', dest='cls', default=None)
    ap.add_argument('-o', '--out', default=None)
    a = ap.parse_args()
    xdplc = a.xdplc or os.path.join(os.path.abspath(a.build), 'xdplc')
    text = open(a.policy).read()
    with tempfile.TemporaryDirectory(prefix='xdplmin') as tmp:
        o = Oracle(xdplc, None, tmp)
        o.progress = a.out
        cls, msg = o.classify(text)
        o.target = a.cls or cls
        if o.target is None or (a.cls and cls != a.cls):
            sys.exit('minimize: %s does not fail with the class (%s)' %
                     (a.policy, cls))
        o.msg = msg
        small = minimize(text, o)
    lines = [l for l in o.msg.strip().splitlines() if l.strip()]
    detail = [l for l in lines if 'error' in l.lower() or 'LLVM' in l]
    if o.target.startswith('verifier'):
        detail = [run.verifier_line(o.msg)]
    note = ['# minimised by tests/gen/minimize.py (%d tries) from %s' %
            (o.tries, os.path.basename(a.policy)),
            '# class: ' + o.target]
    note += ['# ' + l[:200] for l in detail[:3]]
    out = '\n'.join(note) + '\n' + small
    if a.out:
        with open(a.out, 'w') as f:
            f.write(out)
    print(out, end='')
    print('minimize: %d tries, %d -> %d bytes' % (o.tries, len(text), len(small)),
          file=sys.stderr)


if __name__ == '__main__':
    main()
