#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""daemonstats.py OUT.json SCRAPES_DIR CODES MIN_THREADS KEY=VALUE...: one run of the daemon
benchmark (bench/run.sh -b daemon), appended to the list in OUT.json.

SCRAPES_DIR holds the scrape bodies (N.prom); CODES a line per scrape: "N START_EPOCH_S
HTTP_CODE BYTES SECONDS" (curl -w). KEY=VALUE pairs come from run.sh (config, rep, window_s,
cpu_s, hwm_kb, ...); numbers are stored as numbers, ok=0 and note=... mark a run run.sh already
found broken. The run is checked here too: every scrape must have answered 200 and
threadwatch_agent_threads must be >= MIN_THREADS in every one. Prints a one-line summary; exit
status 1 when the run failed.

From the scrapes: series (sample lines) and body size (median), render time
(threadwatch_agent_render_seconds: median, max), threads and processes tracked, what the agent
lost, its renderings and map reads between the first and the last scrape
(threadwatch_agent_{renders,refreshes}_total: one of each a scrape when the scrapes are
--refresh or more apart), its wake-ups a second (vcsw=, voluntary context switches of all its
threads over the window), and the BPF programs' run time and runs per second over the window:
the difference of
threadwatch_agent_bpf_{run_seconds,runs}_total between the first and the last scrape, over
the time between them. That is kernel time spent in the context of every thread on the node
(the programs run where the events happen), not the daemon's own CPU time.
"""
import json
import os
import re
import statistics
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(path):
    """{(name, frozenset(labels)): value}, and the number of samples."""
    out = {}
    n = 0
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            if not m:
                continue
            n += 1
            labels = frozenset(LABEL.findall(m.group(3) or ""))
            try:
                out[m.group(1), labels] = float(m.group(4))
            except ValueError:
                pass
    return out, n


def get(s, name):
    return s.get((name, frozenset()))


def by_label(s, name, label):
    return {dict(k[1]).get(label, ""): v for k, v in s.items() if k[0] == name}


def value(v):
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v else f


def main():
    out_path, sdir, codes_path, min_threads = sys.argv[1:5]
    min_threads = int(min_threads)
    run = {k: value(v) for k, _, v in (a.partition("=") for a in sys.argv[5:])}
    notes = [run["note"]] if run.get("note", "-") not in ("-", "") else []
    ok = run.get("ok", 1) == 1
    scrapes = []
    if os.path.exists(codes_path):
        with open(codes_path) as f:
            for line in f:
                p = line.split()
                if len(p) >= 5:
                    scrapes.append({"i": int(p[0]), "t": float(p[1]), "code": p[2],
                                    "bytes": int(float(p[3])), "secs": float(p[4])})
    want = int(run.get("scrapes_wanted", len(scrapes)))
    bad = [s for s in scrapes if s["code"] != "200"]
    if len(scrapes) < want or bad:
        ok = False
        notes.append(f"{len(scrapes) - len(bad)} of {want} scrapes answered 200"
                     + (f" (got {', '.join(sorted({s['code'] for s in bad}))})" if bad else ""))
    parsed = []
    for s in scrapes:
        path = os.path.join(sdir, f"{s['i']}.prom")
        if s["code"] == "200" and os.path.exists(path):
            vals, n = parse(path)
            parsed.append((s, vals, n))
    threads = [get(v, "threadwatch_agent_threads") for _, v, _ in parsed]
    missing = sum(t is None for t in threads)
    threads = [t for t in threads if t is not None]
    if missing:
        ok = False
        notes.append(f"{missing} scrapes without threadwatch_agent_threads")
    if threads and min(threads) < min_threads:
        ok = False
        notes.append(f"threadwatch_agent_threads fell to {min(threads):.0f} "
                     f"(< {min_threads} threads on the node)")
    procs = [get(v, "threadwatch_agent_processes") for _, v, _ in parsed]
    procs = [p for p in procs if p is not None]
    render = [get(v, "threadwatch_agent_render_seconds") for _, v, _ in parsed]
    render = [r for r in render if r is not None]
    run.update(
        scrapes=len(scrapes), scrapes_ok=len(scrapes) - len(bad),
        series=statistics.median(n for _, _, n in parsed) if parsed else None,
        body_bytes=statistics.median(s["bytes"] for s, _, _ in parsed) if parsed else None,
        scrape_s_median=statistics.median(s["secs"] for s, _, _ in parsed) if parsed else None,
        scrape_s_max=max(s["secs"] for s, _, _ in parsed) if parsed else None,
        render_s_median=statistics.median(render) if render else None,
        render_s_max=max(render) if render else None,
        threads_min=min(threads) if threads else None,
        threads_max=max(threads) if threads else None,
        processes_median=statistics.median(procs) if procs else None,
    )
    if parsed:
        last = parsed[-1][1]
        run["lost"] = {k: v for k, v in by_label(last, "threadwatch_agent_lost_total",
                                                 "what").items() if v}
        run["groups_other"] = get(last, "threadwatch_agent_groups_other")
    # BPF programs: counter deltas between the first and the last scrape
    progs = {}
    if len(parsed) >= 2:
        (s0, v0, _), (s1, v1, _) = parsed[0], parsed[-1]
        dt = s1["t"] - s0["t"]
        t0 = by_label(v0, "threadwatch_agent_bpf_run_seconds_total", "program")
        t1 = by_label(v1, "threadwatch_agent_bpf_run_seconds_total", "program")
        r0 = by_label(v0, "threadwatch_agent_bpf_runs_total", "program")
        r1 = by_label(v1, "threadwatch_agent_bpf_runs_total", "program")
        if t1 and dt > 0:
            for name in t1:
                progs[name] = {"run_s_per_s": (t1[name] - t0.get(name, 0)) / dt,
                               "runs_per_s": (r1.get(name, 0) - r0.get(name, 0)) / dt}
            run["bpf_window_s"] = dt
            run["bpf_run_s_per_s"] = sum(p["run_s_per_s"] for p in progs.values())
            run["bpf_runs_per_s"] = sum(p["runs_per_s"] for p in progs.values())
        elif not t1:
            notes.append("no threadwatch_agent_bpf_run_seconds_total (BPF statistics "
                         "unavailable): no BPF run time")
    run["progs"] = progs
    if len(parsed) >= 2:
        for k in ("renders", "refreshes"):
            a = get(parsed[0][1], f"threadwatch_agent_{k}_total")
            b = get(parsed[-1][1], f"threadwatch_agent_{k}_total")
            if a is not None and b is not None:
                run[f"{k}_per_scrape"] = (b - a) / (len(parsed) - 1)
    if run.get("window_s") and isinstance(run.get("vcsw"), (int, float)):
        run["wakes_per_s"] = run["vcsw"] / run["window_s"]
    if run.get("window_s") and run.get("cpu_s") is not None:
        run["cpu_pct"] = run["cpu_s"] / run["window_s"] * 100
    if run.get("idlers_window_s") and run.get("idlers_cpu_s") is not None:
        run["idlers_cpu_pct"] = run["idlers_cpu_s"] / run["idlers_window_s"] * 100
    run["ok"] = 1 if ok else 0
    run["note"] = "; ".join(notes) if notes else "-"
    allr = []
    if os.path.exists(out_path):
        with open(out_path) as f:
            allr = json.load(f)
    allr.append(run)
    with open(out_path, "w") as f:
        json.dump(allr, f, indent=1)

    def f(v, fmt):
        return format(v, fmt) if v is not None else "-"
    print(f"cpu {f(run.get('cpu_pct'), '.3f')}% of a core, peak RSS "
          f"{f(run.get('hwm_kb') and run['hwm_kb'] / 1024, '.1f')} MB, "
          f"{f(run['series'], '.0f')} series, {f(run['body_bytes'], '.0f')} B, render "
          f"{f(run['render_s_median'] and run['render_s_median'] * 1e3, '.1f')} ms, "
          f"threads >= {f(run['threads_min'], '.0f')}, "
          f"{f(run.get('renders_per_scrape'), '.2f')} renders a scrape, "
          f"{f(run.get('wakes_per_s'), '.1f')} wakes/s, BPF "
          f"{f(run.get('bpf_run_s_per_s') and run['bpf_run_s_per_s'] * 1e3, '.1f')} ms/s, "
          f"idlers {f(run.get('idlers_cpu_pct'), '.0f')}% of a core"
          + ("" if ok else f"; FAILED: {run['note']}"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
