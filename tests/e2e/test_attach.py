# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""The state at attach (issue 9, defects 1 and 6).

Workload: tests/workloads/presleep.c. Its threads go to sleep well BEFORE the tool
attaches: "reader" in read() on a pipe nobody writes, "sleeper" in clock_nanosleep,
"hung" an epoll loop stuck in a handler's read() since before the trace, "idle" an
epoll loop waiting in epoll_wait. It says when each went to sleep (CLOCK_MONOTONIC,
asleep_ns) and how long each call lasted; on "poke" the idle loop serves one event
whose handler sleeps --delay ms.

Checked: blocked time and call time from the attach, about the run's duration; the
threads stuck since before the trace in blocked_now with their call, since when the
kernel says they last ran (never before the workload's own clock says they went to
sleep); the idle loop never in blocked_now (it is idle, not stuck), but a loop from
its first return: the poke is one stall; and the same without the task iterator,
from /proc ("since before the trace, at least").
"""
import json
import re
import signal
import time

import pytest

import twtest
from twtest import ns, workload

PRE_S = 2.0  # the workload sleeps this long before the tool attaches
RUN_S = 3  # -d
DELAY_MS = 300  # the idle loop's handler on a poke
STUCK = {"reader": "read", "sleeper": "clock_nanosleep", "hung": "read"}


def near(value, want, frac):
    return abs(value - want) <= frac * want


def run_traced(tool, tmp_path, extra, poke=True):
    """presleep asleep for PRE_S, then the tool attached for RUN_S (poking the idle loop
    once, 0.5 s in). Returns (tool objects, the tool Bg, the phase line, the workload's
    final line, ctx)."""
    out = tmp_path / "presleep.json"
    with twtest.Bg([workload("presleep"), "--out", out, "--delay", str(DELAY_MS)],
                   stdin=True) as wl:
        line = wl.wait_line("err", lambda s: '"phase":"asleep"' in s, 20)
        assert line is not None, "presleep never went to sleep" + twtest.describe(wl)
        phase = json.loads(line)
        time.sleep(PRE_S)
        with twtest.Bg([tool, "-p", str(phase["pid"]), "-d", str(RUN_S), "--blocked-ms",
                        "1000", *extra]) as t:
            if t.wait_line("err", lambda s: "Tracing" in s, 30) is None:
                t.signal(signal.SIGINT)
                t.wait(10)
                raise AssertionError("the tool never printed 'Tracing'" + twtest.describe(t))
            if poke:
                time.sleep(0.5)
                wl.send("poke\n")
            rc = twtest.finish(t, 60)
            ctx = twtest.describe(t)
            assert rc == 0, ctx
        wl.close_stdin()
        assert twtest.finish(wl, 20, "the workload") == 0, twtest.describe(wl)
    res = twtest.read_workload_out(out)
    ctx = f"\nworkload: {res}" + ctx
    return t, phase, res, ctx


def check_totals(rep, res, ctx):
    """Blocked and call time of the threads asleep all along: about the run's duration."""
    proc = twtest.find_proc(rep, res["pid"], ctx)
    rows = twtest.threads_by_tid(proc)
    dur = rep["duration_s"] * 1e9
    for name, call in STUCK.items():
        tid = res["tids"][name]
        assert tid in rows, f"{name} ({tid}) not in the report" + ctx
        r = rows[tid]
        rctx = f"\n{name}: {r}" + ctx
        assert near(r["blocked_ns"], dur, 0.1), "blocked time is not the run's" + rctx
        assert r["oncpu_ns"] < 0.05 * dur and r["vol_switches"] == 0, rctx
        calls = {c["name"]: c for c in r["syscalls"]}
        assert call in calls, f"no {call} in its calls" + rctx
        # still in the call: its time so far counts, no whole call returned
        assert near(calls[call]["total_ns"], dur, 0.1), rctx
        assert calls[call]["count"] == 0 and calls[call]["hist"] == [], rctx
    return proc


def test_attach_state(require_bpf, tmp_path):
    """Threads asleep since before the trace: blocked from the attach, listed blocked now
    since they last ran; the idle loop never listed, and a loop from its first return."""
    t, phase, res, ctx = run_traced(require_bpf, tmp_path, ["--format", "json", "-i", "1"])
    objs, _ = twtest.parse_report(t.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.assert_no_loss(rep, ctx)
    assert rep["attach"] == "tp_btf", ctx
    proc = check_totals(rep, res, ctx)
    idle = res["tids"]["idle"]
    for o in objs:
        p = [p for p in o["processes"] if p["pid"] == res["pid"]]
        for e in p[0]["blocked_now"] if p else []:
            assert e["tid"] != idle, f"the idle loop listed blocked: {e}" + ctx

    listed = {e["tid"]: e for e in proc["blocked_now"]}
    for name, call in STUCK.items():
        tid = res["tids"][name]
        assert tid in listed, f"{name} ({tid}) not blocked now: {proc['blocked_now']}" + ctx
        e = listed[tid]
        ectx = f"\n{name}: {e}" + ctx
        assert e["call"] == call and e["since_before_trace"] is True, ectx
        # the kernel's last run of it: not before the workload went to sleep, and soon after
        asleep = res["asleep_ns"][name]
        assert e["since_ns"] is not None, ectx
        assert asleep - ns(1) <= e["since_ns"] <= asleep + ns(100), ectx
        assert e["blocked_ns"] >= ns(PRE_S * 1000) + 0.9 * rep["duration_s"] * 1e9, ectx
        # the report came before the workload woke it
        assert e["since_ns"] + e["blocked_ns"] <= asleep + res["blocked_ns"][name], ectx
        assert e["last_ran_before_trace_ns"] >= ns(PRE_S * 1000) * 0.95, ectx
    others = set(listed) - {res["tids"][n] for n in STUCK}
    # main waits for commands in read() on its stdin: the only other thread listed
    assert others <= {res["main_tid"]}, f"unexpected threads blocked now: {others}" + ctx
    assert idle not in listed and proc["idle_waiting"] == 1, ctx

    # the idle loop was waiting at attach: its first return starts a gap, so the
    # one poke of the run is a loop iteration, and a stall of DELAY_MS
    loops = {lp["tid"]: lp for lp in proc["loops"]}
    assert idle in loops, f"the idle loop is no loop: {proc['loops']}" + ctx
    lp = loops[idle]
    assert res["pokes"] == 1 and lp["iterations"] == 1 and lp["stall_count"] == 1, ctx
    s = lp["stalls"][0]
    assert near(s["duration_ns"], res["poke_gap_ns"], 0.05), ctx
    assert abs(s["start_ns"] - res["poke_wake_ns"]) <= ns(5), ctx
    assert s["longest_call"]["name"] == "clock_nanosleep" and s["cause"] == "blocked", ctx
    # the wait it was in at attach was not timed from its entry (no count, no sample),
    # nor is the one it is in now: their time from the attach is all in total_ns
    calls = {c["name"]: c for c in twtest.threads_by_tid(proc)[idle]["syscalls"]}
    ew = calls.get("epoll_wait") or calls.get("epoll_pwait")
    assert ew is not None and ew["count"] == 0 and ew["hist"] == [], ctx
    assert near(ew["total_ns"], rep["duration_s"] * 1e9 - res["poke_gap_ns"], 0.1), ctx
    # the loop's tid is not a stuck thread's: the hung loop is no loop (it never returned)
    assert res["tids"]["hung"] not in loops, ctx


def test_attach_state_text(require_bpf, tmp_path):
    """The text report: BLOCKED NOW rows say since when, and MOST TIME IN the call."""
    t, phase, res, ctx = run_traced(require_bpf, tmp_path, [], poke=False)
    out = t.stdout
    for name, call in STUCK.items():
        tid = res["tids"][name]
        row = re.search(rf"^\s+{tid}\s+{name}\s+(\S+)\s+{call}, since (\d\d:\d\d:\d\d\.\d\d\d) "
                        r"\(last ran (\S+) before the trace\)$", out, re.M)
        assert row, f"no BLOCKED NOW row for {name} ({tid})" + ctx
        most = re.search(rf"^\s+{tid}\s+{name}\s+yes\s.*\s{call} \S+$", out, re.M)
        assert most, f"{name}'s MOST TIME IN does not name {call}" + ctx
    assert re.search(r"idle now: 1 thread waiting in epoll/poll/select", out), ctx
    idle = res["tids"]["idle"]
    assert not re.search(rf"^\s+{idle}\s+idle\s+\S+\s+epoll", out, re.M), ctx


def test_attach_state_procfs(require_bpf, tmp_path):
    """Without the task iterator (--btf: no kernel BTF assumed, raw_tp), /proc gives the
    state: the same totals, and blocked now "since before the trace, at least"."""
    t, phase, res, ctx = run_traced(
        require_bpf, tmp_path,
        ["--format", "json", "-v", "--btf", "/sys/kernel/btf/vmlinux"], poke=False)
    objs, _ = twtest.parse_report(t.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    assert rep["attach"] == "raw_tp", ctx
    twtest.assert_no_loss(rep, ctx)
    proc = check_totals(rep, res, ctx)
    assert "attach-time state from /proc" in t.stderr, ctx
    listed = {e["tid"]: e for e in proc["blocked_now"]}
    for name, call in STUCK.items():
        e = listed.get(res["tids"][name])
        assert e is not None, f"{name} not blocked now: {proc['blocked_now']}" + ctx
        ectx = f"\n{name}: {e}" + ctx
        assert e["call"] == call and e["since_before_trace"] is True, ectx
        assert e["since_ns"] is None and e["last_ran_before_trace_ns"] is None, ectx
        # at least the run, never more than since it went to sleep
        assert e["blocked_ns"] >= 0.9 * rep["duration_s"] * 1e9, ectx
        assert e["blocked_ns"] <= res["blocked_ns"][name], ectx
    assert res["tids"]["idle"] not in listed and proc["idle_waiting"] == 1, ctx


def test_attach_state_no_syscalls(require_bpf, tmp_path):
    """--no-syscalls (tp_btf): no syscall program, yet the threads stuck since before the
    trace are blocked now in their call, named from their registers by the iterator, and
    their blocked time from the attach is the call's; no call is timed."""
    t, phase, res, ctx = run_traced(require_bpf, tmp_path,
                                    ["--format", "json", "--no-syscalls"], poke=False)
    objs, _ = twtest.parse_report(t.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    assert rep["attach"] == "tp_btf" and rep["syscall_mode"] == "named", ctx
    twtest.assert_no_loss(rep, ctx)
    proc = twtest.find_proc(rep, res["pid"], ctx)
    rows = twtest.threads_by_tid(proc)
    listed = {e["tid"]: e for e in proc["blocked_now"]}
    dur = rep["duration_s"] * 1e9
    for name, call in STUCK.items():
        tid = res["tids"][name]
        e = listed.get(tid)
        assert e is not None, f"{name} not blocked now: {proc['blocked_now']}" + ctx
        ectx = f"\n{name}: {e}\nrow: {rows.get(tid)}" + ctx
        assert e["call"] == call and e["since_before_trace"] is True, ectx
        calls = {c["name"]: c for c in rows[tid]["syscalls"]}
        # still asleep in it: its blocked time so far is the call's, nothing timed
        assert call in calls and not calls[call]["timed"], ectx
        assert near(calls[call]["blocked_ns"], dur, 0.1), ectx
        assert calls[call]["total_ns"] == 0 and calls[call]["count"] == 0, ectx
    assert proc["loops"] == [] and proc["idle_waiting"] == 1, ctx
