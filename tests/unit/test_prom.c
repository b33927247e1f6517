// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* The daemon's pieces that need no kernel: pruning the model, the Prometheus exposition. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include "cgroup.h"
#include "model.h"
#include "prom.h"
#include "view.h"
#include "unit.h"

static void blocked_for(struct tw_thread *t, __u64 ns, unsigned int slot)
{
	struct tw_thread_totals tot;

	rec_expand(&t->tot, &tot);
	tot.blocked_ns += ns;
	tot.blocked.slot[slot] += 1;
	CHECK(!rec_store(&t->tot, &tot));
}

/* The rendering of m as a string (caller frees). */
static char *render(struct tw_model *m, const struct tw_prom_opts *po)
{
	struct tw_agent_stats as = { .version = "t" };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	CHECK(!report_prom(f, m, po, &as));
	fclose(f);
	return buf;
}

/* Pruned dead threads keep counting in their process; exited processes go after a while. */
TEST(prune_keeps_totals_and_bounds_memory)
{
	struct tw_prom_opts po = { .by = TW_PROM_PROCESS, .top_k = 10 };
	struct tw_model m;
	struct tw_thread *t;
	struct tw_proc *p;
	char *out;

	model_init(&m, false);
	model_thread_born(&m, 10, 10, "app");
	for (__u32 tid = 11; tid < 15; tid++) {
		t = model_thread_born(&m, 10, tid, "w");
		blocked_for(t, 1000, hist_slot_of(1000)); /* (2^9.75, 2^10] ns */
		model_thread_died(&m, 10, tid, 100, NULL);
		t->harvested = true;
	}
	p = model_proc(&m, 10);
	CHECK(!model_prune(&m, 200, 1000));
	CHECK_EQ(p->nthreads, 1);
	CHECK(p->gone != NULL);
	CHECK(proc_thread(p, 10) != NULL && proc_thread(p, 12) == NULL);
	out = render(&m, &po);
	CHECK(strstr(out, "threadwatch_threads{pid=\"10\",comm=\"app\"} 1\n") != NULL);
	/* the four dead threads' intervals: all below 2^10 ns, _sum exact */
	CHECK(strstr(out, "threadwatch_offcpu_blocked_seconds_bucket{pid=\"10\",comm=\"app\","
			  "le=\"1.024e-06\"} 4\n") != NULL);
	CHECK(strstr(out, "threadwatch_offcpu_blocked_seconds_sum{pid=\"10\",comm=\"app\"} "
			  "0.000004000\n") != NULL);
	free(out);
	/* the process exits: it stays keep_exited, then it is dropped */
	model_thread_died(&m, 10, 10, 300, NULL);
	p->threads[0]->harvested = true;
	p->harvested = true;
	CHECK(!model_prune(&m, 400, 1000));
	CHECK_EQ(m.nprocs, 1);
	CHECK(!model_prune(&m, 1300, 1000));
	CHECK_EQ(m.nprocs, 0);
	CHECK(model_proc(&m, 10) == NULL);
	model_free(&m);
}

/* Top-K by threads, the rest in "other"; labels escaped; pod labels only when known. */
/* le buckets are exact sums of the fine buckets: a value of exactly 2^k ns is in le=2^k. */
TEST(prom_le_buckets_exact_at_bounds)
{
	static const __u64 vals[] = { 1024, 1025, 8192, 8193, (1ULL << 37), (1ULL << 37) + 1 };
	struct tw_prom_opts po = { .by = TW_PROM_PROCESS, .top_k = 10 };
	struct tw_model m;
	char *out;

	model_init(&m, false);
	for (__u32 i = 0; i < 6; i++)
		blocked_for(model_thread_born(&m, 20, 20 + i, "b"), vals[i], hist_slot_of(vals[i]));
	out = render(&m, &po);
#define LE(bound, n)                                                                         \
	CHECK(strstr(out, "threadwatch_offcpu_blocked_seconds_bucket{pid=\"20\",comm=\"b\"," \
			  "le=\"" bound "\"} " #n "\n") != NULL)
	LE("1.024e-06", 1);
	LE("8.192e-06", 3);
	LE("6.5536e-05", 4);
	LE("17.179869184", 4);
	LE("137.438953472", 5);
	LE("+Inf", 6);
#undef LE
	free(out);
	model_free(&m);
}

TEST(prom_top_k_other_and_labels)
{
	struct tw_prom_opts po = { .by = TW_PROM_PROCESS, .top_k = 2 };
	struct tw_model m;
	struct tw_proc *p;
	char *out;

	model_init(&m, false);
	for (__u32 i = 0; i < 3; i++)
		model_thread_born(&m, 100, 100 + i, "big");
	model_thread_born(&m, 200, 200, "we\"ird\\");
	model_thread_born(&m, 200, 201, "we\"ird\\");
	model_thread_born(&m, 300, 300, "small");
	model_thread_born(&m, 400, 400, "tiny");
	p = model_proc(&m, 100);
	p->ctr = calloc(1, sizeof(*p->ctr));
	CHECK(p->ctr != NULL);
	strcpy(p->ctr->container_id,
	       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	strcpy(p->ctr->pod, "web-1");
	strcpy(p->ctr->namespace, "shop");
	out = render(&m, &po);
	CHECK(strstr(out, "threadwatch_threads{pid=\"100\",comm=\"big\",container_id=\"0123456789"
			  "abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",pod=\"web-1\","
			  "namespace=\"shop\"} 3\n") != NULL);
	CHECK(strstr(out, "threadwatch_threads{pid=\"200\",comm=\"we\\\"ird\\\\\"} 2\n") != NULL);
	CHECK(strstr(out, "threadwatch_threads{pid=\"other\",comm=\"other\"} 2\n") != NULL);
	CHECK(strstr(out, "pid=\"300\"") == NULL);
	CHECK(strstr(out, "threadwatch_agent_groups_other 2\n") != NULL);
	free(out);
	/* by comm: one group per name, no pid label */
	po.by = TW_PROM_COMM;
	po.top_k = 10;
	out = render(&m, &po);
	CHECK(strstr(out, "threadwatch_threads{comm=\"tiny\"} 1\n") != NULL);
	CHECK(strstr(out, "pid=") == NULL);
	free(out);
	model_free(&m);
}

/*
 * Calls by syscall name: failures by errno (the top few, then "other"),
 * would-block apart, the blocked time; past PROM_TOP_CALLS (16) calls a
 * group's others are added into call="other".
 */
TEST(prom_calls_errnos_and_top_calls)
{
	struct tw_prom_opts po = { .by = TW_PROM_PROCESS, .top_k = 10 };
	struct tw_call_stats s = {};
	struct tw_model m;
	struct tw_thread *t;
	char *out, want[96], nb[24];

	CHECK(SYS_connect >= 20);
	model_init(&m, false);
	t = model_thread_born(&m, 10, 10, "app");
	s.count = 30;
	s.total_ns = 5000000000ULL; /* most time: listed first */
	s.hist[20] = 30;
	s.wouldblock = 20;
	s.errors = 10;
	s.err_nr[0] = ECONNREFUSED;
	s.err_count[0] = 4;
	s.err_nr[1] = ENETUNREACH;
	s.err_count[1] = 3;
	s.err_nr[2] = EHOSTUNREACH;
	s.err_count[2] = 1;
	s.err_nr[3] = EINTR; /* not a failure */
	s.err_count[3] = 1;
	s.errors_other = 1;
	CHECK(!model_thread_call_fold(t, &(struct tw_call_key){ .tid = 10, .nr = SYS_connect },
				      &s));
	/* 19 untimed calls that slept 1 us each, and one of 2 us (none is connect) */
	for (__u32 nr = 0; nr < 20; nr++) {
		struct tw_call_stats u = { .count = 1, .blocked_ns = nr == 19 ? 2000 : 1000 };

		u.hist[10] = 1;
		CHECK(!model_thread_call_fold(t, &(struct tw_call_key){ .tid = 10, .nr = nr }, &u));
	}
	out = render(&m, &po);
	CHECK(strstr(out, "threadwatch_syscall_errors_total{pid=\"10\",comm=\"app\","
			  "call=\"connect\",errno=\"ECONNREFUSED\"} 4\n") != NULL);
	CHECK(strstr(out, "call=\"connect\",errno=\"EHOSTUNREACH\"} 1\n") != NULL);
	/* past the top 3 errnos, and errors_other: 10 - 1 (EINTR) - 4 - 3 - 1 */
	CHECK(strstr(out, "call=\"connect\",errno=\"other\"} 1\n") != NULL);
	CHECK(strstr(out, "call=\"connect\",errno=\"EINTR\"") == NULL);
	CHECK(strstr(out, "threadwatch_syscall_results_total{pid=\"10\",comm=\"app\","
			  "call=\"connect\",result=\"wouldblock\"} 20\n") != NULL);
	CHECK(strstr(out, "call=\"connect\",result=\"interrupted\"} 1\n") != NULL);
	snprintf(want, sizeof(want), "call=\"%s\"} 0.000002000\n", nr_name(19, nb));
	CHECK(strstr(out, want) != NULL);
	/* 21 calls: 16 of their own (ties by number), the other 5 (1 us each) in one */
	CHECK(strstr(out, "threadwatch_syscall_blocked_seconds_total{pid=\"10\",comm=\"app\","
			  "call=\"other\"} 0.000005000\n") != NULL);
	CHECK(strstr(out, "threadwatch_syscall_seconds_count{pid=\"10\",comm=\"app\","
			  "call=\"other\"} 5\n") != NULL);
	free(out);
	model_free(&m);
}

/* The daemon's compact loops render as the CLI's full ones, dead loops pruned into "gone" too. */
TEST(prom_compact_loops_same_series)
{
	struct tw_prom_opts po = { .by = TW_PROM_PROCESS, .top_k = 10, .syscalls = true };
	char *out[2];

	for (int compact = 0; compact < 2; compact++) {
		struct tw_model m;

		model_init(&m, false);
		m.compact_loops = compact;
		m.stall_ns = 100;
		for (__u32 tid = 30; tid < 34; tid++) {
			struct tw_thread *t = model_thread_born(&m, 30, tid, "loop");
			struct tw_loop_stats ls = { .tgid = 30,
						    .iterations = 5 + tid,
						    .stalls = 1,
						    .gap_total_ns = 1000 * tid,
						    .gap_max_ns = 900,
						    .gap_min_inv = ~10ULL };
			struct tw_thread_stats ts = { .tgid = 30, .has_loop = 1, .gap_ts = 50 };

			ls.gap_hist[hist_slot_of(500)] = 3 + tid;
			ls.gap_hist[hist_slot_of(900)] = 2;
			CHECK(!model_loop_fold(t, &ls));
			CHECK(!model_loop_fold(t, &ls)); /* unchanged: nothing moves */
			CHECK(!model_thread_live(&m, t, &ts, 200)); /* in a stall since 50 */
			CHECK(compact ? t->lite && !t->loop : t->loop && !t->lite);
			if (tid >= 32) {
				model_thread_died(&m, 30, tid, 300, NULL);
				t->harvested = true;
			}
		}
		CHECK(!model_prune(&m, 400, 1000000));
		out[compact] = render(&m, &po);
		CHECK(strstr(out[compact], "threadwatch_loops{pid=\"30\",comm=\"loop\"} 2\n") !=
		      NULL);
		CHECK(strstr(out[compact],
			     "threadwatch_loops_stalled_now{pid=\"30\",comm=\"loop\"} 2\n"));
		CHECK(strstr(out[compact],
			     "threadwatch_loop_gap_seconds_count{pid=\"30\",comm=\"loop\"} 146\n"));
		model_free(&m);
	}
	CHECK(!strcmp(out[0], out[1]));
	free(out[0]);
	free(out[1]);
}
