#!/usr/bin/python3
"""servertest.py - bad input to a running server, and a server that dies.

Usage:
  servertest.py --ava AVA [--transport unix|tcp] [--no-uring]
                --raw RAWCLIENT --case CASE [--guest CMD...]
  servertest.py --ava AVA [--transport unix|shm|tcp] [--no-uring]
                --dead idle|midcall --guest DEADSERVER
  servertest.py --ava AVA --connect closed|full|unroutable --guest CMD...

--case and --dead start `AVA server --listen unix:SOCK` (shm:SOCK with
--transport shm, tcp:127.0.0.1:0 with --transport tcp, its port read from
the server's stderr) in a fresh directory, in a process group of its own,
with its stderr in a file. --no-uring runs the server with
AVA_SERVER_NO_URING=1 (its poll() accept loop).

--case: runs `RAWCLIENT CASE unix:SOCK` (see rawclient.c), which checks the
server's answers itself. Over tcp, rawclient (which speaks unix: only)
reaches the server through a relay in this script that copies bytes
between a unix socket and a tcp connection, so the server reads them
from tcp as they were written. Then this script checks that the server is still
running, that it logged the bad input in at least one line (and did not
flood its log), and that it still serves a second, well-behaved guest: the
raw client's `valid` case, and --guest (a real OpenCL program through the
guest library, via `AVA run --server`) if given. Last, SIGTERM must stop
the server cleanly.

--dead: runs DEADSERVER through `AVA run --server unix:SOCK`, kills the
server's whole process group with SIGKILL once the program is ready, and
requires the program to finish in time (no hang), with every later call
failing (its own exit status) and one clear line on its stderr.

--connect: runs CMD through `AVA run --server tcp:...` where no server
answers: a port nobody listens on (closed), a listener whose backlog is
full so that the handshake never completes (full; AVA_CONNECT_TIMEOUT_MS
is 300), or an address nothing routes to (unroutable, [100::1], RFC 6666;
300 ms too). The program must fail within a bound, with one line from
ava on its stderr.

Exit status: 0 pass, 1 fail, 99 the test could not run. The server and its
directory are removed in every case.
"""
import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

START_TIMEOUT = 15
STEP_TIMEOUT = 60
LOG_WAIT = 3
MAX_LOG_LINES = 5


class Server:
    def __init__(self, ava, workdir, transport="unix", uring=True):
        self.sock = os.path.join(workdir, "s.sock")
        self.tcp = transport == "tcp"
        self.addr = ("tcp:127.0.0.1:0" if self.tcp
                     else transport + ":" + self.sock)
        self.logpath = os.path.join(workdir, "server.log")
        self.log = open(self.logpath, "wb")
        env = dict(os.environ)
        if not uring:
            env["AVA_SERVER_NO_URING"] = "1"
        self.proc = subprocess.Popen(
            [ava, "server", "--listen", self.addr],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            env=env, start_new_session=True)

    def listening(self):
        """True once the server listens; a tcp: one has named its port."""
        if not self.tcp:
            if not os.path.exists(self.sock):
                return False
            time.sleep(0.2)  # bind() comes just before listen()
            return True
        for line in self.lines():
            m = re.match(r"ava server: listening on (tcp:\S+)$", line)
            if m:
                self.addr = m.group(1)
                return True
        return False

    def wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.listening():
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


def tcp_endpoint(addr):
    """("127.0.0.1", 40123) from tcp:127.0.0.1:40123 (or tcp:[::1]:P)."""
    host, port = addr[len("tcp:"):].rsplit(":", 1)
    return host.strip("[]"), int(port)


def pump(src, dst):
    """Copy src to dst until src ends, then end dst's direction too."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass  # a reset ends the copy as an end of file does
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class Relay:
    """unix:PATH in front of a tcp: server: each connection accepted here
    gets its own tcp connection, and bytes are copied both ways, ends
    included, so that what rawclient writes is what the server reads."""

    def __init__(self, path, addr):
        self.addr = "unix:" + path
        self.target = tcp_endpoint(addr)
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(path)
        self.ls.listen(16)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.ls.accept()
                t = socket.create_connection(self.target)
            except OSError:
                return
            t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for a, b in ((c, t), (t, c)):
                threading.Thread(target=pump, args=(a, b),
                                 daemon=True).start()


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


def bad_input(a, srv, workdir):
    failed = False
    raw_addr = srv.addr
    if srv.tcp:
        raw_addr = Relay(os.path.join(workdir, "relay.sock"), srv.addr).addr
        print(f"== rawclient reaches {srv.addr} through {raw_addr}")
    before = len(srv.lines())
    print(f"== rawclient {a.case}")
    rc = run([a.raw, a.case, raw_addr])
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
    if run([a.raw, "valid", raw_addr]) != 0:
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


def full_listener():
    """A tcp listener whose backlog is full: a further connect is never
    accepted (its SYN is dropped), so it can only time out."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    held = [ls]
    for _ in range(16):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setblocking(False)
        c.connect_ex(ls.getsockname())
        held.append(c)
        if not select.select([], [c], [], 0.2)[1]:
            return ls.getsockname()[1], held  # this one hangs: full
    return None, held


def connect_fail(a):
    """A guest pointed at a tcp: address where no server answers."""
    env = dict(os.environ)
    held = []
    if a.connect == "closed":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        addr = f"tcp:127.0.0.1:{s.getsockname()[1]}"
        s.close()  # nobody listens there now
        limit = 5.0
    else:
        env["AVA_CONNECT_TIMEOUT_MS"] = "300"
        limit = 1.5
        if a.connect == "unroutable":
            addr = "tcp:[100::1]:9"
        else:
            port, held = full_listener()
            if port is None:
                print("could not fill a listener's backlog")
                return 99
            addr = f"tcp:127.0.0.1:{port}"
    cmd = [a.ava, "run", "--server", addr, "--"] + a.guest
    print("== " + " ".join(cmd))
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"FAIL: still running after {STEP_TIMEOUT} s")
        return 1
    finally:
        for x in held:
            x.close()
    took = time.monotonic() - t0
    lines = [x for x in p.stderr.decode("utf-8", "replace").splitlines()
             if x.strip()]
    ours = [x for x in lines if x.startswith("ava")]
    print(f"== exit {p.returncode} after {took:.2f} s; stderr:")
    for line in lines:
        print("  | " + line)
    failed = False
    if p.returncode == 0:
        print("FAIL: the program succeeded without a server")
        failed = True
    if len(ours) != 1 or "cannot connect" not in ours[0]:
        print(f"FAIL: {len(ours)} lines from ava; want one clear line")
        failed = True
    if took > limit:
        print(f"FAIL: took {took:.2f} s; want at most {limit} s")
        failed = True
    if a.connect == "full" and ours and "timed out" not in ours[0]:
        print("FAIL: a connect that is never accepted must time out")
        failed = True
    return 1 if failed else 0


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
    ap.add_argument("--connect", choices=["closed", "full", "unroutable"])
    ap.add_argument("--transport", choices=["unix", "shm", "tcp"],
                    default="unix")
    ap.add_argument("--no-uring", action="store_true")
    ap.add_argument("--guest", nargs=argparse.REMAINDER, default=[])
    a = ap.parse_args()
    if [a.case, a.dead, a.connect].count(None) != 2:
        ap.error("give one of --case, --dead and --connect")
    if a.connect is not None:
        if not a.guest:
            ap.error("--connect needs --guest")
        return connect_fail(a)
    if a.case is not None and a.raw is None:
        ap.error("--case needs --raw")
    if a.dead is not None and not a.guest:
        ap.error("--dead needs --guest")

    workdir = tempfile.mkdtemp(prefix="ava-servertest-")
    srv = Server(a.ava, workdir, a.transport, uring=not a.no_uring)
    try:
        if not srv.wait_listening():
            print("the server did not start listening:")
            print("\n".join(srv.lines()))
            return 99
        rc = bad_input(a, srv, workdir) if a.case else dead_server(a, srv)
        if rc != 0:
            print("== full server log:")
            print("\n".join("  | " + x for x in srv.lines()))
        return rc
    finally:
        srv.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
