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

/* Stacks in the text report: a process's heaviest, then "N more". */
#define TW_TEXT_MAX_STACKS 5

/* Names shared by the formats. */
extern const char *const tw_slost_names[TW_SLOST_NR];
extern const char *const tw_drop_names[TW_DROP_NR];
extern const char *const tw_fail_names[TW_FAIL_NR];

#endif
