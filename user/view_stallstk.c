// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Where each stall's time went, for a final report with stacks: the samples
 * of its gap (user/stallstk.c), heaviest first, and their sums by kind,
 * blocked (the calls that returned in the gap) and on CPU (the cpu-clock
 * samples that caught the loop running in it). Renderers print these.
 */
#include <errno.h>
#include <stdlib.h>
#include "view.h"

static int cmp_weight(const void *a, const void *b)
{
	const struct tw_stack_view *x = a, *y = b;

	if (x->weight_ns != y->weight_ns)
		return x->weight_ns > y->weight_ns ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	return x->nr < y->nr ? -1 : x->nr > y->nr;
}

/* The samples of the gap starting at gap_ts into out. 0 or -ENOMEM. */
static int stall_stacks(struct tw_stall_stacks *out, const struct tw_gstacks *g, __u64 gap_ts,
			const struct tw_stackset *ss)
{
	size_t n = 0;

	for (size_t i = 0; i < g->n; i++)
		n += g->v[i].gap_ts == gap_ts;
	if (!n)
		return 0;
	out->v = calloc(n, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++) {
		const struct tw_gstack *e = &g->v[i];
		struct tw_stack_view *sv;

		if (e->gap_ts != gap_ts || e->stack >= ss->nstacks)
			continue;
		sv = &out->v[out->n++];
		sv->stack = e->stack;
		sv->nr = e->nr;
		sv->kind = e->kind;
		sv->weight_ns = e->weight_ns;
		sv->count = e->count;
		sv->nthreads = 1;
		sv->own = view_stack_own(ss, e->stack);
		if (e->kind == TW_SK_ONCPU) {
			out->oncpu_ns += e->weight_ns;
			out->oncpu_samples += e->count;
		} else {
			out->blocked_ns += e->weight_ns;
			out->blocked_samples += e->count;
		}
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_weight);
	for (size_t i = 0; i < out->n; i++) {
		const struct tw_stack_view *sv = &out->v[i];

		if (sv->kind == TW_SK_ONCPU && !out->top_oncpu)
			out->top_oncpu = sv;
		else if (sv->kind != TW_SK_ONCPU && !out->top_blocked)
			out->top_blocked = sv;
	}
	return 0;
}

int view_stall_stacks(struct tw_proc_view *pv, const struct tw_stackset *ss)
{
	for (size_t i = 0; i < pv->nmembers; i++)
		if (view_stall_stacks(&pv->members[i], ss))
			return -ENOMEM;
	for (size_t i = 0; i < pv->nloops; i++) {
		struct tw_loop_view *lv = &pv->loops[i];
		const struct tw_gstacks *g = lv->model ? &lv->model->gst : NULL;

		/* allocated also without samples: sstk says the report has stacks */
		lv->sstk = calloc(lv->nstalls + 1, sizeof(*lv->sstk));
		if (!lv->sstk)
			return -ENOMEM;
		if (!g)
			continue;
		for (size_t k = 0; k < lv->nstalls; k++)
			if (stall_stacks(&lv->sstk[k], g, lv->stalls[k].start_ns, ss))
				return -ENOMEM;
		if (lv->ongoing &&
		    stall_stacks(&lv->sstk[lv->nstalls], g, lv->ongoing->start_ns, ss))
			return -ENOMEM;
	}
	return 0;
}

void view_stall_stacks_free(struct tw_proc_view *pv)
{
	for (size_t i = 0; i < pv->nloops; i++) {
		struct tw_loop_view *lv = &pv->loops[i];

		if (!lv->sstk)
			continue;
		for (size_t k = 0; k <= lv->nstalls; k++)
			free(lv->sstk[k].v);
		free(lv->sstk);
		lv->sstk = NULL;
	}
}
