#!/usr/bin/python3
"""jtest.py - the journal's end-to-end acceptance tests.

Usage:
  jtest.py TEST --ava AVA --guest JGUEST --jread JREAD [--iters N] [--seed S]

A real guest (jguest.c) runs through `ava run --journal` or against an
`ava server --journal`, and its journal is read back through the reader
API (jread.c) and through `ava journal`. TEST is one of:

  faithful  the journal holds the calls the guest made, in number and in
            order, per thread and across its single-threaded phases;
            handles show as virtual ids, never as pointers; every input
            buffer reads back byte for byte; a 1 MiB buffer written 10
            times is stored as one blob.
  crash     the server (its whole process group, worker included) is
            SIGKILLed at a random moment of a heavy recording, --iters
            times, under --sync batch, strict and none in turn; each time
            `ava journal verify` passes, the journal is a gap-free prefix of
            the guest's calls, and under strict it holds every call the
            guest saw return.
  corrupt   damaged copies of a real journal: every `ava journal` command
            exits nonzero with exactly one "ava: journal ..." line where
            it reads the damage, and 0 without a word where it does not
            (only verify reads blob bytes; only ls skips call records);
            never a crash, a sanitizer report or a hang.
  state     create/write/release churn: a --journal-mode state journal
            keeps its size from N to 4N rounds, a full one grows.
  refused   `ava run --journal DIR` where DIR cannot be made (under a
            plain file): the session is refused with one line that names
            DIR and says why, the program fails at once instead of
            running unrecorded, and nothing is made. `ava run`'s spare
            worker opens the journal while it loads the vendor library,
            so this is the refusal from beside that loading.
  uring     AVA_JOURNAL_STATS=1 shows the server's journal writing blobs
            through io_uring; AVA_JOURNAL_NO_URING=1 logs one line, uses
            pwrite, and records the same calls and the same segment bytes.

The tests are in jfaithful.py (faithful, uring), jdamage.py (crash,
corrupt) and here (state); jlib.py holds what they share.

The ICD loader makes calls of its own as it loads ava's ICD, and answers
clGetPlatformIDs itself; jguest's probe runs measure both, so no test
assumes what the loader does.

Exit status: 0 pass, 1 a check failed, 77 skipped (why is printed), 99 the
set-up failed.
"""
import argparse
import os
import shutil
import sys
import tempfile

# The sibling modules load from the source tree: leave no __pycache__ there.
sys.dont_write_bytecode = True
from jdamage import test_corrupt, test_crash  # noqa: E402
from jfaithful import test_faithful, test_uring  # noqa: E402
from jlib import (  # noqa: E402
    Fail, Hard, Skip, check, jread_info, only_session, run, tree_bytes)


# ---- state ----------------------------------------------------------------

def test_state(ctx):
    n, size = ctx.rounds, ctx.size
    sizes = {}
    for mode in ("state", "full"):
        for rounds in (n, 4 * n):
            d = os.path.join(ctx.tmp, f"{mode}-{rounds}")
            rc, out, err = run([ctx.ava, "run", "--journal", d,
                                "--journal-mode", mode, "--", ctx.guest,
                                "churn", rounds, size], timeout=300)
            check(rc == 0, f"churn {mode} {rounds} failed: {err.strip()}")
            rc, vout, verr = run([ctx.ava, "journal", "verify", d])
            check(rc == 0, f"verify {mode} {rounds}: {verr.strip()}")
            info = jread_info(ctx, only_session(d))
            sizes[(mode, rounds)] = tree_bytes(d)
            print(f"{mode:<5} {rounds:>5} rounds of {size} bytes: "
                  f"{sizes[(mode, rounds)]:>10} bytes on disk, "
                  f"{info['calls']} calls and {info['blobs']} blobs stored")
            if mode == "state":
                check(info["blobs"] == 0, "state: blobs of released "
                      "buffers are still stored")
            shutil.rmtree(d)
    grow_full = sizes[("full", 4 * n)] - sizes[("full", n)]
    grow_state = sizes[("state", 4 * n)] - sizes[("state", n)]
    written = 3 * n * size
    print(f"from {n} to {4 * n} rounds ({written} more payload bytes): full "
          f"grew {grow_full} bytes, state {grow_state:+d} bytes")
    check(grow_full >= written * 9 // 10,
          "full: the journal does not grow with the history")
    check(grow_state <= grow_full // 10,
          "state: the journal grows with the history")
    check(sizes[("state", 4 * n)] < sizes[("full", n)],
          "state after 4N rounds is not smaller than full after N")


# ---- refused ----------------------------------------------------------

def test_refused(ctx):
    plain = os.path.join(ctx.tmp, "plain")
    with open(plain, "w") as f:
        f.write("not a directory\n")
    jdir = os.path.join(plain, "j")
    rc, out, err = run([ctx.ava, "run", "--journal", jdir, "--", ctx.guest,
                        "churn", 1, 4096], timeout=60)
    print(err.strip())
    check(rc != 0, "the program ran although its journal cannot be made")
    lines = [ln for ln in err.splitlines() if "journal unavailable" in ln]
    check(lines and all(f"{jdir}: cannot create" in ln for ln in lines),
          "no line names the journal directory and why it cannot be made")
    check(not any("Sanitizer" in ln or "runtime error" in ln
                  for ln in err.splitlines()), "a sanitizer report")
    with open(plain) as f:
        check(f.read() == "not a directory\n", "the plain file changed")


TESTS = {"faithful": test_faithful, "crash": test_crash,
         "corrupt": test_corrupt, "state": test_state, "uring": test_uring,
         "refused": test_refused}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=sorted(TESTS))
    ap.add_argument("--ava", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--jread", required=True)
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--rounds", type=int, default=256)
    ap.add_argument("--size", type=int, default=128 << 10)
    ctx = ap.parse_args()
    ctx.tmp = tempfile.mkdtemp(prefix=f"ava-jtest-{ctx.test}-")
    try:
        TESTS[ctx.test](ctx)
        print("ok")
        return 0
    except Fail as e:
        print(f"FAIL: {e}")
        return 1
    except Skip as e:
        print(f"SKIP: {e}")
        return 77
    except Hard as e:
        print(f"ERROR: {e}")
        return 99
    finally:
        shutil.rmtree(ctx.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
