#!/usr/bin/python3
"""jlib.py - what the journal acceptance tests share: running commands in
their own process group, reading a journal through jread, and telling the
ICD loader's calls from the guest's (see jtest.py)."""
import collections
import os
import shutil
import signal
import subprocess


class Fail(Exception):
    """A check failed: exit 1."""


class Hard(Exception):
    """The test could not be set up: exit 99."""


class Skip(Exception):
    """Something the test needs is absent: exit 77."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def clean_env(extra=None):
    env = dict(os.environ)
    for k in ("OCL_ICD_VENDORS", "OCL_ICD_FILENAMES", "AVA_SERVER",
              "AVA_JOURNAL_NO_URING", "AVA_JOURNAL_STATS"):
        env.pop(k, None)
    env.update(extra or {})
    return env


def killpg(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(cmd, env=None, timeout=120):
    """Run cmd in its own process group; (rc, stdout, stderr). A run that
    outlives timeout is killed and fails the test (a hang)."""
    p = subprocess.Popen([str(a) for a in cmd], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env or clean_env(), start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        killpg(p)
        p.communicate()
        raise Fail(f"hung for {timeout} s: {' '.join(map(str, cmd))}")
    finally:
        killpg(p)   # whatever it left behind (a private server)
    return (p.returncode, out.decode(errors="replace"),
            err.decode(errors="replace"))


# ---- reading a journal through jread ----------------------------------

Call = collections.namedtuple("Call", "session seq thread fn is_async payloads")
Payload = collections.namedtuple("Payload", "kind len digest hash")


def parse_payload(s):
    f = s.split(":")
    return Payload(f[0], int(f[1]), f[2], f[3] if len(f) > 3 else None)


def jread_calls(ctx, jdir):
    """The calls of jdir's one session, and (ncalls, end) of that session."""
    rc, out, err = run([ctx.jread, "calls", jdir])
    check(rc == 0, f"jread calls {jdir} failed ({rc}): {err.strip()}")
    calls, sessions = [], []
    for line in out.splitlines():
        f = line.split()
        if f[0] == "call":
            calls.append(Call(int(f[1]), int(f[2]), int(f[3]), f[4],
                              f[5] == "1", [parse_payload(x) for x in f[7:]]))
            check(len(calls[-1].payloads) == int(f[6]),
                  f"jread: bad line {line!r}")
        elif f[0] == "session":
            sessions.append((int(f[2]), int(f[3])))
    check(len(sessions) == 1, f"{jdir}: {len(sessions)} sessions, not 1")
    return calls, sessions[0]


def jread_info(ctx, jdir):
    rc, out, err = run([ctx.jread, "info", jdir])
    check(rc == 0, f"jread info {jdir} failed: {err.strip()}")
    f = out.split()
    return {k: int(v) for k, v in zip(f[1::2], f[2::2])}


def jread_extract(ctx, jdir, seq, idx, path):
    rc, _, err = run([ctx.jread, "extract", jdir, seq, idx, path])
    check(rc == 0, f"jread extract #{seq} payload {idx}: {err.strip()}")
    with open(path, "rb") as f:
        return f.read()


def only_session(d):
    """A server's journal DIR holds one session-N per guest session."""
    names = sorted(n for n in os.listdir(d) if n.startswith("session-"))
    check(names == ["session-1"], f"{d}: sessions {names}, not [session-1]")
    return os.path.join(d, "session-1")


def check_seqs(calls, what):
    seqs = [c.seq for c in calls]
    check(seqs == list(range(1, len(seqs) + 1)),
          f"{what}: sequence numbers are not 1..{len(seqs)} without a gap")


# ---- the ICD loader's share ---------------------------------------------

def loader_model(ctx):
    """(preamble, absorbed): the calls the ICD loader makes before the
    guest's first call reaches ava, and the functions the loader answers
    itself. Measured with probe runs of 1 and 3 clGetPlatformIDs."""
    fns = {}
    for times in (1, 3):
        d = os.path.join(ctx.tmp, f"probe-{times}")
        rc, out, err = run([ctx.ava, "run", "--journal", d, "--", ctx.guest,
                            "probe", times])
        if rc != 0:
            nrc, nout, nerr = run([ctx.guest, "probe", 1])
            if nrc != 0:
                raise Skip(f"no OpenCL platform here, even natively: "
                           f"{(nout + nerr).strip()}")
            raise Hard(f"probe run failed ({rc}): {err.strip()}")
        calls, _ = jread_calls(ctx, only_session(d))
        fns[times] = [c.fn for c in calls]
        shutil.rmtree(d)
    ids = "clGetPlatformIDs"
    if fns[3] == fns[1]:
        return fns[1], {ids}
    if fns[3] == fns[1] + [ids, ids] and fns[1][-1:] == [ids]:
        return fns[1][:-1], set()
    raise Hard(f"cannot tell the ICD loader's calls from the guest's: "
               f"{fns[1]} / {fns[3]}")


def tree_bytes(d):
    total = 0
    for root, _, names in os.walk(d):
        for n in names:
            total += os.path.getsize(os.path.join(root, n))
    return total
