# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""pyhandler.py N US: tests/workloads/handler.c's request handler in Python, for the daemon's
profile with Python frames (tests/e2e/test_pprofd_python.py) and the price of the Python
frame walk (bench/pystack.py). Runs on any CPython 3 (no third-party modules).

K handler threads each serve N requests: serve_requests -> handle_request -> read_body, which
blocks in sock.recv(1) (--call recv, a socketpair) or os.read(fd, 1) (--call read, a pipe);
a feeder thread per handler sleeps US microseconds, then writes the byte. Each handler sums
the time its blocking calls took (time.monotonic_ns() around each call), which a profile's
weight must match.

  --threads K    K handlers (and K feeders)
  --pool         the handlers run as ThreadPoolExecutor workers (threading's frames below)
  --depth D      Python frames of a blocked handler and feeder, threading's or the pool's
                 not counted: serve_requests -> handle_request (D - 2 times, recursing)
                 -> read_body; D >= 2 (default 3). Without --pool, threads are started
                 with _thread.start_new_thread, so D is all there is
  --wait-stdin   print "ready", wait for a line on stdin, sleep 0.3 s, then serve
  --out FILE     one JSON line: pid, version, per handler its tid, calls, call_ns (summed)
                 and its Python frames as sys._current_frames() saw them while it was
                 blocked (qualified name, file, f_lineno; innermost first)
"""
import _thread
import argparse
import concurrent.futures
import json
import os
import socket
import sys
import threading
import time


def qualname(code):
    return getattr(code, "co_qualname", code.co_name)


def frames_of(frame):
    out = []
    while frame is not None:
        out.append([qualname(frame.f_code), frame.f_code.co_filename, frame.f_lineno])
        frame = frame.f_back
    return out


class Handler:
    def __init__(self, call):
        self.call = call
        if call == "recv":
            self.rx, self.tx = socket.socketpair()
        else:
            self.rx, self.tx = os.pipe()
        self.tid = self.ident = None
        self.calls = self.call_ns = 0
        self.blocked = threading.Event()  # the handler's first call is about to block
        self.done = threading.Event()


def read_body(h):
    h.blocked.set()
    t0 = time.monotonic_ns()
    if h.call == "recv":
        data = h.rx.recv(1)
    else:
        data = os.read(h.rx, 1)
    t1 = time.monotonic_ns()
    if data != b"x":
        raise SystemExit("read_body: the feeder's byte did not come")
    return t1 - t0


def handle_request(h, depth):
    if depth > 0:
        return handle_request(h, depth - 1)
    return read_body(h)


def serve_requests(h, n, depth):
    h.tid, h.ident = threading.get_native_id(), threading.get_ident()
    for _ in range(n):
        if depth >= 3:
            ns = handle_request(h, depth - 3)
        else:
            ns = read_body(h)
        h.calls += 1
        h.call_ns += ns
    h.done.set()


def feed_loop(h, n, us):
    for _ in range(n):
        time.sleep(us / 1e6)
        if h.call == "recv":
            h.tx.send(b"x")
        else:
            os.write(h.tx, b"x")


def feed(h, n, us, depth):
    """The feeder at the handler's depth, so that its sleeps' stacks walk as many frames."""
    if depth > 2:
        return feed(h, n, us, depth - 1)
    return feed_loop(h, n, us)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("us", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pool", action="store_true")
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--call", choices=["recv", "read"], default="recv")
    ap.add_argument("--wait-stdin", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.depth < 2 or args.threads < 1 or args.n < 1 or args.us < 1:
        ap.error("N, US and --threads are at least 1, --depth at least 2")
    # deep enough for --depth, and some room for the interpreter's own calls
    sys.setrecursionlimit(max(sys.getrecursionlimit(), args.depth + 100))
    out = {"pid": os.getpid(), "version": list(sys.version_info[:2]),
           "executable": sys.executable, "handlers": []}
    if args.wait_stdin:
        print("ready", flush=True)
        sys.stdin.readline()
        time.sleep(0.3)  # a first stack of this process: the tracer finds its interpreter
    hs = [Handler(args.call) for _ in range(args.threads)]
    pool = None
    if args.pool:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.threads)
        futs = [pool.submit(serve_requests, h, args.n, args.depth) for h in hs]
    else:
        for h in hs:
            _thread.start_new_thread(serve_requests, (h, args.n, args.depth))
    for h in hs:
        if not h.blocked.wait(10):
            raise SystemExit("a handler never started")
    time.sleep(0.01)  # past the event: inside its first call, which nobody fed yet
    cur = sys._current_frames()
    frames = {h.tid: frames_of(cur[h.ident]) for h in hs}
    for h in hs:
        _thread.start_new_thread(feed, (h, args.n, args.us, args.depth))
    for h in hs:
        h.done.wait()
    if pool:
        for f in futs:
            f.result()
        pool.shutdown()
    out["handlers"] = [{"tid": h.tid, "calls": h.calls, "call_ns": h.call_ns,
                        "frames": frames[h.tid]} for h in hs]
    # the stacks are named from the live process: do not free the code objects (exit) at once
    time.sleep(0.3)
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
