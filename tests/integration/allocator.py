#!/usr/bin/python3
"""allocator.py - the `ava` command runs on the allocator its build chose.

Usage: allocator.py AVA EXPECT

The server runs the vendor library inside the `ava` process, so PoCL's
malloc is whichever one `ava` binds (meson's server_malloc option,
doc/performance.md "The server's allocator"). That depends on the link
order: a C library listed before the allocator would win, silently.
`AVA --version` names the library its malloc comes from; it must contain
EXPECT (mimalloc, jemalloc or libc.so; empty under a sanitizer, whose
runtime intercepts malloc: then the line only has to be there).

Exit status: 0 pass, 1 fail, 99 the test could not run.
"""
import subprocess
import sys


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 99
    ava, expect = sys.argv[1], sys.argv[2]
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


if __name__ == "__main__":
    sys.exit(main())
