# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Threads with Python names the kernel never hears of (tests/e2e/test_pythreadnames.py).

CPython 3.11 and 3.13 do not write threading.Thread's name into the thread's comm, so every
thread below is "python3.11" (or "python3") to the kernel. Started, all blocked:
  fetcher-0, fetcher-1   Thread(name=...) blocked in socket.recv
  fetcher-2              Thread(name=...) blocked on a threading.Lock
  renamed                started as "fetcher-9", renamed (t.name = ...) once it runs
  Thread-N (worker)      a Thread with the default name
  a _thread.start_new_thread thread: no Thread object, so no Python name
and the main thread (MainThread). It writes one JSON line to --out: {native thread id: its
Python name (null for the raw thread)}, then, with --wait-stdin, prints "ready"; it holds them blocked until a line
on stdin (--wait-stdin) or --hold seconds, and lets them all go.

Usage: pynamed.py --out FILE (--wait-stdin | --hold SECONDS)
"""
import _thread
import json
import socket
import sys
import threading
import time


def main():
    args = sys.argv[1:]
    out = args[args.index("--out") + 1]
    hold = float(args[args.index("--hold") + 1]) if "--hold" in args else None
    a, b = socket.socketpair()
    lock = threading.Lock()
    lock.acquire()
    started = threading.Semaphore(0)
    ids = {}

    def fetch():
        ids[threading.current_thread().name] = threading.get_native_id()
        started.release()
        a.recv(1)

    def take():
        started.release()
        lock.acquire()
        lock.release()

    def worker():
        started.release()
        lock.acquire()
        lock.release()

    raw = {}

    def raw_thread():
        raw["tid"] = threading.get_native_id()
        started.release()
        a.recv(1)

    threads = [threading.Thread(name="fetcher-0", target=fetch),
               threading.Thread(name="fetcher-1", target=fetch),
               threading.Thread(name="fetcher-2", target=take),
               threading.Thread(name="fetcher-9", target=take),
               threading.Thread(target=worker)]
    for t in threads:
        t.start()
    _thread.start_new_thread(raw_thread, ())
    for _ in range(len(threads) + 1):
        started.acquire()
    threads[3].name = "renamed"  # after it started: its Thread object changes, not its comm
    names = {str(t.native_id): t.name for t in threading.enumerate()}
    names[str(raw["tid"])] = None
    with open(out, "w") as f:
        f.write(json.dumps({"workload": "pynamed", "pid": threading.get_native_id(),
                            "version": list(sys.version_info[:2]), "names": names}) + "\n")
    if hold is None:
        print("ready", flush=True)  # (not under --hold: stdout is the tool's then)
        sys.stdin.readline()
    else:
        time.sleep(hold)
    b.send(b"x" * 3)  # one byte each: both fetchers and the raw thread
    lock.release()
    for t in threads:
        t.join()
    time.sleep(0.1)  # the raw thread returns from recv


if __name__ == "__main__":
    main()
