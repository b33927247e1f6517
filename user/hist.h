/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* log2 histograms of nanoseconds, as the BPF side fills them (see bpf/threadwatch.h). */
#ifndef TW_HIST_H
#define TW_HIST_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>
#include "threadwatch.h"

struct tw_hist {
	__u64 slot[TW_HIST_SLOTS];
};

/* Bucket i holds [lo, hi): [0, 2) for i == 0, else [2^i, 2^(i+1)). */
__u64 hist_lo(unsigned int i);
__u64 hist_hi(unsigned int i);
/* The slot a value falls in, clamped to the last one, as in bits.bpf.h. */
unsigned int hist_slot_of(__u64 ns);

void hist_add(struct tw_hist *dst, const struct tw_hist *src);
/* dst = a - b, slot by slot (a is a later reading of the same counters as b). */
void hist_sub(struct tw_hist *dst, const struct tw_hist *a, const struct tw_hist *b);
__u64 hist_count(const struct tw_hist *h);
bool hist_empty(const struct tw_hist *h);
/*
 * The value below which a fraction p (0..1) of the samples lie, interpolated
 * linearly inside the bucket that holds it. 0 for an empty histogram.
 */
__u64 hist_percentile(const struct tw_hist *h, double p);

/*
 * A histogram stored as its non-empty buckets only: what the model keeps per
 * thread (a storm leaves tens of thousands of dead threads with a bucket or
 * two each, where a full histogram takes 320 bytes). NULL is the empty one.
 */
struct tw_shist {
	__u32 n;
	struct {
		__u32 slot;
		__u64 count;
	} b[];
};

/* Pack h (NULL when it is empty; *err = -ENOMEM when allocation fails). */
struct tw_shist *shist_pack(const struct tw_hist *h, int *err);
/* Add s into h. */
void shist_add_to(struct tw_hist *h, const struct tw_shist *s);

/* bcc-style ASCII histogram with human-readable bucket bounds, non-empty range only. */
void hist_print(FILE *f, const struct tw_hist *h, const char *title, const char *indent);

/* "12.3ms", "850us", "2.00s": a duration in a short human form; buf >= 16 bytes. */
const char *fmt_ns(char *buf, size_t len, __u64 ns);

#endif
