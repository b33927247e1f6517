// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "pack.h"

/*
 * A record, every number a varint:
 *   tid, seq, a byte of flags (PK_*),
 *   the counters as fields (below): oncpu_ns, blocked_ns, blocked_nosys_ns,
 *     runq_ns, vol_switches, invol_switches, threads_created,
 *   the name: an index into names, or (PK_NAME_INLINE) its TASK_COMM_LEN bytes,
 *   the blocked histogram (PK_BLOCKED), then the run-queue one (PK_RUNQ),
 *   the calls (PK_CALLS): their number, then each call as
 *     nr, its numbers as fields (CALL_* below), nerrnos x (errno, count), its histogram,
 *   the index of its extra (PK_EXTRA: its loop, its Python thread name).
 * Fields: a mask of those not zero, then those. A histogram: (n << 1 | max >= min),
 * n x (slot, count), min, then max - min or (max < min: an empty kernel entry's) max.
 * The counters lead so that sorting reads only the head of a record.
 */
enum {
	PK_BLOCKED = 1,
	PK_RUNQ = 2,
	PK_EXTRA = 4,
	PK_NAME_INLINE = 8,
	PK_CALLS = 16,
};

/* A call's fields, the common ones first so their mask is one byte; HIST and OPEN are flags. */
enum {
	CALL_COUNT,
	CALL_TOTAL,
	CALL_BLOCKED,
	CALL_HIST,
	CALL_ERRORS,
	CALL_WOULDBLOCK,
	CALL_TIMEDOUT,
	CALL_INTERRUPTED,
	CALL_PRE,
	CALL_ERRNOS_OTHER,
	CALL_NERRNOS,
	CALL_OPEN_SEQ,
	CALL_OPEN_TOTAL,
	CALL_OPEN_BLOCKED,
	CALL_FD_COUNT,
	CALL_FD_NS = CALL_FD_COUNT + TW_FD_NR,
	CALL_OPEN = CALL_FD_NS + TW_FD_NR,
	CALL_NR,
};
#define CALL_FLAGS ((1ULL << CALL_HIST) | (1ULL << CALL_OPEN))

/*
 * Every field of these is packed: a field added to them must be added to
 * pack_add()/pack_get() or put_call()/get_call() too, and this size with it
 * (LP64: the architectures of vmlinux/).
 */
_Static_assert(sizeof(struct tw_call_rec) == 320, "struct tw_call_rec changed: pack its new field");
_Static_assert(sizeof(struct tw_thread_rec) == 88,
	       "struct tw_thread_rec changed: pack its new field");

#define VARINT_MAX 10
#define NCOUNTERS 7
/* a histogram: n, every bucket's slot and count, min and max */
#define HIST_MAX (VARINT_MAX * (3 + 2 * TW_HIST_SLOTS))
/* tid, seq, flags, the counters and their mask, the name inline, two histograms, calls, extra */
#define RECORD_MAX (VARINT_MAX * (5 + NCOUNTERS) + TASK_COMM_LEN + 2 * HIST_MAX)
/* a call: nr, its fields and their mask, the errnos, its histogram */
#define CALL_MAX (VARINT_MAX * (2 + CALL_NR + 2 * TW_REC_ERRNOS) + HIST_MAX)
#define BUCKET_BYTES sizeof(((struct tw_shist *)0)->b[0])
/* a histogram of every bucket, as struct tw_shist lays it out */
#define SHIST_BYTES (sizeof(struct tw_shist) + TW_HIST_SLOTS * BUCKET_BYTES)

size_t pack_varint_put(__u8 *p, __u64 v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (__u8)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (__u8)v;
	return n;
}

size_t pack_varint_get(const __u8 *p, __u64 *v)
{
	__u64 x = 0;
	size_t n = 0;
	unsigned int shift = 0;

	do {
		x |= (__u64)(p[n] & 0x7f) << shift;
		shift += 7;
	} while (p[n++] & 0x80 && shift < 64);
	*v = x;
	return n;
}

static __u32 name_hash(const char *comm)
{
	__u32 h = 2166136261u; /* FNV-1a */

	for (int i = 0; i < TASK_COMM_LEN; i++) {
		h ^= (__u8)comm[i];
		h *= 16777619u;
	}
	return h;
}

/* The index of comm in names, added if new; -1 when its hash is another name's (stored inline). */
static long name_index(struct tw_pack *pk, const char *comm)
{
	__u32 h = name_hash(comm), idx;

	if (u32map_get(&pk->name_of, h, &idx))
		return memcmp(pk->names[idx], comm, TASK_COMM_LEN) ? -1 : (long)idx;
	if (pk->nnames == pk->names_cap) {
		__u32 ncap = pk->names_cap ? pk->names_cap * 2 : 4;
		void *nv = realloc(pk->names, (size_t)ncap * TASK_COMM_LEN);

		if (!nv)
			return -ENOMEM;
		pk->names = nv;
		pk->names_cap = ncap;
	}
	if (u32map_put(&pk->name_of, h, pk->nnames))
		return -ENOMEM;
	memcpy(pk->names[pk->nnames], comm, TASK_COMM_LEN);
	return pk->nnames++;
}

static int grow(void **v, size_t *cap, size_t need, size_t size, size_t first)
{
	size_t ncap = *cap ? *cap : first;
	void *nv;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* Fields v[0..n): a mask of the non-zero ones, then those; flags (a mask) are not written. */
static size_t put_fields(__u8 *p, const __u64 *v, int n, __u64 flags)
{
	__u64 mask = 0;
	size_t at;

	for (int i = 0; i < n; i++)
		mask |= (__u64)(v[i] != 0) << i;
	at = pack_varint_put(p, mask);
	for (int i = 0; i < n; i++)
		if (mask & ~flags & (1ULL << i))
			at += pack_varint_put(p + at, v[i]);
	return at;
}

static size_t get_fields(const __u8 *p, __u64 *v, int n, __u64 flags)
{
	__u64 mask;
	size_t at = pack_varint_get(p, &mask);

	for (int i = 0; i < n; i++) {
		v[i] = 0;
		if (mask & flags & (1ULL << i))
			v[i] = 1;
		else if (mask & (1ULL << i))
			at += pack_varint_get(p + at, &v[i]);
	}
	return at;
}

static size_t put_hist(__u8 *p, const struct tw_shist *h)
{
	bool ordered = h->max >= h->min;
	size_t at = pack_varint_put(p, (__u64)h->n << 1 | ordered);

	for (__u32 i = 0; i < h->n; i++) {
		at += pack_varint_put(p + at, h->b[i].slot);
		at += pack_varint_put(p + at, h->b[i].count);
	}
	at += pack_varint_put(p + at, h->min);
	at += pack_varint_put(p + at, ordered ? h->max - h->min : h->max);
	return at;
}

static size_t put_call(__u8 *p, const struct tw_call_rec *c)
{
	__u64 v[CALL_NR] = {
		[CALL_COUNT] = c->count,
		[CALL_TOTAL] = c->total_ns,
		[CALL_BLOCKED] = c->blocked_ns,
		[CALL_HIST] = c->hist != NULL,
		[CALL_ERRORS] = c->errors,
		[CALL_WOULDBLOCK] = c->wouldblock,
		[CALL_TIMEDOUT] = c->timedout,
		[CALL_INTERRUPTED] = c->interrupted,
		[CALL_PRE] = c->pre_calls,
		[CALL_ERRNOS_OTHER] = c->errnos_other,
		[CALL_NERRNOS] = c->nerrnos,
		[CALL_OPEN_SEQ] = c->open_seq,
		[CALL_OPEN_TOTAL] = c->open_total_ns,
		[CALL_OPEN_BLOCKED] = c->open_blocked_ns,
		[CALL_OPEN] = c->open,
	};
	size_t at = pack_varint_put(p, c->nr);

	for (int k = 0; k < TW_FD_NR; k++) {
		v[CALL_FD_COUNT + k] = c->fd_count[k];
		v[CALL_FD_NS + k] = c->fd_ns[k];
	}
	at += put_fields(p + at, v, CALL_NR, CALL_FLAGS);
	for (__u32 k = 0; k < c->nerrnos; k++) {
		at += pack_varint_put(p + at, c->errnos[k].e);
		at += pack_varint_put(p + at, c->errnos[k].n);
	}
	if (c->hist)
		at += put_hist(p + at, c->hist);
	return at;
}

/* Whether a histogram fits the schema (every one of ours does). */
static bool hist_ok(const struct tw_shist *h)
{
	return !h || h->n <= TW_HIST_SLOTS;
}

int pack_add(struct tw_pack *pk, const struct tw_thread *t)
{
	const struct tw_thread_rec *r = &t->tot;
	bool extra = t->loop || t->py_name;
	__u8 flags = (r->blocked ? PK_BLOCKED : 0) | (r->runq ? PK_RUNQ : 0) |
		     (extra ? PK_EXTRA : 0) | (r->calls.n ? PK_CALLS : 0);
	const __u64 nums[NCOUNTERS] = { r->oncpu_ns,	   r->blocked_ns,   r->blocked_nosys_ns,
					r->runq_ns,	   r->vol_switches, r->invol_switches,
					r->threads_created };
	size_t at, most = RECORD_MAX + (size_t)r->calls.n * CALL_MAX;
	__u32 buckets = 0;
	long name;
	__u8 *p;

	/* never made by shist_pack() or calls_set(): not ours to squeeze */
	if (!hist_ok(r->blocked) || !hist_ok(r->runq) || r->calls.n > TW_SYSCALL_NR_MAX)
		return -E2BIG;
	for (__u32 i = 0; i < r->calls.n; i++) {
		if (!hist_ok(r->calls.v[i].hist) || r->calls.v[i].nerrnos > TW_REC_ERRNOS)
			return -E2BIG;
		buckets += r->calls.v[i].hist ? r->calls.v[i].hist->n : 0;
	}
	if (pk->len + most > UINT32_MAX)
		return -E2BIG;
	if (grow((void **)&pk->buf, &pk->cap, pk->len + most, 1, 4096) ||
	    grow((void **)&pk->off, &pk->ncap, pk->n + 1, sizeof(*pk->off), 256) ||
	    (extra &&
	     grow((void **)&pk->extra, &pk->extra_cap, pk->nextra + 1, sizeof(*pk->extra), 8)))
		return -ENOMEM;
	name = name_index(pk, t->comm);
	if (name == -ENOMEM)
		return -ENOMEM;
	if (name < 0)
		flags |= PK_NAME_INLINE;
	p = pk->buf + pk->len;
	at = pack_varint_put(p, t->tid);
	at += pack_varint_put(p + at, t->seq);
	p[at++] = flags;
	at += put_fields(p + at, nums, NCOUNTERS, 0);
	if (name < 0) {
		memcpy(p + at, t->comm, TASK_COMM_LEN);
		at += TASK_COMM_LEN;
	} else {
		at += pack_varint_put(p + at, (__u64)name);
	}
	if (r->blocked)
		at += put_hist(p + at, r->blocked);
	if (r->runq)
		at += put_hist(p + at, r->runq);
	if (r->calls.n) {
		at += pack_varint_put(p + at, r->calls.n);
		for (__u32 i = 0; i < r->calls.n; i++)
			at += put_call(p + at, &r->calls.v[i]);
		if (r->calls.n > pk->max_calls)
			pk->max_calls = r->calls.n;
		if (buckets > pk->max_call_buckets)
			pk->max_call_buckets = buckets;
	}
	if (extra) {
		struct tw_pack_extra *x = &pk->extra[pk->nextra];

		at += pack_varint_put(p + at, pk->nextra);
		x->rec = (__u32)pk->n;
		x->loop = t->loop;
		x->py_name = t->py_name;
		pk->nextra++;
	}
	pk->off[pk->n++] = (__u32)pk->len;
	pk->len += at;
	return 0;
}

void pack_mark(const struct tw_pack *pk, struct tw_pack_mark *mk)
{
	mk->len = pk->len;
	mk->n = pk->n;
	mk->nextra = pk->nextra;
}

void pack_rollback(struct tw_pack *pk, const struct tw_pack_mark *mk)
{
	/* names added since stay, and the maxima: unused, they cost a little room, nothing else */
	pk->len = mk->len;
	pk->n = mk->n;
	pk->nextra = mk->nextra;
}

void pack_free(struct tw_pack *pk)
{
	for (size_t i = 0; i < pk->nextra; i++) {
		if (pk->extra[i].loop) {
			free(pk->extra[i].loop->stalls);
			gstacks_free(&pk->extra[i].loop->gst);
		}
		free(pk->extra[i].loop);
		free(pk->extra[i].py_name);
	}
	free(pk->extra);
	free(pk->buf);
	free(pk->off);
	free(pk->names);
	u32map_free(&pk->name_of);
	memset(pk, 0, sizeof(*pk));
}

int unpacked_init(struct tw_unpacked *u)
{
	memset(u, 0, sizeof(*u));
	u->hb = malloc(SHIST_BYTES);
	u->hr = malloc(SHIST_BYTES);
	if (u->hb && u->hr)
		return 0;
	unpacked_free(u);
	return -ENOMEM;
}

int unpacked_reserve(struct tw_unpacked *u, const struct tw_pack *pk)
{
	/* each call's histogram header, and all of the record's buckets */
	size_t ch = (size_t)pk->max_calls * sizeof(struct tw_shist) +
		    (size_t)pk->max_call_buckets * BUCKET_BYTES;

	if (pk->max_calls > u->cv_cap) {
		void *nv = realloc(u->cv, pk->max_calls * sizeof(*u->cv));

		if (!nv)
			return -ENOMEM;
		u->cv = nv;
		u->cv_cap = pk->max_calls;
	}
	if (ch > u->ch_cap) {
		void *nv = realloc(u->ch, ch);

		if (!nv)
			return -ENOMEM;
		u->ch = nv;
		u->ch_cap = ch;
	}
	return 0;
}

void unpacked_free(struct tw_unpacked *u)
{
	free(u->hb);
	free(u->hr);
	free(u->cv);
	free(u->ch);
	memset(u, 0, sizeof(*u));
}

/* The head every reader needs: tid, seq, flags, the counters into nums; returns the offset after. */
static size_t get_head(const __u8 *p, __u32 *tid, __u64 *seq, __u8 *flags, __u64 nums[NCOUNTERS])
{
	__u64 v;
	size_t at = pack_varint_get(p, &v);

	*tid = (__u32)v;
	at += pack_varint_get(p + at, seq);
	*flags = p[at++];
	return at + get_fields(p + at, nums, NCOUNTERS, 0);
}

static size_t get_name(const struct tw_pack *pk, const __u8 *p, __u8 flags, const char **comm)
{
	__u64 idx;
	size_t at;

	if (flags & PK_NAME_INLINE) {
		*comm = (const char *)p;
		return TASK_COMM_LEN;
	}
	at = pack_varint_get(p, &idx);
	*comm = pk->names[idx];
	return at;
}

static size_t get_hist(const __u8 *p, struct tw_shist *h)
{
	__u64 n, v;
	size_t at = pack_varint_get(p, &n);

	h->n = (__u32)(n >> 1);
	for (__u32 i = 0; i < h->n; i++) {
		at += pack_varint_get(p + at, &v);
		h->b[i].slot = (__u32)v;
		at += pack_varint_get(p + at, &h->b[i].count);
	}
	at += pack_varint_get(p + at, &h->min);
	at += pack_varint_get(p + at, &h->max);
	if (n & 1)
		h->max += h->min;
	return at;
}

void pack_keys(const struct tw_pack *pk, size_t i, struct tw_pack_keys *k)
{
	const __u8 *p = pk->buf + pk->off[i];
	__u64 nums[NCOUNTERS];
	__u8 flags;
	size_t at = get_head(p, &k->tid, &k->seq, &flags, nums);

	get_name(pk, p + at, flags, &k->comm);
	k->oncpu_ns = nums[0];
	k->offcpu_ns = nums[1] + nums[3];
}

/* One call; its histogram laid out at *ch, which moves past it. */
static size_t get_call(const __u8 *p, struct tw_call_rec *c, __u8 **ch)
{
	__u64 v[CALL_NR], nr;
	size_t at = pack_varint_get(p, &nr);

	memset(c, 0, sizeof(*c));
	c->nr = (__u32)nr;
	at += get_fields(p + at, v, CALL_NR, CALL_FLAGS);
	c->count = v[CALL_COUNT];
	c->total_ns = v[CALL_TOTAL];
	c->blocked_ns = v[CALL_BLOCKED];
	c->errors = v[CALL_ERRORS];
	c->wouldblock = v[CALL_WOULDBLOCK];
	c->timedout = v[CALL_TIMEDOUT];
	c->interrupted = v[CALL_INTERRUPTED];
	c->pre_calls = v[CALL_PRE];
	c->errnos_other = v[CALL_ERRNOS_OTHER];
	c->nerrnos = (__u32)v[CALL_NERRNOS];
	c->open_seq = v[CALL_OPEN_SEQ];
	c->open_total_ns = v[CALL_OPEN_TOTAL];
	c->open_blocked_ns = v[CALL_OPEN_BLOCKED];
	c->open = v[CALL_OPEN];
	for (int k = 0; k < TW_FD_NR; k++) {
		c->fd_count[k] = v[CALL_FD_COUNT + k];
		c->fd_ns[k] = v[CALL_FD_NS + k];
	}
	for (__u32 k = 0; k < c->nerrnos; k++) {
		__u64 e;

		at += pack_varint_get(p + at, &e);
		c->errnos[k].e = (__u32)e;
		at += pack_varint_get(p + at, &c->errnos[k].n);
	}
	if (v[CALL_HIST]) {
		c->hist = (struct tw_shist *)*ch;
		at += get_hist(p + at, c->hist);
		*ch += sizeof(struct tw_shist) + c->hist->n * BUCKET_BYTES;
	}
	return at;
}

void pack_get(const struct tw_pack *pk, size_t i, struct tw_unpacked *u)
{
	const __u8 *p = pk->buf + pk->off[i];
	struct tw_thread_rec *r = &u->rec;
	const char *comm;
	__u64 nums[NCOUNTERS], x;
	__u8 flags;
	size_t at = get_head(p, &u->tid, &u->seq, &flags, nums);

	at += get_name(pk, p + at, flags, &comm);
	memcpy(u->comm, comm, TASK_COMM_LEN);
	memset(r, 0, sizeof(*r));
	r->oncpu_ns = nums[0];
	r->blocked_ns = nums[1];
	r->blocked_nosys_ns = nums[2];
	r->runq_ns = nums[3];
	r->vol_switches = nums[4];
	r->invol_switches = nums[5];
	r->threads_created = nums[6];
	if (flags & PK_BLOCKED) {
		at += get_hist(p + at, u->hb);
		r->blocked = u->hb;
	}
	if (flags & PK_RUNQ) {
		at += get_hist(p + at, u->hr);
		r->runq = u->hr;
	}
	if (flags & PK_CALLS) {
		__u8 *ch = u->ch;

		at += pack_varint_get(p + at, &x);
		r->calls.n = (__u32)x;
		r->calls.v = u->cv;
		for (__u32 k = 0; k < r->calls.n; k++)
			at += get_call(p + at, &u->cv[k], &ch);
	}
	u->loop = NULL;
	u->py_name = NULL;
	if (flags & PK_EXTRA) {
		pack_varint_get(p + at, &x);
		u->loop = pk->extra[x].loop;
		u->py_name = pk->extra[x].py_name;
	}
}
