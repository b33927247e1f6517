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
 * Samples a second per CPU. A thread that stays on CPU for 100 ms is sampled
 * floor(0.1 * 199) = 19 or 20 times whatever the timer's phase (one sample a
 * 5.03 ms period, every period that ends while it runs); 99 Hz would give 9
 * or 10. But a loop that shares its CPU (other runnable threads, a busy node)
 * runs in stretches between which the timer catches others: the count is
 * then random, each timer firing catching it with the share of the CPU it
 * got, with the same mean (its on-CPU time / period) and a spread of up to
 * half a sample per stretch. Measured on this 2-CPU VM under load (a 150 ms
 * callback preempted ~50 times): 10 to 21 samples at 99 Hz, where a 100 ms
 * stall (mean 10, spread ~3) falls below 5 now and then; at 199 Hz the mean
 * is ~20 against a spread of ~4. So 199: the "at least 5 samples in
 * a 100 ms on-CPU stall" holds under contention too, for twice the cost of
 * 99 (docs/performance.md). Odd, off the kernel's 100/250/1000 Hz ticks, so
 * the samples do not fall in lockstep with tick-driven work.
 */
#define TW_ONCPU_HZ 199

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
