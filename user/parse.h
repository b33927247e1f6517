/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* Parsers of outside input: command-line numbers and lists. Pure, fuzzed. */
#ifndef TW_PARSE_H
#define TW_PARSE_H

#include <stddef.h>
#include <linux/types.h>

/* A whole decimal number in [min, max]. 0 on success, -EINVAL / -ERANGE otherwise. */
int parse_u64(const char *s, __u64 min, __u64 max, __u64 *out);
/* Seconds as a decimal with an optional fraction ("2", "0.5"), > 0 and <= max_s; out in ns. */
int parse_seconds(const char *s, double max_s, __u64 *out_ns);
/*
 * "123,456": up to max PIDs, each in [1, 4194304] (PID_MAX_LIMIT), no duplicates.
 * 0 on success, -EINVAL (bad or empty item), -ERANGE (out of range), -E2BIG (too many),
 * -EEXIST (duplicate).
 */
int parse_pid_list(const char *s, __u32 *pids, size_t max, size_t *n);
/* The index of s in names[0..n), or -EINVAL: the values of a flag like --format text|json. */
int parse_choice(const char *s, const char *const *names, int n);

#endif
