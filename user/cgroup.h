/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Container and pod attribution without an API server: from a process's cgroup path
 * (kubelet, containerd, CRI-O and docker naming) and the node's /var/log/pods and
 * /var/log/containers layouts. The parse_* functions are pure (unit-tested and fuzzed).
 */
#ifndef TW_CGROUP_H
#define TW_CGROUP_H

#include <stddef.h>
#include <linux/types.h>

#define TW_ID_LEN 65 /* 64 hex chars + NUL */
#define TW_UID_LEN 37 /* pod UID with dashes + NUL */
#define TW_NAME_LEN 254 /* k8s names are <= 253 */

struct tw_container {
	char container_id[TW_ID_LEN]; /* "" when not in a container */
	char pod_uid[TW_UID_LEN]; /* "" when unknown; always with dashes (8-4-4-4-12) */
	char pod[TW_NAME_LEN];
	char namespace[TW_NAME_LEN];
	char container[TW_NAME_LEN];
	char cgroup[512]; /* the cgroup path used (v2 path, else v1 pids/cpu/memory/any) */
};

/*
 * Pure: the cgroup path of a /proc/PID/cgroup text: the v2 line "0::/path" (unless it is "/"
 * and a v1 line says more: a hybrid host), else the v1 line of pids, cpu (cpu,cpuacct), memory,
 * or the first v1 line. A trailing " (deleted)" is dropped. 0, or -ENOENT if there is no such
 * line or the path does not fit in path_len (with its NUL).
 */
int parse_proc_cgroup(const char *buf, size_t len, char *path, size_t path_len);

/*
 * Pure: container id and pod UID of a cgroup path, as kubelet (systemd and cgroupfs drivers),
 * containerd, CRI-O and docker name them; sets c->container_id and c->pod_uid ("" when not
 * found), nothing else. Ids are 64 lowercase hex; pod UIDs are 8-4-4-4-12 lowercase hex
 * ('_' in systemd slices turned back into '-'), or the 32 hex of a static pod's UID, kept as
 * kubelet writes it. In a pod, the id is the first one below the (innermost) pod's cgroup;
 * outside one, the last id in the path. 0 if an id or a pod UID was found, -ENOENT otherwise.
 */
int parse_cgroup_container(const char *path, struct tw_container *c);

/*
 * Reader: zeroes *c, then fills c->cgroup from procfs_root/PID/cgroup ("" if longer than it)
 * and the id and pod UID from that path (or, failing that, from any other line's path).
 * 0 when the file was read (container fields "" when not in a container), else -errno.
 */
int cgroup_of_pid(__u32 pid, struct tw_container *c);

/*
 * Reader: fills c->pod, c->namespace and c->container from the node's log layout:
 * pods_dir (/var/log/pods) holds <namespace>_<pod>_<uid>/<container>/N.log, found by
 * c->pod_uid; containers_dir (/var/log/containers) holds <pod>_<namespace>_<container>-<id>.log,
 * found by c->container_id. When the id has no entry there, the container is the pod's only
 * container directory, if it has exactly one. Either dir may be NULL or missing; fields not
 * found are left as they were. 0 if anything was filled, else -ENOENT.
 */
int pods_lookup(const char *pods_dir, const char *containers_dir, struct tw_container *c);

#endif
