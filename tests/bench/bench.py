#!/usr/bin/python3
"""bench.py - run the benchmark natively and through ava, print ratios.

Usage: bench.py [--ava AVA] [--rounds R] BENCH [BENCH ARGS...]

Runs BENCH (bench.c) natively and through `AVA run --`, in turn for R
rounds (default 3; rounds.py), then through `AVA run --` once more with
the guest and the server pinned to one CPU (round trip only), all in this
same invocation, and prints one table: per-call round trip (p50, p99,
mean) and write/read bandwidth per size, each the median of its rounds,
with the ratio ava/native.
Timing never fails the test: exit 0 once both runs measured, 77 when ava is
not built (the native figures are still printed), 1 when a run's data came
back wrong or it failed, 99 when the native run failed.
"""
import os
import platform
import subprocess
import sys

from rounds import clean_env, interleaved


def run(cmd, cpu=None):
    """Run cmd; with cpu, it and all its children run on that CPU alone."""
    env = clean_env()
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=550, preexec_fn=pin)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load():
    """The 1-minute load average: the machine may be shared."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def parse(out):
    """{('latency', 'p50'): ns, ('write', bytes): MB/s, ...}"""
    res = {}
    for line in out.splitlines():
        f = line.split()
        if f[:2] == ["latency", "clGetDeviceInfo"]:
            kv = dict(zip(f[2::2], f[3::2]))
            for k in ("p50", "p99", "mean"):
                res[("latency", k)] = int(kv[k + "_ns"])
        elif f[:1] == ["bw"]:
            kv = dict(zip(f[2::2], f[3::2]))
            res[(f[1], int(kv["bytes"]))] = float(kv["mbps"])
    return res


def us(ns):
    return f"{ns / 1000:.2f} us"


def gbps(mbps):
    return f"{mbps / 1000:.2f} GB/s"


def table(native, ava, pinned):
    rows = [("figure", "native", "ava", "ava/native")]
    for label, res in (("", ava), (", one CPU", pinned)):
        for k in ("p50", "p99", "mean"):
            n = native.get(("latency", k))
            a = res.get(("latency", k)) if res else None
            rows.append((f"clGetDeviceInfo round trip {k}{label}", us(n),
                         us(a) if a else "-",
                         f"{a / n:.1f}x" if a and n else "-"))
    for op in ("write", "read"):
        for size in sorted(s for (o, s) in native if o == op):
            n = native[(op, size)]
            a = ava.get((op, size)) if ava else None
            rows.append((f"{op} {size >> 20} MiB (blocking)", gbps(n),
                         gbps(a) if a else "-",
                         f"{a / n:.2f}" if a else "-"))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, r in enumerate(rows):
        print(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}  "
              f"{r[3]:>{w[3]}}")
        if i == 0:
            print("-" * (sum(w) + 6))


def main():
    args = sys.argv[1:]
    ava, rounds = None, 3
    while args[:1] in (["--ava"], ["--rounds"]) and len(args) > 1:
        if args[0] == "--ava":
            ava = args[1]
        else:
            rounds = max(1, int(args[1]))
        args = args[2:]
    if not args:
        print("usage: bench.py [--ava AVA] [--rounds R] BENCH [ARGS...]",
              file=sys.stderr)
        return 99
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}; load average before: {load()}")

    def run_one(name):
        rc, out, err = run(args if name == "native"
                           else [ava, "run", "--"] + args)
        if rc != 0:
            print(f"{name} run failed ({rc}):\n{err}")
            return None
        return parse(out)

    res, failed = interleaved(["native"] + (["ava"] if ava else []), rounds,
                              run_one)
    if "native" in failed:
        return 99
    native = res["native"]
    avares, pinned, status = None, None, 0
    if ava is None:
        print("ava is not built: native figures only", file=sys.stderr)
        status = 77
    else:
        if "ava" in failed:
            status = 1
        avares = res["ava"]
        # The round trip again with the guest and its server on one CPU:
        # on a small VM, waking a process on the other CPU costs more than
        # the call itself, and this row shows how much.
        cpu = min(os.sched_getaffinity(0))
        rc, out, err = run([ava, "run", "--"] + args + ["--max-mib", "0"],
                           cpu=cpu)
        if rc != 0:
            print(f"pinned run through ava failed ({rc}):\n{err}")
            status = 1
        pinned = parse(out)
    print(f"load average after: {load()}")
    print(f"(round trip and bandwidth: the median of {rounds} rounds, "
          f"native and ava in turn; the pinned round trip: one run)")
    print("(ratio: ava/native; for the round trip, how many times slower; "
          "for bandwidth, the fraction of native throughput)")
    table(native, avares, pinned)
    return status


if __name__ == "__main__":
    sys.exit(main())
