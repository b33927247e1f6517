# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Python threads blocked under named functions, for the Python frames tests
(tests/e2e/test_pyframes.py). Runs on any CPython 3 (no third-party modules).

  pool:     a ThreadPoolExecutor whose workers block in socket.recv
            (fetch_upstream) and on a threading.Lock (take_lock) for --block-ms;
            spawn_workers creates --spawn threads with Thread.start. With
            --wait-stdin, lifelong_reader blocks in recv before the tracer
            attaches and until the end: it never holds the GIL while traced.
  asyncio:  an event loop whose handler coroutine calls time.sleep.

While the threads are blocked, the main thread takes sys._current_frames():
each blocked thread's Python frames (qualified name, file, f_lineno),
innermost first, which the tool's frames must match. It writes one JSON line
to --out.
"""
import argparse
import asyncio
import concurrent.futures
import json
import socket
import sys
import threading
import time

ready = {}  # name -> native tid, once the thread is about to block
ready_lock = threading.Lock()


def qualname(code):
    return getattr(code, "co_qualname", code.co_name)


def frames_of(frame):
    out = []
    while frame is not None:
        out.append([qualname(frame.f_code), frame.f_code.co_filename, frame.f_lineno])
        frame = frame.f_back
    return out


def note(name):
    with ready_lock:
        ready[name] = (threading.get_native_id(), threading.get_ident())


def fetch_upstream(sock, name):
    note(name)
    return sock.recv(1)


def take_lock(lock, name):
    note(name)
    lock.acquire()
    lock.release()


def lifelong_reader(sock):
    note("lifelong")
    sock.recv(1)


def idle_worker():
    time.sleep(0.01)


def spawn_workers(n):
    threads = [threading.Thread(target=idle_worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def wait_ready(names, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with ready_lock:
            if all(n in ready for n in names):
                return
        time.sleep(0.005)
    raise SystemExit(f"threads never got ready: {names} {ready}")


def snapshot(names):
    """Each named thread's frames as sys._current_frames() sees them now (they are blocked)."""
    time.sleep(0.1)  # past the note(): inside the blocking call
    cur = sys._current_frames()
    return {n: {"tid": ready[n][0], "frames": frames_of(cur[ready[n][1]])} for n in names}


def run_pool(args, out):
    block = args.block_ms / 1000
    pairs = [socket.socketpair() for _ in range(2)]
    lock = threading.Lock()
    lock.acquire()
    names = ["recv0", "recv1", "lock0", "lock1"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futs = [pool.submit(fetch_upstream, pairs[0][0], "recv0"),
                pool.submit(fetch_upstream, pairs[1][0], "recv1"),
                pool.submit(take_lock, lock, "lock0"),
                pool.submit(take_lock, lock, "lock1")]
        wait_ready(names)
        out["blocked"].update(snapshot(names))
        time.sleep(block)
        for a, b in pairs:
            b.send(b"x")
        lock.release()
        for f in futs:
            f.result()
    spawn_workers(args.spawn)
    out["spawned"] = args.spawn


async def handler(out):
    out["handler_tid"] = threading.get_native_id()
    here = sys._getframe().f_lineno; time.sleep(0.3)  # noqa: E702: f_lineno of the call's line
    out["sleep_line"] = here
    out["handler_frames"] = frames_of(sys._getframe())


async def serve(out):
    await asyncio.gather(handler(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["pool", "asyncio"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--block-ms", type=int, default=400)
    ap.add_argument("--spawn", type=int, default=3)
    ap.add_argument("--wait-stdin", action="store_true")
    args = ap.parse_args()
    out = {"pid": __import__("os").getpid(), "version": list(sys.version_info[:2]),
           "executable": sys.executable, "blocked": {}}
    lifelong = None
    if args.wait_stdin:
        lifelong = socket.socketpair()
        t = threading.Thread(target=lifelong_reader, args=(lifelong[0],), name="lifelong")
        t.start()
        wait_ready(["lifelong"])
        out["blocked"].update(snapshot(["lifelong"]))
        print("ready", flush=True)
        sys.stdin.readline()
    if args.mode == "pool":
        run_pool(args, out)
    else:
        asyncio.run(serve(out))
    # the stacks are named from the live process: do not free the code objects (exit) at once
    threading.Event().wait(0.3)
    if lifelong:
        time.sleep(0.2)
        lifelong[1].send(b"x")
        t.join()
    with open(args.out, "w") as f:
        f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
