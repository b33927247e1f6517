// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "calls.h"
#include "loader.h"
#include "prom.h"
#include "threadwatch.skel.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define VMLINUX_BTF "/sys/kernel/btf/vmlinux"

static bool verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	/* without -v, failures are summarised by our own one-line errors */
	return verbose ? vfprintf(stderr, fmt, args) : 0;
}

static bool cap_has(const struct __user_cap_data_struct d[2], int cap)
{
	return d[cap / 32].effective & (1u << (cap % 32));
}

/*
 * Loading tracing BPF takes CAP_BPF + CAP_PERFMON (kernel >= 5.8) or
 * CAP_SYS_ADMIN. Say exactly which is missing rather than failing in libbpf.
 */
static int check_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &hdr, d))
		return 0; /* cannot tell: let the kernel decide */
	if (cap_has(d, CAP_SYS_ADMIN) || (cap_has(d, CAP_BPF) && cap_has(d, CAP_PERFMON)))
		return 0;
	fprintf(stderr,
		"bpf-threadwatch: missing capabilit%s:%s%s: run as root (sudo), or grant "
		"CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH (e.g. setcap "
		"cap_bpf,cap_perfmon,cap_dac_read_search+ep bpf-threadwatch)\n",
		cap_has(d, CAP_BPF) || cap_has(d, CAP_PERFMON) ? "y" : "ies",
		cap_has(d, CAP_BPF) ? "" : " CAP_BPF",
		cap_has(d, CAP_PERFMON) ? "" : " CAP_PERFMON");
	return -EPERM;
}

/*
 * Existence as the kernel will judge it for us: effective ids and capabilities
 * (plain access() drops capabilities for non-root callers).
 */
static bool exists(const char *path)
{
	return !faccessat(AT_FDCWD, path, F_OK, AT_EACCESS);
}

/* The syscall tracepoints need tracefs for their ids; mount it if nobody did. */
static int ensure_tracefs(void)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	bool denied = false, have_events = false;
	char path[64];

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(path, sizeof(path), "%s/events/syscalls", roots[i]);
		if (exists(path))
			return 0;
		denied |= errno == EACCES;
		snprintf(path, sizeof(path), "%s/events", roots[i]);
		have_events |= exists(path);
	}
	if (denied) {
		fprintf(stderr,
			"bpf-threadwatch: cannot read tracefs (%s is root-only): run as root "
			"or grant CAP_DAC_READ_SEARCH as well as CAP_BPF and CAP_PERFMON\n",
			roots[0]);
		return -EACCES;
	}
	if (have_events) {
		fprintf(stderr,
			"bpf-threadwatch: tracefs has no syscalls events: the kernel lacks "
			"CONFIG_FTRACE_SYSCALLS, needed to count thread creation failures\n");
		return -ENOENT;
	}
	if (!mount("tracefs", roots[0], "tracefs", 0, NULL) &&
	    exists("/sys/kernel/tracing/events/syscalls"))
		return 0;
	fprintf(stderr,
		"bpf-threadwatch: tracefs is not mounted and mounting it failed (%s): run "
		"'mount -t tracefs tracefs /sys/kernel/tracing' as root\n",
		strerror(errno));
	return -ENOENT;
}

/* tp_btf needs the kernel's own BTF to describe the tracepoint's arguments. */
static bool kernel_has_tp_btf(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool ok;

	if (!btf)
		return false;
	ok = btf__find_by_name_kind(btf, "btf_trace_sched_switch", BTF_KIND_TYPEDEF) > 0;
	btf__free(btf);
	return ok;
}

/* Whether struct s of the kernel's BTF has a member m. */
static bool btf_has_member(const struct btf *btf, const char *s, const char *m)
{
	__s32 id = btf__find_by_name_kind(btf, s, BTF_KIND_STRUCT);
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	const struct btf_member *mem = t ? btf_members(t) : NULL;

	for (__u16 i = 0; t && i < btf_vlen(t); i++)
		if (!strcmp(btf__name_by_offset(btf, mem[i].name_off), m))
			return true;
	return false;
}

/*
 * The kernel keeps each task's run-queue wait itself (CONFIG_SCHED_INFO), and
 * a task's run queue is reachable from it (CONFIG_FAIR_GROUP_SCHED's
 * se.cfs_rq): then the switch-in program reads the wait there and no program
 * runs at wakeups (bpf/sched.bpf.c).
 */
static bool kernel_has_sched_info(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool ok;

	if (!btf)
		return false;
	/*
	 * Not with delayed dequeue (6.12+, se.sched_delayed): there a 200 ms read
	 * came out as 199 ms of run-queue wait (tests/e2e/test_lifecycle.py, once
	 * in ~10 runs under load), the kernel's run_delay apparently growing while
	 * a sleeper still queued is moved; those kernels keep the wakeup hooks.
	 */
	ok = btf_has_member(btf, "sched_info", "last_queued") &&
	     btf_has_member(btf, "sched_info", "run_delay") &&
	     btf_has_member(btf, "sched_entity", "cfs_rq") &&
	     !btf_has_member(btf, "sched_entity", "sched_delayed");
	btf__free(btf);
	return ok;
}

static __u64 mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void set_flavour(struct threadwatch_bpf *s, bool tp_btf, bool wakeups)
{
	bpf_program__set_autoload(s->progs.tp_btf_sched_switch, tp_btf);
	bpf_program__set_autoload(s->progs.tp_btf_sched_wakeup, tp_btf && wakeups);
	bpf_program__set_autoload(s->progs.tp_btf_sched_wakeup_new, tp_btf && wakeups);
	bpf_program__set_autoload(s->progs.tp_btf_task_newtask, tp_btf);
	bpf_program__set_autoload(s->progs.tp_btf_sched_process_exit, tp_btf);
	bpf_program__set_autoload(s->progs.raw_tp_sched_switch, !tp_btf);
	bpf_program__set_autoload(s->progs.raw_tp_sched_wakeup, !tp_btf);
	bpf_program__set_autoload(s->progs.raw_tp_sched_wakeup_new, !tp_btf);
	bpf_program__set_autoload(s->progs.raw_tp_task_newtask, !tp_btf);
	bpf_program__set_autoload(s->progs.raw_tp_sched_process_exit, !tp_btf);
}

/* The exec and cgroup-move handlers run only for the targets that need them. */
static void set_targets(struct threadwatch_bpf *s, bool tp_btf, const struct tw_config *cfg)
{
	bool exec = cfg->ncomm_names > 0, cg = cfg->cgrp_id != 0;

	bpf_program__set_autoload(s->progs.tp_btf_sched_process_exec, exec && tp_btf);
	bpf_program__set_autoload(s->progs.raw_tp_sched_process_exec, exec && !tp_btf);
	bpf_program__set_autoload(s->progs.tp_btf_cgroup_attach_task, cg && tp_btf);
	bpf_program__set_autoload(s->progs.raw_tp_cgroup_attach_task, cg && !tp_btf);
}

/* Words of the targets bitmap: one per 64 PIDs up to this kernel's pid_max. */
static __u32 targ_words(void)
{
	unsigned long pid_max = 4194304; /* PID_MAX_LIMIT, if pid_max cannot be read */
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");

	if (f) {
		if (fscanf(f, "%lu", &pid_max) != 1 || pid_max > 4194304)
			pid_max = 4194304;
		fclose(f);
	}
	return (__u32)((pid_max + 63) / 64);
}

static void set_syscalls(struct threadwatch_bpf *s, bool tp_btf, bool on)
{
	bpf_program__set_autoload(s->progs.tp_btf_sys_enter, on && tp_btf);
	bpf_program__set_autoload(s->progs.tp_btf_sys_exit, on && tp_btf);
	bpf_program__set_autoload(s->progs.raw_tp_sys_enter, on && !tp_btf);
	bpf_program__set_autoload(s->progs.raw_tp_sys_exit, on && !tp_btf);
	if (on) {
		calls_fill_table(s->rodata->call_of_syscall, TW_SYSCALL_NR_MAX);
		return;
	}
	/* unused: keep it tiny; call_stats still holds the blocks named at switch out (tp_btf) */
	bpf_map__set_max_entries(s->maps.loop_stats, 1);
	if (!tp_btf)
		bpf_map__set_max_entries(s->maps.call_stats, 1);
}

static int open_and_load(struct tw_bpf *b, const struct tw_config *cfg, bool tp_btf, bool iter,
			 bool now)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = cfg->btf_path);
	struct threadwatch_bpf *s;
	int err;

	s = threadwatch_bpf__open_opts(&opts);
	if (!s) {
		err = -errno;
		fprintf(stderr, "bpf-threadwatch: cannot open the BPF object: %s\n",
			strerror(-err));
		return err;
	}
	/* tp_btf reads run-queue waits from the kernel at the switch in: no wakeup hooks */
	s->rodata->runq_from_kernel = tp_btf && kernel_has_sched_info();
	set_flavour(s, tp_btf, !s->rodata->runq_from_kernel);
	set_syscalls(s, tp_btf, cfg->syscalls);
	/* run once after the attach (user/attach.c), not attached with the others */
	bpf_program__set_autoload(s->progs.iter_seed_tasks, iter);
	bpf_program__set_autoattach(s->progs.iter_seed_tasks, false);
	s->rodata->attach_syscalls = cfg->syscalls;
	/*
	 * tp_btf keeps per-thread state in task storage, read back by the harvest
	 * iterator (user/collect.c); raw_tp has no trusted task pointers for it
	 */
	bpf_program__set_autoload(s->progs.iter_harvest, tp_btf);
	/* stacks of threads blocked now, taken before each report (user/collect.c) */
	bpf_program__set_autoload(s->progs.iter_now_stacks, now);
	bpf_program__set_autoattach(s->progs.iter_now_stacks, false);
	bpf_program__set_autoattach(s->progs.iter_harvest, false);
	s->rodata->use_tstore = tp_btf;
	/* without the syscall programs, the scheduler side names each block by its syscall */
	s->rodata->name_blocks = tp_btf && !cfg->syscalls;
	set_targets(s, tp_btf, cfg);
	s->rodata->targ_filter = cli_targeted(cfg);
	s->rodata->targ_children = cfg->children;
	for (size_t i = 0; i < cfg->ncomm_names; i++)
		memcpy((void *)s->rodata->targ_comms[i], cfg->comm_names[i], TASK_COMM_LEN);
	s->rodata->targ_ncomms = (__u32)cfg->ncomm_names;
	s->rodata->targ_cgrp_id = cfg->cgrp_id;
	s->rodata->targ_cgrp_hier = cfg->cgrp_hier;
	bpf_map__set_max_entries(s->maps.targets, cli_targeted(cfg) ? targ_words() : 1);
	bpf_map__set_max_entries(s->maps.py_bits, targ_words());
	s->rodata->targ_tid = cfg->tid;
	s->rodata->skip_kthreads = !cfg->include_kthreads;
	s->rodata->self_tgid = (__u32)getpid();
	s->rodata->tw_load_ns = mono_now_ns();
	/* raw_tp: every thread's entry; tp_btf: the dead awaiting their harvest */
	if (cfg->max_threads) {
		bpf_map__set_max_entries(s->maps.thread_stats, cfg->max_threads);
		s->rodata->max_tstore = cfg->max_threads;
	}
	if (cfg->max_procs)
		bpf_map__set_max_entries(s->maps.proc_stats, cfg->max_procs);
	if (cfg->max_calls && (cfg->syscalls || tp_btf))
		bpf_map__set_max_entries(s->maps.call_stats, cfg->max_calls);
	if (cfg->max_loops && cfg->syscalls)
		bpf_map__set_max_entries(s->maps.loop_stats, cfg->max_loops);
	s->rodata->stall_ns = cfg->stall_ns;
	/* stalls' on-CPU stacks (bpf/oncpu.bpf.c): loops are found by the syscall programs */
	bpf_program__set_autoload(s->progs.perf_oncpu_sample, cfg->stacks && cfg->syscalls);
	if (cfg->stacks && cfg->syscalls) {
		s->rodata->stack_min_ns = cfg->stack_min_ns;
		/* sp's own page, of which only the part above sp counts, and the rest rounded up */
		s->rodata->stack_pages = 1 + (cfg->stack_bytes + TW_STACK_PAGE - 1) / TW_STACK_PAGE;
		s->data->stack_gate = !cfg->stacks_gated;
	}
	if (cfg->ringbuf_bytes)
		bpf_map__set_max_entries(s->maps.events, cfg->ringbuf_bytes);
	err = threadwatch_bpf__load(s);
	if (err) {
		threadwatch_bpf__destroy(s);
		return err;
	}
	if (tp_btf) {
		b->harvest = bpf_program__attach_iter(s->progs.iter_harvest, NULL);
		if (!b->harvest) {
			err = -errno;
			threadwatch_bpf__destroy(s);
			return err;
		}
	}
	b->skel = s;
	b->tp_btf = tp_btf;
	b->syscalls = cfg->syscalls;
	b->calls = cfg->syscalls || tp_btf;
	b->iter = iter;
	b->now = now;
	return 0;
}

static void load_error(int err, bool tp_btf)
{
	const char *hint = "run with -v to see libbpf's log";

	if (err == -EACCES)
		hint = "the kernel's verifier rejected a program: please report it with the "
		       "kernel version and the log of -v";
	else if (err == -EPERM)
		hint = "permission denied: run as root or with CAP_BPF and CAP_PERFMON; on "
		       "kernels before 5.11 also raise RLIMIT_MEMLOCK (CAP_SYS_RESOURCE)";
	else if (err == -ENOMEM || err == -E2BIG)
		hint = "not enough memory for the maps: lower --max-threads / --max-procs";
	fprintf(stderr, "bpf-threadwatch: loading the BPF programs (%s) failed: %s; %s\n",
		tp_btf ? "tp_btf" : "raw_tp", strerror(-err), hint);
}

/* mmap the targets bitmap and put -p's PIDs (the command's) in it before anything attaches. */
static int targets_map(struct tw_bpf *b, const struct tw_config *cfg)
{
	struct tw_targets *t = &b->targets;
	const struct bpf_map *map = b->skel->maps.targets;
	size_t len, page = (size_t)sysconf(_SC_PAGESIZE);
	void *mem;

	if (!cli_targeted(cfg))
		return 0;
	t->nwords = bpf_map__max_entries(map);
	len = ((size_t)t->nwords * sizeof(struct tw_targ_word) + page - 1) / page * page;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
	if (mem == MAP_FAILED) {
		int err = -errno;

		fprintf(stderr, "bpf-threadwatch: cannot map the targets bitmap: %s\n",
			strerror(-err));
		return err;
	}
	t->w = mem;
	t->map_len = len;
	for (size_t i = 0; i < cfg->npids; i++)
		if (targets_set(t, cfg->pids[i], cfg->children)) {
			fprintf(stderr, "bpf-threadwatch: PID %u is above pid_max\n", cfg->pids[i]);
			return -ERANGE;
		}
	return 0;
}

int tw_bpf_start(struct tw_bpf *b, const struct tw_config *cfg)
{
	struct timespec t0, t1;
	bool tp_btf, iter, now;
	int err;

	memset(b, 0, sizeof(*b));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	verbose = cfg->verbose;
	libbpf_set_print(libbpf_print);
	err = check_caps();
	if (err)
		return err;
	if (!cfg->btf_path && faccessat(AT_FDCWD, VMLINUX_BTF, R_OK, AT_EACCESS)) {
		fprintf(stderr,
			"bpf-threadwatch: this kernel exposes no BTF (%s: %s): it was built "
			"without "
			"CONFIG_DEBUG_INFO_BTF; pass --btf FILE with a BTF for this exact kernel "
			"(e.g. from btfhub, or 'pahole --btf_encode_detached' on its vmlinux)\n",
			VMLINUX_BTF, strerror(errno));
		return -ENOENT;
	}
	if (cfg->btf_path && faccessat(AT_FDCWD, cfg->btf_path, R_OK, AT_EACCESS)) {
		fprintf(stderr, "bpf-threadwatch: cannot read --btf '%s': %s\n", cfg->btf_path,
			strerror(errno));
		return -ENOENT;
	}
	err = ensure_tracefs();
	if (err)
		return err;

	switch (cfg->attach_mode) {
	case TW_ATTACH_TP_BTF:
		tp_btf = true;
		break;
	case TW_ATTACH_RAW_TP:
		tp_btf = false;
		break;
	default:
		tp_btf = !cfg->btf_path && kernel_has_tp_btf();
	}
	/* the task iterator needs the kernel's own BTF; --btf means the kernel has none */
	iter = !cfg->btf_path;
	now = iter && cfg->stacks && cfg->syscalls;
	err = open_and_load(b, cfg, tp_btf, iter, now);
	if (err && now) {
		/* sleepable task iterators and bpf_copy_from_user_task are 5.18+ */
		int now_err = err;

		now = false;
		err = open_and_load(b, cfg, tp_btf, iter, now);
		if (!err)
			fprintf(stderr,
				"bpf-threadwatch: the blocked-now stack iterator did not load (%s; "
				"iter.s/task and bpf_copy_from_user_task need kernel 5.18+): "
				"BLOCKED NOW and STALLED NOW rows carry no stack\n",
				strerror(-now_err));
	}
	if (err && iter) {
		/* without it only the attach-time state comes from /proc instead */
		if (cfg->verbose)
			fprintf(stderr,
				"bpf-threadwatch: load with the task iterator failed (%s), trying "
				"without it\n",
				strerror(-err));
		iter = now = false;
		err = open_and_load(b, cfg, tp_btf, iter, now);
	}
	if (err && tp_btf && cfg->attach_mode == TW_ATTACH_AUTO) {
		if (cfg->verbose)
			fprintf(stderr, "bpf-threadwatch: tp_btf load failed (%s), trying raw_tp\n",
				strerror(-err));
		tp_btf = false;
		err = open_and_load(b, cfg, tp_btf, iter, now);
	}
	if (err) {
		load_error(err, tp_btf);
		return err;
	}
	err = targets_map(b, cfg);
	if (err) {
		tw_bpf_stop(b);
		return err;
	}
	err = threadwatch_bpf__attach(b->skel);
	if (err) {
		fprintf(stderr,
			"bpf-threadwatch: attaching the BPF programs failed: %s; run with -v for "
			"libbpf's log\n",
			strerror(-err));
		tw_bpf_stop(b);
		return err;
	}
	/* without perf events (permission, VM), one note: the stalls keep their blocked stacks */
	if (cfg->stacks && cfg->syscalls)
		oncpu_start(&b->oncpu, b->skel->progs.perf_oncpu_sample);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	b->attach_s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	return 0;
}

void tw_bpf_stop(struct tw_bpf *b)
{
	if (b->targets.w)
		munmap(b->targets.w, b->targets.map_len);
	memset(&b->targets, 0, sizeof(b->targets));
	oncpu_stop(&b->oncpu);
	bpf_link__destroy(b->harvest);
	b->harvest = NULL;
	threadwatch_bpf__destroy(b->skel);
	b->skel = NULL;
}

int tw_bpf_thread_fd(const struct tw_bpf *b)
{
	return bpf_map__fd(b->skel->maps.thread_stats);
}

int tw_bpf_proc_fd(const struct tw_bpf *b)
{
	return bpf_map__fd(b->skel->maps.proc_stats);
}

int tw_bpf_drops_fd(const struct tw_bpf *b)
{
	return bpf_map__fd(b->skel->maps.drops);
}

int tw_bpf_create_gate_fd(const struct tw_bpf *b)
{
	return bpf_map__fd(b->skel->maps.create_gate);
}

void tw_bpf_stack_gate(struct tw_bpf *b, bool on)
{
	/* the mmapped .data: the next capture sees it */
	__atomic_store_n(&b->skel->data->stack_gate, on ? 1U : 0U, __ATOMIC_RELAXED);
}

int tw_bpf_py_procs_fd(const struct tw_bpf *b)
{
	return bpf_map__fd(b->skel->maps.py_procs);
}

int tw_bpf_py_bits_fd(const struct tw_bpf *b)
{
	return bpf_map__fd(b->skel->maps.py_bits);
}

int tw_bpf_call_fd(const struct tw_bpf *b)
{
	return b->calls ? bpf_map__fd(b->skel->maps.call_stats) : -1;
}

int tw_bpf_harvest_fd(const struct tw_bpf *b)
{
	return b->harvest ? bpf_link__fd(b->harvest) : -1;
}

struct bpf_program *tw_bpf_harvest_prog(const struct tw_bpf *b)
{
	return b->harvest ? b->skel->progs.iter_harvest : NULL;
}

int tw_bpf_loop_fd(const struct tw_bpf *b)
{
	return b->syscalls ? bpf_map__fd(b->skel->maps.loop_stats) : -1;
}

struct bpf_program *tw_bpf_now_prog(const struct tw_bpf *b)
{
	return b->now ? b->skel->progs.iter_now_stacks : NULL;
}

int tw_bpf_now_want_fd(const struct tw_bpf *b)
{
	return b->now ? bpf_map__fd(b->skel->maps.now_want) : -1;
}

int tw_bpf_events_fd(const struct tw_bpf *b)
{
	return bpf_map__fd(b->skel->maps.events);
}

size_t tw_bpf_prog_stats(const struct tw_bpf *b, struct tw_prog_stat *out, size_t n)
{
	struct bpf_program *prog;
	size_t k = 0;

	if (!b->skel)
		return 0;
	bpf_object__for_each_program(prog, b->skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		if (k == n)
			break;
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue; /* not loaded: the other flavour, or syscalls off */
		snprintf(out[k].name, sizeof(out[k].name), "%s", bpf_program__name(prog));
		out[k].run_ns = info.run_time_ns;
		out[k].runs = info.run_cnt;
		k++;
	}
	return k;
}

int tw_bpf_enable_stats(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	return fd < 0 ? -errno : fd;
}