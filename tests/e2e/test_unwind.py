# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""User stacks unwound from a snapshot by user/unwind.c (issue 11, "Where: stacks").

build/tests/unwind-check (tests/tools/unwind-check.c) stops a workload with ptrace while it
blocks in read(2), copies its registers and the top of its stack as the BPF side does, and
prints what the unwinder makes of them. Workloads: tests/workloads/deepstack.c (main ->
handle_request -> read_body -> glibc's read, no frame pointers) and jitstack.c (JIT code named
in /tmp/perf-PID.map). Copies of deepstack check the ways to its file: stripped with a
.gnu_debuglink, hidden in another mount namespace, deleted, replaced.
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

import twtest

DEEPSTACK_SRC = twtest.ROOT / "tests" / "workloads" / "deepstack.c"
# glibc's read, as .dynsym (read, __read) or its debug file's .symtab (__libc_read) names it
READ_NAMES = {"read", "__read", "__libc_read"}
LIBC = "/libc.so.6"


def checker():
    """unwind-check next to $TW_BIN (build-asan/ has its own ASan build), else build/tests/."""
    beside = twtest.tool_path().parent / "unwind-check"
    return beside if beside.is_file() else twtest.WORKLOAD_DIR / "unwind-check"


@pytest.fixture(scope="module")
def ptrace_root(workloads):
    """ptrace, /proc/PID/map_files and mount namespaces need root: fail in CI, else skip."""
    if os.geteuid() != 0:
        if twtest.IN_CI:
            pytest.fail("CI=true: the unwind tests need root (ptrace, map_files)", pytrace=False)
        pytest.skip("needs root (ptrace, /proc/PID/map_files, unshare -m)")
    path = checker()
    assert path.is_file(), f"{path} not built (make workloads / make asan)"
    return path


class DebuginfodTrap:
    """An HTTP server on loopback that records every request (a debuginfod stand-in)."""

    def __init__(self):
        self.requests = []
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                trap.requests.append(self.path)
                self.send_error(404)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def marked_lines():
    """{function: line} of the calls marked LINE:<function> in deepstack.c."""
    lines = {}
    for i, text in enumerate(DEEPSTACK_SRC.read_text().splitlines(), 1):
        m = re.search(r"LINE:(\w+)", text)
        if m:
            lines[m[1]] = i
    assert set(lines) == {"read_body", "handle_request", "main", "thread_main"}, lines
    return lines


def build_id(path):
    out = twtest.run(["readelf", "-n", path], timeout=10).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    assert m, f"no build id in {path}"
    return m[1]


class Blocked:
    """A workload started from argv, once it has printed its JSON line and sits in read(2)
    on the fd it named (/proc/PID/syscall: read is syscall 0 on x86_64). Killed at exit."""

    def __init__(self, argv, timeout=10):
        self.argv = argv
        self.p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.next_block(timeout)
        except BaseException:
            self.close()
            raise

    def next_block(self, timeout=10):
        """Waits for the next JSON line, then for the read(2) it announces."""
        line = self.p.stdout.readline()
        if not line:
            self.p.kill()
            raise AssertionError(f"{self.argv} printed nothing more: {self.p.stderr.read()}")
        self.info = json.loads(line)
        self.pid = self.info["pid"]
        self.tid = self.info.get("tid", self.pid)
        want = f"0 {self.info['fd']:#x} "
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if Path(f"/proc/{self.pid}/task/{self.tid}/syscall").read_text().startswith(want):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"{self.argv} never blocked in read({self.info['fd']})")

    def send(self, text):
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_unwind(lines, ctx):
    """(frames, final line) of one snapshot's output lines."""
    objs = [json.loads(ln) for ln in lines if ln.strip()]
    assert objs and "stop" in objs[-1], ctx
    frames = objs[:-1]
    assert [f["frame"] for f in frames] == list(range(len(frames))), ctx
    assert objs[-1]["frames"] == len(frames), ctx
    return frames, objs[-1]


def no_sanitizer(stderr, ctx):
    assert "Sanitizer" not in stderr and "runtime error" not in stderr, ctx


def unwind(check, pid, *args, env=None):
    """(frames, final line, ctx) of unwind-check on pid."""
    cp = twtest.run([check, *args, pid], timeout=60, env=env)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    no_sanitizer(cp.stderr, ctx)
    frames, final = parse_unwind(cp.stdout.splitlines(), ctx)
    return frames, final, ctx


def check_deepstack(frames, final, ctx, module, lines=True):
    """read in libc, then read_body, handle_request, main of module, then glibc's start-up
    frames down to _start, the outermost frame: every one unwound from CFI alone."""
    names = [f["func"] for f in frames]
    ctx = f"\nframes: {names}" + ctx
    assert final["stop"] == "end", ctx
    assert len(frames) >= 6, ctx
    assert names[0] in READ_NAMES and frames[0]["module"].endswith(LIBC), ctx
    assert names[1:4] == ["read_body", "handle_request", "main"], ctx
    for f in frames[1:4]:
        assert f["module"] == module, ctx
    # main's callers: glibc's __libc_start_call_main (and __libc_start_main), then _start
    assert any(f["module"].endswith(LIBC) for f in frames[4:-1]), ctx
    assert names[-1] == "_start" and frames[-1]["module"] == module, ctx
    if lines:
        want = marked_lines()
        for f in frames[1:4]:
            assert f["file"] and f["file"].endswith("tests/workloads/deepstack.c"), ctx
            assert f["line"] == want[f["func"]], f"{f['func']}: line {f['line']}, want " \
                f"{want[f['func']]}" + ctx
    return names


def test_deepstack_unwound_from_cfi(ptrace_root, tmp_path):
    """No frame pointers anywhere (the workload is built without, as Debian builds glibc):
    every frame from read(2) down to _start comes from .eh_frame, named, with file:line for
    the workload's functions and the build id of each file."""
    exe = twtest.WORKLOAD_DIR / "deepstack"
    with Blocked([exe]) as wl:
        frames, final, ctx = unwind(ptrace_root, wl.pid)
    check_deepstack(frames, final, ctx, str(exe))
    assert 1 <= final["stack_bytes"] <= 16384, ctx
    bid = build_id(exe)
    for f in frames[1:4]:
        assert f["build_id"] == bid and f["source"] == "root", ctx
    libc = frames[0]["module"]
    assert frames[0]["build_id"] == build_id(libc), ctx
    # a return address is named by its call: the offset is past the symbol's start
    for f in frames[1:]:
        assert f["func"] is None or f["offset"] > 0, ctx


def test_short_stack_copy_stops_no_stack(ptrace_root):
    """A copy cut short (the BPF side copies what it can) stops with no_stack where the next
    return address lies past it, keeping the frames found until then."""
    with Blocked([twtest.WORKLOAD_DIR / "deepstack"]) as wl:
        frames, final, ctx = unwind(ptrace_root, wl.pid, "-s", "64")
        full, _, _ = unwind(ptrace_root, wl.pid)
    names = [f["func"] for f in frames]
    ctx = f"\nframes: {names}" + ctx
    assert final["stop"] == "no_stack" and final["stack_bytes"] == 64, ctx
    # read and read_body fit in 64 bytes, handle_request's 264-byte frame does not
    assert names[0] in READ_NAMES and names[1:] == ["read_body", "handle_request"], ctx
    assert [f["pc"] for f in frames] == [f["pc"] for f in full[:3]], ctx
    with Blocked([twtest.WORKLOAD_DIR / "deepstack"]) as wl:
        frames, final, ctx = unwind(ptrace_root, wl.pid, "-s", "0")
    assert final["stop"] == "no_stack" and len(frames) == 1, ctx


def test_stripped_binary_named_through_debuglink(ptrace_root, tmp_path):
    """A stripped copy (no .symtab, no DWARF) names its functions and lines from the debug
    file its .gnu_debuglink names, found next to it through /proc/PID/root."""
    src = twtest.WORKLOAD_DIR / "deepstack"
    exe, dbg = tmp_path / "deepstack-stripped", tmp_path / "deepstack.debug"
    for argv in (["objcopy", "--only-keep-debug", src, dbg],
                 ["objcopy", "--strip-all", f"--add-gnu-debuglink={dbg}", src, exe]):
        cp = twtest.run(argv, timeout=30)
        assert cp.returncode == 0, twtest.describe(cp)
    sections = twtest.run(["readelf", "-S", "-W", exe], timeout=10).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections, sections
    assert ".eh_frame" in sections and ".gnu_debuglink" in sections, sections
    with Blocked([exe]) as wl:
        frames, final, ctx = unwind(ptrace_root, wl.pid)
    check_deepstack(frames, final, ctx, str(exe))
    # without the debug file there is no name: proof the names came from it. With
    # $DEBUGINFOD_URLS set, the server it names is asked once for the build id (by the
    # unwinder, never the collecting loop: docs/design.md); this one has nothing to give.
    dbg.unlink()
    with DebuginfodTrap() as trap, Blocked([exe]) as wl:
        env = dict(os.environ, DEBUGINFOD_URLS=trap.url, DEBUGINFOD_CACHE_PATH=str(tmp_path))
        frames, final, ctx = unwind(ptrace_root, wl.pid, env=env)
    names = [f["func"] for f in frames]
    assert final["stop"] == "end" and "read_body" not in names, f"\n{names}" + ctx
    assert frames[1]["module"] == str(exe) and frames[1]["file"] is None, ctx
    want = [f"/buildid/{frames[1]['build_id']}/debuginfo"]
    assert trap.requests == want, f"debuginfod was asked: {trap.requests}" + ctx


def test_binary_in_another_mount_namespace(ptrace_root, tmp_path):
    """A process whose binary is bind-mounted over a directory in its own mount namespace
    (a container's view): in the agent's namespace that path holds another file, so only
    /proc/PID/root reaches the right one (device and inode checked)."""
    hidden, app = tmp_path / "hidden", tmp_path / "app"
    hidden.mkdir()
    app.mkdir()
    shutil.copy2(twtest.WORKLOAD_DIR / "deepstack", hidden / "deepstack")
    # the decoy: what the path leads to outside the namespace
    shutil.copy2(twtest.WORKLOAD_DIR / "jitstack", app / "deepstack")
    exe = app / "deepstack"
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f'mount --bind "{hidden}" "{app}" && exec "{exe}"']
    with Blocked(argv) as wl:
        frames, final, ctx = unwind(ptrace_root, wl.pid)
    check_deepstack(frames, final, ctx, str(exe))
    for f in frames[1:4]:
        assert f["source"] == "root", ctx
        assert f["build_id"] == build_id(hidden / "deepstack") != build_id(exe), ctx


def test_deleted_binary_read_through_map_files(ptrace_root, tmp_path):
    """A binary deleted while it runs is read through /proc/PID/map_files."""
    exe = tmp_path / "deepstack"
    shutil.copy2(twtest.WORKLOAD_DIR / "deepstack", exe)
    with Blocked([exe]) as wl:
        exe.unlink()
        frames, final, ctx = unwind(ptrace_root, wl.pid)
    check_deepstack(frames, final, ctx, f"{exe} (deleted)")
    for f in frames[1:4]:
        assert f["source"] == "map_files", ctx


def test_replaced_binary_not_trusted_by_path(ptrace_root, tmp_path):
    """A binary replaced while it runs (an upgrade): its path now holds another file, which
    the unwinder must not read as the running one."""
    exe = tmp_path / "deepstack"
    shutil.copy2(twtest.WORKLOAD_DIR / "deepstack", exe)
    with Blocked([exe]) as wl:
        new = tmp_path / "deepstack.new"
        shutil.copy2(twtest.WORKLOAD_DIR / "jitstack", new)
        os.replace(new, exe)
        frames, final, ctx = unwind(ptrace_root, wl.pid)
    check_deepstack(frames, final, ctx, f"{exe} (deleted)")
    for f in frames[1:4]:
        assert f["source"] == "map_files", ctx


def test_jit_frame_named_from_perf_map(ptrace_root):
    """A pc in an anonymous executable mapping is named from /tmp/perf-PID.map; the JIT code
    keeps a frame pointer and has no CFI, and the unwind goes on through it to _start."""
    with Blocked([twtest.WORKLOAD_DIR / "jitstack"]) as wl:
        perf_map = Path(wl.info["perf_map"])
        try:
            frames, final, ctx = unwind(ptrace_root, wl.pid)
            code = wl.info["code"]
            cp = twtest.run([ptrace_root, "--symbolize", wl.pid, code + 3], timeout=30)
        finally:
            perf_map.unlink(missing_ok=True)
    one = json.loads(cp.stdout)
    assert one["func"] == "jit_read_body" and one["offset"] == 3, twtest.describe(cp)
    names = [f["func"] for f in frames]
    ctx = f"\nframes: {names}" + ctx
    assert frames[0]["pc"] == code + wl.info["syscall_end"], ctx
    assert names[0] == "jit_read_body" and frames[0]["module"] == str(perf_map), ctx
    assert frames[0]["offset"] == wl.info["syscall_end"], ctx
    assert names[1:3] == ["jit_caller", "main"], ctx
    assert names[-1] == "_start" and final["stop"] == "end", ctx


def test_library_mapped_after_the_first_unwind(ptrace_root):
    """The unwinder of a process outlives its mappings: a library dlopen()ed after the first
    unwind is found by the next one (a pc outside every known module re-reads the mappings),
    not only after the once-a-second re-read."""
    lib = twtest.WORKLOAD_DIR / "libdeep.so"
    with Blocked([twtest.WORKLOAD_DIR / "dlstack", lib]) as wl:
        check = subprocess.Popen([str(ptrace_root), "--again", str(wl.pid)], text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        try:
            first = []
            while not first or "stop" not in first[-1]:
                line = check.stdout.readline()
                assert line, f"unwind-check ended early: {check.stderr.read()}"
                first.append(line)
            wl.send("\n")
            wl.next_block()
            assert wl.info["phase"] == "after", wl.info
            out, err = check.communicate("\n", timeout=60)
        finally:
            if check.poll() is None:
                check.kill()
                check.wait()
    ctx = f"\nfirst: {''.join(first)}\nsecond: {out}\nstderr: {err}"
    assert check.returncode == 0, ctx
    no_sanitizer(err, ctx)
    frames, final = parse_unwind(first, ctx)
    names = [f["func"] for f in frames]
    assert names[0] in READ_NAMES and names[1:3] == ["read_body", "main"], ctx
    assert final["stop"] == "end" and "lib_read_body" not in names, ctx
    frames, final = parse_unwind(out.splitlines(), ctx)
    names = [f["func"] for f in frames]
    assert names[0] in READ_NAMES and names[1:3] == ["lib_read_body", "main"], ctx
    assert frames[1]["module"] == str(lib), ctx
    assert names[-1] == "_start" and final["stop"] == "end", ctx


def test_names_shared_between_processes(ptrace_root):
    """Two processes of the same binaries share the files opened to name their frames (by
    build id): the second adds none, and both stacks are named in full."""
    exe = twtest.WORKLOAD_DIR / "deepstack"
    with Blocked([exe]) as one, Blocked([exe]) as two:
        cp = twtest.run([ptrace_root, "--then", two.pid, one.pid], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    no_sanitizer(cp.stderr, ctx)
    lines = cp.stdout.splitlines()
    cut = next(i for i, ln in enumerate(lines) if '"stop"' in ln) + 1
    for part in (lines[:cut], lines[cut:]):
        frames, final = parse_unwind(part, ctx)
        check_deepstack(frames, final, ctx, str(exe))
    first, second = json.loads(lines[cut - 1]), json.loads(lines[-1])
    # libc and deepstack, each opened once for names
    assert first["procs"] == 1 and first["symfiles"] == 2, ctx
    assert second["procs"] == 2 and second["symfiles"] == 2, ctx


def test_binary_on_overlayfs_in_a_mount_namespace(ptrace_root, tmp_path):
    """A container's binary: on an overlayfs mounted in the process's own mount namespace
    only, read through /proc/PID/root (the overlay's inode accepted for the file below it,
    which is what /proc/PID/maps names before Linux 6.8), not through map_files."""
    lower, upper, work, merged = (tmp_path / d for d in ("lower", "upper", "work", "merged"))
    for d in (lower, upper, work, merged):
        d.mkdir()
    shutil.copy2(twtest.WORKLOAD_DIR / "deepstack", lower / "deepstack")
    exe = merged / "deepstack"
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f'mount -t overlay overlay -o "{opts}" "{merged}" && exec "{exe}"']
    with Blocked(argv) as wl:
        maps = Path(f"/proc/{wl.pid}/maps").read_text()
        frames, final, ctx = unwind(ptrace_root, wl.pid)
    assert str(exe) in maps, maps
    assert not exe.exists(), "the overlay is visible outside the process's namespace"
    check_deepstack(frames, final, ctx, str(exe))
    for f in frames[1:4]:
        assert f["source"] == "root", ctx


def test_thread_stack(ptrace_root):
    """A thread other than the main one: its stack (in an anonymous mapping) from read(2)
    through thread_main to glibc's start_thread and clone3, the outermost frame of a thread."""
    exe = twtest.WORKLOAD_DIR / "deepstack"
    with Blocked([exe, "--thread"]) as wl:
        assert wl.tid != wl.pid, wl.info
        cp = twtest.run([ptrace_root, wl.pid, wl.tid], timeout=60)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, ctx
    no_sanitizer(cp.stderr, ctx)
    frames, final = parse_unwind(cp.stdout.splitlines(), ctx)
    names = [f["func"] for f in frames]
    ctx = f"\nframes: {names}" + ctx
    assert final["stop"] == "end", ctx
    assert names[0] in READ_NAMES and names[1:4] == ["read_body", "handle_request", "thread_main"], ctx
    assert frames[3]["line"] == marked_lines()["thread_main"], ctx
    # below thread_main only glibc's thread start-up (start_thread, clone3), no main
    assert len(frames) > 4 and all(f["module"].endswith(LIBC) for f in frames[4:]), ctx
    assert "main" not in names, ctx
