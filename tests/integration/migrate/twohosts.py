#!/usr/bin/python3
"""Live migration between two hosts (issue 6, "Done when").

Makes two network namespaces joined by a veth pair (10.77.<k>.1 and
10.77.<k>.2), runs an `ava server` in each with a shared secret, and a
guest in the first, which reaches its server over tcp:. While the guest
runs an iterative stencil, the operator migrates it back and forth
between the hosts several times; its output must equal the native run's.
Everything is torn down afterwards, whatever happened.

Exits 77 (skipped) when namespaces cannot be made here (not root, no
`ip`), and says why.

usage: twohosts.py --ava AVA --guest STENCIL --icd ICD
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

STEPS, N = "60000", "65536"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def sh(*cmd, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr.strip()))
    return p


class Hosts:
    def __init__(self):
        k = os.getpid() % 200 + 20
        self.ns = ["ava-a-%d" % os.getpid(), "ava-b-%d" % os.getpid()]
        self.ip = ["10.77.%d.1" % k, "10.77.%d.2" % k]
        self.veth = ["avaA%d" % (os.getpid() % 100000),
                     "avaB%d" % (os.getpid() % 100000)]

    def up(self):
        for n in self.ns:
            sh("ip", "netns", "add", n)
        sh("ip", "link", "add", self.veth[0], "type", "veth", "peer", "name",
           self.veth[1])
        for i in range(2):
            sh("ip", "link", "set", self.veth[i], "netns", self.ns[i])
            sh("ip", "-n", self.ns[i], "addr", "add", self.ip[i] + "/24",
               "dev", self.veth[i])
            sh("ip", "-n", self.ns[i], "link", "set", self.veth[i], "up")
            sh("ip", "-n", self.ns[i], "link", "set", "lo", "up")

    def down(self):
        for n in self.ns:
            sh("ip", "netns", "pids", n, check=False)
            for pid in sh("ip", "netns", "pids", n,
                          check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            sh("ip", "netns", "del", n, check=False)

    def run(self, i, cmd, **kw):
        return ["ip", "netns", "exec", self.ns[i]] + cmd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--icd", required=True)
    args = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("SKIP: two hosts need network namespaces: run as root with "
              "iproute2 (`ip netns`)")
        sys.exit(77)
    h = Hosts()
    try:
        h.up()
    except RuntimeError as e:
        h.down()
        print("SKIP: cannot make network namespaces here: %s" % e)
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="ava-2hosts-")
    procs = []
    try:
        native = subprocess.run([args.guest, STEPS, N], capture_output=True,
                                text=True, timeout=300)
        if native.returncode != 0:
            fail("native: " + native.stdout + native.stderr)
        secret = os.path.join(tmp, "secret")
        open(secret, "w").write("two hosts, one secret, 32 bytes+\n")
        os.chmod(secret, 0o600)
        icd = os.path.join(tmp, "icd")
        os.makedirs(icd)
        shutil.copy(args.icd, os.path.join(icd, "ava.icd"))
        addr = ["tcp:%s:7070" % h.ip[0], "tcp:%s:7070" % h.ip[1]]
        logs = [os.path.join(tmp, "a.log"), os.path.join(tmp, "b.log")]
        for i in range(2):
            p = subprocess.Popen(h.run(i, [args.ava, "server", "-v",
                                           "--listen", addr[i],
                                           "--secret", secret]),
                                 stdout=open(logs[i], "w"),
                                 stderr=subprocess.STDOUT)
            procs.append(p)
        time.sleep(1.0)
        for i, p in enumerate(procs):
            if p.poll() is not None:
                fail("server %d did not start: %s" % (i, open(logs[i]).read()))
        env = dict(os.environ, AVA_SERVER=addr[0], OCL_ICD_VENDORS=icd)
        g = subprocess.Popen(h.run(0, [args.guest, STEPS, N]), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env)
        session = None
        for _ in range(500):
            for line in open(logs[0]):
                if "guest pid" in line and "connected" in line:
                    session = line.split("session ")[1].split()[0]
            if session:
                break
            time.sleep(0.01)
        if session is None:
            fail("the guest never reached host A: " + open(logs[0]).read())
        hops, at = 0, 0
        time.sleep(0.3)
        while g.poll() is None and hops < 4:
            src, dst = addr[at], addr[1 - at]
            p = subprocess.run(h.run(at, [args.ava, "migrate", "--server",
                                          src, "--session", session, "--to",
                                          dst, "--secret", secret]),
                               capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                if g.poll() is not None:
                    break
                fail("migrate %s -> %s: %s" % (src, dst, p.stderr))
            print("hop %d (%s -> %s): %s" % (hops + 1, h.ns[at],
                                            h.ns[1 - at], p.stdout.strip()))
            hops += 1
            at = 1 - at
            time.sleep(0.2)
        out, err = g.communicate(timeout=300)
        if g.returncode != 0 or out != native.stdout:
            fail("the guest's output differs from native (rc %d):\n%s\n"
                 "stderr:\n%s\nA's log:\n%s\nB's log:\n%s"
                 % (g.returncode, out, err, open(logs[0]).read()[-3000:],
                    open(logs[1]).read()[-3000:]))
        if hops < 3:
            fail("only %d migrations before the guest ended" % hops)
        print("two hosts: %d live migrations over veth, output identical "
              "to native" % hops)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        h.down()
        if not os.environ.get("MTEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
