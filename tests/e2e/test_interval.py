# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""-i: interval objects hold the deltas of their interval, the final one the totals."""
import twtest
from twtest import ns, workload


def split(objs, ctx):
    """(intervals, final): interval objects, then exactly one final object last."""
    final = twtest.final_report(objs, ctx)
    intervals = objs[:-1]
    for o in intervals:
        assert o.get("type") == "interval", f"unexpected object type {o.get('type')!r}" + ctx
        twtest.check_report_shape(o, ctx)
    return intervals, final


def thread_sum(intervals, pid, tid, key):
    total = 0
    for o in intervals:
        for p in o["processes"]:
            if p["pid"] != pid:
                continue
            for t in p["threads"]:
                if t["tid"] == tid:
                    total += t[key]
    return total


def proc_sum(intervals, pid, key):
    return sum(p[key] for o in intervals for p in o["processes"] if p["pid"] == pid)


def test_interval_exec(require_bpf, tmp_path):
    """-i 0.5 -- blockers 4 1200: >= 2 intervals, then the final totals."""
    out = tmp_path / "blockers.json"
    cp = twtest.run([require_bpf, "--format", "json", "-i", "0.5", "--",
                     workload("blockers"), "--out", out, "4", "1200"], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    wl = twtest.read_workload_out(out)
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    intervals, final = split(objs, ctx)
    assert len(intervals) >= 2, f"{len(intervals)} interval objects" + ctx
    for o in intervals:
        assert 0 < o["duration_s"] <= 1.0, f"interval of {o['duration_s']} s with -i 0.5" + ctx
    covered = sum(o["duration_s"] for o in intervals)
    assert covered <= final["duration_s"] + 0.05, ctx
    pid = wl["pid"]
    final_threads = twtest.threads_by_tid(twtest.find_proc(final, pid, ctx))
    # whatever the intervals miss can only come from the tail after the last one
    tail_ns = ns((final["duration_s"] - covered) * 1000) + ns(50)
    for w in wl["workers"]:
        ft = final_threads[w["tid"]]
        s = thread_sum(intervals, pid, w["tid"], "blocked_ns")
        wctx = f"\nworker {w}: sum over intervals {s}, final {ft['blocked_ns']}, tail {tail_ns}" + ctx
        assert s <= ft["blocked_ns"], wctx
        assert ft["blocked_ns"] - s <= tail_ns, wctx
    fp = twtest.find_proc(final, pid, ctx)
    assert fp["threads_created"] == 4, ctx
    assert proc_sum(intervals, pid, "threads_created") <= 4, ctx


def test_interval_pid(require_bpf):
    """-p on a workload that outlives its blocking: the intervals add up to the final totals."""
    objs, w, ctx = twtest.run_held(["--format", "json", "-i", "0.5", "-d", "2.6"],
                                   [workload("blockers"), "--wait-stdin", "--hold", "4", "1200"])
    intervals, final = split(objs, ctx)
    assert len(intervals) >= 4, f"{len(intervals)} interval objects in 2.6 s with -i 0.5" + ctx
    assert 2.4 <= final["duration_s"] <= 3.5, ctx
    pid = w["pid"]
    fp = twtest.find_proc(final, pid, ctx)
    assert fp["exited"] is False, ctx
    assert fp["threads_created"] == 4 and fp["threads_exited"] == 4, ctx
    assert proc_sum(intervals, pid, "threads_created") == 4, "created, interval by interval" + ctx
    assert proc_sum(intervals, pid, "threads_exited") == 4, "exited, interval by interval" + ctx
    final_threads = twtest.threads_by_tid(fp)
    for wk in w["workers"]:
        ft = final_threads[wk["tid"]]
        assert ft["alive"] is False, ctx
        s = thread_sum(intervals, pid, wk["tid"], "blocked_ns")
        wctx = f"\nworker {wk}: sum over intervals {s}, final {ft}" + ctx
        # the read() ended ~1.2 s in, well inside the intervals
        assert ft["blocked_ns"] >= 0.9 * wk["read_ns"], wctx
        assert 0.95 * ft["blocked_ns"] <= s <= ft["blocked_ns"], wctx
        for key in ("vol_switches", "oncpu_ns"):
            assert thread_sum(intervals, pid, wk["tid"], key) <= ft[key], wctx
