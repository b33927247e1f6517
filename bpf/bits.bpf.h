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

/* The histogram slot for a duration, clamped so the index is always in bounds. */
static __always_inline __u64 hist_slot(__u64 ns)
{
	__u64 slot = log2_u64(ns);

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

#endif /* __BITS_BPF_H */
