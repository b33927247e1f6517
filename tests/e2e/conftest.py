# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Fixtures of the end-to-end suite.

Run from the repo root:  /usr/bin/python3 -m pytest -q tests/e2e
TW_BIN picks the binary (default build/bpf-threadwatch; the ASan build is
build-asan/bpf-threadwatch). The tests need root and real BPF. In CI
(CI=true) a test that cannot get them FAILS; elsewhere it skips, saying why.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import twtest  # noqa: E402


def _cannot(reason):
    if twtest.IN_CI:
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tool():
    """Path of the binary under test."""
    p = twtest.tool_path()
    if not (p.is_file() and os.access(p, os.X_OK)):
        _cannot(f"{p} not built (run `make`, or set TW_BIN)")
    return str(p)


@pytest.fixture(scope="session")
def workloads():
    """Builds the C workloads (make workloads) once; returns their directory."""
    cp = subprocess.run(["make", "-s", "workloads"], cwd=twtest.ROOT, capture_output=True,
                        text=True, timeout=300)
    if cp.returncode != 0:
        pytest.fail("make workloads failed" + twtest.describe(cp), pytrace=False)
    for name in ("blockers", "spinners", "storm", "forkfail"):
        assert (twtest.WORKLOAD_DIR / name).is_file(), f"workload {name} not built"
    return twtest.WORKLOAD_DIR


@pytest.fixture(scope="session")
def require_bpf(tool, workloads):
    """Root, kernel BTF, the binary and the workloads, or fail (CI) / skip."""
    if os.geteuid() != 0:
        _cannot("needs root to load BPF programs (run the suite as root)")
    if not Path("/sys/kernel/btf/vmlinux").exists():
        _cannot("kernel has no BTF (/sys/kernel/btf/vmlinux missing): CO-RE programs cannot load")
    return tool
