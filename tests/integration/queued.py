#!/usr/bin/python3
"""queued.py - which clSetKernelArg and clEnqueueNDRangeKernel calls the
guest queues (guest/opencl-async.c), read from the journal of a real run.

Usage: queued.py --ava AVA --prog ITEST_ASYNC

Runs PROG through `AVA run --journal`, then replays the guest's rule over
the journal's calls: a clSetKernelArg may be queued when the kernel itself,
or another kernel of the same function (clCreateKernel by the same name
from the same build of the same program; a clone shares its source's),
took a value of the same size and kind in one of the last two kinds it
took. The kernel's own record learns from every call that succeeded,
queued or not; the function's, only from calls that ran at once. A launch
may be queued when the kernel launched that way (same
queue, sizes and offsets) since its arguments last took a new kind, or
another kernel of its function did, with the same arguments set, of the
same kinds; with an event out, the guest names the event. Creations
are queued (named) as doc/architecture.md says: clCreateKernel of a
function the same build already made a kernel of, clCloneKernel, and
clCreateBuffer without host memory, one access flag at most, no larger
than a plain buffer its context made. The journal must say "async"
exactly where the rule says so:
a call the guest could have queued and did not costs a round trip, and
one it queued without knowing would hide its error.

The program must make no failing clSetKernelArg or launch (itest-async
makes none).

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


SHAPES = 4   # launch shapes remembered per kernel, and per function
KARGS = 64   # arguments followed per kernel


class Kernel:
    """What the guest knows of one kernel."""

    def __init__(self):
        self.windows = {}    # index -> the last two kinds taken
        self.cur = {}        # index -> what it holds now
        self.shapes = [None] * SHAPES
        self.next = 0
        self.untracked = False   # an argument past the 64 followed

    def clone(self):
        k = Kernel()
        k.windows = {i: list(w) for i, w in self.windows.items()}
        k.cur = dict(self.cur)
        k.shapes = list(self.shapes)
        k.untracked = self.untracked
        return k

    def knows(self, i, what):
        return what in self.windows.get(i, [])

    def set_arg(self, i, what):
        if i >= KARGS:
            self.untracked = True
            return
        if learn(self.windows.setdefault(i, []), what):
            self.shapes = [None] * SHAPES   # a new kind: launch anew
        self.cur[i] = what

    def launched(self, shape):
        if shape not in self.shapes:
            self.shapes[self.next % SHAPES] = shape
            self.next += 1


class Function:
    """What the guest knows of one kernel function (one build)."""

    def __init__(self):
        self.windows = {}
        self.profiles = [None] * SHAPES
        self.next = 0

    def window(self, i):
        return self.windows.setdefault(i, [])

    def knows(self, i, what):
        return what in self.windows.get(i, [])

    def launched_as(self, shape, cur):
        return bool(cur) and (shape, tuple(sorted(cur.items()))) in \
            self.profiles

    def launched(self, shape, cur):
        if cur and not self.launched_as(shape, cur):
            self.profiles[self.next % SHAPES] = \
                (shape, tuple(sorted(cur.items())))
            self.next += 1


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
    kern = {}        # kernel -> Kernel
    shared = {}      # function -> Function
    names = set()    # (program, build, name) made by clCreateKernel
    plain = {}       # context -> largest buffer made without host memory
    wrong = []
    count = {"clSetKernelArg": [0, 0], "clEnqueueNDRangeKernel": [0, 0]}
    made = {"clCreateKernel": [0, 0], "clCloneKernel": [0, 0],
            "clCreateBuffer": [0, 0]}
    for c in calls:
        fn, args = c["fn"], c.get("args", {})
        if fn in made:
            # Named creations: the guest queues what cannot fail.
            if fn == "clCreateKernel":
                prog = args["program"]
                sig = (prog, builds.get(prog, 0), args["kernel_name"])
                expect = sig in names
                if c["ret"] != 0:
                    names.add(sig)
            elif fn == "clCloneKernel":
                expect = True
            else:
                ctx, size = args["context"], args["size"]
                flags = args["flags"]
                expect = (args["host_ptr"] == "NULL" and 0 < size <=
                          plain.get(ctx, 0) and
                          flags in ("0", "CL_MEM_READ_WRITE",
                                    "CL_MEM_READ_ONLY", "CL_MEM_WRITE_ONLY"))
                if c["ret"] != 0 and not any(
                        h in str(flags) for h in ("USE_HOST_PTR",
                                                  "COPY_HOST_PTR",
                                                  "ALLOC_HOST_PTR")):
                    plain[ctx] = max(plain.get(ctx, 0), size)
            if c["async"] != expect:
                wrong.append(f"seq {c['seq']}: {fn}: async {c['async']}, "
                             f"the rule says {expect}")
            made[fn][0 if c["async"] else 1] += 1
        if fn in count and c["ret"] != 0:
            print(f"seq {c['seq']}: {fn} failed; this check needs a "
                  f"program whose calls all succeed")
            return 99
        if fn in ("clBuildProgram", "clCompileProgram") and c["ret"] == 0:
            builds[args["program"]] = builds.get(args["program"], 0) + 1
        elif fn == "clCreateKernel" and c["ret"] != 0:
            prog = args["program"]
            function[c["ret_name"]] = (prog, builds.get(prog, 0),
                                       args["kernel_name"])
            kern[c["ret_name"]] = Kernel()
        elif fn == "clCloneKernel" and c["ret"] != 0:
            src = args["source_kernel"]
            function[c["ret_name"]] = function.get(src)
            kern[c["ret_name"]] = kern.setdefault(src, Kernel()).clone()
        elif fn in count:
            k = kern.setdefault(args["kernel"], Kernel())
            f = function.get(args["kernel"])
            fs = shared.setdefault(f, Function()) if f else Function()
            if fn == "clSetKernelArg":
                i = args["arg_index"]
                what = (args["arg_size"], kind(args.get("arg_value")))
                expect = i < KARGS and (k.knows(i, what) or
                                        (f and fs.knows(i, what)))
                k.set_arg(i, what)
                if f and not c["async"] and i < KARGS:
                    learn(fs.window(i), what)
                about = f"{args['kernel']} argument {i} {what}"
            else:
                shape = tuple(args[x] for x in (
                    "command_queue", "work_dim", "global_work_offset",
                    "global_work_size", "local_work_size"))
                # With an event out, the guest names the event.
                expect = (shape in k.shapes or
                          (f and not k.untracked and
                           fs.launched_as(shape, k.cur)))
                if not c["async"]:
                    k.launched(shape)
                    if f and not k.untracked:
                        fs.launched(shape, k.cur)
                about = f"{args['kernel']} launch {shape[1:]}"
            if c["async"] != bool(expect):
                wrong.append(f"seq {c['seq']}: {fn} {about}: async "
                             f"{c['async']}, the rule says {bool(expect)}")
            count[fn][0 if c["async"] else 1] += 1
    for fn, (queued, sent) in list(count.items()) + list(made.items()):
        print(f"{fn}: {queued} queued, {sent} sent at once")
    print(f"{len(wrong)} not as the rule says")
    for w in wrong[:10]:
        print("  " + w)
    ok = not wrong and all(q > 0 for q, _ in
                           list(count.values()) + list(made.values()))
    print(f"check queued as the rule says: {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
