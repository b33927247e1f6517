// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Syscalls, for the threads we trace:
 *
 *  - Blocking calls: entry to exit latency per thread and call, for the
 *    read/write family (with the kind of fd), the wait family
 *    (epoll/poll/select), futex waits, sleeps and connect/accept; and for
 *    every syscall, the time it slept (the scheduler side adds each blocked
 *    interval to the syscall in flight), so any call a thread blocked in is
 *    named. Errors by errno, would-block results apart.
 *  - Event loops: a wait's return starts a gap that the next wait's entry
 *    ends; the gap is when the loop could serve no one. Gaps go into a
 *    histogram per loop thread, and one of stall_ns or more is a stall,
 *    sent through the ring buffer with its breakdown: time on CPU, blocked,
 *    waiting for a CPU (the scheduler side's counters, read at both ends),
 *    syscalls made, and the longest of them.
 *  - Which syscall each thread is in right now (sys_cur), so user space can
 *    say what a thread blocked for seconds is blocked in.
 *
 * sys_enter and sys_exit fire for every syscall of every task: the target
 * filter comes first, and a thread's entry (task storage with tp_btf) is the
 * only lookup on the common path.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"
#include "bits.bpf.h"
#include "maps.bpf.h"
#include "syscall_args.bpf.h"
#include "calls.bpf.h"
#include "stacks.bpf.h"

/*
 * A syscall argument: a direct load from the trusted pt_regs of tp_btf, a
 * helper call through the untrusted pointer of raw_tp.
 */
#define SYS_ARG1(btf, regs) ((btf) ? PT_REGS_PARM1_SYSCALL(regs) : PT_REGS_PARM1_CORE_SYSCALL(regs))
#define SYS_ARG2(btf, regs) ((btf) ? PT_REGS_PARM2_SYSCALL(regs) : PT_REGS_PARM2_CORE_SYSCALL(regs))

static __always_inline bool futex_waits(struct pt_regs *regs, bool btf)
{
	return futex_op_waits(SYS_ARG2(btf, regs));
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

/*
 * The kind of the calling thread's fd, without locks. tp_btf walks
 * current->files->fdt by direct loads from the trusted task pointer; raw_tp
 * reads every link with a helper. The file's kind is then cached per thread
 * for the last two files (a read/write loop alternates between two): a hit
 * costs one helper read, the fd table slot.
 */
static __always_inline __u32 fd_kind(struct tw_thread_stats *st, long fd, bool btf)
{
	struct file **fds, *file = NULL;
	struct fdtable *fdt;
	__u32 kind, slot;

	if (fd < 0)
		return TW_FD_OTHER;
	if (btf) {
		fdt = bpf_get_current_task_btf()->files->fdt;
		if (!fdt || (unsigned long)fd >= fdt->max_fds)
			return TW_FD_OTHER;
		fds = fdt->fd;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		fdt = BPF_CORE_READ(task, files, fdt);
		if (!fdt || (unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
			return TW_FD_OTHER;
		fds = BPF_CORE_READ(fdt, fd);
	}
	if (bpf_core_read(&file, sizeof(file), &fds[fd]) || !file)
		return TW_FD_OTHER;
	if (st->fdc_file[0] == (__u64)file)
		return st->fdc_kind[0];
	if (st->fdc_file[1] == (__u64)file)
		return st->fdc_kind[1];
	kind = file_kind(file);
	slot = st->fdc_next++ & 1;
	st->fdc_file[slot] = (__u64)file;
	st->fdc_kind[slot] = kind;
	return kind;
}

/* The thread's on-CPU time up to now: it is running, inside a syscall handler. */
static __always_inline __u64 oncpu_now(const struct tw_thread_stats *st, __u64 now)
{
	return st->oncpu_ns + (st->state == TW_ST_ONCPU ? ns_since(now, st->state_ts) : 0);
}

/* A wait returned: the loop's busy gap begins. */
static __always_inline void gap_begin(struct tw_thread_stats *st, __u64 now)
{
	st->gap_ts = now;
	st->gap_oncpu = oncpu_now(st, now);
	st->gap_blocked = st->blocked_ns;
	st->gap_runq = st->runq_ns;
	st->gap_nsys = st->nsyscalls;
	st->gap_longest_ns = 0;
	st->gap_longest_nr = 0;
}

static __always_inline void stall_emit(struct tw_thread_stats *st, __u32 tid, __u32 tgid, __u64 now,
				       __u64 gap)
{
	struct tw_stall *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(TW_DROP_STALL_EVENT);
		return;
	}
	e->type = TW_EV_STALL;
	e->tid = tid;
	e->tgid = tgid;
	e->longest_nr = st->gap_longest_nr;
	e->start_ns = st->gap_ts;
	e->duration_ns = gap;
	e->oncpu_ns = oncpu_now(st, now) - st->gap_oncpu;
	e->blocked_ns = st->blocked_ns - st->gap_blocked;
	e->runq_ns = st->runq_ns - st->gap_runq;
	e->nsyscalls = st->nsyscalls - st->gap_nsys;
	e->longest_ns = st->gap_longest_ns;
	events_submit(e);
}

static __always_inline struct tw_loop_stats *loop_get(struct tw_thread_stats *st, __u32 tid,
						      __u32 tgid)
{
	struct tw_loop_stats *ls;
	bool created;

	ls = lookup_or_init(&loop_stats, &tid, &zero_loop_stats, TW_DROP_LOOP_MAP, &created);
	if (ls && created) {
		ls->tgid = tgid;
		ls->start_ns = st->start_ns;
		/* lets user space find (and delete) this entry when the thread dies */
		st->has_loop = 1;
	}
	return ls;
}

/* A wait is entered after a gap: the gap ends, and is a stall if it was long. */
static __always_inline void gap_end(struct tw_thread_stats *st, __u32 tid, __u32 tgid, __u64 now)
{
	struct tw_loop_stats *ls;
	__u64 gap = now - st->gap_ts;

	ls = loop_get(st, tid, tgid);
	if (ls) {
		ls->iterations++;
		ls->gap_total_ns += gap;
		ls->gap_hist[hist_slot(gap)]++;
		hist_extremes(&ls->gap_max_ns, &ls->gap_min_inv, gap);
		if (gap >= stall_ns)
			ls->stalls++;
	}
	if (gap >= stall_ns)
		stall_emit(st, tid, tgid, now, gap);
	st->gap_ts = 0;
}

static __always_inline int handle_sys_enter(struct pt_regs *regs, long nr, bool btf)
{
	struct tw_thread_stats *st;
	__u32 tid, tgid, call = TW_CALL_NONE;
	__u64 now = 0;

	if (!current_wanted(&tid, &tgid))
		return 0;
	if (nr < 0 || nr >= TW_SYSCALL_NR_MAX)
		nr = -1;
	else
		call = call_of_syscall[nr];
	if (call == TW_CALL_FUTEX && !futex_waits(regs, btf))
		call = TW_CALL_NONE;
	if (btf) {
		st = thread_get(bpf_get_current_task_btf(), true, tid, tgid, true);
	} else {
		/* the task pointer (a helper call) only when the thread needs an entry made */
		st = bpf_map_lookup_elem(&thread_stats, &tid);
		if (!st)
			st = thread_get((struct task_struct *)bpf_get_current_task(), false, tid,
					tgid, true);
	}
	if (!st)
		return 0;
	/* the clock only for timed calls and for calls inside a loop's gap */
	if (call || st->gap_ts) {
		now = bpf_ktime_get_ns();
		if (TW_CALL_IS_WAIT(call) && st->gap_ts)
			gap_end(st, tid, tgid, now);
	}
	st->nsyscalls++;
	st->sys_pre = 0;
	st->sys_cur = nr + 1;
	st->sys_ts = now;
	st->sys_blocked_ns = 0;
	st->call = call;
	if (TW_CALL_HAS_FD(call))
		st->call_fd = fd_kind(st, SYS_ARG1(btf, regs), btf);
	return 0;
}

static __always_inline int handle_sys_exit(struct pt_regs *regs, long ret, bool btf)
{
	struct tw_thread_stats *st;
	__u32 tid, tgid, call, nr;
	__u64 now, delta, blocked;

	if (!current_wanted(&tid, &tgid))
		return 0;
	st = btf ? thread_find(bpf_get_current_task_btf(), true, tid)
		 : thread_find(NULL, false, tid);
	if (!st || !st->sys_cur)
		return 0;
	call = st->call;
	nr = st->sys_cur - 1;
	blocked = st->sys_blocked_ns;
	/* where it slept: one compare for a call that did not */
	if (blocked)
		stack_capture(regs, btf, tid, tgid, nr, blocked, st->nsyscalls, st->gap_ts);
	if (!st->sys_ts) {
		/* neither timed nor in a gap: accounted only if it slept, with no clock read */
		st->sys_cur = 0;
		if (blocked) {
			st->sys_blocked_ns = 0;
			call_account(st, tid, tgid, nr, TW_CALL_NONE, ret, 0, blocked,
				     !st->sys_pre);
		}
		st->sys_pre = 0;
		return 0;
	}
	now = bpf_ktime_get_ns();
	delta = now - st->sys_ts;
	if (st->gap_ts && delta > st->gap_longest_ns) {
		st->gap_longest_ns = delta;
		st->gap_longest_nr = st->sys_cur;
	}
	st->sys_cur = 0;
	st->call = TW_CALL_NONE;
	st->sys_blocked_ns = 0;
	if (call || blocked)
		call_account(st, tid, tgid, nr, call, ret, delta, blocked, !st->sys_pre);
	st->sys_pre = 0;
	if (TW_CALL_IS_WAIT(call))
		gap_begin(st, now);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter, struct pt_regs *regs, long id)
{
	return handle_sys_enter(regs, id, true);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(raw_tp_sys_enter, struct pt_regs *regs, long id)
{
	return handle_sys_enter(regs, id, false);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit, struct pt_regs *regs, long ret)
{
	return handle_sys_exit(regs, ret, true);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_tp_sys_exit, struct pt_regs *regs, long ret)
{
	return handle_sys_exit(regs, ret, false);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
