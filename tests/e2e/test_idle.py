# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""An agent with nothing to do wakes at most once a second (issue 10).

Counted, not timed: the agent's voluntary context switches (each sleep that ends is one)
over a few seconds of tracing a target that does nothing, against the seconds that passed.
Events are read every 100 ms while they come and at least once a second otherwise; a
target's exit and a signal wake the agent at once (test_signals.py); this checks that
nothing else wakes an idle one more often than once a second.
"""
import signal
import time
from pathlib import Path

import twtest

WINDOW_S = 5
MAX_WAKES_PER_S = 1.5


def voluntary_switches(pid):
    """Voluntary context switches of all of pid's threads so far."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue  # a thread that just exited
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                total += int(line.split()[1])
    return total


def wakes_per_s(pid, window_s):
    t0, v0 = time.monotonic(), voluntary_switches(pid)
    time.sleep(window_s)
    t1, v1 = time.monotonic(), voluntary_switches(pid)
    return (v1 - v0) / (t1 - t0), v1 - v0


def test_cli_idle_target(require_bpf):
    """-p on `sleep 1000`: over 5 s the agent sleeps and wakes at most ~once a second (it
    polled the ring buffer every 100 ms before: 10 a second); then SIGINT still ends it with
    its final report."""
    with twtest.Bg(["sleep", "1000"]) as target:
        with twtest.Bg([require_bpf, "-p", str(target.pid), "--format", "json"]) as tool:
            line = tool.wait_line("err", lambda s: "Tracing" in s, 30)
            assert line, "the tool never printed 'Tracing'" + twtest.describe(tool)
            # the first second reads every 100 ms, as any second with events does (the
            # dead must be harvested in time); with none, the agent sleeps until due
            time.sleep(2)
            rate, n = wakes_per_s(tool.pid, WINDOW_S)
            ctx = f"\n{n} voluntary context switches in {WINDOW_S} s" + twtest.describe(tool)
            assert rate <= MAX_WAKES_PER_S, \
                f"an idle agent woke {rate:.1f} times a second" + ctx
            tool.signal(signal.SIGINT)
            rc = twtest.finish(tool, 15)
            ctx = twtest.describe(tool)
            assert rc == 0, ctx
            objs, _ = twtest.parse_report(tool.stdout, ctx)
            proc = twtest.find_proc(twtest.final_report(objs, ctx), target.pid, ctx)
            assert proc["exited"] is False and proc["threads_now"] == 1, ctx
