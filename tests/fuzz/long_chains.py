#!/usr/bin/env python3
"""Hostile input through the whole compiler (issue 11).

- `and`, `or` and `+` chains of 10k and 40k terms pass `xdplc check` and
  `xdplc build`, and 4x the terms costs about 4x (never 16x) the CPU time
  and the peak memory: sizes are measured side by side in this run (wait4
  of each child), never against a clock;
- /dev/zero, a regular file over the size limit and a NUL byte end with
  exit 1 and a clear error, quickly.

Usage: long_chains.py XDPLC
"""
import os
import re
import resource
import subprocess
import sys
import tempfile

SMALL, BIG = 10000, 40000
LIMIT_S = 120          # CPU seconds per run: a quadratic stage must fail, not hang
RSS_LIMIT_MB = 2048    # and must not eat the machine

failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)


def excerpt(out):
    """What says why a run failed: diagnostics, the sanitizer's verdict and
    the top of its stack (not its memory map)."""
    keep = [l for l in out.splitlines()
            if re.search(r"error:|ERROR|SUMMARY|AddressSanitizer|^\s+#[0-9] ", l)]
    return "\n".join(keep[:12]) if keep else out[-1500:]


def chain(kind, n):
    if kind == "and":
        m = " and ".join(["tcp"] * n)
    elif kind == "or":
        m = " or ".join("tcp.dport == %d" % (i % 65536) for i in range(n))
    else:
        m = "tcp.dport" + " + 1" * n + " == 5"
    return "program p;\nrule r {\n    match %s;\n    verdict drop;\n}\n" % m


def asan_build(xdplc):
    out = subprocess.run(["ldd", xdplc], capture_output=True, text=True).stdout
    return "libasan" in out


def run(argv, asan):
    """(exit status, cpu seconds, peak rss KB, output) of one child."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":hard_rss_limit_mb=%d" % RSS_LIMIT_MB).lstrip(":")

    def limits():
        resource.setrlimit(resource.RLIMIT_CPU, (LIMIT_S, LIMIT_S))
        if not asan:  # ASan reserves terabytes of address space
            lim = RSS_LIMIT_MB << 20
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=limits)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return p.returncode, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, text


def best(argv, asan):
    """Best of two runs: a busy machine only adds time (one run if it failed)."""
    a = run(argv, asan)
    if a[0] != 0:
        return a
    return min(a, run(argv, asan), key=lambda r: (r[0] != 0, r[1]))


def test_chains(xdplc, tmp, asan):
    failed = set()  # kinds check already fails on: build would only repeat it
    for cmd in ("check", "build"):
        def argv(path):
            extra = ["-o", os.path.join(tmp, "out.o")] if cmd == "build" else []
            return [xdplc, cmd] + extra + [path]

        base_path = os.path.join(tmp, "base.xdpl")
        with open(base_path, "w") as f:
            f.write(chain("and", 1))
        base = best(argv(base_path), asan)
        for kind in ("and", "or", "+"):
            if kind in failed:
                fail("build of a '%s' chain: not tried, check fails" % kind)
                continue
            cost = {}
            for n in (SMALL, BIG):
                path = os.path.join(tmp, "chain_%s_%d.xdpl" % (kind.replace("+", "plus"), n))
                with open(path, "w") as f:
                    f.write(chain(kind, n))
                cost[n] = best(argv(path), asan)
            (sa, ta, ma, oa), (sb, tb, mb, ob) = cost[SMALL], cost[BIG]
            what = "%s of a '%s' chain" % (cmd, kind)
            if sa != 0 or sb != 0:
                fail("%s: exit %d (%d terms: cpu %.1fs, peak rss %d KB), %d (%d terms)\n%s" %
                     (what, sa, SMALL, ta, ma, sb, BIG, excerpt(ob if sb else oa)))
                failed.add(kind)
                continue
            tr = tb / max(ta, 0.05)
            mr = (mb - base[2]) / max(ma - base[2], 1024)
            line = "%s: %d -> %d terms: cpu %.2fs -> %.2fs (x%.1f), peak rss %d -> %d KB over %d (x%.1f)" % (
                what, SMALL, BIG, ta, tb, tr, ma, mb, base[2], mr)
            print(line)
            if tr >= 8 or mr >= 8:
                fail(line + ": not linear")


def expect_error(xdplc, path, want, asan):
    st, cpu, rss, out = run([xdplc, "check", path], asan)
    if st != 1 or want not in out:
        fail("check %s: exit %d, want 1 and '%s' in:\n%s" % (path, st, want, excerpt(out)))
    else:
        print("ok: check %s: %s (%.2fs)" % (path, want, cpu))


def test_hostile_files(xdplc, tmp, asan):
    expect_error(xdplc, "/dev/zero", "larger than 16 MiB", asan)
    big = os.path.join(tmp, "big.xdpl")
    with open(big, "w") as f:
        f.write("program p;\n")
        line = "# " + "x" * 1021 + "\n"
        for _ in range((16 << 20) // len(line) + 1):
            f.write(line)
    expect_error(xdplc, big, "larger than 16 MiB", asan)
    nul = os.path.join(tmp, "nul.xdpl")
    with open(nul, "wb") as f:
        f.write(b"program p;\0\nrule r { match tcp; verdict drop; }\n")
    expect_error(xdplc, nul, "nul.xdpl:1:11: error: NUL byte", asan)
    for cmd in ("check", "build"):
        h = os.path.join(tmp, "hash.xdpl")
        with open(h, "w") as f:
            f.write("program p;\nrule r { match hash(%s) == 1; verdict drop; }\n" % ", ".join(["tcp.dport"] * 17))
        argv = [xdplc, cmd] + (["-o", os.path.join(tmp, "h.o")] if cmd == "build" else []) + [h]
        st, _, _, out = run(argv, asan)
        if st != 1 or "hash() takes at most 16 values" not in out:
            fail("%s of hash() of 17 values: exit %d\n%s" % (cmd, st, excerpt(out)))


def main():
    xdplc = os.path.realpath(sys.argv[1])
    asan = asan_build(xdplc)
    with tempfile.TemporaryDirectory() as tmp:
        test_hostile_files(xdplc, tmp, asan)
        test_chains(xdplc, tmp, asan)
    if failures:
        print("long_chains: %d failure(s)" % failures)
        return 1
    print("long_chains: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
