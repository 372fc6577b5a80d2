#!/usr/bin/python3
"""servertest.py - bad input to a running server, and a server that dies.

Usage:
  servertest.py --ava AVA --raw RAWCLIENT --case CASE [--guest CMD...]
  servertest.py --ava AVA --dead idle|midcall [--transport unix|shm]
                --guest DEADSERVER

Both start `AVA server --listen unix:SOCK` (or shm:SOCK with --transport
shm) in a fresh directory, in a process group of its own, with its stderr
in a file.

--case: runs `RAWCLIENT CASE unix:SOCK` (see rawclient.c), which checks the
server's answers itself. Then this script checks that the server is still
running, that it logged the bad input in at least one line (and did not
flood its log), and that it still serves a second, well-behaved guest: the
raw client's `valid` case, and --guest (a real OpenCL program through the
guest library, via `AVA run --server`) if given. Last, SIGTERM must stop
the server cleanly.

--dead: runs DEADSERVER through `AVA run --server unix:SOCK`, kills the
server's whole process group with SIGKILL once the program is ready, and
requires the program to finish in time (no hang), with every later call
failing (its own exit status) and one clear line on its stderr.

Exit status: 0 pass, 1 fail, 99 the test could not run. The server and its
directory are removed in every case.
"""
import argparse
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

START_TIMEOUT = 15
STEP_TIMEOUT = 60
LOG_WAIT = 3
MAX_LOG_LINES = 5


class Server:
    def __init__(self, ava, workdir, transport="unix"):
        self.sock = os.path.join(workdir, "s.sock")
        self.addr = transport + ":" + self.sock
        self.logpath = os.path.join(workdir, "server.log")
        self.log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(
            [ava, "server", "--listen", self.addr],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            start_new_session=True)

    def wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if os.path.exists(self.sock):
                time.sleep(0.2)  # bind() comes just before listen()
                return True
            time.sleep(0.05)
        return False

    def lines(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()

    def kill_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self):
        """SIGTERM; returns the exit status, or None if it had to be killed."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return None

    def cleanup(self):
        self.kill_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()


def sanitizer_report(lines):
    """True if ASan, LSan or UBSan wrote a report (sanitizer builds)."""
    keys = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
            "runtime error:")
    return any(k in line for line in lines for k in keys)


def run(cmd, timeout=STEP_TIMEOUT, quiet=False):
    """Run cmd, print its output (quiet: only when it fails); its status."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        print(out.decode("utf-8", "replace"), end="")
        print(f"FAIL: {' '.join(cmd)} did not finish in {timeout} s")
        return None
    if not quiet or p.returncode != 0:
        print(out.decode("utf-8", "replace"), end="")
    return p.returncode


# Cases that send nothing the server should log: the valid baseline, and
# calls that are well-formed but whose sizes disagree with their other
# arguments, which the server refuses with an API error.
QUIET_CASES = ("valid", "lying-sizes")


def bad_input(a, srv):
    failed = False
    before = len(srv.lines())
    print(f"== rawclient {a.case}")
    rc = run([a.raw, a.case, srv.addr])
    if rc == 99:
        print("could not run the case (see above)")
        return 99
    if rc != 0:
        print(f"FAIL: the server mishandled '{a.case}' (rawclient exit {rc})")
        failed = True

    # The worker logs as it closes the session, just after the client
    # has gone; a valid session has nothing to log, so no wait for it.
    deadline = time.monotonic() + (LOG_WAIT if a.case not in QUIET_CASES
                                   else 0)
    while len(srv.lines()) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    new = srv.lines()[before:]
    print(f"== server log, {len(new)} new line(s):")
    for line in new:
        print("  | " + line)
    if a.case not in QUIET_CASES:
        if not new:
            print("FAIL: the server logged nothing about the bad input")
            failed = True
        elif len(new) > MAX_LOG_LINES:
            print(f"FAIL: {len(new)} log lines for one bad input; want one")
            failed = True
    if srv.proc.poll() is not None:
        print(f"FAIL: the server exited ({srv.proc.returncode})")
        return 1

    print("== a second, well-behaved guest: rawclient valid")
    if run([a.raw, "valid", srv.addr]) != 0:
        print("FAIL: the server no longer serves a valid raw session")
        failed = True
    if a.guest:
        print("== a second, well-behaved guest: " + " ".join(a.guest))
        rc = run([a.ava, "run", "--server", srv.addr, "--"] + a.guest,
                 quiet=True)
        if rc == 0:
            print("exit 0: its own checks passed")
        else:
            print(f"FAIL: a real OpenCL program through ava exited {rc}")
            failed = True
    rc = srv.stop()
    print(f"== SIGTERM: server exit status {rc}")
    if rc != 0:
        print("FAIL: the server did not stop cleanly on SIGTERM")
        failed = True
    if sanitizer_report(srv.lines()):
        print("FAIL: a sanitizer reported an error in the server")
        failed = True
    return 1 if failed else 0


def read_until_ready(p, deadline):
    """Lines of p's stdout up to 'ready'; None if it never came in time."""
    seen, buf = [], b""
    fd = p.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            seen.append(line.decode("utf-8", "replace"))
            if seen[-1] == "ready":
                return seen


def dead_server(a, srv):
    cmd = [a.ava, "run", "--server", srv.addr, "--"] + a.guest + [a.dead]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        seen = read_until_ready(p, time.monotonic() + STEP_TIMEOUT)
        if seen is None:
            print("the program never became ready")
            return 99
        for line in seen:
            print("  " + line)
        if a.dead == "midcall":
            time.sleep(0.5)  # let it block inside the call
        srv.kill_group(signal.SIGKILL)
        srv.proc.wait(timeout=10)
        print(f"== server killed ({a.dead})")
        t0 = time.monotonic()
        if a.dead == "idle":
            p.stdin.write(b"go\n")
            p.stdin.flush()
        try:
            out, err = p.communicate(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"FAIL: the program hung: still running {STEP_TIMEOUT} s "
                  "after its server died")
            return 1
        took = time.monotonic() - t0
        print(out.decode("utf-8", "replace"), end="")
        lines = [x for x in err.decode("utf-8", "replace").splitlines()
                 if x.strip()]
        print(f"== program exit {p.returncode} after the kill; "
              f"stderr, {len(lines)} line(s):")
        for line in lines:
            print("  | " + line)
        failed = False
        if p.returncode != 0:
            print("FAIL: calls after the server's death did not all fail "
                  "(or the program crashed)")
            failed = True
        if not lines:
            print("FAIL: nothing on stderr about the lost server")
            failed = True
        elif len(lines) > 1:
            print(f"FAIL: {len(lines)} stderr lines; want one clear line")
            failed = True
        # Informational only: no timing in pass/fail.
        print(f"(the program finished {took:.2f} s after the kill)")
        return 1 if failed else 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def on_sigterm(signum, frame):
    # meson's timeout: unwind, so that the server is killed and the
    # directory removed (the server runs in a session of its own).
    raise SystemExit(99)


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava", required=True)
    ap.add_argument("--raw")
    ap.add_argument("--case")
    ap.add_argument("--dead", choices=["idle", "midcall"])
    ap.add_argument("--transport", choices=["unix", "shm"], default="unix")
    ap.add_argument("--guest", nargs=argparse.REMAINDER, default=[])
    a = ap.parse_args()
    if (a.case is None) == (a.dead is None):
        ap.error("give --case or --dead")
    if a.case is not None and a.raw is None:
        ap.error("--case needs --raw")
    if a.dead is not None and not a.guest:
        ap.error("--dead needs --guest")

    workdir = tempfile.mkdtemp(prefix="ava-servertest-")
    srv = Server(a.ava, workdir, a.transport)
    try:
        if not srv.wait_listening():
            print("the server did not start listening:")
            print("\n".join(srv.lines()))
            return 99
        rc = bad_input(a, srv) if a.case else dead_server(a, srv)
        if rc != 0:
            print("== full server log:")
            print("\n".join("  | " + x for x in srv.lines()))
        return rc
    finally:
        srv.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
