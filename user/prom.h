/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* The Prometheus text exposition of the model (docs/metrics.md): groups, top-K and "other". */
#ifndef TW_PROM_H
#define TW_PROM_H

#include <stdio.h>
#include "model.h"

enum tw_prom_by {
	TW_PROM_PROCESS,
	TW_PROM_COMM,
	TW_PROM_CONTAINER,
	TW_PROM_CGROUP,
};

enum tw_prom_rank {
	TW_RANK_THREADS, /* threads alive, then off-CPU time */
	TW_RANK_OFFCPU, /* off-CPU time, then threads alive */
};

struct tw_prom_opts {
	enum tw_prom_by by;
	enum tw_prom_rank rank;
	unsigned int top_k; /* groups with series of their own; the rest go to "other" */
	bool syscalls; /* syscalls were traced (entry-to-exit times) */
	/* calls were accounted (traced, or blocks named at switch out): outside-syscalls is shown */
	bool calls;
	__u64 blocked_ns; /* --blocked-ms: a thread asleep this long is blocked now */
};

struct tw_prog_stat {
	char name[64];
	__u64 run_ns;
	__u64 runs;
};

/* What the daemon knows of itself. */
struct tw_agent_stats {
	const char *version;
	double render_s; /* the previous rendering */
	__u64 refreshes; /* model refreshes from the maps so far */
	__u64 renders; /* renderings so far, this one included */
	__u64 events_suppressed;
	const struct tw_prog_stat *progs; /* NULL: BPF run-time statistics unavailable */
	size_t nprogs;
};

/*
 * Writes the exposition of m (its totals since the start, every process) to f,
 * straight from the model's records. 0 or -errno.
 */
int report_prom(FILE *f, const struct tw_model *m, const struct tw_prom_opts *o,
		const struct tw_agent_stats *a);

/* What p's --by group is keyed by: its pid, comm, container id ("host"), cgroup path. */
const char *prom_group_key(const struct tw_proc *p, enum tw_prom_by by, char *buf, size_t len);

/* A label value as the exposition format wants it: escaped, valid UTF-8. */
void prom_label_value(FILE *f, const char *s, size_t maxlen);

#endif
