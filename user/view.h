/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * A view is what one report shows: the model's totals (final) or the deltas
 * since the last interval, folded by thread or by comm, processes sorted and
 * cut to the top N. Every output format renders a view, so they agree.
 */
#ifndef TW_VIEW_H
#define TW_VIEW_H

#include <stdbool.h>
#include "clock.h"
#include "model.h"

enum tw_by {
	TW_BY_THREAD,
	TW_BY_COMM,
};

/* The order of processes (--sort); TW_SORT_BUSY is the default. */
enum tw_sort {
	TW_SORT_BUSY, /* failures, then stalls, then on-CPU + run-queue time */
	TW_SORT_ONCPU,
	TW_SORT_RUNQ,
	TW_SORT_BLOCKED,
	TW_SORT_OFFCPU, /* blocked + run-queue: the order before --sort existed */
	TW_SORT_STALLS,
	TW_SORT_THREADS,
	TW_SORT_FAILURES,
	TW_SORT_NR,
};

/* --sort's values, in enum tw_sort's order, and what each means (for reports) */
extern const char *const tw_sort_names[TW_SORT_NR];
extern const char *const tw_sort_labels[TW_SORT_NR];

struct tw_row {
	__u32 tid; /* 0 for a --by comm group */
	__u32 nthreads;
	char comm[TASK_COMM_LEN];
	bool alive; /* the thread, or any thread of the group */
	bool borrowed; /* t's histograms are the model's (final, per thread), not ours */
	/*
	 * --by comm: the pattern the group's names share when it folds several
	 * numbered names ("pool-1-thread-*" for pool-1-thread-1...401, whatever
	 * the kernel's 15-byte cut left of each); "" when all its threads have
	 * one name (comm). nnames: how many distinct names it folds.
	 */
	char pattern[TASK_COMM_LEN + 2];
	__u32 nnames;
	struct tw_thread_rec t;
	__u64 seq; /* the thread's order of first sight (a group's: its place by name): ties */
	/* its Python thread name where it is not comm (the model's), or NULL (groups: NULL) */
	const char *py_name;
};

/*
 * The stack a thread listed as blocked now (or a loop stalled now) is asleep
 * in, from the blocked-now pass made for this report (user/view_now.c).
 */
struct tw_now_view {
	bool has; /* false: none taken (woke meanwhile, not asked, no iterator) */
	__u32 ref; /* its index in the report's stacks table (JSON) */
	__u32 stack; /* index into the view's ss->stacks */
	__u32 own; /* its first frame (innermost first) that is not libc/loader plumbing */
};

/* An event loop's row: always one thread, whatever --by says. */
struct tw_loop_view {
	__u32 tid;
	char comm[TASK_COMM_LEN];
	bool alive;
	struct tw_loop_totals
		lt; /* since the last report in interval mode (gap_max_ns: see hist_sub()) */
	const struct tw_stall *stalls; /* ended in this report's span, oldest first (the model's) */
	size_t nstalls;
	const struct tw_stall *ongoing; /* the gap it is stalled in right now, or NULL */
	__u64 seq; /* the thread's order of first sight: ties */
	struct tw_now_view now; /* ongoing: the stack it is asleep in, if it is */
	const struct tw_loop *model; /* the model's loop record it shows */
	const char *py_name; /* its Python thread name where it is not comm, or NULL */
	/*
	 * final reports with stacks (user/view_stallstk.c): sstk[i] the stacks of
	 * stalls[i], sstk[nstalls] the ongoing one's; NULL otherwise
	 */
	struct tw_stall_stacks *sstk;
};

/*
 * A thread asleep, right now, for longer than --blocked-ms; never one waiting
 * in the wait family (epoll, poll, select: an idle event loop is not stuck).
 */
struct tw_blocked_view {
	__u32 tid;
	char comm[TASK_COMM_LEN];
	__u32 sys; /* syscall number + 1 it sleeps in; 0: none (a page fault...) */
	__u64 blocked_ns; /* since since_ns; when that is unknown, since the trace began: at least */
	bool before_trace; /* asleep since before the trace began */
	__u64 since_ns; /* CLOCK_MONOTONIC when it went to sleep; 0: unknown (before the trace) */
	__u64 since_wall_ns; /* the same as CLOCK_REALTIME; 0 when unknown */
	__u64 before_ns; /* before_trace and since known: how long before the trace it last ran */
	struct tw_now_view now; /* the stack it is asleep in */
	const char *py_name; /* its Python thread name where it is not comm, or NULL */
};

/* A stack of a process (or group), its threads' samples added up (final reports, --stacks). */
struct tw_stack_view {
	__u32 stack; /* index into the view's ss->stacks */
	__u32 nr; /* syscall number + 1 the samples slept in */
	__u64 weight_ns; /* blocked time */
	__u64 count; /* samples */
	__u32 nthreads; /* threads it was seen in */
	__u32 own; /* its first frame (innermost first) that is not libc/loader plumbing */
	__u32 kind; /* enum tw_stack_kind: blocked time (weight_ns), or creations (a count) */
	__s32 ret; /* creation sites: 0, or the -errno they failed with */
};

/*
 * Where a stall's time went: the stack samples taken in its gap, heaviest
 * first (v[].kind TW_SK_BLOCKED: a call that returned in the gap, weight its
 * blocked time; TW_SK_ONCPU: the loop caught on CPU, weight the sampling
 * period), their sums by kind, and the heaviest of each kind (NULL: none).
 */
struct tw_stall_stacks {
	struct tw_stack_view *v;
	size_t n;
	const struct tw_stack_view *top_blocked, *top_oncpu;
	__u64 blocked_ns, blocked_samples;
	__u64 oncpu_ns, oncpu_samples;
};

/* One line of --folded: blocked time by (process, thread name, stack). */
struct tw_folded_view {
	__u32 pid;
	const char *pcomm;
	const char *tcomm;
	__u32 stack;
	__u64 weight_ns;
};

struct tw_proc_view {
	const struct tw_proc *p;
	struct tw_proc_totals pt;
	__u32 threads_peak;
	struct tw_thread_totals sum; /* every row added up */
	struct tw_row *rows; /* by off-CPU time, longest first */
	size_t nrows;
	struct tw_loop_view *loops; /* by tid */
	size_t nloops;
	struct tw_blocked_view *blocked; /* longest first */
	size_t nblocked;
	size_t idle_waiting; /* threads asleep in a wait-family call as long, not listed above */
	/*
	 * A group (--group-procs): the processes sharing p's comm, each a whole
	 * view in --sort order; pt, sum and threads_peak add theirs up, rows,
	 * loops and blocked stay with the members. NULL for a single process.
	 */
	struct tw_proc_view *members;
	size_t nmembers;
	__u32 threads_now; /* p's, or the members' sum */
	bool exited; /* p's, or every member's */
	__u64 stalls; /* stalls in the report's span, ongoing ones included (members' sum) */
	/*
	 * Rows in order when some are packed dead threads (a final report of a
	 * model with pack_dead): order[i] < nown is rows[order[i]], the others
	 * are unpacked one at a time by view_row(). NULL: rows[i] is row i, as
	 * always in the daemon, which does not pack.
	 */
	__u32 *order;
	size_t nown;
	/* final reports with stacks: by blocked time, heaviest first */
	struct tw_stack_view *stacks;
	size_t nstacks;
	/* where its threads (and processes) were created, and failed to be: most first */
	struct tw_stack_view *sites;
	size_t nsites;
	/* the model's blocked samples of this process (a group's: its members'), by tid, heaviest first */
	const struct tw_ssample **samples;
	size_t nsamples;
};

struct tw_view_opts {
	bool final;
	double duration_s;
	const char *attach; /* "tp_btf" or "raw_tp" */
	enum tw_by by;
	unsigned int top; /* processes shown; 0: all */
	bool targets_only;
	bool all_procs; /* every process, idle ones too (the daemon's thread counts) */
	bool syscalls; /* syscalls were traced: loops and entry-to-exit call times exist */
	/*
	 * calls were accounted: syscalls traced, or (--no-syscalls, tp_btf) each
	 * block named at switch out by the syscall it slept in; per-call blocked
	 * time, blocked outside syscalls and blocked-now calls exist
	 */
	bool calls;
	__u64 run_start_ns; /* CLOCK_MONOTONIC when tracing began: stalls are shown relative */
	__u64 blocked_ns; /* --blocked-ms */
	struct tw_clock clock; /* when the report was made: both clocks, for timestamps */
	__u64 span_start_ns; /* CLOCK_MONOTONIC start of what it covers (the run, or the interval) */
	enum tw_sort sort; /* the order of rows (processes or groups) and of a group's members */
	bool group_procs; /* fold processes sharing a comm into one row */
	bool stacks; /* stacks were taken: final reports show where the blocked time went */
	bool folded; /* build the --folded lines */
	/* stalls' on-CPU stacks: the cpu-clock sampling period (user/oncpu.c); 0: not sampled */
	__u64 oncpu_period_ns;
};

struct tw_view_scratch;

struct tw_view {
	struct tw_view_opts o;
	__u64 drops[TW_DROP_NR];
	struct tw_proc_view *procs; /* rows: processes, and groups with --group-procs */
	size_t nprocs;
	size_t nprocs_active; /* processes (group members counted one by one) before the top-N cut */
	size_t nrows_active; /* rows before the top-N cut */
	__u64 stall_ns;
	__u64 stalls_not_kept; /* since the run started */
	/* where view_row() unpacks a row; NULL if none is packed */
	struct tw_view_scratch *scratch;
	/* frames and stacks (the model's), with o.stacks in a final report; else NULL */
	const struct tw_stackset *ss;
	struct tw_folded_view *folded; /* by process, thread name, then blocked time */
	size_t nfolded;
	__u64 stack_lost[TW_SLOST_NR]; /* samples user space could not unwind (final reports) */
	__u64 stacks_taken, stacks_sampled;
	__u64 create_skipped; /* creations the last site samples of each CPU do not count */
	/*
	 * Interval reports: the stacks the rows' blocked-now stacks reference,
	 * the report's whole stacks table (tw_now_view.ref indexes it); NULL in
	 * final reports, whose table is every stack.
	 */
	__u32 *stack_sel;
	size_t nstack_sel;
	struct tw_now_stats now_stats; /* the blocked-now pass made for this report */
	__u64 oncpu_taken; /* on-CPU samples of loop gaps received */
};

/* The stacks of a final view (user/view_stacks.c): 0 or -ENOMEM. */
int view_stacks(struct tw_view *v, const struct tw_model *m);
void view_stacks_free(struct tw_view *v);
void view_proc_stacks_free(struct tw_proc_view *pv);
/* Each loop's stalls' stacks (user/view_stallstk.c), with pv's members': 0 or -ENOMEM. */
int view_stall_stacks(struct tw_proc_view *pv, const struct tw_stackset *ss);
void view_stall_stacks_free(struct tw_proc_view *pv);
/* The blocked-now stacks of the rows (user/view_now.c), after view_stacks(): 0 or -ENOMEM. */
int view_now_stacks(struct tw_view *v, const struct tw_model *m);
/* A stack's first frame (innermost first) that is not libc/loader plumbing. */
__u32 view_stack_own(const struct tw_stackset *ss, __u32 stack);
/* A frame's name as reports print it: its function, else module+0xoffset (in buf). */
const char *view_frame_label(const struct tw_sframe *f, char *buf, size_t n);

int view_build(struct tw_view *v, const struct tw_model *m, const struct tw_view_opts *o);
/*
 * The --by comm group of a thread name: a trailing run of digits becomes '*'
 * ("worker-12" -> "worker-*"), and so does whatever the kernel may have cut
 * from a name of the full 15 bytes ("pool-1-thread-1", the cut form of
 * pool-1-thread-123, and "pool-12-thread-" both end in "-*"). Other names are
 * their own group. key holds TASK_COMM_LEN + 2 bytes.
 */
void comm_fold_key(const char *comm, char *key);
void view_free(struct tw_view *v);
/*
 * Row i of a process view (i < nrows): how renderers read rows. The pointer
 * is valid until the next view_row() call of the same view.
 */
const struct tw_row *view_row(const struct tw_view *v, const struct tw_proc_view *pv, size_t i);

__u64 totals_offcpu(const struct tw_thread_totals *t);
__u64 proc_thread_failures(const struct tw_proc_totals *pt);
/* Failed thread and process creations. */
__u64 proc_failures(const struct tw_proc_totals *pt);
/* "oncpu", "blocked" or "runq": where most of a stall's time went */
const char *stall_cause(const struct tw_stall *s);
/* A loop's gap percentile (p in 0..1) from its histogram, within its shortest and longest gap. */
__u64 loop_gap_percentile(const struct tw_loop_view *l, double p);
/* A syscall number + 1 as a name ("read", or "syscall_N" when unknown); NULL for 0. */
const char *sys_label(__u32 sys1, char buf[24]);

#endif
