// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * bench/sysloop getpid|read LOOPS: LOOPS syscalls in a row, one thread, none of which sleeps.
 *   getpid  the cheapest syscall there is, and not one the agent times: what a call nobody
 *           asked about pays for the syscall hooks being on (raw sys_enter/sys_exit run for
 *           it; the per-syscall tracepoints of bench/floor.bpf.c's pst_* programs do not)
 *   read    a 1-byte read() of /dev/zero: a timed call (the read/write family) that returns
 *           at once, so its cost is the hooks' and nothing waits in it
 * Both without the context switches and wake-ups of bench/pingpong, which swamp what one
 * syscall hook costs.
 *
 * Prints "loops <L> elapsed_ns <N> ns_per_loop <X>" on stdout (as bench/pingpong does):
 * CLOCK_MONOTONIC around the loop alone. Made by bench/run.sh with gcc -O2; a benchmark,
 * not a test.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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
	bool is_read;
	long sum = 0;
	char *end, c;
	int fd = -1;

	if (argc != 3 || (strcmp(argv[1], "getpid") && strcmp(argv[1], "read"))) {
		fprintf(stderr, "usage: sysloop getpid|read LOOPS\n");
		return 2;
	}
	is_read = !strcmp(argv[1], "read");
	errno = 0;
	loops = strtoul(argv[2], &end, 10);
	if (errno || end == argv[2] || *end || loops == 0 || loops > 10000000000UL) {
		fprintf(stderr, "sysloop: bad LOOPS '%s' (1..10000000000)\n", argv[2]);
		return 2;
	}
	if (is_read && (fd = open("/dev/zero", O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "sysloop: /dev/zero: %s\n", strerror(errno));
		return 1;
	}
	t0 = mono_ns();
	/* syscall(2), not getpid(3): no library may answer it from a cache */
	if (is_read)
		for (i = 0; i < loops; i++)
			sum += read(fd, &c, 1);
	else
		for (i = 0; i < loops; i++)
			sum += syscall(SYS_getpid);
	ns = mono_ns() - t0;
	if (sum != (is_read ? (long)loops : (long)getpid() * (long)loops)) {
		fprintf(stderr, "sysloop: the calls returned something else\n");
		return 1;
	}
	printf("loops %lu elapsed_ns %llu ns_per_loop %.1f\n", loops, ns, (double)ns / loops);
	return 0;
}
