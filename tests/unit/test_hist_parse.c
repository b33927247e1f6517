// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include "hist.h"
#include "parse.h"
#include "unit.h"

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
