// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * bench/idlers [P [T [CHURN [MIN_MS [MAX_MS]]]]]: an idle-ish node for the daemon benchmark.
 * Forks P processes (default 1000), each with T threads in all, its main thread included
 * (default 10: 10,000 threads). Every thread sleeps MIN_MS to MAX_MS (default 1,000 to
 * 10,000, uniformly random), then does a little work: writes a byte into a pipe of its own
 * and reads it back. Even threads sleep in clock_nanosleep, odd ones in poll() on that pipe
 * with a timeout (an event loop that times out), so the scheduler, syscall and event-loop
 * programs all see traffic: 3 syscalls and a wake-up a sleep, ~1,800 wake-ups a second for
 * 10,000 threads by default. (At 100-1,000 ms, 18,000 a second cost more than a core of a
 * 2-vCPU VM: no longer idle-ish.) CHURN (default 1, percent a second) of the worker threads
 * exit and are replaced: a thread that decides to go first creates its successor, so a
 * process never has fewer than T threads, and the create and exit paths run all the time.
 *
 * Prints "ready <P> processes x <T> threads in <s> s" on stdout once every thread of every
 * process is up. Runs until SIGTERM or SIGINT; then kills its children (SIGKILL), reaps them
 * and exits 0. It leads a process group of its own (kill -- -PID also gets everyone), and
 * each child dies with it (PR_SET_PDEATHSIG) should it be killed outright. If a child dies
 * on its own, it says so, kills the rest and exits 1.
 *
 * bench/run.sh builds it with gcc -O2 -pthread; it is a benchmark load, not a test.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* threads barely use a stack: 64 KiB keeps 10,000 of them small (and creation cheap) */
#define IDLE_STACK (64 * 1024)
static unsigned long long min_sleep_ns = 1000000000ULL, max_sleep_ns = 10000000000ULL;
static double churn_per_s; /* probability a worker leaves, per second it sleeps */
static pthread_attr_t attr;
static volatile sig_atomic_t stop;

struct worker {
	int idx;
	int fds[2]; /* the thread's own pipe: the pipe outlives the thread, its successor takes it */
	unsigned long long rnd;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long next_rand(unsigned long long *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static void *work(void *arg);

/* One wake-up's work; 1 if the thread should make way for a successor. */
static int one_round(struct worker *w, int can_leave)
{
	unsigned long long ns =
		min_sleep_ns + next_rand(&w->rnd) % (max_sleep_ns - min_sleep_ns + 1);
	char c = 'x';

	if (w->idx % 2 == 0) {
		struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL),
				       .tv_nsec = (long)(ns % 1000000000ULL) };

		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
			;
	} else {
		struct pollfd p = { .fd = w->fds[0], .events = POLLIN };

		poll(&p, 1, (int)(ns / 1000000ULL)); /* nothing else writes it: it times out */
	}
	if (write(w->fds[1], &c, 1) != 1 || read(w->fds[0], &c, 1) != 1)
		return 0;
	/* leave with probability churn_per_s * the seconds slept: CHURN %/s on average */
	return can_leave && (double)(next_rand(&w->rnd) % 1000000) / 1e6 < churn_per_s * ns / 1e9;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	pthread_t t;

	for (;;) {
		if (!one_round(w, 1))
			continue;
		/* the successor first: the process never drops below T threads */
		if (pthread_create(&t, &attr, work, w) == 0)
			return NULL;
	}
}

static void child(unsigned int nthreads, int ready_fd, pid_t parent)
{
	struct worker *ws = calloc(nthreads, sizeof(*ws));
	pthread_t t;
	char c = 'r';

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getenv("IDLERS_SLACK_NS"))
		prctl(PR_SET_TIMERSLACK, strtoul(getenv("IDLERS_SLACK_NS"), NULL, 10));
	if (getppid() != parent) /* the parent went before PR_SET_PDEATHSIG */
		_exit(1);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	if (!ws)
		_exit(1);
	for (unsigned int i = 0; i < nthreads; i++) {
		ws[i].idx = (int)i;
		ws[i].rnd = ((unsigned long long)getpid() << 20) ^ (i * 0x9E3779B97F4A7C15ULL) ^
			    (unsigned long long)(mono_s() * 1e9);
		if (!ws[i].rnd)
			ws[i].rnd = 1;
		if (pipe(ws[i].fds)) {
			perror("idlers: pipe");
			_exit(1);
		}
	}
	/* worker threads 1..T-1; the main thread is thread 0 and never leaves */
	for (unsigned int i = 1; i < nthreads; i++) {
		int err = pthread_create(&t, &attr, work, &ws[i]);

		if (err) {
			fprintf(stderr, "idlers: pthread_create: %s\n", strerror(err));
			_exit(1);
		}
	}
	if (write(ready_fd, &c, 1) != 1)
		_exit(1);
	close(ready_fd);
	for (;;)
		one_round(&ws[0], 0);
}

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_chld(int sig)
{
	(void)sig;
}

static unsigned long parse(const char *s, const char *what, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > max) {
		fprintf(stderr, "idlers: bad %s '%s' (0..%lu)\n", what, s, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	unsigned long nprocs = 1000, nthreads = 10, churn = 1, got = 0;
	struct sigaction sa = { .sa_handler = on_stop }, sa_chld = { .sa_handler = on_chld };
	int ready[2], status, rc = 0;
	pid_t self = getpid(), *kids;
	double t0 = mono_s();
	sigset_t block, old;
	char buf[256];

	if (argc > 6) {
		fprintf(stderr, "usage: idlers [PROCESSES [THREADS [CHURN_PERCENT_PER_S [MIN_MS "
				"[MAX_MS]]]]]\n");
		return 2;
	}
	if (argc > 1)
		nprocs = parse(argv[1], "process count", 100000);
	if (argc > 2)
		nthreads = parse(argv[2], "thread count", 10000);
	if (argc > 3)
		churn = parse(argv[3], "churn", 100);
	if (argc > 4)
		min_sleep_ns = parse(argv[4], "shortest sleep (ms)", 3600000) * 1000000ULL;
	if (argc > 5)
		max_sleep_ns = parse(argv[5], "longest sleep (ms)", 3600000) * 1000000ULL;
	if (!nprocs || !nthreads || !min_sleep_ns || max_sleep_ns < min_sleep_ns) {
		fprintf(stderr, "idlers: need a process, a thread and 0 < MIN_MS <= MAX_MS\n");
		return 2;
	}
	churn_per_s = churn / 100.0;
	kids = calloc(nprocs, sizeof(*kids));
	if (!kids || pipe(ready)) {
		perror("idlers");
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, IDLE_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	setpgid(0, 0); /* a group of our own: kill -- -PID stops everything */
	sigemptyset(&sa.sa_mask);
	sigemptyset(&sa_chld.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa_chld, NULL); /* a handler: a blocked SIGCHLD stays pending */
	/* SIGTERM only between waits: no child is left unkilled by a signal mid-fork */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	for (unsigned long i = 0; i < nprocs; i++) {
		pid_t p = fork();

		if (p < 0) {
			perror("idlers: fork");
			rc = 1;
			goto out;
		}
		if (p == 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			close(ready[0]);
			child((unsigned int)nthreads, ready[1], self);
		}
		kids[i] = p;
	}
	close(ready[1]);
	sigprocmask(SIG_SETMASK, &old, NULL);
	/* every child writes one byte once all its threads are up (EOF: one died first) */
	while (got < nprocs && !stop) {
		ssize_t n = read(ready[0], buf, sizeof(buf));

		if (n > 0)
			got += (unsigned long)n;
		else if (n == 0 || errno != EINTR)
			break;
	}
	close(ready[0]);
	if (stop)
		goto out;
	if (got < nprocs) {
		fprintf(stderr, "idlers: only %lu of %lu processes came up\n", got, nprocs);
		rc = 1;
		goto out;
	}
	printf("ready %lu processes x %lu threads in %.3f s\n", nprocs, nthreads, mono_s() - t0);
	fflush(stdout);
	/* from here on, signals are taken synchronously: none slips in between a check and a wait */
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, NULL);
	while (!stop) {
		siginfo_t si;
		pid_t p;

		if (sigwaitinfo(&block, &si) < 0)
			continue;
		if (si.si_signo != SIGCHLD)
			break;
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			fprintf(stderr, "idlers: child %d ended (status 0x%x): stopping\n", (int)p,
				status);
			for (unsigned long i = 0; i < nprocs; i++)
				if (kids[i] == p)
					kids[i] = 0;
			rc = 1;
			stop = 1;
		}
	}
out:
	for (unsigned long i = 0; i < nprocs; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	while (wait(&status) > 0 || errno == EINTR)
		;
	return rc;
}
