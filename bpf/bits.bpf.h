/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
#ifndef __BITS_BPF_H
#define __BITS_BPF_H

#include "threadwatch.h"

/* floor(log2(v)) for v > 0, 0 for v == 0, without loops the verifier must unroll. */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xffffffffULL) << 5;
	v >>= shift;
	r |= shift;
	shift = (v > 0xffff) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

/*
 * The histogram slot of a duration (bpf/threadwatch.h: schema 2, bucket
 * (2^((k-1)/4), 2^(k/4)] ns), clamped so the index is always in bounds. No
 * loop, no division: floor(log2) gives the power of two, the value shifted
 * up to bit 63 is compared with the three sub-bucket bounds and with 2^63
 * itself (an exact power of two closes the bucket below it). ~20 ALU ops.
 */
static __always_inline __u64 hist_slot(__u64 ns)
{
	__u64 e, m, slot;

	if (ns <= (1ULL << TW_HIST_LO_SHIFT))
		return 0;
	e = log2_u64(ns);
	m = ns << (63 - e);
	slot = ((e - TW_HIST_LO_SHIFT) << TW_HIST_SCHEMA) + (m > (1ULL << 63)) + (m >= TW_HIST_C1) +
	       (m >= TW_HIST_C2) + (m >= TW_HIST_C3);
	/*
	 * 64 bits and a barrier, so clang bounds-checks the very register it
	 * indexes with: with a 32-bit slot it checked a zero-extended copy, which
	 * the 6.1 verifier cannot tie back to the index ("unbounded memory
	 * access"); found by the kernel matrix in tests/vm.
	 */
	barrier_var(slot);
	if (slot >= TW_HIST_SLOTS)
		slot = TW_HIST_SLOTS - 1;
	return slot;
}

/* Keep the exact extremes next to a histogram: one compare each (min kept as ~min). */
static __always_inline void hist_extremes(__u64 *max, __u64 *min_inv, __u64 ns)
{
	if (ns > *max)
		*max = ns;
	if (~ns > *min_inv)
		*min_inv = ~ns;
}

#endif /* __BITS_BPF_H */
