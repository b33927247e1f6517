# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Target selection: -p PID,PID and -t TID."""
import signal

import twtest
from twtest import ns, workload


def test_multi_pid(require_bpf):
    """-p A,B: both traced, and the run ends by itself once both exited."""
    a = twtest.Bg([workload("blockers"), "--wait-stdin", "2", "100"], stdin=True)
    b = twtest.Bg([workload("blockers"), "--wait-stdin", "3", "150"], stdin=True)
    with a, b:
        tool = twtest.Bg([require_bpf, "-p", f"{a.pid},{b.pid}", "--format", "json"])
        with tool:
            assert tool.wait_line("err", lambda s: "Tracing" in s, 30), twtest.describe(tool)
            a.send("\n")
            b.send("\n")
            for wl in (a, b):
                assert twtest.finish(wl, 30, "a workload") == 0, twtest.describe(wl)
            rc = twtest.finish(tool, 15, "the tool (after both targets exited)")
            ctx = twtest.describe(tool)
            assert rc == 0, ctx
            objs, _ = twtest.parse_report(tool.stdout, ctx)
            rep = twtest.final_report(objs, ctx)
            twtest.assert_no_loss(rep, ctx)
            assert {p["pid"] for p in rep["processes"]} == {a.pid, b.pid}, ctx
            for wl, n in ((a, 2), (b, 3)):
                proc = twtest.find_proc(rep, wl.pid, ctx)
                assert proc["exited"] is True, ctx
                assert proc["threads_created"] == n and proc["threads_exited"] == n, ctx
                assert proc["threads_peak"] == n + 1, ctx


def test_one_tid(require_bpf):
    """-p PID -t TID: only that thread's row (here main, which creates the workers)."""
    ms = 150
    # main's tid is the pid, known as soon as the workload starts
    wl = twtest.Bg([workload("blockers"), "--wait-stdin", "3", str(ms)], stdin=True)
    with wl:
        tool = twtest.Bg([require_bpf, "-p", str(wl.pid), "-t", str(wl.pid), "--format", "json"])
        with tool:
            assert tool.wait_line("err", lambda s: "Tracing" in s, 30), twtest.describe(tool)
            wl.send("\n")
            assert twtest.finish(wl, 30, "the workload") == 0, twtest.describe(wl)
            if tool.wait(10) is None:
                tool.signal(signal.SIGINT)
                twtest.finish(tool, 10)
            ctx = twtest.describe(tool)
            assert tool.returncode == 0, ctx
            objs, _ = twtest.parse_report(tool.stdout, ctx)
            rep = twtest.final_report(objs, ctx)
            proc = twtest.find_proc(rep, wl.pid, ctx)
            rows = twtest.threads_by_tid(proc)
            assert set(rows) == {wl.pid}, f"rows for {sorted(rows)}, expected only {wl.pid}" + ctx
            main = rows[wl.pid]
            assert main["threads_created"] == 3, ctx
            assert main["blocked_ns"] >= 0.9 * ns(ms), ctx
