# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Targeting a whole service: a preforking server's workers (-- COMMAND, -p --children),
any number of -p PIDs, --comm, --cgroup, --unit, process groups, --sort, and the end of
a -- COMMAND's tree when the run ends."""
import os
import shutil
import signal
import time
from pathlib import Path

import twtest
from twtest import ns, workload


def prefork_lines(wl_objs):
    """(master line, {pid: worker line}) of prefork's JSON lines."""
    masters = [o for o in wl_objs if o.get("workload") == "prefork" and o["role"] == "master"]
    workers = {o["pid"]: o for o in wl_objs if o.get("workload") == "prefork" and o["role"] == "worker"}
    return masters, workers


def check_worker(rep, w, ctx):
    """A worker's process: exactly its K threads, each blocked for its sleep, all exited."""
    proc = twtest.find_proc(rep, w["pid"], ctx)
    k = w["threads"]
    assert proc["threads_created"] == k, f"worker {w['pid']}: {proc['threads_created']} != {k}" + ctx
    assert proc["threads_exited"] == k, ctx
    assert proc["threads_peak"] == k + 1, ctx
    rows = twtest.threads_by_tid(proc)
    assert set(w["tids"]) <= set(rows), f"worker {w['pid']}: rows {sorted(rows)}, tids {w['tids']}" + ctx
    for tid in w["tids"]:
        assert rows[tid]["blocked_ns"] >= 0.9 * ns(w["sleep_ms"]), f"thread {tid}" + ctx
    return proc


def run_to_end(tool, timeout=40):
    rc = twtest.finish(tool, timeout)
    ctx = twtest.describe(tool)
    assert rc == 0, ctx
    objs, wl_objs = twtest.parse_report(tool.stdout, ctx)
    return twtest.final_report(objs, ctx), wl_objs, ctx


def all_procs(rep):
    """Every process object of a report, group members included."""
    out = []
    for p in rep["processes"]:
        out.extend(p["members"] if p.get("members") else [p])
    return out


def find_any(rep, pid, ctx):
    procs = [p for p in all_procs(rep) if p["pid"] == pid]
    assert len(procs) == 1, f"pid {pid}: {len(procs)} objects" + ctx
    return procs[0]


def gone(pid):
    """No such process, or a zombie waiting for its reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_command_follows_prefork_workers(require_bpf):
    """-- prefork 4 3 200: the master and its 4 workers, each with exactly its 3 threads
    (blocked 200 ms each); the run ends once the whole tree has exited."""
    tool = twtest.Bg([require_bpf, "--format", "json", "--", workload("prefork"), "4", "3", "200"])
    with tool:
        rep, wl_objs, ctx = run_to_end(tool)
    twtest.assert_no_loss(rep, ctx)
    masters, workers = prefork_lines(wl_objs)
    assert len(masters) == 1 and len(workers) == 4, ctx
    master = twtest.find_proc(rep, masters[0]["pid"], ctx)
    assert master["processes_forked"] == 4, ctx
    assert set(masters[0]["workers"]) == set(workers), ctx
    for w in workers.values():
        assert w["ppid"] == masters[0]["pid"], ctx
        assert check_worker(rep, w, ctx)["exited"] is True, ctx
    assert {p["pid"] for p in rep["processes"]} == {masters[0]["pid"], *workers}, ctx


def test_pid_children_existing_and_new(require_bpf):
    """-p MASTER --children: 2 workers forked before the attach (found in /proc) and 3
    after (followed in the kernel), all exact; the run ends once all have exited."""
    wl = twtest.Bg([workload("prefork"), "--wait-stdin", "--early", "2", "5", "3", "200"], stdin=True)
    with wl:
        time.sleep(0.3)  # the early workers exist
        tool = twtest.Bg([require_bpf, "-p", str(wl.pid), "--children", "--format", "json"])
        with tool:
            assert tool.wait_line("err", lambda s: "Tracing" in s, 30), twtest.describe(tool)
            wl.send("\n")
            assert twtest.finish(wl, 30, "prefork") == 0, twtest.describe(wl)
            rep, _, ctx = run_to_end(tool, 15)
        _, wl_objs = twtest.parse_report(wl.stdout, ctx)
    twtest.assert_no_loss(rep, ctx)
    masters, workers = prefork_lines(wl_objs)
    assert len(masters) == 1 and len(workers) == 5, ctx
    master = twtest.find_proc(rep, wl.pid, ctx)
    assert master["processes_forked"] == 3, ctx  # the 2 early ones predate the attach
    for w in workers.values():
        check_worker(rep, w, ctx)
    assert {p["pid"] for p in rep["processes"]} == {wl.pid, *workers}, ctx


def test_more_than_16_pids(require_bpf):
    """20 processes given as two -p lists: every one traced, exactly, and the run ends
    by itself once all 20 have exited."""
    wls = [twtest.Bg([workload("blockers"), "--wait-stdin", str(1 + i % 3), "100"], stdin=True)
           for i in range(20)]
    try:
        pids = [w.pid for w in wls]
        tool = twtest.Bg([require_bpf, "-p", ",".join(map(str, pids[:12])),
                          "-p", ",".join(map(str, pids[12:])), "--format", "json"])
        with tool:
            assert tool.wait_line("err", lambda s: "Tracing" in s, 30), twtest.describe(tool)
            for w in wls:
                w.send("\n")
            for w in wls:
                assert twtest.finish(w, 30, "a workload") == 0, twtest.describe(w)
            rep, _, ctx = run_to_end(tool, 15)
    finally:
        for w in wls:
            w.kill()
    twtest.assert_no_loss(rep, ctx)
    assert {p["pid"] for p in rep["processes"]} == set(pids), ctx
    for i, pid in enumerate(pids):
        proc = twtest.find_proc(rep, pid, ctx)
        assert proc["threads_created"] == 1 + i % 3 and proc["threads_exited"] == 1 + i % 3, ctx


def comm_name(prefix):
    return f"{prefix}{os.urandom(4).hex()}"[:15]


def test_group_40_processes(require_bpf):
    """40 processes of one name (a master renamed with prctl and its 39 workers): one
    text row 'NAME x40', and in JSON one group whose 40 members are the processes."""
    name = comm_name("twg")
    for fmt in ("text", "json"):
        wl = twtest.Bg([workload("prefork"), "--wait-stdin", "--name", name, "39", "1", "100"],
                       stdin=True)
        with wl:
            tool = twtest.Bg([require_bpf, "--comm", name, "--format", fmt])
            with tool:
                assert tool.wait_line("err", lambda s: "Tracing" in s, 30), twtest.describe(tool)
                wl.send("\n")
                assert twtest.finish(wl, 30, "prefork") == 0, twtest.describe(wl)
                time.sleep(0.3)
                tool.signal(signal.SIGINT)
                rc = twtest.finish(tool, 15)
                ctx = twtest.describe(tool)
                assert rc == 0, ctx
            _, wl_objs = twtest.parse_report(wl.stdout, ctx)
        masters, workers = prefork_lines(wl_objs)
        pids = {wl.pid, *workers}
        assert len(pids) == 40, ctx
        if fmt == "text":
            heads = [ln for ln in tool.stdout.splitlines() if ln.startswith(name)]
            assert len(heads) == 1 and heads[0].startswith(f"{name} x40"), ctx
            assert "PID " not in tool.stdout.split("\n\n", 1)[1].split(name, 1)[0], ctx
            listed = [pid for pid in pids if f"\n  {pid}*" in tool.stdout]
            assert len(listed) == 20, f"member lines: {listed}" + ctx  # TW_TEXT_MAX_ROWS
            assert "... 20 more processes" in tool.stdout, ctx
            continue
        objs, _ = twtest.parse_report(tool.stdout, ctx)
        rep = twtest.final_report(objs, ctx)
        twtest.assert_no_loss(rep, ctx)
        assert rep["group_procs"] is True, ctx
        assert len(rep["processes"]) == 1, ctx
        g = rep["processes"][0]
        assert g["pid"] is None and g["comm"] == name and g["processes"] == 40, ctx
        assert {m["pid"] for m in g["members"]} == pids, ctx
        for m in g["members"]:
            assert m["comm"] == name and "members" not in m, ctx
        for w in workers.values():
            check_worker({"processes": g["members"]}, w, ctx)
        assert g["threads_created"] == 39, ctx
        assert g["threads_peak"] == sum(m["threads_peak"] for m in g["members"]), ctx


def test_comm_running_and_started_during_the_run(require_bpf, tmp_path):
    """--comm NAME: a process already running when the tool starts and one started
    during the run (both with their forked workers) are traced exactly; a process with
    another name is not."""
    name = comm_name("twc")
    exe = tmp_path / name
    shutil.copy(workload("prefork"), exe)
    a = twtest.Bg([exe, "--wait-stdin", "2", "2", "200"], stdin=True)
    with a:
        time.sleep(0.2)
        tool = twtest.Bg([require_bpf, "--comm", name, "--no-group-procs", "--format", "json"])
        with tool:
            assert tool.wait_line("err", lambda s: "Tracing" in s, 30), twtest.describe(tool)
            b = twtest.Bg([exe, "3", "2", "200"])
            other = twtest.Bg([workload("prefork"), "2", "2", "200"])
            with b, other:
                a.send("\n")
                for w in (a, b, other):
                    assert twtest.finish(w, 30, "prefork") == 0, twtest.describe(w)
                time.sleep(0.3)
                tool.signal(signal.SIGINT)
                rep, _, ctx = run_to_end(tool, 15)
                _, a_objs = twtest.parse_report(a.stdout, ctx)
                _, b_objs = twtest.parse_report(b.stdout, ctx)
                _, o_objs = twtest.parse_report(other.stdout, ctx)
    twtest.assert_no_loss(rep, ctx)
    traced = {p["pid"] for p in rep["processes"]}
    for wl, objs, n in ((a, a_objs, 2), (b, b_objs, 3)):
        masters, workers = prefork_lines(objs)
        assert len(workers) == n, ctx
        assert twtest.find_proc(rep, wl.pid, ctx)["processes_forked"] == n, ctx
        for w in workers.values():
            check_worker(rep, w, ctx)
    _, o_workers = prefork_lines(o_objs)
    assert not traced & {other.pid, *o_workers}, "a process of another name was traced" + ctx
    assert all(p["comm"] == name for p in rep["processes"]), ctx


def pids_hierarchy():
    found = twtest.pids_cgroup_parent()
    assert found is not None, "no cgroup hierarchy with the pids controller"
    return found[1]


def move(cg, pid):
    (cg / "cgroup.procs").write_text(str(pid))


def rmdir_when_empty(path):
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    path.rmdir()


def test_cgroup_members_and_moved_in(require_bpf):
    """--cgroup DIR: a process already in it, and one moved in during the run (whose
    workers it forks afterwards), traced exactly; a process outside it is not."""
    cg = pids_hierarchy() / f"tw-cg-{os.getpid()}-{os.urandom(3).hex()}"
    cg.mkdir()
    try:
        a = twtest.Bg([workload("blockers"), "--wait-stdin", "2", "150"], stdin=True)
        b = twtest.Bg([workload("prefork"), "--wait-stdin", "2", "2", "150"], stdin=True)
        c = twtest.Bg([workload("blockers"), "--wait-stdin", "3", "150"], stdin=True)
        with a, b, c:
            move(cg, a.pid)
            tool = twtest.Bg([require_bpf, "--cgroup", cg, "--no-group-procs", "--format", "json"])
            with tool:
                assert tool.wait_line("err", lambda s: "Tracing" in s, 30), twtest.describe(tool)
                move(cg, b.pid)
                time.sleep(0.2)
                for w in (a, b, c):
                    w.send("\n")
                for w in (a, b, c):
                    assert twtest.finish(w, 30, "a workload") == 0, twtest.describe(w)
                time.sleep(0.3)
                tool.signal(signal.SIGINT)
                rep, _, ctx = run_to_end(tool, 15)
            _, b_objs = twtest.parse_report(b.stdout, ctx)
    finally:
        rmdir_when_empty(cg)
    twtest.assert_no_loss(rep, ctx)
    pa = twtest.find_proc(rep, a.pid, ctx)
    assert pa["threads_created"] == 2 and pa["threads_exited"] == 2, ctx
    _, workers = prefork_lines(b_objs)
    assert len(workers) == 2, ctx
    assert twtest.find_proc(rep, b.pid, ctx)["processes_forked"] == 2, ctx
    for w in workers.values():
        check_worker(rep, w, ctx)
    assert {p["pid"] for p in rep["processes"]} == {a.pid, b.pid, *workers}, ctx


def test_unit_resolves_to_its_cgroup(require_bpf):
    """--unit NAME: the cgroup <hierarchy>/system.slice/NAME.service (made here as systemd
    would name it) is traced; a unit with no cgroup is a clear usage error."""
    unit = f"tw-unit-{os.urandom(3).hex()}"
    slice_dir = pids_hierarchy() / "system.slice"
    made_slice = not slice_dir.exists()
    slice_dir.mkdir(exist_ok=True)
    cg = slice_dir / f"{unit}.service"
    cg.mkdir()
    try:
        a = twtest.Bg([workload("blockers"), "--wait-stdin", "3", "150"], stdin=True)
        with a:
            move(cg, a.pid)
            tool = twtest.Bg([require_bpf, "--unit", unit, "--format", "json"])
            with tool:
                line = tool.wait_line("err", lambda s: "Tracing" in s, 30)
                assert line and str(cg) in line, twtest.describe(tool)
                a.send("\n")
                assert twtest.finish(a, 30, "blockers") == 0, twtest.describe(a)
                time.sleep(0.3)
                tool.signal(signal.SIGINT)
                rep, _, ctx = run_to_end(tool, 15)
    finally:
        rmdir_when_empty(cg)
        if made_slice:
            rmdir_when_empty(slice_dir)
    proc = twtest.find_proc(rep, a.pid, ctx)
    assert proc["threads_created"] == 3 and proc["threads_exited"] == 3, ctx
    assert [p["pid"] for p in rep["processes"]] == [a.pid], ctx

    cp = twtest.run([require_bpf, "--unit", f"tw-missing-{os.urandom(3).hex()}", "-d", "1"], 30)
    ctx = twtest.describe(cp)
    assert cp.returncode == 2, ctx
    assert cp.stdout == "", ctx
    err = cp.stderr.strip().splitlines()
    assert len(err) == 1 and "no cgroup for unit" in err[0] and "system.slice/" in err[0], ctx


SORT_KEYS = ("busy", "oncpu", "runq", "blocked", "offcpu", "stalls", "threads", "failures")


def sort_value(p, key):
    rows = p["threads"]
    on = sum(r["oncpu_ns"] for r in rows)
    rq = sum(r["runq_ns"] for r in rows)
    bl = sum(r["blocked_ns"] for r in rows)
    fails = p["thread_create_failures"] + p["fork_failures"]
    return {
        "busy": (fails, p["stalls"], on + rq),
        "oncpu": on, "runq": rq, "blocked": bl, "offcpu": bl + rq, "stalls": p["stalls"],
        "threads": (p["threads_now"], p["threads_peak"]), "failures": fails,
    }[key]


def test_sort_each_key(require_bpf):
    """--sort KEY for every key: processes come in that key's order, most first, and the
    process built to lead it does (spinners on CPU, 40 blocked threads for blocked and
    threads, a pids.max-limited forkfail for failures and the default)."""
    cg = twtest.PidsCgroup(limit=6)
    with cg:
        spin = twtest.Bg([workload("spinners"), "--wait-stdin", "2", "1200"], stdin=True)
        many = twtest.Bg([workload("blockers"), "--wait-stdin", "40", "1200"], stdin=True)
        fail = twtest.Bg([workload("forkfail"), "--wait-stdin", "20", "1200"], stdin=True)
        with spin, many, fail:
            cg.add(fail.pid)
            pids = f"{spin.pid},{many.pid},{fail.pid}"
            tools = [twtest.Bg([require_bpf, "-p", pids, "--sort", k, "--format", "json",
                                "--no-syscalls"]) for k in SORT_KEYS]
            try:
                for t in tools:
                    assert t.wait_line("err", lambda s: "Tracing" in s, 60), twtest.describe(t)
                for w in (spin, many, fail):
                    w.send("\n")
                for w in (spin, many, fail):
                    assert twtest.finish(w, 30, "a workload") == 0, twtest.describe(w)
                reps = {}
                for k, t in zip(SORT_KEYS, tools):
                    reps[k] = run_to_end(t, 20)
            finally:
                for t in tools:
                    t.kill()
    leaders = {"oncpu": spin.pid, "blocked": many.pid, "threads": many.pid,
               "failures": fail.pid, "busy": fail.pid}
    for k, (rep, _, ctx) in reps.items():
        assert rep["sort"] == k, ctx
        procs = rep["processes"]
        assert {p["pid"] for p in procs} == {spin.pid, many.pid, fail.pid}, ctx
        vals = [sort_value(p, k) for p in procs]
        assert vals == sorted(vals, reverse=True), f"--sort {k}: {vals}" + ctx
        if k in leaders:
            assert procs[0]["pid"] == leaders[k], f"--sort {k}: {[p['pid'] for p in procs]}" + ctx
    rep, _, ctx = reps["busy"]
    assert twtest.find_proc(rep, fail.pid, ctx)["thread_create_failures"] > 0, ctx


def test_default_sort_busy_over_idle_system_wide(require_bpf):
    """System-wide, the default order puts a process spinning on a CPU above one whose
    30 threads sleep 50 ms at a time (the order by off-CPU time put the sleeper first)."""
    spin = twtest.Bg([workload("spinners"), "1", "3000"])
    idle = twtest.Bg(["/usr/bin/python3", "-c",
                      "import threading, time\n"
                      "def nap():\n"
                      "    for _ in range(60): time.sleep(0.05)\n"
                      "ts = [threading.Thread(target=nap) for _ in range(30)]\n"
                      "[t.start() for t in ts]; [t.join() for t in ts]\n"])
    with spin, idle:
        time.sleep(0.3)
        cp = twtest.run([require_bpf, "-d", "1.5", "--top", "0", "--no-syscalls",
                         "--format", "json"], 60)
        ctx = twtest.describe(cp)
        assert cp.returncode == 0, ctx
        objs, _ = twtest.parse_report(cp.stdout, ctx)
        rep = twtest.final_report(objs, ctx)

        def row_of(pid):
            """The index of the row (a process, or the group of its name) holding pid."""
            rows = [i for i, p in enumerate(rep["processes"])
                    if p["pid"] == pid or any(m["pid"] == pid for m in p.get("members", []))]
            assert len(rows) == 1, f"pid {pid} in rows {rows}" + ctx
            return rows[0]

        assert row_of(spin.pid) < row_of(idle.pid), ctx
        assert rep["sort"] == "busy", ctx


def test_command_ended_at_duration(require_bpf):
    """-d 1 -- prefork --hold: the master and its workers (which would never exit) are
    ended when the run ends: SIGTERM, and SIGKILL 2 s later for a master that ignores
    SIGTERM. None is left afterwards; the final report shows them exited."""
    for extra in ([], ["--ignore-term"]):
        t0 = time.monotonic()
        tool = twtest.Bg([require_bpf, "-d", "1", "--format", "json", "--",
                          workload("prefork"), "--hold", *extra, "3", "1", "50"])
        with tool:
            rep, wl_objs, ctx = run_to_end(tool, 30)
        took = time.monotonic() - t0
        masters, workers = prefork_lines(wl_objs)
        assert len(masters) == 1 and len(workers) == 3, ctx
        everyone = [masters[0]["pid"], *workers]
        left = [pid for pid in everyone if not gone(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"still running after the tool exited: {left}" + ctx
        assert "ending" in tool.stderr, ctx
        for pid in everyone:
            assert twtest.find_proc(rep, pid, ctx)["exited"] is True, ctx
        if extra:
            assert took >= 2.9, f"SIGKILL came after {took:.1f} s, before the 2 s grace" + ctx


def test_target_options_bad_input(require_bpf):
    """Bad --comm, --cgroup, --unit, --sort, --children: one line naming the problem, exit 2."""
    cases = [
        (["--comm", "a-name-longer-than-15"], "a process name is 1 to 15 bytes"),
        (["--comm", ""], "a process name is 1 to 15 bytes"),
        (["--cgroup", "/nonexistent/tw-cgroup"], "invalid --cgroup '/nonexistent/tw-cgroup'"),
        (["--cgroup", "/tmp"], "not a cgroup directory"),
        (["--unit", "a/b"], "invalid --unit 'a/b'"),
        (["--unit", "x.socket"], "expected NAME, NAME.service, NAME.scope or NAME.slice"),
        (["--sort", "nope"], "invalid --sort 'nope'"),
        (["--children"], "--children follows -p, --comm or a command"),
        (["--cgroup", "/tmp", "--unit", "x"], "--cgroup and --unit are exclusive"),
        (["--comm", "x", "-t", "1"], "-t goes with -p or a command"),
    ]
    for args, msg in cases:
        cp = twtest.run([require_bpf, *args, "-d", "1"], 30)
        ctx = twtest.describe(cp)
        assert cp.returncode == 2, ctx
        assert cp.stdout == "", ctx
        lines = [ln for ln in cp.stderr.splitlines() if ln.strip()]
        assert msg in lines[0], ctx
        assert all(ln.startswith(("Try", "information")) for ln in lines[1:]), ctx  # argp's hint
