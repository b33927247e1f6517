// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * deepstack: a known user stack to unwind, built as Debian builds (no frame pointers,
 * asynchronous unwind tables; see the Makefile). main -> handle_request -> read_body ->
 * glibc's read(2) on a pipe whose write end it holds itself, so the read blocks until the
 * process is killed. Each function is a real frame: never inlined, cloned or tail-called.
 *
 * Prints, flushed, before it blocks, ONE JSON line:
 *   {"workload":"deepstack","pid":P,"fd":R}   R: the fd the read waits on
 * The lines of the calls are marked "LINE:<function>" for tests/e2e/test_unwind.py.
 */
#include <stdio.h>
#include <unistd.h>

#if defined(__clang__)
#define FRAME __attribute__((noinline, used))
#else
#define FRAME __attribute__((noipa, used))
#endif
/* code after each call: the call cannot become a jump */
#define AFTER_CALL() __asm__ volatile("" ::: "memory")

FRAME ssize_t read_body(int fd, char *buf, size_t len)
{
	ssize_t n = read(fd, buf, len); /* LINE:read_body */

	AFTER_CALL();
	return n;
}

FRAME ssize_t handle_request(int fd)
{
	char buf[256];
	ssize_t n = read_body(fd, buf, sizeof(buf)); /* LINE:handle_request */

	AFTER_CALL();
	return n;
}

int main(void)
{
	int fds[2];
	ssize_t n;

	if (pipe(fds)) {
		perror("deepstack: pipe");
		return 1;
	}
	printf("{\"workload\":\"deepstack\",\"pid\":%d,\"fd\":%d}\n", (int)getpid(), fds[0]);
	if (fflush(stdout))
		return 1;
	n = handle_request(fds[0]); /* LINE:main */
	AFTER_CALL();
	return n < 0;
}
