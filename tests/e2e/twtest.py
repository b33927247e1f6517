# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Helpers for the end-to-end tests: paths, running the tool and the
workloads, parsing the tool's JSON report, histograms, cgroups, bpftool.

Standard library only (Debian's /usr/bin/python3 + python3-pytest).
"""
import datetime
import json
import math
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD_DIR = ROOT / os.environ.get("BUILD", "build") / "tests"
IN_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def tool_path():
    """The binary under test: $TW_BIN (relative to the repo root) or build/bpf-threadwatch."""
    p = Path(os.environ.get("TW_BIN", "build/bpf-threadwatch"))
    return p if p.is_absolute() else ROOT / p


def workload(name):
    return str(WORKLOAD_DIR / name)


def ns(ms):
    return int(ms * 1_000_000)


RFC3339_NS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{9})Z$")


def rfc3339_ns(text):
    """ns since the epoch of the tool's timestamps, which must be RFC 3339 UTC with 9
    decimals ("2026-12-01T06:50:01.123456789Z")."""
    m = RFC3339_NS.match(text)
    assert m, f"not an RFC 3339 UTC time with ns: {text!r}"
    sec = datetime.datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return int(sec) * 1_000_000_000 + int(m[2])


# --- running things ----------------------------------------------------------


def run(argv, timeout, **kw):
    """subprocess.run with text output captured and a hard timeout."""
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kw)


def describe(cp_or_proc):
    """Command, exit status and output, for assertion messages."""
    if isinstance(cp_or_proc, subprocess.CompletedProcess):
        args, rc, out, err = cp_or_proc.args, cp_or_proc.returncode, cp_or_proc.stdout, cp_or_proc.stderr
    else:
        args, rc, out, err = cp_or_proc.argv, cp_or_proc.returncode, cp_or_proc.stdout, cp_or_proc.stderr
    cmd = " ".join(str(a) for a in args)
    return (f"\n$ {cmd}\nexit status: {rc}\n--- stdout (last 3000 chars) ---\n{out[-3000:]}"
            f"\n--- stderr (last 3000 chars) ---\n{err[-3000:]}\n")


class Bg:
    """A background process whose stdout and stderr are read line by line by
    two threads, so a test can wait for a line (e.g. "Tracing") without
    deadlocking on a full pipe. Use as a context manager: it is killed on
    exit if it is still running."""

    def __init__(self, argv, stdin=False):
        self.argv = [str(a) for a in argv]
        self.p = subprocess.Popen(self.argv, cwd=ROOT, text=True, bufsize=1,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pid = self.p.pid
        self.out_lines, self.err_lines = [], []
        self._cv = threading.Condition()
        self._eof = {"out": False, "err": False}
        self._readers = [
            threading.Thread(target=self._read, args=(self.p.stdout, self.out_lines, "out"), daemon=True),
            threading.Thread(target=self._read, args=(self.p.stderr, self.err_lines, "err"), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read(self, f, lines, key):
        for line in f:
            with self._cv:
                lines.append(line)
                self._cv.notify_all()
        with self._cv:
            self._eof[key] = True
            self._cv.notify_all()

    @property
    def stdout(self):
        with self._cv:
            return "".join(self.out_lines)

    @property
    def stderr(self):
        with self._cv:
            return "".join(self.err_lines)

    @property
    def returncode(self):
        return self.p.returncode

    def wait_line(self, stream, pred, timeout):
        """Waits until a line of stream ("out"/"err") satisfies pred; returns it,
        or None on timeout or when the stream ends first."""
        lines = self.out_lines if stream == "out" else self.err_lines
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cv:
            while True:
                while seen < len(lines):
                    if pred(lines[seen]):
                        return lines[seen]
                    seen += 1
                if self._eof[stream]:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(left)

    def send(self, text):
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def close_stdin(self):
        if self.p.stdin and not self.p.stdin.closed:
            try:
                self.p.stdin.close()
            except BrokenPipeError:
                pass

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def wait(self, timeout):
        """Waits for exit and for both streams to be drained; returns the exit
        status, or None if it is still running after timeout."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._readers:
            t.join(timeout=5)
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.close_stdin()
        for t in self._readers:
            t.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def start_attached(tool_args, wl_argv, trace_timeout=30):
    """Starts the workload (which must take --wait-stdin), attaches the tool to
    it with -p, and waits for "Tracing" on the tool's stderr. Returns (tool,
    wl) Bg objects; the caller releases the workload with wl.send("\\n")."""
    wl = Bg(wl_argv, stdin=True)
    try:
        tool = Bg([tool_path(), "-p", str(wl.pid), *tool_args])
    except BaseException:
        wl.kill()
        raise
    line = tool.wait_line("err", lambda s: "Tracing" in s, trace_timeout)
    if line is None:
        tool.signal(signal.SIGINT)
        tool.wait(10)
        tool.kill()
        wl.kill()
        raise AssertionError("the tool never printed 'Tracing' on stderr" + describe(tool))
    return tool, wl


def run_held(tool_args, wl_argv, timeout=30):
    """A --wait-stdin --hold workload traced with -p for the whole of the tool's run
    (tool_args must end it, e.g. with -d): release it, wait for the tool, then let the
    workload exit. Returns (tool_objects, workload_object, ctx)."""
    tool, wl = start_attached(tool_args, wl_argv)
    with tool, wl:
        wl.send("\n")
        rc = finish(tool, timeout)
        ctx = describe(tool)
        assert rc == 0, ctx
        wl.close_stdin()
        assert finish(wl, 10, "the workload") == 0, describe(wl)
        _, wl_objs = parse_report(wl.stdout, ctx)
        objs, _ = parse_report(tool.stdout, ctx)
    return objs, wl_objs[0], ctx


def finish(bg, timeout, what="the tool"):
    """Waits for bg to exit by itself; on timeout interrupts it, kills it and fails."""
    rc = bg.wait(timeout)
    if rc is None:
        bg.signal(signal.SIGINT)
        bg.wait(5)
        bg.kill()
        raise AssertionError(f"{what} did not exit within {timeout}s" + describe(bg))
    return rc


# --- the tool's JSON report -----------------------------------------------------


def parse_report(stdout, ctx=""):
    """Every stdout line must be a JSON object. Returns (tool_objects,
    workload_objects): workload lines carry a "workload" key."""
    tool_objs, wl_objs = [], []
    for i, line in enumerate(stdout.splitlines()):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise AssertionError(f"stdout line {i + 1} is not JSON ({e}): {line[:300]!r}{ctx}")
        assert isinstance(obj, dict), f"stdout line {i + 1} is not a JSON object{ctx}"
        (wl_objs if "workload" in obj else tool_objs).append(obj)
    return tool_objs, wl_objs


def final_report(tool_objs, ctx=""):
    """The one "final" object, which must be the last tool object."""
    assert tool_objs, "the tool printed no JSON object" + ctx
    finals = [o for o in tool_objs if o.get("type") == "final"]
    assert len(finals) == 1, f"expected exactly 1 final object, got {len(finals)}" + ctx
    assert tool_objs[-1] is finals[0], "the final object is not the last one" + ctx
    return finals[0]


def check_report_shape(rep, ctx=""):
    for k in ("type", "duration_s", "attach", "lost", "processes"):
        assert k in rep, f"report lacks {k!r}" + ctx
    assert rep["attach"] in ("tp_btf", "raw_tp"), f"attach={rep['attach']!r}" + ctx
    for k in ("ringbuf", "thread_map_full", "proc_map_full", "clone_map_full", "map_alloc_failed",
                  "tid_reused_unread"):
        assert k in rep["lost"], f"lost lacks {k!r}" + ctx


# Switch-ins the tool did not see are counted by the tool. On the CI sandbox's
# kernel they happen whenever its agent (PID 1) preempts a traced thread: that
# kernel emits no sched_switch away from the agent (docs/json.md, "lost").
# They never touch thread counts, so every test tolerates them; tests whose
# numbers they would change check them in their own equations (test_runq: samples
# missing <= counted; storms: first runs seen + unseen == created).
STORM_COUNTED_LOSSES = ("switch_in_unseen", "first_run_unseen")


# Stacks that could not be taken or unwound whole (a deep interpreter stack past
# --stack-bytes...) change no other number: tests of stacks (test_stacks) check them.
STACK_LOSSES = ("stack_events", "stack_unreadable", "stack_unwind_short", "stack_process_gone",
                "stack_no_access", "stack_not_unwound", "stack_unknown_frames",
                # Python frames (issue 12): a code object freed as the interpreter exits, a
                # stack taken before the interpreter was found, a C thread without a thread
                # state, a deep recursion, frames changing under the walk
                "python_code_unreadable", "python_not_yet_found", "python_thread_unknown",
                "python_frames_cut", "python_frames_unreadable",
                # Python thread names: a Thread freed under the read (test_pythreadnames checks)
                "python_thread_names_unreadable")


def assert_no_loss(rep, ctx="", allow=()):
    lost = rep["lost"]
    allow = set(allow) | set(STORM_COUNTED_LOSSES) | set(STACK_LOSSES)
    bad = {k: v for k, v in lost.items() if v and k not in allow}
    assert not bad, f"the tool lost data: lost={lost}" + ctx


def find_proc(rep, pid, ctx=""):
    procs = [p for p in rep["processes"] if p.get("pid") == pid]
    assert len(procs) == 1, (f"expected 1 process with pid {pid} in the report, got {len(procs)}; "
                             f"pids: {[p.get('pid') for p in rep['processes']]}" + ctx)
    return procs[0]


def threads_by_tid(proc):
    return {t["tid"]: t for t in proc["threads"]}


def read_workload_out(path):
    """The one JSON line a workload wrote with --out."""
    text = Path(path).read_text()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"workload output {path}: expected 1 line, got {text!r}"
    return json.loads(lines[0])


# --- histograms ---------------------------------------------------------------


# docs/json.md: Prometheus schema 2, bucket k holds (2^((k-1)/4 + 6), 2^(k/4 + 6)] ns as the
# integers [lo, hi); bucket 0 is [0, 64] ns, the last everything above 2^42 ns
HIST_LO_SHIFT, HIST_HI_SHIFT = 6, 42
HIST_SLOTS = 4 * (HIST_HI_SHIFT - HIST_LO_SHIFT) + 2


def _iroot4(n):
    x = int(round(n ** 0.25))
    while x ** 4 > n:
        x -= 1
    while (x + 1) ** 4 <= n:
        x += 1
    return x


def hist_hi(i):
    """The first integer past bucket i: floor(2^(i/4 + 6)) + 1 (2^64 - 1 for the last)."""
    return 2 ** 64 - 1 if i >= HIST_SLOTS - 1 else _iroot4(2 ** (4 * HIST_LO_SHIFT + i)) + 1


def hist_lo(i):
    return 0 if i == 0 else hist_hi(i - 1)


def hist_slot(value):
    """The smallest k with value <= 2^(k/4 + 6), i.e. value^4 <= 2^(k + 24); clamped."""
    value = int(value)
    if value <= 2 ** HIST_LO_SHIFT:
        return 0
    return min((value ** 4 - 1).bit_length() - 4 * HIST_LO_SHIFT, HIST_SLOTS - 1)


def hist_bucket(value):
    """[lo, hi) of the bucket holding value ns."""
    k = hist_slot(value)
    return hist_lo(k), hist_hi(k)


def check_hist_shape(hist, ctx=""):
    for b in hist:
        assert len(b) == 3, f"histogram bucket {b} is not [lo, hi, count]" + ctx
        lo, hi, n = b
        assert n > 0, f"empty bucket {b} listed" + ctx
        assert (lo, hi) == hist_bucket(lo), \
            f"bucket {b} is not a schema-2 bucket {hist_bucket(lo)}" + ctx
    los = [b[0] for b in hist]
    assert los == sorted(set(los)), f"buckets not sorted/unique: {los}" + ctx


def nearest_rank(values, p):
    """The p-quantile of values by nearest rank, as the tool defines it (docs/json.md)."""
    v = sorted(values)
    rank = max(1, math.ceil(p * len(v) - 1e-9))
    return v[min(rank, len(v)) - 1]


def hist_count(hist, value):
    """Count of the bucket holding value (0 if that bucket is not listed)."""
    lo, hi = hist_bucket(value)
    for blo, bhi, n in hist:
        if blo == lo and bhi == hi:
            return n
    return 0


def hist_total(hist):
    return sum(b[2] for b in hist)


# --- cgroups --------------------------------------------------------------------


def pids_cgroup_parent():
    """(version, path) of a cgroup directory under which a child with the
    pids controller can be made: a v1 hierarchy with pids, else a v2 mount
    whose root lists pids in cgroup.controllers. None if neither."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    v2 = None
    for m in mounts:
        f = m.split()
        if len(f) < 4:
            continue
        if f[2] == "cgroup" and "pids" in f[3].split(","):
            return 1, Path(f[1])
        if f[2] == "cgroup2" and v2 is None:
            ctl = Path(f[1]) / "cgroup.controllers"
            if ctl.exists() and "pids" in ctl.read_text().split():
                v2 = Path(f[1])
    if v2 is not None:
        return 2, v2
    return None


class PidsCgroup:
    """A fresh tw-test-<random> cgroup with pids.max set; removed on exit."""

    def __init__(self, limit):
        found = pids_cgroup_parent()
        if found is None:
            raise LookupError("no cgroup hierarchy with the pids controller is mounted")
        self.version, parent = found
        if self.version == 2:
            sub = parent / "cgroup.subtree_control"
            if "pids" not in sub.read_text().split():
                sub.write_text("+pids")
        self.path = parent / f"tw-test-{os.getpid()}-{os.urandom(4).hex()}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(limit))

    def add(self, pid):
        (self.path / "cgroup.procs").write_text(str(pid))

    def remove(self):
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)  # tasks still exiting
        self.path.rmdir()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# --- bpftool --------------------------------------------------------------------

PROG_PREFIXES = ("tp_btf_", "raw_tp_", "handle_", "iter_", "perf_")


def bpftool_json(*args):
    cp = run(["bpftool", "-j", *args], timeout=30)
    assert cp.returncode == 0, "bpftool failed" + describe(cp)
    return json.loads(cp.stdout or "[]")


def held_bpf_objects(pid):
    """(prog ids, link ids) of the BPF programs and links process pid holds
    open, from /proc/PID/fdinfo (exact, whatever else is loaded meanwhile)."""
    progs, links = set(), set()
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    for f in fdinfo.iterdir():
        try:
            text = f.read_text()
        except OSError:
            continue  # fd closed meanwhile
        for line in text.splitlines():
            key, _, val = line.partition(":")
            if key == "prog_id":
                progs.add(int(val))
            elif key == "link_id":
                links.add(int(val))
    return progs, links


def loaded_progs():
    """{prog id: name} of every loaded BPF program."""
    return {p["id"]: p.get("name", "") for p in bpftool_json("prog", "show")}


def loaded_links():
    """{link id: prog id} of every BPF link."""
    return {lk["id"]: lk.get("prog_id") for lk in bpftool_json("link", "show")}


# --- Python interpreters (Python frames and thread names) ----------------------

DEBIAN_PY311 = "/usr/bin/python3.11"  # Debian's: non-PIE, stripped
PIE_PY311 = "/root/.pyenv/versions/3.11.7/bin/python3"  # PIE, shared libpython
TRIXIE = "/var/cache/bpf-threadwatch/trixie"  # Debian 13 (python3.13), for a chroot


def trixie_root():
    """The Debian 13 folder with python3.13, made once with debootstrap and kept (as
    test_pyframes.py's trixie fixture makes it). Returns (root, None), or (None, why not)."""
    import shutil
    if os.path.exists(f"{TRIXIE}/usr/bin/python3.13"):
        return TRIXIE, None
    if not shutil.which("debootstrap"):
        return None, "debootstrap is missing (apt-get install debootstrap)"
    tmp = TRIXIE + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    cp = run(["debootstrap", "--variant=minbase", "--include=python3", "trixie", tmp],
             timeout=900)
    if cp.returncode != 0:
        return None, "debootstrap trixie failed" + describe(cp)
    os.rename(tmp, TRIXIE)
    return TRIXIE, None


# "  34: 0x51 M=4 read_body /path/pyhandler.py:63 s=0": id, address, mapping, then one
# "function file:line s=N" per line of the location (inlined ones follow on lines of their own)
PPROF_LOC = re.compile(r"^\s+(\d+): (0x[0-9a-f]+) (?:M=\d+ )?(\S+) (\S+):(\d+)(?: s=\d+)?$")


def pprof_raw(path, ctx):
    """`go tool pprof -raw`, the real reader: ([[offcpu ns, count, labels text,
    [(function, file, line)], leaf first]], raw text). A frame without a file is
    (function, "", 0); a location with no function, ("?", "", 0)."""
    cp = run(["go", "tool", "pprof", "-raw", str(path)], timeout=60)
    assert cp.returncode == 0, describe(cp) + ctx
    out = cp.stdout.splitlines()
    samples, locs = [], {}
    i = out.index("Samples:") + 2  # past the "offcpu/nanoseconds samples/count" header
    while i < len(out) and out[i].startswith(" "):
        head, _, ids = out[i].partition(":")
        parts = head.split()
        if len(parts) == 2 and parts[0].isdigit():
            samples.append([int(parts[0]), int(parts[1]), "", [int(x) for x in ids.split()]])
        else:
            samples[-1][2] += out[i]
        i += 1
    j = out.index("Locations")
    for line in out[j + 1:]:
        if line.startswith("Mappings"):
            break
        m = PPROF_LOC.match(line)
        if m:
            locs[int(m[1])] = (m[3], m[4], int(m[5]))
        else:
            head, sep, rest = line.partition(": ")
            if sep and head.strip().isdigit():
                words = rest.split()
                locs[int(head)] = (words[2] if len(words) > 2 else "?", "", 0)
    for s in samples:
        s[3] = [locs.get(x, ("?", "", 0)) for x in s[3]]
    return samples, cp.stdout
