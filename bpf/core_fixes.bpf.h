/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
#ifndef __CORE_FIXES_BPF_H
#define __CORE_FIXES_BPF_H

#include <vmlinux.h>
#include <bpf/bpf_core_read.h>

/*
 * Kernel commit 2f064a59a11f ("sched: Change task_struct::state", v5.14)
 * renamed task_struct::state to __state and made it unsigned int.
 * https://github.com/torvalds/linux/commit/2f064a59a11ff9bc22e52e9678bc601404c7cb34
 */
struct task_struct___o {
	volatile long int state;
} __attribute__((preserve_access_index));

struct task_struct___x {
	unsigned int __state;
} __attribute__((preserve_access_index));

/*
 * Read a task field: a direct CO-RE relocated load where the pointer is a
 * trusted BTF pointer (tp_btf programs), bpf_probe_read_kernel() otherwise
 * (raw_tp). btf is a constant in every inlined caller, so only one form is
 * compiled into each program; the direct load saves a helper call per read
 * on the scheduler hot path.
 */
#define TASK_READ(btf, t, field) ((btf) ? (t)->field : BPF_CORE_READ(t, field))

static __always_inline __s64 get_task_state(void *task, bool btf)
{
	struct task_struct___x *t = task;
	struct task_struct___o *o = task;

	if (bpf_core_field_exists(t->__state))
		return TASK_READ(btf, t, __state);
	return TASK_READ(btf, o, state);
}

#endif /* __CORE_FIXES_BPF_H */
