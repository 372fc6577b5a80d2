#!/usr/bin/python3
"""journal_bench.py - what journaling costs: `ava run` with and without
`--journal DIR --journal-mode full`, measured in the same invocation.

Usage: journal_bench.py --ava AVA [--rounds N] [--launches L] [--max-mib M]
                        [--reps R] [--dir D] BENCH

BENCH is ava-bench (bench.c). Each round runs it twice through `ava run`,
once unjournaled and once journaled (full mode, the default --sync batch),
in alternating order, with
  --iters 0 --launches L --max-mib M --reps R --unique
so it measures (a) L kernel launches (clSetKernelArg + NDRange each) and
(b) blocking write/read bandwidth from 1 MiB to M MiB, every write with
different bytes so that the journal cannot store a repeat once. The table
gives the median over the rounds and the range, and the ratio journaled /
unjournaled in time (1.00 = no cost; the goal is <= 1.10). Each round
also times the launches alone with the guest, the server and the journal
thread pinned to one CPU ("one CPU"), where the journal's own work shows
rather than hiding on an idle CPU.

The journal goes to D (default: a fresh directory under $TMPDIR) and is
deleted after each run; its size and the writer's counters
(AVA_JOURNAL_STATS=1) are printed.

Timing never fails the test: exit 0 once measured, 77 without ava, 1 when a
run failed or its data came back wrong, 99 on bad usage.
"""
import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from rounds import clean_env


def load():
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def tree_bytes(d):
    total = 0
    for root, _, names in os.walk(d):
        for n in names:
            total += os.path.getsize(os.path.join(root, n))
    return total


def parse(out):
    """{('launch',): ns per launch, ('write', bytes): MB/s, ...}"""
    res = {}
    for line in out.splitlines():
        f = line.split()
        kv = dict(zip(f[1::2], f[2::2]))
        if f[:1] == ["launch"]:
            res[("launch", 0)] = int(kv["per_launch_ns"])
        elif f[:1] == ["bw"]:
            kv = dict(zip(f[2::2], f[3::2]))
            res[(f[1], int(kv["bytes"]))] = float(kv["mbps"])
    return res


def run_once(ava, bench_args, journal, cpu=None):
    env = clean_env("AVA_JOURNAL_NO_URING")
    cmd = [ava, "run"]
    if journal:
        env["AVA_JOURNAL_STATS"] = "1"
        cmd += ["--journal", journal, "--journal-mode", "full"]
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    p = subprocess.run(cmd + ["--"] + bench_args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=900,
                       preexec_fn=pin)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def fmt_time(key, v):
    return f"{v / 1000:.1f} us" if key[0] == "launch" else f"{v / 1000:.2f} GB/s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--launches", type=int, default=20000)
    ap.add_argument("--max-mib", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir")
    ap.add_argument("bench")
    a = ap.parse_args()
    if a.ava is None:
        print("ava is not built: nothing to measure", file=sys.stderr)
        return 77
    bench_args = [a.bench, "--iters", "0", "--launches", str(a.launches),
                  "--max-mib", str(a.max_mib), "--reps", str(a.reps),
                  "--unique"]
    base = a.dir or tempfile.mkdtemp(prefix="ava-journal-bench-")
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}; load average before: {load()}")
    print(f"each round: ava run [--journal DIR --journal-mode full] -- "
          f"{' '.join(os.path.basename(x) if i == 0 else x for i, x in enumerate(bench_args))}")
    print(f"journal DIR under {base}")
    results = {"off": [], "full": []}
    # The launches again with everything (guest, server, journal thread)
    # on one CPU: the round trip is steadier there, and the journal's work
    # cannot hide on an idle second CPU.
    pinned = {"off": [], "full": []}
    pin_args = [a.bench, "--iters", "0", "--launches", str(a.launches),
                "--max-mib", "0"]
    cpu = min(os.sched_getaffinity(0))
    stats_line, jbytes = None, []
    status = 0
    try:
        for r in range(a.rounds):
            order = ("off", "full") if r % 2 == 0 else ("full", "off")
            for mode in order:
                jdir = os.path.join(base, f"j{r}") if mode == "full" else None
                rc, out, err = run_once(a.ava, bench_args, jdir)
                if rc != 0:
                    print(f"round {r + 1}, journal {mode}: run failed ({rc})"
                          f":\n{err}")
                    status = 1
                    continue
                results[mode].append(parse(out))
                if jdir:
                    jbytes.append(tree_bytes(jdir))
                    m = re.search(r"journal stats: (.*)", err)
                    stats_line = m.group(1) if m else stats_line
                    shutil.rmtree(jdir, ignore_errors=True)
            for mode in order:
                jdir = os.path.join(base, f"p{r}") if mode == "full" else None
                rc, out, err = run_once(a.ava, pin_args, jdir, cpu)
                if rc != 0:
                    print(f"round {r + 1}, one CPU, journal {mode}: run "
                          f"failed ({rc}):\n{err}")
                    status = 1
                    continue
                pinned[mode].append(parse(out))
                if jdir:
                    shutil.rmtree(jdir, ignore_errors=True)
            print(f"round {r + 1}/{a.rounds} done; load average {load()}")
    finally:
        if a.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    if not results["off"] or not results["full"]:
        return 1
    print(f"load average after: {load()}")
    keys = sorted(set(results["off"][0]) & set(results["full"][0]),
                  key=lambda k: ({"launch": 0, "write": 1, "read": 2}[k[0]],
                                 k[1]))
    rows = [("figure (median of rounds)", "unjournaled", "range",
             "journal full", "range", "time ratio")]
    table = [(k, results, "") for k in keys]
    if pinned["off"] and pinned["full"]:
        table.insert(1, (("launch", 0), pinned, ", one CPU"))
    for k, res_set, label in table:
        off = [res[k] for res in res_set["off"] if k in res]
        full = [res[k] for res in res_set["full"] if k in res]
        mo, mf = statistics.median(off), statistics.median(full)
        # Time ratio journaled/unjournaled: ns per launch directly, the
        # inverse for throughput.
        ratio = mf / mo if k[0] == "launch" else mo / mf
        name = (f"kernel launch (SetKernelArg+NDRange){label}"
                if k[0] == "launch" else f"{k[0]} {k[1] >> 20} MiB")
        span = lambda v: f"{fmt_time(k, min(v))}..{fmt_time(k, max(v))}"  # noqa
        rows.append((name, fmt_time(k, mo), span(off), fmt_time(k, mf),
                     span(full), f"{ratio:.2f}x"))
    w = [max(len(r[i]) for r in rows) for i in range(6)]
    for i, r in enumerate(rows):
        print(f"{r[0]:<{w[0]}}  " + "  ".join(
            f"{r[j]:>{w[j]}}" for j in range(1, 6)))
        if i == 0:
            print("-" * (sum(w) + 10))
    print(f"(goal: time ratio <= 1.10; ranges are min..max over "
          f"{a.rounds} rounds)")
    if jbytes:
        print(f"journal size per run: {statistics.median(jbytes) / 1e6:.1f} "
              f"MB (median)")
    if stats_line:
        print(f"last journaled run's writer: {stats_line}")
    return status


if __name__ == "__main__":
    sys.exit(main())
