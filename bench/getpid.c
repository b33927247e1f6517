// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * bench/getpid LOOPS: LOOPS getpid() syscalls in a row, one thread: the cheapest syscall
 * there is, and not one the agent times, so it measures what a syscall the agent does not
 * care about pays for the syscall hooks being on (raw sys_enter/sys_exit, or per-syscall
 * tracepoints of other calls: bench/floor.bpf.c's pst_* programs).
 *
 * Prints "loops <L> elapsed_ns <N> ns_per_loop <X>" on stdout (as bench/pingpong does):
 * CLOCK_MONOTONIC around the loop alone. Made by bench/run.sh with gcc -O2; a benchmark,
 * not a test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static unsigned long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long loops, i;
	unsigned long long t0, ns;
	long sum = 0;
	char *end;

	if (argc != 2) {
		fprintf(stderr, "usage: getpid LOOPS\n");
		return 2;
	}
	errno = 0;
	loops = strtoul(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || loops == 0 || loops > 10000000000UL) {
		fprintf(stderr, "getpid: bad LOOPS '%s' (1..10000000000)\n", argv[1]);
		return 2;
	}
	t0 = mono_ns();
	/* syscall(2), not getpid(3): no library may answer it from a cache */
	for (i = 0; i < loops; i++)
		sum += syscall(SYS_getpid);
	ns = mono_ns() - t0;
	if (sum != (long)getpid() * (long)loops) {
		fprintf(stderr, "getpid: the calls returned something else\n");
		return 1;
	}
	printf("loops %lu elapsed_ns %llu ns_per_loop %.1f\n", loops, ns, (double)ns / loops);
	return 0;
}
