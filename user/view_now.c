// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Where the threads listed as blocked now are stuck (issue 11): each BLOCKED
 * NOW row, and each loop STALLED NOW, gets the stack the blocked-now pass
 * made for this report found it asleep in (user/collect.c,
 * collect_now_stacks()), if it found one. A final report's stacks table is
 * every stack of the run, so a row references its stack by its index there;
 * an interval report prints only the stacks its rows reference, in the order
 * they are first referenced (stack_sel), and a row references its place in
 * that list.
 */
#include <errno.h>
#include <stdlib.h>
#include "view.h"

/* Stack's place in v->stack_sel, added if new. */
static int sel_ref(struct tw_view *v, __u32 stack, __u32 *ref)
{
	__u32 *n;

	for (size_t i = 0; i < v->nstack_sel; i++)
		if (v->stack_sel[i] == stack) {
			*ref = (__u32)i;
			return 0;
		}
	n = realloc(v->stack_sel, (v->nstack_sel + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	v->stack_sel = n;
	v->stack_sel[v->nstack_sel] = stack;
	*ref = (__u32)v->nstack_sel++;
	return 0;
}

static int now_of(struct tw_view *v, const struct tw_stackset *ss, __u32 tid,
		  struct tw_now_view *out)
{
	__u32 stack;

	*out = (struct tw_now_view){ 0 };
	if (!stackset_now_get(ss, tid, &stack))
		return 0;
	out->has = true;
	out->stack = stack;
	out->own = view_stack_own(ss, stack);
	out->ref = stack;
	return v->o.final ? 0 : sel_ref(v, stack, &out->ref);
}

static int proc_now(struct tw_view *v, struct tw_proc_view *pv, const struct tw_stackset *ss)
{
	for (size_t i = 0; i < pv->nmembers; i++)
		if (proc_now(v, &pv->members[i], ss))
			return -ENOMEM;
	for (size_t i = 0; i < pv->nblocked; i++)
		if (now_of(v, ss, pv->blocked[i].tid, &pv->blocked[i].now))
			return -ENOMEM;
	for (size_t i = 0; i < pv->nloops; i++)
		if (pv->loops[i].ongoing && now_of(v, ss, pv->loops[i].tid, &pv->loops[i].now))
			return -ENOMEM;
	return 0;
}

int view_now_stacks(struct tw_view *v, const struct tw_model *m)
{
	const struct tw_stackset *ss = &m->stacks;

	v->now_stats = ss->now_stats;
	for (size_t i = 0; i < v->nprocs; i++)
		if (proc_now(v, &v->procs[i], ss))
			return -ENOMEM;
	/* an interval report prints the stacks its rows reference */
	if (!v->o.final && v->nstack_sel)
		v->ss = ss;
	return 0;
}
