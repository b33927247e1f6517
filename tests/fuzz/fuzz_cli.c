// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* libFuzzer target: command-line numbers, durations and PID lists. */
#define FUZZ_MAX_PIDS 16
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "parse.h"
#include "threadwatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	__u32 pids[FUZZ_MAX_PIDS];
	char *s = strndup((const char *)data, size);
	size_t n;
	__u64 v;

	if (!s)
		return 0;
	if (!parse_u64(s, 5, 1000, &v) && (v < 5 || v > 1000))
		abort();
	if (!parse_seconds(s, 3600, &v) && (v == 0 || v > 3600000000000ULL))
		abort();
	if (!parse_pid_list(s, pids, FUZZ_MAX_PIDS, &n)) {
		if (!n || n > FUZZ_MAX_PIDS)
			abort();
		for (size_t i = 0; i < n; i++)
			if (!pids[i] || pids[i] > 4194304)
				abort();
	}
	free(s);
	return 0;
}
