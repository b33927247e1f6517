# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""The daemon's off-CPU profile: GET /debug/pprof/offcpu?seconds=N (docs/design.md, "The
daemon's off-CPU profile"), read by a real pprof reader (`go tool pprof` from Debian's
golang-go), on workloads the tests build (tests/workloads/handler.c: a request handler that
blocks in read() through read_body <- handle_request <- serve_requests, and reports how long
its reads took by its own clock)."""
import concurrent.futures
import json
import shutil
import time
from pathlib import Path

import pytest

import twtest
from twtest import workload
from test_daemon import cannot, http_get, start_daemon  # noqa: F401 (a fixture)


def need_go():
    if not shutil.which("go"):
        cannot("go tool pprof is not installed (golang-go: make deps installs it)")


def profile_url(d, query):
    return f"{d.url}/debug/pprof/offcpu{query}"


def check_handler(samples, res, ctx, what):
    """The handler thread's read samples: the named functions in order, leaf first, past
    glibc's read and the kernel's, and their off-CPU total within 10% of the workload's
    own clock."""
    tid = res["handlers"][0]["tid"]
    mine = [s for s in samples if f"tid:[{tid}]" in s[2] and "syscall:[read]" in s[2]]
    assert mine, f"{what}: no read samples of tid {tid}" + ctx
    for s in mine:
        assert f"pid:[{res['pid']}]" in s[2] and "thread:[handler]" in s[2] \
            and "comm:[handler]" in s[2], f"{what}: labels {s[2]}" + ctx
    want = res["handlers"][0]["read_ns"]
    got = sum(s[0] for s in mine)
    print(f"{what}: {got} ns in read by the profile, {want} ns by the workload's clock")
    assert abs(got - want) <= 0.1 * want, \
        f"{what}: {got} ns off-CPU in read for tid {tid}, the workload's clock {want} ns" + ctx
    named = [s for s in mine if "read_body" in s[3]]
    assert sum(s[0] for s in named) >= 0.9 * want, f"{what}: {mine}" + ctx
    for s in named:
        f = s[3]
        assert f.index("read_body") < f.index("handle_request") < f.index("serve_requests"), \
            f"{what}: frames {f}" + ctx
        assert f.index("read_body") > 0 and any("read" in x for x in f[:f.index("read_body")]), \
            f"{what}: no glibc/kernel frames below read_body: {f}" + ctx


def held_maps(pid):
    """Ids of the BPF maps process pid holds open, from /proc/PID/fdinfo."""
    ids = set()
    for f in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = f.read_text()
        except OSError:
            continue  # fd closed meanwhile
        for line in text.splitlines():
            key, _, val = line.partition(":")
            if key == "map_id":
                ids.add(int(val))
    return ids


def stack_gate(pid):
    """The daemon's stack_gate, read from its object's .data map through bpftool."""
    maps = twtest.bpftool_json("map", "show")
    held = held_maps(pid)
    for m in maps:
        if m.get("name", "").endswith(".data") and m["id"] in held:
            dump = twtest.bpftool_json("map", "dump", "id", str(m["id"]))
            for sec in dump[0]["formatted"]["value"][".data"]:
                if "stack_gate" in sec:
                    return sec["stack_gate"]
    raise AssertionError(f"no .data map with stack_gate held by pid {pid}: {maps}")


def test_offcpu_profile(start_daemon, tmp_path):  # noqa: F811
    """Three windows at once (3 s, 4 s, and 3 s of the handler's own --by process group)
    share one capture; the handler runs 300 reads of ~5 ms inside all of them. Each profile
    is a gzipped pprof that go tool pprof reads, with the handler's read time by its own
    clock (+-10%) under read_body <- handle_request <- serve_requests; the group's has no
    other process. /metrics answers while they wait. The kernel's stack gate is on only
    while a window is open."""
    need_go()
    d = start_daemon("--syscalls", "--top-k", "100000")
    ctx = d.ctx()
    assert stack_gate(d.pid) == 0, "stacks captured with no profile open" + ctx
    # a first window loads the node's processes into the unwinder, as a continuous scraper
    # would have: the first stack of a process opens its modules (slow under ASan), and the
    # unwinder's queue must not overflow (into "[not unwound: agent busy]") in the real ones
    st, _, body = http_get(profile_url(d, "?seconds=2"), 30)
    assert st == 200, (st, body[:200])
    out = tmp_path / "handler.json"
    queries = {"node3": ("?seconds=3", 3), "node4": ("?seconds=4", 4)}
    with twtest.Bg([workload("handler"), "--wait-stdin", "--out", out, "300", "5000"],
                   stdin=True) as wl:
        queries["group"] = (f"?seconds=3&group={wl.pid}", 3)
        with concurrent.futures.ThreadPoolExecutor(len(queries)) as ex:
            futs = {k: ex.submit(http_get, profile_url(d, q), 30)
                    for k, (q, _) in queries.items()}
            time.sleep(0.5)  # the windows are open (the requests are in)
            assert stack_gate(d.pid) == 1, "no capture while profiles are open" + ctx
            wl.send("\n")
            # /metrics answers while every profile still waits for its window's end
            scrapes = 0
            for _ in range(3):
                st, _, body = http_get(d.url + "/metrics", timeout=10)
                assert st == 200 and b"threadwatch_threads" in body, f"/metrics {st}" + ctx
                scrapes += not any(f.done() for f in futs.values())
                time.sleep(0.2)
            assert twtest.finish(wl, 30, "handler") == 0, twtest.describe(wl)
            answers = {k: f.result() for k, f in futs.items()}
    res = twtest.read_workload_out(out)
    ctx = d.ctx() + f"\nworkload: {json.dumps(res)}"
    assert scrapes >= 2, "/metrics did not answer during the profile's window" + ctx
    for k, (st, hdr, body) in answers.items():
        assert st == 200, f"{k}: {st} {body[:200]!r}" + ctx
        assert hdr["Content-Type"] == "application/octet-stream", f"{k}: {hdr}" + ctx
        assert body[:2] == b"\x1f\x8b", f"{k}: not gzip" + ctx
        pb = tmp_path / f"{k}.pb.gz"
        pb.write_bytes(body)
        samples, raw = twtest.pprof_raw(pb, ctx)
        samples = [[ns, n, labels, [f[0] for f in frames]] for ns, n, labels, frames in samples]
        check_handler(samples, res, ctx + "\n" + raw[:4000], k)
        pids = {lab.split("]")[0] for s in samples for lab in s[2].split("pid:[")[1:]}
        if k == "group":
            assert pids == {str(res["pid"])}, f"group: pids {pids}" + ctx
        else:
            assert len(pids) > 1, f"{k}: only {pids}: not the node's" + ctx
        top = twtest.run(["go", "tool", "pprof", "-top", "-sample_index=offcpu", str(pb)],
                         timeout=60)
        assert top.returncode == 0 and "read_body" in top.stdout and \
            "serve_requests" in top.stdout, twtest.describe(top) + ctx
        assert f"Duration: {queries[k][1]}s" in top.stdout, top.stdout[:500] + ctx
    # every window ended: the gate is off again (the measuring thread closes it at the end)
    deadline = time.monotonic() + 5
    while stack_gate(d.pid) != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack_gate(d.pid) == 0, "stacks still captured after the last window" + ctx


BAD_SECONDS = ["0", "61", "abc", "", "1.5", "-1", "+3", "999999999999999999999"]


def test_bad_seconds(start_daemon):  # noqa: F811
    """A seconds out of 1..60, malformed or given twice, an empty group: 400 with one line,
    at once (no window is opened: a 5 s timeout)."""
    d = start_daemon("--syscalls")
    wrong = []
    queries = [f"?seconds={v}" for v in BAD_SECONDS] + \
        ["?seconds", "?seconds=1&seconds=2", "?seconds=1&group="]
    for q in queries:
        st, hdr, body = http_get(profile_url(d, q), timeout=5)
        text = body.decode("utf-8", "replace")
        if st != 400 or text.count("\n") != 1 or not text.endswith("\n") or \
                hdr["Content-Type"] != "text/plain; charset=utf-8":
            wrong.append(f"  {q}: {st} {text!r}")
    assert not wrong, "wrong answers:\n" + "\n".join(wrong) + d.ctx()
    st, _, body = http_get(profile_url(d, "?seconds=61"), timeout=5)
    assert b"from 1 to 60" in body, body
    assert d.alive(), d.ctx()


def test_needs_syscalls(start_daemon):  # noqa: F811
    """Without --syscalls there are no syscall exits to take stacks at: 409 with a
    one-line body that says to run with --syscalls, at once; /metrics is unaffected."""
    d = start_daemon()
    # at once: a 30 s window would time the request out
    st, hdr, body = http_get(profile_url(d, "?seconds=30"), timeout=10)
    assert st == 409, (st, body)
    assert body.count(b"\n") == 1 and b"--syscalls" in body, body
    assert hdr["Content-Type"] == "text/plain; charset=utf-8"
    assert "threadwatch_threads" in d.text()


def test_sigterm_during_a_window(start_daemon):  # noqa: F811
    """SIGTERM while a profile waits: the request gets 503 and one line saying the daemon is
    stopping (not a dropped connection), and the daemon still exits 0 with nothing left
    loaded (Daemon.stop checks)."""
    d = start_daemon("--syscalls")
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(http_get, profile_url(d, "?seconds=30"), 20)
        time.sleep(0.5)  # the window is open
        assert not fut.done(), fut.result()
        d.stop()
        st, _, body = fut.result()
    assert (st, body) == (503, b"stopping: the daemon is shutting down\n"), (st, body)
