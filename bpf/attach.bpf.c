// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Attach-time state: where every traced thread is at the moment the
 * scheduler and syscall programs start seeing events. A task iterator
 * (iter/task), run once by user space right after they are attached
 * (user/attach.c), gives each thread that has no entry yet one holding:
 *
 *  - its state: on a CPU (task->on_cpu), runnable (TASK_RUNNING, or queued
 *    after a preemption), or blocked; from now, so blocked and run-queue
 *    time count from the attach for threads that were already there;
 *  - for a blocked thread, when the kernel says it last ran (pre_ts): the
 *    scheduler's se.exec_start, moved from the run-queue clock of its CPU
 *    to CLOCK_MONOTONIC, with the error on the side of "later" (see
 *    last_ran_mono()), so a duration from it is never overstated;
 *  - the syscall it is in, from its saved user registers (the syscall
 *    number the kernel itself reports in /proc/PID/syscall), and for a
 *    timed call the call, its fd's kind (from the thread's own files) and
 *    sys_ts = now with sys_pre set: the exit then adds the time from the
 *    attach to the call's totals, but no latency sample (the call began
 *    before we saw it). A wait-family call's exit starts a loop gap, so a
 *    loop asleep at attach is a loop candidate from its first return.
 *
 * An entry a scheduler or syscall event already made is left alone: that
 * event is newer than what the iterator read. The whole entry is written
 * at once (BPF_NOEXIST into the hash, or a task-storage creation from the
 * seed), never field by field under a live handler.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"
#include "maps.bpf.h"
#include "syscall_args.bpf.h"

#define PF_EXITING 0x00000004 /* include/linux/sched.h */

/* the syscall programs are loaded: sys_cur and the call are theirs to clear */
const volatile bool attach_syscalls = false;

/* v6.12 delayed dequeue (commit 152e11f6df29): a sleeping task may stay queued */
struct sched_entity___delayed {
	unsigned char sched_delayed;
} __attribute__((preserve_access_index));

/* the entry being built: too large for the BPF stack; the iterator runs one at a time */
static struct tw_thread_stats seed;

/* The kind of a sleeping thread's open file fd (what fd_kind() in syscalls.bpf.c does for current). */
static __always_inline __u32 task_fd_kind(struct task_struct *task, long fd)
{
	struct file **fds, *file = NULL;
	struct fdtable *fdt;

	if (fd < 0)
		return TW_FD_OTHER;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
		return TW_FD_OTHER;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_core_read(&file, sizeof(file), &fds[fd]) || !file)
		return TW_FD_OTHER;
	return file_kind(file);
}

/*
 * CLOCK_MONOTONIC of when the task last left a CPU: the kernel's
 * sched_info.last_arrival (CONFIG_SCHED_INFO), when it last got a CPU, plus
 * the CPU time of that slice (se.sum_exec_runtime - se.prev_sum_exec_runtime),
 * both in run-queue clock time, which keeps counting while the VM is not
 * running (steal), as CLOCK_MONOTONIC does. (se.exec_start, in the task
 * clock that leaves steal out, would make a thread asleep for seconds on a
 * busy host look asleep for less.) The elapsed time is taken against the
 * run queue of the CPU this iterator runs on, updated at most a tick ago
 * (the task's own may be stale: an idle CPU's is not updated; run-queue
 * clocks are one sched_clock across CPUs). A slice's CPU time leaves out the
 * irq time inside it, so the result is at or after the real time: a
 * duration from it is "at least". 0 when it cannot be told.
 */
static __always_inline __u64 last_ran_mono(struct task_struct *task, __u64 now)
{
	struct task_struct *self = bpf_get_current_task_btf();
	__u64 left, ref;

	if (!bpf_core_field_exists(task->sched_info.last_arrival) ||
	    !bpf_core_field_exists(self->se.cfs_rq))
		return 0;
	left = task->sched_info.last_arrival;
	if (!left)
		return 0;
	left += task->se.sum_exec_runtime - task->se.prev_sum_exec_runtime;
	ref = BPF_CORE_READ(self, se.cfs_rq, rq, clock);
	if (ref < left || ref - left > now)
		return 0;
	return now - (ref - left);
}

/* Where a thread is: on a CPU, runnable, or asleep (and then since when). */
static __always_inline __u32 task_where(struct task_struct *task, __u64 now, __u64 *pre_ts)
{
	struct sched_entity___delayed *se = (void *)&task->se;
	bool delayed = false;

	*pre_ts = 0;
	if (task->on_cpu)
		return TW_ST_ONCPU;
	if (get_task_state(task, true) == TASK_RUNNING)
		return TW_ST_RUNQ;
	if (bpf_core_field_exists(se->sched_delayed))
		delayed = BPF_CORE_READ(se, sched_delayed);
	/* queued with a sleeping state: preempted before it could sleep (switch_out's RUNQ) */
	if (task->on_rq && !delayed)
		return TW_ST_RUNQ;
	*pre_ts = last_ran_mono(task, now);
	return TW_ST_BLOCKED;
}

SEC("iter/task")
int iter_seed_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct tw_thread_stats *st = &seed;
	struct pt_regs *regs;
	long nr, a1 = 0, a2 = 0, err;
	__u32 tid, tgid, call = TW_CALL_NONE;
	__u64 now;

	if (!task || !task_wanted(task, true, &tid, &tgid))
		return 0;
	if (task->exit_state || (task->flags & PF_EXITING))
		return 0; /* its exit event may already be gone: an entry would never be freed */
	if (use_tstore ? (void *)bpf_task_storage_get(&thread_store, task, NULL, 0)
		       : bpf_map_lookup_elem(&thread_stats, &tid))
		return 0; /* an event saw it first */
	/* too large for an inline memset: copied from the zero entry, once per task at attach */
	if (bpf_probe_read_kernel(st, sizeof(*st), &zero_thread_stats))
		return 0;
	now = bpf_ktime_get_ns();
	st->tgid = tgid;
	st->start_ns = task->start_time;
	st->state = task_where(task, now, &st->pre_ts);
	if (runq_from_kernel)
		st->rd_base = run_delay_now(task); /* waits count from the attach */
	st->state_ts = now;
	st->att_ts = now;
	/* it ran before we came: its next switch out is no unseen switch in */
	st->ran = 1;
	/* without the syscall programs, the block it is in is named, as at a switch out */
	if ((attach_syscalls || (name_blocks && st->state == TW_ST_BLOCKED)) &&
	    st->state != TW_ST_ONCPU && !(task->flags & PF_KTHREAD)) {
		regs = (struct pt_regs *)bpf_task_pt_regs(task);
		nr = regs ? task_syscall(regs, &a1, &a2) : -1;
		if (nr >= 0 && nr < TW_SYSCALL_NR_MAX) {
			call = attach_syscalls ? call_of_syscall[nr] : TW_CALL_NONE;
			if (call == TW_CALL_FUTEX && !futex_op_waits(a2))
				call = TW_CALL_NONE;
			st->sys_cur = nr + 1;
			st->call = call;
			if (call) {
				st->sys_ts = now;
				st->sys_pre = 1;
				if (TW_CALL_HAS_FD(call))
					st->call_fd = task_fd_kind(task, a1);
			}
		}
	}
	if (use_tstore) {
		/* --max-threads, as thread_get() keeps it (an event making it meanwhile over-counts one) */
		if (__sync_fetch_and_add(&tstore_live, 1) >= max_tstore) {
			__sync_fetch_and_sub(&tstore_live, 1);
			count_drop(TW_DROP_THREAD_MAP);
			return 0;
		}
		/* made from seed unless an event made it meanwhile (then NULL or theirs) */
		if (!bpf_task_storage_get(&thread_store, task, st, BPF_LOCAL_STORAGE_GET_F_CREATE))
			__sync_fetch_and_sub(&tstore_live, 1);
		return 0;
	}
	err = bpf_map_update_elem(&thread_stats, &tid, st, BPF_NOEXIST);
	if (err && err != -EEXIST)
		count_drop(err == -E2BIG ? TW_DROP_THREAD_MAP : TW_DROP_ALLOC);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
