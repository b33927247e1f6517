// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Scheduler side: on-CPU time and the two kinds of off-CPU time per thread.
 *
 *   switch out, voluntary (prev slept)   -> BLOCKED since now
 *   switch out, preempted or yielded     -> RUNQ since now
 *   wakeup of a BLOCKED thread           -> blocked interval ends, RUNQ since now
 *   switch in                            -> RUNQ (or unseen BLOCKED) interval ends, ONCPU
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
#include "core_fixes.bpf.h"
#include "maps.bpf.h"

static __always_inline void tstate_set(__u32 tid, struct tw_tstate *ts, __u32 kind, __u64 now)
{
	struct tw_tstate fresh = { .ts = now, .kind = kind };

	if (ts) {
		ts->ts = now;
		ts->kind = kind;
		return;
	}
	if (bpf_map_update_elem(&tstates, &tid, &fresh, BPF_ANY))
		count_drop(TW_DROP_STATE_MAP);
}

static __always_inline void switch_out(struct task_struct *prev, bool preempt, __u64 now)
{
	struct tw_thread_stats *st;
	struct tw_tstate *ts;
	__u32 tid, tgid;
	__s64 state;
	bool dying;

	if (!task_wanted(prev, &tid, &tgid))
		return;
	state = get_task_state(prev);
	dying = state & TASK_DEAD;
	ts = bpf_map_lookup_elem(&tstates, &tid);
	st = thread_stats_get(tid, tgid, !dying);
	if (st) {
		if (ts && ts->kind == TW_ST_ONCPU)
			st->oncpu_ns += now - ts->ts;
		/* the kernel's own rule for nvcsw/nivcsw in __schedule() */
		if (!preempt && state != TASK_RUNNING)
			st->vol_switches++;
		else
			st->invol_switches++;
	}
	if (dying) {
		bpf_map_delete_elem(&tstates, &tid);
		return;
	}
	tstate_set(tid, ts, (!preempt && state != TASK_RUNNING) ? TW_ST_BLOCKED : TW_ST_RUNQ, now);
}

static __always_inline void switch_in(struct task_struct *next, __u64 now)
{
	struct tw_thread_stats *st;
	struct tw_proc_stats *ps;
	struct tw_tstate *ts;
	__u32 tid, tgid;
	__u64 delta;

	if (!task_wanted(next, &tid, &tgid))
		return;
	ts = bpf_map_lookup_elem(&tstates, &tid);
	if (!ts) {
		/* first sight of a thread that existed before we attached */
		thread_stats_get(tid, tgid, true);
		tstate_set(tid, NULL, TW_ST_ONCPU, now);
		return;
	}
	st = thread_stats_get(tid, tgid, true);
	delta = now - ts->ts;
	if (st && ts->kind == TW_ST_RUNQ) {
		st->runq_ns += delta;
		st->runq_hist[hist_slot(delta)]++;
	} else if (st && ts->kind == TW_ST_BLOCKED) {
		/* woken without a wakeup we saw: count it all as blocked */
		st->blocked_ns += delta;
		st->blocked_hist[hist_slot(delta)]++;
	}
	if (ts->first_run) {
		ts->first_run = 0;
		ps = proc_stats_get(tgid);
		if (ps)
			ps->first_run_hist[hist_slot(now - BPF_CORE_READ(next, start_time))]++;
	}
	ts->ts = now;
	ts->kind = TW_ST_ONCPU;
}

static __always_inline int handle_switch(bool preempt, struct task_struct *prev,
					 struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();

	switch_out(prev, preempt, now);
	switch_in(next, now);
	return 0;
}

static __always_inline int handle_wakeup(struct task_struct *p)
{
	struct tw_thread_stats *st;
	struct tw_tstate *ts;
	__u32 tid, tgid;
	__u64 now, delta;

	if (!task_wanted(p, &tid, &tgid))
		return 0;
	ts = bpf_map_lookup_elem(&tstates, &tid);
	if (!ts || ts->kind != TW_ST_BLOCKED)
		return 0;
	now = bpf_ktime_get_ns();
	delta = now - ts->ts;
	st = thread_stats_get(tid, tgid, true);
	if (st) {
		st->blocked_ns += delta;
		st->blocked_hist[hist_slot(delta)]++;
	}
	ts->ts = now;
	ts->kind = TW_ST_RUNQ;
	return 0;
}

/* A new thread is runnable from its wakeup_new until its first switch in. */
static __always_inline int handle_wakeup_new(struct task_struct *p)
{
	struct tw_tstate *ts;
	__u32 tid, tgid;

	if (!task_wanted(p, &tid, &tgid))
		return 0;
	ts = bpf_map_lookup_elem(&tstates, &tid);
	tstate_set(tid, ts, TW_ST_RUNQ, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(tp_btf_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return handle_switch(preempt, prev, next);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(raw_tp_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return handle_switch(preempt, prev, next);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(tp_btf_sched_wakeup, struct task_struct *p)
{
	return handle_wakeup(p);
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(raw_tp_sched_wakeup, struct task_struct *p)
{
	return handle_wakeup(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(tp_btf_sched_wakeup_new, struct task_struct *p)
{
	return handle_wakeup_new(p);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(raw_tp_sched_wakeup_new, struct task_struct *p)
{
	return handle_wakeup_new(p);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
