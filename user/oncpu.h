/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The on-CPU part of event-loop stalls: a software cpu-clock perf event per
 * online CPU, each running bpf/oncpu.bpf.c at its overflow, which copies the
 * stack of a traced loop thread caught inside a gap.
 */
#ifndef TW_ONCPU_H
#define TW_ONCPU_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Samples a second per CPU. A thread on CPU for 100 ms is sampled at least
 * floor(0.1 * 99) = 9 times whatever the timer's phase (one sample a
 * 10.1 ms period, every period that ends while it runs), 5 or more even
 * when migrations between CPUs (timers of other phases) cost it one sample
 * each up to four times. 99, not 100: off the kernel's own tick, so the
 * samples do not fall in lockstep with timer-driven work.
 */
#define TW_ONCPU_HZ 99

struct bpf_program;
struct bpf_link;

struct tw_oncpu {
	struct bpf_link **links; /* one per online CPU, each owning its perf event */
	size_t n;
	unsigned long long period_ns; /* the sampling period, each sample's weight */
};

/*
 * Opens the cpu-clock event on every online CPU and attaches prog to each.
 * 0, or -errno after one line on stderr saying why the stalls' on-CPU
 * stacks are off (no permission for perf events, none in this kernel or
 * VM); o is then empty and the caller carries on without them.
 */
int oncpu_start(struct tw_oncpu *o, struct bpf_program *prog);
/* Detaches and closes everything. Safe on a zeroed tw_oncpu. */
void oncpu_stop(struct tw_oncpu *o);

#endif
