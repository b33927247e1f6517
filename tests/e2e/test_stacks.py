# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Where the blocked time goes: user stacks of blocked syscalls, unwound from CFI (the
workloads have no frame pointers, like Debian's binaries), in --folded, text and JSON, with
weights that add up to what the workload's own clock measured."""
import os
import pwd
import shutil

import pytest

import twtest
from twtest import workload

# the handler workload's call chain, leaf first, below glibc's read
CHAIN = ["read_body", "handle_request", "serve_requests"]


def run_handler(tool, tmp_path, n, us, extra=(), fmt="json"):
    out = tmp_path / "handler.json"
    folded = tmp_path / "stacks.folded"
    cp = twtest.run([tool, "--format", fmt, "--folded", folded, *extra, "--",
                     workload("handler"), "--out", out, str(n), str(us)], timeout=120)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    return cp, twtest.read_workload_out(out), folded.read_text(), ctx


def folded_lines(text, ctx):
    """(frames root first, microseconds) of each --folded line."""
    lines = []
    for ln in text.splitlines():
        stack, _, us = ln.rpartition(" ")
        assert stack and us.isdigit(), f"bad folded line {ln!r}" + ctx
        lines.append((stack.split(";"), int(us)))
    return lines


def handler_lines(lines, wl, ctx):
    """The lines of the handler thread's read() blocks: the chain in order under read."""
    head = f"handler-{wl['pid']}"
    mine = []
    for frames, us in lines:
        assert frames[0].startswith("handler-"), f"first frame {frames[0]!r}" + ctx
        if frames[0] != head or "read_body" not in frames:
            continue
        i = frames.index("read_body")
        # root first: serve_requests, handle_request, read_body, then glibc's read
        assert frames[i - 2:i + 1] == CHAIN[::-1], f"chain out of order: {frames}" + ctx
        assert i + 1 < len(frames), f"no frame below read_body (glibc's read): {frames}" + ctx
        mine.append((frames, us))
    return mine


def test_folded_chain_and_weights(require_bpf, tmp_path):
    """100 reads of ~5 ms each: every one is taken (>= --stack-min 1 ms); the folded stacks name
    serve_requests;handle_request;read_body;<glibc read> root first, start at the process and
    thread name, reach the thread's start (start_thread, clone3: glibc unwound without frame
    pointers), and weigh what the workload's read() calls took, within 10%."""
    cp, wl, text, ctx = run_handler(require_bpf, tmp_path, 100, 5000)
    h = wl["handlers"][0]
    lines = folded_lines(text, ctx)
    mine = handler_lines(lines, wl, ctx)
    assert mine, f"no folded line with the handler's chain:\n{text}" + ctx
    for frames, _ in mine:
        assert frames[1] == "handler", f"thread name frame {frames[1]!r}" + ctx
        assert "start_thread" in frames[:4], f"not unwound to the thread start: {frames}" + ctx
        # glibc's read: named (libc has .dynsym), below the program's own frames
        leaf = frames[-1]
        assert "read" in leaf, f"leaf {leaf!r} is not glibc's read: {frames}" + ctx
        # where it slept in the kernel, last (leaf-most), named from /proc/kallsyms
        kern = frames[frames.index("read_body") + 2:]
        assert "vfs_read" in kern, f"no kernel frames after glibc's read: {frames}" + ctx
    us = sum(u for _, u in mine)
    assert abs(us * 1000 - h["read_ns"]) <= 0.10 * h["read_ns"], \
        f"stack weights {us} us vs the workload's read() time {h['read_ns']} ns" + ctx
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    assert rep["stacks_on"] is True, ctx
    for k in ("stack_events", "stack_unreadable", "stack_unwind_short", "stack_process_gone"):
        assert rep["lost"][k] == 0, f"lost {k}" + ctx


def test_json_stacks_table(require_bpf, tmp_path):
    """JSON: stacks interned once, frames innermost first (the kernel's, then glibc's read)
    with func, module, offset and the workload's file and line; the handler thread's samples
    reference them with the syscall."""
    cp, wl, _, ctx = run_handler(require_bpf, tmp_path, 40, 5000)
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    tid = wl["handlers"][0]["tid"]
    samples = [s for s in proc["stack_samples"] if s["tid"] == tid and s["syscall"] == "read"]
    assert samples, f"no read samples for tid {tid}: {proc['stack_samples']}" + ctx
    assert sum(s["samples"] for s in samples) == 40, f"{samples}" + ctx
    for s in samples:
        assert s["thread"] == "handler", ctx
        frames = rep["stacks"][s["stack"]]
        funcs = [f["func"] for f in frames]
        i = funcs.index("read_body")
        assert funcs[i:i + 3] == CHAIN, f"frames {funcs}" + ctx
        for f in frames[i:i + 3]:
            assert f["module"].endswith("/handler"), f"{f}" + ctx
            assert f["file"].endswith("handler.c") and f["line"] > 0, f"{f}" + ctx
        # innermost first: where it slept in the kernel, then glibc's read
        user = [f for f in frames if not f["module"].startswith("[")]
        kern = frames[:len(frames) - len(user)]
        assert kern and all(f["module"] == "[kernel]" for f in kern), f"{frames}" + ctx
        assert "libc.so" in user[0]["module"], f"user leaf {user[0]}" + ctx


def test_text_where(require_bpf, tmp_path):
    """Text: a "where" line per stack, the call first, then the program's own frames from
    the first one past libc (the caller), outward."""
    cp, _, _, ctx = run_handler(require_bpf, tmp_path, 30, 5000, fmt="text")
    where = [ln for ln in cp.stdout.splitlines()
             if " read " in ln and "read_body < handle_request < serve_requests" in ln]
    assert where, "no where line with the handler's chain" + ctx


def test_short_blocks_sampled(require_bpf, tmp_path):
    """Blocks of ~250 us, below --stack-min 1 ms, are sampled with probability d/1ms and
    weighted 1 ms: the weights still add up to the blocked time (within 10%; the sampling's
    own standard deviation is ~2.5% here), from a fraction of the blocks."""
    cp, wl, text, ctx = run_handler(require_bpf, tmp_path, 5000, 300)
    h = wl["handlers"][0]
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    assert rep["stack_stats"]["sampled_short_blocks"] > 0, ctx
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    t = twtest.threads_by_tid(proc)[h["tid"]]
    read = [c for c in t["syscalls"] if c["name"] == "read"][0]
    samples = [s for s in proc["stack_samples"] if s["tid"] == h["tid"] and s["syscall"] == "read"]
    n = sum(s["samples"] for s in samples)
    w = sum(s["blocked_ns"] for s in samples)
    assert 0 < n < 5000 * 0.6, f"{n} samples of 5000 blocks" + ctx
    assert abs(w - read["blocked_ns"]) <= 0.10 * read["blocked_ns"], \
        f"weights {w} vs the kernel's blocked time in read {read['blocked_ns']}" + ctx
    # the folded lines of the chain hold what the JSON samples of the chain hold (a slow
    # agent, ASan's, may leave some samples not unwound: counted, under their own frame)
    chain = sum(s["blocked_ns"] for s in samples
                if "read_body" in [f["func"] for f in rep["stacks"][s["stack"]]])
    mine = handler_lines(folded_lines(text, ctx), wl, ctx)
    assert abs(sum(u for _, u in mine) * 1000 - chain) <= 1000 * len(mine), ctx
    assert chain >= 0.5 * w, f"only {chain} of {w} ns unwound to the chain" + ctx


def test_no_stacks(require_bpf):
    """--no-stacks takes none: no table, stacks_on false."""
    cp = twtest.run([require_bpf, "--format", "json", "--no-stacks", "--",
                     workload("handler"), "10", "5000"], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    objs, _ = twtest.parse_report(cp.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    assert rep["stacks_on"] is False and "stacks" not in rep, ctx


def test_stack_option_errors(require_bpf, tmp_path):
    """Bad stack options: one line on stderr, exit 2, nothing started."""
    cases = [
        (["--folded", tmp_path / "f", "--no-stacks"], "--no-stacks"),
        (["--folded", tmp_path / "no" / "such" / "dir"], "cannot write --folded"),
        (["--stack-min", "0"], "--stack-min"),
        (["--stack-min", "1001"], "--stack-min"),
        (["--stack-bytes", "100"], "--stack-bytes"),
        (["--stacks", "--no-syscalls"], "--no-syscalls"),
        (["--pprof", tmp_path / "p", "--no-stacks"], "--no-stacks"),
        (["--pprof", tmp_path / "no" / "such" / "file"], "cannot write --pprof"),
    ]
    for args, words in cases:
        cp = twtest.run([require_bpf, *args, "--", workload("handler"), "1", "1000"], timeout=30)
        ctx = twtest.describe(cp)
        assert cp.returncode == 2, ctx
        assert words in cp.stderr, ctx
    cp = twtest.run([require_bpf, "--stacks", "-d", "1"], timeout=30)
    assert cp.returncode == 2 and "--syscalls" in cp.stderr, twtest.describe(cp)


def test_creation_sites_exact(require_bpf, tmp_path):
    """forkfail 50 in a pids cgroup of pids.max 20: the creation sites count every success
    and every EAGAIN exactly (50 attempts stay inside the sampler's burst), at the workload's
    named spawn_holder called from main, past glibc's pthread_create and clone3."""
    try:
        cg = twtest.PidsCgroup(20)
    except (LookupError, OSError) as e:
        if twtest.IN_CI:
            pytest.fail(f"CI=true: cannot make a pids cgroup: {e}", pytrace=False)
        pytest.skip(f"cannot make a pids cgroup: {e}")
    out = tmp_path / "forkfail.json"
    with cg, twtest.Bg([workload("forkfail"), "--wait-stdin", "--out", out, "50", "300"],
                       stdin=True) as wl:
        cg.add(wl.pid)
        tool = twtest.Bg([require_bpf, "-p", str(wl.pid), "--format", "json"])
        with tool:
            assert tool.wait_line("err", lambda s: "Tracing" in s, 30), twtest.describe(tool)
            wl.send("\n")
            assert twtest.finish(wl, 30, "forkfail") == 0, twtest.describe(wl)
            rc = twtest.finish(tool, 30)
            ctx = twtest.describe(tool)
            assert rc == 0, ctx
    res = twtest.read_workload_out(out)
    ctx += f"\nworkload: {res}"
    assert res["failed_eagain"] > 0, "the limit did not bite" + ctx
    objs, _ = twtest.parse_report(tool.stdout, ctx)
    rep = twtest.final_report(objs, ctx)
    proc = twtest.find_proc(rep, res["pid"], ctx)
    sites = proc["create_sites"]
    made = sum(s["count"] for s in sites if s["kind"] == "thread" and s["errno"] is None)
    failed = sum(s["count"] for s in sites if s["kind"] == "thread" and s["errno"] == "EAGAIN")
    assert made == res["created"] and failed == res["failed_eagain"], f"sites {sites}" + ctx
    assert rep["stack_stats"]["creations_not_attributed"] == 0, ctx
    for s in sites:
        funcs = [f["func"] for f in rep["stacks"][s["stack"]]]
        assert "spawn_holder" in funcs and "main" in funcs, f"site frames {funcs}" + ctx
        assert funcs.index("spawn_holder") < funcs.index("main"), f"{funcs}" + ctx
        assert any(f and "pthread_create" in f for f in funcs), f"{funcs}" + ctx


def test_pprof_read_by_go_tool_pprof(require_bpf, tmp_path):
    """--pprof is a gzipped profile.proto that Go's own reader (go tool pprof, Debian's
    golang-go) opens: the same off-CPU total as --folded, samples labelled pid, tid, thread and
    syscall, and read_body among the functions -top lists."""
    if not shutil.which("go"):
        if twtest.IN_CI:
            pytest.fail("CI=true: go (golang-go) is missing: make deps installs it", pytrace=False)
        pytest.skip("go tool pprof is not installed (golang-go)")
    pb = tmp_path / "stacks.pb.gz"
    cp, wl, text, ctx = run_handler(require_bpf, tmp_path, 40, 5000, extra=("--pprof", pb))
    assert pb.read_bytes()[:2] == b"\x1f\x8b", "not gzip" + ctx
    samples, raw = twtest.pprof_raw(pb, ctx)
    ctx += "\n" + raw[:3000]
    lines = folded_lines(text, ctx)
    total_ns = sum(s[0] for s in samples)
    folded_ns = sum(u for _, u in lines) * 1000
    assert abs(total_ns - folded_ns) <= 1000 * len(lines), \
        f"pprof {total_ns} ns vs folded {folded_ns} ns" + ctx
    tid = wl["handlers"][0]["tid"]
    mine = [s for s in samples if f"tid:[{tid}]" in s[2] and "syscall:[read]" in s[2]]
    assert mine and sum(s[1] for s in mine) == 40, f"{mine}" + ctx
    assert all(f"pid:[{wl['pid']}]" in s[2] and "thread:[handler]" in s[2] for s in mine), ctx
    top = twtest.run(["go", "tool", "pprof", "-top", "-sample_index=offcpu", pb], timeout=60)
    assert top.returncode == 0 and "read_body" in top.stdout, twtest.describe(top) + ctx


def test_kernel_addresses_hidden(require_bpf, tmp_path):
    """As nobody with only CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH (no CAP_SYSLOG),
    /proc/kallsyms reads zeros: one note on stderr and "[kernel]" frames, not garbage; the
    user frames are still there."""
    if not shutil.which("setpriv"):
        if twtest.IN_CI:
            pytest.fail("CI=true: setpriv (util-linux) is missing", pytrace=False)
        pytest.skip("setpriv is missing")
    pw = pwd.getpwnam("nobody")
    caps = ",+bpf,+perfmon,+dac_read_search"
    folded = tmp_path / "f.folded"
    os.chmod(tmp_path, 0o777)
    cp = twtest.run(["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                     "--clear-groups", f"--inh-caps=-all{caps}", f"--ambient-caps={caps[1:]}",
                     f"--bounding-set=-all{caps}", require_bpf, "--folded", folded, "--",
                     workload("handler"), "20", "5000"], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    assert cp.stderr.count("kernel addresses are hidden") == 1, ctx
    text = folded.read_text()
    lines = [ln for ln in text.splitlines() if "read_body" in ln]
    assert lines and all(ln.rpartition(" ")[0].endswith(";read;[kernel]") for ln in lines), \
        f"folded:\n{text}" + ctx
