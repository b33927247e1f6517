/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What a syscall's arguments say, shared by the syscall programs (for the
 * calling thread) and the attach-time iterator (for a sleeping one): whether a
 * futex op waits, the kind of file an fd is, and which syscall a thread that
 * is not running sleeps in (also read by the scheduler side at switch out).
 */
#ifndef __SYSCALL_ARGS_BPF_H
#define __SYSCALL_ARGS_BPF_H

#include <vmlinux.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"

#include <bpf/bpf_tracing.h>

#define ENOSYS 38
#define FUTEX_CMD_MASK 0x7f /* ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME) */
#define FUTEX_WAIT 0
#define FUTEX_LOCK_PI 6
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_LOCK_PI2 13

/* include/uapi/linux/stat.h */
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define S_IFIFO 0010000

/* A futex op (its second argument) that waits: only those are blocking calls. */
static __always_inline bool futex_op_waits(long op)
{
	op &= FUTEX_CMD_MASK;
	return op == FUTEX_WAIT || op == FUTEX_WAIT_BITSET || op == FUTEX_LOCK_PI ||
	       op == FUTEX_LOCK_PI2 || op == FUTEX_WAIT_REQUEUE_PI;
}

/* The kind of an open file, from its inode's mode: two helper reads. */
static __always_inline __u32 file_kind(struct file *file)
{
	unsigned int mode = BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT;

	if (mode == S_IFSOCK)
		return TW_FD_SOCKET;
	if (mode == S_IFIFO)
		return TW_FD_PIPE;
	if (mode == S_IFREG)
		return TW_FD_FILE;
	return TW_FD_OTHER;
}

/*
 * The number of the syscall a thread that is not running sleeps in, or -1:
 * from its user registers saved at kernel entry, as syscall_get_nr() (and so
 * /proc/PID/syscall) reads them. On x86 an exception (a page fault) keeps its
 * error code where a syscall keeps its number, but only a syscall's entry
 * sets the return value slot to -ENOSYS, and it keeps that until it returns.
 */
static __always_inline long task_syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	/* direct loads: regs is bpf_task_pt_regs()'s BTF pointer */
	if ((long)regs->ax != -ENOSYS)
		return -1;
	return (long)regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	/* NO_SYSCALL (-1) for every entry but a syscall's */
	return (int)regs->syscallno;
#else
	return -1;
#endif
}

/* The same, with its first two arguments (the attach-time iterator). */
static __always_inline long task_syscall(struct pt_regs *regs, long *arg1, long *arg2)
{
	long nr = task_syscall_nr(regs);

	*arg1 = PT_REGS_PARM1_CORE_SYSCALL(regs);
	*arg2 = PT_REGS_PARM2_CORE_SYSCALL(regs);
	return nr;
}

#endif /* __SYSCALL_ARGS_BPF_H */
