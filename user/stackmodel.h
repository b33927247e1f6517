/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Stacks in the model (issue 11): named frames and stacks, each interned
 * once, and the blocked time each (process, thread, syscall, stack) was seen
 * with. Pure data, like model.c: user/stacks.c fills it from the kernel's
 * snapshots, view.c reads it.
 */
#ifndef TW_STACKMODEL_H
#define TW_STACKMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "threadwatch.h"
#include "u32map.h"

struct tw_sframe {
	char *func; /* NULL: not named (module + offset) */
	char *module; /* the path the process maps it from, or "[unknown]" */
	__u64 offset; /* from func's start, or module-relative when func is NULL */
	char *file; /* source file, or NULL */
	int line; /* 0: unknown */
	bool plumbing; /* libc, the dynamic loader: not where a caller would look */
	__u32 next; /* the next frame with the same hash + 1; 0: none */
	bool python; /* a Python frame: func its qualified name, module and file its file */
};

struct tw_stack {
	__u32 nframes;
	__u32 *frames; /* frame indexes, innermost first */
	__u32 next; /* the next stack with the same hash + 1 */
};

/* What a (process, thread, syscall, stack, kind, result) was seen with. */
struct tw_ssample {
	__u32 pid;
	__u32 tid;
	__u32 nr; /* syscall number + 1 */
	__u32 stack; /* index into stacks */
	__u32 kind; /* enum tw_stack_kind: blocked time, or thread/process creations */
	__s32 ret; /* creations: 0 for successes, -errno for failures */
	char comm[TASK_COMM_LEN]; /* the thread's name at its first sample */
	__u64 weight_ns; /* blocked time the samples stand for; creations: how many */
	__u64 count; /* samples */
	__u32 next;
};

/* Samples user space could not turn into a whole stack (reported under lost, like the kernel's). */
enum tw_slost {
	TW_SLOST_NO_STACK = 0, /* not one page of the user stack could be read */
	TW_SLOST_UNWIND_SHORT, /* unwinding stopped before the outermost frame (kept, as far as it got) */
	TW_SLOST_NO_PROCESS, /* the process was gone before its sample was read */
	TW_SLOST_NO_ACCESS, /* its memory map could not be read (no CAP_SYS_PTRACE over it) */
	TW_SLOST_BUSY, /* the unwinder's queue was full: not unwound */
	TW_SLOST_UNKNOWN_FRAME, /* unwound, but a frame is in no module and no perf map names it */
	/* Python frames (issue 12, user/pyframes.c): the native frames stay where these are lost */
	TW_SLOST_PY_CUT, /* deeper than TW_PY_FRAMES_MAX: the outermost Python frames are missing */
	TW_SLOST_PY_CODE, /* a code object unreadable, or no longer one (freed): that frame unnamed */
	TW_SLOST_PY_FAULT, /* the kernel could not read the thread's frames (paged out, changing) */
	TW_SLOST_PY_NO_TSTATE, /* a thread of a Python process without a thread state (C thread) */
	TW_SLOST_PY_VERSION, /* a CPython version without a known layout: native frames only */
	TW_SLOST_PY_EARLY, /* taken before the interpreter was found: native frames only */
	/* not a stack: reads of a Thread's name that did not check out (user/pythreads.c) */
	TW_SLOST_PY_TNAME,
	TW_SLOST_NR,
};

/*
 * Samples are kept per thread for the first TW_STACK_TIDS threads of each
 * process that have any; later ones (a thread storm's) are kept per thread
 * name, as tid 0, so memory stays bounded by stacks, not by threads.
 */
#define TW_STACK_TIDS 1024

struct tw_stackset {
	struct tw_sframe *frames;
	size_t nframes, capf;
	struct u32map fidx; /* frame hash -> first frame with it + 1 */
	struct tw_stack *stacks;
	size_t nstacks, caps;
	struct u32map sidx;
	struct tw_ssample *samples;
	size_t nsamples, capss;
	struct u32map ssidx;
	struct u32map tids; /* tids with samples of their own (at most TW_STACK_TIDS a process) */
	struct u32map ntids; /* pid -> how many of its tids are in tids */
	__u64 taken; /* samples received */
	__u64 sampled; /* of them, short blocks taken by chance */
	__u64 create_skipped; /* creations the kernel skipped since its last site capture */
	__u64 lost[TW_SLOST_NR];
	/*
	 * Threads blocked now (TW_SK_NOW): the stack each was asleep in at the
	 * last blocked-now pass, made for the report about to be printed
	 * (collect_now_stacks()); not samples: they weigh nothing.
	 */
	struct u32map now; /* tid -> index into stacks + 1 */
	struct tw_now_stats {
		__u64 asked; /* threads the pass was asked for */
		__u64 taken; /* of them, a stack came back (unwound, or a frame saying why not) */
		__u64 over; /* threads past TW_NOW_MAX: not asked */
		__u64 pass_ns; /* the iterator's walk: the copies, read */
		__u64 ns; /* the whole: the walk, then unwinding and naming */
	} now_stats; /* of the last pass */
	__u64 oncpu_taken; /* on-CPU samples of loop gaps received (not in taken) */
};

void stackset_free(struct tw_stackset *s);
/* The frame's index (interned), or -ENOMEM. Strings are copied. */
long stackset_frame(struct tw_stackset *s, const struct tw_sframe *f);
/* The stack's index (interned), or -ENOMEM. */
long stackset_stack(struct tw_stackset *s, const __u32 *frames, __u32 nframes);
/* The key of a sample: whose, which call, which stack, of what. */
struct tw_skey {
	__u32 pid, tid, nr, stack, kind;
	__s32 ret;
};

/* Adds weight_ns to the sample of key k (made with comm if new); 0 or -ENOMEM. */
int stackset_add(struct tw_stackset *s, const struct tw_skey *k, const char *comm, __u64 weight_ns);
/* Blocked now: tid was asleep in stack at the last pass; 0 or -ENOMEM. */
int stackset_now_set(struct tw_stackset *s, __u32 tid, __u32 stack);
/* The stack tid was asleep in at the last pass; false if none was taken. */
bool stackset_now_get(const struct tw_stackset *s, __u32 tid, __u32 *stack);
/* A new pass: the last one's stacks no longer say where anyone is. */
void stackset_now_reset(struct tw_stackset *s);

#endif
