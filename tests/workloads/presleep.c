// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * presleep [--out FILE] [--delay MS]: threads that are asleep BEFORE a tracer
 * attaches, and stay asleep until told, for the attach-time state:
 *
 *   "reader"   one read() on a pipe nobody writes (until the end)
 *   "sleeper"  one clock_nanosleep of an hour (ended by a signal at the end)
 *   "hung"     an epoll loop that got one event at startup; its handler is
 *              stuck in read() on a pipe nobody writes: a loop hung since
 *              before the trace
 *   "idle"     an epoll loop with nothing to do, waiting in epoll_wait;
 *              on "poke" its handler takes MS ms (clock_nanosleep, default
 *              300), then it waits again
 *
 * Main waits until every one is asleep in its call (/proc/self/task/TID/stat
 * state S and /proc/self/task/TID/syscall holding the call's number), then
 * prints to STDERR, flushed, one line
 *   {"workload":"presleep","phase":"asleep","pid":P,"tids":{NAME:TID,...},
 *    "asleep_ns":{NAME:NS,...}}
 * asleep_ns: CLOCK_MONOTONIC just before each thread's blocking call. Then it
 * reads commands, one a line, from stdin:
 *   poke   write an event to the idle loop
 * At EOF it wakes everyone (pipes written, the sleeper signalled), joins them
 * and prints ONE JSON line (stdout or --out FILE):
 *   {"workload":"presleep","pid","main_tid","tids":{...},"asleep_ns":{...},
 *    "blocked_ns":{NAME:NS,...}  each blocking call's own duration,
 *    "pokes","poke_wake_ns","poke_gap_ns"  the last poke: when epoll_wait
 *    returned it, and from then to just before the next epoll_wait}
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* gettid, pipe2, pthread_setname_np (the Makefile sets it too) */
#endif
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "workload.h"

enum { OPT_DELAY = WL_OPT_FIRST_PRIVATE };

enum { READER, SLEEPER, HUNG, IDLE, NT };

static const char *const names[NT] = { "reader", "sleeper", "hung", "idle" };

struct th {
	pthread_t thread;
	pid_t tid;
	long long asleep_ns; /* just before the blocking call */
	long long blocked_ns; /* that call's duration */
	int fds[2]; /* reader, hung: the pipe it reads; idle, hung: see below */
	int ev[2]; /* hung, idle: the event pipe the loop waits on */
	int err;
	const char *what;
};

static struct wl_common c = {
	.prog = "presleep",
	.usage = "[--out FILE] [--delay MS]",
	.help = "  --delay MS    the idle loop's handler time on a poke (default 300)\n"
		"  stdin: 'poke' lines; EOF ends the run\n",
};
static struct th th[NT];
static unsigned long delay_ms = 300;
static unsigned long pokes;
static long long poke_wake_ns, poke_gap_ns;
static volatile sig_atomic_t sleeper_end;

static void on_usr1(int sig)
{
	(void)sig;
	sleeper_end = 1;
}

static void publish(struct th *t)
{
	t->asleep_ns = wl_now_ns(CLOCK_MONOTONIC);
	__atomic_store_n(&t->tid, gettid(), __ATOMIC_RELEASE);
}

static void *reader_main(void *arg)
{
	struct th *t = arg;
	ssize_t n;
	char ch;

	pthread_setname_np(pthread_self(), "reader");
	publish(t);
	do
		n = read(t->fds[0], &ch, 1);
	while (n < 0 && errno == EINTR);
	t->blocked_ns = wl_now_ns(CLOCK_MONOTONIC) - t->asleep_ns;
	if (n != 1) {
		t->err = n < 0 ? errno : EPIPE;
		t->what = "read(pipe)";
	}
	return NULL;
}

static void *sleeper_main(void *arg)
{
	struct th *t = arg;
	struct timespec ts = { .tv_sec = 3600 };

	pthread_setname_np(pthread_self(), "sleeper");
	publish(t);
	/* one call: the end is a signal, whose handler makes it return EINTR */
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR && !sleeper_end)
		;
	t->blocked_ns = wl_now_ns(CLOCK_MONOTONIC) - t->asleep_ns;
	return NULL;
}

/*
 * An epoll loop on t->ev[0]: a byte 'x' is an event, 'q' ends it. hung: the
 * handler then reads t->fds[0] (stuck until the end); idle: it takes delay_ms.
 */
static void *loop_main(void *arg)
{
	struct th *t = arg;
	bool hung = t == &th[HUNG];
	struct epoll_event e = { .events = EPOLLIN };
	long long wake = 0;
	int ep, n, first = 1;
	char ch;

	pthread_setname_np(pthread_self(), hung ? "hung" : "idle");
	ep = epoll_create1(EPOLL_CLOEXEC);
	e.data.fd = t->ev[0];
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, t->ev[0], &e)) {
		t->err = errno;
		t->what = "epoll";
		__atomic_store_n(&t->tid, gettid(), __ATOMIC_RELEASE);
		return NULL;
	}
	if (!hung)
		publish(t); /* the idle loop sleeps in its first epoll_wait */
	for (;;) {
		if (wake && !hung)
			poke_gap_ns = wl_now_ns(CLOCK_MONOTONIC) - wake;
		n = epoll_wait(ep, &e, 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			t->err = errno;
			t->what = "epoll_wait";
			break;
		}
		wake = wl_now_ns(CLOCK_MONOTONIC);
		if (!hung && first)
			t->blocked_ns = wake - t->asleep_ns;
		first = 0;
		if (read(t->ev[0], &ch, 1) != 1 || ch == 'q')
			break;
		if (hung) {
			publish(t);
			if (read(t->fds[0], &ch, 1) != 1) {
				t->err = errno ? errno : EPIPE;
				t->what = "read(pipe)";
				break;
			}
			t->blocked_ns = wl_now_ns(CLOCK_MONOTONIC) - t->asleep_ns;
		} else {
			poke_wake_ns = wake;
			wl_sleep_ms(delay_ms);
		}
	}
	close(ep);
	return NULL;
}

/* 1 if thread tid is asleep (state S) inside system call nr (or nr2), else 0. */
static int asleep_in(pid_t tid, long nr, long nr2)
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
	p = ok ? strrchr(buf, ')') : NULL;
	if (!p || p[1] != ' ' || p[2] != 'S')
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	ok = fscanf(f, "%ld", &cur) == 1;
	fclose(f);
	return ok && (cur == nr || cur == nr2);
}

static void print_map(FILE *f, const char *key, int what)
{
	fprintf(f, ",\"%s\":{", key);
	for (int i = 0; i < NT; i++) {
		long long v = what == 0	  ? th[i].tid
			      : what == 1 ? th[i].asleep_ns
					  : th[i].blocked_ns;

		fprintf(f, "%s\"%s\":%lld", i ? "," : "", names[i], v);
	}
	fputc('}', f);
}

static void wake(int fd, const char *what)
{
	if (write(fd, "x", 1) != 1)
		wl_die(&c, errno, "write(%s)", what);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		WL_COMMON_OPTIONS,
		{ "delay", required_argument, NULL, OPT_DELAY },
		{ 0 },
	};
#ifdef SYS_epoll_wait
	const long wait_nr = SYS_epoll_wait;
#else
	const long wait_nr = SYS_epoll_pwait;
#endif
	const long want[NT][2] = {
		[READER] = { SYS_read, SYS_read },
		[SLEEPER] = { SYS_clock_nanosleep, SYS_clock_nanosleep },
		[HUNG] = { SYS_read, SYS_read },
		[IDLE] = { wait_nr, SYS_epoll_pwait },
	};
	void *(*fn[NT])(void *) = { reader_main, sleeper_main, loop_main, loop_main };
	struct sigaction sa = { .sa_handler = on_usr1 };
	long long deadline;
	char line[64];
	int opt, err, i;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (!wl_common_opt(&c, opt, optarg))
			continue;
		if (opt == OPT_DELAY)
			delay_ms = wl_parse_ulong(&c, "--delay", optarg, 0, 60000);
		else
			wl_print_usage(&c, 2);
	}
	if (argc != optind)
		wl_usage_error(&c, "unexpected argument '%s'", argv[optind]);
	wl_open_out(&c);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		wl_die(&c, errno, "sigaction");
	for (i = 0; i < NT; i++)
		if (pipe2(th[i].fds, O_CLOEXEC) || pipe2(th[i].ev, O_CLOEXEC))
			wl_die(&c, errno, "pipe2");
	/* the hung loop's one event is there before it starts */
	wake(th[HUNG].ev[1], "hung loop");
	for (i = 0; i < NT; i++) {
		err = pthread_create(&th[i].thread, NULL, fn[i], &th[i]);
		if (err)
			wl_die(&c, err, "pthread_create(%s)", names[i]);
	}
	deadline = wl_now_ns(CLOCK_MONOTONIC) + 10000000000LL;
	for (i = 0; i < NT;) {
		pid_t tid = __atomic_load_n(&th[i].tid, __ATOMIC_ACQUIRE);

		if (th[i].err)
			wl_die(&c, th[i].err, "%s: %s", names[i], th[i].what);
		if (tid && asleep_in(tid, want[i][0], want[i][1])) {
			i++;
			continue;
		}
		if (wl_now_ns(CLOCK_MONOTONIC) > deadline)
			wl_die(&c, 0, "thread %s never went to sleep in its call", names[i]);
		wl_sleep_ms(1);
	}
	fprintf(stderr, "{\"workload\":\"presleep\",\"phase\":\"asleep\",\"pid\":%d",
		(int)getpid());
	print_map(stderr, "tids", 0);
	print_map(stderr, "asleep_ns", 1);
	fprintf(stderr, "}\n");
	fflush(stderr);

	while (fgets(line, sizeof(line), stdin)) {
		if (!strcmp(line, "poke\n")) {
			wake(th[IDLE].ev[1], "idle loop");
			pokes++;
		} else {
			wl_die(&c, 0, "unknown command '%s'", line);
		}
	}

	wake(th[READER].fds[1], "reader");
	wake(th[HUNG].fds[1], "hung loop");
	pthread_kill(th[SLEEPER].thread, SIGUSR1);
	if (write(th[HUNG].ev[1], "q", 1) != 1 || write(th[IDLE].ev[1], "q", 1) != 1)
		wl_die(&c, errno, "write(quit)");
	for (i = 0; i < NT; i++) {
		err = pthread_join(th[i].thread, NULL);
		if (err)
			wl_die(&c, err, "pthread_join(%s)", names[i]);
		if (th[i].err)
			wl_die(&c, th[i].err, "%s: %s", names[i], th[i].what);
	}
	fprintf(c.out, "{\"workload\":\"presleep\",\"pid\":%d,\"main_tid\":%d", (int)getpid(),
		(int)gettid());
	print_map(c.out, "tids", 0);
	print_map(c.out, "asleep_ns", 1);
	print_map(c.out, "blocked_ns", 2);
	fprintf(c.out, ",\"pokes\":%lu,\"poke_wake_ns\":%lld,\"poke_gap_ns\":%lld}\n", pokes,
		poke_wake_ns, poke_gap_ns);
	wl_finish_out(&c);
	return 0;
}
