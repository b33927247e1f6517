/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* Readers of /proc. The parse_* functions are pure (unit-tested and fuzzed). */
#ifndef TW_PROCFS_H
#define TW_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "threadwatch.h"

/* Root of procfs; tests point it elsewhere. */
extern const char *procfs_root;

/* The "Tgid:" of a /proc/<tid>/status text. 0, or -ENOENT if absent or malformed. */
int parse_status_tgid(const char *buf, size_t len, __u32 *tgid);
/* A comm file's text: first line, at most TASK_COMM_LEN-1 bytes, kept byte for byte. */
void parse_comm(const char *buf, size_t len, char comm[TASK_COMM_LEN]);
/* A directory entry name that is a whole decimal task id > 0. */
bool parse_task_id(const char *name, __u32 *id);

/* The flags field (9th) of a /proc/<pid>/stat text; the comm in it may hold ')' and spaces. */
int parse_stat_flags(const char *buf, size_t len, __u64 *flags);
/* Field `want` (1-based, as in proc(5)) of a stat line; field 3, the state, as its letter. */
int parse_stat_field(const char *buf, size_t len, int want, __u64 *out);

/* The thread group of a task id: 0, -ENOENT (no such task) or -errno. */
int procfs_tgid_of(__u32 tid, __u32 *tgid);
bool procfs_task_exists(__u32 tgid, __u32 tid);
/* true for a kernel thread (PF_KTHREAD), false for user tasks and on errors */
bool procfs_is_kthread(__u32 pid);
/* comm of a task (tid == tgid for the process); -errno if it is gone. */
int procfs_comm(__u32 tgid, __u32 tid, char comm[TASK_COMM_LEN]);
/* A process's parent and state letter ('Z': a zombie) from /proc/PID/stat; either may be NULL. */
int procfs_stat(__u32 pid, __u32 *ppid, char *state);
/* Calls fn for each tid in /proc/<tgid>/task, or each pid in /proc when tgid is 0. */
int procfs_for_each_task(__u32 tgid, int (*fn)(void *ctx, __u32 id), void *ctx);

/* The state letter of a /proc/.../stat line (the field after the last ')'), or 0. */
char parse_stat_state(const char *buf, size_t len);
/*
 * A /proc/.../syscall line: 1 and *nr, *arg1, *arg2 for a thread in a
 * syscall, 0 for one in none ("-1 ...") or running ("running"), -1 when
 * unparseable.
 */
int parse_syscall_line(const char *buf, size_t len, long *nr, long *arg1, long *arg2);

#endif
