# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Stacks of event-loop stalls (issue 11): a stall's blocked part from the blocked calls that
returned in its gap, its on-CPU part from cpu-clock samples of the loop thread inside the gap.

tests/workloads/stallloop.c (no frame pointers, like Debian's binaries) runs an epoll loop
(stall_event_loop) whose callback on_tick computes in crunch_numbers_hot for 150 ms of its own
CPU clock at one tick, and at a later one blocks 200 ms in read() on a slow pipe through
on_request -> slow_pipe_read. Each stall must carry the stacks of what it did, weighted like the
workload's own clocks say."""
import math

import pytest

import twtest
from twtest import workload

SPIN_MS = 150
READ_MS = 200
HOT_CHAIN = ["crunch_numbers_hot", "on_tick", "stall_event_loop"]
READ_CHAIN = ["slow_pipe_read", "on_request", "on_tick", "stall_event_loop"]


def run_loop(tool, tmp_path, fmt):
    out = tmp_path / "stallloop.json"
    folded = tmp_path / "stacks.folded"
    cp = twtest.run([tool, "--format", fmt, "--folded", folded, "--",
                     workload("stallloop"), "--out", out, str(SPIN_MS), str(READ_MS)],
                    timeout=120)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    return cp, twtest.read_workload_out(out), folded.read_text(), ctx


@pytest.fixture(scope="module")
def json_run(require_bpf, tmp_path_factory):
    return run_loop(require_bpf, tmp_path_factory.mktemp("stallstacks-json"), "json")


def chain_in(funcs, chain):
    """funcs (innermost first) holds chain as consecutive frames."""
    return any(funcs[i:i + len(chain)] == chain for i in range(len(funcs)))


def the_stall(loop, start_ns, dur_ns, ctx):
    """The stall whose gap holds [start_ns, start_ns + dur_ns] (the workload's clock)."""
    hits = [s for s in loop["stalls"]
            if s["start_ns"] <= start_ns and s["start_ns"] + s["duration_ns"] >= start_ns + dur_ns]
    assert len(hits) == 1, f"expected 1 stall around {start_ns}+{dur_ns}: {loop['stalls']}" + ctx
    return hits[0]


def loop_of(rep, wl, ctx):
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    loops = [lp for lp in proc["loops"] if lp["tid"] == wl["tid"]]
    assert len(loops) == 1, f"no loop {wl['tid']}: {proc['loops']}" + ctx
    return loops[0]


def sampling_bound(wl, period):
    """How far the on-CPU samples' weight may be from the workload's CPU clock: 10%, or two
    periods, or the sampling's own spread when the loop was preempted (each stretch on a CPU is
    sampled by that CPU's timer at its own phase: +-1 sample, variance <= 1/4 each, so 3 sigma
    is 1.5 periods x sqrt(stretches)); plus the VM's steal then, which the cpu-clock timer
    counts and the thread's CPU clock does not (one /proc/stat tick per CPU of slack)."""
    stretches = 1 + wl["hot_preempted"]
    bound = max(0.10 * wl["hot_cpu_ns"], 2 * period, 1.5 * period * math.sqrt(stretches))
    if wl["hot_steal_ns"] != 0:
        assert wl["hot_steal_ns"] > 0, "the workload could not read steal from /proc/stat"
        bound += wl["hot_steal_ns"] + wl["ncpus"] * 10_000_000
    return bound


def test_oncpu_stall_samples(json_run):
    """The 150 ms on-CPU stall: at least 5 samples per 100 ms of the workload's CPU clock, the
    heaviest naming crunch_numbers_hot under on_tick under stall_event_loop, and the weights of
    those samples (the sampling period each) add up to that CPU time within 10%, or the
    sampling's bound (sampling_bound())."""
    cp, wl, _, ctx = json_run
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    period = rep["stack_stats"]["oncpu_period_ns"]
    assert period > 0, f"the on-CPU sampler is off: {rep['stack_stats']}" + ctx
    assert rep["lost"]["stack_events"] == 0, ctx
    stall = the_stall(loop_of(rep, wl, ctx), wl["hot_start_ns"], wl["hot_wall_ns"], ctx)
    oncpu = [s for s in stall["stacks"] if s["kind"] == "oncpu"]
    n = sum(s["samples"] for s in oncpu)
    w = sum(s["ns"] for s in oncpu)
    cpu = wl["hot_cpu_ns"]
    assert n >= int(5 * cpu / 100e6), f"{n} on-CPU samples in {cpu} ns on CPU: {stall}" + ctx
    assert n == stall["stack_oncpu_samples"] and w == stall["stack_oncpu_ns"], f"{stall}" + ctx
    assert w == n * period, f"weights {w} are not {n} x {period}" + ctx
    hot = [s for s in oncpu
           if chain_in([f["func"] for f in rep["stacks"][s["stack"]]], HOT_CHAIN)]
    assert hot and hot[0] is oncpu[0], f"heaviest on-CPU stack not {HOT_CHAIN}: {oncpu}" + ctx
    hw = sum(s["ns"] for s in hot)
    assert hw >= 0.9 * w, f"{hot} of {oncpu}" + ctx
    assert abs(hw - cpu) <= sampling_bound(wl, period), \
        f"on-CPU weights {hw} ns in {HOT_CHAIN[0]} vs the workload's CPU clock {cpu} ns " \
        f"(workload: {wl})" + ctx
    for s in hot:
        frames = rep["stacks"][s["stack"]]
        f = [x for x in frames if x["func"] == "crunch_numbers_hot"][0]
        # its code, or the workload.h clock read inlined into it
        assert f["module"].endswith("/stallloop") and f["line"] > 0 and \
            f["file"].endswith(("stallloop.c", "workload.h")), f"{f}" + ctx
    # the CPU-bound stall blocked in nothing
    assert not [s for s in stall["stacks"] if s["kind"] == "blocked" and s["syscall"] == "read"], \
        f"{stall}" + ctx


def test_blocked_stall_stack(json_run):
    """The 200 ms blocked stall: its read() sample names slow_pipe_read < on_request < on_tick <
    stall_event_loop and weighs what the workload's read() took, within 10%; the same sample is
    in the blocked profile (--folded), where the on-CPU samples are not (they are no off-CPU
    time)."""
    cp, wl, folded, ctx = json_run
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    stall = the_stall(loop_of(rep, wl, ctx), wl["read_start_ns"], wl["read_ns"], ctx)
    reads = [s for s in stall["stacks"] if s["kind"] == "blocked" and s["syscall"] == "read"]
    assert len(reads) == 1 and reads[0]["samples"] == 1, f"{stall['stacks']}" + ctx
    funcs = [f["func"] for f in rep["stacks"][reads[0]["stack"]]]
    assert chain_in(funcs, READ_CHAIN), f"frames {funcs}" + ctx
    assert abs(reads[0]["ns"] - wl["read_ns"]) <= 0.10 * wl["read_ns"], \
        f"blocked weight {reads[0]['ns']} vs the workload's read {wl['read_ns']} ns" + ctx
    assert stall["stack_blocked_ns"] >= reads[0]["ns"], f"{stall}" + ctx
    assert any("slow_pipe_read" in ln for ln in folded.splitlines()), folded + ctx
    assert not any("crunch_numbers_hot" in ln for ln in folded.splitlines()), \
        f"on-CPU samples in the blocked profile:\n{folded}" + ctx


def test_text_stall_stacks(require_bpf, tmp_path):
    """Text: under each stall line its top stack, from the program's first own frame outward:
    the on-CPU stall's with its sample count, the blocked stall's with the call."""
    cp, wl, _, ctx = run_loop(require_bpf, tmp_path, "text")
    lines = cp.stdout.splitlines()
    stalls = [i for i, ln in enumerate(lines) if ln.lstrip().startswith(f"stall, loop {wl['tid']}:")]
    assert len(stalls) >= 2, "no stall lines" + ctx
    under = [lines[i + 1] if i + 1 < len(lines) else "" for i in stalls]
    hot = [ln for ln in under if " < ".join(HOT_CHAIN) in ln and "on CPU" in ln]
    assert hot, f"no on-CPU stack line under a stall: {under}" + ctx
    n = int(hot[0].split("(")[1].split()[0])
    assert n >= int(5 * wl["hot_cpu_ns"] / 100e6), hot[0] + ctx
    blocked = [lines[i + k] for i in stalls for k in (1, 2) if i + k < len(lines)
               and lines[i + k].lstrip().startswith("blocked ")
               and " < ".join(READ_CHAIN) in lines[i + k]]
    assert blocked and " in read: " in blocked[0], f"no blocked stack line: {under}" + ctx
