/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * A view is what one report shows: the model's totals (final) or the deltas
 * since the last interval, folded by thread or by comm, processes sorted and
 * cut to the top N. Every output format renders a view, so they agree.
 */
#ifndef TW_VIEW_H
#define TW_VIEW_H

#include <stdbool.h>
#include "model.h"

enum tw_by {
	TW_BY_THREAD,
	TW_BY_COMM,
};

struct tw_row {
	__u32 tid; /* 0 for a --by comm group */
	__u32 nthreads;
	char comm[TASK_COMM_LEN];
	bool alive; /* the thread, or any thread of the group */
	bool borrowed; /* t's histograms are the model's (final, per thread), not ours */
	struct tw_thread_rec t;
};

struct tw_proc_view {
	const struct tw_proc *p;
	struct tw_proc_totals pt;
	__u32 threads_peak;
	struct tw_thread_totals sum; /* every row added up */
	struct tw_row *rows; /* by off-CPU time, longest first */
	size_t nrows;
};

struct tw_view_opts {
	bool final;
	double duration_s;
	const char *attach; /* "tp_btf" or "raw_tp" */
	enum tw_by by;
	unsigned int top; /* processes shown; 0: all */
	bool targets_only;
};

struct tw_view {
	struct tw_view_opts o;
	__u64 drops[TW_DROP_NR];
	struct tw_proc_view *procs;
	size_t nprocs;
	size_t nprocs_active; /* before the top-N cut */
};

int view_build(struct tw_view *v, const struct tw_model *m, const struct tw_view_opts *o);
void view_free(struct tw_view *v);

__u64 totals_offcpu(const struct tw_thread_totals *t);
void thread_totals_add(struct tw_thread_totals *dst, const struct tw_thread_totals *src);
__u64 proc_thread_failures(const struct tw_proc_totals *pt);

#endif
