// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * unwind-check: user/unwind.c driven by hand, as the agent drives it from its BPF snapshots.
 *
 *   unwind-check [-s BYTES] PID [TID]
 *     stops TID (default PID) with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT), takes its
 *     registers and up to BYTES (default 16384) of its stack from sp upward with
 *     process_vm_readv (page by page, stopping at the first page that does not read, as the
 *     BPF side does), lets it go, then unwinds and names the copy.
 *   unwind-check --again [-s BYTES] PID [TID]
 *     the same, then, with the same unwinder, once more when a line comes on stdin (the
 *     process may have mapped a library meanwhile)
 *   unwind-check --then PID2 PID   PID, then PID2 with the same unwinder (what they share)
 *   unwind-check --symbolize PID ADDR   names one address (decimal or 0x hex), no ptrace
 *
 * Prints JSON lines: one per frame, innermost first,
 *   {"frame":I,"pc":N,"func":S|null,"module":S,"offset":N,"file":S|null,"line":N,
 *    "build_id":S|null,"source":"root"|"map_files"|null}
 * then {"stop":S,"frames":N,"stack_bytes":N,"first_us":N,"again_us":N,"procs":N,"symfiles":N}
 * (unwinder_stats() after it): first_us is the first
 * unwind and naming of the process (opening its files), again_us the same snapshot again
 * (from the caches). Exit 0 when the unwind ran, 1 on a failure, 2 on a bad command line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "json.h"
#include "unwind.h"

#define STACK_MAX 16384
#define PAGE 4096

static void usage(void)
{
	fprintf(stderr, "usage: unwind-check [--again] [--then PID2] [-s BYTES] PID [TID]\n"
			"       unwind-check --symbolize PID ADDR\n");
	exit(2);
}

static unsigned long long number(const char *s, unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v > max) {
		fprintf(stderr, "unwind-check: '%s' is not a number in [0, %llu]\n", s, max);
		exit(2);
	}
	return v;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The stack from sp up, page by page, until a page fails or max bytes: what the BPF side does. */
static size_t copy_stack(pid_t pid, uint64_t sp, unsigned char *buf, size_t max)
{
	size_t got = 0;

	while (got < max) {
		uint64_t addr = sp + got;
		size_t chunk = PAGE - (addr & (PAGE - 1));
		struct iovec local, remote;
		ssize_t n;

		if (chunk > max - got)
			chunk = max - got;
		local = (struct iovec){ .iov_base = buf + got, .iov_len = chunk };
		remote = (struct iovec){ .iov_base = (void *)(uintptr_t)addr, .iov_len = chunk };
		n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		if ((size_t)n < chunk)
			break;
	}
	return got;
}

/* Stops tid, copies its registers and stack, and lets it go on. */
static int snapshot(pid_t tid, struct user_regs_struct *regs, unsigned char *stack, size_t max,
		    size_t *len)
{
	int status, err = 0;

	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL)) {
		fprintf(stderr, "unwind-check: PTRACE_SEIZE %d: %s\n", (int)tid, strerror(errno));
		return -1;
	}
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) || waitpid(tid, &status, __WALL) != tid ||
	    !WIFSTOPPED(status)) {
		fprintf(stderr, "unwind-check: cannot stop %d: %s\n", (int)tid, strerror(errno));
		err = -1;
	} else if (ptrace(PTRACE_GETREGS, tid, NULL, regs)) {
		fprintf(stderr, "unwind-check: PTRACE_GETREGS: %s\n", strerror(errno));
		err = -1;
	} else {
		*len = copy_stack(tid, regs->rsp, stack, max);
	}
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	return err;
}

static void print_frame(struct json *j, struct tw_unwinder *u, pid_t pid, int i, uint64_t pc,
			bool caller)
{
	const char *build_id, *source;
	struct tw_frame f;
	int err;

	err = unwinder_symbolize(u, pid, pc, caller, &f);
	if (err) {
		fprintf(stderr, "unwind-check: symbolize %#" PRIx64 ": %s\n", pc, strerror(-err));
		memset(&f, 0, sizeof(f));
	}
	build_id = unwinder_build_id(u, pid, caller ? pc - 1 : pc);
	source = unwinder_module_source(u, pid, caller ? pc - 1 : pc);
	json_init(j, stdout);
	json_obj_begin(j);
	json_ku64(j, "frame", (__u64)i);
	json_ku64(j, "pc", pc);
	json_key(j, "func");
	f.func ? json_str(j, f.func) : json_null(j);
	json_kstr(j, "module", f.module ? f.module : "");
	json_ku64(j, "offset", f.offset);
	json_key(j, "file");
	f.file ? json_str(j, f.file) : json_null(j);
	json_ku64(j, "line", (__u64)(f.line > 0 ? f.line : 0));
	json_key(j, "build_id");
	build_id ? json_str(j, build_id) : json_null(j);
	json_key(j, "source");
	source ? json_str(j, source) : json_null(j);
	json_obj_end(j);
	putchar('\n');
}

static int symbolize_one(pid_t pid, uint64_t addr)
{
	struct tw_unwinder *u = unwinder_new();
	struct json j;

	if (!u) {
		fprintf(stderr, "unwind-check: out of memory\n");
		return 1;
	}
	print_frame(&j, u, pid, 0, addr, false);
	unwinder_free(u);
	return 0;
}

static int unwind_and_print(struct tw_unwinder *u, pid_t pid, pid_t tid, const uint64_t *regs,
			    int nregs, const unsigned char *stack, size_t len, bool print,
			    int *frames)
{
	uint64_t pcs[TW_UNWIND_MAX_FRAMES];
	enum tw_unwind_stop stop;
	struct json j;
	int n;

	n = unwinder_unwind(u, pid, tid, regs, nregs, regs[TW_UREG_SP], stack, len, pcs,
			    TW_UNWIND_MAX_FRAMES, &stop);
	if (n < 0) {
		fprintf(stderr, "unwind-check: unwind %d: %s\n", (int)tid, strerror(-n));
		return n;
	}
	*frames = n;
	for (int i = 0; i < n; i++) {
		struct tw_frame f;

		if (print)
			print_frame(&j, u, pid, i, pcs[i], i > 0);
		else
			unwinder_symbolize(u, pid, pcs[i], i > 0, &f);
	}
	return (int)stop;
}

/* One snapshot of tid, unwound and named three times (timed, again from the caches, printed). */
static int check_once(struct tw_unwinder *u, pid_t pid, pid_t tid, size_t max)
{
	static unsigned char stack[STACK_MAX];
	uint64_t regs[TW_UREGS_MAX], t0, t1, t2;
	struct user_regs_struct ur;
	int nregs, stop, again, frames = 0;
	struct tw_unwind_stats st;
	size_t len = 0;
	struct json j;

	if (snapshot(tid, &ur, stack, max, &len))
		return 1;
	nregs = unwind_regs_from_user(&ur, regs);
	t0 = now_us();
	stop = unwind_and_print(u, pid, tid, regs, nregs, stack, len, false, &frames);
	t1 = now_us();
	again = unwind_and_print(u, pid, tid, regs, nregs, stack, len, false, &frames);
	t2 = now_us();
	if (stop >= 0 && again == stop)
		stop = unwind_and_print(u, pid, tid, regs, nregs, stack, len, true, &frames);
	else if (stop >= 0)
		fprintf(stderr,
			"unwind-check: the same snapshot unwound twice stopped as %s then %s\n",
			unwind_stop_name(stop),
			again < 0 ? strerror(-again) : unwind_stop_name(again));
	if (stop < 0 || again != stop)
		return 1;
	json_init(&j, stdout);
	json_obj_begin(&j);
	json_kstr(&j, "stop", unwind_stop_name(stop));
	json_ku64(&j, "frames", (__u64)frames);
	json_ku64(&j, "stack_bytes", len);
	json_ku64(&j, "first_us", t1 - t0);
	json_ku64(&j, "again_us", t2 - t1);
	unwinder_stats(u, &st);
	json_ku64(&j, "procs", st.procs);
	json_ku64(&j, "symfiles", st.symfiles);
	json_obj_end(&j);
	putchar('\n');
	return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	size_t max = STACK_MAX;
	struct tw_unwinder *u;
	bool twice = false;
	int argi = 1, err;
	pid_t pid, tid, then = 0;

	if (argc == 4 && !strcmp(argv[1], "--symbolize"))
		return symbolize_one((pid_t)number(argv[2], 4194304), number(argv[3], UINT64_MAX));
	if (argc > argi && !strcmp(argv[argi], "--again")) {
		twice = true;
		argi++;
	}
	if (argc > argi + 1 && !strcmp(argv[argi], "--then")) {
		then = (pid_t)number(argv[argi + 1], 4194304);
		argi += 2;
	}
	if (argc > argi + 1 && !strcmp(argv[argi], "-s")) {
		max = number(argv[argi + 1], STACK_MAX);
		argi += 2;
	}
	if (argc - argi < 1 || argc - argi > 2)
		usage();
	pid = (pid_t)number(argv[argi], 4194304);
	tid = argc - argi == 2 ? (pid_t)number(argv[argi + 1], 4194304) : pid;
	u = unwinder_new();
	if (!u) {
		fprintf(stderr, "unwind-check: out of memory\n");
		return 1;
	}
	err = check_once(u, pid, tid, max);
	if (!err && twice) {
		/* the same unwinder, after the process has changed: when a line comes on stdin */
		char line[16];

		if (!fgets(line, sizeof(line), stdin))
			err = 1;
		else
			err = check_once(u, pid, tid, max);
	}
	if (!err && then)
		err = check_once(u, then, then, max); /* another process, the same unwinder */
	unwinder_free(u);
	return err;
}
