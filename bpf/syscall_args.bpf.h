/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What a syscall's arguments say, shared by the syscall programs (for the
 * calling thread) and the attach-time iterator (for a sleeping one): whether a
 * futex op waits, and the kind of file an fd is.
 */
#ifndef __SYSCALL_ARGS_BPF_H
#define __SYSCALL_ARGS_BPF_H

#include <vmlinux.h>
#include <bpf/bpf_core_read.h>
#include "threadwatch.h"

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

#endif /* __SYSCALL_ARGS_BPF_H */
