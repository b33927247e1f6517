// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Stack samples of loop gaps, attached to the stalls those gaps become.
 *
 * Order: a gap's stall event is sent at the gap's end (the next wait's
 * entry), after every sample of that gap was reserved in the same ring
 * buffer, and before any sample of a later gap; the events are read in that
 * order and the stall is kept (model_stall_add()) before the later samples
 * come back from the unwinder. So when a sample of a later gap arrives, the
 * pending gap either is among the loop's kept stalls or never will be, and
 * its samples can go. A sample of the pending gap may arrive after its stall
 * (the unwinder is behind): it finds the stall by start and joins it.
 */
#include <errno.h>
#include <stdlib.h>
#include "model.h"
#include "stallstk.h"

static bool is_kept_stall(const struct tw_loop *l, __u64 gap_ts)
{
	/* newest first: a sample is nearly always of one of the last few */
	for (size_t i = l->nstalls; i-- > 0;)
		if (l->stalls[i].start_ns == gap_ts)
			return true;
	return false;
}

/* Drops the samples of the gap starting at gap_ts. */
static void drop_gap(struct tw_gstacks *g, __u64 gap_ts)
{
	size_t k = 0;

	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].gap_ts != gap_ts)
			g->v[k++] = g->v[i];
	g->n = k;
}

int gstacks_add(struct tw_loop *l, __u64 gap_ts, __u32 stack, __u32 kind, __u32 nr, __u64 weight_ns)
{
	struct tw_gstacks *g = &l->gst;
	struct tw_gstack *e;

	if (!gap_ts)
		return 0;
	if (!is_kept_stall(l, gap_ts)) {
		if (gap_ts < g->pending)
			return 0; /* a gap already over that was no kept stall */
		if (gap_ts > g->pending) {
			if (g->pending && !is_kept_stall(l, g->pending))
				drop_gap(g, g->pending);
			g->pending = gap_ts;
		}
	}
	/* the same (gap, stack, kind, call) adds up: newest first */
	for (size_t i = g->n; i-- > 0;) {
		e = &g->v[i];
		if (e->gap_ts == gap_ts && e->stack == stack && e->kind == kind && e->nr == nr) {
			e->weight_ns += weight_ns;
			e->count++;
			return 0;
		}
	}
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 16;
		struct tw_gstack *nv = realloc(g->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		g->v = nv;
		g->cap = ncap;
	}
	g->v[g->n++] = (struct tw_gstack){ .gap_ts = gap_ts,
					   .stack = stack,
					   .kind = kind,
					   .nr = nr,
					   .weight_ns = weight_ns,
					   .count = 1 };
	return 0;
}

int model_gap_stack(struct tw_model *m, __u32 pid, __u32 tid, __u64 gap_ts, __u32 stack, __u32 kind,
		    __u32 nr, __u64 weight_ns)
{
	struct tw_proc *p = model_proc(m, pid);
	struct tw_thread *t = p ? proc_thread(p, tid) : NULL;
	struct tw_loop *l;

	/* a thread the model no longer holds on its own (packed, pruned), or the daemon's loops */
	if (!t || t->lite_loop || !gap_ts)
		return 0;
	l = model_thread_loop(t);
	if (!l)
		return -ENOMEM;
	return gstacks_add(l, gap_ts, stack, kind, nr, weight_ns);
}

void gstacks_free(struct tw_gstacks *g)
{
	free(g->v);
	g->v = NULL;
	g->n = g->cap = 0;
	g->pending = 0;
}
