# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Percentiles and maxima against the workload's own clock (issue 9).

tests/workloads/timed.c: the main thread makes ten clock_nanosleep calls of exactly 300 ms,
a reader thread ten pipe reads that a feeder answers every 200 ms; each call timed by the
workload around it. The kernel times each call from inside it, so every kernel duration is
at most the workload's, and short of it only by the syscall's entry and exit (microseconds).
"""
import re

import twtest
from twtest import ns, workload

SLEEPS, SLEEP_MS, READS, READ_MS = 10, 300, 10, 200
# the kernel's interval sits inside the workload's: shorter by the way in and out of the call
EPS = ns(2)


def calls_of(thread):
    return {c["name"]: c for c in thread["syscalls"]}


def run_timed(tool, tmp_path, fmt="json", extra=(), reads=READS):
    out = tmp_path / "timed.json"
    cp = twtest.run([tool, "--format", fmt, *extra, "--", workload("timed"), "--out", out,
                     str(SLEEPS), str(SLEEP_MS), str(reads), str(READ_MS)], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    wl = twtest.read_workload_out(out)
    assert len(wl["sleep_ns"]) == SLEEPS and len(wl["read_ns"]) == reads, wl
    return cp, wl, ctx + f"\nworkload: {wl}"


def check_measure(what, m, durations, ctx, prefix=""):
    """p50/p99 within 10% of the workload's, inside [min, max]; max and min exact-ish."""
    get = {k: m[prefix + k] for k in ("min_ns", "max_ns", "p50_ns", "p99_ns")}
    c = f"\n{what}: {get}" + ctx
    longest, shortest = max(durations), min(durations)
    assert longest - EPS <= get["max_ns"] <= longest, "max is not the longest call" + c
    assert shortest - EPS <= get["min_ns"] <= shortest, "min is not the shortest call" + c
    assert get["min_ns"] <= get["p50_ns"] <= get["p99_ns"] <= get["max_ns"], c
    for p, key in ((0.5, "p50_ns"), (0.99, "p99_ns")):
        truth = twtest.nearest_rank(durations, p)
        assert abs(get[key] - truth) <= 0.10 * truth, \
            f"{key} {get[key]} is not within 10% of the workload's {truth}" + c


def test_fixed_sleeps_and_reads(require_bpf, tmp_path):
    """clock_nanosleep 300 ms x10 and pipe reads every 200 ms: p50/p99/max per call."""
    cp, wl, ctx = run_timed(require_bpf, tmp_path)
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.assert_no_loss(rep, ctx)
    assert rep["hist_schema"] == {"schema": 2, "zero_threshold_ns": 64,
                                  "overflow_above_ns": 2 ** 42}, ctx
    threads = twtest.threads_by_tid(twtest.find_proc(rep, wl["pid"], ctx))
    main, reader = threads[wl["main_tid"]], threads[wl["reader_tid"]]

    sl = calls_of(main)["clock_nanosleep"]
    assert sl["count"] == SLEEPS, ctx
    twtest.check_hist_shape(sl["hist"], ctx)
    check_measure("clock_nanosleep", sl, wl["sleep_ns"], ctx)

    rd = calls_of(reader)["read"]
    assert rd["count"] == READS, ctx
    check_measure("read", rd, wl["read_ns"], ctx)
    assert rd["p99_ns"] <= max(wl["read_ns"]), "p99 above every read the workload made" + ctx

    # the thread's blocked intervals: the sleeps are the longest ones, each inside its call
    # (a call is its blocked interval plus the wait for a CPU after the wakeup)
    assert ns(SLEEP_MS) - EPS <= main["blocked_max_ns"] <= max(wl["sleep_ns"]), ctx
    assert main["blocked_min_ns"] <= main["blocked_p50_ns"] <= main["blocked_p99_ns"] \
        <= main["blocked_max_ns"], ctx
    assert 0.9 * ns(READ_MS) <= reader["blocked_max_ns"] <= max(wl["read_ns"]), ctx
    for t in (main, reader):
        for h in ("blocked", "runq"):
            twtest.check_hist_shape(t[h + "_hist"], ctx)
            if t[h + "_hist"]:
                # the extremes fall in the histogram's outermost buckets
                assert t[h + "_hist"][-1][0] <= t[h + "_max_ns"] < t[h + "_hist"][-1][1], ctx
                assert t[h + "_hist"][0][0] <= t[h + "_min_ns"] < t[h + "_hist"][0][1], ctx


def test_text_columns(require_bpf, tmp_path):
    """The text report: P50/P99/MAX of clock_nanosleep within 10% of the sleeps, MAX exact."""
    # no reads: the feeder's own clock_nanosleep would join the all-threads row
    cp, wl, ctx = run_timed(require_bpf, tmp_path, fmt="text", reads=0)
    assert re.search(r"CALL\s+COUNT\s+ERRORS\s+WOULDBLK\s+BLOCKED\s+TOTAL\s+P50\s+P99\s+MAX\n",
                     cp.stdout), ctx
    m = re.search(r"^\s+clock_nanosleep\s+(\d+)\s+\d+\s+\d+\s+\S+\s+\S+\s+(\S+)ms\s+(\S+)ms"
                  r"\s+(\S+)ms$", cp.stdout, re.M)
    assert m, "no clock_nanosleep row in ms" + ctx
    assert int(m.group(1)) == SLEEPS, ctx
    p50, p99, mx = (float(m.group(i)) * 1e6 for i in (2, 3, 4))
    truth = twtest.nearest_rank(wl["sleep_ns"], 0.5)
    assert abs(p50 - truth) <= 0.10 * truth, ctx
    assert abs(p99 - max(wl["sleep_ns"])) <= 0.10 * max(wl["sleep_ns"]), ctx
    # three significant digits: "302ms" for 301.6 ms
    assert abs(mx - max(wl["sleep_ns"])) <= 0.005 * max(wl["sleep_ns"]) + EPS, ctx
    assert p50 <= p99 <= mx, ctx


def test_interval_rows(require_bpf, tmp_path):
    """-i: an interval's percentiles stay inside its min and max, its max never above the run's."""
    cp, wl, ctx = run_timed(require_bpf, tmp_path, extra=("-i", "0.7"))
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    final = twtest.final_report(objs, ctx)
    fmain = twtest.threads_by_tid(twtest.find_proc(final, wl["pid"], ctx))[wl["main_tid"]]
    fsl = calls_of(fmain)["clock_nanosleep"]
    seen = 0
    for o in objs:
        if o.get("type") != "interval":
            continue
        for p in o["processes"]:
            for t in p["threads"]:
                sl = calls_of(t).get("clock_nanosleep") if t["tid"] == wl["main_tid"] else None
                if not sl or not sl["count"]:
                    continue
                c = f"\ninterval row: {sl}" + ctx
                seen += sl["count"]
                assert sl["min_ns"] <= sl["p50_ns"] <= sl["p99_ns"] <= sl["max_ns"], c
                assert fsl["min_ns"] <= sl["min_ns"] and sl["max_ns"] <= fsl["max_ns"], c
                # an interval of these sleeps holds only 300 ms ones
                assert 0.9 * ns(SLEEP_MS) <= sl["p50_ns"] <= 1.1 * max(wl["sleep_ns"]), c
    # the last sleeps may end after the last interval: only the final report has them
    assert SLEEPS - 3 <= seen <= SLEEPS, f"the intervals counted {seen} sleeps" + ctx
