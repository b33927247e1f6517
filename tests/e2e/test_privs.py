# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Least privilege: the tool runs as user nobody with exactly CAP_BPF,
CAP_PERFMON and CAP_DAC_READ_SEARCH (README "What it needs"), and without one
of them it fails with exit 1 and one line naming what is missing.

The capabilities are given with setpriv: inheritable + ambient, so they
survive the exec of the tool as a user that is not root, and a bounding set
holding only them, so nothing else can be picked up on the way.
"""
import os
import pwd
import re
import shutil
import signal
import tempfile

import pytest

import twtest
from twtest import workload

NEEDED = ("bpf", "perfmon", "dac_read_search")
CAP_NAME = {"bpf": "CAP_BPF", "perfmon": "CAP_PERFMON", "dac_read_search": "CAP_DAC_READ_SEARCH"}


@pytest.fixture(scope="module")
def nobody(require_bpf):
    """(uid, gid) of user nobody; fails in CI / skips elsewhere without setpriv or nobody."""
    missing = [] if shutil.which("setpriv") else ["setpriv (util-linux)"]
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        missing.append("user nobody")
    if missing:
        if twtest.IN_CI:
            pytest.fail(f"CI=true: missing {missing}", pytrace=False)
        pytest.skip(f"missing {missing}")
    return pw.pw_uid, pw.pw_gid


@pytest.fixture
def shared_dir():
    """A private directory user nobody can write (the workload's --out)."""
    d = tempfile.mkdtemp(prefix="tw-e2e-privs-")
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def as_nobody(ids, caps):
    """setpriv prefix: user nobody, no groups, exactly the capabilities caps (names, lower case)."""
    uid, gid = ids
    plus = "".join(f",+{c}" for c in caps)
    argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    if caps:
        argv += [f"--inh-caps=-all{plus}", f"--ambient-caps={plus[1:]}",
                 f"--bounding-set=-all{plus}"]
    else:
        argv += ["--inh-caps=-all", "--bounding-set=-all"]
    return argv


def test_least_privilege_exec(require_bpf, nobody, shared_dir):
    """`-- blockers 4 200` as nobody with the three capabilities: exact counts."""
    out = os.path.join(shared_dir, "blockers.json")
    cp = twtest.run([*as_nobody(nobody, NEEDED), require_bpf, "--format", "json", "--",
                     workload("blockers"), "--out", out, "4", "200"], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, \
        "the tool does not run with CAP_BPF + CAP_PERFMON + CAP_DAC_READ_SEARCH" + ctx
    wl = twtest.read_workload_out(out)
    objs, stray = twtest.parse_report(cp.stdout, ctx)
    assert not stray, "workload output leaked into the tool's stdout" + ctx
    rep = twtest.final_report(objs, ctx)
    twtest.check_report_shape(rep, ctx)
    twtest.assert_no_loss(rep, ctx)
    proc = twtest.find_proc(rep, wl["pid"], ctx)
    ctx = f"\nprocess: { {k: v for k, v in proc.items() if k != 'threads'} }" + ctx
    assert proc["comm"] == "blockers", ctx
    assert proc["exited"] is True, ctx
    assert proc["threads_created"] == 4, ctx
    assert proc["threads_exited"] == 4, ctx
    assert proc["threads_peak"] == 5, ctx
    tids = set(twtest.threads_by_tid(proc))
    expected = {w["tid"] for w in wl["workers"]} | {wl["main_tid"]}
    assert tids == expected, f"thread rows {sorted(tids)} != {sorted(expected)}" + ctx
    for w in wl["workers"]:
        t = twtest.threads_by_tid(proc)[w["tid"]]
        assert t["blocked_ns"] >= 0.9 * w["read_ns"], f"worker {w} row {t}" + ctx


def test_least_privilege_root_target(require_bpf, nobody):
    """-p of a process owned by root, traced by nobody with the three capabilities."""
    assert os.geteuid() == 0
    wl = twtest.Bg([workload("blockers"), "--wait-stdin", "3", "100"], stdin=True)
    with wl:
        tool = twtest.Bg([*as_nobody(nobody, NEEDED), require_bpf, "--format", "json",
                          "-p", str(wl.pid)])
        with tool:
            line = tool.wait_line("err", lambda s: "Tracing" in s, 30)
            assert line, "no 'Tracing' line" + twtest.describe(tool)
            wl.send("\n")
            assert twtest.finish(wl, 30, "the workload") == 0, twtest.describe(wl)
            if tool.wait(10) is None:
                tool.signal(signal.SIGINT)
                twtest.finish(tool, 10)
            ctx = twtest.describe(tool) + "\nworkload:" + twtest.describe(wl)
            assert tool.returncode == 0, ctx
            _, wl_objs = twtest.parse_report(wl.stdout, ctx)
            objs, _ = twtest.parse_report(tool.stdout, ctx)
            rep = twtest.final_report(objs, ctx)
            twtest.assert_no_loss(rep, ctx)
            proc = twtest.find_proc(rep, wl.pid, ctx)
            assert proc["comm"] == "blockers", ctx
            assert proc["threads_created"] == 3, ctx
            assert proc["threads_exited"] == 3, ctx
            assert proc["threads_peak"] == 4, ctx
            tids = set(twtest.threads_by_tid(proc))
            expected = {w["tid"] for w in wl_objs[0]["workers"]} | {wl.pid}
            assert tids == expected, f"thread rows {sorted(tids)} != {sorted(expected)}" + ctx


def claimed_missing(line):
    """Capabilities a 'missing capability: X' / 'missing capabilities: X Y' message lists."""
    m = re.search(r"missing capabilit(?:y|ies):?\s*((?:CAP_[A-Z_]+[\s,]*(?:and\s+)?)+)", line)
    return set(re.findall(r"CAP_[A-Z_]+", m.group(1))) if m else None


def check_refused(cp, missing):
    ctx = twtest.describe(cp)
    assert cp.returncode == 1, "a missing capability is a runtime failure: exit 1" + ctx
    assert cp.stdout == "", "nothing on stdout" + ctx
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, "exactly one line on stderr" + ctx
    names = {CAP_NAME[c] for c in missing}
    for n in names:
        assert re.search(rf"\b{n}\b", lines[0]), f"the message does not name {n}" + ctx
    claimed = claimed_missing(lines[0])
    if claimed is not None:
        assert claimed == names, \
            f"the message says {sorted(claimed)} are missing, not {sorted(names)}" + ctx
    for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
        assert bad not in cp.stderr, ctx


@pytest.mark.parametrize("dropped", NEEDED, ids=[CAP_NAME[c] for c in NEEDED])
def test_one_capability_missing(require_bpf, nobody, dropped):
    caps = [c for c in NEEDED if c != dropped]
    cp = twtest.run([*as_nobody(nobody, caps), require_bpf, "-d", "1", "--",
                     workload("blockers"), "1", "10"], timeout=30)
    check_refused(cp, [dropped])


def test_no_capabilities(require_bpf, nobody):
    cp = twtest.run([*as_nobody(nobody, []), require_bpf, "-d", "1", "--",
                     workload("blockers"), "1", "10"], timeout=30)
    check_refused(cp, ["bpf", "perfmon"])
