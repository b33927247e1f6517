// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * /proc/kallsyms, sorted by address. Text symbols only (t, T, w, W): a stack
 * holds return addresses in code. Each module name is kept once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ksyms.h"

/*
 * ~140,000 text symbols on a distribution kernel: 16 bytes each and their names in one block,
 * sized by a first pass over the file (5 MB, where a pointer per name and a doubling array
 * took 9 MB of the agent's memory).
 */
struct ksym {
	__u64 addr;
	__u32 name; /* offset in names */
	__u32 module; /* index in mods */
};

struct tw_ksyms {
	struct ksym *s;
	size_t n;
	char *names;
	size_t names_len;
	char **mods;
	size_t nmods;
	bool hidden;
};

bool ksyms_parse_line(const char *line, __u64 *addr, char *name, size_t name_sz, char *mod,
		      size_t mod_sz)
{
	char type, *end;
	const char *p, *q;
	size_t len;

	errno = 0;
	*addr = strtoull(line, &end, 16);
	if (errno || end == line || *end != ' ')
		return false;
	type = end[1];
	if (!type || end[2] != ' ' || !strchr("tTwW", type))
		return false;
	p = end + 3;
	len = strcspn(p, " \t\n");
	if (!len || len >= name_sz)
		return false;
	memcpy(name, p, len);
	name[len] = '\0';
	mod[0] = '\0';
	q = strchr(p + len, '[');
	if (q) {
		len = strcspn(q, "]\n");
		if (q[len] == ']' && len + 2 <= mod_sz) {
			memcpy(mod, q, len + 1);
			mod[len + 1] = '\0';
		}
	}
	return true;
}

/* The index of module mod ("" for the kernel itself) in k->mods, or -1 without memory. */
static long mod_index(struct tw_ksyms *k, const char *mod)
{
	const char *want = mod[0] ? mod : "[kernel]";
	char **m;

	for (size_t i = 0; i < k->nmods; i++)
		if (!strcmp(k->mods[i], want))
			return (long)i;
	m = realloc(k->mods, (k->nmods + 1) * sizeof(*m));
	if (!m)
		return -1;
	k->mods = m;
	if (!(m[k->nmods] = strdup(want)))
		return -1;
	return (long)k->nmods++;
}

static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/*
 * One pass over kallsyms: counts symbols and name bytes into *n and *bytes, or, with k->s
 * and k->names allocated, fills at most n of them (the file may have grown in between).
 */
static int ksyms_pass(struct tw_ksyms *k, FILE *f, size_t *n, size_t *bytes, bool *any_nonzero)
{
	char line[512], name[256], mod[128];
	size_t cap_n = *n, cap_b = *bytes;

	*n = *bytes = 0;
	while (fgets(line, sizeof(line), f)) {
		size_t len;
		__u64 addr;
		long m;

		if (!ksyms_parse_line(line, &addr, name, sizeof(name), mod, sizeof(mod)))
			continue;
		len = strlen(name) + 1;
		if (k->s) {
			if (*n == cap_n || *bytes + len > cap_b)
				break;
			if ((m = mod_index(k, mod)) < 0)
				return -ENOMEM;
			memcpy(k->names + *bytes, name, len);
			k->s[*n] = (struct ksym){ .addr = addr,
						  .name = (__u32)*bytes,
						  .module = (__u32)m };
		}
		*any_nonzero |= addr != 0;
		(*n)++;
		*bytes += len;
	}
	return ferror(f) ? -EIO : 0;
}

struct tw_ksyms *ksyms_load(const char *path)
{
	struct tw_ksyms *k = calloc(1, sizeof(*k));
	size_t n = 0, bytes = 0;
	bool any_nonzero = false;
	FILE *f;

	if (!k)
		return NULL;
	f = fopen(path, "re");
	if (!f) {
		k->hidden = true;
		return k;
	}
	if (ksyms_pass(k, f, &n, &bytes, &any_nonzero) || bytes > UINT32_MAX)
		goto fail;
	if (n) {
		k->s = malloc(n * sizeof(*k->s));
		k->names = malloc(bytes);
		if (!k->s || !k->names)
			goto fail;
		rewind(f);
		any_nonzero = false;
		if (ksyms_pass(k, f, &n, &bytes, &any_nonzero))
			goto fail;
	}
	fclose(f);
	k->n = n;
	k->names_len = bytes;
	k->hidden = !any_nonzero;
	if (k->n)
		qsort(k->s, k->n, sizeof(*k->s), cmp_ksym);
	return k;
fail:
	fclose(f);
	ksyms_free(k);
	return NULL;
}

void ksyms_free(struct tw_ksyms *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->nmods; i++)
		free(k->mods[i]);
	free(k->s);
	free(k->names);
	free(k->mods);
	free(k);
}

bool ksyms_hidden(const struct tw_ksyms *k)
{
	return k->hidden;
}

bool ksyms_find(const struct tw_ksyms *k, __u64 addr, const char **name, const char **module,
		__u64 *offset)
{
	size_t lo = 0, hi = k->n;

	if (k->hidden || !k->n || addr < k->s[0].addr)
		return false;
	/* the last symbol at or below addr */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->s[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	*name = k->names + k->s[lo].name;
	*module = k->mods[k->s[lo].module];
	*offset = addr - k->s[lo].addr;
	return true;
}
