// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * bench/pingpong LOOPS: two threads of one process pass one byte back and forth
 * through two pipes with plain read()/write(), LOOPS round trips (0: until killed).
 * Each round trip is 4 syscalls (main: write, read; helper: read, write), and, when
 * both threads share a CPU, 2 context switches: a syscall-heavy workload for the
 * syscall tracers (bpf-threadwatch --syscalls, strace -f, bpftrace).
 *
 * Prints "loops <L> elapsed_ns <N> ns_per_loop <X>" on stdout: CLOCK_MONOTONIC
 * around the timed loop alone, after a short warm-up, so process start-up,
 * thread creation and a tracer's attach are not part of it. With LOOPS 0 it
 * prints nothing and runs until a signal ends it (the traced process of the
 * neighbour benchmark, which only has to keep the tracer busy).
 *
 * bench/run.sh starts it stopped (SIGSTOP before exec) and builds it with
 * gcc -O2 -pthread; it is a benchmark, not a test.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 1000UL

static int to_helper[2], to_main[2];

static unsigned long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void xfer(int fd, int out, char *c)
{
	ssize_t n = out ? write(fd, c, 1) : read(fd, c, 1);

	if (n != 1) {
		fprintf(stderr, "pingpong: %s: %s\n", out ? "write" : "read",
			n < 0 ? strerror(errno) : "short");
		exit(1);
	}
}

/* Echoes every byte back until the main thread closes its end. */
static void *helper(void *arg)
{
	char c;
	ssize_t n;

	while ((n = read(to_helper[0], &c, 1)) == 1)
		xfer(to_main[1], 1, &c);
	if (n < 0) {
		fprintf(stderr, "pingpong: helper read: %s\n", strerror(errno));
		exit(1);
	}
	return arg;
}

static void loop(unsigned long n)
{
	char c = 'x';
	unsigned long i;

	for (i = 0; n == 0 || i < n; i++) {
		xfer(to_helper[1], 1, &c);
		xfer(to_main[0], 0, &c);
	}
}

int main(int argc, char **argv)
{
	unsigned long loops;
	unsigned long long start, ns;
	pthread_t tid;
	char *end;
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: pingpong LOOPS (0: until killed)\n");
		return 2;
	}
	errno = 0;
	loops = strtoul(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || loops > 1000000000UL) {
		fprintf(stderr, "pingpong: bad LOOPS '%s' (0..1000000000)\n", argv[1]);
		return 2;
	}
	if (pipe(to_helper) || pipe(to_main)) {
		perror("pingpong: pipe");
		return 1;
	}
	err = pthread_create(&tid, NULL, helper, NULL);
	if (err) {
		fprintf(stderr, "pingpong: pthread_create: %s\n", strerror(err));
		return 1;
	}
	loop(WARMUP);
	start = mono_ns();
	loop(loops);
	ns = mono_ns() - start;
	close(to_helper[1]);
	err = pthread_join(tid, NULL);
	if (err) {
		fprintf(stderr, "pingpong: pthread_join: %s\n", strerror(err));
		return 1;
	}
	printf("loops %lu elapsed_ns %llu ns_per_loop %.1f\n", loops, ns, (double)ns / loops);
	return 0;
}
