#!/usr/bin/python3
"""Host-side check of one kernel-matrix VM run (stdlib only).

Reads the guest's serial console log, finds the markers printed by
tests/vm/guest-init.sh and tests/vm/guest-check.sh, validates the tool's
final JSON report for every attach mode and prints ONE summary line:

    vm 6.1.0-56-cloud-amd64: PASS (attach auto=tp_btf, raw_tp ok)

Reasons for a failure go to stderr.  Exit status 0 = pass, 1 = fail.

Expected report for `blockers N MS` (see tests/vm/README.md):
  the workload process has threads_created == N, threads_exited == N,
  threads_peak == N + 1, thread_create_failures == 0, N worker threads
  (tid != pid), and each worker's blocked_max_ns is the read(): at least
  0.9 * MS * 1e6 ns and at most the read() time the workload measured; its
  blocked_hist has that max in a bucket with count >= 1.  Buckets are the
  schema-2 ones of docs/json.md: [lo, hi) integers of (2^((k-1)/4), 2^(k/4)],
  the zero bucket [0, 65), the overflow bucket above 2^42.

With CPython packed (--python), the Python frames cases of guest-check.sh (TW-VM-PY blocks):
each thread's Python frames exactly as the workload read them from sys._current_frames()
(tests/vm/README.md, "Python frames").
"""
import argparse
import json
import re
import sys
from pathlib import Path


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", required=True, help="serial console log of the VM")
    ap.add_argument("--label", required=True,
                    help="kernel name to print when the guest never said its own")
    ap.add_argument("--expect-kernel", default="",
                    help="uname -r the guest must report (empty: do not check)")
    ap.add_argument("--check", choices=["real", "standin"], required=True)
    ap.add_argument("--modes", default="auto,raw_tp")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--ms", type=int, default=200)
    ap.add_argument("--workload-comm", default="blockers")
    ap.add_argument("--qemu-rc", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=0, help="host timeout used, for messages")
    ap.add_argument("--python", default="none",
                    help="the CPython packed into the initramfs (none: no Python cases)")
    return ap.parse_args()


def read_log(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        return None, str(e)
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n"), None


def blocks(lines, begin, end):
    """{mode: (header_fields, [lines])} for BEGIN/END marker pairs."""
    out = {}
    cur = None
    for ln in lines:
        if ln.startswith(begin + " "):
            fields = dict(kv.split("=", 1) for kv in ln[len(begin) + 1:].split() if "=" in kv)
            cur = (fields, [])
            out[fields.get("mode", "?")] = cur
        elif ln.startswith(end + " "):
            cur = None
        elif cur is not None:
            cur[1].append(ln)
    return out


def final_report(body):
    for ln in reversed(body):
        ln = ln.strip()
        if not ln.startswith("{"):
            continue
        try:
            obj = json.loads(ln)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("type") == "final":
            return obj
    return None


def workload_report(body, pid):
    """The workload's own JSON line (blockers prints one), for process pid."""
    for ln in body:
        ln = ln.strip()
        if not ln.startswith("{"):
            continue
        try:
            obj = json.loads(ln)
        except ValueError:
            continue
        if isinstance(obj, dict) and "workload" in obj and obj.get("pid") == pid:
            return obj
    return None


# the bucket schema (docs/json.md), from the end-to-end suite's helpers: one definition
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from twtest import HIST_SLOTS, STACK_LOSSES, hist_hi, hist_lo, hist_slot  # noqa: E402


def check_hist(name, hist, errs, where):
    if not isinstance(hist, list):
        errs.append(f"{where}: {name} is not a list")
        return []
    good = []
    for b in hist:
        if not (isinstance(b, list) and len(b) == 3 and all(isinstance(x, int) for x in b)):
            errs.append(f"{where}: {name} bucket {b!r} is not [lo_ns, hi_ns, count]")
            continue
        lo, hi, cnt = b
        k = hist_slot(lo)
        if (lo, hi) != (hist_lo(k), hist_hi(k)):
            errs.append(f"{where}: {name} bucket {b!r} is not a schema-2 bucket "
                        f"(expected [{hist_lo(k)}, {hist_hi(k)}))")
        if cnt < 0:
            errs.append(f"{where}: {name} bucket {b!r} has a negative count")
        good.append(b)
    return good


def check_report(rep, mode, a, errs, notes, body):
    """Validate one final report; return the attach type it reports."""
    attach = rep.get("attach")
    if attach not in ("tp_btf", "raw_tp"):
        errs.append(f"mode={mode}: \"attach\" is {attach!r}, expected tp_btf or raw_tp")
    elif mode != "auto" and attach != mode:
        errs.append(f"mode={mode}: forced --attach-mode {mode} but report says attach={attach}")
    lost = rep.get("lost")
    if isinstance(lost, dict) and any(v for v in lost.values() if isinstance(v, (int, float))):
        # a stock kernel emits every sched_switch: nothing may be lost here
        # (unlike the sandbox kernel CI runs on; see docs/json.md "lost")
        errs.append(f"mode={mode}: tool reports lost events {lost}")
    procs = rep.get("processes")
    if not isinstance(procs, list) or not procs:
        errs.append(f"mode={mode}: no \"processes\" in the report")
        return attach
    cands = [p for p in procs if isinstance(p, dict) and p.get("comm") == a.workload_comm]
    if not cands and len(procs) == 1:
        cands = procs
    if not cands:
        errs.append(f"mode={mode}: no process with comm={a.workload_comm!r} in the report "
                    f"(comms: {[p.get('comm') for p in procs if isinstance(p, dict)]})")
        return attach
    if len(cands) > 1:
        errs.append(f"mode={mode}: {len(cands)} processes with comm={a.workload_comm!r}, expected 1")
    p = cands[0]
    where = f"mode={mode} pid={p.get('pid')}"
    want = {"threads_created": a.n, "threads_exited": a.n,
            "threads_peak": a.n + 1, "thread_create_failures": 0}
    for k, v in want.items():
        if p.get(k) != v:
            errs.append(f"{where}: {k}={p.get(k)!r}, expected {v}")
    threads = p.get("threads")
    if not isinstance(threads, list):
        errs.append(f"{where}: no \"threads\" list")
        return attach
    workers = [t for t in threads if isinstance(t, dict) and t.get("tid") != p.get("pid")]
    if len(workers) != a.n:
        errs.append(f"{where}: {len(workers)} worker threads (tid != pid) in the report, "
                    f"expected {a.n} (tids: {[t.get('tid') for t in threads if isinstance(t, dict)]})")
    target = a.ms * 1_000_000
    # blockers prints its own report: worker tids and how long each read() took.
    wl = workload_report(body, p.get("pid"))
    read_ns = {}
    if wl and isinstance(wl.get("workers"), list):
        read_ns = {w.get("tid"): w.get("read_ns") for w in wl["workers"] if isinstance(w, dict)}
        got = sorted(t.get("tid") for t in workers)
        if sorted(read_ns) != got:
            errs.append(f"{where}: worker tids {got} differ from the ones the workload "
                        f"reports {sorted(read_ns)}")
    for t in threads:
        if not isinstance(t, dict):
            continue
        tw = f"{where} tid={t.get('tid')}"
        for key in ("oncpu_ns", "blocked_ns", "runq_ns", "vol_switches", "invol_switches"):
            if not isinstance(t.get(key), int) or t.get(key) < 0:
                errs.append(f"{tw}: {key}={t.get(key)!r} is not a non-negative integer")
        check_hist("runq_hist", t.get("runq_hist"), errs, tw)
        bh = check_hist("blocked_hist", t.get("blocked_hist"), errs, tw)
        if t in workers:
            rn = read_ns.get(t.get("tid"))
            mx = t.get("blocked_max_ns")
            top = rn if isinstance(rn, int) else None
            if not isinstance(mx, int):
                errs.append(f"{tw}: blocked_max_ns={mx!r} is not an integer")
            elif mx < 0.9 * target or (top is not None and mx > top):
                # the longest blocked interval is the read(), inside the workload's own timing
                errs.append(f"{tw}: blocked_max_ns={mx} is not the read(): expected "
                            f"{0.9 * target:.0f} .. {top if top is not None else 'any'} ns")
            elif not any(b[0] <= mx < b[1] and b[2] >= 1 for b in bh):
                errs.append(f"{tw}: blocked_hist has no bucket holding blocked_max_ns={mx}: "
                            f"blocked_hist={bh}")
            elif isinstance(rn, int) and rn > 1.2 * target:
                # Slow emulation: the read() took longer than asked; the tool saw it.
                notes.append(f"{tw}: read() took {rn / 1e6:.1f} ms (asked {a.ms} ms); "
                             f"blocked_max_ns {mx / 1e6:.1f} ms (the rest of it waited for a CPU)")
    check_stacks(rep, p, workers, where, errs)
    return attach


def check_stacks(rep, p, workers, where, errs):
    """With stacks on (the default with syscalls), every worker's read() has its stack, unwound
    from CFI through glibc's read to the workload's worker_main (no frame pointers anywhere)."""
    if not rep.get("stacks_on"):
        return
    stacks = rep.get("stacks")
    samples = p.get("stack_samples")
    if not isinstance(stacks, list) or not isinstance(samples, list):
        errs.append(f"{where}: stacks_on but no \"stacks\" table or \"stack_samples\"")
        return
    for t in workers:
        mine = [s for s in samples if isinstance(s, dict) and s.get("tid") == t.get("tid")
                and s.get("syscall") == "read"]
        if not mine:
            errs.append(f"{where} tid={t.get('tid')}: no stack sample of its read()")
            continue
        for s in mine:
            idx = s.get("stack")
            frames = stacks[idx] if isinstance(idx, int) and 0 <= idx < len(stacks) else None
            funcs = [f.get("func") for f in frames or [] if isinstance(f, dict)]
            if "worker_main" not in funcs or funcs.index("worker_main") == 0:
                errs.append(f"{where} tid={t.get('tid')}: read()'s stack {funcs} does not "
                            "unwind through glibc's read to worker_main")


STUCK = {"reader": "read", "sleeper": "clock_nanosleep", "hung": "read"}


# presleep's threads stuck in read(), and the function below glibc's read in each
NOW_FRAMES = {"reader": "reader_main", "hung": "loop_main"}


def check_now_stacks(rep, phase, listed, where, errs):
    """With stacks on, the blocked_now rows of threads stuck in read() since before the trace
    reference the stack they sleep in (the sleepable task iterator, bpf/blockednow.bpf.c:
    5.18+), unwound through glibc's read to the workload's own function."""
    if not rep.get("stacks_on"):
        return
    stacks = rep.get("stacks") if isinstance(rep.get("stacks"), list) else []
    for name, fn in NOW_FRAMES.items():
        e = listed.get(phase["tids"][name])
        if e is None:
            continue  # already reported
        idx = e.get("stack")
        frames = stacks[idx] if isinstance(idx, int) and 0 <= idx < len(stacks) else []
        funcs = [f.get("func") for f in frames if isinstance(f, dict)]
        if fn not in funcs or funcs.index(fn) == 0:
            errs.append(f"{where}: {name}'s blocked_now row has no stack through glibc's "
                        f"read to {fn}: stack={idx!r} {funcs}")


def check_attach(fields, body, mode, errs):
    """presleep's threads, asleep since before the trace (guest-check.sh): blocked
    from the attach, listed blocked now with their call since they last ran (the
    task iterator's time: never before the workload says it went to sleep); the
    idle epoll loop never listed."""
    where = f"attach mode={mode}"
    if fields.get("rc") != "0" or fields.get("wrc") != "0":
        errs.append(f"{where}: tool rc={fields.get('rc')}, presleep rc={fields.get('wrc')}")
    phase, rep = None, None
    for ln in body:
        ln = ln.strip()
        if not ln.startswith("{"):
            continue
        try:
            obj = json.loads(ln)
        except ValueError:
            continue
        if obj.get("phase") == "asleep":
            phase = obj
        elif obj.get("type") == "final":
            rep = obj
    if phase is None or rep is None:
        errs.append(f"{where}: no presleep phase line or no final report")
        return
    procs = [p for p in rep.get("processes", []) if p.get("pid") == phase["pid"]]
    if len(procs) != 1:
        errs.append(f"{where}: presleep (pid {phase['pid']}) not in the report")
        return
    p = procs[0]
    rows = {t.get("tid"): t for t in p.get("threads", [])}
    listed = {e.get("tid"): e for e in p.get("blocked_now", [])}
    dur = rep.get("duration_s", 0) * 1e9
    no_since = []
    for name, call in STUCK.items():
        tid, asleep = phase["tids"][name], phase["asleep_ns"][name]
        r, e = rows.get(tid), listed.get(tid)
        if r is None or r.get("blocked_ns", 0) < 0.8 * dur:
            errs.append(f"{where}: {name} blocked {r and r.get('blocked_ns')} ns, "
                        f"expected about the run's {dur:.0f}")
        if e is None:
            errs.append(f"{where}: {name} ({tid}) not in blocked_now: {p.get('blocked_now')}")
            continue
        if e.get("call") != call or e.get("since_before_trace") is not True:
            errs.append(f"{where}: {name}: {e}, expected {call} since before the trace")
        since = e.get("since_ns")
        if since is None:
            # the estimate is refused when its clocks disagree (6.12: a sleeping task left
            # queued by delayed dequeue may move to another CPU's run queue); the row then
            # says "at least since the attach", which is true: only all missing is wrong
            no_since.append(name)
        elif not asleep - 1_000_000 <= since <= asleep + 1_000_000_000:
            errs.append(f"{where}: {name}: since_ns {since} vs asleep at {asleep}")
    if no_since and len(no_since) == len(STUCK):
        errs.append(f"{where}: no since_ns for any of {no_since}: the task iterator did not run?")
    check_now_stacks(rep, phase, listed, where, errs)
    idle = phase["tids"]["idle"]
    if idle in listed or p.get("idle_waiting", 0) < 1:
        errs.append(f"{where}: idle loop {idle} listed blocked, or idle_waiting "
                    f"{p.get('idle_waiting')} < 1")


HOT_CHAIN = ["crunch_numbers_hot", "on_tick", "stall_event_loop"]
READ_CHAIN = ["slow_pipe_read", "on_request", "on_tick", "stall_event_loop"]


def has_chain(funcs, chain):
    return any(funcs[i:i + len(chain)] == chain for i in range(len(funcs)))


def check_stall(fields, body, mode, errs, notes):
    """stallloop's two stalls (guest-check.sh): the blocked one names its read() chain; the
    on-CPU one carries >= 5 cpu-clock samples per 100 ms naming the hot function, or, where
    perf events cannot be opened, the tool said so on stderr and ran on."""
    where = f"stall mode={mode}"
    rep = final_report(body)
    wl = None
    for ln in body:
        ln = ln.strip()
        if ln.startswith("{") and '"workload":"stallloop"' in ln:
            wl = json.loads(ln)
    if fields.get("rc") != "0" or rep is None or wl is None:
        errs.append(f"{where}: rc={fields.get('rc')}, final report or workload line missing")
        return
    procs = [p for p in rep.get("processes", []) if p.get("pid") == wl["pid"]]
    loops = [lp for p in procs for lp in p.get("loops", []) if lp.get("tid") == wl["tid"]]
    if len(loops) != 1:
        errs.append(f"{where}: no loop {wl['tid']} in the report")
        return

    def stall_at(start, dur):
        hit = [s for s in loops[0].get("stalls", [])
               if s["start_ns"] <= start and s["start_ns"] + s["duration_ns"] >= start + dur]
        return hit[0] if len(hit) == 1 else None

    stacks = rep.get("stacks", [])

    def funcs(i):
        return [f.get("func") for f in stacks[i]] if 0 <= i < len(stacks) else []

    rd = stall_at(wl["read_start_ns"], wl["read_ns"])
    if rd is None or not any(s["kind"] == "blocked" and has_chain(funcs(s["stack"]), READ_CHAIN)
                             for s in rd.get("stacks", [])):
        errs.append(f"{where}: the blocked stall has no {READ_CHAIN} stack: {rd}")
    hot = stall_at(wl["hot_start_ns"], wl["hot_wall_ns"])
    period = rep.get("stack_stats", {}).get("oncpu_period_ns", 0)
    if period == 0:
        said = [ln for ln in body if "note:" in ln and "on CPU" in ln]
        if not said:
            errs.append(f"{where}: the on-CPU sampler is off and the tool did not say why")
        else:
            notes.append(f"{where}: no on-CPU stall stacks here: {said[0].lstrip(' |')[:200]}")
        return
    oncpu = [s for s in (hot or {}).get("stacks", []) if s["kind"] == "oncpu"]
    n = sum(s["samples"] for s in oncpu)
    need = int(5 * wl["hot_cpu_ns"] / 100e6)
    if hot is None or n < need or not has_chain(funcs(oncpu[0]["stack"]), HOT_CHAIN):
        errs.append(f"{where}: on-CPU stall with {n} samples (need {need}) or without "
                    f"{HOT_CHAIN} first: {hot}")


# ---- Python frames (issue 12): the host's tests/e2e/test_pyframes.py and test_pystalls.py,
# run in the guest by guest-check.sh (TW-VM-PY blocks) ----------------------------------------

def py_blocks(lines):
    """{(case, mode): (header_fields, workload_obj, report, folded_lines, stderr_lines)}."""
    out, cur = {}, None
    for ln in lines:
        if ln.startswith("TW-VM-PY-BEGIN "):
            f = dict(kv.split("=", 1) for kv in ln.split()[1:] if "=" in kv)
            cur = (f, [], [], [], [])
            out[(f.get("case"), f.get("mode"))] = cur
        elif ln.startswith("TW-VM-PY-END "):
            cur = None
        elif cur is not None:
            if ln.startswith("TW-PY-WL "):
                cur[1].append(ln[len("TW-PY-WL "):])
            elif ln.startswith("TW-PY-FOLDED "):
                cur[3].append(ln[len("TW-PY-FOLDED "):])
            elif ln.startswith("  | "):
                cur[4].append(ln[4:])
            else:
                cur[2].append(ln)
    res = {}
    for key, (f, wl, body, folded, err) in out.items():
        w = None
        for ln in wl:
            try:
                w = json.loads(ln)
            except ValueError:
                pass
        res[key] = (f, w, final_report(body), folded, err)
    return res


def py_frames(stack):
    """The Python frames of a JSON stack, innermost first, as [qualname, file, line]."""
    return [[f.get("func"), f.get("file"), f.get("line")] for f in stack
            if isinstance(f, dict) and f.get("kind") == "python"]


def py_stack(rep, idx):
    stacks = rep.get("stacks") if isinstance(rep.get("stacks"), list) else []
    return stacks[idx] if isinstance(idx, int) and 0 <= idx < len(stacks) else []


def py_proc(rep, pid, where, errs):
    procs = [p for p in rep.get("processes", []) if p.get("pid") == pid]
    if len(procs) != 1:
        errs.append(f"{where}: the workload (pid {pid}) is not in the report")
        return None
    return procs[0]


def py_lost(rep, where, errs):
    """Nothing lost (a stock kernel emits every event) but what stack captures may lose, and
    of that no Python frames cut, unreadable or of an unknown version (as test_pyframes)."""
    lost = rep.get("lost", {})
    strict = ("python_version_unknown", "python_frames_unreadable", "python_frames_cut")
    bad = {k: v for k, v in lost.items() if v and (k in strict or k not in STACK_LOSSES)}
    if bad:
        errs.append(f"{where}: lost {bad}")


def py_native_below(stack, name, where, errs, native=None):
    """Native frames below the innermost Python frame (one naming `native` if given), and no
    _PyEval_EvalFrameDefault left where the Python frames were put."""
    first = next((i for i, f in enumerate(stack) if f.get("kind") == "python"), None)
    below = [f.get("func") or "" for f in stack[:first or 0]]
    if not below or (native and not any(native in fn for fn in below)):
        errs.append(f"{where}: {name}: no native {native or ''} frame below the Python "
                    f"frames: {[f.get('func') for f in stack]}")
    if any(f.get("func") == "_PyEval_EvalFrameDefault" for f in stack):
        errs.append(f"{where}: {name}: an eval-loop frame is left: "
                    f"{[f.get('func') for f in stack]}")


def py_no_stacks(rep, err, where, errs, notes):
    """Stacks off (a kernel or mode without them): the tool must have said why on stderr."""
    if rep.get("stacks_on"):
        return False
    said = [ln for ln in err if "stack" in ln.lower()]
    if not said:
        errs.append(f"{where}: stacks off and the tool did not say why")
    else:
        notes.append(f"{where}: no stacks here: {said[0][:200]}")
    return True


# pyframes_pool.py's blocked threads: the call, the innermost Python function, a native frame
POOL = {"recv0": ("recvfrom", "fetch_upstream", "recv"),
        "recv1": ("recvfrom", "fetch_upstream", "recv"),
        "lock0": ("futex", "take_lock", None), "lock1": ("futex", "take_lock", None)}


def check_py_pool(rep, wl, folded, err, where, errs, notes):
    """test_pool_workers_name_their_python_frames: each pool worker's heaviest sample in its
    call has exactly the Python frames sys._current_frames() showed (names, files, lines);
    --folded names fetch_upstream with its file and line above recv; spawn_workers' 3 threads
    are one creation site naming it, counting exactly 3."""
    if wl.get("version") != [3, 11]:
        errs.append(f"{where}: the workload runs Python {wl.get('version')}, expected 3.11")
    p = py_proc(rep, wl.get("pid"), where, errs)
    if p is None or py_no_stacks(rep, err, where, errs, notes):
        return
    for name, (call, fn, native) in POOL.items():
        want = wl["blocked"][name]
        mine = sorted((s for s in p.get("stack_samples", [])
                       if s.get("tid") == want["tid"] and s.get("syscall") == call),
                      key=lambda s: -s.get("blocked_ns", 0))
        if not mine:
            errs.append(f"{where}: no {call} stack sample of {name} (tid {want['tid']})")
            continue
        stack = py_stack(rep, mine[0].get("stack"))
        got = py_frames(stack)
        if mine[0].get("blocked_ns", 0) < 300_000_000:
            errs.append(f"{where}: {name}: its heaviest {call} sample is {mine[0]}")
        if got != want["frames"] or not got or got[0][0] != fn:
            errs.append(f"{where}: {name}: Python frames {got}, the workload saw "
                        f"{want['frames']} (innermost {fn})")
        py_native_below(stack, name, where, errs, native)
    line = wl["blocked"]["recv0"]["frames"][0][2]
    label = f"fetch_upstream (pyframes_pool.py:{line})"
    hits = [ln.rpartition(" ")[0].split(";") for ln in folded if label in ln.split(";")]
    root = f"python3.11-{wl.get('pid')}"
    if not hits:
        errs.append(f"{where}: no --folded line with {label!r} ({len(folded)} lines)")
    elif any(h[0] != root or "ThreadPoolExecutor" in "".join(h[h.index(label) + 1:])
             for h in hits) or \
            not any(any("recv" in f for f in h[h.index(label) + 1:]) for h in hits):
        errs.append(f"{where}: --folded lines with {label!r} not rooted at {root}, with pool "
                    f"frames below it or without recv below: {hits[:2]}")
    sites = [s for s in p.get("create_sites", [])
             if "spawn_workers" in [f[0] for f in py_frames(py_stack(rep, s.get("stack")))]]
    if len(sites) != 1 or sites[0].get("count") != wl.get("spawned") or \
            sites[0].get("kind") != "thread" or sites[0].get("errno") is not None:
        errs.append(f"{where}: spawn_workers creation sites {sites}, expected one of "
                    f"{wl.get('spawned')} threads")
    else:
        names = [f[0] for f in py_frames(py_stack(rep, sites[0]["stack"]))]
        if "Thread.start" not in names or \
                names.index("Thread.start") > names.index("spawn_workers"):
            errs.append(f"{where}: the creation site's frames {names} lack Thread.start "
                        "under spawn_workers")
    py_lost(rep, where, errs)


def check_py_stall(rep, wl, err, where, errs, notes):
    """test_stall_stacks_name_the_coroutine: the blocked stall's heaviest blocked stack is the
    handler's time.sleep (sleeping_handler at the line of the call, clock_nanosleep below,
    run_forever above); the on-CPU stall's samples (>= 5, and half of 5 per 100 ms on CPU) are
    80% or more in crunch under crunching_handler at its call line."""
    p = py_proc(rep, wl.get("pid"), where, errs)
    if p is None or py_no_stacks(rep, err, where, errs, notes):
        return
    loops = [lp for lp in p.get("loops", []) if lp.get("tid") == wl.get("loop_tid")]
    if not loops:
        errs.append(f"{where}: the asyncio loop {wl.get('loop_tid')} was not seen")
        return
    stalls = loops[0].get("stalls", [])

    def around(causes, start, end):
        """The stall spanning the call, by the workload's own clock: under TCG on a busy host
        the loop's first turns can stall as long, on CPU, before the handlers."""
        return [s for s in stalls if s["cause"] in causes and s["start_ns"] <= start
                and s["start_ns"] + s["duration_ns"] >= end and s["duration_ns"] >= 250_000_000]

    blocked = around(("blocked",), wl["sleep_start_ns"], wl["sleep_end_ns"])
    # the computing handler's stall: on CPU, or, where the guest's other threads (the tool's)
    # kept it waiting for a CPU longer than it ran, "runq"; its samples are checked the same
    oncpu = around(("oncpu", "runq"), wl["crunch_start_ns"], wl["crunch_end_ns"])
    if oncpu and oncpu[0]["cause"] == "runq":
        notes.append(f"{where}: the crunch stall waited for a CPU more than it ran: "
                     f"{oncpu[0]['oncpu_ns']} ns on CPU, {oncpu[0]['runq_ns']} ns waiting")
    if not blocked or not oncpu:
        errs.append(f"{where}: no blocked stall around time.sleep or on-CPU one around crunch "
                    f"(250 ms or more): {stalls}")
        return
    st = [x for x in blocked[0].get("stacks", []) if x["kind"] == "blocked"]
    top = max(st, key=lambda x: x["ns"]) if st else {}
    stack = py_stack(rep, top.get("stack"))
    got = py_frames(stack)
    want = ["sleeping_handler", "/tw/py/pystall.py", wl.get("sleep_line")]
    if top.get("syscall") != "clock_nanosleep" or top.get("ns", 0) < 250_000_000 or \
            not got or got[0] != want or not any(f[0].endswith("run_forever") for f in got):
        errs.append(f"{where}: the blocked stall's heaviest stack {top} has Python frames "
                    f"{got}, expected {want} innermost, run_forever above")
    else:
        py_native_below(stack, "sleeping_handler", where, errs, "clock_nanosleep")
    if rep.get("stack_stats", {}).get("oncpu_period_ns", 0) == 0:
        said = [ln for ln in err if "note:" in ln and "on CPU" in ln]
        if not said:
            errs.append(f"{where}: the on-CPU sampler is off and the tool did not say why")
        else:
            notes.append(f"{where}: no on-CPU stall stacks here: {said[0][:200]}")
        return
    st = [x for x in oncpu[0].get("stacks", []) if x["kind"] == "oncpu"]
    n = sum(x["samples"] for x in st)
    in_crunch = 0
    for x in st:
        fr = py_frames(py_stack(rep, x["stack"]))
        names = [f[0] for f in fr]
        if "crunch" in names:
            i = names.index("crunch")
            if names[i + 1:i + 2] != ["crunching_handler"] or \
                    fr[i + 1][2] != wl.get("crunch_call_line") or \
                    fr[i][2] < wl.get("crunch_first_line", 0):
                errs.append(f"{where}: an on-CPU sample in crunch with frames {fr}")
            in_crunch += x["samples"]
    if n < 5 or n < 5 * oncpu[0]["oncpu_ns"] / 100e6 * 0.5 or in_crunch < 0.8 * n:
        errs.append(f"{where}: {n} on-CPU samples ({in_crunch} in crunch) in a stall "
                    f"{oncpu[0]['oncpu_ns']} ns on CPU")
    else:
        notes.append(f"{where}: {n} on-CPU samples, {in_crunch} in crunch < crunching_handler")
    py_lost(rep, where, errs)


def check_py_now(rep, wl, err, where, errs, notes):
    """A thread blocked in recv since before the attach (lifelong_reader): its blocked-now row
    (the sleepable task iterator: bpf_copy_from_user_task) has a stack whose Python frames are
    the ones sys._current_frames() showed, recv below."""
    want = wl["blocked"]["lifelong"]
    p = py_proc(rep, wl.get("pid"), where, errs)
    if p is None or py_no_stacks(rep, err, where, errs, notes):
        return
    rows = [e for e in p.get("blocked_now", []) if e.get("tid") == want["tid"]]
    if len(rows) != 1:
        errs.append(f"{where}: lifelong_reader ({want['tid']}) not in blocked_now: "
                    f"{p.get('blocked_now')}")
        return
    e = rows[0]
    stack = py_stack(rep, e.get("stack"))
    got = py_frames(stack)
    if e.get("call") != "recvfrom" or not e.get("since_before_trace") or \
            got != want["frames"] or not got or got[0][0] != "lifelong_reader":
        errs.append(f"{where}: lifelong_reader's row {e} has Python frames {got}, the workload "
                    f"saw {want['frames']} (asleep in recvfrom since before the trace)")
    else:
        py_native_below(stack, "lifelong_reader", where, errs, "recv")
    py_lost(rep, where, errs)


PY_CASES = {"pool": check_py_pool, "stall": check_py_stall, "now": check_py_now}


def check_python(lines, modes, errs, notes):
    """Every case in every mode: rc 0, the workload's line, a final report, then its checks."""
    pb = py_blocks(lines)
    for mode in modes:
        for case, fn in PY_CASES.items():
            if case == "stall" and mode != modes[0]:
                continue  # guest-check.sh runs it in the first mode only
            where = f"python {case} mode={mode}"
            if (case, mode) not in pb:
                errs.append(f"{where}: no TW-VM-PY block on the console")
                continue
            f, wl, rep, folded, err = pb[(case, mode)]
            if f.get("rc") != "0" or wl is None or rep is None:
                last = [ln for ln in err if ln.strip()]
                errs.append(f"{where}: rc={f.get('rc')}, workload line "
                            f"{'missing' if wl is None else 'ok'}, final report "
                            f"{'missing' if rep is None else 'ok'}"
                            + (f": {last[-1][:240]}" if last else ""))
                continue
            # a program the verifier rejects must not hide behind the loader's fallbacks:
            # auto is tp_btf on these kernels, and every program loaded
            want = "tp_btf" if mode == "auto" else mode
            if rep.get("attach") != want:
                errs.append(f"{where}: report says attach={rep.get('attach')}, expected {want}")
            fell = [ln for ln in err if "did not load" in ln or "load failed" in ln]
            if fell:
                errs.append(f"{where}: {fell[0][:240]}")
            try:
                if case == "pool":
                    fn(rep, wl, folded, err, where, errs, notes)
                else:
                    fn(rep, wl, err, where, errs, notes)
            except (KeyError, TypeError, IndexError, ValueError) as e:
                errs.append(f"{where}: malformed report or workload line ({e!r})")


def main():
    a = parse_args()
    lines, err = read_log(a.log)
    errs, notes = [], []
    kernel = a.label
    if lines is None:
        errs.append(f"cannot read console log: {err}")
        lines = []
    for ln in lines:
        if ln.startswith("TW-VM-KERNEL: "):
            kernel = ln.split(": ", 1)[1].strip()
    result = [ln for ln in lines if ln.startswith("TW-VM-RESULT: ")]
    guest_fail = None
    if a.qemu_rc == 124:
        errs.append(f"VM timed out after {a.timeout}s (host timeout killed qemu)")
    elif a.qemu_rc != 0:
        errs.append(f"qemu exited with status {a.qemu_rc}")
    if any("Kernel panic" in ln for ln in lines):
        errs.append("guest kernel panicked")
    if not result:
        errs.append("no TW-VM-RESULT marker on the console (guest hung, panicked or init failed)")
    else:
        res = result[-1]
        if not res.startswith("TW-VM-RESULT: PASS "):
            guest_fail = f"guest says: {res[len('TW-VM-RESULT: '):].strip()}"
        if a.expect_kernel and kernel != a.expect_kernel:
            errs.append(f"guest runs kernel {kernel}, expected {a.expect_kernel}")

    parts = []
    if a.check == "standin":
        if result and "check=standin" not in result[-1]:
            errs.append("host asked for the stand-in check but the guest ran another one")
        parts.append("stand-in check: BTF + tracefs + bpffs ok; tool/workload not built")
    else:
        jb = blocks(lines, "TW-VM-JSON-BEGIN", "TW-VM-JSON-END")
        eb = blocks(lines, "TW-VM-STDERR-BEGIN", "TW-VM-STDERR-END")
        for mode in [m for m in a.modes.split(",") if m]:
            if mode not in jb:
                if result:
                    errs.append(f"mode={mode}: no TW-VM-JSON block on the console")
                continue
            hdr, body = jb[mode]
            if hdr.get("rc", "0") != "0":
                last = [ln.lstrip(" |").strip() for ln in eb.get(mode, ({}, []))[1]]
                last = [ln for ln in last if ln]
                why = f": {last[-1][:240]}" if last else ""
                errs.append(f"mode={mode}: tool exited with rc={hdr.get('rc')}"
                            + (" (timed out in the guest)" if hdr.get("rc") == "124" else "") + why)
            rep = final_report(body)
            if rep is None:
                errs.append(f"mode={mode}: no parseable {{\"type\":\"final\",...}} JSON line on stdout")
                continue
            n_before = len(errs)
            attach = check_report(rep, mode, a, errs, notes, body)
            ok = len(errs) == n_before
            if mode == "auto":
                parts.append(f"attach auto={attach}" + ("" if ok else " BAD"))
            else:
                parts.append(f"{mode} {'ok' if ok else 'BAD'}" +
                             ("" if attach == mode else f" (attach={attach})"))

        ab = blocks(lines, "TW-VM-ATTACH-BEGIN", "TW-VM-ATTACH-END")
        if result and "attach=checked" in result[-1]:
            n_before = len(errs)
            for mode in [m for m in a.modes.split(",") if m]:
                if mode not in ab:
                    errs.append(f"attach mode={mode}: no TW-VM-ATTACH block on the console")
                    continue
                check_attach(ab[mode][0], ab[mode][1], mode, errs)
            parts.append("attach-time state " + ("ok" if len(errs) == n_before else "BAD"))
        elif result:
            errs.append("the guest did not check the attach-time state (presleep missing?)")

        sb = blocks(lines, "TW-VM-STALL-BEGIN", "TW-VM-STALL-END")
        if result and "stalls=checked" in result[-1]:
            n_before = len(errs)
            for mode in [m for m in a.modes.split(",") if m]:
                if mode not in sb:
                    errs.append(f"stall mode={mode}: no TW-VM-STALL block on the console")
                    continue
                check_stall(sb[mode][0], sb[mode][1], mode, errs, notes)
            parts.append("stall stacks " + ("ok" if len(errs) == n_before else "BAD"))

        # Python packed: the cases must have run (a program the verifier rejects fails here)
        if a.python != "none" and result:
            n_before = len(errs)
            if "python=checked" not in result[-1]:
                errs.append(f"{a.python} was packed but the guest did not run the Python cases")
            else:
                check_python(lines, [m for m in a.modes.split(",") if m], errs, notes)
            parts.append("python frames " + ("ok" if len(errs) == n_before else "BAD"))
        elif result:
            parts.append("python not packed")

    if guest_fail:  # after the specific reasons, so the summary shows those first
        errs.append(guest_fail)
    for n in notes:
        print(f"check-report: note: {n}", file=sys.stderr)
    for e in errs:
        print(f"check-report: {kernel}: {e}", file=sys.stderr)
    verdict = "FAIL" if errs else "PASS"
    detail = ", ".join(parts)
    if errs:
        detail = (detail + "; " if detail else "") + errs[0] + \
            (f" (+{len(errs) - 1} more)" if len(errs) > 1 else "")
    print(f"vm {kernel}: {verdict} ({detail})")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
