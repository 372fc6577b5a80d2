"""checks.py - the lines "check WHAT: ok" or "check WHAT: FAIL" that the
Python tests print, with what went wrong indented below a failure, and
the count of failures, for the exit status."""

failures = 0


def check(what, ok, detail=""):
    global failures
    print(f"check {what}: {'ok' if ok else 'FAIL'}")
    if not ok:
        failures += 1
        if detail:
            print("  " + detail.replace("\n", "\n  "))
