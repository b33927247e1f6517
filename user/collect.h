/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The collector moves what the kernel measured into the model: lifecycle
 * events from the ring buffer, per-CPU map entries summed across CPUs, and the
 * final totals of dead threads and processes (read, then deleted from the
 * kernel maps so they stay bounded by what is alive).
 */
#ifndef TW_COLLECT_H
#define TW_COLLECT_H

#include <stdbool.h>

struct bpf_program;
#include "model.h"
#include "targetmap.h"

/*
 * How long after an exit event a dead thread's entry is read: its final
 * context switch (on-CPU time of its last slice) lands just after the event.
 */
#define TW_HARVEST_DELAY_NS 50000000ULL /* 50 ms */
#define TW_BATCH 256 /* map entries a lookup syscall */
#define TW_HARVEST_BUF \
	((size_t)64 * 1024) /* the harvest iterator's records, read a buffer at a time */
/*
 * The kernel counts histogram buckets in 32 bits (bpf/threadwatch.h) and the
 * model folds them into 64 (hist_fold_u32()), which is right while fewer than
 * 2^32 samples land in one bucket between two refreshes: refresh at least this
 * often (2^32 in 60 s is 71 million switches a second of one thread).
 */
#define TW_FOLD_EVERY_NS (60 * 1000000000ULL)

struct tw_stack_in;

struct tw_collector {
	struct tw_model *m;
	struct tw_stack_in *stacks; /* stack snapshots are unwound through it; NULL: stacks off */
	int create_gate_fd; /* the creation-site sampler's per-CPU state, or -1 */
	int thread_fd;
	int proc_fd;
	int drops_fd;
	int call_fd; /* -1 without syscall tracing */
	int loop_fd; /* -1 without syscall tracing */
	/*
	 * The harvest iterator's link (per-thread state in task storage, tp_btf),
	 * or -1: live threads are then read from thread_fd, which holds only the
	 * dead awaiting their harvest.
	 */
	int harvest_fd;
	struct bpf_program *harvest_prog; /* the same program, for iterators over one process */
	bool harvest_unfiltered; /* the kernel cannot iterate one process: every task it is */
	char *hbuf; /* TW_HARVEST_BUF bytes: the iterator's records are read through it */
	int ncpu;
	bool skip_kthreads;
	void *buf; /* one per-CPU value of the larger struct */
	void *bkeys, *bvals; /* TW_BATCH keys and values of a batched map walk */
	size_t proc_vsz; /* a per-CPU process value as the kernel returns it: all CPUs */
	bool no_batch; /* the kernel has no BPF_MAP_LOOKUP_BATCH for hash maps */
	bool thread_names; /* re-read every live thread's name at each refresh (the CLI) */
	__u64 names_every_ns; /* 0: names at every refresh; else at most this often */
	__u64 names_ns; /* when names were last read */
	struct tw_thread **pend_t; /* dead, not yet harvested */
	size_t npend_t, cap_t;
	__u64 swept_ringbuf_drops;
	int err; /* first error met in the ring-buffer callback */
	/*
	 * With targets: the kernel's bitmap, whose dead are cleared at harvest,
	 * and every process the kernel reports (forked by a target, joined) is one.
	 */
	struct tw_targets *targets;
	/*
	 * The blocked-now stack iterator (bpf/blockednow.bpf.c) and the map of
	 * the threads it is asked for, or NULL / -1: rows then carry no stack.
	 */
	struct bpf_program *now_prog;
	int now_want_fd;
	bool now_unfiltered; /* the kernel cannot iterate one process: every task it is */
};

int collect_init(struct tw_collector *c, struct tw_model *m, int thread_fd, int proc_fd,
		 int drops_fd, bool skip_kthreads);
void collect_free(struct tw_collector *c);

/*
 * Put pid's threads (every process when pid is 0) into the model from /proc.
 * known_comm names the process if it is already gone (may be NULL).
 */
int collect_seed(struct tw_collector *c, __u32 pid, bool target, const char *known_comm);
/* ring_buffer_sample_fn */
int collect_on_event(void *ctx, void *data, size_t len);
/* How long until every pending dead thread is past the delay (at most the delay). */
__u64 collect_settle_ns(const struct tw_collector *c, __u64 now_ns);
/* Harvest the dead whose exit is older than the delay (all of them when all). */
int collect_harvest(struct tw_collector *c, __u64 now_ns, bool all);
/*
 * Fold the per-call entries into their threads (from collect_refresh()); a
 * dead thread's entries are read and deleted with its thread entry, and any
 * left behind by an already harvested thread are deleted here.
 */
int collect_calls(struct tw_collector *c);
/*
 * The Python thread names of the live threads of the CPython processes found
 * so far (user/pythreads.c), read at a bounded rate: from collect_refresh(),
 * and between refreshes (the CLI's loop, once a second) so that a process
 * gone by the report still has them. 0 or -ENOMEM.
 */
int collect_py_names(struct tw_collector *c, __u64 now_ns);
/* Read every live entry and the drop counters into the model; refresh comms. */
int collect_refresh(struct tw_collector *c, __u64 now_ns);

/*
 * Just before a report, after collect_refresh(): the stack of each thread
 * the report will list as blocked now (asleep blocked_ns or more, not in a
 * wait) or as a loop stalled now while asleep, taken while it sleeps and
 * unwound, into m->stacks (stackset_now_get()); a thread that woke
 * meanwhile gets none. No-op without the iterator. 0 or -ENOMEM.
 */
int collect_now_stacks(struct tw_collector *c, __u64 blocked_ns);

/* CLOCK_MONOTONIC in ns, the clock of bpf_ktime_get_ns() */
__u64 mono_ns(void);

#endif
