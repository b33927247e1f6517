// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * forkfail N HOLD_MS: tries to create N threads, one after the other, each of
 * which sleeps HOLD_MS ms; counts pthread_create failures by errno (EAGAIN is
 * what a pids.max cgroup limit or RLIMIT_NPROC gives), then joins the threads
 * it did create.
 *
 * Run it where thread creation is limited (a pids cgroup, RLIMIT_NPROC as a
 * non-root user) and the tool must count exactly failed_eagain failures with
 * EAGAIN. all_alive_together says no thread had finished sleeping before the
 * last attempt, i.e. the limit was met with created + 1 tasks alive.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>

#include "workload.h"

#define MAX_ATTEMPTS 100000

static unsigned long hold_ms;
static atomic_ulong finished;

static void *holder_main(void *arg)
{
	wl_sleep_ms(hold_ms);
	atomic_fetch_add(&finished, 1);
	return arg;
}

/* the named creation site a stack must show (never inlined or tail-called) */
static __attribute__((noinline)) int spawn_holder(pthread_t *t)
{
	int err = pthread_create(t, NULL, holder_main, NULL);

	__asm__ volatile("" ::: "memory");
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		WL_COMMON_OPTIONS,
		{ 0 },
	};
	struct wl_common c = {
		.prog = "forkfail",
		.usage = "[--wait-stdin] [--out FILE] N HOLD_MS",
		.help = "  N             thread creations to attempt (1..100000)\n"
			"  HOLD_MS       how long each created thread sleeps\n",
	};
	unsigned long attempts, created = 0, failed_eagain = 0, failed_other = 0, i;
	int other_errnos[8], nother = 0, opt, err, together;
	long long start, loop_ns;
	pthread_t *threads;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (wl_common_opt(&c, opt, optarg))
			wl_print_usage(&c, 2);
	if (argc - optind != 2)
		wl_usage_error(&c, "expected 2 arguments (N HOLD_MS), got %d", argc - optind);
	attempts = wl_parse_ulong(&c, "N", argv[optind], 1, MAX_ATTEMPTS);
	hold_ms = wl_parse_ulong(&c, "HOLD_MS", argv[optind + 1], 0, 3600 * 1000);

	wl_open_out(&c);
	threads = calloc(attempts, sizeof(*threads));
	if (!threads)
		wl_die(&c, errno, "calloc");

	if (c.wait_stdin)
		wl_wait_line(&c);

	start = wl_now_ns(CLOCK_MONOTONIC);
	for (i = 0; i < attempts; i++) {
		err = spawn_holder(&threads[created]);
		if (!err) {
			created++;
		} else if (err == EAGAIN) {
			failed_eagain++;
		} else {
			failed_other++;
			if (nother < (int)(sizeof(other_errnos) / sizeof(other_errnos[0])))
				other_errnos[nother++] = err;
		}
	}
	loop_ns = wl_now_ns(CLOCK_MONOTONIC) - start;
	together = atomic_load(&finished) == 0;
	for (i = 0; i < created; i++) {
		err = pthread_join(threads[i], NULL);
		if (err)
			wl_die(&c, err, "pthread_join");
	}

	fprintf(c.out,
		"{\"workload\":\"forkfail\",\"pid\":%d,\"main_tid\":%d,\"attempted\":%lu,"
		"\"created\":%lu,\"failed_eagain\":%lu,\"failed_other\":%lu,\"other_errnos\":[",
		(int)getpid(), (int)gettid(), attempts, created, failed_eagain, failed_other);
	for (i = 0; i < (unsigned long)nother; i++)
		fprintf(c.out, "%s%d", i ? "," : "", other_errnos[i]);
	fprintf(c.out, "],\"hold_ms\":%lu,\"create_loop_ns\":%lld,\"all_alive_together\":%s}\n",
		hold_ms, loop_ns, together ? "true" : "false");
	wl_finish_out(&c);
	free(threads);
	return 0;
}
