/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The attach-time state of every traced thread (on a CPU, runnable, blocked,
 * the syscall it is in), written into the thread map once the programs are
 * attached: by the task iterator (bpf/attach.bpf.c), or, where it cannot
 * load or run, from /proc/PID/task/TID/{stat,syscall}.
 */
#ifndef TW_ATTACH_H
#define TW_ATTACH_H

struct tw_bpf;
struct tw_config;

/* 0: a thread whose state cannot be read is left to its next event (-v says how it went). */
int attach_seed(struct tw_bpf *b, const struct tw_config *cfg);

#endif
