// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include "model.h"
#include "report.h"
#include "view.h"
#include "unit.h"

static struct tw_event ev(__u32 type, __u32 pid, __u32 tid, __u64 ts, const char *comm)
{
	struct tw_event e = { .type = type, .tid = tid, .tgid = pid, .ts_ns = ts };

	strncpy(e.comm, comm, TASK_COMM_LEN - 1);
	return e;
}

TEST(thread_set_is_exact_under_races)
{
	struct tw_model m;
	struct tw_event e;
	struct tw_proc *p;

	model_init(&m, false);
	/* seeded from /proc */
	model_thread_born(&m, 100, 100, "app");
	model_thread_born(&m, 100, 101, "app");
	p = model_proc(&m, 100);
	CHECK_EQ(p->threads_now, 2);
	/* a creation seen by both the seed and the event counts once */
	e = ev(TW_EV_THREAD_NEW, 100, 101, 1, "app");
	model_apply_event(&m, &e);
	CHECK_EQ(p->threads_now, 2);
	for (__u32 t = 102; t < 110; t++) {
		e = ev(TW_EV_THREAD_NEW, 100, t, 2, "pool");
		model_apply_event(&m, &e);
	}
	CHECK_EQ(p->threads_now, 10);
	CHECK_EQ(p->threads_peak, 10);
	for (__u32 t = 102; t < 110; t++) {
		e = ev(TW_EV_THREAD_EXIT, 100, t, 3, "pool-renamed");
		model_apply_event(&m, &e);
		model_apply_event(&m, &e); /* idempotent */
	}
	CHECK_EQ(p->threads_now, 2);
	CHECK_EQ(p->threads_peak, 10);
	CHECK(!strcmp(proc_thread(p, 105)->comm, "pool-renamed"));
	CHECK(!proc_thread(p, 105)->alive);
	/* a reused tid gets a second record; the dead one is kept */
	e = ev(TW_EV_THREAD_NEW, 100, 105, 4, "pool");
	model_apply_event(&m, &e);
	CHECK(proc_thread(p, 105)->alive);
	CHECK_EQ(p->nthreads, 11);
	/* the whole process goes */
	e = ev(TW_EV_THREAD_EXIT, 100, 105, 5, "pool");
	model_apply_event(&m, &e);
	e = ev(TW_EV_THREAD_EXIT, 100, 101, 5, "app");
	model_apply_event(&m, &e);
	CHECK(!p->exited);
	e = ev(TW_EV_THREAD_EXIT, 100, 100, 6, "app2");
	model_apply_event(&m, &e);
	CHECK(p->exited);
	CHECK_EQ(p->exit_ns, 6);
	CHECK(!strcmp(p->comm, "app2"));
	/* pid reuse starts a new process record */
	e = ev(TW_EV_PROC_NEW, 100, 100, 7, "other");
	model_apply_event(&m, &e);
	CHECK(model_proc(&m, 100) != p);
	CHECK_EQ(model_proc(&m, 100)->threads_now, 1);
	CHECK_EQ(m.nprocs, 2);
	model_free(&m);
}

TEST(exit_of_unseen_thread)
{
	struct tw_model m;
	struct tw_thread *t;

	model_init(&m, false);
	t = model_thread_died(&m, 5, 6, 10, "ghost");
	CHECK(t && !t->alive && t->exit_ns == 10);
	CHECK_EQ(model_proc(&m, 5)->threads_now, 0);
	model_free(&m);
}

TEST(fold_thread_and_open_interval)
{
	struct tw_thread_stats s = {};
	struct tw_model m;
	struct tw_thread *t;

	model_init(&m, false);
	t = model_thread_born(&m, 1, 2, "x");
	s.oncpu_ns = 600;
	s.blocked_ns = 30;
	s.vol_switches = 3;
	s.blocked_hist[27] = 3;
	model_thread_fold(t, &s, 0);
	CHECK_EQ(t->tot.oncpu_ns, 600);
	CHECK_EQ(t->tot.blocked_ns, 30);
	CHECK_EQ(t->tot.vol_switches, 3);
	CHECK(t->tot.blocked && t->tot.blocked->n == 1 && t->tot.blocked->b[0].slot == 27 &&
	      t->tot.blocked->b[0].count == 3);
	/* asleep since 1000: at 1500 the open interval counts, its sample does not */
	s.state = TW_ST_BLOCKED;
	s.state_ts = 1000;
	model_thread_fold(t, &s, 1500);
	CHECK_EQ(t->tot.blocked_ns, 530);
	CHECK(t->tot.blocked->b[0].count == 3);
	/* folding again replaces, never double counts */
	model_thread_fold(t, &s, 1600);
	CHECK_EQ(t->tot.blocked_ns, 630);
	s.state = TW_ST_RUNQ;
	model_thread_fold(t, &s, 1600);
	CHECK_EQ(t->tot.blocked_ns, 30);
	CHECK_EQ(t->tot.runq_ns, 600);
	s.state = TW_ST_ONCPU;
	model_thread_fold(t, &s, 1100);
	CHECK_EQ(t->tot.oncpu_ns, 700);
	/* a clock read before the state began adds nothing */
	model_thread_fold(t, &s, 900);
	CHECK_EQ(t->tot.oncpu_ns, 600);
	/* the dead have no open interval */
	model_thread_died(&m, 1, 2, 2000, NULL);
	model_thread_fold(t, &s, 5000);
	CHECK_EQ(t->tot.oncpu_ns, 600);
	model_free(&m);
}

/* The kernel's u32 bucket counts wrap; the model's 64-bit ones keep counting, extremes exact. */
TEST(fold_wraps_u32_counts)
{
	struct tw_thread_stats s = {};
	struct tw_call_stats cs = {};
	struct tw_call_key key = { .tid = 2, .nr = SYS_read };
	struct tw_hist h = {};
	struct tw_model m;
	struct tw_thread *t;
	unsigned int k = hist_slot_of(5000);

	model_init(&m, false);
	t = model_thread_born(&m, 1, 2, "x");
	s.blocked_hist[k] = 0xfffffff0u;
	s.blocked_max_ns = 5100;
	s.blocked_min_inv = ~4900ULL;
	s.state_ts = 1;
	CHECK(!model_thread_fold(t, &s, 10));
	s.blocked_hist[k] = 0x10; /* 0x20 more samples: past 2^32 */
	s.blocked_max_ns = 5200;
	s.state_ts = 2;
	CHECK(!model_thread_fold(t, &s, 20));
	CHECK(t->tot.blocked && t->tot.blocked->n == 1);
	CHECK_EQ(t->tot.blocked->b[0].count, (1ULL << 32) + 0x10);
	CHECK(t->tot.blocked->min == 4900 && t->tot.blocked->max == 5200);
	/* a call's histogram the same way */
	cs.count = 0xfffffff0u;
	cs.hist[k] = 0xfffffff0u;
	cs.max_ns = 5000;
	cs.min_inv = ~5000ULL;
	CHECK(!model_thread_call_fold(t, &key, &cs));
	cs.count = (1ULL << 32) + 0x10;
	cs.hist[k] = 0x10;
	CHECK(!model_thread_call_fold(t, &key, &cs));
	CHECK(t->tot.calls.n == 1 && t->tot.calls.v[0].hist);
	shist_add_to(&h, t->tot.calls.v[0].hist);
	CHECK_EQ(hist_count(&h), cs.count);
	CHECK_EQ(hist_percentile(&h, 0.5), 5000);
	model_free(&m);
}

TEST(percpu_fold_sums_cpus)
{
	struct tw_proc_stats ps[2] = {};
	struct tw_model m;
	struct tw_proc *p;

	model_init(&m, false);
	model_thread_born(&m, 1, 2, "x");
	p = model_proc(&m, 1);
	ps[0].threads_created = 4;
	ps[1].threads_created = 6;
	ps[1].thread_fail[TW_FAIL_EAGAIN] = 3;
	ps[0].lifetime_hist[30] = 1;
	model_proc_fold(p, ps, 2);
	CHECK_EQ(p->tot.threads_created, 10);
	CHECK_EQ(p->tot.thread_fail[TW_FAIL_EAGAIN], 3);
	CHECK_EQ(p->tot.lifetime.slot[30], 1);
	model_proc_fold(p, ps, 2);
	CHECK_EQ(p->tot.threads_created, 10);
	model_free(&m);
}

static void set_thread(struct tw_thread *t, __u64 blocked, __u64 runq)
{
	struct tw_thread_totals tot;

	rec_expand(&t->tot, &tot);
	tot.blocked_ns = blocked;
	tot.runq_ns = runq;
	tot.blocked.slot[hist_slot_of(blocked)] = 1;
	tot.blocked.min = tot.blocked.max = blocked;
	CHECK(!rec_store(&t->tot, &tot));
}

TEST(view_by_comm_and_order)
{
	struct tw_view_opts o = {
		.final = true, .duration_s = 1, .attach = "tp_btf", .by = TW_BY_COMM
	};
	struct tw_model m;
	struct tw_view v;

	model_init(&m, false);
	set_thread(model_thread_born(&m, 1, 1, "main"), 10, 0);
	set_thread(model_thread_born(&m, 1, 2, "worker"), 100, 5);
	set_thread(model_thread_born(&m, 1, 3, "worker"), 200, 5);
	set_thread(model_thread_born(&m, 1, 4, "worker"), 1, 0);
	model_proc(&m, 1)->target = true;
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.nprocs, 1);
	CHECK_EQ(v.procs[0].nrows, 2);
	CHECK(!strcmp(v.procs[0].rows[0].comm, "worker"));
	CHECK_EQ(v.procs[0].rows[0].nthreads, 3);
	CHECK_EQ(v.procs[0].rows[0].tid, 0);
	CHECK_EQ(v.procs[0].rows[0].t.blocked_ns, 301);
	CHECK_EQ(v.procs[0].rows[0].t.runq_ns, 10);
	CHECK_EQ(v.procs[0].sum.blocked_ns, 311);
	view_free(&v);
	o.by = TW_BY_THREAD;
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.procs[0].nrows, 4);
	CHECK_EQ(v.procs[0].rows[0].tid, 3); /* most off-CPU first */
	CHECK_EQ(v.procs[0].rows[3].tid, 4);
	view_free(&v);
	model_free(&m);
}

TEST(view_interval_deltas_and_top)
{
	struct tw_view_opts o = { .final = false, .duration_s = 1, .attach = "raw_tp", .top = 1 };
	struct tw_model m;
	struct tw_thread *a, *b;
	struct tw_view v;

	model_init(&m, true);
	a = model_thread_born(&m, 1, 1, "a");
	b = model_thread_born(&m, 2, 2, "b");
	set_thread(a, 100, 0);
	set_thread(b, 50, 0);
	CHECK(!model_mark(&m));
	a->tot.blocked_ns = 130;
	b->tot.blocked_ns = 90;
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.nprocs_active, 2);
	CHECK_EQ(v.nprocs, 1);
	CHECK_EQ(v.procs[0].p->pid, 2); /* 40 > 30 in this interval */
	CHECK_EQ(v.procs[0].rows[0].t.blocked_ns, 40);
	view_free(&v);
	o.final = true;
	o.top = 0;
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.procs[0].p->pid, 1);
	CHECK_EQ(v.procs[0].rows[0].t.blocked_ns, 130);
	view_free(&v);
	model_free(&m);
}

TEST(sparse_histograms_round_trip)
{
	struct tw_hist h = {}, back = {};
	struct tw_shist *s;
	int err = 0;

	CHECK(shist_pack(&h, &err) == NULL && !err);
	h.slot[0] = 1;
	h.slot[27] = 5;
	h.slot[TW_HIST_SLOTS - 1] = 2;
	s = shist_pack(&h, &err);
	CHECK(s && s->n == 3 && !err);
	shist_add_to(&back, s);
	shist_add_to(&back, NULL);
	CHECK(!memcmp(&h, &back, sizeof(h)));
	free(s);
}

TEST(interval_forgets_the_reported_dead)
{
	struct tw_view_opts o = { .final = false, .duration_s = 1, .attach = "tp_btf" };
	struct tw_model m;
	struct tw_thread *t;
	struct tw_view v;

	model_init(&m, true);
	model_thread_born(&m, 1, 1, "main");
	t = model_thread_born(&m, 1, 2, "w");
	model_proc(&m, 1)->target = true;
	set_thread(t, 100, 0);
	model_thread_died(&m, 1, 2, 5, NULL);
	t->harvested = true;
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.procs[0].nrows, 2); /* its last interval shows it */
	view_free(&v);
	CHECK(!model_mark(&m));
	CHECK(t->marked_dead);
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.procs[0].nrows, 1); /* later ones do not */
	view_free(&v);
	o.final = true;
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.procs[0].nrows, 2); /* the final report has everyone */
	view_free(&v);
	model_free(&m);
}

TEST(every_counter_has_a_name)
{
	for (int i = 0; i < TW_DROP_NR; i++)
		CHECK(tw_drop_names[i] && tw_drop_names[i][0]);
	for (int i = 0; i < TW_FAIL_NR; i++)
		CHECK(tw_fail_names[i] && tw_fail_names[i][0]);
}

TEST(json_report_shape)
{
	struct tw_view_opts o = { .final = true,
				  .duration_s = 2,
				  .attach = "tp_btf",
				  .clock = { .mono_ns = 3000000000ULL,
					     .wall_off_ns = 1764571800000000000LL },
				  .span_start_ns = 1000000000ULL };
	struct tw_model m;
	struct tw_view v;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	model_init(&m, false);
	set_thread(model_thread_born(&m, 7, 8, "w\"\n\xff"), 200000000, 0);
	model_proc(&m, 7)->target = true;
	model_proc(&m, 7)->tot.threads_created = 4;
	m.drops[TW_DROP_RINGBUF] = 3;
	CHECK(!view_build(&v, &m, &o));
	f = open_memstream(&buf, &len);
	CHECK(!report_json(f, &v));
	fclose(f);
	CHECK(strstr(buf,
		     "{\"type\":\"final\",\"time\":\"2025-12-01T06:50:03.000000000Z\","
		     "\"mono_ns\":3000000000,\"start_time\":\"2025-12-01T06:50:01.000000000Z\","
		     "\"start_mono_ns\":1000000000,\"duration_s\":2,\"attach\":\"tp_btf\"") == buf);
	CHECK(strstr(buf, "\"ringbuf\":3") != NULL);
	CHECK(strstr(buf, "\"threads_created\":4") != NULL);
	CHECK(strstr(buf, "\"create_rate_per_s\":2") != NULL);
	CHECK(strstr(buf, "\"comm\":\"w\\\"\\n\\ufffd\"") != NULL);
	/* 200 ms: the bucket (2^27.5, 2^27.75] ns holds the integers [189812532, 225726413) */
	CHECK(strstr(buf, "\"blocked_hist\":[[189812532,225726413,1]]") != NULL);
	CHECK(strstr(buf, "\"blocked_min_ns\":200000000,\"blocked_max_ns\":200000000,"
			  "\"blocked_p50_ns\":200000000,\"blocked_p99_ns\":200000000,") != NULL);
	CHECK(strstr(buf, "\"hist_schema\":{\"schema\":2,\"zero_threshold_ns\":64,"
			  "\"overflow_above_ns\":4398046511104}") != NULL);
	CHECK(buf[len - 1] == '\n' && !memchr(buf, '\n', len - 1));
	free(buf);
	view_free(&v);
	model_free(&m);
}

/* A loop in a gap at refresh time: the ongoing stall's breakdown is the kernel's own math. */
TEST(loop_ongoing_stall_from_live_fields)
{
	struct tw_view_opts o = { .final = true, .attach = "tp_btf", .blocked_ns = 500 };
	struct tw_thread_stats s = {};
	struct tw_model m;
	struct tw_thread *t;
	struct tw_view v;
	char buf[24];

	model_init(&m, false);
	m.stall_ns = 100;
	m.max_stalls = 10;
	t = model_thread_born(&m, 7, 7, "loop");
	model_proc(&m, 7)->target = true;
	s.has_loop = 1;
	s.gap_ts = 1000;
	s.gap_oncpu = 10;
	s.gap_blocked = 20;
	s.gap_runq = 30;
	s.gap_nsys = 4;
	s.oncpu_ns = 60; /* +50 on CPU */
	s.blocked_ns = 20;
	s.runq_ns = 30;
	s.nsyscalls = 6;
	s.gap_longest_nr = 1; /* syscall 0 */
	s.gap_longest_ns = 5;
	s.state = TW_ST_BLOCKED; /* asleep since 1100 in syscall 35 */
	s.state_ts = 1100;
	s.sys_cur = 36;
	s.sys_ts = 1090;
	/* not yet a stall at 1050 */
	CHECK(!model_thread_live(&m, t, &s, 1050));
	CHECK(t->loop && !t->loop->stalled_now);
	CHECK(!model_thread_live(&m, t, &s, 1700));
	m.live_ns = 1700;
	CHECK(t->loop->stalled_now);
	CHECK_EQ(t->loop->ongoing.duration_ns, 700);
	CHECK_EQ(t->loop->ongoing.oncpu_ns, 50);
	CHECK_EQ(t->loop->ongoing.blocked_ns, 600); /* still asleep: the open interval counts */
	CHECK_EQ(t->loop->ongoing.runq_ns, 0);
	CHECK_EQ(t->loop->ongoing.nsyscalls, 2);
	CHECK_EQ(t->loop->ongoing.longest_nr, 36); /* the call it is in outlasts the longest */
	CHECK_EQ(t->loop->ongoing.longest_ns, 610);
	CHECK(!strcmp(stall_cause(&t->loop->ongoing), "blocked"));
	CHECK(view_build(&v, &m, &o) == 0);
	CHECK_EQ(v.procs[0].nloops, 1);
	CHECK(v.procs[0].loops[0].ongoing != NULL);
	CHECK_EQ(v.procs[0].nblocked, 1); /* 600 >= 500 */
	CHECK(!strcmp(sys_label(v.procs[0].blocked[0].sys, buf), syscall_name(35)));
	view_free(&v);
	model_free(&m);
}

/* Stall events: kept up to max_stalls, counted past it; intervals show only the new ones. */
TEST(loop_stalls_kept_counted_and_interval)
{
	struct tw_view_opts o = { .final = false, .attach = "tp_btf", .blocked_ns = 1000 };
	struct tw_loop_stats ls = {};
	struct tw_stall e = { .type = TW_EV_STALL, .tid = 9, .tgid = 8, .duration_ns = 300 };
	struct tw_model m;
	struct tw_thread *t;
	struct tw_view v;

	model_init(&m, true);
	m.stall_ns = 100;
	m.max_stalls = 2;
	model_thread_born(&m, 8, 8, "app");
	t = model_thread_born(&m, 8, 9, "loop");
	CHECK(!model_stall_add(&m, &e));
	e.tid = 4242; /* a thread the model does not know: counted, not kept */
	CHECK(!model_stall_add(&m, &e));
	CHECK_EQ(m.stalls_not_kept, 1);
	ls.iterations = 10;
	ls.stalls = 1;
	ls.gap_max_ns = 300;
	ls.gap_min_inv = ~280ULL;
	ls.gap_hist[hist_slot_of(300)] = 10;
	CHECK(!model_loop_fold(t, &ls));
	CHECK(!model_mark(&m));
	e.tid = 9;
	e.duration_ns = 400;
	CHECK(!model_stall_add(&m, &e));
	CHECK(!model_stall_add(&m, &e)); /* past max_stalls */
	CHECK_EQ(m.stalls_not_kept, 2);
	ls.iterations = 15;
	ls.stalls = 3;
	ls.gap_max_ns = 400;
	ls.gap_hist[hist_slot_of(300)] = 14;
	ls.gap_hist[hist_slot_of(400)] = 1;
	CHECK(!model_loop_fold(t, &ls));
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.procs[0].nloops, 1);
	CHECK_EQ(v.procs[0].loops[0].lt.iterations, 5);
	CHECK_EQ(v.procs[0].loops[0].lt.stalls, 2);
	CHECK_EQ(v.procs[0].loops[0].nstalls, 1);
	CHECK_EQ(v.procs[0].loops[0].stalls[0].duration_ns, 400);
	/* the interval's 5 gaps: its longest is the run's new max, exact; p99 is rank 5, the max */
	CHECK_EQ(v.procs[0].loops[0].lt.gap_max_ns, 400);
	CHECK_EQ(loop_gap_percentile(&v.procs[0].loops[0], 0.99), 400);
	CHECK(loop_gap_percentile(&v.procs[0].loops[0], 0.5) >= 280);
	CHECK(loop_gap_percentile(&v.procs[0].loops[0], 0.5) < hist_hi(hist_slot_of(300)));
	view_free(&v);
	model_free(&m);
}
