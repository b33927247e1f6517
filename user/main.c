// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* bpf-threadwatch: wires the CLI, the loader, the collector and the reports together. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "cli.h"
#include "clock.h"
#include "collect.h"
#include "daemon.h"
#include "debuginfod.h"
#include "loader.h"
#include "model.h"
#include "poller.h"
#include "report.h"
#include "stacks.h"
#include "target.h"
#include "view.h"

/*
 * How often targets' /proc entries are checked, and the longest the loop
 * sleeps: events are read at least this often (a target's exit is noticed
 * within it), and an agent with nothing to do wakes this often only.
 */
#define LIVENESS_CHECK_NS 1000000000ULL
/*
 * While events come, they are read this often, as they always were: the dead
 * are harvested (their map entries freed) within it plus the settle delay,
 * which a full map needs. After QUIET_NS without any, the loop sleeps until
 * something is due: an idle target costs one wake-up a second.
 */
#define ACTIVE_POLL_NS 100000000ULL
#define QUIET_NS 1000000000ULL

static volatile sig_atomic_t exiting;
/* the poller's eventfd: a signal wakes the loop at once, whichever thread it hits */
static volatile int wake_fd = -1;
/* the -- COMMAND child: ours, so a signal that ends our run is passed on to it */
static volatile pid_t child_pid;

static void on_signal(int sig)
{
	exiting = 1;
	poller_poke(wake_fd);
	if (child_pid > 0)
		kill(child_pid, sig);
	/* a second Ctrl-C kills, as users expect of a hung tool */
	signal(sig, SIG_DFL);
}

static void setup_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* a closed pipe (| head) shows up as EPIPE on write and ends the run cleanly */
	signal(SIGPIPE, SIG_IGN);
}

struct run {
	struct tw_config *cfg;
	struct tw_bpf bpf;
	struct tw_model model;
	struct tw_collector col;
	struct ring_buffer *rb;
	struct tw_poller poller;
	struct tw_child child;
	bool have_child;
	__u64 start_ns;
	__u64 last_report_ns;
	__u64 last_fold_ns; /* the last refresh (TW_FOLD_EVERY_NS) */
	__u64 last_events_ns; /* the last read that found events (the start counts as one) */
	bool out_broken;
	FILE *folded; /* --folded FILE, opened before the trace starts */
	FILE *pprof; /* --pprof FILE, the same */
	size_t nexpanded; /* targets found at attach besides -p (--children, --comm, --cgroup) */
};

static int report(struct run *r, bool final, __u64 now)
{
	struct tw_view_opts o = {
		.final = final,
		.span_start_ns = final ? r->start_ns : r->last_report_ns,
		.duration_s = (now - (final ? r->start_ns : r->last_report_ns)) / 1e9,
		.attach = r->bpf.tp_btf ? "tp_btf" : "raw_tp",
		.by = r->cfg->by,
		.top = r->cfg->top,
		.targets_only = r->cfg->npids > 0,
		.sort = r->cfg->sort,
		.group_procs = r->cfg->group_procs,
		.syscalls = r->cfg->syscalls,
		.calls = r->bpf.calls,
		.run_start_ns = r->start_ns,
		.blocked_ns = r->cfg->blocked_ns,
		.stacks = r->col.stacks != NULL,
		.folded = final && r->folded,
		.oncpu_period_ns = r->bpf.oncpu.n ? r->bpf.oncpu.period_ns : 0,
	};
	struct tw_view v;
	int err;

	/* where the threads it lists as blocked now are stuck: taken while they sleep */
	err = collect_now_stacks(&r->col, r->cfg->blocked_ns);
	if (err)
		return err;
	tw_clock_now(&o.clock);
	o.clock.mono_ns = now; /* the report covers up to now: its time is now's */
	err = view_build(&v, &r->model, &o);
	if (err)
		return err;
	if (r->cfg->format == TW_FMT_JSON)
		err = report_json(stdout, &v);
	else
		err = report_text(stdout, &v);
	if (!err && o.folded) {
		err = report_folded(r->folded, &v);
		if (err)
			fprintf(stderr, "bpf-threadwatch: cannot write --folded %s: %s\n",
				r->cfg->folded_path, strerror(-err));
	}
	if (!err && final && r->pprof && v.ss) {
		err = report_pprof(r->pprof, &v);
		if (err)
			fprintf(stderr, "bpf-threadwatch: cannot write --pprof %s: %s\n",
				r->cfg->pprof_path, strerror(-err));
	}
	view_free(&v);
	if (err == -EPIPE) {
		r->out_broken = true;
		return 0;
	}
	if (!final && r->model.keep_marks && model_mark(&r->model))
		return -ENOMEM;
	r->last_report_ns = now;
	return err;
}

/*
 * Every target has exited and its final numbers are read: the -p PIDs or the
 * command, and with --children every process they forked. Never with --comm,
 * --cgroup or --unit, whose targets can appear at any time.
 */
static bool targets_done(struct run *r)
{
	if (!r->cfg->npids || cli_open_targets(r->cfg))
		return false;
	for (size_t i = 0; i < r->cfg->npids; i++) {
		struct tw_proc *p = model_proc(&r->model, r->cfg->pids[i]);

		if (p && !(p->exited && p->harvested))
			return false;
	}
	if (r->cfg->children)
		for (size_t i = 0; i < r->model.nprocs; i++) {
			const struct tw_proc *p = r->model.procs[i];

			if (p->target && !(p->exited && p->harvested))
				return false;
		}
	return true;
}

/* Reap the command and, as their subreaper, the orphans of its tree. */
static void reap(struct run *r)
{
	pid_t pid;

	if (!r->have_child)
		return;
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		if (pid == r->child.pid) {
			r->child.pid = 0;
			child_pid = 0;
		}
}

/*
 * If exit events were lost, /proc still tells us a target is gone. Events are
 * drained first: a reaped process has emitted all of its events, and they
 * must reach the model before /proc's word does.
 */
static void check_targets_alive(struct run *r, __u64 now)
{
	bool drained = false;

	reap(r);
	for (size_t i = 0; i < r->model.nprocs; i++) {
		struct tw_proc *p = r->model.procs[i];
		char path[32];

		if (!p->target)
			continue;
		snprintf(path, sizeof(path), "/proc/%u", p->pid);
		if (p->exited || !access(path, F_OK))
			continue;
		if (!drained) {
			ring_buffer__consume(r->rb);
			drained = true;
			if (p->exited)
				continue;
		}
		for (size_t j = 0; j < p->nthreads; j++)
			if (p->threads[j]->alive)
				model_thread_died(&r->model, p->pid, p->threads[j]->tid, now, NULL);
	}
}

static __u64 min_u64(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

/*
 * The next moment the loop has something to do: the liveness check (at most
 * LIVENESS_CHECK_NS away), the next read while events come (ACTIVE_POLL_NS),
 * the harvest of the dead already read, the next interval report, the end of
 * -d, the fold of the 32-bit counts.
 */
static __u64 next_due(struct run *r, __u64 now, __u64 next_check)
{
	const struct tw_config *cfg = r->cfg;
	__u64 settle = collect_settle_ns(&r->col, now);
	__u64 due = min_u64(next_check, r->last_fold_ns + TW_FOLD_EVERY_NS);

	if (settle)
		due = min_u64(due, now + settle);
	if (now - r->last_events_ns < QUIET_NS)
		due = min_u64(due, now + ACTIVE_POLL_NS);
	if (cfg->interval_ns)
		due = min_u64(due, r->last_report_ns + cfg->interval_ns);
	if (cfg->duration_ns)
		due = min_u64(due, r->start_ns + cfg->duration_ns);
	return due;
}

static int run_loop(struct run *r)
{
	const struct tw_config *cfg = r->cfg;
	__u64 next_check = 0, now, due;
	int err;

	r->last_report_ns = r->start_ns;
	r->last_fold_ns = r->start_ns;
	r->last_events_ns = r->start_ns;
	while (!exiting && !r->out_broken) {
		/*
		 * The BPF side wakes us only when the buffer fills up (events_submit()
		 * in bpf/maps.bpf.h): otherwise the events are read when something is
		 * due, every 100 ms while they come, at least once a second. Signals
		 * and the targets' exits poke the poller.
		 */
		now = mono_ns();
		due = next_due(r, now, next_check);
		err = due > now ? poller_wait(&r->poller, due - now) : 0;
		if (err >= 0)
			err = ring_buffer__consume(r->rb);
		if (err > 0)
			r->last_events_ns = mono_ns();
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "bpf-threadwatch: reading events failed: %s\n",
				strerror(-err));
			return err;
		}
		if (r->col.err)
			return r->col.err;
		now = mono_ns();
		collect_harvest(&r->col, now, false);

		if (now >= next_check) {
			check_targets_alive(r, now);
			next_check = now + LIVENESS_CHECK_NS;
			if (collect_py_names(&r->col, now))
				return -ENOMEM;
		}
		if (targets_done(r))
			break;
		if (cfg->duration_ns && now - r->start_ns >= cfg->duration_ns)
			break;
		if (cfg->interval_ns && now - r->last_report_ns >= cfg->interval_ns) {
			/* the model must know every creation and exit the maps already show */
			ring_buffer__consume(r->rb);
			err = collect_refresh(&r->col, now);
			if (!err)
				err = report(r, false, now);
			if (err)
				return err;
			r->last_fold_ns = now;
		}
		/* without -i (or a long one), fold the kernel's 32-bit counts before one wraps */
		if (now - r->last_fold_ns >= TW_FOLD_EVERY_NS) {
			ring_buffer__consume(r->rb);
			err = collect_refresh(&r->col, now);
			if (err)
				return err;
			r->last_fold_ns = now;
		}
	}
	return 0;
}

/* One pass of the loop's reading: events, and the harvest of the dead. */
static void drain(struct run *r, int timeout_ms)
{
	ring_buffer__poll(r->rb, timeout_ms);
	ring_buffer__consume(r->rb);
	collect_harvest(&r->col, mono_ns(), false);
}

/*
 * The run is over: the command, and with --children every live process of its
 * tree, gets SIGTERM, then SIGKILL after TW_KILL_GRACE_NS. Processes the tree
 * forks meanwhile get the same. Events keep being read, so the exits are in
 * the final report.
 */
/* Each process gets each signal once: a second SIGTERM means "now" to many servers. */
static void signal_once(struct tw_pidlist *sent, __u32 pid, int sig)
{
	if (pidlist_has(sent, pid))
		return;
	kill((pid_t)pid, sig);
	if (pidlist_add(sent, pid))
		return; /* out of memory: it may get the signal again, no worse */
}

static void end_command(struct run *r)
{
	__u64 deadline = mono_ns() + TW_KILL_GRACE_NS;
	struct tw_pidlist sent = {};
	int sig = SIGTERM;
	bool any = false;

	if (!r->have_child)
		return;
	for (;;) {
		bool alive = false;

		reap(r);
		if (r->child.pid > 0) {
			alive = true;
			signal_once(&sent, (__u32)r->child.pid, sig);
		}
		for (size_t i = 0; r->cfg->children && i < r->model.nprocs; i++) {
			const struct tw_proc *p = r->model.procs[i];

			if (!p->target || p->exited || target_gone(p->pid))
				continue;
			alive = true;
			signal_once(&sent, p->pid, sig);
		}
		if (!alive)
			break;
		if (!any)
			fprintf(stderr,
				"bpf-threadwatch: the run is over: ending '%s'%s (SIGTERM, "
				"SIGKILL after %.0f s)\n",
				r->cfg->command[0], r->cfg->children ? " and its children" : "",
				TW_KILL_GRACE_NS / 1e9);
		any = true;
		if (mono_ns() >= deadline) {
			if (sig == SIGKILL)
				break; /* unkillable (D state): give up after a second grace */
			sig = SIGKILL;
			sent.n = 0;
			deadline = mono_ns() + TW_KILL_GRACE_NS;
			continue;
		}
		drain(r, 20);
	}
	pidlist_free(&sent);
	if (any)
		drain(r, 0);
}

static int final_report(struct run *r)
{
	__u64 now;
	int err;

	__u64 settle;

	ring_buffer__consume(r->rb);
	/* let threads that just exited finish their last context switch */
	settle = collect_settle_ns(&r->col, mono_ns());
	if (settle) {
		struct timespec ts = { .tv_nsec = (long)settle };

		nanosleep(&ts, NULL);
		ring_buffer__consume(r->rb);
	}
	now = mono_ns();
	collect_harvest(&r->col, now, true);
	/* every stack taken during the run, unwound */
	err = stacks_drain(r->col.stacks, &r->model, true);
	if (!err)
		err = collect_refresh(&r->col, now);
	if (err)
		return err;
	if (r->out_broken)
		return 0;
	return report(r, true, now);
}

#define SAY_MAX 16 /* processes named one by one on stderr; the rest are counted */

static void say_exited(struct run *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->cfg->npids; i++) {
		struct tw_proc *p = model_proc(&r->model, r->cfg->pids[i]);

		if (p && p->exited && n++ < SAY_MAX)
			fprintf(stderr, "bpf-threadwatch: process %u (%s) exited during the run\n",
				p->pid, p->comm);
	}
	if (n > SAY_MAX)
		fprintf(stderr, "bpf-threadwatch: and %zu more of the -p processes exited\n",
			n - SAY_MAX);
}

static void say_tracing(struct run *r)
{
	const struct tw_config *cfg = r->cfg;

	fprintf(stderr, "Tracing ");
	if (!cli_targeted(cfg))
		fprintf(stderr, "all processes");
	for (size_t i = 0; i < cfg->npids && i < SAY_MAX; i++) {
		struct tw_proc *p = model_proc(&r->model, cfg->pids[i]);

		const char *name = r->have_child ? cfg->command[0] : p ? p->comm : "?";

		fprintf(stderr, "%sPID %u (%s)", i ? ", " : "", cfg->pids[i], name);
	}
	if (cfg->npids > SAY_MAX)
		fprintf(stderr, " and %zu more PIDs", cfg->npids - SAY_MAX);
	if (cfg->children)
		fprintf(stderr, " with children");
	for (size_t i = 0; i < cfg->ncomm_names; i++)
		fprintf(stderr, "%s'%s'", i || cfg->npids ? ", comm " : "comm ",
			cfg->comm_names[i]);
	if (cfg->cgroup)
		fprintf(stderr, "%scgroup %s", cfg->npids || cfg->ncomm_names ? ", " : "",
			cfg->cgroup);
	if (r->nexpanded)
		fprintf(stderr, " (%zu more found at attach)", r->nexpanded);
	if (cfg->tid)
		fprintf(stderr, " TID %u", cfg->tid);
	fprintf(stderr, " with %s, attached in %.3f s.", r->bpf.tp_btf ? "tp_btf" : "raw_tp",
		r->bpf.attach_s);
	if (!cfg->duration_ns && !r->have_child)
		fprintf(stderr, " Hit Ctrl-C to end.");
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	struct tw_config cfg;
	struct run r = { .cfg = &cfg, .poller = { .epfd = -1, .evfd = -1 } };
	struct tw_pidlist found = {};
	int err, status = 1;

	/* before any thread: libdebuginfod reads its timeouts from the environment */
	tw_debuginfod_env_defaults();
	if (argc > 1 && !strcmp(argv[1], "daemon"))
		return daemon_main(argc - 1, argv + 1);
	setup_signals();
	cli_parse(argc, argv, &cfg);
	if (target_resolve(&cfg)) {
		cli_free(&cfg);
		return 2;
	}
	/* before anything is measured: a path that cannot be written is bad input */
	if ((cfg.folded_path && !(r.folded = fopen(cfg.folded_path, "w"))) ||
	    (cfg.pprof_path && !(r.pprof = fopen(cfg.pprof_path, "wb")))) {
		bool pp = r.folded || !cfg.folded_path;

		fprintf(stderr, "bpf-threadwatch: cannot write %s %s: %s\n",
			pp ? "--pprof" : "--folded", pp ? cfg.pprof_path : cfg.folded_path,
			strerror(errno));
		if (r.folded)
			fclose(r.folded);
		cli_free(&cfg);
		return 2;
	}
	if (cfg.command) {
		/* orphans of the command's tree are reparented to us: we reap and end them */
		if (cfg.children)
			prctl(PR_SET_CHILD_SUBREAPER, 1);
		err = target_spawn(&r.child, cfg.command);
		if (!err) {
			r.have_child = true;
			child_pid = r.child.pid;
			err = target_set_single(&cfg, (__u32)r.child.pid, cfg.command[0]);
		}
		if (err) {
			fprintf(stderr, "bpf-threadwatch: cannot start '%s': %s\n", cfg.command[0],
				strerror(-err));
			goto cleanup;
		}
	}
	err = tw_bpf_start(&r.bpf, &cfg);
	if (err)
		goto cleanup;
	model_init(&r.model, cfg.interval_ns > 0);
	r.model.stall_ns = cfg.stall_ns;
	r.model.max_stalls = cfg.max_stalls;
	/* the final report lists every thread: keep the dead ones packed (user/pack.h) */
	r.model.pack_dead = true;
	err = collect_init(&r.col, &r.model, tw_bpf_thread_fd(&r.bpf), tw_bpf_proc_fd(&r.bpf),
			   tw_bpf_drops_fd(&r.bpf), !cfg.include_kthreads);
	if (err) {
		fprintf(stderr, "bpf-threadwatch: cannot set up the collector: %s\n",
			strerror(-err));
		goto cleanup;
	}
	r.col.call_fd = tw_bpf_call_fd(&r.bpf);
	r.col.loop_fd = tw_bpf_loop_fd(&r.bpf);
	r.col.harvest_fd = tw_bpf_harvest_fd(&r.bpf);
	r.col.harvest_prog = tw_bpf_harvest_prog(&r.bpf);
	r.col.create_gate_fd = tw_bpf_create_gate_fd(&r.bpf);
	r.col.now_prog = tw_bpf_now_prog(&r.bpf);
	r.col.now_want_fd = tw_bpf_now_want_fd(&r.bpf);
	if (cfg.stacks && cfg.syscalls && !(r.col.stacks = stacks_in_new())) {
		fprintf(stderr, "bpf-threadwatch: cannot set up the stack unwinder\n");
		goto cleanup;
	}
	if (r.col.stacks)
		stacks_in_python(r.col.stacks, tw_bpf_py_procs_fd(&r.bpf),
				 tw_bpf_py_bits_fd(&r.bpf));
	if (r.col.stacks && r.have_child)
		stacks_in_set_child(r.col.stacks, (__u32)r.child.pid);
	r.rb = ring_buffer__new(tw_bpf_events_fd(&r.bpf), collect_on_event, &r.col, NULL);
	if (!r.rb) {
		err = -errno;
		fprintf(stderr, "bpf-threadwatch: cannot open the ring buffer: %s\n",
			strerror(-err));
		goto cleanup;
	}
	err = poller_init(&r.poller, tw_bpf_events_fd(&r.bpf));
	if (err) {
		fprintf(stderr, "bpf-threadwatch: cannot set up the event poller: %s\n",
			strerror(-err));
		goto cleanup;
	}
	wake_fd = r.poller.evfd;
	/* a target's exit wakes the loop at once (--children's later ones: the 1 s check) */
	for (size_t i = 0; i < cfg.npids; i++)
		poller_watch_exit(&r.poller, cfg.pids[i]);
	/* attached first, seeded second: a thread seen both ways counts once */
	if (cli_targeted(&cfg)) {
		r.col.targets = &r.bpf.targets;
		err = target_expand(&cfg, &r.bpf.targets, &found);
		if (err)
			goto cleanup;
		r.nexpanded = found.n;
	}
	/*
	 * every program sees events now, and every target found at attach is in
	 * the bitmap: where each thread already is comes next
	 */
	err = attach_seed(&r.bpf, &cfg);
	if (err)
		goto cleanup;
	for (size_t i = 0; i < cfg.npids; i++) {
		err = collect_seed(&r.col, cfg.pids[i], true, cfg.comms[i]);
		if (err && err != -ENOENT)
			goto cleanup;
	}
	for (size_t i = 0; i < found.n; i++) {
		err = collect_seed(&r.col, found.v[i], true, NULL);
		if (err && err != -ENOENT)
			goto cleanup;
	}
	if (!cli_targeted(&cfg)) {
		err = collect_seed(&r.col, 0, false, NULL);
		if (err)
			goto cleanup;
	}
	r.start_ns = mono_ns();
	if (r.have_child && cfg.command) {
		err = target_release(&r.child);
		if (err) {
			fprintf(stderr, "bpf-threadwatch: cannot run '%s': %s\n", cfg.command[0],
				strerror(-err));
			r.have_child = false;
			status = 2;
			goto cleanup;
		}
	}
	say_tracing(&r);
	err = run_loop(&r);
	end_command(&r);
	if (!err)
		err = final_report(&r);
	if (err) {
		if (err != -EPIPE)
			fprintf(stderr, "bpf-threadwatch: %s\n", strerror(-err));
		goto cleanup;
	}
	say_exited(&r);
	status = 0;
cleanup:
	wake_fd = -1;
	poller_free(&r.poller);
	ring_buffer__free(r.rb);
	tw_bpf_stop(&r.bpf);
	stacks_in_free(r.col.stacks);
	collect_free(&r.col);
	model_free(&r.model);
	if (r.folded && fclose(r.folded) && !status) {
		fprintf(stderr, "bpf-threadwatch: cannot write --folded %s: %s\n", cfg.folded_path,
			strerror(errno));
		status = 1;
	}
	if (r.pprof && fclose(r.pprof) && !status) {
		fprintf(stderr, "bpf-threadwatch: cannot write --pprof %s: %s\n", cfg.pprof_path,
			strerror(errno));
		status = 1;
	}
	if (r.have_child && r.child.pid > 0) {
		if (status && r.child.go_fd > 0)
			close(r.child.go_fd); /* never released: it exits without running */
		waitpid(r.child.pid, NULL, status ? 0 : WNOHANG);
	}
	pidlist_free(&found);
	cli_free(&cfg);
	return status;
}
