// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include "json.h"
#include "report.h"

/* clang-format off */
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

static void json_comm(struct json *j, const char *comm)
{
	json_key(j, "comm");
	json_strn(j, comm, strnlen(comm, TASK_COMM_LEN));
}

/* Longest total first: the call a thread waits in most leads. */
static void json_calls(struct json *j, const struct tw_calls *c)
{
	const struct tw_call_rec *order[TW_CALL_NR] = { 0 };
	__u32 n = calls_by_total(c, order);

	json_key(j, "syscalls");
	json_arr_begin(j);
	for (__u32 i = 0; i < n; i++) {
		json_obj_begin(j);
		json_kstr(j, "name", call_name(order[i]->call));
		json_ku64(j, "count", order[i]->count);
		json_ku64(j, "errors", order[i]->errors);
		json_ku64(j, "total_ns", order[i]->total_ns);
		json_shist(j, "hist", order[i]->hist);
		if (TW_CALL_HAS_FD(order[i]->call)) {
			json_key(j, "fd");
			json_obj_begin(j);
			for (__u32 k = 0; k < TW_FD_NR; k++)
				json_ku64(j, fd_kind_name(k), order[i]->fd_count[k]);
			json_obj_end(j);
		}
		json_obj_end(j);
	}
	json_arr_end(j);
}

static void json_row(struct json *j, const struct tw_row *r)
{
	json_obj_begin(j);
	json_key(j, "tid");
	if (r->tid)
		json_u64(j, r->tid);
	else
		json_null(j);
	json_comm(j, r->comm);
	if (!r->tid)
		json_ku64(j, "nthreads", r->nthreads);
	json_kbool(j, "alive", r->alive);
	json_ku64(j, "oncpu_ns", r->t.oncpu_ns);
	json_ku64(j, "blocked_ns", r->t.blocked_ns);
	json_ku64(j, "runq_ns", r->t.runq_ns);
	json_ku64(j, "vol_switches", r->t.vol_switches);
	json_ku64(j, "invol_switches", r->t.invol_switches);
	json_ku64(j, "threads_created", r->t.threads_created);
	json_shist(j, "blocked_hist", r->t.blocked);
	json_shist(j, "runq_hist", r->t.runq);
	json_calls(j, &r->t.calls);
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

static void json_stall(struct json *j, const struct tw_stall *s, bool ongoing)
{
	json_obj_begin(j);
	json_ku64(j, "tid", s->tid);
	json_ku64(j, "start_ns", s->start_ns);
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
	json_obj_end(j);
}

static void json_loop(struct json *j, const struct tw_loop_view *l)
{
	const struct tw_hist *h = &l->lt.gap;

	json_obj_begin(j);
	json_ku64(j, "tid", l->tid);
	json_comm(j, l->comm);
	json_kbool(j, "alive", l->alive);
	json_ku64(j, "iterations", l->lt.iterations);
	json_ku64(j, "gap_total_ns", l->lt.gap_total_ns);
	json_ku64(j, "gap_p50_ns", loop_gap_percentile(l, 0.5));
	json_ku64(j, "gap_p99_ns", loop_gap_percentile(l, 0.99));
	json_ku64(j, "gap_max_ns", l->lt.gap_max_ns);
	json_hist(j, "gap_hist", h);
	json_ku64(j, "stall_count", l->lt.stalls + (l->ongoing ? 1 : 0));
	json_key(j, "stalls");
	json_arr_begin(j);
	for (size_t i = 0; i < l->nstalls; i++)
		json_stall(j, &l->stalls[i], false);
	if (l->ongoing)
		json_stall(j, l->ongoing, true);
	json_arr_end(j);
	json_obj_end(j);
}

static void json_blocked(struct json *j, const struct tw_blocked_view *b)
{
	json_obj_begin(j);
	json_ku64(j, "tid", b->tid);
	json_comm(j, b->comm);
	json_sys(j, "call", b->sys);
	json_ku64(j, "blocked_ns", b->blocked_ns);
	json_obj_end(j);
}

static void json_proc(struct json *j, const struct tw_proc_view *pv, double duration_s)
{
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
	json_hist(j, "first_run_hist", &pt->first_run);
	json_hist(j, "lifetime_hist", &pt->lifetime);
	json_key(j, "threads");
	json_arr_begin(j);
	for (size_t i = 0; i < pv->nrows; i++)
		json_row(j, &pv->rows[i]);
	json_arr_end(j);
	json_key(j, "loops");
	json_arr_begin(j);
	for (size_t i = 0; i < pv->nloops; i++)
		json_loop(j, &pv->loops[i]);
	json_arr_end(j);
	json_key(j, "blocked_now");
	json_arr_begin(j);
	for (size_t i = 0; i < pv->nblocked; i++)
		json_blocked(j, &pv->blocked[i]);
	json_arr_end(j);
	json_ku64(j, "stalls", pv->stalls);
	if (pv->nmembers) {
		json_ku64(j, "processes", pv->nmembers);
		json_key(j, "members");
		json_arr_begin(j);
		for (size_t i = 0; i < pv->nmembers; i++)
			json_proc(j, &pv->members[i], duration_s);
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
	json_kdouble(&j, "duration_s", v->o.duration_s);
	json_kstr(&j, "attach", v->o.attach);
	json_key(&j, "lost");
	json_obj_begin(&j);
	for (int i = 0; i < TW_DROP_NR; i++)
		json_ku64(&j, tw_drop_names[i], v->drops[i]);
	json_obj_end(&j);
	json_kbool(&j, "syscalls", v->o.syscalls);
	json_ku64(&j, "stall_ms", v->stall_ns / 1000000);
	json_ku64(&j, "blocked_ms", v->o.blocked_ns / 1000000);
	json_ku64(&j, "stalls_not_listed", v->stalls_not_kept);
	json_ku64(&j, "processes_active", v->nprocs_active);
	json_ku64(&j, "rows_active", v->nrows_active);
	json_kstr(&j, "sort", tw_sort_names[v->o.sort]);
	json_kbool(&j, "group_procs", v->o.group_procs);
	json_key(&j, "processes");
	json_arr_begin(&j);
	for (size_t i = 0; i < v->nprocs; i++)
		json_proc(&j, &v->procs[i], v->o.duration_s);
	json_arr_end(&j);
	json_obj_end(&j);
	fputc('\n', f);
	if (fflush(f) || ferror(f))
		return errno ? -errno : -EIO;
	return 0;
}
