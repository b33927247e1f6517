// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include "calls.h"

static const char *const names[TW_CALL_NR] = {
	[TW_CALL_NONE] = "?",
	[TW_CALL_READ] = "read",
	[TW_CALL_WRITE] = "write",
	[TW_CALL_READV] = "readv",
	[TW_CALL_WRITEV] = "writev",
	[TW_CALL_PREAD64] = "pread64",
	[TW_CALL_PWRITE64] = "pwrite64",
	[TW_CALL_RECVFROM] = "recvfrom",
	[TW_CALL_SENDTO] = "sendto",
	[TW_CALL_RECVMSG] = "recvmsg",
	[TW_CALL_SENDMSG] = "sendmsg",
	[TW_CALL_EPOLL_WAIT] = "epoll_wait",
	[TW_CALL_EPOLL_PWAIT] = "epoll_pwait",
	[TW_CALL_EPOLL_PWAIT2] = "epoll_pwait2",
	[TW_CALL_POLL] = "poll",
	[TW_CALL_PPOLL] = "ppoll",
	[TW_CALL_SELECT] = "select",
	[TW_CALL_PSELECT6] = "pselect6",
	[TW_CALL_FUTEX] = "futex",
	[TW_CALL_NANOSLEEP] = "nanosleep",
	[TW_CALL_CLOCK_NANOSLEEP] = "clock_nanosleep",
	[TW_CALL_CONNECT] = "connect",
	[TW_CALL_ACCEPT] = "accept",
	[TW_CALL_ACCEPT4] = "accept4",
};

const char *call_name(__u32 call)
{
	return call < TW_CALL_NR && names[call] ? names[call] : "?";
}

static void set(volatile __u8 *table, size_t n, long nr, enum tw_call call)
{
	if (nr >= 0 && (size_t)nr < n)
		table[nr] = call;
}

void calls_fill_table(volatile __u8 *table, size_t n)
{
	/* some calls exist only on some architectures (arm64 has no read-less poll, select...) */
	set(table, n, SYS_read, TW_CALL_READ);
	set(table, n, SYS_write, TW_CALL_WRITE);
	set(table, n, SYS_readv, TW_CALL_READV);
	set(table, n, SYS_writev, TW_CALL_WRITEV);
	set(table, n, SYS_pread64, TW_CALL_PREAD64);
	set(table, n, SYS_pwrite64, TW_CALL_PWRITE64);
	set(table, n, SYS_recvfrom, TW_CALL_RECVFROM);
	set(table, n, SYS_sendto, TW_CALL_SENDTO);
	set(table, n, SYS_recvmsg, TW_CALL_RECVMSG);
	set(table, n, SYS_sendmsg, TW_CALL_SENDMSG);
#ifdef SYS_epoll_wait
	set(table, n, SYS_epoll_wait, TW_CALL_EPOLL_WAIT);
#endif
	set(table, n, SYS_epoll_pwait, TW_CALL_EPOLL_PWAIT);
#ifdef SYS_epoll_pwait2
	set(table, n, SYS_epoll_pwait2, TW_CALL_EPOLL_PWAIT2);
#endif
#ifdef SYS_poll
	set(table, n, SYS_poll, TW_CALL_POLL);
#endif
	set(table, n, SYS_ppoll, TW_CALL_PPOLL);
#ifdef SYS_select
	set(table, n, SYS_select, TW_CALL_SELECT);
#endif
	set(table, n, SYS_pselect6, TW_CALL_PSELECT6);
	set(table, n, SYS_futex, TW_CALL_FUTEX);
	set(table, n, SYS_nanosleep, TW_CALL_NANOSLEEP);
	set(table, n, SYS_clock_nanosleep, TW_CALL_CLOCK_NANOSLEEP);
	set(table, n, SYS_connect, TW_CALL_CONNECT);
#ifdef SYS_accept
	set(table, n, SYS_accept, TW_CALL_ACCEPT);
#endif
	set(table, n, SYS_accept4, TW_CALL_ACCEPT4);
}

static struct tw_call_rec *find(const struct tw_calls *c, __u32 call)
{
	for (__u32 i = 0; i < c->n; i++)
		if (c->v[i].call == call)
			return &c->v[i];
	return NULL;
}

/* The record of call, inserted in order (zeroed) if absent. */
static struct tw_call_rec *get(struct tw_calls *c, __u32 call)
{
	struct tw_call_rec *r = find(c, call), *nv;
	__u32 at = 0;

	if (r)
		return r;
	nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	c->v = nv;
	while (at < c->n && c->v[at].call < call)
		at++;
	memmove(&c->v[at + 1], &c->v[at], (c->n - at) * sizeof(*nv));
	memset(&c->v[at], 0, sizeof(*nv));
	c->v[at].call = call;
	c->n++;
	return &c->v[at];
}

int calls_set(struct tw_calls *c, const struct tw_call_key *key, const struct tw_call_stats *s)
{
	struct tw_hist h = {};
	struct tw_shist *packed;
	struct tw_call_rec *r;
	int err = 0;

	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++)
		h.slot[i] = s->hist[i];
	packed = shist_pack(&h, &err);
	if (err)
		return err;
	r = get(c, key->call);
	if (!r) {
		free(packed);
		return -ENOMEM;
	}
	free(r->hist);
	r->count = s->count;
	r->errors = s->errors;
	r->total_ns = s->total_ns;
	r->hist = packed;
	return 0;
}

/* r = a + sign * b, histograms included; a or b may be NULL. */
static int combine(struct tw_call_rec *r, const struct tw_call_rec *a, const struct tw_call_rec *b,
		   bool subtract)
{
	struct tw_hist h = {}, hb = {};
	struct tw_shist *packed;
	int err = 0;

	if (a)
		shist_add_to(&h, a->hist);
	if (b) {
		shist_add_to(&hb, b->hist);
		if (subtract)
			hist_sub(&h, &h, &hb);
		else
			hist_add(&h, &hb);
	}
	packed = shist_pack(&h, &err);
	if (err)
		return err;
	free(r->hist);
	r->hist = packed;
	r->count = (a ? a->count : 0) + (subtract ? -(b ? b->count : 0) : (b ? b->count : 0));
	r->errors = (a ? a->errors : 0) + (subtract ? -(b ? b->errors : 0) : (b ? b->errors : 0));
	r->total_ns =
		(a ? a->total_ns : 0) + (subtract ? -(b ? b->total_ns : 0) : (b ? b->total_ns : 0));
	return 0;
}

int calls_copy(struct tw_calls *dst, const struct tw_calls *src)
{
	calls_free(dst);
	return calls_add(dst, src);
}

int calls_add(struct tw_calls *dst, const struct tw_calls *src)
{
	for (__u32 i = 0; i < src->n; i++) {
		struct tw_call_rec *r = get(dst, src->v[i].call);
		int err;

		if (!r)
			return -ENOMEM;
		/* combine() reads r's histogram before it replaces it */
		err = combine(r, r, &src->v[i], false);
		if (err)
			return err;
	}
	return 0;
}

int calls_delta(struct tw_calls *dst, const struct tw_calls *cur, const struct tw_calls *mark)
{
	calls_free(dst);
	for (__u32 i = 0; i < cur->n; i++) {
		const struct tw_call_rec *m = find(mark, cur->v[i].call);
		struct tw_call_rec *r;
		int err;

		if (m && m->count == cur->v[i].count && m->total_ns == cur->v[i].total_ns)
			continue;
		r = get(dst, cur->v[i].call);
		if (!r)
			return -ENOMEM;
		err = combine(r, &cur->v[i], m, true);
		if (err)
			return err;
	}
	return 0;
}

void calls_free(struct tw_calls *c)
{
	for (__u32 i = 0; i < c->n; i++)
		free(c->v[i].hist);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

static int cmp_total(const void *a, const void *b)
{
	const struct tw_call_rec *x = *(const struct tw_call_rec *const *)a;
	const struct tw_call_rec *y = *(const struct tw_call_rec *const *)b;

	if (x->total_ns != y->total_ns)
		return x->total_ns < y->total_ns ? 1 : -1;
	return (x->call > y->call) - (x->call < y->call);
}

__u32 calls_by_total(const struct tw_calls *c, const struct tw_call_rec *out[TW_CALL_NR])
{
	__u32 n = 0;

	for (__u32 i = 0; i < c->n && n < TW_CALL_NR; i++)
		out[n++] = &c->v[i];
	qsort(out, n, sizeof(const struct tw_call_rec *), cmp_total);
	return n;
}
