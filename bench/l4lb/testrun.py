"""BPF_PROG_TEST_RUN one packet per call (repeat 1), median over many calls.

A repeated run (repeat N > 1) would not measure an L4 balancer: the kernel
runs the program N times on the same buffer without resetting it, so from
the second run on, the program sees its own output (the encapsulated
packet, data pointer moved, TTL decremented) and takes the "not for the
VIP" path. And the new-flow path changes the program's own state (the
first run stores the flow): each run needs a flow not seen before. Single
calls get a fresh copy of the packet each time; their duration includes
the fixed cost of a run (two clock reads, setup), which an empty program
shows.

usage: testrun.py RUNS PKTDIR NAME PIN [PIN...]
Run i sends PKTDIR/NAME-(i mod K).pkt (K files NAME-0.pkt...) once
through each program in turn (interleaved, so drift hits all alike).
Prints per program "PIN median_ns mean_ns retval" (retval of run 0) and
writes the output frame of run 0 of program k to PKTDIR/NAME.out-k.
"""
import ctypes
import os
import statistics
import sys

NR_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
BPF_OBJ_GET, BPF_PROG_TEST_RUN = 7, 10
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    r = libc.syscall(NR_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


class ObjGet(ctypes.Structure):
    _fields_ = [("pathname", ctypes.c_uint64), ("bpf_fd", ctypes.c_uint32),
                ("file_flags", ctypes.c_uint32), ("pad", ctypes.c_uint8 * 112)]


class TestRun(ctypes.Structure):
    _fields_ = [("prog_fd", ctypes.c_uint32), ("retval", ctypes.c_uint32),
                ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
                ("data_in", ctypes.c_uint64), ("data_out", ctypes.c_uint64),
                ("repeat", ctypes.c_uint32), ("duration", ctypes.c_uint32),
                ("rest", ctypes.c_uint8 * 88)]


def prog_fd(path):
    p = ctypes.create_string_buffer(path.encode())
    a = ObjGet(pathname=ctypes.addressof(p))
    return bpf(BPF_OBJ_GET, a)


def run(fd, pkt, out):
    buf = ctypes.create_string_buffer(pkt, len(pkt))
    a = TestRun(prog_fd=fd, data_size_in=len(pkt), data_in=ctypes.addressof(buf),
                data_size_out=len(out), data_out=ctypes.addressof(out), repeat=1)
    bpf(BPF_PROG_TEST_RUN, a)
    return a.retval, a.duration, out.raw[:a.data_size_out]


def main():
    runs, d, name, pins = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    fds = [prog_fd(p) for p in pins]
    pkts = []
    while os.path.exists(f"{d}/{name}-{len(pkts)}.pkt"):
        pkts.append(open(f"{d}/{name}-{len(pkts)}.pkt", "rb").read())
    out = ctypes.create_string_buffer(4096)
    times = [[] for _ in pins]
    ret = [None] * len(pins)
    for i in range(runs):
        pkt = pkts[i % len(pkts)]
        for k, fd in enumerate(fds):
            rv, ns, data = run(fd, pkt, out)
            times[k].append(ns)
            if i == 0:
                ret[k] = rv
                open(f"{d}/{name}.out-{k}", "wb").write(data)
    for k, p in enumerate(pins):
        print(p, statistics.median(times[k]), round(statistics.mean(times[k]), 1), ret[k])


main()
