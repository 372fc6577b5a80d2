#!/usr/bin/python3
"""Checkpoint and restore, end to end (issue 6).

Each case runs the stencil guest natively and then through a real
`ava server`, does something to the server while the guest is paused at
a call boundary, lets the guest go on, and compares its transcript with
the native one byte for byte.

  restore    checkpoint, SIGKILL the server, start a new one at the same
             address, restore the image: the guest resumes by itself.
  continue   checkpoint only: the guest goes on on the same server.
  stale      checkpoint, let the guest make more calls, kill the server,
             restore the older image: the guest's resume is refused with
             one clear line, nothing runs twice or is lost silently.
  damaged    a truncated and a bit-flipped image: `ava restore` refuses
             each with one line naming the record; the server keeps no
             half-built session, and a good image restores after them.
  device     restore onto a server whose PoCL device is `basic` instead
             of `pthread` (POCL_DEVICES): kernels are rebuilt from source.
  release-race  migrations whose rounds wait between listing the
             objects and reading them, while the guest releases events
             (AVA_TEST_ROUND_PAUSE_MS): no worker may touch them freed;
  pingpong   a running guest migrated A -> B -> A -> B mid-run;
             pingpong-shm the same over shm: with transfers.c, whose
             large transfers go through the shared heap.
  apart      the raw client (--raw) sends the source, after the
             switch-over, two queued writes on two connections, the
             later-numbered first: the destination, which gets them
             passed on in that order, must run both and answer a read
             behind them.
  join-race  a guest thread (joiner.c) reads where its session is, is
             held back (AVA_TEST_JOIN_PAUSE_MS) while the session moves
             and its old place lets it go, then joins there: refused, it
             must join where the session went.
  late-join  a guest connection (spoken by hand here) joins the source
             after the switch-over: it must get WELCOME and then, unasked,
             the same MOVED as the connections that were there, so that
             its guest thread follows even if the source ends or dies
             right after.

usage: mtest.py CASE --ava AVA --guest STENCIL --icd ICD [--raw RAWCLIENT]
"""
import argparse
import os
import shutil
import re
import signal
import socket
import struct
import threading
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", ".."))
from frames import ERROR, HELLO, MOVED, WELCOME, frame, recv_frame  # noqa: E402

STEPS, N, PAUSE = "40", "65536", "17"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Server:
    def __init__(self, ava, addr, log, env=None, extra=()):
        self.log = open(log, "ab")
        e = dict(os.environ)
        e.update(env or {})
        self.logpath = log
        self.p = subprocess.Popen([ava, "server", "-v", "--listen", addr]
                                  + list(extra),
                                  stdout=self.log, stderr=self.log,
                                  start_new_session=True, env=e)
        path = addr.split(":", 1)[1]
        for _ in range(1000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return
            except OSError:
                if self.p.poll() is not None:
                    fail("server did not start: " + open(log).read())
                time.sleep(0.01)
            finally:
                s.close()
        fail("server did not start")

    def kill(self):
        """SIGKILL the server and its workers, and wait until all are gone."""
        os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait()
        for _ in range(1000):
            try:
                os.killpg(self.p.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)
        fail("the killed server's workers did not go away")

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def session_of(server, pid):
    """The session number the server gave guest pid (its -v log)."""
    pat = re.compile(r"session (\d+) \(pid \d+\): guest pid %d connected"
                     % pid)
    for _ in range(500):
        m = pat.search(open(server.logpath).read())
        if m:
            return m.group(1)
        time.sleep(0.01)
    fail("no session for guest pid %d in the server's log" % pid)


def wait_file(path, proc, secs=60):
    for _ in range(secs * 100):
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            fail("guest exited early (%d): %s" % (proc.returncode,
                                                  proc.stderr.read()))
        time.sleep(0.01)
    fail("guest never reached " + path)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          **kw)


def native(guest, tmp):
    d = os.path.join(tmp, "native")
    os.makedirs(d)
    env = dict(os.environ, AVA_TEST_PAUSE=d)
    open(os.path.join(d, "go"), "w").close()
    p = run([guest, STEPS, N, PAUSE], env=env)
    if p.returncode != 0:
        fail("native run failed: " + p.stdout + p.stderr)
    return p.stdout


def guest_env(args, addr, pause):
    return dict(os.environ, AVA_SERVER=addr, AVA_TEST_PAUSE=pause,
                OCL_ICD_VENDORS=args.icd, AVA_RECONNECT_MS="20000")


def start_guest(args, addr, pause):
    os.makedirs(pause, exist_ok=True)
    g = subprocess.Popen([args.guest, STEPS, N, PAUSE], text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=guest_env(args, addr, pause))
    wait_file(os.path.join(pause, "paused"), g)
    return g


def checkpoint(args, addr, image, session):
    p = run([args.ava, "checkpoint", "--server", addr, "--session", session,
             "-o", image])
    if p.returncode != 0 or not os.path.exists(image):
        fail("checkpoint failed: " + p.stdout + p.stderr)
    print(p.stdout.strip())


def restore(args, addr, image, expect_ok=True):
    p = run([args.ava, "restore", image, "--server", addr])
    if expect_ok and p.returncode != 0:
        fail("restore failed: " + p.stdout + p.stderr)
    return p


def finish(g, pause):
    open(os.path.join(pause, "go"), "w").close()
    out, err = g.communicate(timeout=120)
    return g.returncode, out, err


def case_restore(args, tmp, env=None, label="restore"):
    want = native(args.guest, tmp)
    addr = "unix:" + os.path.join(tmp, "s.sock")
    pause = os.path.join(tmp, "pause")
    image = os.path.join(tmp, "img")
    a = Server(args.ava, addr, os.path.join(tmp, "a.log"))
    g = start_guest(args, addr, pause)
    checkpoint(args, addr, image, session_of(a, g.pid))
    a.kill()
    b = Server(args.ava, addr, os.path.join(tmp, "b.log"), env)
    try:
        print(restore(args, addr, image).stdout.strip())
        rc, out, err = finish(g, pause)
    finally:
        b.stop()
    if rc != 0 or out != want:
        fail("%s: the guest's transcript differs from native (rc %d)\n"
             "native:\n%s\nava:\n%s\nstderr:\n%s\nserver:\n%s" %
             (label, rc, want, out, err,
              open(os.path.join(tmp, "b.log")).read()))
    if "resumed session" not in err:
        fail("the guest did not say it resumed: " + err)
    print("%s: transcript identical to native (%d lines)" %
          (label, len(out.splitlines())))


def case_continue(args, tmp):
    want = native(args.guest, tmp)
    addr = "unix:" + os.path.join(tmp, "s.sock")
    pause = os.path.join(tmp, "pause")
    a = Server(args.ava, addr, os.path.join(tmp, "a.log"))
    try:
        g = start_guest(args, addr, pause)
        checkpoint(args, addr, os.path.join(tmp, "img"), session_of(a, g.pid))
        rc, out, err = finish(g, pause)
    finally:
        a.stop()
    if rc != 0 or out != want:
        fail("continue: transcript differs:\n" + out + err)
    c = run([args.ava, "restore", "--check", os.path.join(tmp, "img")])
    if c.returncode != 0 or "ok" not in c.stdout:
        fail("restore --check: " + c.stdout + c.stderr)
    print(c.stdout.strip())
    print("continue: transcript identical to native")


def case_stale(args, tmp):
    """The image is older than the guest: resuming must be refused."""
    addr = "unix:" + os.path.join(tmp, "s.sock")
    pause = os.path.join(tmp, "pause")
    image = os.path.join(tmp, "img")
    a = Server(args.ava, addr, os.path.join(tmp, "a.log"))
    os.makedirs(pause)
    g = subprocess.Popen([args.guest, STEPS, N, PAUSE, "30"], text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=guest_env(args, addr, pause))
    paused = os.path.join(pause, "paused")
    wait_file(paused, g)
    checkpoint(args, addr, image, session_of(a, g.pid))
    # The guest goes on to its second pause: 13 steps the image lacks.
    os.remove(paused)
    open(os.path.join(pause, "go"), "w").close()
    wait_file(paused, g)
    a.kill()
    b = Server(args.ava, addr, os.path.join(tmp, "b.log"))
    try:
        restore(args, addr, image)
        rc, out, err = finish(g, pause)
    finally:
        b.stop()
    if rc == 0 or "sum:" in out:
        fail("stale: the guest carried on from an older image:\n" + out)
    line = [l for l in err.splitlines() if "older than the guest" in l]
    if len(line) != 1:
        fail("stale: want one line saying the image is older than the "
             "guest; stderr:\n" + err)
    print("stale: refused: " + line[0])


def case_damaged(args, tmp):
    addr = "unix:" + os.path.join(tmp, "s.sock")
    pause = os.path.join(tmp, "pause")
    image = os.path.join(tmp, "img")
    a = Server(args.ava, addr, os.path.join(tmp, "a.log"))
    g = start_guest(args, addr, pause)
    checkpoint(args, addr, image, session_of(a, g.pid))
    a.kill()
    data = open(image, "rb").read()
    bad = {"truncated": data[:len(data) * 2 // 3],
           "flipped": data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 4])
           + data[len(data) // 2 + 1:]}
    b = Server(args.ava, addr, os.path.join(tmp, "b.log"))
    try:
        for name, blob in bad.items():
            path = os.path.join(tmp, name)
            open(path, "wb").write(blob)
            p = restore(args, addr, path, expect_ok=False)
            lines = p.stderr.strip().splitlines()
            if p.returncode != 1 or len(lines) != 1 or "record" not in lines[0]:
                fail("%s image: want exit 1 and one line naming the record, "
                     "got %d: %s" % (name, p.returncode, p.stderr))
            print("%s image refused: %s" % (name, lines[0]))
        print(restore(args, addr, image).stdout.strip())
        rc, out, err = finish(g, pause)
    finally:
        b.stop()
    if rc != 0 or "sum:" not in out:
        fail("after refused images, the good one did not resume: " + out + err)
    print("damaged: good image restored after two bad ones")


def case_secret(args, tmp):
    """A server with --secret: no secret, a wrong one and a readable
    file are each refused with one line; the right one checkpoints.
    Where libcrypto cannot be loaded, `ava run` still runs (it never
    loads it), and whatever needs the secret fails with one line."""
    good, bad, loose = (os.path.join(tmp, n) for n in ("good", "bad", "loose"))
    for path, text, mode in ((good, "correct horse battery staple", 0o600),
                             (bad, "incorrect horse battery staple", 0o600),
                             (loose, "correct horse battery staple", 0o644)):
        open(path, "w").write(text + "\n")
        os.chmod(path, mode)
    addr = "unix:" + os.path.join(tmp, "s.sock")
    p = run([args.ava, "server", "--listen", addr, "--secret", loose])
    if p.returncode == 0 or "chmod 600" not in p.stderr:
        fail("a group-readable secret file was accepted: " + p.stderr)
    print("loose secret file refused: " + p.stderr.strip())
    nocrypto = os.path.join(tmp, "nocrypto")
    os.makedirs(nocrypto)
    open(os.path.join(nocrypto, "libcrypto.so.3"), "w").close()
    nocrypto_env = dict(os.environ, LD_LIBRARY_PATH=nocrypto)
    nocrypto_env.pop("AVA_SECRET_FILE", None)
    p = run([args.ava, "run", "--", "true"], env=nocrypto_env)
    if p.returncode != 0:
        fail("ava run needs libcrypto: %d: %s" % (p.returncode, p.stderr))
    p = run([args.ava, "server", "--listen", addr, "--secret", good],
            env=nocrypto_env)
    lines = p.stderr.strip().splitlines()
    if (p.returncode == 0 or len(lines) != 1 or
            "cannot load libcrypto.so.3" not in p.stderr):
        fail("a server with a secret and no libcrypto: %d: %s"
             % (p.returncode, p.stderr))
    print("no libcrypto: " + lines[0])
    pause = os.path.join(tmp, "pause")
    srv = Server(args.ava, addr, os.path.join(tmp, "a.log"),
                 extra=("--secret", good))
    try:
        g = start_guest(args, addr, pause)
        session = session_of(srv, g.pid)
        image = os.path.join(tmp, "img")
        env = dict(os.environ)
        env.pop("AVA_SECRET_FILE", None)
        cmd = [args.ava, "checkpoint", "--server", addr, "--session",
               session, "-o", image]
        for extra, want in (([], "shared secret"),
                            (["--secret", bad], "authentication")):
            p = run(cmd + extra, env=env)
            lines = p.stderr.strip().splitlines()
            if p.returncode != 1 or len(lines) != 1 or os.path.exists(image):
                fail("checkpoint %s: want exit 1, one line, no image; got "
                     "%d: %s" % (extra, p.returncode, p.stderr))
            print("refused: " + lines[0])
        # A session that does not exist: only an authenticated peer
        # learns so; the others are refused as for any session.
        missing = [args.ava, "checkpoint", "--server", addr, "--session",
                   "999", "-o", image]
        for extra, want in (([], "shared secret"),
                            (["--secret", bad], "authentication"),
                            (["--secret", good], "no session 999")):
            p = run(missing + extra, env=env)
            lines = p.stderr.strip().splitlines()
            if (p.returncode != 1 or len(lines) != 1 or want not in p.stderr
                    or ("no session" in p.stderr) != ("no session" in want)
                    or os.path.exists(image)):
                fail("checkpoint of a missing session %s: want exit 1 and "
                     "one line with %r; got %d: %s"
                     % (extra, want, p.returncode, p.stderr))
            print("missing session: " + lines[0])
        p = run(cmd + ["--secret", good], env=nocrypto_env)
        lines = p.stderr.strip().splitlines()
        if (p.returncode != 1 or len(lines) != 1 or
                "cannot load libcrypto.so.3" not in p.stderr or
                os.path.exists(image)):
            fail("checkpoint without libcrypto: want exit 1, one line, no "
                 "image; got %d: %s" % (p.returncode, p.stderr))
        print("no libcrypto: " + lines[0])
        p = run(cmd + ["--secret", good], env=env)
        if p.returncode != 0 or not os.path.exists(image):
            fail("checkpoint with the secret failed: " + p.stderr)
        print(p.stdout.strip())
        rc, out, err = finish(g, pause)
        if rc != 0:
            fail("guest failed: " + err)
    finally:
        srv.stop()
    print("secret: refused without and with a wrong secret, served with it")


def migrate(args, src, dst, session, guest_addr=None, expect_ok=True):
    cmd = [args.ava, "migrate", "--server", src, "--session", session,
           "--to", dst]
    if guest_addr:
        cmd += ["--guest-addr", guest_addr]
    p = run(cmd)
    if expect_ok and p.returncode != 0:
        fail("migrate %s -> %s failed: %s%s" % (src, dst, p.stdout, p.stderr))
    return p


def case_apart(args, tmp):
    """The raw client's `apart` case: after the switch-over, queued writes
    reach the source out of their order, on two connections; the
    destination must run both (session_batch_apart())."""
    if not args.raw:
        fail("apart needs --raw RAWCLIENT")
    a_addr = "unix:" + os.path.join(tmp, "a.sock")
    b_addr = "unix:" + os.path.join(tmp, "b.sock")
    d = os.path.join(tmp, "apart")
    os.makedirs(d)
    a = Server(args.ava, a_addr, os.path.join(tmp, "a.log"))
    b = Server(args.ava, b_addr, os.path.join(tmp, "b.log"))
    try:
        g = subprocess.Popen([args.raw, "apart", a_addr],
                             env=dict(os.environ, RAWCLIENT_DIR=d),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        wait_file(os.path.join(d, "ready"), g)
        session = open(os.path.join(d, "ready")).read().strip()
        p = migrate(args, a_addr, b_addr, session)
        print(p.stdout.strip())
        open(os.path.join(d, "moved"), "w").close()
        try:
            out, err = g.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            g.kill()
            out, err = g.communicate()
    finally:
        a.stop()
        b.stop()
    print(out.strip())
    if g.returncode != 0:
        fail("apart: the raw guest failed (%d):\n%s\n%s\nb:\n%s"
             % (g.returncode, out, err,
                open(os.path.join(tmp, "b.log")).read()))
    print("apart: writes passed on out of order both ran at the "
          "destination")


def raw_connect(addr):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(addr.split(":", 1)[1])
    return s


def raw_hello(s, spec, session=0, token=0):
    """HELLO as a guest connection (kind 0); the answer's type and body."""
    body = struct.pack("<IIQQQ", spec, os.getpid(), session, token, 0)
    s.sendall(frame(HELLO, body))
    return recv_frame(s)


def case_late_join(args, tmp):
    """A connection that joins after the switch-over is told MOVED."""
    a_addr = "unix:" + os.path.join(tmp, "a.sock")
    b_addr = "unix:" + os.path.join(tmp, "b.sock")
    logs = [os.path.join(tmp, "a.log"), os.path.join(tmp, "b.log")]
    a = Server(args.ava, a_addr, logs[0])
    b = Server(args.ava, b_addr, logs[1])
    first = later = None
    try:
        # The server's spec hash, from the ERROR a wrong one gets.
        with raw_connect(a_addr) as s:
            kind, body = raw_hello(s, 0)
        m = re.search(rb"server 0x([0-9a-f]{8})", body)
        if kind != ERROR or not m:
            fail("late-join: no spec hash in the answer to a probe")
        spec = int(m.group(1), 16)
        first = raw_connect(a_addr)
        kind, body = raw_hello(first, spec)
        if kind != WELCOME:
            fail("late-join: the session's first HELLO got type %d" % kind)
        session, token = struct.unpack_from("<QQ", body)
        print(migrate(args, a_addr, b_addr, str(session)).stdout.strip())
        kind, told = recv_frame(first)
        if kind != MOVED:
            fail("late-join: the connection there at the switch-over got "
                 "type %d, not MOVED" % kind)
        later = raw_connect(a_addr)
        kind, _ = raw_hello(later, spec, session, token)
        if kind != WELCOME:
            fail("late-join: the join after the switch-over got type %d"
                 % kind)
        try:
            kind, body = recv_frame(later)
        except OSError as e:   # a timeout, or the source closing it
            fail("late-join: after its WELCOME, no MOVED (%s)" % e)
        if kind != MOVED or body != told:
            fail("late-join: after its WELCOME, type %d %r; want MOVED %r"
                 % (kind, body, told))
    finally:
        for s in (first, later):
            if s is not None:
                s.close()
        a.stop()
        b.stop()
    if any("worker died" in open(x).read() for x in logs):
        fail("late-join: a worker died")
    print("late-join: a connection that joined after the switch-over was "
          "told MOVED, as those before it")


def wait_log(server, pattern, what, secs=10):
    pat = re.compile(pattern)
    for _ in range(secs * 100):
        if pat.search(open(server.logpath).read()):
            return
        time.sleep(0.01)
    fail("join-race: %s never came; the server's log:\n%s"
         % (what, open(server.logpath).read()))


def case_join_race(args, tmp):
    """A thread's first call reads where the session is, is held back
    while the session moves A -> B and A lets it go, then joins at A."""
    a_addr = "unix:" + os.path.join(tmp, "a.sock")
    b_addr = "unix:" + os.path.join(tmp, "b.sock")
    a = Server(args.ava, a_addr, os.path.join(tmp, "a.log"))
    b = Server(args.ava, b_addr, os.path.join(tmp, "b.log"))
    d = os.path.join(tmp, "files")
    os.makedirs(d)
    env = dict(os.environ, AVA_SERVER=a_addr, OCL_ICD_VENDORS=args.icd,
               AVA_TEST_JOIN_PAUSE_MS="3000")
    env.pop("AVA_RECONNECT_MS", None)
    g = subprocess.Popen([args.guest, d], env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        session = session_of(a, g.pid)
        open(os.path.join(d, "go"), "w").close()
        # The second thread writes this just before its first call,
        # which reads where the session is (A) at once and then holds
        # its join back 3 s.
        wait_file(os.path.join(d, "calling"), g)
        print(migrate(args, a_addr, b_addr, session).stdout.strip())
        open(os.path.join(d, "queue"), "w").close()
        # A lets the session go once every connection has left it; the
        # second thread is still held back (3 s from "go"), and the main
        # thread waits for it after "stop".
        wait_log(a, r"session %s \(pid \d+\): worker (done|exited)"
                 % session, "the source's end of the session")
        open(os.path.join(d, "stop"), "w").close()
        out, err = g.communicate(timeout=60)
    finally:
        if g.poll() is None:
            g.kill()
            g.wait()
        a.stop()
        b.stop()
    print(out.strip())
    print(err.strip())
    if g.returncode != 0 or "second thread: CL_SUCCESS" not in out:
        fail("join-race: the guest ended %d:\n%s%s\na: %s\nb: %s"
             % (g.returncode, out, err, open(a.logpath).read(),
                open(b.logpath).read()))
    # The case this is about: A refused the join, and B took it.
    if "cannot join session %s: no such session here" % session not in \
            open(a.logpath).read():
        fail("join-race: A did not refuse the held-back join (it came "
             "before A let the session go?):\n" + open(a.logpath).read())
    if not re.search(r"guest pid %d joins" % g.pid, open(b.logpath).read()):
        fail("join-race: the second thread did not join at B:\n"
             + open(b.logpath).read())
    print("join-race: a thread that joined the session's old place after "
          "it let the session go joined at the new one")


def case_migrate(args, tmp, b_env=None, label="migrate"):
    """Paused guest, migrated A -> B; then it goes on at B."""
    want = native(args.guest, tmp)
    a_addr = "unix:" + os.path.join(tmp, "a.sock")
    b_addr = "unix:" + os.path.join(tmp, "b.sock")
    pause = os.path.join(tmp, "pause")
    a = Server(args.ava, a_addr, os.path.join(tmp, "a.log"))
    b = Server(args.ava, b_addr, os.path.join(tmp, "b.log"), b_env)
    try:
        g = start_guest(args, a_addr, pause)
        p = migrate(args, a_addr, b_addr, session_of(a, g.pid))
        print(p.stdout.strip())
        rc, out, err = finish(g, pause)
    finally:
        a.stop()
        b.stop()
    if rc != 0 or out != want:
        fail(label + ": transcript differs (rc %d):\n%s\nstderr:\n%s\n"
             "a:\n%s\nb:\n%s" % (rc, out, err,
                                   open(os.path.join(tmp, "a.log")).read(),
                                   open(os.path.join(tmp, "b.log")).read()))
    print(label + ": transcript identical to native")


def case_pingpong(args, tmp, scheme="unix", argv=("60000", N),
                  label="pingpong", server_env=None):
    """A running guest migrated A -> B -> A -> B mid-run; no worker of
    either server may die on the way."""
    d = os.path.join(tmp, "native")
    os.makedirs(d)
    p = run([args.guest] + list(argv), env=dict(os.environ))
    if p.returncode != 0:
        fail("native: " + p.stdout + p.stderr)
    want = p.stdout
    a_addr = scheme + ":" + os.path.join(tmp, "a.sock")
    b_addr = scheme + ":" + os.path.join(tmp, "b.sock")
    logs = [os.path.join(tmp, "a.log"), os.path.join(tmp, "b.log")]
    a = Server(args.ava, a_addr, logs[0], server_env)
    b = Server(args.ava, b_addr, logs[1], server_env)
    env = dict(os.environ, AVA_SERVER=a_addr, OCL_ICD_VENDORS=args.icd)

    def tails():
        return "\na:\n%s\nb:\n%s" % tuple(open(x).read()[-2000:]
                                         for x in logs)
    try:
        g = subprocess.Popen([args.guest] + list(argv), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env)
        session = session_of(a, g.pid)
        hops = 0
        where = [a_addr, b_addr]
        time.sleep(0.3)
        while g.poll() is None and hops < 4:
            src, dst = where[hops % 2], where[(hops + 1) % 2]
            p = migrate(args, src, dst, session, expect_ok=False)
            if p.returncode != 0:
                if g.poll() is not None:
                    break
                fail("migrate %s -> %s: %s%s" % (src, dst, p.stderr,
                                                  tails()))
            print("hop %d: %s" % (hops + 1, p.stdout.strip()))
            hops += 1
            time.sleep(0.2)
        out, err = g.communicate(timeout=120)
    finally:
        a.stop()
        b.stop()
    if any("worker died" in open(x).read() for x in logs):
        fail("%s: a worker died:%s" % (label, tails()))
    if g.returncode != 0 or out != want:
        # Both servers' logs too: a failure here is rare and timing
        # dependent, and they say what each side did around it.
        fail("%s: transcript differs (rc %d):\n%s\nstderr:\n%s%s" %
             (label, g.returncode, out, err, tails()))
    if hops < 2:
        fail("%s: the guest ended after %d migrations; make it longer"
             % (label, hops))
    print("%s: %d migrations mid-run, transcript identical to native"
          % (label, hops))


def fake_destination(path, keep_bytes):
    """A destination that says READY, takes keep_bytes of the image and
    dies: the source must keep its guest."""
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(4)

    def serve():
        c, _ = ls.accept()
        got = b""
        while len(got) < 40:
            got += c.recv(4096)
        ready = struct.pack("<IHBBIIIIQQ", 0x31415641, 1, 10, 0, 4, 0, 0, 0,
                            0, 0)
        c.sendall(ready)
        n = 0
        while n < keep_bytes:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
        c.close()
        ls.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def case_failures(args, tmp):
    """Destination unreachable; destination dies mid-copy; source dies
    after the switch-over. The guest ends identical to native each time."""
    want = native(args.guest, tmp)
    a_addr = "unix:" + os.path.join(tmp, "a.sock")
    b_addr = "unix:" + os.path.join(tmp, "b.sock")
    pause = os.path.join(tmp, "pause")
    a = Server(args.ava, a_addr, os.path.join(tmp, "a.log"))
    b = None
    try:
        g = start_guest(args, a_addr, pause)
        session = session_of(a, g.pid)
        # 1. Nobody at the destination.
        p = migrate(args, a_addr, "unix:" + os.path.join(tmp, "none.sock"),
                    session, expect_ok=False)
        lines = p.stderr.strip().splitlines()
        if p.returncode != 1 or len(lines) != 1 or "goes on" not in lines[0]:
            fail("unreachable destination: %d %s" % (p.returncode, p.stderr))
        print("unreachable: " + lines[0])
        # 2. A destination that dies after 300 KiB of the image.
        fake = os.path.join(tmp, "fake.sock")
        t = fake_destination(fake, 300 * 1024)
        p = migrate(args, a_addr, "unix:" + fake, session, expect_ok=False)
        t.join(10)
        lines = p.stderr.strip().splitlines()
        if p.returncode != 1 or len(lines) != 1 or "goes on" not in lines[0]:
            fail("dying destination: %d %s" % (p.returncode, p.stderr))
        print("dies mid-copy: " + lines[0])
        # 3. A real one; then the source dies after the switch-over.
        b = Server(args.ava, b_addr, os.path.join(tmp, "b.log"))
        p = migrate(args, a_addr, b_addr, session)
        print(p.stdout.strip())
        a.kill()
        print("source killed after the switch-over")
        rc, out, err = finish(g, pause)
    finally:
        a.stop()
        if b:
            b.stop()
    if rc != 0 or out != want:
        fail("failures: transcript differs (rc %d):\n%s\nstderr:\n%s" %
             (rc, out, err))
    print("failures: the guest stayed, then moved, and ended identical "
          "to native")


def case_criu(args, tmp):
    """`ava migrate --criu PID` moves the guest process too. Where
    `criu check` fails (Debian 12's CRIU 3.17 on recent kernels), the
    command must say so in one line and leave the guest untouched; the
    test then exits 77, since the process move cannot be tried here."""
    want = native(args.guest, tmp)
    a_addr = "unix:" + os.path.join(tmp, "a.sock")
    b_addr = "unix:" + os.path.join(tmp, "b.sock")
    pause = os.path.join(tmp, "pause")
    a = Server(args.ava, a_addr, os.path.join(tmp, "a.log"))
    b = Server(args.ava, b_addr, os.path.join(tmp, "b.log"))
    check = subprocess.run(["sh", "-c", "criu check"], capture_output=True,
                           text=True)
    try:
        g = start_guest(args, a_addr, pause)
        p = run([args.ava, "migrate", "--server", a_addr, "--session",
                 session_of(a, g.pid), "--to", b_addr, "--criu",
                 str(g.pid), "--criu-dir", os.path.join(tmp, "criu")])
        if check.returncode == 0:
            if p.returncode != 0:
                fail("criu check passes but migrate --criu failed: " +
                     p.stderr)
            print(p.stdout.strip())
            print("criu: dumped; restoring it on another host is not "
                  "tried here")
            g.kill()
            g.wait()
            sys.exit(77)
        lines = p.stderr.strip().splitlines()
        if p.returncode != 1 or len(lines) != 1 or "criu" not in lines[0]:
            fail("want one line about criu, exit 1; got %d: %s" %
                 (p.returncode, p.stderr))
        print("refused plainly: " + lines[0])
        rc, out, err = finish(g, pause)
    finally:
        a.stop()
        b.stop()
    if rc != 0 or out != want:
        fail("the guest was disturbed: " + out + err)
    print("SKIP: `criu check` fails here (%s); the guest stayed untouched" %
          (check.stderr.strip().splitlines() or ["criu not installed"])[-1])
    sys.exit(77)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--ava", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--icd", required=True)
    ap.add_argument("--raw", help="the raw client (case apart)")
    args = ap.parse_args()
    icd_dir = tempfile.mkdtemp(prefix="ava-mtest-icd-")
    shutil.copy(args.icd, os.path.join(icd_dir, "ava.icd"))
    args.icd = icd_dir
    tmp = tempfile.mkdtemp(prefix="ava-mtest-")
    try:
        if args.case == "restore":
            case_restore(args, tmp)
        elif args.case == "device":
            case_restore(args, tmp, {"POCL_DEVICES": "basic"}, "device")
        elif args.case == "continue":
            case_continue(args, tmp)
        elif args.case == "stale":
            case_stale(args, tmp)
        elif args.case == "migrate":
            case_migrate(args, tmp)
        elif args.case == "apart":
            case_apart(args, tmp)
        elif args.case == "late-join":
            case_late_join(args, tmp)
        elif args.case == "join-race":
            case_join_race(args, tmp)
        elif args.case == "migrate-device":
            case_migrate(args, tmp, {"POCL_DEVICES": "basic"},
                         "migrate-device")
        elif args.case == "criu":
            case_criu(args, tmp)
        elif args.case == "failures":
            case_failures(args, tmp)
        elif args.case == "pingpong":
            case_pingpong(args, tmp)
        elif args.case == "release-race":
            # Rounds that wait between listing the objects and reading
            # them, while stencil releases an event each step: no round
            # may touch one freed (session-move.c, hold()).
            case_pingpong(args, tmp, label="release-race",
                          server_env={"AVA_TEST_ROUND_PAUSE_MS": "300"})
        elif args.case == "pingpong-shm":
            # transfers.c: 1 MiB each way per step, through the shared
            # heap, while the session moves.
            case_pingpong(args, tmp, "shm", ("12000",), "pingpong-shm")
        elif args.case == "secret":
            case_secret(args, tmp)
        elif args.case == "damaged":
            case_damaged(args, tmp)
        else:
            fail("unknown case " + args.case)
    finally:
        if not os.environ.get("MTEST_KEEP"): shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(icd_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
