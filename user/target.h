/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * What to trace: checking -p/-t against /proc, resolving --unit and --cgroup,
 * finding the targets that exist at attach (--children, --comm, --cgroup),
 * and starting and ending a -- COMMAND target.
 */
#ifndef TW_TARGET_H
#define TW_TARGET_H

#include <sys/types.h>
#include "cli.h"
#include "targetmap.h"

/*
 * Checks every PID and TID exists and fits; fills cfg->pids from -t alone;
 * resolves --unit to its cgroup and the cgroup to its kernfs id and
 * hierarchy. Prints one line and returns -errno on bad input.
 */
int target_resolve(struct tw_config *cfg);
/* cfg->pids becomes the one pid (the command's, or -t's process). 0 or -ENOMEM. */
int target_set_single(struct tw_config *cfg, __u32 pid, const char *comm);

/*
 * "nginx" -> "system.slice/nginx.service", "a-b.slice" -> "a.slice/a-b.slice":
 * where systemd puts a unit's cgroup, relative to a hierarchy. 0 or -EINVAL.
 */
int unit_cgroup_rel(const char *unit, char *out, size_t len);
/*
 * The hierarchy id of a cgroup v1 mount from its super options ("rw,cpu,cpuacct",
 * "rw,name=systemd") and /proc/PID/cgroup's text; cgroup2 is 0. -ENOENT if none.
 */
int cgroup_hier_of(const char *superopts, bool v2, const char *proc_cgroup, __u32 *hier);

struct tw_pidlist {
	__u32 *v;
	size_t n, cap;
};

/*
 * After attach: every process that is a target now besides cfg->pids, set in
 * the bitmap and appended to out: the targets' descendants (--children),
 * processes named by --comm, the members of --cgroup and its sub-cgroups.
 * 0 or -errno.
 */
int target_expand(const struct tw_config *cfg, struct tw_targets *t, struct tw_pidlist *out);
void pidlist_free(struct tw_pidlist *l);
bool pidlist_has(const struct tw_pidlist *l, __u32 pid);
int pidlist_add(struct tw_pidlist *l, __u32 pid); /* 0 or -ENOMEM */

struct tw_child {
	pid_t pid;
	int go_fd; /* written once attached: the child then execs */
	int err_fd; /* the child's exec errno, or EOF once exec succeeded */
};

/* Fork the command, held before exec until target_release(). 0 or -errno. */
int target_spawn(struct tw_child *c, char **argv);
/* Let it exec. 0, or -errno of the failed exec (the child is then reaped). */
int target_release(struct tw_child *c);

/* Grace between the SIGTERM and the SIGKILL that end a command's tree at the run's end. */
#define TW_KILL_GRACE_NS 2000000000ULL

/* Whether pid is gone or a zombie (exited, not yet reaped). */
bool target_gone(__u32 pid);

#endif
