#!/usr/bin/python3
"""replay-test.py - record programs through ava, then replay, trim and diff
their journals.

Usage:
  replay-test.py --ava AVA --prog PROG --tamper TOOL [--threads T]
                 CASE [-- CMD [ARG...]]

Cases:
  roundtrip -- CMD   record CMD (`ava run --journal`), replay: exit 0, and a
                     JSON report whose result is "ok" and whose call count
                     is the journal's
  tamper             one output digest of a recorded clEnqueueReadBuffer
                     changed (TOOL): replay exits 1 naming that call
  crash-self         a program whose second thread ends (saying goodbye for
                     itself), then that kills itself: the journal ends
                     "guest vanished"; replay reproduces every call and
                     exits 0
  vendor-fault       a program that makes PoCL fault: the journal ends in a
                     fault at the enqueue; replay exits 3 with "reproduced:
                     crash at #N clEnqueueNDRangeKernel(...)"
  kernel-fault       a kernel that faults in a PoCL thread: the journal
                     ends in a fault blamed on the call in flight (or the
                     last started); replay exits 3
  trim               a buggy kernel's journal trimmed to the read of its
                     output: fewer calls, the unrelated kernel gone, and the
                     trimmed journal replays to the same wrong digest
  diff               two identical runs: no difference (exit 0); a run with
                     another input: the first differing call named (exit 1)
  until              --until stops at the call named
  user-event         a wait on a user event that another thread completes
                     replays (no deadlock); trimmed to the wait, the journal
                     keeps the completing call; without that call, replay
                     reports the wait as stalled (--stall 2) and exits 1
  other-device       recorded on PoCL's default device, replayed with
                     POCL_DEVICES=basic: exit 0
  other-device-binary  a program created from a binary, replayed on the
                     basic device: exit 1 with a clear hint
  bench              a launch-heavy run recorded and replayed: prints the
                     speed of replay against the recorded run

PROG is replay-prog.c's binary. An argument spelled @TMP@ becomes a fresh
directory. Exit status: 0 pass, 1 fail, 77 skip (the reason on stderr),
99 a hard error (a recording that failed to run).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def clean_env(extra=None):
    env = dict(os.environ)
    for k in ("OCL_ICD_VENDORS", "OCL_ICD_FILENAMES", "AVA_SERVER"):
        env.pop(k, None)
    env.update(extra or {})
    return env


def run(cmd, env=None, timeout=180):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env or clean_env(),
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise Fail(f"timed out: {' '.join(cmd)}")
    return p.returncode, out.decode("utf-8", "replace"), \
        err.decode("utf-8", "replace")


class T:
    def __init__(self, a, base):
        self.ava, self.prog, self.tamper, self.base = a.ava, a.prog, a.tamper, base
        self.threads = a.threads
        self.n = 0

    def path(self, name):
        self.n += 1
        return os.path.join(self.base, f"{self.n}-{name}")

    def record(self, cmd, name="journal", env=None):
        d = self.path(name)
        work = self.path("work")
        os.mkdir(work)
        cmd = [c.replace("@TMP@", work) for c in cmd]
        rc, out, err = run([self.ava, "run", "--journal", d, "--"] + cmd,
                           env=env)
        if not os.path.isdir(d):
            print(out, err)
            raise Fail(f"no journal recorded for {cmd}")
        print(f"recorded {' '.join(cmd)}: exit {rc}")
        return d, rc, out

    def ava_cmd(self, *args, env=None):
        rc, out, err = run([self.ava] + list(args), env=env)
        sys.stdout.write(out)
        sys.stdout.write(err)
        return rc, out, err

    def replay(self, d, *args, env=None):
        report = self.path("report.json")
        rc, out, err = self.ava_cmd("replay", d, "--report", report, *args,
                                    env=env)
        rep = None
        if os.path.exists(report):
            with open(report) as f:
                rep = json.load(f)
        return rc, out, rep

    def dump(self, d):
        rc, out, err = run([self.ava, "journal", "dump", d])
        if rc != 0:
            raise Fail(f"journal dump {d}: exit {rc}: {err}")
        return out.splitlines()

    def ls(self, d):
        rc, out, err = run([self.ava, "journal", "ls", d])
        if rc != 0:
            raise Fail(f"journal ls {d}: exit {rc}: {err}")
        return out


def expect(cond, what):
    if not cond:
        raise Fail(what)
    print(f"ok: {what}")


def seq_of(line):
    return int(line.split()[0][1:])


def last_call(lines, fn):
    hits = [ln for ln in lines if re.match(rf"#\d+ t\d+ {fn}\(", ln)]
    if not hits:
        raise Fail(f"no {fn} in the journal")
    return hits[-1]


# ---- cases -------------------------------------------------------------

def case_roundtrip(t, cmd):
    d, rc, _ = t.record(cmd)
    calls = len(t.dump(d))
    rc, out, rep = t.replay(d)
    expect(rc == 0, f"replay exits 0 (got {rc})")
    expect(rep is not None and rep["result"] == "ok", "the report says ok")
    expect(rep["calls"] == calls,
           f"every recorded call replayed ({rep['calls']} of {calls})")
    expect(rep["time"]["replay_s"] > 0, "the report has the replay time")


def case_tamper(t):
    d, rc, _ = t.record([t.prog, "input", "3"])
    read = last_call(t.dump(d), "clEnqueueReadBuffer")
    seq = seq_of(read)
    bad = t.path("tampered")
    rc, out, err = run([t.tamper, os.path.join(d, "session-1"), bad, str(seq)])
    expect(rc == 0, f"journal-tamper changed call #{seq}'s digest: {out}{err}")
    rc, out, rep = t.replay(bad)
    expect(rc == 1, f"replay of the tampered journal exits 1 (got {rc})")
    expect(f"divergence at #{seq}" in out, f"the report names #{seq}")
    expect(f"#{seq} t1 clEnqueueReadBuffer(" in out,
           "the report prints the call as dump does")
    expect(rep["result"] == "diverged" and rep["divergence"]["seq"] == seq,
           "the JSON report names the call")
    expect("out buffer ptr" in rep["divergence"]["what"],
           "the difference is the output buffer")
    rc, out, rep = t.replay(bad, "--no-verify")
    expect(rc == 0 and rep["calls"] > seq - 1,
           "with --no-verify the same journal replays to its end")


def record_on_server(t, cmd):
    """Record cmd against a server of its own, which is stopped only once
    the session has ended: `ava run` stops its private server as soon as
    the program exits, which can end the session as "server stopped"
    before the worker sees the guest vanish."""
    d = t.path("journal")
    sock = t.path("server.sock")
    srv = subprocess.Popen([t.ava, "server", "--listen", "unix:" + sock,
                            "--journal", d], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           env=clean_env(), start_new_session=True)
    try:
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        icd = os.path.join(os.path.dirname(os.path.abspath(t.ava)), "..",
                           "guest", "ava.icd")
        rc, out, err = run(cmd, env=clean_env({
            "OCL_ICD_VENDORS": os.path.normpath(icd),
            "AVA_SERVER": "unix:" + sock}))
        print(f"recorded {' '.join(cmd)}: exit {rc}")
        for _ in range(1000):
            if os.path.isdir(d) and "running" not in t.ls(d):
                break
            time.sleep(0.01)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=30)
    return d, rc


def case_crash_self(t):
    d, rc = record_on_server(t, [t.prog, "crash-self"])
    expect(rc != 0, f"the program crashed (exit {rc})")
    expect("guest vanished" in t.ls(d), "the journal ends: guest vanished")
    rc, out, rep = t.replay(d)
    expect(rc == 0, f"replay exits 0 (got {rc})")
    expect("guest vanished" in out and "every call the application made" in out,
           "the report says the guest vanished and every call was replayed")


def case_vendor_fault(t):
    d, rc, _ = t.record([t.prog, "vendor-fault"])
    ls = t.ls(d)
    m = re.search(r"fault at #(\d+)", ls)
    if m is None:
        raise Skip("the recorded run did not fault in the driver (does the "
                   "guest refuse a NULL wait list now?):\n" + ls)
    n = int(m.group(1))
    line = [ln for ln in t.dump(d) if ln.startswith(f"#{n} ")]
    expect(line and "clEnqueueNDRangeKernel(" in line[0] and
           "<no reply>" in line[0], f"the journal holds the faulting call #{n}")
    rc, out, rep = t.replay(d)
    expect(rc == 3, f"replay exits 3, the fault reproduced (got {rc})")
    expect(f"reproduced: crash at #{n} clEnqueueNDRangeKernel(" in out,
           "the report names the call")
    expect(rep["result"] == "reproduced" and rep["crash"]["seq"] == n,
           "the JSON report says reproduced")


def case_kernel_fault(t):
    d, rc, _ = t.record([t.prog, "kernel-fault"])
    ls = t.ls(d)
    m = re.search(r"fault at #(\d+)", ls)
    expect(m is not None, "the journal ends in a fault:\n" + ls)
    lines = t.dump(d)
    expect(any("clEnqueueNDRangeKernel(" in ln for ln in lines),
           "the journal holds the launch (the calls before the fault were "
           "committed)")
    rc, out, rep = t.replay(d)
    expect(rc == 3, f"replay exits 3, the fault reproduced (got {rc})")
    expect("reproduced: crash at #" in out, "the report says reproduced")


def case_trim(t):
    d, rc, out = t.record([t.prog, "buggy"])
    expect(rc == 1, "the buggy program failed its check")
    wrong = re.search(r"scale digest: ([0-9a-f]{16})", out).group(1)
    lines = t.dump(d)
    read = last_call(lines, "clEnqueueReadBuffer")
    seq = seq_of(read)
    expect(f"xxh3 {wrong}" in read, "the journal recorded the wrong result")
    small = t.path("trimmed")
    rc, out, err = t.ava_cmd("journal", "trim", d, "--keep", str(seq),
                             "-o", small)
    expect(rc == 0, "journal trim exits 0")
    kept = t.dump(small)
    expect(len(kept) < len(lines),
           f"the trimmed journal is smaller ({len(kept)} of {len(lines)})")
    expect(any(ln.startswith(f"#{seq} ") and f"xxh3 {wrong}" in ln
               for ln in kept), "it keeps the read with the wrong digest")
    expect(any('kernel_name="scale"' in ln for ln in kept) and
           any("clEnqueueNDRangeKernel(" in ln for ln in kept) and
           any("clEnqueueWriteBuffer(" in ln for ln in kept),
           "it keeps the buggy kernel, its launch and its input")
    expect(not any('kernel_name="add"' in ln for ln in kept),
           "it drops the unrelated kernel")
    rc, out, rep = t.replay(small)
    expect(rc == 0, f"the trimmed journal replays (exit {rc}): the same wrong "
           "digest came back")


def case_diff(t):
    a, _, _ = t.record([t.prog, "input", "3"], "a")
    b, _, _ = t.record([t.prog, "input", "3"], "b")
    c, _, _ = t.record([t.prog, "input", "4"], "c")
    rc, out, err = t.ava_cmd("journal", "diff", a, b)
    expect(rc == 0 and "no difference" in out, "identical runs: no difference")
    rc, out, err = t.ava_cmd("journal", "diff", a, c)
    expect(rc == 1, f"different input: exit 1 (got {rc})")
    w = last_call(t.dump(a), "clEnqueueWriteBuffer")
    expect(f"first difference: A #{seq_of(w)}" in out and
           "clEnqueueWriteBuffer(" in out and "argument ptr" in out,
           "the first differing call is the write of the input")


def case_until(t):
    d, _, _ = t.record([t.prog, "input", "3"])
    rc, out, rep = t.replay(d, "--until", "9")
    expect(rc == 0 and rep["calls"] == 9, "--until 9 replays 9 calls")
    rc, out, rep = t.replay(d, "--speed", "recorded")
    tm = rep["time"]
    expect(rc == 0 and tm["replay_s"] >= 0.9 * tm["recorded_span_s"],
           "--speed recorded keeps the recorded pace "
           f"({tm['replay_s']:.3f} s for {tm['recorded_span_s']:.3f} s)")
    rc, out, err = t.ava_cmd("replay", d, "--speed", "warp")
    expect(rc == 2, "a bad option is a usage error (exit 2)")


def case_user_event(t):
    d, rc, _ = t.record([t.threads])
    expect(rc == 0, "the threads program ran")
    lines = t.dump(d)
    wait = last_call(lines, "clWaitForEvents")
    done = last_call(lines, "clSetUserEventStatus")
    w, s = seq_of(wait), seq_of(done)
    expect(w < s and wait.split()[1] != done.split()[1],
           f"#{w} waits for an event that #{s}, another thread, completes")
    rc, out, rep = t.replay(d)
    expect(rc == 0 and rep["threads"] > 1,
           f"replay exits 0 with {rep['threads']} threads")
    small = t.path("wait-only")
    rc, out, err = t.ava_cmd("journal", "trim", d, "--keep", str(w),
                             "-o", small)
    kept = t.dump(small)
    expect(any(ln.startswith(f"#{s} ") for ln in kept),
           "trimmed to the wait, the journal keeps the completing call")
    rc, out, rep = t.replay(small)
    expect(rc == 0, "and replays")
    stuck = t.path("stuck")
    rc, out, err = run([t.tamper, os.path.join(d, "session-1"), stuck,
                        "--drop", str(s)])
    expect(rc == 0, "the completing call left out")
    rc, out, rep = t.replay(stuck, "--stall", "2")
    expect(rc == 1 and rep["divergence"]["seq"] == w and
           rep["divergence"]["stalled"],
           f"the wait is reported as stalled at #{w}")


def basic_device_or_skip(t):
    rc, out, err = run([t.prog, "input", "1"],
                       env=clean_env({"POCL_DEVICES": "basic"}))
    if rc != 0:
        raise Skip("no PoCL basic device here: " + err.strip())


def case_other_device(t):
    basic_device_or_skip(t)
    d, _, _ = t.record([t.prog, "input", "3"])
    rc, out, rep = t.replay(d, env=clean_env({"POCL_DEVICES": "basic"}))
    expect(rc == 0, "replay on the basic device exits 0: the kernels were "
           "rebuilt from their source")


def case_other_device_binary(t):
    basic_device_or_skip(t)
    d, rc, _ = t.record([t.prog, "binary"])
    expect(rc == 0, "the binary program ran")
    rc, out, rep = t.replay(d)
    expect(rc == 0, "it replays on the device that recorded it")
    rc, out, rep = t.replay(d, env=clean_env({"POCL_DEVICES": "basic"}))
    expect(rc == 1, f"on the basic device replay exits 1 (got {rc})")
    div = rep["divergence"]
    expect("clCreateProgramWithBinary" in div["call"] and
           "another device" in div["hint"],
           "the divergence is the binary, with a hint that says why")


def case_bench(t):
    """Best of three replays against the recorded run: the machine may be
    shared, and the fastest run is the one least disturbed."""
    n = 3000
    t0 = time.monotonic()
    d, rc, _ = t.record([t.prog, "launches", str(n)])
    rec_wall = time.monotonic() - t0
    expect(rc == 0, "the benchmark ran")
    best = None
    for _ in range(3):
        t0 = time.monotonic()
        rc, out, rep = t.replay(d)
        wall = time.monotonic() - t0
        expect(rc == 0, "it replays")
        if best is None or rep["time"]["replay_s"] < best[0]["time"]["replay_s"]:
            best = (rep, wall)
    rep, rep_wall = best
    tm = rep["time"]
    rows = [
        (f"{rep['calls']} calls, first call to last", tm["recorded_span_s"],
         tm["replay_s"]),
        ("inside the calls", tm["recorded_busy_s"], tm["replay_busy_s"]),
        ("whole command (ava run / ava replay)", rec_wall, rep_wall),
    ]
    print()
    print(f"{'launch-heavy benchmark':40s} {'recorded':>10s} {'replay':>10s} "
          f"{'speed':>8s}")
    for label, r, p in rows:
        print(f"{label:40s} {r:9.3f}s {p:9.3f}s {r / p:7.2f}x")
    print(f"replay ran {tm['recorded_span_s'] / tm['replay_s']:.2f}x the "
          f"recorded speed (load {os.getloadavg()[0]:.2f}; timing never "
          "fails this test)")


CASES = {
    "tamper": case_tamper, "crash-self": case_crash_self,
    "vendor-fault": case_vendor_fault, "kernel-fault": case_kernel_fault,
    "trim": case_trim,
    "diff": case_diff, "until": case_until, "user-event": case_user_event,
    "other-device": case_other_device,
    "other-device-binary": case_other_device_binary, "bench": case_bench,
}


def main():
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(99))
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava", required=True)
    ap.add_argument("--prog", required=True)
    ap.add_argument("--tamper", required=True)
    ap.add_argument("--threads", help="the integration threads program")
    ap.add_argument("case")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    base = tempfile.mkdtemp(prefix="ava-replay-test-")
    try:
        t = T(a, base)
        if a.case == "roundtrip":
            case_roundtrip(t, cmd)
        elif a.case in CASES:
            CASES[a.case](t)
        else:
            print(f"unknown case {a.case}")
            return 99
        return 0
    except Skip as e:
        sys.stderr.write(f"skip: {e}\n")
        return 77
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
