/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* Output formats. Each renders a view (view.h) and returns 0 or -errno of the write. */
#ifndef TW_REPORT_H
#define TW_REPORT_H

#include <stdio.h>
#include "view.h"

/* Thread rows shown per process in text; JSON always lists every row. */
#define TW_TEXT_MAX_ROWS 20

int report_text(FILE *f, const struct tw_view *v);
/* One JSON object on one line (docs/json.md). */
int report_json(FILE *f, const struct tw_view *v);

/* --folded (flamegraph.pl, speedscope): the final view's blocked time by stack. */
int report_folded(FILE *f, const struct tw_view *v);
/* --pprof: the same as a gzipped pprof profile.proto (go tool pprof, Pyroscope, Parca). */
int report_pprof(FILE *f, const struct tw_view *v);

/* Labels a caller may add to each sample, per process (the daemon's comm, container, pod...). */
#define TW_PPROF_LABELS 6

/* What a pprof of a sample set says besides the samples (report_pprof_set). */
struct tw_pprof_meta {
	__u64 time_ns; /* wall clock of the profile's start, ns since the epoch */
	__u64 duration_ns;
	/* NULL: every blocked sample; else those it is true for */
	bool (*keep)(void *ctx, const struct tw_ssample *x);
	/*
	 * NULL, or the extra string labels of pid's samples into keys[]/vals[]
	 * (at most max), how many; the strings must live until the call returns
	 */
	size_t (*labels_of)(void *ctx, __u32 pid, const char **keys, const char **vals, size_t max);
	void *ctx;
};
/* The blocked samples of ss as a gzipped pprof profile.proto to f: 0 or -errno. */
int report_pprof_set(FILE *f, const struct tw_stackset *ss, const struct tw_pprof_meta *o);

/* Stacks in the text report: a process's heaviest, then "N more". */
#define TW_TEXT_MAX_STACKS 5

/* Names shared by the formats. */
extern const char *const tw_slost_names[TW_SLOST_NR];
extern const char *const tw_drop_names[TW_DROP_NR];
extern const char *const tw_fail_names[TW_FAIL_NR];

#endif
