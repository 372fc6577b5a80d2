#!/usr/bin/python3
"""jdamage.py - the crash and corrupt tests (see jtest.py)."""
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time

from jfaithful import faithful_run
from jlib import (Fail, Hard, check, check_seqs, clean_env, jread_calls,
                  killpg, loader_model, only_session, run)

SANITIZER = re.compile(r"Sanitizer|runtime error:|Aborted|core dumped|"
                       r"Segmentation fault|assert", re.I)


# ---- crash ----------------------------------------------------------------

def children(pid):
    """The server's workers: its child processes."""
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    if kids:
        return kids
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                # pid (comm) state ppid ...: comm may hold spaces.
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(name))
        except (OSError, ValueError, IndexError):
            pass
    return kids


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise Hard(f"timed out waiting for {what}")
        time.sleep(0.02)


def one_crash(ctx, i, mode, delay, model):
    preamble, absorbed = model
    d = os.path.join(ctx.tmp, f"crash-{i}")
    sock = os.path.join(ctx.tmp, f"s{i}.sock")
    srv_err = open(os.path.join(ctx.tmp, f"server-{i}.err"), "w+")
    srv = subprocess.Popen([ctx.ava, "server", "--listen", "unix:" + sock,
                            "--journal", d, "--sync", mode],
                           stdin=subprocess.DEVNULL, stdout=srv_err,
                           stderr=srv_err, env=clean_env(),
                           start_new_session=True)
    guest = None
    lines = []
    try:
        wait_for(lambda: os.path.exists(sock) or srv.poll() is not None,
                 20, "the server's socket")
        if srv.poll() is not None:
            raise Hard(f"ava server exited ({srv.returncode})")
        guest = subprocess.Popen(
            [ctx.ava, "run", "--server", "unix:" + sock, "--", ctx.guest,
             "heavy", "10000000"], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=clean_env(), start_new_session=True)
        reader = threading.Thread(
            target=lambda: lines.extend(guest.stdout), daemon=True)
        reader.start()
        # Kill at a random moment once the workload is under way.
        wait_for(lambda: len(lines) > 64 or guest.poll() is not None, 30,
                 "the guest's first calls")
        time.sleep(delay)
        workers = children(srv.pid)
        check(workers, "the server has no worker to kill")
        killpg(srv)
        for w in workers:   # should it have left the process group
            try:
                os.kill(w, signal.SIGKILL)
            except ProcessLookupError:
                pass
        srv.wait()
        try:
            guest.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise Fail("the guest did not notice its server's death")
        reader.join(10)
    finally:
        killpg(srv)
        if guest is not None:
            killpg(guest)
            guest.wait()
        srv_err.close()

    issued, status = {}, {}
    for raw in lines:
        f = raw.decode(errors="replace").split()
        if f[:1] == ["c"] and len(f) == 4:
            issued[int(f[1])] = (f[2], f[3])
        elif f[:1] == ["a"] and len(f) == 3:
            status[int(f[1])] = f[2]
        check(f[:1] != ["done"], "the guest finished before the kill")
    acked = 0
    while status.get(acked + 1) == "CL_SUCCESS":
        acked += 1
    check(issued and max(issued) <= acked + 1,
          "the guest went on after a failed call")

    rc, out, err = run([ctx.ava, "journal", "verify", d])
    check(rc == 0 and " ok: " in out and not err,
          f"verify after kill {i}: ({rc}) {out.strip()} {err.strip()}")
    jdir = only_session(d)
    calls, (_, end) = jread_calls(ctx, jdir)
    check(end == 0, f"session end {end}: the worker was not cut short")
    check_seqs(calls, jdir)
    check([c.fn for c in calls[:len(preamble)]] ==
          preamble[:len(calls)], "the loader's calls are not first")
    rest = calls[len(preamble):]
    want = [(n,) + issued[n] for n in sorted(issued)
            if issued[n][0] not in absorbed]
    check(len(rest) <= len(want), f"the journal holds {len(rest)} guest "
          f"calls, the guest issued {len(want)}")
    for c, (n, fn, digest) in zip(rest, want):
        check(c.fn == fn, f"#{c.seq} is {c.fn}, the guest's call {n} "
              f"was {fn}")
        check(digest == "-" or any(p.digest == digest for p in c.payloads),
              f"#{c.seq} {fn}: no payload matches the guest's bytes")
    # An asynchronous call returns before the server sees it; if the
    # guest library batched any, only a clFinish that returned proves
    # that what came before it was served.
    proven = acked
    if any(c.is_async for c in calls):
        finishes = [n for n in issued if n <= acked and
                    issued[n][0] == "clFinish"]
        proven = max(finishes, default=0)
    proven_calls = sum(1 for n, _, _ in want if n <= proven)
    if mode == "strict":
        check(len(rest) >= proven_calls,
              f"strict: the guest saw {proven_calls} calls return, the "
              f"journal holds {len(rest)}")
    rc, js, err = run([ctx.ava, "journal", "dump", d, "--json"])
    check(rc == 0 and len(js.splitlines()) == len(calls),
          f"dump after kill {i}: ({rc}) {err.strip()}")
    blobs = len({p.hash for c in calls for p in c.payloads if p.kind == "b"})
    seen = sum(1 for n, _, _ in want if n <= acked)
    served = (f"{seen} returned" if proven == acked else
              f"{seen} returned, {proven_calls} before its last clFinish "
              f"(calls are batched)")
    print(f"kill {i + 1:2}/{ctx.iters} sync {mode:<6} after {delay:.2f} s: "
          f"guest calls: {served}; journal holds {len(rest)} (+"
          f"{len(preamble)} loader calls, {blobs} blobs); verify ok")
    shutil.rmtree(d)


def test_crash(ctx):
    model = loader_model(ctx)
    seed = ctx.seed if ctx.seed is not None else int(time.time())
    print(f"seed {seed} (rerun with --seed {seed})")
    rng = random.Random(seed)
    modes = ("batch", "strict", "none")
    for i in range(ctx.iters):
        one_crash(ctx, i, modes[i % 3], rng.uniform(0.0, 1.0), model)


# ---- corrupt --------------------------------------------------------------

COMMANDS = {
    "ls": ["ls"],
    "dump": ["dump"],
    "dump --json": ["dump", "--json"],
    "stats": ["stats"],
    "verify": ["verify"],
    "export": ["export", "--format", "chrome", "-o", "@OUT@"],
}
ALL = set(COMMANDS)
READS_CALLS = ALL - {"ls"}
READS_BLOBS = {"verify"}


def flip_all(path, needle, offset, bit=3):
    """Flip one bit at offset from every occurrence of needle in path."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        hits = [m.start() for m in re.finditer(re.escape(needle), data)]
        check(hits, f"{os.path.basename(path)}: bytes to damage not found")
        for h in hits:
            data[h + offset] ^= 1 << bit
        f.seek(0)
        f.write(data)
    return len(hits)


def set_version(path, version):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        hits = [m.start() for m in re.finditer(b"AVAJOURN", data)]
        check(hits, "no meta record found")
        for h in hits:
            data[h + 8:h + 12] = version.to_bytes(4, "little")
        f.seek(0)
        f.write(data)


def stretch_record(path, seq):
    """Make the LMDB node of call record (session 1, seq) claim 16 MiB
    more data than it has: its value then reaches past the end of the
    file, where reading the map faults (the B-tree is not checksummed)."""
    key = (1).to_bytes(8, "big") + seq.to_bytes(8, "big")
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        hits = 0
        for m in re.finditer(re.escape(key), data):
            h = m.start()
            # A leaf node: u16 size lo, u16 size hi, u16 flags, u16 ksize.
            if h >= 8 and data[h - 2:h] == b"\x10\x00" and \
                    data[h - 4:h - 2] == b"\x00\x00":
                data[h - 6:h - 4] = (0x100).to_bytes(2, "little")
                hits += 1
        check(hits, "no LMDB node found for the call record")
        f.seek(0)
        f.write(data)


def rekey_record(path, seq, new_seq):
    """Give call record (1, seq) the key (1, new_seq) where it lies: the
    B-tree is then out of order, and a walk by key must not go round."""
    old = (1).to_bytes(8, "big") + seq.to_bytes(8, "big")
    new = (1).to_bytes(8, "big") + new_seq.to_bytes(8, "big")
    with open(path, "r+b") as f:
        data = f.read()
        check(data.count(old), "no key found for the call record")
        f.seek(0)
        f.write(data.replace(old, new))


def truncate_half(path):
    size = os.path.getsize(path)
    os.truncate(path, size // 2)


def segment(jdir):
    segs = sorted(os.listdir(os.path.join(jdir, "blobs")))
    check(segs, "the journal has no blob segment")
    return os.path.join(jdir, "blobs", segs[0])


def corrupt_cases(small, big, guest_text):
    """(name, damage(journal DIR, its session-1), commands that must fail)."""
    mdb = lambda j: os.path.join(j, "data.mdb")  # noqa: E731
    return [
        ("data.mdb truncated", lambda d, j: truncate_half(mdb(j)), ALL),
        ("data.mdb not an LMDB file",
         lambda d, j: open(mdb(j), "r+b").write(
             random.Random(1).randbytes(os.path.getsize(mdb(j)))), ALL),
        ("data.mdb removed", lambda d, j: os.remove(mdb(j)), ALL),
        ("format version 2", lambda d, j: set_version(mdb(j), 2), ALL),
        ("bit flip in the meta record",
         lambda d, j: flip_all(mdb(j), b"AVAJOURN", 17), ALL),
        ("bit flip in a session record",
         lambda d, j: flip_all(mdb(j), guest_text, 1), ALL),
        ("bit flip in a call record",
         lambda d, j: flip_all(mdb(j), small, len(small) // 2), READS_CALLS),
        ("a record's length reaching past the end of data.mdb",
         lambda d, j: stretch_record(mdb(j), 20), READS_CALLS),
        ("call keys out of order",
         lambda d, j: rekey_record(mdb(j), 30, 3), READS_CALLS),
        ("bit flip in a blob",
         lambda d, j: flip_all(segment(j), big[:64], len(big) // 2),
         READS_BLOBS),
        ("bit flip in a blob header",
         lambda d, j: flip_all(segment(j), big[:64], -30), READS_BLOBS),
        ("blob segment truncated", lambda d, j: truncate_half(segment(j)),
         READS_BLOBS),
        ("blob segment removed", lambda d, j: os.remove(segment(j)),
         READS_BLOBS),
        ("an empty directory",
         lambda d, j: (shutil.rmtree(d), os.makedirs(d)), ALL),
        ("a directory of other files",
         lambda d, j: (shutil.rmtree(j), os.makedirs(j),
                       open(os.path.join(d, "notes.txt"), "w").write("x\n"),
                       open(os.path.join(j, "data.txt"), "w").write("x\n")),
         ALL),
    ]


def run_command(ctx, name, d):
    out_file = os.path.join(ctx.tmp, "trace.json")
    args = [a.replace("@OUT@", out_file) for a in COMMANDS[name]]
    rc, out, err = run([ctx.ava, "journal", args[0], d] + args[1:],
                       timeout=60)
    check(rc >= 0, f"{name}: killed by signal {-rc}")
    check(not SANITIZER.search(err), f"{name}: {err.strip()}")
    return rc, out, err


def test_corrupt(ctx):
    base = os.path.join(ctx.tmp, "base")
    dumpdir = os.path.join(ctx.tmp, "dump")
    faithful_run(ctx, base, dumpdir)
    only_session(base)
    files = {}
    for name in os.listdir(dumpdir):
        with open(os.path.join(dumpdir, name), "rb") as f:
            files[name] = f.read()
    small = next(v for k, v in sorted(files.items())
                 if k.startswith("main-") and len(v) == 64)
    big = max(files.values(), key=len)
    rc, out, err = run([ctx.ava, "journal", "ls", base])
    m = re.search(r"pid \d+", out)
    check(rc == 0 and m, f"ls of the sound journal: {out} {err}")
    for name in COMMANDS:
        rc, _, err = run_command(ctx, name, base)
        check(rc == 0 and not err,
              f"{name} of the sound journal failed ({rc}): {err.strip()}")
    width = max(len(n) for n in COMMANDS)
    for case, damage, must_fail in corrupt_cases(small, big,
                                                 m.group().encode()):
        d = os.path.join(ctx.tmp, "case")
        shutil.copytree(base, d)
        damage(d, os.path.join(d, "session-1"))
        print(f"{case}:")
        for name in COMMANDS:
            rc, out, err = run_command(ctx, name, d)
            lines = err.splitlines()
            if name in must_fail:
                sub = name.split()[0]
                check(rc == 1, f"{case}: {name} exited {rc}, not 1")
                check(len(lines) == 1 and
                      lines[0].startswith(f"ava: journal {sub}: "),
                      f"{case}: {name}: want one 'ava: journal {sub}: ...' "
                      f"line, got {lines}")
                print(f"  {name:<{width}}  exit {rc}  {lines[0]}")
            else:
                check(rc == 0 and not lines, f"{case}: {name} does not "
                      f"read the damage, yet exited {rc}: {lines}")
                print(f"  {name:<{width}}  exit 0  (does not read it)")
        shutil.rmtree(d)
