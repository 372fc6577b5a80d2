#!/usr/bin/python3
"""deferred.py - an async call's failure is not lost (doc/protocol.md,
"Deferred errors").

Usage: deferred.py --ava AVA --prog ITEST_DEFERRED

1. Under AVA_BATCH=all (queue without the guest's checks), deferred.c's
   failing calls return CL_SUCCESS; each thread's next synchronizing call
   (clFinish) returns that thread's own error, once; the query between
   does not; stderr has one line per failed call naming it and its
   error; the journal holds each as an async call with its error as
   deferred_error.
2. With batching as by default, the guest sees those calls would fail:
   it sends them at once, and they return their error themselves.
3. A queued call with no synchronizing call after it reaches the server
   by the batch timer alone: the journal holds it.

Exit status: 0 pass, 1 a check failed, 99 the set-up failed.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import checks
from checks import check

FAILED = re.compile(r"^ava: (\S+) \(queued, thread (\d+) call (\d+)\) "
                    r"failed with (\S+) \((-?\d+)\); the thread's next "
                    r"synchronizing call returns it$")


def run(cmd, env=None):
    e = dict(os.environ)
    for k in ("OCL_ICD_VENDORS", "OCL_ICD_FILENAMES", "AVA_SERVER",
              "AVA_BATCH"):
        e.pop(k, None)
    e.update(env or {})
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=e, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def journal(ava, d):
    rc, out, err = run([ava, "journal", "dump", d, "--json"])
    if rc != 0:
        print(f"ava journal dump: exit {rc}: {err}")
        sys.exit(99)
    return [json.loads(line) for line in out.splitlines()
            if line.startswith("{")]


def unchecked(ava, prog, tmp):
    d = os.path.join(tmp, "j1")
    rc, out, err = run([ava, "run", "--journal", d, "--", prog, "errors"],
                       {"AVA_BATCH": "all"})
    print(out, end="")
    # itest_build's own lines, from the second thread
    out = "".join(line for line in out.splitlines(True)
                  if not line.startswith(("clCreateProgramWithSource:",
                                          "clBuildProgram:",
                                          "build status:")))
    want = [
        "write to a non-buffer: CL_SUCCESS",
        "clGetDeviceInfo: CL_SUCCESS",
        "clFinish: CL_INVALID_MEM_OBJECT",
        "clFinish again: CL_SUCCESS",
        "other thread: clSetKernelArg(index 99): CL_SUCCESS",
        "other thread: clFinish: CL_INVALID_ARG_INDEX",
        "other thread: clFinish again: CL_SUCCESS",
        "main thread: clFinish: CL_SUCCESS",
    ]
    check("AVA_BATCH=all: each error returned once, by its own thread's "
          "next clFinish", rc == 0 and out.splitlines() == want,
          f"exit {rc}, stdout:\n{out}stderr:\n{err}")
    lines = [m.groups() for m in map(FAILED.match, err.splitlines()) if m]
    got = sorted((fn, name, int(code)) for fn, _, _, name, code in lines)
    check("one log line per failed queued call",
          got == [("clEnqueueWriteBuffer", "CL_INVALID_MEM_OBJECT", -38),
                  ("clSetKernelArg", "CL_INVALID_ARG_INDEX", -49)],
          f"stderr:\n{err}")
    calls = journal(ava, d)
    deferred = sorted((c["fn"], c["async"], c["deferred_error"])
                      for c in calls if c.get("deferred_error"))
    check("journal: the failed calls, async, with their deferred errors",
          deferred == [("clEnqueueWriteBuffer", True, -38),
                       ("clSetKernelArg", True, -49)], str(deferred))


def checked(ava, prog):
    rc, out, err = run([ava, "run", "--", prog, "errors"])
    print(out, end="")
    lines = out.splitlines()
    check("by default: the failing calls are sent and fail at once",
          rc == 0 and lines[:1] == ["write to a non-buffer: "
                                    "CL_INVALID_MEM_OBJECT"] and
          "other thread: clSetKernelArg(index 99): CL_INVALID_ARG_INDEX"
          in lines and "clFinish: CL_SUCCESS" in lines and
          "other thread: clFinish: CL_SUCCESS" in lines,
          f"exit {rc}, stdout:\n{out}stderr:\n{err}")
    check("by default: no deferred error logged",
          not any(map(FAILED.match, err.splitlines())), err)


def timer(ava, prog, tmp):
    d = os.path.join(tmp, "j2")
    rc, out, err = run([ava, "run", "--journal", d, "--", prog, "timer"])
    check("timer run", rc == 0 and out == "write: CL_SUCCESS\n",
          f"exit {rc}, stdout:\n{out}stderr:\n{err}")
    calls = journal(ava, d)
    writes = [c for c in calls if c["fn"] == "clEnqueueWriteBuffer"]
    check("a queued write with nothing after it reaches the server",
          len(writes) == 1 and writes[0]["async"] and
          writes[0]["ret_name"] == "CL_SUCCESS", str(writes))


def reuse(ava, prog):
    """An object's address taken by the next one: what the guest remembers
    of the old object there must not answer for the new."""
    rc, out, err = run([ava, "run", "--", prog, "reuse"])
    print(out, end="")
    lines = out.splitlines()
    tail = lines[-3:]
    if rc == 0 and tail[:1] == ["address reused: no"]:
        # ASan's quarantine, for one, never hands a freed block out at
        # once: the buffer check below then holds either way.
        print("note: this allocator never put a new object at a freed "
              "one's address; the guest's memory of lookups is not "
              "exercised here")
    else:
        check("reuse: the allocator put the buffer at the kernel's address",
              rc == 0 and tail[:1] == ["address reused: yes"],
              f"exit {rc}, stdout:\n{out}stderr:\n{err}")
    check("reuse: a new buffer at a released kernel's address is a buffer",
          rc == 0 and tail[1:] == ["buffer query: CL_SUCCESS, size 4096",
                                   "buffer write: CL_SUCCESS"],
          f"exit {rc}, stdout:\n{out}stderr:\n{err}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava", required=True)
    ap.add_argument("--prog", required=True)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ava-deferred-")
    try:
        unchecked(a.ava, a.prog, tmp)
        checked(a.ava, a.prog)
        timer(a.ava, a.prog, tmp)
        reuse(a.ava, a.prog)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
