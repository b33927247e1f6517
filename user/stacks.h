/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * From the kernel's stack snapshots (struct tw_stack_ev) to named stacks in
 * the model: unwound and symbolized while the process still runs (its
 * mappings are read then), through user/unwind.c.
 */
#ifndef TW_STACKS_H
#define TW_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include "model.h"

struct tw_stack_in;
struct tw_py;

struct tw_stack_in *stacks_in_new(void);
void stacks_in_free(struct tw_stack_in *si);
/*
 * One TW_EV_STACK record of len bytes: queued for the unwinder thread (its
 * result reaches m->stacks at the next stacks_drain()). 0, or -ENOMEM; a
 * record the queue has no room for is counted in m->stacks.lost.
 */
int stacks_ingest(struct tw_stack_in *si, struct tw_model *m, const void *data, size_t len);
/*
 * One blocked-now record (TW_SK_NOW, bpf/blockednow.bpf.c) of len bytes,
 * queued for the unwinder whatever the queue holds (a pass asks for at most
 * TW_NOW_MAX, and is drained with wait right after): at the drain it says
 * where its thread is asleep (stackset_now_get()). 0, or -ENOMEM.
 */
int stacks_ingest_now(struct tw_stack_in *si, const void *data, size_t len);
/*
 * The stacks unwound since the last call into m->stacks (the main thread);
 * with wait, first every one queued (the end of the run). 0 or -ENOMEM.
 */
int stacks_drain(struct tw_stack_in *si, struct tw_model *m, bool wait);
/*
 * The -- COMMAND's child: until it exec's it runs our own code (it waits to be
 * released), so its stacks that still carry our name are not unwound against
 * the command's mappings: their time goes to a "[before exec]" frame.
 */
void stacks_in_set_child(struct tw_stack_in *si, __u32 pid);
/*
 * Python frames (user/pyframes.c): py_procs_fd is the kernel's map of Python
 * processes, filled as they are found. Call before the first record.
 */
void stacks_in_python(struct tw_stack_in *si, int py_procs_fd, int py_bits_fd);
/* A process to look for an interpreter in now, before its first stack (a target at attach). */
void stacks_watch(struct tw_stack_in *si, __u32 pid);
/*
 * The Python processes found so far (user/pyframes.c), for user/pythreads.c:
 * held (NULL: none, nothing held) until stacks_py_release().
 */
struct tw_py *stacks_py_hold(struct tw_stack_in *si);
void stacks_py_release(struct tw_stack_in *si);
/* A process is gone (or exec'd): its cached mappings and symbols are dropped. */
void stacks_forget(struct tw_stack_in *si, __u32 pid);

/* One unwound sample, as stacks_drain() hands it to a sink. */
struct tw_stack_sample {
	struct tw_skey k; /* k.stack is not used */
	const char *comm; /* the thread's name */
	__u64 ts_ns; /* CLOCK_MONOTONIC of the syscall's exit */
	__u64 weight_ns;
	int lost; /* enum tw_slost to count, or -1 */
	int nframes;
	const struct tw_sframe *frames; /* innermost first */
	__u64 gap_ts; /* the event-loop gap it was taken in (its stall's start); 0: none */
	int pylost; /* enum tw_slost of its Python frames, or -1 */
	int pycode; /* Python frames whose code object could not be read (TW_SLOST_PY_CODE) */
};
typedef int (*tw_stack_sink_fn)(void *ctx, const struct tw_stack_sample *x);
/*
 * Samples go to fn (in the thread that calls stacks_drain() or
 * stacks_ingest()) instead of m->stacks: the daemon's profile windows.
 */
void stacks_in_set_sink(struct tw_stack_in *si, tw_stack_sink_fn fn, void *ctx);
/* x into s: its frames and stack interned, its weight added. 0 or -ENOMEM. */
int stacks_intern(struct tw_stackset *s, const struct tw_stack_sample *x, __u32 *stack_out);
/* Records queued for the unwinder so far: a mark for stacks_unwound(). */
__u64 stacks_queued(struct tw_stack_in *si);
/* Every record queued before mark is unwound (its result waits for stacks_drain()). */
bool stacks_unwound(struct tw_stack_in *si, __u64 mark);

#endif
