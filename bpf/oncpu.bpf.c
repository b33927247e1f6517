// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The on-CPU part of event-loop stalls (issue 11). A stall's blocked part
 * has its stacks from the syscall exits (stacks.bpf.h, tagged with the gap
 * they returned in); the time a loop spends computing inside a gap makes no
 * syscall to take a stack at. So user space opens a software cpu-clock perf
 * event per online CPU (user/oncpu.c, TW_ONCPU_HZ) and this program runs at
 * each of its overflows, on whatever task that CPU runs: only a traced loop
 * thread inside an open gap (its gap_ts, which the loop tracking of
 * bpf/syscalls.bpf.c keeps) is copied, with the same snapshot as a blocked
 * call (stack_send_gap()), weighted by the sampling period. Everything else
 * returns after the target filter and one lookup of its thread entry.
 *
 * The registers: bpf_task_pt_regs(current), the user registers the kernel
 * saved when the thread entered it. If the sample hit user mode, that entry
 * was the timer interrupt itself and these are the registers perf hands the
 * program (x86_64 saves a user-mode interrupt's registers at the top of the
 * task's kernel stack, where task_pt_regs() points); if it hit the kernel (a
 * syscall, a page fault), the user state where the thread entered it, which
 * is what the loop's code was doing. One source for both: one copy of the
 * snapshot code in the program.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"
#include "maps.bpf.h"
#include "stacks.bpf.h"

SEC("perf_event")
int perf_oncpu_sample(struct bpf_perf_event_data *ctx)
{
	struct task_struct *task;
	struct tw_thread_stats *st;
	struct pt_regs *regs;
	__u64 id = bpf_get_current_pid_tgid(), gap;
	__u32 tid = (__u32)id, tgid = id >> 32;

	if (!STACK_CAN || !stack_min_ns || !tid)
		return 0;
	if (targ_tid && tid != targ_tid)
		return 0;
	if (!tgid_wanted(tgid))
		return 0;
	task = bpf_get_current_task_btf();
	st = use_tstore ? thread_find(task, true, tid) : thread_find(NULL, false, tid);
	/* the cheap check: only a loop thread inside a gap goes further */
	if (!st || !(gap = st->gap_ts))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return 0;
	/* nr: the syscall in flight if the sample hit one (sys_cur - 1, else -1: none) */
	stack_send_gap(regs, true, tid, tgid, st->sys_cur - 1, TW_SK_ONCPU, 0, ctx->sample_period,
		       0, 0, 0, gap);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
