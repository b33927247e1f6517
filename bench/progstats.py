#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""progstats.py PID OUT: follow the BPF programs and maps process PID holds.

Every POLL seconds, until PID is gone, reads /proc/PID/fdinfo of its bpf-prog
and bpf-map descriptors (run_cnt and run_time_ns are counted while the sysctl
kernel.bpf_stats_enabled is 1) and rewrites OUT (JSON) with the latest sample.
agent_wakeups counts the agent's voluntary context switches since the first
sample (each one a sleep in epoll_wait or a syscall, ended by a wake-up). Names come from `bpftool prog/map show id N -j`, asked once per id while PID
still holds it. Used by bench/run.sh for the per-program cost table.
"""
import json
import os
import subprocess
import sys
import time

POLL = 0.1


def fdinfo(pid):
    progs, maps = {}, {}
    fddir = f"/proc/{pid}/fd"
    for fd in os.listdir(fddir):
        try:
            kind = os.readlink(f"{fddir}/{fd}")
            if kind not in ("anon_inode:bpf-prog", "anon_inode:bpf-map"):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            continue
        if kind == "anon_inode:bpf-prog":
            progs[int(info["prog_id"])] = {
                "run_cnt": int(info.get("run_cnt", 0)),
                "run_time_ns": int(info.get("run_time_ns", 0)),
                "recursion_misses": int(info.get("recursion_misses", 0)),
            }
        else:
            maps[int(info["map_id"])] = {
                "memlock": int(info.get("memlock", 0)),
                "max_entries": int(info.get("max_entries", 0)),
            }
    return progs, maps


def bpftool_name(what, ident):
    try:
        out = subprocess.run(["bpftool", what, "show", "id", str(ident), "-j"],
                             capture_output=True, text=True, timeout=5)
        return json.loads(out.stdout).get("name", "?")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return "?"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: progstats.py PID OUT")
    pid, out = int(sys.argv[1]), sys.argv[2]
    names = {}
    first_vcsw = None
    while os.path.exists(f"/proc/{pid}"):
        try:
            progs, maps = fdinfo(pid)
        except OSError:
            break
        for kind, table in (("prog", progs), ("map", maps)):
            for ident in table:
                if (kind, ident) not in names:
                    names[kind, ident] = bpftool_name(kind, ident)
        try:
            with open(f"/proc/{pid}/status") as f:
                vcsw = int(next(l for l in f if l.startswith("voluntary_ctxt")).split()[1])
        except (OSError, StopIteration, ValueError):
            vcsw = None
        if first_vcsw is None:
            first_vcsw = vcsw
        sample = {
            "time": time.time(),
            "agent_wakeups": vcsw - first_vcsw if vcsw is not None and first_vcsw is not None else None,
            "progs": [dict(id=i, name=names["prog", i], **v) for i, v in sorted(progs.items())],
            "maps": [dict(id=i, name=names["map", i], **v) for i, v in sorted(maps.items())],
        }
        if progs:
            with open(out + ".tmp", "w") as f:
                json.dump(sample, f)
            os.replace(out + ".tmp", out)
        time.sleep(POLL)


if __name__ == "__main__":
    main()
