#!/usr/bin/python3
"""e2e.py - whole programs end to end: native, through `ava run`, and
through `ava run` with the journal in full mode, in this same invocation.

Usage: e2e.py [--ava AVA] [--before AVA2] [--standing ICD] [--rounds N]
              [--short-reps K] [--dir D] [--breakdown] [--itest PROG]...
              E2E [E2E ARGS...]

E2E is tests/bench/e2e.c's program (a batch of tiled matrix products, about
2 s natively on a 2-CPU VM); each --itest PROG is a short integration
program (tests/integration). Three modes:

  native    the program alone
  ava       `AVA run -- PROG` (a private server, default transport shm:)
  journal   `AVA run --journal DIR --journal-mode full -- PROG` (default
            --sync batch; DIR is fresh for every run and removed after)

With --breakdown, the short programs also run as `AVA run --transport unix`
("ava unix") and with AVA_BATCH=0 ("ava no batch"), which shows where their
extra time goes. With --before AVA2 (another build's `ava`, say the
previous commit's), the short programs also run as `AVA2 run --` ("ava
before"), interleaved with the rest, so that a change's before and after
share the machine's noise. With --standing ICD (the guest library's ICD
file, build/guest/ava.icd), one `AVA server --spare` is started for the
whole invocation, and the short programs also run as its guests ("ava
standing"): the program alone, with OCL_ICD_VENDORS=ICD and AVA_SERVER
set, as on a host whose operator runs the server, so neither `ava run`
nor the server's start is in their time, and their first call finds
PoCL loaded in the spare.

Every run is timed as a whole process, from spawning to exit, so ava's
start-up (forking its server, PoCL's initialisation in the server, the
guest's connection) and its end count. E2E runs N rounds (default 5) of
the three modes, their order rotated each round so that they share the
machine's noise; its own clock (set-up to exit, and the compute part
alone) is shown too. Each short program runs K times per mode (default
10), interleaved in the same way, and so do `true` (through `AVA run`:
`ava run`'s own start and stop) and E2E with --reps 0 (a minimal OpenCL
program: set-up and kernel build only). Two tables give the median and
the best run of each figure, with the ratios to native; the short
programs' rows are repeated with `ava run`'s own start and stop (`AVA run
-- true` less `true`, per mode) subtracted, labelled so. The extra time
of the minimal OpenCL program is printed as a second fixed cost.

Correctness is checked, timing never is: every run must exit 0, E2E's
checksum line must be the same in every run, and each short program's
stdout must be the same in every mode. Exit 0 once measured and checked,
1 when a run through ava failed or its output differed, 77 when ava is not
built (native figures are still printed), 99 when a native run failed.
"""
import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from rounds import clean_env

MODES = ("native", "ava", "journal")
# --breakdown: where a short program's extra time goes (doc/performance.md).
BREAKDOWN = ("ava unix", "ava no batch")
# --before: the same, through another build's `ava`.
BEFORE = ("ava before",)
# --standing: the program as the guest of a server already running.
STANDING = ("ava standing",)


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


class Runner:
    """Runs a command in one of the modes; journals go under base."""

    def __init__(self, ava, base, before=None):
        self.ava, self.base, self.seq = ava, base, 0
        self.before = before
        self.env = clean_env("AVA_TRANSPORT", "AVA_BATCH",
                             "AVA_JOURNAL_NO_URING")
        self.journal_bytes = []
        self.server = self.standing_env = None   # start_standing()

    def start_standing(self, icd):
        """`ava server --spare` on shm: under base, for "ava standing"."""
        sock = os.path.join(self.base, "standing.sock")
        self.standing_env = dict(self.env, OCL_ICD_VENDORS=icd,
                                 AVA_SERVER=f"shm:{sock}")
        self.server = subprocess.Popen(
            [self.ava, "server", "--spare", "--listen", f"shm:{sock}"],
            stdin=subprocess.DEVNULL, env=self.env)
        end = time.monotonic() + 30
        while not os.path.exists(sock):
            if self.server.poll() is not None or time.monotonic() > end:
                raise RuntimeError("the standing server did not start")
            time.sleep(0.01)

    def stop_standing(self):
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=30)
            self.server = None

    def wrap(self, mode, cmd):
        if mode in ("native", "ava standing"):
            return cmd, None
        if mode in ("ava", "ava no batch"):
            return [self.ava, "run", "--"] + cmd, None
        if mode == "ava before":
            return [self.before, "run", "--"] + cmd, None
        if mode == "ava unix":
            return [self.ava, "run", "--transport", "unix", "--"] + cmd, None
        self.seq += 1
        jdir = os.path.join(self.base, f"j{self.seq}")
        return ([self.ava, "run", "--journal", jdir, "--journal-mode",
                 "full", "--"] + cmd, jdir)

    def run(self, mode, cmd, keep_size=False):
        """(rc, stdout, stderr, seconds) of one run of cmd in mode."""
        full, jdir = self.wrap(mode, cmd)
        env = dict(self.env, AVA_BATCH="0") if mode == "ava no batch" \
            else self.standing_env if mode == "ava standing" else self.env
        t0 = time.perf_counter()
        try:
            p = subprocess.run(full, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, timeout=600)
            rc, out, err = p.returncode, p.stdout.decode(), p.stderr.decode()
        except (OSError, subprocess.TimeoutExpired) as e:
            rc, out, err = 127, "", str(e)
        dt = time.perf_counter() - t0
        if jdir:
            if keep_size and os.path.isdir(jdir):
                self.journal_bytes.append(tree_bytes(jdir))
            shutil.rmtree(jdir, ignore_errors=True)
        return rc, out, err, dt


def rotated(modes, r):
    k = r % len(modes)
    return modes[k:] + modes[:k]


def parse_e2e(out):
    """(checksum line, {key: int}) from e2e.c's two lines."""
    checksum, kv = None, {}
    for line in out.splitlines():
        f = line.split()
        if f[:1] == ["checksum"]:
            checksum = line
        elif f[:1] == ["e2e"]:
            kv = {k: int(v) for k, v in zip(f[1::2], f[2::2])}
    return checksum, kv


class Bench:
    def __init__(self, runner, modes):
        self.r, self.modes = runner, modes
        self.status = 0
        # (label, {mode: [seconds]}, names of the fixed costs to subtract)
        self.rows = []

    def fail(self, mode, what, rc, err):
        print(f"{what}, {mode}: failed ({rc}):\n{err.strip()[-2000:]}")
        self.status = max(self.status, 99 if mode == "native" else 1)

    def e2e(self, cmd, rounds):
        """The compute-bound program: N rounds of the modes, rotated."""
        name = os.path.basename(cmd[0])
        wall = {m: [] for m in self.modes}
        own = {m: [] for m in self.modes}
        comp = {m: [] for m in self.modes}
        sums, info = set(), {}
        modes = tuple(m for m in self.modes if m in MODES)
        for r in range(rounds):
            for mode in rotated(modes, r):
                rc, out, err, dt = self.r.run(mode, cmd, keep_size=True)
                checksum, info = parse_e2e(out)
                if rc != 0 or checksum is None or "compute_ns" not in info:
                    self.fail(mode, name, rc, err)
                    continue
                sums.add(checksum)
                wall[mode].append(dt)
                own[mode].append(info["wall_ns"] / 1e9)
                comp[mode].append(info["compute_ns"] / 1e9)
            print(f"{name}: round {r + 1}/{rounds} done; load average "
                  f"{load()}", flush=True)
        if len(sums) > 1:
            print(f"{name}: the checksum differs between runs: "
                  f"{sorted(sums)}")
            self.status = max(self.status, 1)
        elif sums:
            print(f"{name}: every run printed `{sums.pop()}`")
        label = (f"matmul n={info.get('n', '?')} x{info.get('reps', '?')}"
                 if info else name)
        self.rows.append((f"{label}, whole process", wall, ()))
        self.rows.append((f"{label}, program's own clock", own, ()))
        self.rows.append(("  its compute rounds alone", comp, ()))
        return wall

    def repeated(self, label, cmd, reps, check_output=True, adjust=()):
        """A short program, reps times per mode, interleaved."""
        wall = {m: [] for m in self.modes}
        ref = None
        for r in range(reps):
            for mode in rotated(self.modes, r):
                rc, out, err, dt = self.r.run(mode, cmd)
                if rc != 0:
                    self.fail(mode, label, rc, err)
                    continue
                wall[mode].append(dt)
                ref = out if ref is None else ref
                if check_output and out != ref:
                    print(f"{label}, {mode}: stdout differs from the "
                          f"first run's")
                    self.status = max(self.status, 1)
        self.rows.append((label, wall, adjust))
        return wall


def med(v):
    return statistics.median(v) if v else None


def best(v):
    return min(v) if v else None


STATS = (("median", med), ("best of runs", best))


def fmt_s(s):
    if s is None:
        return "-"
    return f"{s:.3f} s" if s >= 1 else f"{s * 1000:.1f} ms"


def fmt_ratio(a, n):
    return f"{a / n:.3f}x" if a is not None and n else "-"


def fixed_cost(wall, modes, stat):
    """{mode: stat of its runs less native's} of a row's runs."""
    base = stat(wall["native"]) or 0.0
    return {m: stat(wall[m]) - base for m in modes if wall[m]}


def table(bench, fixed, title, stat):
    """stat() of each row's runs, and the ratios to native; fixed is
    {name: (label, how, {mode: [seconds]})}, the rows whose excess over
    native is a fixed cost that other rows name in their adjust."""
    modes = bench.modes
    head = [f"figure ({title})"]
    for m in modes:
        head.append(m if m != "journal" else "journal full")
        if m != "native":
            head.append(f"{m}/native")
    rows = [head]
    for label, wall, adjust in bench.rows:
        meds = {m: stat(wall[m]) for m in modes}
        variants = [(label, meds)]
        for name in adjust:
            if name not in fixed:
                continue
            text, _, fwall = fixed[name]
            cost = fixed_cost(fwall, modes, stat)
            adj = {m: (meds[m] - cost.get(m, 0.0)
                       if meds[m] is not None else None) for m in modes}
            variants.append((f"  same, less {text}", adj))
        for name, vals in variants:
            row = [name]
            for m in modes:
                row.append(fmt_s(vals[m]))
                if m != "native":
                    row.append(fmt_ratio(vals[m], vals["native"]))
            rows.append(row)
    w = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for i, r in enumerate(rows):
        print(f"{r[0]:<{w[0]}}  " + "  ".join(
            f"{r[j]:>{w[j]}}" for j in range(1, len(r))))
        if i == 0:
            print("-" * (sum(w) + 2 * (len(w) - 1)))


def measure(a, bench):
    """Every run; returns the fixed costs for table() and matmul's runs."""
    # Untimed: fills PoCL's kernel cache, shared by every mode.
    rc, _, err, _ = bench.r.run("native", a.e2e)
    if rc != 0:
        bench.fail("native", "warm-up", rc, err)
        return {}, None
    wall = bench.e2e(a.e2e, a.rounds)
    fixed = {}
    if a.ava:
        st = bench.repeated("start-up: `true`", ["true"], a.short_reps,
                            check_output=False)
        fixed["true"] = ("ava run's start/stop",
                         "`ava run [--journal ...] -- true` less `true`",
                         st)
    setup = bench.repeated("matmul set-up only (--reps 0)",
                           a.e2e + ["--reps", "0"], a.short_reps,
                           check_output=False, adjust=("true",))
    if a.ava:
        # Reported, not subtracted: how much of it a given program pays
        # depends on what it does (doc/performance.md, "End to end").
        fixed["setup"] = ("of a minimal OpenCL program",
                          "matmul set-up only less native", setup)
    for prog in a.itest:
        bench.repeated(os.path.basename(prog), [prog], a.short_reps,
                       adjust=("true",))
    print(f"short programs: {a.short_reps} runs per mode; load average "
          f"{load()}", flush=True)
    return fixed, wall


def report(a, bench, fixed, wall):
    print(f"load average after: {load()}")
    print(f"(whole process: spawn to exit, as a user sees it; "
          f"{a.rounds} rounds for matmul, {a.short_reps} runs for the rest; "
          f"the median, then the best run, which a loaded machine disturbs "
          f"least)")
    for title, stat in STATS:
        table(bench, fixed, title, stat)
        print()
    if wall:
        print("matmul, whole process, each round: " + "; ".join(
            f"{m} " + " ".join(f"{s:.3f}" for s in wall[m])
            for m in bench.modes if wall[m]) + " (s)")
    for _, how, fwall in fixed.values():
        for title, stat in STATS:
            cost = fixed_cost(fwall, bench.modes, stat)
            print(f"fixed cost, {how}, {title}: " + ", ".join(
                f"{m} {fmt_s(s)}" for m, s in cost.items() if m != "native"))
    if bench.r.journal_bytes:
        print(f"journal size per matmul run: "
              f"{statistics.median(bench.r.journal_bytes) / 1e6:.1f} MB")
    print("(goals: ava/native <= 1.05, journal/native <= 1.10; timing "
          "never fails this test)")


def main():
    ap = argparse.ArgumentParser(usage=__doc__.split("\n\n")[1])
    ap.add_argument("--ava")
    ap.add_argument("--before")
    ap.add_argument("--standing")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--short-reps", type=int, default=10)
    ap.add_argument("--dir")
    ap.add_argument("--itest", action="append", default=[])
    ap.add_argument("--breakdown", action="store_true")
    ap.add_argument("e2e", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if not a.e2e:
        print(__doc__, file=sys.stderr)
        return 99
    modes = MODES if a.ava else ("native",)
    if a.ava and a.before:
        modes += BEFORE
    if a.ava and a.breakdown:
        modes += BREAKDOWN
    if a.ava and a.standing:
        modes += STANDING
    base = a.dir or tempfile.mkdtemp(prefix="ava-e2e-")
    bench = Bench(Runner(a.ava, base, a.before), modes)
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}; load average before: {load()}")
    print(f"modes: {', '.join(modes)}; journal DIRs under {base}")
    try:
        if a.ava and a.standing:
            bench.r.start_standing(os.path.abspath(a.standing))
        fixed, wall = measure(a, bench)
    finally:
        bench.r.stop_standing()
        if a.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    if wall is None:
        return bench.status
    report(a, bench, fixed, wall)
    if not a.ava:
        print("ava is not built: native figures only", file=sys.stderr)
        return bench.status or 77
    return bench.status

if __name__ == "__main__":
    sys.exit(main())
