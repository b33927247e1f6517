// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "json.h"
#include "report.h"
#include "calls.h"

/* clang-format off */
const char *const tw_slost_names[TW_SLOST_NR] = {
	[TW_SLOST_NO_STACK] = "stack_unreadable",
	[TW_SLOST_UNWIND_SHORT] = "stack_unwind_short",
	[TW_SLOST_NO_PROCESS] = "stack_process_gone",
	[TW_SLOST_NO_ACCESS] = "stack_no_access",
	[TW_SLOST_BUSY] = "stack_not_unwound",
	[TW_SLOST_UNKNOWN_FRAME] = "stack_unknown_frames",
	[TW_SLOST_PY_CUT] = "python_frames_cut",
	[TW_SLOST_PY_CODE] = "python_code_unreadable",
	[TW_SLOST_PY_FAULT] = "python_frames_unreadable",
	[TW_SLOST_PY_NO_TSTATE] = "python_thread_unknown",
	[TW_SLOST_PY_VERSION] = "python_version_unknown",
	[TW_SLOST_PY_EARLY] = "python_not_yet_found",
	[TW_SLOST_PY_TNAME] = "python_thread_names_unreadable",
};

const char *const tw_drop_names[TW_DROP_NR] = {
	[TW_DROP_RINGBUF] = "ringbuf",
	[TW_DROP_THREAD_MAP] = "thread_map_full",
	[TW_DROP_PROC_MAP] = "proc_map_full",
	[TW_DROP_CLONE_MAP] = "clone_map_full",
	[TW_DROP_ALLOC] = "map_alloc_failed",
	[TW_DROP_TID_REUSED] = "tid_reused_unread",
	[TW_DROP_SWITCH_IN] = "switch_in_unseen",
	[TW_DROP_FIRST_RUN] = "first_run_unseen",
	[TW_DROP_CALL_MAP] = "call_map_full",
	[TW_DROP_LOOP_MAP] = "loop_map_full",
	[TW_DROP_STALL_EVENT] = "stall_events",
	[TW_DROP_TARGET] = "target_past_pid_max",
	[TW_DROP_STACK_EVENT] = "stack_events",
};
/* clang-format on */

const char *const tw_fail_names[TW_FAIL_NR] = {
	[TW_FAIL_EAGAIN] = "EAGAIN",
	[TW_FAIL_ENOMEM] = "ENOMEM",
	[TW_FAIL_OTHER] = "other",
};

static void json_hist(struct json *j, const char *key, const struct tw_hist *h)
{
	json_key(j, key);
	json_arr_begin(j);
	for (unsigned int i = 0; i < TW_HIST_SLOTS; i++) {
		if (!h->slot[i])
			continue;
		json_arr_begin(j);
		json_u64(j, hist_lo(i));
		json_u64(j, hist_hi(i));
		json_u64(j, h->slot[i]);
		json_arr_end(j);
	}
	json_arr_end(j);
}

static void json_shist(struct json *j, const char *key, const struct tw_shist *h)
{
	json_key(j, key);
	json_arr_begin(j);
	for (__u32 i = 0; h && i < h->n; i++) {
		json_arr_begin(j);
		json_u64(j, hist_lo(h->b[i].slot));
		json_u64(j, hist_hi(h->b[i].slot));
		json_u64(j, h->b[i].count);
		json_arr_end(j);
	}
	json_arr_end(j);
}

/* PREFIXmin_ns, PREFIXmax_ns, PREFIXp50_ns, PREFIXp99_ns of a packed histogram (0 if empty) */
static void json_extremes(struct json *j, const char *prefix, const struct tw_shist *s)
{
	static const char *const names[4] = { "min_ns", "max_ns", "p50_ns", "p99_ns" };
	struct tw_hist h = {};
	__u64 v[4] = { 0 };
	char key[32];

	if (s) {
		shist_add_to(&h, s);
		v[0] = h.min;
		v[1] = h.max;
		v[2] = hist_percentile(&h, 0.5);
		v[3] = hist_percentile(&h, 0.99);
	}
	for (int k = 0; k < 4; k++) {
		snprintf(key, sizeof(key), "%s%s", prefix, names[k]);
		json_ku64(j, key, v[k]);
	}
}

static void json_comm(struct json *j, const char *comm)
{
	json_key(j, "comm");
	json_strn(j, comm, strnlen(comm, TASK_COMM_LEN));
}

/* Most time first: the call a thread waits in most leads. */
/* timed: entry-to-exit times exist (syscall tracing; not for blocks named at switch out) */
static void json_calls(struct json *j, const struct tw_calls *c, bool timed)
{
	const struct tw_call_rec *order[TW_SYSCALL_NR_MAX] = { 0 };
	__u32 n = calls_by_total(c, order);
	char buf[24];

	json_key(j, "syscalls");
	json_arr_begin(j);
	for (__u32 i = 0; i < n; i++) {
		const struct tw_call_rec *r = order[i];
		__u32 kind = call_of(r->nr);

		json_obj_begin(j);
		json_kstr(j, "name", nr_name(r->nr, buf));
		json_kbool(j, "timed", timed && kind != TW_CALL_NONE);
		json_ku64(j, "count", r->count);
		json_ku64(j, "errors", r->errors);
		json_key(j, "errnos");
		json_obj_begin(j);
		for (__u32 k = 0; k < r->nerrnos; k++)
			json_ku64(j, errno_name(r->errnos[k].e, buf), r->errnos[k].n);
		if (r->errnos_other)
			json_ku64(j, "other", r->errnos_other);
		json_obj_end(j);
		json_ku64(j, "wouldblock", r->wouldblock);
		json_ku64(j, "timedout", r->timedout);
		json_ku64(j, "interrupted", r->interrupted);
		json_ku64(j, "pre_calls", r->pre_calls);
		json_ku64(j, "total_ns", r->total_ns);
		json_ku64(j, "blocked_ns", r->blocked_ns);
		json_extremes(j, "", r->hist);
		json_shist(j, "hist", r->hist);
		if (TW_CALL_HAS_FD(kind)) {
			json_key(j, "fd");
			json_obj_begin(j);
			for (__u32 k = 0; k < TW_FD_NR; k++)
				json_ku64(j, fd_kind_name(k), r->fd_count[k]);
			json_obj_end(j);
		}
		json_obj_end(j);
	}
	json_arr_end(j);
}

/* A thread's Python thread name where it is not its comm (user/pythreads.c), else null */
static void json_py_name(struct json *j, const char *name)
{
	json_key(j, "py_thread_name");
	if (name)
		json_str(j, name);
	else
		json_null(j);
}

static void json_row(struct json *j, const struct tw_row *r, const struct tw_view_opts *o)
{
	json_obj_begin(j);
	json_key(j, "tid");
	if (r->tid)
		json_u64(j, r->tid);
	else
		json_null(j);
	if (r->pattern[0])
		json_kstr(j, "comm", r->pattern);
	else
		json_comm(j, r->comm);
	json_py_name(j, r->py_name);
	if (!r->tid) {
		json_ku64(j, "nthreads", r->nthreads);
		json_ku64(j, "names", r->nnames);
	}
	json_kbool(j, "alive", r->alive);
	json_ku64(j, "oncpu_ns", r->t.oncpu_ns);
	json_ku64(j, "blocked_ns", r->t.blocked_ns);
	json_key(j, "blocked_outside_syscalls_ns");
	if (o->calls)
		json_u64(j, r->t.blocked_nosys_ns);
	else
		json_null(j);
	json_ku64(j, "runq_ns", r->t.runq_ns);
	json_ku64(j, "vol_switches", r->t.vol_switches);
	json_ku64(j, "invol_switches", r->t.invol_switches);
	json_ku64(j, "threads_created", r->t.threads_created);
	json_extremes(j, "blocked_", r->t.blocked);
	json_shist(j, "blocked_hist", r->t.blocked);
	json_extremes(j, "runq_", r->t.runq);
	json_shist(j, "runq_hist", r->t.runq);
	json_calls(j, &r->t.calls, o->syscalls);
	json_obj_end(j);
}

/* A syscall number + 1 as a string, or null. */
static void json_sys(struct json *j, const char *key, __u32 sys1)
{
	char buf[24];
	const char *name = sys_label(sys1, buf);

	json_key(j, key);
	if (name)
		json_str(j, name);
	else
		json_null(j);
}

/* "key": "2026-12-01T06:50:01.123456789Z", the wall time of a CLOCK_MONOTONIC instant */
static void json_ktime(struct json *j, const char *key, const struct tw_clock *c, __u64 mono_ns)
{
	char buf[TW_RFC3339_LEN];

	json_kstr(j, key, fmt_rfc3339(buf, sizeof(buf), tw_wall_of(c, mono_ns)));
}

/*
 * A stall's stacks (final reports with stacks): its gap's samples, each an
 * index into the report's stacks, heaviest first.
 */
static void json_stall_stacks(struct json *j, const struct tw_stall_stacks *sk)
{
	json_key(j, "stacks");
	json_arr_begin(j);
	for (size_t i = 0; i < sk->n; i++) {
		const struct tw_stack_view *sv = &sk->v[i];

		json_obj_begin(j);
		json_ku64(j, "stack", sv->stack);
		json_kstr(j, "kind", sv->kind == TW_SK_ONCPU ? "oncpu" : "blocked");
		json_sys(j, "syscall", sv->nr);
		json_ku64(j, "ns", sv->weight_ns);
		json_ku64(j, "samples", sv->count);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_ku64(j, "stack_blocked_ns", sk->blocked_ns);
	json_ku64(j, "stack_oncpu_ns", sk->oncpu_ns);
	json_ku64(j, "stack_oncpu_samples", sk->oncpu_samples);
}

/* "stack": the index of the stack it is asleep in now in the report's stacks table, or null */
static void json_now_stack(struct json *j, const struct tw_now_view *now)
{
	json_key(j, "stack");
	if (now->has)
		json_u64(j, now->ref);
	else
		json_null(j);
}

static void json_stall(struct json *j, const struct tw_stall *s, bool ongoing,
		       const struct tw_clock *c)
{
	json_obj_begin(j);
	json_ku64(j, "tid", s->tid);
	json_ktime(j, "start_time", c, s->start_ns);
	json_ku64(j, "start_ns", s->start_ns);
	json_ktime(j, "end_time", c, s->start_ns + s->duration_ns);
	json_ku64(j, "duration_ns", s->duration_ns);
	json_ku64(j, "oncpu_ns", s->oncpu_ns);
	json_ku64(j, "blocked_ns", s->blocked_ns);
	json_ku64(j, "runq_ns", s->runq_ns);
	json_ku64(j, "syscalls", s->nsyscalls);
	json_key(j, "longest_call");
	if (s->longest_nr) {
		json_obj_begin(j);
		json_sys(j, "name", s->longest_nr);
		json_ku64(j, "duration_ns", s->longest_ns);
		json_obj_end(j);
	} else {
		json_null(j);
	}
	json_kbool(j, "ongoing", ongoing);
	json_kstr(j, "cause", stall_cause(s));
}

static void json_loop(struct json *j, const struct tw_loop_view *l, const struct tw_clock *c)
{
	const struct tw_hist *h = &l->lt.gap;

	json_obj_begin(j);
	json_ku64(j, "tid", l->tid);
	json_comm(j, l->comm);
	json_py_name(j, l->py_name);
	json_kbool(j, "alive", l->alive);
	json_ku64(j, "iterations", l->lt.iterations);
	json_ku64(j, "gap_total_ns", l->lt.gap_total_ns);
	json_ku64(j, "gap_p50_ns", loop_gap_percentile(l, 0.5));
	json_ku64(j, "gap_p99_ns", loop_gap_percentile(l, 0.99));
	json_ku64(j, "gap_max_ns", l->lt.gap_max_ns);
	json_ku64(j, "gap_min_ns", h->min);
	json_hist(j, "gap_hist", h);
	json_ku64(j, "stall_count", l->lt.stalls + (l->ongoing ? 1 : 0));
	json_key(j, "stalls");
	json_arr_begin(j);
	for (size_t i = 0; i < l->nstalls; i++) {
		json_stall(j, &l->stalls[i], false, c);
		if (l->sstk) /* stacks on */
			json_stall_stacks(j, &l->sstk[i]);
		json_obj_end(j);
	}
	if (l->ongoing) {
		json_stall(j, l->ongoing, true, c);
		json_now_stack(j, &l->now);
		if (l->sstk)
			json_stall_stacks(j, &l->sstk[l->nstalls]);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_obj_end(j);
}

static void json_blocked(struct json *j, const struct tw_blocked_view *b, const struct tw_clock *c)
{
	json_obj_begin(j);
	json_ku64(j, "tid", b->tid);
	json_comm(j, b->comm);
	json_py_name(j, b->py_name);
	json_sys(j, "call", b->sys);
	json_ku64(j, "blocked_ns", b->blocked_ns);
	json_kbool(j, "since_before_trace", b->before_trace);
	json_key(j, "since_ns");
	if (b->since_ns)
		json_u64(j, b->since_ns);
	else
		json_null(j);
	json_key(j, "last_ran_before_trace_ns");
	if (b->before_trace && b->since_ns)
		json_u64(j, b->before_ns);
	else
		json_null(j);
	if (b->since_wall_ns)
		json_ktime(j, "since_time", c, b->since_ns);
	else
		json_ktime(j, "since_time", c, c->mono_ns - b->blocked_ns);
	json_now_stack(j, &b->now);
	json_obj_end(j);
}

/* A process's stack samples, by thread: each references the report's stacks table. */
static void json_stack_samples(struct json *j, const struct tw_proc_view *pv)
{
	json_key(j, "stack_samples");
	json_arr_begin(j);
	for (size_t i = 0; i < pv->nsamples; i++) {
		const struct tw_ssample *s = pv->samples[i];

		json_obj_begin(j);
		json_ku64(j, "tid", s->tid);
		json_key(j, "thread");
		json_strn(j, s->comm, strnlen(s->comm, sizeof(s->comm)));
		json_kstr(j, "syscall", s->nr ? syscall_name(s->nr - 1) : "");
		json_ku64(j, "stack", s->stack);
		json_ku64(j, "blocked_ns", s->weight_ns);
		json_ku64(j, "samples", s->count);
		json_obj_end(j);
	}
	json_arr_end(j);
}

/* Where its threads and processes were created, and creating them failed. */
static void json_create_sites(struct json *j, const struct tw_proc_view *pv)
{
	char eb[16];

	json_key(j, "create_sites");
	json_arr_begin(j);
	for (size_t i = 0; i < pv->nsites; i++) {
		const struct tw_stack_view *sv = &pv->sites[i];

		json_obj_begin(j);
		json_ku64(j, "stack", sv->stack);
		json_kstr(j, "kind", sv->kind == TW_SK_THREAD ? "thread" : "process");
		json_key(j, "errno");
		if (sv->ret < 0)
			json_str(j, errno_name((__u32)-sv->ret, eb));
		else
			json_null(j);
		json_ku64(j, "count", sv->weight_ns);
		json_ku64(j, "samples", sv->count);
		json_ku64(j, "threads", sv->nthreads);
		json_obj_end(j);
	}
	json_arr_end(j);
}

/* The report's stacks, each once: frames innermost first. */
static void json_stacks(struct json *j, const struct tw_view *v)
{
	const struct tw_stackset *ss = v->ss;

	/* the run's samples: final reports (an interval's table holds its blocked-now stacks) */
	if (v->o.final) {
		json_key(j, "stack_stats");
		json_obj_begin(j);
		json_ku64(j, "samples", v->stacks_taken);
		json_ku64(j, "sampled_short_blocks", v->stacks_sampled);
		json_ku64(j, "creations_not_attributed", v->create_skipped);
		json_ku64(j, "oncpu_period_ns", v->o.oncpu_period_ns);
		json_ku64(j, "oncpu_samples", v->oncpu_taken);
		json_obj_end(j);
	}
	json_key(j, "stacks");
	json_arr_begin(j);
	for (size_t i = 0; i < (v->stack_sel ? v->nstack_sel : ss->nstacks); i++) {
		const struct tw_stack *k = &ss->stacks[v->stack_sel ? v->stack_sel[i] : i];

		json_arr_begin(j);
		for (__u32 n = 0; n < k->nframes; n++) {
			const struct tw_sframe *fr = &ss->frames[k->frames[n]];

			json_obj_begin(j);
			json_key(j, "func");
			if (fr->func)
				json_str(j, fr->func);
			else
				json_null(j);
			json_kstr(j, "module", fr->module);
			json_ku64(j, "offset", fr->offset);
			if (fr->python)
				json_kstr(j, "kind", "python");
			if (fr->file) {
				json_kstr(j, "file", fr->file);
				json_ku64(j, "line", (__u64)fr->line);
			}
			json_obj_end(j);
		}
		json_arr_end(j);
	}
	json_arr_end(j);
}

/* The blocked-now pass made for this report (collect_now_stacks()). */
static void json_now_stats(struct json *j, const struct tw_view *v)
{
	const struct tw_now_stats *s = &v->now_stats;

	json_key(j, "blocked_now_stacks");
	json_obj_begin(j);
	json_ku64(j, "asked", s->asked);
	json_ku64(j, "taken", s->taken);
	json_ku64(j, "woke", s->asked > s->taken ? s->asked - s->taken : 0);
	json_ku64(j, "not_asked", s->over);
	json_ku64(j, "pass_ns", s->pass_ns);
	json_ku64(j, "ns", s->ns);
	json_obj_end(j);
}

static void json_proc(struct json *j, const struct tw_proc_view *pv, const struct tw_view *v)
{
	const struct tw_clock *c = &v->o.clock;
	double duration_s = v->o.duration_s;
	const struct tw_proc *p = pv->p;
	const struct tw_proc_totals *pt = &pv->pt;

	json_obj_begin(j);
	json_key(j, "pid");
	if (pv->nmembers)
		json_null(j); /* a group: its members have pids */
	else
		json_u64(j, p->pid);
	json_comm(j, p->comm);
	json_kbool(j, "exited", pv->exited);
	json_ku64(j, "threads_now", pv->threads_now);
	json_ku64(j, "threads_peak", pv->threads_peak);
	json_ku64(j, "threads_created", pt->threads_created);
	json_ku64(j, "threads_exited", pt->threads_exited);
	json_ku64(j, "thread_create_failures", proc_thread_failures(pt));
	json_key(j, "create_failures_by_errno");
	json_obj_begin(j);
	for (int i = 0; i < TW_FAIL_NR; i++)
		json_ku64(j, tw_fail_names[i], pt->thread_fail[i]);
	json_obj_end(j);
	json_ku64(j, "processes_forked", pt->procs_forked);
	json_ku64(j, "fork_failures", pt->fork_fail);
	json_kdouble(j, "create_rate_per_s", duration_s > 0 ? pt->threads_created / duration_s : 0);
	json_ku64(j, "blocked_ns", pv->sum.blocked_ns);
	json_key(j, "blocked_outside_syscalls_ns");
	if (v->o.calls)
		json_u64(j, pv->sum.blocked_nosys_ns);
	else
		json_null(j);
	json_hist(j, "first_run_hist", &pt->first_run);
	json_hist(j, "lifetime_hist", &pt->lifetime);
	json_key(j, "threads");
	json_arr_begin(j);
	for (size_t i = 0; i < pv->nrows; i++)
		json_row(j, view_row(v, pv, i), &v->o);
	json_arr_end(j);
	json_key(j, "loops");
	json_arr_begin(j);
	for (size_t i = 0; i < pv->nloops; i++)
		json_loop(j, &pv->loops[i], c);
	json_arr_end(j);
	json_key(j, "blocked_now");
	json_arr_begin(j);
	for (size_t i = 0; i < pv->nblocked; i++)
		json_blocked(j, &pv->blocked[i], c);
	json_arr_end(j);
	json_ku64(j, "idle_waiting", pv->idle_waiting);
	if (v->ss && v->o.final) {
		json_stack_samples(j, pv);
		json_create_sites(j, pv);
	}
	json_ku64(j, "stalls", pv->stalls);
	if (pv->nmembers) {
		json_ku64(j, "processes", pv->nmembers);
		json_key(j, "members");
		json_arr_begin(j);
		for (size_t i = 0; i < pv->nmembers; i++)
			json_proc(j, &pv->members[i], v);
		json_arr_end(j);
	}
	json_obj_end(j);
}

int report_json(FILE *f, const struct tw_view *v)
{
	struct json j;

	json_init(&j, f);
	json_obj_begin(&j);
	json_kstr(&j, "type", v->o.final ? "final" : "interval");
	json_ktime(&j, "time", &v->o.clock, v->o.clock.mono_ns);
	json_ku64(&j, "mono_ns", v->o.clock.mono_ns);
	json_ktime(&j, "start_time", &v->o.clock, v->o.span_start_ns);
	json_ku64(&j, "start_mono_ns", v->o.span_start_ns);
	json_kdouble(&j, "duration_s", v->o.duration_s);
	json_kstr(&j, "attach", v->o.attach);
	/* what a reader needs to rebuild every histogram's bucket bounds (docs/json.md) */
	json_key(&j, "hist_schema");
	json_obj_begin(&j);
	json_ku64(&j, "schema", TW_HIST_SCHEMA);
	json_ku64(&j, "zero_threshold_ns", 1ULL << TW_HIST_LO_SHIFT);
	json_ku64(&j, "overflow_above_ns", 1ULL << TW_HIST_HI_SHIFT);
	json_obj_end(&j);
	json_key(&j, "lost");
	json_obj_begin(&j);
	for (int i = 0; i < TW_DROP_NR; i++)
		json_ku64(&j, tw_drop_names[i], v->drops[i]);
	for (int i = 0; i < TW_SLOST_NR; i++)
		json_ku64(&j, tw_slost_names[i], v->stack_lost[i]);
	json_obj_end(&j);
	json_kbool(&j, "syscalls", v->o.syscalls);
	json_kstr(&j, "syscall_mode", v->o.syscalls ? "traced" : v->o.calls ? "named" : "off");
	json_ku64(&j, "stall_ms", v->stall_ns / 1000000);
	json_ku64(&j, "blocked_ms", v->o.blocked_ns / 1000000);
	json_ku64(&j, "stalls_not_listed", v->stalls_not_kept);
	json_ku64(&j, "processes_active", v->nprocs_active);
	json_ku64(&j, "rows_active", v->nrows_active);
	json_kstr(&j, "sort", tw_sort_names[v->o.sort]);
	json_kbool(&j, "group_procs", v->o.group_procs);
	json_kbool(&j, "stacks_on", v->o.stacks);
	if (v->o.stacks)
		json_now_stats(&j, v);
	if (v->ss)
		json_stacks(&j, v);
	json_key(&j, "processes");
	json_arr_begin(&j);
	for (size_t i = 0; i < v->nprocs; i++)
		json_proc(&j, &v->procs[i], v);
	json_arr_end(&j);
	json_obj_end(&j);
	fputc('\n', f);
	if (fflush(f) || ferror(f))
		return errno ? -errno : -EIO;
	return 0;
}
