# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Python frames in the stacks of event-loop stalls (issue 12, with issue 11's stall stacks):
an asyncio loop whose handler calls time.sleep(0.3) stalls blocked, and the stall's blocked
stack names that coroutine and the line of the call, clock_nanosleep below; one whose handler
computes for 0.3 s stalls on CPU, and the stall's on-CPU samples (at least 5 per 100 ms) name
the hot function crunch under the handler. Workload: tests/workloads/pystall.py, run by
Debian's python3.11 and by the PIE python3.11 with a shared libpython."""
import os

import pytest

import twtest

WORKLOAD = str(twtest.ROOT / "tests" / "workloads" / "pystall.py")
PYTHONS = [pytest.param("/usr/bin/python3.11", id="debian-3.11"),
           pytest.param("/root/.pyenv/versions/3.11.7/bin/python3", id="pie-shared-3.11")]


def py_frames(stack):
    return [[f["func"], f["file"], f["line"]] for f in stack if f.get("kind") == "python"]


@pytest.mark.parametrize("py", PYTHONS)
def test_stall_stacks_name_the_coroutine(require_bpf, tmp_path, py):
    if not (os.path.isfile(py) and os.access(py, os.X_OK)):
        if twtest.IN_CI:
            pytest.fail(f"{py} is missing", pytrace=False)
        pytest.skip(f"{py} is missing")
    out = tmp_path / "pystall.json"
    cp = twtest.run([require_bpf, "--format", "json", "--", py, WORKLOAD, "--out", out],
                    timeout=120)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    wl = twtest.read_workload_out(out)
    ctx = f"\nworkload: {wl}" + ctx
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    loops = [lp for lp in proc["loops"] if lp["tid"] == wl["loop_tid"]]
    assert loops, "the asyncio loop was not seen" + ctx
    stalls = loops[0]["stalls"]

    def spanning(what):
        """The stalls that span the workload's own [start, end] of its sleep or crunch."""
        lo, hi = wl[f"{what}_start_ns"], wl[f"{what}_end_ns"]
        return [s for s in stalls if s["start_ns"] <= lo and s["start_ns"] + s["duration_ns"] >= hi]

    blocked, oncpu = spanning("sleep"), spanning("crunch")
    assert len(blocked) == 1 and len(oncpu) == 1, f"stalls {stalls}" + ctx
    assert blocked[0]["cause"] == "blocked", f"the sleep's stall: {blocked[0]}" + ctx
    # computing, it is on CPU or, on a loaded machine, waiting for one: never asleep
    assert oncpu[0]["cause"] in ("oncpu", "runq"), f"the crunch's stall: {oncpu[0]}" + ctx
    assert oncpu[0]["blocked_ns"] <= 0.2 * oncpu[0]["duration_ns"], oncpu[0]

    # the blocked stall: its heaviest blocked stack is the handler's time.sleep
    st = [x for x in blocked[0]["stacks"] if x["kind"] == "blocked"]
    assert st, f"the blocked stall has no blocked stack: {blocked[0]}" + ctx
    top = max(st, key=lambda x: x["ns"])
    assert top["syscall"] == "clock_nanosleep" and top["ns"] >= twtest.ns(250), top
    stack = rep["stacks"][top["stack"]]
    got = py_frames(stack)
    assert got and got[0] == ["sleeping_handler", WORKLOAD, wl["sleep_line"]], \
        f"{got}\n{stack}" + ctx
    first = next(i for i, f in enumerate(stack) if f.get("kind") == "python")
    assert any(f["func"] == "clock_nanosleep" for f in stack[:first]), stack
    assert any(f[0].endswith("run_forever") for f in got), got

    # the on-CPU stall: samples in crunch, called from the handler at its line
    if rep["stack_stats"]["oncpu_period_ns"] == 0:
        pytest.fail("the on-CPU sampler is off here (no perf events)" + ctx)
    st = [x for x in oncpu[0]["stacks"] if x["kind"] == "oncpu"]
    n = sum(x["samples"] for x in st)
    assert n >= 5 * oncpu[0]["oncpu_ns"] / twtest.ns(100) * 0.5 and n >= 5, \
        f"{n} on-CPU samples in a stall {oncpu[0]['oncpu_ns']} ns on CPU" + ctx
    in_crunch = 0
    for x in st:
        got = py_frames(rep["stacks"][x["stack"]])
        names = [f[0] for f in got]
        if "crunch" in names:
            i = names.index("crunch")
            assert names[i + 1:i + 2] == ["crunching_handler"], got
            assert got[i + 1][2] == wl["crunch_call_line"], got
            assert got[i][2] >= wl["crunch_first_line"], got
            in_crunch += x["samples"]
    assert in_crunch >= 0.8 * n, f"{in_crunch} of {n} on-CPU samples in crunch" + ctx
