// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * deepstack: a known user stack to unwind, built as Debian builds (no frame pointers,
 * asynchronous unwind tables; see the Makefile). main -> handle_request -> read_body ->
 * glibc's read(2) on a pipe whose write end it holds itself, so the read blocks until the
 * process is killed. Each function is a real frame: never inlined, cloned or tail-called.
 *
 * deepstack --thread: the same stack in a second thread (thread_main -> handle_request ...),
 * while main waits in pthread_join.
 *
 * Prints, flushed, before it blocks, ONE JSON line:
 *   {"workload":"deepstack","pid":P,"tid":T,"fd":R}   T: the thread that reads, R: its fd
 * The lines of the calls are marked "LINE:<function>" for tests/e2e/test_unwind.py.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

static int fds[2];

static int announce(void)
{
	printf("{\"workload\":\"deepstack\",\"pid\":%d,\"tid\":%d,\"fd\":%d}\n", (int)getpid(),
	       (int)gettid(), fds[0]);
	return fflush(stdout);
}

FRAME void *thread_main(void *arg)
{
	ssize_t n;

	(void)arg;
	if (announce())
		return (void *)(intptr_t)-1;
	n = handle_request(fds[0]); /* LINE:thread_main */
	AFTER_CALL();
	return (void *)(intptr_t)n;
}

int main(int argc, char **argv)
{
	ssize_t n;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--thread"))) {
		fprintf(stderr, "usage: deepstack [--thread]\n");
		return 2;
	}
	if (pipe(fds)) {
		perror("deepstack: pipe");
		return 1;
	}
	if (argc == 2) {
		pthread_t t;
		void *ret;

		if (pthread_create(&t, NULL, thread_main, NULL) || pthread_join(t, &ret))
			return 1;
		return ret != NULL;
	}
	if (announce())
		return 1;
	n = handle_request(fds[0]); /* LINE:main */
	AFTER_CALL();
	return n < 0;
}
