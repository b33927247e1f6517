// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* libdeep.so: a library dlstack.c maps only after a first unwind, for the mappings' change. */
#include <unistd.h>

#if defined(__clang__)
#define FRAME __attribute__((noinline, used))
#else
#define FRAME __attribute__((noipa, used))
#endif
#define AFTER_CALL() __asm__ volatile("" ::: "memory")

FRAME ssize_t lib_read_body(int fd, char *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);

	AFTER_CALL();
	return n;
}
