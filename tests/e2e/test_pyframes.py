# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Python frames in stacks (issue 12): CPython 3.11's own frames (qualified name, file, line)
in place of the interpreter's _PyEval_EvalFrameDefault, with the native frames below them
(recv, the lock's futex wait, clock_nanosleep) still there. Run by Debian's python3.11
(non-PIE, stripped), by the PIE python3.11 with a shared libpython (pyenv's, on PATH), and by
Debian 13's python3.13 in a chroot (3.13: the layout from its own _Py_DebugOffsets).

Workload: tests/workloads/pyframes_pool.py. Its threads block under named functions, and
while they are blocked its main thread reads sys._current_frames(): each thread's Python
frames, innermost first, with f_lineno. The tool's frames for the same thread must be those,
exactly: names, files and lines (the location table read at the recorded instruction)."""
import os
import shutil

import pytest

import twtest

WORKLOAD = str(twtest.ROOT / "tests" / "workloads" / "pyframes_pool.py")
DEBIAN_311 = "/usr/bin/python3.11"
PIE_311 = "/root/.pyenv/versions/3.11.7/bin/python3"


def interpreter(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        if twtest.IN_CI:
            pytest.fail(f"{path} is missing", pytrace=False)
        pytest.skip(f"{path} is missing")
    return path


PYTHONS = [pytest.param(DEBIAN_311, id="debian-3.11"), pytest.param(PIE_311, id="pie-shared-3.11")]


def run_cmd(tool, tmp_path, py, mode, fmt="json", extra=()):
    out = tmp_path / f"{mode}.json"
    folded = tmp_path / f"{mode}.folded"
    cp = twtest.run([tool, "--format", fmt, "--folded", folded, *extra, "--", py, WORKLOAD,
                     mode, "--out", out], timeout=120)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    return cp, twtest.read_workload_out(out), folded.read_text(), ctx


def report(cp, ctx):
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    return twtest.final_report(objs, ctx)


def py_frames(stack):
    """The Python frames of a JSON stack, innermost first, as [qualname, file, line]."""
    return [[f["func"], f["file"], f["line"]] for f in stack if f.get("kind") == "python"]


def samples_of(rep, pid, tid, syscall, ctx):
    proc = twtest.find_proc(rep, pid, ctx)
    got = [s for s in proc.get("stack_samples", []) if s["tid"] == tid and s["syscall"] == syscall]
    got.sort(key=lambda s: -s["blocked_ns"])
    return got


def check_blocked(rep, wl, name, syscall, min_ns, ctx):
    """The thread's heaviest sample in syscall has exactly the Python frames the workload saw,
    with native frames below the innermost one; returns its stack."""
    want = wl["blocked"][name]
    samples = samples_of(rep, wl["pid"], want["tid"], syscall, ctx)
    assert samples, f"no {syscall} stack sample for thread {name} (tid {want['tid']})" + ctx
    top = samples[0]
    stack = rep["stacks"][top["stack"]]
    assert top["blocked_ns"] >= min_ns, f"{name}: {top}" + ctx
    got = py_frames(stack)
    assert got == want["frames"], (f"{name}: Python frames\n  tool:     {got}\n"
                                   f"  workload: {want['frames']}\n  stack: {stack}" + ctx)
    first = next(i for i, f in enumerate(stack) if f.get("kind") == "python")
    native = [f for f in stack[:first] if f.get("kind") != "python"]
    assert native, f"{name}: no native frame below the Python ones: {stack}" + ctx
    # no eval-loop frame is left where Python frames were put
    assert not any(f["func"] == "_PyEval_EvalFrameDefault" for f in stack), stack
    return stack


@pytest.mark.parametrize("py", PYTHONS)
def test_pool_workers_name_their_python_frames(require_bpf, tmp_path, py):
    """A ThreadPoolExecutor: two workers blocked 0.4 s in socket.recv under fetch_upstream, two
    on a threading.Lock under take_lock. Each one's stack carries its Python frames exactly as
    sys._current_frames() showed them (qualified names, files, f_lineno: the call sites), the
    C frames below (recv, the futex wait) kept; --folded names 'fetch_upstream (file:line)'
    above the native recv frame; 3 threads created by spawn_workers: one creation site naming
    spawn_workers and Thread.start, counting exactly 3."""
    py = interpreter(py)
    cp, wl, folded, ctx = run_cmd(require_bpf, tmp_path, py, "pool")
    rep = report(cp, ctx)
    assert wl["version"] == [3, 11], wl
    for name in ("recv0", "recv1"):
        stack = check_blocked(rep, wl, name, "recvfrom", twtest.ns(300), ctx)
        assert py_frames(stack)[0][0] == "fetch_upstream", stack
        first = next(i for i, f in enumerate(stack) if f.get("kind") == "python")
        assert any("recv" in (f["func"] or "") for f in stack[:first]), stack
    for name in ("lock0", "lock1"):
        stack = check_blocked(rep, wl, name, "futex", twtest.ns(300), ctx)
        assert py_frames(stack)[0][0] == "take_lock", stack
    # --folded: root first, the Python frame named with its file and line, recv below it
    line = wl["blocked"]["recv0"]["frames"][0][2]
    label = f"fetch_upstream (pyframes_pool.py:{line})"
    lines = [ln for ln in folded.splitlines() if label in ln.split(";")]
    assert lines, f"no folded line with {label!r}:\n{folded}" + ctx
    below = []
    for ln in lines:
        frames = ln.rpartition(" ")[0].split(";")
        assert frames[0] == f"{os.path.basename(py)[:15]}-{wl['pid']}", frames
        i = frames.index(label)
        assert "ThreadPoolExecutor" not in "".join(frames[i + 1:]), frames
        below.append(frames[i + 1:])
    # the recv itself (other lines: the same call site waiting for the GIL after it)
    assert any(any("recv" in f for f in b) for b in below), f"no recv below {label}: {lines}"
    # creation sites: spawn_workers' 3 threads, one site, exact
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    sites = []
    for s in proc.get("create_sites", []):
        names = [f[0] for f in py_frames(rep["stacks"][s["stack"]])]
        if "spawn_workers" in names:
            sites.append((s, names))
    assert len(sites) == 1, f"spawn_workers creation sites: {sites}" + ctx
    site, names = sites[0]
    assert site["kind"] == "thread" and site["errno"] is None, site
    assert site["count"] == wl["spawned"], f"{site} vs {wl['spawned']} threads" + ctx
    assert names.index("Thread.start") < names.index("spawn_workers"), names
    lost = rep["lost"]
    for k in ("python_version_unknown", "python_frames_unreadable", "python_frames_cut"):
        assert lost[k] == 0, f"lost {k}: {lost}" + ctx
    twtest.assert_no_loss(rep, ctx)


def test_pool_text_report_names_the_worker(require_bpf, tmp_path):
    """The text report's "where" block shows the Python function a pool worker blocked in."""
    py = interpreter(DEBIAN_311)
    cp, wl, _, ctx = run_cmd(require_bpf, tmp_path, py, "pool", fmt="text")
    line = wl["blocked"]["recv0"]["frames"][0][2]
    assert f"fetch_upstream (pyframes_pool.py:{line})" in cp.stdout, ctx
    assert "take_lock (pyframes_pool.py:" in cp.stdout, ctx


@pytest.mark.parametrize("py", PYTHONS)
def test_thread_blocked_the_whole_trace(require_bpf, tmp_path, py):
    """-p on a process whose lifelong_reader thread blocked in recv before the tool attached and
    stays blocked until the end: it never holds the GIL (nor runs) while traced, so the kernel
    finds its PyThreadState by walking the interpreter's threads; its frames are still exact."""
    py = interpreter(py)
    out = tmp_path / "held.json"
    wl = twtest.Bg([py, WORKLOAD, "pool", "--wait-stdin", "--out", str(out)], stdin=True)
    with wl:
        assert wl.wait_line("out", lambda s: "ready" in s, 20), twtest.describe(wl)
        tool = twtest.Bg([require_bpf, "-p", str(wl.pid), "--format", "json", "-d", "20"])
        with tool:
            assert tool.wait_line("err", lambda s: "Tracing" in s, 30), twtest.describe(tool)
            wl.send("\n")
            assert twtest.finish(wl, 30, "the workload") == 0, twtest.describe(wl)
            assert twtest.finish(tool, 30) == 0, twtest.describe(tool)
            ctx = twtest.describe(tool)
            rep = report(tool, ctx)
    res = twtest.read_workload_out(out)
    stack = check_blocked(rep, res, "lifelong", "recvfrom", twtest.ns(500), ctx)
    assert py_frames(stack)[0][0] == "lifelong_reader", stack
    assert rep["lost"]["python_not_yet_found"] == 0, rep["lost"]


@pytest.mark.parametrize("py", PYTHONS)
def test_asyncio_handler_blocking_sleep(require_bpf, tmp_path, py):
    """An asyncio handler coroutine calling time.sleep(0.3): the loop thread's clock_nanosleep
    stack names the coroutine and the line of the sleep call (the workload's own f_lineno),
    clock_nanosleep below it, the event loop's own Python frames (run_forever, asyncio.run)
    above it as the workload saw them."""
    py = interpreter(py)
    cp, wl, _, ctx = run_cmd(require_bpf, tmp_path, py, "asyncio")
    rep = report(cp, ctx)
    samples = samples_of(rep, wl["pid"], wl["handler_tid"], "clock_nanosleep", ctx)
    assert samples, "no clock_nanosleep sample of the loop thread" + ctx
    stack = rep["stacks"][samples[0]["stack"]]
    assert samples[0]["blocked_ns"] >= twtest.ns(250), samples[0]
    got = py_frames(stack)
    assert got[0] == ["handler", WORKLOAD, wl["sleep_line"]], f"{got}" + ctx
    # the frames above the handler are the ones it saw itself (its own line aside)
    assert got[1:] == wl["handler_frames"][1:], (f"tool {got}\nworkload {wl['handler_frames']}"
                                                 + ctx)
    first = next(i for i, f in enumerate(stack) if f.get("kind") == "python")
    assert any(f["func"] == "clock_nanosleep" for f in stack[:first]), stack
    assert "run_forever" in " ".join(f[0] for f in got), got


def test_python_frames_in_pprof_and_module(require_bpf, tmp_path):
    """JSON marks Python frames (kind python, module = the file), and --pprof carries them as
    functions named by their qualified name with the file and line (go tool pprof -raw)."""
    py = interpreter(DEBIAN_311)
    go = shutil.which("go") or ("/usr/lib/go/bin/go" if os.path.exists("/usr/lib/go/bin/go")
                                else None)
    prof = tmp_path / "p.pb.gz"
    cp, wl, _, ctx = run_cmd(require_bpf, tmp_path, py, "pool", extra=("--pprof", prof))
    rep = report(cp, ctx)
    pyf = [f for s in rep["stacks"] for f in s if f.get("kind") == "python"]
    assert pyf and all(f["module"] == f["file"] for f in pyf), pyf[:5]
    if not go:
        pytest.skip("go (golang-go) is not installed: pprof not read")
    pp = twtest.run([go, "tool", "pprof", "-raw", str(prof)], timeout=120)
    assert pp.returncode == 0, twtest.describe(pp)
    line = wl["blocked"]["recv0"]["frames"][0][2]
    assert any("fetch_upstream" in ln and f"pyframes_pool.py:{line}" in ln
               for ln in pp.stdout.splitlines()), pp.stdout[:3000]


TRIXIE = "/var/cache/bpf-threadwatch/trixie"


@pytest.fixture(scope="session")
def trixie():
    """A Debian 13 folder (python3.13), made once with debootstrap and kept with the VM kernels:
    a chrooted interpreter is reachable only through /proc/PID/root or the mapping itself."""
    if not os.path.exists(f"{TRIXIE}/usr/bin/python3.13"):
        if not shutil.which("debootstrap"):
            if twtest.IN_CI:
                pytest.fail("debootstrap is missing (apt-get install debootstrap)", pytrace=False)
            pytest.skip("debootstrap is missing")
        tmp = TRIXIE + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        cp = twtest.run(["debootstrap", "--variant=minbase", "--include=python3", "trixie", tmp],
                        timeout=900)
        if cp.returncode != 0:
            (pytest.fail if twtest.IN_CI else pytest.skip)("debootstrap trixie failed"
                                                           + twtest.describe(cp))
        os.rename(tmp, TRIXIE)
    shutil.copy(WORKLOAD, f"{TRIXIE}/tmp/pyframes_pool.py")
    return TRIXIE


def run_chroot(tool, root, mode):
    cp = twtest.run([tool, "--format", "json", "--", "chroot", root, "python3",
                     "/tmp/pyframes_pool.py", mode, "--out", f"/tmp/pyframes-{mode}.json"],
                    timeout=120)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    wl = twtest.read_workload_out(f"{root}/tmp/pyframes-{mode}.json")
    assert wl["version"] == [3, 13], wl
    return report(cp, ctx), wl, ctx


def test_313_in_a_chroot_pool_workers(require_bpf, trixie):
    """Debian 13's python3.13 in a chroot (a container's stand-in: its binary is not at the path
    its maps name from here): the layout comes from the _Py_DebugOffsets in its _PyRuntime, and
    the pool workers' frames are exactly what sys._current_frames() showed; 3.13's entry shim
    frames are not shown and the creation site still names spawn_workers, 3 exactly."""
    rep, wl, ctx = run_chroot(require_bpf, trixie, "pool")
    for name in ("recv0", "recv1"):
        stack = check_blocked(rep, wl, name, "recvfrom", twtest.ns(300), ctx)
        assert py_frames(stack)[0][0] == "fetch_upstream", stack
    for name in ("lock0", "lock1"):
        stack = check_blocked(rep, wl, name, "futex", twtest.ns(300), ctx)
        assert py_frames(stack)[0][0] == "take_lock", stack
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    sites = [s for s in proc.get("create_sites", [])
             if "spawn_workers" in [f[0] for f in py_frames(rep["stacks"][s["stack"]])]]
    assert len(sites) == 1 and sites[0]["count"] == wl["spawned"], sites
    for k in ("python_version_unknown", "python_frames_unreadable", "python_frames_cut"):
        assert rep["lost"][k] == 0, f"lost {k}: {rep['lost']}" + ctx


def test_313_in_a_chroot_asyncio(require_bpf, trixie):
    """3.13's asyncio handler in time.sleep: the coroutine and the line of the call, the event
    loop's frames above it as the workload saw them, clock_nanosleep below."""
    rep, wl, ctx = run_chroot(require_bpf, trixie, "asyncio")
    samples = samples_of(rep, wl["pid"], wl["handler_tid"], "clock_nanosleep", ctx)
    assert samples, "no clock_nanosleep sample of the loop thread" + ctx
    stack = rep["stacks"][samples[0]["stack"]]
    got = py_frames(stack)
    assert got[0] == ["handler", "/tmp/pyframes_pool.py", wl["sleep_line"]], got
    assert got[1:] == wl["handler_frames"][1:], f"tool {got}\nworkload {wl['handler_frames']}"
