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
/* The enum tw_call of syscall number nr (TW_CALL_NONE: not timed). */
__u32 call_of(__u32 nr);
/* The name of syscall nr: "flock", or "syscall_N" (in buf) when unknown. */
const char *nr_name(__u32 nr, char buf[24]);
/* "ECONNREFUSED"..., or "E<n>" (in buf) for an errno without a name. */
const char *errno_name(__u32 e, char buf[16]);

/* How an error return of syscall nr counts (would-block returns are apart, in BPF). */
enum tw_err_class {
	TW_ERR_FAILURE = 0,
	TW_ERR_TIMEDOUT, /* a timed wait's timeout: ETIMEDOUT of futex, mq_timed* */
	TW_ERR_INTERRUPTED, /* EINTR, or restarted after a signal (ERESTART*) */
};
enum tw_err_class errno_class(__u32 nr, __u32 e);

/* Failures by errno kept per record; more distinct errnos go to errnos_other. */
#define TW_REC_ERRNOS 8

struct tw_errno_count {
	__u32 e; /* positive errno */
	__u64 n;
};

struct tw_call_rec {
	__u32 nr; /* the syscall number */
	__u64 count; /* calls accounted: every timed call, others when they slept */
	__u64 errors; /* failures: error returns that are not would-block, timeout or EINTR */
	__u64 wouldblock; /* EAGAIN, EINPROGRESS, EALREADY */
	__u64 timedout;
	__u64 interrupted;
	__u64 pre_calls; /* calls entered before the trace that returned: in total_ns, blocked_ns only */
	__u64 total_ns; /* timed calls, entry to exit (with the one in flight so far) */
	__u64 blocked_ns; /* asleep inside (with the one in flight so far) */
	__u64 fd_count[TW_FD_NR]; /* read/write family: calls by enum tw_fd_kind */
	__u64 fd_ns[TW_FD_NR];
	struct tw_errno_count errnos[TW_REC_ERRNOS]; /* failures by errno, most first */
	__u32 nerrnos;
	__u64 errnos_other; /* failures whose errno was not kept */
	struct tw_shist *hist;
	/*
	 * The call in flight at the last refresh (the thread's entry said so):
	 * its time so far, part of total_ns and blocked_ns until the kernel's
	 * entry has the call (its last_seq reached open_seq).
	 */
	bool open;
	__u64 open_seq;
	__u64 open_total_ns;
	__u64 open_blocked_ns;
};

/* A thread's calls, sorted by syscall number, each present once. */
struct tw_calls {
	struct tw_call_rec *v;
	__u32 n;
};

/* Replace (or add) a call's record with the kernel's numbers. 0 or -ENOMEM. */
int calls_set(struct tw_calls *c, const struct tw_call_key *key, const struct tw_call_stats *s);
#define TW_NR_NONE 0xffffffffU

/*
 * The syscall in flight, from the thread's entry: nr (TW_NR_NONE: none), its
 * sequence number (the thread's nsyscalls), its time so far. Any other
 * call's open part is taken back out. 0 or -ENOMEM.
 */
int calls_set_open(struct tw_calls *c, __u32 nr, __u64 seq, __u64 total_ns, __u64 blocked_ns);
/* dst = a deep copy of src (dst is freed first). */
int calls_copy(struct tw_calls *dst, const struct tw_calls *src);
/* dst += src, call by call. */
int calls_add(struct tw_calls *dst, const struct tw_calls *src);
/* dst = cur - mark, calls that did nothing left out (dst is freed first). */
int calls_delta(struct tw_calls *dst, const struct tw_calls *cur, const struct tw_calls *mark);
void calls_free(struct tw_calls *c);
/* The time a call took: entry to exit when timed, else asleep inside. */
__u64 call_time_ns(const struct tw_call_rec *r);
/* Pointers to c's records, most time first, in out[TW_SYSCALL_NR_MAX]; returns how many. */
__u32 calls_by_total(const struct tw_calls *c, const struct tw_call_rec *out[TW_SYSCALL_NR_MAX]);
/* r's errnos += (sign) src's, merged by errno; what does not fit goes to errnos_other. */
void errnos_merge(struct tw_call_rec *r, const struct tw_call_rec *src, bool subtract);

#endif
