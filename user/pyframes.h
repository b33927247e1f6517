/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * CPython frames in stacks (issue 12). Per process: find the interpreter in
 * its mappings (the python binary or libpython3.X.so), its version from the
 * binary (Py_Version), its _PyRuntime and type objects with the load bias,
 * and tell the kernel (py_procs) where to walk. Per sample: name the code
 * objects the kernel recorded (qualified name, file, line from the location
 * table) from the process's memory, validated and cached, and merge them with
 * the native frames in place of the eval loop's.
 */
#ifndef TW_PYFRAMES_H
#define TW_PYFRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>
#include "threadwatch.h"

struct tw_py;

/* map_fd, bits_fd: the py_procs and py_bits maps to fill, or -1 (names only: tests) */
struct tw_py *py_new(int map_fd, int bits_fd);
void py_free(struct tw_py *py);
/* forget a process (exit, exec): its cached code objects, its py_procs entry */
void py_forget(struct tw_py *py, pid_t pid);

enum tw_py_kind {
	TW_PYK_NOT = 0, /* no CPython in it (or not looked at yet) */
	TW_PYK_OK, /* a supported CPython: py_procs has its entry */
	TW_PYK_UNSUPPORTED, /* a CPython whose version has no layout here: native frames only */
};

/*
 * Look at pid (later calls answer from the cache; one found without CPython
 * is looked at again after a second, or now with again). An unsupported
 * version gets one note on stderr for the run.
 */
enum tw_py_kind py_detect(struct tw_py *py, pid_t pid, bool again);

struct tw_pyname {
	const char *qualname; /* NULL: the code object could not be read or was not one */
	const char *file;
	int line; /* 0: unknown */
};

/*
 * Names of the n frames f of pid, innermost first, into out (strings live until
 * py_forget/py_free or the next call). How many could not be named (stale or
 * unreadable code objects) is returned.
 */
int py_names(struct tw_py *py, pid_t pid, const struct tw_pyframe *f, int n, struct tw_pyname *out);

/* The line of byte offset lasti in a 3.11+ location table (PEP 626/657); 0 if none. */
int py_line311(const uint8_t *table, size_t len, int firstlineno, int lasti);

/*
 * How the native frames of a stack (funcs, innermost first, NULL where not
 * named) and the Python frames (entry[i]: C entered the eval loop with frame i)
 * interleave: plan[k] >= 0 is native frame plan[k], plan[k] < 0 Python frame
 * -1 - plan[k]. Each native _PyEval_EvalFrameDefault is replaced by the run of
 * Python frames up to and including the next entry frame; Python frames left
 * when the native ones end (a native unwind cut short) go outermost. Returns
 * the plan's length (at most max).
 */
int py_merge_plan(const char *const *funcs, int nnative, const bool *entry, int npy, int *plan,
		  int max);

/*
 * For user/pythreads.c (thread names): what py_detect() found of a supported
 * process (kind TW_PYK_OK), without looking again. false: not (yet) one.
 */
struct tw_pymem {
	pid_t pid;
	int minor; /* 3.minor */
	__u64 runtime; /* &_PyRuntime */
	__u16 rt_interp_head, is_threads_head, ts_next, ts_native_tid; /* struct tw_pyproc's */
	__u64 unicode_type, long_type, dict_type, module_type; /* PyUnicode_Type... in its memory */
};
bool py_mem(struct tw_py *py, pid_t pid, struct tw_pymem *out);
/* len bytes of pid's memory at addr: 0 or -EFAULT */
int py_mem_read(pid_t pid, __u64 addr, void *buf, size_t len);
/* A str object of pid as UTF-8 (malloc'ed), as frames' names are read; NULL if not one */
char *py_str(struct tw_py *py, pid_t pid, __u64 addr);

#endif
