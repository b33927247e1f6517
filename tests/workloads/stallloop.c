// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * stallloop: an epoll event loop with two stalls at known times, for the
 * stacks of stalls (tests/e2e/test_stallstacks.py). Built as Debian builds
 * (no frame pointers, asynchronous unwind tables; see the Makefile); every
 * named function is a real frame: never inlined, cloned or tail-called.
 *
 * main -> stall_event_loop: epoll_wait on a timerfd ticking every 20 ms;
 * each tick runs on_tick, which at tick 10 calls
 *   crunch_numbers_hot: on CPU for SPIN_MS of its own thread CPU time (a
 *   stall of SPIN_MS on CPU), and at tick 20
 *   on_request -> slow_pipe_read: read(2) on a pipe whose writer thread
 *   writes one byte READ_MS after it starts (a stall of READ_MS blocked).
 * After tick 45 (~500 ms of idle ticks later: the agent unwinds the samples
 * while the process is alive), ONE JSON line:
 *   {"workload":"stallloop","pid":P,"tid":T,"hot_cpu_ns":..,"hot_wall_ns":..,
 *    "hot_start_ns":..,"hot_steal_ns":..,"hot_preempted":..,"ncpus":..,
 *    "read_ns":..,"read_start_ns":..}
 * T the loop's thread, *_start_ns CLOCK_MONOTONIC, hot_cpu_ns its CPU clock
 * over crunch_numbers_hot, hot_steal_ns the VM's steal then (all CPUs, -1:
 * unknown), hot_preempted its involuntary switches then, read_ns the read's
 * wall time.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include "workload.h"

#if defined(__clang__)
#define FRAME __attribute__((noinline, used))
#else
#define FRAME __attribute__((noipa, used))
#endif
/* code after each call: the call cannot become a jump */
#define AFTER_CALL() __asm__ volatile("" ::: "memory")

#define TICK_MS 20
#define HOT_TICK 10
#define READ_TICK 20
#define LAST_TICK 45

static unsigned long spin_ms, read_ms;
static int pipefd[2];
static volatile uint64_t sink;
static long long hot_cpu_ns, hot_wall_ns, hot_start_ns, read_ns, read_start_ns;
/* over crunch_numbers_hot: the VM's steal (all CPUs), and the loop's preemptions */
static long long hot_steal_ns;
static unsigned long long hot_preempted;

FRAME uint64_t crunch_numbers_hot(unsigned long ms)
{
	long long end = wl_now_ns(CLOCK_THREAD_CPUTIME_ID) + (long long)ms * 1000000LL;
	uint64_t x = 88172645463325252ULL;

	/* xorshift rounds between clock reads: user code, on CPU */
	while (wl_now_ns(CLOCK_THREAD_CPUTIME_ID) < end)
		for (int i = 0; i < 20000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
	AFTER_CALL();
	return x;
}

static void *writer_main(void *arg)
{
	(void)arg;
	wl_sleep_ms(read_ms);
	if (write(pipefd[1], "x", 1) != 1)
		return (void *)1;
	return NULL;
}

FRAME ssize_t slow_pipe_read(int fd)
{
	char ch;
	ssize_t n = read(fd, &ch, 1);

	AFTER_CALL();
	return n;
}

FRAME ssize_t on_request(const struct wl_common *c)
{
	pthread_t w;
	long long t0;
	ssize_t n;
	int err = pthread_create(&w, NULL, writer_main, NULL);

	if (err)
		wl_die(c, err, "pthread_create");
	t0 = wl_now_ns(CLOCK_MONOTONIC);
	n = slow_pipe_read(pipefd[0]);
	read_ns = wl_now_ns(CLOCK_MONOTONIC) - t0;
	read_start_ns = t0;
	pthread_join(w, NULL);
	AFTER_CALL();
	return n;
}

FRAME void on_tick(const struct wl_common *c, unsigned long tick)
{
	if (tick == HOT_TICK) {
		unsigned long long vol0 = 0, inv0 = 0, vol1 = 0, inv1 = 0;
		long long s0 = wl_steal_ns(), w0, c0;

		wl_ctxt_switches(gettid(), &vol0, &inv0);
		w0 = wl_now_ns(CLOCK_MONOTONIC);
		c0 = wl_now_ns(CLOCK_THREAD_CPUTIME_ID);
		sink = crunch_numbers_hot(spin_ms);
		hot_cpu_ns = wl_now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
		hot_wall_ns = wl_now_ns(CLOCK_MONOTONIC) - w0;
		hot_start_ns = w0;
		wl_ctxt_switches(gettid(), &vol1, &inv1);
		hot_steal_ns = s0 < 0 ? -1 : wl_steal_ns() - s0;
		hot_preempted = inv1 - inv0;
	} else if (tick == READ_TICK) {
		if (on_request(c) != 1)
			wl_die(c, errno, "read(pipe)");
	}
	AFTER_CALL();
}

FRAME void stall_event_loop(const struct wl_common *c, int ep, int tfd)
{
	unsigned long tick = 0;

	while (tick < LAST_TICK) {
		struct epoll_event ev;
		uint64_t n;
		int k = epoll_wait(ep, &ev, 1, 1000);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			wl_die(c, errno, "epoll_wait");
		if (k == 0 || read(tfd, &n, sizeof(n)) != sizeof(n))
			continue;
		on_tick(c, ++tick);
	}
	AFTER_CALL();
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		WL_COMMON_OPTIONS,
		{ 0 },
	};
	struct wl_common c = {
		.prog = "stallloop",
		.usage = "[--wait-stdin] [--out FILE] SPIN_MS READ_MS",
		.help = "  SPIN_MS       the on-CPU stall: its callback computes this long\n"
			"  READ_MS       the blocked stall: its read() waits this long\n",
	};
	struct itimerspec it = { .it_interval = { 0, TICK_MS * 1000000L },
				 .it_value = { 0, TICK_MS * 1000000L } };
	struct epoll_event ev = { .events = EPOLLIN };
	int opt, ep, tfd;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (!wl_common_opt(&c, opt, optarg))
			continue;
		wl_print_usage(&c, 2);
	}
	if (argc - optind != 2)
		wl_usage_error(&c, "expected 2 arguments (SPIN_MS READ_MS), got %d", argc - optind);
	spin_ms = wl_parse_ulong(&c, "SPIN_MS", argv[optind], 1, 10000);
	read_ms = wl_parse_ulong(&c, "READ_MS", argv[optind + 1], 1, 10000);
	wl_open_out(&c);
	if (pipe(pipefd))
		wl_die(&c, errno, "pipe");
	if (c.wait_stdin)
		wl_wait_line(&c);
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (ep < 0 || tfd < 0)
		wl_die(&c, errno, "epoll_create1/timerfd_create");
	if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) || timerfd_settime(tfd, 0, &it, NULL))
		wl_die(&c, errno, "epoll_ctl/timerfd_settime");
	stall_event_loop(&c, ep, tfd);
	fprintf(c.out,
		"{\"workload\":\"stallloop\",\"pid\":%d,\"tid\":%d,\"hot_cpu_ns\":%lld,"
		"\"hot_wall_ns\":%lld,\"hot_start_ns\":%lld,\"hot_steal_ns\":%lld,"
		"\"hot_preempted\":%llu,\"ncpus\":%ld,\"read_ns\":%lld,\"read_start_ns\":%lld}\n",
		(int)getpid(), (int)gettid(), hot_cpu_ns, hot_wall_ns, hot_start_ns, hot_steal_ns,
		hot_preempted, sysconf(_SC_NPROCESSORS_ONLN), read_ns, read_start_ns);
	wl_finish_out(&c);
	return 0;
}
