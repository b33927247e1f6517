// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include "u32map.h"

static size_t slot_of(__u32 key, size_t cap)
{
	/* Fibonacci hashing spreads sequential tids across the table */
	return (size_t)(key * 2654435769u) & (cap - 1);
}

static bool find(const struct u32map *m, __u32 key, size_t *pos)
{
	size_t i = slot_of(key, m->cap);

	while (m->used[i]) {
		if (m->keys[i] == key) {
			*pos = i;
			return true;
		}
		i = (i + 1) & (m->cap - 1);
	}
	*pos = i;
	return false;
}

static int grow(struct u32map *m)
{
	struct u32map n = { .cap = m->cap ? m->cap * 2 : 64 };

	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.vals = calloc(n.cap, sizeof(*n.vals));
	n.used = calloc(n.cap, sizeof(*n.used));
	if (!n.keys || !n.vals || !n.used) {
		u32map_free(&n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t pos;

		if (!m->used[i])
			continue;
		find(&n, m->keys[i], &pos);
		n.used[pos] = 1;
		n.keys[pos] = m->keys[i];
		n.vals[pos] = m->vals[i];
		n.len++;
	}
	free(m->keys);
	free(m->vals);
	free(m->used);
	m->keys = n.keys;
	m->vals = n.vals;
	m->used = n.used;
	m->cap = n.cap;
	m->len = n.len;
	return 0;
}

int u32map_put(struct u32map *m, __u32 key, __u32 val)
{
	size_t pos;

	if ((m->len + 1) * 10 > m->cap * 7 && grow(m))
		return -ENOMEM;
	if (!find(m, key, &pos)) {
		m->used[pos] = 1;
		m->keys[pos] = key;
		m->len++;
	}
	m->vals[pos] = val;
	return 0;
}

bool u32map_get(const struct u32map *m, __u32 key, __u32 *val)
{
	size_t pos;

	if (!m->cap || !find(m, key, &pos))
		return false;
	*val = m->vals[pos];
	return true;
}

void u32map_free(struct u32map *m)
{
	free(m->keys);
	free(m->vals);
	free(m->used);
	m->keys = NULL;
	m->vals = NULL;
	m->used = NULL;
	m->cap = m->len = 0;
}
