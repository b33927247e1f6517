// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Blocking syscalls: entry to exit latency, per thread and call, for the
 * read/write family, the wait family (epoll/poll/select), futex waits,
 * sleeps and connect/accept. sys_enter and sys_exit fire for every syscall
 * of every task, so the first test is the call table (a constant array) and
 * the second the target filter.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"
#include "bits.bpf.h"
#include "maps.bpf.h"

#define FUTEX_CMD_MASK 0x7f /* ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME) */
#define FUTEX_WAIT 0
#define FUTEX_LOCK_PI 6
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_LOCK_PI2 13

static __always_inline bool futex_waits(struct pt_regs *regs)
{
	long op = PT_REGS_PARM2_CORE_SYSCALL(regs) & FUTEX_CMD_MASK;

	return op == FUTEX_WAIT || op == FUTEX_WAIT_BITSET || op == FUTEX_LOCK_PI ||
	       op == FUTEX_LOCK_PI2 || op == FUTEX_WAIT_REQUEUE_PI;
}

/* The calling thread, if it is one we trace. */
static __always_inline bool current_wanted(__u32 *tid, __u32 *tgid)
{
	__u64 id = bpf_get_current_pid_tgid();

	*tid = (__u32)id;
	*tgid = id >> 32;
	if (targ_tid && *tid != targ_tid)
		return false;
	return tgid_wanted(*tgid);
}

static __always_inline int handle_sys_enter(struct pt_regs *regs, long nr)
{
	struct tw_thread_stats *st;
	__u32 tid, tgid, call;

	if (nr < 0 || nr >= TW_SYSCALL_NR_MAX)
		return 0;
	call = call_of_syscall[nr];
	if (!call || !current_wanted(&tid, &tgid))
		return 0;
	if (call == TW_CALL_FUTEX && !futex_waits(regs))
		return 0;
	st = thread_get((struct task_struct *)bpf_get_current_task(), false, tid, tgid, true);
	if (!st)
		return 0;
	st->call = call;
	st->call_ts = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int handle_sys_exit(long ret)
{
	struct tw_thread_stats *st;
	struct tw_call_stats *cs;
	struct tw_call_key key;
	__u32 tid, tgid;
	__u64 delta;
	long err;

	if (!current_wanted(&tid, &tgid))
		return 0;
	st = bpf_map_lookup_elem(&thread_stats, &tid);
	if (!st || !st->call)
		return 0;
	delta = bpf_ktime_get_ns() - st->call_ts;
	key.tid = tid;
	key.call = st->call;
	st->call = TW_CALL_NONE;
	cs = bpf_map_lookup_elem(&call_stats, &key);
	if (!cs) {
		err = bpf_map_update_elem(&call_stats, &key, &zero_call_stats, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			count_drop(err == -E2BIG ? TW_DROP_CALL_MAP : TW_DROP_ALLOC);
			return 0;
		}
		cs = bpf_map_lookup_elem(&call_stats, &key);
		if (!cs)
			return 0;
		cs->tgid = tgid;
		cs->start_ns = st->start_ns;
		/* lets user space find (and delete) this entry when the thread dies */
		st->calls_used |= 1U << key.call;
	}
	cs->count++;
	if (ret < 0)
		cs->errors++;
	cs->total_ns += delta;
	cs->hist[hist_slot(delta)]++;
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter, struct pt_regs *regs, long id)
{
	return handle_sys_enter(regs, id);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(raw_tp_sys_enter, struct pt_regs *regs, long id)
{
	return handle_sys_enter(regs, id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit, struct pt_regs *regs, long ret)
{
	return handle_sys_exit(ret);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_tp_sys_exit, struct pt_regs *regs, long ret)
{
	return handle_sys_exit(ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
