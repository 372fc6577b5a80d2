"""rounds.py - several configurations of one benchmark, run in turn for
a number of rounds (the order reversed every other round, so that each
meets the machine's noise in both places), keeping each figure's median:
what the bench scripts do against a shared VM whose load moves between
one run and the next (doc/performance.md).
"""
import argparse
import os
import statistics

# What every benchmark's runs are freed of: a guest's pointers to a
# server (each run chooses its own), and MALLOC_PERTURB_, which `meson
# test` sets and which makes glibc fill every allocation and free: no
# user pays that, and ava's server, on its own allocator, would not,
# which would flatter ava (50-60 ms per process with the journal's
# staging buffers).
CLEAN_ENV = ("OCL_ICD_VENDORS", "OCL_ICD_FILENAMES", "AVA_SERVER",
             "MALLOC_PERTURB_")


def clean_env(*extra):
    """os.environ without CLEAN_ENV and the names in extra."""
    drop = CLEAN_ENV + extra
    return {k: v for k, v in os.environ.items() if k not in drop}


def interleaved(names, rounds, run_one, progress=None):
    """Run run_one(name) for every name, rounds times, in turn.

    run_one returns a dict of figures ({key: number}) or None when the
    run failed. Returns (medians, failed): medians maps each name to
    {key: median over the runs that gave it}; failed lists the names
    with a failed run (the first failure stops that name's runs)."""
    runs = {n: [] for n in names}
    failed = []
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            if name in failed:
                continue
            res = run_one(name)
            if res is None:
                failed.append(name)
                continue
            runs[name].append(res)
        if progress is not None:
            progress(r + 1, rounds)
    medians = {}
    for name, rs in runs.items():
        keys = {k for res in rs for k in res}
        medians[name] = {k: statistics.median(res[k] for res in rs
                                              if k in res)
                         for k in keys}
    return medians, failed


def add_program_args(ap, runs):
    """--runs (default runs) and the program to run, with its arguments,
    as the scripts that run one program several ways take them; then
    check_program_args() on what ap parsed."""
    ap.add_argument("--runs", type=int, default=runs)
    ap.add_argument("program", nargs=argparse.REMAINDER)


def check_program_args(ap, a):
    if not a.program:
        ap.error("no program to run")
    if a.runs < 1:
        ap.error("--runs must be at least 1")
