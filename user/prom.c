// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Prometheus text exposition (format 0.0.4) of a view. Processes are added
 * into groups (--by), the top-K groups get series of their own and the rest
 * are added into one "other" group, so the series count is bounded whatever
 * runs on the node. The metric names and labels are docs/metrics.md's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cgroup.h"
#include "json.h"
#include "prom.h"
#include "report.h"

/*
 * Histogram bounds: 2^10, 2^13, ... 2^37 ns (1 us to 137 s), then +Inf, each
 * an exact sum of the kernel's schema-2 buckets, which end on every power of two.
 */
#define PROM_LE_FIRST 10
#define PROM_LE_STEP 3
#define PROM_LE_N 10

/*
 * Calls with series of their own per group, most time first; the group's
 * other calls are added into call="other". Failures by errno likewise: the
 * most frequent few, then errno="other". docs/metrics.md counts the series.
 */
#define PROM_TOP_CALLS 16
#define PROM_TOP_ERRNOS 3

struct gcall {
	struct tw_call_rec r; /* its counters and errnos (r.hist unused) */
	struct tw_hist h;
	__u64 time_ns; /* each record's call_time_ns(), added up */
	bool other; /* the calls past the top PROM_TOP_CALLS */
};

/* A group's calls by syscall number: at[nr] is 1 + the index in v, 0 if absent. */
struct gcalls {
	struct gcall *v;
	__u32 n, cap;
	__u16 at[TW_SYSCALL_NR_MAX];
};

struct pgroup {
	const struct tw_proc *p; /* the first process of the group: its labels */
	const char *key; /* what the group is keyed by (not owned) */
	bool other;
	__u64 nprocs;
	__u64 threads, peak, created, exited, fail[TW_FAIL_NR], forked, fork_fail;
	__u64 oncpu_ns, blocked_ns, runq_ns, blocked_now;
	__u64 blocked_nosys_ns;
	__u64 loops, stalled_now, stalls, stall_causes[3];
	__u64 gap_count, gap_sum;
	struct tw_hist blocked, runq, gap;
	struct gcalls *calls; /* allocated when the group has calls */
	char *labels; /* its labels as every series carries them, escaped (owned) */
	size_t nlabels;
};

static const char *const cause_names[3] = { "oncpu", "blocked", "runq" };

void prom_label_value(FILE *f, const char *s, size_t maxlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strnlen(s, maxlen);

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(u + i, len - i);

		if (!n) {
			fputs("\xef\xbf\xbd", f); /* U+FFFD for a byte that is not UTF-8 */
			i++;
			continue;
		}
		if (u[i] == '\\')
			fputs("\\\\", f);
		else if (u[i] == '"')
			fputs("\\\"", f);
		else if (u[i] == '\n')
			fputs("\\n", f);
		else
			fwrite(u + i, 1, n, f);
		i += n;
	}
}

static const struct tw_container *ctr_of(const struct tw_proc *p)
{
	return p && p->ctr && (p->ctr->container_id[0] || p->ctr->pod_uid[0]) ? p->ctr : NULL;
}

static const char *group_key(const struct tw_proc *p, enum tw_prom_by by, char *buf, size_t len)
{
	const struct tw_container *c = ctr_of(p);

	switch (by) {
	case TW_PROM_COMM:
		snprintf(buf, len, "%.*s", TASK_COMM_LEN, p->comm);
		return buf;
	case TW_PROM_CONTAINER:
		if (!c)
			return "host";
		return c->container_id[0] ? c->container_id : c->pod_uid;
	case TW_PROM_CGROUP:
		return p->ctr ? p->ctr->cgroup : "";
	case TW_PROM_PROCESS:
	default:
		snprintf(buf, len, "%u", p->pid);
		return buf;
	}
}

const char *prom_group_key(const struct tw_proc *p, enum tw_prom_by by, char *buf, size_t len)
{
	return group_key(p, by, buf, len);
}

static void label(FILE *f, bool *first, const char *name, const char *value, size_t maxlen)
{
	if (!value || !value[0])
		return;
	fprintf(f, "%s%s=\"", *first ? "" : ",", name);
	prom_label_value(f, value, maxlen);
	fputc('"', f);
	*first = false;
}

/* The group's labels, without braces; *first tells whether any was written. */
static void group_labels(FILE *f, const struct pgroup *g, enum tw_prom_by by, bool *first)
{
	const struct tw_container *c = g->other ? NULL : ctr_of(g->p);
	char pid[16];

	if (g->other) {
		switch (by) {
		case TW_PROM_PROCESS:
			label(f, first, "pid", "other", 8);
			label(f, first, "comm", "other", 8);
			break;
		case TW_PROM_COMM:
			label(f, first, "comm", "other", 8);
			break;
		case TW_PROM_CONTAINER:
			label(f, first, "container_id", "other", 8);
			break;
		case TW_PROM_CGROUP:
			label(f, first, "cgroup", "other", 8);
			break;
		}
		return;
	}
	switch (by) {
	case TW_PROM_PROCESS:
		snprintf(pid, sizeof(pid), "%u", g->p->pid);
		label(f, first, "pid", pid, sizeof(pid));
		label(f, first, "comm", g->p->comm, TASK_COMM_LEN);
		break;
	case TW_PROM_COMM:
		label(f, first, "comm", g->p->comm, TASK_COMM_LEN);
		return;
	case TW_PROM_CGROUP:
		label(f, first, "cgroup", g->key, 512);
		return;
	case TW_PROM_CONTAINER:
		if (!c)
			label(f, first, "container_id", "host", 8);
		break;
	}
	if (!c)
		return;
	label(f, first, "container_id", c->container_id, TW_ID_LEN);
	label(f, first, "pod_uid", c->pod_uid, TW_UID_LEN);
	label(f, first, "pod", c->pod, TW_NAME_LEN);
	label(f, first, "namespace", c->namespace, TW_NAME_LEN);
	label(f, first, "container", c->container, TW_NAME_LEN);
}

static void gcalls_free(struct gcalls *gc)
{
	if (gc)
		free(gc->v);
	free(gc);
}

/* The group's entry for syscall nr, added if absent; NULL when out of memory. */
static struct gcall *gcall_get(struct gcalls *gc, __u32 nr)
{
	if (nr >= TW_SYSCALL_NR_MAX)
		nr = 0;
	if (!gc->at[nr]) {
		if (gc->n == gc->cap) {
			__u32 ncap = gc->cap ? gc->cap * 2 : 16;
			struct gcall *nv = realloc(gc->v, ncap * sizeof(*nv));

			if (!nv)
				return NULL;
			gc->v = nv;
			gc->cap = ncap;
		}
		memset(&gc->v[gc->n], 0, sizeof(gc->v[0]));
		gc->v[gc->n].r.nr = nr;
		gc->at[nr] = (__u16)++gc->n;
	}
	return &gc->v[gc->at[nr] - 1];
}

/* c's counters += r's (r.hist is not read) */
static void gcall_add(struct gcall *c, const struct tw_call_rec *r)
{
	c->r.count += r->count;
	c->r.errors += r->errors;
	c->r.wouldblock += r->wouldblock;
	c->r.timedout += r->timedout;
	c->r.interrupted += r->interrupted;
	c->r.total_ns += r->total_ns;
	c->r.blocked_ns += r->blocked_ns;
	errnos_merge(&c->r, r, false);
}

static int cmp_gcall(const void *a, const void *b)
{
	const struct gcall *x = a, *y = b;

	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? 1 : -1;
	return (x->r.nr > y->r.nr) - (x->r.nr < y->r.nr);
}

/* Most time first, and the calls past PROM_TOP_CALLS added into one "other" (at[] is stale). */
static void gcalls_cut(struct gcalls *gc)
{
	struct gcall *o;

	if (!gc)
		return;
	qsort(gc->v, gc->n, sizeof(gc->v[0]), cmp_gcall);
	if (gc->n <= PROM_TOP_CALLS + 1)
		return;
	o = &gc->v[PROM_TOP_CALLS];
	o->other = true;
	for (__u32 i = PROM_TOP_CALLS + 1; i < gc->n; i++) {
		gcall_add(o, &gc->v[i].r);
		o->time_ns += gc->v[i].time_ns;
		hist_add(&o->h, &gc->v[i].h);
	}
	gc->n = PROM_TOP_CALLS + 1;
}

/* call="NAME" (or "other") for the group's c-th call, in buf */
static void call_label(char *buf, size_t len, const struct gcalls *gc, __u32 c)
{
	char nb[24];

	snprintf(buf, len, "call=\"%s\"", gc->v[c].other ? "other" : nr_name(gc->v[c].r.nr, nb));
}

static void add_calls(struct pgroup *g, const struct tw_calls *c)
{
	for (__u32 i = 0; i < c->n; i++) {
		struct gcall *gc;

		if (!g->calls && !(g->calls = calloc(1, sizeof(*g->calls))))
			return; /* out of memory: the group shows no calls this time */
		gc = gcall_get(g->calls, c->v[i].nr);
		if (!gc)
			return;
		gcall_add(gc, &c->v[i]);
		gc->time_ns += call_time_ns(&c->v[i]);
		shist_add_counts(&gc->h, c->v[i].hist);
	}
}

/* A process's thread records, and last its pruned dead folded into one. */
static size_t nrecs(const struct tw_proc *p)
{
	return p->nthreads + (p->gone ? 1 : 0);
}

static const struct tw_thread *rec_at(const struct tw_proc *p, size_t i)
{
	return i < p->nthreads ? p->threads[i] : p->gone;
}

/* Its threads' blocked and run-queue time: how --top-by offcpu ranks. */
static __u64 proc_offcpu(const struct tw_proc *p)
{
	__u64 ns = 0;

	for (size_t i = 0; i < nrecs(p); i++)
		ns += rec_at(p, i)->tot.blocked_ns + rec_at(p, i)->tot.runq_ns;
	return ns;
}

/*
 * g += one process: its counters, and its thread records added straight from
 * the model (the histograms as they are packed, no copy of any record).
 */
static void add_proc(struct pgroup *g, const struct tw_proc *p, const struct tw_prom_opts *o,
		     __u64 live_ns)
{
	const struct tw_proc_totals *pt = &p->tot;

	g->nprocs++;
	g->threads += p->threads_now;
	g->peak += p->threads_peak;
	g->created += pt->threads_created;
	g->exited += pt->threads_exited;
	for (int i = 0; i < TW_FAIL_NR; i++)
		g->fail[i] += pt->thread_fail[i];
	g->forked += pt->procs_forked;
	g->fork_fail += pt->fork_fail;
	for (int i = 0; i < 3; i++)
		g->stall_causes[i] += p->stall_causes[i];
	for (size_t i = 0; i < nrecs(p); i++) {
		const struct tw_thread *t = rec_at(p, i);
		const struct tw_loop *l = t->loop;

		g->oncpu_ns += t->tot.oncpu_ns;
		g->blocked_ns += t->tot.blocked_ns;
		g->blocked_nosys_ns += t->tot.blocked_nosys_ns;
		g->runq_ns += t->tot.runq_ns;
		shist_add_counts(&g->blocked, t->tot.blocked);
		shist_add_counts(&g->runq, t->tot.runq);
		g->blocked_now += model_thread_blocked_now(t, live_ns, o->blocked_ns);
		add_calls(g, &t->tot.calls);
		if (l) {
			bool ongoing = t->alive && l->stalled_now;

			/* a loop that has done something: as the CLI's reports list them */
			if (!l->tot.iterations && !l->nstalls && !ongoing)
				continue;
			g->loops += t->alive;
			g->stalled_now += ongoing;
			g->stalls += l->tot.stalls;
			g->gap_count += l->tot.iterations;
			g->gap_sum += l->tot.gap_total_ns;
			hist_add(&g->gap, &l->tot.gap);
		} else if (t->lite) {
			bool ongoing = t->alive && t->lite->stalled_now;

			if (!t->lite->iterations && !ongoing)
				continue;
			g->loops += t->alive;
			g->stalled_now += ongoing;
			g->stalls += t->lite->stalls;
			g->gap_count += t->lite->iterations;
			g->gap_sum += t->lite->gap_total_ns;
			shist_add_counts(&g->gap, t->lite->gap);
		}
	}
}

struct keyed {
	const struct tw_proc *p;
	const char *key;
	size_t group; /* index in the groups, then the slot of its series */
};

/* By key; within a key the live record first: its labels are the group's. */
static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	c = (int)x->p->exited - (int)y->p->exited;
	return c ? c : (x->p->pid > y->p->pid) - (x->p->pid < y->p->pid);
}

/* A group as far as ranking it needs. */
struct grank {
	const char *key;
	const struct tw_proc *p; /* its first process (cmp_keyed order): its labels */
	__u64 threads, offcpu;
	size_t id; /* its index before ranking */
};

static int cmp_u64(__u64 x, __u64 y)
{
	return (x < y) - (x > y); /* descending */
}

static int cmp_granks(const void *a, const void *b, void *arg)
{
	const struct grank *x = a, *y = b;
	enum tw_prom_rank rank = *(const enum tw_prom_rank *)arg;
	int c;

	if (rank == TW_RANK_OFFCPU) {
		c = cmp_u64(x->offcpu, y->offcpu);
		if (!c)
			c = cmp_u64(x->threads, y->threads);
	} else {
		c = cmp_u64(x->threads, y->threads);
		if (!c)
			c = cmp_u64(x->offcpu, y->offcpu);
	}
	if (!c)
		c = strcmp(x->key, y->key);
	return c;
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{group labels[,extra]} */
static void series(FILE *f, const char *name, const struct pgroup *g, const char *extra)
{
	fputs(name, f);
	fputc('{', f);
	fwrite(g->labels, 1, g->nlabels, f);
	if (extra && extra[0]) {
		if (g->nlabels)
			fputc(',', f);
		fputs(extra, f);
	}
	fputc('}', f);
}

static void hist_series(FILE *f, const char *name, const struct pgroup *g, const char *extra,
			const struct tw_hist *h, __u64 sum_ns, __u64 count)
{
	char buf[160], lab[256];
	__u64 cum = 0;
	unsigned int slot = 0;

	for (int k = 0; k < PROM_LE_N; k++) {
		unsigned int bound = PROM_LE_FIRST + k * PROM_LE_STEP; /* values <= 2^bound ns */
		/* the fine buckets nest: slot 4 (bound - LO) is the last to end at or below 2^bound */
		unsigned int end = TW_HIST_PER_POW2 * (bound - TW_HIST_LO_SHIFT) + 1;

		for (; slot < end && slot < TW_HIST_SLOTS; slot++)
			cum += h->slot[slot];
		snprintf(lab, sizeof(lab), "%s%sle=\"%.12g\"", extra ? extra : "",
			 extra && extra[0] ? "," : "", (double)(1ULL << bound) / 1e9);
		snprintf(buf, sizeof(buf), "%s_bucket", name);
		series(f, buf, g, lab);
		fprintf(f, " %llu\n", (unsigned long long)cum);
	}
	snprintf(lab, sizeof(lab), "%s%sle=\"+Inf\"", extra ? extra : "",
		 extra && extra[0] ? "," : "");
	snprintf(buf, sizeof(buf), "%s_bucket", name);
	series(f, buf, g, lab);
	fprintf(f, " %llu\n", (unsigned long long)count);
	snprintf(buf, sizeof(buf), "%s_sum", name);
	series(f, buf, g, extra);
	fprintf(f, " %.9f\n", sum_ns / 1e9);
	snprintf(buf, sizeof(buf), "%s_count", name);
	series(f, buf, g, extra);
	fprintf(f, " %llu\n", (unsigned long long)count);
}

#define EACH_GROUP(i) for (size_t(i) = 0; (i) < ng; (i)++)

static void write_groups(FILE *f, struct pgroup *gs, size_t ng, bool calls)
{
	char extra[64];

	EACH_GROUP(i)
	gcalls_cut(gs[i].calls);

#define GAUGE_OR_COUNTER(name, type, help, field)                               \
	do {                                                                    \
		header(f, name, type, help);                                    \
		EACH_GROUP(i)                                                   \
		{                                                               \
			series(f, name, &gs[i], NULL);                          \
			fprintf(f, " %llu\n", (unsigned long long)gs[i].field); \
		}                                                               \
	} while (0)

	GAUGE_OR_COUNTER("threadwatch_threads", "gauge", "Threads alive.", threads);
	GAUGE_OR_COUNTER("threadwatch_threads_peak", "gauge",
			 "Most threads alive at once since the daemon started watching.", peak);
	GAUGE_OR_COUNTER("threadwatch_threads_created_total", "counter",
			 "Threads created (clone with CLONE_THREAD).", created);
	GAUGE_OR_COUNTER("threadwatch_threads_exited_total", "counter",
			 "Threads other than main threads that exited.", exited);
	header(f, "threadwatch_thread_create_failures_total", "counter",
	       "Failed thread creations by errno (EAGAIN: thread exhaustion).");
	EACH_GROUP(i)
	{
		for (int e = 0; e < TW_FAIL_NR; e++) {
			snprintf(extra, sizeof(extra), "errno=\"%s\"", tw_fail_names[e]);
			series(f, "threadwatch_thread_create_failures_total", &gs[i], extra);
			fprintf(f, " %llu\n", (unsigned long long)gs[i].fail[e]);
		}
	}
	GAUGE_OR_COUNTER("threadwatch_processes_forked_total", "counter",
			 "Child processes created.", forked);
	GAUGE_OR_COUNTER("threadwatch_fork_failures_total", "counter",
			 "Failed child process creations.", fork_fail);
	header(f, "threadwatch_oncpu_seconds_total", "counter", "Time on a CPU.");
	EACH_GROUP(i)
	{
		series(f, "threadwatch_oncpu_seconds_total", &gs[i], NULL);
		fprintf(f, " %.9f\n", gs[i].oncpu_ns / 1e9);
	}
	header(f, "threadwatch_offcpu_blocked_seconds", "histogram",
	       "Intervals a thread slept until woken (_sum includes intervals still open).");
	EACH_GROUP(i)
	hist_series(f, "threadwatch_offcpu_blocked_seconds", &gs[i], NULL, &gs[i].blocked,
		    gs[i].blocked_ns, hist_count(&gs[i].blocked));
	header(f, "threadwatch_offcpu_runq_seconds", "histogram",
	       "Intervals a thread was runnable but waited for a CPU (_sum includes intervals "
	       "still open).");
	EACH_GROUP(i)
	hist_series(f, "threadwatch_offcpu_runq_seconds", &gs[i], NULL, &gs[i].runq, gs[i].runq_ns,
		    hist_count(&gs[i].runq));
	GAUGE_OR_COUNTER("threadwatch_threads_blocked_now", "gauge",
			 "Threads asleep right now for --blocked-ms or more.", blocked_now);
	header(f, "threadwatch_syscall_seconds", "histogram",
	       "Syscalls by call (with --syscalls): entry to exit for the timed calls, time "
	       "asleep for any other call that slept.");
	EACH_GROUP(i)
	{
		for (__u32 c = 0; gs[i].calls && c < gs[i].calls->n; c++) {
			const struct gcall *gc = &gs[i].calls->v[c];

			call_label(extra, sizeof(extra), gs[i].calls, c);
			hist_series(f, "threadwatch_syscall_seconds", &gs[i], extra, &gc->h,
				    gc->time_ns, gc->r.count);
		}
	}
	header(f, "threadwatch_syscall_blocked_seconds_total", "counter",
	       "Time asleep inside syscalls, by call (a thread's blocked time is this plus "
	       "threadwatch_blocked_outside_syscalls_seconds_total).");
	EACH_GROUP(i)
	{
		for (__u32 c = 0; gs[i].calls && c < gs[i].calls->n; c++) {
			call_label(extra, sizeof(extra), gs[i].calls, c);
			series(f, "threadwatch_syscall_blocked_seconds_total", &gs[i], extra);
			fprintf(f, " %.9f\n", gs[i].calls->v[c].r.blocked_ns / 1e9);
		}
	}
	header(f, "threadwatch_blocked_outside_syscalls_seconds_total", "counter",
	       "Time asleep outside any syscall: page faults, signal stops (with --syscalls).");
	EACH_GROUP(i)
	{
		if (!calls)
			break;
		series(f, "threadwatch_blocked_outside_syscalls_seconds_total", &gs[i], NULL);
		fprintf(f, " %.9f\n", gs[i].blocked_nosys_ns / 1e9);
	}
	header(f, "threadwatch_syscall_errors_total", "counter",
	       "Syscalls that failed, by call and errno (not would-block results, timeouts of "
	       "timed waits or interruptions by a signal).");
	EACH_GROUP(i)
	{
		for (__u32 c = 0; gs[i].calls && c < gs[i].calls->n; c++) {
			const struct tw_call_rec *r = &gs[i].calls->v[c].r;
			char lab[128], ebuf[16];
			__u64 shown = 0;

			call_label(extra, sizeof(extra), gs[i].calls, c);
			for (__u32 k = 0; k < r->nerrnos && k < PROM_TOP_ERRNOS; k++) {
				snprintf(lab, sizeof(lab), "%s,errno=\"%s\"", extra,
					 errno_name(r->errnos[k].e, ebuf));
				series(f, "threadwatch_syscall_errors_total", &gs[i], lab);
				fprintf(f, " %llu\n", (unsigned long long)r->errnos[k].n);
				shown += r->errnos[k].n;
			}
			if (r->errors > shown) {
				snprintf(lab, sizeof(lab), "%s,errno=\"other\"", extra);
				series(f, "threadwatch_syscall_errors_total", &gs[i], lab);
				fprintf(f, " %llu\n", (unsigned long long)(r->errors - shown));
			}
		}
	}
	header(f, "threadwatch_syscall_results_total", "counter",
	       "Syscall error returns that are not failures, by call and result: wouldblock "
	       "(EAGAIN, EINPROGRESS, EALREADY), timedout (a timed wait's ETIMEDOUT), "
	       "interrupted (EINTR, or restarted after a signal).");
	EACH_GROUP(i)
	{
		for (__u32 c = 0; gs[i].calls && c < gs[i].calls->n; c++) {
			const struct tw_call_rec *r = &gs[i].calls->v[c].r;
			const __u64 vals[3] = { r->wouldblock, r->timedout, r->interrupted };
			static const char *const results[3] = { "wouldblock", "timedout",
								"interrupted" };
			char lab[128];

			call_label(extra, sizeof(extra), gs[i].calls, c);
			for (int k = 0; k < 3; k++) {
				snprintf(lab, sizeof(lab), "%s,result=\"%s\"", extra, results[k]);
				series(f, "threadwatch_syscall_results_total", &gs[i], lab);
				fprintf(f, " %llu\n", (unsigned long long)vals[k]);
			}
		}
	}
	GAUGE_OR_COUNTER("threadwatch_loops", "gauge",
			 "Event-loop threads alive (threads that keep returning to a wait).",
			 loops);
	header(f, "threadwatch_loop_gap_seconds", "histogram",
	       "Event-loop gaps: from a wait's return to the next wait's entry.");
	EACH_GROUP(i)
	{
		if (gs[i].gap_count)
			hist_series(f, "threadwatch_loop_gap_seconds", &gs[i], NULL, &gs[i].gap,
				    gs[i].gap_sum, gs[i].gap_count);
	}
	header(f, "threadwatch_loop_stalls_total", "counter",
	       "Loop gaps of --stall-ms or more, by their largest part (unknown: event lost).");
	EACH_GROUP(i)
	{
		__u64 known = 0;

		if (!gs[i].stalls && !gs[i].loops)
			continue;
		for (int c = 0; c < 3; c++) {
			known += gs[i].stall_causes[c];
			snprintf(extra, sizeof(extra), "cause=\"%s\"", cause_names[c]);
			series(f, "threadwatch_loop_stalls_total", &gs[i], extra);
			fprintf(f, " %llu\n", (unsigned long long)gs[i].stall_causes[c]);
		}
		series(f, "threadwatch_loop_stalls_total", &gs[i], "cause=\"unknown\"");
		fprintf(f, " %llu\n",
			(unsigned long long)(gs[i].stalls > known ? gs[i].stalls - known : 0));
	}
	GAUGE_OR_COUNTER("threadwatch_loops_stalled_now", "gauge",
			 "Loops inside a stall right now.", stalled_now);
#undef GAUGE_OR_COUNTER
}

static void write_agent(FILE *f, const struct tw_model *m, const struct tw_agent_stats *a,
			size_t nother, __u64 nthreads)
{
	header(f, "threadwatch_build_info", "gauge", "Always 1; the version in a label.");
	fprintf(f, "threadwatch_build_info{version=\"");
	prom_label_value(f, a->version, 64);
	fprintf(f, "\"} 1\n");
	header(f, "threadwatch_agent_lost_total", "counter",
	       "What could not be recorded, by the names of \"lost\" in docs/json.md.");
	for (int i = 0; i < TW_DROP_NR; i++)
		fprintf(f, "threadwatch_agent_lost_total{what=\"%s\"} %llu\n", tw_drop_names[i],
			(unsigned long long)m->drops[i]);
	if (a->progs) {
		header(f, "threadwatch_agent_bpf_run_seconds_total", "counter",
		       "Run time of each BPF program (kernel BPF statistics).");
		for (size_t i = 0; i < a->nprogs; i++) {
			fprintf(f, "threadwatch_agent_bpf_run_seconds_total{program=\"");
			prom_label_value(f, a->progs[i].name, sizeof(a->progs[i].name));
			fprintf(f, "\"} %.9f\n", a->progs[i].run_ns / 1e9);
		}
		header(f, "threadwatch_agent_bpf_runs_total", "counter",
		       "Runs of each BPF program (kernel BPF statistics).");
		for (size_t i = 0; i < a->nprogs; i++) {
			fprintf(f, "threadwatch_agent_bpf_runs_total{program=\"");
			prom_label_value(f, a->progs[i].name, sizeof(a->progs[i].name));
			fprintf(f, "\"} %llu\n", (unsigned long long)a->progs[i].runs);
		}
	}
	header(f, "threadwatch_agent_render_seconds", "gauge",
	       "How long the previous rendering took: reading the maps if it needed to, and "
	       "rendering /metrics.");
	fprintf(f, "threadwatch_agent_render_seconds %.9f\n", a->render_s);
	header(f, "threadwatch_agent_refreshes_total", "counter",
	       "Times the model was read from the kernel's maps (for a scrape, or at least "
	       "every --refresh clamped to 10-60 s).");
	fprintf(f, "threadwatch_agent_refreshes_total %llu\n", (unsigned long long)a->refreshes);
	header(f, "threadwatch_agent_renders_total", "counter",
	       "Renderings of /metrics (a scrape within --refresh of the last gets it again).");
	fprintf(f, "threadwatch_agent_renders_total %llu\n", (unsigned long long)a->renders);
	header(f, "threadwatch_agent_processes", "gauge", "Processes the daemon tracks.");
	fprintf(f, "threadwatch_agent_processes %llu\n", (unsigned long long)m->nprocs);
	header(f, "threadwatch_agent_threads", "gauge", "Threads the daemon tracks.");
	fprintf(f, "threadwatch_agent_threads %llu\n", (unsigned long long)nthreads);
	header(f, "threadwatch_agent_groups_other", "gauge",
	       "Groups folded into the \"other\" group by --top-k.");
	fprintf(f, "threadwatch_agent_groups_other %zu\n", nother);
	header(f, "threadwatch_agent_events_suppressed_total", "counter",
	       "Event log lines dropped by the rate limit.");
	fprintf(f, "threadwatch_agent_events_suppressed_total %llu\n",
		(unsigned long long)a->events_suppressed);
}

/* The group's labels, escaped, once: every one of its series repeats them. 0 or -ENOMEM. */
static int render_labels(struct pgroup *g, enum tw_prom_by by)
{
	FILE *f = open_memstream(&g->labels, &g->nlabels);
	bool first = true;

	if (!f)
		return -ENOMEM;
	group_labels(f, g, by, &first);
	return fclose(f) ? -ENOMEM : 0;
}

/*
 * Two passes over the model. The first ranks the groups, which needs only
 * each process's key, threads and off-CPU time; the second adds every
 * process's records into its group's series, or into "other": whatever runs
 * on the node, at most top_k + 1 groups are ever built, and no record is copied.
 */
int report_prom(FILE *f, const struct tw_model *m, const struct tw_prom_opts *o,
		const struct tw_agent_stats *a)
{
	size_t n = m->nprocs, ng = 0, nslots = 0, nother = 0;
	char(*keys)[24] = calloc(n + 1, sizeof(*keys));
	struct keyed *order = calloc(n + 1, sizeof(*order));
	struct grank *ranks = calloc(n + 1, sizeof(*ranks));
	size_t *slot_of = calloc(n + 1, sizeof(*slot_of));
	struct pgroup *gs = NULL;
	__u64 nthreads = 0;
	int err = -ENOMEM;

	if (!keys || !order || !ranks || !slot_of)
		goto out;
	/*
	 * Sorted by group key, so equal keys are adjacent: in --by process too,
	 * where a pid may have two records (it was reused, or a process was seen
	 * before its creation event): one series, their sum, the live one's labels.
	 */
	for (size_t i = 0; i < n; i++) {
		order[i].p = m->procs[i];
		order[i].key = group_key(m->procs[i], o->by, keys[i], sizeof(keys[i]));
		nthreads += m->procs[i]->threads_now;
	}
	qsort(order, n, sizeof(*order), cmp_keyed);
	for (size_t i = 0; i < n; i++) {
		if (!ng || strcmp(ranks[ng - 1].key, order[i].key) != 0) {
			ranks[ng].key = order[i].key;
			ranks[ng].p = order[i].p;
			ranks[ng].id = ng;
			ng++;
		}
		ranks[ng - 1].threads += order[i].p->threads_now;
		ranks[ng - 1].offcpu += proc_offcpu(order[i].p);
		order[i].group = ng - 1;
	}
	qsort_r(ranks, ng, sizeof(*ranks), cmp_granks, (void *)&o->rank);
	nslots = ng;
	if (o->top_k && ng > o->top_k) {
		nother = ng - o->top_k;
		nslots = o->top_k + 1;
	}
	gs = calloc(nslots + 1, sizeof(*gs));
	if (!gs)
		goto out;
	for (size_t r = 0; r < ng; r++) {
		size_t s = r < nslots - (nother ? 1 : 0) ? r : nslots - 1;

		slot_of[ranks[r].id] = s;
		if (s == r) {
			gs[s].p = ranks[r].p;
			gs[s].key = ranks[r].key;
		}
	}
	if (nother) {
		gs[nslots - 1].other = true;
		gs[nslots - 1].key = "other";
		gs[nslots - 1].p = NULL;
	}
	for (size_t i = 0; i < n; i++)
		add_proc(&gs[slot_of[order[i].group]], order[i].p, o, m->live_ns);
	for (size_t s = 0; s < nslots; s++)
		if (render_labels(&gs[s], o->by))
			goto out;
	write_groups(f, gs, nslots, o->calls);
	write_agent(f, m, a, nother, nthreads);
	err = 0;
	if (fflush(f) || ferror(f))
		err = errno ? -errno : -EIO;
out:
	for (size_t s = 0; gs && s < nslots; s++) {
		gcalls_free(gs[s].calls);
		free(gs[s].labels);
	}
	free(gs);
	free(keys);
	free(order);
	free(ranks);
	free(slot_of);
	return err;
}
