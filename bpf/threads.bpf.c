// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Thread lifecycle: creation (task_newtask, which carries the clone flags and
 * fires only once copy_process() has succeeded), exit (sched_process_exit),
 * and failed creations from the clone/clone3 syscall exits, by errno.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"
#include "bits.bpf.h"
#include "maps.bpf.h"
#include "targets.bpf.h"
#include "stacks.bpf.h"

static __always_inline void emit(__u32 type, __u32 tid, __u32 tgid, __u32 ptid, __u64 now,
				 struct task_struct *task)
{
	struct tw_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(TW_DROP_RINGBUF);
		return;
	}
	e->type = type;
	e->tid = tid;
	e->tgid = tgid;
	e->ptid = ptid;
	e->ts_ns = now;
	e->start_ns = BPF_CORE_READ(task, start_time);
	BPF_CORE_READ_STR_INTO(&e->comm, task, comm);
	events_submit(e);
}

/* A task the kernel just finished creating; current is its creator. */
static __always_inline int handle_newtask(struct task_struct *task, bool btf, __u64 flags)
{
	__u64 id = bpf_get_current_pid_tgid(), now;
	__u32 ptid = (__u32)id, ptgid = id >> 32;
	struct tw_thread_stats *st;
	struct tw_proc_stats *ps;
	__u32 tid, tgid;
	bool is_thread = flags & CLONE_THREAD;

	bool parent_wanted = tgid_wanted(ptgid);

	/* a new process of a followed target, or with a --comm name, is a target from birth */
	if (!is_thread && targ_filter)
		targets_on_fork(task, ptgid, parent_wanted);
	/* a thread shares its creator's tgid; a new process is wanted if it is a target */
	if (!parent_wanted && (is_thread || !tgid_wanted(BPF_CORE_READ(task, tgid))))
		return 0;
	if (skip_kthreads && (BPF_CORE_READ(task, flags) & PF_KTHREAD))
		return 0;
	now = bpf_ktime_get_ns();
	if (parent_wanted) {
		ps = proc_stats_get(ptgid);
		if (ps) {
			if (is_thread)
				ps->threads_created++;
			else
				ps->procs_forked++;
		}
		if (is_thread && (!targ_tid || ptid == targ_tid)) {
			st = btf ? thread_get(bpf_get_current_task_btf(), true, ptid, ptgid, true)
				 : thread_get((struct task_struct *)bpf_get_current_task(), false,
					      ptid, ptgid, true);
			if (st)
				st->threads_created++;
		}
	}
	if (!task_wanted(task, btf, &tid, &tgid))
		return 0;
	/*
	 * Runnable from birth; sched_wakeup_new restarts the clock when it is
	 * queued. Where that hook runs with task storage (tp_btf on 6.12+), the
	 * entry is made there: the same allocation cost ~600-900 ns less there
	 * than here in the thread storm (docs/performance.md), and nothing of
	 * the new task happens in between.
	 */
	st = btf && !runq_from_kernel ? NULL : thread_get(task, btf, tid, tgid, true);
	/* task storage is the task's own: only a tid-keyed hash entry can be a dead thread's */
	if (!btf && st && st->start_ns != TASK_READ(btf, task, start_time)) {
		/*
		 * The tid's last owner died so recently that user space has not
		 * read its entry yet (pid_max wrapped): start afresh, count it.
		 */
		count_drop(TW_DROP_TID_REUSED);
		bpf_map_update_elem(&thread_stats, &tid, &zero_thread_stats, BPF_ANY);
		st = bpf_map_lookup_elem(&thread_stats, &tid);
		if (st) {
			/* replaced, not created: thread_get() would not fill these */
			st->tgid = tgid;
			st->start_ns = TASK_READ(btf, task, start_time);
		}
	}
	/* never undo a first run already seen on another CPU */
	if (st && !st->ran) {
		st->state = TW_ST_RUNQ;
		st->state_ts = now;
	}
	emit(is_thread ? TW_EV_THREAD_NEW : TW_EV_PROC_NEW, tid, tgid, ptid, now, task);
	return 0;
}

static __always_inline int handle_exit(struct task_struct *p, bool btf)
{
	struct tw_thread_stats *st;
	struct tw_proc_stats *ps;
	__u32 tid, tgid;
	__u64 now;

	if (!task_wanted(p, btf, &tid, &tgid))
		return 0;
	if (btf) {
		/* before the exit event: user space reads the copy once it has read the event */
		st = bpf_task_storage_get(&thread_store, p, NULL, 0);
		if (st && !st->exited)
			thread_bury(st, tid);
	}
	now = bpf_ktime_get_ns();
	ps = proc_stats_get(tgid);
	/* the main thread's exit is the process's: counted neither here nor in creations */
	if (ps && tid != tgid) {
		ps->threads_exited++;
		ps->lifetime_hist[hist_slot(now - TASK_READ(btf, p, start_time))]++;
	}
	emit(TW_EV_THREAD_EXIT, tid, tgid, 0, now, p);
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(tp_btf_task_newtask, struct task_struct *task, __u64 clone_flags)
{
	return handle_newtask(task, true, clone_flags);
}

SEC("raw_tp/task_newtask")
int BPF_PROG(raw_tp_task_newtask, struct task_struct *task, __u64 clone_flags)
{
	return handle_newtask(task, false, clone_flags);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_btf_sched_process_exit, struct task_struct *p)
{
	return handle_exit(p, true);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(raw_tp_sched_process_exit, struct task_struct *p)
{
	return handle_exit(p, false);
}

/* Remember the flags of a traced clone until its exit says whether it failed. */
static __always_inline void clone_enter(__u64 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;

	if (!tgid_wanted(id >> 32))
		return;
	if (bpf_map_update_elem(&clone_flags, &tid, &flags, BPF_ANY))
		count_drop(TW_DROP_CLONE_MAP);
}

static __always_inline void clone_exit(long ret, __u32 nr)
{
	__u64 id = bpf_get_current_pid_tgid(), flags, *fp;
	__u32 tid = (__u32)id;
	struct tw_proc_stats *ps;

	fp = bpf_map_lookup_elem(&clone_flags, &tid);
	if (!fp)
		return; /* not traced, or the child's return */
	flags = *fp;
	bpf_map_delete_elem(&clone_flags, &tid);
	create_capture(nr, flags & CLONE_THREAD, ret);
	if (ret >= 0)
		return; /* successes are counted by task_newtask */
	ps = proc_stats_get(id >> 32);
	if (!ps)
		return;
	if (!(flags & CLONE_THREAD))
		ps->fork_fail++;
	else if (ret == -EAGAIN)
		ps->thread_fail[TW_FAIL_EAGAIN]++;
	else if (ret == -ENOMEM)
		ps->thread_fail[TW_FAIL_ENOMEM]++;
	else
		ps->thread_fail[TW_FAIL_OTHER]++;
}

SEC("tracepoint/syscalls/sys_enter_clone")
int handle_enter_clone(struct trace_event_raw_sys_enter *ctx)
{
	clone_enter(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int handle_enter_clone3(struct trace_event_raw_sys_enter *ctx)
{
	struct clone_args *uargs = (void *)ctx->args[0];
	__u64 flags = 0;

	/* a fault leaves flags 0: the failure then counts as a process creation */
	bpf_probe_read_user(&flags, sizeof(flags), &uargs->flags);
	clone_enter(flags);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone")
int handle_exit_clone(struct trace_event_raw_sys_exit *ctx)
{
	clone_exit(ctx->ret, (__u32)ctx->id);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int handle_exit_clone3(struct trace_event_raw_sys_exit *ctx)
{
	clone_exit(ctx->ret, (__u32)ctx->id);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
