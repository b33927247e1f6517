/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* Histograms of nanoseconds, as the BPF side fills them (see bpf/threadwatch.h). */
#ifndef TW_HIST_H
#define TW_HIST_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>
#include "threadwatch.h"

/*
 * A histogram (bpf/threadwatch.h's schema) with 64-bit counts, and the
 * exact extremes of its samples: min and max mean something only when the
 * histogram holds samples. Where the kernel keeps no extremes (first run,
 * lifetime) they are the bounds of the outermost non-empty buckets.
 */
struct tw_hist {
	__u64 slot[TW_HIST_SLOTS];
	__u64 min, max;
};

/*
 * The integers bucket i holds: lo <= ns < hi. Bucket 0 is [0, 65) (the zero
 * bucket, <= 64 ns); bucket i of 1..TW_HIST_SLOTS-2 holds the integers in
 * (2^((i-1)/4 + 6), 2^(i/4 + 6)]; the last one everything above 2^42, hi
 * 2^64-1. hist_hi(i) == hist_lo(i + 1).
 */
__u64 hist_lo(unsigned int i);
__u64 hist_hi(unsigned int i);
/* The slot a value falls in, clamped to the last one, exactly as bits.bpf.h computes it. */
unsigned int hist_slot_of(__u64 ns);
/* The real upper bound of bucket i, 2^(i/4 + 6) (for the last bucket: infinity). */
double hist_bound(unsigned int i);

/*
 * Fold the kernel's 32-bit counts into h's 64-bit ones: each slot becomes
 * c + (u32)(raw - (u32)c), right as long as fewer than 2^32 samples landed
 * in one bucket since h was last folded from the same counters (the CLI
 * folds at least every TW_FOLD_EVERY_NS, the daemon every --refresh).
 * min_inv is the kernel's ~min; min and max are taken as they are.
 */
void hist_fold_u32(struct tw_hist *h, const __u32 *raw, __u64 max, __u64 min_inv);
/* Set h's min and max to the bounds of its outermost non-empty buckets. */
void hist_bound_extremes(struct tw_hist *h);

/* dst += src, extremes merged. */
void hist_add(struct tw_hist *dst, const struct tw_hist *src);
/*
 * dst = a - b, slot by slot (a is a later reading of the same counters as b).
 * Its extremes: a's max if it grew since b (the new max was sampled in
 * between: exact), else the smaller of a's max and the top of dst's highest
 * bucket (a bound); the same for min. Interval reports show these.
 */
void hist_sub(struct tw_hist *dst, const struct tw_hist *a, const struct tw_hist *b);
__u64 hist_count(const struct tw_hist *h);
bool hist_empty(const struct tw_hist *h);
/*
 * The p-quantile (p in 0..1) of the samples, by nearest rank: the sample of
 * rank ceil(p * n). Estimated in the bucket that holds that rank, narrowed to
 * [min, max], as the point of least worst-case relative error, 2ab/(a+b) for
 * a bucket [a, b]: within (2^(1/4) - 1) / (2^(1/4) + 1) = 8.64% of the true
 * sample for values above 64 ns, never below min nor above max; rank n is
 * max and rank 1 min, exactly, so all samples equal give the exact value.
 * 0 for an empty histogram.
 */
__u64 hist_percentile(const struct tw_hist *h, double p);

/*
 * A histogram stored as its non-empty buckets only: what the model keeps per
 * thread (a storm leaves tens of thousands of dead threads with a bucket or
 * two each, where a full histogram takes 1184 bytes). NULL is the empty one.
 */
struct tw_shist {
	__u32 n;
	__u64 min, max; /* as in struct tw_hist */
	struct {
		__u32 slot;
		__u64 count;
	} b[];
};

/* Pack h (NULL when it is empty; *err = -ENOMEM when allocation fails). */
struct tw_shist *shist_pack(const struct tw_hist *h, int *err);
/* Add s into h. */
void shist_add_to(struct tw_hist *h, const struct tw_shist *s);
/*
 * hist_fold_u32() on a packed histogram: *s's counts with the kernel's 32-bit
 * ones folded in, and the kernel's extremes. In place when the non-empty
 * buckets stay the same ones (nothing new, or only counts that grew), else
 * packed anew (*s is then freed). 0, or -ENOMEM: *s then has its own
 * buckets folded, not the new ones.
 */
int shist_fold_u32(struct tw_shist **s, const __u32 *raw, __u64 max, __u64 min_inv);
/* *dst += src, counts and extremes, packed (in place when src adds no bucket). 0 or -ENOMEM. */
int shist_merge(struct tw_shist **dst, const struct tw_shist *src);
/* Add s's counts into h, leaving h's min and max as they are (sums of counts only). */
void shist_add_counts(struct tw_hist *h, const struct tw_shist *s);

/*
 * bcc-style ASCII histogram with human-readable bucket bounds, non-empty
 * range only; the fine buckets are added into powers of two for reading.
 */
void hist_print(FILE *f, const struct tw_hist *h, const char *title, const char *indent);

/* "12.3ms", "850us", "2.00s": a duration in a short human form; buf >= 16 bytes. */
const char *fmt_ns(char *buf, size_t len, __u64 ns);

#endif
