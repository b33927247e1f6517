/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Blocking calls per thread: the syscall table the BPF side reads, the names,
 * and the packed per-thread records the model keeps.
 */
#ifndef TW_CALLS_H
#define TW_CALLS_H

#include <stdbool.h>
#include <linux/types.h>
#include "hist.h"
#include "threadwatch.h"

/* "read", "epoll_wait"... for an enum tw_call; "?" out of range. */
const char *call_name(__u32 call);
/* "socket", "pipe", "file" or "other" */
const char *fd_kind_name(__u32 kind);
/* This architecture's name of syscall number nr, or NULL if unknown. */
const char *syscall_name(long nr);
/* Fill a syscall-number -> enum tw_call table for this architecture. */
void calls_fill_table(volatile __u8 *table, size_t n);

struct tw_call_rec {
	__u32 call; /* enum tw_call */
	__u64 count;
	__u64 errors;
	__u64 total_ns;
	__u64 fd_count[TW_FD_NR]; /* read/write family: calls by enum tw_fd_kind */
	__u64 fd_ns[TW_FD_NR];
	struct tw_shist *hist;
};

/* A thread's calls, sorted by call, each present once. */
struct tw_calls {
	struct tw_call_rec *v;
	__u32 n;
};

/* Replace (or add) call's record with the kernel's numbers. 0 or -ENOMEM. */
int calls_set(struct tw_calls *c, const struct tw_call_key *key, const struct tw_call_stats *s);
/* dst = a deep copy of src (dst is freed first). */
int calls_copy(struct tw_calls *dst, const struct tw_calls *src);
/* dst += src, call by call. */
int calls_add(struct tw_calls *dst, const struct tw_calls *src);
/* dst = cur - mark, calls that did nothing left out (dst is freed first). */
int calls_delta(struct tw_calls *dst, const struct tw_calls *cur, const struct tw_calls *mark);
void calls_free(struct tw_calls *c);
/* dst = src's records with their histograms shared (free with calls_free_shallow()). */
int calls_copy_shallow(struct tw_calls *dst, const struct tw_calls *src);
void calls_free_shallow(struct tw_calls *c);
/*
 * ns more in call (a call still in flight, fd its kind): its total and fd
 * time, no count and no latency sample (it has not returned). 0 or -ENOMEM.
 */
int calls_add_open(struct tw_calls *c, __u32 call, __u32 fd, __u64 ns);
/* Pointers to c's records, longest total first, in out[TW_CALL_NR]; returns how many. */
__u32 calls_by_total(const struct tw_calls *c, const struct tw_call_rec *out[TW_CALL_NR]);

#endif
