/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The contract between the BPF programs and user space: plain structs, slot
 * counts and enums only. Both sides include this file; change it in one place.
 */
#ifndef __THREADWATCH_H
#define __THREADWATCH_H

#define TASK_COMM_LEN 16

/*
 * Histograms of nanoseconds in the bucket schema of Prometheus native
 * histograms, schema 2: four buckets per power of two, bucket bounds 2^(k/4)
 * ns, each bucket (2^((k-1)/4), 2^(k/4)] (upper bound included, as
 * Prometheus has it). The bounds nest into powers of two, so log2 and
 * classic `le` buckets are exact sums of these. Slot 0 is the zero bucket
 * [0, 2^TW_HIST_LO_SHIFT]; slot s in 1..TW_HIST_SLOTS-2 is Prometheus bucket
 * index s + 4 * TW_HIST_LO_SHIFT; the last slot counts everything above
 * 2^TW_HIST_HI_SHIFT ns (73 minutes). Counts are __u32 in the kernel, to
 * keep the per-thread entry within twice its log2 size; user space folds
 * them into 64-bit counts (user/hist.c: hist_fold_u32()).
 */
#define TW_HIST_SCHEMA 2
#define TW_HIST_PER_POW2 4 /* 2^TW_HIST_SCHEMA */
#define TW_HIST_LO_SHIFT 6 /* zero bucket: [0, 64] ns */
#define TW_HIST_HI_SHIFT 42 /* overflow bucket: above 2^42 ns */
#define TW_HIST_SLOTS (TW_HIST_PER_POW2 * (TW_HIST_HI_SHIFT - TW_HIST_LO_SHIFT) + 2)
/*
 * floor(2^(63 + j/4)) + 1 for j = 1, 2, 3: a value normalised to bit 63, m,
 * is above 2^(e + j/4) exactly when m >= TW_HIST_Cj (the bounds are
 * irrational, so no integer equals one). Computed with integer roots:
 * isqrt(isqrt(2^253)) + 1, isqrt(2^127) + 1, isqrt(isqrt(2^255)) + 1.
 */
#define TW_HIST_C1 0x9837f0518db8a970ULL
#define TW_HIST_C2 0xb504f333f9de6485ULL
#define TW_HIST_C3 0xd744fccad69d6af5ULL

/*
 * Targets (-p, --children, --comm, --cgroup, --unit): a bitmap over tgids in
 * the `targets` array map, one struct tw_targ_word per 64 tgids, so the
 * filter in every handler is one inlined array lookup and a bit test. `want`:
 * the tgid is traced; `follow`: the processes it forks are traced too (and
 * inherit both bits). User space writes it through mmap with atomic ops,
 * the kernel with atomic ops at fork, exec and cgroup moves.
 */
struct tw_targ_word {
	__u64 want;
	__u64 follow;
};

/* --comm takes at most this many names; they are compared at fork and exec only. */
#define TW_MAX_COMMS 16

/* Where a thread is, kept per thread between scheduler events. */
enum tw_tstate_kind {
	TW_ST_ONCPU = 1, /* switched in at ts */
	TW_ST_RUNQ = 2, /* runnable (woken, preempted or new) since ts */
	TW_ST_BLOCKED = 3, /* went to sleep voluntarily at ts */
};

/* Things that could not be recorded, counted per CPU and reported. */
enum tw_drop {
	TW_DROP_RINGBUF = 0, /* lifecycle event lost: ring buffer full */
	TW_DROP_THREAD_MAP, /* thread map full (--max-threads): a thread went unmeasured */
	TW_DROP_PROC_MAP, /* process stats map full */
	TW_DROP_CLONE_MAP, /* in-flight clone map full: a failure may be unclassified */
	TW_DROP_ALLOC, /* a map entry could not be allocated (burst outran the allocator) */
	TW_DROP_TID_REUSED, /* a dead thread's unread entry was taken by a new one (tid reuse) */
	TW_DROP_SWITCH_IN, /* a thread left a CPU we had not seen it take: that run is lost */
	TW_DROP_FIRST_RUN, /* the same, for the first run of a thread born while traced */
	TW_DROP_CALL_MAP, /* per-call map full (--max-calls): a call went untimed */
	TW_DROP_LOOP_MAP, /* loop map full (--max-loops): a loop's gaps went uncounted */
	TW_DROP_STALL_EVENT, /* stall event lost: ring buffer full (the loop still counts it) */
	TW_DROP_TARGET, /* a new process to target had a tgid past the bitmap (pid_max raised) */
	TW_DROP_STACK_EVENT, /* a stack capture lost: ring buffer full (its time stays counted) */
	TW_DROP_NR,
};

/*
 * Blocking calls timed per thread. User space maps this architecture's
 * syscall numbers to these (user/calls.c), so BPF holds no syscall numbers.
 */
enum tw_call {
	TW_CALL_NONE = 0,
	TW_CALL_READ,
	TW_CALL_WRITE,
	TW_CALL_READV,
	TW_CALL_WRITEV,
	TW_CALL_PREAD64,
	TW_CALL_PWRITE64,
	TW_CALL_RECVFROM,
	TW_CALL_SENDTO,
	TW_CALL_RECVMSG,
	TW_CALL_SENDMSG,
	TW_CALL_EPOLL_WAIT,
	TW_CALL_EPOLL_PWAIT,
	TW_CALL_EPOLL_PWAIT2,
	TW_CALL_POLL,
	TW_CALL_PPOLL,
	TW_CALL_SELECT,
	TW_CALL_PSELECT6,
	TW_CALL_FUTEX, /* waits only: FUTEX_WAIT*, FUTEX_LOCK_PI* */
	TW_CALL_NANOSLEEP,
	TW_CALL_CLOCK_NANOSLEEP,
	TW_CALL_CONNECT,
	TW_CALL_ACCEPT,
	TW_CALL_ACCEPT4,
	TW_CALL_FSYNC, /* I/O waits by nature, and their latency is a database's own metric */
	TW_CALL_FDATASYNC,
	TW_CALL_NR,
};

/* The wait family: a thread that keeps returning to one of these is an event loop. */
#define TW_CALL_IS_WAIT(c) ((c) >= TW_CALL_EPOLL_WAIT && (c) <= TW_CALL_PSELECT6)
/* The read/write family: their first argument is an fd, whose kind is recorded. */
#define TW_CALL_HAS_FD(c) ((c) >= TW_CALL_READ && (c) <= TW_CALL_SENDMSG)

/* What a read/write-family call's fd was, from its inode's mode. */
enum tw_fd_kind {
	TW_FD_OTHER = 0, /* tty, eventfd, char device, ... or not found */
	TW_FD_SOCKET,
	TW_FD_PIPE, /* pipes and FIFOs */
	TW_FD_FILE, /* regular files */
	TW_FD_NR, /* a power of two: BPF indexes by kind & (TW_FD_NR - 1) */
};

/* Syscall numbers the call table covers (x86_64 and arm64 top out below 470). */
#define TW_SYSCALL_NR_MAX 512

struct tw_call_key {
	__u32 tid;
	__u32 nr; /* the syscall number: every syscall a thread blocked in has an entry */
};

/* Error returns a call entry keeps apart by errno; the rest are counted in errors_other. */
#define TW_ERRNO_SLOTS 4

/*
 * Per thread and syscall (BPF_MAP_TYPE_HASH keyed by struct tw_call_key,
 * preallocated). A timed call (enum tw_call) is accounted at every exit, any
 * other syscall at an exit after it slept (blocked_ns > 0).
 */
struct tw_call_stats {
	__u32 tgid;
	__u32 __pad;
	__u64 start_ns; /* the thread's start_time, as in struct tw_thread_stats */
	__u64 count; /* calls accounted: every change to the entry counts one */
	__u64 errors; /* returned < 0, other than would-block (by errno in err_nr) */
	__u64 total_ns; /* timed calls: entry to exit */
	__u64 fd_count[TW_FD_NR]; /* read/write family: calls by fd kind */
	__u64 fd_ns[TW_FD_NR]; /* and their time */
	__u64 max_ns; /* the longest sample (below), exact */
	__u64 min_inv; /* ~ the shortest: a zeroed entry holds "none yet", one compare keeps it */
	__u32 hist[TW_HIST_SLOTS]; /* timed calls: entry to exit; others: time asleep */
	__u64 blocked_ns; /* asleep inside the call: the scheduler's blocked intervals */
	__u64 wouldblock; /* returned -EAGAIN, -EINPROGRESS or -EALREADY (not in errors) */
	__u64 last_seq; /* the thread's nsyscalls at the last call accounted: its entry */
	__u64 err_count[TW_ERRNO_SLOTS]; /* errors by errno: */
	__u32 err_nr[TW_ERRNO_SLOTS]; /* the errno of each slot (positive); 0: free */
	__u64 errors_other; /* errors past the slots */
	/*
	 * calls entered before the trace (bpf/attach.bpf.c) that returned: their
	 * time since the attach is in total_ns, blocked_ns and fd_ns, but they are
	 * not in count, the errors, hist or fd_count, which hold whole calls only
	 */
	__u64 pre_calls;
};

/*
 * Per event-loop thread (BPF_MAP_TYPE_HASH keyed by tid, preallocated),
 * created when a thread enters a wait call for the second time: the gaps
 * between a wait's return and the next wait's entry, when the loop could
 * serve no one.
 */
struct tw_loop_stats {
	__u32 tgid;
	__u32 __pad;
	__u64 start_ns; /* the thread's start_time, as in struct tw_thread_stats */
	__u64 iterations; /* gaps completed */
	__u64 stalls; /* gaps of stall_ns or more, exact even when their events are lost */
	__u64 gap_total_ns;
	__u64 gap_max_ns;
	__u64 gap_min_inv; /* ~ the shortest gap (see min_inv in struct tw_call_stats) */
	__u32 gap_hist[TW_HIST_SLOTS];
};

/* Thread-creation failures, by the errno the clone family returned. */
enum tw_fail {
	TW_FAIL_EAGAIN = 0, /* pids.max, RLIMIT_NPROC, threads-max: thread exhaustion */
	TW_FAIL_ENOMEM,
	TW_FAIL_OTHER,
	TW_FAIL_NR,
};

/*
 * Per thread (task storage with tp_btf, else BPF_MAP_TYPE_HASH keyed by tid,
 * preallocated; maps.bpf.h). One entry holds
 * the thread's scheduler state and its counters, so each event costs one
 * lookup. Not per-CPU: a thread runs on one CPU at a time, so its entry has a
 * single writer almost always, and per-CPU copies would multiply the memory of
 * every tracked thread by the CPU count. Counters are added atomically for the
 * rare wakeup racing a switch on another CPU.
 */
struct tw_thread_stats {
	__u64 state_ts; /* CLOCK_MONOTONIC ns when the current state began */
	__u32 state; /* enum tw_tstate_kind; 0 until the first scheduler event */
	__u32 ran; /* switched in at least once since we saw it */
	__u32 tgid;
	__u32 call; /* enum tw_call in flight, TW_CALL_NONE outside one */
	__u32 exited; /* task storage: its exit copied it to thread_stats (dying or dead) */
	__u32 call_fd; /* enum tw_fd_kind of the call in flight */
	__u32 sys_cur; /* syscall number + 1 of the syscall in flight, 0 outside one */
	__u32 has_loop; /* the thread has an entry in loop_stats */
	__u64 sys_ts; /* CLOCK_MONOTONIC ns of that syscall's entry (timed calls and gaps only) */
	__u64 sys_blocked_ns; /* asleep so far inside the syscall in flight */
	__u64 nsyscalls; /* syscalls entered (with syscall tracing on) */
	/* bit nr for each syscall with an entry in call_stats: the harvest takes them */
	__u64 calls_used[TW_SYSCALL_NR_MAX / 64];
	/* the loop gap in progress: since a wait returned, until the next wait's entry */
	__u64 gap_ts; /* when the wait returned; 0 outside a gap */
	__u64 gap_oncpu; /* oncpu_ns, blocked_ns, runq_ns, nsyscalls at gap_ts */
	__u64 gap_blocked;
	__u64 gap_runq;
	__u64 gap_nsys;
	__u64 gap_longest_ns; /* the longest syscall completed in the gap */
	__u32 gap_longest_nr; /* its number + 1; 0: none yet */
	__u32 fdc_next; /* the fd-kind cache slot to replace next */
	/* the kinds of the last two files read or written (struct file address, kind) */
	__u64 fdc_file[2];
	__u32 fdc_kind[2];
	__u64 start_ns; /* the task's start_time: tells a reused tid from its last owner */
	__u64 oncpu_ns;
	__u64 blocked_ns;
	__u64 blocked_nosys_ns; /* of blocked_ns, asleep outside any syscall (page faults...) */
	__u64 runq_ns;
	__u64 vol_switches;
	__u64 invol_switches;
	__u64 threads_created; /* threads this thread created */
	/*
	 * The state at attach, from the task iterator (bpf/attach.bpf.c): att_ts
	 * is the state_ts it wrote, so while state_ts == att_ts the thread is
	 * still where it was when the trace began; pre_ts, for a thread blocked
	 * then, is when the kernel says it last ran (CLOCK_MONOTONIC, never
	 * earlier than the truth), 0 if unknown. 0 for threads first seen by an
	 * event.
	 */
	__u64 att_ts;
	__u64 pre_ts;
	__u32 sys_pre; /* the syscall in flight began before the trace: it adds only its time */
	__u32 __pad_att;
	/* the task's run_delay_now() (maps.bpf.h) at its last switch in: waits since add to runq */
	__u64 rd_base;
	/* exact extremes of the samples in the histograms (min as ~min, see struct tw_call_stats) */
	__u64 blocked_max_ns;
	__u64 blocked_min_inv;
	__u64 runq_max_ns;
	__u64 runq_min_inv;
	__u32 blocked_hist[TW_HIST_SLOTS];
	__u32 runq_hist[TW_HIST_SLOTS];
};

/*
 * The harvest iterator's output (bpf/harvest.bpf.c): this header, then
 * `size` bytes of struct tw_thread_stats, for every thread with task storage.
 */
struct tw_harvest_rec {
	__u32 tid;
	__u32 size; /* sizeof(struct tw_thread_stats): user space checks it */
};

/* Per process, per CPU (BPF_MAP_TYPE_PERCPU_HASH keyed by tgid). */
struct tw_proc_stats {
	__u64 threads_created; /* clone(CLONE_THREAD) successes */
	__u64 threads_exited; /* exits of threads other than the group leader */
	__u64 procs_forked; /* new processes (clone without CLONE_THREAD) */
	__u64 thread_fail[TW_FAIL_NR]; /* failed thread creations by errno */
	__u64 fork_fail; /* failed process creations */
	__u32 first_run_hist[TW_HIST_SLOTS]; /* thread creation -> first time on CPU */
	__u32 lifetime_hist[TW_HIST_SLOTS]; /* thread creation -> exit */
};

enum tw_event_type {
	TW_EV_THREAD_NEW = 1, /* a thread joined a traced process */
	TW_EV_PROC_NEW = 2, /* a new process (its first thread) was created */
	TW_EV_THREAD_EXIT = 3, /* a traced thread exited */
	TW_EV_STALL = 4, /* an event loop's gap of stall_ns or more ended (struct tw_stall) */
	/*
	 * a running process became a target (it exec'd into a --comm name or
	 * moved into the --cgroup): user space seeds its threads from /proc
	 */
	TW_EV_PROC_JOIN = 5,
	TW_EV_STACK = 6, /* a user stack snapshot of a blocked syscall (struct tw_stack_ev) */
};

/* Lifecycle events (56 bytes), through the ring buffer, in the order the kernel saw them. */
struct tw_event {
	__u32 type;
	__u32 tid;
	__u32 tgid;
	__u32 ptid; /* creating thread for NEW events */
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u64 start_ns; /* the task's start_time, as in struct tw_thread_stats */
	char comm[TASK_COMM_LEN];
};

/*
 * A stall, through the same ring buffer: a loop gap of stall_ns or more,
 * with its breakdown measured in the kernel. oncpu + blocked + runq = duration.
 */
struct tw_stall {
	__u32 type; /* TW_EV_STALL: first, like struct tw_event */
	__u32 tid;
	__u32 tgid;
	__u32 longest_nr; /* syscall number + 1 of the longest call in the gap; 0: none */
	__u64 start_ns; /* CLOCK_MONOTONIC when the wait returned */
	__u64 duration_ns;
	__u64 oncpu_ns;
	__u64 blocked_ns;
	__u64 runq_ns;
	__u64 nsyscalls; /* syscalls made in the gap */
	__u64 longest_ns;
};

/*
 * Stacks (issue 11). At the exit of a syscall that slept, in the thread's
 * own context, the kernel copies its user registers and the pages of its
 * user stack from sp's page up; user space unwinds that copy from the
 * binaries' CFI (user/unwind.c: no frame pointers needed) and names the
 * frames. A call that slept stack_min_ns or more is always taken, weighted
 * by its blocked time; a shorter one of d ns with probability d/stack_min_ns,
 * weighted stack_min_ns, so the weights add up to the blocked time, unbiased,
 * and a thread is taken at most 2 / stack_min_ns times a second.
 */
#define TW_STACK_PAGE 4096
#define TW_STACK_PAGES_MAX 17 /* --stack-bytes 64 KiB, plus sp's own page */
#define TW_UREGS_N \
	17 /* x86_64 DWARF registers 0..16: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip */
#define TW_KSTACK_MAX 32 /* kernel frames of where a long block slept */

/*
 * Where a thread slept in the kernel, taken at the switch in that ended a
 * blocked interval of stack_min_ns or more (tp_btf: bpf_get_task_stack()
 * of the task about to run, whose saved stack is still the sleeping one),
 * kept in task storage until the syscall's exit sends it with the user stack.
 */
struct tw_kstack {
	__u64 seq; /* the thread's nsyscalls when taken: which call it belongs to */
	__u32 bytes; /* of ips filled */
	__u32 __pad;
	__u64 ips[TW_KSTACK_MAX];
};

/* What a stack sample is of: where a thread blocked, or where one was created. */
enum tw_stack_kind {
	TW_SK_BLOCKED = 0, /* a syscall that slept: weight_ns is blocked time */
	TW_SK_THREAD =
		1, /* a clone(CLONE_THREAD) returned (ret < 0: it failed): weight_ns counts them */
	TW_SK_PROC = 2, /* a fork-like clone returned: the same */
	/*
	 * a thread blocked now, taken for a report by the sleepable iterator
	 * (bpf/blockednow.bpf.c) while it sleeps: weight_ns 0, blocked_ns so far
	 */
	TW_SK_NOW = 3,
	/*
	 * a loop thread on CPU inside an open gap, sampled by the cpu-clock perf
	 * event (bpf/oncpu.bpf.c): weight_ns is the sampling period
	 */
	TW_SK_ONCPU = 4,
};

enum tw_stack_flags {
	TW_STK_SAMPLED = 1, /* a short block taken by chance: weight_ns is stack_min_ns */
	TW_STK_CUT = 2, /* a page of the stack could not be read: the copy is shorter */
};

/*
 * Python frames (issue 12, bpf/pyframes.bpf.h). User space finds a CPython
 * process's interpreter from its mappings and writes where its thread states
 * are, and the offsets of the fields the walk reads, into py_procs (keyed by
 * tgid: nothing else has an entry). At a capture the kernel finds the
 * thread's PyThreadState and copies, innermost first, each frame's code
 * object and the byte offset of its last instruction; user space reads the
 * names and line tables from the process (user/pyframes.c).
 */
#define TW_PY_FRAMES_MAX 64 /* frames walked per capture; deeper ones are cut, counted */
#define TW_PY_THREADS_MAX 128 /* thread states searched for a thread not in the cache */
#define TW_PY_FRAME_READ \
	80 /* bytes of a frame read: its fields must lie within (3.11: 70, 3.13: 71) */

/* How the frames of a version are linked to its thread state */
enum tw_pyproc_flags {
	TW_PYP_CFRAME =
		1, /* 3.11, 3.12: tstate->cframe->current_frame (else tstate->current_frame) */
	TW_PYP_IS_ENTRY = 2, /* 3.11: a byte that is 1 in the frame C entered the eval loop with */
	TW_PYP_OWNER_SHIM =
		4, /* 3.12+: a frame whose owner byte is 3 (the C stack's) is the shim */
};
#define TW_PY_OWNER_CSTACK 3 /* FRAME_OWNED_BY_CSTACK: the eval loop's entry shim (3.12+) */

/* One Python process (py_procs): addresses in its memory and the layout of its version */
struct tw_pyproc {
	__u64 runtime; /* &_PyRuntime */
	__u32 version; /* PY_VERSION_HEX, e.g. 0x030b07f0 */
	__u32 flags; /* enum tw_pyproc_flags */
	__u16 rt_interp_head; /* _PyRuntimeState.interpreters.head */
	__u16 is_threads_head; /* PyInterpreterState.threads.head */
	__u16 ts_next; /* PyThreadState.next */
	__u16 ts_native_tid; /* PyThreadState.native_thread_id */
	__u16 ts_frame; /* PyThreadState.cframe (TW_PYP_CFRAME) or .current_frame */
	__u16 cf_current_frame; /* _PyCFrame.current_frame */
	__u16 fr_code; /* _PyInterpreterFrame.f_code (f_executable) */
	__u16 fr_previous;
	__u16 fr_instr; /* prev_instr (instr_ptr) */
	__u16 fr_entry; /* is_entry (TW_PYP_IS_ENTRY) or owner */
	__u16 code_adaptive; /* PyCodeObject.co_code_adaptive: the first code unit */
	__u16 __pad;
};

/* The frame walk's outcome (struct tw_pystack.status) */
enum tw_py_status {
	TW_PY_NONE = 0, /* not a known Python process: no walk */
	TW_PY_OK = 1, /* every frame of the thread, n of them (0: it runs no Python code) */
	TW_PY_CUT = 2, /* TW_PY_FRAMES_MAX frames, and more beyond */
	TW_PY_NO_TSTATE = 3, /* no thread state has this thread's id (not a Python thread) */
	TW_PY_FAULT = 4, /* a read failed (paged out, freed): the n frames before it */
};

enum tw_pyframe_flags {
	TW_PYF_ENTRY =
		1, /* C called into the eval loop with this frame (the outermost of its run) */
};

struct tw_pyframe {
	__u64 code; /* the PyCodeObject's address */
	__s32 lasti; /* byte offset of its last instruction from co_code_adaptive; -2: none yet */
	__u32 flags; /* enum tw_pyframe_flags */
};

struct tw_pystack {
	__u32 status; /* enum tw_py_status */
	__u32 n; /* frames in f, innermost first */
	__u64 tstate; /* the thread's PyThreadState, for user space's checks */
	struct tw_pyframe f[TW_PY_FRAMES_MAX];
};

struct tw_stack_ev {
	__u32 type; /* TW_EV_STACK: first, like struct tw_event */
	__u32 tid;
	__u32 tgid;
	__u32 nr; /* syscall number + 1 */
	__u64 ts_ns; /* CLOCK_MONOTONIC of the syscall's exit */
	__u64 weight_ns; /* blocked time this sample stands for; creations: how many */
	__u64 blocked_ns; /* the call's own blocked time */
	__u64 base; /* user address of ustack[0]: sp's page */
	__u32 npages; /* pages copied into ustack; the record has room for stack_pages */
	__u32 flags; /* enum tw_stack_flags */
	__u32 kind; /* enum tw_stack_kind */
	__s32 ret; /* creations: the clone's return, an errno when negative */
	__u32 nkern; /* kernel frames in kstack, innermost first (0: none taken) */
	__u32 __pad;
	__u64 kstack[TW_KSTACK_MAX];
	char comm[TASK_COMM_LEN]; /* the thread's name when it blocked */
	__u64 regs[TW_UREGS_N]; /* DWARF order; regs[7] is sp */
	/*
	 * the event-loop gap the thread was in (its gap_ts: the start_ns of the
	 * stall it becomes, if it does); 0 outside a gap
	 */
	__u64 gap_ts;
	struct tw_pystack py; /* the thread's Python frames (issue 12): py.status 0 for the rest */
	__u8 ustack[]; /* npages * TW_STACK_PAGE bytes from base */
};

/*
 * Stacks of threads blocked now (bpf/blockednow.bpf.c): user space asks for
 * the threads a report is about to list (BLOCKED NOW, ongoing stalls), keyed
 * by tid, with the blocked interval the model saw; the iterator copies a
 * thread's stack only while its entry still says it is asleep in that
 * interval (state_ts), before and after the copy. Its records are struct
 * tw_stack_ev (kind TW_SK_NOW) and npages pages, written to the iterator's
 * fd; one record must fit the kernel's seq_file buffer (8 pages), so at most
 * TW_NOW_PAGES_MAX pages are copied.
 */
#define TW_NOW_MAX 256 /* threads a report asks stacks for (the longest asleep first) */
#define TW_NOW_PAGES_MAX 7 /* sp's page and 24 KiB above: a record of 480 + 7 * 4096 bytes */

struct tw_now_want {
	__u64 state_ts; /* tw_thread_stats.state_ts the model saw: the interval it is asleep in */
	__u64 start_ns; /* the task's start_time; 0: unknown (a reused tid is then not told) */
	__u32 sys; /* sys_cur the model saw: the syscall it sleeps in + 1, 0 none */
	__u32 __pad;
};

/*
 * Creation-site sampling (bpf/stacks.bpf.h), per CPU (the create_gate
 * array): a token bucket of captures, and the creations skipped since the
 * last one taken on this CPU, which user space reads at the end.
 */
struct tw_create_gate {
	__u64 last_ns; /* the last creation seen here */
	__u64 credit_ns; /* the bucket, in ns: a capture costs stack_min_ns */
	__u64 skipped; /* creations since the last capture here, not taken */
};

#endif /* __THREADWATCH_H */
