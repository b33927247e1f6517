/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Maps, tunables and small helpers shared by every bpf/<feature>.bpf.c.
 * Exactly one file (sched.bpf.c) defines TW_DEFINE_MAPS before including
 * this header; the others see extern declarations that `bpftool gen object`
 * resolves to that one definition when it links the object.
 */
#ifndef __MAPS_BPF_H
#define __MAPS_BPF_H

#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"
#include "core_fixes.bpf.h"

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h, stable since 2.6 */
#define TASK_DEAD 0x00000080 /* include/linux/sched.h, stable since v4.14 */
#define TASK_RUNNING 0
#define CLONE_THREAD 0x00010000
#define EAGAIN 11 /* also EWOULDBLOCK */
#define EALREADY 114
#define EINPROGRESS 115
#define ENOMEM 12
#define EEXIST 17
#define E2BIG 7

/*
 * Default map sizes; user space resizes them from --max-threads and
 * --max-procs before load. Per-thread state lives in task storage
 * (thread_store) when the programs are tp_btf, in the thread_stats hash when
 * they are raw_tp (no trusted task pointers). With task storage, thread_stats
 * holds only the dead: a thread's exit copies its entry there.
 * User space deletes a dead thread's entry once it has read its totals. It
 * is preallocated (1472-byte values, two 146-bucket u32 histograms of 584
 * bytes each; ~1550 bytes an entry with the hash's own: 16384 entries take
 * 25 MB) because allocating in the scheduler hot path fails under storms.
 */
#define TW_DEF_MAX_THREADS 16384 /* 2x a busy 200-process VM's live threads */
#define TW_DEF_MAX_PROCS 4096
#define TW_MAX_CPUS 1024 /* a power of two: rq_clk_off[] is indexed by cpu & (TW_MAX_CPUS - 1) */
#define TW_MAX_CLONES 1024 /* clone calls in flight at once */
/*
 * 56-byte events: 4 MiB hold ~75k of them, a 40k-thread burst created and
 * joined faster than user space reads, with room to spare.
 */
#define TW_RINGBUF_BYTES (4 << 20)
/* wake the reader early past this much: 1/16 of the buffer, ~4.6k events */
#define TW_RINGBUF_WAKE_BYTES (TW_RINGBUF_BYTES / 16)

#ifdef TW_DEFINE_MAPS
#define TW_EXTERN
#else
#define TW_EXTERN extern
#endif

TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TW_DEF_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct tw_thread_stats);
} thread_stats SEC(".maps");

/*
 * Per-thread state for the tp_btf programs: a pointer off task_struct, no
 * hash, no key. Allocated at a thread's first event (or by the attach-time
 * iterator) and freed with the task; read by user space through the harvest
 * iterator (bpf/harvest.bpf.c), copied to thread_stats at the thread's exit.
 */
TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tw_thread_stats);
} thread_store SEC(".maps");

/*
 * 784-byte values (a 146-bucket u32 histogram, 584 bytes; 424-byte values with
 * log2 u64): 16384 entries (13.5 MB) hold ~4 calls each for 4096 threads
 */
#define TW_DEF_MAX_CALLS 16384

TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TW_DEF_MAX_CALLS);
	__type(key, struct tw_call_key);
	__type(value, struct tw_call_stats);
} call_stats SEC(".maps");

/* 640-byte values (368 with log2 u64 histograms): 4096 loops take 2.9 MB */
#define TW_DEF_MAX_LOOPS 4096

TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TW_DEF_MAX_LOOPS);
	__type(key, __u32);
	__type(value, struct tw_loop_stats);
} loop_stats SEC(".maps");

/*
 * Per-CPU: every thread of a process updates its entry, from every CPU at
 * once. Entries are few (processes), allocated on demand: 1224 bytes a CPU
 * (two u32 histograms; 696 with log2 u64).
 */
TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, TW_DEF_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct tw_proc_stats);
} proc_stats SEC(".maps");

/* the kernel stack of a thread's last long block (stacks.bpf.h), tp_btf only */
TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tw_kstack);
} kstack_store SEC(".maps");

/* creation-site sampling (stacks.bpf.h), per CPU */
TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_create_gate);
} create_gate SEC(".maps");

/* clone flags between a clone syscall's entry and its exit, keyed by tid */
TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TW_MAX_CLONES);
	__type(key, __u32);
	__type(value, __u64);
} clone_flags SEC(".maps");

TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TW_RINGBUF_BYTES);
} events SEC(".maps");

/*
 * The targets bitmap (struct tw_targ_word, threadwatch.h): one array lookup,
 * inlined by the verifier, and a bit test per filtered event. User space sizes
 * it to pid_max / 64 words (512 words for 32768 PIDs, 64 Ki words = 1 MiB for
 * the 4194304 limit) and mmaps it; 1 word when tracing system-wide.
 */
#define TW_DEF_TARG_WORDS 512

TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, TW_DEF_TARG_WORDS);
	__type(key, __u32);
	__type(value, struct tw_targ_word);
} targets SEC(".maps");

TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TW_DROP_NR);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Tunables, written by user space through skel->rodata before load. */
#ifdef TW_DEFINE_MAPS
/* false: every process (no lookup at all); true: the tgids set in `targets` */
const volatile bool targ_filter = false;
/* --children: processes forked by a target, or by a --comm match, are targets too */
const volatile bool targ_children = false;
/* --comm: new processes and execs with one of these exact comms become targets */
const volatile __u64 targ_comms[TW_MAX_COMMS][TASK_COMM_LEN / 8] = {}; /* NUL-padded */
const volatile __u32 targ_ncomms = 0;
/* --cgroup/--unit: a process moved into this cgroup (or below) becomes a target */
const volatile __u64 targ_cgrp_id = 0; /* its kernfs id (the directory's inode); 0: none */
const volatile __u32 targ_cgrp_hier = 0; /* its hierarchy (/proc/PID/cgroup's first field) */
const volatile __u32 targ_tid = 0; /* 0: every thread of the targets */
const volatile bool skip_kthreads = true;
/* the agent itself: system-wide, its own map walks and /proc reads are not the node's load */
const volatile __u32 self_tgid = 0;
/* CLOCK_MONOTONIC when user space loaded us: threads started later were born while traced */
const volatile __u64 tw_load_ns = 0;
/* zero values to create map entries from; too large for the BPF stack */
const struct tw_thread_stats zero_thread_stats = {};
const struct tw_call_stats zero_call_stats = {};
/* syscall number -> enum tw_call, written by user space (user/calls.c) */
const volatile __u8 call_of_syscall[TW_SYSCALL_NR_MAX] = {};
/* a loop gap this long is a stall (--stall-ms) */
const volatile __u64 stall_ns = 100000000;
/*
 * No syscall programs (--no-syscalls), tp_btf: each block is named at switch
 * out by the syscall the thread sleeps in, from its saved registers, and
 * accounted to that call when it ends (bpf/sched.bpf.c)
 */
const volatile bool name_blocks = false;
/* per-thread state in thread_store (tp_btf), not the thread_stats hash: for the iterators */
const volatile bool use_tstore = false;
/* run-queue waits from the kernel's sched_info at the switch in (tp_btf): no wakeup hooks */
const volatile bool runq_from_kernel = false;
/* --max-threads for task storage, which has no size of its own: entries alive at once */
const volatile __u64 max_tstore = TW_DEF_MAX_THREADS;
/* task-storage entries alive now (made, not yet buried at their exit) */
__u64 tstore_live = 0;
/*
 * Per CPU, CLOCK_MONOTONIC minus its run queue's clock (sched_now()'s
 * offset: the smallest recent sample), the run-queue clock of the last
 * sample and of the kept one. The scheduler programs time their events with
 * it; the harvest iterator turns a queued task's enqueue time into
 * CLOCK_MONOTONIC with it. The two clocks drift apart by parts per million.
 */
__u64 rq_clk_off[TW_MAX_CPUS] = {};
__u64 rq_clk_at[TW_MAX_CPUS] = {};
__u64 rq_clk_set[TW_MAX_CPUS] = {};
const struct tw_loop_stats zero_loop_stats = {};
const struct tw_proc_stats zero_proc_stats = {};
/* stacks.bpf.h: --stack-min, a call asleep this long is always taken (0: stacks off) */
const volatile __u64 stack_min_ns = 0;
/* --stack-bytes: pages copied from sp's page up (rounded up, plus sp's own page) */
const volatile __u32 stack_pages = 5;
/*
 * Stacks wanted now (stacks.bpf.h checks it first): the CLI leaves it 1; the
 * daemon sets it only while a /debug/pprof/offcpu window is open, so a node
 * nobody profiles pays one load of it per call that slept. Written by user
 * space through the mmapped .data.
 */
volatile __u32 stack_gate = 1;
#else
extern const volatile bool targ_filter;
extern const volatile bool targ_children;
extern const volatile __u64 targ_comms[TW_MAX_COMMS][TASK_COMM_LEN / 8];
extern const volatile __u32 targ_ncomms;
extern const volatile __u64 targ_cgrp_id;
extern const volatile __u32 targ_cgrp_hier;
extern const volatile __u32 targ_tid;
extern const volatile bool skip_kthreads;
extern const volatile __u32 self_tgid;
extern const volatile __u64 tw_load_ns;
extern const struct tw_thread_stats zero_thread_stats;
extern const struct tw_call_stats zero_call_stats;
extern const volatile __u8 call_of_syscall[TW_SYSCALL_NR_MAX];
extern const volatile __u64 stall_ns;
extern const volatile bool name_blocks;
extern const volatile bool use_tstore;
extern const volatile bool runq_from_kernel;
extern const volatile __u64 max_tstore;
extern __u64 tstore_live;
extern __u64 rq_clk_off[TW_MAX_CPUS];
extern __u64 rq_clk_at[TW_MAX_CPUS];
extern __u64 rq_clk_set[TW_MAX_CPUS];
extern const struct tw_loop_stats zero_loop_stats;
extern const struct tw_proc_stats zero_proc_stats;
extern const volatile __u64 stack_min_ns;
extern const volatile __u32 stack_pages;
extern volatile __u32 stack_gate;
#endif

static __always_inline void count_drop(__u32 what)
{
	__u64 *cnt = bpf_map_lookup_elem(&drops, &what);

	if (cnt)
		(*cnt)++; /* per-CPU slot: no atomics needed */
}

/*
 * Hand a reserved record to user space. Waking the reader costs an irq_work
 * per event (6 us on a VM during a thread storm); it polls every 100 ms
 * anyway, so wake it only when the buffer is filling up.
 */
static __always_inline void events_submit(void *e)
{
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= TW_RINGBUF_WAKE_BYTES
				      ? BPF_RB_FORCE_WAKEUP
				      : BPF_RB_NO_WAKEUP);
}

/* The bitmap word of tgid, or NULL past its end. */
static __always_inline struct tw_targ_word *targ_word(__u32 tgid)
{
	__u32 k = tgid / 64;

	return bpf_map_lookup_elem(&targets, &k);
}

/*
 * System-wide: no lookup, one compare. Filtered: one inlined array lookup
 * and a bit test, however many targets there are.
 */
static __always_inline bool tgid_wanted(__u32 tgid)
{
	struct tw_targ_word *w;

	if (!targ_filter)
		return tgid != self_tgid;
	w = targ_word(tgid);
	return w && (w->want >> (tgid % 64)) & 1;
}

/*
 * The filter every handler runs first. Fills *tid and *tgid for the caller.
 * The idle tasks (pid 0) are never traced, kernel threads only on request.
 */
static __always_inline bool task_wanted(struct task_struct *t, bool btf, __u32 *tid, __u32 *tgid)
{
	*tid = TASK_READ(btf, t, pid);
	if (!*tid)
		return false;
	if (targ_tid && *tid != targ_tid)
		return false;
	*tgid = TASK_READ(btf, t, tgid);
	if (!tgid_wanted(*tgid))
		return false;
	if (skip_kthreads && !targ_filter && (TASK_READ(btf, t, flags) & PF_KTHREAD))
		return false;
	return true;
}

/*
 * The entry of key in a hash map, created from zero if absent. NULL, counted
 * (drop_full when the map is full, TW_DROP_ALLOC otherwise), if it cannot be.
 * *created tells the caller to fill the new entry's identity fields.
 */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *zero,
					    __u32 drop_full, bool *created)
{
	void *v = bpf_map_lookup_elem(map, key);
	long err;

	*created = false;
	if (v)
		return v;
	err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		count_drop(err == -E2BIG ? drop_full : TW_DROP_ALLOC);
		return NULL;
	}
	*created = !err;
	return bpf_map_lookup_elem(map, key);
}

/*
 * The kernel's own account of t's waits for a CPU (CONFIG_SCHED_INFO: the
 * second field of /proc/PID/schedstat), ns, including the wait in progress:
 * sched_info.run_delay plus, while t is queued (last_queued set at its
 * enqueue), the time since then in its run queue's clock. At t's switch in
 * that clock is the one __schedule() just updated and sched_info_arrive()
 * reads right after the tracepoint, so the sum is exactly what run_delay is
 * about to become. tp_btf only (direct loads from the trusted pointer).
 */
static __always_inline __u64 run_delay_now(struct task_struct *t)
{
	__u64 rd, lq, clk;

	/* user space turns this on only where the fields exist (user/loader.c) */
	if (!bpf_core_field_exists(t->sched_info.last_queued) ||
	    !bpf_core_field_exists(t->se.cfs_rq))
		return 0;
	rd = t->sched_info.run_delay;
	lq = t->sched_info.last_queued;
	if (!lq)
		return rd;
	clk = t->se.cfs_rq->rq->clock;
	return clk > lq ? rd + clk - lq : rd;
}

/* sample a CPU's run-queue clock offset this often (its clock's ns) */
#define TW_CLK_CAL_NS (10 * 1000 * 1000ULL)
/* and keep the smallest sample for at most this long (ppm of drift: < 10 us) */
#define TW_CLK_RESET_NS (100 * 1000 * 1000ULL)

/*
 * CLOCK_MONOTONIC at a scheduler event on t's run queue, without reading a
 * clock on most events: __schedule() and the wakeup paths update the run
 * queue's clock (sched_clock, one clock across CPUs where the kernel marks
 * it stable) under its lock just before the tracepoints fire, so that clock
 * plus the CPU's offset to CLOCK_MONOTONIC is the event's time. The offset
 * is taken again (one clock read) when it is TW_CLK_CAL_NS old. A clock read
 * costs ~40 ns a call on this VM, more than the rest of a switch's work
 * (docs/performance.md). The error: the run queue's clock is read a little
 * after its update (a wakeup preempting the running task can leave it one
 * update behind), so a time is up to a few us early, and the offset shares
 * the error of its calibration, so a time can be that much late too; the
 * programs that subtract a CLOCK_MONOTONIC time from one of these clamp at
 * zero. tp_btf only: t is a trusted pointer.
 */
static __always_inline __u64 sched_now(struct task_struct *t)
{
	struct rq *rq;
	__u64 clk, now, off;
	__u32 cpu;

	if (!bpf_core_field_exists(t->se.cfs_rq) || !bpf_core_field_exists(struct rq, cpu))
		return bpf_ktime_get_ns();
	rq = t->se.cfs_rq->rq;
	if (!rq)
		return bpf_ktime_get_ns();
	clk = rq->clock;
	cpu = rq->cpu & (TW_MAX_CPUS - 1);
	if (rq_clk_at[cpu] && clk - rq_clk_at[cpu] < TW_CLK_CAL_NS)
		return clk + rq_clk_off[cpu];
	now = bpf_ktime_get_ns();
	/*
	 * Either clock may be ahead: the offset wraps, the sum does not. Each
	 * sample is the true offset plus the clock's age (pick_next_task()'s
	 * idle balancing can run tens of us between the update and a switch),
	 * so the smallest recent sample is kept; a sample once TW_CLK_RESET_NS
	 * old is replaced whatever it is, which follows the drift.
	 */
	off = now - clk;
	if ((__s64)(off - rq_clk_off[cpu]) < 0 || clk - rq_clk_set[cpu] >= TW_CLK_RESET_NS ||
	    !rq_clk_at[cpu]) {
		rq_clk_off[cpu] = off;
		rq_clk_set[cpu] = clk;
	}
	rq_clk_at[cpu] = clk;
	return now;
}

/* b - a, or 0 when the two clocks (sched_now()'s, CLOCK_MONOTONIC) cross */
static __always_inline __u64 ns_since(__u64 b, __u64 a)
{
	return b > a ? b - a : 0;
}

/*
 * A thread buried at its exit (thread_bury()): the rest of its life, the exit
 * path's last slices and its final switch out, goes to its copy in the hash
 * while user space has not taken that yet (then, as with raw_tp, it is not
 * counted). The start time tells its copy from a new thread's that took the
 * tid once the kernel released it, before this task's final switch.
 */
static __always_inline struct tw_thread_stats *thread_after_bury(struct tw_thread_stats *st,
								 __u32 tid)
{
	struct tw_thread_stats *copy;

	if (!st || !st->exited)
		return st;
	copy = bpf_map_lookup_elem(&thread_stats, &tid);
	return copy && copy->start_ns == st->start_ns ? copy : NULL;
}

/*
 * A thread's entry if it has one: task storage (btf), the hash (raw_tp). A
 * wanted thread without one is rare (only between the attach and the
 * iterator that seeds it); task storage also answers NULL when another
 * program on this CPU is inside a task-storage call (a wakeup from an
 * interrupt). Like a missing hash entry, that event is then not seen: a
 * blocked interval runs on to the switch in.
 */
static __always_inline struct tw_thread_stats *thread_find(struct task_struct *t, bool btf,
							   __u32 tid)
{
	if (btf)
		return thread_after_bury(bpf_task_storage_get(&thread_store, t, NULL, 0), tid);
	return bpf_map_lookup_elem(&thread_stats, &tid);
}

/*
 * A thread's entry, created unless may_create is false (a dying thread must
 * not come back after user space deleted its entry).
 */
static __always_inline struct tw_thread_stats *thread_get(struct task_struct *t, bool btf,
							  __u32 tid, __u32 tgid, bool may_create)
{
	struct tw_thread_stats *st;
	bool created;

	if (btf) {
		st = bpf_task_storage_get(&thread_store, t, NULL, 0);
		if (st || !may_create)
			return thread_after_bury(st, tid);
		/* bounded like the hash it replaces: --max-threads entries at once */
		if (__sync_fetch_and_add(&tstore_live, 1) >= max_tstore) {
			__sync_fetch_and_sub(&tstore_live, 1);
			count_drop(TW_DROP_THREAD_MAP);
			return NULL;
		}
		st = bpf_task_storage_get(&thread_store, t, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!st) {
			__sync_fetch_and_sub(&tstore_live, 1);
			count_drop(TW_DROP_ALLOC);
			return NULL;
		}
		/* zeroed by the kernel, unless the attach-time iterator made it meanwhile */
		if (st->tgid) {
			__sync_fetch_and_sub(&tstore_live, 1);
			return st;
		}
		st->tgid = tgid;
		st->start_ns = t->start_time;
		if (runq_from_kernel)
			st->rd_base = run_delay_now(t);
		return st;
	}
	if (!may_create)
		return bpf_map_lookup_elem(&thread_stats, &tid);
	st = lookup_or_init(&thread_stats, &tid, &zero_thread_stats, TW_DROP_THREAD_MAP, &created);
	if (st && created) {
		st->tgid = tgid;
		st->start_ns = TASK_READ(btf, t, start_time);
	}
	return st;
}

/*
 * A thread's exit (task storage only): its entry is copied to the
 * thread_stats hash, where user space reads it once, after the harvest delay
 * or at the end of the run, and deletes it (user space cannot look task
 * storage up by tid). It happens before the exit event is sent, so user
 * space never looks for the copy before it exists; at the final switch out
 * it would be too late, since a joined thread's process can exit, and the
 * run end, before its threads' last switches. The storage itself stays until
 * the kernel frees the task (deleting it would cost a lock pair and an RCU
 * callback), marked so the harvest iterator skips it and thread_after_bury()
 * sends later events to the copy. An unread entry of an earlier thread with
 * the same tid (pid_max wrapped within the harvest delay) is overwritten, and
 * counted.
 */
static __always_inline void thread_bury(struct tw_thread_stats *st, __u32 tid)
{
	struct tw_thread_stats *old = bpf_map_lookup_elem(&thread_stats, &tid);
	long err;

	if (old && old->start_ns != st->start_ns)
		count_drop(TW_DROP_TID_REUSED);
	err = bpf_map_update_elem(&thread_stats, &tid, st, BPF_ANY);
	if (err)
		count_drop(err == -E2BIG ? TW_DROP_THREAD_MAP : TW_DROP_ALLOC);
	st->exited = 1;
	__sync_fetch_and_sub(&tstore_live, 1);
}

static __always_inline struct tw_proc_stats *proc_stats_get(__u32 tgid)
{
	bool created;

	return lookup_or_init(&proc_stats, &tgid, &zero_proc_stats, TW_DROP_PROC_MAP, &created);
}

#endif /* __MAPS_BPF_H */
