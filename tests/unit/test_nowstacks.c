// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Stacks of threads blocked now (user/stackmodel.c's now map, user/view_now.c,
 * the renderers): which rows get which stack, and how an interval report's
 * stacks table holds only what its rows reference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit.h"
#include "model.h"
#include "report.h"
#include "view.h"

static __u32 one_stack(struct tw_stackset *s, const char *leaf, const char *own)
{
	struct tw_sframe a = { .func = (char *)leaf, .module = "/lib/libc.so.6", .plumbing = true };
	struct tw_sframe b = { .func = (char *)own, .module = "/app" };
	__u32 f[2];

	f[0] = (__u32)stackset_frame(s, &a);
	f[1] = (__u32)stackset_frame(s, &b);
	return (__u32)stackset_stack(s, f, 2);
}

TEST(stackset_now_map_resets)
{
	struct tw_stackset s = { 0 };
	__u32 st = one_stack(&s, "read", "serve"), got = 99;

	CHECK(!stackset_now_get(&s, 5, &got));
	CHECK_EQ(stackset_now_set(&s, 5, st), 0);
	CHECK(stackset_now_get(&s, 5, &got));
	CHECK_EQ(got, st);
	CHECK_EQ(stackset_now_set(&s, 0, st), 0); /* tid 0 is a key like any other */
	CHECK(stackset_now_get(&s, 0, &got));
	CHECK_EQ(stackset_now_set(&s, 6, 7), 0); /* past the table: never handed out */
	CHECK(!stackset_now_get(&s, 6, &got));
	s.now_stats.asked = 3;
	stackset_now_reset(&s);
	CHECK(!stackset_now_get(&s, 5, &got));
	CHECK_EQ(s.now_stats.asked, 0);
	stackset_free(&s);
}

/* Two threads asleep for 2 s, one with a stack from the pass; interval and final JSON, text. */
TEST(view_now_rows_reference_stacks)
{
	struct tw_view_opts o = {
		.final = false, .attach = "tp_btf", .blocked_ns = 1000, .stacks = true
	};
	struct tw_model m;
	struct tw_thread *a, *b;
	struct tw_view v;
	__u32 s0, s1;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	model_init(&m, false);
	a = model_thread_born(&m, 7, 8, "reader");
	b = model_thread_born(&m, 7, 9, "other");
	model_proc(&m, 7)->target = true;
	s0 = one_stack(&m.stacks, "write", "unused"); /* a stack of the run no row references */
	s1 = one_stack(&m.stacks, "read", "serve_pipe");
	CHECK_EQ(s1, 1);
	for (struct tw_thread *t = a; t; t = t == a ? b : NULL) {
		t->live_state = TW_ST_BLOCKED;
		t->live_state_ts = 1000;
		t->live_sys = 1; /* read */
	}
	m.live_ns = 3000;
	CHECK_EQ(stackset_now_set(&m.stacks, 8, s1), 0);
	m.stacks.now_stats.asked = 2;
	m.stacks.now_stats.taken = 1;

	/* interval: its stacks table is the referenced ones only, so the row's index is 0 */
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.procs[0].nblocked, 2);
	CHECK_EQ(v.nstack_sel, 1);
	CHECK(v.ss == &m.stacks);
	for (size_t i = 0; i < v.procs[0].nblocked; i++) {
		const struct tw_blocked_view *r = &v.procs[0].blocked[i];

		CHECK_EQ(r->now.has, r->tid == 8);
		if (r->tid == 8) {
			CHECK_EQ(r->now.ref, 0);
			CHECK_EQ(r->now.stack, s1);
			CHECK_EQ(r->now.own, 1); /* serve_pipe: past libc's read */
		}
	}
	f = open_memstream(&buf, &len);
	CHECK(!report_json(f, &v));
	fclose(f);
	CHECK(strstr(buf, "\"blocked_now_stacks\":{\"asked\":2,\"taken\":1,\"woke\":1,") != NULL);
	CHECK(strstr(buf, "\"stacks\":[[{\"func\":\"read\"") != NULL);
	CHECK(strstr(buf, "\"func\":\"unused\"") == NULL);
	CHECK(strstr(buf, "\"tid\":8,\"comm\":\"reader\"") != NULL);
	CHECK(strstr(buf, "\"stack\":0}") != NULL);
	CHECK(strstr(buf, "\"stack\":null}") != NULL);
	CHECK(strstr(buf, "stack_samples") == NULL); /* final reports only */
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	CHECK(!report_text(f, &v));
	fclose(f);
	CHECK(strstr(buf, "      stuck in: serve_pipe\n") != NULL);
	free(buf);
	buf = NULL;
	view_free(&v);

	/* final: the table is every stack of the run, the row's index its own */
	o.final = true;
	CHECK(!view_build(&v, &m, &o));
	CHECK(v.stack_sel == NULL);
	f = open_memstream(&buf, &len);
	CHECK(!report_json(f, &v));
	fclose(f);
	CHECK(strstr(buf, "\"func\":\"unused\"") != NULL);
	CHECK(strstr(buf, "\"stack\":1}") != NULL);
	free(buf);
	view_free(&v);
	(void)s0;
	model_free(&m);
}
