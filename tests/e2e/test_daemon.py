# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Fleet mode: `bpf-threadwatch daemon` (docs/metrics.md).

Every test starts its own daemon on a free 127.0.0.1 port with --refresh 0.2 and --log
FILE, waits for /healthz 200 and, when done, sends SIGTERM and checks exit 0 and that no
BPF program or link the daemon held stays loaded. Workloads run next to the daemon (it
watches every process), and what /metrics says about their pid is compared with what they
did; the events log is checked line by line. Standard library only: urllib for HTTP, a
small parser of the text exposition format below. TW_TIMEOUT_SCALE (default 2) scales how
long a test waits for a value before failing.
"""
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

import twtest
from twtest import ns, workload

PY = "/usr/bin/python3"
ASYNCIO_SERVER = str(twtest.ROOT / "tests" / "workloads" / "asyncio_server.py")
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"

# every group gets series of its own, and exited workloads stay listed while a test runs
WIDE = ("--top-k", "100000", "--keep-exited", "20")
# tests that read the events log must not lose lines to other processes' stalls
NO_RATE_LIMIT = ("--events-per-s", "1000")

# docs/metrics.md: histogram bounds, seconds, powers of two ns, every third from 2^10 ns
DOC_LE = [2 ** (10 + 3 * k) / 1e9 for k in range(10)]
DOC_LE_TEXT = ["1.024e-06", "8.192e-06", "6.5536e-05", "0.000524288", "0.004194304",
               "0.033554432", "0.268435456", "2.147483648", "17.179869184", "137.438953472"]
LE_268MS, LE_2S, LE_17S = 6, 7, 8  # indexes into a histogram's sorted bounds

# waits for the daemon (for a value to show, an event line to land) give up after
# their timeout times this: a loaded machine or the ASan build is slower (success
# returns at once, so it only lengthens failures)
SLACK = float(os.environ.get("TW_TIMEOUT_SCALE", "2"))

TIME_RE = twtest.RFC3339_NS  # RFC 3339, UTC, ns
POD_LABELS = ("container_id", "pod_uid", "pod", "namespace", "container")


def cannot(reason):
    """Fails in CI, skips elsewhere (as conftest does for missing root/BTF)."""
    if twtest.IN_CI:
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port(host="127.0.0.1"):
    """A port free right now on host (bound, then closed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def near(value, want, frac=0.2):
    return abs(value - want) <= frac * want


# --- HTTP ------------------------------------------------------------------------


def http_get(url, timeout=20, method="GET", data=None):
    """(status, headers, body bytes); an HTTP error status is returned, not raised."""
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers, e.read()


def raw_request(port, data, timeout=5.0):
    """Sends raw bytes (and keeps its side open, as a client waiting for an answer
    does); returns (status or None, bytes read). None: the daemon closed (or reset) the
    connection without a status line. Raises socket.timeout if it neither answers nor
    closes within timeout."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError, OSError) as e:
            if isinstance(e, socket.timeout):
                raise
            # it may answer and close before reading it all: fine
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except (ConnectionResetError, OSError) as e:
            if isinstance(e, socket.timeout):
                raise
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", out)
    return (int(m.group(1)) if m else None), out


# --- the text exposition format ----------------------------------------------------------

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESC = {"\\": "\\", '"': '"', "n": "\n"}


def _parse_sample(line):
    """name, {label: value}, float of one sample line; ValueError if malformed."""
    m = _NAME.match(line)
    if not m:
        raise ValueError("no metric name")
    name, i, labels = m.group(0), m.end(), {}
    try:
        if line[i] == "{":
            i += 1
            while line[i] != "}":
                lm = _LABEL.match(line, i)
                if not lm:
                    raise ValueError(f"bad label name at column {i}")
                key, i = lm.group(0), lm.end()
                if line[i:i + 2] != '="':
                    raise ValueError(f"expected =\" at column {i}")
                i += 2
                val = []
                while line[i] != '"':
                    if line[i] == "\\":
                        if line[i + 1] not in _ESC:
                            raise ValueError(f"bad escape \\{line[i + 1]} at column {i}")
                        val.append(_ESC[line[i + 1]])
                        i += 2
                    else:
                        val.append(line[i])
                        i += 1
                i += 1
                if key in labels:
                    raise ValueError(f"label {key} twice")
                labels[key] = "".join(val)
                if line[i] == ",":
                    i += 1
                elif line[i] != "}":
                    raise ValueError(f"expected , or }} at column {i}")
            i += 1
    except IndexError:
        raise ValueError("line ends inside the labels") from None
    if line[i:i + 1] != " ":
        raise ValueError(f"expected a space before the value at column {i}")
    fields = line[i:].split()
    if len(fields) not in (1, 2):
        raise ValueError("expected a value and at most a timestamp")
    return name, labels, float(fields[0])


def parse_exposition(text, types=None, only=None):
    """{(name, frozenset(labels.items())): value} of a Prometheus text exposition.
    types (a dict), if given, gets each family's # TYPE. only (substrings): parse just
    the sample lines holding one of them (fast polling of a big scrape). Malformed
    lines and duplicate series fail the test."""
    out = {}
    for n, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        if line.startswith("#"):
            f = line.split(None, 3)
            if types is not None and len(f) == 4 and f[1] == "TYPE":
                assert f[2] not in types, f"line {n}: a second # TYPE for {f[2]}"
                types[f[2]] = f[3]
            continue
        if only is not None and not any(s in line for s in only):
            continue
        try:
            name, labels, value = _parse_sample(line)
        except ValueError as e:
            raise AssertionError(f"/metrics line {n} is malformed ({e}): {line[:300]!r}")
        key = (name, frozenset(labels.items()))
        assert key not in out, f"/metrics line {n}: duplicate series {line[:300]!r}"
        out[key] = value
    assert text.endswith("\n"), "the exposition does not end with a newline"
    return out


def select(m, name, **labels):
    """{frozenset(labels): value} of the series of name whose labels include these."""
    want = {(k, str(v)) for k, v in labels.items()}
    return {lab: v for (n, lab), v in m.items() if n == name and want <= lab}


def maybe(m, name, **labels):
    """The value of the one matching series, None if there is none."""
    s = select(m, name, **labels)
    assert len(s) <= 1, f"{name}{labels} matches {len(s)} series: {sorted(sorted(x) for x in s)}"
    return next(iter(s.values())) if s else None


def value(m, name, **labels):
    v = maybe(m, name, **labels)
    assert v is not None, f"no series {name}{labels}" + dump(m, **labels)
    return v


def labels_of(m, name, **labels):
    s = select(m, name, **labels)
    assert len(s) == 1, f"{name}{labels} matches {len(s)} series" + dump(m, **labels)
    return dict(next(iter(s)))


def buckets(m, name, **labels):
    """Cumulative bucket counts of one histogram, ordered by bound (+Inf last)."""
    s = select(m, name + "_bucket", **labels)
    by_le = {}
    for lab, v in s.items():
        le = dict(lab)["le"]
        assert le not in by_le, f"{name}{labels} is more than one histogram" + dump(m, **labels)
        by_le[le] = v
    assert by_le, f"no histogram {name}{labels}" + dump(m, **labels)
    return [by_le[k] for k in sorted(by_le, key=float)]


def in_bucket(b, k):
    """Observations in (bound k-1, bound k]."""
    return b[k] - b[k - 1]


def dump(m, **labels):
    want = {(k, str(v)) for k, v in labels.items()}
    rows = [f"  {n}{dict(lab)} {v}" for (n, lab), v in sorted(m.items(), key=lambda x: x[0][0])
            if want <= lab]
    return f"\nseries with {labels} ({len(rows)}):\n" + "\n".join(rows[:80])


def check_histograms(m, types):
    """Every histogram: 11 buckets, sorted bounds ending in +Inf, cumulative counts,
    _count equal to the +Inf bucket, a _sum >= 0."""
    nhist = 0
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for (n, lab), v in m.items():
            if n == fam + "_bucket":
                d = dict(lab)
                le = d.pop("le")
                groups.setdefault(frozenset(d.items()), {})[le] = v
        for key, by_le in groups.items():
            nhist += 1
            ctx = f"\nhistogram {fam}{dict(key)}: {by_le}"
            les = sorted(by_le, key=float)
            assert len(les) == 11 and les[-1] == "+Inf", "expected 10 bounds and +Inf" + ctx
            counts = [by_le[le] for le in les]
            assert all(a <= b for a, b in zip(counts, counts[1:])), "not cumulative" + ctx
            assert m.get((fam + "_count", key)) == by_le["+Inf"], \
                f"_count {m.get((fam + '_count', key))} != +Inf bucket" + ctx
            s = m.get((fam + "_sum", key))
            assert s is not None and s >= 0, f"_sum {s}" + ctx
    return nhist


# --- the events log ----------------------------------------------------------------------


def read_events(path):
    """The complete JSON lines of the events log, each checked for the common keys."""
    path = Path(path)
    if not path.exists():
        return []
    evs = []
    for i, line in enumerate(path.read_text().split("\n")[:-1]):  # the last may be partial
        try:
            ev = json.loads(line)
        except json.JSONDecodeError as e:
            raise AssertionError(f"{path} line {i + 1} is not JSON ({e}): {line[:300]!r}")
        assert isinstance(ev, dict), f"{path} line {i + 1}: {line[:300]!r}"
        assert TIME_RE.match(ev.get("time", "")), f"{path} line {i + 1}: time: {line[:300]!r}"
        assert ev.get("event") in ("stall", "thread_create_failures"), line[:300]
        assert isinstance(ev.get("pid"), int) and isinstance(ev.get("comm"), str), line[:300]
        evs.append(ev)
    return evs


def wait_events(path, pred, timeout, what):
    timeout *= SLACK
    deadline = time.monotonic() + timeout
    while True:
        evs = [e for e in read_events(path) if pred(e)]
        if evs or time.monotonic() > deadline:
            assert evs, f"{what}: no such line in {path} within {timeout}s"
            return evs
        time.sleep(0.1)


# --- the daemon --------------------------------------------------------------------------

BAD_STDERR = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error:")


def wait_unloaded(progs, links, ctx, timeout=5):
    """The programs and links a stopped daemon held are gone (after an RCU grace period)."""
    deadline = time.monotonic() + timeout
    while True:
        left = {i: n for i, n in twtest.loaded_progs().items() if i in progs}
        left_links = {i: p for i, p in twtest.loaded_links().items()
                      if i in links or p in progs}
        if not left and not left_links:
            return
        assert time.monotonic() < deadline, \
            f"still loaded after the daemon exited: programs {left}, links {left_links}" + ctx
        time.sleep(0.2)


class Daemon:
    """`tool daemon --listen 127.0.0.1:PORT --refresh 0.2 --log FILE ARGS`, started and
    healthy. Unpacks as (url, process handle, log path)."""

    def __init__(self, tool, tmp_path, args=(), port=None, host="127.0.0.1"):
        self.port = port or free_port(host)
        self.addr = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.url = f"http://{self.addr}"
        self.log = Path(tmp_path) / f"events-{self.port}-{os.urandom(3).hex()}.log"
        self.argv = [tool, "daemon", "--listen", self.addr, "--refresh", "0.2",
                     "--log", str(self.log), *[str(a) for a in args]]
        self.stopped = False
        self.starting = []  # /healthz bodies answered before the first refresh
        self.bg = twtest.Bg(self.argv)
        try:
            self._wait_healthy(30)
            self.progs, self.links = twtest.held_bpf_objects(self.bg.pid)
            assert self.progs and self.links, \
                f"the daemon holds no BPF programs/links: {self.progs} {self.links}" + self.ctx()
        except BaseException:
            self.bg.kill()
            raise

    def __iter__(self):
        return iter((self.url, self.bg, self.log))

    @property
    def pid(self):
        return self.bg.pid

    def ctx(self):
        return twtest.describe(self.bg)

    def _wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.bg.p.poll() is not None:
                self.bg.wait(5)
                raise AssertionError("the daemon exited while starting" + self.ctx())
            try:
                last = http_get(self.url + "/healthz", timeout=2)
                if last[0] == 200:
                    assert last[2] == b"ok\n", f"/healthz body {last[2]!r}"
                    return
                self.starting.append(last[:1] + last[2:])
            except (OSError, http.client.HTTPException) as e:
                last = e
            if time.monotonic() > deadline:
                raise AssertionError(f"/healthz not 200 within {timeout}s (last: {last})"
                                     + self.ctx())
            time.sleep(0.01)

    def alive(self):
        return self.bg.p.poll() is None

    def text(self):
        st, hdr, body = http_get(self.url + "/metrics")
        assert st == 200, f"/metrics answered {st}: {body[:200]!r}" + self.ctx()
        assert hdr["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8", \
            f"Content-Type {hdr['Content-Type']!r}"
        return body.decode("utf-8")

    def scrape(self, types=None, only=None):
        return parse_exposition(self.text(), types, only)

    def wait_for(self, pred, timeout, what, only=None, show=None):
        """Scrapes until pred(scrape) is true; returns that scrape."""
        timeout *= SLACK
        deadline = time.monotonic() + timeout
        while True:
            m = self.scrape(only=only)
            if pred(m):
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen within {timeout}s"
                                     + (dump(m, **show) if show is not None else ""))
            time.sleep(0.15)

    def stop(self, timeout=15):
        """SIGTERM: exit 0, "stopped", no sanitizer report, nothing left loaded."""
        if self.stopped:
            return
        self.stopped = True
        self.bg.signal(signal.SIGTERM)
        rc = self.bg.wait(timeout)
        if rc is None:
            self.bg.kill()
            raise AssertionError(f"the daemon did not exit within {timeout}s of SIGTERM"
                                 + self.ctx())
        ctx = self.ctx()
        assert rc == 0, "SIGTERM: expected exit status 0" + ctx
        assert "stopped" in self.bg.stderr, "no 'stopped' line on stderr" + ctx
        for bad in BAD_STDERR:
            assert bad not in self.bg.stderr, f"{bad} on stderr" + ctx
        wait_unloaded(self.progs, self.links, ctx)


@pytest.fixture
def start_daemon(require_bpf, tmp_path):
    """start_daemon(*args, port=None) -> Daemon; every daemon started is stopped (and
    checked: exit 0, nothing left loaded) at teardown unless the test stopped it."""
    started = []

    def start(*args, port=None, host="127.0.0.1"):
        d = Daemon(require_bpf, tmp_path, args, port, host)
        started.append(d)
        return d

    yield start
    errors = []
    for d in started:
        try:
            d.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def daemon(start_daemon):
    """A daemon with --syscalls where every group has series of its own; unpacks as
    (url, process handle, log path)."""
    return start_daemon("--syscalls", *WIDE, *NO_RATE_LIMIT)


# --- workloads ---------------------------------------------------------------------------


def result_line(bg, ctx=""):
    """The workload's JSON result line from its stdout."""
    for line in bg.stdout.splitlines():
        if '"workload"' in line:
            return json.loads(line)
    raise AssertionError("the workload printed no result line" + twtest.describe(bg) + ctx)


def wait_blocked_phase(pool, timeout=15):
    line = pool.wait_line("err", lambda s: '"phase":"blocked"' in s, timeout)
    assert line, "pool_blocked never reported its workers blocked" + twtest.describe(pool)
    return json.loads(line)


def run_asyncio(tmp_path, tag, *extra):
    """asyncio_server sleep --delay 0.3: one 0.3 s stall of its loop; returns its result."""
    out = Path(tmp_path) / f"asyncio-{tag}.json"
    cp = twtest.run([PY, ASYNCIO_SERVER, "sleep", "--delay", "0.3", "--out", out, *extra],
                    timeout=30)
    assert cp.returncode == 0, twtest.describe(cp)
    wl = twtest.read_workload_out(out)
    assert wl["replies"] == wl["requests"], f"workload: {wl}"
    return wl


def check_stall_event(ev, wl, ctx=""):
    ctx = f"\nevent: {ev}\nworkload: {wl}" + ctx
    assert ev["event"] == "stall" and ev["pid"] == wl["pid"], ctx
    assert ev["tid"] == wl["loop_tid"], ctx
    assert ev["comm"] == "python3", ctx
    assert ev["cause"] == "blocked", ctx
    # the workload's own clock around its slow callback: a loaded machine stretches it
    took = (wl["slow_end_ns"] - wl["slow_start_ns"]) / 1e9
    assert near(ev["duration_s"], took), ctx
    parts = ev["oncpu_s"] + ev["blocked_s"] + ev["runq_s"]
    assert parts <= ev["duration_s"] * 1.01 + 0.002, "the parts exceed the stall" + ctx
    assert ev["blocked_s"] == max(ev["oncpu_s"], ev["blocked_s"], ev["runq_s"]), ctx
    assert ev["syscalls"] >= 1, ctx
    lc = ev["longest_call"]
    assert lc is not None and lc["name"] == "clock_nanosleep", ctx
    assert near(lc["duration_s"], took), ctx
    # the event is stamped with the stall's own start, not the time it was flushed
    assert ev["mono_ns"] <= wl["slow_start_ns"] + ns(1), ctx
    assert ev["mono_ns"] >= wl["slow_start_ns"] - ns(50), ctx
    wall = twtest.rfc3339_ns(ev["time"])
    assert abs(wall - wl["slow_start_wall_ns"]) <= ns(50), ctx
    end = twtest.rfc3339_ns(ev["end_time"])
    assert abs(end - wall - ev["duration_s"] * 1e9) <= ns(1), ctx


# --- 1. numbers --------------------------------------------------------------------------


def test_numbers(start_daemon):
    """blockers 6 300 and pool_blocked 4 read 4 next to the daemon: thread counts, threads
    blocked now, blocking reads by latency bucket, and the shape of every histogram."""
    d = start_daemon("--syscalls", "--blocked-ms", "500", *WIDE)
    with twtest.Bg([workload("pool_blocked"), "4", "read", "4"]) as pool, \
            twtest.Bg([workload("blockers"), "6", "300"]) as blk:
        phase = wait_blocked_phase(pool)
        pp = str(pool.pid)
        # during the hold: main + 4 workers, the workers asleep for >= 0.5 s
        m = d.wait_for(lambda m: maybe(m, "threadwatch_threads", pid=pp) == 5 and
                       (maybe(m, "threadwatch_threads_blocked_now", pid=pp) or 0) >= 4,
                       1.5, "pool_blocked: 5 threads, >= 4 blocked now",
                       only=[f'pid="{pp}"'], show={"pid": pp})
        ctx = f"\npool phase: {phase}" + dump(m, pid=pp)
        assert value(m, "threadwatch_threads", pid=pp) == 5, ctx
        assert 4 <= value(m, "threadwatch_threads_blocked_now", pid=pp) <= 5, ctx
        assert value(m, "threadwatch_threads_created_total", pid=pp) == 4, ctx
        assert value(m, "threadwatch_threads_peak", pid=pp) == 5, ctx
        live_labels = labels_of(m, "threadwatch_threads", pid=pp)

        assert twtest.finish(blk, 15, "blockers") == 0, twtest.describe(blk)
        bres = result_line(blk)
        bp = str(blk.pid)
        m = d.wait_for(lambda m: maybe(m, "threadwatch_threads_exited_total", pid=bp) == 6,
                       5, "blockers: 6 threads exited", only=[f'pid="{bp}"'],
                       show={"pid": bp})
        ctx = f"\nblockers: {bres}" + dump(m, pid=bp)
        assert value(m, "threadwatch_threads_created_total", pid=bp) == 6, ctx
        assert value(m, "threadwatch_threads_exited_total", pid=bp) == 6, ctx
        assert value(m, "threadwatch_threads", pid=bp) == 0, ctx
        assert value(m, "threadwatch_threads_peak", pid=bp) == 7, ctx
        assert value(m, "threadwatch_thread_create_failures_total", pid=bp, errno="EAGAIN") == 0
        # each worker's one read() took ~0.3 s (less for a worker that started late): as
        # many reads in (0.268 s, 2.15 s] as the workers measured (+-1 ms at the bound)
        lo, hi = (sum(w["read_ns"] / 1e9 > DOC_LE[LE_268MS] + d for w in bres["workers"])
                  for d in (0.001, -0.001))
        b = buckets(m, "threadwatch_syscall_seconds", pid=bp, call="read")
        assert lo <= in_bucket(b, LE_2S) <= hi, f"read buckets {b}, workers {bres}" + ctx
        assert value(m, "threadwatch_syscall_seconds_count", pid=bp, call="read") >= 6, ctx
        # and so did as many off-CPU intervals (and main's 0.3 s sleep)
        b = buckets(m, "threadwatch_offcpu_blocked_seconds", pid=bp)
        assert lo <= in_bucket(b, LE_2S) <= hi + 1, f"off-CPU blocked buckets {b}" + ctx
        assert value(m, "threadwatch_oncpu_seconds_total", pid=bp) > 0, ctx

        assert twtest.finish(pool, 15, "pool_blocked") == 0, twtest.describe(pool)
        m = d.wait_for(lambda m: maybe(m, "threadwatch_threads_exited_total", pid=pp) == 4,
                       5, "pool_blocked: 4 threads exited", only=[f'pid="{pp}"'],
                       show={"pid": pp})
        ctx = f"\npool: {result_line(pool)}" + dump(m, pid=pp)
        assert value(m, "threadwatch_syscall_seconds_count", call="read", pid=pp) >= 4, ctx
        # the 4 workers' reads took ~4 s: exactly 4 in (2.15 s, 17.2 s]
        b = buckets(m, "threadwatch_syscall_seconds", pid=pp, call="read")
        assert in_bucket(b, LE_17S) == 4, f"read buckets {b}" + ctx
        assert value(m, "threadwatch_threads_blocked_now", pid=pp) == 0, ctx

    # the workloads' histograms: cumulative, _count == +Inf bucket (every series of a
    # whole scrape: test_promtool_and_docs)
    types = {}
    m = d.scrape(types, only=[f'pid="{pp}"', f'pid="{bp}"'])
    assert check_histograms(m, types) >= 4, "the workloads lack histograms"
    assert live_labels == {"pid": pp, "comm": "pool_blocked"}, "the pool's labels while it ran"
    assert labels_of(m, "threadwatch_threads", pid=bp) == {"pid": bp, "comm": "blockers"}


def duplicates(text):
    """Sample lines whose name and labels appear more than once."""
    seen, dups = {}, []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        key = line.rsplit(" ", 1)[0]
        if key in seen:
            dups.append(f"  {seen[key]}\n  {line}")
        else:
            seen[key] = line
    return dups


def test_one_series_per_process(start_daemon):
    """150 short-lived processes one after the other, next to a 400-thread process (which
    makes each refresh take a while): every series of the scrape is there once (the
    exposition format forbids a repeated name+labels; Prometheus drops the repeats)."""
    d = start_daemon("--syscalls", *WIDE)
    with twtest.Bg([workload("pool_blocked"), "400", "futex", "60"]) as pool:
        wait_blocked_phase(pool)
        pids = []
        for _ in range(150):
            cp = twtest.run([workload("blockers"), "1", "0"], timeout=10)
            assert cp.returncode == 0, twtest.describe(cp)
            pids.append(json.loads(cp.stdout)["pid"])
        last = str(pids[-1])
        d.wait_for(lambda m: maybe(m, "threadwatch_threads_exited_total", pid=last) == 1, 5,
                   "the last process", only=[f'pid="{last}"'])
        dups = duplicates(d.text())
        pool.kill()
    ours = [x for x in dups if any(f'pid="{p}"' in x for p in pids)]
    assert not dups, (f"{len(dups)} series repeated ({len(ours)} of them the 150 workloads'), "
                      "e.g.:\n" + "\n".join((ours or dups)[:6]))


def test_pid_reuse(start_daemon):
    """A pid reused while the exited process's series are still kept (--keep-exited):
    still one series per label set, and the pid's counter never goes down (it holds the
    new process's threads, or both processes')."""
    d = start_daemon(*WIDE)
    cp = twtest.run([workload("blockers"), "2", "5"], timeout=10)
    assert cp.returncode == 0, twtest.describe(cp)
    first = json.loads(cp.stdout)["pid"]
    p = str(first)
    d.wait_for(lambda m: maybe(m, "threadwatch_threads_exited_total", pid=p) == 2, 5,
               "the first process", only=[f'pid="{p}"'])
    reused = None
    for _ in range(30):  # another process may take the pid first: try again
        try:
            Path("/proc/sys/kernel/ns_last_pid").write_text(str(first - 1))
        except OSError as e:
            cannot(f"cannot set the next pid (/proc/sys/kernel/ns_last_pid): {e}")
        cp = twtest.run([workload("blockers"), "3", "5"], timeout=10)
        assert cp.returncode == 0, twtest.describe(cp)
        if json.loads(cp.stdout)["pid"] == first:
            reused = first
            break
    if reused is None:
        cannot(f"could not get pid {first} again in 30 tries")
    time.sleep(0.6)  # three refreshes
    text = d.text()
    dups = duplicates(text)
    assert not dups, f"pid {p} reused: series repeated:\n" + "\n".join(dups[:8])
    m = parse_exposition(text, only=[f'pid="{p}"'])
    for name in ("threadwatch_threads_created_total", "threadwatch_threads_exited_total"):
        s = select(m, name, pid=p)
        assert len(s) == 1 and next(iter(s.values())) in (3, 5), \
            f"pid {p} reused: {name}: {[(dict(k), v) for k, v in s.items()]}" + dump(m, pid=p)


def test_comm_after_exec(start_daemon):
    """A process started (fork, then exec) while the daemon runs is labelled with its own
    name from its first series on, not its parent's: a name that changes later makes new
    series (Prometheus sees the old ones go stale and counters start again)."""
    d = start_daemon(*WIDE)
    with twtest.Bg([workload("blockers"), "--wait-stdin", "--hold", "1", "0"],
                   stdin=True) as wl:
        p = str(wl.pid)
        m = d.wait_for(lambda m: maybe(m, "threadwatch_threads", pid=p) is not None, 3,
                       "the process", only=[f'pid="{p}"'])
        first = labels_of(m, "threadwatch_threads", pid=p)
        wl.send("\n")
        m = d.wait_for(lambda m: maybe(m, "threadwatch_threads_created_total", pid=p) == 1,
                       3, "its thread", only=[f'pid="{p}"'], show={"pid": p})
        later = labels_of(m, "threadwatch_threads", pid=p)
    assert (first, later) == ({"pid": p, "comm": "blockers"},) * 2, \
        f"labels of pid {p} (parent: python3, exec'd as blockers): first {first}, then {later}"


def test_exposition_parser():
    """The parser of this file: escapes, no labels, +Inf, timestamps; malformed lines fail."""
    types = {}
    m = parse_exposition('# HELP a_total x\n# TYPE a_total counter\n'
                         'a_total{x="q\\"b\\\\s\\nl",y=""} 3\nb 1.5e-06 1700000000\n'
                         'c{le="+Inf",} +Inf\n', types)
    assert m == {("a_total", frozenset({("x", 'q"b\\s\nl'), ("y", "")})): 3.0,
                 ("b", frozenset()): 1.5e-06,
                 ("c", frozenset({("le", "+Inf")})): float("inf")}, m
    assert types == {"a_total": "counter"}
    for bad in ('a{x="1"} 1\na{x="1"} 2\n', 'a{x="1} 1\n', 'a{x="\\t"} 1\n', "a{x=1} 1\n",
                "a 1 2 3\n", "a{x=\"1\"}1\n", "a 1"):
        with pytest.raises(AssertionError):
            parse_exposition(bad)


def test_label_escaping(start_daemon, tmp_path):
    """A process whose name holds a quote, a backslash, a newline and a byte that is not
    UTF-8: its comm label comes back exactly (the byte as U+FFFD)."""
    d = start_daemon(*WIDE)
    name = b'tw\xff"q\\b\nl'
    link = os.path.join(bytes(tmp_path), name)
    os.symlink(workload("blockers").encode(), link)
    cp = subprocess.run([link, b"2", b"5"], capture_output=True, timeout=10)
    assert cp.returncode == 0, cp
    p = str(json.loads(cp.stdout)["pid"])
    m = d.wait_for(lambda m: maybe(m, "threadwatch_threads_exited_total", pid=p) == 2, 5,
                   "the oddly named process", only=[f'pid="{p}"'], show={"pid": p})
    assert labels_of(m, "threadwatch_threads", pid=p) == \
        {"pid": p, "comm": 'tw\ufffd"q\\b\nl'}, dump(m, pid=p)


# --- 2. stalls ---------------------------------------------------------------------------


def test_stall(daemon, tmp_path):
    """asyncio_server sleep (a 0.3 s time.sleep in a coroutine): one blocked stall in the
    counters and exactly one "stall" line in the events log."""
    wl = run_asyncio(tmp_path, "stall")
    p = str(wl["pid"])
    m = daemon.wait_for(
        lambda m: maybe(m, "threadwatch_loop_stalls_total", pid=p, cause="blocked") == 1,
        5, "one blocked stall", only=[f'pid="{p}"'], show={"pid": p})
    ctx = f"\nworkload: {wl}" + dump(m, pid=p)
    for cause, want in (("blocked", 1), ("oncpu", 0), ("runq", 0), ("unknown", 0)):
        assert value(m, "threadwatch_loop_stalls_total", pid=p, cause=cause) == want, ctx
    assert labels_of(m, "threadwatch_loop_stalls_total", pid=p, cause="blocked") == \
        {"pid": p, "comm": "python3", "cause": "blocked"}, ctx
    # one gap per request at least; exactly one of them (the stall) in (0.268 s, 2.15 s]
    assert value(m, "threadwatch_loop_gap_seconds_count", pid=p) >= wl["requests"], ctx
    b = buckets(m, "threadwatch_loop_gap_seconds", pid=p)
    assert in_bucket(b, LE_2S) == 1 and b[-1] == b[LE_2S], f"gap buckets {b}" + ctx
    assert value(m, "threadwatch_loops_stalled_now", pid=p) == 0, ctx

    evs = [e for e in read_events(daemon.log) if e["pid"] == wl["pid"]]
    ctx = f"\nevents of pid {p}: {evs}\nworkload: {wl}"
    assert [e["event"] for e in evs] == ["stall"], ctx
    check_stall_event(evs[0], wl)
    for k in POD_LABELS:
        assert k not in evs[0], f"a host process's event has {k}" + ctx


# --- 3. thread creation failures ---------------------------------------------------------


def test_create_failures(daemon):
    """forkfail 50 500 in a pids cgroup with pids.max = 20: the EAGAIN counter equals the
    workload's own count, and "thread_create_failures" lines add up to it."""
    try:
        cg = twtest.PidsCgroup(20)
    except (LookupError, OSError) as e:
        cannot(f"cannot make a pids cgroup: {e}")
    with cg, twtest.Bg([workload("forkfail"), "--wait-stdin", "50", "500"], stdin=True) as wl:
        cg.add(wl.pid)  # before it creates any thread
        wl.send("\n")
        assert twtest.finish(wl, 30, "forkfail") == 0, twtest.describe(wl)
        res = result_line(wl)
    p = str(res["pid"])
    ctx = f"\nworkload: {res}\ncgroup v{cg.version} {cg.path}"
    assert res["failed_eagain"] > 0 and res["failed_other"] == 0, "the limit did not bite" + ctx
    m = daemon.wait_for(
        lambda m: maybe(m, "threadwatch_thread_create_failures_total", pid=p, errno="EAGAIN")
        == res["failed_eagain"] and maybe(m, "threadwatch_threads_exited_total", pid=p)
        == res["created"], 5, "the EAGAIN failures", only=[f'pid="{p}"'], show={"pid": p})
    ctx += dump(m, pid=p)
    assert value(m, "threadwatch_thread_create_failures_total", pid=p, errno="ENOMEM") == 0, ctx
    assert value(m, "threadwatch_thread_create_failures_total", pid=p, errno="other") == 0, ctx
    assert value(m, "threadwatch_threads_created_total", pid=p) == res["created"], ctx
    assert value(m, "threadwatch_fork_failures_total", pid=p) == 0, ctx

    evs = [e for e in read_events(daemon.log) if e["pid"] == res["pid"]]
    ctx += f"\nevents: {evs}"
    assert evs and all(e["event"] == "thread_create_failures" for e in evs), ctx
    assert sum(e["count"] for e in evs) == res["failed_eagain"], ctx
    assert sum(e["errno"]["EAGAIN"] for e in evs) == res["failed_eagain"], ctx
    assert all(e["errno"]["ENOMEM"] == 0 and e["errno"]["other"] == 0 for e in evs), ctx
    assert all(e["count"] == sum(e["errno"].values()) and e["window_s"] > 0 for e in evs), ctx
    assert all(e["comm"] == "forkfail" for e in evs), "the events' comm" + ctx


# --- 4. the exposition against promtool and the docs --------------------------------------


def doc_metrics():
    """{name: type} of the metric tables of docs/metrics.md."""
    text = (twtest.ROOT / "docs" / "metrics.md").read_text()
    out = {}
    for m in re.finditer(r"^\| `(threadwatch_[a-z_]+)(?:\{[^}`]*\})?` \| (\w+) \|", text, re.M):
        out[m.group(1)] = m.group(2)
    assert len(out) > 20, f"docs/metrics.md: only {out} found"
    return out


def test_promtool_and_docs(start_daemon, tmp_path):
    """A real scrape (default --top-k: an "other" group; loops, stalls and syscalls in
    it) passes `promtool check metrics` without a word; every documented family is there
    with its documented type, and the histogram bounds are the documented ones."""
    if not os.access(PROMTOOL, os.X_OK):
        cannot(f"{PROMTOOL} missing (Debian package prometheus)")
    daemon = start_daemon("--syscalls")
    run_asyncio(tmp_path, "promtool")  # a stall, in its own group or in "other"
    daemon.wait_for(lambda m: sum(select(m, "threadwatch_loop_stalls_total",
                                         cause="blocked").values()) >= 1,
                    5, "a stall", only=['cause="blocked"'])
    text = daemon.text()
    cp = twtest.run([PROMTOOL, "check", "metrics"], timeout=60, input=text)
    ctx = twtest.describe(cp)
    assert cp.returncode == 0, "promtool check metrics failed" + ctx
    assert not cp.stdout.strip() and not cp.stderr.strip(), "promtool has remarks" + ctx

    types = {}
    m = parse_exposition(text, types)
    check_histograms(m, types)
    docs = doc_metrics()
    missing = {n: t for n, t in docs.items() if n not in types}
    # the BPF run-time statistics are left out where the kernel cannot enable them
    if "threadwatch_agent_bpf_runs_total" not in types:
        missing.pop("threadwatch_agent_bpf_runs_total", None)
        missing.pop("threadwatch_agent_bpf_run_seconds_total", None)
    assert not missing, f"documented but not served: {missing}"
    undocumented = sorted(set(types) - set(docs))
    assert not undocumented, f"served but not in docs/metrics.md: {undocumented}"
    wrong = {n: (types[n], t) for n, t in docs.items() if n in types and types[n] != t}
    assert not wrong, f"type served != documented: {wrong}"
    for name, t in types.items():
        assert (t == "counter") == name.endswith("_total"), f"{name} is a {t}"
    assert value(m, "threadwatch_build_info") == 1
    assert value(m, "threadwatch_agent_render_seconds") > 0
    assert value(m, "threadwatch_agent_processes") > 0

    les = sorted({dict(lab)["le"] for (n, lab) in m if n.endswith("_bucket")}, key=float)
    assert les[-1] == "+Inf", les
    got = [float(x) for x in les[:-1]]
    assert all(abs(g - w) <= 1e-12 * w for g, w in zip(got, DOC_LE)) and len(got) == 10, \
        f"histogram bounds served: {les[:-1]}\ndocs/metrics.md says: {DOC_LE_TEXT}"


# --- 5. a real Prometheus -----------------------------------------------------------------


def prom_query(base, q):
    st, _, body = http_get(base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}),
                           timeout=5)
    assert st == 200, f"query {q!r}: HTTP {st}: {body[:300]!r}"
    r = json.loads(body)
    assert r["status"] == "success", r
    return [(s["metric"], float(s["value"][1])) for s in r["data"]["result"]]


def test_prometheus(start_daemon, tmp_path):
    """Prometheus scraping the daemon every second sees a held pool's threads and an
    asyncio loop's stall through PromQL; the target is up with no scrape error."""
    if not os.access(PROMETHEUS, os.X_OK):
        cannot(f"{PROMETHEUS} missing (Debian package prometheus)")
    d = start_daemon("--syscalls", "--top-k", "100000", "--keep-exited", "60", *NO_RATE_LIMIT)
    pport = free_port()
    base = f"http://127.0.0.1:{pport}"
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: threadwatch\n    static_configs:\n"
        f"      - targets: ['{d.addr}']\n")
    prom = twtest.Bg([PROMETHEUS, f"--config.file={cfg}",
                      f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                      f"--web.listen-address=127.0.0.1:{pport}", "--log.level=warn"])
    try:
        deadline = time.monotonic() + 20
        while True:
            assert prom.p.poll() is None, "prometheus exited" + twtest.describe(prom)
            try:
                if http_get(base + "/-/ready", timeout=2)[0] == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            assert time.monotonic() < deadline, "prometheus not ready in 20s" + \
                twtest.describe(prom)
            time.sleep(0.1)

        with twtest.Bg([workload("pool_blocked"), "3", "futex", "60"]) as pool:
            wait_blocked_phase(pool)
            wl = run_asyncio(tmp_path, "prom")
            want = {f'threadwatch_threads{{pid="{pool.pid}"}}': 4,
                    f'threadwatch_loop_stalls_total{{pid="{wl["pid"]}",cause="blocked"}}': 1,
                    'up{job="threadwatch"}': 1}
            got = {}
            # targets reach the scrape loop ~5 s after start (discovery updates are batched)
            deadline = time.monotonic() + 20 * SLACK
            while True:
                got = {q: prom_query(base, q) for q in want}
                if all(len(r) == 1 and r[0][1] == want[q] for q, r in got.items()):
                    break
                assert time.monotonic() < deadline, \
                    f"Prometheus did not see {want} within {20 * SLACK:g}s; it has {got}"
                time.sleep(0.3)
            assert pool.p.poll() is None, "the pool is still holding its threads"
            labels = got[f'threadwatch_threads{{pid="{pool.pid}"}}'][0][0]
            want_labels = {"__name__": "threadwatch_threads", "pid": str(pool.pid),
                           "comm": "pool_blocked", "job": "threadwatch", "instance": d.addr}
            pool.kill()

        st, _, body = http_get(base + "/api/v1/targets", timeout=5)
        targets = json.loads(body)["data"]["activeTargets"]
        assert len(targets) == 1, targets
        t = targets[0]
        assert t["health"] == "up" and t["lastError"] == "", f"target: {t}"
        # a quantile over a served histogram works (the bounds parse as numbers)
        r = prom_query(base, 'histogram_quantile(0.5, sum by (le) '
                             f'(threadwatch_offcpu_blocked_seconds_bucket{{pid="{wl["pid"]}"}}))')
        assert len(r) == 1 and r[0][1] >= 0, r
        # Prometheus's own counters: no sample of ours dropped as a duplicate or out of order
        own = http_get(base + "/metrics", timeout=5)[2].decode()
        for name in ("prometheus_target_scrapes_sample_duplicate_timestamp_total",
                     "prometheus_target_scrapes_sample_out_of_order_total"):
            mm = re.search(rf"^{name} (\S+)$", own, re.M)
            assert mm and float(mm.group(1)) == 0, f"{name}: {mm and mm.group(0)}"
        assert labels == want_labels, f"the pool's series in Prometheus: {labels}"
    finally:
        prom.signal(signal.SIGTERM)
        if prom.wait(10) is None:
            prom.kill()


# --- 6. pod labels ------------------------------------------------------------------------


def cgroup2_root(tmp_path):
    """(path, mounted by us) of a cgroup2 hierarchy."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        f = line.split()
        if len(f) > 2 and f[1] == "/sys/fs/cgroup" and f[2] == "cgroup2":
            return Path("/sys/fs/cgroup"), False
    mnt = Path(tmp_path) / "cgroup2"
    mnt.mkdir()
    cp = twtest.run(["mount", "-t", "cgroup2", "none", mnt], timeout=10)
    if cp.returncode != 0:
        cannot("cannot mount cgroup2" + twtest.describe(cp))
    return mnt, True


def rmdir_retry(path):
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)  # tasks still exiting
    path.rmdir()


def test_pod_labels(start_daemon, tmp_path):
    """Processes in a kubelet-style (systemd driver) container cgroup, with a pods dir and
    a containers dir: --by process series and events carry the pod labels; --by container
    keys the group by them, its counters the sum of the container's processes."""
    ns, pod, cname = "tw-e2e", "web-7f9c6d-x2k4q", "app"
    uid = str(uuid.uuid4())
    cid = os.urandom(32).hex()
    pods_dir, ctrs_dir = tmp_path / "pods", tmp_path / "containers"
    log_file = pods_dir / f"{ns}_{pod}_{uid}" / cname / "0.log"
    log_file.parent.mkdir(parents=True)
    log_file.write_text("")
    ctrs_dir.mkdir()
    (ctrs_dir / f"{pod}_{ns}_{cname}-{cid}.log").symlink_to(log_file)

    root, mounted = cgroup2_root(tmp_path)
    rel = ["kubepods.slice", "kubepods-burstable.slice",
           f"kubepods-burstable-pod{uid.replace('-', '_')}.slice",
           f"cri-containerd-{cid}.scope"]
    made = []
    wls = []
    try:
        path = root
        for part in rel:
            path = path / part
            if not path.exists():
                path.mkdir()
                made.append(path)
        scope = path
        b1 = twtest.Bg([workload("blockers"), "--wait-stdin", "--hold", "3", "50"], stdin=True)
        wls.append(b1)
        b2 = twtest.Bg([workload("blockers"), "--wait-stdin", "--hold", "2", "50"], stdin=True)
        wls.append(b2)
        out = tmp_path / "asyncio-pod.json"
        aw = twtest.Bg([PY, ASYNCIO_SERVER, "--wait-stdin", "sleep", "--delay", "0.3",
                        "--out", out], stdin=True)
        wls.append(aw)
        # into the container before any daemon sees them (each is looked up once)
        for w in wls:
            (scope / "cgroup.procs").write_text(str(w.pid))
            cg = Path(f"/proc/{w.pid}/cgroup").read_text()
            assert f"0::/{'/'.join(rel)}\n" in cg, f"pid {w.pid} not moved: {cg}"

        dirs = ("--pods-dir", pods_dir, "--containers-dir", ctrs_dir)
        dp = start_daemon("--syscalls", *WIDE, *NO_RATE_LIMIT, *dirs)
        dc = start_daemon("--syscalls", *WIDE, *NO_RATE_LIMIT, *dirs, "--by", "container")
        dg = start_daemon(*WIDE, *dirs, "--by", "cgroup")
        for w in wls:
            w.send("\n")
        for w in (b1, b2):
            assert w.wait_line("out", lambda s: '"workload"' in s, 15), twtest.describe(w)
        assert twtest.finish(aw, 30, "asyncio_server") == 0, twtest.describe(aw)
        awl = twtest.read_workload_out(out)
        pids = [str(b1.pid), str(b2.pid), str(aw.pid)]
        pod_labels = {"container_id": cid, "pod_uid": uid, "pod": pod, "namespace": ns,
                      "container": cname}

        m = dp.wait_for(lambda m: maybe(m, "threadwatch_threads_exited_total", pid=pids[0]) == 3
                        and maybe(m, "threadwatch_threads_exited_total", pid=pids[1]) == 2
                        and maybe(m, "threadwatch_loop_stalls_total", pid=pids[2],
                                  cause="blocked") == 1,
                        8, "the container's workloads", only=[f'pid="{p}"' for p in pids])
        ctx = "".join(dump(m, pid=p) for p in pids)
        for p, comm in zip(pids, ("blockers", "blockers", "python3")):
            assert labels_of(m, "threadwatch_threads", pid=p) == \
                {"pid": p, "comm": comm, **pod_labels}, ctx
        created = sum(value(m, "threadwatch_threads_created_total", pid=p) for p in pids)
        assert created >= 3 + 2 + 1, ctx  # asyncio_server: a client thread, maybe executors

        ev = wait_events(dp.log, lambda e: e["pid"] == aw.pid, 3, "the stall event")
        assert len(ev) == 1, ev
        check_stall_event(ev[0], awl)
        assert {k: ev[0].get(k) for k in POD_LABELS} == pod_labels, ev[0]

        key = {"container_id": cid}
        m = dc.wait_for(lambda m: maybe(m, "threadwatch_threads_created_total", **key) == created
                        and maybe(m, "threadwatch_threads", **key) == 2,
                        5, f"the container group: {created} threads created, 2 alive",
                        show=key)
        ctx = dump(m, **key)
        assert labels_of(m, "threadwatch_threads", **key) == pod_labels, ctx
        assert value(m, "threadwatch_threads_exited_total", **key) == created, ctx
        assert value(m, "threadwatch_loop_stalls_total", cause="blocked", **key) == 1, ctx
        assert labels_of(m, "threadwatch_threads", container_id="host") == \
            {"container_id": "host"}, dump(m, container_id="host")
        assert not select(m, "threadwatch_threads", pid=pids[0]), "a pid label under --by container"

        cgpath = "/" + "/".join(rel)
        # the exits are events of their own: wait for them too, as for the container group
        m = dg.wait_for(lambda m: maybe(m, "threadwatch_threads_created_total", cgroup=cgpath)
                        == created and maybe(m, "threadwatch_threads", cgroup=cgpath) == 2,
                        5, "the container's cgroup group", show={"cgroup": cgpath})
        assert labels_of(m, "threadwatch_threads", cgroup=cgpath) == {"cgroup": cgpath}
        assert value(m, "threadwatch_threads", cgroup=cgpath) == 2, dump(m, cgroup=cgpath)
    finally:
        for w in wls:
            try:
                Path(root / "cgroup.procs").write_text(str(w.pid))
            except OSError:
                pass  # exited already
            w.close_stdin()
            if w.wait(5) is None:
                w.kill()
        for path in reversed(made):
            rmdir_retry(path)
        if mounted:
            twtest.run(["umount", root], timeout=10)
            root.rmdir()


# --- 7. bad input -------------------------------------------------------------------------


def check_usage_error(cp, names):
    ctx = twtest.describe(cp)
    assert cp.returncode == 2, ctx
    assert cp.stdout == "", "nothing on stdout" + ctx
    # one line saying what is wrong (argp may add its "Try `... --help'" hint)
    lines = [ln for ln in cp.stderr.splitlines() if ln.strip() and not ln.startswith("Try `")]
    assert len(lines) == 1, "expected one line of error" + ctx
    for n in names:
        assert n in lines[0], f"the error does not name {n!r}" + ctx


BAD_USAGE = [
    (["--listen", "nonsense"], ["--listen", "nonsense"]),
    (["--listen", "1.2.3.4"], ["--listen", "1.2.3.4"]),
    (["--listen", "127.0.0.1:99999"], ["--listen", "127.0.0.1:99999"]),
    (["--listen", "127.0.0.1:0"], ["--listen", "127.0.0.1:0"]),
    (["--listen", "localhost:9464"], ["--listen", "localhost"]),
    (["--listen", "[::1]"], ["--listen", "[::1]"]),
    (["--by", "x"], ["--by", "'x'"]),
    (["--top-k", "0"], ["--top-k", "'0'"]),
    (["--top-by", "memory"], ["--top-by", "memory"]),
    (["--refresh", "0"], ["--refresh"]),
    (["--events-per-s", "-1"], ["--events-per-s"]),
    (["--no-such-flag"], ["no-such-flag"]),
    (["extra-argument"], ["extra-argument"]),
]


@pytest.mark.parametrize("args,names", BAD_USAGE, ids=[" ".join(a) for a, _ in BAD_USAGE])
def test_bad_usage(tool, args, names):
    check_usage_error(twtest.run([tool, "daemon", *args], timeout=20), names)


def test_bad_config(tool, tmp_path):
    """--config: a missing file, a bad value and an unknown option are usage errors."""
    missing = tmp_path / "no-such.conf"
    check_usage_error(twtest.run([tool, "daemon", "--config", missing], timeout=20),
                      [str(missing)])
    bad = tmp_path / "bad.conf"
    bad.write_text("# a comment\ntop-k 3\nby x\n")
    check_usage_error(twtest.run([tool, "daemon", "--config", bad], timeout=20), ["--by", "x"])
    bad.write_text("no-such-option 1\n")
    check_usage_error(twtest.run([tool, "daemon", f"--config={bad}"], timeout=20),
                      ["no-such-option"])


def test_port_taken(require_bpf, tmp_path):
    """A taken port: exit 1 at once, one line naming the address and the reason, and no
    BPF program ever loaded (checked with strace when it is installed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        addr = "127.0.0.1:%d" % s.getsockname()[1]
        argv = [require_bpf, "daemon", "--listen", addr, "--syscalls"]
        trace = tmp_path / "strace.txt"
        strace = shutil.which("strace")
        env = dict(os.environ)
        if strace:
            argv = [strace, "-f", "-qq", "-e", "trace=bpf", "-o", trace, *argv]
            # LeakSanitizer (the ASan build) cannot run under ptrace
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        t0 = time.monotonic()
        cp = twtest.run(argv, timeout=30, env=env)
        took = time.monotonic() - t0
    ctx = twtest.describe(cp)
    assert cp.returncode == 1, ctx
    assert cp.stdout == "", ctx
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, "expected one line on stderr" + ctx
    assert addr in lines[0] and "Address already in use" in lines[0], ctx
    assert took < 5, f"took {took:.1f}s to fail" + ctx
    if strace:
        calls = trace.read_text()
        assert "BPF_PROG_LOAD" not in calls and "BPF_LINK_CREATE" not in calls and \
            "BPF_RAW_TRACEPOINT_OPEN" not in calls, f"BPF calls made:\n{calls[:3000]}" + ctx


ROOT_PAGE = (b'<html><body><a href="/metrics">/metrics</a> '
             b'<a href="/healthz">/healthz</a></body></html>\n')


def test_http_routes(start_daemon):
    """/metrics, /healthz (503 before the first refresh), /, HEAD, unknown paths (404),
    PUT, POST and DELETE (405 + Allow). Every answer checked, the wrong ones listed."""
    d = start_daemon()
    wrong = []

    def check(what, got, want):
        if got != want:
            wrong.append(f"  {what}: got {got!r}, expected {want!r}")

    # answered while the programs were still loading (if the first try came that early)
    for x in d.starting[:1]:
        check("/healthz before the first refresh", x, (503, b"starting: no refresh yet\n"))
    st, hdr, body = http_get(d.url + "/healthz")
    check("GET /healthz", (st, body, hdr["Content-Type"]),
          (200, b"ok\n", "text/plain; charset=utf-8"))
    st, hdr, body = http_get(d.url + "/metrics", method="HEAD")
    check("HEAD /metrics", (st, body), (200, b""))
    check("HEAD /metrics Content-Length > 1000", int(hdr["Content-Length"]) > 1000, True)
    st, hdr, body = http_get(d.url + "/")
    check("GET /", (st, hdr["Content-Type"], body),
          (200, "text/html; charset=utf-8", ROOT_PAGE))
    for path in ("/nope", "/metrics/", "/metricsx", "/healthz/x"):
        st, _, body = http_get(d.url + path)
        check(f"GET {path}", (st, body), (404, b"not found\n"))
    for method in ("PUT", "POST", "DELETE"):
        st, hdr, body = http_get(d.url + "/metrics", method=method, data=b"x=1")
        check(f"{method} /metrics", (st, hdr["Allow"], body),
              (405, "GET, HEAD", b"method not allowed\n"))
    assert d.alive(), d.ctx()
    assert "# TYPE threadwatch_threads gauge" in d.text()
    assert not wrong, "wrong answers:\n" + "\n".join(wrong)


# name: request bytes; every one must get a 4xx or a closed connection, but for
# bad-version, where 505 (HTTP Version Not Supported) is the right answer
MALFORMED = {
    "tls-hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),
    "garbage-line": b"garbage garbage garbage\r\n\r\n",
    "no-host": b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
    "100KB-header": b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n",
    "post-body": (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
                  b"Connection: close\r\n\r\nhello world"),
    "nul-path": b"GET /metrics%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "nul-path-suffix": b"GET /metrics%00.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "nul-root": b"GET /%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "10KB-request-line": b"GET /" + b"a" * 10240 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "100KB-request-line": b"GET /" + b"a" * 102400 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad-version": b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
    "bad-content-length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
}


def test_malformed_http(start_daemon):
    """Raw malformed requests get a 4xx or a closed connection; the daemon survives them
    and keeps answering. A request starting with a NUL byte is answered by nothing but the
    10 s connection timeout, so it runs in the background meanwhile."""
    d = start_daemon()
    nul = {}

    def nul_garbage():
        t0 = time.monotonic()
        try:
            nul["status"], nul["out"] = raw_request(d.port, b"\x00\xff\xfe\x80 garbage\r\n\r\n",
                                                     timeout=12)
        except OSError as e:
            nul["error"] = repr(e)
        nul["took"] = time.monotonic() - t0

    th = threading.Thread(target=nul_garbage, daemon=True)
    th.start()
    bad = {}
    for name, data in MALFORMED.items():
        try:
            status, out = raw_request(d.port, data)
        except OSError as e:
            bad[name] = f"neither answered nor closed: {e!r}"
            continue
        if status is not None and not (400 <= status < 500 or
                                       (name == "bad-version" and status == 505)):
            bad[name] = f"answered {out[:160]!r}"
        assert d.alive(), f"the daemon died on {name}" + d.ctx()
        assert http_get(d.url + "/healthz", timeout=5)[0] == 200, f"/healthz after {name}"
    d.scrape()
    th.join(13)
    assert d.alive(), d.ctx()
    assert http_get(d.url + "/healthz", timeout=5)[0] == 200
    st = nul.get("status")
    assert "status" in nul and (st is None or 400 <= st < 500), \
        f"a request starting with a NUL byte: neither a 4xx nor closed: {nul}"
    assert not bad, "malformed requests answered wrongly:\n" + \
        "\n".join(f"  {k}: {v}" for k, v in bad.items())


def test_concurrent_scrapes(start_daemon):
    """300 scrapes at once: each gets the whole body (200) or a refused/closed connection;
    meanwhile a new workload starts, and the daemon keeps measuring."""
    d = start_daemon()
    n = 300
    barrier = threading.Barrier(n, timeout=30)

    def one(_):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        try:
            st, _, body = http_get(d.url + "/metrics", timeout=30)
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError,
                http.client.RemoteDisconnected):
            return "closed"
        except urllib.error.URLError as e:
            if isinstance(e.reason, (ConnectionRefusedError, ConnectionResetError)):
                return "closed"
            return f"error {e!r}"
        except Exception as e:  # noqa: BLE001 (a timeout, a truncated body: reported)
            return f"error {e!r}"
        if st != 200:
            return f"status {st}"
        text = body.decode("utf-8", "replace")
        if not text.endswith("\n") or "\nthreadwatch_agent_events_suppressed_total " not in text:
            return f"incomplete body of {len(body)} bytes"
        return "ok"

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        futs = [ex.submit(one, i) for i in range(n)]
        with twtest.Bg([workload("pool_blocked"), "40", "futex", "60"]) as pool:
            results = [f.result() for f in futs]
            took = time.monotonic() - t0
            counts = {}
            for r in results:
                counts[r] = counts.get(r, 0) + 1
            assert set(counts) <= {"ok", "closed"}, f"outcomes: {counts}"
            assert counts.get("ok", 0) >= 1, f"outcomes: {counts}"
            assert d.alive(), d.ctx()
            wait_blocked_phase(pool)
            p = str(pool.pid)
            # 41 threads: among the top 50 whatever else runs (other groups go to "other")
            m = d.wait_for(lambda m: maybe(m, "threadwatch_threads", pid=p) == 41, 5,
                           "the new workload's 41 threads", show={"pid": p})
            assert value(m, "threadwatch_agent_render_seconds") > 0
            assert value(m, "threadwatch_threads_created_total", pid=p) == 40, dump(m, pid=p)
            pool.kill()
    print(f"300 concurrent scrapes: {counts} in {took:.2f}s")


# --- 8. lifecycle -------------------------------------------------------------------------


def test_sighup_reopens_log(daemon, tmp_path):
    """--log FILE, renamed away, SIGHUP: the next stall line goes to a new FILE."""
    log = daemon.log
    wl1 = run_asyncio(tmp_path, "hup1")
    ev = wait_events(log, lambda e: e["pid"] == wl1["pid"], 3, "first stall")
    check_stall_event(ev[0], wl1)
    old = log.with_name(log.name + ".1")
    log.rename(old)
    daemon.bg.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while not log.exists():
        assert time.monotonic() < deadline, "SIGHUP did not create a new --log file" + \
            daemon.ctx()
        time.sleep(0.05)
    assert daemon.alive(), daemon.ctx()
    wl2 = run_asyncio(tmp_path, "hup2")
    ev = wait_events(log, lambda e: e["pid"] == wl2["pid"], 3, "the stall after SIGHUP")
    assert len(ev) == 1, ev
    check_stall_event(ev[0], wl2)
    assert not [e for e in read_events(old) if e["pid"] == wl2["pid"]], \
        "the stall after SIGHUP went to the renamed file"
    assert not [e for e in read_events(log) if e["pid"] == wl1["pid"]], \
        "the new file holds an event from before SIGHUP"
    assert http_get(daemon.url + "/healthz")[0] == 200


def test_ipv6_listen(start_daemon):
    """--listen [::1]:PORT serves /healthz and /metrics over IPv6."""
    try:
        free_port("::1")
    except OSError as e:
        cannot(f"no IPv6 loopback: {e}")
    d = start_daemon(host="::1")
    assert d.url.startswith("http://[::1]:"), d.url
    assert value(d.scrape(only=["threadwatch_build_info"]), "threadwatch_build_info") == 1


def test_restart(start_daemon):
    """Stopped and started again (on the same port) while a process holds 4 threads:
    the new daemon reports its 5 threads (main + 4) from the start."""
    with twtest.Bg([workload("pool_blocked"), "4", "read", "30"]) as pool:
        wait_blocked_phase(pool)
        p = str(pool.pid)
        d1 = start_daemon(*WIDE)
        m = d1.wait_for(lambda m: maybe(m, "threadwatch_threads", pid=p) is not None, 3,
                        "the pool", only=[f'pid="{p}"'])
        assert value(m, "threadwatch_threads", pid=p) == 5, dump(m, pid=p)
        d1.stop()
        d2 = start_daemon(*WIDE, port=d1.port)
        m = d2.wait_for(lambda m: maybe(m, "threadwatch_threads", pid=p) is not None, 3,
                        "the pool after the restart", only=[f'pid="{p}"'])
        ctx = dump(m, pid=p)
        assert value(m, "threadwatch_threads", pid=p) == 5, ctx
        assert value(m, "threadwatch_threads_peak", pid=p) == 5, ctx
        assert labels_of(m, "threadwatch_threads", pid=p) == {"pid": p, "comm": "pool_blocked"}
        pool.kill()


def test_config_file(start_daemon, tmp_path):
    """--config with 'top-k 1', 'by comm' (and 'events-per-s = 0'): one group of its own
    plus 'other'; no event line is written, the suppressed ones are counted."""
    conf = tmp_path / "threadwatch.conf"
    conf.write_text("# fleet settings\n\ntop-k 1\n  by comm   # group by command name\n"
                    "events-per-s = 0\nsyscalls\n")
    d = start_daemon("--config", conf)
    with twtest.Bg([workload("pool_blocked"), "20", "futex", "4"]) as pool:
        wait_blocked_phase(pool)
        wl = run_asyncio(tmp_path, "conf")
        m = d.wait_for(lambda m: (maybe(m, "threadwatch_agent_events_suppressed_total") or 0) >= 1,
                       3, "a suppressed event")
        pool.kill()
    series = select(m, "threadwatch_threads")
    ctx = f"\nthreadwatch_threads: {sorted(sorted(lab) for lab in series)}"
    assert len(series) == 2, ctx
    named = [dict(lab) for lab in series if dict(lab)["comm"] != "other"]
    assert len(named) == 1 and set(named[0]) == {"comm"}, ctx
    assert maybe(m, "threadwatch_threads", comm="other") is not None, ctx
    assert labels_of(m, "threadwatch_threads", comm="other") == {"comm": "other"}, ctx
    # the top group by threads has at least the pool's 21 (main + 20)
    assert value(m, "threadwatch_threads", comm=named[0]["comm"]) >= 21, ctx
    assert value(m, "threadwatch_agent_groups_other") > 0
    for (n, lab) in m:
        assert "pid" not in dict(lab), f"a pid label under by comm: {n}{dict(lab)}"
    assert select(m, "threadwatch_syscall_seconds_count"), "'syscalls' in the config ignored"
    assert not read_events(d.log), f"events written with events-per-s 0 (stall of {wl['pid']})"


# --- 9. rendering on demand, and liveness -----------------------------------------------------


def test_render_on_demand(start_daemon):
    """--refresh 5: two scrapes in a row get the same body (one rendering, byte for byte);
    past --refresh, one scrape sees what changed meanwhile (a new process and its threads)
    at once, and it cost one rendering however long nobody scraped (the daemon used to
    render every --refresh whether or not anyone asked)."""
    d = start_daemon("--refresh", "5", *WIDE)
    first = d.text()
    again = d.text()
    m = parse_exposition(first)
    renders = value(m, "threadwatch_agent_renders_total")
    refreshes = value(m, "threadwatch_agent_refreshes_total")
    assert renders >= 1 and refreshes >= 1, dump(m)
    assert again == first, "a scrape within --refresh of the last got another body"
    with twtest.Bg([workload("pool_blocked"), "6", "futex", "60"]) as pool:
        wait_blocked_phase(pool)
        p = str(pool.pid)
        time.sleep(5.2)  # the body is older than --refresh now
        t0 = time.monotonic()
        m = d.scrape()
        took = time.monotonic() - t0
        ctx = f"\nscrape took {took:.2f}s" + dump(m, pid=p)
        assert maybe(m, "threadwatch_threads", pid=p) == 7, "one scrape, new numbers" + ctx
        assert value(m, "threadwatch_threads_created_total", pid=p) == 6, ctx
        assert value(m, "threadwatch_agent_renders_total") == renders + 1, \
            "renderings nobody asked for" + ctx
        assert value(m, "threadwatch_agent_refreshes_total") >= refreshes + 1, ctx
        pool.kill()


def test_healthz_follows_the_loop(start_daemon, tmp_path):
    """/healthz says whether the measuring loop runs, not whether anyone scraped: no
    scrape for longer than its staleness limit (3 x 0.2 s + 5 s) and it is still 200. Then
    the loop is made to stall (SIGHUP reopens --log, which is now a FIFO nobody reads, so
    the open blocks): /healthz turns 503 stale, /metrics still answers with the last
    body, and once the FIFO has a reader the loop goes on and /healthz is 200 again."""
    d = start_daemon()
    m = d.scrape()
    renders = value(m, "threadwatch_agent_renders_total")
    time.sleep(6)  # past 3 x --refresh + 5 s without a scrape
    st, _, body = http_get(d.url + "/healthz")
    assert (st, body) == (200, b"ok\n"), f"/healthz with no scrape for 6 s: {st} {body!r}"
    last = d.text()
    assert value(parse_exposition(last), "threadwatch_agent_renders_total") == renders + 1, \
        "renderings nobody asked for"

    fifo = d.log
    fifo.unlink()
    os.mkfifo(fifo)
    d.bg.signal(signal.SIGHUP)
    deadline = time.monotonic() + 30 * SLACK
    while True:
        st, _, body = http_get(d.url + "/healthz")
        if st == 503:
            break
        assert st == 200 and time.monotonic() < deadline, \
            f"/healthz never went stale while the loop was stuck: {st} {body!r}" + d.ctx()
        time.sleep(0.3)
    assert body == b"stale: the measuring loop stopped refreshing\n", body
    st, _, stale_body = http_get(d.url + "/metrics", timeout=30)
    assert st == 200 and stale_body.decode() == last, \
        "a scrape of a stuck loop: not the last body"

    drained = []

    def drain():
        with open(fifo, "rb") as f:  # the daemon's open returns, the loop goes on
            while True:
                b = f.read(65536)
                if not b:
                    return
                drained.append(b)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    deadline = time.monotonic() + 30 * SLACK
    while http_get(d.url + "/healthz")[0] != 200:
        assert time.monotonic() < deadline, "/healthz stayed stale with the loop going" + d.ctx()
        time.sleep(0.2)
    assert d.alive(), d.ctx()
    d.stop()  # the writer closes the FIFO at exit: the reader sees EOF
    reader.join(10)
