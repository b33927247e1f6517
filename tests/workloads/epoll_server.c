// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * epoll_server [--delay MS] [--requests N] [--slow K] [--gap MS]: an epoll
 * event loop (the main thread) serves one end of a socketpair; a "client"
 * thread sends N requests on the other end, one at a time, GAP ms apart
 * (clock_nanosleep), reading each reply. The loop waits in epoll_wait,
 * read()s a request from the socket and write()s the reply to it.
 *
 * On request K the handler calls a slow backend: it write()s a trigger byte
 * to the "backend" thread's pipe, then does ONE blocking read() on the "slow
 * pipe", which the backend writes to only MS ms after the trigger. So that
 * loop iteration stalls about MS ms, blocked in read() on a pipe, and the
 * loop's read() calls are on a socket (N + 1 of them: the last sees EOF) and
 * on a pipe (1).
 *
 * The loop stops when the client closes its end (EOF), joins the threads and
 * prints ONE JSON line:
 *   {"workload":"epoll_server","pid","loop_tid","client_tid","backend_tid",
 *    "requests","slow_request","delay_ms",
 *    "waits"         epoll_wait calls the loop made (all returned),
 *    "slow_wake_ns"  CLOCK_MONOTONIC just after the epoll_wait that returned
 *                    the slow request,
 *    "slow_gap_ns"   from then to just before the next epoll_wait,
 *    "slow_read_ns"  the slow read() alone (CLOCK_MONOTONIC around the call),
 *    "max_other_gap_ns"  the longest other gap between epoll_wait calls}
 *
 * --delay MS    how long the backend takes (default 300)
 * --requests N  requests the client sends (default 5)
 * --slow K      which request is slow, 1..N (default 3, or N if N < 3)
 * --gap MS      client's pause between a reply and the next request (default 150)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* gettid, pipe2, pthread_setname_np (the Makefile sets it too) */
#endif
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "workload.h"

enum {
	OPT_DELAY = WL_OPT_FIRST_PRIVATE,
	OPT_REQUESTS,
	OPT_SLOW,
	OPT_GAP,
};

#define MSG_LEN 8 /* "req 003\n" / "ok  003\n": fixed size, one read each */

static struct wl_common c = {
	.prog = "epoll_server",
	.usage = "[--wait-stdin] [--out FILE] [--delay MS] [--requests N] [--slow K] [--gap MS]",
	.help = "  --delay MS     the slow request's backend delay (default 300)\n"
		"  --requests N   requests the client sends (default 5)\n"
		"  --slow K       which request is slow, 1..N (default 3, or N if N < 3)\n"
		"  --gap MS       client pause between requests (default 150)\n",
};

static unsigned long delay_ms = 300, nrequests = 5, slow_req, gap_ms = 150;
static int trigger_fds[2], slow_fds[2];
static pid_t client_tid, backend_tid;

/* read() exactly len bytes (the peers write whole messages); 0 on EOF at the start. */
static ssize_t read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			if (got)
				errno = EPIPE;
			return got ? -1 : 0;
		}
		got += n;
	}
	return got;
}

static void write_full(int fd, const char *buf, size_t len, const char *what)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			wl_die(&c, errno, "write(%s)", what);
		buf += n;
		len -= n;
	}
}

static void *client_main(void *arg)
{
	int fd = *(int *)arg;
	char msg[MSG_LEN + 1], want[MSG_LEN + 1], reply[MSG_LEN];
	unsigned long i;
	ssize_t n;

	client_tid = gettid();
	pthread_setname_np(pthread_self(), "client");
	for (i = 1; i <= nrequests; i++) {
		if (i > 1)
			wl_sleep_ms(gap_ms);
		snprintf(msg, sizeof(msg), "req %03lu\n", i % 1000);
		write_full(fd, msg, MSG_LEN, "client socket");
		n = read_full(fd, reply, MSG_LEN);
		if (n <= 0)
			wl_die(&c, n ? errno : EPIPE, "client: reading reply %lu", i);
		snprintf(want, sizeof(want), "ok  %03lu\n", i % 1000);
		if (memcmp(reply, want, MSG_LEN))
			wl_die(&c, 0, "client: bad reply to request %lu: '%.*s'", i, MSG_LEN,
			       reply);
	}
	if (shutdown(fd, SHUT_WR))
		wl_die(&c, errno, "client: shutdown");
	return NULL;
}

/* The slow backend: answers on the slow pipe delay_ms after each trigger byte. */
static void *backend_main(void *arg)
{
	ssize_t n;
	char ch;

	(void)arg;
	backend_tid = gettid();
	pthread_setname_np(pthread_self(), "backend");
	for (;;) {
		n = read_full(trigger_fds[0], &ch, 1);
		if (n < 0)
			wl_die(&c, errno, "backend: read(trigger pipe)");
		if (n == 0)
			return NULL; /* the loop closed the trigger pipe: done */
		wl_sleep_ms(delay_ms);
		write_full(slow_fds[1], "s", 1, "slow pipe");
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		WL_COMMON_OPTIONS,
		{ "delay", required_argument, NULL, OPT_DELAY },
		{ "requests", required_argument, NULL, OPT_REQUESTS },
		{ "slow", required_argument, NULL, OPT_SLOW },
		{ "gap", required_argument, NULL, OPT_GAP },
		{ 0 },
	};
	long long wake = 0, t0, slow_wake_ns = 0, slow_gap_ns = 0, slow_read_ns = 0;
	long long max_other_gap_ns = 0, gap;
	unsigned long waits = 0, served = 0, n;
	pthread_t client, backend;
	struct epoll_event ev;
	int opt, err, epfd, sv[2], done = 0, slow_now;
	char msg[MSG_LEN], reply[MSG_LEN + 1], ch;
	ssize_t got;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (!wl_common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case OPT_DELAY:
			delay_ms = wl_parse_ulong(&c, "--delay", optarg, 0, 3600 * 1000);
			break;
		case OPT_REQUESTS:
			nrequests = wl_parse_ulong(&c, "--requests", optarg, 1, 100000);
			break;
		case OPT_SLOW:
			slow_req = wl_parse_ulong(&c, "--slow", optarg, 1, 100000);
			break;
		case OPT_GAP:
			gap_ms = wl_parse_ulong(&c, "--gap", optarg, 0, 60 * 1000);
			break;
		default:
			wl_print_usage(&c, 2);
		}
	}
	if (argc != optind)
		wl_usage_error(&c, "unexpected argument '%s'", argv[optind]);
	if (!slow_req)
		slow_req = nrequests < 3 ? nrequests : 3;
	if (slow_req > nrequests)
		wl_usage_error(&c, "--slow %lu is past --requests %lu", slow_req, nrequests);

	wl_open_out(&c);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		wl_die(&c, errno, "socketpair");
	if (pipe2(trigger_fds, O_CLOEXEC) || pipe2(slow_fds, O_CLOEXEC))
		wl_die(&c, errno, "pipe2");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		wl_die(&c, errno, "epoll_create1");
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = sv[0] };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sv[0], &ev))
		wl_die(&c, errno, "epoll_ctl");

	if (c.wait_stdin)
		wl_wait_line(&c);

	err = pthread_create(&backend, NULL, backend_main, NULL);
	if (!err)
		err = pthread_create(&client, NULL, client_main, &sv[1]);
	if (err)
		wl_die(&c, err, "pthread_create");

	while (!done) {
		if (waits) {
			gap = wl_now_ns(CLOCK_MONOTONIC) - wake;
			if (slow_wake_ns == wake)
				slow_gap_ns = gap;
			else if (gap > max_other_gap_ns)
				max_other_gap_ns = gap;
		}
		do
			err = epoll_wait(epfd, &ev, 1, -1);
		while (err < 0 && errno == EINTR);
		if (err < 0)
			wl_die(&c, errno, "epoll_wait");
		wake = wl_now_ns(CLOCK_MONOTONIC);
		waits++;
		if (err == 0)
			continue;
		got = read_full(sv[0], msg, MSG_LEN);
		if (got < 0)
			wl_die(&c, errno, "read(loop socket)");
		if (got == 0) {
			done = 1; /* the client is finished */
			continue;
		}
		if (memcmp(msg, "req ", 4) || msg[MSG_LEN - 1] != '\n')
			wl_die(&c, 0, "bad request '%.*s'", MSG_LEN, msg);
		n = strtoul(msg + 4, NULL, 10);
		slow_now = ++served == slow_req;
		if (slow_now) {
			slow_wake_ns = wake;
			write_full(trigger_fds[1], "t", 1, "trigger pipe");
			t0 = wl_now_ns(CLOCK_MONOTONIC);
			got = read_full(slow_fds[0], &ch, 1);
			slow_read_ns = wl_now_ns(CLOCK_MONOTONIC) - t0;
			if (got != 1)
				wl_die(&c, got ? errno : EPIPE, "read(slow pipe)");
		}
		snprintf(reply, sizeof(reply), "ok  %03lu\n", n % 1000);
		write_full(sv[0], reply, MSG_LEN, "loop socket");
	}
	/* the gap after the last wait (EOF) ends here, not at another wait */
	close(trigger_fds[1]);
	err = pthread_join(client, NULL);
	if (!err)
		err = pthread_join(backend, NULL);
	if (err)
		wl_die(&c, err, "pthread_join");
	if (served != nrequests)
		wl_die(&c, 0, "served %lu requests, expected %lu", served, nrequests);

	fprintf(c.out,
		"{\"workload\":\"epoll_server\",\"pid\":%d,\"loop_tid\":%d,\"client_tid\":%d,"
		"\"backend_tid\":%d,\"requests\":%lu,\"slow_request\":%lu,\"delay_ms\":%lu,"
		"\"waits\":%lu,\"slow_wake_ns\":%lld,\"slow_gap_ns\":%lld,\"slow_read_ns\":%lld,"
		"\"max_other_gap_ns\":%lld}\n",
		(int)getpid(), (int)gettid(), (int)client_tid, (int)backend_tid, nrequests,
		slow_req, delay_ms, waits, slow_wake_ns, slow_gap_ns, slow_read_ns,
		max_other_gap_ns);
	wl_finish_out(&c);
	close(epfd);
	close(sv[0]);
	close(sv[1]);
	close(trigger_fds[0]);
	close(slow_fds[0]);
	close(slow_fds[1]);
	return 0;
}
