// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * libFuzzer target: --unit names to cgroup paths, and a cgroup mount's super options
 * against /proc/PID/cgroup text to its hierarchy id. The input is split at its first NUL:
 * the options (and the unit name) before it, the /proc text after it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), out[64];
	const char *rest;
	__u32 hier = 12345;
	size_t n;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	n = strlen(buf);
	rest = n < size ? buf + n + 1 : "";
	if (!unit_cgroup_rel(buf, out, sizeof(out)) && strnlen(out, sizeof(out)) >= sizeof(out))
		abort();
	if (!cgroup_hier_of(buf, false, rest, &hier) && hier > 0x7fffffff)
		abort();
	free(buf);
	return 0;
}
