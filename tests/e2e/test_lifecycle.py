# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Thread lifecycle and blocked time of `blockers N MS`, traced from the start
(-- COMMAND), by -p PID, in each attach mode, folded by comm, and as text."""
import json
import re
import signal

import pytest

import twtest
from twtest import ns, workload

N = 8
MS = 200


def run_exec(tool, tmp_path, tool_args, wl_args, timeout=60):
    """Runs `tool TOOL_ARGS -- blockers --out F WL_ARGS`; returns (cp, report, wl)."""
    out = tmp_path / "blockers.json"
    cp = twtest.run([tool, *tool_args, "--", workload("blockers"), "--out", out, *wl_args],
                    timeout=timeout)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, "the tool failed" + ctx
    wl = twtest.read_workload_out(out)
    objs, stray = twtest.parse_report(cp.stdout, ctx)
    assert not stray, "workload output leaked into the tool's stdout" + ctx
    rep = twtest.final_report(objs, ctx)
    twtest.check_report_shape(rep, ctx)
    return cp, rep, wl, ctx


def check_blockers(rep, wl, ctx, exited=True):
    """What `blockers N MS` did, against the tool's final report."""
    n, ms = wl["threads"], wl["block_ms"]
    twtest.assert_no_loss(rep, ctx)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    ctx = f"\nprocess: { {k: v for k, v in proc.items() if k != 'threads'} }" + ctx
    assert proc["exited"] is exited, f"exited={proc['exited']}, expected {exited}" + ctx
    assert proc["threads_created"] == n, ctx
    assert proc["threads_exited"] == n, ctx
    assert proc["threads_peak"] == n + 1, ctx
    assert proc["thread_create_failures"] == 0, ctx
    assert proc["create_failures_by_errno"] == {"EAGAIN": 0, "ENOMEM": 0, "other": 0}, ctx
    assert proc["fork_failures"] == 0, ctx
    for h in ("first_run_hist", "lifetime_hist"):
        twtest.check_hist_shape(proc[h], f"\n{h}" + ctx)
    # every worker ran once after being created, and lived at least through its read()
    assert twtest.hist_total(proc["first_run_hist"]) == n, \
        f"first_run_hist counts {twtest.hist_total(proc['first_run_hist'])} threads, {n} were created" + ctx
    # like threads_exited, the lifetimes are those of the threads other than main
    assert twtest.hist_total(proc["lifetime_hist"]) == n, \
        f"lifetime_hist counts {twtest.hist_total(proc['lifetime_hist'])} threads, {n} exited" + ctx
    shortest = min(w["read_ns"] for w in wl["workers"])
    short_lives = [b for b in proc["lifetime_hist"] if b[1] <= shortest]
    assert not short_lives, f"threads lived less than the shortest read(): {short_lives}" + ctx

    threads = twtest.threads_by_tid(proc)
    worker_tids = {w["tid"] for w in wl["workers"]}
    assert set(threads) == worker_tids | {wl["main_tid"]}, \
        f"thread rows {sorted(threads)} != workers {sorted(worker_tids)} + main {wl['main_tid']}" + ctx

    main = threads[wl["main_tid"]]
    assert main["alive"] is (not exited), ctx
    assert main["threads_created"] == n, f"main thread row: {main}" + ctx
    # main slept MS in clock_nanosleep (and blocked in pthread_join)
    assert main["blocked_ns"] >= 0.9 * ns(ms), f"main thread row: {main}" + ctx

    for w in wl["workers"]:
        t = threads[w["tid"]]
        tctx = f"\nworker (workload): {w}\nworker (tool): {t}" + ctx
        for h in ("blocked_hist", "runq_hist"):
            twtest.check_hist_shape(t[h], tctx)
        assert t["alive"] is False, tctx
        assert t["threads_created"] == 0, tctx
        assert t["oncpu_ns"] > 0, tctx
        assert t["runq_ns"] >= 0, tctx
        # the one read() is the worker's blocked time: the tool measures from the
        # switch out to the wakeup, a hair less than the workload's clock
        assert t["blocked_ns"] >= 0.9 * w["read_ns"], tctx
        assert t["blocked_ns"] <= wl["elapsed_ns"], tctx
        assert twtest.hist_count(t["blocked_hist"], w["read_ns"]) >= 1, \
            f"no blocked interval in the bucket {twtest.hist_bucket(w['read_ns'])} of read_ns" + tctx
        # the kernel's own counts, read by the worker before its exit: the tool saw
        # every one of those switches (never fewer) plus the few of the exit path
        # (its last switch, and preemptions on a busy machine)
        assert w["nvcsw"] <= t["vol_switches"] <= w["nvcsw"] + 3, tctx
        assert w["nivcsw"] <= t["invol_switches"] <= w["nivcsw"] + 5, tctx
        # a worker lives inside the workload's elapsed window
        life = t["oncpu_ns"] + t["blocked_ns"] + t["runq_ns"]
        assert life <= wl["elapsed_ns"] + ns(50), tctx
    return proc


@pytest.mark.parametrize("mode", [None, "auto", "tp_btf", "raw_tp"])
def test_lifecycle(require_bpf, tmp_path, mode):
    tool_args = ["--format", "json"]
    if mode:
        tool_args += ["--attach-mode", mode]
    cp, rep, wl, ctx = run_exec(require_bpf, tmp_path, tool_args, [str(N), str(MS)])
    assert wl["threads"] == N and len(wl["workers"]) == N
    # this kernel has BTF, so auto (and the default) must pick tp_btf
    expected = "raw_tp" if mode == "raw_tp" else "tp_btf"
    assert rep["attach"] == expected, ctx
    check_blockers(rep, wl, ctx)


def test_attach_pid(require_bpf):
    """-p PID: the threads are created only after the release, so the counts are exact."""
    tool, wl = twtest.start_attached(["--format", "json"],
                                     [workload("blockers"), "--wait-stdin", str(N), str(MS)])
    with tool, wl:
        wl.send("\n")
        assert twtest.finish(wl, 30, "the workload") == 0, twtest.describe(wl)
        # the tool ends by itself when its target exits (test_signals checks that it
        # does); here only the counts matter, so stop it if it did not
        if tool.wait(10) is None:
            tool.signal(signal.SIGINT)
            twtest.finish(tool, 10)
        ctx = twtest.describe(tool) + "\nworkload:" + twtest.describe(wl)
        assert tool.returncode == 0, ctx
        _, wl_objs = twtest.parse_report(wl.stdout, ctx)
        objs, _ = twtest.parse_report(tool.stdout, ctx)
        rep = twtest.final_report(objs, ctx)
        twtest.check_report_shape(rep, ctx)
        check_blockers(rep, wl_objs[0], ctx)


def test_by_comm(require_bpf, tmp_path):
    n = 6
    cp, rep, wl, ctx = run_exec(require_bpf, tmp_path, ["--format", "json", "--by", "comm"],
                                ["--name", "worker", str(n), "100"])
    twtest.assert_no_loss(rep, ctx)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    assert proc["threads_created"] == n, ctx
    rows = {}
    for t in proc["threads"]:
        assert t["comm"] not in rows, f"two rows for comm {t['comm']!r}" + ctx
        rows[t["comm"]] = t
    assert set(rows) == {"worker", "blockers"}, f"rows by comm: {sorted(rows)}" + ctx
    wrow, mrow = rows["worker"], rows["blockers"]
    assert wrow["tid"] is None and mrow["tid"] is None, ctx
    assert wrow["nthreads"] == n, f"worker row: {wrow}" + ctx
    assert mrow["nthreads"] == 1, f"main row: {mrow}" + ctx
    assert mrow["threads_created"] == n, ctx
    assert wrow["alive"] is False, ctx
    total_read = sum(w["read_ns"] for w in wl["workers"])
    assert wrow["blocked_ns"] >= 0.9 * total_read, f"worker row: {wrow}" + ctx
    assert abs(wrow["vol_switches"] - sum(w["nvcsw"] for w in wl["workers"])) <= 2 * n, ctx
    per_bucket = {}
    for w in wl["workers"]:
        b = twtest.hist_bucket(w["read_ns"])
        per_bucket[b] = per_bucket.get(b, 0) + 1
    for (lo, hi), k in per_bucket.items():
        assert twtest.hist_count(wrow["blocked_hist"], lo) >= k, \
            f"bucket [{lo}, {hi}) should count >= {k}: {wrow['blocked_hist']}" + ctx


def test_text(require_bpf, tmp_path):
    """Default text output: a process summary line with the counts, and a histogram."""
    n = 3
    out = tmp_path / "blockers.json"
    cp = twtest.run([require_bpf, "--", workload("blockers"), "--out", out, str(n), "100"],
                    timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    wl = twtest.read_workload_out(out)
    text = cp.stdout
    assert text.strip(), "no text output" + ctx
    with pytest.raises(ValueError):
        json.loads(text.splitlines()[0])
    summary = [ln for ln in text.splitlines()
               if re.search(rf"\b{wl['pid']}\b", ln) and "blockers" in ln]
    assert summary, f"no line names the process (pid {wl['pid']}, comm blockers)" + ctx
    counts = "\n".join(summary) + "\n" + text
    assert re.search(rf"created\D{{0,12}}\b{n}\b", counts), "created count not shown" + ctx
    assert re.search(rf"exited\D{{0,12}}\b{n}\b", counts), "exited count not shown" + ctx
    assert re.search(rf"peak\D{{0,12}}\b{n + 1}\b", counts), "peak not shown" + ctx
    # a log2 histogram: rows with a range and a bar
    assert re.search(r"^\s*\d+(\.\d+)?\s*\w*\s*(->|-|\.\.)\s*\d+(\.\d+)?\s*\w*\s*[:|].*[*#]", text,
                     re.M), "no histogram rows" + ctx
    for w in wl["workers"]:
        assert re.search(rf"\b{w['tid']}\b", text), f"worker {w['tid']} not listed" + ctx
