#!/usr/bin/python3
"""transports.py - the transports side by side: native, unix:, shm:, tcp:.

Usage: transports.py --ava AVA --idle IDLE [--iters N] [--max-mib M]
                     [--rounds R] [--idle-s S] BENCH

In one invocation, one after the other on the same machine:
  1. BENCH (bench.c) natively, then through `AVA run --transport unix`,
     `--transport shm` and `--transport tcp` (loopback): small-call round
     trip and write/read bandwidth; R rounds (default 3) of the four in
     turn (rounds.py), each figure the median of its rounds;
  2. the round trip again over each transport with the guest and its
     server pinned to one CPU;
  3. idle cost: IDLE (idle.c) natively and over each transport, idle
     between calls, then with a second thread blocked in a long call; the
     CPU time the guest process and the server's processes use in S
     seconds of that (the process CPU clocks, read from outside).
Prints one table. Timing never fails the test: exit 0 once everything
measured, 77 when ava is not built, 1 when a run failed or its data came
back wrong, 99 when the native run failed.
"""
import argparse
import os
import platform
import select
import subprocess
import sys
import time

from rounds import clean_env, interleaved

TRANSPORTS = ("unix", "shm", "tcp")


def run_env():
    return clean_env("AVA_TRANSPORT", "AVA_SHM_SPIN_US",
                     "AVA_SERVER_NO_URING")


def run(cmd, cpu=None):
    """Run cmd; with cpu, it and all its children run on that CPU alone."""
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=run_env(), timeout=550, preexec_fn=pin)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


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


def descendants(pid):
    """pid and every process below it."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_ns(pid):
    """The process's CPU time: its CPU clock (clock_getcpuclockid)."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2)
    except OSError:
        return None


def exe(pid):
    try:
        return os.path.realpath(f"/proc/{pid}/exe")
    except OSError:
        return ""


def idle_cost(cmd, guest_exe, seconds):
    """(guest ms, server ms) of CPU over `seconds` of idling, or None."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=run_env(),
                         start_new_session=True)
    try:
        if not select.select([p.stdout], [], [], 60)[0] or \
                p.stdout.readline().strip() != b"ready":
            return None
        procs = [x for x in descendants(p.pid) if x != p.pid]
        guest = [x for x in procs if exe(x) == guest_exe]
        server = [x for x in procs if x not in guest]
        before = {x: cpu_ns(x) for x in procs}
        time.sleep(seconds)
        used = {x: cpu_ns(x) - before[x] for x in procs
                if before[x] is not None and cpu_ns(x) is not None}
        p.stdin.write(b"go\n")
        p.stdin.flush()
        if p.wait(timeout=60) != 0:
            return None
        g = sum(used.get(x, 0) for x in guest) / 1e6
        s = sum(used.get(x, 0) for x in server) / 1e6
        return g, (s if server else None)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def fmt_us(ns):
    return f"{ns / 1000:.2f} us" if ns is not None else "-"


def fmt_gbps(mbps):
    return f"{mbps / 1000:.2f} GB/s" if mbps is not None else "-"


def fmt_ms(ms):
    return f"{ms:.1f} ms" if ms is not None else "-"


def print_table(rows):
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join([f"{r[0]:<{w[0]}}"] +
                        [f"{c:>{w[j + 1]}}" for j, c in enumerate(r[1:])]))
        if i == 0:
            print("-" * (sum(w) + 2 * (len(w) - 1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava")
    ap.add_argument("--idle", required=True)
    ap.add_argument("--iters", default="20000")
    ap.add_argument("--max-mib", default="256")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle-s", type=float, default=2.0)
    ap.add_argument("bench")
    a = ap.parse_args()
    try:
        load = f"{os.getloadavg()[0]:.2f}"
    except OSError:
        load = "?"
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; load average before: {load}")
    args = [a.bench, "--iters", a.iters, "--max-mib", a.max_mib]
    status = 0
    if a.ava is None:
        print("ava is not built: native figures only", file=sys.stderr)
        status = 77
    names = ["native"] + (list(TRANSPORTS) if a.ava else [])

    def run_one(name):
        via = ([] if name == "native"
               else [a.ava, "run", "--transport", name, "--"])
        rc, out, err = run(via + args)
        if rc != 0:
            print(f"run over {name}: failed ({rc}):\n{err}")
            return None
        return parse(out)

    def progress(r, n):
        print(f"round {r}/{n} done", file=sys.stderr)

    res, failed = interleaved(names, max(1, a.rounds), run_one, progress)
    if "native" in failed:
        return 99
    if failed:
        status = 1
    pinned, idle = {}, {}
    guest_exe = os.path.realpath(a.idle)
    kinds = ("between", "call")
    idle["native"] = [idle_cost([a.idle, k], guest_exe, a.idle_s)
                      for k in kinds]
    for t in TRANSPORTS if a.ava else ():
        via = [a.ava, "run", "--transport", t, "--"]
        cpu = min(os.sched_getaffinity(0))
        rc, out, err = run(via + [a.bench, "--iters", a.iters,
                                  "--max-mib", "0"], cpu=cpu)
        if rc != 0:
            print(f"pinned run over {t}: failed ({rc}):\n{err}")
            status = 1
        pinned[t] = parse(out)
        idle[t] = [idle_cost(via + [a.idle, k], guest_exe, a.idle_s)
                   for k in kinds]
        if None in idle[t]:
            print(f"idle run over {t}: failed")
            status = 1
    try:
        load = f"{os.getloadavg()[0]:.2f}"
    except OSError:
        load = "?"
    print(f"load average after: {load}")
    print(f"(round trip and bandwidth: the median of {max(1, a.rounds)} "
          f"rounds of the four configurations in turn)")
    cols = ["native"] + [t for t in TRANSPORTS if t in res]
    rows = [["figure"] + cols + (["shm/native"] if "shm" in res else [])]
    for k in ("p50", "p99", "mean"):
        rows.append([f"clGetDeviceInfo round trip {k}"] +
                    [fmt_us(res[c].get(("latency", k))) for c in cols] +
                    (["-"] if "shm" in res else []))
    for k in ("p50", "p99"):
        rows.append([f"  same, one CPU {k}", "-"] +
                    [fmt_us(pinned.get(t, {}).get(("latency", k)))
                     for t in cols[1:]] + (["-"] if "shm" in res else []))
    for op in ("write", "read"):
        for size in sorted(s for (o, s) in res["native"] if o == op):
            n = res["native"][(op, size)]
            vals = [res[c].get((op, size)) for c in cols]
            shm = res.get("shm", {}).get((op, size))
            rows.append([f"{op} {size >> 20} MiB (blocking)"] +
                        [fmt_gbps(v) for v in vals] +
                        ([f"{shm / n:.2f}" if shm else "-"]
                         if "shm" in res else []))
    for j, kind in enumerate(("between calls", "in a long call")):
        for who, i in (("guest", 0), ("server", 1)):
            rows.append([f"idle {kind} {a.idle_s:g} s: {who} CPU"] +
                        [fmt_ms(idle[c][j][i]) if idle[c][j] else "-"
                         for c in cols] + (["-"] if "shm" in res else []))
    print_table(rows)
    return status


if __name__ == "__main__":
    sys.exit(main())
