// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * blockednow [--out FILE]: threads stuck in known stacks, asleep BEFORE a
 * tracer attaches and still asleep when it reports, for the stacks of
 * threads blocked now (tests/e2e/test_blockednow_stacks.py). Built as Debian
 * builds (no frame pointers, asynchronous unwind tables; see the Makefile);
 * every named function is a real frame (never inlined, cloned or
 * tail-called):
 *
 *   "reader1", "reader2"  reader_main -> serve_pipe -> pipe_read_body ->
 *                         glibc's read() on a pipe nobody writes
 *   "locker"              locker_main -> take_lock -> pthread_mutex_lock()
 *                         of a mutex main holds (futex)
 *   "loop"                an epoll loop (loop_main) waiting in epoll_wait;
 *                         on "poke" it handles one quick event (an iteration:
 *                         a loop is a thread that waits again), then one whose
 *                         handler loop_handle -> loop_read_stuck reads a pipe
 *                         nobody writes: a stall in progress
 *
 * Main waits until the readers and the locker are asleep in their calls
 * (/proc/self/task/TID/{stat,syscall}) and the loop in epoll_wait, then prints
 * to STDERR, flushed, one line
 *   {"workload":"blockednow","phase":"asleep","pid":P,"tids":{NAME:TID,...}}
 * and reads commands from stdin, one a line:
 *   poke   wake the loop; once its handler is asleep in read(), prints
 *          {"workload":"blockednow","phase":"stuck","poke_ns":NS} to stderr
 *          (NS: CLOCK_MONOTONIC just before the wake)
 * At EOF it wakes everyone, joins them and prints ONE JSON line (stdout or
 * --out FILE): {"workload":"blockednow","pid":P,"tids":{...}}
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "workload.h"

#if defined(__clang__)
#define FRAME __attribute__((noinline, used))
#else
#define FRAME __attribute__((noipa, used))
#endif
/* code after each call: the call cannot become a jump */
#define AFTER_CALL() __asm__ volatile("" ::: "memory")

enum { R1, R2, LOCKER, LOOP, NT };

static const char *const names[NT] = { "reader1", "reader2", "locker", "loop" };

struct th {
	pthread_t thread;
	pid_t tid;
	int fds[2]; /* readers, loop: the pipe it gets stuck reading */
	int ev[2]; /* loop: its event pipe */
	int err;
};

static struct wl_common c = {
	.prog = "blockednow",
	.usage = "[--out FILE]",
	.help = "  stdin: 'poke' lines; EOF ends the run\n",
};
static struct th th[NT];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int handled; /* the loop's quick events done */

static void publish(struct th *t, const char *name)
{
	pthread_setname_np(pthread_self(), name);
	__atomic_store_n(&t->tid, gettid(), __ATOMIC_RELEASE);
}

FRAME ssize_t pipe_read_body(int fd, char *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	AFTER_CALL();
	return n;
}

FRAME ssize_t serve_pipe(int fd)
{
	char buf[64];
	ssize_t n = pipe_read_body(fd, buf, sizeof(buf));

	AFTER_CALL();
	return n;
}

FRAME void *reader_main(void *arg)
{
	struct th *t = arg;

	publish(t, t == &th[R1] ? "reader1" : "reader2");
	if (serve_pipe(t->fds[0]) != 1)
		t->err = errno ? errno : EPIPE;
	AFTER_CALL();
	return NULL;
}

FRAME int take_lock(pthread_mutex_t *m)
{
	int err = pthread_mutex_lock(m);

	AFTER_CALL();
	return err ? err : pthread_mutex_unlock(m);
}

FRAME void *locker_main(void *arg)
{
	struct th *t = arg;

	publish(t, "locker");
	t->err = take_lock(&mu);
	AFTER_CALL();
	return NULL;
}

FRAME ssize_t loop_read_stuck(int fd)
{
	char ch;
	ssize_t n;

	do
		n = read(fd, &ch, 1);
	while (n < 0 && errno == EINTR);
	AFTER_CALL();
	return n;
}

FRAME int loop_handle(struct th *t)
{
	int r = loop_read_stuck(t->fds[0]) == 1 ? 0 : EPIPE;

	AFTER_CALL();
	return r;
}

/* An epoll loop on t->ev[0]: 'y' a quick event, 'x' one whose handler gets stuck, 'q' the end. */
FRAME void *loop_main(void *arg)
{
	struct th *t = arg;
	struct epoll_event e = { .events = EPOLLIN };
	int ep, n;
	char ch;

	ep = epoll_create1(EPOLL_CLOEXEC);
	e.data.fd = t->ev[0];
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, t->ev[0], &e)) {
		t->err = errno;
		publish(t, "loop");
		return NULL;
	}
	publish(t, "loop");
	for (;;) {
		n = epoll_wait(ep, &e, 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			t->err = errno;
			break;
		}
		if (read(t->ev[0], &ch, 1) != 1 || ch == 'q')
			break;
		if (ch == 'y') {
			__atomic_add_fetch(&handled, 1, __ATOMIC_RELEASE);
			continue;
		}
		t->err = loop_handle(t);
		if (t->err)
			break;
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

/* Waits (10 s at most) until thread i is asleep in nr or nr2. */
static void await_asleep(int i, long nr, long nr2)
{
	long long deadline = wl_now_ns(CLOCK_MONOTONIC) + 10000000000LL;

	for (;;) {
		pid_t tid = __atomic_load_n(&th[i].tid, __ATOMIC_ACQUIRE);

		if (th[i].err)
			wl_die(&c, th[i].err, "%s", names[i]);
		if (tid && asleep_in(tid, nr, nr2))
			return;
		if (wl_now_ns(CLOCK_MONOTONIC) > deadline)
			wl_die(&c, 0, "thread %s never went to sleep in its call", names[i]);
		wl_sleep_ms(1);
	}
}

static void print_tids(FILE *f)
{
	fputs(",\"tids\":{", f);
	for (int i = 0; i < NT; i++)
		fprintf(f, "%s\"%s\":%d", i ? "," : "", names[i], (int)th[i].tid);
	fputc('}', f);
}

static void put(int fd, char ch, const char *what)
{
	if (write(fd, &ch, 1) != 1)
		wl_die(&c, errno, "write(%s)", what);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { WL_COMMON_OPTIONS, { 0 } };
#ifdef SYS_epoll_wait
	const long wait_nr = SYS_epoll_wait;
#else
	const long wait_nr = SYS_epoll_pwait;
#endif
	void *(*fn[NT])(void *) = { reader_main, reader_main, locker_main, loop_main };
	char line[64];
	int opt, err, i;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (wl_common_opt(&c, opt, optarg))
			wl_print_usage(&c, 2);
	if (argc != optind)
		wl_usage_error(&c, "unexpected argument '%s'", argv[optind]);
	wl_open_out(&c);
	for (i = 0; i < NT; i++)
		if (pipe2(th[i].fds, O_CLOEXEC) || pipe2(th[i].ev, O_CLOEXEC))
			wl_die(&c, errno, "pipe2");
	err = pthread_mutex_lock(&mu);
	if (err)
		wl_die(&c, err, "pthread_mutex_lock");
	for (i = 0; i < NT; i++) {
		err = pthread_create(&th[i].thread, NULL, fn[i], &th[i]);
		if (err)
			wl_die(&c, err, "pthread_create(%s)", names[i]);
	}
	await_asleep(R1, SYS_read, SYS_read);
	await_asleep(R2, SYS_read, SYS_read);
	await_asleep(LOCKER, SYS_futex, SYS_futex);
	await_asleep(LOOP, wait_nr, SYS_epoll_pwait);
	fprintf(stderr, "{\"workload\":\"blockednow\",\"phase\":\"asleep\",\"pid\":%d",
		(int)getpid());
	print_tids(stderr);
	fputs("}\n", stderr);
	fflush(stderr);

	while (fgets(line, sizeof(line), stdin)) {
		long long poke_ns;

		if (strcmp(line, "poke\n"))
			wl_die(&c, 0, "unknown command '%s'", line);
		/* one quick iteration, back in epoll_wait, then the event it gets stuck on */
		put(th[LOOP].ev[1], 'y', "loop");
		while (!__atomic_load_n(&handled, __ATOMIC_ACQUIRE))
			wl_sleep_ms(1);
		await_asleep(LOOP, wait_nr, SYS_epoll_pwait);
		poke_ns = wl_now_ns(CLOCK_MONOTONIC);
		put(th[LOOP].ev[1], 'x', "loop");
		await_asleep(LOOP, SYS_read, SYS_read);
		fprintf(stderr,
			"{\"workload\":\"blockednow\",\"phase\":\"stuck\",\"poke_ns\":%lld}\n",
			poke_ns);
		fflush(stderr);
	}

	put(th[R1].fds[1], 'x', "reader1");
	put(th[R2].fds[1], 'x', "reader2");
	put(th[LOOP].fds[1], 'x', "loop");
	put(th[LOOP].ev[1], 'q', "loop");
	err = pthread_mutex_unlock(&mu);
	if (err)
		wl_die(&c, err, "pthread_mutex_unlock");
	for (i = 0; i < NT; i++) {
		err = pthread_join(th[i].thread, NULL);
		if (err)
			wl_die(&c, err, "pthread_join(%s)", names[i]);
		if (th[i].err)
			wl_die(&c, th[i].err, "%s", names[i]);
	}
	fprintf(c.out, "{\"workload\":\"blockednow\",\"pid\":%d", (int)getpid());
	print_tids(c.out);
	fputs("}\n", c.out);
	wl_finish_out(&c);
	return 0;
}
