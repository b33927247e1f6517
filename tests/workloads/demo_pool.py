#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Demo workload: the shape of a service drowning in threads under I/O load.

- a ThreadPoolExecutor of 16 workers ("pool-N") whose tasks block in recv() on a
  slow backend (a thread that answers after 5-50 ms), like `requests` in a pool;
- a thread-per-request front ("req-N"): 200 short-lived threads, each blocking in
  read() on a pipe, created in bursts;
- one CPU-heavy thread ("crunch") that competes for the CPUs;
- an asyncio event loop ("aio-loop") ticking every 20 ms, with the two classic
  mistakes in coroutines: a blocking time.sleep(0.25) and a 150 ms CPU-bound loop.
Prints what it did as one JSON line at the end. Runs about 4 seconds.
"""
import ctypes
import asyncio
import json
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15


def name_thread(name):
    """Set the kernel thread name (what ps -T and bpf-threadwatch show)."""
    libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


_pool_ids = iter(range(1000))


def pool_init():
    name_thread("pool-%d" % next(_pool_ids))


def backend(sock):
    name_thread("backend")
    rnd = random.Random(1)
    while True:
        data = sock.recv(64)
        if not data:
            return
        time.sleep(rnd.uniform(0.005, 0.050))
        sock.sendall(data)


def pool_task(sock, lock, i):
    with lock:  # one connection to the backend, shared: futex contention too
        sock.sendall(b"req %d\n" % i)
        return sock.recv(64)


def request_thread(i):
    name_thread("req-%d" % i)
    r, w = os.pipe()
    threading.Timer(0.02, os.write, (w, b"x")).start()
    os.read(r, 1)
    os.close(r)
    os.close(w)


def crunch(stop):
    name_thread("crunch")
    x = 0
    while not stop.is_set():
        x += sum(range(1000))


async def ticker(stop):
    ticks = 0
    while not stop.is_set():
        await asyncio.sleep(0.02)
        ticks += 1
        if ticks == 40:
            time.sleep(0.25)  # blocks the whole loop: the stall to find
        if ticks == 80:
            t = time.monotonic()
            while time.monotonic() - t < 0.15:  # CPU-bound callback
                pass
    return ticks


def aio_loop(stop, result):
    name_thread("aio-loop")
    result["ticks"] = asyncio.run(ticker(stop))


def main():
    name_thread("demo-main")
    a, b = socket.socketpair()
    threading.Thread(target=backend, args=(b,), daemon=True).start()
    stop = threading.Event()
    cruncher = threading.Thread(target=crunch, args=(stop,))
    cruncher.start()
    aio = {}
    aio_thread = threading.Thread(target=aio_loop, args=(stop, aio))
    aio_thread.start()
    lock = threading.Lock()
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=16, initializer=pool_init) as pool:
        futures = [pool.submit(pool_task, a, lock, i) for i in range(120)]
        reqs = []
        for burst in range(4):
            for i in range(50):
                t = threading.Thread(target=request_thread, args=(burst * 50 + i,))
                t.start()
                reqs.append(t)
            time.sleep(0.3)
        for t in reqs:
            t.join()
        done = sum(1 for f in futures if f.result())
    stop.set()
    cruncher.join()
    aio_thread.join()
    a.close()
    print(json.dumps({"pool_workers": 16, "pool_tasks": done, "request_threads": len(reqs),
                      "loop_ticks": aio["ticks"],
                      "seconds": round(time.monotonic() - t0, 2)}))


if __name__ == "__main__":
    main()
