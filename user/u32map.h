/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* A small open-addressing map from a u32 key (tid, tgid) to a u32 value (an index). */
#ifndef TW_U32MAP_H
#define TW_U32MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct u32map {
	struct u32map_slot {
		__u32 key;
		__u32 val;
		__u32 used;
	} * slots;
	size_t cap; /* a power of two, or 0 */
	size_t len;
};

/* Insert or replace. 0, or -ENOMEM (the map is unchanged). */
int u32map_put(struct u32map *m, __u32 key, __u32 val);
/* true and *val if present. */
bool u32map_get(const struct u32map *m, __u32 key, __u32 *val);
void u32map_free(struct u32map *m);

#endif
