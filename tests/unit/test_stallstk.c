// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* Stack samples of loop gaps attached to the stalls they become (user/stallstk.c). */
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "model.h"

static void keep_stall(struct tw_loop *l, __u64 start)
{
	l->stalls = realloc(l->stalls, (l->nstalls + 1) * sizeof(*l->stalls));
	memset(&l->stalls[l->nstalls], 0, sizeof(*l->stalls));
	l->stalls[l->nstalls++].start_ns = start;
}

static __u64 weight_of(const struct tw_loop *l, __u64 gap, __u32 kind)
{
	__u64 w = 0;

	for (size_t i = 0; i < l->gst.n; i++)
		if (l->gst.v[i].gap_ts == gap && l->gst.v[i].kind == kind)
			w += l->gst.v[i].weight_ns;
	return w;
}

TEST(gstacks_follow_their_stalls)
{
	struct tw_loop l = { 0 };

	/* a gap's samples add up by (stack, kind, call) while it is pending */
	CHECK_EQ(gstacks_add(&l, 100, 1, TW_SK_ONCPU, 0, 10), 0);
	CHECK_EQ(gstacks_add(&l, 100, 1, TW_SK_ONCPU, 0, 10), 0);
	CHECK_EQ(gstacks_add(&l, 100, 2, TW_SK_BLOCKED, 1, 300), 0);
	CHECK_EQ(l.gst.n, 2);
	CHECK_EQ(l.gst.v[0].count, 2);
	CHECK_EQ(l.gst.pending, 100);
	/* the gap became a kept stall: a later gap's sample keeps them */
	keep_stall(&l, 100);
	CHECK_EQ(gstacks_add(&l, 200, 1, TW_SK_ONCPU, 0, 10), 0);
	CHECK_EQ(weight_of(&l, 100, TW_SK_ONCPU), 20);
	CHECK_EQ(weight_of(&l, 100, TW_SK_BLOCKED), 300);
	/* a late sample of the kept stall (the unwinder behind) still joins it */
	CHECK_EQ(gstacks_add(&l, 100, 3, TW_SK_ONCPU, 0, 10), 0);
	CHECK_EQ(weight_of(&l, 100, TW_SK_ONCPU), 30);
	/* gap 200 was no stall: the next gap's sample drops its samples */
	CHECK_EQ(gstacks_add(&l, 300, 1, TW_SK_ONCPU, 0, 10), 0);
	CHECK_EQ(weight_of(&l, 200, TW_SK_ONCPU), 0);
	CHECK_EQ(l.gst.pending, 300);
	/* and a late one of that gap is not kept either */
	CHECK_EQ(gstacks_add(&l, 200, 1, TW_SK_ONCPU, 0, 10), 0);
	CHECK_EQ(weight_of(&l, 200, TW_SK_ONCPU), 0);
	/* outside a gap: nothing */
	CHECK_EQ(gstacks_add(&l, 0, 1, TW_SK_BLOCKED, 1, 10), 0);
	CHECK_EQ(l.gst.n, 4);
	/* many gaps that are no stalls: memory stays at one gap's */
	for (__u64 g = 400; g < 40000; g += 100)
		CHECK_EQ(gstacks_add(&l, g, (__u32)(g % 7), TW_SK_ONCPU, 0, 10), 0);
	CHECK(l.gst.n <= 5);
	gstacks_free(&l.gst);
	free(l.stalls);
}
