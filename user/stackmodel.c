// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Interned frames and stacks, and the samples that point at them. Each table
 * is a growing array; a u32map from a 32-bit hash to the first entry with
 * that hash, the rest chained through `next`, finds an entry by content.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "stackmodel.h"

/* FNV-1a, 64-bit, folded to 32: a hash for lookups, never stored */
static __u64 fnv(__u64 h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_SEED 0xcbf29ce484222325ULL

static __u64 fnv_str(__u64 h, const char *s)
{
	/* the NUL too, so ("ab", "c") and ("a", "bc") differ; NULL hashes as one byte 0xff */
	return s ? fnv(h, s, strlen(s) + 1) : fnv(h, "\xff", 1);
}

static __u32 fold(__u64 h)
{
	return (__u32)(h ^ (h >> 32));
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Room for one more element of size sz in *arr (n used, *cap allocated). */
static int grow(void **arr, size_t n, size_t *cap, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	p = realloc(*arr, ncap * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static char *dup_or_null(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

static __u32 frame_hash(const struct tw_sframe *f)
{
	__u64 h = FNV_SEED;

	h = fnv_str(h, f->func);
	h = fnv_str(h, f->module);
	h = fnv(h, &f->offset, sizeof(f->offset));
	h = fnv_str(h, f->file);
	return fold(fnv(h, &f->line, sizeof(f->line)));
}

static bool frame_eq(const struct tw_sframe *a, const struct tw_sframe *b)
{
	return a->offset == b->offset && a->line == b->line && a->python == b->python &&
	       str_eq(a->func, b->func) && str_eq(a->module, b->module) && str_eq(a->file, b->file);
}

/* Link entry idx in front of its hash's chain. */
static int chain(struct u32map *m, __u32 hash, __u32 idx, __u32 *next)
{
	__u32 head;

	*next = u32map_get(m, hash, &head) ? head : 0;
	return u32map_put(m, hash, idx + 1);
}

long stackset_frame(struct tw_stackset *s, const struct tw_sframe *f)
{
	__u32 hash = frame_hash(f), at;
	struct tw_sframe *n;
	bool fail = false;

	if (u32map_get(&s->fidx, hash, &at)) {
		for (; at; at = s->frames[at - 1].next)
			if (frame_eq(&s->frames[at - 1], f))
				return at - 1;
	}
	if (grow((void **)&s->frames, s->nframes, &s->capf, sizeof(*s->frames)))
		return -ENOMEM;
	n = &s->frames[s->nframes];
	*n = *f;
	n->func = dup_or_null(f->func, &fail);
	n->module = dup_or_null(f->module, &fail);
	n->file = dup_or_null(f->file, &fail);
	if (fail || chain(&s->fidx, hash, (__u32)s->nframes, &n->next)) {
		free(n->func);
		free(n->module);
		free(n->file);
		return -ENOMEM;
	}
	return (long)s->nframes++;
}

static __u64 fnv_u32(__u64 h, __u32 v);

static __u32 stack_hash(const __u32 *frames, __u32 n)
{
	__u64 h = fnv_u32(FNV_SEED, n);

	for (__u32 i = 0; i < n; i++)
		h = fnv_u32(h, frames[i]);
	return fold(h);
}

long stackset_stack(struct tw_stackset *s, const __u32 *frames, __u32 nframes)
{
	__u32 hash = stack_hash(frames, nframes), at;
	struct tw_stack *n;

	if (u32map_get(&s->sidx, hash, &at)) {
		for (; at; at = s->stacks[at - 1].next) {
			const struct tw_stack *k = &s->stacks[at - 1];

			if (k->nframes == nframes &&
			    !memcmp(k->frames, frames, nframes * sizeof(*frames)))
				return at - 1;
		}
	}
	if (grow((void **)&s->stacks, s->nstacks, &s->caps, sizeof(*s->stacks)))
		return -ENOMEM;
	n = &s->stacks[s->nstacks];
	n->nframes = nframes;
	n->frames = malloc(nframes ? nframes * sizeof(*frames) : 1);
	if (!n->frames)
		return -ENOMEM;
	memcpy(n->frames, frames, nframes * sizeof(*frames));
	if (chain(&s->sidx, hash, (__u32)s->nstacks, &n->next)) {
		free(n->frames);
		return -ENOMEM;
	}
	return (long)s->nstacks++;
}

/* FNV-1a over whole 32-bit words (no byte view of integers) */
static __u64 fnv_u32(__u64 h, __u32 v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

static __u32 sample_hash(const struct tw_skey *k)
{
	__u64 h = FNV_SEED;

	h = fnv_u32(h, k->pid);
	h = fnv_u32(h, k->tid);
	h = fnv_u32(h, k->nr);
	h = fnv_u32(h, k->stack);
	h = fnv_u32(h, k->kind);
	return fold(fnv_u32(h, (__u32)k->ret));
}

static bool sample_is(const struct tw_ssample *n, const struct tw_skey *k)
{
	return n->pid == k->pid && n->tid == k->tid && n->nr == k->nr && n->stack == k->stack &&
	       n->kind == k->kind && n->ret == k->ret;
}

/* The tid a sample is kept under: its own, or 0 past the process's first TW_STACK_TIDS. */
static int sample_tid(struct tw_stackset *s, __u32 pid, __u32 tid, __u32 *out)
{
	__u32 v, n = 0;

	*out = tid;
	if (!tid || u32map_get(&s->tids, tid, &v))
		return 0;
	u32map_get(&s->ntids, pid, &n);
	if (n >= TW_STACK_TIDS) {
		*out = 0;
		return 0;
	}
	if (u32map_put(&s->tids, tid, pid) || u32map_put(&s->ntids, pid, n + 1))
		return -ENOMEM;
	return 0;
}

int stackset_add(struct tw_stackset *s, const struct tw_skey *key, const char *comm,
		 __u64 weight_ns)
{
	struct tw_skey kk, *k = &kk;
	__u32 hash, at, tid = 0;
	struct tw_ssample *n;

	if (sample_tid(s, key->pid, key->tid, &tid))
		return -ENOMEM;
	kk = (struct tw_skey){ .pid = key->pid,
			       .tid = tid,
			       .nr = key->nr,
			       .stack = key->stack,
			       .kind = key->kind,
			       .ret = key->ret };
	hash = sample_hash(k);

	if (u32map_get(&s->ssidx, hash, &at)) {
		for (; at; at = s->samples[at - 1].next) {
			n = &s->samples[at - 1];
			if (sample_is(n, k)) {
				n->weight_ns += weight_ns;
				n->count++;
				return 0;
			}
		}
	}
	if (grow((void **)&s->samples, s->nsamples, &s->capss, sizeof(*s->samples)))
		return -ENOMEM;
	n = &s->samples[s->nsamples];
	memset(n, 0, sizeof(*n));
	n->pid = k->pid;
	n->tid = k->tid;
	n->nr = k->nr;
	n->stack = k->stack;
	n->kind = k->kind;
	n->ret = k->ret;
	if (comm)
		strncpy(n->comm, comm, sizeof(n->comm) - 1);
	n->weight_ns = weight_ns;
	n->count = 1;
	if (chain(&s->ssidx, hash, (__u32)s->nsamples, &n->next))
		return -ENOMEM;
	s->nsamples++;
	return 0;
}

int stackset_now_set(struct tw_stackset *s, __u32 tid, __u32 stack)
{
	return u32map_put(&s->now, tid, stack + 1);
}

bool stackset_now_get(const struct tw_stackset *s, __u32 tid, __u32 *stack)
{
	__u32 v;

	if (!u32map_get(&s->now, tid, &v) || !v || v - 1 >= s->nstacks)
		return false;
	*stack = v - 1;
	return true;
}

void stackset_now_reset(struct tw_stackset *s)
{
	u32map_free(&s->now);
	memset(&s->now_stats, 0, sizeof(s->now_stats));
}

void stackset_free(struct tw_stackset *s)
{
	for (size_t i = 0; i < s->nframes; i++) {
		free(s->frames[i].func);
		free(s->frames[i].module);
		free(s->frames[i].file);
	}
	for (size_t i = 0; i < s->nstacks; i++)
		free(s->stacks[i].frames);
	free(s->frames);
	free(s->stacks);
	free(s->samples);
	u32map_free(&s->fidx);
	u32map_free(&s->sidx);
	u32map_free(&s->ssidx);
	u32map_free(&s->tids);
	u32map_free(&s->ntids);
	u32map_free(&s->now);
	memset(s, 0, sizeof(*s));
}
