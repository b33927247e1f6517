#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""pystack.py [SECONDS] [ROUNDS]: what the Python frame walk (issue 12, py_walk() in
bpf/pyframes.bpf.h) costs per captured stack, timed in BPF (robust to the machine's load: only
the kernel's own time in the brackets counts). Three workloads of one shape, ~1,000 long
blocks a second: a handler thread blocked in read() on a pipe that a feeder thread writes
every 2 ms, and the feeder's 2 ms sleeps; every block is over --stack-min's 1 ms, so every
one is captured at its syscall's exit:

  c      build/tests/handler (C, no Python: py_walk is one py_bits test that fails)
  py2    python3.11 tests/workloads/pyhandler.py --call read --depth 2: both threads blocked
         2 Python frames deep (started with _thread.start_new_thread: nothing below them)
  py60   the same at depth 60 (at most TW_PY_FRAMES_MAX, 64, are read)

Each is traced by the timing agent, build/bench/pytiming/bpf-threadwatch -p PID (`make
pystack-timing`, which this script runs: the shipped programs plus, TW_BENCH_TIMING=1, clock
reads around each capture, stack_send_gap(): the user stack's copy, the walk and the ring
buffer record, and around each py_walk(), summed per CPU in its bench_pywalk map, with a
third read pricing the clock itself), for SECONDS (default 5) after a 0.5 s warm-up, ROUNDS
times (default 3), the workloads in turn. The counters are read through bpftool before and
after; so are run_cnt/run_time_ns of its sys_exit program (kernel.bpf_stats_enabled=1,
restored). A capture's and a walk's ns are printed less the clock reads inside their
brackets (the capture's: its own and the walk's three; the walk's: one). Prints a markdown
table and writes bench/results/<UTC stamp>.pystack.{md,json}. Needs root, bpftool and `make`
(build/tests/handler); without python3.11 (BENCH_PY, default /usr/bin/python3.11) the Python
rows are skipped with a one-line note."""
import json
import os
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMING = os.path.join(ROOT, "build/bench/pytiming/bpf-threadwatch")
HANDLER = os.path.join(ROOT, "build/tests/handler")
PYHANDLER = os.path.join(ROOT, "tests/workloads/pyhandler.py")
PY = os.environ.get("BENCH_PY", "/usr/bin/python3.11")
FIELDS = ("caps", "cap_ns", "walks", "walk_ns", "clk_ns", "cap_out", "walk_out",
          "clk_out")  # struct tw_bench_pywalk


def note(msg):
    print(f"pystack: {msg}", file=sys.stderr)


def held(pid):
    """({map id}, {prog id: (run_cnt, run_time_ns)}) of the BPF objects pid holds."""
    maps, progs = set(), {}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = dict(ln.rstrip("\n").split(":\t", 1) for ln in f if ":\t" in ln)
        except OSError:
            continue
        if "map_id" in info:
            maps.add(int(info["map_id"]))
        elif "prog_id" in info and "run_cnt" in info:  # a program's (a link's has no counts)
            progs[int(info["prog_id"])] = (int(info.get("run_cnt", 0)),
                                           int(info.get("run_time_ns", 0)))
    return maps, progs


def bpftool(*args):
    return json.loads(subprocess.check_output(["bpftool", *args, "-j"]))


class Counters:
    """The timing agent's bench_pywalk map (summed over CPUs) and its sys_exit program."""

    def __init__(self, pid):
        self.pid = pid
        maps, progs = held(pid)
        self.map = next((m for m in maps if bpftool("map", "show", "id", str(m)).get("name")
                         == "bench_pywalk"), None)
        # (its name as the kernel keeps it: 15 characters, which these fit in)
        if self.map is None:
            sys.exit(f"pystack: {TIMING} holds no bench_pywalk map: not a timing build")
        self.prog = next((p for p in progs if bpftool("prog", "show", "id", str(p)).get("name")
                          in ("tp_btf_sys_exit", "raw_tp_sys_exit")), None)

    def read(self):
        tot = dict.fromkeys(FIELDS, 0)
        for v in bpftool("map", "dump", "id", str(self.map))[0]["values"]:
            raw = bytes(int(x, 16) for x in v["value"])
            for k, x in zip(FIELDS, struct.unpack(f"<{len(FIELDS)}Q", raw[:8 * len(FIELDS)])):
                tot[k] += x
        runs, ns = held(self.pid)[1].get(self.prog, (0, 0))
        tot["exit_runs"], tot["exit_ns"] = runs, ns
        return tot


def workloads(secs):
    n = int(500 * (secs + 10))  # 2 ms apart: longer than the run
    wl = {"c": [HANDLER, str(n), "2000"]}
    if not os.access(PY, os.X_OK):
        note(f"{PY} is missing (Debian: apt-get install python3.11): Python rows skipped")
        return wl, [f"{PY} is missing: the Python rows are skipped"]
    for d in (2, 60):
        wl[f"py{d}"] = [PY, PYHANDLER, str(n), "2000", "--call", "read", "--depth", str(d)]
    return wl, []


def py_frames(rep, pid):
    """Python frames per stack sample of process pid in a final report (weighted mean)."""
    tot = n = 0
    for p in rep.get("processes", []):
        if p["pid"] != pid:
            continue
        for s in p.get("stack_samples", []):
            k = sum(1 for f in rep["stacks"][s["stack"]] if f.get("kind") == "python")
            tot += k * s["samples"]
            n += s["samples"]
    return tot / n if n else 0


def one(name, argv, secs, tmp):
    """One run of workload name under the timing agent: the counters' deltas, its report."""
    wl = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out, err = f"{tmp}/{name}.json", f"{tmp}/{name}.err"
    ag = None
    try:
        time.sleep(0.5)
        with open(out, "w") as fo, open(err, "w") as fe:
            ag = subprocess.Popen([TIMING, "-p", str(wl.pid), "--format", "json"], stdout=fo,
                                  stderr=fe)
        deadline = time.monotonic() + 30
        while "attached in" not in open(err).read():
            if time.monotonic() > deadline or ag.poll() is not None:
                sys.exit(f"pystack: the agent did not attach to {name}: {open(err).read()}")
            time.sleep(0.05)
        time.sleep(0.5)
        cnt = Counters(ag.pid)
        c0, t0 = cnt.read(), time.monotonic()
        time.sleep(secs)
        c1, t1 = cnt.read(), time.monotonic()
        ag.send_signal(signal.SIGINT)
        if ag.wait(60) != 0:
            sys.exit(f"pystack: the agent on {name} exited {ag.returncode}: {open(err).read()}")
    finally:
        if ag and ag.poll() is None:
            ag.kill()
        wl.kill()
        wl.wait()
    rep = next((o for o in map(json.loads, open(out)) if o.get("type") == "final"), None)
    if not rep:
        sys.exit(f"pystack: the agent on {name} printed no final report")
    d = {k: c1[k] - c0[k] for k in c0}
    d["secs"] = t1 - t0
    d["py_frames"] = py_frames(rep, wl.pid)
    # the stacks the kernel could not send (ring buffer full) are not in caps
    d["lost"] = {k: v for k, v in rep["lost"].items() if v}
    return d


def derive(d):
    """Per capture and per walk, the clock reads inside the brackets taken out: the walk's
    bracket holds one read's worth (from the first read's result to the second's), the
    capture's its own and the walk's three."""
    clk = d["clk_ns"] / d["walks"] if d["walks"] else 0
    cap = d["cap_ns"] / d["caps"] - 4 * clk if d["caps"] else float("nan")
    walk = d["walk_ns"] / d["walks"] - clk if d["walks"] else float("nan")
    return {"clk": clk, "cap": cap, "walk": walk, "rest": cap - walk,
            "rate": d["caps"] / d["secs"], "frames": d["py_frames"],
            "exit_run": d["exit_ns"] / d["exit_runs"] if d["exit_runs"] else float("nan")}


def med(xs):
    xs = [x for x in xs if x == x]
    return (statistics.median(xs), min(xs), max(xs)) if xs else (float("nan"),) * 3


def fmt(m):
    v, lo, hi = m
    if v != v:
        return "-"
    return f"{v:,.0f} ({lo:,.0f}-{hi:,.0f})" if round(hi) != round(lo) else f"{v:,.0f}"


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if os.geteuid():
        sys.exit("pystack: needs root (BPF, kernel.bpf_stats_enabled)")
    if not os.access(HANDLER, os.X_OK):
        sys.exit(f"pystack: {HANDLER} is missing: run make first")
    note("building the timing agent (make pystack-timing)")
    subprocess.run(["make", "-s", "-C", ROOT, "pystack-timing"], check=True)
    wls, notes = workloads(secs)
    load0 = open("/proc/loadavg").read().split()[:3]
    statf = "/proc/sys/kernel/bpf_stats_enabled"
    old = open(statf).read().strip()
    open(statf, "w").write("1")
    runs = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(rounds):
                for name, argv in wls.items():
                    note(f"round {r + 1}/{rounds}: {name}")
                    runs.setdefault(name, []).append(one(name, argv, secs, tmp))
    finally:
        open(statf, "w").write(old)
    load1 = open("/proc/loadavg").read().split()[:3]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    der = {n: [derive(d) for d in rs] for n, rs in runs.items()}
    col = {n: {k: med([x[k] for x in ds]) for k in ds[0]} for n, ds in der.items()}
    clk = fmt(med([x["clk"] for ds in der.values() for x in ds]))
    lines = [f"# pystack: the Python frame walk's price per capture ({stamp})", "",
             f"`bench/pystack.py {secs:g} {rounds}`: {rounds} rounds of {secs:g} s per "
             f"workload, agent {commit}, kernel {os.uname().release}, {os.cpu_count()} CPUs, "
             f"load average {' '.join(load0)} at the start, {' '.join(load1)} at the end. "
             "Medians of the rounds (min-max), BPF ns timed in the programs, less the clock "
             f"reads in the brackets (one read: {clk} ns).",
             "",
             "| workload | Python frames a capture | captures/s | a capture (copy, walk, "
             "record), ns | of it, py_walk() | the capture without the walk |",
             "|---|---:|---:|---:|---:|---:|"]
    for n, c in col.items():
        lines.append(f"| {n} | {c['frames'][0]:.1f} | {c['rate'][0]:,.0f} | {fmt(c['cap'])} "
                     f"| {fmt(c['walk'])} | {fmt(c['rest'])} |")
    lines.append("")
    lines.append("- The capturing program is sys_exit (tp_btf_sys_exit); a run that takes no "
                 "stack never calls py_walk(). Its average run, every task's syscalls on the "
                 "machine (most filtered out at once), was "
                 + ", ".join(f"{n} {fmt(c['exit_run'])} ns" for n, c in col.items())
                 + "; the sched_wakeup's kernel stack is not in the capture.")
    if "c" in col:
        lines.append(f"- A process without Python (c): py_walk() is one py_bits word "
                     f"tested, {fmt(col['c']['walk'])} ns a capture, "
                     f"{col['c']['walk'][0] / col['c']['cap'][0]:.1%} of it; nothing at a "
                     "syscall exit that takes no stack.")
    if "py2" in col and "py60" in col:
        f2, w2 = col["py2"]["frames"][0], col["py2"]["walk"][0]
        f60, w60 = col["py60"]["frames"][0], col["py60"]["walk"][0]
        if f60 > f2:
            slope = (w60 - w2) / (f60 - f2)
            lines.append(f"- Per Python frame: ({w60:,.0f} - {w2:,.0f}) / ({f60:.1f} - "
                         f"{f2:.1f}) = {slope:,.0f} ns; the fixed part (the lookup, the "
                         f"thread state, the first frame's address, the copy of the frames "
                         f"into the record): {w2 - f2 * slope:,.0f} ns. With Python frames a "
                         f"capture costs {col['py2']['cap'][0] / col['c']['cap'][0]:.2f}x "
                         f"(depth 2) and {col['py60']['cap'][0] / col['c']['cap'][0]:.2f}x "
                         "(depth 60) the C one.")
    outs = {n: [sum(d[k] for d in rs) for k in ("cap_out", "walk_out", "clk_out")]
            for n, rs in runs.items()}
    lines.append("- Brackets left out of the means, over their bound (an interrupt or the "
                 "hypervisor inside them), captures/walks/clock pairs: "
                 + ", ".join(f"{n} {'/'.join(map(str, o))} of "
                             f"{sum(d['caps'] for d in runs[n]):,}" for n, o in outs.items())
                 + ".")
    for n, rs in runs.items():
        lost = [d["lost"] for d in rs if d["lost"]]
        if lost:
            notes.append(f"{n}: the agent's losses: {lost}")
    for n in notes:
        lines.append(f"- note: {n}")
    md = "\n".join(lines) + "\n"
    print(md)
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    base = os.path.join(ROOT, "bench/results", f"{stamp}.pystack")
    with open(base + ".md", "w") as f:
        f.write(md)
    with open(base + ".json", "w") as f:
        json.dump({"secs": secs, "rounds": rounds, "load": [load0, load1], "commit": commit,
                   "runs": runs}, f, indent=1)
    note(f"wrote {base}.md and .json")


if __name__ == "__main__":
    main()
