# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Thread storms and thread-creation failures: exact counts or reported loss."""
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading

import pytest

import twtest
from twtest import workload


def exec_report(tool, argv, timeout=60):
    cp = twtest.run([tool, "--format", "json", "--", *argv], timeout=timeout)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.check_report_shape(rep, ctx)
    return rep, ctx


def test_storm(require_bpf, tmp_path):
    n, batch = 10000, 64
    out = tmp_path / "storm.json"
    rep, ctx = exec_report(require_bpf, [workload("storm"), "--out", out, str(n), str(batch)])
    wl = twtest.read_workload_out(out)
    ctx = f"\nworkload: {wl}" + ctx
    assert wl["created"] == n and wl["failed"] == 0, "the workload itself fell short" + ctx
    # counts must be exact, or the loss reported; here nothing may be lost
    twtest.assert_no_loss(rep, ctx, allow=twtest.STORM_COUNTED_LOSSES)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    ctx = f"\nprocess: { {k: v for k, v in proc.items() if k != 'threads'} }" + ctx
    assert proc["threads_created"] == n, ctx
    assert proc["threads_exited"] == n, ctx
    assert proc["thread_create_failures"] == 0, ctx
    # storm waits for each batch to be fully gone (Threads: 1) before the next,
    # so the peak is exact: the largest batch plus main
    assert proc["threads_peak"] == wl["peak_alive"] + 1, ctx
    assert proc["exited"] is True, ctx
    twtest.check_hist_shape(proc["lifetime_hist"], ctx)
    # like threads_exited, the lifetimes are those of the threads other than main
    assert twtest.hist_total(proc["lifetime_hist"]) == n, \
        f"lifetime_hist counts {twtest.hist_total(proc['lifetime_hist'])} threads, {n} exited" + ctx
    # every first run is either in the histogram or counted as unseen
    unseen = rep["lost"].get("first_run_unseen", 0)
    assert twtest.hist_total(proc["first_run_hist"]) + unseen == n, \
        (f"first_run_hist counts {twtest.hist_total(proc['first_run_hist'])} threads "
         f"+ {unseen} unseen, {n} created") + ctx
    main = twtest.threads_by_tid(proc).get(wl["main_tid"])
    assert main is not None, "main thread row missing" + ctx
    assert main["threads_created"] == n, f"main: {main}" + ctx


def run_maxrss(argv, timeout):
    """Runs argv; returns (returncode, stdout, stderr, its max RSS in KiB from wait4)."""
    p = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=twtest.ROOT)
    out = {}
    readers = [threading.Thread(target=lambda k, f: out.__setitem__(k, f.read()), args=(k, f))
               for k, f in (("out", p.stdout), ("err", p.stderr))]
    for r in readers:
        r.start()
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    for r in readers:
        r.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    return (p.returncode, out["out"].decode(errors="replace"), out["err"].decode(errors="replace"),
            ru.ru_maxrss)


def storm_report(tool, tmp_path, n, fmt):
    out = tmp_path / f"storm-{n}-{fmt}.json"
    argv = [tool, "--format", fmt, "--", workload("storm"), "--out", out, str(n), "64"]
    rc, stdout, stderr, rss_kb = run_maxrss(argv, 120)
    ctx = (f"\n$ {' '.join(map(str, argv))}\nexit status {rc}, max RSS {rss_kb} KiB"
           f"\n--- stdout (last 3000) ---\n{stdout[-3000:]}\n--- stderr ---\n{stderr[-3000:]}")
    assert rc == 0, ctx
    wl = twtest.read_workload_out(out)
    assert wl["created"] == n and wl["failed"] == 0, f"the workload fell short: {wl}" + ctx
    return stdout, wl, rss_kb, ctx


def test_storm_dead_threads_memory(require_bpf, tmp_path):
    """A storm's dead threads are all in the final report, exactly, and each costs the
    agent a few dozen bytes (they are packed: user/pack.h), not the ~500 a full record,
    its futex call and a view row took: the growth from a 1,000-thread storm to a
    50,000-thread one stays under 200 bytes per thread (the threads not yet harvested,
    ~50 ms of them, are full records). Memory, not time: no clock in the assertion.
    The ASan build's allocator (redzones, quarantine) has its own costs: there, only
    the counts are checked."""
    small, big = 1000, 50000
    _, _, rss_small, _ = storm_report(require_bpf, tmp_path, small, "json")
    stdout, wl, rss_big, ctx = storm_report(require_bpf, tmp_path, big, "json")
    objs, _ = twtest.parse_report(stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.check_report_shape(rep, ctx)
    twtest.assert_no_loss(rep, ctx, allow=twtest.STORM_COUNTED_LOSSES)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    pctx = f"\nprocess: { {k: v for k, v in proc.items() if k != 'threads'} }" + ctx
    assert proc["threads_created"] == big and proc["threads_exited"] == big, pctx
    assert proc["threads_peak"] == wl["peak_alive"] + 1, pctx
    # every thread that ever lived has its row, with its own numbers
    rows = proc["threads"]
    assert len(rows) == big + 1, f"{len(rows)} thread rows for {big} workers + main" + pctx
    assert sum(t["threads_created"] for t in rows) == big, pctx
    assert sum(t["blocked_ns"] for t in rows) == proc["blocked_ns"], pctx
    # each worker ran: its row has that run, unless the kernel hid its switch-in (counted)
    workers = [t for t in rows if t["tid"] != wl["main_tid"]]
    unseen = sum(rep["lost"].get(k, 0) for k in twtest.STORM_COUNTED_LOSSES)
    norun = [t for t in workers if not (t["oncpu_ns"] > 0 and twtest.hist_total(t["runq_hist"]))]
    assert len(norun) <= unseen, \
        f"{len(norun)} worker rows without their run, {unseen} switch-ins unseen: {norun[:3]}" + pctx
    for t in workers[:: max(1, len(workers) // 500)]:
        twtest.check_hist_shape(t["runq_hist"], f"\nrow {t}" + pctx)
    with open(require_bpf, "rb") as f:
        if b"AddressSanitizer" in f.read():
            return
    per_thread = (rss_big - rss_small) * 1024 / (big - small)
    assert per_thread <= 200, \
        (f"max RSS {rss_small} KiB for {small} threads, {rss_big} KiB for {big}: "
         f"{per_thread:.0f} bytes per dead thread") + pctx


def test_storm_text_rows(require_bpf, tmp_path):
    """The text report of a storm: the counts, the top rows and how many more."""
    n = 50000
    stdout, wl, _, ctx = storm_report(require_bpf, tmp_path, n, "text")
    head = re.search(r"^PID (\d+) \(storm\) \[exited\]: threads now 0, peak (\d+), "
                     r"created (\d+), exited (\d+), failed 0", stdout, re.M)
    assert head, "no process line for the storm" + ctx
    assert int(head[1]) == wl["pid"], ctx
    assert (int(head[2]), int(head[3]), int(head[4])) == (wl["peak_alive"] + 1, n, n), ctx
    shown = re.findall(r"^  (\d+) +storm +no ", stdout, re.M)
    assert len(shown) == 20, f"{len(shown)} thread rows shown, the text shows 20" + ctx
    more = re.search(r"^  \.\.\. (\d+) more rows \(--format json lists them all\)$", stdout,
                     re.M)
    assert more and int(more[1]) == n + 1 - 20, "the count of the rows not shown" + ctx


def check_failures(proc, wl, ctx):
    ctx = f"\nworkload: {wl}\nprocess: { {k: v for k, v in proc.items() if k != 'threads'} }" + ctx
    assert wl["failed_other"] == 0, "unexpected pthread_create errors" + ctx
    assert wl["failed_eagain"] > 0, "the limit did not bite: the setup is wrong" + ctx
    assert wl["created"] + wl["failed_eagain"] == wl["attempted"], ctx
    assert proc["thread_create_failures"] == wl["failed_eagain"], ctx
    assert proc["create_failures_by_errno"] == {"EAGAIN": wl["failed_eagain"], "ENOMEM": 0,
                                                "other": 0}, ctx
    assert proc["threads_created"] == wl["created"], ctx
    assert proc["threads_exited"] == wl["created"], ctx
    assert proc["fork_failures"] == 0, "thread failures counted as fork failures" + ctx
    if wl["all_alive_together"]:
        assert proc["threads_peak"] == wl["created"] + 1, ctx


def test_pids_max(require_bpf):
    """forkfail 50 500 in a pids cgroup with pids.max = 20."""
    try:
        cg = twtest.PidsCgroup(20)
    except (LookupError, OSError) as e:
        if twtest.IN_CI:
            pytest.fail(f"CI=true: cannot make a pids cgroup: {e}", pytrace=False)
        pytest.skip(f"cannot make a pids cgroup: {e}")
    with cg:
        wl = twtest.Bg([workload("forkfail"), "--wait-stdin", "50", "500"], stdin=True)
        with wl:
            cg.add(wl.pid)  # before it creates any thread
            tool = twtest.Bg([require_bpf, "-p", str(wl.pid), "--format", "json"])
            with tool:
                line = tool.wait_line("err", lambda s: "Tracing" in s, 30)
                assert line, "no 'Tracing' line" + twtest.describe(tool)
                wl.send("\n")
                assert twtest.finish(wl, 30, "the workload") == 0, twtest.describe(wl)
                if tool.wait(10) is None:
                    tool.signal(signal.SIGINT)
                    twtest.finish(tool, 10)
                ctx = twtest.describe(tool) + f"\ncgroup v{cg.version} {cg.path}"
                assert tool.returncode == 0, ctx
                _, wl_objs = twtest.parse_report(wl.stdout, ctx)
                objs, _ = twtest.parse_report(tool.stdout, ctx)
                rep = twtest.final_report(objs, ctx)
                twtest.check_report_shape(rep, ctx)
                twtest.assert_no_loss(rep, ctx)
                check_failures(twtest.find_proc(rep, wl.pid, ctx), wl_objs[0], ctx)


def test_rlimit_nproc(require_bpf):
    """forkfail as user nobody with RLIMIT_NPROC = 10 (root ignores the limit)."""
    missing = [t for t in ("setpriv", "prlimit") if not shutil.which(t)]
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        missing.append("user nobody")
    if missing:
        if twtest.IN_CI:
            pytest.fail(f"CI=true: missing {missing}", pytrace=False)
        pytest.skip(f"missing {missing}")
    # nobody must be able to write the result: a private world-writable directory
    d = tempfile.mkdtemp(prefix="tw-e2e-")
    try:
        os.chmod(d, 0o777)
        out = os.path.join(d, "forkfail.json")
        rep, ctx = exec_report(require_bpf, [
            "setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
            "prlimit", "--nproc=10:10",
            workload("forkfail"), "--out", out, "30", "300"])
        wl = twtest.read_workload_out(out)
        twtest.assert_no_loss(rep, ctx)
        check_failures(twtest.find_proc(rep, wl["pid"], ctx), wl, ctx)
    finally:
        shutil.rmtree(d, ignore_errors=True)
