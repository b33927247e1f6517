// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "symmap.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A hex number at *p (at least one digit, at most 64 bits); *p moves past it. */
static int take_hex(const char **p, const char *end, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;
	int d;

	if (q == end || hexval(*q) < 0)
		return -EINVAL;
	for (; q < end && (d = hexval(*q)) >= 0; q++) {
		if (v >> 60)
			return -EINVAL; /* would overflow */
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	*p = q;
	return 0;
}

static int take_dec(const char **p, const char *end, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;

	if (q == end || *q < '0' || *q > '9')
		return -EINVAL;
	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*q - '0');
	}
	*out = v;
	*p = q;
	return 0;
}

static int take_char(const char **p, const char *end, char c)
{
	if (*p == end || **p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static int take_perms(const char **p, const char *end, struct tw_maps_line *m)
{
	const char *q = *p;

	if (end - q < 4)
		return -EINVAL;
	if ((q[0] != 'r' && q[0] != '-') || (q[1] != 'w' && q[1] != '-') ||
	    (q[2] != 'x' && q[2] != '-') || (q[3] != 'p' && q[3] != 's'))
		return -EINVAL;
	m->read = q[0] == 'r';
	m->write = q[1] == 'w';
	m->exec = q[2] == 'x';
	*p = q + 4;
	return 0;
}

int parse_maps_line(const char *line, size_t len, struct tw_maps_line *m)
{
	static const char deleted[] = " (deleted)";
	const char *p = line, *end = line + len;
	uint64_t maj, min;

	memset(m, 0, sizeof(*m));
	if (take_hex(&p, end, &m->start) || take_char(&p, end, '-') || take_hex(&p, end, &m->end) ||
	    m->end < m->start || take_char(&p, end, ' ') || take_perms(&p, end, m) ||
	    take_char(&p, end, ' ') || take_hex(&p, end, &m->offset) || take_char(&p, end, ' ') ||
	    take_hex(&p, end, &maj) || take_char(&p, end, ':') || take_hex(&p, end, &min) ||
	    take_char(&p, end, ' ') || take_dec(&p, end, &m->inode))
		return -EINVAL;
	/* the kernel's dev_t: 12 bits of major, 20 of minor */
	if (maj > 0xfff || min > 0xfffff)
		return -EINVAL;
	m->dev_major = (unsigned int)maj;
	m->dev_minor = (unsigned int)min;
	if (p < end && *p != ' ' && *p != '\t')
		return -EINVAL;
	/* the path is the rest of the line, and may itself hold blanks */
	p = skip_blanks(p, end);
	if (p == end)
		return 0;
	m->path = p;
	m->path_len = (size_t)(end - p);
	m->deleted = m->path_len > sizeof(deleted) - 1 &&
		     !memcmp(end - (sizeof(deleted) - 1), deleted, sizeof(deleted) - 1);
	return 0;
}

int parse_perf_map_line(const char *line, size_t len, uint64_t *start, uint64_t *size,
			const char **name, size_t *name_len)
{
	const char *p = line, *end = line + len;

	/* perf reads the numbers with strtoull(.., 16), so it takes an 0x prefix too */
	if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	if (take_hex(&p, end, start) || p == end || (*p != ' ' && *p != '\t'))
		return -EINVAL;
	p = skip_blanks(p, end);
	if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	if (take_hex(&p, end, size) || p == end || (*p != ' ' && *p != '\t'))
		return -EINVAL;
	p = skip_blanks(p, end);
	while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p == end || !*size || *start + *size < *start)
		return -EINVAL; /* no name, an empty range, or one past the end of the address space */
	*name = p;
	*name_len = (size_t)(end - p);
	return 0;
}

void perf_map_free(struct tw_perf_map *pm)
{
	free(pm->syms);
	free(pm->names);
	memset(pm, 0, sizeof(*pm));
}

static int add_name(struct tw_perf_map *pm, size_t *cap, const char *name, size_t len,
		    uint32_t *off)
{
	if (len > TW_PERF_MAP_MAX_NAME)
		len = TW_PERF_MAP_MAX_NAME;
	if (pm->names_len + len + 1 > UINT32_MAX)
		return -E2BIG;
	if (pm->names_len + len + 1 > *cap) {
		size_t ncap = *cap ? *cap * 2 : 4096;
		char *n;

		while (ncap < pm->names_len + len + 1)
			ncap *= 2;
		n = realloc(pm->names, ncap);
		if (!n)
			return -ENOMEM;
		pm->names = n;
		*cap = ncap;
	}
	memcpy(pm->names + pm->names_len, name, len);
	pm->names[pm->names_len + len] = '\0';
	*off = (uint32_t)pm->names_len;
	pm->names_len += len + 1;
	return 0;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct tw_perf_sym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Sorted by start, and of the entries at one start only the last written (a JIT reusing it). */
static void sort_and_dedup(struct tw_perf_map *pm)
{
	size_t out = 0;

	if (pm->n < 2)
		return; /* and qsort must not see the NULL of an empty map */
	qsort(pm->syms, pm->n, sizeof(pm->syms[0]), sym_cmp);
	for (size_t i = 0; i < pm->n; i++) {
		if (out && pm->syms[out - 1].start == pm->syms[i].start)
			out--;
		pm->syms[out++] = pm->syms[i];
	}
	pm->n = out;
}

int perf_map_parse(const char *buf, size_t len, struct tw_perf_map *pm)
{
	const char *p = buf, *end = buf + len;
	size_t cap = 0, names_cap = 0;
	uint32_t lineno = 0;
	int err;

	perf_map_free(pm);
	while (p < end && pm->n < TW_PERF_MAP_MAX_SYMS) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *name;
		uint64_t start, size;
		size_t name_len;

		lineno++;
		if (parse_perf_map_line(p, (size_t)(le - p), &start, &size, &name, &name_len)) {
			if (le > p)
				pm->bad_lines++;
		} else {
			struct tw_perf_sym *s;

			if (pm->n == cap) {
				size_t ncap = cap ? cap * 2 : 256;

				s = realloc(pm->syms, ncap * sizeof(*s));
				if (!s)
					goto nomem;
				pm->syms = s;
				cap = ncap;
			}
			s = &pm->syms[pm->n];
			s->start = start;
			s->size = size;
			s->line = lineno;
			err = add_name(pm, &names_cap, name, name_len, &s->name);
			if (err == -ENOMEM)
				goto nomem;
			if (err)
				break; /* 4 GiB of names: keep what fits */
			pm->n++;
		}
		p = le + 1;
	}
	sort_and_dedup(pm);
	return 0;
nomem:
	perf_map_free(pm);
	return -ENOMEM;
}

const struct tw_perf_sym *perf_map_lookup(const struct tw_perf_map *pm, uint64_t pc)
{
	size_t lo = 0, hi = pm->n;

	/* the last symbol starting at or below pc */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->syms[mid].start <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	if (pc - pm->syms[lo - 1].start >= pm->syms[lo - 1].size)
		return NULL;
	return &pm->syms[lo - 1];
}

/* The C library and the dynamic loader: the frames between a caller and the kernel. */
bool tw_module_is_plumbing(const char *module)
{
	static const char *const libs[] = { "libc.so", "libc-", "libpthread", "ld-linux",
					    "ld-musl" };
	const char *base;

	if (!module)
		return false;
	if (module[0] == '[')
		return true; /* the kernel's, and [unknown] */
	base = strrchr(module, '/');
	base = base ? base + 1 : module;
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
		if (!strncmp(base, libs[i], strlen(libs[i])))
			return true;
	return false;
}
