// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * bench/storm N [WINDOW]: create and join N threads in total, WINDOW (default 64)
 * alive at once, as a sliding window: once the window is full, main joins the
 * oldest thread and creates the next one in its slot. Each thread does nothing.
 *
 * Prints "elapsed_s <seconds>" on stdout: the time of the create/join loop alone,
 * so process start-up and the tracer's attach are not part of the measurement.
 * bench/run.sh builds it with gcc -O2 -pthread; it is a benchmark, not a test.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WINDOW 1024
/*
 * Small stacks: glibc caches freed stacks up to 40 MiB, so 64 default (8 MiB)
 * stacks would be unmapped and mapped again for every thread, and the storm
 * would measure mmap rather than thread creation.
 */
#define STORM_STACK (64 * 1024)

static void *nothing(void *arg)
{
	return arg;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long parse(const char *s, const char *what, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max) {
		fprintf(stderr, "storm: bad %s '%s' (1..%lu)\n", what, s, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static pthread_t slots[MAX_WINDOW];
	unsigned long total, window = 64, i;
	pthread_attr_t attr;
	double start;
	int err;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: storm N [WINDOW]\n");
		return 2;
	}
	total = parse(argv[1], "N", 100000000UL);
	if (argc == 3)
		window = parse(argv[2], "WINDOW", MAX_WINDOW);
	if (window > total)
		window = total;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STORM_STACK);

	start = mono_s();
	for (i = 0; i < total; i++) {
		pthread_t *slot = &slots[i % window];

		if (i >= window && (err = pthread_join(*slot, NULL))) {
			fprintf(stderr, "storm: pthread_join: %s\n", strerror(err));
			return 1;
		}
		err = pthread_create(slot, &attr, nothing, NULL);
		if (err) {
			fprintf(stderr, "storm: pthread_create #%lu: %s\n", i, strerror(err));
			return 1;
		}
	}
	for (i = 0; i < window; i++) {
		err = pthread_join(slots[i], NULL);
		if (err) {
			fprintf(stderr, "storm: pthread_join: %s\n", strerror(err));
			return 1;
		}
	}
	printf("threads %lu window %lu elapsed_s %.6f\n", total, window, mono_s() - start);
	return 0;
}
