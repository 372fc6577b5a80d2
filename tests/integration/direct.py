#!/usr/bin/python3
"""direct.py - over shm:, large writes into an idle queue's buffer go
straight into the buffer's storage in the shared heap (doc/protocol.md,
"Shared buffers"): the server never writes their bytes itself.

Usage: direct.py --ava AVA --shim LIBWRITELOG --prog PROGRAM
                 [--journal [--also PROGRAM2]...]

The program (itest-vecadd) runs natively, then through `ava run`, with
writelog.c's library preloaded into both it and ava's server, which logs
each clEnqueueWriteBuffer as "COMM SIZE BLOCKING EVENT" (and each
clCreateBuffer with CL_MEM_COPY_HOST_PTR as "COMM SIZE create 0"). Checks:

1. The transcript through ava is the native one.
2. The server made no write of AVA_CL_SHARED_MIN bytes or more: the
   program's large writes, blocking and not, all went into the heap.
   (A non-blocking one goes there only if its queue answers idle at
   once; the run is made up to ATTEMPTS times for it, below.)
3. For each large non-blocking write whose event the program asked for,
   the server made a one-byte non-blocking write with an event: the
   write's event is a real write's.

With --journal, the run through ava is journaled (`--journal DIR`), and
the heap's transfers are recorded as the plain calls (doc/journal.md,
"Transfers through the shared heap"). Also:

4. The journal has a clEnqueueWriteBuffer of each large write's size for
   each large write of the program, a clCreateBuffer with
   CL_MEM_COPY_HOST_PTR and its bytes for each large one of the program,
   and no call of ava's own heap (HEAP_CALLS: the acquires, the release,
   the stages) at all; its calls are numbered 1..N without a gap.
5. `ava replay` of the journal gives every result as recorded: the large
   reads' bytes (digests) and what the kernels computed from the large
   writes' bytes.

Each --also PROGRAM2 runs journaled too, and must give native's
transcript and pass 4 and 5: itest-async (large writes staged in the
heap behind user events, recorded as the plain writes with their wait
lists and events; writes whose wait list the call refuses, sent as
plain calls in the refusals' places, some of them queued), itest-reduce
(large buffers made with their contents, staged, recorded as the plain
creations).

Exit status: 0 pass, 1 a check failed, 99 the set-up failed.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import checks
from checks import check

SHARED_MIN = 256 * 1024   # AVA_CL_SHARED_MIN, runtime/opencl-ava-calls.h
# A non-blocking write goes straight into the buffer only if the queue
# answers idle at once (runtime/opencl-calls.c, queue_idle()); on a loaded
# machine the driver's worker may not have seen the marker in time, and
# the write is staged, as it should be. The run is made again then, up to
# ATTEMPTS times: one that never goes straight in still fails.
ATTEMPTS = 3
# ava's own calls of the shared heap (spec/opencl.spec)
HEAP_CALLS = {"avaclAcquireBuffer", "avaclReleaseBuffer", "avaclAcquireIdle",
              "avaclStageBytes", "avaclEnqueueWriteStaged",
              "avaclCreateBufferStaged"}


def run(cmd, shim, log):
    """cmd's stdout, its writes (COMM, SIZE, BLOCKING, EVENT) and its
    creations with CL_MEM_COPY_HOST_PTR (COMM, SIZE), as logged."""
    env = dict(os.environ)
    for k in ("OCL_ICD_VENDORS", "OCL_ICD_FILENAMES", "AVA_SERVER",
              "MALLOC_PERTURB_"):
        env.pop(k, None)
    env.update({"LD_PRELOAD": shim, "AVA_TEST_WRITE_LOG": log})
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=120)
    if p.returncode != 0:
        print(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr.decode()}")
        sys.exit(99)
    with open(log) as f:
        lines = [line.split() for line in f]
    if any(len(w) != 4 for w in lines):
        print(f"{log}: a line is not 'COMM SIZE BLOCKING EVENT'")
        sys.exit(99)
    return (p.stdout.decode(),
            [(w[0], int(w[1]), w[2] == "1", w[3] == "1")
             for w in lines if w[2] != "create"],
            [(w[0], int(w[1])) for w in lines if w[2] == "create"])


def arg(call, name):
    """The value of argument name in a dump line's call text."""
    return call.split(f"{name}=")[1].split(",")[0].split(")")[0]


def check_journal(ava, jdir, prog, creates):
    dump = subprocess.run([ava, "journal", "dump", jdir],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120)
    if dump.returncode != 0:
        print(f"ava journal dump: exit {dump.returncode}\n"
              f"{dump.stderr.decode()}")
        sys.exit(99)
    calls = [line.split(None, 2) for line in dump.stdout.decode().splitlines()
             if line.startswith("#")]
    seqs = [int(c[0][1:]) for c in calls]
    check("the journal's calls are numbered 1..N without a gap",
          seqs == list(range(1, len(seqs) + 1)),
          f"numbers: {seqs[:5]}... ({len(seqs)} calls)")
    own = [c[2].split("(")[0] for c in calls
           if c[2].split("(")[0] in HEAP_CALLS]
    check("no call of ava's own heap is in the journal", not own,
          f"calls: {', '.join(own)}")
    want = sorted(size for _, size, _, _ in prog if size >= SHARED_MIN)
    got = sorted(int(arg(c[2], "size")) for c in calls
                 if c[2].startswith("clEnqueueWriteBuffer(") and
                 int(arg(c[2], "size")) >= SHARED_MIN)
    check("a large clEnqueueWriteBuffer in the journal for each of the "
          "program's", got == want, f"program: {want}, journal: {got}")
    want = sorted(size for _, size in creates if size >= SHARED_MIN)
    got = sorted(int(arg(c[2], "size")) for c in calls
                 if c[2].startswith("clCreateBuffer(") and
                 "CL_MEM_COPY_HOST_PTR" in arg(c[2], "flags") and
                 f"({arg(c[2], 'size')} B" in arg(c[2], "host_ptr") and
                 int(arg(c[2], "size")) >= SHARED_MIN)
    check("a large clCreateBuffer with its bytes in the journal for each of "
          "the program's", got == want, f"program: {want}, journal: {got}")
    rep = subprocess.run([ava, "replay", jdir], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=300)
    text = rep.stdout.decode()
    check("the journal replays with every result as recorded",
          rep.returncode == 0 and "every result as recorded" in text,
          f"ava replay: exit {rep.returncode}\n{text}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--prog", required=True)
    ap.add_argument("--journal", action="store_true")
    ap.add_argument("--also", action="append", default=[])
    a = ap.parse_args()
    # /proc/PID/comm: the name, cut at 15 bytes
    comm = os.path.basename(a.prog)[:15]
    with tempfile.TemporaryDirectory() as tmp:
        native, _, _ = run([a.prog], a.shim,
                           os.path.join(tmp, "native.log"))
        for attempt in range(1, ATTEMPTS + 1):
            jdir = os.path.join(tmp, f"journal-{attempt}")
            out, writes, creates = run(
                [a.ava, "run"] + (["--journal", jdir] if a.journal else []) +
                ["--", a.prog], a.shim,
                os.path.join(tmp, f"ava-{attempt}.log"))
            staged = [w for w in writes if w[0] != comm and
                      w[1] >= SHARED_MIN and not w[2]]
            if not staged or attempt == ATTEMPTS:
                break
            print(f"attempt {attempt}: a large non-blocking write found "
                  "its queue busy and was staged; again")
        if a.journal:
            check_journal(a.ava, jdir, [w for w in writes if w[0] == comm],
                          [c for c in creates if c[0] == comm])
        for k, other in enumerate(a.also):
            want, _, _ = run([other], a.shim,
                             os.path.join(tmp, f"also{k}-native.log"))
            jd = os.path.join(tmp, f"journal{k}")
            got, also, made = run([a.ava, "run", "--journal", jd, "--",
                                   other], a.shim,
                                  os.path.join(tmp, f"also{k}-ava.log"))
            name = os.path.basename(other)
            check(f"{name}'s transcript, journaled, is native's",
                  got == want, f"native:\n{want}\nava:\n{got}")
            mine = name[:15]
            check_journal(a.ava, jd, [w for w in also if w[0] == mine],
                          [c for c in made if c[0] == mine])
    prog = [w for w in writes if w[0] == comm]
    server = [w for w in writes if w[0] != comm]
    big_nb_events = sum(1 for _, size, blocking, ev in prog
                        if size >= SHARED_MIN and not blocking and ev)
    if big_nb_events == 0 or not server:
        print(f"set-up: {a.prog} made no large non-blocking write with an "
              "event, or the server logged no write at all")
        sys.exit(99)
    check("transcript through ava is native's", out == native,
          f"native:\n{native}\nava:\n{out}")
    big = [w for w in server if w[1] >= SHARED_MIN]
    check("the server wrote no large write's bytes itself", not big,
          "server writes: " + ", ".join(f"{s} bytes" for _, s, _, _ in big))
    one = sum(1 for _, size, blocking, ev in server
              if size == 1 and not blocking and ev)
    check(f"a one-byte write for each of the {big_nb_events} large "
          "non-blocking writes with an event", one == big_nb_events,
          f"{one} one-byte writes")
    print(f"{len(prog)} writes by the program, {len(server)} by the server")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
