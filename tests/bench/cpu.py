#!/usr/bin/python3
"""cpu.py - where a short program's CPU goes, thread by thread: the
program runs natively, through `ava run`, and (with --journal) through
`ava run --journal`, in turn, and the medians of each kind of thread's CPU
time are printed side by side (doc/performance.md, "CPU by thread").

Usage: cpu.py --ava AVA [--runs R] [--journal] PROGRAM [ARG...]

On a machine with two CPUs, a remoted call's cost is not only the time the
program waits: the server's threads (the one that serves the calls, the
journal's, io_uring's workers, the vendor's) take CPU that the program's
own threads would otherwise have. calls.py shows the first; this shows
the second.

Every thread of the run's process tree is sampled from
/proc/PID/task/TID/schedstat (its time on a CPU, in ns) every 5 ms, and
its last sample counts. The whole tree's CPU comes from wait4(), exact: a
row "(not sampled ...)" holds what the samples missed, the last 5 ms or
less of each thread that exited between two of them. Threads are grouped by their process's place in the tree
(the program; `ava run`; the server; its workers) and by their name, as
ava names its own threads (ava-serve, ava-journal, ...; io_uring's
workers are iou-wrk-N). The vendor library's threads in a worker take the
name of the thread that loaded it.

The figures are CPU, not wall time: a busy VM's steal shows in them, so
compare the columns of one run of this script, not figures from two.
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interleave import subreaper  # noqa: E402
from rounds import (add_program_args, check_program_args,  # noqa: E402
                    clean_env, interleaved)

PERIOD = 0.005


def read(path):
    with open(path) as f:
        return f.read()


class Tree:
    """The processes under root, found as they appear, and the last CPU
    time seen of each of their threads. A process's place is read again
    at every sample, from its name then: a child `ava run` forks is named
    ava until it execs the program."""

    def __init__(self, root):
        self.parent = {root: None}  # pid -> its parent's pid; in the
        self.outside = set()        # order found, so parents come first
        self.where = {}             # pid -> its place when last read
        self.seen = {}              # (pid, tid) -> (place, kind, ns)

    def find_new(self):
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            pid = int(d)
            if pid in self.parent or pid in self.outside:
                continue
            try:
                s = read(f"/proc/{d}/stat")
            except OSError:
                continue
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            if ppid in self.parent:
                self.parent[pid] = ppid
            else:
                self.outside.add(pid)

    def sample(self):
        self.find_new()
        for pid, ppid in list(self.parent.items()):
            try:
                proc = read(f"/proc/{pid}/comm").strip()
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            # A parent that exited keeps the place it had.
            self.where[pid] = place(proc, self.where.get(ppid))
            for t in tids:
                base = f"/proc/{pid}/task/{t}"
                try:
                    name = read(base + "/comm").strip()
                    ns = int(read(base + "/schedstat").split()[0])
                except (OSError, ValueError, IndexError):
                    continue
                self.seen[(pid, int(t))] = (
                    self.where[pid], thread_kind(name, proc, pid == int(t)),
                    ns)


def place(comm, parent):
    """A process's place in the tree, from its name and its parent's
    place (None for the root)."""
    if comm != "ava":
        return "program"
    if parent is None:
        return "ava run"
    if parent == "ava run":
        return "ava server"
    return "ava worker"


def thread_kind(name, proc, main):
    """main thread; a name of its own (a trailing -N dropped); or, for a
    thread named as its process is, other threads."""
    if main:
        return "main thread"
    if name == proc:
        return "other threads"
    return re.sub(r"-\d+$", "", name)


def reap_all():
    """CPU seconds of every child reaped now: a worker that outlives
    `ava run` comes here (subreaper), with what it waited for."""
    secs = 0.0
    while True:
        try:
            _, _, ru = os.wait4(-1, 0)
        except ChildProcessError:
            return secs
        secs += ru.ru_utime + ru.ru_stime


def run_once(cmd, jdir):
    if jdir is not None:
        shutil.rmtree(jdir, ignore_errors=True)
    with tempfile.TemporaryFile("w+") as said:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, env=clean_env(), stdout=subprocess.DEVNULL,
                             stderr=said)
        tree = Tree(p.pid)
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            tree.sample()
            time.sleep(PERIOD)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        said.seek(0)
        err = said.read()
    total = (ru.ru_utime + ru.ru_stime + reap_all()) * 1e3
    if jdir is not None:
        shutil.rmtree(jdir, ignore_errors=True)
    if p.returncode != 0:
        print(f"cpu.py: {' '.join(cmd)}: exit {p.returncode}: "
              f"{err.strip()[-300:]}", file=sys.stderr)
        return None
    out = collections.Counter()
    for role, kind, ns in tree.seen.values():
        out[f"{role}: {kind}"] += ns / 1e6
    sampled = sum(out.values())
    out["(not sampled: ends of exited threads)"] = max(
        0.0, total - sampled)
    out["(total CPU)"] = max(total, sampled)
    out["(wall)"] = wall * 1e3
    return dict(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ava", required=True)
    ap.add_argument("--journal", action="store_true")
    add_program_args(ap, 7)
    a = ap.parse_args()
    check_program_args(ap, a)
    if shutil.which(a.program[0]) is None:
        print(f"cpu.py: {a.program[0]}: no such program", file=sys.stderr)
        return 1
    if not os.access(a.ava, os.X_OK):
        print(f"cpu.py: {a.ava}: not an executable", file=sys.stderr)
        return 1
    if not os.path.exists("/proc/self/task/%d/schedstat" % os.getpid()):
        print("cpu.py: this kernel has no schedstat files", file=sys.stderr)
        return 77
    if not subreaper():
        print("cpu.py: cannot become a subreaper; a worker that outlives "
              "`ava run` is not counted to its end", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="ava-cpu-")
    jdir = os.path.join(tmp, "journal")
    modes = collections.OrderedDict(native=(a.program, None))
    modes["ava"] = ([a.ava, "run", "--"] + a.program, None)
    if a.journal:
        modes["ava+j"] = ([a.ava, "run", "--journal", jdir, "--"] +
                          a.program, jdir)
    try:
        med, failed = interleaved(
            list(modes), a.runs, lambda m: run_once(*modes[m]),
            lambda r, n: print(f"\rround {r}/{n}", end="", file=sys.stderr,
                               flush=True))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(file=sys.stderr)
    if failed:
        return 1
    names = list(modes)
    keys = sorted({k for m in names for k in med[m]},
                  key=lambda k: (k.startswith("("), k))
    print(f"{os.path.basename(a.program[0])}: median CPU ms of {a.runs} "
          f"runs each, by thread, interleaved")
    print(f"{'':40s}" + "".join(f"{m:>10s}" for m in names))
    for k in keys:
        print(f"{k:40s}" + "".join(
            f"{med[m].get(k, 0.0):10.2f}" for m in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
