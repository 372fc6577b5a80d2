#!/usr/bin/python3
"""Migration, checkpoint and restore with a large live state (issue 6).

A guest (migbench.c) holds LIVE MiB of buffers and rewrites a HOT MiB
buffer, step after step, through two `ava server`s on this host. The
benchmark measures, in one run:

  - live migration A -> B while the guest runs: total time, the guest's
    downtime (the server's own figure: from pausing the guest to letting
    it go at B), bytes moved, rounds;
  - `ava checkpoint` of the running session, and `ava restore` of that
    image onto a third server: throughput in GB/s;
  - memcpy bandwidth on this machine, for the ratios;

and checks that the guest's final digest equals its native run's.

usage: migrate_bench.py --ava AVA --icd ICD GUEST [--live MIB] [--hot MIB]
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Server:
    def __init__(self, ava, addr, log):
        self.log = log
        self.p = subprocess.Popen([ava, "server", "-v", "--listen", addr],
                                  stdout=open(log, "w"),
                                  stderr=subprocess.STDOUT,
                                  start_new_session=True)
        path = addr.split(":", 1)[1]
        for _ in range(1000):
            if os.path.exists(path):
                return
            time.sleep(0.01)
        fail("server did not start")

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)


def session_of(log, pid):
    pat = re.compile(r"session (\d+) \(pid \d+\): guest pid %d connected" % pid)
    for _ in range(1000):
        m = pat.search(open(log).read())
        if m:
            return m.group(1)
        time.sleep(0.01)
    fail("no session for the guest")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava", required=True)
    ap.add_argument("--icd", required=True)
    ap.add_argument("--live", type=int, default=1024)
    ap.add_argument("--hot", type=int, default=64)
    ap.add_argument("--iters", type=int, default=8000)
    ap.add_argument("guest")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ava-migbench-")
    icd = os.path.join(tmp, "icd")
    os.makedirs(icd)
    shutil.copy(args.icd, os.path.join(icd, "ava.icd"))
    servers = []
    try:
        mc = subprocess.run([args.guest, "--memcpy", "512"],
                            capture_output=True, text=True)
        memcpy = float(mc.stdout.split()[1])
        t0 = time.time()
        native = subprocess.run([args.guest, str(args.live), str(args.hot),
                                 str(args.iters)], capture_output=True,
                                text=True, timeout=900)
        if native.returncode != 0:
            fail("native: " + native.stdout + native.stderr)
        native_s = time.time() - t0
        addrs = ["unix:" + os.path.join(tmp, n + ".sock") for n in "abc"]
        logs = [os.path.join(tmp, n + ".log") for n in "abc"]
        for a, l in zip(addrs, logs):
            servers.append(Server(args.ava, a, l))
        pause = os.path.join(tmp, "p")
        os.makedirs(pause)
        env = dict(os.environ, AVA_SERVER=addrs[0], OCL_ICD_VENDORS=icd,
                   AVA_TEST_PAUSE=pause)
        g = subprocess.Popen([args.guest, str(args.live), str(args.hot),
                              str(args.iters)], text=True, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while not os.path.exists(os.path.join(pause, "running")):
            if g.poll() is not None:
                fail("guest: " + g.stderr.read())
            time.sleep(0.05)
        session = session_of(logs[0], g.pid)
        time.sleep(0.5)
        # Live migration A -> B while the guest rewrites its hot buffer.
        t = time.time()
        mg = subprocess.run([args.ava, "migrate", "--server", addrs[0],
                             "--session", session, "--to", addrs[1]],
                            capture_output=True, text=True)
        mg_s = time.time() - t
        if mg.returncode != 0:
            fail("migrate: " + mg.stderr)
        if g.poll() is not None:
            fail("the guest ended before the migration did; raise --iters")
        # Checkpoint of the running guest (now at B), then restore onto C.
        image = os.path.join(tmp, "img")
        t = time.time()
        cp = subprocess.run([args.ava, "checkpoint", "--server", addrs[1],
                             "--session", session, "-o", image],
                            capture_output=True, text=True)
        cp_s = time.time() - t
        if cp.returncode != 0:
            fail("checkpoint: " + cp.stderr)
        size = os.path.getsize(image)
        t = time.time()
        rs = subprocess.run([args.ava, "restore", image, "--server",
                             addrs[2]], capture_output=True, text=True)
        rs_s = time.time() - t
        if rs.returncode != 0:
            fail("restore: " + rs.stderr)
        os.remove(image)
        servers[2].stop()
        out, err = g.communicate(timeout=900)
        if g.returncode != 0 or out != native.stdout:
            fail("the guest's digest differs from native:\n%s\n%s" %
                 (out, err))
        m = re.search(r"(\d+) rounds, (\d+) bytes moved, ([\d.]+) ms in all, "
                      r"the guest paused ([\d.]+) ms", mg.stdout)
        if not m:
            fail("no summary from migrate: " + mg.stdout)
        rounds, moved, total_ms, down_ms = (int(m.group(1)),
                                            int(m.group(2)),
                                            float(m.group(3)),
                                            float(m.group(4)))
        print()
        print("migration benchmark: %d MiB live, %d MiB hot, %d steps "
              "(native run %.1f s)" % (args.live, args.hot, args.iters,
                                      native_s))
        print("%-34s %12s" % ("measure", "figure"))
        print("%-34s %9.1f ms   (goal <= 50 ms)" % ("downtime", down_ms))
        print("%-34s %9.1f ms" % ("total migration time", total_ms))
        print("%-34s %9.1f MiB in %d rounds" % ("bytes moved",
                                               moved / 1048576.0, rounds))
        print("%-34s %9.2f GB/s = %.2f of memcpy" %
              ("checkpoint throughput", size / cp_s / 1e9,
               size / cp_s / 1e9 / memcpy))
        print("%-34s %9.2f GB/s = %.2f of memcpy" %
              ("restore throughput", size / rs_s / 1e9,
               size / rs_s / 1e9 / memcpy))
        print("%-34s %9.2f GB/s" % ("memcpy (this run)", memcpy))
        print("guest digest identical to native: yes")
        print(mg.stdout.strip())
        print(cp.stdout.strip())
        print(rs.stdout.strip())
    finally:
        for s in servers:
            s.stop()
        if not os.environ.get("MTEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
