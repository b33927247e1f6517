// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "pack.h"
#include "view.h"

/* One packed row at a time, unpacked (view_row()). */
struct tw_view_scratch {
	struct tw_unpacked u;
	struct tw_row row;
};

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

static int cmp_u64_desc(__u64 x, __u64 y)
{
	return (x < y) - (x > y);
}

static int cmp_u64(__u64 x, __u64 y)
{
	return (x > y) - (x < y);
}

/* What rows are sorted on, of a row or of a packed record. */
struct row_keys {
	__u64 offcpu, oncpu, seq;
	__u32 tid;
	const char *comm;
	const char *pattern; /* --by comm */
	char key[TASK_COMM_LEN + 2]; /* a packed record's pattern */
};

/* off-CPU time, then on-CPU time, most first; then tid, then order of first sight */
static int cmp_keys_offcpu(const struct row_keys *x, const struct row_keys *y)
{
	int c = cmp_u64_desc(x->offcpu, y->offcpu);

	if (!c)
		c = cmp_u64_desc(x->oncpu, y->oncpu);
	if (!c)
		c = cmp_u64(x->tid, y->tid);
	return c ? c : cmp_u64(x->seq, y->seq);
}

/* by fold key, then name, then tid, then order of first sight: a group's rows are adjacent */
static int cmp_keys_comm(const struct row_keys *x, const struct row_keys *y)
{
	int c = strcmp(x->pattern, y->pattern);

	if (!c)
		c = strncmp(x->comm, y->comm, TASK_COMM_LEN);
	if (!c)
		c = cmp_u64(x->tid, y->tid);
	return c ? c : cmp_u64(x->seq, y->seq);
}

static void row_keys(const struct tw_row *r, struct row_keys *k)
{
	k->offcpu = rec_offcpu(&r->t);
	k->oncpu = r->t.oncpu_ns;
	k->tid = r->tid;
	k->seq = r->seq;
	k->comm = r->comm;
	k->pattern = r->pattern;
}

static int cmp_rows_offcpu(const void *a, const void *b)
{
	struct row_keys x, y;

	row_keys(a, &x);
	row_keys(b, &y);
	return cmp_keys_offcpu(&x, &y);
}

/*
 * Rows by reference: a ref below nown is rows[ref], the view's own; the
 * others are the packed records of the process, unpacked into s one at a time.
 */
struct rowset {
	struct tw_row *rows;
	size_t nown;
	const struct tw_pack *pack;
	struct tw_view_scratch *s;
};

/* A Python thread name where it is not the thread's comm, or NULL. */
static const char *name_unless_comm(const char *name, const char *comm)
{
	return name && strncmp(name, comm, TASK_COMM_LEN) != 0 ? name : NULL;
}

static const struct tw_row *unpack_row(const struct tw_pack *pk, size_t i,
				       struct tw_view_scratch *s)
{
	struct tw_row *r = &s->row;

	pack_get(pk, i, &s->u);
	memset(r, 0, sizeof(*r));
	r->tid = s->u.tid;
	r->nthreads = 1;
	memcpy(r->comm, s->u.comm, TASK_COMM_LEN);
	r->alive = false;
	r->borrowed = true;
	r->t = s->u.rec;
	r->seq = s->u.seq;
	r->py_name = name_unless_comm(s->u.py_name, r->comm);
	return r;
}

static const struct tw_row *ref_row(const struct rowset *rs, __u32 ref)
{
	return ref < rs->nown ? &rs->rows[ref] : unpack_row(rs->pack, ref - rs->nown, rs->s);
}

static void ref_keys(const struct rowset *rs, __u32 ref, struct row_keys *k)
{
	struct tw_pack_keys pk;

	if (ref < rs->nown) {
		row_keys(&rs->rows[ref], k);
		return;
	}
	pack_keys(rs->pack, ref - rs->nown, &pk);
	k->offcpu = pk.offcpu_ns;
	k->oncpu = pk.oncpu_ns;
	k->tid = pk.tid;
	k->seq = pk.seq;
	k->comm = pk.comm;
	k->pattern = NULL; /* made when sorting by comm only */
}

static int cmp_refs_offcpu(const void *a, const void *b, void *ctx)
{
	struct row_keys x, y;

	ref_keys(ctx, *(const __u32 *)a, &x);
	ref_keys(ctx, *(const __u32 *)b, &y);
	return cmp_keys_offcpu(&x, &y);
}

static int cmp_refs_comm(const void *a, const void *b, void *ctx)
{
	struct row_keys x, y;

	ref_keys(ctx, *(const __u32 *)a, &x);
	ref_keys(ctx, *(const __u32 *)b, &y);
	if (!x.pattern) {
		comm_fold_key(x.comm, x.key);
		x.pattern = x.key;
	}
	if (!y.pattern) {
		comm_fold_key(y.comm, y.key);
		y.pattern = y.key;
	}
	return cmp_keys_comm(&x, &y);
}

const struct tw_row *view_row(const struct tw_view *v, const struct tw_proc_view *pv, size_t i)
{
	const struct rowset rs = {
		.rows = pv->rows, .nown = pv->nown, .pack = pv->p->pack, .s = v->scratch
	};

	return pv->order ? ref_row(&rs, pv->order[i]) : &pv->rows[i];
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

/*
 * Fold rows sharing a fold key (pattern) into one group row each, refs sorted
 * by cmp_refs_comm; the groups in *out (by pattern: their seq), *nout of them.
 */
static int fold_refs(const struct rowset *rs, const __u32 *refs, size_t n, struct tw_row **out,
		     size_t *nout)
{
	size_t i = 0, ng = 0, cap = 0;
	struct tw_row *gs = NULL;
	int err = 0;

	while (i < n && !err) {
		struct tw_thread_totals sum, one;
		char prev[TASK_COMM_LEN];
		struct tw_row g;
		size_t j;

		if (ng == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct tw_row *nv = realloc(gs, ncap * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			gs = nv;
			cap = ncap;
		}
		memset(&sum, 0, sizeof(sum));
		g = *ref_row(rs, refs[i]);
		g.tid = 0;
		g.nthreads = 0;
		g.nnames = 0;
		g.alive = false;
		g.borrowed = false;
		g.seq = ng;
		g.py_name = NULL;
		memset(&g.t, 0, sizeof(g.t));
		comm_fold_key(g.comm, g.pattern);
		for (j = i; j < n; j++) {
			const struct tw_row *r = ref_row(rs, refs[j]);
			char key[TASK_COMM_LEN + 2];

			comm_fold_key(r->comm, key);
			if (strcmp(key, g.pattern) != 0)
				break;
			if (j == i || strncmp(r->comm, prev, TASK_COMM_LEN) != 0)
				g.nnames++;
			memcpy(prev, r->comm, TASK_COMM_LEN);
			rec_expand(&r->t, &one);
			thread_totals_add(&sum, &one);
			if (!err)
				err = calls_add(&g.t.calls, &r->t.calls);
			g.nthreads++;
			g.alive |= r->alive;
		}
		if (g.nnames < 2)
			g.pattern[0] = 0; /* one name: it is shown as it is */
		if (!err)
			err = rec_store(&g.t, &sum);
		if (err)
			rec_free(&g.t);
		else
			gs[ng++] = g;
		i = j;
	}
	if (err) {
		for (size_t k = 0; k < ng; k++)
			rec_free(&gs[k].t);
		free(gs);
		return err;
	}
	*out = gs;
	*nout = ng;
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
	int c = cmp_u64(x->tid, y->tid);

	return c ? c : cmp_u64(x->seq, y->seq);
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

/* The Python thread name a row shows: the model's, where it says more than comm. */
static const char *py_name_of(const struct tw_thread *t)
{
	return name_unless_comm(t->py_name, t->comm);
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
	b->py_name = py_name_of(t);
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
/* A thread's loop, as the report shows it (counted only if it did something in its span). */
static void add_loop(struct tw_proc_view *pv, const struct tw_loop *l, __u32 tid, const char *comm,
		     const char *py_name, bool alive, __u64 seq, const struct tw_view_opts *o)
{
	struct tw_loop_view *lv = &pv->loops[pv->nloops];
	size_t from = o->final ? 0 : l->stalls_mark;

	lv->tid = tid;
	lv->py_name = py_name;
	memcpy(lv->comm, comm, TASK_COMM_LEN);
	lv->alive = alive;
	lv->seq = seq;
	if (o->final)
		lv->lt = l->tot;
	else
		loop_totals_sub(&lv->lt, &l->tot, &l->mark);
	lv->stalls = l->stalls ? l->stalls + from : NULL;
	lv->nstalls = l->nstalls - from;
	lv->ongoing = alive && l->stalled_now ? &l->ongoing : NULL;
	lv->model = l;
	if (lv->lt.iterations || lv->nstalls || lv->ongoing)
		pv->nloops++;
}

static int build_loops(struct tw_proc_view *pv, const struct tw_proc *p,
		       const struct tw_view_opts *o, __u64 live_ns)
{
	const struct tw_pack *pk = o->final ? p->pack : NULL;

	pv->loops = calloc(p->nthreads + 1 + (pk ? pk->nextra : 0), sizeof(*pv->loops));
	pv->blocked = calloc(p->nthreads + 1, sizeof(*pv->blocked));
	if (!pv->loops || !pv->blocked)
		return -ENOMEM;
	for (size_t i = 0; i < nrecs(p); i++) {
		const struct tw_thread *t = rec_at(p, i);

		if (!o->final && t->marked_dead)
			continue;
		if (t->alive && t->live_state == TW_ST_BLOCKED)
			add_blocked(pv, t, o, live_ns);
		if (t->loop)
			add_loop(pv, t->loop, t->tid, t->comm, py_name_of(t), t->alive, t->seq, o);
	}
	/* the packed dead that were loops: their loop records moved into the pack as they were */
	for (size_t j = 0; pk && j < pk->nextra; j++) {
		struct tw_pack_keys k;

		if (!pk->extra[j].loop)
			continue;
		pack_keys(pk, pk->extra[j].rec, &k);
		add_loop(pv, pk->extra[j].loop, k.tid, k.comm,
			 name_unless_comm(pk->extra[j].py_name, k.comm), false, k.seq, o);
	}
	qsort(pv->loops, pv->nloops, sizeof(*pv->loops), cmp_loops);
	qsort(pv->blocked, pv->nblocked, sizeof(*pv->blocked), cmp_blocked);
	return 0;
}

/* Where view_row() unpacks, made the first time a view has packed rows. */
static struct tw_view_scratch *view_scratch(struct tw_view *v)
{
	if (!v->scratch) {
		struct tw_view_scratch *s = calloc(1, sizeof(*s));

		if (!s || unpacked_init(&s->u)) {
			free(s);
			return NULL;
		}
		v->scratch = s;
	}
	return v->scratch;
}

/*
 * The final report's packed dead threads, as rows: added into the sum, and
 * either folded by comm with the others or ordered by reference among them.
 * rows[0..n) are the view's own rows, not yet sorted.
 */
static int add_packed(struct tw_view *v, struct tw_proc_view *pv, const struct tw_proc *p,
		      const struct tw_view_opts *o, size_t *n)
{
	const struct tw_pack *pk = o->final ? p->pack : NULL;
	struct rowset rs = { .rows = pv->rows, .nown = *n, .pack = pk };
	size_t nall = *n + (pk ? pk->n : 0), ng;
	struct tw_row *groups;
	__u32 *refs;
	int err;

	rs.s = pk ? view_scratch(v) : NULL;
	refs = malloc((nall ? nall : 1) * sizeof(*refs));
	if ((pk && (!rs.s || unpacked_reserve(&rs.s->u, pk))) || !refs) {
		free(refs);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nall; i++)
		refs[i] = (__u32)i;
	for (size_t i = 0; pk && i < pk->n; i++)
		rec_add_to(&pv->sum, &unpack_row(pk, i, rs.s)->t);
	if (o->by != TW_BY_COMM) {
		qsort_r(refs, nall, sizeof(*refs), cmp_refs_offcpu, &rs);
		pv->order = refs;
		pv->nown = *n;
		*n = nall;
		return 0;
	}
	for (size_t i = 0; i < *n; i++)
		comm_fold_key(pv->rows[i].comm, pv->rows[i].pattern);
	qsort_r(refs, nall, sizeof(*refs), cmp_refs_comm, &rs);
	err = fold_refs(&rs, refs, nall, &groups, &ng);
	free(refs);
	if (err)
		return err;
	free_rows(pv->rows, *n);
	pv->rows = groups;
	*n = ng;
	if (ng)
		qsort(pv->rows, ng, sizeof(*pv->rows), cmp_rows_offcpu);
	return 0;
}

static int build_proc(struct tw_view *v, struct tw_proc_view *pv, const struct tw_proc *p,
		      const struct tw_view_opts *o, __u64 live_ns)
{
	bool packed = o->final && p->pack && p->pack->n;
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
		r->seq = t->seq;
		memcpy(r->comm, t->comm, TASK_COMM_LEN);
		r->py_name = py_name_of(t);
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
	if (!err && (packed || o->by == TW_BY_COMM))
		err = add_packed(v, pv, p, o, &n);
	else if (!err)
		qsort(pv->rows, n, sizeof(*pv->rows), cmp_rows_offcpu);
	pv->nrows = n;
	if (err)
		return err;
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
	free_rows(pv->rows, pv->order ? pv->nown : pv->nrows);
	free(pv->order);
	view_stall_stacks_free(pv); /* its loops' */
	free(pv->loops);
	free(pv->blocked);
	view_proc_stacks_free(pv);
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
		if (build_proc(v, &v->procs[n], p, o, m->live_ns)) {
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
	if (o->final && o->stacks && view_stacks(v, m)) {
		view_free(v);
		return -ENOMEM;
	}
	if (o->stacks && view_now_stacks(v, m)) {
		view_free(v);
		return -ENOMEM;
	}
	return 0;
}

void view_free(struct tw_view *v)
{
	free(v->stack_sel);
	view_stacks_free(v);
	for (size_t i = 0; i < v->nprocs; i++)
		proc_view_free(&v->procs[i]);
	free(v->procs);
	if (v->scratch)
		unpacked_free(&v->scratch->u);
	free(v->scratch);
	memset(v, 0, sizeof(*v));
}
