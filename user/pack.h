/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The dead threads of a process, packed. A thread storm leaves tens of
 * thousands of threads that are gone, read and harvested, whose only use
 * left is their row in the final report; as full records (struct tw_thread,
 * its histograms and calls allocated apart) they took ~250 bytes each. Packed,
 * a row is its numbers as LEB128 varints back to back in one buffer per
 * process (tid, counters, each histogram's non-empty buckets and extremes,
 * each blocking call's record), its name an index into the process's
 * distinct names: ~30 bytes for a storm's thread, ~60 with a futex call. An
 * event loop's record, rare, is moved in as it is, owned by the pack.
 * Unpacking gives back the same numbers, bit for bit: the report does not
 * change (tests/unit/test_pack.c).
 */
#ifndef TW_PACK_H
#define TW_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "model.h"

/* What a packed record moved in as it was: an event loop's record. */
struct tw_pack_extra {
	__u32 rec; /* the record's index */
	struct tw_loop *loop;
	char *py_name; /* its Python thread name (the thread's, moved here), or NULL */
};

struct tw_pack {
	__u8 *buf; /* the records, back to back */
	size_t len, cap;
	__u32 *off; /* where record i starts in buf */
	size_t n, ncap;
	char (*names)[TASK_COMM_LEN]; /* the distinct names, as the records store them */
	__u32 nnames, names_cap;
	struct u32map name_of; /* a name's hash -> its index in names (the first with that hash) */
	struct tw_pack_extra *extra; /* in record order */
	size_t nextra, extra_cap;
	/* the most calls, and call histogram buckets, of one record: what unpacking needs room for */
	__u32 max_calls, max_call_buckets;
};

/* Where a pack was, to forget what was added after (pack_rollback). */
struct tw_pack_mark {
	size_t len, n, nextra;
};

/*
 * A packed record, unpacked: its own numbers, in this struct's buffers
 * (rec.blocked, rec.runq, rec.calls and the calls' histograms). Never free
 * them through rec: unpacked_free() does.
 */
struct tw_unpacked {
	__u32 tid;
	__u64 seq;
	char comm[TASK_COMM_LEN];
	struct tw_thread_rec rec;
	struct tw_loop *loop; /* the pack's, or NULL */
	const char *py_name; /* the pack's, or NULL */
	struct tw_shist *hb, *hr; /* room for a histogram of every bucket, each */
	struct tw_call_rec *cv; /* room for cv_cap calls */
	__u8 *ch; /* and for their histograms: ch_cap bytes */
	size_t cv_cap, ch_cap;
};

/* The part of a record rows are sorted on, read without unpacking the rest. */
struct tw_pack_keys {
	__u32 tid;
	__u64 seq;
	__u64 oncpu_ns;
	__u64 offcpu_ns; /* blocked + run-queue */
	const char *comm; /* TASK_COMM_LEN bytes inside the pack */
};

/*
 * Pack a dead thread: its tid, order of first sight, name, numbers and calls
 * (copied: they stay the caller's). Its loop, if any, the pack takes as it is
 * (the caller must no longer free it, unless the record is rolled back).
 * 0, -ENOMEM, or -E2BIG (past 4 GiB, or numbers no record of ours holds).
 */
int pack_add(struct tw_pack *pk, const struct tw_thread *t);
void pack_mark(const struct tw_pack *pk, struct tw_pack_mark *mk);
/* Forget the records added since mk; their loops are the caller's again. */
void pack_rollback(struct tw_pack *pk, const struct tw_pack_mark *mk);
/* Free the records, and the loops they own. */
void pack_free(struct tw_pack *pk);

int unpacked_init(struct tw_unpacked *u);
/* Room in u for any record of pk: 0 or -ENOMEM. */
int unpacked_reserve(struct tw_unpacked *u, const struct tw_pack *pk);
void unpacked_free(struct tw_unpacked *u);
/*
 * Record i into u, which unpacked_reserve() made room in for pk (valid
 * until the next call with u, or until the pack changes).
 */
void pack_get(const struct tw_pack *pk, size_t i, struct tw_unpacked *u);
void pack_keys(const struct tw_pack *pk, size_t i, struct tw_pack_keys *k);

/* LEB128 (unsigned, 7 bits a byte, low first); exposed for the unit tests. */
size_t pack_varint_put(__u8 *p, __u64 v);
size_t pack_varint_get(const __u8 *p, __u64 *v);

#endif
