// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Packed dead threads (user/pack.c): a record unpacks to the very numbers it
 * was packed from, and a model that packs its dead renders every report byte
 * for byte as one that does not.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include "model.h"
#include "pack.h"
#include "report.h"
#include "view.h"
#include "unit.h"

TEST(pack_varint_edges)
{
	const __u64 vals[] = { 0,	   1,	      127,	  128,
			       16383,	   16384,     1ULL << 32, (1ULL << 63) - 1,
			       1ULL << 63, UINT64_MAX };
	__u8 buf[16];

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		__u64 v = 0;
		size_t n = pack_varint_put(buf, vals[i]);

		CHECK(n >= 1 && n <= 10);
		CHECK_EQ(pack_varint_get(buf, &v), n);
		CHECK_EQ(v, vals[i]);
	}
	CHECK_EQ(pack_varint_put(buf, 127), 1);
	CHECK_EQ(pack_varint_put(buf, 128), 2);
	CHECK_EQ(pack_varint_put(buf, UINT64_MAX), 10);
}

static struct tw_shist *shist_of(const __u32 *slots, const __u64 *counts, __u32 n, __u64 min,
				 __u64 max)
{
	struct tw_shist *s = malloc(sizeof(*s) + n * sizeof(s->b[0]));

	s->n = n;
	s->min = min;
	s->max = max;
	for (__u32 i = 0; i < n; i++) {
		s->b[i].slot = slots[i];
		s->b[i].count = counts[i];
	}
	return s;
}

static bool shist_same(const struct tw_shist *a, const struct tw_shist *b)
{
	if (!a || !b)
		return a == b;
	if (a->n != b->n || a->min != b->min || a->max != b->max)
		return false;
	for (__u32 i = 0; i < a->n; i++)
		if (a->b[i].slot != b->b[i].slot || a->b[i].count != b->b[i].count)
			return false;
	return true;
}

static void set_comm16(char *dst, const char *src)
{
	memset(dst, 0, TASK_COMM_LEN);
	memcpy(dst, src, strnlen(src, TASK_COMM_LEN));
}

TEST(pack_round_trip)
{
	const __u32 slots[] = { 0, 27, 127, 128, TW_HIST_SLOTS - 1 };
	const __u64 counts[] = { 1, 1ULL << 40, 3, UINT64_MAX, 7 };
	struct tw_call_key key = { .tid = 7, .nr = SYS_read };
	struct tw_call_stats cs = { .count = 5, .blocked_ns = 99, .total_ns = 1234 };
	struct tw_thread a = {}, b = {}, c = {};
	struct tw_pack pk = {};
	struct tw_unpacked u;
	struct tw_pack_keys k;
	struct tw_pack_mark mk;

	/* a storm's thread: one run-queue bucket, nothing else */
	a.tid = 4242;
	a.seq = 17;
	set_comm16(a.comm, "w-55742");
	a.tot.oncpu_ns = 16700;
	a.tot.runq_ns = 6270000;
	a.tot.vol_switches = 1;
	a.tot.runq = shist_of(slots + 1, counts + 2, 1, 6270000, 6270000);
	/* every number large, both histograms with odd extremes, calls and a loop */
	b.tid = UINT32_MAX;
	b.seq = UINT64_MAX;
	set_comm16(b.comm, "w-139851"); /* the same FNV-1a hash as w-55742: stored inline */
	b.tot.oncpu_ns = UINT64_MAX;
	b.tot.blocked_ns = 1ULL << 63;
	b.tot.blocked_nosys_ns = 12345678901234ULL;
	b.tot.runq_ns = 1;
	b.tot.vol_switches = UINT64_MAX - 1;
	b.tot.invol_switches = 1ULL << 35;
	b.tot.threads_created = 50000;
	b.tot.blocked = shist_of(slots, counts, 5, UINT64_MAX, 0);
	b.tot.runq = shist_of(slots, counts, 0, 0, 0); /* present but empty: kept so */
	CHECK(!calls_set(&b.tot.calls, &key, &cs));
	/* every field of the call, set */
	{
		struct tw_call_rec *c = &b.tot.calls.v[0];
		const __u64 hs[] = { 3, 1ULL << 50 };

		c->errors = 3;
		c->wouldblock = 1ULL << 40;
		c->timedout = 2;
		c->interrupted = 5;
		c->pre_calls = 1;
		for (int k = 0; k < TW_FD_NR; k++) {
			c->fd_count[k] = 10 + k;
			c->fd_ns[k] = 1000000ULL * (k + 1);
		}
		c->nerrnos = 2;
		c->errnos[0].e = 104;
		c->errnos[0].n = 2;
		c->errnos[1].e = 111;
		c->errnos[1].n = 1;
		c->errnos_other = 4;
		c->hist = shist_of(slots + 2, hs, 2, 100, 1ULL << 45);
		c->open = true;
		c->open_seq = 77;
		c->open_total_ns = 500;
		c->open_blocked_ns = 400;
	}
	b.loop = calloc(1, sizeof(*b.loop));
	b.loop->tot.iterations = 77;
	/* a name of bytes past its NUL, kept bit for bit; a Python thread name, no loop */
	c.tid = 9;
	memcpy(c.comm, "abc\0defghijklmn", TASK_COMM_LEN);
	c.py_name = "fetcher-3";

	CHECK(!pack_add(&pk, &a));
	pack_mark(&pk, &mk);
	CHECK(!pack_add(&pk, &b));
	CHECK(!pack_add(&pk, &c));
	CHECK_EQ(pk.n, 3);
	CHECK_EQ(pk.nextra, 2);
	CHECK_EQ(pk.nnames, 2); /* w-55742 and abc...; w-139851 inline */
	/* a storm's thread in a few bytes */
	CHECK(pk.off[1] - pk.off[0] <= 32);
	CHECK_EQ(pk.max_calls, 1);
	CHECK(!unpacked_init(&u));
	CHECK(!unpacked_reserve(&u, &pk));

	pack_get(&pk, 0, &u);
	CHECK_EQ(u.tid, 4242);
	CHECK_EQ(u.seq, 17);
	CHECK(!memcmp(u.comm, a.comm, TASK_COMM_LEN));
	CHECK_EQ(u.rec.oncpu_ns, 16700);
	CHECK_EQ(u.rec.runq_ns, 6270000);
	CHECK_EQ(u.rec.blocked_ns, 0);
	CHECK_EQ(u.rec.vol_switches, 1);
	CHECK(!u.rec.blocked);
	CHECK(shist_same(u.rec.runq, a.tot.runq));
	CHECK(!u.rec.calls.n && !u.loop && !u.py_name);

	pack_get(&pk, 1, &u);
	CHECK_EQ(u.tid, UINT32_MAX);
	CHECK_EQ(u.seq, UINT64_MAX);
	CHECK(!memcmp(u.comm, b.comm, TASK_COMM_LEN));
	CHECK_EQ(u.rec.oncpu_ns, UINT64_MAX);
	CHECK_EQ(u.rec.blocked_ns, 1ULL << 63);
	CHECK_EQ(u.rec.blocked_nosys_ns, 12345678901234ULL);
	CHECK_EQ(u.rec.runq_ns, 1);
	CHECK_EQ(u.rec.vol_switches, UINT64_MAX - 1);
	CHECK_EQ(u.rec.invol_switches, 1ULL << 35);
	CHECK_EQ(u.rec.threads_created, 50000);
	CHECK(shist_same(u.rec.blocked, b.tot.blocked));
	CHECK(u.rec.runq && u.rec.runq->n == 0);
	CHECK_EQ(u.rec.calls.n, 1);
	CHECK(u.rec.calls.v != b.tot.calls.v); /* a copy: b's stay b's */
	CHECK(!memcmp(u.rec.calls.v, b.tot.calls.v, offsetof(struct tw_call_rec, hist)));
	CHECK(shist_same(u.rec.calls.v[0].hist, b.tot.calls.v[0].hist));
	CHECK(u.rec.calls.v[0].open);
	CHECK_EQ(u.rec.calls.v[0].open_seq, 77);
	CHECK_EQ(u.rec.calls.v[0].open_total_ns, 500);
	CHECK_EQ(u.rec.calls.v[0].open_blocked_ns, 400);
	CHECK(u.loop == b.loop && !u.py_name);

	pack_get(&pk, 2, &u);
	CHECK(!memcmp(u.comm, c.comm, TASK_COMM_LEN));
	CHECK(!u.rec.blocked && !u.rec.runq);
	CHECK(!u.loop && u.py_name == c.py_name); /* moved into the pack, not copied */

	pack_keys(&pk, 1, &k);
	CHECK_EQ(k.tid, UINT32_MAX);
	CHECK_EQ(k.oncpu_ns, UINT64_MAX);
	CHECK_EQ(k.offcpu_ns, (1ULL << 63) + 1);
	CHECK(!memcmp(k.comm, b.comm, TASK_COMM_LEN));

	/* rolled back, b's loop is the caller's again */
	pack_rollback(&pk, &mk);
	CHECK_EQ(pk.n, 1);
	CHECK_EQ(pk.nextra, 0);
	pack_get(&pk, 0, &u);
	CHECK_EQ(u.tid, 4242);
	unpacked_free(&u);
	pack_free(&pk);
	free(a.tot.runq);
	free(b.tot.blocked);
	free(b.tot.runq);
	calls_free(&b.tot.calls);
	free(b.loop);
}

/* A small deterministic generator: the same model twice. */
static __u64 lcg(__u64 *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

/*
 * Process 100: a thread pool with tids reused, names of two patterns, some
 * threads with blocking calls, some event loops with stalls, harvested as the
 * collector does; process 200 alongside. n threads in all, keep alive at once.
 * The dead are harvested in order of their exits, like the collector's queue.
 */
static void fill(struct tw_model *m, size_t n, size_t keep, bool marks_each)
{
	struct tw_thread **alive = calloc(keep, sizeof(*alive));
	__u64 seed = 42, now = 1000000;
	size_t nalive = 0;

	m->stall_ns = 1000000;
	m->max_stalls = 1000;
	model_thread_born(m, 100, 100, "server");
	model_thread_born(m, 200, 200, "other");
	for (size_t i = 0; i < n; i++) {
		__u32 tid = 1000 + (__u32)(lcg(&seed) % 700); /* reused, as pid_max forces */
		char name[TASK_COMM_LEN];
		struct tw_thread *t;

		snprintf(name, sizeof(name), lcg(&seed) % 3 ? "worker-%u" : "io",
			 (unsigned)(i % 37));
		if (nalive == keep) {
			/* the oldest dies: its last numbers, calls and loop, then the harvest */
			struct tw_thread *d = alive[0];
			struct tw_thread_stats s = { .tgid = 100 };
			__u32 hb = 20 + (__u32)(lcg(&seed) % 60);

			memmove(alive, alive + 1, (keep - 1) * sizeof(*alive));
			nalive--;
			s.oncpu_ns = lcg(&seed) % 100000;
			s.blocked_ns = lcg(&seed) % 3 ? 0 : lcg(&seed) % 50000000;
			s.blocked_nosys_ns = s.blocked_ns / 3;
			s.runq_ns = lcg(&seed) % 10000000;
			s.vol_switches = lcg(&seed) % 4;
			s.invol_switches = lcg(&seed) % 2;
			s.runq_hist[hb] = 1 + (__u32)(lcg(&seed) % 3);
			s.runq_max_ns = 5000000;
			s.runq_min_inv = ~5000ULL;
			if (lcg(&seed) % 7 == 0) {
				/* ties: only the tid and the order of first sight tell them apart */
				memset(&s, 0, sizeof(s));
				s.tgid = 100;
				s.oncpu_ns = 1000;
				s.runq_ns = 5000;
			}
			if (s.blocked_ns) {
				s.blocked_hist[hb + 10] = 2;
				s.blocked_max_ns = s.blocked_ns;
				s.blocked_min_inv = ~(s.blocked_ns / 4);
			}
			model_thread_died(m, 100, d->tid, now, NULL);
			model_thread_fold(d, &s, 0);
			if (lcg(&seed) % 5 == 0) {
				struct tw_call_key key = { .tid = d->tid, .nr = SYS_read };
				struct tw_call_stats cs = { .tgid = 100,
							    .count = 3,
							    .total_ns = 300 };

				cs.hist[hb] = 3;
				cs.max_ns = 200;
				cs.min_inv = ~50ULL;
				if (lcg(&seed) % 2) {
					cs.errors = 1;
					cs.err_nr[0] = 104;
					cs.err_count[0] = 1;
				}
				model_thread_call_fold(d, &key, &cs);
				key.nr = SYS_futex;
				cs.count = 1;
				cs.errors = 0;
				model_thread_call_fold(d, &key, &cs);
			}
			if (lcg(&seed) % 9 == 0) {
				struct tw_loop_stats ls = { .tgid = 100,
							    .iterations = 10,
							    .stalls = 1,
							    .gap_total_ns = 5000000,
							    .gap_max_ns = 2000000,
							    .gap_min_inv = ~100000ULL };
				struct tw_stall st = { .type = TW_EV_STALL,
						       .tid = d->tid,
						       .tgid = 100,
						       .start_ns = now - 3000000,
						       .duration_ns = 2000000,
						       .blocked_ns = 1900000,
						       .longest_nr = SYS_read + 1,
						       .longest_ns = 1800000 };

				ls.gap_hist[hb] = 10;
				model_stall_add(m, &st);
				model_loop_fold(d, &ls);
			}
			d->harvested = true;
			if (marks_each && i % 97 == 0)
				model_mark(m);
		}
		t = model_thread_born(m, 100, tid, name);
		for (size_t k = 0; t && k < nalive; k++)
			if (alive[k] == t)
				t = NULL; /* a live tid born again: nothing new */
		if (t)
			alive[nalive++] = t;
		now += 1000;
		if (i % 50 == 0) {
			struct tw_thread_stats s = { .tgid = 200,
						     .oncpu_ns = i * 10,
						     .vol_switches = i };

			model_thread_fold(proc_thread(model_proc(m, 200), 200), &s, now);
		}
	}
	m->live_ns = now;
	free(alive);
}

/* A final (or interval) report of m, text or JSON, by thread or comm, into a string. */
static char *render(const struct tw_model *m, bool json, enum tw_by by, bool final, bool group)
{
	struct tw_view_opts o = {
		.final = final,
		.duration_s = 12.5,
		.attach = "tp_btf",
		.by = by,
		.syscalls = true,
		.run_start_ns = 1000000,
		.blocked_ns = 1000000000,
		.clock = { .mono_ns = 2000000000, .wall_off_ns = 1764570000000000000LL },
		.span_start_ns = 1000000,
		.group_procs = group,
	};
	struct tw_view v;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (view_build(&v, m, &o))
		return NULL;
	f = open_memstream(&buf, &len);
	if (json)
		report_json(f, &v);
	else
		report_text(f, &v);
	fclose(f);
	view_free(&v);
	return buf;
}

static void check_same_reports(const struct tw_model *a, const struct tw_model *b, bool final)
{
	for (int json = 0; json < 2; json++)
		for (int by = 0; by < 2; by++)
			for (int group = 0; group < 2; group++) {
				char *x = render(a, json, by, final, group);
				char *y = render(b, json, by, final, group);

				CHECK(x && y);
				if (x && y && strcmp(x, y)) {
					fprintf(stderr,
						"  reports differ (json %d, by %d, group %d):"
						"\n--- unpacked\n%.2000s\n--- packed\n%.2000s\n",
						json, by, group, x, y);
					CHECK(!"same report");
				}
				free(x);
				free(y);
			}
}

TEST(pack_keeps_every_report_the_same)
{
	struct tw_model plain, packed;
	const struct tw_proc *p;

	model_init(&plain, false);
	model_init(&packed, false);
	packed.pack_dead = true;
	fill(&plain, 6000, 64, false);
	fill(&packed, 6000, 64, false);
	p = model_proc(&packed, 100);
	/* most of the dead are packed, and the records left are about the living */
	CHECK(p->pack && p->pack->n > 5000);
	CHECK(p->nthreads < 200);
	CHECK(p->pack->nextra > 100);
	CHECK_EQ(model_proc(&plain, 100)->nthreads, p->nthreads + p->pack->n);
	/* every live tid finds its record, the newest one */
	for (size_t i = 0; i < p->nthreads; i++) {
		const struct tw_thread *t = p->threads[i];

		if (t->alive)
			CHECK(proc_thread(p, t->tid) == t);
	}
	check_same_reports(&plain, &packed, true);
	model_free(&plain);
	model_free(&packed);
}

TEST(pack_with_interval_marks)
{
	struct tw_model plain, packed;

	model_init(&plain, true);
	model_init(&packed, true);
	packed.pack_dead = true;
	fill(&plain, 3000, 32, true);
	fill(&packed, 3000, 32, true);
	CHECK(model_proc(&packed, 100)->pack && model_proc(&packed, 100)->pack->n > 1000);
	/* the interval since the last mark, then the final report */
	check_same_reports(&plain, &packed, false);
	check_same_reports(&plain, &packed, true);
	model_free(&plain);
	model_free(&packed);
}

TEST(pack_then_prune_folds_them_gone)
{
	struct tw_model plain, packed;
	const struct tw_proc *a, *b;
	struct tw_thread_totals x, y;

	model_init(&plain, false);
	model_init(&packed, false);
	packed.pack_dead = true;
	fill(&plain, 2000, 16, false);
	fill(&packed, 2000, 16, false);
	CHECK(!model_prune(&plain, 1, 1ULL << 62));
	CHECK(!model_prune(&packed, 1, 1ULL << 62));
	a = model_proc(&plain, 100);
	b = model_proc(&packed, 100);
	CHECK(a->gone && b->gone);
	CHECK(!b->pack || !b->pack->n);
	rec_expand(&a->gone->tot, &x);
	rec_expand(&b->gone->tot, &y);
	CHECK(!memcmp(&x, &y, sizeof(x)));
	CHECK_EQ(a->gone->tot.calls.n, b->gone->tot.calls.n);
	CHECK(a->gone->loop && b->gone->loop);
	CHECK_EQ(a->gone->loop->tot.iterations, b->gone->loop->tot.iterations);
	CHECK_EQ(a->nthreads, b->nthreads);
	model_free(&plain);
	model_free(&packed);
}

/* Equal rows of one tid keep their order of first sight, packed or not. */
TEST(pack_ties_keep_first_sight)
{
	struct tw_thread_stats s = { .tgid = 1, .oncpu_ns = 1000, .runq_ns = 5000 };
	struct tw_model m;
	struct tw_thread *t;
	struct tw_view v;
	struct tw_view_opts o = { .final = true, .attach = "tp_btf" };
	const struct tw_proc_view *pv;
	int seen = 0;

	model_init(&m, false);
	m.pack_dead = true;
	model_thread_born(&m, 1, 1, "main");
	t = model_thread_born(&m, 1, 5, "first");
	model_thread_died(&m, 1, 5, 10, NULL);
	model_thread_fold(t, &s, 0);
	t->harvested = true;
	/* enough others to pack the first one */
	for (__u32 tid = 10; tid < 200; tid++) {
		t = model_thread_born(&m, 1, tid, "other");
		model_thread_died(&m, 1, tid, 20, NULL);
		t->harvested = true;
	}
	CHECK(model_proc(&m, 1)->pack && model_proc(&m, 1)->pack->n > 100);
	CHECK(!proc_thread(model_proc(&m, 1), 5));
	/* the tid again, the same numbers, dead but not harvested: a record */
	t = model_thread_born(&m, 1, 5, "second");
	model_thread_died(&m, 1, 5, 30, NULL);
	model_thread_fold(t, &s, 0);
	CHECK(proc_thread(model_proc(&m, 1), 5) == t);
	CHECK(!view_build(&v, &m, &o));
	pv = &v.procs[0];
	for (size_t i = 0; i < pv->nrows; i++) {
		const struct tw_row *r = view_row(&v, pv, i);

		if (r->tid != 5)
			continue;
		CHECK(!strcmp(r->comm, seen ? "second" : "first"));
		seen++;
	}
	CHECK_EQ(seen, 2);
	view_free(&v);
	model_free(&m);
}
