// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hist.h"

__u64 hist_lo(unsigned int i)
{
	return i == 0 ? 0 : 1ULL << i;
}

__u64 hist_hi(unsigned int i)
{
	return 1ULL << (i + 1);
}

unsigned int hist_slot_of(__u64 ns)
{
	unsigned int slot = ns ? 63 - __builtin_clzll(ns) : 0;

	return slot < TW_HIST_SLOTS ? slot : TW_HIST_SLOTS - 1;
}

void hist_add(struct tw_hist *dst, const struct tw_hist *src)
{
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++)
		dst->slot[i] += src->slot[i];
}

void hist_sub(struct tw_hist *dst, const struct tw_hist *a, const struct tw_hist *b)
{
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++)
		dst->slot[i] = a->slot[i] - b->slot[i];
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

__u64 hist_percentile(const struct tw_hist *h, double p)
{
	__u64 total = hist_count(h), seen = 0;
	double rank;

	if (!total)
		return 0;
	if (p < 0)
		p = 0;
	if (p > 1)
		p = 1;
	rank = p * (double)total;
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		if (!h->slot[i])
			continue;
		if ((double)(seen + h->slot[i]) >= rank) {
			double frac = (rank - (double)seen) / (double)h->slot[i];
			double lo = (double)hist_lo(i), hi = (double)hist_hi(i);

			return (__u64)(lo + frac * (hi - lo));
		}
		seen += h->slot[i];
	}
	return hist_hi(TW_HIST_SLOTS - 1);
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

void hist_print(FILE *f, const struct tw_hist *h, const char *title, const char *indent)
{
	const int width = 40;
	unsigned int first = TW_HIST_SLOTS, last = 0;
	__u64 max = 0;

	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		if (!h->slot[i])
			continue;
		if (first == TW_HIST_SLOTS)
			first = i;
		last = i;
		if (h->slot[i] > max)
			max = h->slot[i];
	}
	if (first == TW_HIST_SLOTS)
		return;
	fprintf(f, "%s%s\n", indent, title);
	fprintf(f, "%s%21s : %-8s distribution\n", indent, "range", "count");
	for (unsigned int i = first; i <= last; i++) {
		char lo[16], hi[16], bar[64];
		int n = (int)((h->slot[i] * width + max - 1) / max);

		memset(bar, '*', n);
		bar[n] = '\0';
		fprintf(f, "%s%9s -> %-8s : %-8llu |%-*s|\n", indent,
			fmt_ns(lo, sizeof(lo), hist_lo(i)), fmt_ns(hi, sizeof(hi), hist_hi(i)),
			(unsigned long long)h->slot[i], width, bar);
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
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		if (!h->slot[i])
			continue;
		s->b[s->n].slot = i;
		s->b[s->n].count = h->slot[i];
		s->n++;
	}
	return s;
}

void shist_add_to(struct tw_hist *h, const struct tw_shist *s)
{
	if (!s)
		return;
	for (__u32 i = 0; i < s->n; i++)
		if (s->b[i].slot < TW_HIST_SLOTS)
			h->slot[s->b[i].slot] += s->b[i].count;
}
