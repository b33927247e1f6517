/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The aggregated model every output reads: processes, their threads, and the
 * totals summed from the per-CPU BPF maps. Pure data and logic, no BPF here:
 * the collector (collect.c) feeds it, views and reports read it.
 *
 * Thread counts are a set: seeded from /proc after attach, then changed only
 * by the kernel's lifecycle events, so a thread seen both ways counts once.
 */
#ifndef TW_MODEL_H
#define TW_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "calls.h"
#include "hist.h"
#include "threadwatch.h"
#include "u32map.h"
#include "stackmodel.h"
#include "stallstk.h"

struct tw_thread_totals {
	__u64 oncpu_ns;
	__u64 blocked_ns;
	__u64 blocked_nosys_ns; /* of blocked_ns, outside any syscall (page faults...) */
	__u64 runq_ns;
	__u64 vol_switches;
	__u64 invol_switches;
	__u64 threads_created;
	struct tw_hist blocked;
	struct tw_hist runq;
};

/*
 * How a thread's totals are stored: the same numbers, histograms packed.
 * Expand into a tw_thread_totals to compute with them.
 */
struct tw_thread_rec {
	__u64 oncpu_ns;
	__u64 blocked_ns;
	__u64 blocked_nosys_ns;
	__u64 runq_ns;
	__u64 vol_switches;
	__u64 invol_switches;
	__u64 threads_created;
	struct tw_shist *blocked;
	struct tw_shist *runq;
	struct tw_calls calls; /* blocking calls */
};

void rec_expand(const struct tw_thread_rec *r, struct tw_thread_totals *out);
/* out += r, histograms added straight from their packed form */
void rec_add_to(struct tw_thread_totals *out, const struct tw_thread_rec *r);
/*
 * Replace r's numbers and histograms with t's (its calls stay).
 * 0 or -ENOMEM (r is then unchanged).
 */
int rec_store(struct tw_thread_rec *r, const struct tw_thread_totals *t);
void rec_free(struct tw_thread_rec *r);
void thread_totals_add(struct tw_thread_totals *dst, const struct tw_thread_totals *src);

struct tw_proc_totals {
	__u64 threads_created;
	__u64 threads_exited;
	__u64 procs_forked;
	__u64 thread_fail[TW_FAIL_NR];
	__u64 fork_fail;
	struct tw_hist first_run;
	struct tw_hist lifetime;
};

/* An event loop's gaps (struct tw_loop_stats), as totals since the run started. */
struct tw_loop_totals {
	__u64 iterations;
	__u64 stalls; /* exact, from the kernel's counter */
	__u64 gap_total_ns;
	__u64 gap_max_ns; /* the longest gap, exact (gap.max holds it too) */
	struct tw_hist gap;
};

/* What a thread that turned out to be an event loop carries besides its totals. */
struct tw_loop {
	struct tw_loop_totals tot;
	struct tw_loop_totals mark; /* tot at the last interval report (-i only) */
	struct tw_stall *stalls; /* the ones kept (the model's max_stalls), oldest first */
	size_t nstalls, cap;
	size_t stalls_mark; /* stalls[stalls_mark..] ended since the last interval report */
	bool stalled_now; /* at the last refresh, in a gap of stall_ns or more: */
	struct tw_stall ongoing; /* that gap so far */
	struct tw_gstacks gst; /* stack samples of its stalls (user/stallstk.c) */
};

/*
 * An event loop as the daemon keeps it (tw_model.compact_loops): what /metrics
 * shows of it, its gap histogram packed. struct tw_loop, with full
 * histograms, the interval marks and the stalls kept, is the CLI's: 2.5 KB a
 * loop, 12 MB on a node of 5,000 polling threads.
 */
struct tw_loop_lite {
	__u64 iterations;
	__u64 stalls;
	__u64 gap_total_ns;
	__u64 gap_max_ns;
	struct tw_shist *gap;
	bool stalled_now; /* at the last refresh, in a gap of stall_ns or more */
};

struct tw_thread {
	__u32 tid;
	__u32 pid;
	char comm[TASK_COMM_LEN];
	bool alive;
	bool harvested; /* dead, final totals read, kernel entry deleted */
	__u64 exit_ns; /* CLOCK_MONOTONIC of its exit; 0 while alive */
	__u64 start_ns; /* the task's start_time; 0 until known (seeded from /proc) */
	struct tw_thread_rec tot; /* since the run started */
	struct tw_thread_rec *mark; /* tot at the last interval report (-i only) */
	struct tw_loop *loop; /* NULL unless the thread is an event loop */
	struct tw_loop_lite *lite; /* NULL unless the thread is an event loop (lite_loop) */
	__u64 seq; /* its order of first sight in its process: ties in reports keep it */
	/* where it was at the last refresh (struct tw_thread_stats state, state_ts, sys_cur) */
	__u32 live_state;
	__u32 live_sys;
	__u64 live_state_ts;
	/* the state the trace began with, while it lasts (struct tw_thread_stats att_ts, pre_ts) */
	__u64 live_att_ts; /* when that was read */
	__u64 live_pre_ts; /* blocked then: when the kernel says it last ran; 0 unknown */
	bool live_att; /* still where it was when the trace began (state_ts == att_ts) */
	bool folded; /* tot holds the kernel entry's histograms as of live_state_ts */
	bool marked_dead; /* -i: dead when last marked, so no interval will show it again */
	bool lite_loop; /* its model's compact_loops: an event loop goes in lite, not loop */
	bool packed; /* moved into its process's pack (only while pack_proc() runs) */
	/*
	 * Its Python thread name (threading.Thread's, user/pythreads.c), malloc'ed
	 * UTF-8, or NULL: none, not known, or not read; a record with one is not
	 * packed (its row keeps it). py_name_ns: when it was last read, 0 never.
	 */
	char *py_name;
	__u64 py_name_ns;
};

struct tw_container;
struct tw_pack;

struct tw_proc {
	__u32 pid;
	char comm[TASK_COMM_LEN];
	bool target; /* named with -p or started with -- COMMAND */
	bool exited; /* its last thread is gone */
	bool harvested; /* exited, final totals read, kernel entry deleted */
	__u64 exit_ns;
	__u32 threads_now;
	__u32 threads_peak; /* since the run started */
	__u32 interval_peak; /* since the last interval report */
	struct tw_proc_totals tot;
	struct tw_proc_totals *mark;
	struct tw_thread **threads; /* every record, in order of first sight */
	size_t nthreads;
	size_t cap;
	struct u32map tids; /* tid -> index in threads of its newest record */
	__u64 stall_causes[3]; /* stall events by cause: oncpu, blocked, runq (kept or not) */
	struct tw_thread *gone; /* daemon: the pruned dead threads folded into one record (tid 0) */
	struct tw_container *ctr; /* daemon: container and pod, owned; NULL if not looked up */
	bool ctr_done; /* looked up (ctr may still be NULL: not in a container) */
	__u64 fail_logged[TW_FAIL_NR]; /* daemon: thread creation failures already logged */
	__u64 next_seq; /* the next thread record's seq */
	/*
	 * The model's pack_dead: dead threads whose rows are all that is left of
	 * them, packed (user/pack.h); NULL until the first. They are no longer
	 * records: proc_thread() does not find them (as after model_prune()).
	 */
	struct tw_pack *pack;
	size_t pack_at; /* pack again once this many records exist (1.5 x what the last left) */
	__u32 name_rereads; /* refreshes that read its name again since it was first seen */
};

struct tw_model {
	struct tw_proc **procs;
	size_t nprocs;
	size_t cap;
	struct u32map pids; /* pid -> index in procs of its newest record */
	bool keep_marks; /* interval mode: remember totals at each report */
	/* loops as struct tw_loop_lite (the daemon, which keeps no stalls and shows no view) */
	bool compact_loops;
	__u64 drops[TW_DROP_NR];
	__u64 drops_mark[TW_DROP_NR];
	__u64 stall_ns; /* a loop gap this long is a stall (--stall-ms) */
	__u64 max_stalls; /* stall records kept; later ones only counted */
	__u64 nstalls_kept;
	__u64 stalls_not_kept; /* past max_stalls, or of a thread the model does not know */
	__u64 live_ns; /* CLOCK_MONOTONIC of the last refresh: "now" for the live fields */
	/* called for every stall event, kept or not (the daemon logs them) */
	void (*on_stall)(void *ctx, const struct tw_proc *p, const struct tw_thread *t,
			 const struct tw_stall *e);
	void *on_stall_ctx;
	/*
	 * Pack dead threads (struct tw_proc's pack) once they are harvested and no
	 * interval report needs them again: the CLI, whose final report lists
	 * every thread that ever lived. Packing happens in model_thread_born() and
	 * model_thread_died() (once a process's records have grown by half since
	 * it last packed): a pointer to a harvested record is valid only until the
	 * next of those calls.
	 */
	bool pack_dead;
	/* user stacks of blocked syscalls (user/stacks.c fills it; empty without --stacks) */
	struct tw_stackset stacks;
};

int model_init(struct tw_model *m, bool keep_marks);
void model_free(struct tw_model *m);

/* The newest record of a process / thread, or NULL. */
struct tw_proc *model_proc(const struct tw_model *m, __u32 pid);
struct tw_thread *proc_thread(const struct tw_proc *p, __u32 tid);

/* A new record for pid unless a live one exists (returned as is). NULL on ENOMEM. */
struct tw_proc *model_proc_add(struct tw_model *m, __u32 pid, const char *comm);
/*
 * A thread joins the live set of its process (created, or seen in /proc).
 * Idempotent for a live thread; a dead record with the same tid is kept and a
 * new one started. Creates the process record if needed. NULL on ENOMEM.
 */
struct tw_thread *model_thread_born(struct tw_model *m, __u32 pid, __u32 tid, const char *comm);
/*
 * A thread left the live set at exit_ns. comm may be NULL. Idempotent.
 * Returns the record (created dead if it was never seen), NULL on ENOMEM.
 */
struct tw_thread *model_thread_died(struct tw_model *m, __u32 pid, __u32 tid, __u64 exit_ns,
				    const char *comm);
/* Apply one ring-buffer event. The thread it concerns, or NULL on ENOMEM/unknown type. */
struct tw_thread *model_apply_event(struct tw_model *m, const struct tw_event *e);

/*
 * Replace a thread's totals with its kernel entry. For a live thread the
 * off-CPU or on-CPU interval in progress counts up to now_ns, so interval
 * reports partition time even for a thread asleep across several of them
 * (its histogram sample still comes when the interval ends). So does the
 * syscall in flight, in its call's record: its time so far (timed calls)
 * and its sleep so far; its count and sample come when it returns.
 */
int model_thread_fold(struct tw_thread *t, const struct tw_thread_stats *s, __u64 now_ns);
/* Replace one call's numbers of a thread with its kernel entry. */
int model_thread_call_fold(struct tw_thread *t, const struct tw_call_key *key,
			   const struct tw_call_stats *s);
/* Whether a kernel entry is this record's (not a later thread's with the same tid). */
/* The live fields, and a loop's gap in progress, from a refresh at now_ns. */
int model_thread_live(struct tw_model *m, struct tw_thread *t, const struct tw_thread_stats *s,
		      __u64 now_ns);
struct tw_loop *model_thread_loop(struct tw_thread *t);
int model_loop_fold(struct tw_thread *t, const struct tw_loop_stats *s);
/* A stall event from the kernel; 0 also when it is only counted (not kept). */
int model_stall_add(struct tw_model *m, const struct tw_stall *e);
/* Index of a stall's cause in struct tw_proc's stall_causes: 0 oncpu, 1 blocked, 2 runq. */
int stall_cause_index(const struct tw_stall *s);
/*
 * Bounded memory for long runs (the daemon): dead threads already harvested
 * are folded into their process's "gone" record, and processes gone for
 * longer than keep_exited_ns are dropped. 0 or -ENOMEM.
 */
int model_prune(struct tw_model *m, __u64 now_ns, __u64 keep_exited_ns);
bool model_thread_owns(const struct tw_thread *t, const struct tw_thread_stats *s);
/* Replace a process's totals with the sum of ncpu per-CPU values. */
void model_proc_fold(struct tw_proc *p, const struct tw_proc_stats *percpu, int ncpu);

/*
 * Whether t is blocked now (live fields of the refresh at live_ns): alive,
 * asleep for min_ns or more since it went to sleep (for a thread asleep since
 * before the trace: since the kernel says it last ran, else since the trace
 * began), and not waiting in the wait family (an idle event loop is not stuck).
 */
bool model_thread_blocked_now(const struct tw_thread *t, __u64 live_ns, __u64 min_ns);

/* Interval mode: remember the totals of now as the start of the next interval. */
int model_mark(struct tw_model *m);

#endif
