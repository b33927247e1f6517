// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * storm N [BATCH]: N thread creations in total, in batches of at most BATCH
 * (default 64) threads alive at once; each thread does almost nothing.
 *
 * The peak is exact by construction, so a test can compare it with the
 * tool's:
 *  - main holds a mutex while it creates a batch and every thread takes it
 *    once before returning, so all threads of a batch are alive together;
 *  - after joining a batch, main waits until /proc/self/status says
 *    "Threads: 1". pthread_join returns when the kernel clears the child tid
 *    (exit_mm), a little before the thread's exit is complete; the count
 *    drops only when the thread is released, after its exit tracepoints.
 *    So no two batches ever overlap, even as the kernel sees it.
 * peak_alive counts worker threads (the largest batch that was created);
 * the process peaks at peak_alive + 1 with main.
 */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>

#include "workload.h"

#define MAX_BATCH 1024
/*
 * Small stacks: glibc caches freed stacks up to 40 MiB, so 64 default (8 MiB)
 * stacks would be unmapped and mapped again for every thread.
 */
#define STORM_STACK (64 * 1024)

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void *storm_main(void *arg)
{
	pthread_mutex_lock(&gate);
	pthread_mutex_unlock(&gate);
	return arg;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		WL_COMMON_OPTIONS,
		{ 0 },
	};
	struct wl_common c = {
		.prog = "storm",
		.usage = "[--wait-stdin] [--out FILE] N [BATCH]",
		.help = "  N             thread creations in total (1..10000000)\n"
			"  BATCH         at most this many alive at once (1..1024, default 64)\n",
	};
	unsigned long total, batch = 64, done = 0, created = 0, failed = 0, peak = 0;
	unsigned long batches = 0, settle_waits = 0, other_errno = 0, k, n, i;
	unsigned long failed_eagain = 0;
	pthread_attr_t attr;
	pthread_t *threads;
	long long start, elapsed;
	int opt, err;
	long nr;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (wl_common_opt(&c, opt, optarg))
			wl_print_usage(&c, 2);
	if (argc - optind < 1 || argc - optind > 2)
		wl_usage_error(&c, "expected 1 or 2 arguments (N [BATCH]), got %d", argc - optind);
	total = wl_parse_ulong(&c, "N", argv[optind], 1, 10000000);
	if (argc - optind == 2)
		batch = wl_parse_ulong(&c, "BATCH", argv[optind + 1], 1, MAX_BATCH);

	wl_open_out(&c);
	threads = calloc(batch, sizeof(*threads));
	if (!threads)
		wl_die(&c, errno, "calloc");

	err = pthread_attr_init(&attr);
	if (!err)
		err = pthread_attr_setstacksize(&attr, STORM_STACK);
	if (err)
		wl_die(&c, err, "pthread_attr_setstacksize");

	if (c.wait_stdin)
		wl_wait_line(&c);

	start = wl_now_ns(CLOCK_MONOTONIC);
	while (done < total) {
		k = total - done < batch ? total - done : batch;
		n = 0;
		pthread_mutex_lock(&gate);
		for (i = 0; i < k; i++) {
			err = pthread_create(&threads[n], &attr, storm_main, NULL);
			if (!err) {
				n++;
			} else {
				failed++;
				if (err == EAGAIN)
					failed_eagain++;
				else
					other_errno = err;
			}
		}
		pthread_mutex_unlock(&gate);
		for (i = 0; i < n; i++) {
			err = pthread_join(threads[i], NULL);
			if (err)
				wl_die(&c, err, "pthread_join");
		}
		while ((nr = wl_proc_threads()) != 1) {
			if (nr < 0)
				wl_die(&c, errno, "reading /proc/self/status");
			settle_waits++;
			sched_yield();
		}
		done += k;
		created += n;
		if (n > peak)
			peak = n;
		batches++;
	}
	elapsed = wl_now_ns(CLOCK_MONOTONIC) - start;

	fprintf(c.out,
		"{\"workload\":\"storm\",\"pid\":%d,\"main_tid\":%d,\"attempted\":%lu,"
		"\"batch\":%lu,\"created\":%lu,\"failed\":%lu,\"failed_eagain\":%lu,"
		"\"last_other_errno\":%lu,\"peak_alive\":%lu,\"batches\":%lu,"
		"\"settle_waits\":%lu,\"elapsed_ns\":%lld}\n",
		(int)getpid(), (int)gettid(), total, batch, created, failed, failed_eagain,
		other_errno, peak, batches, settle_waits, elapsed);
	wl_finish_out(&c);
	pthread_attr_destroy(&attr);
	free(threads);
	return 0;
}
