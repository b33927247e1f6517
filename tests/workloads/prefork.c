// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * prefork N K MS: a preforking server in miniature. The master forks N
 * worker processes (the first --early E of them before --wait-stdin's line,
 * the rest after); once all exist, each worker creates exactly K threads
 * that each sleep MS ms once, joins them and prints one JSON line with its
 * pid and their tids. The master prints its own line (its pid and the
 * workers') once every worker is forked, then waits for them all.
 *
 * --hold         workers stay alive after printing, until a signal ends them
 * --ignore-term  the master and its workers ignore SIGTERM (only SIGKILL ends them)
 * --name NAME    the master names itself NAME (prctl) before forking: the
 *                workers inherit it
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "workload.h"

#define MAX_WORKERS 200
#define MAX_THREADS 64

enum {
	OPT_EARLY = WL_OPT_FIRST_PRIVATE,
	OPT_HOLD,
	OPT_IGNORE_TERM,
	OPT_NAME,
};

static unsigned long sleep_ms;

static void *thread_main(void *arg)
{
	pid_t *tid = arg;

	*tid = gettid();
	wl_sleep_ms(sleep_ms);
	return NULL;
}

static void __attribute__((noreturn))
worker(const struct wl_common *c, int gate, unsigned long k, int hold)
{
	pthread_t th[MAX_THREADS];
	pid_t tids[MAX_THREADS] = { 0 };
	char ch;
	int err;

	/* EOF on the gate: every worker exists */
	while (read(gate, &ch, 1) < 0 && errno == EINTR)
		;
	for (unsigned long i = 0; i < k; i++) {
		err = pthread_create(&th[i], NULL, thread_main, &tids[i]);
		if (err)
			wl_die(c, err, "pthread_create");
	}
	for (unsigned long i = 0; i < k; i++) {
		err = pthread_join(th[i], NULL);
		if (err)
			wl_die(c, err, "pthread_join");
	}
	printf("{\"workload\":\"prefork\",\"role\":\"worker\",\"pid\":%d,\"ppid\":%d,"
	       "\"threads\":%lu,\"sleep_ms\":%lu,\"tids\":[",
	       (int)getpid(), (int)getppid(), k, sleep_ms);
	for (unsigned long i = 0; i < k; i++)
		printf("%s%d", i ? "," : "", (int)tids[i]);
	printf("]}\n");
	fflush(stdout);
	while (hold)
		pause();
	_exit(0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		WL_COMMON_OPTIONS,
		{ "early", required_argument, NULL, OPT_EARLY },
		{ "hold", no_argument, NULL, OPT_HOLD },
		{ "ignore-term", no_argument, NULL, OPT_IGNORE_TERM },
		{ "name", required_argument, NULL, OPT_NAME },
		{ 0 },
	};
	struct wl_common c = {
		.prog = "prefork",
		.usage = "[--wait-stdin] [--early E] [--hold] [--ignore-term] [--name NAME] N K MS",
		.help = "  N              worker processes (1..200)\n"
			"  K              threads each worker creates (0..64)\n"
			"  MS             how long each thread sleeps\n"
			"  --early E      fork E workers before --wait-stdin's line\n"
			"  --hold         workers stay alive after printing, until killed\n"
			"  --ignore-term  the master and the workers ignore SIGTERM\n"
			"  --name NAME    the master (and so its workers) renames itself NAME\n",
	};
	unsigned long n, k, early = 0;
	const char *name = NULL;
	int opt, hold = 0, gate[2];
	pid_t pids[MAX_WORKERS];

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (!wl_common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case OPT_EARLY:
			early = wl_parse_ulong(&c, "--early", optarg, 0, MAX_WORKERS);
			break;
		case OPT_HOLD:
			hold = 1;
			break;
		case OPT_IGNORE_TERM:
			signal(SIGTERM, SIG_IGN);
			break;
		case OPT_NAME:
			name = optarg;
			break;
		default:
			wl_print_usage(&c, 2);
		}
	}
	if (argc - optind != 3)
		wl_usage_error(&c, "expected 3 arguments (N K MS), got %d", argc - optind);
	n = wl_parse_ulong(&c, "N", argv[optind], 1, MAX_WORKERS);
	k = wl_parse_ulong(&c, "K", argv[optind + 1], 0, MAX_THREADS);
	sleep_ms = wl_parse_ulong(&c, "MS", argv[optind + 2], 0, 3600 * 1000);
	if (early > n)
		wl_usage_error(&c, "--early %lu is more than N (%lu)", early, n);
	if (name && prctl(PR_SET_NAME, name, 0, 0, 0))
		wl_die(&c, errno, "prctl(PR_SET_NAME)");
	if (pipe(gate))
		wl_die(&c, errno, "pipe");
	fflush(stdout);
	for (unsigned long i = 0; i < n; i++) {
		if (i == early && c.wait_stdin)
			wl_wait_line(&c);
		pids[i] = fork();
		if (pids[i] < 0)
			wl_die(&c, errno, "fork (worker %lu of %lu)", i + 1, n);
		if (!pids[i]) {
			close(gate[1]);
			worker(&c, gate[0], k, hold);
		}
	}
	if (early == n && c.wait_stdin)
		wl_wait_line(&c);
	close(gate[1]);
	close(gate[0]);
	printf("{\"workload\":\"prefork\",\"role\":\"master\",\"pid\":%d,\"workers\":[",
	       (int)getpid());
	for (unsigned long i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", (int)pids[i]);
	printf("]}\n");
	fflush(stdout);
	for (unsigned long i = 0; i < n; i++)
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
	return 0;
}
