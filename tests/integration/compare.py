#!/usr/bin/python3
"""compare.py - run a program natively and through `ava run --`, diff.

Usage:
  compare.py [--ava AVA] [--mask REGEX]... [--drop REGEX]... [--timeout S]
             -- CMD [ARG...]

The program runs natively twice (the two transcripts must agree, or the
test itself is not deterministic and proves nothing), then once through
`AVA run -- CMD ARG...`. Its stdout and exit status must be the same byte
for byte. An argument spelled @TMP@ is replaced by a fresh empty
directory for each run. A --mask REGEX (with one group) replaces what the
group matched with '*' on both sides before comparing: it is for the few
lines that name the platform itself, and each mask must be stated by the
caller. A --drop REGEX (multi-line: ^ and $ match at each line) removes
what it matches, whole lines, from both sides before masking: it is for
lines that describe a feature ava hides, which a run through ava does not
print at all; each must be stated by the caller, with the reason.

Without --ava only the two native runs are made: the native baseline test.

Exit status: 0 identical; 1 the run through ava differs (the diff and the
run's stderr are printed); 77 the program skipped natively (its reason is
passed on); 99 the native baseline failed or is not deterministic, or a
run timed out.
"""
import argparse
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile


class Run:
    def __init__(self, rc, out, err, timed_out):
        self.rc, self.out, self.err, self.timed_out = rc, out, err, timed_out


def run(cmd, env, timeout, workdir):
    """Run cmd in its own process group; kill the group on timeout."""
    args = [a.replace("@TMP@", workdir) for a in cmd]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return Run(p.returncode, out, err, False)
    except subprocess.TimeoutExpired:
        # SIGTERM first, so that `ava run` can stop its private server and
        # remove its directory; then SIGKILL whatever is left.
        os.killpg(p.pid, signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
        return Run(None, out, err, True)
    finally:
        # Whatever the program left in its group (a private server, a
        # worker) goes with it.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def masked(text, masks, drops=()):
    text = text.decode("utf-8", "replace")
    for d in drops:
        text = d.sub("", text)
    lines = text.splitlines(keepends=True)
    res = []
    for line in lines:
        for m in masks:
            mo = m.search(line)
            if mo:
                s, e = mo.span(1)
                line = line[:s] + "*" + line[e:]
        res.append(line)
    return res


def tail(b, n=40):
    lines = b.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-n:])


def describe(label, r):
    if r.timed_out:
        return f"{label}: timed out"
    if r.rc < 0:
        return f"{label}: killed by signal {-r.rc}"
    return f"{label}: exit {r.rc}"


def on_sigterm(signum, frame):
    # meson's timeout: unwind so that the running group is killed and the
    # directory removed.
    raise SystemExit(99)


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    ap = argparse.ArgumentParser()
    ap.add_argument("--ava")
    ap.add_argument("--mask", action="append", default=[])
    ap.add_argument("--drop", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    masks = [re.compile(m) for m in a.mask]
    drops = [re.compile(d, re.M) for d in a.drop]

    # The native runs must not be steered at ava by the caller's setting.
    native_env = dict(os.environ)
    for k in ("OCL_ICD_VENDORS", "OCL_ICD_FILENAMES", "AVA_SERVER"):
        native_env.pop(k, None)

    base = tempfile.mkdtemp(prefix="ava-compare-")
    try:
        runs = []
        for i in range(2):
            d = os.path.join(base, f"native{i}")
            os.mkdir(d)
            runs.append(run(cmd, native_env, a.timeout, d))
        n1, n2 = runs
        if n1.rc == 77:
            sys.stderr.write(n1.err.decode("utf-8", "replace"))
            return 77
        if n1.timed_out or n1.rc != 0:
            print(describe("native run", n1))
            print(tail(n1.out))
            print(tail(n1.err))
            return 99
        if masked(n1.out, masks, drops) != masked(n2.out, masks, drops) or n2.rc != 0:
            print("native runs differ: the transcript is not deterministic")
            sys.stdout.writelines(difflib.unified_diff(
                masked(n1.out, masks, drops), masked(n2.out, masks, drops),
                "native-1", "native-2"))
            return 99
        print(f"native: exit 0, {len(n1.out.splitlines())} lines, "
              "identical over two runs")
        if a.ava is None:
            return 0

        d = os.path.join(base, "ava")
        os.mkdir(d)
        v = run([a.ava, "run", "--"] + cmd, native_env, a.timeout, d)
        want, got = masked(n1.out, masks, drops), masked(v.out, masks, drops)
        same = want == got and v.rc == n1.rc and not v.timed_out
        print(describe("through ava", v) + (", identical" if same else ""))
        if same:
            return 0
        if want != got:
            sys.stdout.writelines(difflib.unified_diff(
                want, got, "native", "ava"))
        print("-- stderr of the run through ava (last lines):")
        print(tail(v.err))
        return 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
