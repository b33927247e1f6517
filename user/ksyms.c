// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * /proc/kallsyms, sorted by address. Text symbols only (t, T, w, W): a stack
 * holds return addresses in code. Each module name is kept once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ksyms.h"

struct ksym {
	__u64 addr;
	char *name;
	const char *module; /* into mods */
};

struct tw_ksyms {
	struct ksym *s;
	size_t n, cap;
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

static const char *mod_of(struct tw_ksyms *k, const char *mod)
{
	char **m;

	if (!mod[0])
		return "[kernel]";
	for (size_t i = 0; i < k->nmods; i++)
		if (!strcmp(k->mods[i], mod))
			return k->mods[i];
	m = realloc(k->mods, (k->nmods + 1) * sizeof(*m));
	if (!m)
		return NULL;
	k->mods = m;
	if (!(m[k->nmods] = strdup(mod)))
		return NULL;
	return m[k->nmods++];
}

static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct tw_ksyms *ksyms_load(const char *path)
{
	struct tw_ksyms *k = calloc(1, sizeof(*k));
	char line[512], name[256], mod[128];
	bool any_nonzero = false;
	FILE *f;

	if (!k)
		return NULL;
	f = fopen(path, "r");
	if (!f) {
		k->hidden = true;
		return k;
	}
	while (fgets(line, sizeof(line), f)) {
		__u64 addr;
		const char *m;

		if (!ksyms_parse_line(line, &addr, name, sizeof(name), mod, sizeof(mod)))
			continue;
		any_nonzero |= addr != 0;
		if (k->n == k->cap) {
			size_t cap = k->cap ? k->cap * 2 : 65536;
			struct ksym *ns = realloc(k->s, cap * sizeof(*ns));

			if (!ns)
				goto oom;
			k->s = ns;
			k->cap = cap;
		}
		m = mod_of(k, mod);
		if (!m || !(k->s[k->n].name = strdup(name)))
			goto oom;
		k->s[k->n].addr = addr;
		k->s[k->n].module = m;
		k->n++;
	}
	fclose(f);
	k->hidden = !any_nonzero;
	if (k->n)
		qsort(k->s, k->n, sizeof(*k->s), cmp_ksym);
	return k;
oom:
	fclose(f);
	ksyms_free(k);
	return NULL;
}

void ksyms_free(struct tw_ksyms *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		free(k->s[i].name);
	for (size_t i = 0; i < k->nmods; i++)
		free(k->mods[i]);
	free(k->s);
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
	*name = k->s[lo].name;
	*module = k->s[lo].module;
	*offset = addr - k->s[lo].addr;
	return true;
}
