// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The harvest: how user space reads per-thread state kept in task storage
 * (thread_store), which it cannot look up by tid. A task iterator, run by
 * user/collect.c at every refresh, writes one record per thread that has an
 * entry: struct tw_harvest_rec, then the entry itself. The entries are
 * copied as they are, without locks, like a hash map lookup from user space:
 * a field may be a few ns older than its neighbour.
 *
 * A thread that has exited is not here: its exit copied its entry to the
 * thread_stats hash (maps.bpf.h: thread_bury()).
 *
 * Without wakeup hooks (runq_from_kernel), an entry says BLOCKED until the
 * thread's switch in, even after it was woken. A thread woken and still
 * waiting for a CPU is written as the model would see it had the wakeup been
 * hooked: blocked until it was queued, runnable since (the kernel's enqueue
 * time, sched_info.last_queued, moved from its run queue's clock to
 * CLOCK_MONOTONIC by that CPU's offset seen at its last switch in, less a
 * margin, so the blocked time shown now never exceeds what the switch in
 * will settle: interval reports add up). Only the copy changes; the kernel
 * entry is the switch in's to settle.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"
#include "maps.bpf.h"

/*
 * The error of the offset: the run queue's clock is read a little after it
 * was updated (a few us), and the offset is older than now (ppm drift).
 */
#define TW_WOKEN_MARGIN_NS 50000

/* the copy being adjusted: too large for the BPF stack; the iterator runs one task at a time */
static struct tw_thread_stats woken;

/* st, or its adjusted copy if task was woken and waits for a CPU (see above). */
static __always_inline struct tw_thread_stats *as_woken(struct task_struct *task,
							struct tw_thread_stats *st)
{
	__u64 lq, off, now, wake;
	__u32 cpu;

	if (!runq_from_kernel || st->state != TW_ST_BLOCKED)
		return st;
	lq = task->sched_info.last_queued;
	if (!lq)
		return st; /* still asleep */
	cpu = task->thread_info.cpu & (TW_MAX_CPUS - 1);
	if (!rq_clk_at[cpu])
		return st; /* no offset taken on its CPU yet (sched_now()) */
	off = rq_clk_off[cpu];
	now = bpf_ktime_get_ns();
	wake = lq + off - TW_WOKEN_MARGIN_NS;
	if (wake <= st->state_ts || wake > now || bpf_probe_read_kernel(&woken, sizeof(woken), st))
		return st;
	woken.blocked_ns += wake - st->state_ts;
	if (woken.sys_cur)
		woken.sys_blocked_ns += wake - st->state_ts;
	else
		woken.blocked_nosys_ns += wake - st->state_ts;
	woken.state = TW_ST_RUNQ;
	woken.state_ts = wake;
	return &woken;
}

SEC("iter/task")
int iter_harvest(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct tw_harvest_rec rec = {};
	struct tw_thread_stats *st;

	if (!task)
		return 0;
	st = bpf_task_storage_get(&thread_store, task, NULL, 0);
	if (!st || st->exited)
		return 0;
	st = as_woken(task, st);
	rec.tid = task->pid;
	rec.size = sizeof(*st);
	/* a record that does not fit is taken back whole, and written again in the next read */
	if (bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec)))
		return 0;
	bpf_seq_write(ctx->meta->seq, st, sizeof(*st));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
