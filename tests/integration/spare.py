#!/usr/bin/python3
"""spare.py - `ava run`'s first session is served by the spare worker.

Usage: spare.py AVA PROGRAM

`ava run`'s private server forks one worker ahead, which loads the vendor
library while the program starts, and hands it the program's first
connection (runtime/server.c, "the spare worker"). If the hand-off fails,
a fresh fork serves instead and the program still runs, only later: no
other test would notice. This one reads the server's log (--verbose): the
spare says it serves session 1, and nothing says the spare failed.

Exit status: 0 pass, 1 fail, 99 the test could not run.
"""
import re
import subprocess
import sys


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 99
    ava, prog = sys.argv[1], sys.argv[2]
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


if __name__ == "__main__":
    sys.exit(main())
