# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Command-line errors: exit 2 before attaching, a message naming the argument."""
import os

import pytest

import twtest


def free_pid():
    """A PID that no process has right now."""
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    for pid in range(pid_max - 1, 1, -1):
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    raise AssertionError("no free pid")


def test_no_such_pid(tool):
    pid = free_pid()
    cp = twtest.run([tool, "-p", str(pid), "-d", "1"], timeout=20)
    ctx = twtest.describe(cp)
    assert cp.returncode == 2, ctx
    assert cp.stdout == "", "nothing on stdout" + ctx
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, "one line on stderr" + ctx
    assert str(pid) in lines[0], "the message names the PID" + ctx


def test_bad_flag(tool):
    cp = twtest.run([tool, "--no-such-flag"], timeout=20)
    ctx = twtest.describe(cp)
    assert cp.returncode == 2, ctx
    assert cp.stdout == "", ctx
    assert "no-such-flag" in cp.stderr, ctx
    assert "usage" in cp.stderr.lower() or "--help" in cp.stderr, "points at the usage" + ctx


@pytest.mark.parametrize("args,names", [
    (["-d", "-1"], ("-d", "duration", "-1")),
    (["-d", "abc"], ("-d", "duration", "abc")),
    (["-i", "0"], ("-i", "interval")),
    (["-i", "abc"], ("-i", "interval", "abc")),
    (["--format", "xml"], ("format", "xml")),
    (["--by", "process"], ("--by", "process")),
    (["--attach-mode", "kprobe"], ("attach-mode", "kprobe")),
    (["--top", "-3"], ("top", "-3")),
    (["-p", "1,abc"], ("abc",)),
    (["-p", "abc"], ("abc",)),
    (["-p", ""], ("-p", "pid", "PID")),
    (["-t", "abc"], ("-t", "tid", "abc")),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_value(tool, args, names):
    cp = twtest.run([tool, *args], timeout=20)
    ctx = twtest.describe(cp)
    assert cp.returncode == 2, ctx
    assert cp.stdout == "", ctx
    assert cp.stderr.strip(), "an error message on stderr" + ctx
    assert any(n in cp.stderr for n in names), f"the message names none of {names}" + ctx


def test_help_version(tool):
    cp = twtest.run([tool, "--help"], timeout=20)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    for opt in ("-p", "-d", "-i", "--format", "--by", "--top", "--attach-mode"):
        assert opt in cp.stdout, f"--help does not mention {opt}" + ctx
    cp = twtest.run([tool, "--version"], timeout=20)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    assert cp.stdout.strip(), ctx
