// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "view.h"

const char *const tw_sort_names[TW_SORT_NR] = {
	[TW_SORT_BUSY] = "busy",       [TW_SORT_ONCPU] = "oncpu",	[TW_SORT_RUNQ] = "runq",
	[TW_SORT_BLOCKED] = "blocked", [TW_SORT_OFFCPU] = "offcpu",	[TW_SORT_STALLS] = "stalls",
	[TW_SORT_THREADS] = "threads", [TW_SORT_FAILURES] = "failures",
};

const char *const tw_sort_labels[TW_SORT_NR] = {
	[TW_SORT_BUSY] = "failures, stalls, then on-CPU + run-queue time",
	[TW_SORT_ONCPU] = "on-CPU time",
	[TW_SORT_RUNQ] = "run-queue time",
	[TW_SORT_BLOCKED] = "blocked time",
	[TW_SORT_OFFCPU] = "off-CPU time",
	[TW_SORT_STALLS] = "event-loop stalls",
	[TW_SORT_THREADS] = "threads",
	[TW_SORT_FAILURES] = "thread and process creation failures",
};

__u64 totals_offcpu(const struct tw_thread_totals *t)
{
	return t->blocked_ns + t->runq_ns;
}

static void thread_totals_sub(struct tw_thread_totals *d, const struct tw_thread_totals *a,
			      const struct tw_thread_totals *b)
{
	d->oncpu_ns = a->oncpu_ns - b->oncpu_ns;
	d->blocked_ns = a->blocked_ns - b->blocked_ns;
	d->blocked_nosys_ns = a->blocked_nosys_ns - b->blocked_nosys_ns;
	d->runq_ns = a->runq_ns - b->runq_ns;
	d->vol_switches = a->vol_switches - b->vol_switches;
	d->invol_switches = a->invol_switches - b->invol_switches;
	d->threads_created = a->threads_created - b->threads_created;
	hist_sub(&d->blocked, &a->blocked, &b->blocked);
	hist_sub(&d->runq, &a->runq, &b->runq);
}

static void proc_totals_sub(struct tw_proc_totals *d, const struct tw_proc_totals *a,
			    const struct tw_proc_totals *b)
{
	d->threads_created = a->threads_created - b->threads_created;
	d->threads_exited = a->threads_exited - b->threads_exited;
	d->procs_forked = a->procs_forked - b->procs_forked;
	for (int i = 0; i < TW_FAIL_NR; i++)
		d->thread_fail[i] = a->thread_fail[i] - b->thread_fail[i];
	d->fork_fail = a->fork_fail - b->fork_fail;
	hist_sub(&d->first_run, &a->first_run, &b->first_run);
	hist_sub(&d->lifetime, &a->lifetime, &b->lifetime);
}

__u64 proc_thread_failures(const struct tw_proc_totals *pt)
{
	__u64 n = 0;

	for (int i = 0; i < TW_FAIL_NR; i++)
		n += pt->thread_fail[i];
	return n;
}

__u64 proc_failures(const struct tw_proc_totals *pt)
{
	return proc_thread_failures(pt) + pt->fork_fail;
}

static void proc_totals_add(struct tw_proc_totals *d, const struct tw_proc_totals *a)
{
	d->threads_created += a->threads_created;
	d->threads_exited += a->threads_exited;
	d->procs_forked += a->procs_forked;
	for (int i = 0; i < TW_FAIL_NR; i++)
		d->thread_fail[i] += a->thread_fail[i];
	d->fork_fail += a->fork_fail;
	hist_add(&d->first_run, &a->first_run);
	hist_add(&d->lifetime, &a->lifetime);
}

const char *stall_cause(const struct tw_stall *s)
{
	if (s->oncpu_ns >= s->blocked_ns && s->oncpu_ns >= s->runq_ns)
		return "oncpu";
	return s->blocked_ns >= s->runq_ns ? "blocked" : "runq";
}

__u64 loop_gap_percentile(const struct tw_loop_view *l, double p)
{
	/* clamped to the histogram's extremes, the kernel's exact gap_max_ns among them */
	return hist_percentile(&l->lt.gap, p);
}

const char *sys_label(__u32 sys1, char buf[24])
{
	const char *name;

	if (!sys1)
		return NULL;
	name = syscall_name((long)sys1 - 1);
	if (name)
		return name;
	snprintf(buf, 24, "syscall_%u", sys1 - 1);
	return buf;
}

static bool totals_idle(const struct tw_thread_totals *t)
{
	return !t->oncpu_ns && !totals_offcpu(t) && !t->vol_switches && !t->invol_switches &&
	       !t->threads_created;
}

static __u64 rec_offcpu(const struct tw_thread_rec *r)
{
	return r->blocked_ns + r->runq_ns;
}

void comm_fold_key(const char *comm, char *key)
{
	size_t n = strnlen(comm, TASK_COMM_LEN), end = n;
	bool cut = n >= TASK_COMM_LEN - 1; /* the kernel keeps 15 bytes: longer names lost a tail */

	while (end > 0 && comm[end - 1] >= '0' && comm[end - 1] <= '9')
		end--;
	if (end == 0) /* all digits: a name, not a numbered one */
		end = n;
	memcpy(key, comm, end);
	if (end < n || cut)
		key[end++] = '*';
	key[end] = 0;
}

/* by fold key, then name, then tid: a group's rows are adjacent */
static int cmp_rows_comm(const void *a, const void *b)
{
	const struct tw_row *x = a, *y = b;
	int c = strcmp(x->pattern, y->pattern);

	if (!c)
		c = strncmp(x->comm, y->comm, TASK_COMM_LEN);
	return c ? c : (x->tid > y->tid) - (x->tid < y->tid);
}

static int cmp_u64_desc(__u64 x, __u64 y)
{
	return (x < y) - (x > y);
}

static int cmp_rows_offcpu(const void *a, const void *b)
{
	const struct tw_row *x = a, *y = b;
	int c = cmp_u64_desc(rec_offcpu(&x->t), rec_offcpu(&y->t));

	if (!c)
		c = cmp_u64_desc(x->t.oncpu_ns, y->t.oncpu_ns);
	return c ? c : (x->tid > y->tid) - (x->tid < y->tid);
}

/* The --sort key's own comparison, most first; 0 on a tie. */
static int cmp_key(const struct tw_proc_view *x, const struct tw_proc_view *y, enum tw_sort s)
{
	const struct tw_thread_totals *a = &x->sum, *b = &y->sum;
	int c = 0;

	switch (s) {
	case TW_SORT_BUSY:
		/* suffering first (failures, stalls), then busy: on CPU or wanting one */
		c = cmp_u64_desc(proc_failures(&x->pt), proc_failures(&y->pt));
		if (!c)
			c = cmp_u64_desc(x->stalls, y->stalls);
		if (!c)
			c = cmp_u64_desc(a->oncpu_ns + a->runq_ns, b->oncpu_ns + b->runq_ns);
		break;
	case TW_SORT_ONCPU:
		c = cmp_u64_desc(a->oncpu_ns, b->oncpu_ns);
		break;
	case TW_SORT_RUNQ:
		c = cmp_u64_desc(a->runq_ns, b->runq_ns);
		break;
	case TW_SORT_BLOCKED:
		c = cmp_u64_desc(a->blocked_ns, b->blocked_ns);
		break;
	case TW_SORT_OFFCPU:
		c = cmp_u64_desc(totals_offcpu(a), totals_offcpu(b));
		break;
	case TW_SORT_STALLS:
		c = cmp_u64_desc(x->stalls, y->stalls);
		break;
	case TW_SORT_THREADS:
		c = cmp_u64_desc(x->threads_now, y->threads_now);
		if (!c)
			c = cmp_u64_desc(x->threads_peak, y->threads_peak);
		break;
	case TW_SORT_FAILURES:
		c = cmp_u64_desc(proc_failures(&x->pt), proc_failures(&y->pt));
		break;
	default:
		break;
	}
	return c;
}

static int cmp_procs(const void *a, const void *b, void *arg)
{
	const struct tw_proc_view *x = a, *y = b;
	int c = cmp_key(x, y, *(const enum tw_sort *)arg);

	if (!c)
		c = cmp_key(x, y, TW_SORT_BUSY);
	if (!c)
		c = cmp_u64_desc(totals_offcpu(&x->sum), totals_offcpu(&y->sum));
	if (!c)
		c = cmp_u64_desc(x->threads_now, y->threads_now);
	return c ? c : (x->p->pid > y->p->pid) - (x->p->pid < y->p->pid);
}

static int cmp_procs_comm(const void *a, const void *b)
{
	const struct tw_proc_view *x = a, *y = b;
	int c = strncmp(x->p->comm, y->p->comm, TASK_COMM_LEN);

	return c ? c : (x->p->pid > y->p->pid) - (x->p->pid < y->p->pid);
}

static void row_free(struct tw_row *r)
{
	if (!r->borrowed)
		rec_free(&r->t);
	memset(&r->t, 0, sizeof(r->t));
	r->borrowed = false;
}

/* Fold rows sharing a fold key (pattern) into one; rows must be sorted by cmp_rows_comm. */
static int fold_by_comm(struct tw_row *rows, size_t *n)
{
	size_t out = 0, i = 0;

	while (i < *n) {
		struct tw_thread_totals sum, one;
		struct tw_row g = rows[i];
		size_t j;
		int err;

		memset(&sum, 0, sizeof(sum));
		g.tid = 0;
		g.nthreads = 0;
		g.nnames = 0;
		g.alive = false;
		g.borrowed = false;
		memset(&g.t, 0, sizeof(g.t));
		err = 0;
		for (j = i; j < *n && !strcmp(rows[j].pattern, g.pattern); j++) {
			if (j == i || strncmp(rows[j].comm, rows[j - 1].comm, TASK_COMM_LEN) != 0)
				g.nnames++;
			rec_expand(&rows[j].t, &one);
			thread_totals_add(&sum, &one);
			if (!err)
				err = calls_add(&g.t.calls, &rows[j].t.calls);
			g.nthreads++;
			g.alive |= rows[j].alive;
		}
		if (g.nnames < 2)
			g.pattern[0] = 0; /* one name: it is shown as it is */
		if (!err)
			err = rec_store(&g.t, &sum);
		if (err)
			rec_free(&g.t);
		for (size_t k = i; k < j; k++)
			row_free(&rows[k]);
		if (err) {
			/* free what is left past the group, then keep what was folded */
			for (size_t k = j; k < *n; k++)
				row_free(&rows[k]);
			*n = out;
			return err;
		}
		rows[out++] = g;
		i = j;
	}
	*n = out;
	return 0;
}

static void free_rows(struct tw_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		row_free(&rows[i]);
	free(rows);
}

static void loop_totals_sub(struct tw_loop_totals *d, const struct tw_loop_totals *a,
			    const struct tw_loop_totals *b)
{
	d->iterations = a->iterations - b->iterations;
	d->stalls = a->stalls - b->stalls;
	d->gap_total_ns = a->gap_total_ns - b->gap_total_ns;
	hist_sub(&d->gap, &a->gap, &b->gap);
	/* the interval's longest gap: exact if the run's grew in it, else a bound (hist_sub) */
	d->gap_max_ns = d->gap.max;
}

static int cmp_loops(const void *a, const void *b)
{
	const struct tw_loop_view *x = a, *y = b;

	return (x->tid > y->tid) - (x->tid < y->tid);
}

static int cmp_blocked(const void *a, const void *b)
{
	const struct tw_blocked_view *x = a, *y = b;
	int c = cmp_u64_desc(x->blocked_ns, y->blocked_ns);

	return c ? c : (x->tid > y->tid) - (x->tid < y->tid);
}

/* A process's thread records, and last its pruned dead folded into one (the daemon's). */
static size_t nrecs(const struct tw_proc *p)
{
	return p->nthreads + (p->gone ? 1 : 0);
}

static const struct tw_thread *rec_at(const struct tw_proc *p, size_t i)
{
	return i < p->nthreads ? p->threads[i] : p->gone;
}

/*
 * A thread asleep now, since its state began; for one asleep since before the
 * trace, since the kernel says it last ran, or (unknown) at least since the
 * trace began. Listed past --blocked-ms, unless it waits in the wait family.
 */
static void add_blocked(struct tw_proc_view *pv, const struct tw_thread *t,
			const struct tw_view_opts *o, __u64 live_ns)
{
	struct tw_blocked_view *b = &pv->blocked[pv->nblocked];
	__u64 since = t->live_state_ts;
	bool before = t->live_att;
	__u64 from;

	if (before)
		since = t->live_pre_ts && t->live_pre_ts <= t->live_att_ts ? t->live_pre_ts : 0;
	from = since ? since : t->live_state_ts;
	if (live_ns <= from || live_ns - from < o->blocked_ns)
		return;
	/* an event loop waiting is idle, not stuck */
	if (t->live_sys && TW_CALL_IS_WAIT(call_of(t->live_sys - 1))) {
		pv->idle_waiting++;
		return;
	}
	memset(b, 0, sizeof(*b));
	b->tid = t->tid;
	memcpy(b->comm, t->comm, TASK_COMM_LEN);
	b->sys = t->live_sys;
	b->before_trace = before;
	b->since_ns = since;
	b->blocked_ns = live_ns - from;
	if (since && tw_wall_of(&o->clock, since) > 0)
		b->since_wall_ns = (__u64)tw_wall_of(&o->clock, since);
	if (before && since)
		b->before_ns = t->live_att_ts - since;
	pv->nblocked++;
}

/* Event loops and threads blocked now: per thread, from the model's loop records and live fields. */
static int build_loops(struct tw_proc_view *pv, const struct tw_proc *p,
		       const struct tw_view_opts *o, __u64 live_ns)
{
	pv->loops = calloc(p->nthreads + 1, sizeof(*pv->loops));
	pv->blocked = calloc(p->nthreads + 1, sizeof(*pv->blocked));
	if (!pv->loops || !pv->blocked)
		return -ENOMEM;
	for (size_t i = 0; i < nrecs(p); i++) {
		const struct tw_thread *t = rec_at(p, i);
		const struct tw_loop *l = t->loop;

		if (!o->final && t->marked_dead)
			continue;
		if (t->alive && t->live_state == TW_ST_BLOCKED)
			add_blocked(pv, t, o, live_ns);
		if (l) {
			struct tw_loop_view *lv = &pv->loops[pv->nloops];
			size_t from = o->final ? 0 : l->stalls_mark;

			lv->tid = t->tid;
			memcpy(lv->comm, t->comm, TASK_COMM_LEN);
			lv->alive = t->alive;
			if (o->final)
				lv->lt = l->tot;
			else
				loop_totals_sub(&lv->lt, &l->tot, &l->mark);
			lv->stalls = l->stalls ? l->stalls + from : NULL;
			lv->nstalls = l->nstalls - from;
			lv->ongoing = t->alive && l->stalled_now ? &l->ongoing : NULL;
			if (lv->lt.iterations || lv->nstalls || lv->ongoing)
				pv->nloops++;
		}
	}
	qsort(pv->loops, pv->nloops, sizeof(*pv->loops), cmp_loops);
	qsort(pv->blocked, pv->nblocked, sizeof(*pv->blocked), cmp_blocked);
	return 0;
}

static int build_proc(struct tw_proc_view *pv, const struct tw_proc *p,
		      const struct tw_view_opts *o, __u64 live_ns)
{
	size_t n = 0;
	int err = 0;

	pv->p = p;
	if (o->final || !p->mark) {
		pv->pt = p->tot;
		pv->threads_peak = p->threads_peak;
	} else {
		proc_totals_sub(&pv->pt, &p->tot, p->mark);
		pv->threads_peak = p->interval_peak;
	}
	pv->rows = calloc(p->nthreads + 1, sizeof(*pv->rows));
	if (!pv->rows)
		return -ENOMEM;
	for (size_t i = 0; i < nrecs(p) && !err; i++) {
		const struct tw_thread *t = rec_at(p, i);
		struct tw_row *r = &pv->rows[n];
		struct tw_thread_totals tot, mark;

		if (!o->final && t->marked_dead)
			continue; /* died in an earlier interval */
		r->tid = t->tid;
		r->nthreads = 1;
		r->alive = t->alive;
		memcpy(r->comm, t->comm, TASK_COMM_LEN);
		if (o->final || !t->mark) {
			/*
			 * the thread's own totals: share its packed histograms, and add
			 * them as they are packed (no unpacking per thread: the daemon
			 * renders 10,000 of them a second)
			 */
			rec_add_to(&pv->sum, &t->tot);
			r->t = t->tot;
			r->borrowed = true;
			n++;
			continue;
		}
		rec_expand(&t->tot, &tot);
		rec_expand(t->mark, &mark);
		thread_totals_sub(&tot, &tot, &mark);
		if (!t->alive && totals_idle(&tot))
			continue;
		thread_totals_add(&pv->sum, &tot);
		err = rec_store(&r->t, &tot);
		if (!err)
			err = calls_delta(&r->t.calls, &t->tot.calls, &t->mark->calls);
		if (err)
			rec_free(&r->t);
		else
			n++;
	}
	if (!err && o->by == TW_BY_COMM) {
		for (size_t i = 0; i < n; i++)
			comm_fold_key(pv->rows[i].comm, pv->rows[i].pattern);
		qsort(pv->rows, n, sizeof(*pv->rows), cmp_rows_comm);
		err = fold_by_comm(pv->rows, &n);
	}
	pv->nrows = n;
	if (err)
		return err;
	qsort(pv->rows, n, sizeof(*pv->rows), cmp_rows_offcpu);
	pv->threads_now = p->threads_now;
	pv->exited = p->exited;
	err = build_loops(pv, p, o, live_ns);
	for (size_t i = 0; !err && i < pv->nloops; i++)
		pv->stalls += pv->loops[i].lt.stalls + (pv->loops[i].ongoing ? 1 : 0);
	return err;
}

/*
 * Runs of processes sharing a comm (procs sorted by comm) become one group
 * row each, its members moved into it; a comm held by one process stays a
 * process row. *n becomes the number of rows.
 */
static int group_by_comm(struct tw_proc_view *procs, size_t *n, enum tw_sort sort)
{
	size_t out = 0, i = 0;

	while (i < *n) {
		size_t j = i + 1;

		while (j < *n && !strncmp(procs[j].p->comm, procs[i].p->comm, TASK_COMM_LEN))
			j++;
		if (j - i == 1) {
			procs[out++] = procs[i++];
			continue;
		}
		struct tw_proc_view g = { .exited = true };
		struct tw_proc_view *members = malloc((j - i) * sizeof(*members));

		if (!members) {
			/* keep every view owned by procs[0..*n) for the caller to free */
			memmove(&procs[out], &procs[i], (*n - i) * sizeof(*procs));
			*n = out + (*n - i);
			return -ENOMEM;
		}
		for (size_t k = i; k < j; k++) {
			proc_totals_add(&g.pt, &procs[k].pt);
			thread_totals_add(&g.sum, &procs[k].sum);
			g.threads_peak += procs[k].threads_peak;
			g.threads_now += procs[k].threads_now;
			g.exited &= procs[k].exited;
			g.stalls += procs[k].stalls;
		}
		memcpy(members, &procs[i], (j - i) * sizeof(*members));
		qsort_r(members, j - i, sizeof(*members), cmp_procs, &sort);
		g.members = members;
		g.nmembers = j - i;
		g.p = members[0].p;
		procs[out++] = g;
		i = j;
	}
	*n = out;
	return 0;
}

static void proc_view_free(struct tw_proc_view *pv)
{
	for (size_t i = 0; i < pv->nmembers; i++)
		proc_view_free(&pv->members[i]);
	free(pv->members);
	free_rows(pv->rows, pv->nrows);
	free(pv->loops);
	free(pv->blocked);
	memset(pv, 0, sizeof(*pv));
}

static bool proc_active(const struct tw_proc_view *pv)
{
	const struct tw_proc_totals *pt = &pv->pt;

	return !totals_idle(&pv->sum) || pt->threads_created || pt->threads_exited ||
	       pt->procs_forked || pt->fork_fail || proc_thread_failures(pt) || pv->nloops ||
	       pv->nblocked;
}

int view_build(struct tw_view *v, const struct tw_model *m, const struct tw_view_opts *o)
{
	size_t n = 0;

	memset(v, 0, sizeof(*v));
	v->o = *o;
	v->stall_ns = m->stall_ns;
	v->stalls_not_kept = m->stalls_not_kept;
	for (int i = 0; i < TW_DROP_NR; i++)
		v->drops[i] = o->final ? m->drops[i] : m->drops[i] - m->drops_mark[i];
	v->procs = calloc(m->nprocs ? m->nprocs : 1, sizeof(*v->procs));
	if (!v->procs)
		return -ENOMEM;
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct tw_proc *p = m->procs[i];

		if (o->targets_only && !p->target)
			continue;
		if (build_proc(&v->procs[n], p, o, m->live_ns)) {
			v->nprocs = n + 1;
			view_free(v);
			return -ENOMEM;
		}
		/* every target is shown; elsewhere only what did something */
		if (!p->target && !o->all_procs && !proc_active(&v->procs[n])) {
			proc_view_free(&v->procs[n]);
			continue;
		}
		n++;
	}
	v->nprocs_active = n;
	if (o->group_procs) {
		qsort(v->procs, n, sizeof(*v->procs), cmp_procs_comm);
		if (group_by_comm(v->procs, &n, o->sort)) {
			v->nprocs = n;
			view_free(v);
			return -ENOMEM;
		}
	}
	qsort_r(v->procs, n, sizeof(*v->procs), cmp_procs, (void *)&o->sort);
	v->nrows_active = n;
	if (o->top && n > o->top) {
		for (size_t i = o->top; i < n; i++)
			proc_view_free(&v->procs[i]);
		n = o->top;
	}
	v->nprocs = n;
	return 0;
}

void view_free(struct tw_view *v)
{
	for (size_t i = 0; i < v->nprocs; i++)
		proc_view_free(&v->procs[i]);
	free(v->procs);
	memset(v, 0, sizeof(*v));
}
