#!/usr/bin/python3
"""queued.py - which clSetKernelArg calls the guest queues
(guest/opencl-async.c), read from the journal of a real run.

Usage: queued.py --ava AVA --prog ITEST_ASYNC

Runs PROG through `AVA run --journal`, then replays the guest's rule over
the journal's calls: a clSetKernelArg may be queued when the kernel itself,
or another kernel of the same function (clCreateKernel by the same name
from the same build of the same program; a clone shares its source's),
took a value of the same size and kind in one of the last two kinds it
took. The kernel's own record learns from every call that succeeded,
queued or not; the function's, only from calls that ran at once. The
journal must say "async" exactly where the rule says so: a call the guest
could have queued and did not costs a round trip, and one it queued
without knowing would hide its error.

The program must make no failing clSetKernelArg (itest-async makes none).

Exit status: 0 pass, 1 a check failed, 99 the set-up failed.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile


def kind(value):
    """The kind of an argument's value as the journal prints it."""
    if value is None or value == "NULL":
        return "local"
    if isinstance(value, str) and value.startswith("<"):
        return "bytes"
    # a handle: its type's name without the number (mem6 -> mem)
    return "object:" + str(value).rstrip("0123456789")


def learn(window, what):
    """Newest first, two kinds; True if what was new."""
    if what in window:
        return False
    window.insert(0, what)
    del window[2:]
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava", required=True)
    ap.add_argument("--prog", required=True)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="ava-queued-")
    try:
        p = subprocess.run([a.ava, "run", "--journal", d, "--", a.prog],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        if p.returncode != 0:
            print(f"{a.prog} through ava: exit {p.returncode}: {p.stderr}")
            return 99
        p = subprocess.run([a.ava, "journal", "dump", d, "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        if p.returncode != 0:
            print(f"ava journal dump: exit {p.returncode}: {p.stderr}")
            return 99
        calls = [json.loads(line) for line in p.stdout.splitlines()
                 if line.startswith("{")]
    finally:
        shutil.rmtree(d, ignore_errors=True)

    builds = {}      # program -> builds so far
    function = {}    # kernel -> (program, build, name), or None
    own = {}         # kernel -> {index: window}
    shared = {}      # function -> {index: window}
    wrong, queued, sent = [], 0, 0
    for c in calls:
        fn, args = c["fn"], c.get("args", {})
        if fn in ("clBuildProgram", "clCompileProgram") and c["ret"] == 0:
            builds[args["program"]] = builds.get(args["program"], 0) + 1
        elif fn == "clCreateKernel" and c["ret"] != 0:
            prog = args["program"]
            function[c["ret_name"]] = (prog, builds.get(prog, 0),
                                       args["kernel_name"])
            own[c["ret_name"]] = {}
        elif fn == "clCloneKernel" and c["ret"] != 0:
            src = args["source_kernel"]
            function[c["ret_name"]] = function.get(src)
            own[c["ret_name"]] = {i: list(w) for i, w in
                                  own.get(src, {}).items()}
        elif fn == "clSetKernelArg":
            k, i = args["kernel"], args["arg_index"]
            what = (args["arg_size"], kind(args.get("arg_value")))
            mine = own.setdefault(k, {}).setdefault(i, [])
            f = function.get(k)
            theirs = shared.setdefault(f, {}).setdefault(i, []) if f else []
            expect = what in mine or what in theirs
            if c["ret"] != 0:
                print(f"seq {c['seq']}: clSetKernelArg failed; this check "
                      f"needs a program whose calls all succeed")
                return 99
            if c["async"] != expect:
                wrong.append(f"seq {c['seq']}: {k} argument {i} "
                             f"{what}: async {c['async']}, the rule says "
                             f"{expect}")
            queued += c["async"]
            sent += not c["async"]
            learn(mine, what)
            if f and not c["async"]:
                learn(theirs, what)
    print(f"clSetKernelArg: {queued} queued, {sent} sent at once; "
          f"{len(wrong)} not as the rule says")
    for w in wrong[:10]:
        print("  " + w)
    ok = not wrong and queued > 0
    print(f"check queued as the rule says: {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
