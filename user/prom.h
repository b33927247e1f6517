/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* The Prometheus text exposition of a view (docs/metrics.md): groups, top-K and "other". */
#ifndef TW_PROM_H
#define TW_PROM_H

#include <stdio.h>
#include "view.h"

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
	__u64 events_suppressed;
	const struct tw_prog_stat *progs; /* NULL: BPF run-time statistics unavailable */
	size_t nprogs;
};

/* Writes the exposition of v (a final view of every process) to f. 0 or -errno. */
int report_prom(FILE *f, const struct tw_view *v, const struct tw_prom_opts *o,
		const struct tw_agent_stats *a);

/* A label value as the exposition format wants it: escaped, valid UTF-8. */
void prom_label_value(FILE *f, const char *s, size_t maxlen);

#endif
