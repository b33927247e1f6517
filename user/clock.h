/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The two clocks every output carries: CLOCK_MONOTONIC, which the kernel side
 * stamps events with (bpf_ktime_get_ns), and the wall clock (CLOCK_REALTIME)
 * that people and log systems line things up with. A monotonic time becomes
 * a wall time through the offset between the two, read once per report.
 */
#ifndef TW_CLOCK_H
#define TW_CLOCK_H

#include <stddef.h>
#include <linux/types.h>

/* RFC 3339 in UTC with nanoseconds: "2026-12-01T06:50:01.123456789Z". */
#define TW_RFC3339_LEN 40

struct tw_clock {
	__u64 mono_ns; /* CLOCK_MONOTONIC now */
	__s64 wall_off_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC, in ns */
};

/* Read both clocks now (the offset from the tightest of a few brackets). */
void tw_clock_now(struct tw_clock *c);
/* The wall time, in ns since the epoch, of a CLOCK_MONOTONIC instant. */
__s64 tw_wall_of(const struct tw_clock *c, __u64 mono_ns);
/* Format wall_ns (ns since the epoch) as RFC 3339 UTC with 9 decimals. */
const char *fmt_rfc3339(char *buf, size_t len, __s64 wall_ns);
/* "06:50:01.123", the wall time of day (UTC) to the millisecond, for text reports. */
const char *fmt_clock_ms(char *buf, size_t len, __s64 wall_ns);

#endif
