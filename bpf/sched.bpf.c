// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Scheduler side: on-CPU time and the two kinds of off-CPU time per thread.
 *
 *   switch out, voluntary (prev slept)   -> BLOCKED since now
 *   switch out, preempted or yielded     -> RUNQ since now
 *   switch in                            -> the interval ends, ONCPU
 *
 * A blocked interval ends in a wait for a CPU. With tp_btf, that wait comes
 * from the kernel's own per-task account of it (CONFIG_SCHED_INFO, read at
 * the switch in), so no program runs at wakeups: the switch hook is the
 * only scheduler hook on the hot path. raw_tp, kernels without sched_info
 * and kernels with delayed dequeue (6.12+: user/loader.c says why) end the
 * blocked interval at the sched_wakeup hook instead.
 *
 * The state and the counters share one entry per thread (see threadwatch.h).
 * Plain adds suffice: a thread's switches and wakeups are serialized by its
 * runqueue lock, and its creation happens before anyone else can see it.
 *
 * Every handler body exists once; the tp_btf and raw_tp sections are thin
 * wrappers, and user space turns off the pair the kernel cannot attach.
 */
#define TW_DEFINE_MAPS
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"
#include "bits.bpf.h"
#include "maps.bpf.h"
#include "calls.bpf.h"
#include "stacks.bpf.h"
#include "syscall_args.bpf.h"

static __always_inline void account_runq(struct tw_thread_stats *st, __u64 delta, bool whole)
{
	st->runq_ns += delta;
	if (whole) {
		st->runq_hist[hist_slot(delta)] += 1;
		hist_extremes(&st->runq_max_ns, &st->runq_min_inv, delta);
	}
}

static __always_inline void account_blocked(struct tw_thread_stats *st, __u32 tid, __u64 delta,
					    bool whole)
{
	st->blocked_ns += delta;
	/*
	 * The syscall in flight when it slept (the interval ends before its
	 * sys_exit, which accounts it), or none: a page fault, a signal stop.
	 */
	if (st->sys_cur && name_blocks) {
		/* no syscall exit will come to account it: the block is the sample */
		call_account(st, tid, st->tgid, st->sys_cur - 1, TW_CALL_NONE, 0, 0, delta, whole);
		st->sys_cur = 0;
	} else if (st->sys_cur) {
		st->sys_blocked_ns += delta;
	} else {
		st->blocked_nosys_ns += delta;
	}
	if (whole) {
		st->blocked_hist[hist_slot(delta)] += 1;
		hist_extremes(&st->blocked_max_ns, &st->blocked_min_inv, delta);
	}
}

/*
 * An off-CPU interval [st->state_ts, now) ends: account it by its kind. The
 * one the trace began in (bpf/attach.bpf.c) counts from the attach, but is
 * no histogram sample: it began earlier.
 */
static __always_inline void end_offcpu(struct tw_thread_stats *st, __u32 tid, __u64 now)
{
	__u64 delta = ns_since(now, st->state_ts);
	bool whole = st->state_ts != st->att_ts;

	if (st->state == TW_ST_RUNQ)
		account_runq(st, delta, whole);
	else if (st->state == TW_ST_BLOCKED)
		account_blocked(st, tid, delta, whole);
}

/*
 * The same at a switch in, without a wakeup hook: a blocked interval ends in
 * a wait for a CPU that the kernel measured itself (run_delay_now()), so the
 * time since the switch out splits into blocked, then run-queue time.
 */
static __always_inline void end_offcpu_split(struct tw_thread_stats *st, struct task_struct *t,
					     __u32 tid, __u64 now)
{
	__u64 rd = run_delay_now(t), runq = rd - st->rd_base, off = ns_since(now, st->state_ts);
	bool whole = st->state_ts != st->att_ts;

	st->rd_base = rd;
	if (st->state == TW_ST_RUNQ) {
		account_runq(st, off, whole);
	} else if (st->state == TW_ST_BLOCKED) {
		/* two clocks (the run queue's, CLOCK_MONOTONIC): the wait never exceeds the whole */
		if (runq > off)
			runq = off;
		account_blocked(st, tid, off - runq, whole);
		account_runq(st, runq, whole);
	}
}

/*
 * Without the syscall programs: the syscall a thread goes to sleep in, from
 * the registers its entry saved (the number /proc/PID/syscall shows), or
 * none (a page fault, a signal stop). nsyscalls numbers the blocks, as the
 * syscall programs number calls, for the model's call-in-flight.
 */
static __always_inline void name_block(struct tw_thread_stats *st, struct task_struct *t)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);
	long nr = regs ? task_syscall_nr(regs) : -1;

	if (nr < 0 || nr >= TW_SYSCALL_NR_MAX) {
		st->sys_cur = 0;
		return;
	}
	st->sys_cur = nr + 1;
	st->nsyscalls++;
}

static __always_inline void switch_out(struct task_struct *prev, bool btf, bool preempt, __u32 tid,
				       __u32 tgid, __u64 now)
{
	struct tw_thread_stats *st;
	__s64 state;
	bool vol;

	state = get_task_state(prev, btf);
	if (btf && (state & TASK_DEAD)) {
		/* an exit the exit program missed (it was attached after this switch's) */
		st = bpf_task_storage_get(&thread_store, prev, NULL, 0);
		if (st && !st->exited)
			thread_bury(st, tid);
	}
	/* after its exit, its copy in the hash (thread_after_bury()) */
	st = thread_get(prev, btf, tid, tgid, !(state & TASK_DEAD));
	if (!st)
		return;
	if (st->state == TW_ST_ONCPU) {
		st->oncpu_ns += ns_since(now, st->state_ts);
	} else if (st->state == TW_ST_RUNQ && (st->ran || st->start_ns >= tw_load_ns)) {
		/*
		 * Leaving a CPU we never saw it take: that slice's on-CPU time and
		 * one run-queue sample (or, never run before, its first run) are
		 * lost. The kernel did not emit that switch (the CI sandbox's
		 * kernel hides switches away from its own agent; docs/json.md);
		 * counted, never silent.
		 */
		count_drop(st->ran ? TW_DROP_SWITCH_IN : TW_DROP_FIRST_RUN);
		st->ran = 1;
	}
	/* the kernel's own rule for nvcsw/nivcsw in __schedule() */
	vol = !preempt && state != TASK_RUNNING;
	if (vol)
		st->vol_switches++;
	else
		st->invol_switches++;
	st->state = vol ? TW_ST_BLOCKED : TW_ST_RUNQ;
	st->state_ts = now;
	if (btf && vol && name_blocks)
		name_block(st, prev);
}

static __always_inline void switch_in(struct task_struct *next, bool btf, __u32 tid, __u32 tgid,
				      __u64 now)
{
	struct tw_thread_stats *st;
	struct tw_proc_stats *ps;

	st = thread_get(next, btf, tid, tgid, true);
	if (!st)
		return;
	/* a long block in a syscall ends unwoken (no wakeup hook): where it slept (stacks.bpf.h) */
	if (btf && stack_min_ns && stack_gate && st->state == TW_ST_BLOCKED && st->sys_cur &&
	    ns_since(now, st->state_ts) >= stack_min_ns)
		kstack_take(next, st->nsyscalls);
	if (btf && runq_from_kernel)
		end_offcpu_split(st, next, tid, now);
	else
		/* a BLOCKED state here was woken by a wakeup we did not see: all blocked */
		end_offcpu(st, tid, now);
	if (!st->ran) {
		__u64 start = TASK_READ(btf, next, start_time);

		st->ran = 1;
		/* a thread born while we watch: creation to first run */
		if (start >= tw_load_ns) {
			ps = proc_stats_get(tgid);
			if (ps)
				ps->first_run_hist[hist_slot(ns_since(now, start))]++;
		}
	}
	st->state = TW_ST_ONCPU;
	st->state_ts = now;
}

static __always_inline int handle_switch(bool btf, bool preempt, struct task_struct *prev,
					 struct task_struct *next)
{
	/* initialised: clang may move an unused one between registers, which the verifier refuses */
	__u32 ptid = 0, ptgid = 0, ntid = 0, ntgid = 0;
	bool out, in;
	__u64 now;

	/* filter first: a switch between threads nobody asked about costs no clock read */
	out = task_wanted(prev, btf, &ptid, &ptgid);
	in = task_wanted(next, btf, &ntid, &ntgid);
	if (!out && !in)
		return 0;
	/* the run queue's clock (tp_btf): prev and next share this CPU's */
	now = btf ? sched_now(prev) : bpf_ktime_get_ns();
	if (out)
		switch_out(prev, btf, preempt, ptid, ptgid, now);
	if (in)
		switch_in(next, btf, ntid, ntgid, now);
	return 0;
}

/* A sleeping thread is woken: its blocked interval ends, its run-queue wait begins. */
static __always_inline int handle_wakeup(struct task_struct *p, bool btf)
{
	struct tw_thread_stats *st;
	__u32 tid, tgid;
	__u64 now;

	if (!task_wanted(p, btf, &tid, &tgid))
		return 0;
	st = thread_find(p, btf, tid);
	if (!st || st->state != TW_ST_BLOCKED)
		return 0;
	/* p's run queue, locked and its clock just updated by the wakeup */
	now = btf ? sched_now(p) : bpf_ktime_get_ns();
	/* a long block in a syscall ends: where it slept (its stack is still the sleeping one) */
	if (btf && stack_min_ns && stack_gate && st->sys_cur &&
	    ns_since(now, st->state_ts) >= stack_min_ns)
		kstack_take(p, st->nsyscalls);
	end_offcpu(st, tid, now);
	st->state = TW_ST_RUNQ;
	st->state_ts = now;
	return 0;
}

/* A new thread is runnable from its wakeup_new until its first switch in. */
static __always_inline int handle_wakeup_new(struct task_struct *p, bool btf)
{
	struct tw_thread_stats *st;
	__u32 tid, tgid;

	if (!task_wanted(p, btf, &tid, &tgid))
		return 0;
	st = thread_get(p, btf, tid, tgid, true);
	if (!st || st->ran)
		return 0;
	st->state = TW_ST_RUNQ;
	st->state_ts = btf ? sched_now(p) : bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(tp_btf_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return handle_switch(true, preempt, prev, next);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(raw_tp_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return handle_switch(false, preempt, prev, next);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(tp_btf_sched_wakeup, struct task_struct *p)
{
	return handle_wakeup(p, true);
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(raw_tp_sched_wakeup, struct task_struct *p)
{
	return handle_wakeup(p, false);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(tp_btf_sched_wakeup_new, struct task_struct *p)
{
	return handle_wakeup_new(p, true);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(raw_tp_sched_wakeup_new, struct task_struct *p)
{
	return handle_wakeup_new(p, false);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
