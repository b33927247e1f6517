# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Hostile input and conditions: bad and conflicting flags, PIDs that vanish or
are reused, thread names that are not text, a 50,000-thread storm, a thread
map smaller than the thread set, signals at any moment, a closed stdout.

Whatever happens, the tool exits with a meaningful status, its output stays
parseable, its counts stay exact (or the loss is reported), and none of its
BPF programs stays loaded after it exits.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import twtest
from twtest import workload

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


def no_sanitizer_report(stderr, ctx):
    for m in SANITIZER_MARKS:
        assert m not in stderr, f"sanitizer report ({m}) on stderr" + ctx


def check_usage_error(cp, names):
    """Exit 2, nothing on stdout, and ONE error line naming the argument; the
    only other lines allowed are argp's "Try `... --help'" pointer."""
    ctx = twtest.describe(cp)
    assert cp.returncode == 2, ctx
    assert cp.stdout == "", "nothing on stdout" + ctx
    lines = cp.stderr.strip().splitlines()
    assert lines, "an error message on stderr" + ctx
    hint = " ".join(lines[1:])
    assert not lines[1:] or (hint.startswith("Try `") and "--help" in hint), \
        "more than one error line on stderr" + ctx
    assert any(n in lines[0] for n in names), f"the error line names none of {names}" + ctx
    no_sanitizer_report(cp.stderr, ctx)


@pytest.fixture
def sleeper():
    """A process the flag tests can name with -p."""
    p = subprocess.Popen(["sleep", "60"])
    yield p.pid
    p.kill()
    p.wait()


FLAG_CASES = [
    # conflicting
    (["-p", "{pid}", "--", "true"], ("-p", "command")),
    (["-i", "5", "-d", "1"], ("-i", "-d")),
    (["--include-kthreads", "-p", "{pid}"], ("--include-kthreads",)),
    # huge, negative, out of range
    (["-p", "99999999999999999999"], ("-p", "99999999999999999999")),
    (["-p", "-5"], ("-p", "-5")),
    (["-t", "0"], ("-t",)),
    (["--top", "-1"], ("--top",)),
    (["--max-threads", "10"], ("--max-threads",)),
    (["-d", "1e9"], ("-d",)),
    (["-i", "0.001"], ("-i",)),
    # empty, repeated, too many
    (["-p", ""], ("-p",)),
    (["-p", ","], ("-p",)),
    (["-p", "1,1"], ("-p", "twice", "1,1")),
    # -p takes any number of PIDs (issue 9), but none twice, across repeated -p too
    (["-p", "{pid}", "-p", "{pid}"], ("-p", "twice")),
]


@pytest.mark.parametrize("args,names", FLAG_CASES,
                         ids=[" ".join(a) if len(" ".join(a)) < 40 else "-p 17 pids"
                              for a, _ in FLAG_CASES])
def test_bad_flags(tool, sleeper, args, names):
    argv = [a.replace("{pid}", str(sleeper)) for a in args]
    check_usage_error(twtest.run([tool, *argv], timeout=20), names)


def test_pid_is_a_thread(tool):
    """-p TID of a thread that is not a process: exit 2, and the message says to use -t."""
    code = ("import threading,sys,time\n"
            "t=threading.Thread(target=lambda: (print(threading.get_native_id(), flush=True),"
            " sys.stdin.read()))\nt.start(); t.join()\n")
    bg = twtest.Bg([sys.executable, "-c", code], stdin=True)
    with bg:
        line = bg.wait_line("out", lambda s: s.strip().isdigit(), 10)
        assert line, "the helper printed no thread id" + twtest.describe(bg)
        tid = int(line)
        assert tid != bg.pid
        cp = twtest.run([tool, "-p", str(tid), "-d", "1"], timeout=20)
        ctx = twtest.describe(cp)
        assert cp.returncode == 2, ctx
        assert cp.stdout == "", ctx
        lines = cp.stderr.strip().splitlines()
        assert len(lines) == 1, "one line on stderr" + ctx
        assert str(tid) in lines[0] and "-t" in lines[0], "the message suggests -t TID" + ctx
        assert str(bg.pid) in lines[0], "the message names the owning process" + ctx
        bg.close_stdin()
        assert twtest.finish(bg, 10, "the helper") == 0, twtest.describe(bg)


# --- what stays loaded ---------------------------------------------------------


def ours(progs):
    return {i: n for i, n in progs.items() if (n or "").startswith(twtest.PROG_PREFIXES)}


def holders_of(prog_ids):
    """{pid: comm} of the processes holding one of prog_ids open."""
    found = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            progs, _ = twtest.held_bpf_objects(int(d.name))
            comm = (d / "comm").read_text().strip()
        except OSError:
            continue
        if progs & set(prog_ids):
            found[int(d.name)] = comm
    return found


def other_tools_progs():
    """Programs held by bpf-threadwatch processes still running (other runs on the machine)."""
    held = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if (d / "comm").read_text().strip() != "bpf-threadwatch":
                continue
            progs, _ = twtest.held_bpf_objects(int(d.name))
        except OSError:
            continue
        held |= progs
    return held


def assert_nothing_left(before, held, ctx):
    """After the tool exited: the programs it held are gone, and no program
    named like ours appeared that only a leftover (a child that inherited an
    fd, a pin) would keep. before: our programs loaded before the run."""
    deadline = time.monotonic() + 5  # programs are freed after an RCU grace period
    while True:
        now = ours(twtest.loaded_progs())
        left = {i: n for i, n in now.items() if i in held}
        new = {i: n for i, n in now.items() if i not in before}
        if new:
            others = other_tools_progs()
            new = {i: n for i, n in new.items() if i not in others}
        if not left and not new:
            return
        if time.monotonic() > deadline:
            stuck = {**left, **new}
            raise AssertionError(f"BPF programs still loaded after the tool exited: {stuck}, "
                                 f"held by {holders_of(stuck)}" + ctx)
        time.sleep(0.2)


def kill_matching(token):
    """Kills the processes whose command line contains token (a unique tmp path)."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmd:
            try:
                os.kill(int(d.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_nonexistent_command(require_bpf):
    before = ours(twtest.loaded_progs())
    cp = twtest.run([require_bpf, "--format", "json", "--", "/nonexistent/binary"], timeout=30)
    ctx = twtest.describe(cp)
    assert cp.returncode != 0, ctx
    assert cp.returncode > 0, "killed by a signal" + ctx
    assert cp.stdout == "", ctx
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, "one line on stderr" + ctx
    assert "/nonexistent/binary" in lines[0], ctx
    no_sanitizer_report(cp.stderr, ctx)
    # no child of ours may be left behind (it would hold the tool's name until exec)
    time.sleep(0.1)
    assert_nothing_left(before, set(), ctx)


# --- PIDs that vanish or are reused ---------------------------------------------


def race_short_lived(tool, life):
    """Runs the tool on a `sleep LIFE` reaped as soon as it exits; returns (cp, pid)."""
    p = subprocess.Popen(["sleep", life])
    reaper = threading.Thread(target=p.wait)
    reaper.start()
    try:
        cp = twtest.run([tool, "--format", "json", "-p", str(p.pid)], timeout=30)
    finally:
        reaper.join()
    return cp, p.pid


def test_pid_exits_during_attach(require_bpf):
    """A process that exits while the tool checks and attaches: exit 2 (gone
    before the check) or 0 with a final report saying it exited; never 1,
    never a crash or a hang."""
    for life in ("0.02", "0.05", "0.1"):
        cp, pid = race_short_lived(require_bpf, life)
        ctx = twtest.describe(cp)
        no_sanitizer_report(cp.stderr, ctx)
        assert cp.returncode in (0, 2), ctx
        if cp.returncode == 2:
            assert cp.stdout == "", ctx
            lines = cp.stderr.strip().splitlines()
            assert len(lines) == 1 and str(pid) in lines[0], ctx
            continue
        objs, _ = twtest.parse_report(cp.stdout, ctx)
        rep = twtest.final_report(objs, ctx)
        twtest.check_report_shape(rep, ctx)
        proc = twtest.find_proc(rep, pid, ctx)
        assert proc["exited"] is True, ctx
        assert proc["threads_now"] == 0, ctx
        assert "exited" in cp.stderr, "the tool does not say the process exited" + ctx


def test_pid_gone_during_attach_keeps_its_name(require_bpf):
    """When the -p check found the process alive, its name is known: it must
    not come out empty because the process was gone by the time of the report."""
    for life in ("0.05", "0.1"):
        cp, pid = race_short_lived(require_bpf, life)
        ctx = twtest.describe(cp)
        assert cp.returncode in (0, 2), ctx
        if cp.returncode == 2:
            continue
        m = re.search(rf"Tracing PID {pid} \((.*?)\)", cp.stderr)
        assert m, ctx
        assert m.group(1) in ("sleep", "/usr/bin/sleep", "/bin/sleep"), \
            "the 'Tracing' line lost the process name" + ctx
        objs, _ = twtest.parse_report(cp.stdout, ctx)
        proc = twtest.find_proc(twtest.final_report(objs, ctx), pid, ctx)
        assert proc["comm"] == "sleep", "the report lost the process name" + ctx


def spawn_with_pid(argv, want, **kw):
    """Popen(argv) as PID want, via /proc/sys/kernel/ns_last_pid, else by
    burning PIDs with fork until the allocator comes round (bounded: 40,000
    forks or 30 s). Returns the Popen, or (None, why)."""
    why = ""
    for _ in range(50):
        try:
            Path("/proc/sys/kernel/ns_last_pid").write_text(str(want - 1))
        except OSError as e:
            why = f"ns_last_pid not writable ({e}); "
            break
        p = subprocess.Popen(argv, **kw)
        if p.pid == want:
            return p, ""
        p.kill()
        p.wait()
    deadline = time.monotonic() + 30
    for _ in range(40000):
        if time.monotonic() > deadline:
            break
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
        if child == want - 1:
            p = subprocess.Popen(argv, **kw)
            if p.pid == want:
                return p, ""
            p.kill()
            p.wait()
    return None, why + "PID not reused within 40,000 forks / 30 s"


def test_pid_reuse(require_bpf, tmp_path):
    """-p on a PID that belonged to a process the tool traced before, now
    reused by another program: the report is about the new owner."""
    out = tmp_path / "old.json"
    cp = twtest.run([require_bpf, "--format", "json", "--", workload("blockers"), "--out", out,
                     "2", "20"], timeout=30)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    old = twtest.read_workload_out(out)
    pid = old["pid"]
    assert twtest.find_proc(twtest.final_report(twtest.parse_report(cp.stdout, ctx)[0], ctx),
                            pid, ctx)["comm"] == "blockers", ctx
    if os.path.exists(f"/proc/{pid}"):
        pytest.skip(f"PID {pid} was taken by another process before the test could reuse it")
    p, why = spawn_with_pid([workload("storm"), "--wait-stdin", "3", "3"], pid,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if p is None:
        pytest.skip(f"could not get PID {pid} reused: {why} (depends on the kernel's PID "
                    f"allocator, not on BPF)")
    try:
        tool = twtest.Bg([require_bpf, "--format", "json", "-p", str(pid)])
        with tool:
            line = tool.wait_line("err", lambda s: "Tracing" in s, 30)
            assert line, "no 'Tracing' line" + twtest.describe(tool)
            assert "storm" in line, "the 'Tracing' line names the old owner" + twtest.describe(tool)
            wl_out, _ = p.communicate("\n", timeout=30)
            assert p.returncode == 0, wl_out
            if tool.wait(10) is None:
                tool.signal(signal.SIGINT)
                twtest.finish(tool, 10)
            ctx = twtest.describe(tool) + f"\nworkload: {wl_out}"
            assert tool.returncode == 0, ctx
            objs, _ = twtest.parse_report(tool.stdout, ctx)
            rep = twtest.final_report(objs, ctx)
            twtest.assert_no_loss(rep, ctx)
            proc = twtest.find_proc(rep, pid, ctx)
            assert proc["comm"] == "storm", ctx
            assert proc["threads_created"] == 3 and proc["threads_exited"] == 3, ctx
            assert proc["threads_peak"] == 4, ctx
            old_tids = {w["tid"] for w in old["workers"]}
            rows = twtest.threads_by_tid(proc)
            assert rows[pid]["comm"] == "storm", f"main row {rows.get(pid)}" + ctx
            assert rows[pid]["threads_created"] == 3, f"main row {rows.get(pid)}" + ctx
            assert all(rows[t]["comm"] != "blockers" for t in old_tids if t in rows), ctx
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# --- names that are not text ----------------------------------------------------

NAMES_PY = r"""
import ctypes, json, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15
names = [bytes.fromhex(h) for h in sys.argv[2:]]
barrier = threading.Barrier(len(names) + 1)
tids = [None] * len(names)
def worker(i):
    if libc.prctl(PR_SET_NAME, ctypes.c_char_p(names[i]), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")
    tids[i] = threading.get_native_id()
    barrier.wait()
    time.sleep(0.2)
ts = [threading.Thread(target=worker, args=(i,)) for i in range(len(names))]
for t in ts:
    t.start()
barrier.wait()
for t in ts:
    t.join()
with open(sys.argv[1], "w") as f:
    json.dump({"workload": "names", "tids": tids}, f)
"""

# (name the thread sets, as JSON must give it back, as the text table must show it or None)
NAMES = [
    (b"w\xff\xfe", "w\ufffd\ufffd", "w??"),
    (b'q"\\x', 'q"\\x', 'q"\\x'),
    (b"a\nb", "a\nb", "a?b"),
    (b"t\tc\x01\x7f", "t\tc\x01\x7f", "t?c??"),
    (b"fifteen_bytes15", "fifteen_bytes15", "fifteen_bytes15"),
    (b"sixteen_bytes_16", "sixteen_bytes_1", "sixteen_bytes_1"),  # the kernel keeps 15
    (b"abcdefghijklmn\xc3", "abcdefghijklmn\ufffd", "abcdefghijklmn?"),  # cut UTF-8
    ("été".encode(), "été", None),  # valid UTF-8 round-trips in JSON
]


def run_names(tool, tmp_path, fmt):
    out = tmp_path / f"names-{fmt}.json"
    argv = [tool, "--format", fmt, "--", sys.executable, "-c", NAMES_PY, out,
            *[n.hex() for n, _, _ in NAMES]]
    cp = subprocess.run([str(a) for a in argv], capture_output=True, timeout=60, cwd=twtest.ROOT)
    stderr = cp.stderr.decode("utf-8", "replace")
    ctx = (f"\n$ {' '.join(str(a) for a in argv[:6])} ...\nexit status: {cp.returncode}\n"
           f"--- stdout ---\n{cp.stdout[-3000:]!r}\n--- stderr ---\n{stderr[-3000:]}")
    assert cp.returncode == 0, ctx
    no_sanitizer_report(stderr, ctx)
    wl = json.loads(out.read_text())
    return cp.stdout, wl, ctx


def test_names_json(require_bpf, tmp_path):
    raw, wl, ctx = run_names(require_bpf, tmp_path, "json")
    text = raw.decode("utf-8")  # strict: the stream is UTF-8
    lines = text.split("\n")
    assert lines[-1] == "", "output does not end with a newline" + ctx
    objs = []
    for i, line in enumerate(lines[:-1]):
        try:
            objs.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise AssertionError(f"line {i + 1} is not JSON ({e}): {line[:300]!r}" + ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.assert_no_loss(rep, ctx)
    procs = rep["processes"]
    assert len(procs) == 1, ctx
    rows = twtest.threads_by_tid(procs[0])
    assert procs[0]["threads_created"] == len(NAMES), ctx
    for tid, (name, want, _) in zip(wl["tids"], NAMES):
        assert tid in rows, f"no row for thread {tid} ({name!r})" + ctx
        assert rows[tid]["comm"] == want, \
            f"thread {tid} named {name!r}: {rows[tid]['comm']!r}" + ctx


def test_names_text(require_bpf, tmp_path):
    raw, wl, ctx = run_names(require_bpf, tmp_path, "text")
    text = raw.decode("utf-8", "replace")
    rows = {}
    for line in text.split("\n"):
        m = re.match(r"^\s+(\d+)\s+(.*?)\s+(yes|no)\s", line)
        if m:
            rows[int(m.group(1))] = (m.group(2), line)
    for tid, (name, _, shown) in zip(wl["tids"], NAMES):
        assert tid in rows, f"no table row for thread {tid} ({name!r}) on one line" + ctx
        if shown is not None:
            assert rows[tid][0] == shown, \
                f"thread {tid} named {name!r} shown as {rows[tid]!r}" + ctx
    for line in text.split("\n"):
        assert not any(ord(c) < 0x20 or ord(c) == 0x7f for c in line), \
            f"control character in the text output: {line!r}" + ctx


# --- more threads than the maps hold ---------------------------------------------


def test_storm_50000(require_bpf, tmp_path):
    n, batch = 50000, 64
    out = tmp_path / "storm.json"
    cp = twtest.run([require_bpf, "--format", "json", "--", workload("storm"), "--out", out,
                     str(n), str(batch)], timeout=120)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    wl = twtest.read_workload_out(out)
    assert wl["created"] == n and wl["failed"] == 0, f"the workload fell short: {wl}" + ctx
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.check_report_shape(rep, ctx)
    twtest.assert_no_loss(rep, ctx, allow=twtest.STORM_COUNTED_LOSSES)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    ctx = f"\nworkload: {wl}\nprocess: { {k: v for k, v in proc.items() if k != 'threads'} }" + ctx
    assert proc["threads_created"] == n, ctx
    assert proc["threads_exited"] == n, ctx
    assert proc["threads_peak"] == wl["peak_alive"] + 1, ctx
    assert proc["exited"] is True, ctx
    # pid_max (32768 here) < n: tids repeat, so count rows, not tids
    rows = proc["threads"]
    assert len(rows) == n + 1, f"{len(rows)} thread rows for {n} workers + main" + ctx
    assert all(t["alive"] is False for t in rows), ctx
    mains = [t for t in rows if t["tid"] == wl["main_tid"]]
    assert len(mains) == 1, f"{len(mains)} rows with the main tid" + ctx
    assert mains[0]["threads_created"] == n, f"main row {mains[0]}" + ctx
    assert sum(t["threads_created"] for t in rows) == n, ctx
    assert twtest.hist_total(proc["lifetime_hist"]) == n, ctx


def test_storm_intervals(require_bpf, tmp_path):
    """Interval reports in the middle of a storm must not disturb the thread
    set: no report, interval or final, may count more threads alive (now or
    at the peak) than the storm ever has."""
    n, batch = 20000, 64
    out = tmp_path / "storm.json"
    cp = twtest.run([require_bpf, "--format", "json", "-i", "0.1", "--", workload("storm"),
                     "--out", out, str(n), str(batch)], timeout=120)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    wl = twtest.read_workload_out(out)
    assert wl["peak_alive"] == batch, f"workload: {wl}" + ctx
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.assert_no_loss(rep, ctx, allow=twtest.STORM_COUNTED_LOSSES)
    counts = ("type", "exited", "threads_now", "threads_peak", "threads_created", "threads_exited")
    seen = [{k: (o if k == "type" else twtest.find_proc(o, wl["pid"], ctx))[k] for k in counts}
            for o in objs]
    ctx = "\nreports: " + "\n  ".join(str(c) for c in seen) + f"\nworkload: {wl}"
    wrong = [c for c in seen if c["threads_now"] > batch + 1 or c["threads_peak"] > batch + 1]
    assert not wrong, f"more than {batch} + 1 threads alive in: {wrong}" + ctx
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    assert proc["threads_created"] == n and proc["threads_exited"] == n, ctx
    assert proc["threads_peak"] == batch + 1, ctx
    assert proc["threads_now"] == 0, ctx
    # one row per thread: n workers and main (tids may repeat: count rows)
    assert len(proc["threads"]) == n + 1, f"{len(proc['threads'])} thread rows" + ctx


def test_thread_map_full(require_bpf, tmp_path):
    """--max-threads 64 with 201 threads alive at once: the loss is reported,
    the lifecycle counts (from other maps and events) stay exact, and no row
    reports impossible numbers."""
    out = tmp_path / "blockers.json"
    cp = twtest.run([require_bpf, "--format", "json", "--max-threads", "64", "--",
                     workload("blockers"), "--out", out, "200", "300"], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    wl = twtest.read_workload_out(out)
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.check_report_shape(rep, ctx)
    assert rep["lost"]["thread_map_full"] > 0, \
        "201 threads in a 64-entry map, no loss reported" + ctx
    for k in ("ringbuf", "proc_map_full", "clone_map_full", "map_alloc_failed"):
        assert rep["lost"][k] == 0, f"lost.{k}" + ctx
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    pctx = f"\nprocess: { {k: v for k, v in proc.items() if k != 'threads'} }" + ctx
    assert proc["threads_created"] == 200, pctx
    assert proc["threads_exited"] == 200, pctx
    assert proc["threads_peak"] == 201, pctx
    assert proc["exited"] is True, pctx
    wall = rep["duration_s"] * 1e9
    tids = {w["tid"] for w in wl["workers"]} | {wl["main_tid"]}
    for t in proc["threads"]:
        tctx = f"\nrow: { {k: v for k, v in t.items() if not k.endswith('hist')} }" + pctx
        assert t["tid"] in tids, "a row for a thread the workload does not have" + tctx
        for k in ("oncpu_ns", "blocked_ns", "runq_ns", "vol_switches", "invol_switches"):
            assert t[k] >= 0, tctx
        # a thread lives inside the workload, which lives inside the run
        life = t["oncpu_ns"] + t["blocked_ns"] + t["runq_ns"]
        assert life <= min(wall, wl["elapsed_ns"] + 50e6), tctx
        # one read() per worker; main sleeps once and joins 200 threads
        assert t["vol_switches"] <= 1000, tctx
        for h in ("blocked_hist", "runq_hist"):
            twtest.check_hist_shape(t[h], tctx)
        assert twtest.hist_total(t["blocked_hist"]) <= t["vol_switches"] + 1, tctx


# --- signals and a closed stdout --------------------------------------------------


def storm_interrupted(tool, tmp_path, sig, delay):
    out = str(tmp_path / f"storm-{sig.name}-{delay}.json")
    before = ours(twtest.loaded_progs())
    bg = twtest.Bg([tool, "--format", "json", "--", workload("storm"), "--out", out, "50000", "64"])
    held = set()
    try:
        t0 = time.monotonic()
        if delay >= 0.2:
            assert bg.wait_line("err", lambda s: "Tracing" in s, 30), twtest.describe(bg)
            held, _ = twtest.held_bpf_objects(bg.pid)
            assert held, "the tool holds no BPF program" + twtest.describe(bg)
        time.sleep(max(0.0, delay - (time.monotonic() - t0)))
        bg.signal(sig)
        # the workload keeps the stdout pipe open: wait for the tool alone
        try:
            bg.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the tool did not exit within 15 s of {sig.name}"
                                 + twtest.describe(bg))
    finally:
        kill_matching(out)  # the command outlives a tool killed with kill(1)
        bg.kill()
    ctx = f"\n{sig.name} after {delay} s" + twtest.describe(bg)
    assert bg.returncode == 0, ctx
    no_sanitizer_report(bg.stderr, ctx)
    objs, _ = twtest.parse_report(bg.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    twtest.check_report_shape(rep, ctx)
    twtest.assert_no_loss(rep, ctx, allow=twtest.STORM_COUNTED_LOSSES)
    assert len(rep["processes"]) == 1, ctx
    proc = rep["processes"][0]
    m = re.search(r"Tracing PID (\d+)", bg.stderr)
    assert m and proc["pid"] == int(m.group(1)), ctx
    ctx = f"\nprocess: { {k: v for k, v in proc.items() if k != 'threads'} }" + ctx
    # storm never has more than 64 workers + main alive, whenever the report is made
    assert proc["threads_now"] <= 65, ctx
    assert proc["threads_peak"] <= 65, ctx
    assert 0 <= proc["threads_exited"] <= proc["threads_created"] <= 50000, ctx
    assert_nothing_left(before, held, ctx)


@pytest.mark.parametrize("sig,delay", [
    (signal.SIGINT, 0.05), (signal.SIGINT, 0.3), (signal.SIGINT, 1.0),
    (signal.SIGINT, round(random.uniform(0.1, 1.5), 2)), (signal.SIGTERM, 0.5),
], ids=lambda v: v.name if isinstance(v, signal.Signals) else f"{v}s")
def test_signal_during_storm(require_bpf, tmp_path, sig, delay):
    storm_interrupted(require_bpf, tmp_path, sig, delay)


def test_sigpipe(require_bpf):
    """`bpf-threadwatch -i 0.1 -d 3 -p PID | head -c 100`: the tool ends by
    itself once head is gone, well before -d runs out."""
    target = subprocess.Popen(["sleep", "30"])
    before = ours(twtest.loaded_progs())
    try:
        tool = subprocess.Popen([require_bpf, "-i", "0.1", "-d", "3", "-p", str(target.pid)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=twtest.ROOT)
        head = subprocess.Popen(["head", "-c", "100"], stdin=tool.stdout, stdout=subprocess.PIPE)
        tool.stdout.close()  # head holds the only read end
        held = set()
        deadline = time.monotonic() + 10
        while head.poll() is None and time.monotonic() < deadline:
            if not held and tool.poll() is None:
                try:
                    held, _ = twtest.held_bpf_objects(tool.pid)
                except OSError:
                    pass
            time.sleep(0.02)
        head_out = head.communicate(timeout=10)[0]
        t_head = time.monotonic()
        try:
            _, err = tool.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            tool.kill()
            _, err = tool.communicate()
            raise AssertionError("the tool did not exit after its stdout closed: "
                                 + err.decode(errors="replace"))
        took = time.monotonic() - t_head
        err = err.decode("utf-8", "replace")
        ctx = (f"\nexit status {tool.returncode}, {took:.2f} s after head exited\n"
               f"head got {head_out!r}\n--- stderr ---\n{err}")
        assert len(head_out) == 100, "head got less than 100 bytes: no interval report?" + ctx
        assert tool.returncode in (0, 141, -signal.SIGPIPE), ctx
        assert took < 1.5, "the tool went on after its stdout was closed" + ctx
        no_sanitizer_report(err, ctx)
        assert_nothing_left(before, held, ctx)
    finally:
        target.kill()
        target.wait()


def test_target_exits_mid_interval(require_bpf, tmp_path):
    """-i 0.05 on a command that exits after 0.5 s: intervals, then the final report, exit 0."""
    out = tmp_path / "blockers.json"
    cp = twtest.run([require_bpf, "--format", "json", "-i", "0.05", "--", workload("blockers"),
                     "--out", out, "4", "500"], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    no_sanitizer_report(cp.stderr, ctx)
    wl = twtest.read_workload_out(out)
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    intervals = [o for o in objs if o.get("type") == "interval"]
    assert len(intervals) >= 5, f"{len(intervals)} interval reports in a 0.5 s run at -i 0.05" + ctx
    for o in intervals:
        twtest.check_report_shape(o, ctx)
        assert o["duration_s"] <= 0.05 * 3, f"interval of {o['duration_s']} s" + ctx
    twtest.assert_no_loss(rep, ctx)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    assert proc["exited"] is True, ctx
    assert proc["threads_created"] == 4 and proc["threads_exited"] == 4, ctx
    assert proc["threads_peak"] == 5, ctx
