/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The attach-time state of every traced thread (on a CPU, runnable, blocked,
 * the syscall it is in), written into the thread map once the programs are
 * attached: by the task iterator (bpf/attach.bpf.c), or, where it cannot
 * load or run, from /proc/PID/task/TID/{stat,syscall}.
 */
#ifndef TW_ATTACH_H
#define TW_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct tw_bpf;
struct tw_config;

/* 0, or -errno only for what must end the run (out of memory); else the state is partial. */
int attach_seed(struct tw_bpf *b, const struct tw_config *cfg);

/* The state letter of a /proc/.../stat line (the field after the last ')'), or 0. */
char parse_stat_state(const char *buf, size_t len);
/*
 * A /proc/.../syscall line: 1 and *nr, *arg1, *arg2 for a thread in a
 * syscall, 0 for one in none ("-1 ...") or running ("running"), -1 when
 * unparseable.
 */
int parse_syscall_line(const char *buf, size_t len, long *nr, long *arg1, long *arg2);

#endif
