# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Stacks of threads blocked now: BLOCKED NOW rows and loops STALLED NOW carry the stack they
are asleep in, taken while they sleep by the sleepable task iterator just before each report
(bpf/blockednow.bpf.c). The workload's threads went to sleep before the tool attached (-p after
they block) and are still asleep at the report; it is built like Debian's binaries (no frame
pointers), so the frames between the kernel and the workload's own are glibc's, unwound from
CFI."""
import json
import signal

import twtest
from twtest import workload

# each thread's own frames, innermost first, below the glibc call it sleeps in
READER = ["pipe_read_body", "serve_pipe", "reader_main"]
LOCKER = ["take_lock", "locker_main"]
LOOP = ["loop_read_stuck", "loop_handle", "loop_main"]


def run_stuck(tool_args, poke=True, duration=3):
    """blockednow asleep, then the tool attached with -p for `duration` s; with poke, the
    loop is woken once traced and its handler gets stuck in read(): a stall in progress.
    Returns (tool stdout, the workload's phase line, ctx)."""
    wl = twtest.Bg([workload("blockednow")], stdin=True)
    with wl:
        line = wl.wait_line("err", lambda s: '"phase":"asleep"' in s, 30)
        assert line, "blockednow never said its threads are asleep" + twtest.describe(wl)
        phase = json.loads(line)
        tool = twtest.Bg([twtest.tool_path(), "-p", str(wl.pid), "-d", str(duration),
                          "--blocked-ms", "300", *tool_args])
        with tool:
            traced = tool.wait_line("err", lambda s: "Tracing" in s, 30)
            if traced is None:
                tool.signal(signal.SIGINT)
            assert traced, "the tool never printed 'Tracing'" + twtest.describe(tool)
            if poke:
                wl.send("poke\n")
                assert wl.wait_line("err", lambda s: '"phase":"stuck"' in s, 10), \
                    "the loop's handler never got stuck" + twtest.describe(wl)
            rc = twtest.finish(tool, duration + 60)
            ctx = twtest.describe(tool)
            assert rc == 0, ctx
        wl.close_stdin()
        assert twtest.finish(wl, 10, "the workload") == 0, twtest.describe(wl)
    return tool.stdout, tool.stderr, phase, ctx


def frames_of(rep, idx, ctx):
    stacks = rep["stacks"]
    assert isinstance(idx, int) and 0 <= idx < len(stacks), \
        f"stack index {idx!r} not in the report's {len(stacks)} stacks" + ctx
    return stacks[idx]


def check_chain(frames, chain, libc_leaf, what, ctx):
    """The chain's functions in order (innermost first), in the workload's binary; before them
    glibc's frames (the call it sleeps in, unwound without frame pointers), before those the
    kernel's; after them glibc's thread start (start_thread, clone3)."""
    funcs = [f["func"] for f in frames]
    assert chain[0] in funcs, f"{what}: {chain[0]} not in its stack {funcs}" + ctx
    i = funcs.index(chain[0])
    assert funcs[i:i + len(chain)] == chain, f"{what}: chain out of order: {funcs}" + ctx
    for f in frames[i:i + len(chain)]:
        assert f["module"].endswith("/blockednow"), f"{what}: {f}" + ctx
    user = [f for f in frames if not f["module"].startswith("[")]
    kern = frames[:len(frames) - len(user)]
    assert kern, f"{what}: no kernel frames (where it sleeps): {funcs}" + ctx
    glibc = user[:user.index(frames[i])]
    assert glibc and all("libc.so" in f["module"] for f in glibc), \
        f"{what}: no glibc frames between the kernel and {chain[0]}: {funcs}" + ctx
    assert any(libc_leaf in (f["func"] or "") for f in glibc), \
        f"{what}: glibc's {libc_leaf} not unwound: {funcs}" + ctx
    outer = [f["func"] for f in frames[i + len(chain):]]
    assert "start_thread" in outer, f"{what}: not unwound to the thread's start: {funcs}" + ctx


def check_report(rep, phase, stalled, ctx):
    proc = twtest.find_proc(rep, phase["pid"], ctx)
    tids = phase["tids"]
    rows = {b["tid"]: b for b in proc["blocked_now"]}
    for name, chain, call, leaf in (("reader1", READER, "read", "read"),
                                    ("reader2", READER, "read", "read"),
                                    ("locker", LOCKER, "futex", "lock")):
        b = rows.get(tids[name])
        assert b, f"{name} ({tids[name]}) not in blocked_now: {proc['blocked_now']}" + ctx
        assert b["call"] == call and b["since_before_trace"] is True, f"{name}: {b}" + ctx
        check_chain(frames_of(rep, b["stack"], ctx), chain, leaf, name, ctx)
    if not stalled:
        return
    loops = [lp for lp in proc["loops"] if lp["tid"] == tids["loop"]]
    assert loops, f"the loop {tids['loop']} is not in loops: {proc['loops']}" + ctx
    ongoing = [s for s in loops[0]["stalls"] if s["ongoing"]]
    assert len(ongoing) == 1, f"no stall in progress: {loops[0]['stalls']}" + ctx
    assert ongoing[0]["longest_call"]["name"] == "read", f"{ongoing[0]}" + ctx
    check_chain(frames_of(rep, ongoing[0]["stack"], ctx), LOOP, "read", "loop", ctx)
    stats = rep["blocked_now_stacks"]
    assert stats["asked"] >= 4 and stats["taken"] == stats["asked"] and stats["woke"] == 0, \
        f"blocked_now_stacks {stats}" + ctx


def test_json_blocked_now_and_stall_stacks(require_bpf):
    """JSON, every interval report and the final one: each reader's and the locker's
    blocked_now row references the stack it sleeps in (glibc's read / pthread_mutex_lock, then
    the workload's functions in order, then start_thread), and the loop's ongoing stall
    references the stack its handler is stuck in. An interval report's stacks table holds the
    stacks its rows reference."""
    out, _, phase, ctx = run_stuck(["--format", "json", "-i", "1"])
    objs, _ = twtest.parse_report(out, ctx)
    rep = twtest.final_report(objs, ctx)
    assert rep["stacks_on"] is True, ctx
    check_report(rep, phase, True, ctx)
    intervals = [o for o in objs if o["type"] == "interval"]
    assert len(intervals) >= 2, f"{len(intervals)} interval reports" + ctx
    # the last interval, past the poke: the stall is in it too
    check_report(intervals[-1], phase, True, ctx)
    refs = {b["stack"] for p in intervals[-1]["processes"] for b in p["blocked_now"]}
    assert len(intervals[-1]["stacks"]) == len(refs | {
        s["stack"] for p in intervals[-1]["processes"] for lp in p["loops"]
        for s in lp["stalls"] if s["ongoing"]}), f"{intervals[-1]['stacks']}" + ctx


def test_text_stuck_in(require_bpf):
    """Text: under each BLOCKED NOW row and the STALLED NOW row, the stack it is stuck in from
    its first frame past libc, outward, as the "where" lines."""
    out, _, phase, ctx = run_stuck(["--format", "text"])
    lines = out.splitlines()
    tids = phase["tids"]

    def stuck_after(prefix):
        for i, ln in enumerate(lines):
            if ln.lstrip().startswith(prefix):
                assert i + 1 < len(lines) and "stuck in:" in lines[i + 1], \
                    f"no 'stuck in:' line under {ln!r}" + ctx
                return lines[i + 1]
        raise AssertionError(f"no row starting {prefix!r}" + ctx)

    for name, chain in (("reader1", READER), ("reader2", READER), ("locker", LOCKER)):
        assert " < ".join(chain) in stuck_after(str(tids[name])), ctx
    stall = stuck_after(f"STALLED NOW: loop {tids['loop']}")
    assert " < ".join(LOOP) in stall, ctx


def test_raw_tp(require_bpf):
    """The same with raw_tp: the iterator checks the thread's entry in the hash."""
    out, _, phase, ctx = run_stuck(["--format", "json", "--attach-mode", "raw_tp"], duration=2)
    objs, _ = twtest.parse_report(out, ctx)
    check_report(twtest.final_report(objs, ctx), phase, True, ctx)


def test_no_stacks(require_bpf):
    """--no-stacks: rows say "stack": null, and the iterator is not loaded."""
    out, err, phase, ctx = run_stuck(["--format", "json", "--no-stacks"], poke=False,
                                     duration=1)
    objs, _ = twtest.parse_report(out, ctx)
    rep = twtest.final_report(objs, ctx)
    proc = twtest.find_proc(rep, phase["pid"], ctx)
    assert proc["blocked_now"] and all(b["stack"] is None for b in proc["blocked_now"]), ctx
    assert "blocked_now_stacks" not in rep, ctx
