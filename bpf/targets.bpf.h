/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Keeping the targets bitmap (maps.bpf.h, `targets`) up to date from the
 * kernel: processes forked by a followed target, and processes whose comm is
 * a --comm name. Used by the fork handler (threads.bpf.c) and by the exec and
 * cgroup-move handlers (targets.bpf.c). None of this runs per scheduler event.
 */
#ifndef __TARGETS_BPF_H
#define __TARGETS_BPF_H

#include "maps.bpf.h"

static __always_inline bool targ_bit(const __u64 *word, __u32 tgid)
{
	return (*word >> (tgid % 64)) & 1;
}

/* tgid becomes a target; with follow, so do the processes it forks. Atomic: CPUs share words. */
static __always_inline void targ_set(__u32 tgid, bool follow)
{
	struct tw_targ_word *w = targ_word(tgid);
	__u64 bit = 1ULL << (tgid % 64);

	if (!w) {
		count_drop(TW_DROP_TARGET);
		return;
	}
	if (follow)
		__sync_fetch_and_or(&w->follow, bit);
	__sync_fetch_and_or(&w->want, bit);
}

/* Whether t's comm is one of the --comm names (exact, all 16 bytes: comms are NUL-padded). */
static __always_inline bool comm_wanted(struct task_struct *t)
{
	__u64 comm[TASK_COMM_LEN / 8] = {};

	if (!targ_ncomms)
		return false;
	BPF_CORE_READ_INTO(&comm, t, comm);
	for (__u32 i = 0; i < TW_MAX_COMMS; i++) {
		if (i >= targ_ncomms)
			break;
		if (comm[0] == targ_comms[i][0] && comm[1] == targ_comms[i][1])
			return true;
	}
	return false;
}

/*
 * A new process (task, forked by ptgid): a target if its parent is a
 * followed target (it inherits both bits) or its comm is wanted. Otherwise
 * any bits its tgid still carries belong to a dead target user space has not
 * cleared yet (pid reuse): cleared, so an unrelated process is never traced.
 */
static __always_inline void targets_on_fork(struct task_struct *task, __u32 ptgid,
					    bool parent_wanted)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct tw_targ_word *w;

	if (parent_wanted) {
		w = targ_word(ptgid);
		if (w && targ_bit(&w->follow, ptgid)) {
			targ_set(tgid, true);
			return;
		}
	}
	if (comm_wanted(task) && !(skip_kthreads && (BPF_CORE_READ(task, flags) & PF_KTHREAD))) {
		targ_set(tgid, targ_children);
		return;
	}
	w = targ_word(tgid);
	if (w && (targ_bit(&w->want, tgid) || targ_bit(&w->follow, tgid))) {
		__sync_fetch_and_and(&w->want, ~(1ULL << (tgid % 64)));
		__sync_fetch_and_and(&w->follow, ~(1ULL << (tgid % 64)));
	}
}

#endif /* __TARGETS_BPF_H */
