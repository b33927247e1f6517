/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Python thread names (issue 12): the name threading.Thread gave each OS
 * thread of a CPython process (Thread(name="fetcher-3"), t.name = ...), which
 * CPython 3.11 and 3.13 never write into the kernel's comm. Read from the
 * process's memory (process_vm_readv, through user/pyframes.c's readers):
 * sys.modules["threading"]._active, {ident: Thread}, each Thread's _name,
 * _ident and _native_id, kept only where a PyThreadState of the interpreter
 * has that native thread id and that ident. docs/design.md, "Python thread
 * names".
 */
#ifndef TW_PYTHREADS_H
#define TW_PYTHREADS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>

struct tw_py;

#define TW_PYT_NAME_MAX 128 /* bytes of a name kept, with its NUL: a longer one is not shown */
#define TW_PYT_THREADS_MAX 8192 /* thread states and Thread objects read of one process */

struct tw_pytname {
	__u32 tid; /* native_thread_id */
	char name[TW_PYT_NAME_MAX]; /* UTF-8 */
};

struct tw_pyt_stats {
	__u32 bad; /* Thread objects (or the structures holding them) that did not check out */
	bool cut; /* more than TW_PYT_THREADS_MAX: the rest not read */
};

/*
 * The names of pid's threads now, into out (at most max of them); pid must
 * be one py_detect() found (TW_PYK_OK), else nothing is read. How many, or
 * -errno (-ENOENT: not a supported Python process; -EAGAIN: its interpreter
 * is starting or finalizing, nothing sane to read now; -ENOMEM). A process
 * that never imported threading has none (0, nothing bad).
 */
int pyt_read(struct tw_py *py, pid_t pid, struct tw_pytname *out, size_t max,
	     struct tw_pyt_stats *st);

/* ---- pure parts (tests/unit/test_pythreads.c) ---- */

/* Where the fields read are, per version (3.11: a table; 3.13: its _Py_DebugOffsets) */
struct tw_pyt_layout {
	int minor;
	__u16 interp_modules; /* PyInterpreterState.modules (3.12+: imports.modules) */
	__u16 ts_thread_id; /* PyThreadState.thread_id: the pthread ident */
	__u16 tp_basicsize, tp_flags, ht_cached_keys; /* PyTypeObject, PyHeapTypeObject */
	__u16 dict_keys, dict_values; /* PyDictObject.ma_keys, ma_values */
	__u16 long_size; /* PyLongObject: ob_size (3.11), lv_tag (3.12+) */
	__u16 long_digits; /* ob_digit */
	__u16 str_length, str_state, str_ascii; /* PyASCIIObject, and its data */
	__u32 str_ready; /* the state bit a usable str has (3.11), or 0 */
	__u16 values_skip; /* bytes before a PyDictValues' first value: 0 (3.11), 8 (3.13) */
	bool inline_values; /* 3.13: a Py_TPFLAGS_INLINE_VALUES object's values follow it */
};

extern const struct tw_pyt_layout tw_pyt_311;
/*
 * The 3.13 layout from the _Py_DebugOffsets bytes d (n of them) its
 * _PyRuntime starts with: false if they are not that (cookie, size, offsets
 * out of range).
 */
bool pyt_layout313(const uint8_t *d, size_t n, struct tw_pyt_layout *out);

/*
 * An int object's value from its first bytes h (n of them, ob_type checked
 * by the caller): false unless non-negative and below 2^64.
 */
bool pyt_long(const uint8_t *h, size_t n, const struct tw_pyt_layout *l, __u64 *out);

/*
 * Whether the first bytes h (n) of a str object (ob_type checked by the
 * caller) are the compact ASCII str name, its characters within h.
 */
bool pyt_str_is(const uint8_t *h, size_t n, const struct tw_pyt_layout *l, const char *name);

/* A PyDictKeysObject's shape from its first 32 bytes: false if it is not a sane one. */
struct tw_pyt_keys {
	__u32 nentries;
	__u32 entries_off; /* from the keys object: the first entry */
	__u32 esz; /* an entry's bytes: 24 (hash, key, value) or 16 (key, value) */
};
bool pyt_keys(const uint8_t *h, struct tw_pyt_keys *k);

/*
 * 3.11 inline values: whether key index ix is one the object set, from the
 * pre bytes just before its values (their last byte the prefix's size, the
 * one before it how many were inserted, the insertion order below them).
 */
bool pyt_values311_has(const uint8_t *pre, size_t n, __u32 ix);

#endif
