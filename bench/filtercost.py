#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""filtercost.py SECONDS BIN [BIN...]: what the target filter costs a context switch of a
task nobody asked about. For each binary and for 1 and 16 targets (idle `sleep`
processes), runs it with -p and --no-syscalls next to bench/pingpong (untraced: every
one of its switches is filtered out), with kernel.bpf_stats_enabled=1, and prints the
sched_switch program's run_time_ns / run_cnt: the average cost of one call, nearly all
of it the filter on both tasks of the switch. Two of one binary's runs differ by the
machine's noise (another VM's load on a shared host); compare the binaries side by side.
A short measurement for docs/performance.md, not part of bench/run.sh.
"""
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def prog_stats(pid, name):
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-prog":
                continue
            info = dict(line.rstrip("\n").split(":\t", 1)
                        for line in open(f"/proc/{pid}/fdinfo/{fd}") if ":\t" in line)
        except OSError:
            continue
        out = subprocess.run(["bpftool", "prog", "show", "id", info["prog_id"]],
                             capture_output=True, text=True).stdout
        if name in out:
            return int(info["run_time_ns"]), int(info["run_cnt"])
    raise RuntimeError(f"no {name} program in {pid}")


def one(binary, ntargets, seconds, pingpong):
    sleepers = [subprocess.Popen(["sleep", str(seconds + 30)]) for _ in range(ntargets)]
    pp = subprocess.Popen([pingpong, "0"], stdout=subprocess.DEVNULL)
    tool = subprocess.Popen([binary, "-p", ",".join(str(s.pid) for s in sleepers),
                             "--no-syscalls", "-d", str(seconds + 1)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while "Tracing" not in tool.stderr.readline():
        pass
    t0 = prog_stats(tool.pid, "sched_switch")
    time.sleep(seconds)
    t1 = prog_stats(tool.pid, "sched_switch")
    tool.wait()
    pp.kill()
    for s in sleepers:
        s.kill()
    runs = t1[1] - t0[1]
    return (t1[0] - t0[0]) / runs if runs else float("nan"), runs


def main():
    seconds = float(sys.argv[1])
    bins = sys.argv[2:]
    with tempfile.TemporaryDirectory() as d:
        pingpong = os.path.join(d, "pingpong")
        subprocess.run(["gcc", "-O2", "-pthread", os.path.join(ROOT, "bench/pingpong.c"),
                        "-o", pingpong], check=True)
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            was = f.read().strip()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")
        try:
            for rnd in range(2):
                for b in bins:
                    for n in (1, 16):
                        ns, runs = one(b, n, seconds, pingpong)
                        print(f"round {rnd} {b} targets {n}: {ns:.1f} ns/call over {runs} calls",
                              flush=True)
        finally:
            with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
                f.write(was)


if __name__ == "__main__":
    main()
