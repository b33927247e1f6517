# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""An asyncio service with two bad handlers, for tests/e2e/test_pystalls.py: one calls
time.sleep(0.3) (a stall blocked in clock_nanosleep), one computes for ~0.3 s in crunch() (a
stall on CPU). Between them the loop turns (asyncio.sleep), so each is a gap of its own.

    python3 pystall.py --out FILE

FILE gets one JSON line: pid, the loop thread's tid, each handler's line numbers (the
sleep call's, crunch's hot loop's), read from the frames themselves, and when each call began
and ended (CLOCK_MONOTONIC ns, the clock of the tool's stall start_ns): on a slow machine
other gaps of the loop can be as long, so a check finds the handlers' stalls by these."""
import argparse
import asyncio
import json
import os
import sys
import threading
import time

OUT = {}


def crunch(seconds):
    """CPU only, no syscall: the stall's on-CPU samples must name this function."""
    OUT["crunch_first_line"] = sys._getframe().f_code.co_firstlineno
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:  # perf_counter: the vDSO, no syscall
        n += 1
    return n


async def sleeping_handler():
    OUT["sleep_start_ns"] = time.monotonic_ns()
    here = sys._getframe().f_lineno; time.sleep(0.3)  # noqa: E702: f_lineno of the call's line
    OUT["sleep_end_ns"] = time.monotonic_ns()
    OUT["sleep_line"] = here


async def crunching_handler():
    OUT["crunch_start_ns"] = time.monotonic_ns()
    here = sys._getframe().f_lineno; crunch(0.3)  # noqa: E702
    OUT["crunch_end_ns"] = time.monotonic_ns()
    OUT["crunch_call_line"] = here


async def serve():
    OUT["loop_tid"] = threading.get_native_id()
    for _ in range(5):
        await asyncio.sleep(0.02)
    await sleeping_handler()
    for _ in range(5):
        await asyncio.sleep(0.02)
    await crunching_handler()
    for _ in range(5):
        await asyncio.sleep(0.02)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    OUT["pid"] = os.getpid()
    OUT["version"] = list(sys.version_info[:2])
    asyncio.run(serve())
    # the stacks are named from the live process: do not free the code objects (exit) at once
    time.sleep(0.3)
    with open(args.out, "w") as f:
        f.write(json.dumps({"workload": "pystall", **OUT}) + "\n")


if __name__ == "__main__":
    main()
