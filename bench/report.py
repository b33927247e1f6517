#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""report.py META RAW.tsv PROFILE.json [DAEMON.json]: the markdown results of bench/run.sh,
on stdout.

Ratios are traced/untraced times, >1 means slower. Each repetition runs every
configuration back to back, so a ratio is computed per repetition (paired with
that repetition's untraced run, which cancels slow drift of the machine) and the
table shows the median of those ratios with their min-max spread. The pingpong
and neighbour benchmarks compare time per loop (strace runs fewer loops).
The daemon benchmark (DAEMON.json, from bench/daemonstats.py) has no ratio: it
reports the daemon's own CPU and memory on a node of many threads, against
absolute targets.

The empty configurations (bench/floor.bpf.c: return-0 programs on the agent's
hooks) are the physical floor: every bpf-threadwatch configuration is also
printed as "floor + X", X being what our programs add above empty ones, and the
per-program table puts each program's ns/run next to the empty program's on
the same hook (measured in the same run).
"""
import json
import math
import os
import re
import statistics
import sys
from collections import defaultdict

LABELS = {
    "base": "untraced",
    "tw_p": "bpf-threadwatch -p PID",
    "tw_psc": "bpf-threadwatch -p PID --syscalls",
    "tw_pns": "bpf-threadwatch -p PID, no syscall timing",
    "tw_sys": "bpf-threadwatch (system-wide)",
    "oc_p": "offcputime -p PID (libbpf-tools)",
    "oc_sys": "offcputime (system-wide)",
    "rq": "runqlat (system-wide)",
    "strace": "strace -f -p PID",
    "bt": "bpftrace bench/syscalls.bt PID",
    "floor": "bpftrace bench/floor.bt PID (count only: the floor)",
    "empty": "empty programs on every hook of the agent (the physical floor)",
    "empty_ns": "empty programs on the agent's hooks but sys_enter/sys_exit",
    "empty_pst": "empty programs on the agent's hooks, per-syscall tracepoints of the timed "
                 "calls instead of sys_enter/sys_exit",
    "empty_sched": "empty programs on the agent's scheduler and lifecycle hooks only, no "
                   "syscall tracepoint at all (no traced syscall path)",
}
ORDER = list(LABELS)
PER_LOOP = ("pingpong", "getpid", "readzero", "neighbour")  # compared per loop, in us/loop
# syscalls per loop of the per-loop benchmarks (getpid, readzero: one call a loop)
NSYS = {"pingpong": 4, "neighbour": 4, "getpid": 1, "readzero": 1}
# the project's targets (docs/performance.md); the storm has none yet, it is reported for trend
TARGETS = {("pipe", "tw_p"): 1.05, ("pipe", "tw_sys"): 1.08,
           ("pingpong", "tw_p"): 1.10, ("neighbour", "tw_p"): 1.01}
RSS_TARGET_KB = 20 * 1024
# issue 10: what a program may cost per event ABOVE the empty program on its hook (ns/run);
# sys_enter and sys_exit are judged together (one syscall runs both)
ABOVE_EMPTY_TARGETS = (("sched_switch", ("sched_switch",), 40),
                       ("sched_wakeup", ("sched_wakeup",), 25),
                       ("sys_enter + sys_exit", ("sys_enter", "sys_exit"), 80),
                       ("task_newtask", ("task_newtask",), 400))
ATTACH_TARGET_S = 0.5
TITLES = {
    "pipe": "{pin} perf bench sched pipe -T -l {loops} (context-switch storm)",
    "storm": "thread storm: {storm_threads} threads created and joined, {storm_window} alive at once",
    "pingpong": "{pin} bench/pingpong {pp_loops}: 1-byte read/write ping-pong of two threads "
                "(syscall-heavy)",
    "getpid": "{pin} bench/sysloop getpid {gp_loops}: getpid() in a loop, one thread (a "
              "syscall the agent does not time)",
    "readzero": "{pin} bench/sysloop read {rz_loops}: a 1-byte read() of /dev/zero in a loop, one "
                "thread (a timed call that never sleeps)",
    "neighbour": "untraced neighbour: B = {pin_b} bench/pingpong {pp_loops}, next to "
                 "A = {pin_a} bench/pingpong, the traced one",
}
OPS = {"pipe": ("loops", "loop"), "storm": ("storm_threads", "thread"),
       "pingpong": ("pp_loops", "loop"), "getpid": ("gp_loops", "call"),
       "readzero": ("rz_loops", "call"),
       "neighbour": ("pp_loops", "loop")}
BENCHES = ("pipe", "storm", "pingpong", "getpid", "readzero", "neighbour")
DAEMON_LABELS = {"dm": "daemon", "dm_sc": "daemon --syscalls"}
DAEMON_CFG = re.compile(r"^(dm|dm_sc)(\d*)$")


def daemon_cfg(cfg):
    """("dm" or "dm_sc", scrape interval in s) of a daemon configuration (dm15: 15 s)."""
    m = DAEMON_CFG.match(cfg)
    return (m.group(1), int(m.group(2) or 1)) if m else (cfg, 1)


def daemon_name(meta, cfg):
    base, every = daemon_cfg(cfg)
    args = meta.get("daemon_sc_args" if base == "dm_sc" else "daemon_args", "")
    return "daemon" + (f" {args}" if args else ""), every


def daemon_section(w, meta, runs):
    """The daemon's own CPU and RSS on a node of P x T threads, at each scrape interval."""
    procs = int(meta.get("daemon_procs", 0) or 0)
    threads = procs * int(meta.get("daemon_threads", 0) or 0)
    cpu_target = float(meta.get("daemon_cpu_target_pct", 0.5))
    cpu_target_sc = float(meta.get("daemon_cpu_target_sc_pct", 1))
    rss_target = float(meta.get("daemon_rss_target_mb", 30))
    cfgs = sorted({r["config"] for r in runs},
                  key=lambda c: (daemon_cfg(c)[1], daemon_cfg(c)[0]))
    intervals = sorted({daemon_cfg(c)[1] for c in cfgs})
    w("")
    w(f"## daemon: {procs:,} processes / {threads:,} threads, scraped every "
      + " and every ".join(f"{e} s" for e in intervals))
    w("")
    lo, _, hi = meta.get("daemon_sleep_ms", "?-?").partition("-")
    try:
        when = f"{int(lo) / 1e3:g}-{int(hi) / 1e3:g} s"
    except ValueError:
        when = "? s"
    w(f"bench/idlers: {procs:,} processes x {meta.get('daemon_threads')} threads, each thread "
      f"waking every {when} (random) for a pipe write and read, half of them in "
      f"clock_nanosleep and half in poll(); {meta.get('daemon_churn', '?')}% of the threads "
      f"exit and are replaced every second ({meta.get('idlers_ready', 'not started')}). "
      f"`bpf-threadwatch daemon --listen 127.0.0.1:PORT` is scraped with curl every "
      + ", every ".join(f"{e} s" for e in intervals)
      + f" for {meta.get('daemon_s')} s (rounded up to whole intervals), after a warm-up of "
      f"{meta.get('daemon_warmup_s')} s past the first rendering that shows every idler; "
      f"{meta.get('reps')} repetitions per configuration, all interleaved in one run.")
    w("")
    w("| configuration | scraped every | daemon CPU, % of one core | target | verdict "
      "| peak RSS | target | verdict | wakes/s | renders a scrape | series | body "
      "| render time | scrapes OK | threads tracked (min) "
      "| BPF run time/s (node, not daemon) | idlers' CPU |")
    w("|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts = []
    for cfg in cfgs:
        all_runs = [r for r in runs if r["config"] == cfg]
        ok = [r for r in all_runs if r["ok"] == 1]
        nfail = len(all_runs) - len(ok)
        name, every = daemon_name(meta, cfg)
        target = cpu_target_sc if daemon_cfg(cfg)[0] == "dm_sc" else cpu_target
        name += f" ({nfail} of {len(all_runs)} FAILED)" if nfail else ""

        def vals(key):
            return [r[key] for r in ok if isinstance(r.get(key), (int, float))]

        def med(key):
            v = vals(key)
            return statistics.median(v) if v else None
        cpu, rss = vals("cpu_pct"), vals("hwm_kb")
        cpu_med = statistics.median(cpu) if cpu else None
        rss_max = max(rss) / 1024 if rss else None
        cv = ("met" if cpu_med <= target else "**MISSED**") if cpu else ""
        rv = ("met" if rss_max <= rss_target else "**MISSED**") if rss else ""
        bpf, runs_s = med("bpf_run_s_per_s"), med("bpf_runs_per_s")
        render, render_max = med("render_s_median"), max(vals("render_s_max"), default=None)
        scr = sum(r.get("scrapes_ok", 0) for r in all_runs)
        scr_all = sum(r.get("scrapes", 0) for r in all_runs)
        tmin = min(vals("threads_min"), default=None)
        idl = med("idlers_cpu_pct")
        wakes, rps = med("wakes_per_s"), med("renders_per_scrape")
        cells = [
            name, f"{every} s",
            f"{cpu_med:.3f}% ({min(cpu):.3f}-{max(cpu):.3f})" if cpu else "—",
            f"<= {target:g}%", cv,
            f"{rss_max:.1f} MB" if rss else "—",
            f"<= {rss_target:g} MB", rv,
            f"{wakes:.1f}" if wakes is not None else "—",
            f"{rps:.2f}" if rps is not None else "—",
            f"{med('series'):,.0f}" if med("series") is not None else "—",
            f"{med('body_bytes') / 1024:,.0f} KiB" if med("body_bytes") is not None else "—",
            f"{render * 1e3:.1f} ms (max {render_max * 1e3:.1f})" if render is not None else "—",
            f"{scr:,} of {scr_all:,}",
            f"{tmin:,.0f}" if tmin is not None else "—",
            f"{bpf * 1e3:.1f} ms/s = {bpf * 100:.2f}% of a core ({runs_s:,.0f} runs/s)"
            if bpf is not None else "—",
            f"{idl:.0f}% of a core" if idl is not None else "—",
        ]
        w("| " + " | ".join(cells) + " |")
        if cpu:
            verdicts.append(f"- **{'met' if cv == 'met' else 'MISSED'}**: `{name}` scraped "
                            f"every {every} s uses {cpu_med:.3f}% of one core (target <= "
                            f"{target:g}%; {min(cpu):.3f}-{max(cpu):.3f} over {len(cpu)} "
                            "runs)")
        if rss:
            verdicts.append(f"- **{'met' if rv == 'met' else 'MISSED'}**: `{name}` scraped "
                            f"every {every} s peaks at {rss_max:.1f} MB RSS (target <= "
                            f"{rss_target:g} MB)")
    w("")
    w("Daemon CPU = utime + stime of the daemon process (all its threads: the measuring loop "
      "and the HTTP server) over the scrape window, from /proc/PID/stat, as a share of one "
      "core; the median of the runs, min-max in brackets. Peak RSS = VmHWM at the end of the "
      "window (the largest of the runs), start-up included. Wakes/s: voluntary context "
      "switches of all the daemon's threads over the window, a second (its loop passes once a "
      "second and once a scrape). Renders a scrape: threadwatch_agent_renders_total between "
      "the first and the last scrape, per scrape. Series and body: one /metrics "
      "response (median). Render time: threadwatch_agent_render_seconds as the daemon "
      "reports it (the map read a rendering needed, and the rendering), median over the "
      "scrapes (the largest seen in brackets).")
    w("")
    w("BPF run time/s is NOT the daemon's CPU: it is the kernel time the BPF programs take in "
      "the context of every thread on the node (the idlers mostly), from the daemon's own "
      "threadwatch_agent_bpf_run_seconds_total between the first and the last scrape. It "
      "counts the program bodies only (kernel BPF statistics, which the daemon turns on; they "
      "add two clock reads per run), not the tracepoint dispatch around them. With --syscalls "
      "it includes the sys_enter/sys_exit runs on the daemon's own syscalls (its map walks "
      "and /proc reads: the daemon traces itself like every process). Idlers' CPU is the "
      "load itself, for scale: the CPU time of the idlers' processes over the same window.")
    lost = defaultdict(dict)
    for r in runs:
        for k, v in (r.get("lost") or {}).items():
            lost[r["config"]][k] = max(lost[r["config"]].get(k, 0), v)
    if lost:
        w("")
        w("Lost (threadwatch_agent_lost_total at the last scrape, the largest of the runs): "
          + "; ".join("{} every {} s: ".format(*daemon_name(meta, c))
                      + ", ".join(f"{k} {v:,.0f}" for k, v in l.items())
                      for c, l in sorted(lost.items())) + ".")
    if verdicts:
        w("")
        w("\n".join(verdicts))
    # per-program: the node's cost does not depend on the scrapes: all intervals together
    for base in DAEMON_LABELS:
        ok = [r for r in runs if daemon_cfg(r["config"])[0] == base and r["ok"] == 1
              and r.get("progs")]
        if not ok:
            continue
        tot = defaultdict(lambda: [0.0, 0.0])
        for r in ok:
            for p, v in r["progs"].items():
                tot[p][0] += v["run_s_per_s"] / len(ok)
                tot[p][1] += v["runs_per_s"] / len(ok)
        args = meta.get("daemon_sc_args" if base == "dm_sc" else "daemon_args", "")
        w("")
        w(f"BPF programs under `daemon{' ' + args if args else ''}` (mean of {len(ok)} runs, "
          "every scrape interval):")
        w("")
        w("| program | runs/s | ns/run | run time/s |")
        w("|---|---:|---:|---:|")
        for p, (t, n) in sorted(tot.items(), key=lambda kv: -kv[1][0]):
            if n <= 0:
                continue
            w(f"| {p} | {n:,.0f} | {t / n * 1e9:,.0f} | {t * 1e3:.2f} ms |")
        t = sum(v[0] for v in tot.values())
        n = sum(v[1] for v in tot.values())
        w(f"| **all** | {n:,.0f} | {t / n * 1e9 if n else 0:,.0f} | {t * 1e3:.2f} ms |")


NGINX_CFGS = ("base", "tw_p", "tw_pns", "empty", "empty_ns", "empty_pst", "rq", "floor")


def median_ci(vals, coverage=0.9):
    """A distribution-free confidence interval of the median: the order statistics
    (x_k, x_{n+1-k}) with the largest k whose binomial coverage is at least coverage
    (n = 5: min and max, 94%; n = 10: 2nd and 9th, 98%). (lo, hi, coverage) or None."""
    xs, n = sorted(vals), len(vals)
    best = None
    for k in range(1, n // 2 + 1):
        # P(x_k <= median <= x_{n+1-k}) = 1 - 2 * P(Binomial(n, 1/2) < k)
        cov = 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2 ** n
        if cov >= coverage:
            best = (xs[k - 1], xs[n - k], cov)
    return best


def nginx_label(cfg, meta):
    who = ("MASTER --children" if meta.get("nginx_children") == "1"
           else "MASTER,WORKER1,WORKER2")
    flag, noflag = meta.get("tw_syscall_flag", ""), meta.get("tw_nosyscall_flag", "")
    if cfg == "tw_p":
        return f"bpf-threadwatch -p {who} {flag}".rstrip() + (
            " (everything on: the default)" if not flag else "")
    if cfg == "tw_pns":
        return f"bpf-threadwatch -p {who} " + (noflag or "(no syscall timing)")
    if cfg == "floor":
        return "bpftrace bench/floor.bt MASTER WORKER1 WORKER2 (count only)"
    return LABELS[cfg]


def cpu_cell(shares, runs, tick):
    """The median CPU share of one core; below one clock tick over the run, say so."""
    if not shares:
        return ""
    med = statistics.median(shares)
    if med > 0:
        return f"{med * 100:.1f}%"
    secs = [num(r["seconds"]) for r in runs if num(r["seconds"])]
    return f"< {tick / statistics.median(secs) * 100:.1f}% (under a clock tick)" if secs else "0%"


def nginx_section(w, meta, rows):
    """requests/s of nginx under wrk per configuration, and what each loses against base."""
    by = defaultdict(dict)
    for r in rows:
        by[r["config"]][r["rep"]] = r

    def rps(r):
        secs, reqs = num(r["seconds"]), num(r.get("ops", ""))
        return reqs / secs if secs and reqs else None

    def cpr(r):
        """CPU seconds per request of nginx + wrk + the tracer over the wrk run, or None."""
        svc, load, reqs = (num(r.get(k) or "-") for k in ("svc_cpu_s", "load_cpu_s", "ops"))
        tracer = num(r.get("run_cpu_s") or "-") or 0.0
        return (svc + load + tracer) / reqs if None not in (svc, load, reqs) and reqs else None

    loss_t = float(meta.get("nginx_loss_target_pct", 5))
    cheap_t = float(meta.get("nginx_cheap_target_pct", 1))
    targets = {"tw_p": loss_t, "tw_pns": cheap_t}
    w("")
    w(f"## nginx {meta.get('nginx_version', '')}: 2 workers, a {meta.get('nginx_page_bytes', '?')}"
      f"-byte static page, `wrk {meta.get('wrk_args', '')}` on loopback")
    w("")
    pin = meta.get("nginx_pin", "none")
    reuse = meta.get("nginx_reuseport", "0") == "1"
    w("Requests/s = wrk's completed requests / its own duration; ratio = requests/s over the "
      "untraced run's of the same repetition (<1 is a loss), the median of the repetitions; "
      "loss = 1 - ratio. "
      + {"auto": "nginx's workers are pinned one per CPU (`worker_cpu_affinity auto`)",
         "split": "nginx's workers are both pinned to the last CPU, wrk to the others "
                  f"(`{meta.get('wrk_pin', '')}`)"}.get(pin, "nginx's workers are not pinned")
      + (" and share connections through `reuseport`" if reuse else "")
      + ("; the tracer is not pinned" if pin == "split" else "; wrk and the tracer are not pinned")
      + (f"; each run follows a {meta['nginx_warm_s']} s unmeasured wrk warm-up with the tracer "
         "attached" if meta.get("nginx_warm_s") else "")
      + ". CPU/request = CPU time (utime + stime) of nginx's master and workers, wrk and the "
      "tracer over the wrk run, per request: the work each request costs the machine, which "
      "other load on it moves far less than requests/s. Its loss = 1 - base's CPU/request "
      "over this one's, per repetition: what requests/s loses when nginx and wrk saturate "
      "the CPUs, as they do here. Tracer CPU = the tracer process's alone, as a share of one "
      "core (user space only: the BPF programs run in nginx's and wrk's time)."
      + (f" The hypervisor stole {meta['nginx_steal_pct']}% of the machine's CPU time during "
         "the benchmark." if meta.get("nginx_steal_pct") else ""))
    w("")
    w("| configuration | median requests/s | min-max | ratio | loses | spread of loss | target "
      "| verdict | CPU/request | loss from CPU/request (spread) | tracer CPU, % of one core "
      "| tracer max RSS | agent lost (max) |")
    w("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    base = by.get("base", {})
    summary, spreads, cpu_loss, base_cv = {}, {}, {}, []
    for cfg in [c for c in NGINX_CFGS if c in by]:
        runs = by[cfg]
        ok = {rep: r for rep, r in runs.items() if r["ok"] == "1" and rps(r)}
        vals = [rps(r) for r in ok.values()]
        ratios = [rps(r) / rps(base[rep]) for rep, r in ok.items()
                  if rep in base and base[rep]["ok"] == "1" and rps(base[rep])]
        med = statistics.median(vals) if vals else None
        ratio = statistics.median(ratios) if ratios and cfg != "base" else None
        summary[cfg] = (ratio, med)
        if ratios and cfg != "base":
            spreads[cfg] = ((1 - max(ratios)) * 100, (1 - min(ratios)) * 100, len(ratios))
        cprs = [cpr(r) for r in ok.values() if cpr(r)]
        closs = [(1 - cpr(base[rep]) / cpr(r)) * 100 for rep, r in ok.items()
                 if cpr(r) and rep in base and base[rep]["ok"] == "1" and cpr(base[rep])]
        if closs and cfg != "base":
            cpu_loss[cfg] = (statistics.median(closs), min(closs), max(closs), len(closs))
        if cfg == "base":
            base_cv = [statistics.pstdev(x) / statistics.mean(x) * 100
                       for x in (vals, cprs) if len(x) > 1]
        target = targets.get(cfg)
        loss = (1 - ratio) * 100 if ratio is not None else None
        verdict = ""
        if target is not None and loss is not None:
            verdict = "met" if loss <= target else "**MISSED**"
        cpu = [num(r["run_cpu_s"]) / num(r["seconds"]) for r in ok.values()
               if num(r["run_cpu_s"]) is not None and num(r["seconds"])]
        rss = [num(r["maxrss_kb"]) for r in ok.values() if num(r["maxrss_kb"])]
        lost = {}
        for r in ok.values():
            for kv in r["lost"].split(","):
                k, _, v = kv.partition("=")
                if v.isdigit():
                    lost[k] = max(lost.get(k, 0), int(v))
        nfail = len(runs) - len(ok)
        cells = [
            nginx_label(cfg, meta) + (f" ({nfail} of {len(runs)} FAILED)" if nfail else ""),
            f"{med:,.0f}" if med else "—",
            f"{min(vals):,.0f}-{max(vals):,.0f}" if vals else "—",
            "1" if cfg == "base" else fmt_ratio(ratio),
            f"{loss:+.1f}%" if loss is not None else "",
            f"{(1 - max(ratios)) * 100:+.1f} to {(1 - min(ratios)) * 100:+.1f}%"
            if ratios and cfg != "base" else "",
            f"<= {target:g}%" + (" (cheaper mode)" if cfg == "tw_pns" else "")
            if target is not None else "",
            verdict,
            f"{statistics.median(cprs) * 1e6:.1f} us" if cprs else "",
            (f"{cpu_loss[cfg][0]:+.1f}% ({cpu_loss[cfg][1]:+.1f} to {cpu_loss[cfg][2]:+.1f}%)"
             if cfg in cpu_loss else ""),
            cpu_cell(cpu, ok.values(), 1 / float(meta.get("clk_tck") or 100)),
            f"{max(rss) / 1024:.1f} MB" if rss else "",
            ", ".join(f"{k} {v}" for k, v in lost.items()) or ("0" if cfg.startswith("tw") else ""),
        ]
        w("| " + " | ".join(cells) + " |")
    lines = []
    bmed = summary.get("base", (None, None))[1]
    for cfg in ("tw_p", "tw_pns"):
        ratio, med = summary.get(cfg, (None, None))
        if ratio is None:
            continue
        fcfg = "empty" if cfg == "tw_p" else "empty_ns"
        er = summary.get(fcfg, (None, None))[0]
        loss = (1 - ratio) * 100
        lo, hi, n = spreads[cfg]
        ci = median_ci([(1 - rps(r) / rps(base[rep])) * 100 for rep, r in by[cfg].items()
                        if r["ok"] == "1" and rps(r) and rep in base and base[rep]["ok"] == "1"
                        and rps(base[rep])])
        ci_line = None
        if ci:
            judge = ("met" if ci[1] <= targets[cfg] else "MISSED" if ci[0] > targets[cfg]
                     else "cannot be judged at this noise")
            ci_line = (f"  - judged on a {ci[2] * 100:.0f}% confidence interval of the median loss "
                         f"of `{cfg}`: {ci[0]:+.1f} to {ci[1]:+.1f}% against <= "
                         f"{targets[cfg]:g}%: **{judge}**"
                       + (" (more repetitions, -n, narrow it)" if judge.startswith("cannot")
                          else "") + ".")
        line = (f"- **{'met' if loss <= targets[cfg] else 'MISSED'}**: with "
                f"`{nginx_label(cfg, meta)}` nginx "
                + (f"loses {loss:.1f}% of its requests per second" if loss >= 0 else
                   f"serves {-loss:.1f}% more requests per second than untraced (noise)")
                + f" (target <= {targets[cfg]:g}% lost; {lo:+.1f} to {hi:+.1f}% over "
                f"{n} repetitions, "
                + ("all within" if hi <= targets[cfg] else
                   "some above" if lo <= targets[cfg] else "all above") + " the target)")
        if cfg in cpu_loss:
            cm, clo, chi, cn = cpu_loss[cfg]
            line += (f"; from CPU/request {cm:+.1f}% ({clo:+.1f} to {chi:+.1f}%: "
                     + ("met" if cm <= targets[cfg] else "MISSED")
                     + (", every repetition within" if chi <= targets[cfg] else
                        ", some above" if clo <= targets[cfg] else ", every repetition above")
                     + " the target)")
        if er is not None:
            line += (f"; floor + X: loss {loss:+.1f}% = `{fcfg}`'s {(1 - er) * 100:+.1f}% + "
                     f"ours {(er - ratio) * 100:+.1f} points")
            if bmed:
                # time per request = 1 / requests/s, from the paired ratios
                line += (f"; per request, the empty programs add "
                         f"{(1 / er - 1) / bmed * 1e9:+,.0f} ns, ours "
                         f"{(1 / ratio - 1 / er) / bmed * 1e9:+,.0f} ns")
        lines.append(line + ".")
        if ci_line:
            lines.append(ci_line)
    if len(base_cv) == 2:
        lines.append(f"- untraced run to run: requests/s varies {base_cv[0]:.1f}% (coefficient "
                     f"of variation over the repetitions), CPU/request {base_cv[1]:.1f}%.")
    if lines:
        w("")
        w("\n".join(lines))
    if "empty" in summary:
        w("")
        w("`empty` (all hooks, sys_enter/sys_exit included) is the floor under `tw_p`, "
          "`empty_ns` (all but sys_enter/sys_exit) the floor under `tw_pns`.")
    er, nr, pr = (summary.get(c, (None, None))[0] for c in ("empty", "empty_ns", "empty_pst"))
    bmed = summary.get("base", (None, None))[1]
    if None not in (er, nr, pr) and bmed:
        per = 1e9 / bmed

        def add(r):
            return (1 / r - 1 / nr) * per  # ns per request above empty_ns

        w("")
        w(f"Syscall hooks per request, above `empty_ns`: raw sys_enter/sys_exit (`empty`) "
          f"{add(er):+,.0f} ns, per-syscall tracepoints of the timed calls (`empty_pst`) "
          f"{add(pr):+,.0f} ns; loss {(1 - er) * 100:+.1f}% and {(1 - pr) * 100:+.1f}%.")


def label(bench, cfg, meta):
    """The configuration as the reader would type it."""
    flag = meta.get("tw_syscall_flag", "")
    noflag = meta.get("tw_nosyscall_flag", "")
    default_on = meta.get("tw_syscall_default") == "1"
    who = "A" if bench == "neighbour" else "PID"
    if cfg == "tw_psc":
        return f"bpf-threadwatch -p {who} {flag}".rstrip()
    if cfg == "tw_pns":
        return f"bpf-threadwatch -p {who} " + (noflag or "(no syscall timing)")
    if cfg == "tw_p":
        if bench in PER_LOOP and flag:
            return f"bpf-threadwatch -p {who} {flag}"
        return f"bpf-threadwatch -p {who}" + (" (syscall timing on by default)" if default_on
                                              else "")
    if bench in PER_LOOP:
        if cfg == "strace":
            div = meta.get("strace_div", "")
            return f"strace -f -p {who}" + (f" (1/{div} of the loops)" if bench == "pingpong"
                                            and div else "")
        if cfg == "bt":
            return f"bpftrace bench/syscalls.bt {who}"
        if cfg == "floor":
            return f"bpftrace bench/floor.bt {who} (count only: the floor)"
    if cfg in ("empty", "empty_ns", "empty_pst", "empty_sched"):
        return LABELS[cfg] + (", system-wide" if bench == "neighbour" else "")
        if cfg == "base" and bench == "neighbour":
            return "untraced (neither A nor B)"
    return LABELS[cfg]


def syscalls_on(bench, cfg, meta):
    """Whether configuration cfg of bench times syscalls (runs sys_enter/sys_exit)."""
    default_on = meta.get("tw_syscall_default") == "1"
    if cfg == "tw_pns":
        return False
    if cfg == "tw_psc":
        return True
    if cfg == "tw_p" and bench in PER_LOOP and meta.get("tw_syscall_flag"):
        return True
    return default_on


def floor_plus_x(bench, meta, summary, base_med, ops, unit):
    """ "tw_p 1.35x = empty 1.20x + 0.15x; per loop: empty adds N ns, we add M ns" lines."""
    out = []
    for cfg in ("tw_p", "tw_psc", "tw_pns", "tw_sys"):
        ratio, med = summary.get((bench, cfg), (None, None))
        if ratio is None:
            continue
        fcfg = "empty" if syscalls_on(bench, cfg, meta) else "empty_ns"
        fratio, fmed = summary.get((bench, fcfg), (None, None))
        if fratio is None:
            continue
        line = (f"- `{cfg}` ({label(bench, cfg, meta)}) {ratio:.3f}x = `{fcfg}` {fratio:.3f}x "
                f"{'+' if ratio >= fratio else '-'} {abs(ratio - fratio):.3f}x")
        if ops and base_med:
            # from the paired ratios, so that the two terms add up as the ratios do
            per = base_med / ops * 1e9
            line += (f"; per {unit}: the empty programs add {(fratio - 1) * per:+,.0f} ns, "
                     f"ours {(ratio - fratio) * per:+,.0f} ns")
        if cfg == "tw_sys":
            line += " (the empty programs filter nothing: system-wide is their like)"
        out.append(line + ".")
    return out


def pst_profile(w, p, ops, unit, secs):
    """Empty programs on raw sys_enter/sys_exit and on per-syscall tracepoints, same run."""
    w("")
    w(f"### {p['bench']}, empty programs only (no agent): raw sys_enter/sys_exit and the "
      f"per-syscall tracepoints of the timed calls, both attached: workload {secs:.3f} s")
    w("")
    w("Both bodies are `return 0`: equal ns/run says the programs cost the same wherever they "
      "are attached, and what the per-syscall path costs more or less (the trace record it "
      "fills before the program, its dispatch) is outside run_time_ns: the ratio runs above "
      "measure it. runs/" + unit + " says which calls reach a program at all.")
    w("")
    w(f"| programs | runs | runs/{unit} | ns/run |")
    w("|---|---:|---:|---:|")
    groups = (("raw sys_enter (tp_btf or raw_tp)", p.get("empty_progs", []),
               lambda n: hook_of(n) == "sys_enter"),
              ("raw sys_exit", p.get("empty_progs", []), lambda n: hook_of(n) == "sys_exit"),
              ("per-syscall sys_enter_* (all timed calls)", p["progs"],
               lambda n: n.startswith("pst_e_")),
              ("per-syscall sys_exit_*", p["progs"], lambda n: n.startswith("pst_x_")))
    for name, progs, pick in groups:
        sel = [g for g in progs if pick(g["name"])]
        cnt = sum(g["run_cnt"] for g in sel)
        t = sum(g["run_time_ns"] for g in sel)
        w(f"| {name} | {cnt:,} | {cnt / ops:.2f} | {t / cnt if cnt else 0:.0f} |")
    busy = sorted((g for g in p["progs"] if g["run_cnt"]), key=lambda g: -g["run_cnt"])[:4]
    if busy:
        w("")
        w("Per-syscall programs that ran: " + ", ".join(
            f"{g['name']} {g['run_cnt']:,}" for g in busy) + ".")


def per_syscall_lines(bench, summary, base_med):
    """What each syscall hook architecture costs a syscall, from empty, empty_ns, empty_pst."""
    r = {c: summary.get((bench, c), (None, None))[0] for c in ("empty", "empty_ns", "empty_pst")}
    if bench not in NSYS or not base_med or None in r.values():
        return []
    per = base_med * 1e9 / NSYS[bench]  # untraced ns per syscall (with its share of the loop)
    raw, pst = (r["empty"] - r["empty_ns"]) * per, (r["empty_pst"] - r["empty_ns"]) * per
    what = {"pingpong": "a timed call (read/write)", "getpid": "an untimed call (getpid)",
            "readzero": "a timed call that never sleeps (read of /dev/zero)",
            "neighbour": "the untraced neighbour's read/write (the programs filter nothing)"}
    out = [f"- per syscall, {what[bench]}: raw sys_enter + sys_exit {raw:+,.0f} ns, per-syscall "
           f"tracepoints {pst:+,.0f} ns (difference {pst - raw:+,.0f} ns; `empty` "
           f"{r['empty']:.3f}x, `empty_pst` {r['empty_pst']:.3f}x, `empty_ns` "
           f"{r['empty_ns']:.3f}x)."]
    sched = summary.get((bench, "empty_sched"), (None, None))[0]
    if sched is not None:
        out.append(f"- the traced syscall path alone (`empty_ns`, whose clone tracepoints turn it "
                   f"on for every task, above `empty_sched`, which has no syscall tracepoint): "
                   f"{(r['empty_ns'] - sched) * per:+,.0f} ns per syscall (`empty_sched` "
                   f"{sched:.3f}x); so with raw sys_enter/sys_exit a syscall pays "
                   f"{(r['empty'] - sched) * per:+,.0f} ns, with per-syscall tracepoints "
                   f"{(r['empty_pst'] - sched) * per:+,.0f} ns, above no syscall tracing at all.")
    return out


def hook_of(name):
    """The hook of a program named as the agent's (tp_btf_sched_switch -> sched_switch)."""
    for prefix in ("tp_btf_", "raw_tp_"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def per_op(row, bench, meta):
    """Time of a run in seconds (pipe, storm), or per loop in seconds (pingpong, neighbour)."""
    secs = num(row["seconds"])
    if secs is None or bench not in PER_LOOP:
        return secs
    ops = num(row.get("ops", "")) or num(meta.get(OPS[bench][0], ""))
    return secs / ops if ops else None


def num(s):
    try:
        return float(s)
    except ValueError:
        return None


def fmt_ratio(r):
    return f"{r:.3f}x" if r is not None else "—"


def main():
    meta_path, raw_path, prof_path = sys.argv[1:4]
    dm_path = sys.argv[4] if len(sys.argv) > 4 else ""
    meta, notes = {}, []
    with open(meta_path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            if k == "note":
                notes.append(v)
            else:
                meta[k] = v
    rows = []
    with open(raw_path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    prof = []
    if os.path.exists(prof_path):
        with open(prof_path) as f:
            prof = json.load(f)
    dm = []
    if dm_path and os.path.exists(dm_path):
        with open(dm_path) as f:
            dm = json.load(f)

    out = []
    w = out.append
    w(f"# bpf-threadwatch overhead, {meta['date']}")
    w("")
    w(f"- machine: {meta['host']}, {meta['cpus']} CPUs ({meta['cpu_model']}), {meta['os']}, "
      f"kernel {meta['kernel']}")
    w(f"- agent: {meta['agent']} (commit {meta['agent_commit']})")
    w(f"- load average (1, 5, 15 min): {meta['load']}")
    w(f"- command: `{meta['command']}`, {meta['mode']} mode, {meta['reps']} repetitions per "
      f"configuration, interleaved; took {meta['elapsed_s']} s")
    for n in notes:
        w(f"- note: {n}")
    if any(r["bench"] != "nginx" for r in rows):
        w("")
        w("Ratio = traced time / untraced time (>1 is slower), the median of per-repetition "
          "ratios, each against the untraced run of the same repetition; spread = min-max of "
          "those ratios. Tracer CPU during run = CPU time of the tracer's own process (user "
          "space + syscalls, not the BPF programs) while the workload ran, as a share of the "
          "workload's time.")

    by = defaultdict(dict)  # (bench, cfg) -> rep -> row
    for r in rows:
        by[r["bench"], r["config"]][r["rep"]] = r
    failed = [r for r in rows if r["ok"] != "1"]
    summary = {}
    spreads = {}
    for bench in BENCHES:
        cfgs = [c for c in ORDER if (bench, c) in by]
        if not cfgs:
            continue
        loop = bench in PER_LOOP
        unit_t, scale = ("us/loop", 1e6) if loop else ("s", 1)
        w("")
        w("## " + TITLES[bench].format(**meta))
        if bench == "neighbour":
            w("")
            w("The tracer watches A only; the times and ratios are B's, against B's time when "
              "nothing is traced. Each process is pinned to a CPU of its own; the tracer is "
              "not pinned.")
        w("")
        w(f"| configuration | median {unit_t} | min-max {unit_t} | ratio | spread | target "
          "| verdict | tracer CPU during run | tracer max RSS | agent lost (max) |")
        w("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
        base = by.get((bench, "base"), {})
        base_med = None
        for cfg in cfgs:
            runs = by[bench, cfg]
            ok = {rep: r for rep, r in runs.items() if r["ok"] == "1" and per_op(r, bench, meta)}
            times = [per_op(r, bench, meta) for r in ok.values()]
            ratios = [per_op(r, bench, meta) / per_op(base[rep], bench, meta)
                      for rep, r in ok.items()
                      if rep in base and base[rep]["ok"] == "1" and per_op(base[rep], bench, meta)]
            med = statistics.median(times) if times else None
            if cfg == "base":
                base_med = med
            ratio = statistics.median(ratios) if ratios and cfg != "base" else None
            summary[bench, cfg] = (ratio, med)
            if ratios and cfg != "base":
                spreads[bench, cfg] = (min(ratios), max(ratios), len(ratios))
            target = TARGETS.get((bench, cfg))
            verdict = ""
            if target and ratio is not None:
                verdict = "met" if ratio <= target else "**MISSED**"
            rss = [num(r["maxrss_kb"]) for r in ok.values() if num(r["maxrss_kb"])]
            lost = {}
            for r in ok.values():
                for kv in r["lost"].split(","):
                    k, _, v = kv.partition("=")
                    if v.isdigit():
                        lost[k] = max(lost.get(k, 0), int(v))
            nfail = len(runs) - len(ok)
            is_tw = cfg.startswith("tw")
            # tracer CPU as a share of the run: seconds of CPU over seconds of workload
            cpu = [num(r["run_cpu_s"]) / num(r["seconds"]) for r in ok.values()
                   if num(r["run_cpu_s"]) is not None and num(r["seconds"])]
            cells = [
                label(bench, cfg, meta) + (f" ({nfail} of {len(runs)} FAILED)" if nfail else ""),
                f"{med * scale:.3f}" if times else "—",
                f"{min(times) * scale:.3f}-{max(times) * scale:.3f}" if times else "—",
                "1" if cfg == "base" else fmt_ratio(ratio),
                f"{min(ratios):.3f}-{max(ratios):.3f}" if ratios and cfg != "base" else "",
                f"<= {target:.2f}x" if target else "",
                verdict,
                f"{statistics.median(cpu) * 100:.0f}%" if cpu else "",
                f"{max(rss) / 1024:.1f} MB" if rss else "",
                ", ".join(f"{k} {v}" for k, v in lost.items()) or ("0" if is_tw else ""),
            ]
            w("| " + " | ".join(cells) + " |")
        key, unit = OPS[bench]
        ops = 1 if loop else num(meta.get(key, "")) or None
        if ops and base_med:
            per = [f"untraced {base_med / ops * 1e6:.2f} us/{unit}"]
            for cfg in (("tw_p", "tw_pns", "tw_sys", "bt", "floor") if loop
                        else ("tw_p", "tw_sys")):
                if summary.get((bench, cfg), (None, None))[1]:
                    extra = (summary[bench, cfg][1] - base_med) / ops * 1e9
                    per.append(f"{label(bench, cfg, meta)} adds {extra:,.0f} ns/{unit}"
                               + (f" ({extra / NSYS[bench]:,.0f} ns per syscall)"
                                  if loop and NSYS[bench] > 1 else ""))
            w("")
            what = {"pingpong": " (4 syscalls, 2 context switches)",
                    "neighbour": " (4 syscalls, 2 context switches)",
                    "getpid": " (1 syscall)", "readzero": " (1 syscall)"}.get(bench, "")
            w("Per " + unit + what + ": " + "; ".join(per) + ".")
        floor_lines = floor_plus_x(bench, meta, summary, base_med, ops, unit)
        if floor_lines:
            w("")
            w("Floor + X: each bpf-threadwatch configuration as the empty programs on the same "
              "hooks (`empty`: all of them, `empty_ns`: all but sys_enter/sys_exit; the floor, "
              "what any BPF program there costs) plus what our programs add above them "
              "(medians; a negative X is noise):")
            w("")
            w("\n".join(floor_lines))
        pst_lines = per_syscall_lines(bench, summary, base_med)
        if pst_lines:
            w("")
            w("Raw sys_enter/sys_exit or per-syscall tracepoints (the empty programs, paired "
              "ratios times the untraced time per loop; above `empty_ns`, the same hooks "
              "without any syscall program):")
            w("")
            w("\n".join(pst_lines))
        if bench == "pingpong" and ("pingpong", "strace") in summary:
            w("")
            w("strace is compared per loop: it runs 1/" + meta.get("strace_div", "?")
              + " of the loops (it is that much slower). Its tracer CPU is its whole life's.")

    nginx_rows = [r for r in rows if r["bench"] == "nginx"]
    if nginx_rows:
        nginx_section(w, meta, nginx_rows)
    if dm:
        daemon_section(w, meta, dm)

    verdicts = []
    for bench, what, target in (
            ("pingpong", "a traced syscall-heavy process", TARGETS["pingpong", "tw_p"]),
            ("neighbour", "an untraced process next to a traced one",
             TARGETS["neighbour", "tw_p"])):
        ratio = summary.get((bench, "tw_p"), (None, None))[0]
        if ratio is None:
            continue
        lo, hi, n = spreads[bench, "tw_p"]
        line = (f"- **{'met' if ratio <= target else 'MISSED'}**: bpf-threadwatch makes {what} "
                f"{ratio:.3f}x slower (target <= {target:.2f}x; {lo:.3f}-{hi:.3f} over {n} "
                f"repetitions{', all within' if hi <= target else ''}"
                f"{'' if hi <= target else (', some above' if lo <= target else ', all above')}"
                f" the target)")
        others = [f"{name} {summary[bench, cfg][0]:.3f}x"
                  for cfg, name in (("tw_pns", "without syscall timing"), ("strace", "strace -f"),
                                    ("bt", "bpftrace"),
                                    ("floor", "a count-only bpftrace filter (the floor)"))
                  if summary.get((bench, cfg), (None, None))[0] is not None]
        if others:
            line += "; same run: " + ", ".join(others)
        verdicts.append(line + ".")
    if verdicts:
        w("")
        w("## Syscall-tracing targets")
        w("")
        w("\n".join(verdicts))
    tw = [r for r in rows if r["config"].startswith("tw") and r["ok"] == "1"]
    if tw:
        w("")
        w("## Agent memory and attach time")
        w("")
        w("| measure | -p PID | system-wide | target | verdict |")
        w("|---|---:|---:|---:|---|")
        for bench in ("pipe", "storm"):
            vals = {}
            for cfg in ("tw_p", "tw_sys"):
                v = [num(r["maxrss_kb"]) for r in tw if r["bench"] == bench and r["config"] == cfg
                     and num(r["maxrss_kb"])]
                vals[cfg] = max(v) if v else None
            if not any(vals.values()):
                continue
            worst = max(v for v in vals.values() if v)
            w(f"| max RSS during {bench} | "
              + " | ".join(f"{vals[c] / 1024:.1f} MB" if vals[c] else "—" for c in ("tw_p", "tw_sys"))
              + f" | <= {RSS_TARGET_KB // 1024} MB | {'met' if worst <= RSS_TARGET_KB else '**MISSED**'} |")
        att = {c: [num(r["attach_s"]) for r in tw if r["config"] == c and num(r["attach_s"])]
               for c in ("tw_p", "tw_sys")}
        if any(att.values()):
            allv = att["tw_p"] + att["tw_sys"]
            med = statistics.median(allv)
            w("| attach time, median (min-max) | "
              + " | ".join(f"{statistics.median(v):.3f} s ({min(v):.3f}-{max(v):.3f}), n={len(v)}"
                           if v else "—" for v in att.values())
              + f" | < {ATTACH_TARGET_S} s | {'met' if med < ATTACH_TARGET_S else '**MISSED**'} |")
        w("")
        w("Max RSS is the agent's peak resident set (/usr/bin/time %M, else VmHWM). BPF map "
          "memory is kernel memory and not part of it; it is listed under the per-program table. "
          "Attach time is the agent's own `attached in` figure: open + load + attach.")

    if prof:
        w("")
        w("## Where the time goes: BPF programs (kernel.bpf_stats_enabled=1)")
        w("")
        w("One extra run per line, outside the ratio runs (the statistics add two clock reads "
          "per program run). run_time_ns counts the program bodies only, not the tracepoint "
          "dispatch or the trampoline around them.")
        for p in prof:
            bench, cfg = p["bench"], p["cfg"]
            key, unit = OPS[bench]
            ops = num(meta.get(key, "")) or 1
            secs = p["seconds"]
            if p.get("kind") == "pst":
                pst_profile(w, p, ops, unit, secs)
                continue
            w("")
            w(f"### {bench}, {label(bench, cfg, meta)}: workload {secs:.3f} s"
              + (f", agent CPU {p['cpu_s']:.2f} s, max RSS {p['maxrss_kb'] / 1024:.1f} MB"
                 if "cpu_s" in p else ""))
            w("")
            empty = {hook_of(g["name"]): g for g in p.get("empty_progs", []) if g["run_cnt"]}
            if empty:
                w("Empty programs (bench/floor.bpf.c) were attached on the same hooks in the "
                  "same run" + (" (without sys_enter/sys_exit, as the agent here)"
                                if p.get("empty_args") else "") + ": `empty ns/run` is "
                  "theirs on the same events (mostly the statistics' own clock read and the "
                  "call into a program), `above empty` what our program's body costs more.")
                w("")
            w(f"| program | runs | runs/{unit} | ns/run | empty ns/run | above empty "
              "| total ms | % of workload time |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|")
            tot_ns = tot_runs = 0
            above = {}
            for g in sorted(p["progs"], key=lambda g: -g["run_time_ns"]):
                if not g["run_cnt"]:
                    continue
                tot_ns += g["run_time_ns"]
                tot_runs += g["run_cnt"]
                ns = g["run_time_ns"] / g["run_cnt"]
                e = empty.get(hook_of(g["name"]))
                ens = e["run_time_ns"] / e["run_cnt"] if e else None
                if ens is not None:
                    above[hook_of(g["name"])] = (ns, ens, g["run_cnt"])
                w(f"| {g['name']} | {g['run_cnt']:,} | {g['run_cnt'] / ops:.2f} "
                  f"| {ns:.0f} | {f'{ens:.0f}' if ens is not None else '—'} "
                  f"| {f'{ns - ens:+.0f}' if ens is not None else '—'} "
                  f"| {g['run_time_ns'] / 1e6:.1f} "
                  f"| {g['run_time_ns'] / 1e7 / secs:.1f}% |")
                if g.get("recursion_misses"):
                    w(f"| (recursion misses of {g['name']}) | {g['recursion_misses']:,} | | | | |")
            w(f"| **all** | {tot_runs:,} | {tot_runs / ops:.2f} | "
              f"{tot_ns / tot_runs if tot_runs else 0:.0f} | | | {tot_ns / 1e6:.1f} "
              f"| {tot_ns / 1e7 / secs:.1f}% |")
            judged = []
            for what, hooks, target in ABOVE_EMPTY_TARGETS:
                if not all(h in above for h in hooks):
                    continue
                # only hooks the workload itself drives (at least one run per two loops or
                # threads): the forks other processes make during the pipe run say nothing
                if min(above[h][2] for h in hooks) < 0.5 * ops:
                    continue
                ns = sum(above[h][0] for h in hooks)
                ens = sum(above[h][1] for h in hooks)
                judged.append(f"{what} {ns:.0f} ns = empty {ens:.0f} + **{ns - ens:.0f} ns** "
                              f"(target <= +{target} ns: "
                              f"{'met' if ns - ens <= target else 'MISSED'})")
            if judged:
                w("")
                w("Above the empty program (issue 10's measure of a program's cost, per event): "
                  + "; ".join(judged) + ".")
            w("")
            line = f"BPF time per {unit}: {tot_ns / ops:,.0f} ns."
            if p.get("agent_wakeups") is not None:
                line += (f" The agent's user space woke up {p['agent_wakeups']:,} times "
                         f"({p['agent_wakeups'] / ops:.2f} per {unit}).")
            w(line)
        maps = prof[-1].get("maps", [])
        if maps:
            w("")
            w("BPF maps of the agent (kernel memory, memlock as the kernel reports it, from the "
              "last profile run):")
            w("")
            w("| map | max entries | memlock |")
            w("|---|---:|---:|")
            for m in sorted(maps, key=lambda m: -m["memlock"]):
                w(f"| {m['name']} | {m['max_entries']:,} | {m['memlock'] / 1024:,.0f} KiB |")
            w(f"| **all** | | {sum(m['memlock'] for m in maps) / 1024:,.0f} KiB |")

    dm_failed = [r for r in dm if r["ok"] != 1]
    if failed or dm_failed:
        w("")
        w("## FAILED runs (excluded above; a benchmark of a broken run is meaningless)")
        w("")
        for r in failed:
            w(f"- {r['bench']} {r['config']} rep {r['rep']}: {r['note']}")
        for r in dm_failed:
            w(f"- daemon {r['config']} rep {r['rep']}: {r['note']}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
