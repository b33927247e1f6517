// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"
#include "pack.h"

int model_init(struct tw_model *m, bool keep_marks)
{
	memset(m, 0, sizeof(*m));
	m->keep_marks = keep_marks;
	return 0;
}

void rec_add_to(struct tw_thread_totals *out, const struct tw_thread_rec *r)
{
	out->oncpu_ns += r->oncpu_ns;
	out->blocked_ns += r->blocked_ns;
	out->blocked_nosys_ns += r->blocked_nosys_ns;
	out->runq_ns += r->runq_ns;
	out->vol_switches += r->vol_switches;
	out->invol_switches += r->invol_switches;
	out->threads_created += r->threads_created;
	shist_add_to(&out->blocked, r->blocked);
	shist_add_to(&out->runq, r->runq);
}

void rec_expand(const struct tw_thread_rec *r, struct tw_thread_totals *out)
{
	memset(out, 0, sizeof(*out));
	rec_add_to(out, r);
}

int rec_store(struct tw_thread_rec *r, const struct tw_thread_totals *t)
{
	struct tw_shist *b, *q;
	int err = 0;

	b = shist_pack(&t->blocked, &err);
	q = shist_pack(&t->runq, &err);
	if (err) {
		free(b);
		free(q);
		return err;
	}
	free(r->blocked);
	free(r->runq);
	r->oncpu_ns = t->oncpu_ns;
	r->blocked_ns = t->blocked_ns;
	r->blocked_nosys_ns = t->blocked_nosys_ns;
	r->runq_ns = t->runq_ns;
	r->vol_switches = t->vol_switches;
	r->invol_switches = t->invol_switches;
	r->threads_created = t->threads_created;
	r->blocked = b;
	r->runq = q;
	return 0;
}

void thread_totals_add(struct tw_thread_totals *dst, const struct tw_thread_totals *src)
{
	dst->oncpu_ns += src->oncpu_ns;
	dst->blocked_ns += src->blocked_ns;
	dst->blocked_nosys_ns += src->blocked_nosys_ns;
	dst->runq_ns += src->runq_ns;
	dst->vol_switches += src->vol_switches;
	dst->invol_switches += src->invol_switches;
	dst->threads_created += src->threads_created;
	hist_add(&dst->blocked, &src->blocked);
	hist_add(&dst->runq, &src->runq);
}

void rec_free(struct tw_thread_rec *r)
{
	free(r->blocked);
	free(r->runq);
	calls_free(&r->calls);
	memset(r, 0, sizeof(*r));
}

static void thread_free(struct tw_thread *t)
{
	if (t->loop) {
		free(t->loop->stalls);
		gstacks_free(&t->loop->gst);
	}
	free(t->loop);
	if (t->lite)
		free(t->lite->gap);
	free(t->lite);
	rec_free(&t->tot);
	if (t->mark)
		rec_free(t->mark);
	free(t->mark);
	free(t->py_name);
	free(t);
}

static void proc_free(struct tw_proc *p)
{
	if (p->pack)
		pack_free(p->pack);
	free(p->pack);
	if (p->gone)
		thread_free(p->gone);
	free(p->ctr);
	for (size_t i = 0; i < p->nthreads; i++)
		thread_free(p->threads[i]);
	free(p->threads);
	free(p->mark);
	u32map_free(&p->tids);
	free(p);
}

void model_free(struct tw_model *m)
{
	for (size_t i = 0; i < m->nprocs; i++)
		proc_free(m->procs[i]);
	free(m->procs);
	u32map_free(&m->pids);
	stackset_free(&m->stacks);
	memset(m, 0, sizeof(*m));
}

static void set_comm(char dst[TASK_COMM_LEN], const char *src)
{
	if (!src)
		return;
	strncpy(dst, src, TASK_COMM_LEN - 1);
	dst[TASK_COMM_LEN - 1] = '\0';
}

/* Grow *arr (of pointers) to hold one more. */
static int reserve(void ***arr, size_t n, size_t *cap)
{
	void **na;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	na = realloc(*arr, ncap * sizeof(*na));
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = ncap;
	return 0;
}

struct tw_proc *model_proc(const struct tw_model *m, __u32 pid)
{
	__u32 idx;

	return u32map_get(&m->pids, pid, &idx) ? m->procs[idx] : NULL;
}

struct tw_thread *proc_thread(const struct tw_proc *p, __u32 tid)
{
	__u32 idx;

	return u32map_get(&p->tids, tid, &idx) ? p->threads[idx] : NULL;
}

struct tw_proc *model_proc_add(struct tw_model *m, __u32 pid, const char *comm)
{
	struct tw_proc *p = model_proc(m, pid);

	if (p && !p->exited)
		return p;
	if (reserve((void ***)&m->procs, m->nprocs, &m->cap))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	if (m->keep_marks && !(p->mark = calloc(1, sizeof(*p->mark)))) {
		free(p);
		return NULL;
	}
	if (u32map_put(&m->pids, pid, (__u32)m->nprocs)) {
		free(p->mark);
		free(p);
		return NULL;
	}
	p->pid = pid;
	set_comm(p->comm, comm);
	m->procs[m->nprocs++] = p;
	return p;
}

/* Records a process keeps before it first packs its dead. */
#define TW_PACK_MIN 64

/* A dead thread whose row is all that is left of it: read, harvested, no interval mark to keep. */
static bool packable(const struct tw_model *m, const struct tw_thread *t)
{
	return !t->alive && t->harvested && (!m->keep_marks || t->marked_dead);
}

/* A packed record's own memory; its loop and Python name are the pack's now. */
static void thread_free_packed(struct tw_thread *t)
{
	if (t->mark)
		rec_free(t->mark);
	free(t->mark);
	free(t->tot.blocked);
	free(t->tot.runq);
	calls_free(&t->tot.calls);
	free(t);
}

/*
 * Move p's packable records into its pack. All or nothing: on ENOMEM nothing
 * changes. Of each tid, only records older than all of its unpacked ones are
 * packed, so that proc_thread() still finds the newest record of every tid it
 * finds at all (records are in order of first sight).
 */
static int pack_proc(const struct tw_model *m, struct tw_proc *p)
{
	struct u32map kept = {}, tids = {};
	struct tw_pack_mark mk;
	size_t n = 0, npacked = 0;
	__u32 one;
	int err = 0;

	if (!p->pack && !(p->pack = calloc(1, sizeof(*p->pack))))
		return -ENOMEM;
	pack_mark(p->pack, &mk);
	for (size_t j = 0; j < p->nthreads && !err; j++) {
		struct tw_thread *t = p->threads[j];

		if (packable(m, t) && !u32map_get(&kept, t->tid, &one)) {
			err = pack_add(p->pack, t);
			t->packed = true;
			npacked++;
			continue;
		}
		err = u32map_put(&kept, t->tid, 1);
		if (!err)
			err = u32map_put(&tids, t->tid, (__u32)n++);
	}
	u32map_free(&kept);
	if (err || !npacked) {
		for (size_t j = 0; j < p->nthreads; j++)
			p->threads[j]->packed = false;
		pack_rollback(p->pack, &mk);
		u32map_free(&tids);
		return err;
	}
	n = 0;
	for (size_t j = 0; j < p->nthreads; j++) {
		struct tw_thread *t = p->threads[j];

		if (t->packed)
			thread_free_packed(t);
		else
			p->threads[n++] = t;
	}
	p->nthreads = n;
	u32map_free(&p->tids);
	p->tids = tids;
	return 0;
}

static struct tw_thread *thread_add(struct tw_model *m, struct tw_proc *p, __u32 tid)
{
	struct tw_thread *t;

	/*
	 * Pack when the records have grown by half since the last packing left
	 * them (best effort: on ENOMEM they are only kept): each record is looked
	 * at three times on average, and no more than about one and a half times
	 * the live and not yet harvested ones are ever kept unpacked.
	 */
	if (m->pack_dead && p->nthreads >= p->pack_at) {
		pack_proc(m, p);
		p->pack_at = p->nthreads +
			     (p->nthreads / 2 > TW_PACK_MIN ? p->nthreads / 2 : TW_PACK_MIN);
	}
	if (reserve((void ***)&p->threads, p->nthreads, &p->cap))
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (m->keep_marks && !(t->mark = calloc(1, sizeof(*t->mark)))) {
		free(t);
		return NULL;
	}
	if (u32map_put(&p->tids, tid, (__u32)p->nthreads)) {
		free(t->mark);
		free(t);
		return NULL;
	}
	t->tid = tid;
	t->pid = p->pid;
	t->lite_loop = m->compact_loops;
	t->seq = p->next_seq++;
	p->threads[p->nthreads++] = t;
	return t;
}

struct tw_thread *model_thread_born(struct tw_model *m, __u32 pid, __u32 tid, const char *comm)
{
	struct tw_proc *p = model_proc_add(m, pid, comm);
	struct tw_thread *t;

	if (!p)
		return NULL;
	t = proc_thread(p, tid);
	if (t && t->alive)
		return t;
	t = thread_add(m, p, tid);
	if (!t)
		return NULL;
	set_comm(t->comm, comm);
	t->alive = true;
	p->threads_now++;
	if (p->threads_now > p->threads_peak)
		p->threads_peak = p->threads_now;
	if (p->threads_now > p->interval_peak)
		p->interval_peak = p->threads_now;
	return t;
}

struct tw_thread *model_thread_died(struct tw_model *m, __u32 pid, __u32 tid, __u64 exit_ns,
				    const char *comm)
{
	struct tw_proc *p = model_proc(m, pid);
	struct tw_thread *t;

	if (!p && !(p = model_proc_add(m, pid, comm)))
		return NULL;
	t = proc_thread(p, tid);
	if (!t || t->harvested) {
		/* never seen alive: its creation predates us or its event was lost */
		t = thread_add(m, p, tid);
		if (!t)
			return NULL;
	} else if (t->alive) {
		p->threads_now--;
	} else {
		return t;
	}
	t->alive = false;
	t->exit_ns = exit_ns;
	set_comm(t->comm, comm);
	if (tid == pid)
		set_comm(p->comm, comm); /* the name after any exec */
	if (!p->threads_now && !p->exited) {
		p->exited = true;
		p->exit_ns = exit_ns;
	}
	return t;
}

struct tw_thread *model_apply_event(struct tw_model *m, const struct tw_event *e)
{
	char comm[TASK_COMM_LEN];
	struct tw_thread *t;

	memcpy(comm, e->comm, sizeof(comm));
	comm[TASK_COMM_LEN - 1] = '\0';
	switch (e->type) {
	case TW_EV_THREAD_NEW:
	case TW_EV_PROC_NEW:
		t = model_thread_born(m, e->tgid, e->tid, comm);
		break;
	case TW_EV_THREAD_EXIT:
		t = model_thread_died(m, e->tgid, e->tid, e->ts_ns, comm);
		break;
	default:
		return NULL;
	}
	if (t && !t->start_ns)
		t->start_ns = e->start_ns;
	return t;
}

/* Time in state `st` up to now: the kernel's total plus the interval still open. */
static __u64 with_open(const struct tw_thread_stats *s, __u32 st, __u64 total, __u64 now_ns)
{
	return total + (s->state == st && now_ns > s->state_ts ? now_ns - s->state_ts : 0);
}

/* The entry's counters into r; a live thread's open interval counts up to now_ns. */
static void fold_scalars(struct tw_thread_rec *r, const struct tw_thread_stats *s, __u64 now_ns)
{
	r->oncpu_ns = with_open(s, TW_ST_ONCPU, s->oncpu_ns, now_ns);
	r->blocked_ns = with_open(s, TW_ST_BLOCKED, s->blocked_ns, now_ns);
	/* the open blocked interval belongs to the syscall in flight, if any (bpf/sched.bpf.c) */
	r->blocked_nosys_ns = s->sys_cur ? s->blocked_nosys_ns
					 : with_open(s, TW_ST_BLOCKED, s->blocked_nosys_ns, now_ns);
	r->runq_ns = with_open(s, TW_ST_RUNQ, s->runq_ns, now_ns);
	r->vol_switches = s->vol_switches;
	r->invol_switches = s->invol_switches;
	r->threads_created = s->threads_created;
}

/*
 * The syscall in flight into its call's record, so that interval reports
 * split a long call across the intervals it spans: its entry-to-exit time so
 * far (timed calls; a dead thread's ended at its exit) and its sleep so far.
 */
static int fold_open_call(struct tw_thread *t, const struct tw_thread_stats *s, __u64 now_ns)
{
	__u64 until = t->alive ? now_ns : t->exit_ns, total = 0;

	if (!s->sys_cur)
		return calls_set_open(&t->tot.calls, TW_NR_NONE, 0, 0, 0);
	if (s->call && s->sys_ts && until > s->sys_ts)
		total = until - s->sys_ts;
	return calls_set_open(&t->tot.calls, s->sys_cur - 1, s->nsyscalls, total,
			      with_open(s, TW_ST_BLOCKED, s->sys_blocked_ns, now_ns));
}

int model_thread_fold(struct tw_thread *t, const struct tw_thread_stats *s, __u64 now_ns)
{
	__u64 open_until = t->alive ? now_ns : 0;
	int err;

	if (!t->start_ns)
		t->start_ns = s->start_ns;
	/*
	 * Histograms change only when an interval ends, and every interval end
	 * moves state_ts: an entry with the same state since the last refresh
	 * needs its scalars only, not two histograms packed again (the daemon
	 * refreshes 10,000 mostly idle threads a second).
	 */
	if (now_ns && t->folded && s->state == t->live_state && s->state_ts == t->live_state_ts) {
		fold_scalars(&t->tot, s, open_until);
		return fold_open_call(t, s, open_until);
	}
	/* the kernel's 32-bit counts into the record's own 64-bit ones, packed as they are */
	err = shist_fold_u32(&t->tot.blocked, s->blocked_hist, s->blocked_max_ns,
			     s->blocked_min_inv);
	if (!err)
		err = shist_fold_u32(&t->tot.runq, s->runq_hist, s->runq_max_ns, s->runq_min_inv);
	if (!err)
		fold_scalars(&t->tot, s, open_until);
	if (!err)
		err = fold_open_call(t, s, open_until);
	/* model_thread_live() records state and state_ts next, when refreshing */
	t->folded = !err && now_ns;
	return err;
}

int model_thread_call_fold(struct tw_thread *t, const struct tw_call_key *key,
			   const struct tw_call_stats *s)
{
	return calls_set(&t->tot.calls, key, s);
}

struct tw_loop *model_thread_loop(struct tw_thread *t)
{
	if (!t->loop)
		t->loop = calloc(1, sizeof(*t->loop));
	return t->loop;
}

static struct tw_loop_lite *thread_lite(struct tw_thread *t)
{
	if (!t->lite)
		t->lite = calloc(1, sizeof(*t->lite));
	return t->lite;
}

static int lite_fold(struct tw_thread *t, const struct tw_loop_stats *s)
{
	struct tw_loop_lite *l = thread_lite(t);

	if (!l)
		return -ENOMEM;
	if (l->iterations == s->iterations && l->stalls == s->stalls &&
	    l->gap_total_ns == s->gap_total_ns)
		return 0;
	l->iterations = s->iterations;
	l->stalls = s->stalls;
	l->gap_total_ns = s->gap_total_ns;
	l->gap_max_ns = s->gap_max_ns;
	return shist_fold_u32(&l->gap, s->gap_hist, s->gap_max_ns, s->gap_min_inv);
}

int model_loop_fold(struct tw_thread *t, const struct tw_loop_stats *s)
{
	struct tw_loop *l;

	if (t->lite_loop)
		return lite_fold(t, s);
	l = model_thread_loop(t);
	if (!l)
		return -ENOMEM;
	/* a gap's end counts an iteration: nothing else moves without one */
	if (l->tot.iterations == s->iterations && l->tot.stalls == s->stalls &&
	    l->tot.gap_total_ns == s->gap_total_ns)
		return 0;
	l->tot.iterations = s->iterations;
	l->tot.stalls = s->stalls;
	l->tot.gap_total_ns = s->gap_total_ns;
	l->tot.gap_max_ns = s->gap_max_ns;
	hist_fold_u32(&l->tot.gap, s->gap_hist, s->gap_max_ns, s->gap_min_inv);
	return 0;
}

int model_thread_live(struct tw_model *m, struct tw_thread *t, const struct tw_thread_stats *s,
		      __u64 now_ns)
{
	struct tw_stall *o;
	struct tw_loop *l;

	t->live_state = s->state;
	t->live_state_ts = s->state_ts;
	t->live_sys = s->sys_cur;
	t->live_att = s->att_ts && s->state_ts == s->att_ts;
	t->live_att_ts = s->att_ts;
	t->live_pre_ts = s->pre_ts;
	if (t->lite_loop) {
		struct tw_loop_lite *ll;

		if (!s->has_loop && !t->lite)
			return 0;
		ll = thread_lite(t);
		if (!ll)
			return -ENOMEM;
		ll->stalled_now = t->alive && s->gap_ts && now_ns > s->gap_ts &&
				  now_ns - s->gap_ts >= m->stall_ns;
		return 0;
	}
	if (!s->has_loop && !t->loop)
		return 0;
	l = model_thread_loop(t);
	if (!l)
		return -ENOMEM;
	l->stalled_now =
		t->alive && s->gap_ts && now_ns > s->gap_ts && now_ns - s->gap_ts >= m->stall_ns;
	if (!l->stalled_now)
		return 0;
	o = &l->ongoing;
	memset(o, 0, sizeof(*o));
	o->type = TW_EV_STALL;
	o->tid = t->tid;
	o->tgid = t->pid;
	o->start_ns = s->gap_ts;
	o->duration_ns = now_ns - s->gap_ts;
	/* the same differences the kernel takes when a stall ends (bpf/syscalls.bpf.c) */
	o->oncpu_ns = with_open(s, TW_ST_ONCPU, s->oncpu_ns, now_ns) - s->gap_oncpu;
	o->blocked_ns = with_open(s, TW_ST_BLOCKED, s->blocked_ns, now_ns) - s->gap_blocked;
	o->runq_ns = with_open(s, TW_ST_RUNQ, s->runq_ns, now_ns) - s->gap_runq;
	o->nsyscalls = s->nsyscalls - s->gap_nsys;
	o->longest_nr = s->gap_longest_nr;
	o->longest_ns = s->gap_longest_ns;
	/* the call it is in right now may be the longest */
	if (s->sys_cur && s->sys_ts && now_ns > s->sys_ts && now_ns - s->sys_ts > o->longest_ns) {
		o->longest_nr = s->sys_cur;
		o->longest_ns = now_ns - s->sys_ts;
	}
	return 0;
}

int stall_cause_index(const struct tw_stall *s)
{
	if (s->oncpu_ns >= s->blocked_ns && s->oncpu_ns >= s->runq_ns)
		return 0;
	return s->blocked_ns >= s->runq_ns ? 1 : 2;
}

int model_stall_add(struct tw_model *m, const struct tw_stall *e)
{
	struct tw_proc *p = model_proc(m, e->tgid);
	struct tw_thread *t = p ? proc_thread(p, e->tid) : NULL;
	struct tw_loop *l;

	if (p)
		p->stall_causes[stall_cause_index(e)]++;
	if (m->on_stall && p)
		m->on_stall(m->on_stall_ctx, p, t, e);
	if (!t || t->lite_loop || m->nstalls_kept >= m->max_stalls) {
		m->stalls_not_kept++;
		return 0;
	}
	l = model_thread_loop(t);
	if (!l)
		return -ENOMEM;
	if (l->nstalls == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 8;
		struct tw_stall *nv = realloc(l->stalls, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->stalls = nv;
		l->cap = ncap;
	}
	l->stalls[l->nstalls++] = *e;
	m->nstalls_kept++;
	return 0;
}

bool model_thread_owns(const struct tw_thread *t, const struct tw_thread_stats *s)
{
	return !t->start_ns || !s->start_ns || t->start_ns == s->start_ns;
}

void model_proc_fold(struct tw_proc *p, const struct tw_proc_stats *percpu, int ncpu)
{
	struct tw_proc_totals *tot = &p->tot;
	/* the per-CPU 32-bit counts add up modulo 2^32, which is all the fold needs */
	__u32 first_run[TW_HIST_SLOTS] = { 0 }, lifetime[TW_HIST_SLOTS] = { 0 };

	tot->threads_created = tot->threads_exited = tot->procs_forked = tot->fork_fail = 0;
	memset(tot->thread_fail, 0, sizeof(tot->thread_fail));
	for (int c = 0; c < ncpu; c++) {
		const struct tw_proc_stats *s = &percpu[c];

		tot->threads_created += s->threads_created;
		tot->threads_exited += s->threads_exited;
		tot->procs_forked += s->procs_forked;
		for (int i = 0; i < TW_FAIL_NR; i++)
			tot->thread_fail[i] += s->thread_fail[i];
		tot->fork_fail += s->fork_fail;
		for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
			first_run[i] += s->first_run_hist[i];
			lifetime[i] += s->lifetime_hist[i];
		}
	}
	/* no extremes in the kernel for these two: the outermost buckets' bounds */
	hist_fold_u32(&tot->first_run, first_run, 0, 0);
	hist_fold_u32(&tot->lifetime, lifetime, 0, 0);
	hist_bound_extremes(&tot->first_run);
	hist_bound_extremes(&tot->lifetime);
}

bool model_thread_blocked_now(const struct tw_thread *t, __u64 live_ns, __u64 min_ns)
{
	__u64 from = t->live_state_ts;

	if (!t->alive || t->live_state != TW_ST_BLOCKED)
		return false;
	/* the rule of view.c's add_blocked(), which lists the threads this counts */
	if (t->live_att && t->live_pre_ts && t->live_pre_ts <= t->live_att_ts)
		from = t->live_pre_ts;
	if (live_ns <= from || live_ns - from < min_ns)
		return false;
	return !(t->live_sys && TW_CALL_IS_WAIT(call_of(t->live_sys - 1)));
}

int model_mark(struct tw_model *m)
{
	if (!m->keep_marks)
		return -EINVAL;
	for (size_t i = 0; i < m->nprocs; i++) {
		struct tw_proc *p = m->procs[i];

		*p->mark = p->tot;
		p->interval_peak = p->threads_now;
		for (size_t j = 0; j < p->nthreads; j++) {
			struct tw_thread *t = p->threads[j];
			struct tw_thread_totals tot;

			if (t->marked_dead)
				continue;
			if (!t->alive && t->harvested) {
				/* its last numbers were in this interval: it needs no mark again */
				rec_free(t->mark);
				t->marked_dead = true;
				continue;
			}
			rec_expand(&t->tot, &tot);
			if (rec_store(t->mark, &tot) || calls_copy(&t->mark->calls, &t->tot.calls))
				return -ENOMEM;
			if (t->loop) {
				t->loop->mark = t->loop->tot;
				t->loop->stalls_mark = t->loop->nstalls;
			}
		}
	}
	memcpy(m->drops_mark, m->drops, sizeof(m->drops));
	return 0;
}

/* Add a dead thread's totals, calls and loop counters into the process's "gone" record. */
static int fold_gone(struct tw_model *m, struct tw_proc *p, struct tw_thread *t)
{
	struct tw_thread *g = p->gone;

	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		g->pid = p->pid;
		g->harvested = true;
		g->lite_loop = m->compact_loops;
		snprintf(g->comm, sizeof(g->comm), "(exited)");
		p->gone = g;
	}
	/* packed into packed: no histogram of 146 buckets expanded per dead thread */
	g->tot.oncpu_ns += t->tot.oncpu_ns;
	g->tot.blocked_ns += t->tot.blocked_ns;
	g->tot.blocked_nosys_ns += t->tot.blocked_nosys_ns;
	g->tot.runq_ns += t->tot.runq_ns;
	g->tot.vol_switches += t->tot.vol_switches;
	g->tot.invol_switches += t->tot.invol_switches;
	g->tot.threads_created += t->tot.threads_created;
	if (shist_merge(&g->tot.blocked, t->tot.blocked) ||
	    shist_merge(&g->tot.runq, t->tot.runq) || calls_add(&g->tot.calls, &t->tot.calls))
		return -ENOMEM;
	if (t->loop) {
		struct tw_loop *l = model_thread_loop(g);

		if (!l)
			return -ENOMEM;
		l->tot.iterations += t->loop->tot.iterations;
		l->tot.stalls += t->loop->tot.stalls;
		l->tot.gap_total_ns += t->loop->tot.gap_total_ns;
		if (t->loop->tot.gap_max_ns > l->tot.gap_max_ns)
			l->tot.gap_max_ns = t->loop->tot.gap_max_ns;
		hist_add(&l->tot.gap, &t->loop->tot.gap);
	}
	if (t->lite) {
		struct tw_loop_lite *l = thread_lite(g);

		if (!l)
			return -ENOMEM;
		l->iterations += t->lite->iterations;
		l->stalls += t->lite->stalls;
		l->gap_total_ns += t->lite->gap_total_ns;
		if (t->lite->gap_max_ns > l->gap_max_ns)
			l->gap_max_ns = t->lite->gap_max_ns;
		if (shist_merge(&l->gap, t->lite->gap))
			return -ENOMEM;
	}
	return 0;
}

static int rebuild_tids(struct tw_proc *p)
{
	u32map_free(&p->tids);
	for (size_t i = 0; i < p->nthreads; i++)
		if (u32map_put(&p->tids, p->threads[i]->tid, (__u32)i))
			return -ENOMEM;
	return 0;
}

/* The packed dead, into the "gone" record too: they are harvested dead threads like the rest. */
static int fold_gone_packed(struct tw_model *m, struct tw_proc *p)
{
	struct tw_unpacked u;
	int err;

	if (!p->pack || !p->pack->n)
		return 0;
	err = unpacked_init(&u);
	if (!err)
		err = unpacked_reserve(&u, p->pack);
	for (size_t i = 0; !err && i < p->pack->n; i++) {
		struct tw_thread t = { .pid = p->pid, .harvested = true };

		pack_get(p->pack, i, &u);
		t.tid = u.tid;
		t.tot = u.rec;
		t.loop = u.loop;
		err = fold_gone(m, p, &t);
	}
	unpacked_free(&u);
	if (!err)
		pack_free(p->pack);
	return err;
}

int model_prune(struct tw_model *m, __u64 now_ns, __u64 keep_exited_ns)
{
	size_t out = 0;

	for (size_t i = 0; i < m->nprocs; i++) {
		struct tw_proc *p = m->procs[i];
		size_t n = 0;
		bool changed = false;

		if (p->exited && p->harvested && now_ns > p->exit_ns &&
		    now_ns - p->exit_ns >= keep_exited_ns) {
			proc_free(p);
			continue;
		}
		if (fold_gone_packed(m, p))
			return -ENOMEM;
		for (size_t j = 0; j < p->nthreads; j++) {
			struct tw_thread *t = p->threads[j];

			if (t->alive || !t->harvested) {
				p->threads[n++] = t;
				continue;
			}
			if (fold_gone(m, p, t))
				return -ENOMEM;
			thread_free(t);
			changed = true;
		}
		p->nthreads = n;
		if (changed && rebuild_tids(p))
			return -ENOMEM;
		m->procs[out++] = p;
	}
	if (out != m->nprocs) {
		m->nprocs = out;
		u32map_free(&m->pids);
		for (size_t i = 0; i < m->nprocs; i++)
			if (u32map_put(&m->pids, m->procs[i]->pid, (__u32)i))
				return -ENOMEM;
	}
	return 0;
}
