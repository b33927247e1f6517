// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* Stacks in the model and the view: interning, samples, per-process stacks, --folded lines. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "unit.h"
#include "model.h"
#include "report.h"
#include "view.h"
#include "ksyms.h"

static long frame(struct tw_stackset *s, const char *func, const char *module, __u64 off,
		  bool plumbing)
{
	struct tw_sframe f = {
		.func = (char *)func, .module = (char *)module, .offset = off, .plumbing = plumbing
	};

	return stackset_frame(s, &f);
}

static int add(struct tw_stackset *s, __u32 pid, __u32 tid, const char *comm, __u32 nr, __u32 stack,
	       __u64 w)
{
	struct tw_skey k = { .pid = pid, .tid = tid, .nr = nr, .stack = stack };

	return stackset_add(s, &k, comm, w);
}

TEST(stackset_interns_frames_and_stacks)
{
	struct tw_stackset s = { 0 };
	__u32 a[3], b[2];

	a[0] = (__u32)frame(&s, "read", "/usr/lib/libc.so.6", 0x10, true);
	a[1] = (__u32)frame(&s, "read_body", "/app", 0x20, false);
	a[2] = (__u32)frame(&s, "main", "/app", 0x30, false);
	CHECK_EQ(s.nframes, 3);
	/* the same content is the same frame; a NULL func differs from any name */
	CHECK_EQ(frame(&s, "read_body", "/app", 0x20, false), a[1]);
	CHECK(frame(&s, NULL, "/app", 0x20, false) != a[1]);
	CHECK(frame(&s, "read_body", "/app", 0x21, false) != a[1]);
	CHECK_EQ(s.nframes, 5);
	CHECK_EQ(stackset_stack(&s, a, 3), 0);
	CHECK_EQ(stackset_stack(&s, a, 3), 0);
	CHECK_EQ(stackset_stack(&s, a, 2), 1); /* a prefix is another stack */
	b[0] = a[1];
	b[1] = a[2];
	CHECK_EQ(stackset_stack(&s, b, 2), 2);
	CHECK_EQ(s.nstacks, 3);
	/* many frames: chains and growth keep every one findable */
	for (int i = 0; i < 5000; i++)
		CHECK(frame(&s, "f", "/m", (__u64)i, false) >= 0);
	for (int i = 0; i < 5000; i++)
		CHECK_EQ(frame(&s, "f", "/m", (__u64)i, false), 5 + i);
	stackset_free(&s);
}

TEST(stackset_samples_add_up)
{
	struct tw_stackset s = { 0 };
	__u32 f0 = (__u32)frame(&s, "x", "/m", 0, false);
	__u32 st = (__u32)stackset_stack(&s, &f0, 1);

	CHECK_EQ(add(&s, 10, 11, "w1", 1, st, 1000), 0);
	CHECK_EQ(add(&s, 10, 11, "w1", 1, st, 500), 0);
	CHECK_EQ(add(&s, 10, 12, "w2", 1, st, 7), 0);
	CHECK_EQ(add(&s, 10, 11, "w1", 2, st, 3), 0); /* another call */
	CHECK_EQ(s.nsamples, 3);
	CHECK_EQ(s.samples[0].weight_ns, 1500);
	CHECK_EQ(s.samples[0].count, 2);
	CHECK(!strcmp(s.samples[1].comm, "w2"));
	stackset_free(&s);
}

/* A model with one process of two threads, each with samples; the view's stacks and lines. */
TEST(view_stacks_sum_order_and_folded)
{
	struct tw_model m;
	struct tw_view v;
	struct tw_view_opts o = { .final = true, .stacks = true, .folded = true };
	__u32 fr[3], st1, st2;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	model_init(&m, false);
	CHECK(model_proc_add(&m, 100, "srv") != NULL);
	model_proc(&m, 100)->target = true;
	fr[0] = (__u32)frame(&m.stacks, "read", "/lib/libc.so.6", 4, true);
	fr[1] = (__u32)frame(&m.stacks, NULL, "/srv", 0x40, false);
	fr[2] = (__u32)frame(&m.stacks, "main;x", "/srv", 8, false);
	st1 = (__u32)stackset_stack(&m.stacks, fr, 3);
	st2 = (__u32)stackset_stack(&m.stacks, fr + 2, 1);
	CHECK_EQ(add(&m.stacks, 100, 101, "pool", 1, st1, 3000), 0);
	CHECK_EQ(add(&m.stacks, 100, 102, "pool", 1, st1, 2000), 0);
	CHECK_EQ(add(&m.stacks, 100, 102, "pool", 1, st2, 9000), 0);
	CHECK_EQ(add(&m.stacks, 100, 103, "io", 1, st1, 1500), 0);
	CHECK_EQ(view_build(&v, &m, &o), 0);
	CHECK_EQ(v.nprocs, 1);
	CHECK_EQ(v.procs[0].nstacks, 2);
	/* heaviest first: st2 (9 us, one thread), then st1 added up over three threads */
	CHECK_EQ(v.procs[0].stacks[0].stack, st2);
	CHECK_EQ(v.procs[0].stacks[1].weight_ns, 6500);
	CHECK_EQ(v.procs[0].stacks[1].nthreads, 3);
	CHECK_EQ(v.procs[0].stacks[1].count, 3);
	/* the first frame past libc */
	CHECK_EQ(v.procs[0].stacks[1].own, 1);
	CHECK_EQ(v.procs[0].nsamples, 4);
	CHECK_EQ(v.procs[0].samples[0]->tid, 101);
	/* folded: one line per (process, thread name, stack), the pool's two threads as one */
	CHECK_EQ(v.nfolded, 3);
	f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	CHECK_EQ(report_folded(f, &v), 0);
	fclose(f);
	CHECK(!strcmp(buf, "srv-100;io;main:x;srv+0x40;read 2\n"
			   "srv-100;pool;main:x;srv+0x40;read 5\n"
			   "srv-100;pool;main:x 9\n"));
	free(buf);
	view_free(&v);
	model_free(&m);
}

TEST(ksyms_lines)
{
	char name[64], mod[32];
	__u64 a;

	CHECK(ksyms_parse_line("ffffffff81000000 T _stext\n", &a, name, sizeof(name), mod,
			       sizeof(mod)));
	CHECK_EQ(a, 0xffffffff81000000ULL);
	CHECK(!strcmp(name, "_stext") && !mod[0]);
	CHECK(ksyms_parse_line("ffffffffc0a01000 t ext4_read\t[ext4]\n", &a, name, sizeof(name),
			       mod, sizeof(mod)));
	CHECK(!strcmp(name, "ext4_read") && !strcmp(mod, "[ext4]"));
	/* data symbols, garbage, a name too long for the buffer, a hidden address */
	CHECK(!ksyms_parse_line("ffffffff82000000 D jiffies\n", &a, name, sizeof(name), mod,
				sizeof(mod)));
	CHECK(!ksyms_parse_line("zzz T x\n", &a, name, sizeof(name), mod, sizeof(mod)));
	CHECK(!ksyms_parse_line("", &a, name, sizeof(name), mod, sizeof(mod)));
	CHECK(!ksyms_parse_line("ffff T\n", &a, name, sizeof(name), mod, sizeof(mod)));
	CHECK(!ksyms_parse_line("ffff T aaaaaaaa\n", &a, name, 4, mod, sizeof(mod)));
	CHECK(ksyms_parse_line("0000000000000000 T vfs_read\n", &a, name, sizeof(name), mod,
			       sizeof(mod)));
	CHECK_EQ(a, 0);
}

TEST(ksyms_find_in_a_table)
{
	char path[] = "/tmp/tw-ksyms-XXXXXX";
	int fd = mkstemp(path);
	struct tw_ksyms *k;
	const char *name, *mod;
	__u64 off;
	FILE *f;

	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	fputs("ffffffff81000200 T b\nffffffff81000100 T a\nffffffff81000300 d data\n"
	      "ffffffffc0000000 t m_fn [mymod]\n",
	      f);
	fclose(f);
	k = ksyms_load(path);
	unlink(path);
	CHECK(k && !ksyms_hidden(k));
	CHECK(ksyms_find(k, 0xffffffff81000150ULL, &name, &mod, &off));
	CHECK(!strcmp(name, "a") && !strcmp(mod, "[kernel]"));
	CHECK_EQ(off, 0x50);
	CHECK(ksyms_find(k, 0xffffffffc0000010ULL, &name, &mod, &off));
	CHECK(!strcmp(name, "m_fn") && !strcmp(mod, "[mymod]"));
	CHECK(!ksyms_find(k, 0xffffffff81000000ULL, &name, &mod, &off));
	ksyms_free(k);
	k = ksyms_load("/nonexistent/kallsyms");
	CHECK(k && ksyms_hidden(k));
	ksyms_free(k);
}

TEST(stackset_tids_bounded_per_process)
{
	struct tw_stackset s = { 0 };
	__u32 f0 = (__u32)frame(&s, "x", "/m", 0, false);
	__u32 st = (__u32)stackset_stack(&s, &f0, 1);
	__u64 folded = 0;

	/* a storm: every thread one sample; past TW_STACK_TIDS they fold into tid 0 */
	for (__u32 t = 1; t <= TW_STACK_TIDS + 500; t++)
		CHECK_EQ(add(&s, 7, 1000 + t, "w", 1, st, 10), 0);
	CHECK_EQ(s.nsamples, TW_STACK_TIDS + 1);
	for (size_t i = 0; i < s.nsamples; i++)
		if (!s.samples[i].tid)
			folded = s.samples[i].weight_ns;
	CHECK_EQ(folded, 500 * 10);
	/* a thread with its own samples keeps them; another process has its own budget */
	CHECK_EQ(add(&s, 7, 1001, "w", 1, st, 5), 0);
	CHECK_EQ(add(&s, 8, 9, "v", 1, st, 5), 0);
	CHECK_EQ(s.nsamples, TW_STACK_TIDS + 2);
	stackset_free(&s);
}
