"""rounds.py - several configurations of one benchmark, run in turn for
a number of rounds (the order reversed every other round, so that each
meets the machine's noise in both places), keeping each figure's median:
what the bench scripts do against a shared VM whose load moves between
one run and the next (doc/performance.md).
"""
import statistics


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
