/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Stacks of event-loop stalls (issue 11): the stack samples taken inside a
 * loop's gap (blocked calls that returned in it, on-CPU samples), kept with
 * the loop by the gap's start, which is the start_ns of the stall the gap
 * becomes. Pure data, like model.c.
 */
#ifndef TW_STALLSTK_H
#define TW_STALLSTK_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* The samples of one (gap, stack, kind, syscall). */
struct tw_gstack {
	__u64 gap_ts; /* the gap's start: its stall's start_ns */
	__u32 stack; /* index into the model's stacks */
	__u32 kind; /* TW_SK_BLOCKED or TW_SK_ONCPU */
	__u32 nr; /* syscall number + 1 it slept in (or was in when sampled); 0: none */
	__u32 __pad;
	__u64 weight_ns; /* blocked time, or on-CPU time (samples x period) */
	__u64 count; /* samples */
};

/*
 * A loop's: the samples of its kept stalls, and of the gap it was last seen
 * in (pending: it may still become a stall, whose event comes at its end).
 * A sample of a later gap drops the pending one's unless it became a kept
 * stall, so memory is bounded by the stalls kept.
 */
struct tw_gstacks {
	struct tw_gstack *v;
	size_t n, cap;
	__u64 pending; /* the gap_ts of the gap not yet known to be a stall; 0: none */
};

struct tw_loop;
struct tw_model;

/*
 * A sample of the gap starting at gap_ts of thread tid into its loop;
 * dropped (0) when that gap is over and was no kept stall. 0 or -ENOMEM.
 */
int model_gap_stack(struct tw_model *m, __u32 pid, __u32 tid, __u64 gap_ts, __u32 stack, __u32 kind,
		    __u32 nr, __u64 weight_ns);
/* The same, into loop l directly (the pure part, unit-tested). */
int gstacks_add(struct tw_loop *l, __u64 gap_ts, __u32 stack, __u32 kind, __u32 nr,
		__u64 weight_ns);
void gstacks_free(struct tw_gstacks *g);

#endif
