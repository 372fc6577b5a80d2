#!/usr/bin/python3
"""launch.py - the launch-heavy benchmark: native, and through ava with
async batching on and off, in this same invocation; prints ratios.

Usage: launch.py [--ava AVA] [--runs R] LAUNCH [LAUNCH ARGS...]

LAUNCH is tests/bench/launch.c's program (clSetKernelArg +
clEnqueueNDRangeKernel of a small kernel, many times). Each configuration
runs R times (default 3) in turn, and the best run counts:

  native               the program alone
  ava unix             `AVA run --transport unix --`, batching on (default)
  ava unix, no batch   the same with AVA_BATCH=0: every call a round trip
  ava shm, ...         the same two over the shm: transport

Timing never fails the test: exit 0 once every run measured, 77 when ava
is not built (native figures are still printed), 1 when a run failed or
its result came back wrong, 99 when the native run failed.
"""
import os
import platform
import subprocess
import sys

from rounds import clean_env


def run(cmd, extra_env=None):
    env = clean_env("AVA_BATCH")
    env.update(extra_env or {})
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=550)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def per_launch(out):
    for line in out.splitlines():
        f = line.split()
        if f[:1] == ["launch"]:
            kv = dict(zip(f[1::2], f[2::2]))
            return int(kv["per_launch_ns"]), int(kv["n"])
    return None, None


def best(cmd, runs, env=None):
    """The fastest of `runs` runs: (ns per launch, n), or an error."""
    times, n = [], None
    for _ in range(runs):
        rc, out, err = run(cmd, env)
        t, n = per_launch(out)
        if rc != 0 or t is None:
            return None, f"exit {rc}: {err.strip()[-300:]}"
        times.append(t)
    return (min(times), n), None


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    args = sys.argv[1:]
    ava, runs = None, 3
    while args and args[0].startswith("--"):
        if args[0] == "--ava":
            ava, args = args[1], args[2:]
        elif args[0] == "--runs":
            runs, args = int(args[1]), args[2:]
        else:
            break
    if not args:
        print(__doc__)
        return 99
    prog = args
    print(f"machine: {cpu()}, {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.2f}")
    native, err = best(prog, runs)
    if native is None:
        print(f"native run failed: {err}")
        return 99
    rows = [("native", native[0])]
    rc = 0
    if ava is None or not os.path.exists(ava):
        print("ava is not built: native figures only")
        rc = 77
    else:
        for label, tr, env in (
                ("ava unix", "unix", {}),
                ("ava unix, no batch", "unix", {"AVA_BATCH": "0"}),
                ("ava shm", "shm", {}),
                ("ava shm, no batch", "shm", {"AVA_BATCH": "0"})):
            res, err = best([ava, "run", "--transport", tr, "--"] + prog,
                            runs, env)
            if res is None:
                print(f"{label}: run failed: {err}")
                rc = 1
                continue
            rows.append((label, res[0]))
    print(f"{native[1]} launches (clSetKernelArg + clEnqueueNDRangeKernel "
          f"each), best of {runs} runs; ratio: ava/native time")
    print(f"{'configuration':<20}{'per launch':>14}{'ratio':>10}")
    for label, t in rows:
        print(f"{label:<20}{t / 1000:>11.2f} us{t / native[0]:>9.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
