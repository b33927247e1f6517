# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""How a -p run ends: the target exits, or SIGINT/SIGTERM; and nothing stays attached."""
import signal
import time

import pytest

import twtest
from twtest import workload


def test_target_exits(require_bpf):
    """No -d: when the traced process exits, the tool reports and exits 0 by itself."""
    tool, wl = twtest.start_attached(["--format", "json"],
                                     [workload("blockers"), "--wait-stdin", "2", "300"])
    with tool, wl:
        wl.send("\n")
        assert twtest.finish(wl, 30, "the workload") == 0, twtest.describe(wl)
        rc = twtest.finish(tool, 15, "the tool (after its target exited)")
        ctx = twtest.describe(tool)
        assert rc == 0, ctx
        assert "exited" in tool.stderr.lower(), "the tool does not say the process exited" + ctx
        objs, _ = twtest.parse_report(tool.stdout, ctx)
        rep = twtest.final_report(objs, ctx)
        proc = twtest.find_proc(rep, wl.pid, ctx)
        assert proc["exited"] is True, ctx
        assert proc["threads_created"] == 2 and proc["threads_exited"] == 2, ctx


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_ends_run(require_bpf, sig):
    """SIGINT/SIGTERM: final report, exit 0, and none of the tool's programs stay loaded."""
    tool, wl = twtest.start_attached(["--format", "json"],
                                     [workload("blockers"), "--wait-stdin", "--hold", "2", "50"])
    with tool, wl:
        progs, links = twtest.held_bpf_objects(tool.pid)
        names = twtest.loaded_progs()
        ours = {i: names.get(i) for i in progs}
        assert ours and links, f"the tool holds no BPF programs/links: {ours}, {links}"
        odd = {i: n for i, n in ours.items() if not (n or "").startswith(twtest.PROG_PREFIXES)}
        assert not odd, f"programs not named {twtest.PROG_PREFIXES}...: {odd}"
        wl.send("\n")
        done = wl.wait_line("out", lambda s: '"workload"' in s, 30)
        assert done, "the workload did not finish its work" + twtest.describe(wl)
        time.sleep(0.2)
        tool.signal(sig)
        rc = twtest.finish(tool, 15)
        ctx = twtest.describe(tool)
        assert rc == 0, ctx
        objs, _ = twtest.parse_report(tool.stdout, ctx)
        rep = twtest.final_report(objs, ctx)
        proc = twtest.find_proc(rep, wl.pid, ctx)
        assert proc["exited"] is False, "the workload is still alive (--hold)" + ctx
        assert proc["threads_created"] == 2 and proc["threads_exited"] == 2, ctx
        assert proc["threads_now"] == 1, ctx

        # programs are freed after an RCU grace period: allow a moment
        deadline = time.monotonic() + 5
        while True:
            left = {i: n for i, n in twtest.loaded_progs().items() if i in ours}
            left_links = {i: p for i, p in twtest.loaded_links().items() if i in links or p in ours}
            if not left and not left_links:
                break
            assert time.monotonic() < deadline, \
                f"still loaded after the tool exited: programs {left}, links {left_links}" + ctx
            time.sleep(0.2)
        wl.close_stdin()
        assert twtest.finish(wl, 10, "the workload") == 0, twtest.describe(wl)
