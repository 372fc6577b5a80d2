#!/usr/bin/python3
"""calls.py - where a short program's extra time through ava goes, call
by call: the program runs natively and through `ava run`, in turn, with
calltime.c's library preloaded, and the medians of each OpenCL call's
time (summed per run) are printed side by side (doc/performance.md,
"Where a short program's time goes").

Usage: calls.py --ava AVA --shim LIB [--runs R] [--also NAME=AVA2]...
                [--journal] [--all] PROGRAM [ARG...]

  --ava AVA      the ava command (build/tools/ava)
  --shim LIB     calltime.c's library (build/tests/bench/libava-calltime.so)
  --runs R       runs of each (default 15), the order reversed every other
                 round so that both share the machine's noise
  --also N=AVA2  one more column: the program through AVA2's `ava run`
                 (another build, for a before/after comparison)
  --journal      for each ava column, one more, NAME+j: the same with
                 `--journal DIR`, DIR fresh for every run and removed after
  --all          every row, not only those that differ by 0.05 ms or more

Rows: "(to load)" is from the moment calls.py starts the command to the
moment the preloaded library is loaded in the program (for ava, `ava
run`'s start); a call's row is its time summed over the run, "big" for
transfers of 1 MiB or more; "(own code)" is the program's time between
its calls; "(after exit)" from the program's exit to the command's end
(for ava, the private server's stop). The library is put into the
program only (through env(1) in both columns), never into ava's
server. The runs are freed of MALLOC_PERTURB_ and of any server set in
the environment (rounds.py).

Timing never fails: exit 0 once every run logged its calls, 1 if a run
failed or logged nothing.
"""
import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from rounds import add_program_args, check_program_args, clean_env

BIG = 1 << 20
MIN_DIFF_MS = 0.05


def parse_log(path, t0, t1):
    """Per-row sums in ms for one run, in the order rows first appear."""
    rows = collections.OrderedDict()
    loaded = ended = None
    in_calls = 0.0
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                raise ValueError(f"bad log line: {line!r}")
            start, dur, name, size = (float(parts[0]), float(parts[1]),
                                      parts[2], int(parts[3]))
            if name == "(loaded)":
                loaded = start
                rows["(to load)"] = start - t0
                continue
            if name == "(exit)":
                ended = start
                continue
            key = name + (" big" if size >= BIG else "")
            rows[key] = rows.get(key, 0.0) + dur
            in_calls += dur
    if loaded is None or ended is None:
        raise ValueError("the log has no (loaded) or (exit) line")
    if len(rows) == 1:
        raise ValueError("no OpenCL call was timed (not one of those "
                         "calltime.c wraps, or the library exports none)")
    rows["(own code)"] = ended - loaded - in_calls
    rows["(after exit)"] = t1 - ended
    rows["(total)"] = t1 - t0
    return rows


def run_once(cmd, log, jdir):
    if os.path.exists(log):
        os.unlink(log)
    if jdir is not None:
        i = cmd.index("run") + 1
        cmd = cmd[:i] + ["--journal", jdir] + cmd[i:]
    env = dict(clean_env(), AVA_CALLTIME_LOG=log)
    t0 = time.monotonic() * 1e3
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    t1 = time.monotonic() * 1e3
    if jdir is not None:
        shutil.rmtree(jdir, ignore_errors=True)
    if p.returncode != 0:
        said = p.stderr.strip()[-300:]
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}" +
                           (f": {said}" if said else ""))
    return parse_log(log, t0, t1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ava", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--also", action="append", default=[])
    ap.add_argument("--journal", action="store_true")
    ap.add_argument("--all", action="store_true")
    add_program_args(ap, 15)
    a = ap.parse_args()
    check_program_args(ap, a)
    shim = os.path.abspath(a.shim)
    if not os.path.isfile(shim):
        print(f"calls.py: {shim}: no such library", file=sys.stderr)
        return 1
    prog = ["env", f"LD_PRELOAD={shim}"] + a.program
    modes = collections.OrderedDict(native=prog)
    modes["ava"] = [a.ava, "run", "--"] + prog
    for spec in a.also:
        name, sep, ava2 = spec.partition("=")
        if not sep or not name or name in modes:
            ap.error(f"--also {spec}: NAME=AVA, NAME new")
        modes[name] = [ava2, "run", "--"] + prog
    journaled = set()
    if a.journal:
        for m in [m for m in modes if m != "native"]:
            modes[m + "+j"] = modes[m]
            journaled.add(m + "+j")
    res = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="ava-calls-") as tmp:
        for i in range(a.runs):
            order = list(modes) if i % 2 == 0 else list(reversed(modes))
            for m in order:
                try:
                    jdir = (os.path.join(tmp, "journal")
                            if m in journaled else None)
                    res[m].append(run_once(modes[m],
                                           os.path.join(tmp, m + ".log"),
                                           jdir))
                except (RuntimeError, ValueError, OSError) as e:
                    print(f"calls.py: {m}: {e}", file=sys.stderr)
                    return 1
            print(f"\rrun {i + 1}/{a.runs}", end="", file=sys.stderr,
                  flush=True)
    print(file=sys.stderr)

    keys = []
    for m in modes:
        for r in res[m]:
            for k in r:
                if k not in keys:
                    keys.append(k)
    for k in ("(own code)", "(after exit)", "(total)"):
        keys.remove(k)
        keys.append(k)
    med = {m: {k: statistics.median(r.get(k, 0.0) for r in res[m])
               for k in keys} for m in modes}
    names = list(modes)
    print(f"{os.path.basename(a.program[0])}: median ms of {a.runs} runs "
          f"each, interleaved")
    print(f"{'':30s}" + "".join(f"{m:>10s}" for m in names) +
          "".join(f"{m + '-nat':>10s}" for m in names[1:]))
    hidden = 0
    for k in keys:
        row = [med[m][k] for m in names]
        diffs = [v - row[0] for v in row[1:]]
        if (not a.all and not k.startswith("(") and
                all(abs(d) < MIN_DIFF_MS for d in diffs)):
            hidden += 1
            continue
        print(f"{k:30s}" + "".join(f"{v:10.3f}" for v in row) +
              "".join(f"{d:+10.3f}" for d in diffs))
    tot = med["native"]["(total)"]
    print(f"{'ratio to native':30s}{'':10s}" +
          "".join(f"{med[m]['(total)'] / tot:9.3f}x" for m in names[1:]))
    if hidden:
        print(f"({hidden} calls within {MIN_DIFF_MS} ms of native not "
              f"shown; --all shows them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
