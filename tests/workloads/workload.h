/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Helpers shared by the test workloads: option and number parsing,
 * --wait-stdin / --hold, --out, clocks, and a thread's context-switch counts
 * from /proc. All static inline: each workload still builds from its one .c
 * file (the Makefile compiles tests/workloads/NAME.c alone).
 *
 * Every workload ends by printing ONE JSON line (to stdout, or to --out FILE)
 * that starts with "workload":"NAME", so a test can tell it apart from the
 * tool's own JSON lines when both share a stdout.
 */
#ifndef __TW_WORKLOAD_H
#define __TW_WORKLOAD_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Options every workload takes (long only): list them in the workload's
 * struct option table with these values and let wl_common_opt() handle them.
 */
enum {
	WL_OPT_WAIT_STDIN = 0x100,
	WL_OPT_OUT,
	WL_OPT_HELP,
	WL_OPT_FIRST_PRIVATE, /* a workload's own options start here */
};

/* The struct option entries of the options above, first in every table. */
/* clang-format off */
#define WL_COMMON_OPTIONS                                              \
	{ "wait-stdin", no_argument, NULL, WL_OPT_WAIT_STDIN },        \
	{ "out", required_argument, NULL, WL_OPT_OUT },                \
	{ "help", no_argument, NULL, WL_OPT_HELP }
/* clang-format on */

#define WL_COMMON_HELP                                                           \
	"  --wait-stdin  read one line from stdin before doing anything\n"       \
	"                (attach the tool with -p PID first, then release)\n"    \
	"  --out FILE    write the JSON result line to FILE instead of stdout\n" \
	"  --help        this text\n"

struct wl_common {
	const char *prog; /* workload name, also the "workload" JSON key */
	const char *usage; /* the arguments, for "usage: PROG ..." */
	const char *help; /* the workload's own option lines */
	int wait_stdin;
	const char *out_path;
	FILE *out;
};

static inline void __attribute__((noreturn)) wl_print_usage(const struct wl_common *c, int status)
{
	FILE *f = status ? stderr : stdout;

	fprintf(f, "usage: %s %s\n", c->prog, c->usage);
	if (!status)
		fprintf(f, "%s%s", c->help ? c->help : "", WL_COMMON_HELP);
	exit(status);
}

/* A bad command line: one line saying what is wrong, then usage; exit 2. */
static inline void __attribute__((noreturn, format(printf, 2, 3)))
wl_usage_error(const struct wl_common *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	wl_print_usage(c, 2);
}

/* Something failed at run time: say what and why; exit 1. */
static inline void __attribute__((noreturn, format(printf, 3, 4)))
wl_die(const struct wl_common *c, int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
	exit(1);
}

/* Handles the common options; returns 0 if opt was one of them. */
static inline int wl_common_opt(struct wl_common *c, int opt, const char *arg)
{
	switch (opt) {
	case WL_OPT_WAIT_STDIN:
		c->wait_stdin = 1;
		return 0;
	case WL_OPT_OUT:
		c->out_path = arg;
		return 0;
	case WL_OPT_HELP:
		wl_print_usage(c, 0);
	default:
		return -1;
	}
}

static inline unsigned long wl_parse_ulong(const struct wl_common *c, const char *what,
					   const char *s, unsigned long min, unsigned long max)
{
	unsigned long v;
	char *end;

	if (!s)
		wl_usage_error(c, "missing %s", what);
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		wl_usage_error(c, "%s must be an integer in [%lu, %lu], not '%s'", what, min, max,
			       s);
	return v;
}

/* Opens --out (or takes stdout) before anything else can fail half-way. */
static inline void wl_open_out(struct wl_common *c)
{
	c->out = stdout;
	if (!c->out_path)
		return;
	c->out = fopen(c->out_path, "w");
	if (!c->out)
		wl_die(c, errno, "cannot open --out %s", c->out_path);
}

/* Writes the finished JSON line out in one go and checks it got there. */
static inline void wl_finish_out(const struct wl_common *c)
{
	if (fflush(c->out) || ferror(c->out))
		wl_die(c, errno, "cannot write the result");
}

/* --wait-stdin: block until one line (or EOF) arrives on stdin. */
static inline void wl_wait_line(const struct wl_common *c)
{
	ssize_t n;
	char ch;

	for (;;) {
		n = read(STDIN_FILENO, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			wl_die(c, errno, "reading stdin");
		if (n == 0 || ch == '\n')
			return;
	}
}

/* --hold: stay alive until stdin reaches EOF. */
static inline void wl_wait_eof(const struct wl_common *c)
{
	char buf[256];
	ssize_t n;

	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			wl_die(c, errno, "reading stdin");
		if (n == 0)
			return;
	}
}

static inline long long wl_now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void wl_sleep_ms(unsigned long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

/*
 * The kernel's own voluntary/involuntary switch counts of thread tid, from
 * /proc/self/task/TID/status. Returns 0, or an errno.
 */
static inline int wl_ctxt_switches(pid_t tid, unsigned long long *vol, unsigned long long *invol)
{
	char path[64], line[256];
	int found = 0, err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %llu", vol) == 1)
			found |= 1;
		else if (sscanf(line, "nonvoluntary_ctxt_switches: %llu", invol) == 1)
			found |= 2;
	}
	if (ferror(f))
		err = EIO;
	fclose(f);
	if (!err && found != 3)
		err = ENOENT;
	return err;
}

/*
 * Time the hypervisor took from every CPU of this VM so far (the "steal"
 * column of /proc/stat's "cpu" line), in ns, or -1. The kernel's per-thread
 * CPU clock leaves it out; a tracer that times a thread from switch-in to
 * switch-out cannot, so tests allow the steal of the run between the two.
 */
static inline long long wl_steal_ns(void)
{
	unsigned long long f[8];
	long hz = sysconf(_SC_CLK_TCK);
	int n;
	FILE *f_stat;

	f_stat = fopen("/proc/stat", "re");
	if (!f_stat)
		return -1;
	n = fscanf(f_stat, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2],
		   &f[3], &f[4], &f[5], &f[6], &f[7]);
	fclose(f_stat);
	if (n != 8 || hz <= 0)
		return -1;
	return (long long)(f[7] * (1000000000ULL / (unsigned long long)hz));
}

/* The "Threads:" count of this process from /proc/self/status, or -1. */
static inline long wl_proc_threads(void)
{
	char line[256];
	long n = -1;
	FILE *f;

	f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

#endif /* __TW_WORKLOAD_H */
