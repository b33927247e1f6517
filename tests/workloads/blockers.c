// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * blockers N MS: exactly N threads each block in ONE read() on their own pipe
 * while the main thread sleeps MS ms, then main writes one byte to every pipe
 * and joins them. Each worker reports its tid, how long its read() took
 * (CLOCK_MONOTONIC around the call) and the kernel's switch counts for it,
 * read just before it exits. The tool must see N created and N exited
 * threads, one blocked interval of about read_ns per worker, and a voluntary
 * switch count matching nvcsw.
 *
 * --name NAME  each worker names itself NAME first thing (prctl); a "%d" in
 *              NAME is replaced by the worker's index (0..N-1)
 * --hold       after joining and printing, stay alive until stdin hits EOF
 */
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sys/prctl.h>

#include "workload.h"

#define MAX_THREADS 500 /* two pipe fds each, under the default 1024 fd limit */

enum {
	OPT_NAME = WL_OPT_FIRST_PRIVATE,
	OPT_HOLD,
};

struct worker {
	pthread_t thread;
	int idx;
	int fds[2];
	pid_t tid;
	char name[16];
	long long read_ns;
	unsigned long long nvcsw, nivcsw;
	int err; /* errno of whatever failed in the worker, 0 if nothing did */
	const char *what; /* and which call it was */
};

static const char *name_fmt;

/* NAME with its first "%d" replaced by idx, cut to the 15 chars a comm holds. */
static void format_name(char *buf, size_t size, const char *fmt, int idx)
{
	const char *pct = strstr(fmt, "%d");

	if (pct)
		snprintf(buf, size, "%.*s%d%s", (int)(pct - fmt), fmt, idx, pct + 2);
	else
		snprintf(buf, size, "%s", fmt);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	long long t0;
	ssize_t n;
	char ch;

	w->tid = gettid();
	if (name_fmt && prctl(PR_SET_NAME, w->name, 0, 0, 0)) {
		w->err = errno;
		w->what = "prctl(PR_SET_NAME)";
		return NULL;
	}
	t0 = wl_now_ns(CLOCK_MONOTONIC);
	do
		n = read(w->fds[0], &ch, 1);
	while (n < 0 && errno == EINTR);
	w->read_ns = wl_now_ns(CLOCK_MONOTONIC) - t0;
	if (n != 1) {
		w->err = n < 0 ? errno : EPIPE;
		w->what = "read(pipe)";
		return NULL;
	}
	w->err = wl_ctxt_switches(w->tid, &w->nvcsw, &w->nivcsw);
	if (w->err)
		w->what = "reading /proc/self/task/TID/status";
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		WL_COMMON_OPTIONS,
		{ "name", required_argument, NULL, OPT_NAME },
		{ "hold", no_argument, NULL, OPT_HOLD },
		{ 0 },
	};
	struct wl_common c = {
		.prog = "blockers",
		.usage = "[--wait-stdin] [--out FILE] [--name NAME] [--hold] N MS",
		.help = "  N             worker threads to create (1..500)\n"
			"  MS            how long main sleeps before waking them\n"
			"  --name NAME   workers name themselves NAME (\"%d\": index)\n"
			"  --hold        after printing, stay alive until stdin EOF\n",
	};
	unsigned long nthreads, ms, i;
	struct worker *workers;
	long long start, elapsed;
	int opt, err, hold = 0;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (!wl_common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case OPT_NAME:
			if (!*optarg || strpbrk(optarg, "\"\\/\n"))
				wl_usage_error(&c, "--name: NAME must be non-empty, without "
						   "quotes, backslashes, '/' or newlines");
			name_fmt = optarg;
			break;
		case OPT_HOLD:
			hold = 1;
			break;
		default:
			wl_print_usage(&c, 2);
		}
	}
	if (argc - optind != 2)
		wl_usage_error(&c, "expected 2 arguments (N MS), got %d", argc - optind);
	nthreads = wl_parse_ulong(&c, "N", argv[optind], 1, MAX_THREADS);
	ms = wl_parse_ulong(&c, "MS", argv[optind + 1], 0, 3600 * 1000);

	wl_open_out(&c);
	workers = calloc(nthreads, sizeof(*workers));
	if (!workers)
		wl_die(&c, errno, "calloc");
	for (i = 0; i < nthreads; i++) {
		workers[i].idx = i;
		if (pipe2(workers[i].fds, O_CLOEXEC))
			wl_die(&c, errno, "pipe2");
		if (name_fmt)
			format_name(workers[i].name, sizeof(workers[i].name), name_fmt, i);
	}

	if (c.wait_stdin)
		wl_wait_line(&c);

	start = wl_now_ns(CLOCK_MONOTONIC);
	for (i = 0; i < nthreads; i++) {
		err = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
		if (err)
			wl_die(&c, err, "pthread_create (thread %lu of %lu)", i + 1, nthreads);
	}
	wl_sleep_ms(ms);
	for (i = 0; i < nthreads; i++)
		if (write(workers[i].fds[1], "x", 1) != 1)
			wl_die(&c, errno, "write(pipe)");
	for (i = 0; i < nthreads; i++) {
		err = pthread_join(workers[i].thread, NULL);
		if (err)
			wl_die(&c, err, "pthread_join");
	}
	elapsed = wl_now_ns(CLOCK_MONOTONIC) - start;

	for (i = 0; i < nthreads; i++)
		if (workers[i].err)
			wl_die(&c, workers[i].err, "worker %lu: %s", i, workers[i].what);

	fprintf(c.out,
		"{\"workload\":\"blockers\",\"pid\":%d,\"main_tid\":%d,\"threads\":%lu,"
		"\"block_ms\":%lu,\"elapsed_ns\":%lld,\"workers\":[",
		(int)getpid(), (int)gettid(), nthreads, ms, elapsed);
	for (i = 0; i < nthreads; i++) {
		struct worker *w = &workers[i];

		fprintf(c.out,
			"%s{\"tid\":%d,\"name\":\"%s\",\"nvcsw\":%llu,\"nivcsw\":%llu,"
			"\"read_ns\":%lld}",
			i ? "," : "", (int)w->tid, name_fmt ? w->name : "", w->nvcsw, w->nivcsw,
			w->read_ns);
	}
	fprintf(c.out, "]}\n");
	wl_finish_out(&c);

	if (hold)
		wl_wait_eof(&c);
	for (i = 0; i < nthreads; i++) {
		close(workers[i].fds[0]);
		close(workers[i].fds[1]);
	}
	free(workers);
	return 0;
}
