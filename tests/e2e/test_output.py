# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Output that can be lined up and read (issue 9, defects 7 and 8).

- Every JSON report carries its wall-clock time (RFC 3339, ns) and CLOCK_MONOTONIC time,
  and the start of the span it covers; a stall carries its own start and end, checked
  against the workload's own CLOCK_REALTIME and CLOCK_MONOTONIC.
- Text never prints numbers in exponent notation.
- --by comm folds numbered thread names that the kernel cut at 15 bytes into one row.
"""
import re
import time

import twtest
from twtest import ns, workload

PY = "/usr/bin/python3"
ASYNCIO_SERVER = str(twtest.ROOT / "tests" / "workloads" / "asyncio_server.py")
EXPONENT = re.compile(r"\d[eE][+-]?\d")


def run_json(tool, argv, extra=(), timeout=60):
    cp = twtest.run([tool, "--format", "json", *extra, "--", *argv], timeout=timeout)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    return objs, twtest.final_report(objs, ctx), cp, ctx


def test_report_timestamps(require_bpf, tmp_path):
    """Each report's time/start_time bracket what it covers, agree with mono_ns and
    duration_s, and lie within the test's own wall clock around the run."""
    before = time.time_ns()
    objs, final, cp, ctx = run_json(require_bpf, ["sleep", "1.2"], ["-i", "0.5"])
    after = time.time_ns()
    assert len(objs) >= 2, "interval reports and a final one" + ctx
    prev_end = None
    for o in objs:
        t = twtest.rfc3339_ns(o["time"])
        t0 = twtest.rfc3339_ns(o["start_time"])
        assert before <= t0 <= t <= after, f"report {o['type']} outside the run" + ctx
        # the two clocks tell the same story
        assert abs((t - t0) - (o["mono_ns"] - o["start_mono_ns"])) <= ns(1), ctx
        assert abs((o["mono_ns"] - o["start_mono_ns"]) / 1e9 - o["duration_s"]) < 1e-3, ctx
        if o["type"] == "interval":
            if prev_end is not None:
                # intervals follow each other without gap or overlap
                assert o["start_mono_ns"] == prev_end, ctx
            prev_end = o["mono_ns"]
    assert final["start_mono_ns"] <= objs[0]["start_mono_ns"], ctx


def test_stall_timestamps(require_bpf, tmp_path):
    """A 0.3 s time.sleep in a coroutine: the stall's start_time is the workload's own
    CLOCK_REALTIME at the sleep (within the 50 ms the loop takes to get there), and its
    end_time - start_time is its duration."""
    out = tmp_path / "asyncio.json"
    _, final, _, ctx = run_json(require_bpf, [PY, ASYNCIO_SERVER, "sleep", "--delay", "0.3",
                                              "--out", out])
    wl = twtest.read_workload_out(out)
    ctx = f"\nworkload: {wl}" + ctx
    proc = twtest.find_proc(final, wl["pid"], ctx)
    loops = [lp for lp in proc["loops"] if lp["tid"] == wl["loop_tid"]]
    assert len(loops) == 1 and len(loops[0]["stalls"]) == 1, ctx
    s = loops[0]["stalls"][0]
    start = twtest.rfc3339_ns(s["start_time"])
    end = twtest.rfc3339_ns(s["end_time"])
    assert wl["slow_start_wall_ns"] - ns(50) <= start <= wl["slow_start_wall_ns"] + ns(1), ctx
    assert abs((end - start) - s["duration_ns"]) <= ns(0.01), ctx
    assert abs(s["start_ns"] - wl["slow_start_ns"]) <= ns(50), ctx


def test_text_has_no_exponents(require_bpf, workloads):
    """Text output of a run with blocked times around 1 s (where %g printed "1e+03ms")
    and a busy loop: no number in exponent notation anywhere."""
    cp = twtest.run([require_bpf, "-d", "3", "--", workload("blockers"), "6", "999"],
                    timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    bad = [ln for ln in cp.stdout.splitlines() if EXPONENT.search(ln)]
    assert not bad, f"exponent notation in: {bad}" + ctx
    assert "blocked" in cp.stdout, ctx


def test_by_comm_folds_numbered_names(require_bpf, workloads, tmp_path):
    """150 threads named pool-1-thread-0..149, cut by the kernel to 15 bytes
    (pool-1-thread-1 stands for 1, 10-19 and 100-149): one --by comm row of 150."""
    out = tmp_path / "blockers.json"
    _, final, _, ctx = run_json(require_bpf, [workload("blockers"), "150", "300", "--name",
                                              "pool-1-thread-%d", "--out", out],
                                ["--by", "comm"])
    wl = twtest.read_workload_out(out)
    proc = twtest.find_proc(final, wl["pid"], ctx)
    rows = {r["comm"]: r for r in proc["threads"]}
    assert "pool-1-thread-*" in rows, f"rows: {list(rows)}" + ctx
    row = rows["pool-1-thread-*"]
    assert row["tid"] is None and row["nthreads"] == 150, f"row: {row}" + ctx
    assert row["names"] == 10, f"pool-1-thread-0..9 after the cut: {row}" + ctx
    assert not any(c.startswith("pool-1-thread-") and c != "pool-1-thread-*" for c in rows), \
        f"rows: {list(rows)}" + ctx
    # the main thread keeps its own name, alone in its row
    others = [r for c, r in rows.items() if c != "pool-1-thread-*"]
    assert sum(r["nthreads"] for r in others) == 1, f"rows: {list(rows)}" + ctx
    # text shows the same single row
    cp = twtest.run([require_bpf, "--by", "comm", "--", workload("blockers"), "150", "100",
                     "--name", "pool-1-thread-%d"], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    lines = [ln for ln in cp.stdout.splitlines()
             if "pool-1-thread" in ln and not ln.startswith("{")]
    assert len(lines) == 1 and re.match(r"\s+150\s+pool-1-thread-\*\s", lines[0]), \
        f"rows: {lines}" + ctx
