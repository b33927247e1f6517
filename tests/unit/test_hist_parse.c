// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include "hist.h"
#include "parse.h"
#include "unit.h"

TEST(hist_slots_match_bpf_side)
{
	CHECK_EQ(hist_slot_of(0), 0);
	CHECK_EQ(hist_slot_of(1), 0);
	CHECK_EQ(hist_slot_of(2), 1);
	CHECK_EQ(hist_slot_of(3), 1);
	CHECK_EQ(hist_slot_of(1024), 10);
	CHECK_EQ(hist_slot_of(200000000), 27); /* 200 ms */
	CHECK_EQ(hist_slot_of(~0ULL), TW_HIST_SLOTS - 1); /* clamped */
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		CHECK(hist_lo(i) < hist_hi(i));
		CHECK_EQ(hist_slot_of(hist_lo(i)), i);
		if (i < TW_HIST_SLOTS - 1)
			CHECK_EQ(hist_slot_of(hist_hi(i) - 1), i);
	}
	CHECK_EQ(hist_lo(0), 0);
	CHECK_EQ(hist_hi(0), 2);
	CHECK_EQ(hist_lo(27), 134217728);
}

TEST(hist_add_sub_count)
{
	struct tw_hist a = {}, b = {}, d;

	a.slot[3] = 5;
	a.slot[10] = 7;
	b.slot[3] = 2;
	hist_add(&a, &b);
	CHECK_EQ(a.slot[3], 7);
	CHECK_EQ(hist_count(&a), 14);
	hist_sub(&d, &a, &b);
	CHECK_EQ(d.slot[3], 5);
	CHECK_EQ(d.slot[10], 7);
	CHECK(!hist_empty(&d));
	memset(&d, 0, sizeof(d));
	CHECK(hist_empty(&d));
}

TEST(hist_percentiles)
{
	struct tw_hist h = {};

	CHECK_EQ(hist_percentile(&h, 0.5), 0);
	h.slot[20] = 100; /* [1048576, 2097152) */
	CHECK(hist_percentile(&h, 0.5) >= 1048576 && hist_percentile(&h, 0.5) < 2097152);
	CHECK_EQ(hist_percentile(&h, 1.0), 2097152);
	h.slot[30] = 1;
	/* p99 of 101 samples stays in the big bucket; max lands in the outlier's */
	CHECK(hist_percentile(&h, 0.99) < 2097152);
	CHECK(hist_percentile(&h, 1.0) >= (1ULL << 30));
}

TEST(fmt_ns_units)
{
	char b[16];

	CHECK(!strcmp(fmt_ns(b, sizeof(b), 0), "0ns"));
	CHECK(!strcmp(fmt_ns(b, sizeof(b), 999), "999ns"));
	CHECK(!strcmp(fmt_ns(b, sizeof(b), 1500), "1.5us"));
	CHECK(!strcmp(fmt_ns(b, sizeof(b), 250000000), "250ms"));
	CHECK(!strcmp(fmt_ns(b, sizeof(b), 2000000000ULL), "2s"));
}

TEST(parse_u64_bounds)
{
	__u64 v = 0;

	CHECK(!parse_u64("42", 0, 100, &v) && v == 42);
	CHECK_EQ(parse_u64("", 0, 100, &v), (unsigned long long)-EINVAL);
	CHECK_EQ(parse_u64("-1", 0, 100, &v), (unsigned long long)-EINVAL);
	CHECK_EQ(parse_u64("+1", 0, 100, &v), (unsigned long long)-EINVAL);
	CHECK_EQ(parse_u64(" 1", 0, 100, &v), (unsigned long long)-EINVAL);
	CHECK_EQ(parse_u64("1x", 0, 100, &v), (unsigned long long)-EINVAL);
	CHECK_EQ(parse_u64("101", 0, 100, &v), (unsigned long long)-ERANGE);
	CHECK_EQ(parse_u64("99999999999999999999999", 0, ~0ULL, &v), (unsigned long long)-ERANGE);
	CHECK(!parse_u64("18446744073709551615", 0, ~0ULL, &v) && v == ~0ULL);
}

TEST(parse_seconds_values)
{
	__u64 ns = 0;

	CHECK(!parse_seconds("2", 100, &ns) && ns == 2000000000ULL);
	CHECK(!parse_seconds("0.5", 100, &ns) && ns == 500000000ULL);
	CHECK(!parse_seconds(".25", 100, &ns) && ns == 250000000ULL);
	CHECK(parse_seconds("0", 100, &ns));
	CHECK(parse_seconds("-1", 100, &ns));
	CHECK(parse_seconds("abc", 100, &ns));
	CHECK(parse_seconds("1e3", 100, &ns));
	CHECK(parse_seconds("nan", 100, &ns));
	CHECK(parse_seconds("inf", 100, &ns));
	CHECK(parse_seconds("1e400", 1e9, &ns));
	CHECK(parse_seconds("5s", 100, &ns));
	CHECK(parse_seconds("", 100, &ns));
	CHECK(parse_seconds("0.0000000001", 100, &ns));
}

TEST(parse_pid_lists)
{
	__u32 p[4];
	size_t n;

	CHECK(!parse_pid_list("1", p, 4, &n) && n == 1 && p[0] == 1);
	CHECK(!parse_pid_list("12,34,56", p, 4, &n) && n == 3 && p[2] == 56);
	CHECK_EQ(parse_pid_list("", p, 4, &n), (unsigned long long)-EINVAL);
	CHECK_EQ(parse_pid_list("1,", p, 4, &n), (unsigned long long)-EINVAL);
	CHECK_EQ(parse_pid_list(",1", p, 4, &n), (unsigned long long)-EINVAL);
	CHECK_EQ(parse_pid_list("1,abc", p, 4, &n), (unsigned long long)-EINVAL);
	CHECK_EQ(parse_pid_list("0", p, 4, &n), (unsigned long long)-ERANGE);
	CHECK_EQ(parse_pid_list("4194305", p, 4, &n), (unsigned long long)-ERANGE);
	CHECK_EQ(parse_pid_list("1,2,3,4,5", p, 4, &n), (unsigned long long)-E2BIG);
	CHECK_EQ(parse_pid_list("7,7", p, 4, &n), (unsigned long long)-EEXIST);
	CHECK_EQ(parse_pid_list("-5", p, 4, &n), (unsigned long long)-EINVAL);
}
