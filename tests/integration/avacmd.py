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

Exit status: 0 pass, 1 fail, 99 the test could not run.
"""
import re
import subprocess
import sys


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


CASES = {"allocator": allocator, "spare": spare}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in CASES:
        print(__doc__, file=sys.stderr)
        return 99
    return CASES[sys.argv[1]](sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    sys.exit(main())
