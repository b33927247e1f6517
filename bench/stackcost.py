#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""stackcost.py [SECONDS]: what stacks cost, on a workload with a known number of long blocks
a second (tests/workloads/handler: K handler threads blocked in read() on a pipe a feeder
writes every 2 ms, and K feeders in 2 ms nanosleeps: 1,000 long blocks/s per pair of threads).
For 1,000/s and 10,000/s, one run each of:

  tw        bpf-threadwatch -p PID (stacks on, the default)
  tw_ns     bpf-threadwatch -p PID --no-stacks
  offcpu    offcputime -p PID (libbpf-tools: two stack ids at every switch), if installed

and for each: the agent's CPU (utime + stime, all threads) as a share of one core, its peak
RSS, the stacks it took (stack_stats) and lost, and, with kernel.bpf_stats_enabled=1, the BPF
run time per second of every program (kernel time in the traced threads). The difference
tw - tw_ns, per stack taken, is the price of one stack: BPF (copy and send) and user space
(unwind and name). Needs root, `make` (build/bpf-threadwatch, build/tests/handler)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TW = os.path.join(ROOT, "build/bpf-threadwatch")
HANDLER = os.path.join(ROOT, "build/tests/handler")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from sidebyside import prog_stats  # noqa: E402


def cpu_s(pid):
    """utime + stime of every thread of pid, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one(cfg, rate, secs, tmp):
    pairs = rate // 1000
    n = int(500 * (secs + 3))  # requests per handler: 2 ms apart, longer than the run
    wl = subprocess.Popen([HANDLER, "--threads", str(pairs), str(n), "2000"],
                          stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    out = os.path.join(tmp, f"{cfg}-{rate}.json")
    argv = {"tw": [TW, "-p", str(wl.pid), "--format", "json"],
            "tw_ns": [TW, "-p", str(wl.pid), "--format", "json", "--no-stacks"],
            "offcpu": ["offcputime", "-p", str(wl.pid)]}[cfg]
    with open(out, "w") as f:
        ag = subprocess.Popen(argv, stdout=f, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # attached, its first stacks of each module named
        names = {}
        c0, p0, t0 = cpu_s(ag.pid), prog_stats([ag.pid], names), time.monotonic()
        time.sleep(secs)
        c1, p1, t1 = cpu_s(ag.pid), prog_stats([ag.pid], names), time.monotonic()
        rss = hwm_kb(ag.pid)
        ag.send_signal(2)
        ag.wait(30)
    wl.kill()
    wl.wait()
    bpf = {}
    for (pid, prog), (cnt, ns) in p1.items():
        c, t = p0.get((pid, prog), (0, 0))
        if cnt > c:
            bpf[prog] = ((ns - t) / (t1 - t0), (ns - t) / (cnt - c))
    stats, lost = None, {}
    if cfg != "offcpu":
        for line in open(out):
            o = json.loads(line)
            if o.get("type") == "final":
                stats = o.get("stack_stats")
                lost = {k: v for k, v in o["lost"].items() if v}
    return {"cpu": (c1 - c0) / (t1 - t0), "rss_mb": rss / 1024, "bpf": bpf, "stats": stats,
            "lost": lost, "dur": stats and o["duration_s"]}


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    cfgs = ["tw", "tw_ns"] + (["offcpu"] if shutil.which("offcputime") else [])
    statf = "/proc/sys/kernel/bpf_stats_enabled"
    old = open(statf).read().strip()
    open(statf, "w").write("1")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for rate in (1000, 10000):
                res = {c: one(c, rate, secs, tmp) for c in cfgs}
                print(f"\n## {rate} long blocks/s ({rate // 1000} handler + {rate // 1000} feeder "
                      f"threads, 2 ms blocks), {secs:.0f} s measured")
                print("| config | agent CPU | max RSS | stacks taken/s | lost | BPF ms/s |")
                print("|---|---:|---:|---:|---|---:|")
                for c, r in res.items():
                    taken = r["stats"]["samples"] / r["dur"] if r["stats"] else 0
                    bpf_ms = sum(v[0] for v in r["bpf"].values()) / 1e6
                    print(f"| {c} | {100 * r['cpu']:.1f}% | {r['rss_mb']:.1f} MB | {taken:,.0f} "
                          f"| {r['lost'] or '-'} | {bpf_ms:.2f} |")
                tw, ns = res["tw"], res["tw_ns"]
                taken = tw["stats"]["samples"] / tw["dur"] if tw["stats"] else 0
                if taken:
                    d_bpf = (sum(v[0] for v in tw["bpf"].values())
                             - sum(v[0] for v in ns["bpf"].values())) / taken
                    d_cpu = (tw["cpu"] - ns["cpu"]) / taken * 1e9
                    print(f"\nper stack: BPF +{d_bpf / 1e3:.1f} us (copy, send, kernel frames), "
                          f"agent +{d_cpu / 1e3:.1f} us (read, unwind, name)")
                for c, r in res.items():
                    print(f"{c} programs: " + ", ".join(
                        f"{p} {v[1]:.0f} ns/run" for p, v in sorted(r["bpf"].items())))
    finally:
        open(statf, "w").write(old)


if __name__ == "__main__":
    main()
