// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "hist.h"

/* floor(2^(63 + j/4)) for j = 0..3 (bpf/threadwatch.h) */
static const __u64 frac_floor[TW_HIST_PER_POW2] = {
	1ULL << 63,
	TW_HIST_C1 - 1,
	TW_HIST_C2 - 1,
	TW_HIST_C3 - 1,
};

/* floor(2^(k/4)), exactly, for k / 4 <= 63 */
static __u64 pow2_quarter_floor(unsigned int k)
{
	return frac_floor[k % TW_HIST_PER_POW2] >> (63 - k / TW_HIST_PER_POW2);
}

__u64 hist_hi(unsigned int i)
{
	if (i >= TW_HIST_SLOTS - 1)
		return UINT64_MAX;
	/* bucket i ends at 2^(i/4 + LO), included: the next integer starts bucket i + 1 */
	return pow2_quarter_floor(TW_HIST_PER_POW2 * TW_HIST_LO_SHIFT + i) + 1;
}

__u64 hist_lo(unsigned int i)
{
	return i == 0 ? 0 : hist_hi(i - 1);
}

double hist_bound(unsigned int i)
{
	if (i >= TW_HIST_SLOTS - 1)
		return INFINITY;
	return exp2((double)(TW_HIST_PER_POW2 * TW_HIST_LO_SHIFT + i) / TW_HIST_PER_POW2);
}

unsigned int hist_slot_of(__u64 ns)
{
	unsigned int e;
	__u64 m, slot;

	/* the same steps as hist_slot() in bits.bpf.h */
	if (ns <= (1ULL << TW_HIST_LO_SHIFT))
		return 0;
	e = 63 - __builtin_clzll(ns);
	m = ns << (63 - e);
	slot = ((__u64)(e - TW_HIST_LO_SHIFT) << TW_HIST_SCHEMA) + (m > (1ULL << 63)) +
	       (m >= TW_HIST_C1) + (m >= TW_HIST_C2) + (m >= TW_HIST_C3);
	return slot < TW_HIST_SLOTS ? (unsigned int)slot : TW_HIST_SLOTS - 1;
}

void hist_fold_u32(struct tw_hist *h, const __u32 *raw, __u64 max, __u64 min_inv)
{
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++)
		h->slot[i] += (__u32)(raw[i] - (__u32)h->slot[i]);
	/* ~0: the kernel saw no sample yet */
	h->min = min_inv ? ~min_inv : 0;
	h->max = min_inv ? max : 0;
}

void hist_bound_extremes(struct tw_hist *h)
{
	unsigned int first = TW_HIST_SLOTS, last = 0;

	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		if (!h->slot[i])
			continue;
		if (first == TW_HIST_SLOTS)
			first = i;
		last = i;
	}
	h->min = first == TW_HIST_SLOTS ? 0 : hist_lo(first);
	h->max = first == TW_HIST_SLOTS ? 0 : hist_hi(last) - 1;
}

/* Merge the extremes of non-empty samples into dst's (dst_empty: dst had none). */
static void merge_extremes(struct tw_hist *dst, bool dst_empty, __u64 min, __u64 max)
{
	if (dst_empty || min < dst->min)
		dst->min = min;
	if (dst_empty || max > dst->max)
		dst->max = max;
}

void hist_add(struct tw_hist *dst, const struct tw_hist *src)
{
	bool dst_empty = hist_empty(dst);

	if (hist_empty(src))
		return;
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++)
		dst->slot[i] += src->slot[i];
	merge_extremes(dst, dst_empty, src->min, src->max);
}

void hist_sub(struct tw_hist *dst, const struct tw_hist *a, const struct tw_hist *b)
{
	__u64 amin = a->min, amax = a->max, bmin = b->min, bmax = b->max;
	bool b_empty = hist_empty(b);
	unsigned int first = TW_HIST_SLOTS, last = 0;

	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		dst->slot[i] = a->slot[i] - b->slot[i];
		if (!dst->slot[i])
			continue;
		if (first == TW_HIST_SLOTS)
			first = i;
		last = i;
	}
	if (first == TW_HIST_SLOTS) {
		dst->min = dst->max = 0;
		return;
	}
	/* a new max since b was sampled in between; otherwise only bounds are known */
	if (b_empty || amax > bmax)
		dst->max = amax;
	else
		dst->max = amax < hist_hi(last) - 1 ? amax : hist_hi(last) - 1;
	if (b_empty || amin < bmin)
		dst->min = amin;
	else
		dst->min = amin > hist_lo(first) ? amin : hist_lo(first);
}

__u64 hist_count(const struct tw_hist *h)
{
	__u64 n = 0;

	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++)
		n += h->slot[i];
	return n;
}

bool hist_empty(const struct tw_hist *h)
{
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++)
		if (h->slot[i])
			return false;
	return true;
}

/*
 * The estimate for a rank that bucket i holds. The bucket's real bounds are
 * narrowed to [min, max] where those agree with it (a reading that raced
 * the kernel's update may not). For a < v <= b with b <= 2^(1/4) a, the point
 * 2ab/(a+b) errs by at most (b-a)/(a+b) either way relative to v: the
 * minimax relative error, 8.64% here, better than the geometric middle's
 * 9.05%.
 */
static __u64 bucket_estimate(const struct tw_hist *h, unsigned int i)
{
	double a = i == 0 ? 0 : hist_bound(i - 1), b = hist_bound(i), x;
	bool min_ok = h->min < hist_hi(i), max_ok = h->max >= hist_lo(i) && h->max >= h->min;
	__u64 v;

	if (min_ok && (double)h->min > a)
		a = (double)h->min;
	if (max_ok && (double)h->max < b)
		b = (double)h->max;
	if (!isfinite(b)) /* the overflow bucket without a usable max */
		b = a;
	if (a > b)
		a = b;
	if (i == 0)
		x = (a + b) / 2;
	else
		x = a + b > 0 ? 2 * a * b / (a + b) : 0;
	v = x >= 18446744073709551615.0 ? UINT64_MAX : (__u64)llround(x);
	if (min_ok && max_ok) {
		if (v < h->min)
			v = h->min;
		if (v > h->max)
			v = h->max;
	}
	return v;
}

__u64 hist_percentile(const struct tw_hist *h, double p)
{
	__u64 total = hist_count(h), seen = 0, rank;

	if (!total)
		return 0;
	if (!(p > 0))
		p = 0;
	if (p > 1)
		p = 1;
	/* nearest rank, ceil(p * n), with room for p * n computed a hair above an integer */
	rank = (__u64)ceil(p * (double)total - 1e-9);
	if (rank < 1)
		rank = 1;
	if (rank > total)
		rank = total;
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		seen += h->slot[i];
		if (seen < rank)
			continue;
		/* the first and last ranks are the extremes, known exactly */
		if (rank == total && h->max >= hist_lo(i) && h->max < hist_hi(i))
			return h->max;
		if (rank == 1 && h->min >= hist_lo(i) && h->min < hist_hi(i))
			return h->min;
		return bucket_estimate(h, i);
	}
	return h->max;
}

/*
 * Three significant digits in fixed notation, never an exponent ("1e+03ms"): the
 * unit is chosen after rounding, so 999.7 ms prints as "1s", not "1e+03ms".
 */
static void fmt_sig3(char *buf, size_t len, double v, const char *unit)
{
	int prec = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
	char num[32];
	size_t n = (size_t)snprintf(num, sizeof(num), "%.*f", prec, v);

	/* as %g would, but never with an exponent: "1.5us", "2s", "250ms" */
	if (prec && n < sizeof(num)) {
		while (n > 0 && num[n - 1] == '0')
			num[--n] = 0;
		if (n > 0 && num[n - 1] == '.')
			num[--n] = 0;
	}
	snprintf(buf, len, "%s%s", num, unit);
}

const char *fmt_ns(char *buf, size_t len, __u64 ns)
{
	static const struct {
		double scale;
		const char *unit;
	} units[] = { { 1e3, "us" }, { 1e6, "ms" }, { 1e9, "s" } };
	double v = (double)ns;

	if (ns < 1000) {
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
		return buf;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		/* 999.5 units rounds to 1000: the next unit says it in three digits */
		if (i + 1 < sizeof(units) / sizeof(units[0]) && v / units[i].scale >= 999.5)
			continue;
		fmt_sig3(buf, len, v / units[i].scale, units[i].unit);
		break;
	}
	return buf;
}

/* Print rows: the zero bucket, one per power of two, the overflow bucket. */
#define PRINT_ROWS (TW_HIST_HI_SHIFT - TW_HIST_LO_SHIFT + 2)

static unsigned int print_row_of(unsigned int slot)
{
	if (slot == 0)
		return 0;
	if (slot >= TW_HIST_SLOTS - 1)
		return PRINT_ROWS - 1;
	return (slot - 1) / TW_HIST_PER_POW2 + 1;
}

void hist_print(FILE *f, const struct tw_hist *h, const char *title, const char *indent)
{
	const int width = 40;
	__u64 rows[PRINT_ROWS] = { 0 }, max = 0;
	unsigned int first = PRINT_ROWS, last = 0;

	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++)
		rows[print_row_of(i)] += h->slot[i];
	for (unsigned int r = 0; r < PRINT_ROWS; r++) {
		if (!rows[r])
			continue;
		if (first == PRINT_ROWS)
			first = r;
		last = r;
		if (rows[r] > max)
			max = rows[r];
	}
	if (first == PRINT_ROWS)
		return;
	fprintf(f, "%s%s\n", indent, title);
	fprintf(f, "%s%21s : %-8s distribution\n", indent, "range", "count");
	for (unsigned int r = first; r <= last; r++) {
		char lo[16], hi[16], bar[64];
		int n = (int)((rows[r] * width + max - 1) / max);
		/* row r holds (2^(r - 1 + LO), 2^(r + LO)] ns; row 0 [0, 2^LO] */
		__u64 lo_ns = r == 0 ? 0 : 1ULL << (r - 1 + TW_HIST_LO_SHIFT);

		memset(bar, '*', n);
		bar[n] = '\0';
		fmt_ns(lo, sizeof(lo), lo_ns);
		if (r == PRINT_ROWS - 1)
			snprintf(hi, sizeof(hi), "inf");
		else
			fmt_ns(hi, sizeof(hi), 1ULL << (r + TW_HIST_LO_SHIFT));
		fprintf(f, "%s%9s -> %-8s : %-8llu |%-*s|\n", indent, lo, hi,
			(unsigned long long)rows[r], width, bar);
	}
}

struct tw_shist *shist_pack(const struct tw_hist *h, int *err)
{
	struct tw_shist *s;
	__u32 n = 0;

	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++)
		n += h->slot[i] != 0;
	if (!n)
		return NULL;
	s = malloc(sizeof(*s) + n * sizeof(s->b[0]));
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	s->n = 0;
	s->min = h->min;
	s->max = h->max;
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		if (!h->slot[i])
			continue;
		s->b[s->n].slot = i;
		s->b[s->n].count = h->slot[i];
		s->n++;
	}
	return s;
}

/* The 32-bit fold of one count (hist_fold_u32()); applied twice, it changes nothing more. */
static __u64 fold_u32(__u64 c, __u32 raw)
{
	return c + (__u32)(raw - (__u32)c);
}

/* Two raw slots at i, i + 1 at once (the kernel's array is only 4-byte aligned). */
static __u64 raw_pair(const __u32 *raw, unsigned int i)
{
	__u64 w;

	memcpy(&w, raw + i, sizeof(w));
	return w;
}

int shist_fold_u32(struct tw_shist **sp, const __u32 *raw, __u64 max, __u64 min_inv)
{
	struct tw_shist *s = *sp, *n;
	__u32 k = 0, sn = s ? s->n : 0, nz = 0, extra = 0;
	bool dropped = false;

	/*
	 * One pass, the record's buckets folded where they are (a fold is
	 * idempotent, so the slow path below may fold them again), counting the
	 * kernel's buckets the record does not have yet; runs of empty slots are
	 * skipped two at a time: most of the 146 are.
	 */
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		__u32 next = k < sn ? s->b[k].slot : TW_HIST_SLOTS;

		if (next > i + 1 && i + 1 < TW_HIST_SLOTS && !raw_pair(raw, i)) {
			i++;
			continue;
		}
		if (next == i) {
			s->b[k].count = fold_u32(s->b[k].count, raw[i]);
			dropped |= !s->b[k].count;
			k++;
		} else if (raw[i]) {
			extra++;
		}
	}
	if (!extra && !dropped) {
		if (!s)
			return 0; /* still empty */
		n = s;
	} else {
		/* new buckets (or one that wrapped to 0): packed anew from both */
		n = malloc(sizeof(*n) + (sn + extra) * sizeof(n->b[0]));
		if (!n)
			return -ENOMEM;
		k = 0;
		for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
			__u64 c = k < sn && s->b[k].slot == i ? s->b[k++].count : 0;
			__u64 v = fold_u32(c, raw[i]);

			if (!v)
				continue;
			n->b[nz].slot = i;
			n->b[nz].count = v;
			nz++;
		}
		n->n = nz;
		free(s);
		*sp = nz ? n : NULL;
		if (!nz) {
			free(n);
			return 0;
		}
	}
	/* ~0: the kernel saw no sample yet (as hist_fold_u32()) */
	n->min = min_inv ? ~min_inv : 0;
	n->max = min_inv ? max : 0;
	return 0;
}

int shist_merge(struct tw_shist **dst, const struct tw_shist *src)
{
	struct tw_shist *d = *dst, *n;
	__u32 i = 0, j = 0, k = 0, un = 0;

	if (!src)
		return 0;
	for (; d && i < d->n; i++) {
		while (j < src->n && src->b[j].slot < d->b[i].slot)
			j++, un++;
		j += j < src->n && src->b[j].slot == d->b[i].slot;
		un++;
	}
	un += src->n - j;
	if (d && un == d->n) {
		/* src's buckets are all d's: added in place */
		for (i = 0, j = 0; j < src->n; j++) {
			while (d->b[i].slot != src->b[j].slot)
				i++;
			d->b[i].count += src->b[j].count;
		}
		n = d;
	} else {
		n = malloc(sizeof(*n) + un * sizeof(n->b[0]));
		if (!n)
			return -ENOMEM;
		for (i = 0, j = 0; (d && i < d->n) || j < src->n; k++) {
			if (j >= src->n || (d && i < d->n && d->b[i].slot < src->b[j].slot)) {
				n->b[k] = d->b[i++];
			} else if (!d || i >= d->n || src->b[j].slot < d->b[i].slot) {
				n->b[k].slot = src->b[j].slot;
				n->b[k].count = src->b[j++].count;
			} else {
				n->b[k].slot = d->b[i].slot;
				n->b[k].count = d->b[i++].count + src->b[j++].count;
			}
		}
		n->n = k;
		n->min = d ? d->min : src->min;
		n->max = d ? d->max : src->max;
		free(d);
		*dst = n;
	}
	if (src->min < n->min)
		n->min = src->min;
	if (src->max > n->max)
		n->max = src->max;
	return 0;
}

void shist_add_to(struct tw_hist *h, const struct tw_shist *s)
{
	bool h_empty;

	if (!s)
		return;
	h_empty = hist_empty(h);
	merge_extremes(h, h_empty, s->min, s->max);
	for (__u32 i = 0; i < s->n; i++)
		if (s->b[i].slot < TW_HIST_SLOTS)
			h->slot[s->b[i].slot] += s->b[i].count;
}

void shist_add_counts(struct tw_hist *h, const struct tw_shist *s)
{
	for (__u32 i = 0; s && i < s->n; i++)
		if (s->b[i].slot < TW_HIST_SLOTS)
			h->slot[s->b[i].slot] += s->b[i].count;
}
