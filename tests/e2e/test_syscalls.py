# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Blocking calls per thread: which call each thread waited in, how often, how long."""
import json
import textwrap

import twtest
from twtest import ns, workload

PY = "/usr/bin/python3"


def calls_of(thread):
    return {c["name"]: c for c in thread["syscalls"]}


def traced(tool, argv, extra=(), timeout=60):
    """Syscalls are traced by default when the tool is given a command (or -p)."""
    cp = twtest.run([tool, "--format", "json", *extra, "--", *argv], timeout=timeout)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.check_report_shape(rep, ctx)
    twtest.assert_no_loss(rep, ctx)
    return rep, objs, ctx


def test_read_and_sleep(require_bpf, tmp_path):
    """blockers: each worker waits in one read() of ~MS; main sleeps MS in clock_nanosleep."""
    n, ms = 4, 200
    out = tmp_path / "blockers.json"
    rep, _, ctx = traced(require_bpf, [workload("blockers"), "--out", out, str(n), str(ms)])
    wl = twtest.read_workload_out(out)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    threads = twtest.threads_by_tid(proc)
    for w in wl["workers"]:
        t = threads[w["tid"]]
        calls = calls_of(t)
        tctx = f"\nworker {w}\ntool {t}" + ctx
        assert "read" in calls, tctx
        rd = calls["read"]
        twtest.check_hist_shape(rd["hist"], tctx)
        assert twtest.hist_total(rd["hist"]) == rd["count"], tctx
        assert rd["errors"] == 0, tctx
        # the long read is in the bucket of the workload's own measure, and dominates
        assert twtest.hist_count(rd["hist"], w["read_ns"]) >= 1, tctx
        assert 0.95 * w["read_ns"] <= rd["total_ns"] <= w["read_ns"] + ns(20), tctx
        # calls are listed longest total first
        totals = [c["total_ns"] for c in t["syscalls"]]
        assert totals == sorted(totals, reverse=True), tctx
    main = threads[wl["main_tid"]]
    mcalls = calls_of(main)
    assert "clock_nanosleep" in mcalls or "nanosleep" in mcalls, f"main: {main}" + ctx
    slept = (mcalls.get("clock_nanosleep") or mcalls["nanosleep"])["total_ns"]
    assert 0.95 * ns(ms) <= slept <= ns(ms) + ns(50), f"main: {main}" + ctx
    # (pthread_join waits in futex only if a worker is still alive then: not asserted;
    # futex waits are checked in the Python test below)


SCRIPT = textwrap.dedent("""
    import json, os, sys, threading, time
    r, w = os.pipe()
    os.set_blocking(r, False)
    errors = 0
    for _ in range(7):
        try:
            os.read(r, 1)
        except BlockingIOError:
            errors += 1
    ev = threading.Event()
    ts = [threading.Thread(target=ev.wait) for _ in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.3)
    ev.set()
    for t in ts:
        t.join()
    with open(sys.argv[1], "w") as f:
        json.dump({"tid": threading.get_native_id(), "errors": errors,
                   "waiters": [t.native_id for t in ts]}, f)
""")


def test_python_sleep_errors_and_futex(require_bpf, tmp_path):
    """time.sleep(0.3) is 0.3 s in clock_nanosleep; EAGAIN reads are would-block, not errors;
    Event.wait is futex."""
    out = tmp_path / "py.json"
    rep, _, ctx = traced(require_bpf, [PY, "-c", SCRIPT, out])
    own = json.loads(out.read_text())
    proc = rep["processes"][0]
    threads = twtest.threads_by_tid(proc)
    main = calls_of(threads[own["tid"]])
    assert own["errors"] == 7, own
    assert main["read"]["wouldblock"] == 7, f"{main}" + ctx
    assert main["read"]["errors"] == 0 and main["read"]["errnos"] == {}, f"{main}" + ctx
    assert 0.95 * ns(300) <= main["clock_nanosleep"]["total_ns"] <= ns(300) + ns(60), f"{main}" + ctx
    for tid in own["waiters"]:
        calls = calls_of(threads[tid])
        assert "futex" in calls, f"waiter {tid}: {threads[tid]}" + ctx
        # each waiter waits ~0.3 s in futex (Event.wait on a lock)
        assert calls["futex"]["total_ns"] >= 0.9 * ns(300), f"waiter {tid}: {threads[tid]}" + ctx


def test_no_syscalls(require_bpf, tmp_path):
    """--no-syscalls: the scheduler numbers stay, no call is timed, no loop is seen; with
    tp_btf each block is still named by the syscall it slept in (read at switch out)."""
    out = tmp_path / "blockers.json"
    rep, _, ctx = traced(require_bpf, [workload("blockers"), "--out", out, "2", "100"],
                         extra=["--no-syscalls"])
    assert rep["syscalls"] is False, ctx
    wl = twtest.read_workload_out(out)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    assert proc["threads_created"] == 2, ctx
    assert proc["loops"] == [] and proc["blocked_now"] == [], ctx
    named = rep["attach"] == "tp_btf"
    assert rep["syscall_mode"] == ("named" if named else "off"), ctx
    by_tid = {t["tid"]: t for t in proc["threads"]}
    for w in wl["workers"]:
        t = by_tid[w["tid"]]
        calls = {c["name"]: c for c in t["syscalls"]}
        if not named:
            assert calls == {}, ctx
            continue
        # its one read() slept once, for about as long as the worker timed it
        assert not any(c["timed"] for c in calls.values()), ctx
        rd = calls["read"]
        assert rd["count"] >= 1 and rd["total_ns"] == 0, ctx
        assert 0.9 * w["read_ns"] <= rd["blocked_ns"] <= w["read_ns"] + 5e6, ctx
        assert rd["max_ns"] <= w["read_ns"] + 5e6, ctx
        assert t["blocked_outside_syscalls_ns"] is not None, ctx
        assert t["blocked_ns"] >= sum(c["blocked_ns"] for c in calls.values()), ctx


def test_syscalls_default_by_scope(require_bpf):
    """On by default with targets, off system-wide unless asked; the two flags exclude each other."""
    cp = twtest.run([require_bpf, "--format", "json", "-d", "0.2"], timeout=30)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    rep = twtest.final_report(twtest.parse_report(cp.stdout, ctx)[0], ctx)
    assert rep["syscalls"] is False, ctx
    cp = twtest.run([require_bpf, "--format", "json", "-d", "0.2", "--syscalls"], timeout=30)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    rep = twtest.final_report(twtest.parse_report(cp.stdout, ctx)[0], ctx)
    assert rep["syscalls"] is True, ctx
    cp = twtest.run([require_bpf, "--syscalls", "--no-syscalls", "-d", "0.1"], timeout=30)
    assert cp.returncode == 2, twtest.describe(cp)
    assert "--no-syscalls" in cp.stderr, twtest.describe(cp)


def test_interval_calls_add_up(require_bpf):
    """-i: per-interval call deltas add up exactly to the final totals (all calls done early)."""
    objs, w, ctx = twtest.run_held(["--syscalls", "--format", "json", "-i", "0.2", "-d", "1.3"],
                                   [workload("blockers"), "--wait-stdin", "--hold", "3", "300"])
    intervals = [o for o in objs if o.get("type") == "interval"]
    assert len(intervals) >= 4, ctx
    final = twtest.threads_by_tid(twtest.find_proc(objs[-1], w["pid"], ctx))
    for wk in w["workers"]:
        fr = calls_of(final[wk["tid"]])["read"]
        s_count = s_total = 0
        for o in intervals:
            for p in o["processes"]:
                for t in p["threads"]:
                    if t["tid"] == wk["tid"] and "read" in calls_of(t):
                        s_count += calls_of(t)["read"]["count"]
                        s_total += calls_of(t)["read"]["total_ns"]
        # the workers were done ~0.35 s in: the later intervals saw their last calls
        assert (s_count, s_total) == (fr["count"], fr["total_ns"]), \
            f"worker {wk}: intervals {s_count}/{s_total}, final {fr}" + ctx
