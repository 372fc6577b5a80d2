#!/usr/bin/python3
"""accept.py - the server's accept loop: io_uring against poll().

Usage: accept.py --ava AVA [--n N] [--burst B] [--rounds R]

(defaults: N 300, B 64, R 3)

For each accept loop (io_uring, and poll() through AVA_SERVER_NO_URING=1)
and each socket transport (unix:, tcp: on 127.0.0.1), one after the other
on the same machine, R rounds alternating between the loops:
  1. connect+HELLO: N times in a row, a new connection sends HELLO and
     waits for WELCOME (the server accepts, forks the session's worker,
     which answers); the time from connect() to WELCOME, p50 and p99;
  2. burst: B connections opened at once, each sends HELLO; the time until
     every WELCOME is in, as connections per second.
No guest library and no OpenCL call: a worker loads the vendor library
only on its first call, so this is the accept path alone. Each session is
ended with BYE. Prints one table. Timing never fails the test: exit 0 once
everything measured, 77 when ava is not built, 1 when a run failed.
"""
import argparse
import os
import platform
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
from frames import BYE, ERROR, HELLO, WELCOME, frame, recv_frame  # noqa: E402

START_TIMEOUT = 15
LOOPS = (("io_uring", {}), ("poll()", {"AVA_SERVER_NO_URING": "1"}))
TRANSPORTS = ("unix", "tcp")


def hello(spec_hash):
    return frame(HELLO, struct.pack("<IIQQQ", spec_hash, os.getpid(),
                                    0, 0, 0))


class Server:
    def __init__(self, ava, workdir, transport, env):
        self.tcp = transport == "tcp"
        self.path = os.path.join(workdir, "s.sock")
        addr = "tcp:127.0.0.1:0" if self.tcp else "unix:" + self.path
        self.log = os.path.join(workdir, "server.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [ava, "server", "--listen", addr], stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, env=dict(os.environ, **env),
                start_new_session=True)
        self.target = None

    def wait(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            if not self.tcp and os.path.exists(self.path):
                time.sleep(0.2)  # bind() comes just before listen()
                self.target = self.path
                return True
            with open(self.log, "rb") as f:
                m = re.search(rb"listening on tcp:(\S+):(\d+)", f.read())
            if m:
                self.target = (m.group(1).decode().strip("[]"),
                               int(m.group(2)))
                return True
            time.sleep(0.05)
        return False

    def connect(self):
        if self.tcp:
            s = socket.create_connection(self.target)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.target)
        return s

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def spec_hash(srv):
    """The server's spec hash, from the ERROR that a wrong one gets."""
    with srv.connect() as s:
        s.sendall(hello(0))
        kind, p = recv_frame(s)
    m = re.search(rb"server 0x([0-9a-f]{8})", p)
    if kind != ERROR or not m:
        raise OSError(f"unexpected answer to a probe HELLO: {kind} {p!r}")
    return int(m.group(1), 16)


def session(srv, msg):
    """connect -> WELCOME, in ns; the session is then ended."""
    t0 = time.perf_counter_ns()
    with srv.connect() as s:
        s.sendall(msg)
        kind, _ = recv_frame(s)
        took = time.perf_counter_ns() - t0
        s.sendall(frame(BYE))
    if kind != WELCOME:
        raise OSError(f"expected WELCOME, got frame type {kind}")
    return took


def burst(srv, msg, n):
    """n connections at once; seconds until every WELCOME is in."""
    t0 = time.perf_counter()
    socks = [srv.connect() for _ in range(n)]
    for s in socks:
        s.sendall(msg)
    pending = set(socks)
    while pending:
        ready, _, _ = select.select(list(pending), [], [], 30)
        if not ready:
            raise OSError("no WELCOME in 30 s")
        for s in ready:
            kind, _ = recv_frame(s)
            if kind != WELCOME:
                raise OSError(f"expected WELCOME, got frame type {kind}")
            pending.discard(s)
    took = time.perf_counter() - t0
    for s in socks:
        s.sendall(frame(BYE))
        s.close()
    return took


def measure(a, workdir, transport, env):
    srv = Server(a.ava, workdir, transport, env)
    try:
        if not srv.wait():
            raise OSError("the server did not start listening")
        msg = hello(spec_hash(srv))
        lat = [session(srv, msg) for _ in range(a.n)]
        return lat, burst(srv, msg, a.burst)
    finally:
        srv.stop()
        with open(srv.log, "rb") as f:
            # Besides the port, the probe's refusal is expected.
            errors = [x for x in f.read().decode("utf-8", "replace")
                      .splitlines()
                      if "listening on" not in x and "spec mismatch" not in x]
        for line in errors[:5]:
            print("  server: " + line)
        if os.path.exists(srv.path):
            os.unlink(srv.path)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--burst", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if a.ava is None:
        print("ava is not built", file=sys.stderr)
        return 77
    try:
        load = f"{os.getloadavg()[0]:.2f}"
    except OSError:
        load = "?"
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; load average before: {load}")
    lat, rate = {}, {}
    workdir = tempfile.mkdtemp(prefix="ava-bench-accept-")
    status = 0
    try:
        for _ in range(a.rounds):
            for t in TRANSPORTS:
                for name, env in LOOPS:
                    try:
                        ns, secs = measure(a, workdir, t, env)
                    except OSError as e:
                        print(f"{name} over {t}: failed: {e}")
                        status = 1
                        continue
                    lat.setdefault((name, t), []).extend(ns)
                    rate.setdefault((name, t), []).append(a.burst / secs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{a.n} connect+HELLO in a row and a burst of {a.burst} "
          f"connections, {a.rounds} rounds")
    print(f"{'loop':<9} {'transport':<9} {'p50':>10} {'p99':>10} "
          f"{'burst':>14}")
    for t in TRANSPORTS:
        for name, _ in LOOPS:
            xs = lat.get((name, t))
            if not xs:
                continue
            r = sorted(rate[(name, t)])[len(rate[(name, t)]) // 2]
            print(f"{name:<9} {t:<9} {pct(xs, 50) / 1000:>7.0f} us "
                  f"{pct(xs, 99) / 1000:>7.0f} us {r:>8.0f} conn/s")
    return status


if __name__ == "__main__":
    sys.exit(main())
