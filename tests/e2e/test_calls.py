# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Every syscall a thread slept in, under its own name; errors by errno, would-block apart;
a long call split across intervals. Workload: tests/workloads/blockcalls.py."""
import json
import time
from pathlib import Path

import twtest
from twtest import ns

PY = "/usr/bin/python3"
BLOCKCALLS = str(twtest.ROOT / "tests" / "workloads" / "blockcalls.py")


def calls_of(thread):
    return {c["name"]: c for c in thread["syscalls"]}


def traced(tool, argv, extra=(), fmt="json", timeout=60):
    cp = twtest.run([tool, "--format", fmt, *extra, "--", *argv], timeout=timeout)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    return cp, ctx


def json_run(tool, argv, extra=()):
    cp, ctx = traced(tool, argv, extra)
    objs, wl = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.assert_no_loss(rep, ctx)
    assert len(wl) == 1, ctx
    return rep, wl[0], ctx


def disk_dir(tmp_path):
    """A directory on a disk-backed file system (fdatasync on tmpfs never sleeps)."""
    for d in (Path(tmp_path), twtest.ROOT / "build"):
        fs = twtest.run(["stat", "-f", "-c", "%T", d], timeout=10).stdout.strip()
        if fs not in ("tmpfs", "ramfs"):
            d = d / f"blockcalls-{time.monotonic_ns()}"
            d.mkdir()
            return d
    raise AssertionError("no disk-backed directory for the fdatasync workload")


def check_adds_up(thread, ctx):
    """A thread's blocked time is its calls' blocked time plus what it slept outside syscalls."""
    in_calls = sum(c["blocked_ns"] for c in thread["syscalls"])
    outside = thread["blocked_outside_syscalls_ns"]
    tctx = f"\nthread {thread['tid']}: calls {in_calls} + outside {outside} vs {thread['blocked_ns']}"
    assert outside is not None, tctx + ctx
    assert abs(in_calls + outside - thread["blocked_ns"]) <= 0.01 * thread["blocked_ns"] + ns(1), \
        tctx + ctx


def test_untimed_calls_named_and_adding_up(require_bpf, tmp_path):
    """flock, wait4, semop and fdatasync waits are named, and every thread's blocked time is
    its calls' plus the time it slept outside syscalls."""
    ms = 300
    rep, wl, ctx = json_run(require_bpf, [PY, BLOCKCALLS, "calls", disk_dir(tmp_path), str(ms)])
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    threads = twtest.threads_by_tid(proc)
    own = wl["calls"]
    for name in ("flock", "wait4", "semop"):
        w = own[name]
        calls = calls_of(threads[w["tid"]])
        # glibc's semop() is the semtimedop syscall on x86_64, semop on some others
        key = "semtimedop" if name == "semop" and "semtimedop" in calls else name
        wctx = f"\n{name}: workload {w}, tool {calls.get(key)}" + ctx
        assert key in calls, wctx
        c = calls[key]
        assert c["count"] == 1 and c["errors"] == 0, wctx
        assert c["timed"] is False and c["total_ns"] == 0, wctx
        # asleep for (nearly) all of the wait the workload measured, never longer
        assert 0.9 * w["ns"] <= c["blocked_ns"] <= w["ns"], wctx
        twtest.check_hist_shape(c["hist"], wctx)
        assert twtest.hist_count(c["hist"], c["blocked_ns"]) == 1, wctx
    w = own["fdatasync"]
    c = calls_of(threads[w["tid"]]).get("fdatasync")
    wctx = f"\nfdatasync: workload {w}, tool {c}" + ctx
    assert c is not None, wctx
    # a timed call: every one counted, entry to exit; it slept (the disk) inside that time
    assert c["timed"] is True and c["count"] == w["calls"] and c["errors"] == 0, wctx
    assert 0 < c["blocked_ns"] <= c["total_ns"] <= w["ns"], wctx
    assert twtest.hist_total(c["hist"]) == c["count"], wctx
    for t in proc["threads"]:
        check_adds_up(t, ctx)
    assert proc["blocked_ns"] == sum(t["blocked_ns"] for t in proc["threads"]), ctx
    assert proc["blocked_outside_syscalls_ns"] == \
        sum(t["blocked_outside_syscalls_ns"] for t in proc["threads"]), ctx


def test_text_names_what_blocked(require_bpf, tmp_path):
    """The text report: the blocking-calls table and MOST TIME IN name flock and wait4,
    and the process says how long it slept outside syscalls."""
    cp, ctx = traced(require_bpf, [PY, BLOCKCALLS, "calls", disk_dir(tmp_path), "300"],
                     fmt="text")
    out = cp.stdout
    assert "blocked outside syscalls (page faults...)" in out, ctx
    table = out[out.index("blocking calls, all threads"):].splitlines()[2:]
    table = table[:next(i for i, ln in enumerate(table) if not ln.startswith("  ") or
                        ln.startswith("  errors by errno") or not ln.strip())]
    rows = {ln.split()[0]: ln.split() for ln in table}
    for name in ("flock", "wait4"):
        assert name in rows, f"{name} not in the blocking calls table" + ctx
        assert rows[name][5] == "-", f"{name} is untimed: no TOTAL" + ctx
    assert "fdatasync" in rows and rows["fdatasync"][5] != "-", "fdatasync is timed" + ctx
    most = [ln for ln in out.splitlines() if "yes" in ln.split()[2:3] or "no" in ln.split()[2:3]]
    assert any("flock" in ln for ln in most), "no thread row names flock" + ctx
    assert any("wait4" in ln for ln in most), "no thread row names wait4" + ctx


def test_connect_wouldblock_and_errnos(require_bpf):
    """Non-blocking connects to a loopback listener are would-block (EINPROGRESS), not
    errors; connects to a closed port fail with ECONNREFUSED, by name."""
    n, m = 20, 5
    rep, wl, ctx = json_run(require_bpf, [PY, BLOCKCALLS, "connect", str(n), str(m)])
    own = wl["connect"]
    assert own.get("ECONNREFUSED") == m, f"workload: {own}" + ctx
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    conn = [calls_of(t)["connect"] for t in proc["threads"] if "connect" in calls_of(t)]
    assert len(conn) == 1, ctx
    c = conn[0]
    cctx = f"\nworkload {own}, tool {c}" + ctx
    wouldblock = sum(own.get(e, 0) for e in ("EINPROGRESS", "EAGAIN", "EALREADY"))
    assert wouldblock >= 1, "no non-blocking connect was in progress" + cctx
    assert c["count"] == n + m, cctx
    assert c["wouldblock"] == wouldblock, cctx
    failures = {e: k for e, k in own.items() if e not in ("0", "EINPROGRESS", "EAGAIN", "EALREADY")}
    assert c["errnos"] == failures, cctx
    assert c["errors"] == sum(failures.values()), cctx
    assert c["timedout"] == 0 and c["interrupted"] == 0, cctx


def test_interval_splits_long_call(require_bpf):
    """-i 1 over a 3 s sleep (a timed call) and a 3 s flock (untimed): each interval holds
    its share of the call's time, and the intervals add up to the final total."""
    secs = 3.0
    objs, w, ctx = twtest.run_held(["--format", "json", "-i", "1", "-d", "4.6"],
                                   [PY, BLOCKCALLS, "--wait-stdin", "--hold", "long", str(secs)])
    final = twtest.final_report(objs, ctx)
    intervals = objs[:-1]
    assert len(intervals) >= 4, ctx
    pid = w["pid"]
    fthreads = twtest.threads_by_tid(twtest.find_proc(final, pid, ctx))
    for name, key in (("clock_nanosleep", "total_ns"), ("flock", "blocked_ns")):
        tid = w["long"][name]["tid"]
        per = []
        for o in intervals:
            got = 0
            for p in o["processes"]:
                for t in p["threads"]:
                    if p["pid"] == pid and t["tid"] == tid and name in calls_of(t):
                        got += calls_of(t)[name][key]
            per.append(got)
        fc = calls_of(fthreads[tid])[name]
        wctx = f"\n{name} {key}: per interval {per}, final {fc}, workload {w['long'][name]}" + ctx
        # the call ended before the last interval: they add up exactly
        assert sum(per) == fc[key], wctx
        assert fc[key] >= 0.95 * ns(secs * 1000), wctx
        # spread over the intervals it spanned, none more than an interval's worth
        assert sum(1 for v in per if v >= ns(500)) >= 3, wctx
        assert max(per) <= ns(1150), wctx
        assert fc["count"] == 1, wctx


def tool_maps(pid):
    """{name: id} of the BPF maps process pid holds open."""
    ids = set()
    for f in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            for line in f.read_text().splitlines():
                k, _, v = line.partition(":")
                if k == "map_id":
                    ids.add(int(v))
        except OSError:
            continue
    return {twtest.bpftool_json("map", "show", "id", str(i)).get("name"): i for i in ids}


def entry_tid(e):
    """The tid of a call_stats entry from `bpftool -j map dump`: BTF-formatted or raw bytes."""
    f = e.get("formatted", {}).get("key")
    if isinstance(f, dict):
        return f["tid"]
    return int.from_bytes(bytes(int(b, 16) for b in e["key"][:4]), "little")


def test_dead_threads_call_entries_deleted(require_bpf, tmp_path):
    """Threads that each slept in several distinct calls and exited leave no entry in the
    kernel's call map once harvested (a bit per syscall number finds them all)."""
    n = 40
    tool, wl = twtest.start_attached(["--format", "json", "-d", "30"],
                                     [PY, BLOCKCALLS, "--wait-stdin", "--hold", "churn",
                                      disk_dir(tmp_path), str(n)])
    with tool, wl:
        wl.send("\n")
        line = wl.wait_line("out", lambda s: '"churn"' in s, 30)
        assert line, "the workload never finished its threads" + twtest.describe(wl)
        tids = set(json.loads(line)["churn"])
        assert len(tids) == n
        time.sleep(1.0)  # past the harvest delay (50 ms) and a few polls
        maps = tool_maps(tool.pid)
        assert "call_stats" in maps, f"maps: {maps}" + twtest.describe(tool)
        entries = twtest.bpftool_json("map", "dump", "id", str(maps["call_stats"]))
        left = [e for e in entries if entry_tid(e) in tids]
        tool.signal(2)
        rc = twtest.finish(tool, 20)
        ctx = twtest.describe(tool)
        assert rc == 0, ctx
        wl.close_stdin()
        twtest.finish(wl, 10, "the workload")
    assert not left, f"{len(left)} call entries of dead threads left: {left[:3]}" + ctx
    objs, _ = twtest.parse_report(tool.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    threads = twtest.threads_by_tid(twtest.find_proc(rep, wl.pid, ctx))
    for tid in tids:
        names = set(calls_of(threads[tid]))
        # the entries existed: each thread reports its distinct calls
        assert {"fsync", "fdatasync", "clock_nanosleep"} <= names, f"{tid}: {names}" + ctx
        assert threads[tid]["alive"] is False, ctx
        check_adds_up(threads[tid], ctx)
