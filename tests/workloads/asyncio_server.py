#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""asyncio_server MODE: an asyncio event loop whose handler stalls it once.

An asyncio TCP server on 127.0.0.1 (ephemeral port) runs in the main thread (the
"loop thread": it waits in epoll_wait between callbacks). A client in a separate
plain thread, with blocking sockets and no timeouts (so it never polls), sends
--requests lines over one connection, one at a time, ~--gap seconds apart, and
reads each reply. The handler serves request --slow (1-based) like this:

  sleep     time.sleep(DELAY) inside the coroutine: the loop blocks in
            clock_nanosleep for DELAY (the bug)
  executor  await loop.run_in_executor(None, ...time.sleep(DELAY)): the sleep
            happens in an executor thread, the loop keeps running (the fix)
  cpu       a pure-Python busy loop for DELAY seconds: the loop stays on CPU
  hang      like sleep, meant with a long --delay (e.g. 4): the loop is stuck

The client spaces its requests with Event.wait (a futex wait), so with MODE sleep
or hang the loop thread is the only thread in clock_nanosleep, and with executor
only the executor thread is.

  --delay S       seconds the slow request takes (default 0.3)
  --requests N    requests the client sends (default 5)
  --slow K        which request is slow, 1..N (default 3, or N if N < 3)
  --gap S         pause between a reply and the next request (default 0.15)
  --wait-stdin    read one line from stdin before doing anything
  --out FILE      write the JSON result line to FILE instead of stdout

Prints ONE JSON line at the end:
  {"workload":"asyncio_server","pid","mode","loop_tid","client_tid",
   "executor_tid" (null unless MODE is executor),"requests","replies","slow_request",
   "delay_ns","slow_start_ns","slow_end_ns","slow_start_wall_ns"}
slow_start_ns/slow_end_ns are time.monotonic_ns() (CLOCK_MONOTONIC) in the loop
thread just before and just after the slow part of the slow request;
slow_start_wall_ns is time.time_ns() (CLOCK_REALTIME) right after slow_start_ns.
Exit status 0; 2 on a bad command line; 1 if anything failed.
"""
import argparse
import asyncio
import json
import os
import socket
import sys
import threading
import time

MODES = ("sleep", "executor", "cpu", "hang")


def parse_args():
    ap = argparse.ArgumentParser(prog="asyncio_server")
    ap.add_argument("mode", choices=MODES)
    ap.add_argument("--delay", type=float, default=0.3)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--slow", type=int, default=None)
    ap.add_argument("--gap", type=float, default=0.15)
    ap.add_argument("--wait-stdin", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.slow is None:
        a.slow = min(3, a.requests)
    if not 0 <= a.delay <= 3600:
        ap.error("--delay must be in [0, 3600] seconds")
    if not 0 <= a.gap <= 60:
        ap.error("--gap must be in [0, 60] seconds")
    if not 1 <= a.requests <= 10000:
        ap.error("--requests must be in [1, 10000]")
    if not 1 <= a.slow <= a.requests:
        ap.error("--slow must be in [1, --requests]")
    return a


def client(port, args, result, done):
    """Blocking client: one connection, one request at a time."""
    result["client_tid"] = threading.get_native_id()
    pause = threading.Event()  # never set: wait(gap) is a timed futex wait
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.settimeout(None)  # no timeout: recv blocks in recvfrom, no poll first
            f = s.makefile("rb")
            for i in range(1, args.requests + 1):
                if i > 1:
                    pause.wait(args.gap)
                s.sendall(b"req %d\n" % i)
                line = f.readline()
                if line != b"ok %d\n" % i:
                    raise RuntimeError(f"request {i}: bad reply {line!r}")
                result["replies"] += 1
            f.close()
    except BaseException as e:  # reported by main; the loop must not wait forever
        result["error"] = f"client: {e!r}"
    finally:
        done()


def slow_sleep(delay, result):
    result["executor_tid"] = threading.get_native_id()
    time.sleep(delay)


async def serve(args, result):
    loop = asyncio.get_running_loop()
    result["loop_tid"] = threading.get_native_id()
    finished = loop.create_future()

    async def handle(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                n = int(line.split()[1])
                if n == args.slow:
                    result["slow_start_ns"] = time.monotonic_ns()
                    result["slow_start_wall_ns"] = time.time_ns()
                    if args.mode in ("sleep", "hang"):
                        time.sleep(args.delay)  # blocks the whole loop
                    elif args.mode == "executor":
                        await loop.run_in_executor(None, slow_sleep, args.delay, result)
                    else:  # cpu: pure Python, no system call
                        end = time.monotonic() + args.delay
                        x = 0
                        while time.monotonic() < end:
                            x += 1
                    result["slow_end_ns"] = time.monotonic_ns()
                writer.write(b"ok %d\n" % n)
                await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    def client_done():
        loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(None))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    th = threading.Thread(target=client, args=(port, args, result, client_done), name="client")
    th.start()
    await finished
    server.close()
    await server.wait_closed()
    return th


def main():
    args = parse_args()
    out = open(args.out, "w") if args.out else sys.stdout
    if args.wait_stdin:
        sys.stdin.readline()
    result = {"replies": 0, "executor_tid": None, "slow_start_ns": None, "slow_end_ns": None}
    th = asyncio.run(serve(args, result))
    th.join()
    if "error" in result:
        print(f"asyncio_server: {result['error']}", file=sys.stderr)
        return 1
    line = {
        "workload": "asyncio_server", "pid": os.getpid(), "mode": args.mode,
        "loop_tid": result["loop_tid"], "client_tid": result["client_tid"],
        "executor_tid": result["executor_tid"], "requests": args.requests,
        "replies": result["replies"], "slow_request": args.slow,
        "delay_ns": int(args.delay * 1e9),
        "slow_start_ns": result["slow_start_ns"], "slow_end_ns": result["slow_end_ns"],
        "slow_start_wall_ns": result.get("slow_start_wall_ns"),
    }
    out.write(json.dumps(line, separators=(",", ":")) + "\n")
    out.flush()
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
