// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * --folded: blocked time by stack in the folded format of flamegraph.pl and
 * speedscope. One line per (process, thread name, stack): frames root first,
 * separated by ';', the first two the process (comm-pid) and the thread
 * name, then a space and the blocked microseconds.
 */
#include <errno.h>
#include <stdio.h>
#include "report.h"

/* A frame as the format allows it: ';' separates frames and the line ends at a newline. */
static void put_frame(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		fputc(c == ';' ? ':' : c < 0x20 || c == 0x7f ? '?' : c, f);
	}
}

int report_folded(FILE *f, const struct tw_view *v)
{
	char buf[256];

	for (size_t i = 0; v->ss && i < v->nfolded; i++) {
		const struct tw_folded_view *l = &v->folded[i];
		const struct tw_stack *k = &v->ss->stacks[l->stack];
		unsigned long long us = (l->weight_ns + 500) / 1000;

		if (!us)
			continue;
		put_frame(f, l->pcomm);
		fprintf(f, "-%u;", l->pid);
		put_frame(f, l->tcomm);
		for (__u32 j = k->nframes; j-- > 0;) {
			fputc(';', f);
			put_frame(f,
				  view_frame_label(&v->ss->frames[k->frames[j]], buf, sizeof(buf)));
		}
		fprintf(f, " %llu\n", us);
	}
	if (fflush(f) || ferror(f))
		return errno ? -errno : -EIO;
	return 0;
}
