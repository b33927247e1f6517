// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * libFuzzer target: /proc/PID/cgroup text and cgroup paths to container ids and pod UIDs.
 * What comes out must be well formed: a NUL-terminated path that fits, an id of 64 lowercase
 * hex or "", a pod UID of 8-4-4-4-12 or 32 lowercase hex or "".
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cgroup.h"

static int hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

static void check(const char *path)
{
	struct tw_container c;
	size_t n, i;
	int err;

	memset(&c, 'x', sizeof(c));
	err = parse_cgroup_container(path, &c);
	n = strnlen(c.container_id, TW_ID_LEN);
	if (n != 0 && n != 64)
		abort();
	for (i = 0; i < n; i++)
		if (!hex(c.container_id[i]))
			abort();
	if (n && !strstr(path, c.container_id))
		abort();
	n = strnlen(c.pod_uid, TW_UID_LEN);
	if (n != 0 && n != 32 && n != 36)
		abort();
	for (i = 0; i < n; i++) {
		int dash = n == 36 && (i == 8 || i == 13 || i == 18 || i == 23);

		if (dash ? c.pod_uid[i] != '-' : !hex(c.pod_uid[i]))
			abort();
	}
	if (err != (c.container_id[0] || c.pod_uid[0] ? 0 : -ENOENT))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[512], small[8], *s;

	memset(path, 'x', sizeof(path));
	if (!parse_proc_cgroup((const char *)data, size, path, sizeof(path))) {
		if (strnlen(path, sizeof(path)) >= sizeof(path) || path[0] != '/')
			abort();
		check(path);
	}
	if (!parse_proc_cgroup((const char *)data, size, small, sizeof(small)) &&
	    strnlen(small, sizeof(small)) >= sizeof(small))
		abort();
	if (parse_proc_cgroup((const char *)data, size, small, 0) != -ENOENT)
		abort();
	s = strndup((const char *)data, size);
	if (s) {
		check(s);
		free(s);
	}
	return 0;
}
