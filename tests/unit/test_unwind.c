// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * The unwinder on this very process, which needs no privilege: a snapshot of the test's own
 * registers (getcontext) and stack must unwind through main to _start, and snapshots of
 * garbage must stop cleanly (the unit tests run under ASan and UBSan).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>
#include "unit.h"
#include "unwind.h"

#if defined(__x86_64__)
#define STACK_BYTES 16384

/* as the BPF side copies: page by page from sp, up to the first page that does not read */
static size_t copy_own_stack(uint64_t sp, unsigned char *buf, size_t max)
{
	size_t got = 0;

	while (got < max) {
		uint64_t addr = sp + got;
		size_t chunk = 4096 - (addr & 4095);
		struct iovec local, remote;
		ssize_t n;

		if (chunk > max - got)
			chunk = max - got;
		local = (struct iovec){ .iov_base = buf + got, .iov_len = chunk };
		remote = (struct iovec){ .iov_base = (void *)(uintptr_t)addr, .iov_len = chunk };
		n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static void regs_of(const ucontext_t *uc, uint64_t *regs)
{
	static const int order[TW_UREGS_ARCH] = {
		REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP, REG_R8,
		REG_R9,	 REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP,
	};

	for (int i = 0; i < TW_UREGS_ARCH; i++)
		regs[i] = (uint64_t)uc->uc_mcontext.gregs[order[i]];
}

TEST(unwind_own_stack)
{
	static unsigned char stack[STACK_BYTES];
	uint64_t regs[TW_UREGS_MAX] = { 0 }, pcs[TW_UNWIND_MAX_FRAMES];
	struct tw_unwinder *u = unwinder_new();
	bool seen_self = false, seen_main = false;
	enum tw_unwind_stop stop;
	struct tw_frame f;
	ucontext_t uc;
	size_t len;
	int n;

	CHECK(u);
	if (!u || getcontext(&uc)) {
		unwinder_free(u);
		return;
	}
	/* the context is as if getcontext had just returned here */
	regs_of(&uc, regs);
	len = copy_own_stack(regs[TW_UREG_SP], stack, sizeof(stack));
	n = unwinder_unwind(u, getpid(), gettid(), regs, TW_UREGS_ARCH, regs[TW_UREG_SP], stack,
			    len, pcs, TW_UNWIND_MAX_FRAMES, &stop);
	CHECK(n >= 3);
	CHECK_EQ(stop, TW_UNW_END);
	for (int i = 0; i < n; i++) {
		if (unwinder_symbolize(u, getpid(), pcs[i], i > 0, &f) || !f.func)
			continue;
		seen_self |= i == 0 && !strcmp(f.func, "unwind_own_stack");
		seen_main |= seen_self && !strcmp(f.func, "main");
	}
	CHECK(seen_self);
	CHECK(seen_main);
	CHECK(!strcmp(unwind_stop_name(stop), "end"));
	unwinder_free(u);
}

/* a snapshot of the caller's stack, unwound with at most max frames */
static __attribute__((noinline)) int snap_unwind(int max, int *n, enum tw_unwind_stop *stop)
{
	static unsigned char stack[65536];
	uint64_t regs[TW_UREGS_MAX] = { 0 }, pcs[TW_UNWIND_MAX_FRAMES];
	struct tw_unwinder *u = unwinder_new();
	ucontext_t uc;
	size_t len;

	if (!u || getcontext(&uc)) {
		unwinder_free(u);
		return -1;
	}
	regs_of(&uc, regs);
	len = copy_own_stack(regs[TW_UREG_SP], stack, sizeof(stack));
	*n = unwinder_unwind(u, getpid(), gettid(), regs, TW_UREGS_ARCH, regs[TW_UREG_SP], stack,
			     len, pcs, max, stop);
	unwinder_free(u);
	return 0;
}

/* depth small frames of recursion, then the snapshot */
static __attribute__((noinline)) int deep(int depth, int max, int *n, enum tw_unwind_stop *stop)
{
	int r;

	if (depth <= 0)
		return snap_unwind(max, n, stop);
	r = deep(depth - 1, max, n, stop);
	__asm__ volatile("" ::: "memory"); /* no tail call: each level is a frame */
	return r;
}

TEST(unwind_max_frames)
{
	enum tw_unwind_stop stop = TW_UNW_END;
	int n = 0;

	/* deeper than TW_UNWIND_MAX_FRAMES, and a caller's max below it */
	CHECK(!deep(TW_UNWIND_MAX_FRAMES + 10, 1000, &n, &stop));
	CHECK_EQ(n, TW_UNWIND_MAX_FRAMES);
	CHECK_EQ(stop, TW_UNW_MAX_FRAMES);
	CHECK(!deep(20, 10, &n, &stop));
	CHECK_EQ(n, 10);
	CHECK_EQ(stop, TW_UNW_MAX_FRAMES);
	/* exactly as many frames as there are: the end, not a cut */
	CHECK(!deep(5, 1000, &n, &stop));
	CHECK_EQ(stop, TW_UNW_END);
	CHECK(!deep(5, n, &n, &stop));
	CHECK_EQ(stop, TW_UNW_END);
}

TEST(unwind_garbage_snapshots)
{
	static unsigned char stack[4096];
	uint64_t regs[TW_UREGS_MAX], pcs[TW_UNWIND_MAX_FRAMES];
	struct tw_unwinder *u = unwinder_new();
	enum tw_unwind_stop stop;
	unsigned int seed = 11;
	struct tw_frame f;

	CHECK(u);
	if (!u)
		return;
	for (int round = 0; round < 200; round++) {
		int n;

		for (size_t i = 0; i < sizeof(stack); i++)
			stack[i] = (unsigned char)rand_r(&seed);
		for (int i = 0; i < TW_UREGS_MAX; i++)
			regs[i] = (uint64_t)rand_r(&seed) << 33 ^ (uint64_t)rand_r(&seed);
		/* half the time a real pc (this function), so CFI runs on the garbage */
		if (round & 1)
			regs[TW_UREG_PC] = (uint64_t)(uintptr_t)&unwind_garbage_snapshots + 16;
		n = unwinder_unwind(u, getpid(), gettid(), regs, TW_UREGS_ARCH, regs[TW_UREG_SP],
				    stack, (size_t)(round % 5) * 1000, pcs, 1 + round % 40, &stop);
		CHECK(n >= -EINVAL && n <= 1 + round % 40);
		CHECK(n <= 0 || pcs[0] == regs[TW_UREG_PC]);
		CHECK(n < 0 || (unsigned int)stop <= TW_UNW_ERROR);
		for (int i = 0; i < n; i++)
			CHECK(!unwinder_symbolize(u, getpid(), pcs[i], i > 0, &f) && f.module);
	}
	/* bad arguments and a process that does not exist */
	CHECK_EQ(unwinder_unwind(u, 0, 1, regs, TW_UREGS_ARCH, 0, stack, 0, pcs, 1, &stop),
		 (unsigned long long)-EINVAL);
	CHECK_EQ(unwinder_unwind(u, getpid(), gettid(), regs, 3, 0, stack, 0, pcs, 1, &stop),
		 (unsigned long long)-EINVAL);
	CHECK_EQ(unwinder_unwind(u, 0x3fffff, 0x3fffff, regs, TW_UREGS_ARCH, 0, stack, 0, pcs, 1,
				 &stop),
		 (unsigned long long)-ESRCH);
	CHECK(unwinder_symbolize(u, 0x3fffff, 1, false, &f) == -ESRCH);
	CHECK(!unwinder_build_id(u, 0x3fffff, 1));
	unwinder_forget(u, getpid());
	unwinder_forget(u, getpid()); /* twice: nothing */
	unwinder_free(u);
}
#endif
