// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * pool_blocked N MODE SECONDS: N worker threads ("pool-0".."pool-N-1") all
 * block for SECONDS (a decimal number, e.g. 2.5) in one call:
 *
 *   read   each in ONE read() on its own pipe; main writes a byte to every
 *          pipe after SECONDS
 *   futex  each in pthread_mutex_lock() on a mutex main holds for SECONDS
 *          (glibc waits in futex(FUTEX_WAIT_PRIVATE)); then each worker takes
 *          the mutex in turn and releases it at once
 *
 * Main creates the workers, then waits until every one of them is asleep in
 * the expected call (/proc/self/task/TID/stat state S and /proc/self/task/TID/
 * syscall holding that call's number), then prints to STDERR, flushed, one line
 *   {"workload":"pool_blocked","phase":"blocked","tids":[TID,...]}
 * and sleeps SECONDS in clock_nanosleep (so main is blocked too, in
 * clock_nanosleep), wakes the workers and joins them. The phase line goes to
 * stderr so that stdout (or --out FILE) holds only the final JSON line:
 *   {"workload":"pool_blocked","pid","main_tid","mode","threads","seconds",
 *    "tids":[TID,...],"workers":[{"tid","name","blocked_ns"},...]}
 * blocked_ns is CLOCK_MONOTONIC around each worker's blocking call.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* gettid, pipe2, pthread_setname_np (the Makefile sets it too) */
#endif
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "workload.h"

#define MAX_THREADS 500 /* two pipe fds each, under the default 1024 fd limit */

struct worker {
	pthread_t thread;
	int idx;
	int fds[2];
	pid_t tid; /* written by the worker before it blocks; read by main after */
	char name[16];
	long long blocked_ns;
	int err;
	const char *what;
};

static int use_futex;
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	long long t0;
	ssize_t n;
	char ch;

	pthread_setname_np(pthread_self(), w->name);
	__atomic_store_n(&w->tid, gettid(), __ATOMIC_RELEASE);
	t0 = wl_now_ns(CLOCK_MONOTONIC);
	if (use_futex) {
		w->err = pthread_mutex_lock(&gate);
		w->blocked_ns = wl_now_ns(CLOCK_MONOTONIC) - t0;
		if (w->err) {
			w->what = "pthread_mutex_lock";
			return NULL;
		}
		pthread_mutex_unlock(&gate);
		return NULL;
	}
	do
		n = read(w->fds[0], &ch, 1);
	while (n < 0 && errno == EINTR);
	w->blocked_ns = wl_now_ns(CLOCK_MONOTONIC) - t0;
	if (n != 1) {
		w->err = n < 0 ? errno : EPIPE;
		w->what = "read(pipe)";
	}
	return NULL;
}

/* 1 if thread tid is asleep (state S) inside system call nr, else 0. */
static int asleep_in(pid_t tid, long nr)
{
	char path[64], buf[512], *p;
	long cur;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	p = ok ? strrchr(buf, ')') : NULL; /* the comm may hold anything */
	if (!p || p[1] != ' ' || p[2] != 'S')
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	ok = fscanf(f, "%ld", &cur) == 1; /* "running" for a thread on a CPU */
	fclose(f);
	return ok && cur == nr;
}

/* Parses SECONDS: a decimal number in [0, 3600]; returns it in ns. */
static long long parse_seconds(const struct wl_common *c, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0 && v <= 3600))
		wl_usage_error(c, "SECONDS must be a number in [0, 3600], not '%s'", s);
	return (long long)(v * 1e9);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		WL_COMMON_OPTIONS,
		{ 0 },
	};
	struct wl_common c = {
		.prog = "pool_blocked",
		.usage = "[--wait-stdin] [--out FILE] N read|futex SECONDS",
		.help = "  N             worker threads (1..500)\n"
			"  read|futex    block in read() on a pipe, or in pthread_mutex_lock\n"
			"  SECONDS       how long they stay blocked (decimal)\n"
			"  (stderr gets {\"workload\":\"pool_blocked\",\"phase\":\"blocked\",...}\n"
			"   once every worker is asleep in its call)\n",
	};
	unsigned long nthreads, i;
	long long block_ns, deadline;
	struct worker *workers;
	struct timespec ts;
	const char *mode;
	int opt, err;
	long nr;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (wl_common_opt(&c, opt, optarg))
			wl_print_usage(&c, 2);
	if (argc - optind != 3)
		wl_usage_error(&c, "expected 3 arguments (N MODE SECONDS), got %d", argc - optind);
	nthreads = wl_parse_ulong(&c, "N", argv[optind], 1, MAX_THREADS);
	mode = argv[optind + 1];
	if (!strcmp(mode, "read"))
		use_futex = 0;
	else if (!strcmp(mode, "futex"))
		use_futex = 1;
	else
		wl_usage_error(&c, "MODE must be read or futex, not '%s'", mode);
	block_ns = parse_seconds(&c, argv[optind + 2]);
	nr = use_futex ? SYS_futex : SYS_read;

	wl_open_out(&c);
	workers = calloc(nthreads, sizeof(*workers));
	if (!workers)
		wl_die(&c, errno, "calloc");
	for (i = 0; i < nthreads; i++) {
		workers[i].idx = i;
		snprintf(workers[i].name, sizeof(workers[i].name), "pool-%lu", i);
		if (!use_futex && pipe2(workers[i].fds, O_CLOEXEC))
			wl_die(&c, errno, "pipe2");
	}

	if (c.wait_stdin)
		wl_wait_line(&c);

	if (use_futex)
		pthread_mutex_lock(&gate);
	for (i = 0; i < nthreads; i++) {
		err = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
		if (err)
			wl_die(&c, err, "pthread_create (thread %lu of %lu)", i + 1, nthreads);
	}
	/* every worker asleep in its call: checked by polling /proc, 10 s at most */
	deadline = wl_now_ns(CLOCK_MONOTONIC) + 10000000000LL;
	for (i = 0; i < nthreads;) {
		pid_t tid = __atomic_load_n(&workers[i].tid, __ATOMIC_ACQUIRE);

		if (tid && asleep_in(tid, nr)) {
			i++;
			continue;
		}
		if (wl_now_ns(CLOCK_MONOTONIC) > deadline)
			wl_die(&c, 0, "worker %lu never blocked in %s", i, mode);
		ts = (struct timespec){ .tv_nsec = 1000000 };
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "{\"workload\":\"pool_blocked\",\"phase\":\"blocked\",\"tids\":[");
	for (i = 0; i < nthreads; i++)
		fprintf(stderr, "%s%d", i ? "," : "", (int)workers[i].tid);
	fprintf(stderr, "]}\n");
	fflush(stderr);

	ts = (struct timespec){ .tv_sec = block_ns / 1000000000LL,
				.tv_nsec = block_ns % 1000000000LL };
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
	if (use_futex)
		pthread_mutex_unlock(&gate);
	else
		for (i = 0; i < nthreads; i++)
			if (write(workers[i].fds[1], "x", 1) != 1)
				wl_die(&c, errno, "write(pipe)");
	for (i = 0; i < nthreads; i++) {
		err = pthread_join(workers[i].thread, NULL);
		if (err)
			wl_die(&c, err, "pthread_join");
	}
	for (i = 0; i < nthreads; i++)
		if (workers[i].err)
			wl_die(&c, workers[i].err, "worker %lu: %s", i, workers[i].what);

	fprintf(c.out,
		"{\"workload\":\"pool_blocked\",\"pid\":%d,\"main_tid\":%d,\"mode\":\"%s\","
		"\"threads\":%lu,\"seconds\":%.3f,\"tids\":[",
		(int)getpid(), (int)gettid(), mode, nthreads, block_ns / 1e9);
	for (i = 0; i < nthreads; i++)
		fprintf(c.out, "%s%d", i ? "," : "", (int)workers[i].tid);
	fprintf(c.out, "],\"workers\":[");
	for (i = 0; i < nthreads; i++)
		fprintf(c.out, "%s{\"tid\":%d,\"name\":\"%s\",\"blocked_ns\":%lld}", i ? "," : "",
			(int)workers[i].tid, workers[i].name, workers[i].blocked_ns);
	fprintf(c.out, "]}\n");
	wl_finish_out(&c);
	for (i = 0; i < nthreads; i++) {
		if (!use_futex) {
			close(workers[i].fds[0]);
			close(workers[i].fds[1]);
		}
	}
	free(workers);
	return 0;
}
