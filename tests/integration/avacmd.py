#!/usr/bin/python3
"""avacmd.py - what the `ava` command itself must do, case by case.

Usage: avacmd.py allocator AVA EXPECT
       avacmd.py spare AVA PROGRAM

allocator: the server runs the vendor library inside the `ava` process,
  so PoCL's malloc is whichever one `ava` binds (meson's server_malloc
  option, doc/performance.md "The server's allocator"). That depends on
  the link order: a C library listed before the allocator would win,
  silently. `AVA --version` names the library its malloc comes from; it
  must contain EXPECT (mimalloc, jemalloc or libc.so; empty under a
  sanitizer, whose runtime intercepts malloc: then the line only has to
  be there).

spare: `ava run`'s private server forks one worker ahead, which loads
  the vendor library while the program starts, and hands it the
  program's first connection (runtime/server.c, "the spare worker"). If
  the hand-off fails, a fresh fork serves instead and the program still
  runs, only later: no other test would notice. This one reads the
  server's log (--verbose): the spare says it serves session 1, and
  nothing says the spare failed.

standing: `ava server --spare` keeps a spare for every guest that comes
  after the last one left (runtime/server.c, refill_spare()). PROGRAM
  runs three times, one after another, through `ava run --server`; the
  first connection of each must be served by a spare, a different one
  each time, and each run must print what the first printed. Then the
  waiting spare is killed (SIGKILL, as the OOM killer would; PoCL
  catches SIGSEGV): the server must say so, the
  next run must still work (a forked worker), and no spare may follow.
  SIGTERM must then stop the server (exit 0) and leave no worker.

Exit status: 0 pass, 1 fail, 99 the test could not run.
"""
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time


def allocator(ava, expect):
    p = subprocess.run([ava, "--version"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    if p.returncode != 0:
        print(f"allocator: {ava} --version exited {p.returncode}: "
              f"{p.stderr.strip()}", file=sys.stderr)
        return 99
    lines = [l for l in p.stdout.splitlines() if l.startswith("allocator: ")]
    if len(lines) != 1:
        print(f"allocator: no 'allocator:' line in {p.stdout!r}",
              file=sys.stderr)
        return 1
    lib = lines[0][len("allocator: "):]
    if expect and expect not in lib:
        print(f"allocator: ava's malloc comes from {lib}, expected "
              f"{expect}: check the order of its libraries "
              f"(readelf -d {ava})", file=sys.stderr)
        return 1
    print(f"ava's malloc comes from {lib}")
    return 0


def spare(ava, prog):
    p = subprocess.run([ava, "run", "--verbose", "--", prog],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    if p.returncode != 0:
        print(f"spare: {prog} under ava exited {p.returncode}:\n"
              f"{p.stderr}", file=sys.stderr)
        return 1
    failed = [l for l in p.stderr.splitlines()
              if "spare worker died" in l or "spare worker got no" in l]
    m = re.search(r"session 1 \(pid (\d+)\): served by the spare worker",
                  p.stderr)
    c = re.search(r"session 1 \(pid (\d+)\): guest pid \d+ connected",
                  p.stderr)
    if failed or m is None or c is None or m.group(1) != c.group(1):
        print(f"spare: session 1 was not served by the spare worker; the "
              f"server's log:\n{p.stderr}", file=sys.stderr)
        return 1
    print(f"session 1: served by the spare worker, pid {m.group(1)}")
    return 0


READY = re.compile(r"spare worker \(pid (\d+)\) ready")


class ServerLog:
    """The lines of a server's stderr, as they come; wait_for() moves a
    cursor over them, so no line is matched twice or skipped."""

    def __init__(self, stream):
        self.lines = []
        self.pos = 0
        self.q = queue.Queue()
        threading.Thread(target=self._read, args=(stream,),
                         daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def _take(self, seconds):
        try:
            line = self.q.get(timeout=max(0, seconds))
        except queue.Empty:
            return False
        if line is None:
            return False
        self.lines.append(line)
        return True

    def wait_for(self, pattern, seconds=60):
        """The next line from the cursor matching pattern, or None."""
        end = time.monotonic() + seconds
        while True:
            while self.pos < len(self.lines):
                m = pattern.search(self.lines[self.pos])
                self.pos += 1
                if m:
                    return m
            if not self._take(end - time.monotonic()):
                return None

    def drain(self, seconds):
        """Every line so far, after seconds more of them."""
        end = time.monotonic() + seconds
        while self._take(end - time.monotonic()):
            pass
        return self.lines


def served_by(lines, guest):
    """pid of the worker whose session guest pid connected to first."""
    for l in lines:
        m = re.search(r"\(pid (\d+)\): guest pid %d connected" % guest, l)
        if m:
            return int(m.group(1))
    return None


def standing(ava, prog):
    d = tempfile.mkdtemp(prefix="ava-standing-")
    addr = f"shm:{d}/server.sock"
    srv = subprocess.Popen([ava, "server", "--spare", "--verbose",
                            "--listen", addr], stderr=subprocess.PIPE,
                           text=True)
    log = ServerLog(srv.stderr)
    try:
        return standing_runs(ava, prog, addr, srv, log)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
        shutil.rmtree(d, ignore_errors=True)


def run_guest(ava, prog, addr):
    p = subprocess.Popen([ava, "run", "--server", addr, "--", prog],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    out, err = p.communicate(timeout=120)
    return p.pid, p.returncode, out, err


def standing_runs(ava, prog, addr, srv, log):
    first = None
    spares = []
    for i in range(3):
        m = log.wait_for(READY)
        if m is None:
            print(f"standing: no spare worker became ready before run "
                  f"{i + 1}; the log:\n" + "\n".join(log.lines),
                  file=sys.stderr)
            return 1
        spare_pid = int(m.group(1))
        guest, rc, out, err = run_guest(ava, prog, addr)
        if rc != 0:
            print(f"standing: run {i + 1} exited {rc}:\n{err}",
                  file=sys.stderr)
            return 1
        if first is None:
            first = out
        elif out != first:
            print(f"standing: run {i + 1} printed other output than run "
                  f"1", file=sys.stderr)
            return 1
        # `ava run --server` execs the program: its pid is the guest's.
        lines = log.drain(0.5)
        if served_by(lines, guest) != spare_pid:
            print(f"standing: run {i + 1} (guest pid {guest}) was not "
                  f"served by the spare, pid {spare_pid}; the log:\n" +
                  "\n".join(lines), file=sys.stderr)
            return 1
        spares.append(spare_pid)
    m = log.wait_for(READY)
    if m is None:
        print("standing: no spare after the third run", file=sys.stderr)
        return 1
    os.kill(int(m.group(1)), signal.SIGKILL)
    if log.wait_for(re.compile(r"the spare worker died: Killed; "
                               r"sessions start without it")) is None:
        print("standing: the server did not report its spare's death; "
              "the log:\n" + "\n".join(log.lines), file=sys.stderr)
        return 1
    guest, rc, out, err = run_guest(ava, prog, addr)
    if rc != 0 or out != first:
        print(f"standing: the run after the spare's death exited {rc} "
              f"or printed other output:\n{err}", file=sys.stderr)
        return 1
    if log.wait_for(READY, 1.0) is not None:
        print("standing: a spare was forked again after one died",
              file=sys.stderr)
        return 1
    worker = served_by(log.lines, guest)
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(timeout=30)
    if rc != 0:
        print(f"standing: the server exited {rc} on SIGTERM",
              file=sys.stderr)
        return 1
    for pid in spares + ([worker] if worker else []):
        if os.path.exists(f"/proc/{pid}") and \
                not open(f"/proc/{pid}/stat").read().split(")")[-1] \
                .split()[0] in ("Z", "X"):
            print(f"standing: worker {pid} outlived its server",
                  file=sys.stderr)
            return 1
    print(f"three runs served by spares {spares}; after a spare's death "
          f"the next run was forked a worker and no spare followed")
    return 0


CASES = {"allocator": allocator, "spare": spare, "standing": standing}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in CASES:
        print(__doc__, file=sys.stderr)
        return 99
    return CASES[sys.argv[1]](sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    sys.exit(main())
