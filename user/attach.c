// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "calls.h"
#include "cli.h"
#include "loader.h"
#include "procfs.h"
#include "targetmap.h"
#include "threadwatch.skel.h"

#define FUTEX_CMD_MASK 0x7f
#define FUTEX_WAIT 0
#define FUTEX_LOCK_PI 6
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_LOCK_PI2 13

/* The task iterator, run to its end: one pass over every task writes what it finds. */
static int run_iter(struct tw_bpf *b)
{
	struct bpf_link *link;
	char buf[64];
	int fd, err = 0;
	ssize_t n;

	link = bpf_program__attach_iter(b->skel->progs.iter_seed_tasks, NULL);
	if (!link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
		bpf_link__destroy(link);
		return err;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
	}
	close(fd);
	bpf_link__destroy(link);
	/* it has done its one job: the tool keeps only the programs it keeps using */
	bpf_program__unload(b->skel->progs.iter_seed_tasks);
	return err;
}

static __u64 mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

struct proc_seed {
	const struct tw_targets *targets; /* w NULL: system-wide */
	const struct tw_config *cfg;
	int map_fd;
	__u8 table[TW_SYSCALL_NR_MAX];
	__u32 pid;
	__u32 self;
};

static ssize_t slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static __u32 fd_kind_of(__u32 pid, __u32 tid, long fd)
{
	char path[96];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%u/task/%u/fd/%ld", procfs_root, pid, tid, fd);
	if (fd < 0 || stat(path, &sb))
		return TW_FD_OTHER;
	if (S_ISSOCK(sb.st_mode))
		return TW_FD_SOCKET;
	if (S_ISFIFO(sb.st_mode))
		return TW_FD_PIPE;
	if (S_ISREG(sb.st_mode))
		return TW_FD_FILE;
	return TW_FD_OTHER;
}

static bool futex_waits(long op)
{
	op &= FUTEX_CMD_MASK;
	return op == FUTEX_WAIT || op == FUTEX_WAIT_BITSET || op == FUTEX_LOCK_PI ||
	       op == FUTEX_LOCK_PI2 || op == FUTEX_WAIT_REQUEUE_PI;
}

/*
 * One thread from /proc, as the iterator would write it, less what /proc
 * cannot tell: when it last ran (pre_ts 0), its start time (0: the model then
 * takes the entry as this thread's whatever it started as).
 */
static int seed_proc_thread(void *ctx, __u32 tid)
{
	struct proc_seed *s = ctx;
	struct tw_thread_stats v;
	char path[96], buf[512];
	long nr = -1, a1 = 0, a2 = 0;
	bool running = false;
	int in_sys = 0;
	char state;
	__u64 now;

	if (s->cfg->tid && tid != s->cfg->tid)
		return 0;
	snprintf(path, sizeof(path), "%s/%u/task/%u/stat", procfs_root, s->pid, tid);
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return 0; /* gone meanwhile */
	state = parse_stat_state(buf, strlen(buf));
	if (!state || state == 'Z' || state == 'X')
		return 0;
	snprintf(path, sizeof(path), "%s/%u/task/%u/syscall", procfs_root, s->pid, tid);
	if (slurp(path, buf, sizeof(buf)) > 0) {
		running = !strncmp(buf, "running", 7);
		in_sys = parse_syscall_line(buf, strlen(buf), &nr, &a1, &a2);
	}
	memset(&v, 0, sizeof(v));
	now = mono_now();
	v.tgid = s->pid;
	v.state = running ? TW_ST_ONCPU : state == 'R' ? TW_ST_RUNQ : TW_ST_BLOCKED;
	v.state_ts = now;
	v.att_ts = now;
	v.ran = 1;
	if (s->cfg->syscalls && !running && in_sys == 1 && nr < TW_SYSCALL_NR_MAX) {
		v.sys_cur = (__u32)nr + 1;
		v.call = s->table[nr];
		if (v.call == TW_CALL_FUTEX && !futex_waits(a2))
			v.call = TW_CALL_NONE;
		if (v.call) {
			v.sys_ts = now;
			v.sys_pre = 1;
			if (TW_CALL_HAS_FD(v.call))
				v.call_fd = fd_kind_of(s->pid, tid, a1);
		}
	}
	/* an event that made the entry first is newer than what /proc said */
	bpf_map_update_elem(s->map_fd, &tid, &v, BPF_NOEXIST);
	return 0;
}

static int seed_proc(void *ctx, __u32 pid)
{
	struct proc_seed *s = ctx;

	if (pid == s->self || (!s->cfg->include_kthreads && procfs_is_kthread(pid)))
		return 0;
	if (s->targets->w && !targets_has(s->targets, pid))
		return 0; /* targeted, and not a target */
	s->pid = pid;
	procfs_for_each_task(pid, seed_proc_thread, s);
	return 0; /* a process may vanish while we list it */
}

static void seed_procfs(struct tw_bpf *b, const struct tw_config *cfg)
{
	struct proc_seed s = {
		.targets = &b->targets,
		.cfg = cfg,
		.map_fd = tw_bpf_thread_fd(b),
		.self = (__u32)getpid(),
	};

	calls_fill_table(s.table, TW_SYSCALL_NR_MAX);
	/* every process: system-wide, or to find the targets in the bitmap (-p, --comm...) */
	procfs_for_each_task(0, seed_proc, &s);
}

static int seed(struct tw_bpf *b, const struct tw_config *cfg)
{
	int err;

	if (b->iter) {
		err = run_iter(b);
		if (!err)
			return 0;
		if (b->tp_btf) {
			/* task storage has no tid keys for /proc's findings to go under */
			fprintf(stderr,
				"bpf-threadwatch: the task iterator failed (%s): threads already "
				"blocked are measured from their next event\n",
				strerror(-err));
			return 0;
		}
		if (cfg->verbose)
			fprintf(stderr,
				"bpf-threadwatch: the task iterator failed (%s): attach-time "
				"state from /proc, without last-ran times\n",
				strerror(-err));
	} else if (cfg->verbose) {
		fprintf(stderr, "bpf-threadwatch: no task iterator: attach-time state from /proc, "
				"without last-ran times\n");
	}
	seed_procfs(b, cfg);
	return 0;
}

int attach_seed(struct tw_bpf *b, const struct tw_config *cfg)
{
	__u64 t0 = mono_now();
	int err = seed(b, cfg);

	/* part of getting ready: the attach time people read includes it */
	b->attach_s += (mono_now() - t0) / 1e9;
	return err;
}
