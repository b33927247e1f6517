// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <stdio.h>
#include <time.h>
#include "clock.h"

static __u64 ts_ns(const struct timespec *ts)
{
	return (__u64)ts->tv_sec * 1000000000ULL + (__u64)ts->tv_nsec;
}

void tw_clock_now(struct tw_clock *c)
{
	__u64 best = ~0ULL;

	/*
	 * Bracket a CLOCK_REALTIME read between two CLOCK_MONOTONIC reads; the
	 * narrowest of three brackets gives the offset to within its width
	 * (tens of ns), whatever preempted us in the others.
	 */
	for (int i = 0; i < 3; i++) {
		struct timespec m0, w, m1;
		__u64 a, b;

		clock_gettime(CLOCK_MONOTONIC, &m0);
		clock_gettime(CLOCK_REALTIME, &w);
		clock_gettime(CLOCK_MONOTONIC, &m1);
		a = ts_ns(&m0);
		b = ts_ns(&m1);
		if (b - a < best) {
			best = b - a;
			c->mono_ns = a + (b - a) / 2;
			c->wall_off_ns = (__s64)ts_ns(&w) - (__s64)c->mono_ns;
		}
	}
}

__s64 tw_wall_of(const struct tw_clock *c, __u64 mono_ns)
{
	return (__s64)mono_ns + c->wall_off_ns;
}

static void split(__s64 wall_ns, time_t *sec, long *nsec)
{
	*sec = (time_t)(wall_ns / 1000000000LL);
	*nsec = (long)(wall_ns % 1000000000LL);
	if (*nsec < 0) {
		*nsec += 1000000000L;
		(*sec)--;
	}
}

/* wall_ns as strftime's fmt (UTC) then '.' and the first `digits` digits of its ns, then tail. */
static const char *fmt_wall(char *buf, size_t len, __s64 wall_ns, const char *fmt, int digits,
			    const char *tail)
{
	static const long div[10] = { 1000000000, 100000000, 10000000, 1000000, 100000,
				      10000,	  1000,	     100,      10,	1 };
	struct tm tm;
	time_t sec;
	long nsec;
	size_t n;

	split(wall_ns, &sec, &nsec);
	if (!gmtime_r(&sec, &tm) || !(n = strftime(buf, len, fmt, &tm))) {
		snprintf(buf, len, "?");
		return buf;
	}
	snprintf(buf + n, len - n, ".%0*ld%s", digits, nsec / div[digits], tail);
	return buf;
}

const char *fmt_rfc3339(char *buf, size_t len, __s64 wall_ns)
{
	return fmt_wall(buf, len, wall_ns, "%Y-%m-%dT%H:%M:%S", 9, "Z");
}

const char *fmt_clock_ms(char *buf, size_t len, __s64 wall_ns)
{
	return fmt_wall(buf, len, wall_ns, "%H:%M:%S", 3, "");
}
