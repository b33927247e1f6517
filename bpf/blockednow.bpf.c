// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Stacks of threads blocked now (issue 11): where a thread that a report is
 * about to list as BLOCKED NOW, or as a loop STALLED NOW in a blocking call,
 * is stuck, taken while it sleeps. The syscall-exit capture (stacks.bpf.h)
 * cannot give it: the call has not returned. A sleepable task iterator
 * (iter.s/task), run by user space just before the report (user/collect.c,
 * collect_now_stacks()), visits the threads user space asks for in now_want
 * and, for each one still asleep where the model saw it, writes the record
 * the exit capture sends through the ring buffer (struct tw_stack_ev, kind
 * TW_SK_NOW, then its pages) to the iterator's fd:
 *
 *  - user registers: bpf_task_pt_regs(), those its syscall entry saved;
 *  - the top of its user stack from sp's page up, page by page with
 *    bpf_copy_from_user_task() (the other task's memory: sleepable, it may
 *    fault pages in), stopping at the first page that fails (the end of the
 *    stack mapping), at most TW_NOW_PAGES_MAX pages (one record must fit the
 *    seq_file buffer);
 *  - kernel frames: bpf_get_task_stack() of the sleeping task.
 *
 * A stack must belong to the moment the row describes: the thread's entry
 * must say it is asleep in the blocked interval the model saw (state_ts, the
 * same syscall) before the copy and still after it. A thread that woke (or
 * ran) meanwhile gets no record; user space counts it. The switch in that
 * would let it touch its stack rewrites state_ts first (sched_switch fires
 * before the task runs), so an unchanged state_ts after the copy means the
 * copied stack is the one it slept on.
 *
 * Kernel 5.18+ (sleepable task iterators, bpf_copy_from_user_task); on older
 * kernels the object is loaded without it and rows carry no stack.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"
#include "maps.bpf.h"
#include "stacks.bpf.h"

_Static_assert(sizeof(struct tw_stack_ev) + TW_NOW_PAGES_MAX * TW_STACK_PAGE <= 8 * 4096,
	       "a blocked-now record must fit the iterator's seq_file buffer (8 pages)");

/* tid -> the interval it is asleep in, filled by user space before each pass */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TW_NOW_MAX);
	__type(key, __u32);
	__type(value, struct tw_now_want);
} now_want SEC(".maps");

/* the record being built: too large for the BPF stack; the iterator runs one task at a time */
static __u8 now_rec[sizeof(struct tw_stack_ev) + TW_NOW_PAGES_MAX * TW_STACK_PAGE]
	__attribute__((aligned(8)));

/* Asleep in the interval the model saw: not on a CPU, and no switch in since. */
static __always_inline bool still_asleep(struct task_struct *task, __u32 tid,
					 const struct tw_now_want *w)
{
	struct tw_thread_stats *st = thread_find(task, use_tstore, tid);

	return st && !task->on_cpu && st->state == TW_ST_BLOCKED && st->state_ts == w->state_ts &&
	       st->sys_cur == w->sys;
}

SEC("iter.s/task")
int iter_now_stacks(struct bpf_iter__task *ctx)
{
	struct tw_stack_ev *e = (struct tw_stack_ev *)now_rec;
	struct task_struct *task = ctx->task;
	struct seq_file *seq = ctx->meta->seq;
	struct tw_now_want *w;
	struct pt_regs *regs;
	__u32 tid, i, pages;
	__u64 sp;
	long n;

	if (!STACK_CAN || !task)
		return 0;
	tid = task->pid;
	w = bpf_map_lookup_elem(&now_want, &tid);
	if (!w || (w->start_ns && w->start_ns != task->start_time))
		return 0;
	if (!still_asleep(task, tid, w) || (task->flags & PF_KTHREAD))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return 0;
	e->type = TW_EV_STACK;
	e->tid = tid;
	e->tgid = task->tgid;
	e->nr = w->sys;
	e->weight_ns = 0;
	e->blocked_ns = 0;
	e->kind = TW_SK_NOW;
	e->ret = 0;
	e->flags = 0;
	bpf_probe_read_kernel(e->comm, sizeof(e->comm), task->comm);
	STACK_REGS(true, e, regs);
	n = bpf_get_task_stack(task, e->kstack, sizeof(e->kstack), 0);
	e->nkern = n > 0 ? (__u32)n / sizeof(__u64) : 0;
	sp = e->regs[7];
	e->base = sp & ~(__u64)(TW_STACK_PAGE - 1);
	e->npages = 0;
	pages = stack_pages < TW_NOW_PAGES_MAX ? stack_pages : TW_NOW_PAGES_MAX;
	for (i = 0; i < TW_NOW_PAGES_MAX; i++) {
		if (i >= pages)
			break;
		if (bpf_copy_from_user_task(e->ustack + i * TW_STACK_PAGE, TW_STACK_PAGE,
					    (void *)(e->base + i * TW_STACK_PAGE), task, 0)) {
			e->flags |= TW_STK_CUT;
			break;
		}
		e->npages = i + 1;
	}
	e->gap_ts = 0;
	/* a Python thread's frames, read from its memory as it sleeps (nothing for the rest) */
	py_walk(&e->py, task->tgid, tid, task);
	/* the copy may have slept: a thread that ran meanwhile has another stack now */
	if (!still_asleep(task, tid, w))
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->blocked_ns = e->ts_ns > w->state_ts ? e->ts_ns - w->state_ts : 0;
	/* a record that does not fit is taken back whole, and made again in the next read */
	if (bpf_seq_write(seq, e, sizeof(*e)))
		return 0;
	for (i = 0; i < TW_NOW_PAGES_MAX; i++) {
		if (i >= e->npages)
			break;
		bpf_seq_write(seq, e->ustack + i * TW_STACK_PAGE, TW_STACK_PAGE);
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
