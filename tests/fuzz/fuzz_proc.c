// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* libFuzzer target: the parsers of /proc text (status, stat, comm, syscall, directory names). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char comm[TASK_COMM_LEN], *name;
	long nr, a1, a2;
	__u64 flags;
	__u32 v;

	parse_status_tgid((const char *)data, size, &v);
	parse_stat_flags((const char *)data, size, &flags);
	if (!parse_stat_field((const char *)data, size, 3, &flags) && (!flags || flags > 255))
		abort(); /* the state is one byte */
	parse_stat_field((const char *)data, size, 4, &flags);
	parse_comm((const char *)data, size, comm);
	parse_stat_state((const char *)data, size);
	parse_syscall_line((const char *)data, size, &nr, &a1, &a2);
	if (strnlen(comm, TASK_COMM_LEN) >= TASK_COMM_LEN)
		abort();
	name = strndup((const char *)data, size);
	if (name) {
		parse_task_id(name, &v);
		free(name);
	}
	return 0;
}
