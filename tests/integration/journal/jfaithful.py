#!/usr/bin/python3
"""jfaithful.py - the faithful and io_uring tests (see jtest.py)."""
import collections
import json
import os
import re

from jlib import (Hard, Skip, check, check_seqs, clean_env,
                  jread_calls, jread_extract, jread_info, loader_model,
                  only_session, run, tree_bytes)

HANDLE = re.compile(
    r"(platform|device|context|command_queue|program|kernel|mem|event|"
    r"sampler)\d+")
HANDLE_ARGS = {"platform", "device", "context", "command_queue", "program",
               "kernel", "buffer", "memobj", "event", "devices",
               "device_list", "event_list", "event_wait_list", "platforms",
               "mem_objects", "src_buffer", "dst_buffer"}


# ---- faithful -------------------------------------------------------------

def parse_account(out):
    acc = {"threads": collections.OrderedDict(), "counts": {}, "ptrs": [],
           "split": None, "results": None}
    for line in out.splitlines():
        f = line.split()
        if f[0] == "thread":
            acc["threads"][f[1]] = []
        elif f[0] == "call":
            check(int(f[2]) == len(acc["threads"][f[1]]) + 1,
                  f"guest account out of order: {line}")
            acc["threads"][f[1]].append(f[3])
        elif f[0] == "count":
            acc["counts"][f[1]] = int(f[2])
        elif f[0] == "ptr":
            acc["ptrs"].append(int(f[1], 16))
        elif f[0] == "split":
            acc["split"] = int(f[2])
        elif f[0] == "results":
            acc["results"] = f[1]
    return acc


def map_threads(acc, rest, absorbed):
    """{guest thread name: [(guest call number, journal Call)]}, checking
    that each journal thread made exactly one guest thread's calls."""
    by_tid = collections.OrderedDict()
    for c in rest:
        by_tid.setdefault(c.thread, []).append(c)
    wanted = {name: [(n, fn) for n, fn in enumerate(fns, 1)
                     if fn not in absorbed]
              for name, fns in acc["threads"].items()}
    check(len(by_tid) == len(wanted),
          f"journal has {len(by_tid)} guest threads, the guest ran "
          f"{len(wanted)}")
    mapping = {}
    main_tid = rest[0].thread
    for name, want in wanted.items():
        fns = [fn for _, fn in want]
        tids = [t for t, cs in by_tid.items()
                if [c.fn for c in cs] == fns and t not in mapping.values()]
        if name == "main":
            check(main_tid in tids, "the main thread's calls differ from "
                  "the guest's account:\n  guest:   " + " ".join(fns) +
                  "\n  journal: " + " ".join(c.fn for c in by_tid[main_tid]))
            tids = [main_tid]
        check(tids, f"no journal thread holds guest thread {name}'s "
              f"{len(fns)} calls in order")
        mapping[name] = tids[0]
    return {name: list(zip([n for n, _ in wanted[name]], by_tid[tid]))
            for name, tid in mapping.items()}


def check_phases(acc, threads):
    """The main thread's calls before the threads started precede every
    call of theirs, and those after they ended follow them."""
    main = threads["main"]
    before = [c.seq for n, c in main if n <= acc["split"]]
    after = [c.seq for n, c in main if n > acc["split"]]
    for name, calls in threads.items():
        if name == "main":
            continue
        for _, c in calls:
            check((not before or c.seq > max(before)) and
                  (not after or c.seq < min(after)),
                  f"thread {name}'s call #{c.seq} {c.fn} is outside the "
                  f"phase in which the guest made it")


def check_counts(acc, rest, absorbed):
    got = collections.Counter(c.fn for c in rest)
    want = {fn: n for fn, n in acc["counts"].items() if fn not in absorbed}
    print(f"{'function':<28} {'guest':>6} {'journal':>8}")
    for fn in sorted(set(got) | set(want)):
        print(f"{fn:<28} {want.get(fn, 0):>6} {got.get(fn, 0):>8}")
    check(dict(got) == want, "per-function counts differ")


def check_payloads(ctx, jdir, threads, dumpdir):
    """Each buffer the guest passed (a file it wrote) reads back from the
    journal byte for byte. Returns {content: [Payload]} and the count."""
    by_content = collections.defaultdict(list)
    index = {name: dict(calls) for name, calls in threads.items()}
    checked = 0
    kinds = collections.Counter()
    out = os.path.join(ctx.tmp, "extracted.bin")
    for name in sorted(os.listdir(dumpdir)):
        m = re.fullmatch(r"(\w+)-(\d+)-(\w+)\.bin", name)
        check(m, f"unexpected dump file {name}")
        call = index[m.group(1)].get(int(m.group(2)))
        check(call is not None, f"{name}: the guest's call is not journaled")
        with open(os.path.join(dumpdir, name), "rb") as f:
            data = f.read()
        found = None
        for i, p in enumerate(call.payloads):
            if p.len == len(data) and \
                    jread_extract(ctx, jdir, call.seq, i, out) == data:
                found = p
                break
        check(found is not None, f"call #{call.seq} {call.fn}: no payload "
              f"reads back as the {len(data)} bytes of {name}")
        by_content[data].append(found)
        kinds[found.kind] += 1
        checked += 1
    check(checked > 0, "the guest dumped no buffer")
    check(kinds["i"] > 0 and kinds["b"] > 0,
          f"want both inline and blob payloads, got {dict(kinds)}")
    print(f"payloads: {checked} read back byte for byte "
          f"({kinds['i']} inline, {kinds['b']} blob)")
    return by_content


def check_dedup(ctx, jdir, calls, by_content):
    """A content written many times is one blob; the journal stores each
    distinct blob once."""
    repeated = max(by_content.items(), key=lambda kv: len(kv[1]))
    data, payloads = repeated
    check(len(payloads) >= 2, "the guest wrote no buffer twice")
    hashes = {p.hash for p in payloads}
    check(all(p.kind == "b" for p in payloads) and len(hashes) == 1,
          f"{len(payloads)} writes of the same {len(data)} bytes reference "
          f"{len(hashes)} blobs")
    refs = {p.hash: p.len for c in calls for p in c.payloads if p.kind == "b"}
    info = jread_info(ctx, jdir)
    check(info["blobs"] == len(refs),
          f"{info['blobs']} blobs stored for {len(refs)} distinct contents")
    check(info["blob_bytes"] <= sum(refs.values()),
          f"{info['blob_bytes']} blob bytes stored for "
          f"{sum(refs.values())} bytes of distinct content")
    # On disk too: less than the distinct contents plus one more copy of
    # the repeated one, whatever the headers cost.
    seg_bytes = tree_bytes(os.path.join(jdir, "blobs"))
    check(seg_bytes < sum(refs.values()) + len(data),
          f"segment files hold {seg_bytes} bytes: the repeated content is "
          f"stored more than once")
    print(f"dedup: {len(payloads)} writes of {len(data)} bytes -> 1 blob; "
          f"{info['blobs']} blobs, {info['blob_bytes']} bytes stored for "
          f"{sum(1 for c in calls for p in c.payloads if p.kind == 'b')} "
          f"blob references; {seg_bytes} bytes in segment files")


def handle_values(v):
    v = v.strip()
    if v.startswith("[") and v.endswith("]"):
        return [x.strip() for x in v[1:-1].split(",") if x.strip()]
    return [v]


def check_handles(ctx, d, calls, ptrs):
    """`ava journal dump` names handles by virtual id (mem3), never by a
    pointer of the guest's, and agrees with the reader on every call."""
    rc, text, err = run([ctx.ava, "journal", "dump", d])
    check(rc == 0 and not err, f"dump failed ({rc}): {err.strip()}")
    rc, js, err = run([ctx.ava, "journal", "dump", d, "--json"])
    check(rc == 0 and not err, f"dump --json failed ({rc}): {err.strip()}")
    recs = [json.loads(line) for line in js.splitlines()]
    check([(r["seq"], r["fn"]) for r in recs] ==
          [(c.seq, c.fn) for c in calls],
          "dump --json and the reader list different calls")
    check(len(text.splitlines()) == len(calls),
          "dump prints a line count other than the journal's calls")
    named = 0
    for r in recs:
        for k, v in r["args"].items():
            if k in HANDLE_ARGS and isinstance(v, str) and v != "NULL":
                for h in handle_values(v):
                    check(HANDLE.fullmatch(h), f"#{r['seq']} {r['fn']}: "
                          f"{k}={h} is not a virtual handle id")
                    named += 1
        if r["fn"].startswith("clCreate") and r["ret"] != 0:
            check(HANDLE.fullmatch(r.get("ret_name", "")),
                  f"#{r['seq']} {r['fn']} returns {r.get('ret_name')}")
    check(named > len(calls) // 2, f"only {named} handle arguments named")
    for p in ptrs:
        for form in (f"{p:x}", f"{p:#x}", str(p)):
            check(form not in text and form not in js,
                  f"the guest's pointer {p:#x} shows in the dump")
    check(not re.search(r"0x[0-9a-f]{6,}", text + js),
          "the dump shows something pointer-like")
    print(f"handles: {named} handle arguments, all virtual ids; none of "
          f"the guest's {len(ptrs)} pointers shows")


def faithful_run(ctx, d, dumpdir, env_extra=None):
    os.makedirs(dumpdir)
    rc, out, err = run([ctx.ava, "run", "--journal", d, "--", ctx.guest,
                        "faithful", dumpdir], env=clean_env(env_extra))
    if rc == 99:
        raise Hard(f"jguest could not set up: {out}{err}")
    check(rc == 0, f"jguest faithful failed ({rc}): {out[-2000:]}{err}")
    acc = parse_account(out)
    check(acc["results"] == "ok", "the guest's results were wrong")
    return acc, err


def check_faithful(ctx, d, dumpdir, acc, model):
    preamble, absorbed = model
    jdir = only_session(d)
    calls, (ncalls, end) = jread_calls(ctx, jdir)
    check_seqs(calls, jdir)
    check(ncalls == len(calls), f"session says {ncalls} calls, "
          f"{len(calls)} stored")
    # 1: clean exit. 4 (server stopped) is a known race: `ava run` stops
    # its private server as soon as the guest exits, and a worker that has
    # not yet read the guest's goodbye records the stop instead.
    check(end in (1, 4), f"session end {end}, not a clean exit")
    check([c.fn for c in calls[:len(preamble)]] == preamble,
          "the journal does not start with the loader's calls")
    rest = calls[len(preamble):]
    check(rest, "no guest call journaled")
    threads = map_threads(acc, rest, absorbed)
    check_phases(acc, threads)
    check_counts(acc, rest, absorbed)
    print(f"order: {len(rest)} guest calls on {len(threads)} threads, each "
          f"thread's in the guest's order, phases in order; plus "
          f"{len(preamble)} loader calls first")
    by_content = check_payloads(ctx, jdir, threads, dumpdir)
    check_dedup(ctx, jdir, calls, by_content)
    return calls


def test_faithful(ctx):
    model = loader_model(ctx)
    d = os.path.join(ctx.tmp, "journal")
    dumpdir = os.path.join(ctx.tmp, "dump")
    acc, _ = faithful_run(ctx, d, dumpdir)
    calls = check_faithful(ctx, d, dumpdir, acc, model)
    check_handles(ctx, d, calls, acc["ptrs"])


# ---- io_uring -------------------------------------------------------------

def stats_line(err):
    lines = [l for l in err.splitlines() if "journal stats:" in l]
    check(len(lines) == 1, f"want one 'journal stats' line, got {lines}")
    kv = dict(x.split("=", 1) for x in
              lines[0].split("journal stats:", 1)[1].split())
    return {k: (v if k == "io" else int(v)) for k, v in kv.items()}


def segment_bodies(d):
    """Each segment file's bytes after its header (which holds a time)."""
    blobs = os.path.join(only_session(d), "blobs")
    out = {}
    for name in sorted(os.listdir(blobs)):
        with open(os.path.join(blobs, name), "rb") as f:
            out[name] = f.read()[32:]
    return out


def test_uring(ctx):
    model = loader_model(ctx)
    runs = {}
    uring_missing = None
    for label, extra in (("io_uring", {}),
                         ("pwrite", {"AVA_JOURNAL_NO_URING": "1"})):
        d = os.path.join(ctx.tmp, label)
        dumpdir = os.path.join(ctx.tmp, f"dump-{label}")
        extra = dict(extra, AVA_JOURNAL_STATS="1")
        acc, err = faithful_run(ctx, d, dumpdir, extra)
        st = stats_line(err)
        notes = [l for l in err.splitlines()
                 if "AVA_JOURNAL_NO_URING" in l or "io_uring unavailable" in l]
        print(f"{label}: {' '.join(f'{k}={v}' for k, v in st.items())}")
        for l in notes:
            print(f"  logged: {l}")
        check(st["blobs_written"] > 0, "no blob was written")
        if label == "io_uring":
            if notes:
                uring_missing = notes[0]
                continue
            check(not notes, f"unexpected fallback: {notes}")
            check(st["io"] == "io_uring", f"io={st['io']}")
            check(st["uring_submissions"] > 0 and
                  st["uring_completions"] == st["uring_submissions"],
                  "io_uring submissions and completions do not match")
            check(st["pwrite_calls"] == 0, "pwrite used beside io_uring")
        else:
            check(len(notes) == 1 and "AVA_JOURNAL_NO_URING" in notes[0],
                  f"want one line naming AVA_JOURNAL_NO_URING, got {notes}")
            check(st["io"] == "pwrite", f"io={st['io']}")
            check(st["uring_submissions"] == 0 and st["pwrite_calls"] > 0,
                  "the fallback did not write with pwrite")
        rc, out, verr = run([ctx.ava, "journal", "verify", d])
        check(rc == 0, f"verify ({label}): {verr.strip()}")
        calls = check_faithful(ctx, d, dumpdir, acc, model)
        runs[label] = (calls, segment_bodies(d))
    if uring_missing is not None:
        raise Skip(f"io_uring is unavailable here ({uring_missing}); the "
                   f"pwrite fallback passed")
    (c1, s1), (c2, s2) = runs["io_uring"], runs["pwrite"]
    key = lambda cs: sorted((c.fn, tuple(p.digest for p in c.payloads))  # noqa
                            for c in cs)
    check(key(c1) == key(c2), "io_uring and pwrite journals hold different "
          "calls or payloads")
    check(s1 == s2, "io_uring and pwrite wrote different segment bytes")
    print(f"io_uring and pwrite journals: the same {len(c1)} calls and "
          f"payloads; segment bytes identical ({sum(map(len, s1.values()))} "
          f"bytes after the headers)")
