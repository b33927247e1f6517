# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Debug files from a debuginfod server, only when DEBUGINFOD_URLS is set (docs/design.md,
"The unwinder"): a real server (Debian's debuginfod, `debuginfod -F DIR`) serves the debug
file of a stripped -O2 workload (tests/workloads/handler.c, its static read_body <-
handle_request <- serve_requests) that exists nowhere else."""
import os
import re
import shutil
import time
import urllib.error
import urllib.request

import twtest
from twtest import workload
from test_daemon import cannot, free_port


def build_id(path):
    cp = twtest.run(["readelf", "-n", path], timeout=30)
    m = re.search(r"Build ID: ([0-9a-f]+)", cp.stdout)
    assert m, twtest.describe(cp)
    return m.group(1)


def wait_served(url, server, timeout=60):
    """Until the server has indexed DIR and answers url with 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        assert server.p.poll() is None, "debuginfod exited" + twtest.describe(server)
        assert time.monotonic() < deadline, \
            f"debuginfod did not serve {url} within {timeout}s" + twtest.describe(server)
        time.sleep(0.3)


def queries(server, bid):
    """The server's log lines of libdebuginfod clients asking for bid's debug file."""
    return [ln for ln in server.stderr.splitlines()
            if f"/buildid/{bid}/debuginfo" in ln and "elfutils" in ln]


def handler_lines(folded):
    """--folded lines of the handler thread's reads."""
    return [ln for ln in folded.read_text().splitlines()
            if ";handler;" in ln and ";read;" in ln]


def test_debuginfod(require_bpf, tmp_path):
    """Without DEBUGINFOD_URLS the stripped binary's static functions are module+offset and
    the server is never asked; with DEBUGINFOD_URLS=http://127.0.0.1:PORT they are named, in
    order, from the one debug file fetched (one request for the build id)."""
    if not shutil.which("debuginfod"):
        cannot("debuginfod is not installed (Debian's debuginfod: make deps installs it)")
    (tmp_path / "bin").mkdir()
    (tmp_path / "srv").mkdir()
    exe, dbg = tmp_path / "bin" / "handler", tmp_path / "srv" / "handler.debug"
    shutil.copy(workload("handler"), exe)
    for argv in (["objcopy", "--only-keep-debug", exe, dbg], ["strip", "--strip-all", exe]):
        cp = twtest.run(argv, timeout=30)
        assert cp.returncode == 0, twtest.describe(cp)
    syms = twtest.run(["readelf", "-S", exe], timeout=30).stdout
    assert ".symtab" not in syms and ".debug_info" not in syms, "not stripped"
    bid = build_id(exe)
    assert bid == build_id(dbg)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEBUGINFOD_")}
    with twtest.Bg(["debuginfod", "-F", "-d", tmp_path / "db.sqlite", "-p", str(port),
                    tmp_path / "srv"]) as server:
        wait_served(f"http://127.0.0.1:{port}/buildid/{bid}/debuginfo", server)
        plain = tmp_path / "plain.folded"
        cp = twtest.run([require_bpf, "--folded", plain, "--", exe, "100", "5000"], timeout=60,
                        env=env)
        ctx = twtest.describe(cp)
        assert cp.returncode == 0, ctx
        lines = handler_lines(plain)
        assert lines and all("read_body" not in ln and "handler+0x" in ln for ln in lines), \
            f"without DEBUGINFOD_URLS:\n{plain.read_text()}" + ctx
        assert not queries(server, bid), "asked the server without DEBUGINFOD_URLS" + ctx
        named = tmp_path / "named.folded"
        env_urls = dict(env, DEBUGINFOD_URLS=f"http://127.0.0.1:{port}",
                        DEBUGINFOD_CACHE_PATH=str(tmp_path / "cache"))
        cp = twtest.run([require_bpf, "--folded", named, "--", exe, "100", "5000"], timeout=60,
                        env=env_urls)
        ctx = twtest.describe(cp)
        assert cp.returncode == 0, ctx
        lines = handler_lines(named)
        assert lines and any("serve_requests;handle_request;read_body;read;" in ln
                             for ln in lines), f"with DEBUGINFOD_URLS:\n{named.read_text()}" + ctx
        time.sleep(0.5)  # the server's log line of the request
        assert len(queries(server, bid)) == 1, \
            f"requests for {bid}: {queries(server, bid)}" + twtest.describe(server)
