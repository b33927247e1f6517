# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Event loops and their stalls ("loops"), and threads blocked right now ("blocked_now").

Workloads: tests/workloads/asyncio_server.py (an asyncio loop whose handler blocks it
once: time.sleep, a busy loop, or the fix, run_in_executor), tests/workloads/epoll_server.c
(a C epoll loop whose handler blocks in read() on a slow pipe) and
tests/workloads/pool_blocked.c (N threads blocked in read() or a futex for SECONDS).
Each says what it did (tids, CLOCK_MONOTONIC times of the slow request, measured
durations), and the tool's loops, stalls and blocked threads are checked against that.
"""
from pathlib import Path

import pytest

import twtest
from twtest import ns, workload

PY = "/usr/bin/python3"
ASYNCIO_SERVER = str(twtest.ROOT / "tests" / "workloads" / "asyncio_server.py")
STALL_MS = 100  # the tool's default --stall-ms

LOOP_KEYS = ("tid", "comm", "iterations", "gap_hist", "gap_p50_ns", "gap_p99_ns", "gap_max_ns",
             "stall_count", "stalls")
STALL_KEYS = ("tid", "start_ns", "duration_ns", "oncpu_ns", "blocked_ns", "runq_ns", "syscalls",
              "longest_call", "ongoing", "cause")
BLOCKED_KEYS = ("tid", "comm", "call", "blocked_ns")


def near(value, want, frac=0.2):
    """value within +-frac of want."""
    return abs(value - want) <= frac * want


def built(name):
    p = Path(workload(name))
    assert p.is_file(), f"workload {p} not built (make workloads)"
    return str(p)


def traced(tool, argv, extra=(), timeout=60):
    """Runs `tool --format json EXTRA -- ARGV`; returns (all objects, final object, ctx)."""
    cp = twtest.run([tool, "--format", "json", *extra, "--", *argv], timeout=timeout)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    final = twtest.final_report(objs, ctx)
    for o in objs[:-1]:
        assert o.get("type") == "interval", f"unexpected object type {o.get('type')!r}" + ctx
    for o in objs:
        twtest.check_report_shape(o, ctx)
    twtest.assert_no_loss(final, ctx)
    return objs, final, ctx


def calls_of(thread):
    return {c["name"]: c for c in thread["syscalls"]}


def proc_in(rep, pid):
    """The process object of pid in rep, or None (an interval may leave it out)."""
    procs = [p for p in rep["processes"] if p.get("pid") == pid]
    assert len(procs) <= 1, f"pid {pid} listed {len(procs)} times"
    return procs[0] if procs else None


def check_stall(s, tid, stall_ms, ctx):
    sctx = f"\nstall: {s}" + ctx
    for k in STALL_KEYS:
        assert k in s, f"stall lacks {k!r}" + sctx
    assert s["tid"] == tid, sctx
    assert isinstance(s["ongoing"], bool), sctx
    # only a gap of --stall-ms or more is a stall, ongoing or not
    assert s["duration_ns"] >= ns(stall_ms), sctx
    parts = {"oncpu": s["oncpu_ns"], "blocked": s["blocked_ns"], "runq": s["runq_ns"]}
    assert all(v >= 0 for v in parts.values()), sctx
    assert s["cause"] in parts, sctx
    assert parts[s["cause"]] == max(parts.values()), "cause is not the largest part" + sctx
    # the parts split the gap: their sum cannot exceed it
    assert sum(parts.values()) <= s["duration_ns"] * 1.01 + ns(2), sctx
    assert isinstance(s["syscalls"], int) and s["syscalls"] >= 0, sctx
    lc = s["longest_call"]
    if lc is not None:
        assert set(lc) >= {"name", "duration_ns"}, sctx
        assert isinstance(lc["name"], str) and lc["name"], sctx
        assert 0 <= lc["duration_ns"] <= s["duration_ns"], sctx
        assert s["syscalls"] >= 1, sctx


def check_loop(loop, proc, final, stall_ms, ctx, all_listed=True):
    lctx = f"\nloop: {loop}" + ctx
    for k in LOOP_KEYS:
        assert k in loop, f"loop lacks {k!r}" + lctx
    t = twtest.threads_by_tid(proc).get(loop["tid"])
    if t is not None:
        assert loop["comm"] == t["comm"], lctx
    twtest.check_hist_shape(loop["gap_hist"], lctx)
    assert 0 <= loop["gap_p50_ns"] <= loop["gap_p99_ns"] <= loop["gap_max_ns"], lctx
    for s in loop["stalls"]:
        check_stall(s, loop["tid"], stall_ms, lctx)
        if not s["ongoing"]:
            assert s["duration_ns"] <= loop["gap_max_ns"], "a stall longer than gap_max" + lctx
    if not final:
        return
    if all_listed:
        # the final report holds every stall of the run (unless some had to be dropped)
        assert loop["stall_count"] == len(loop["stalls"]), lctx
    # one gap between two consecutive waits (the last one may still be open)
    gaps = twtest.hist_total(loop["gap_hist"])
    assert loop["iterations"] - 1 <= gaps <= loop["iterations"], lctx
    if loop["stall_count"] == 0:
        assert loop["gap_max_ns"] < ns(stall_ms), lctx


def loop_of(rep, pid, tid, ctx, stall_ms=STALL_MS):
    """The loop entry of thread tid of process pid, checked; the process's other loops
    must be none (every other thread of the workloads never waits in the wait family)."""
    proc = twtest.find_proc(rep, pid, ctx)
    assert "loops" in proc, "process lacks 'loops'" + ctx
    tids = [lp["tid"] for lp in proc["loops"]]
    assert tids == [tid], f"expected one loop, on thread {tid}; loops on {tids}" + ctx
    loop = proc["loops"][0]
    check_loop(loop, proc, rep["type"] == "final", stall_ms, ctx,
               rep.get("stalls_not_listed", 0) == 0)
    return proc, loop


# --- asyncio ------------------------------------------------------------------


def run_asyncio(tool, tmp_path, mode, *args, extra=()):
    out = tmp_path / f"asyncio_{mode}.json"
    objs, final, ctx = traced(tool, [PY, ASYNCIO_SERVER, mode, "--out", out, *args], extra)
    wl = twtest.read_workload_out(out)
    ctx = f"\nworkload: {wl}" + ctx
    assert wl["replies"] == wl["requests"], ctx
    return objs, final, wl, ctx


def check_slow_stall(s, wl, ctx):
    """The stall covers the slow request: the wait returned just before the handler
    read its clock, and the next wait came after the slow part ended."""
    assert s["start_ns"] <= wl["slow_start_ns"] + ns(1), ctx
    assert s["start_ns"] >= wl["slow_start_ns"] - ns(50), ctx
    if not s["ongoing"]:
        assert s["start_ns"] + s["duration_ns"] >= wl["slow_end_ns"] - ns(1), ctx


def test_asyncio_sleep(require_bpf, tmp_path):
    """time.sleep(0.3) in a coroutine: one stall of ~0.3 s, blocked in clock_nanosleep."""
    _, final, wl, ctx = run_asyncio(require_bpf, tmp_path, "sleep", "--delay", "0.3")
    _, loop = loop_of(final, wl["pid"], wl["loop_tid"], ctx)
    assert loop["iterations"] >= wl["requests"], ctx
    assert loop["stall_count"] == 1 and len(loop["stalls"]) == 1, ctx
    s = loop["stalls"][0]
    assert near(s["duration_ns"], ns(300)), ctx
    assert s["ongoing"] is False, ctx
    assert s["cause"] == "blocked", ctx
    assert s["longest_call"] is not None and s["longest_call"]["name"] == "clock_nanosleep", ctx
    assert near(s["longest_call"]["duration_ns"], ns(300)), ctx
    check_slow_stall(s, wl, ctx)
    assert near(loop["gap_max_ns"], s["duration_ns"], 0.01), ctx


def test_asyncio_executor(require_bpf, tmp_path):
    """The fix, run_in_executor: the loop never stalls; the executor thread sleeps instead."""
    _, final, wl, ctx = run_asyncio(require_bpf, tmp_path, "executor", "--delay", "0.3")
    proc, loop = loop_of(final, wl["pid"], wl["loop_tid"], ctx)
    assert loop["iterations"] >= wl["requests"], ctx
    assert loop["stall_count"] == 0 and loop["stalls"] == [], ctx
    threads = twtest.threads_by_tid(proc)
    ex = wl["executor_tid"]
    assert ex is not None and ex != wl["loop_tid"], ctx
    assert ex in threads, f"executor thread {ex} not in the report" + ctx
    calls = calls_of(threads[ex])
    assert "clock_nanosleep" in calls, f"executor thread: {threads[ex]}" + ctx
    assert near(calls["clock_nanosleep"]["total_ns"], ns(300)), f"executor: {threads[ex]}" + ctx
    loop_calls = calls_of(threads[wl["loop_tid"]])
    assert "clock_nanosleep" not in loop_calls, f"loop thread: {threads[wl['loop_tid']]}" + ctx
    assert "epoll_wait" in loop_calls or "epoll_pwait" in loop_calls, \
        f"loop thread: {threads[wl['loop_tid']]}" + ctx


def test_asyncio_cpu(require_bpf, tmp_path):
    """A 0.3 s busy loop in a coroutine: one stall of ~0.3 s, on CPU."""
    _, final, wl, ctx = run_asyncio(require_bpf, tmp_path, "cpu", "--delay", "0.3")
    _, loop = loop_of(final, wl["pid"], wl["loop_tid"], ctx)
    assert loop["iterations"] >= wl["requests"], ctx
    assert loop["stall_count"] == 1 and len(loop["stalls"]) == 1, ctx
    s = loop["stalls"][0]
    assert near(s["duration_ns"], ns(300)), ctx
    # on CPU, or on a loaded machine mostly waiting for one (test_runq checks that split)
    assert s["cause"] in ("oncpu", "runq"), ctx
    assert s["oncpu_ns"] >= 0.1 * s["duration_ns"], ctx
    assert s["ongoing"] is False, ctx
    # the busy loop makes no system call: nothing slept, no call explains the gap
    assert s["blocked_ns"] <= 0.2 * s["duration_ns"], ctx
    assert s["longest_call"] is None or s["longest_call"]["duration_ns"] < ns(10), ctx
    check_slow_stall(s, wl, ctx)


def test_asyncio_hang(require_bpf, tmp_path):
    """A 4 s hang under -i 1: intervals show it ongoing, the final report complete."""
    objs, final, wl, ctx = run_asyncio(require_bpf, tmp_path, "hang", "--delay", "4",
                                       "--requests", "3", extra=["-i", "1"])
    pid, tid = wl["pid"], wl["loop_tid"]
    _, loop = loop_of(final, pid, tid, ctx)
    assert loop["stall_count"] == 1 and len(loop["stalls"]) == 1, ctx
    s = loop["stalls"][0]
    assert s["ongoing"] is False, ctx
    assert near(s["duration_ns"], ns(4000)), ctx
    assert s["cause"] == "blocked", ctx
    assert s["longest_call"] is not None and s["longest_call"]["name"] == "clock_nanosleep", ctx
    assert near(s["longest_call"]["duration_ns"], ns(4000)), ctx
    check_slow_stall(s, wl, ctx)

    ongoing, ended = [], []
    for o in objs[:-1]:
        p = proc_in(o, pid)
        if p is None:
            continue
        assert "loops" in p, "interval process lacks 'loops'" + ctx
        for lp in p["loops"]:
            check_loop(lp, p, False, STALL_MS, ctx)
            if lp["tid"] != tid:
                continue
            for st in lp["stalls"]:
                (ongoing if st["ongoing"] else ended).append(st)
    long_ones = [st for st in ongoing if st["duration_ns"] >= ns(1000)]
    # the hang spans at least 3 interval ends that come >= 1 s after it began
    assert len(long_ones) >= 2, f"ongoing stalls in intervals: {ongoing}" + ctx
    durs = [st["duration_ns"] for st in ongoing]
    assert durs == sorted(durs), f"an ongoing stall shrank: {ongoing}" + ctx
    for st in ongoing:
        # the same stall as the final one: same start, not longer than it ended up
        assert abs(st["start_ns"] - s["start_ns"]) <= ns(1), f"{st}" + ctx
        assert st["duration_ns"] <= s["duration_ns"], f"{st}" + ctx
    # it ended once: in the interval where it ended, or after the last interval
    assert len(ended) <= 1, f"stalls ended in intervals: {ended}" + ctx
    for st in ended:
        assert abs(st["start_ns"] - s["start_ns"]) <= ns(1), f"{st}" + ctx
        assert st["duration_ns"] == s["duration_ns"], f"{st}" + ctx


# --- C epoll loop --------------------------------------------------------------


def run_epoll(tool, tmp_path, delay_ms, extra=()):
    out = tmp_path / "epoll_server.json"
    _, final, ctx = traced(tool, [built("epoll_server"), "--out", out, "--delay", str(delay_ms)],
                           extra)
    wl = twtest.read_workload_out(out)
    ctx = f"\nworkload: {wl}" + ctx
    assert near(wl["slow_read_ns"], ns(delay_ms), 0.1), "the workload's slow read" + ctx
    assert wl["max_other_gap_ns"] < ns(STALL_MS / 2), "the workload stalled elsewhere" + ctx
    return final, wl, ctx


def test_epoll_server(require_bpf, tmp_path):
    """epoll loop, one read() of 300 ms on a pipe in a handler: a blocked stall in read."""
    final, wl, ctx = run_epoll(require_bpf, tmp_path, 300)
    proc, loop = loop_of(final, wl["pid"], wl["loop_tid"], ctx)
    assert wl["waits"] - 1 <= loop["iterations"] <= wl["waits"], ctx
    assert loop["stall_count"] == 1 and len(loop["stalls"]) == 1, ctx
    s = loop["stalls"][0]
    assert near(s["duration_ns"], ns(300)), ctx
    assert near(s["duration_ns"], wl["slow_gap_ns"], 0.05), ctx
    assert s["cause"] == "blocked", ctx
    assert s["ongoing"] is False, ctx
    assert s["longest_call"] is not None and s["longest_call"]["name"] == "read", ctx
    assert near(s["longest_call"]["duration_ns"], wl["slow_read_ns"], 0.05), ctx
    # the gap: read(socket), write(trigger pipe), read(slow pipe), write(socket)
    assert s["syscalls"] >= 4, ctx
    # the wait returned just before the workload read its clock
    assert wl["slow_wake_ns"] - ns(5) <= s["start_ns"] <= wl["slow_wake_ns"] + ns(1), ctx
    assert near(loop["gap_max_ns"], s["duration_ns"], 0.01), ctx
    assert loop["gap_p50_ns"] < ns(10), ctx

    # syscall tracing is on by default for a command; reads and writes by fd kind
    calls = calls_of(twtest.threads_by_tid(proc)[wl["loop_tid"]])
    assert "epoll_wait" in calls or "epoll_pwait" in calls, f"{calls}" + ctx
    for name in ("read", "write"):
        assert name in calls and "fd" in calls[name], f"{name}: {calls.get(name)}" + ctx
        fd = calls[name]["fd"]
        assert set(fd) == {"socket", "pipe", "file", "other"}, f"{name}: {fd}" + ctx
        assert sum(fd.values()) == calls[name]["count"], f"{name}: {calls[name]}" + ctx
    rd, wr = calls["read"]["fd"], calls["write"]["fd"]
    # one read per request on the socket plus the one that saw EOF; one on the slow
    # pipe (and maybe the tool's own: its child reads a "go" pipe before it execs)
    assert rd["socket"] == wl["requests"] + 1, f"read fd: {rd}" + ctx
    assert 1 <= rd["pipe"] <= 2, f"read fd: {rd}" + ctx
    # one reply per request on the socket; one trigger byte on the backend's pipe
    assert wr["socket"] == wl["requests"] and wr["pipe"] == 1, f"write fd: {wr}" + ctx


def test_epoll_stall_ms(require_bpf, tmp_path):
    """--stall-ms 1000: the same 300 ms gap is no stall, but still the longest gap."""
    final, wl, ctx = run_epoll(require_bpf, tmp_path, 300, extra=["--stall-ms", "1000"])
    _, loop = loop_of(final, wl["pid"], wl["loop_tid"], ctx, stall_ms=1000)
    assert loop["stall_count"] == 0 and loop["stalls"] == [], ctx
    assert wl["waits"] - 1 <= loop["iterations"] <= wl["waits"], ctx
    assert near(loop["gap_max_ns"], wl["slow_gap_ns"], 0.05), ctx


# --- threads blocked now -------------------------------------------------------


@pytest.mark.parametrize("mode,call", [("read", "read"), ("futex", "futex")])
def test_blocked_now(require_bpf, tmp_path, mode, call):
    """pool_blocked 4 MODE 2.5 under -i 1 --blocked-ms 500: the 4 workers are listed
    blocked in their call; main, asleep too, in clock_nanosleep; nobody else."""
    n, secs = 4, 2.5
    out = tmp_path / "pool_blocked.json"
    objs, final, ctx = traced(require_bpf, [built("pool_blocked"), "--out", out, str(n), mode,
                                            str(secs)], ["-i", "1", "--blocked-ms", "500"])
    wl = twtest.read_workload_out(out)
    ctx = f"\nworkload: {wl}" + ctx
    pid, workers = wl["pid"], set(wl["tids"])
    assert len(workers) == n, ctx
    names = {w["tid"]: w["name"] for w in wl["workers"]}
    longest = max(w["blocked_ns"] for w in wl["workers"])

    complete = 0
    for o in objs:
        p = proc_in(o, pid)
        if p is None:
            assert o["type"] == "interval", "the final report lacks the process" + ctx
            continue
        assert "blocked_now" in p, f"{o['type']} report: process lacks 'blocked_now'" + ctx
        listed = {}
        for e in p["blocked_now"]:
            ectx = f"\nblocked_now entry: {e}" + ctx
            for k in BLOCKED_KEYS:
                assert k in e, f"entry lacks {k!r}" + ectx
            assert e["tid"] not in listed, "a thread listed twice" + ectx
            listed[e["tid"]] = e
            assert e["blocked_ns"] >= ns(500), "listed under --blocked-ms" + ectx
            if e["tid"] in workers:
                assert e["call"] == call, ectx
                assert e["comm"] == names[e["tid"]], ectx
                assert e["blocked_ns"] <= longest + ns(50), ectx
            else:
                # main sleeps while the workers are blocked; no other thread exists
                assert e["tid"] == wl["main_tid"], "not a thread of the workload" + ectx
                assert e["call"] in ("clock_nanosleep", "nanosleep"), ectx
        if o["type"] == "final":
            # the process has exited: nobody is blocked any more
            assert not workers & set(listed), "final report: exited workers listed" + ctx
        elif workers <= set(listed):
            complete += 1
    assert complete >= 1, "no interval report listed all 4 blocked workers" + ctx


BOUNDS_SCRIPT = r"""
import json, select, threading, time
N, ROUNDS = 20, 5
bar = threading.Barrier(N + 1)
def loop():
    for _ in range(ROUNDS):
        select.select([], [], [], 0.002)
    bar.wait()                   # all 20 loops alive at once: 16 map entries cannot hold them
ts = [threading.Thread(target=loop) for _ in range(N)]
[t.start() for t in ts]
bar.wait()
[t.join() for t in ts]
for _ in range(4):               # then 4 gaps of 0.15 s: 4 stalls on the main thread
    select.select([], [], [], 0.001)
    time.sleep(0.15)
select.select([], [], [], 0.001)
"""


def test_bounded_loops_and_stalls(require_bpf):
    """--max-loops and --max-stalls bound memory; what they cut is counted, never silent."""
    cp = twtest.run([require_bpf, "--format", "json", "--max-loops", "16", "--max-stalls", "1",
                     "--", PY, "-c", BOUNDS_SCRIPT], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    final = twtest.final_report(twtest.parse_report(cp.stdout, ctx)[0], ctx)
    twtest.assert_no_loss(final, ctx, allow=("loop_map_full",))
    # 20 workers + main want an entry while all alive; the map holds 16
    assert final["lost"]["loop_map_full"] >= 5, ctx
    procs = final["processes"]
    assert len(procs) == 1, ctx
    loops = procs[0]["loops"]
    assert 16 <= len(loops) <= 21, ctx  # dead workers free their entries for the main loop
    main = [lp for lp in loops if lp["tid"] == procs[0]["pid"]]
    assert main, ctx
    # the kernel counted all 4 stalls of the main loop; only 1 breakdown was kept
    assert main[0]["stall_count"] == 4, ctx
    assert len(main[0]["stalls"]) == 1 and final["stalls_not_listed"] == 3, ctx
