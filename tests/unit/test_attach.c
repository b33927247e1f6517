// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* The attach-time state: /proc parsing for the fallback, the model's and the view's use of it. */
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include "procfs.h"
#include "model.h"
#include "view.h"
#include "unit.h"

TEST(proc_stat_state)
{
	const char *s = "42 (a) b) c) S 1 42 42 0 -1 4194560 0";

	CHECK_EQ(parse_stat_state(s, strlen(s)), 'S'); /* the last ')' ends the comm */
	s = "7 (x) R 1";
	CHECK_EQ(parse_stat_state(s, strlen(s)), 'R');
	s = "7 (x)";
	CHECK_EQ(parse_stat_state(s, strlen(s)), 0);
	s = "7 (x";
	CHECK_EQ(parse_stat_state(s, strlen(s)), 0);
	CHECK_EQ(parse_stat_state("", 0), 0);
}

TEST(proc_syscall_line)
{
	long nr = 99, a1 = 0, a2 = 0;
	const char *s = "0 0x5 0x7ffc1234 0x1 0x0 0x0 0x0 0x7ffc0000 0x7f0000001234\n";

	CHECK_EQ(parse_syscall_line(s, strlen(s), &nr, &a1, &a2), 1);
	CHECK_EQ(nr, 0);
	CHECK_EQ(a1, 5);
	CHECK_EQ(a2, 0x7ffc1234);
	s = "202 0x55d0c0 0x80 0xffffffffffffffff 0x0 0x0 0x0 0x7ffc 0x7f\n";
	CHECK_EQ(parse_syscall_line(s, strlen(s), &nr, &a1, &a2), 1);
	CHECK_EQ(nr, 202);
	CHECK_EQ(a2, 0x80);
	s = "running\n";
	CHECK_EQ(parse_syscall_line(s, strlen(s), &nr, &a1, &a2), 0);
	s = "-1 0x7ffc 0x7f\n";
	CHECK_EQ(parse_syscall_line(s, strlen(s), &nr, &a1, &a2), 0);
	s = "12x 0x1 0x2\n";
	CHECK_EQ(parse_syscall_line(s, strlen(s), &nr, &a1, &a2), -1);
	s = "12\n";
	CHECK_EQ(parse_syscall_line(s, strlen(s), &nr, &a1, &a2), -1);
}

/* A thread of process 5 asleep since before the trace, in a timed call. */
static struct tw_thread *asleep(struct tw_model *m, __u32 tid, __u32 call, __u32 sys1, __u64 pre_ts,
				__u64 now)
{
	struct tw_thread_stats s = {};
	struct tw_thread *t = model_thread_born(m, 5, tid, "w");

	s.tgid = 5;
	s.state = TW_ST_BLOCKED;
	s.state_ts = 1000;
	s.att_ts = 1000;
	s.pre_ts = pre_ts;
	s.call = call;
	s.sys_cur = sys1;
	s.sys_ts = 1000;
	s.sys_pre = 1;
	CHECK(!model_thread_fold(t, &s, now));
	CHECK(!model_thread_live(m, t, &s, now));
	return t;
}

TEST(blocked_since_before_the_trace)
{
	struct tw_view_opts o = { .final = true,
				  .attach = "tp_btf",
				  .blocked_ns = 500,
				  .clock = { .wall_off_ns = 1000000 } };
	struct tw_model m;
	struct tw_view v;
	const struct tw_proc_view *pv;

	model_init(&m, false);
	m.live_ns = 2000;
	asleep(&m, 6, TW_CALL_READ, 1, 200, 2000); /* last ran at 200 */
	asleep(&m, 7, TW_CALL_CLOCK_NANOSLEEP, 231, 0, 2000); /* unknown */
	asleep(&m, 8, TW_CALL_EPOLL_WAIT, 233, 100, 2000); /* an idle loop */
	model_proc(&m, 5)->target = true;
	CHECK(view_build(&v, &m, &o) == 0);
	pv = &v.procs[0];
	CHECK_EQ(pv->nblocked, 2);
	CHECK_EQ(pv->idle_waiting, 1);
	CHECK_EQ(pv->blocked[0].tid, 6); /* longest first */
	CHECK(pv->blocked[0].before_trace);
	CHECK_EQ(pv->blocked[0].since_ns, 200);
	CHECK_EQ(pv->blocked[0].blocked_ns, 1800);
	CHECK_EQ(pv->blocked[0].before_ns, 800);
	CHECK_EQ(pv->blocked[0].since_wall_ns, 1000200);
	CHECK_EQ(pv->blocked[1].tid, 7);
	CHECK(pv->blocked[1].before_trace);
	CHECK_EQ(pv->blocked[1].since_ns, 0); /* at least since the attach */
	CHECK_EQ(pv->blocked[1].blocked_ns, 1000);
	/* blocked time counts from the attach; the call's time so far is in its totals */
	for (size_t i = 0; i < pv->nrows; i++) {
		const struct tw_row *r = &pv->rows[i];

		CHECK_EQ(r->t.blocked_ns, 1000);
		CHECK_EQ(r->t.calls.n, 1);
		CHECK_EQ(r->t.calls.v[0].total_ns, 1000);
		CHECK_EQ(r->t.calls.v[0].count, 0);
	}
	view_free(&v);
	model_free(&m);
}

/* The call in flight: its time counts, once, in totals and in interval deltas. */
TEST(call_in_flight_counts_once)
{
	struct tw_view_opts o = { .final = false, .attach = "tp_btf", .blocked_ns = 1 };
	struct tw_call_key key = { .tid = 6, .nr = SYS_read };
	struct tw_call_stats cs = {};
	struct tw_thread_stats s = {};
	struct tw_thread *t;
	struct tw_model m;
	struct tw_view v;

	model_init(&m, true);
	t = model_thread_born(&m, 5, 6, "w");
	model_proc(&m, 5)->target = true;
	s.tgid = 5;
	s.state = TW_ST_BLOCKED;
	s.state_ts = 100;
	s.call = TW_CALL_READ;
	s.call_fd = TW_FD_PIPE;
	s.sys_cur = SYS_read + 1;
	s.sys_ts = 100;
	s.nsyscalls = 3; /* the read in flight is the thread's third syscall */
	cs.count = 2; /* two earlier reads of 10 */
	cs.last_seq = 2;
	cs.total_ns = 20;
	cs.hist[3] = 2;
	CHECK(!model_thread_call_fold(t, &key, &cs));
	CHECK(!model_thread_fold(t, &s, 300));
	CHECK(!model_thread_live(&m, t, &s, 300));
	m.live_ns = 300;
	CHECK(view_build(&v, &m, &o) == 0);
	CHECK_EQ(v.procs[0].rows[0].t.calls.v[0].total_ns, 220);
	CHECK_EQ(v.procs[0].rows[0].t.calls.v[0].count, 2);
	view_free(&v);
	CHECK(!model_mark(&m));
	/* it returns at 500: the kernel adds the whole call (400) */
	s.state = TW_ST_ONCPU;
	s.state_ts = 500;
	s.call = TW_CALL_NONE;
	s.sys_cur = 0;
	s.sys_ts = 0;
	cs.count = 3;
	cs.last_seq = 3;
	cs.total_ns = 420;
	cs.hist[8] = 1;
	CHECK(!model_thread_call_fold(t, &key, &cs));
	CHECK(!model_thread_fold(t, &s, 600));
	CHECK(!model_thread_live(&m, t, &s, 600));
	m.live_ns = 600;
	CHECK(view_build(&v, &m, &o) == 0);
	/* this interval: 300 -> 500 in the call, never the 200 already reported */
	CHECK_EQ(v.procs[0].rows[0].t.calls.v[0].total_ns, 200);
	CHECK_EQ(v.procs[0].rows[0].t.calls.v[0].count, 1);
	view_free(&v);
	o.final = true;
	CHECK(view_build(&v, &m, &o) == 0);
	CHECK_EQ(v.procs[0].rows[0].t.calls.v[0].total_ns, 420);
	view_free(&v);
	model_free(&m);
}
