// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include "calls.h"
#include "model.h"
#include "unit.h"

static struct tw_call_stats stats(__u64 count, __u64 errors, __u64 total, unsigned int slot)
{
	struct tw_call_stats s = { .count = count, .errors = errors, .total_ns = total };

	s.hist[slot] = count;
	return s;
}

TEST(call_table_and_names)
{
	__u8 table[TW_SYSCALL_NR_MAX] = {};
	char buf[24], eb[16];

	calls_fill_table(table, TW_SYSCALL_NR_MAX);
	CHECK_EQ(table[SYS_read], TW_CALL_READ);
	CHECK_EQ(table[SYS_futex], TW_CALL_FUTEX);
	CHECK_EQ(table[SYS_clock_nanosleep], TW_CALL_CLOCK_NANOSLEEP);
	CHECK_EQ(table[SYS_getpid], TW_CALL_NONE);
	CHECK_EQ(call_of(SYS_connect), TW_CALL_CONNECT);
	CHECK_EQ(call_of(SYS_flock), TW_CALL_NONE);
	CHECK_EQ(call_of(100000), TW_CALL_NONE);
	for (__u32 c = 1; c < TW_CALL_NR; c++)
		CHECK(strcmp(call_name(c), "?") != 0);
	CHECK(!strcmp(call_name(TW_CALL_NR), "?"));
	CHECK(!strcmp(nr_name(SYS_flock, buf), "flock"));
	CHECK(!strcmp(nr_name(SYS_fdatasync, buf), "fdatasync"));
	CHECK(!strcmp(nr_name(TW_SYSCALL_NR_MAX - 1, buf), "syscall_511"));
	CHECK(!strcmp(errno_name(ECONNREFUSED, eb), "ECONNREFUSED"));
	CHECK(!strcmp(errno_name(512, eb), "ERESTARTSYS"));
	CHECK(!strcmp(errno_name(516, eb), "ERESTART_RESTARTBLOCK"));
	CHECK(!strcmp(errno_name(4000, eb), "E4000"));
}

TEST(errno_classes)
{
	CHECK_EQ(errno_class(SYS_connect, ECONNREFUSED), TW_ERR_FAILURE);
	/* a connect that timed out failed; a futex wait that timed out did its job */
	CHECK_EQ(errno_class(SYS_connect, ETIMEDOUT), TW_ERR_FAILURE);
	CHECK_EQ(errno_class(SYS_futex, ETIMEDOUT), TW_ERR_TIMEDOUT);
	CHECK_EQ(errno_class(SYS_mq_timedreceive, ETIMEDOUT), TW_ERR_TIMEDOUT);
	CHECK_EQ(errno_class(SYS_read, EINTR), TW_ERR_INTERRUPTED);
	CHECK_EQ(errno_class(SYS_read, 512), TW_ERR_INTERRUPTED); /* ERESTARTSYS */
	CHECK_EQ(errno_class(SYS_read, 516), TW_ERR_INTERRUPTED);
	CHECK_EQ(errno_class(SYS_read, 515), TW_ERR_FAILURE); /* ENOIOCTLCMD */
	CHECK_EQ(errno_class(SYS_openat, ENOENT), TW_ERR_FAILURE);
}

TEST(calls_set_add_delta)
{
	struct tw_calls a = {}, mark = {}, d = {}, sum = {};
	struct tw_call_key kr = { .tid = 1, .nr = SYS_read };
	struct tw_call_key kf = { .tid = 1, .nr = SYS_futex };
	struct tw_call_stats s;
	const struct tw_call_rec *order[TW_SYSCALL_NR_MAX] = { 0 };

	s = stats(2, 1, 500, 8);
	s.err_nr[0] = EINVAL;
	s.err_count[0] = 1;
	CHECK(!calls_set(&a, &kf, &s));
	s = stats(3, 0, 100, 6);
	CHECK(!calls_set(&a, &kr, &s));
	CHECK_EQ(a.n, 2);
	CHECK_EQ(a.v[0].nr, SYS_read < SYS_futex ? SYS_read : SYS_futex); /* kept sorted by nr */
	CHECK(!calls_copy(&mark, &a));
	/* later: one more read, futex unchanged */
	s = stats(4, 0, 180, 6);
	CHECK(!calls_set(&a, &kr, &s));
	CHECK_EQ(a.n, 2);
	CHECK(!calls_delta(&d, &a, &mark));
	CHECK_EQ(d.n, 1); /* the idle futex is left out */
	CHECK_EQ(d.v[0].nr, SYS_read);
	CHECK_EQ(d.v[0].count, 1);
	CHECK_EQ(d.v[0].total_ns, 80);
	CHECK(d.v[0].hist && d.v[0].hist->n == 1 && d.v[0].hist->b[0].count == 1);
	CHECK(!calls_add(&sum, &a));
	CHECK(!calls_add(&sum, &mark));
	CHECK_EQ(sum.n, 2);
	CHECK_EQ(calls_by_total(&sum, order), 2);
	CHECK_EQ(order[0]->nr, SYS_futex); /* 1000 ns beats 280 */
	CHECK_EQ(order[0]->total_ns, 1000);
	CHECK_EQ(order[0]->errors, 2);
	CHECK_EQ(order[0]->nerrnos, 1);
	CHECK_EQ(order[0]->errnos[0].e, EINVAL);
	CHECK_EQ(order[0]->errnos[0].n, 2);
	CHECK_EQ(order[1]->count, 7);
	calls_free(&a);
	calls_free(&mark);
	calls_free(&d);
	calls_free(&sum);
	CHECK(a.n == 0 && a.v == NULL);
}

/* An untimed call ranks by its sleep; a timed one by its wall time. */
TEST(calls_rank_by_time)
{
	struct tw_calls a = {};
	struct tw_call_key kf = { .tid = 1, .nr = SYS_flock };
	struct tw_call_key kc = { .tid = 1, .nr = SYS_clock_nanosleep };
	struct tw_call_stats s = stats(1, 0, 0, 30);
	const struct tw_call_rec *order[TW_SYSCALL_NR_MAX] = { 0 };

	s.blocked_ns = 1400;
	CHECK(!calls_set(&a, &kf, &s));
	s = stats(1, 0, 1100, 30);
	s.blocked_ns = 1099;
	CHECK(!calls_set(&a, &kc, &s));
	CHECK_EQ(calls_by_total(&a, order), 2);
	CHECK_EQ(order[0]->nr, SYS_flock);
	CHECK_EQ(call_time_ns(order[0]), 1400);
	CHECK_EQ(call_time_ns(order[1]), 1100);
	calls_free(&a);
}

/* The kernel's slots: would-block apart, timeouts and EINTR out of the failures. */
TEST(calls_errno_split)
{
	struct tw_calls a = {}, mark = {}, d = {};
	struct tw_call_key kc = { .tid = 1, .nr = SYS_connect };
	struct tw_call_key kx = { .tid = 1, .nr = SYS_futex };
	struct tw_call_stats s = stats(10, 6, 100, 5);

	s.wouldblock = 3;
	s.err_nr[0] = ECONNREFUSED;
	s.err_count[0] = 2;
	s.err_nr[1] = EINTR;
	s.err_count[1] = 1;
	s.err_nr[2] = ETIMEDOUT;
	s.err_count[2] = 1;
	s.errors_other = 2;
	CHECK(!calls_set(&a, &kc, &s));
	CHECK_EQ(a.v[0].wouldblock, 3);
	CHECK_EQ(a.v[0].interrupted, 1);
	CHECK_EQ(a.v[0].timedout, 0); /* connect's ETIMEDOUT is a failure */
	CHECK_EQ(a.v[0].errors, 5);
	CHECK_EQ(a.v[0].nerrnos, 2);
	CHECK_EQ(a.v[0].errnos[0].e, ECONNREFUSED); /* most first */
	CHECK_EQ(a.v[0].errnos[1].e, ETIMEDOUT);
	CHECK_EQ(a.v[0].errnos_other, 2);
	s = stats(4, 1, 100, 5);
	s.err_nr[0] = ETIMEDOUT;
	s.err_count[0] = 1;
	CHECK(!calls_set(&a, &kx, &s));
	CHECK_EQ(a.v[1].timedout + a.v[0].timedout, 1);
	CHECK(!calls_copy(&mark, &a));
	/* two more refusals and a new errno */
	s = stats(13, 9, 100, 5);
	s.wouldblock = 3;
	s.err_nr[0] = ECONNREFUSED;
	s.err_count[0] = 4;
	s.err_nr[1] = EINTR;
	s.err_count[1] = 1;
	s.err_nr[2] = ETIMEDOUT;
	s.err_count[2] = 1;
	s.err_nr[3] = ENETUNREACH;
	s.err_count[3] = 1;
	s.errors_other = 2;
	CHECK(!calls_set(&a, &kc, &s));
	CHECK(!calls_delta(&d, &a, &mark));
	CHECK_EQ(d.n, 1);
	CHECK_EQ(d.v[0].errors, 3);
	CHECK_EQ(d.v[0].wouldblock, 0);
	CHECK_EQ(d.v[0].nerrnos, 2); /* the ones that did not change drop out */
	CHECK_EQ(d.v[0].errnos[0].e, ECONNREFUSED);
	CHECK_EQ(d.v[0].errnos[0].n, 2);
	CHECK_EQ(d.v[0].errnos[1].e, ENETUNREACH);
	CHECK_EQ(d.v[0].errnos_other, 0);
	calls_free(&a);
	calls_free(&mark);
	calls_free(&d);
}

TEST(errnos_merge_overflow)
{
	struct tw_call_rec r = {}, src = {};

	for (__u32 e = 1; e <= TW_REC_ERRNOS; e++) {
		r.errnos[r.nerrnos].e = e;
		r.errnos[r.nerrnos++].n = 1;
	}
	src.errnos[0].e = 100;
	src.errnos[0].n = 5;
	src.errnos[1].e = 1;
	src.errnos[1].n = 2;
	src.nerrnos = 2;
	src.errnos_other = 1;
	errnos_merge(&r, &src, false);
	CHECK_EQ(r.nerrnos, TW_REC_ERRNOS);
	CHECK_EQ(r.errnos[0].e, 1); /* 3 now: first */
	CHECK_EQ(r.errnos[0].n, 3);
	CHECK_EQ(r.errnos_other, 6); /* errno 100 did not fit */
	errnos_merge(&r, &src, true);
	CHECK_EQ(r.errnos[0].n, 1);
	CHECK_EQ(r.errnos_other, 0);
}

/*
 * A call in flight counts so far, in its record, at each refresh; when the
 * kernel's entry has it (last_seq), the open part is gone and nothing is
 * counted twice: interval deltas add up to the final total.
 */
TEST(calls_open_call_splits)
{
	struct tw_calls a = {}, mark = {}, d = {};
	struct tw_call_key kf = { .tid = 1, .nr = SYS_flock };
	struct tw_call_stats s = stats(1, 0, 0, 20);
	__u64 sum = 0;

	/* an earlier flock, accounted as the thread's 3rd syscall */
	s.blocked_ns = 100;
	s.last_seq = 3;
	CHECK(!calls_set(&a, &kf, &s));
	CHECK(!calls_copy(&mark, &a));
	/* refresh 1: the 7th syscall, a flock, asleep 1000 so far */
	CHECK(!calls_set_open(&a, SYS_flock, 7, 0, 1000));
	CHECK(!calls_set(&a, &kf, &s)); /* unchanged entry */
	CHECK_EQ(a.v[0].blocked_ns, 1100);
	CHECK_EQ(a.v[0].count, 1);
	CHECK(!calls_delta(&d, &a, &mark));
	CHECK_EQ(d.v[0].blocked_ns, 1000);
	sum += d.v[0].blocked_ns;
	CHECK(!calls_copy(&mark, &a));
	/* refresh 2: still in it, 2500 so far */
	CHECK(!calls_set_open(&a, SYS_flock, 7, 0, 2500));
	CHECK_EQ(a.v[0].blocked_ns, 2600);
	CHECK(!calls_delta(&d, &a, &mark));
	sum += d.v[0].blocked_ns;
	CHECK(!calls_copy(&mark, &a));
	/* refresh 3: it returned after 3000 asleep; the thread sits in an untimed read */
	CHECK(!calls_set_open(&a, SYS_read, 9, 0, 0));
	s = stats(2, 0, 0, 20);
	s.blocked_ns = 3100;
	s.last_seq = 7;
	CHECK(!calls_set(&a, &kf, &s));
	CHECK_EQ(a.v[0].blocked_ns, 3100);
	CHECK_EQ(a.n, 1); /* a read that has not slept has no record */
	CHECK(!calls_delta(&d, &a, &mark));
	sum += d.v[0].blocked_ns;
	CHECK_EQ(sum, 3000);
	/* the entry read after the call ended but the thread entry before: counted once */
	CHECK(!calls_set_open(&a, SYS_flock, 12, 40, 500));
	s = stats(3, 0, 0, 20);
	s.blocked_ns = 3700;
	s.last_seq = 12;
	CHECK(!calls_set(&a, &kf, &s));
	CHECK_EQ(a.v[0].blocked_ns, 3700);
	CHECK_EQ(a.v[0].total_ns, 0);
	CHECK(!calls_set_open(&a, TW_NR_NONE, 0, 0, 0));
	CHECK_EQ(a.v[0].blocked_ns, 3700);
	calls_free(&a);
	calls_free(&mark);
	calls_free(&d);
}

/* The model: thread blocked = its calls' blocked + outside syscalls, open intervals included. */
TEST(model_open_call_and_nosys)
{
	struct tw_model m;
	struct tw_thread *t;
	struct tw_thread_stats s = {};

	model_init(&m, false);
	t = model_thread_born(&m, 10, 11, "w");
	CHECK(t != NULL);
	s.tgid = 10;
	s.blocked_ns = 500;
	s.blocked_nosys_ns = 200; /* a page fault */
	s.sys_blocked_ns = 100; /* and the call in flight so far */
	s.sys_cur = SYS_flock + 1;
	s.nsyscalls = 4;
	s.state = TW_ST_BLOCKED;
	s.state_ts = 1000;
	CHECK(!model_thread_fold(t, &s, 1600));
	CHECK_EQ(t->tot.blocked_ns, 1100);
	CHECK_EQ(t->tot.blocked_nosys_ns, 200); /* the open interval is the call's */
	CHECK_EQ(t->tot.calls.n, 1);
	CHECK_EQ(t->tot.calls.v[0].nr, SYS_flock);
	CHECK_EQ(t->tot.calls.v[0].blocked_ns, 700);
	CHECK_EQ(t->tot.calls.v[0].count, 0); /* counted when it returns */
	/* a timed call in flight: its wall time so far too */
	s.sys_cur = SYS_clock_nanosleep + 1;
	s.call = TW_CALL_CLOCK_NANOSLEEP;
	s.sys_ts = 900;
	s.sys_blocked_ns = 0;
	s.nsyscalls = 5;
	CHECK(!model_thread_fold(t, &s, 1600));
	/* the flock, only ever seen in flight, is gone (its kernel entry brings it back) */
	CHECK_EQ(t->tot.calls.n, 1);
	CHECK_EQ(t->tot.calls.v[0].nr, SYS_clock_nanosleep);
	CHECK_EQ(t->tot.calls.v[0].total_ns, 700);
	CHECK_EQ(t->tot.calls.v[0].blocked_ns, 600);
	/* asleep outside a syscall: the open interval is outside too */
	s.sys_cur = 0;
	s.call = 0;
	CHECK(!model_thread_fold(t, &s, 1600));
	CHECK_EQ(t->tot.blocked_nosys_ns, 800);
	model_free(&m);
}
