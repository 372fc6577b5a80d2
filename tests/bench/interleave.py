#!/usr/bin/python3
"""interleave.py - several ways of running one benchmark, in turn, many
times, so that they share the machine's noise; medians and ratios to the
first. For A/B comparisons on a shared VM (doc/performance.md).

Usage: interleave.py [--runs R] [--args "ARGS"] NAME=CMD [NAME=CMD...]

Each CMD (a shell-like command line) is run R times (default 7), the
order reversed every other round, with ARGS appended. Two kinds of output
lines are understood:

  launch n N total_ns T per_launch_ns P      (launch.c)
  bw DIR bytes B reps R median_ns T mbps M   (bench.c)

For launch lines it prints, per NAME, the median and best wall time per
launch and the median CPU time per launch of the whole process tree
(user + system, PoCL's threads and ava's server included: interleave.py
makes itself a subreaper and waits for a server worker that outlives its
`ava run`); for bw lines
the median MB/s per direction and size. Ratios are to the first NAME.
Timing never fails: exit 0 once every run printed its lines, 1 if one
did not.

Examples:
  interleave.py --args "--launches 100000" native=build/tests/bench/ava-bench-launch \\
      "unix=build/tools/ava run --transport unix -- build/tests/bench/ava-bench-launch"
  interleave.py --args "--max-mib 256 --iters 100" native=build/tests/bench/ava-bench \\
      "shm=build/tools/ava run -- build/tests/bench/ava-bench"
"""
import argparse
import collections
import ctypes
import os
import shlex
import statistics
import subprocess
import sys


def subreaper():
    """Become the reaper of orphaned descendants: a worker of `ava run`'s
    server may still be exiting when `ava run` returns (doc/architecture.md,
    "A worker's last word"), and its CPU counts only once it is reaped."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0   # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def run(cmd):
    """stdout, and the CPU seconds of the process and all its descendants
    (those that outlive it are waited for, not timed)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    secs = ru.ru_utime + ru.ru_stime
    while True:
        try:
            _, _, ru = os.wait4(-1, 0)
        except ChildProcessError:
            break
        secs += ru.ru_utime + ru.ru_stime
    return out, status, secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--args", default="")
    ap.add_argument("cfg", nargs="+")
    a = ap.parse_args()
    if not subreaper():
        print("interleave.py: cannot become a subreaper; CPU figures may "
              "miss processes that outlive their command", file=sys.stderr)
    cfgs = []
    for c in a.cfg:
        name, sep, cmd = c.partition("=")
        if not sep:
            sys.exit("interleave.py: expected NAME=CMD, got " + c)
        cfgs.append((name, shlex.split(cmd) + shlex.split(a.args)))
    launch = {n: [] for n, _ in cfgs}
    cpu = {n: [] for n, _ in cfgs}
    bw = {n: collections.defaultdict(list) for n, _ in cfgs}
    for r in range(a.runs):
        for name, cmd in (cfgs if r % 2 == 0 else cfgs[::-1]):
            out, status, secs = run(cmd)
            seen = False
            for line in out.splitlines():
                f = line.split()
                if f[:1] == ["launch"]:
                    kv = dict(zip(f[1::2], f[2::2]))
                    launch[name].append(int(kv["per_launch_ns"]))
                    cpu[name].append(secs * 1e9 / int(kv["n"]))
                    seen = True
                elif f[:1] == ["bw"]:
                    bw[name][(f[1], int(f[3]))].append(float(f[-1]))
                    seen = True
            if not seen or status != 0:
                print(f"{name}: run {r + 1} printed no figures "
                      f"(status {status})", file=sys.stderr)
                return 1
            print(f"round {r + 1}/{a.runs}: {name} done", file=sys.stderr)
    first = cfgs[0][0]
    if launch[first]:
        w0 = statistics.median(launch[first])
        c0 = statistics.median(cpu[first])
        print(f"{'':16s} {'wall/launch':>12s} {'best':>8s} {'ratio':>6s}"
              f" {'CPU/launch':>11s} {'ratio':>6s}")
        for name, _ in cfgs:
            w = statistics.median(launch[name])
            c = statistics.median(cpu[name])
            print(f"{name:16s} {w / 1000:9.2f} us {min(launch[name]) / 1000:5.2f} us"
                  f" {w / w0:5.2f}x {c / 1000:8.2f} us {c / c0:5.2f}x")
    if bw[first]:
        print(f"{'dir':6s} {'MiB':>5s} " +
              " ".join(f"{n + ' MB/s':>14s} {'ratio':>6s}" for n, _ in cfgs))
        for key in sorted(bw[first]):
            b0 = statistics.median(bw[first][key])
            row = []
            for name, _ in cfgs:
                m = statistics.median(bw[name][key])
                row.append(f"{m:14.0f} {m / b0:6.2f}")
            print(f"{key[0]:6s} {key[1] >> 20:5d} " + " ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
