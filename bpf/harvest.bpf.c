// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The harvest: how user space reads per-thread state kept in task storage
 * (thread_store), which it cannot look up by tid. A task iterator, run by
 * user/collect.c at every refresh, writes one record per thread that has an
 * entry: struct tw_harvest_rec, then the entry itself. The entries are
 * copied as they are, without locks, like a hash map lookup from user space:
 * a field may be a few ns older than its neighbour.
 *
 * A dead thread is not here: its final switch out moved its entry to the
 * thread_stats hash (maps.bpf.h: thread_bury()).
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "threadwatch.h"
#include "maps.bpf.h"

SEC("iter/task")
int iter_harvest(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct tw_harvest_rec rec = {};
	struct tw_thread_stats *st;

	if (!task)
		return 0;
	st = bpf_task_storage_get(&thread_store, task, NULL, 0);
	if (!st)
		return 0;
	rec.tid = task->pid;
	rec.size = sizeof(*st);
	/* a record that does not fit is taken back whole, and written again in the next read */
	if (bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec)))
		return 0;
	bpf_seq_write(ctx->meta->seq, st, sizeof(*st));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
