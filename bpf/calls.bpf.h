/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Accounting one call into its (thread, syscall) entry of call_stats: from
 * the syscall exit (bpf/syscalls.bpf.c), or, without the syscall programs,
 * from the end of a block the scheduler side named by the syscall the thread
 * slept in (bpf/sched.bpf.c).
 */
#ifndef __CALLS_BPF_H
#define __CALLS_BPF_H

#include "bits.bpf.h"
#include "maps.bpf.h"

/*
 * An error return, by class: would-block results apart (a non-blocking
 * socket's normal answer), the others by errno in the entry's first free
 * slot. User space names them and tells timeouts and interruptions from
 * failures (user/calls.c).
 */
static __always_inline void call_error(struct tw_call_stats *cs, long ret)
{
	__u32 e = (__u32)-ret;

	if (e == EAGAIN || e == EINPROGRESS || e == EALREADY) {
		cs->wouldblock++;
		return;
	}
	cs->errors++;
#pragma unroll
	for (int i = 0; i < TW_ERRNO_SLOTS; i++) {
		if (cs->err_nr[i] == e) {
			cs->err_count[i]++;
			return;
		}
		if (!cs->err_nr[i]) {
			cs->err_nr[i] = e;
			cs->err_count[i] = 1;
			return;
		}
	}
	cs->errors_other++;
}

/*
 * One call into its (thread, syscall) entry: wall is its entry-to-exit time
 * (timed calls only), blocked the time it slept inside (the scheduler side
 * added it up in sys_blocked_ns). whole: timed from its entry; a call entered
 * before the trace (bpf/attach.bpf.c) adds its time since the attach only.
 */
static __always_inline void call_account(struct tw_thread_stats *st, __u32 tid, __u32 tgid,
					 __u32 nr, __u32 call, long ret, __u64 wall, __u64 blocked,
					 bool whole)
{
	struct tw_call_key key = { .tid = tid, .nr = nr };
	struct tw_call_stats *cs;
	bool created;
	__u32 fd;

	cs = lookup_or_init(&call_stats, &key, &zero_call_stats, TW_DROP_CALL_MAP, &created);
	if (!cs)
		return;
	if (created) {
		cs->tgid = tgid;
		cs->start_ns = st->start_ns;
		/* lets user space find (and delete) this entry when the thread dies */
		st->calls_used[(nr >> 6) & (TW_SYSCALL_NR_MAX / 64 - 1)] |= 1ULL << (nr & 63);
	}
	cs->last_seq = st->nsyscalls;
	cs->blocked_ns += blocked;
	if (call)
		cs->total_ns += wall; /* timed calls only: an untimed one's wall is a gap's clock */
	/*
	 * a mask, not a compare: the 6.1 verifier lost the bounds of a
	 * compared index here ("unbounded memory access"; tests/vm)
	 */
	fd = st->call_fd & (TW_FD_NR - 1);
	if (TW_CALL_HAS_FD(call))
		cs->fd_ns[fd] += wall;
	if (!whole) {
		/* entered before the trace: its time since the attach, not a call we timed */
		cs->pre_calls++;
		return;
	}
	cs->count++;
	if (ret < 0)
		call_error(cs, ret);
	if (TW_CALL_HAS_FD(call))
		cs->fd_count[fd]++;
	/* untimed: its sample is the time it slept */
	if (!call)
		wall = blocked;
	cs->hist[hist_slot(wall)]++;
	hist_extremes(&cs->max_ns, &cs->min_inv, wall);
}

#endif /* __CALLS_BPF_H */
