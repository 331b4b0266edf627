#!/usr/bin/env python3
"""Generate, check, build and LOAD many policies; classify every failure.

    tests/gen/run.py [--build DIR] [--count N] [--start SEED] [--jobs 2]
                     [--extras P] [--keep DIR] [--json OUT]

For each seed: policygen.py writes a policy, `xdplc check` must accept it,
`xdplc build` must give an object, and the kernel must load it (bpftool
prog loadall into a private bpffs directory, removed afterwards; or with
--loader xdplc, `xdplc run OBJ --pcap` with one packet, which loads it with
libxdpl). Failures are classified by cause (check error, LLVM error, BPF
stack limit, verifier message, sanitizer report, signal, timeout); the
summary prints the count of each class and its smallest failing policy.
Exit status: 0 when every policy passed, 1 otherwise.
"""
import argparse
import concurrent.futures as cf
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import policygen  # noqa: E402

# generous: the machine is shared; a timeout must mean a hang, not load
TIMEOUT = {'check': 60, 'build': 600, 'load': 300}


def norm(msg):
    """One failure message -> its class text (numbers, registers, names
    replaced so that the same cause gives the same class)."""
    msg = msg.strip()
    msg = re.sub(r'^\S+\.xdpl:\d+:\d+: ', '', msg)
    msg = re.sub(r"\b[Rr]\d+\b", 'R#', msg)
    msg = re.sub(r"\bfp-\d+\b", 'fp-#', msg)
    msg = re.sub(r"'[^']*'", lambda m: m.group(0)
                 if m.group(0) in ("'scalar'", "'ctx'") else "'…'", msg)
    msg = re.sub(r'0x[0-9a-fA-F]+|\d+', '#', msg)
    return msg[:110]


def sanitizer(text):
    m = re.search(r'(ERROR: \w+Sanitizer: [\w-]+|runtime error: [^\n]{0,60})',
                  text)
    return m and m.group(1)


def classify_build(rc, out):
    s = sanitizer(out)
    if s:
        return 'sanitizer: ' + norm(s)
    m = re.search(r'LLVM ERROR: ([^\n]+)', out)
    if m:
        return 'llvm-abort: ' + norm(m.group(1))
    if 'BPF stack limit is exceeded' in out:
        return 'llvm: BPF stack limit is exceeded'
    if rc < 0:
        return 'build-signal: %d' % -rc
    m = re.search(r'error: ([^\n]+)', out)
    first = m.group(1) if m else (out.strip().splitlines() or ['?'])[-1]
    return 'build-exit%d: %s' % (rc, norm(first))


def verifier_line(out):
    """The verifier's reason: the last log line before 'processed N insns'
    or the end of the log, skipping the instruction dump."""
    log = out
    m = re.search(r'verifier rejected the program; end of its log:\n(.*?)'
                  r'(xdplc: note|\Z)', out, re.S)
    if m:
        out = m.group(1) + '-- END PROG LOAD LOG'
        out = '-- BEGIN PROG LOAD LOG --\n' + out
    m = re.search(r'BEGIN PROG LOAD LOG --\n(.*?)-- END PROG LOAD LOG', out, re.S)
    if m:
        log = m.group(1)
    lines = [l.strip() for l in log.splitlines() if l.strip()]
    lines = [re.sub(r'^libbpf: (prog \'[^\']*\': )?', '', l) for l in lines]
    cand = [l for l in lines
            if not re.match(r'^(\d+: |;|processed |verification time|'
                            r'stack depth|mark_precise|last_idx|regs=|'
                            r'from \d+ to|Func#|\(|func#|Validating|'
                            r'R\d+(_w)?=|; )', l)
            and 'BPF program load failed' not in l
            and 'failed to load' not in l and 'failed to pin' not in l
            and 'Error: failed' not in l and not l.startswith('xdplc:')]
    return cand[-1] if cand else (lines[-1] if lines else 'no message')


def load_bpftool(obj, tag):
    pin = '/sys/fs/bpf/xdplgen_%d_%s' % (os.getpid(), tag)
    try:
        p = subprocess.run(['bpftool', '-d', 'prog', 'loadall', obj, pin],
                           capture_output=True, text=True,
                           timeout=TIMEOUT['load'])
        return p.returncode, p.stdout + p.stderr
    finally:
        shutil.rmtree(pin, ignore_errors=True)
        if os.path.exists(pin):
            os.unlink(pin)


def one_packet_pcap(path):
    # an Ethernet/IPv4/UDP frame, written by hand: the harness needs no
    # packet library for loading
    import struct
    frame = bytes.fromhex('020000000002020000000001080045000020000100004011'
                          '00000a0000010a000002303900350000000c0000') + b'xxxx'
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        f.write(struct.pack('<IIII', 0, 0, len(frame), len(frame)) + frame)


def load_xdplc(xdplc, obj, tmp):
    pcap = os.path.join(tmp, 'one.pcap')
    one_packet_pcap(pcap)
    env = dict(os.environ, XDPL_DEBUG='1')
    p = subprocess.run([xdplc, 'run', obj, '--pcap', pcap], capture_output=True,
                       text=True, timeout=TIMEOUT['load'], env=env)
    return p.returncode, p.stdout + p.stderr


def step(cmd, what):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=TIMEOUT[what])
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        return None, 'timeout'


def run_policy(xdplc, path, tag, loader, check_only=False):
    """-> (stage, class or None, message)."""
    rc, out = step([xdplc, 'check', path], 'check')
    if rc is None:
        return 'check', 'timeout: check', out
    if rc != 0:
        s = sanitizer(out)
        if s or rc != 1:
            return 'check', 'check-crash: %s' % (s or 'exit %d' % rc), out
        m = re.search(r'error: ([^\n]+)', out)
        return 'check', 'check-reject: ' + norm(m.group(1) if m else out), out
    if check_only:
        return 'checked', None, ''
    with tempfile.TemporaryDirectory(prefix='xdplgen') as tmp:
        obj = os.path.join(tmp, 'p.o')
        rc, out = step([xdplc, 'build', path, '-o', obj], 'build')
        if rc is None:
            return 'build', 'timeout: build', out
        if rc != 0 or sanitizer(out):
            return 'build', classify_build(rc, out), out
        try:
            if loader == 'xdplc':
                rc, out = load_xdplc(xdplc, obj, tmp)
            else:
                rc, out = load_bpftool(obj, tag)
        except subprocess.TimeoutExpired:
            return 'load', 'timeout: load', ''
        if rc != 0:
            return 'load', 'verifier: ' + norm(verifier_line(out)), out
    return 'ok', None, ''


def run_file(args, path):
    """A saved policy (a repro): its class, and `xdplc test` when it has
    test blocks (their expectations come from the spec)."""
    stage, cls, msg = run_policy(args.xdplc, path, 'f%d' % abs(hash(path)),
                                 args.loader)
    text = open(path).read()
    if cls is None and re.search(r'^test ', text, re.M):
        rc, out = step([args.xdplc, 'test', path], 'load')
        if rc != 0:
            fails = re.findall(r'^FAIL [^:]*:\d+ (.*)$', out, re.M)
            stage, cls = 'test', 'test: ' + (fails[0][:100] if fails else
                                             norm(out.strip().splitlines()[-1]))
    return dict(seed=0, rules=len(re.findall(r'^rule ', text, re.M)),
                stage=stage, cls=cls, size=len(text), path=path, msg=msg[-4000:])


def job(args, seed, outdir):
    g = policygen.Gen(seed, args.rules, args.max_rules, args.extras)
    text = g.policy()
    path = os.path.join(outdir, 'gen%d.xdpl' % seed)
    with open(path, 'w') as f:
        f.write(text)
    stage, cls, msg = run_policy(args.xdplc, path, str(seed), args.loader,
                                 args.check_only)
    if cls is None and not args.keep_all:
        os.unlink(path)
    return dict(seed=seed, rules=g.nrules, stage=stage, cls=cls,
                size=len(text), path=path, msg=msg[-4000:])


def summary(results, out=sys.stdout):
    n = len(results)
    check_ok = sum(1 for r in results if r['stage'] != 'check')
    if all(r['stage'] in ('check', 'checked') for r in results):
        print('policies %d: check ok %d (%.1f%%) (check only)' % (
            n, check_ok, 100.0 * check_ok / n if n else 0), file=out)
        n = 0
    build_ok = sum(1 for r in results if r['stage'] in ('load', 'ok', 'test'))
    load_ok = sum(1 for r in results if r['stage'] in ('ok', 'test'))
    pct = lambda k: 100.0 * k / n if n else 0.0
    if n:
        print('policies %d: check ok %d (%.1f%%), build ok %d (%.1f%%), '
              'load ok %d (%.1f%%)' % (n, check_ok, pct(check_ok), build_ok,
                                      pct(build_ok), load_ok, pct(load_ok)),
              file=out)
    ok = [r['rules'] for r in results if r['cls'] is None]
    bad = [r['rules'] for r in results if r['cls'] is not None]
    if ok and bad:
        print('mean rules: loaded %.1f, failed %.1f' %
              (sum(ok) / len(ok), sum(bad) / len(bad)), file=out)
    classes = {}
    for r in results:
        if r['cls']:
            classes.setdefault(r['cls'], []).append(r)
    print('%6s  %-6s %s' % ('count', 'stage', 'class -> smallest policy'),
          file=out)
    for cls, rs in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        small = min(rs, key=lambda r: r['size'])
        print('%6d  %-6s %s\n%14s %s (%d rules)' % (
            len(rs), rs[0]['stage'], cls, '->', small['path'], small['rules']),
            file=out)
    return classes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(REPO, 'build'),
                    help='build directory holding xdplc (default: build/)')
    ap.add_argument('--count', type=int, default=100)
    ap.add_argument('--start', type=int, default=1, help='first seed')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--rules', type=int, default=None)
    ap.add_argument('--max-rules', type=int, default=200)
    ap.add_argument('--extras', type=float, default=0.0)
    ap.add_argument('--loader', choices=['bpftool', 'xdplc'], default='bpftool')
    ap.add_argument('--keep', default=None,
                    help='directory for failing policies (default: a temp dir)')
    ap.add_argument('--keep-all', action='store_true')
    ap.add_argument('--check-only', action='store_true',
                    help='only `xdplc check` (no root needed): every '
                         'generated policy is valid, check must accept it')
    ap.add_argument('--json', default=None, help='write every result here')
    ap.add_argument('-q', '--quiet', action='store_true')
    ap.add_argument('files', nargs='*',
                    help='saved policies to classify instead of generating')
    ap.add_argument('--xdplc', default=None,
                    help='the xdplc to use (default: BUILD/xdplc)')
    args = ap.parse_args()
    args.xdplc = args.xdplc or os.path.join(os.path.abspath(args.build), 'xdplc')
    if not os.access(args.xdplc, os.X_OK):
        sys.exit('run.py: no xdplc in %s (build first)' % args.build)
    if os.geteuid() != 0 and not args.check_only:
        print('run.py: loading needs root', file=sys.stderr)
        sys.exit(77)
    outdir = args.keep or tempfile.mkdtemp(prefix='xdplgen-')
    os.makedirs(outdir, exist_ok=True)
    jobs = min(args.jobs, 2)
    results = []
    with cf.ThreadPoolExecutor(jobs) as ex:
        if args.files:
            futs = [ex.submit(run_file, args, f) for f in args.files]
        else:
            futs = [ex.submit(job, args, s, outdir)
                    for s in range(args.start, args.start + args.count)]
        for f in cf.as_completed(futs):
            r = f.result()
            results.append(r)
            if not args.quiet:
                print('%s rules %d: %s' % (
                    r['path'] if args.files else 'seed %d' % r['seed'],
                    r['rules'], r['cls'] or 'ok'), flush=True)
    results.sort(key=lambda r: r['seed'])
    print('policies in %s' % outdir)
    classes = summary(results)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return 1 if classes else 0


if __name__ == '__main__':
    sys.exit(main())
