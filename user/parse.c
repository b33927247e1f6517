// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "parse.h"

#define PID_MAX_LIMIT 4194304 /* include/linux/threads.h, 64-bit */

int parse_u64(const char *s, __u64 min, __u64 max, __u64 *out)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL; /* rejects "", "-1", " 1", "+1" */
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_seconds(const char *s, double max_s, __u64 *out_ns)
{
	char *end;
	double v;

	if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end || end == s || isnan(v))
		return -EINVAL;
	if (errno == ERANGE || isinf(v) || v <= 0 || v > max_s)
		return -ERANGE;
	*out_ns = (__u64)(v * 1e9);
	if (!*out_ns)
		return -ERANGE; /* below a nanosecond */
	return 0;
}

int parse_pid_list(const char *s, __u32 *pids, size_t max, size_t *n)
{
	const char *p = s;

	*n = 0;
	if (!s || !*s)
		return -EINVAL;
	for (;;) {
		char item[16];
		size_t len = strcspn(p, ",");
		__u64 v;
		int err;

		if (!len || len >= sizeof(item))
			return len ? -ERANGE : -EINVAL;
		memcpy(item, p, len);
		item[len] = '\0';
		err = parse_u64(item, 1, PID_MAX_LIMIT, &v);
		if (err)
			return err;
		for (size_t i = 0; i < *n; i++)
			if (pids[i] == v)
				return -EEXIST;
		if (*n == max)
			return -E2BIG;
		pids[(*n)++] = (__u32)v;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

int parse_choice(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -EINVAL;
}
