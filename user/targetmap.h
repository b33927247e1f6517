/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The kernel's targets bitmap (struct tw_targ_word), mmapped by the loader:
 * user space adds the targets it finds (-p, --children, --comm, --cgroup at
 * attach) and clears the dead ones once read. Atomic, like the kernel's own
 * updates at fork and exec, because both sides write the same words.
 */
#ifndef TW_TARGETMAP_H
#define TW_TARGETMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "threadwatch.h"

struct tw_targets {
	struct tw_targ_word *w; /* NULL: system-wide, no bitmap */
	__u32 nwords;
	size_t map_len; /* the mmapped length */
};

/* tgid (and with follow, the processes it forks) becomes a target. -ERANGE past the bitmap. */
static inline int targets_set(struct tw_targets *t, __u32 tgid, bool follow)
{
	__u64 bit = 1ULL << (tgid % 64);

	if (!t->w || tgid / 64 >= t->nwords)
		return -34; /* ERANGE */
	if (follow)
		__atomic_fetch_or(&t->w[tgid / 64].follow, bit, __ATOMIC_SEQ_CST);
	__atomic_fetch_or(&t->w[tgid / 64].want, bit, __ATOMIC_SEQ_CST);
	return 0;
}

static inline bool targets_has(const struct tw_targets *t, __u32 tgid)
{
	if (!t->w || tgid / 64 >= t->nwords)
		return false;
	return (__atomic_load_n(&t->w[tgid / 64].want, __ATOMIC_RELAXED) >> (tgid % 64)) & 1;
}

/* Whether the processes tgid forks become targets. */
static inline bool targets_follows(const struct tw_targets *t, __u32 tgid)
{
	if (!t->w || tgid / 64 >= t->nwords)
		return false;
	return (__atomic_load_n(&t->w[tgid / 64].follow, __ATOMIC_RELAXED) >> (tgid % 64)) & 1;
}

/* A dead target's tgid leaves the bitmap, so whoever reuses the PID is not traced. */
static inline void targets_clear(struct tw_targets *t, __u32 tgid)
{
	__u64 bit = 1ULL << (tgid % 64);

	if (!t->w || tgid / 64 >= t->nwords)
		return;
	__atomic_fetch_and(&t->w[tgid / 64].want, ~bit, __ATOMIC_SEQ_CST);
	__atomic_fetch_and(&t->w[tgid / 64].follow, ~bit, __ATOMIC_SEQ_CST);
}

#endif
