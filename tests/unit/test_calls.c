// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <string.h>
#include <sys/syscall.h>
#include "calls.h"
#include "unit.h"

static struct tw_call_stats stats(__u64 count, __u64 errors, __u64 total, unsigned int slot)
{
	struct tw_call_stats s = { .count = count, .errors = errors, .total_ns = total };

	s.hist[slot] = count;
	return s;
}

TEST(call_table_and_names)
{
	__u8 table[TW_SYSCALL_NR_MAX] = {};

	calls_fill_table(table, TW_SYSCALL_NR_MAX);
	CHECK_EQ(table[SYS_read], TW_CALL_READ);
	CHECK_EQ(table[SYS_futex], TW_CALL_FUTEX);
	CHECK_EQ(table[SYS_clock_nanosleep], TW_CALL_CLOCK_NANOSLEEP);
	CHECK_EQ(table[SYS_getpid], TW_CALL_NONE);
	for (__u32 c = 1; c < TW_CALL_NR; c++)
		CHECK(strcmp(call_name(c), "?") != 0);
	CHECK(!strcmp(call_name(TW_CALL_NR), "?"));
	CHECK(TW_CALL_NR <= 32); /* one bit each in tw_thread_stats.calls_used */
}

TEST(calls_set_add_delta)
{
	struct tw_calls a = {}, mark = {}, d = {}, sum = {};
	struct tw_call_key kr = { .tid = 1, .call = TW_CALL_READ };
	struct tw_call_key kf = { .tid = 1, .call = TW_CALL_FUTEX };
	struct tw_call_stats s;
	const struct tw_call_rec *order[TW_CALL_NR] = { 0 };

	s = stats(2, 1, 500, 8);
	CHECK(!calls_set(&a, &kf, &s));
	s = stats(3, 0, 100, 6);
	CHECK(!calls_set(&a, &kr, &s));
	CHECK_EQ(a.n, 2);
	CHECK_EQ(a.v[0].call, TW_CALL_READ); /* kept sorted by call */
	CHECK(!calls_copy(&mark, &a));
	/* later: one more read, futex unchanged */
	s = stats(4, 0, 180, 6);
	CHECK(!calls_set(&a, &kr, &s));
	CHECK_EQ(a.n, 2);
	CHECK(!calls_delta(&d, &a, &mark));
	CHECK_EQ(d.n, 1); /* the idle futex is left out */
	CHECK_EQ(d.v[0].call, TW_CALL_READ);
	CHECK_EQ(d.v[0].count, 1);
	CHECK_EQ(d.v[0].total_ns, 80);
	CHECK(d.v[0].hist && d.v[0].hist->n == 1 && d.v[0].hist->b[0].count == 1);
	CHECK(!calls_add(&sum, &a));
	CHECK(!calls_add(&sum, &mark));
	CHECK_EQ(sum.n, 2);
	CHECK_EQ(calls_by_total(&sum, order), 2);
	CHECK_EQ(order[0]->call, TW_CALL_FUTEX); /* 1000 ns beats 280 */
	CHECK_EQ(order[0]->total_ns, 1000);
	CHECK_EQ(order[0]->errors, 2);
	CHECK_EQ(order[1]->count, 7);
	calls_free(&a);
	calls_free(&mark);
	calls_free(&d);
	calls_free(&sum);
	CHECK(a.n == 0 && a.v == NULL);
}
