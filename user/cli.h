/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
#ifndef TW_CLI_H
#define TW_CLI_H

#include <stdbool.h>
#include <linux/types.h>
#include "threadwatch.h"
#include "view.h"

enum tw_format {
	TW_FMT_TEXT,
	TW_FMT_JSON,
};

enum tw_attach_mode {
	TW_ATTACH_AUTO,
	TW_ATTACH_TP_BTF,
	TW_ATTACH_RAW_TP,
};

/* --attach-mode's values, in enum tw_attach_mode's order */
extern const char *const tw_attach_names[3];

struct tw_config {
	__u32 *pids; /* -p, any number (or the -- COMMAND's pid), heap */
	char (*comms)[TASK_COMM_LEN]; /* their names when checked (target_resolve) */
	size_t npids, cap_pids;
	bool children; /* --children: the processes the targets fork are targets too */
	int children_opt; /* 1: --children, -1: --no-children, 0: default (on with a command) */
	char comm_names[TW_MAX_COMMS][TASK_COMM_LEN]; /* --comm, NUL-padded */
	size_t ncomm_names;
	const char *cgroup; /* --cgroup PATH, or --unit's cgroup once resolved */
	const char *unit; /* --unit NAME */
	char *cgroup_buf; /* --unit's resolved path (owned) */
	__u64 cgrp_id; /* the cgroup's kernfs id (its inode), from target_resolve */
	__u32 cgrp_hier; /* its hierarchy id */
	enum tw_sort sort;
	int group_opt; /* 1: --group-procs, -1: --no-group-procs, 0: default */
	bool group_procs; /* fold processes sharing a comm into one row */
	__u32 tid;
	__u64 duration_ns; /* 0: until Ctrl-C or the targets exit */
	__u64 interval_ns; /* 0: one final report */
	enum tw_format format;
	enum tw_by by;
	unsigned int top; /* processes shown; 0: all */
	bool top_set;
	__u32 max_threads;
	__u32 max_procs;
	__u32 max_calls;
	__u32 max_loops;
	__u32 ringbuf_bytes; /* 0: the BPF object's default (4 MiB) */
	__u32 max_stalls; /* stalls kept for the report; more are counted */
	bool syscalls; /* trace syscalls: blocking calls, event loops, blocked-now */
	int syscalls_opt; /* 1: --syscalls, -1: --no-syscalls, 0: default (on with targets) */
	__u64 stall_ns; /* --stall-ms */
	__u64 blocked_ns; /* --blocked-ms */
	bool stacks; /* user stacks of blocked syscalls (on with syscall tracing) */
	bool stacks_gated; /* stacks start off in the kernel: tw_bpf_stack_gate() (the daemon) */
	int stacks_opt; /* 1: --stacks, -1: --no-stacks, 0: default */
	__u64 stack_min_ns; /* --stack-min: always taken from this blocked time; shorter, sampled */
	__u32 stack_bytes; /* --stack-bytes: user stack copied above sp */
	const char *folded_path; /* --folded FILE: off-CPU time by stack, folded, at the end */
	const char *pprof_path; /* --pprof FILE: the same as a gzipped pprof profile */
	const char *btf_path;
	enum tw_attach_mode attach_mode;
	bool include_kthreads;
	bool verbose;
	char **command; /* -- COMMAND ARGS..., NULL-terminated, or NULL */
};

/* Parses argv into cfg; on a usage error prints one line and exits 2 (through argp). */
void cli_parse(int argc, char **argv, struct tw_config *cfg);
/* Frees what cli_parse and target_resolve allocated. */
void cli_free(struct tw_config *cfg);
/* Any target selection at all (-p, -t, a command, --comm, --cgroup, --unit): filtered in BPF. */
bool cli_targeted(const struct tw_config *cfg);
/* Targets that can appear during the run (--comm, --cgroup, --unit): the run never ends by itself. */
bool cli_open_targets(const struct tw_config *cfg);

#endif
