# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""JIT frames of a real runtime: node with --perf-basic-prof writes /tmp/perf-PID.map, and the
stacks of its blocked fs.readSync() calls name the JavaScript functions from it, in order,
between V8's own (demangled C++) frames and glibc's read, with the weights node's own clock
measured. Workload: tests/workloads/node_reader.js."""
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

import twtest

READER = str(twtest.ROOT / "tests" / "workloads" / "node_reader.js")
N = 5
GAP_S = 0.2
# root first, as --folded lists them; V8 prefixes "~" (interpreted), "^" (baseline), "*"
# (optimised) and appends the script's path and position
JS_CHAIN = ["serveRequests", "handleRequest", "slowUpstreamRead"]


def js_name(frame):
    m = re.match(r"JS:[~^*+]?(\S+) ", frame)
    return m.group(1) if m else None


def feed(fifo, stop):
    """One byte every GAP_S once node has the FIFO open, N in all."""
    with open(fifo, "wb", buffering=0) as f:  # blocks until node opened it
        for _ in range(N):
            if stop.wait(GAP_S):
                return
            f.write(b"x")


def run_node(tool, tmp_path, node_flags):
    """node_reader.js under the tool: (its JSON report, the workload's line, folded lines
    of the main thread's reads as (frames, us), ctx)."""
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        if twtest.IN_CI:
            pytest.fail("CI=true: node is not installed (make deps installs nodejs)")
        pytest.skip("node is not installed (make deps installs nodejs)")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = tmp_path / "node.json"
    folded = tmp_path / "stacks.folded"
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(fifo, stop), daemon=True)
    feeder.start()
    pid = None
    try:
        # --logfile: V8's log (an empty isolate-*-v8.log with --perf-basic-prof) not in
        # the checkout, where the tests run
        cp = twtest.run([tool, "--format", "json", "--folded", folded, "--", node,
                         f"--logfile={tmp_path / 'v8.log'}", *node_flags, READER, fifo, str(N),
                         out], timeout=120)
        ctx = twtest.describe(cp)
        assert cp.returncode == 0, ctx
        wl = twtest.read_workload_out(out)
        pid = wl["pid"]
    finally:
        stop.set()
        feeder.join(5)
        if pid:
            Path(f"/tmp/perf-{pid}.map").unlink(missing_ok=True)
    ctx = f"\nworkload: {wl}" + ctx
    assert wl["read_ns"] >= 0.8 * N * GAP_S * 1e9, "node's reads did not wait for the feeder" + ctx
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    reads = []
    for ln in folded.read_text().splitlines():
        stack, _, us = ln.rpartition(" ")
        frames = stack.split(";")
        if frames[0] == f"node-{pid}" and "node::fs::Read" in frames:
            reads.append((frames, int(us)))
    assert reads, "no folded line of node's reads:\n" + folded.read_text()[:4000] + ctx
    return rep, wl, reads, ctx


def test_node_js_functions_named_from_perf_map(require_bpf, tmp_path):
    """node --perf-basic-prof: the JS functions, in order, between V8's entry and its call
    into node's C++ binding (demangled), glibc's read and the kernel; weights = node's clock."""
    rep, wl, reads, ctx = run_node(require_bpf, tmp_path,
                                   ["--perf-basic-prof", "--interpreted-frames-native-stack"])
    mine = []
    for frames, us in reads:
        names = [js_name(f) for f in frames]
        js = [n for n in names if n in JS_CHAIN]
        assert js == JS_CHAIN, f"JS frames out of order: {frames}" + ctx
        leaf_js = names.index("slowUpstreamRead")
        below = frames[leaf_js + 1:]
        # below the JS: node's binding (demangled C++), libuv, glibc's read, then the kernel
        assert "node::fs::Read" in below, f"no demangled node::fs::Read below the JS: {frames}" \
            + ctx
        assert "uv_fs_read" in below and "read" in below, f"libuv/glibc missing: {frames}" + ctx
        assert below.index("node::fs::Read") < below.index("read"), frames
        assert "vfs_read" in below[below.index("read"):], f"no kernel frames: {frames}" + ctx
        # above the JS, V8's entry from C++: unwound through JIT code by frame pointers
        assert "Builtins_JSEntry" in frames[:leaf_js], f"V8's entry missing: {frames}" + ctx
        assert "node::Start" in frames[:leaf_js], f"not unwound to node::Start: {frames}" + ctx
        mine.append(us)
    got = sum(mine) * 1000
    assert abs(got - wl["read_ns"]) <= 0.10 * wl["read_ns"], \
        f"stack weights {got} ns vs node's own readSync time {wl['read_ns']} ns" + ctx


def test_node_jit_frames_without_perf_map_are_unknown_and_counted(require_bpf, tmp_path):
    """Without --perf-basic-prof nothing names V8's JIT code: those frames must read
    [unknown]+address, not node+offset (V8's code sits between two mappings of the node
    binary, inside the span a module is reported with), and the samples are counted lost."""
    rep, wl, reads, ctx = run_node(require_bpf, tmp_path, ["--interpreted-frames-native-stack"])
    for frames, _ in reads:
        entry = frames.index("Builtins_JSEntryTrampoline")
        exit_ = next(i for i, f in enumerate(frames) if f.startswith("Builtins_CEntry"))
        jit = frames[entry + 1:exit_]
        assert jit, f"no frames between V8's entry and its C call: {frames}" + ctx
        assert all(f.startswith("[unknown]+0x") for f in jit), \
            f"JIT frames without a perf map named as something else: {jit}" + ctx
    assert rep["lost"]["stack_unknown_frames"] >= 1, rep["lost"]
