// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * spinners N MS: N threads start together (a barrier) and each spins on CPU
 * for MS ms of wall time, never blocking. With more threads than CPUs they
 * take turns, so each spends part of its window waiting in the run queue.
 *
 * Each thread reports its on-CPU time (CLOCK_THREAD_CPUTIME_ID, whole life
 * up to the end of the spin), its spin window in wall time (wall_ns) and the
 * kernel's switch counts for it. During the window a thread is either on a
 * CPU or runnable, so wall_ns - cpu_ns is a lower bound on its run-queue wait.
 */
#include <getopt.h>
#include <pthread.h>
#include <sched.h>

#include "workload.h"

#define MAX_THREADS 1024

struct spinner {
	pthread_t thread;
	pid_t tid;
	long long cpu_ns, wall_ns;
	unsigned long long nvcsw, nivcsw;
	int err;
};

static pthread_barrier_t start_barrier;
static unsigned long spin_ms;

static void *spinner_main(void *arg)
{
	struct spinner *s = arg;
	long long t0, end, now;

	s->tid = gettid();
	pthread_barrier_wait(&start_barrier);
	t0 = wl_now_ns(CLOCK_MONOTONIC);
	end = t0 + (long long)spin_ms * 1000000LL;
	do
		now = wl_now_ns(CLOCK_MONOTONIC);
	while (now < end);
	s->wall_ns = now - t0;
	s->cpu_ns = wl_now_ns(CLOCK_THREAD_CPUTIME_ID);
	s->err = wl_ctxt_switches(s->tid, &s->nvcsw, &s->nivcsw);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		WL_COMMON_OPTIONS,
		{ 0 },
	};
	struct wl_common c = {
		.prog = "spinners",
		.usage = "[--wait-stdin] [--out FILE] N MS",
		.help = "  N             spinning threads (1..1024)\n"
			"  MS            wall time each one spins\n",
	};
	struct spinner *spinners;
	unsigned long nthreads, i;
	long long start, elapsed, steal;
	cpu_set_t cpus;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (wl_common_opt(&c, opt, optarg))
			wl_print_usage(&c, 2);
	if (argc - optind != 2)
		wl_usage_error(&c, "expected 2 arguments (N MS), got %d", argc - optind);
	nthreads = wl_parse_ulong(&c, "N", argv[optind], 1, MAX_THREADS);
	spin_ms = wl_parse_ulong(&c, "MS", argv[optind + 1], 0, 3600 * 1000);

	wl_open_out(&c);
	spinners = calloc(nthreads, sizeof(*spinners));
	if (!spinners)
		wl_die(&c, errno, "calloc");
	err = pthread_barrier_init(&start_barrier, NULL, nthreads);
	if (err)
		wl_die(&c, err, "pthread_barrier_init");
	CPU_ZERO(&cpus);
	if (sched_getaffinity(0, sizeof(cpus), &cpus))
		wl_die(&c, errno, "sched_getaffinity");

	if (c.wait_stdin)
		wl_wait_line(&c);

	steal = wl_steal_ns();
	start = wl_now_ns(CLOCK_MONOTONIC);
	for (i = 0; i < nthreads; i++) {
		err = pthread_create(&spinners[i].thread, NULL, spinner_main, &spinners[i]);
		if (err)
			wl_die(&c, err, "pthread_create (thread %lu of %lu)", i + 1, nthreads);
	}
	for (i = 0; i < nthreads; i++) {
		err = pthread_join(spinners[i].thread, NULL);
		if (err)
			wl_die(&c, err, "pthread_join");
	}
	elapsed = wl_now_ns(CLOCK_MONOTONIC) - start;
	if (steal >= 0) {
		long long end = wl_steal_ns();

		steal = end >= steal ? end - steal : -1;
	}
	for (i = 0; i < nthreads; i++)
		if (spinners[i].err)
			wl_die(&c, spinners[i].err,
			       "thread %lu: reading /proc/self/task/TID/status", i);

	fprintf(c.out,
		"{\"workload\":\"spinners\",\"pid\":%d,\"main_tid\":%d,\"threads\":%lu,"
		"\"spin_ms\":%lu,\"ncpus\":%d,\"elapsed_ns\":%lld,\"steal_ns\":%lld,"
		"\"workers\":[",
		(int)getpid(), (int)gettid(), nthreads, spin_ms, CPU_COUNT(&cpus), elapsed, steal);
	for (i = 0; i < nthreads; i++) {
		struct spinner *s = &spinners[i];

		fprintf(c.out,
			"%s{\"tid\":%d,\"cpu_ns\":%lld,\"wall_ns\":%lld,\"nvcsw\":%llu,"
			"\"nivcsw\":%llu}",
			i ? "," : "", (int)s->tid, s->cpu_ns, s->wall_ns, s->nvcsw, s->nivcsw);
	}
	fprintf(c.out, "]}\n");
	wl_finish_out(&c);
	pthread_barrier_destroy(&start_barrier);
	free(spinners);
	return 0;
}
