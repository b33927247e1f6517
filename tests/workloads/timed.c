// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * timed SLEEPS SLEEP_MS READS READ_MS: fixed-duration blocking, each call
 * timed by the workload's own clock, for checking percentiles and maxima.
 *
 *   main thread:   SLEEPS x clock_nanosleep(CLOCK_MONOTONIC, SLEEP_MS), each
 *                  one call, timed around it
 *   reader thread: READS x read() of one byte from a pipe, timed around each
 *   feeder thread: every READ_MS (absolute deadlines, so no drift) writes one
 *                  byte into that pipe
 *
 * Main sleeps while the other two run, then joins them. It prints the tids
 * and every measured duration, in ns, in call order:
 *   {"workload":"timed","pid":..,"main_tid":..,"reader_tid":..,
 *    "sleep_ns":[...],"read_ns":[...]}
 */
#include <getopt.h>
#include <pthread.h>

#include "workload.h"

#define MAX_CALLS 1000

struct reader {
	pthread_t thread;
	int fd;
	unsigned long n;
	pid_t tid;
	long long *ns;
	int err;
};

struct feeder {
	pthread_t thread;
	int fd;
	unsigned long n, ms;
	int err;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	ssize_t got;
	char ch;

	r->tid = gettid();
	for (unsigned long i = 0; i < r->n; i++) {
		long long t0 = wl_now_ns(CLOCK_MONOTONIC);

		got = read(r->fd, &ch, 1);
		r->ns[i] = wl_now_ns(CLOCK_MONOTONIC) - t0;
		if (got != 1) {
			r->err = got < 0 ? errno : EPIPE;
			return NULL;
		}
	}
	return NULL;
}

static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	struct timespec at;

	clock_gettime(CLOCK_MONOTONIC, &at);
	for (unsigned long i = 0; i < f->n; i++) {
		at.tv_nsec += (long)(f->ms % 1000) * 1000000L;
		at.tv_sec += (time_t)(f->ms / 1000) + at.tv_nsec / 1000000000L;
		at.tv_nsec %= 1000000000L;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
			;
		if (write(f->fd, "x", 1) != 1) {
			f->err = errno;
			return NULL;
		}
	}
	return NULL;
}

static void print_list(FILE *out, const char *key, const long long *v, unsigned long n)
{
	fprintf(out, ",\"%s\":[", key);
	for (unsigned long i = 0; i < n; i++)
		fprintf(out, "%s%lld", i ? "," : "", v[i]);
	fprintf(out, "]");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		WL_COMMON_OPTIONS,
		{ 0 },
	};
	struct wl_common c = {
		.prog = "timed",
		.usage = "[--wait-stdin] [--out FILE] SLEEPS SLEEP_MS READS READ_MS",
		.help = "  SLEEPS        clock_nanosleep calls of the main thread (0..1000)\n"
			"  SLEEP_MS      each of them this long\n"
			"  READS         pipe reads of the reader thread (0..1000)\n"
			"  READ_MS       the feeder writes a byte every READ_MS\n",
	};
	unsigned long sleeps, sleep_ms;
	struct reader r = { 0 };
	struct feeder f = { 0 };
	long long *sleep_ns;
	int opt, err, fds[2];

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (!wl_common_opt(&c, opt, optarg))
			continue;
		wl_print_usage(&c, 2);
	}
	if (argc - optind != 4)
		wl_usage_error(&c, "expected 4 arguments (SLEEPS SLEEP_MS READS READ_MS), got %d",
			       argc - optind);
	sleeps = wl_parse_ulong(&c, "SLEEPS", argv[optind], 0, MAX_CALLS);
	sleep_ms = wl_parse_ulong(&c, "SLEEP_MS", argv[optind + 1], 1, 3600 * 1000);
	r.n = f.n = wl_parse_ulong(&c, "READS", argv[optind + 2], 0, MAX_CALLS);
	f.ms = wl_parse_ulong(&c, "READ_MS", argv[optind + 3], 1, 3600 * 1000);

	wl_open_out(&c);
	sleep_ns = calloc(sleeps + 1, sizeof(*sleep_ns));
	r.ns = calloc(r.n + 1, sizeof(*r.ns));
	if (!sleep_ns || !r.ns)
		wl_die(&c, errno, "calloc");
	if (pipe(fds))
		wl_die(&c, errno, "pipe");
	r.fd = fds[0];
	f.fd = fds[1];
	if (c.wait_stdin)
		wl_wait_line(&c);

	err = pthread_create(&r.thread, NULL, reader_main, &r);
	if (!err)
		err = pthread_create(&f.thread, NULL, feeder_main, &f);
	if (err)
		wl_die(&c, err, "pthread_create");
	for (unsigned long i = 0; i < sleeps; i++) {
		struct timespec ts = { .tv_sec = sleep_ms / 1000,
				       .tv_nsec = (long)(sleep_ms % 1000) * 1000000L };
		long long t0 = wl_now_ns(CLOCK_MONOTONIC);

		/* one call each: an EINTR would split a sleep in two */
		err = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
		sleep_ns[i] = wl_now_ns(CLOCK_MONOTONIC) - t0;
		if (err)
			wl_die(&c, err, "clock_nanosleep");
	}
	if ((err = pthread_join(r.thread, NULL)) || (err = pthread_join(f.thread, NULL)))
		wl_die(&c, err, "pthread_join");
	if (r.err || f.err)
		wl_die(&c, r.err ? r.err : f.err, r.err ? "read(pipe)" : "write(pipe)");

	fprintf(c.out, "{\"workload\":\"timed\",\"pid\":%d,\"main_tid\":%d,\"reader_tid\":%d",
		(int)getpid(), (int)gettid(), (int)r.tid);
	print_list(c.out, "sleep_ns", sleep_ns, sleeps);
	print_list(c.out, "read_ns", r.ns, r.n);
	fprintf(c.out, "}\n");
	wl_finish_out(&c);
	free(sleep_ns);
	free(r.ns);
	return 0;
}
