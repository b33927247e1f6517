# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Python thread names (issue 12): threading.Thread(name="fetcher-0") never reaches the
kernel's comm on CPython 3.11 or 3.13 (every thread reads "python3.11"), so the tool reads
each thread's name from the interpreter (user/pythreads.c) and shows it where it differs from
the comm: JSON "py_thread_name" of thread rows and blocked-now rows, the text report's rows.

Workload: tests/workloads/pynamed.py. Its threads (fetcher-0..2, one renamed after it started,
one with the default "Thread-N (worker)", one started with _thread.start_new_thread, which has
no Thread object, and MainThread) block in recv or on a Lock; it writes {native id: name} as
threading itself sees them. The tool's names must be exactly those: the raw thread none.
Run by Debian's python3.11, the PIE python3.11 with a shared libpython, and python3.13 in a
Debian 13 chroot."""
import os
import shutil

import pytest

import twtest

WORKLOAD = str(twtest.ROOT / "tests" / "workloads" / "pynamed.py")


def interpreter(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        if twtest.IN_CI:
            pytest.fail(f"{path} is missing", pytrace=False)
        pytest.skip(f"{path} is missing")
    return [path]


@pytest.fixture(scope="session")
def trixie_py():
    root, why = twtest.trixie_root()
    if not root:
        (pytest.fail if twtest.IN_CI else pytest.skip)(why)
    shutil.copy(WORKLOAD, f"{root}/tmp/pynamed.py")
    return root


def argv_of(kind, tmp_path, root=None):
    """The workload's command line and where its --out is read from here."""
    if kind == "trixie":
        out = f"/tmp/pynamed-{os.getpid()}-{tmp_path.name}.json"
        return ["chroot", root, "python3", "/tmp/pynamed.py", "--out", out], root + out
    py = twtest.DEBIAN_PY311 if kind == "debian" else twtest.PIE_PY311
    out = str(tmp_path / "names.json")
    return interpreter(py) + [WORKLOAD, "--out", out], out


def traced_held(tool, argv, out, fmt):
    """The workload, set up and held; the tool on it with -p for 2 s; then released.
    Returns (the tool's CompletedProcess, the workload's output, ctx)."""
    if os.path.exists(out):
        os.unlink(out)
    with twtest.Bg(argv + ["--wait-stdin"], stdin=True) as wl:
        assert wl.wait_line("out", lambda s: "ready" in s, 30), twtest.describe(wl)
        got = twtest.read_workload_out(out)
        cp = twtest.run([tool, "-p", got["pid"], "-d", "2", "--blocked-ms", "300",
                         "--format", fmt], timeout=60)
        wl.send("\n")
        assert twtest.finish(wl, 20, "the workload") == 0, twtest.describe(wl)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    return cp, got, ctx


def check_names(rep, wl, ctx, blocked=True):
    """Every thread of the workload's has its Python name (None: none) in its thread row and,
    blocked, in its blocked-now row; its comm is not that name (the kernel never heard it)."""
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    rows = twtest.threads_by_tid(proc)
    now = {b["tid"]: b for b in proc.get("blocked_now", [])}
    assert len(wl["names"]) == 7, wl
    for tid, name in wl["names"].items():
        tid = int(tid)
        assert tid in rows, f"no thread row for {tid} ({name})" + ctx
        row = rows[tid]
        assert row["py_thread_name"] == name, (f"tid {tid}: tool {row['py_thread_name']!r}, "
                                               f"workload {name!r}: {row}" + ctx)
        assert row["comm"] != name, row
        if blocked:
            assert tid in now, f"tid {tid} ({name}) not blocked now: {proc.get('blocked_now')}"
            assert now[tid]["py_thread_name"] == name, now[tid]
    assert rep["lost"]["python_thread_names_unreadable"] == 0, rep["lost"]


PYTHONS = [pytest.param("debian", id="debian-3.11"), pytest.param("pie", id="pie-shared-3.11"),
           pytest.param("trixie", id="chroot-3.13")]


@pytest.mark.parametrize("kind", PYTHONS)
def test_thread_names_in_json(require_bpf, tmp_path, request, kind):
    """-p on the held workload: each thread row and blocked-now row carries the thread's
    Python name exactly (the renamed one its new name, the raw _thread one none)."""
    root = request.getfixturevalue("trixie_py") if kind == "trixie" else None
    argv, out = argv_of(kind, tmp_path, root)
    cp, wl, ctx = traced_held(require_bpf, argv, out, "json")
    assert wl["version"] == ([3, 13] if kind == "trixie" else [3, 11]), wl
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    check_names(twtest.final_report(objs, ctx), wl, ctx)


def test_thread_names_in_text(require_bpf, tmp_path):
    """The text report ends each named thread's row (and its blocked-now row) with
    "[name]"; the raw thread's rows end with none."""
    argv, out = argv_of("debian", tmp_path)
    cp, wl, ctx = traced_held(require_bpf, argv, out, "text")
    for tid, name in wl["names"].items():
        lines = [ln for ln in cp.stdout.splitlines() if ln.split()[:1] == [tid]]
        assert len(lines) == 2, f"tid {tid}: {lines}" + ctx  # blocked-now row, thread row
        for ln in lines:
            if name is None:
                assert not ln.rstrip().endswith("]"), ln
            else:
                assert ln.rstrip().endswith(f"  [{name}]"), f"{ln!r} vs {name!r}" + ctx


def test_thread_names_kept_after_exit(require_bpf, tmp_path):
    """-- COMMAND: the names are read while the program runs (the CLI reads them once a
    second), so the final report, written after it exited, still has them."""
    argv, out = argv_of("debian", tmp_path)
    cp = twtest.run([require_bpf, "--format", "json", "--", *argv, "--hold", "4"], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    wl = twtest.read_workload_out(out)
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    check_names(rep, wl, ctx, blocked=False)
