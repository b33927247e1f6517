// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* Targets: unit names to cgroups, hierarchy ids, /proc stat fields, process groups and --sort. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"
#include "procfs.h"
#include "target.h"
#include "view.h"
#include "unit.h"

TEST(unit_names_to_cgroup_paths)
{
	char b[256];

	CHECK(!unit_cgroup_rel("nginx", b, sizeof(b)));
	CHECK(!strcmp(b, "system.slice/nginx.service"));
	CHECK(!unit_cgroup_rel("nginx.service", b, sizeof(b)));
	CHECK(!strcmp(b, "system.slice/nginx.service"));
	CHECK(!unit_cgroup_rel("session-3.scope", b, sizeof(b)));
	CHECK(!strcmp(b, "system.slice/session-3.scope"));
	CHECK(!unit_cgroup_rel("system.slice", b, sizeof(b)));
	CHECK(!strcmp(b, "system.slice"));
	CHECK(!unit_cgroup_rel("a-b-c.slice", b, sizeof(b)));
	CHECK(!strcmp(b, "a.slice/a-b.slice/a-b-c.slice"));
	CHECK(unit_cgroup_rel("x.socket", b, sizeof(b)) == -EINVAL);
	CHECK(unit_cgroup_rel("a/b", b, sizeof(b)) == -EINVAL);
	CHECK(unit_cgroup_rel("", b, sizeof(b)) == -EINVAL);
	CHECK(unit_cgroup_rel("averyveryverylongname", b, 16) == -EINVAL);
}

TEST(cgroup_hierarchy_ids)
{
	const char *pc = "9:name=systemd:/\n8:pids:/\n2:cpu,cpuacct:/x\n0::/\n";
	__u32 h = 99;

	CHECK(!cgroup_hier_of("rw,pids", false, pc, &h));
	CHECK_EQ(h, 8);
	CHECK(!cgroup_hier_of("rw,cpu,cpuacct", false, pc, &h));
	CHECK_EQ(h, 2);
	CHECK(!cgroup_hier_of("rw,name=systemd", false, pc, &h));
	CHECK_EQ(h, 9);
	CHECK(!cgroup_hier_of("rw,nsdelegate", true, pc, &h));
	CHECK_EQ(h, 0);
	CHECK(cgroup_hier_of("rw,memory", false, pc, &h) == -ENOENT);
	/* a controller named in part must not match: "cpu" alone is not "cpu,cpuacct" */
	CHECK(cgroup_hier_of("rw,cpu", false, pc, &h) == -ENOENT);
	CHECK(cgroup_hier_of("rw,pids", false, "garbage", &h) == -ENOENT);
}

TEST(stat_fields_ppid_and_state)
{
	const char *s = "42 (a) b) c) Z 7 42 42 0 -1 4194560 0 0";
	__u64 v;

	CHECK(!parse_stat_field(s, strlen(s), 3, &v));
	CHECK_EQ(v, 'Z');
	CHECK(!parse_stat_field(s, strlen(s), 4, &v));
	CHECK_EQ(v, 7);
	CHECK(!parse_stat_flags(s, strlen(s), &v));
	CHECK_EQ(v, 4194560);
	CHECK(parse_stat_field("42 (x", 5, 4, &v) == -ENOENT);
}

/* A process pid named comm with one thread of the given on-CPU, run-queue and blocked time. */
static void proc(struct tw_model *m, __u32 pid, const char *comm, __u64 on, __u64 rq, __u64 bl)
{
	struct tw_thread *t = model_thread_born(m, pid, pid, comm);
	struct tw_thread_totals tot;

	rec_expand(&t->tot, &tot);
	tot.oncpu_ns = on;
	tot.runq_ns = rq;
	tot.blocked_ns = bl;
	CHECK(!rec_store(&t->tot, &tot));
	model_proc(m, pid)->target = true;
}

TEST(view_groups_processes_by_comm)
{
	struct tw_view_opts o = { .final = true, .attach = "tp_btf", .group_procs = true };
	struct tw_model m;
	struct tw_view v;

	model_init(&m, false);
	proc(&m, 10, "postgres", 5, 0, 100);
	proc(&m, 11, "postgres", 50, 1, 100);
	proc(&m, 12, "postgres", 7, 0, 100);
	proc(&m, 20, "nginx", 30, 0, 1);
	model_proc(&m, 12)->tot.fork_fail = 2;
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.nprocs, 2);
	CHECK_EQ(v.nprocs_active, 4);
	CHECK_EQ(v.nrows_active, 2);
	/* busy: the failures of one member put its group first */
	CHECK_EQ(v.procs[0].nmembers, 3);
	CHECK(!strcmp(v.procs[0].p->comm, "postgres"));
	CHECK_EQ(v.procs[0].sum.oncpu_ns, 62);
	CHECK_EQ(v.procs[0].sum.blocked_ns, 300);
	CHECK_EQ(v.procs[0].pt.fork_fail, 2);
	CHECK_EQ(v.procs[0].threads_now, 3);
	CHECK_EQ(v.procs[0].members[0].p->pid, 12); /* members in --sort order too */
	CHECK_EQ(v.procs[0].members[1].p->pid, 11);
	CHECK_EQ(v.procs[0].members[2].p->pid, 10);
	CHECK_EQ(v.procs[1].nmembers, 0); /* one nginx: a process row */
	CHECK_EQ(v.procs[1].p->pid, 20);
	view_free(&v);
	o.group_procs = false;
	o.sort = TW_SORT_ONCPU;
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.nprocs, 4);
	CHECK_EQ(v.procs[0].p->pid, 11);
	CHECK_EQ(v.procs[1].p->pid, 20);
	CHECK_EQ(v.procs[3].p->pid, 10);
	view_free(&v);
	o.sort = TW_SORT_OFFCPU;
	o.top = 1;
	CHECK(!view_build(&v, &m, &o));
	CHECK_EQ(v.nprocs, 1);
	CHECK_EQ(v.procs[0].p->pid, 11); /* 101 off CPU, the ties broken by busy */
	view_free(&v);
	model_free(&m);
}

TEST(sort_names_are_complete)
{
	for (int i = 0; i < TW_SORT_NR; i++)
		CHECK(tw_sort_names[i] && tw_sort_labels[i]);
}
