// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Where the blocked time went, for a final report: each process's (or
 * group's) stacks by blocked time, its samples by thread for JSON, and the
 * --folded lines. Everything a renderer prints is decided here: which frame
 * is the first one of the program's own (the caller, past libc), the order,
 * the sums.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "view.h"

static bool has_pid(const struct tw_proc_view *pv, __u32 pid)
{
	if (!pv->nmembers)
		return pv->p && pv->p->pid == pid;
	for (size_t i = 0; i < pv->nmembers; i++)
		if (has_pid(&pv->members[i], pid))
			return true;
	return false;
}

static int cmp_samples(const void *a, const void *b)
{
	const struct tw_ssample *x = *(const struct tw_ssample *const *)a;
	const struct tw_ssample *y = *(const struct tw_ssample *const *)b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->weight_ns != y->weight_ns)
		return x->weight_ns > y->weight_ns ? -1 : 1;
	/* the model's order last: the same report every time */
	return x < y ? -1 : x > y;
}

static int cmp_by_stack(const void *a, const void *b)
{
	const struct tw_ssample *x = *(const struct tw_ssample *const *)a;
	const struct tw_ssample *y = *(const struct tw_ssample *const *)b;

	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	if (x->nr != y->nr)
		return x->nr < y->nr ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->ret != y->ret)
		return x->ret < y->ret ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int cmp_stack_views(const void *a, const void *b)
{
	const struct tw_stack_view *x = a, *y = b;

	if (x->weight_ns != y->weight_ns)
		return x->weight_ns > y->weight_ns ? -1 : 1;
	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	return x->nr < y->nr ? -1 : x->nr > y->nr;
}

static __u32 own_frame(const struct tw_stackset *ss, __u32 stack)
{
	const struct tw_stack *k = &ss->stacks[stack];
	__u32 i;

	/* a Python thread's own code is its innermost Python frame, past the interpreter's C */
	for (i = 0; i < k->nframes; i++)
		if (ss->frames[k->frames[i]].python)
			return i;
	for (i = 0; i < k->nframes; i++)
		if (!ss->frames[k->frames[i]].plumbing)
			break;
	return i;
}

__u32 view_stack_own(const struct tw_stackset *ss, __u32 stack)
{
	return own_frame(ss, stack);
}

static bool same_group(const struct tw_ssample *x, const struct tw_ssample *y)
{
	return x->stack == y->stack && x->nr == y->nr && x->kind == y->kind && x->ret == y->ret;
}

/* by[0..n) sorted by cmp_by_stack: one view per (stack, call, kind, result), into out. */
static size_t group_samples(const struct tw_ssample **by, size_t n, const struct tw_stackset *ss,
			    struct tw_stack_view *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		struct tw_stack_view *sv;

		if (!i || !same_group(by[i - 1], by[i])) {
			sv = &out[k++];
			sv->stack = by[i]->stack;
			sv->nr = by[i]->nr;
			sv->kind = by[i]->kind;
			sv->ret = by[i]->ret;
			sv->own = own_frame(ss, sv->stack);
		}
		sv = &out[k - 1];
		sv->weight_ns += by[i]->weight_ns;
		sv->count += by[i]->count;
		/* sorted by tid within a group: a new tid is a new thread */
		if (!i || !same_group(by[i - 1], by[i]) || by[i - 1]->tid != by[i]->tid)
			sv->nthreads++;
	}
	qsort(out, k, sizeof(*out), cmp_stack_views);
	return k;
}

/*
 * pv's blocked samples (sorted by thread) and stacks (samples of one stack
 * and call added up), and its creation sites.
 */
static int proc_stacks(struct tw_proc_view *pv, const struct tw_stackset *ss)
{
	const struct tw_ssample **by;
	size_t n = 0, nb = 0, k = 0, c = 0;

	for (size_t i = 0; i < pv->nmembers; i++)
		if (proc_stacks(&pv->members[i], ss))
			return -ENOMEM;
	for (size_t i = 0; i < ss->nsamples; i++)
		if (has_pid(pv, ss->samples[i].pid)) {
			n++;
			nb += ss->samples[i].kind == TW_SK_BLOCKED;
		}
	if (!n)
		return 0;
	pv->samples = malloc(n * sizeof(const struct tw_ssample *));
	by = malloc(n * sizeof(const struct tw_ssample *));
	pv->stacks = calloc(n, sizeof(*pv->stacks));
	pv->sites = calloc(n, sizeof(*pv->sites));
	if (!pv->samples || !by || !pv->stacks || !pv->sites) {
		free(by);
		return -ENOMEM;
	}
	/* the blocked ones first in by[], then the creations */
	for (size_t i = 0; i < ss->nsamples; i++) {
		const struct tw_ssample *x = &ss->samples[i];

		if (!has_pid(pv, x->pid))
			continue;
		if (x->kind == TW_SK_BLOCKED) {
			pv->samples[k] = x;
			by[k++] = x;
		} else {
			by[nb + c++] = x;
		}
	}
	pv->nsamples = nb;
	qsort(pv->samples, nb, sizeof(const struct tw_ssample *), cmp_samples);
	qsort(by, nb, sizeof(const struct tw_ssample *), cmp_by_stack);
	qsort(by + nb, c, sizeof(const struct tw_ssample *), cmp_by_stack);
	pv->nstacks = group_samples(by, nb, ss, pv->stacks);
	pv->nsites = group_samples(by + nb, c, ss, pv->sites);
	free(by);
	return 0;
}

static int cmp_folded(const void *a, const void *b)
{
	const struct tw_folded_view *x = a, *y = b;
	int c;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	c = strcmp(x->tcomm, y->tcomm);
	if (c)
		return c;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* --folded: (process, thread name, stack) added up over threads and calls. */
static int folded(struct tw_view *v, const struct tw_model *m)
{
	const struct tw_stackset *ss = &m->stacks;
	struct tw_folded_view *f;
	size_t k = 0, n = 0;

	if (!ss->nsamples)
		return 0;
	f = calloc(ss->nsamples, sizeof(*f));
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < ss->nsamples; i++) {
		const struct tw_ssample *s = &ss->samples[i];
		const struct tw_proc *p = model_proc(m, s->pid);

		if (s->kind != TW_SK_BLOCKED)
			continue; /* off-CPU time only: creation sites are counts */
		f[n].pid = s->pid;
		f[n].pcomm = p ? p->comm : "";
		f[n].tcomm = s->comm;
		f[n].stack = s->stack;
		f[n].weight_ns = s->weight_ns;
		n++;
	}
	qsort(f, n, sizeof(*f), cmp_folded);
	for (size_t i = 0; i < n; i++) {
		if (k && !cmp_folded(&f[k - 1], &f[i]))
			f[k - 1].weight_ns += f[i].weight_ns;
		else
			f[k++] = f[i];
	}
	v->folded = f;
	v->nfolded = k;
	return 0;
}

const char *view_frame_label(const struct tw_sframe *f, char *buf, size_t n)
{
	const char *base;

	if (f->python && f->func && f->file) {
		/* "handler (app.py:42)", as py-spy names them */
		base = strrchr(f->file, '/');
		snprintf(buf, n, "%s (%s:%d)", f->func, base ? base + 1 : f->file, f->line);
		return buf;
	}
	if (f->func)
		return f->func;
	base = strrchr(f->module, '/');
	snprintf(buf, n, "%s+0x%llx", base ? base + 1 : f->module, (unsigned long long)f->offset);
	return buf;
}

int view_stacks(struct tw_view *v, const struct tw_model *m)
{
	v->ss = &m->stacks;
	memcpy(v->stack_lost, m->stacks.lost, sizeof(v->stack_lost));
	v->stacks_taken = m->stacks.taken;
	v->stacks_sampled = m->stacks.sampled;
	v->oncpu_taken = m->stacks.oncpu_taken;
	v->create_skipped = m->stacks.create_skipped;
	for (size_t i = 0; i < v->nprocs; i++)
		if (proc_stacks(&v->procs[i], &m->stacks) ||
		    view_stall_stacks(&v->procs[i], &m->stacks))
			return -ENOMEM;
	return v->o.folded ? folded(v, m) : 0;
}

void view_proc_stacks_free(struct tw_proc_view *pv)
{
	free(pv->stacks);
	free(pv->sites);
	free(pv->samples);
	pv->stacks = pv->sites = NULL;
	pv->samples = NULL;
	pv->nstacks = pv->nsites = pv->nsamples = 0;
}

void view_stacks_free(struct tw_view *v)
{
	free(v->folded);
	v->folded = NULL;
	v->nfolded = 0;
	v->ss = NULL;
}
