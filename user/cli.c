// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <argp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "parse.h"

#define MAX_SECONDS (7 * 24 * 3600.0) /* a week: longer runs belong to the daemon */
#define MIN_INTERVAL_S 0.01

const char *argp_program_version = "bpf-threadwatch " TW_VERSION;

const char *const tw_attach_names[3] = { "auto", "tp_btf", "raw_tp" };

static const char doc[] =
	"Per-thread off-CPU time (blocked vs waiting for a CPU), context switches and thread "
	"creation/exit/failures of running processes, measured in the kernel with eBPF."
	"\v"
	"EXAMPLES:\n"
	"  sudo bpf-threadwatch -p 1234              # trace PID 1234 until Ctrl-C\n"
	"  sudo bpf-threadwatch -p 1234,5678 -d 10   # two processes for 10 seconds\n"
	"  sudo bpf-threadwatch -p 1234 -i 1 --format json  # a JSON line each second\n"
	"  sudo bpf-threadwatch -p 1234 --by comm    # fold pools (worker-1, worker-2...) by name\n"
	"  sudo bpf-threadwatch -p 1234 -t 1240      # one thread of PID 1234\n"
	"  sudo bpf-threadwatch -p 1234 -i 1 --stall-ms 50   # event-loop stalls of 50 ms+, live\n"
	"  sudo bpf-threadwatch -p 1234 -i 2 --blocked-ms 500  # threads stuck 0.5 s+, and where\n"
	"  sudo bpf-threadwatch -p 1234 -d 10 --folded app.folded  # where it blocks, by stack:\n"
	"      flamegraph.pl app.folded > app.svg     # (or open app.folded in speedscope)\n"
	"  sudo bpf-threadwatch -p 1234 -d 10 --pprof app.pb.gz  # the same for go tool pprof\n"
	"  sudo bpf-threadwatch -d 5 --top 5         # the 5 busiest or suffering processes\n"
	"  sudo bpf-threadwatch -d 5 --top 5 --sort runq   # the 5 waiting longest for a CPU\n"
	"  sudo bpf-threadwatch -- python3 app.py    # start a command and trace it from birth\n"
	"  sudo bpf-threadwatch -d 10 -- gunicorn app:app  # the master and every worker it forks\n"
	"  sudo bpf-threadwatch -p 1234 --children   # PID 1234 and its descendants, new ones too\n"
	"  sudo bpf-threadwatch --comm postgres -d 10  # every postgres, as one row 'postgres xN'\n"
	"  sudo bpf-threadwatch --unit nginx -d 10   # the processes of nginx.service's cgroup\n"
	"  sudo bpf-threadwatch --cgroup /sys/fs/cgroup/pids/mygroup -d 10\n"
	"  sudo bpf-threadwatch daemon --help        # fleet mode: Prometheus metrics on :9464\n"
	"\n"
	"Off-CPU time is split into BLOCKED (the thread slept, e.g. in read() or a lock, until\n"
	"woken) and RUNQ (it was runnable but waited for a CPU: woken or preempted). Histograms\n"
	"have four buckets per power of two (Prometheus schema 2); MAX is exact and P50/P99 are\n"
	"within 9% and never outside [min, max]. Thread creation failures are counted by errno;\n"
	"EAGAIN is the signature of thread exhaustion (pids.max, RLIMIT_NPROC, threads-max).\n"
	"\n"
	"With targets (-p, -t, a command, --comm, --cgroup, --unit), syscalls are traced too:\n"
	"the latency of blocking calls per thread (read/write family with the fd kind,\n"
	"epoll/poll/select, futex waits, sleeps, connect/accept); event loops (threads that\n"
	"keep returning to an epoll/poll/select wait) with the gaps between waits and STALLS,\n"
	"gaps of --stall-ms or more, broken down into on-CPU, blocked (and in which call) and\n"
	"run-queue time; and threads BLOCKED NOW for longer than --blocked-ms, with their call,\n"
	"also those stuck since before the trace (a loop idle in its wait is not blocked).\n"
	"System-wide, add --syscalls. With syscalls traced, the user stack of every call that\n"
	"slept --stack-min or more (shorter ones sampled in proportion to their time) is\n"
	"unwound from the binaries' CFI (no frame pointers needed): the final report says where\n"
	"the blocked time went, by stack, and --folded writes it for flame graphs. Frames are\n"
	"named from local debug files (/usr/lib/debug, .gnu_debuglink); with DEBUGINFOD_URLS\n"
	"set, a binary with none is asked of those debuginfod servers once (DEBUGINFOD_TIMEOUT,\n"
	"default here 5 s; DEBUGINFOD_MAXTIME 30 s).\n"
	"\n"
	"Targets are filtered in the kernel (a bitmap over PIDs: one array lookup per event,\n"
	"none system-wide) and kept there: processes forked by a target with --children (on\n"
	"by default for -- COMMAND), processes that fork or exec with a --comm name, and\n"
	"processes moved into the --cgroup (or --unit) or forked inside it become targets the\n"
	"moment it happens. --comm matches the kernel's 15-byte process name exactly (as in\n"
	"/proc/PID/comm: cut to 15 bytes, no arguments). Processes sharing a name are one row\n"
	"('postgres x24', each member in JSON) system-wide and with --comm/--cgroup/--unit.\n"
	"\n"
	"With -- COMMAND, when the run ends (-d, Ctrl-C, or the command's own exit) the command\n"
	"and, with --children, every process of its tree still running get SIGTERM, then\n"
	"SIGKILL 2 s later; the final report covers their exits. The run ends by itself once\n"
	"the command (with --children, its whole tree) or every -p target has exited.\n"
	"\n"
	"Exit status: 0 success, 1 runtime failure (BPF load/attach), 2 bad usage or input.\n"
	"Needs root, or CAP_BPF + CAP_PERFMON + CAP_DAC_READ_SEARCH (tracefs is root-only),\n"
	"and a kernel with BTF (or --btf FILE).";

enum {
	OPT_FORMAT = 'f',
	OPT_BY = 0x100,
	OPT_TOP,
	OPT_MAX_THREADS,
	OPT_MAX_PROCS,
	OPT_BTF,
	OPT_ATTACH,
	OPT_KTHREADS,
	OPT_MAX_CALLS,
	OPT_SYSCALLS,
	OPT_NO_SYSCALLS,
	OPT_STALL_MS,
	OPT_BLOCKED_MS,
	OPT_MAX_LOOPS,
	OPT_MAX_STALLS,
	OPT_CHILDREN,
	OPT_NO_CHILDREN,
	OPT_COMM,
	OPT_CGROUP,
	OPT_UNIT,
	OPT_SORT,
	OPT_GROUP,
	OPT_NO_GROUP,
	OPT_STACKS,
	OPT_NO_STACKS,
	OPT_STACK_MIN,
	OPT_STACK_BYTES,
	OPT_FOLDED,
	OPT_PPROF,
};

static const struct argp_option options[] = {
	{ "pid", 'p', "PID[,PID...]", 0, "Trace these processes (any number; repeatable)", 0 },
	{ "children", OPT_CHILDREN, NULL, 0,
	  "Also trace the processes the targets fork, and theirs (default with a command)", 0 },
	{ "no-children", OPT_NO_CHILDREN, NULL, 0,
	  "Trace only the command itself, not its children", 0 },
	{ "comm", OPT_COMM, "NAME", 0,
	  "Trace every process named NAME (exact 15-byte comm), started later too; repeatable "
	  "(up to 16)",
	  0 },
	{ "cgroup", OPT_CGROUP, "PATH", 0,
	  "Trace the processes of this cgroup directory and below (v1 or v2), moved in later too",
	  0 },
	{ "unit", OPT_UNIT, "NAME", 0,
	  "Trace a systemd unit's processes: its cgroup <hierarchy>/system.slice/NAME.service", 0 },
	{ "sort", OPT_SORT, "KEY", 0,
	  "Order processes by busy (default: failures, stalls, then on-CPU + run-queue), oncpu, "
	  "runq, blocked, offcpu, stalls, threads or failures",
	  0 },
	{ "group-procs", OPT_GROUP, NULL, 0,
	  "One row per process name ('postgres x24'; default without -p or a command)", 0 },
	{ "no-group-procs", OPT_NO_GROUP, NULL, 0, "One row per process, whatever its name", 0 },
	{ "tid", 't', "TID", 0, "Trace only this thread", 0 },
	{ "duration", 'd', "SECONDS", 0, "Stop after SECONDS (fractions allowed)", 0 },
	{ "interval", 'i', "SECONDS", 0, "Also report every SECONDS (deltas)", 0 },
	{ "format", OPT_FORMAT, "text|json", 0, "Output format (default text)", 0 },
	{ "by", OPT_BY, "thread|comm", 0, "Rows per thread (default) or per thread name", 0 },
	{ "top", OPT_TOP, "N", 0,
	  "Show the first N rows by --sort (default 10 system-wide; 0: all)", 0 },
	{ "max-threads", OPT_MAX_THREADS, "N", 0,
	  "Live threads tracked in the kernel (default 16384)", 0 },
	{ "max-procs", OPT_MAX_PROCS, "N", 0, "Live processes tracked (default 4096)", 0 },
	{ "max-calls", OPT_MAX_CALLS, "N", 0,
	  "(thread, syscall) pairs tracked in the kernel: every call a thread slept in, and the "
	  "timed calls (default 16384)",
	  0 },
	{ "syscalls", OPT_SYSCALLS, NULL, 0,
	  "Trace syscalls system-wide too (default: only with targets)", 0 },
	{ "no-syscalls", OPT_NO_SYSCALLS, NULL, 0,
	  "No syscall programs, the lowest overhead: each block is still named by the syscall it "
	  "sleeps in (tp_btf), without entry-to-exit times, errors or event loops",
	  0 },
	{ "stall-ms", OPT_STALL_MS, "MS", 0,
	  "An event-loop gap this long is a stall (default 100, asyncio's own)", 0 },
	{ "blocked-ms", OPT_BLOCKED_MS, "MS", 0,
	  "Report threads blocked right now for longer than this (default 1000)", 0 },
	{ "stacks", OPT_STACKS, NULL, 0,
	  "User stacks of blocked syscalls: where the blocked time is spent (default: on with "
	  "syscall tracing)",
	  0 },
	{ "no-stacks", OPT_NO_STACKS, NULL, 0, "No stacks", 0 },
	{ "stack-min", OPT_STACK_MIN, "MS", 0,
	  "A call blocked this long always has its stack taken; shorter blocks are sampled in "
	  "proportion to their time (default 1, at most 1000)",
	  0 },
	{ "stack-bytes", OPT_STACK_BYTES, "N", 0,
	  "User stack copied above the stack pointer for unwinding (default 16384, 4096-65536)",
	  0 },
	{ "folded", OPT_FOLDED, "FILE", 0,
	  "At the end, write blocked time by stack in the folded format flamegraph.pl and "
	  "speedscope read (microseconds)",
	  0 },
	{ "pprof", OPT_PPROF, "FILE", 0,
	  "At the end, write blocked time by stack as a gzipped pprof profile (go tool pprof, "
	  "Pyroscope)",
	  0 },
	{ "max-loops", OPT_MAX_LOOPS, "N", 0, "Event-loop threads tracked (default 4096)", 0 },
	{ "max-stalls", OPT_MAX_STALLS, "N", 0,
	  "Stalls kept for the report; later ones are only counted (default 1000)", 0 },
	{ "btf", OPT_BTF, "FILE", 0, "Kernel BTF to use when /sys/kernel/btf/vmlinux is missing",
	  0 },
	{ "attach-mode", OPT_ATTACH, "auto|tp_btf|raw_tp", 0,
	  "Scheduler tracepoint flavour (default auto: tp_btf where the kernel has it)", 0 },
	{ "include-kthreads", OPT_KTHREADS, NULL, 0, "Without -p, also trace kernel threads", 0 },
	{ "verbose", 'v', NULL, 0, "Print libbpf's debug output", 0 },
	{},
};

static void parse_secs(struct argp_state *state, const char *name, const char *arg, double min_s,
		       __u64 *out)
{
	int err = parse_seconds(arg, MAX_SECONDS, out);

	if (err || *out < (__u64)(min_s * 1e9))
		argp_error(state, "invalid %s '%s': expected seconds between %g and %.0f", name,
			   arg, min_s, MAX_SECONDS);
}

static __u64 parse_num(struct argp_state *state, const char *name, const char *arg, __u64 min,
		       __u64 max)
{
	__u64 v;

	if (parse_u64(arg, min, max, &v))
		argp_error(state, "invalid %s '%s': expected a whole number from %llu to %llu",
			   name, arg, (unsigned long long)min, (unsigned long long)max);
	return v;
}

/* -p's PIDs appended to cfg->pids (repeatable, any number, no PID twice). */
static void add_pids(struct argp_state *state, struct tw_config *cfg, const char *arg)
{
	size_t max = strlen(arg) / 2 + 1, n = 0;
	__u32 *list = calloc(max, sizeof(*list));
	int err;

	if (!list) {
		fprintf(stderr, "bpf-threadwatch: -p: %s\n", strerror(ENOMEM));
		exit(1);
	}
	err = parse_pid_list(arg, list, max, &n);
	if (err == -EEXIST)
		argp_error(state, "invalid -p '%s': a PID is listed twice", arg);
	else if (err)
		argp_error(state,
			   "invalid -p '%s': expected PIDs from 1 to 4194304, comma-separated",
			   arg);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < cfg->npids; k++)
			if (cfg->pids[k] == list[i])
				argp_error(state, "invalid -p '%s': PID %u is listed twice", arg,
					   list[i]);
		if (cfg->npids == cfg->cap_pids) {
			size_t ncap = cfg->cap_pids ? cfg->cap_pids * 2 : 16;
			__u32 *np = realloc(cfg->pids, ncap * sizeof(*np));

			if (!np) {
				fprintf(stderr, "bpf-threadwatch: -p: %s\n", strerror(ENOMEM));
				exit(1);
			}
			cfg->pids = np;
			cfg->cap_pids = ncap;
		}
		cfg->pids[cfg->npids++] = list[i];
	}
	free(list);
}

static void add_comm(struct argp_state *state, struct tw_config *cfg, const char *arg)
{
	size_t len = strlen(arg);

	if (!len || len >= TASK_COMM_LEN)
		argp_error(state,
			   "invalid --comm '%s': a process name is 1 to %d bytes (the kernel keeps "
			   "the first %d of it)",
			   arg, TASK_COMM_LEN - 1, TASK_COMM_LEN - 1);
	for (size_t i = 0; i < cfg->ncomm_names; i++)
		if (!strcmp(cfg->comm_names[i], arg))
			argp_error(state, "invalid --comm '%s': given twice", arg);
	if (cfg->ncomm_names == TW_MAX_COMMS)
		argp_error(state, "invalid --comm '%s': at most %d names", arg, TW_MAX_COMMS);
	memset(cfg->comm_names[cfg->ncomm_names], 0, TASK_COMM_LEN);
	memcpy(cfg->comm_names[cfg->ncomm_names++], arg, len);
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct tw_config *cfg = state->input;
	int err;

	switch (key) {
	case 'p':
		add_pids(state, cfg, arg);
		break;
	case OPT_CHILDREN:
	case OPT_NO_CHILDREN:
		if (cfg->children_opt)
			argp_error(state, "give at most one of --children and --no-children");
		cfg->children_opt = key == OPT_CHILDREN ? 1 : -1;
		break;
	case OPT_COMM:
		add_comm(state, cfg, arg);
		break;
	case OPT_CGROUP:
		if (cfg->cgroup)
			argp_error(state, "--cgroup is given twice");
		if (!*arg)
			argp_error(state, "invalid --cgroup '': expected a cgroup directory");
		cfg->cgroup = arg;
		break;
	case OPT_UNIT:
		if (cfg->unit)
			argp_error(state, "--unit is given twice");
		if (!*arg || strchr(arg, '/') || !strcmp(arg, ".") || !strcmp(arg, ".."))
			argp_error(state,
				   "invalid --unit '%s': expected a unit name such as nginx or "
				   "nginx.service",
				   arg);
		cfg->unit = arg;
		break;
	case OPT_SORT:
		err = parse_choice(arg, tw_sort_names, TW_SORT_NR);
		if (err < 0)
			argp_error(
				state,
				"invalid --sort '%s': expected busy, oncpu, runq, blocked, offcpu, "
				"stalls, threads or failures",
				arg);
		cfg->sort = (enum tw_sort)err;
		break;
	case OPT_GROUP:
	case OPT_NO_GROUP:
		if (cfg->group_opt)
			argp_error(state, "give at most one of --group-procs and --no-group-procs");
		cfg->group_opt = key == OPT_GROUP ? 1 : -1;
		break;
	case 't':
		cfg->tid = (__u32)parse_num(state, "-t", arg, 1, 4194304);
		break;
	case 'd':
		parse_secs(state, "-d", arg, 0.001, &cfg->duration_ns);
		break;
	case 'i':
		parse_secs(state, "-i", arg, MIN_INTERVAL_S, &cfg->interval_ns);
		break;
	case OPT_FORMAT:
		if (!strcmp(arg, "text"))
			cfg->format = TW_FMT_TEXT;
		else if (!strcmp(arg, "json"))
			cfg->format = TW_FMT_JSON;
		else
			argp_error(state, "invalid --format '%s': expected text or json", arg);
		break;
	case OPT_BY:
		if (!strcmp(arg, "thread"))
			cfg->by = TW_BY_THREAD;
		else if (!strcmp(arg, "comm"))
			cfg->by = TW_BY_COMM;
		else
			argp_error(state, "invalid --by '%s': expected thread or comm", arg);
		break;
	case OPT_TOP:
		cfg->top = (unsigned int)parse_num(state, "--top", arg, 0, 1000000);
		cfg->top_set = true;
		break;
	case OPT_MAX_THREADS:
		cfg->max_threads = (__u32)parse_num(state, "--max-threads", arg, 64, 4194304);
		break;
	case OPT_MAX_PROCS:
		cfg->max_procs = (__u32)parse_num(state, "--max-procs", arg, 16, 4194304);
		break;
	case OPT_MAX_CALLS:
		cfg->max_calls = (__u32)parse_num(state, "--max-calls", arg, 64, 4194304);
		break;
	case OPT_SYSCALLS:
	case OPT_NO_SYSCALLS:
		if (cfg->syscalls_opt)
			argp_error(state, "give at most one of --syscalls and --no-syscalls");
		cfg->syscalls_opt = key == OPT_SYSCALLS ? 1 : -1;
		break;
	case OPT_STALL_MS:
		cfg->stall_ns = parse_num(state, "--stall-ms", arg, 1, 3600000) * 1000000ULL;
		break;
	case OPT_BLOCKED_MS:
		cfg->blocked_ns = parse_num(state, "--blocked-ms", arg, 1, 3600000) * 1000000ULL;
		break;
	case OPT_STACKS:
	case OPT_NO_STACKS:
		if (cfg->stacks_opt)
			argp_error(state, "give at most one of --stacks and --no-stacks");
		cfg->stacks_opt = key == OPT_STACKS ? 1 : -1;
		break;
	case OPT_STACK_MIN:
		cfg->stack_min_ns = parse_num(state, "--stack-min", arg, 1, 1000) * 1000000ULL;
		break;
	case OPT_STACK_BYTES:
		cfg->stack_bytes = (__u32)parse_num(state, "--stack-bytes", arg, 4096, 65536);
		break;
	case OPT_FOLDED:
		cfg->folded_path = arg;
		break;
	case OPT_PPROF:
		cfg->pprof_path = arg;
		break;
	case OPT_MAX_LOOPS:
		cfg->max_loops = (__u32)parse_num(state, "--max-loops", arg, 16, 4194304);
		break;
	case OPT_MAX_STALLS:
		cfg->max_stalls = (__u32)parse_num(state, "--max-stalls", arg, 0, 10000000);
		break;
	case OPT_BTF:
		cfg->btf_path = arg;
		break;
	case OPT_ATTACH:
		err = parse_choice(arg, tw_attach_names, 3);
		if (err < 0)
			argp_error(state,
				   "invalid --attach-mode '%s': expected auto, tp_btf or raw_tp",
				   arg);
		cfg->attach_mode = (enum tw_attach_mode)err;
		break;
	case OPT_KTHREADS:
		cfg->include_kthreads = true;
		break;
	case 'v':
		cfg->verbose = true;
		break;
	case ARGP_KEY_ARG:
		/* the first non-option starts the command; the rest are its arguments */
		cfg->command = &state->argv[state->next - 1];
		state->next = state->argc;
		break;
	case ARGP_KEY_END:
		if (cfg->command && cfg->npids)
			argp_error(state, "-p and a command are exclusive: trace one or the other");
		if (cfg->interval_ns && cfg->duration_ns && cfg->interval_ns > cfg->duration_ns)
			argp_error(state, "-i is longer than -d: no interval would be reported");
		if (cfg->include_kthreads && cli_targeted(cfg))
			argp_error(state,
				   "--include-kthreads goes with system-wide tracing (no -p)");
		if (cfg->cgroup && cfg->unit)
			argp_error(state, "--cgroup and --unit are exclusive: a unit is a cgroup");
		if (cfg->tid && cli_open_targets(cfg))
			argp_error(state,
				   "-t goes with -p or a command, not --comm/--cgroup/--unit");
		if (cfg->children_opt > 0 && !cfg->npids && !cfg->command && !cfg->ncomm_names)
			argp_error(state, "--children follows -p, --comm or a command: give one");
		if (cfg->stacks_opt > 0 && cfg->syscalls_opt < 0)
			argp_error(state,
				   "--stacks needs syscall tracing: they are taken at a blocked "
				   "call's exit (drop --no-syscalls)");
		if (cfg->stacks_opt > 0 && !cfg->syscalls_opt && !cli_targeted(cfg))
			argp_error(state,
				   "--stacks needs syscall tracing: system-wide, add --syscalls");
		if ((cfg->folded_path || cfg->pprof_path) && cfg->stacks_opt < 0)
			argp_error(state, "%s writes stacks: drop --no-stacks",
				   cfg->folded_path ? "--folded" : "--pprof");
		if ((cfg->folded_path || cfg->pprof_path) &&
		    (cfg->syscalls_opt < 0 || (!cfg->syscalls_opt && !cli_targeted(cfg))))
			argp_error(state,
				   "%s needs syscall tracing (stacks are taken at a blocked call's "
				   "exit): %s",
				   cfg->folded_path ? "--folded" : "--pprof",
				   cfg->syscalls_opt < 0 ? "drop --no-syscalls" : "add --syscalls");
		if (cfg->children_opt < 0 && !cfg->command)
			argp_error(state, "--no-children goes with a command (-p does not follow "
					  "children unless --children)");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

void cli_parse(int argc, char **argv, struct tw_config *cfg)
{
	static const struct argp argp = {
		.options = options,
		.parser = parse_opt,
		.args_doc = "[-- COMMAND [ARG...]]",
		.doc = doc,
	};

	memset(cfg, 0, sizeof(*cfg));
	cfg->top = 10;
	cfg->stall_ns = 100 * 1000000ULL;
	cfg->blocked_ns = 1000 * 1000000ULL;
	cfg->max_stalls = 1000;
	cfg->stack_min_ns = 1000000ULL;
	cfg->stack_bytes = 16384;
	argp_err_exit_status = 2;
	argp_parse(&argp, argc, argv, ARGP_IN_ORDER, NULL, cfg);
	if (!cfg->top_set && cli_targeted(cfg))
		cfg->top = 0;
	if (cfg->syscalls_opt)
		cfg->syscalls = cfg->syscalls_opt > 0;
	else
		cfg->syscalls = cli_targeted(cfg);
	cfg->children = cfg->children_opt ? cfg->children_opt > 0 : cfg->command != NULL;
	cfg->stacks = cfg->stacks_opt ? cfg->stacks_opt > 0 : cfg->syscalls;
	cfg->group_procs = cfg->group_opt ? cfg->group_opt > 0 : !cfg->npids && !cfg->command;
}

bool cli_open_targets(const struct tw_config *cfg)
{
	return cfg->ncomm_names || cfg->cgroup || cfg->unit;
}

bool cli_targeted(const struct tw_config *cfg)
{
	return cfg->npids || cfg->command || cfg->tid || cli_open_targets(cfg);
}

void cli_free(struct tw_config *cfg)
{
	free(cfg->pids);
	free(cfg->comms);
	free(cfg->cgroup_buf);
	cfg->pids = NULL;
	cfg->comms = NULL;
	cfg->cgroup_buf = NULL;
}
