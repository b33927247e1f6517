// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * handler N US: a request handler that blocks in read() on a slow pipe
 * through two levels of calls, as a server's would: its thread runs
 * serve_requests -> handle_request -> read_body -> read(2), N times, and a
 * feeder thread writes one byte into the pipe every US microseconds (from
 * 1 ms, US after the handler went to sleep in its read(), so every read
 * blocks US). Built
 * like Debian builds (-O2, no frame pointers), so only CFI can unwind it.
 * It reports the handler's tid and the time its read() calls took, summed
 * (CLOCK_MONOTONIC around each call), which the stacks' weights must match.
 *
 * --threads K  K handler threads (each with its own pipe and feeder)
 */
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>

#include "workload.h"

#define MAX_HANDLERS 16

enum {
	OPT_THREADS = WL_OPT_FIRST_PRIVATE,
};

struct handler {
	pthread_t thread, feeder;
	int fds[2];
	pid_t tid;
	long long read_ns; /* the read() calls, summed */
	int err;
};

static unsigned long n_requests, interval_us;

/* the functions a stack must show, in this order from the leaf; never inlined or tail-called */
static __attribute__((noinline)) long long read_body(int fd)
{
	long long t0 = wl_now_ns(CLOCK_MONOTONIC);
	ssize_t n;
	char ch;

	do
		n = read(fd, &ch, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return -1;
	t0 = wl_now_ns(CLOCK_MONOTONIC) - t0;
	__asm__ volatile("" ::: "memory"); /* no tail call into the caller's frame */
	return t0;
}

static __attribute__((noinline)) long long handle_request(int fd)
{
	long long ns = read_body(fd);

	__asm__ volatile("" ::: "memory");
	return ns;
}

static __attribute__((noinline)) void *serve_requests(void *arg)
{
	struct handler *h = arg;

	__atomic_store_n(&h->tid, gettid(), __ATOMIC_RELEASE);
	for (unsigned long i = 0; i < n_requests; i++) {
		long long ns = handle_request(h->fds[0]);

		if (ns < 0) {
			h->err = EPIPE;
			break;
		}
		h->read_ns += ns;
	}
	__asm__ volatile("" ::: "memory");
	return NULL;
}

/* Thread tid is asleep (state S: in this workload, only in its read()). */
static bool asleep(pid_t tid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* gone: nothing to wait for */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the name may hold anything; the state follows it */
	return !p || p[1] != ' ' || p[2] != 'R';
}

static void *feed(void *arg)
{
	struct handler *h = arg;
	struct timespec ts = { .tv_sec = interval_us / 1000000,
			       .tv_nsec = (long)(interval_us % 1000000) * 1000 };
	struct timespec poll = { .tv_nsec = 100 * 1000 };

	for (unsigned long i = 0; i < n_requests; i++) {
		/*
		 * From 1 ms (--stack-min: the tests count one stack per read), write only US after
		 * the handler went to sleep in its read(), so that every read blocks for US even on
		 * a loaded machine, where it could come late and find its byte waiting. Shorter
		 * intervals keep their rate: the 100 us polls would lengthen every block.
		 */
		while (interval_us >= 1000 && (!__atomic_load_n(&h->tid, __ATOMIC_ACQUIRE) ||
					       !asleep(__atomic_load_n(&h->tid, __ATOMIC_ACQUIRE))))
			nanosleep(&poll, NULL);
		nanosleep(&ts, NULL);
		if (write(h->fds[1], "x", 1) != 1)
			break;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { WL_COMMON_OPTIONS,
					      { "threads", required_argument, NULL, OPT_THREADS },
					      {} };
	struct wl_common c = {
		.prog = "handler",
		.usage = "[--wait-stdin] [--threads K] N US",
		.help = "  --threads K    K handler threads, each fed by its own feeder (default "
			"1)\n",
	};
	struct handler h[MAX_HANDLERS] = { 0 };
	unsigned long k = 1;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == OPT_THREADS)
			k = wl_parse_ulong(&c, "--threads", optarg, 1, MAX_HANDLERS);
		else if (wl_common_opt(&c, opt, optarg))
			wl_print_usage(&c, 2);
	}
	if (argc - optind != 2)
		wl_print_usage(&c, 2);
	n_requests = wl_parse_ulong(&c, "N", argv[optind], 1, 10000000);
	interval_us = wl_parse_ulong(&c, "US", argv[optind + 1], 1, 10000000);
	wl_open_out(&c);
	if (c.wait_stdin)
		wl_wait_line(&c);
	for (unsigned long i = 0; i < k; i++) {
		if (pipe(h[i].fds))
			wl_die(&c, errno, "pipe");
		err = pthread_create(&h[i].thread, NULL, serve_requests, &h[i]);
		if (!err)
			err = pthread_create(&h[i].feeder, NULL, feed, &h[i]);
		if (err)
			wl_die(&c, err, "pthread_create");
	}
	for (unsigned long i = 0; i < k; i++) {
		pthread_join(h[i].thread, NULL);
		pthread_join(h[i].feeder, NULL);
		if (h[i].err)
			wl_die(&c, h[i].err, "read(pipe)");
	}
	fprintf(c.out,
		"{\"workload\":\"handler\",\"pid\":%d,\"requests\":%lu,\"interval_us\":%lu,"
		"\"handlers\":[",
		(int)getpid(), n_requests, interval_us);
	for (unsigned long i = 0; i < k; i++)
		fprintf(c.out, "%s{\"tid\":%d,\"read_ns\":%lld}", i ? "," : "", (int)h[i].tid,
			h[i].read_ns);
	fprintf(c.out, "]}\n");
	wl_finish_out(&c);
	return 0;
}
