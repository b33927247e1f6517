#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""sidebyside.py SECS WORKLOAD -- AGENT [ARGS] ;; AGENT [ARGS] ...: per-program cost of two or more
agents on the SAME events: every agent (PID in ARGS becomes the workload's PID) and the empty
programs of bench/floor.bpf.c are attached at once to one workload, kernel.bpf_stats_enabled=1
for SECS seconds, and each agent's ns per run is read from its own program descriptors
(/proc/PID/fdinfo). The machine's load moves every column alike, so two builds (before/after a
change) compare in one run. WORKLOAD: pingpong (bench/pingpong.c, pinned to the last CPU), pipe
(perf bench sched pipe -T, pinned), storm (bench/storm.c, 64 alive), readzero and getpid
(bench/sysloop.c: 1-byte reads of /dev/zero, a timed call that never sleeps; getpid, an
untimed one; pinned). Needs root, gcc, and
`make` (build/bench/floorload, floor.bpf.o). docs/performance.md quotes its output.

  sudo bench/sidebyside.py 5 pingpong -- OLD/bpf-threadwatch -p PID ';;' build/bpf-threadwatch -p PID
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(src, out):
    subprocess.run(["gcc", "-O2", "-pthread", "-o", out, os.path.join(ROOT, "bench", src)],
                   check=True)
    return out


def workload(name, tmp):
    last = str(os.cpu_count() - 1)
    if name == "pingpong":
        return ["taskset", "-c", last, build("pingpong.c", f"{tmp}/pingpong"), "0"]
    if name == "pipe":
        return ["taskset", "-c", last, "perf", "bench", "sched", "pipe", "-T", "-l", "1000000000"]
    if name == "storm":
        return [build("storm.c", f"{tmp}/storm"), "100000000"]
    if name in ("readzero", "getpid"):
        return ["taskset", "-c", last, build("sysloop.c", f"{tmp}/sysloop"),
                "read" if name == "readzero" else "getpid", "10000000000"]
    sys.exit(f"sidebyside: unknown workload '{name}' (pingpong, pipe, storm, readzero, getpid)")


def prog_stats(pids, names):
    """{(pid, program name): (run_cnt, run_time_ns)} of the programs each pid holds."""
    out = {}
    for pid in pids:
        fddir = f"/proc/{pid}/fd"
        for fd in os.listdir(fddir):
            try:
                if os.readlink(f"{fddir}/{fd}") != "anon_inode:bpf-prog":
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    info = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
            except OSError:
                continue
            pid_ = int(info["prog_id"])
            if pid_ not in names:
                names[pid_] = json.loads(subprocess.check_output(
                    ["bpftool", "prog", "show", "id", str(pid_), "-j"]))["name"]
            out[(pid, names[pid_])] = (int(info.get("run_cnt", 0)), int(info.get("run_time_ns", 0)))
    return out


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    secs, name = float(sys.argv[1]), sys.argv[2]
    agents = [a.split() for a in " ".join(sys.argv[4:]).split(";;")]
    stats = "/proc/sys/kernel/bpf_stats_enabled"
    with tempfile.TemporaryDirectory() as tmp:
        w = subprocess.Popen(workload(name, tmp), stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        procs = [subprocess.Popen([x.replace("PID", str(w.pid)) for x in a],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for a in agents]
        floor = [os.path.join(ROOT, "build/bench/floorload")]
        if "--no-syscalls" in agents[0]:
            floor.append("-S")
        floor.append(os.path.join(ROOT, "build/bench/floor.bpf.o"))
        fl = subprocess.Popen(floor, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        old = open(stats).read().strip()
        try:
            time.sleep(2.5)  # every agent attached
            open(stats, "w").write("1")
            names, pids = {}, [p.pid for p in procs] + [fl.pid]
            a0 = prog_stats(pids, names)
            time.sleep(secs)
            a1 = prog_stats(pids, names)
        finally:
            open(stats, "w").write(old)
            for p in procs + [fl]:
                p.terminate()
            w.kill()
    cols = {p.pid: f"agent{i}" for i, p in enumerate(procs)}
    cols[fl.pid] = "empty"
    rows = {}
    for (pid, prog), (c1, t1) in a1.items():
        c0, t0 = a0.get((pid, prog), (0, 0))
        if c1 - c0 > 1000:
            rows.setdefault(prog, {})[cols[pid]] = ((t1 - t0) / (c1 - c0), c1 - c0)
    order = [f"agent{i}" for i in range(len(procs))] + ["empty"]
    print("%-28s" % "program" + "".join("%12s" % c for c in order) + "  runs")
    for prog, d in sorted(rows.items()):
        print("%-28s" % prog[:28] + "".join("%12s" % ("%.1f" % d[c][0] if c in d else "-")
                                            for c in order),
              " ", max(v[1] for v in d.values()))


if __name__ == "__main__":
    main()
