// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include "u32map.h"

static size_t slot_of(__u32 key, size_t cap)
{
	/* Fibonacci hashing spreads sequential tids across the table */
	return (size_t)(key * 2654435769u) & (cap - 1);
}

/* key, value and flag side by side: a lookup touches one cache line, not three */
static bool find(const struct u32map *m, __u32 key, size_t *pos)
{
	size_t i = slot_of(key, m->cap);

	while (m->slots[i].used) {
		if (m->slots[i].key == key) {
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

	n.slots = calloc(n.cap, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		size_t pos;

		if (!m->slots[i].used)
			continue;
		find(&n, m->slots[i].key, &pos);
		n.slots[pos] = m->slots[i];
		n.len++;
	}
	free(m->slots);
	*m = n;
	return 0;
}

int u32map_put(struct u32map *m, __u32 key, __u32 val)
{
	size_t pos;

	if ((m->len + 1) * 10 > m->cap * 7 && grow(m))
		return -ENOMEM;
	if (!find(m, key, &pos)) {
		m->slots[pos].used = 1;
		m->slots[pos].key = key;
		m->len++;
	}
	m->slots[pos].val = val;
	return 0;
}

bool u32map_get(const struct u32map *m, __u32 key, __u32 *val)
{
	size_t pos;

	if (!m->cap || !find(m, key, &pos))
		return false;
	*val = m->slots[pos].val;
	return true;
}

void u32map_free(struct u32map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->len = 0;
}
