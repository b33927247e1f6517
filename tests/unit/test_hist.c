// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * The histogram schema (bpf/threadwatch.h) and the percentile maths of
 * user/hist.c: bucket bounds against long-double powers of 2^(1/4), the slot
 * of every boundary value, the error bound over many distributions, clamping
 * and the wrap-aware fold of the kernel's 32-bit counts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "hist.h"
#include "unit.h"

#define LO TW_HIST_LO_SHIFT
#define LAST (TW_HIST_SLOTS - 1)

/* The slot by the definition: the smallest k with ns <= 2^(k/4 + LO), clamped. */
static unsigned int ref_slot(__u64 ns)
{
	long double k;

	if (ns <= (1ULL << LO))
		return 0;
	k = ceill(4.0L * log2l((long double)ns)) - 4 * LO;
	return k >= LAST ? LAST : (unsigned int)k;
}

TEST(hist_schema_bounds)
{
	CHECK_EQ(TW_HIST_SLOTS, 146);
	CHECK_EQ(hist_lo(0), 0);
	CHECK_EQ(hist_hi(0), 65); /* the zero bucket: [0, 64] */
	CHECK_EQ(hist_lo(LAST), (1ULL << TW_HIST_HI_SHIFT) + 1);
	CHECK_EQ(hist_hi(LAST), ~0ULL);
	for (unsigned int i = 1; i < LAST; i++) {
		long double lo_real = exp2l((long double)(4 * LO + i - 1) / 4);
		long double hi_real = exp2l((long double)(4 * LO + i) / 4);

		/* lo and hi are the first integers above the real bounds */
		CHECK(hist_lo(i) == hist_hi(i - 1));
		CHECK((long double)hist_lo(i) > lo_real && (long double)hist_lo(i) - 1 <= lo_real);
		CHECK((long double)hist_hi(i) > hi_real && (long double)hist_hi(i) - 1 <= hi_real);
		CHECK(fabsl(hist_bound(i) - hi_real) <= hi_real * 1e-15L);
		/* every bucket is 2^(1/4) wide */
		CHECK(fabs(hist_bound(i) / hist_bound(i - 1) - 1.189207115002721) < 1e-12);
	}
	/* the buckets nest into powers of two: every fourth one ends on 2^e, included */
	for (unsigned int e = LO + 1; e <= TW_HIST_HI_SHIFT; e++)
		CHECK_EQ(hist_hi(4 * (e - LO)), (1ULL << e) + 1);
	CHECK(isinf(hist_bound(LAST)));
}

TEST(hist_slot_of_boundaries)
{
	CHECK_EQ(hist_slot_of(0), 0);
	CHECK_EQ(hist_slot_of(64), 0);
	CHECK_EQ(hist_slot_of(65), 1);
	CHECK_EQ(hist_slot_of(1ULL << TW_HIST_HI_SHIFT), LAST - 1);
	CHECK_EQ(hist_slot_of((1ULL << TW_HIST_HI_SHIFT) + 1), LAST);
	CHECK_EQ(hist_slot_of(~0ULL), LAST);
	CHECK_EQ(hist_slot_of(200000000), 87); /* 200 ms: (2^27.5, 2^27.75] */
	CHECK_EQ(hist_slot_of(300000000), 89); /* 300 ms: (2^28, 2^28.25] */
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		CHECK_EQ(hist_slot_of(hist_lo(i)), i);
		if (i < LAST)
			CHECK_EQ(hist_slot_of(hist_hi(i) - 1), i);
	}
	/* an exact power of two closes the bucket below it (Prometheus: upper bound included) */
	for (unsigned int e = LO + 1; e < 64; e++) {
		CHECK_EQ(hist_slot_of(1ULL << e), ref_slot(1ULL << e));
		CHECK_EQ(hist_slot_of((1ULL << e) + 1), ref_slot((1ULL << e) + 1));
		CHECK_EQ(hist_slot_of((1ULL << e) - 1), ref_slot((1ULL << e) - 1));
	}
	/* and everywhere else, against the definition */
	for (__u64 v = 1, x = 88172645463325252ULL; v < 2000000; v++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		CHECK_EQ(hist_slot_of(v), ref_slot(v));
		CHECK_EQ(hist_slot_of(x >> (x & 31)), ref_slot(x >> (x & 31)));
	}
}

static __u64 rng_state = 0x9e3779b97f4a7c15ULL;

static double uniform01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return (x > y) - (x < y);
}

/* Samples of distribution d (n of them), each at least 65 ns (above the zero bucket). */
static void draw(__u64 *v, size_t n, int d)
{
	for (size_t i = 0; i < n; i++) {
		double u = uniform01(), x;

		switch (d) {
		case 0: /* log-uniform, 100 ns .. 100 s */
			x = 100 * pow(1e9, u);
			break;
		case 1: /* lognormal around 1 ms */
			x = 1e6 * exp(1.5 * sqrt(-2 * log(u)) * cos(2 * M_PI * uniform01()));
			break;
		case 2: /* exponential, mean 50 us */
			x = -5e4 * log(u);
			break;
		case 3: /* bimodal: fast cache hits, slow disk reads */
			x = u < 0.9 ? 2e3 + 500 * uniform01() : 8e6 + 4e6 * uniform01();
			break;
		case 4: /* fixed-duration sleeps with scheduling jitter: 300 ms + up to 2 ms */
			x = 3e8 + 2e6 * u;
			break;
		case 5: /* Pareto tail, alpha 1.2, from 10 us */
			x = 1e4 / pow(u, 1 / 1.2);
			break;
		case 6: /* values sitting on bucket bounds, either side */
			x = (double)hist_lo(1 + (unsigned int)(u * 140)) - (uniform01() < 0.5);
			break;
		default: /* one value */
			x = 123456789;
			break;
		}
		if (x < 65)
			x = 65;
		if (x > 1e15)
			x = 1e15;
		v[i] = (__u64)x;
	}
}

/* The kernel's view of the samples: bucket counts and the exact extremes. */
static void fill(struct tw_hist *h, const __u64 *v, size_t n)
{
	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < n; i++) {
		h->slot[hist_slot_of(v[i])]++;
		if (!i || v[i] < h->min)
			h->min = v[i];
		if (!i || v[i] > h->max)
			h->max = v[i];
	}
}

TEST(hist_percentile_error_bound)
{
	static const size_t sizes[] = { 1, 2, 3, 10, 57, 100, 1000, 20000 };
	static const double ps[] = {
		0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1
	};
	const double bound = (1.189207115002721 - 1) / (1.189207115002721 + 1); /* 8.64% */
	__u64 *v = malloc(20000 * sizeof(*v));
	double worst = 0, worst_us = 0; /* all values; values of 10 us and more */
	struct tw_hist h;

	CHECK(v != NULL);
	if (!v)
		return;
	for (int d = 0; d < 8; d++) {
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			size_t n = sizes[si];

			for (int round = 0; round < 5; round++) {
				draw(v, n, d);
				fill(&h, v, n);
				qsort(v, n, sizeof(*v), cmp_u64);
				for (size_t pi = 0; pi < sizeof(ps) / sizeof(ps[0]); pi++) {
					size_t rank = (size_t)ceil(ps[pi] * n - 1e-9);
					__u64 truth, est = hist_percentile(&h, ps[pi]);
					double err;

					rank = rank < 1 ? 1 : rank;
					truth = v[rank - 1];
					err = fabs((double)est - (double)truth) / (double)truth;
					if (err > worst)
						worst = err;
					if (truth >= 10000 && err > worst_us)
						worst_us = err;
					/* the bound, plus half a ns of rounding */
					CHECK(fabs((double)est - (double)truth) <=
					      bound * (double)truth + 0.5);
					CHECK(est >= h.min && est <= h.max);
					if (rank == n)
						CHECK_EQ(est, h.max);
					if (rank == 1)
						CHECK_EQ(est, h.min);
				}
			}
		}
	}
	fprintf(stderr,
		"  hist_percentile: worst relative error %.4f%%, %.4f%% from 10 us (bound "
		"%.4f%%)\n",
		worst * 100, worst_us * 100, bound * 100);
	CHECK(worst < 0.10);
	/* where half a ns of rounding is negligible, the bound itself holds */
	CHECK(worst_us <= bound * (1 + 1e-4));
	free(v);
}

TEST(hist_percentile_clamps)
{
	struct tw_hist h = {};

	CHECK_EQ(hist_percentile(&h, 0.5), 0);
	/* ten sleeps of 300 ms and a bit: never above the max, never below the min */
	for (__u64 i = 0; i < 10; i++)
		h.slot[hist_slot_of(300000000 + i * 50000)]++;
	h.min = 300000000;
	h.max = 300450000;
	for (double p = 0; p <= 1; p += 0.01) {
		CHECK(hist_percentile(&h, p) >= h.min);
		CHECK(hist_percentile(&h, p) <= h.max);
	}
	CHECK_EQ(hist_percentile(&h, 0.99), 300450000); /* rank 10 of 10: the max */
	CHECK_EQ(hist_percentile(&h, 1), 300450000);
	/* all samples equal: exact at every p */
	memset(&h, 0, sizeof(h));
	h.slot[hist_slot_of(200000000)] = 7;
	h.min = h.max = 200000000;
	CHECK_EQ(hist_percentile(&h, 0.5), 200000000);
	CHECK_EQ(hist_percentile(&h, 0.99), 200000000);
	/* the overflow bucket: the max bounds it */
	memset(&h, 0, sizeof(h));
	h.slot[LAST] = 3;
	h.min = 5ULL << 42;
	h.max = 9ULL << 42;
	CHECK(hist_percentile(&h, 0.5) >= h.min && hist_percentile(&h, 0.5) <= h.max);
	/* extremes that disagree with the buckets (a read racing the kernel) are not trusted */
	memset(&h, 0, sizeof(h));
	h.slot[hist_slot_of(1000000)] = 4;
	h.max = 10;
	CHECK(hist_percentile(&h, 0.5) >= hist_lo(hist_slot_of(1000000)));
	CHECK(hist_percentile(&h, 0.5) < hist_hi(hist_slot_of(1000000)));
}

TEST(hist_fold_u32_wraps)
{
	struct tw_hist h = {};
	__u32 raw[TW_HIST_SLOTS] = { 0 };

	raw[5] = 7;
	hist_fold_u32(&h, raw, 0, 0);
	CHECK_EQ(h.slot[5], 7);
	CHECK_EQ(h.min, 0); /* ~min 0: no sample seen, whatever the slots say */
	/* the kernel's count wrapped past 2^32 since the last fold: the model's keeps going */
	h.slot[5] = (1ULL << 32) + (1ULL << 32) - 5; /* 2^33 - 5 samples so far */
	raw[5] = 3; /* 8 more: (2^33 + 3) mod 2^32 */
	hist_fold_u32(&h, raw, 500, ~100ULL);
	CHECK_EQ(h.slot[5], (1ULL << 33) + 3);
	CHECK_EQ(h.min, 100);
	CHECK_EQ(h.max, 500);
	/* folding the same counts again changes nothing */
	hist_fold_u32(&h, raw, 500, ~100ULL);
	CHECK_EQ(h.slot[5], (1ULL << 33) + 3);
	CHECK_EQ(h.slot[4], 0);
}

TEST(hist_add_sub_extremes)
{
	struct tw_hist a = {}, b = {}, d;
	struct tw_shist *s;
	int err = 0;

	/* b: earlier reading, 2 samples in [1000, 5000]; a: later, 5 in [900, 5000] */
	b.slot[hist_slot_of(1000)] = 1;
	b.slot[hist_slot_of(5000)] = 1;
	b.min = 1000;
	b.max = 5000;
	a = b;
	a.slot[hist_slot_of(900)] += 1;
	a.slot[hist_slot_of(3000)] += 2;
	a.min = 900;
	hist_sub(&d, &a, &b);
	CHECK_EQ(hist_count(&d), 3);
	CHECK_EQ(d.min, 900); /* the min fell in the interval: exact */
	/* the max did not: only a bound, the top of the interval's highest bucket */
	CHECK_EQ(d.max, hist_hi(hist_slot_of(3000)) - 1);
	/* the max grew in the interval: exact */
	a.slot[hist_slot_of(7000)] += 1;
	a.max = 7000;
	hist_sub(&d, &a, &b);
	CHECK_EQ(d.max, 7000);
	hist_sub(&d, &a, &a);
	CHECK(hist_empty(&d) && d.min == 0 && d.max == 0);
	/* from nothing: a's own */
	memset(&b, 0, sizeof(b));
	hist_sub(&d, &a, &b);
	CHECK(d.min == 900 && d.max == 7000);
	/* add: merged, an empty side ignored */
	memset(&d, 0, sizeof(d));
	hist_add(&d, &b);
	CHECK(hist_empty(&d));
	hist_add(&d, &a);
	CHECK(d.min == 900 && d.max == 7000 && hist_count(&d) == hist_count(&a));
	b.slot[hist_slot_of(80)] = 1;
	b.min = b.max = 80;
	hist_add(&d, &b);
	CHECK(d.min == 80 && d.max == 7000);
	/* packed and back */
	s = shist_pack(&d, &err);
	CHECK(s && !err && s->min == 80 && s->max == 7000);
	memset(&a, 0, sizeof(a));
	shist_add_to(&a, s);
	CHECK(!memcmp(&a, &d, sizeof(a)));
	free(s);
	/* bounds from the buckets, where the kernel keeps no extremes */
	hist_bound_extremes(&a);
	CHECK_EQ(a.min, hist_lo(hist_slot_of(80)));
	CHECK_EQ(a.max, hist_hi(hist_slot_of(7000)) - 1);
}

/* The packed fold equals the full one, packed: in place or anew, across 32-bit wraps. */
TEST(shist_fold_u32_matches_full_fold)
{
	struct tw_hist full = {};
	struct tw_shist *s = NULL;
	__u32 raw[TW_HIST_SLOTS] = { 0 };
	unsigned int seed = 7;

	for (int round = 0; round < 300; round++) {
		struct tw_shist *before = s, *want;
		__u32 before_n = s ? s->n : 0;
		int err = 0;

		/* a few buckets move a little, now and then one a lot (past 2^32 over the run) */
		for (int k = 0; k < 1 + round % 5; k++) {
			unsigned int i =
				(unsigned int)rand_r(&seed) % (round < 150 ? 12 : TW_HIST_SLOTS);

			raw[i] += round % 37 == 0 ? 0xc0000000u : (__u32)(rand_r(&seed) % 1000);
		}
		hist_fold_u32(&full, raw, 5000 + (__u64)round, ~(__u64)(10 + round));
		CHECK(!shist_fold_u32(&s, raw, 5000 + (__u64)round, ~(__u64)(10 + round)));
		want = shist_pack(&full, &err);
		CHECK(!err && want && s);
		if (!want || !s)
			break;
		CHECK_EQ(s->n, want->n);
		CHECK_EQ(s->min, want->min);
		CHECK_EQ(s->max, want->max);
		CHECK(!memcmp(s->b, want->b, want->n * sizeof(want->b[0])));
		/* the same buckets: folded where it was */
		if (before && before_n == want->n)
			CHECK(s == before);
		free(want);
	}
	CHECK(hist_count(&full) > (1ULL << 32)); /* it did wrap */
	/* nothing at all: the empty histogram, NULL */
	memset(raw, 0, sizeof(raw));
	free(s);
	s = NULL;
	CHECK(!shist_fold_u32(&s, raw, 0, 0));
	CHECK(s == NULL);
}

/* Packed + packed equals the sum of the full histograms, packed; in place when it can be. */
TEST(shist_merge_matches_hist_add)
{
	unsigned int seed = 11;

	for (int round = 0; round < 200; round++) {
		struct tw_hist a = {}, b = {};
		struct tw_shist *pa, *pb, *want, *before;
		int err = 0;

		for (int k = 0; k < 1 + round % 7; k++) {
			a.slot[(unsigned int)rand_r(&seed) % TW_HIST_SLOTS] += 1 + round;
			b.slot[(unsigned int)rand_r(&seed) % (round % 3 ? 20 : TW_HIST_SLOTS)] += 3;
		}
		a.min = 100 + (__u64)round % 9, a.max = 5000 + (__u64)round;
		b.min = 90 + (__u64)round % 20, b.max = 4000 + (__u64)round * 3;
		if (round % 10 == 0)
			memset(&a, 0, sizeof(a)); /* into an empty one */
		if (round % 2)
			memcpy(b.slot, a.slot, sizeof(b.slot)); /* the same buckets: in place */
		pa = shist_pack(&a, &err);
		pb = shist_pack(&b, &err);
		CHECK(!err);
		before = pa;
		CHECK(!shist_merge(&pa, pb));
		hist_add(&a, &b);
		want = shist_pack(&a, &err);
		CHECK(pa && want);
		if (!pa || !want)
			break;
		CHECK_EQ(pa->n, want->n);
		CHECK_EQ(pa->min, want->min);
		CHECK_EQ(pa->max, want->max);
		CHECK(!memcmp(pa->b, want->b, want->n * sizeof(want->b[0])));
		if (round % 2 && round % 10)
			CHECK(pa == before);
		free(pa);
		free(pb);
		free(want);
	}
}
