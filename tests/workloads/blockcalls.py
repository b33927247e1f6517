#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
"""Blocking calls outside the timed list, and error returns, that the workload
measures itself. One JSON line at the end ("workload": "blockcalls").

  blockcalls.py calls DIR MS      one thread each blocks ~MS in flock, wait4 and
                                  semop; one makes 40 write+fdatasync pairs on a file
                                  in DIR (a disk-backed directory: tmpfs never sleeps)
  blockcalls.py connect N M       N non-blocking connects to a loopback listener
                                  (EINPROGRESS, or 0), M connects to a closed port
                                  (ECONNREFUSED); counts every result by errno
  blockcalls.py churn DIR N       N threads, each makes several distinct blocking
                                  calls (clock_nanosleep, select, fsync, fdatasync on a
                                  file in DIR) and exits; prints its line when all are
                                  joined (then --hold keeps the process alive)
  blockcalls.py long S            one thread sleeps S s (clock_nanosleep, a timed
                                  call), one waits S s in flock (untimed); with
                                  --wait-stdin it starts on a line from stdin, and
                                  with --hold it exits only at stdin's EOF
"""
import ctypes
import errno
import fcntl
import json
import os
import select
import socket
import sys
import tempfile
import threading
import time

libc = ctypes.CDLL(None, use_errno=True)
IPC_PRIVATE, IPC_RMID = 0, 0


class Sembuf(ctypes.Structure):
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short),
                ("sem_flg", ctypes.c_short)]


def semop(semid, op):
    b = Sembuf(0, op, 0)
    if libc.semop(semid, ctypes.byref(b), 1) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def timed(fn, *args):
    t0 = time.monotonic_ns()
    fn(*args)
    return time.monotonic_ns() - t0


def run_calls(d, ms):
    hold = ms / 1000
    res = {}
    path = os.path.join(d, "lockfile")
    lock_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    semid = libc.semget(IPC_PRIVATE, 1, 0o600)
    assert semid >= 0, os.strerror(ctypes.get_errno())
    started = threading.Barrier(5)

    def flocker():
        fd = os.open(path, os.O_RDWR)  # its own open file: flock conflicts with main's
        started.wait()
        res["flock"] = {"tid": threading.get_native_id(),
                        "ns": timed(fcntl.flock, fd, fcntl.LOCK_EX)}
        os.close(fd)

    def waiter():
        pid = os.posix_spawn("/bin/sleep", ["sleep", str(hold)], os.environ)
        started.wait()
        t0 = time.monotonic_ns()
        os.wait4(pid, 0)
        res["wait4"] = {"tid": threading.get_native_id(), "ns": time.monotonic_ns() - t0}

    def semwaiter():
        started.wait()
        res["semop"] = {"tid": threading.get_native_id(), "ns": timed(semop, semid, -1)}

    def syncer():
        fd = os.open(os.path.join(d, "syncfile"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        started.wait()
        spent, n = 0, 40
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            spent += timed(os.fdatasync, fd)
        os.close(fd)
        res["fdatasync"] = {"tid": threading.get_native_id(), "ns": spent, "calls": n}

    ts = [threading.Thread(target=f) for f in (flocker, waiter, semwaiter, syncer)]
    for t in ts:
        t.start()
    started.wait()
    time.sleep(hold)
    fcntl.flock(lock_fd, fcntl.LOCK_UN)
    semop(semid, 1)
    for t in ts:
        t.join()
    libc.semctl(semid, 0, IPC_RMID)
    os.close(lock_fd)
    return {"calls": res}


def run_connect(n, m):
    results = {}

    def count(err):
        name = errno.errorcode.get(err, str(err)) if err else "0"
        results[name] = results.get(name, 0) + 1

    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(n + 8)
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        count(s.connect_ex(lst.getsockname()))
        socks.append(s)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # bound, never listening: connects are refused
    for _ in range(m):
        s = socket.socket()
        count(s.connect_ex(("127.0.0.1", port)))
        s.close()
    for s in socks:
        s.close()
    lst.close()
    return {"connect": results}


def run_churn(d, n):
    tids = []

    def worker(i):
        tids.append(threading.get_native_id())
        time.sleep(0.005)
        select.select([], [], [], 0.005)
        fd = os.open(os.path.join(d, f"churn-{i}"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for _ in range(3):
            os.write(fd, b"y" * 4096)
            os.fsync(fd)
            os.write(fd, b"y" * 4096)
            os.fdatasync(fd)
        os.close(fd)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {"churn": tids}


def run_long(secs):
    res = {}
    lock_fd, path = tempfile.mkstemp(prefix="blockcalls-")
    os.unlink(path)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    started = threading.Barrier(3)

    def sleeper():
        started.wait()
        res["clock_nanosleep"] = {"tid": threading.get_native_id(),
                                  "ns": timed(time.sleep, secs)}

    def flocker():
        fd = os.open(f"/proc/self/fd/{lock_fd}", os.O_RDONLY)  # a second open file
        started.wait()
        res["flock"] = {"tid": threading.get_native_id(),
                        "ns": timed(fcntl.flock, fd, fcntl.LOCK_EX)}
        os.close(fd)

    ts = [threading.Thread(target=f) for f in (sleeper, flocker)]
    for t in ts:
        t.start()
    started.wait()
    time.sleep(secs)
    fcntl.flock(lock_fd, fcntl.LOCK_UN)
    for t in ts:
        t.join()
    return {"long": res}


def main(argv):
    wait_stdin = "--wait-stdin" in argv
    hold = "--hold" in argv
    args = [a for a in argv if a not in ("--wait-stdin", "--hold")]
    if wait_stdin:
        sys.stdin.readline()
    if len(args) == 3 and args[0] == "calls":
        out = run_calls(args[1], int(args[2]))
    elif len(args) == 3 and args[0] == "connect":
        out = run_connect(int(args[1]), int(args[2]))
    elif len(args) == 3 and args[0] == "churn":
        out = run_churn(args[1], int(args[2]))
    elif len(args) == 2 and args[0] == "long":
        out = run_long(float(args[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps({"workload": "blockcalls", "pid": os.getpid(), **out}), flush=True)
    if hold:
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
