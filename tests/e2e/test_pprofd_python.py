# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""The daemon's off-CPU profile (GET /debug/pprof/offcpu) with Python frames (issue 12), read
by a real pprof reader (`go tool pprof`, Debian's golang-go). Workload: Debian's python3.11
running tests/workloads/pyhandler.py, whose ThreadPoolExecutor workers block in socket.recv
through read_body <- handle_request <- serve_requests, and which reports how long its recv
calls took by its own clock and the Python frames sys._current_frames() saw while they
blocked. The profile must name those Python functions, with their files and lines, above the
native recv frames, with the recv time of the workload's clock (+-10%, as test_pprofd)."""
import concurrent.futures
import json
import os
import time

import pytest

import twtest
from test_daemon import cannot, http_get, start_daemon  # noqa: F401 (a fixture)
from test_pprofd import need_go, profile_url

WORKLOAD = str(twtest.ROOT / "tests" / "workloads" / "pyhandler.py")
PY = "/usr/bin/python3.11"


def interpreter(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        cannot(f"{path} is missing (Debian's python3.11)")
    return path


def test_python_frames_in_the_daemons_profile(start_daemon, tmp_path):  # noqa: F811
    """Two ThreadPoolExecutor workers each serve 50 requests that block ~20 ms in
    socket.recv, inside one 6 s window of the workload's process group. For each worker, the
    profile's recvfrom samples add up to the recv time of the workload's clock (+-10%); those
    that name read_body (at least 90% of it) have, leaf first, native frames with recv in
    them, then read_body, handle_request, serve_requests, _WorkItem.run and _worker, each with
    the file and line sys._current_frames() gave it while the worker was blocked, and no
    _PyEval_EvalFrameDefault left in their place; `go tool pprof -top` lists them too."""
    need_go()
    py = interpreter(PY)
    d = start_daemon("--syscalls", "--top-k", "100000")
    ctx = d.ctx()
    # a first window loads the node's processes into the unwinder (test_pprofd says why)
    st, _, body = http_get(profile_url(d, "?seconds=2"), 30)
    assert st == 200, (st, body[:200])
    out = tmp_path / "pyhandler.json"
    # 20 ms blocks: ~200 stacks a second of its 4 threads, which the daemon's 1 MiB ring
    # buffer (half of it for stacks: ~25 of them) holds through 100 ms of a busy reader
    with twtest.Bg([py, WORKLOAD, "50", "20000", "--threads", "2", "--pool", "--call", "recv",
                    "--wait-stdin", "--out", out], stdin=True) as wl:
        assert wl.wait_line("out", lambda s: s.startswith("ready"), 30), twtest.describe(wl)
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(http_get, profile_url(d, f"?seconds=6&group={wl.pid}"), 30)
            time.sleep(0.5)  # the window is open (the request is in)
            # its stdin read's stack, then a 0.3 s sleep's: the daemon finds the interpreter
            wl.send("\n")
            assert twtest.finish(wl, 30, "pyhandler") == 0, twtest.describe(wl)
            st, _, body = fut.result()
    res = twtest.read_workload_out(out)
    assert res["version"] == [3, 11], res
    lost = [ln for ln in d.text().splitlines() if ln.startswith("threadwatch_agent_lost_total")]
    ctx = d.ctx() + f"\nworkload: {json.dumps(res)}\nthe daemon's losses: {lost}"
    assert st == 200 and body[:2] == b"\x1f\x8b", f"{st} {body[:200]!r}" + ctx
    pb = tmp_path / "python.pb.gz"
    pb.write_bytes(body)
    samples, raw = twtest.pprof_raw(pb, ctx)
    samples = [[ns, labels, frames] for ns, _, labels, frames in samples]
    ctx += "\n" + raw[:6000]
    want_names = ["read_body", "handle_request", "serve_requests", "_WorkItem.run", "_worker"]
    for h in res["handlers"]:
        tid, want = h["tid"], h["call_ns"]
        frames = {f[0]: (f[1], f[2]) for f in h["frames"]}
        mine = [s for s in samples if f"tid:[{tid}]" in s[1] and "syscall:[recvfrom]" in s[1]]
        assert mine, f"no recvfrom samples of worker {tid}" + ctx
        got = sum(s[0] for s in mine)
        print(f"worker {tid}: {got} ns in recvfrom by the profile, {want} ns by its clock")
        assert abs(got - want) <= 0.1 * want, \
            f"worker {tid}: {got} ns off-CPU in recvfrom, the workload's clock {want} ns" + ctx
        named = [s for s in mine if any(f[0] == "read_body" for f in s[2])]
        assert sum(s[0] for s in named) >= 0.9 * want, \
            f"worker {tid}: Python frames on {sum(s[0] for s in named)} of {want} ns: " \
            f"{[[f[0] for f in s[2]] for s in mine]}" + ctx
        for s in named:
            names = [f[0] for f in s[2]]
            at = [names.index(n) for n in want_names]
            assert at == sorted(at), f"worker {tid}: frames out of order: {names}" + ctx
            assert any("recv" in n for n in names[:at[0]]), \
                f"worker {tid}: no native recv frame below read_body: {names}" + ctx
            assert "_PyEval_EvalFrameDefault" not in names, names
            for n in want_names:
                f = s[2][names.index(n)]
                assert (f[1], f[2]) == tuple(frames[n]), \
                    f"worker {tid}: {n} at {f[1]}:{f[2]}, the workload saw {frames[n]}" + ctx
    top = twtest.run(["go", "tool", "pprof", "-top", "-sample_index=offcpu", str(pb)],
                     timeout=60)
    assert top.returncode == 0, twtest.describe(top) + ctx
    for n in want_names:
        assert n in top.stdout, f"{n} not in pprof -top:\n{top.stdout}" + ctx


if __name__ == "__main__":
    pytest.main([__file__])
