// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Targets that appear during the run without being forked by one: a process
 * that execs into a --comm name (sched_process_exec: the new comm is set by
 * then), and a process moved into the --cgroup or a cgroup below it
 * (cgroup_attach_task, after a successful migration; v1 and v2 alike). Each
 * sets the process's bits and tells user space (TW_EV_PROC_JOIN), which
 * seeds its threads from /proc. Loaded only with --comm / --cgroup / --unit.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"
#include "maps.bpf.h"
#include "targets.bpf.h"

/* cgroup nesting searched for the target: systemd's deepest paths are well under this */
#define TW_CGRP_DEPTH 32

static __always_inline void join(struct task_struct *t, bool follow)
{
	__u32 tgid = BPF_CORE_READ(t, tgid);
	struct tw_event *e;

	if (tgid == self_tgid || tgid_wanted(tgid) ||
	    (skip_kthreads && (BPF_CORE_READ(t, flags) & PF_KTHREAD)))
		return;
	targ_set(tgid, follow);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(TW_DROP_RINGBUF);
		return;
	}
	e->type = TW_EV_PROC_JOIN;
	e->tid = BPF_CORE_READ(t, pid);
	e->tgid = tgid;
	e->ptid = 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->start_ns = BPF_CORE_READ(t, start_time);
	BPF_CORE_READ_STR_INTO(&e->comm, t, comm);
	events_submit(e);
}

static __always_inline int handle_exec(struct task_struct *p)
{
	if (targ_filter && comm_wanted(p))
		join(p, targ_children);
	return 0;
}

/* Whether cgrp is the target cgroup or below it, in the target's hierarchy. */
static __always_inline bool cgrp_wanted(struct cgroup *cgrp)
{
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != (int)targ_cgrp_hier)
		return false;
	for (int i = 0; i < TW_CGRP_DEPTH && cgrp; i++) {
		if (BPF_CORE_READ(cgrp, kn, id) == targ_cgrp_id)
			return true;
		cgrp = BPF_CORE_READ(cgrp, self.parent, cgroup);
	}
	return false;
}

/* Members fork members (children stay in their parent's cgroup): they are followed. */
static __always_inline int handle_cgroup_attach(struct cgroup *dst, struct task_struct *task)
{
	if (targ_filter && targ_cgrp_id && cgrp_wanted(dst))
		join(task, true);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_btf_sched_process_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	return handle_exec(p);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(raw_tp_sched_process_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	return handle_exec(p);
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(tp_btf_cgroup_attach_task, struct cgroup *dst, const char *path,
	     struct task_struct *task, bool threadgroup)
{
	return handle_cgroup_attach(dst, task);
}

SEC("raw_tp/cgroup_attach_task")
int BPF_PROG(raw_tp_cgroup_attach_task, struct cgroup *dst, const char *path,
	     struct task_struct *task, bool threadgroup)
{
	return handle_cgroup_attach(dst, task);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
