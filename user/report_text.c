// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include "report.h"
#include "calls.h"

/* Thread names are arbitrary bytes: show control and non-ASCII bytes as '?'. */
/* A name (at most max bytes, NUL-terminated or not) with unprintable bytes as '?'. */
static const char *printable_n(char out[TASK_COMM_LEN + 2], const char *comm, size_t max)
{
	size_t i;

	if (max > TASK_COMM_LEN + 1)
		max = TASK_COMM_LEN + 1;
	for (i = 0; i < max && comm[i]; i++)
		out[i] = isprint((unsigned char)comm[i]) ? comm[i] : '?';
	out[i] = '\0';
	return out;
}

/* A kernel comm: 15 bytes and a NUL. */
static const char *printable(char out[TASK_COMM_LEN + 2], const char *comm)
{
	return printable_n(out, comm, TASK_COMM_LEN - 1);
}

/*
 * "flock 1.4s, wait4 700ms": the row's two blocking calls with the most time,
 * where sleeping outside any syscall (page faults...) competes as "no syscall".
 */
static void top_calls(char *out, size_t len, const struct tw_calls *c, __u64 nosys_ns)
{
	const struct tw_call_rec *order[TW_SYSCALL_NR_MAX] = { 0 };
	__u32 n = calls_by_total(c, order), k = 0;
	bool nosys = nosys_ns > 0;
	char t[16], buf[24];
	int at = 0;

	out[0] = '\0';
	for (__u32 i = 0; i < 2; i++) {
		const char *name;
		__u64 ns;
		int w;

		if (nosys && (k >= n || nosys_ns > call_time_ns(order[k]))) {
			name = "(no syscall)";
			ns = nosys_ns;
			nosys = false;
		} else if (k < n) {
			name = nr_name(order[k]->nr, buf);
			ns = call_time_ns(order[k++]);
		} else {
			break;
		}
		if (!ns)
			break;
		w = snprintf(out + at, len - (size_t)at, "%s%s %s", i ? ", " : "", name,
			     fmt_ns(t, sizeof(t), ns));

		if (w < 0 || (size_t)w >= len - (size_t)at)
			break;
		at += w;
	}
}

/* "ECONNREFUSED 3, ENETUNREACH 1; timed out 2": a call's error returns other than would-block */
static void errno_line(FILE *f, const struct tw_call_rec *r)
{
	char buf[24], ebuf[16];
	const char *sep = "";

	if (!r->errors && !r->timedout && !r->interrupted)
		return;
	fprintf(f, "  %-16s ", nr_name(r->nr, buf));
	for (__u32 k = 0; k < r->nerrnos; k++, sep = ", ")
		fprintf(f, "%s%s %llu", sep, errno_name(r->errnos[k].e, ebuf),
			(unsigned long long)r->errnos[k].n);
	if (r->errnos_other) {
		fprintf(f, "%sother %llu", sep, (unsigned long long)r->errnos_other);
		sep = ", ";
	}
	if (r->timedout) {
		fprintf(f, "%stimed out %llu", sep, (unsigned long long)r->timedout);
		sep = ", ";
	}
	if (r->interrupted)
		fprintf(f, "%sinterrupted %llu", sep, (unsigned long long)r->interrupted);
	fputc('\n', f);
}

/* The blocking calls of all rows, most time first, with their latency percentiles. */
static void text_calls(FILE *f, const struct tw_proc_view *pv, const struct tw_view *v)
{
	bool timed =
		v->o.syscalls; /* entry-to-exit times exist (not for blocks named at switch out) */
	const struct tw_call_rec *order[TW_SYSCALL_NR_MAX] = { 0 };
	struct tw_calls sum = {};
	bool errs = false;
	char buf[24];
	__u32 n;

	for (size_t i = 0; i < pv->nrows; i++)
		if (calls_add(&sum, &view_row(v, pv, i)->t.calls))
			break;
	n = calls_by_total(&sum, order);
	if (n && !timed)
		fprintf(f, "  blocking calls, all threads, named at switch out (COUNT: blocks; "
			   "P50..MAX: of BLOCKED; no entry-to-exit times or errors without syscall "
			   "tracing):\n");
	else if (n)
		fprintf(f, "  blocking calls, all threads (TOTAL: entry to exit, timed calls only; "
			   "P50..MAX: of TOTAL, or of BLOCKED for the others):\n");
	if (n)
		fprintf(f, "  %-16s %9s %7s %9s %10s %10s %9s %9s %9s\n", "CALL", "COUNT", "ERRORS",
			"WOULDBLK", "BLOCKED", "TOTAL", "P50", "P99", "MAX");
	for (__u32 k = 0; k < n; k++) {
		const struct tw_call_rec *r = order[k];
		char t[16], b[16], p50[16], p99[16], mx[16];
		struct tw_hist h = {};

		shist_add_to(&h, r->hist);
		errs |= r->errors || r->timedout || r->interrupted;
		/* a call only in flight, or entered before the trace, has no sample yet */
		bool lat = r->count > 0;

		fprintf(f, "  %-16s %9llu %7llu %9llu %10s %10s %9s %9s %9s\n", nr_name(r->nr, buf),
			(unsigned long long)r->count, (unsigned long long)r->errors,
			(unsigned long long)r->wouldblock, fmt_ns(b, sizeof(b), r->blocked_ns),
			timed && call_of(r->nr) ? fmt_ns(t, sizeof(t), r->total_ns) : "-",
			lat ? fmt_ns(p50, sizeof(p50), hist_percentile(&h, 0.5)) : "-",
			lat ? fmt_ns(p99, sizeof(p99), hist_percentile(&h, 0.99)) : "-",
			lat ? fmt_ns(mx, sizeof(mx), h.max) : "-");
	}
	if (errs) {
		fprintf(f, "  errors by errno (would-block results are not errors):\n");
		for (__u32 k = 0; k < n; k++)
			errno_line(f, order[k]);
	}
	if (n)
		fputc('\n', f);
	calls_free(&sum);
}

static void stall_where(FILE *f, const struct tw_view *v, const struct tw_stall_stacks *sk);

/* "2.00 s blocked in clock_nanosleep", "300 ms on CPU", "120 ms waiting for a CPU" */
static void stall_line(FILE *f, const struct tw_stall *s, bool ongoing, const struct tw_view *v)
{
	const char *cause = stall_cause(s);
	char d[16], x[16], y[16], z[16], l[16], buf[24], when[TW_RFC3339_LEN];
	__u64 run_start_ns = v->o.run_start_ns;
	const char *call = sys_label(s->longest_nr, buf);
	double at = s->start_ns > run_start_ns ? (s->start_ns - run_start_ns) / 1e9 : 0;

	fmt_ns(d, sizeof(d), s->duration_ns);
	if (!strcmp(cause, "blocked") && call && s->longest_ns * 2 >= s->blocked_ns)
		fprintf(f, "%s blocked in %s", fmt_ns(x, sizeof(x), s->blocked_ns), call);
	else if (!strcmp(cause, "blocked"))
		fprintf(f, "%s blocked in many short waits", fmt_ns(x, sizeof(x), s->blocked_ns));
	else if (!strcmp(cause, "oncpu"))
		fprintf(f, "%s on CPU", fmt_ns(x, sizeof(x), s->oncpu_ns));
	else
		fprintf(f, "%s waiting for a CPU", fmt_ns(x, sizeof(x), s->runq_ns));
	fprintf(f,
		" (stall of %s%s at %s +%.2f s: on CPU %s, blocked %s, run-queue %s; %llu syscalls",
		d, ongoing ? " AND COUNTING" : "",
		fmt_clock_ms(when, sizeof(when), tw_wall_of(&v->o.clock, s->start_ns)), at,
		fmt_ns(x, sizeof(x), s->oncpu_ns), fmt_ns(y, sizeof(y), s->blocked_ns),
		fmt_ns(z, sizeof(z), s->runq_ns), (unsigned long long)s->nsyscalls);
	if (call)
		fprintf(f, ", longest %s %s", call, fmt_ns(l, sizeof(l), s->longest_ns));
	fprintf(f, ")\n");
}

/* ", since 06:50:37.512 (last ran 20.3s before the trace)" */
static void blocked_since(FILE *f, const struct tw_blocked_view *b)
{
	time_t secs = (time_t)(b->since_wall_ns / 1000000000ULL);
	char when[16] = "?", ago[16];
	struct tm tm;

	if (b->since_wall_ns && localtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fprintf(f, ", since %s.%03llu (last ran %s before the trace)", when,
		(unsigned long long)(b->since_wall_ns / 1000000ULL % 1000),
		fmt_ns(ago, sizeof(ago), b->before_ns));
}

static void now_stack_line(FILE *f, const struct tw_view *v, const struct tw_now_view *now);

/*
 * A thread's Python thread name (where it is not its comm), at the end of its
 * line: "  [fetcher-3]". Control characters print as '?', UTF-8 as it is.
 */
static void py_name_tail(FILE *f, const char *name)
{
	if (!name)
		return;
	fputs("  [", f);
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		fputc(*c < 0x20 || *c == 0x7f ? '?' : *c, f);
	fputc(']', f);
}

/* Loops stalled and threads blocked right now: the first thing to read during an incident. */
static void text_now(FILE *f, const struct tw_proc_view *pv, const struct tw_view *v)
{
	char comm[TASK_COMM_LEN + 2], a[16], buf[24];

	for (size_t i = 0; i < pv->nloops; i++) {
		const struct tw_loop_view *l = &pv->loops[i];

		if (!l->ongoing)
			continue;
		fprintf(f, "  STALLED NOW: loop %u (%s", l->tid, printable(comm, l->comm));
		if (l->py_name)
			py_name_tail(f, l->py_name);
		fputs(") ", f);
		stall_line(f, l->ongoing, true, v);
		now_stack_line(f, v, &l->now);
		stall_where(f, v, l->sstk ? &l->sstk[l->nstalls] : NULL);
	}
	if (pv->idle_waiting)
		fprintf(f, "  idle now: %zu thread%s waiting in epoll/poll/select (not blocked)\n",
			pv->idle_waiting, pv->idle_waiting == 1 ? "" : "s");
	if (!pv->nblocked)
		return;
	fprintf(f, "  BLOCKED NOW for %s or more: %zu thread%s\n    %-8s %-16s %10s  %s\n",
		fmt_ns(a, sizeof(a), v->o.blocked_ns), pv->nblocked, pv->nblocked == 1 ? "" : "s",
		"TID", "COMM", "FOR", "IN");
	for (size_t i = 0; i < pv->nblocked && i < TW_TEXT_MAX_ROWS; i++) {
		const struct tw_blocked_view *b = &pv->blocked[i];
		const char *call = sys_label(b->sys, buf);
		char d[20];

		snprintf(d, sizeof(d), "%s%s", b->before_trace && !b->since_ns ? ">=" : "",
			 fmt_ns(a, sizeof(a), b->blocked_ns));
		fprintf(f, "    %-8u %-16s %10s  %s", b->tid, printable(comm, b->comm), d,
			call ? call : "(no syscall)");
		if (b->before_trace && b->since_ns)
			blocked_since(f, b);
		else if (b->before_trace)
			fprintf(f, ", since before the trace: at least %s", a);
		py_name_tail(f, b->py_name);
		fputc('\n', f);
		now_stack_line(f, v, &b->now);
	}
	if (pv->nblocked > TW_TEXT_MAX_ROWS)
		fprintf(f, "    ... %zu more (--format json lists them all)\n",
			pv->nblocked - TW_TEXT_MAX_ROWS);
}

/* Event loops with their gap percentiles, then each stall with its cause. */
static void text_loops(FILE *f, const struct tw_proc_view *pv, const struct tw_view *v)
{
	char comm[TASK_COMM_LEN + 2], a[16], b[16], c[16], d[16];
	size_t shown = 0;

	if (!pv->nloops)
		return;
	fprintf(f,
		"  event loops (gap: a wait's return to the next wait; a stall is a gap of %s+):\n",
		fmt_ns(a, sizeof(a), v->stall_ns));
	fprintf(f, "    %-8s %-16s %9s %9s %9s %9s %9s %7s\n", "TID", "COMM", "ITERS", "BUSY",
		"GAP P50", "GAP P99", "GAP MAX", "STALLS");
	for (size_t i = 0; i < pv->nloops; i++) {
		const struct tw_loop_view *l = &pv->loops[i];

		fprintf(f, "    %-8u %-16s %9llu %9s %9s %9s %9s %7llu", l->tid,
			printable(comm, l->comm), (unsigned long long)l->lt.iterations,
			fmt_ns(a, sizeof(a), l->lt.gap_total_ns),
			fmt_ns(b, sizeof(b), loop_gap_percentile(l, 0.5)),
			fmt_ns(c, sizeof(c), loop_gap_percentile(l, 0.99)),
			fmt_ns(d, sizeof(d), l->lt.gap_max_ns),
			(unsigned long long)(l->lt.stalls + (l->ongoing ? 1 : 0)));
		py_name_tail(f, l->py_name);
		fputc('\n', f);
	}
	for (size_t i = 0; i < pv->nloops; i++) {
		const struct tw_loop_view *l = &pv->loops[i];

		for (size_t k = 0; k < l->nstalls; k++) {
			if (shown++ == TW_TEXT_MAX_ROWS)
				fprintf(f, "    ... more stalls (--format json lists them all)\n");
			if (shown > TW_TEXT_MAX_ROWS)
				continue;
			fprintf(f, "    stall, loop %u: ", l->tid);
			stall_line(f, &l->stalls[k], false, v);
			stall_where(f, v, l->sstk ? &l->sstk[k] : NULL);
		}
	}
	fputc('\n', f);
}

/* A group's processes, one line each, in --sort order. */
static void text_members(FILE *f, const struct tw_proc_view *g)
{
	char a[16], b[16], c[16];

	fprintf(f, "\n  %-8s %7s %10s %10s %10s %9s %9s %7s %7s\n", "PID", "THREADS", "ONCPU",
		"BLOCKED", "RUNQ", "VOLCSW", "INVOLCSW", "STALLS", "FAILED");
	for (size_t i = 0; i < g->nmembers && i < TW_TEXT_MAX_ROWS; i++) {
		const struct tw_proc_view *m = &g->members[i];
		char id[24];

		snprintf(id, sizeof(id), "%u%s", m->p->pid, m->exited ? "*" : "");
		fprintf(f, "  %-8s %7u %10s %10s %10s %9llu %9llu %7llu %7llu\n", id,
			m->threads_now, fmt_ns(a, sizeof(a), m->sum.oncpu_ns),
			fmt_ns(b, sizeof(b), m->sum.blocked_ns),
			fmt_ns(c, sizeof(c), m->sum.runq_ns),
			(unsigned long long)m->sum.vol_switches,
			(unsigned long long)m->sum.invol_switches, (unsigned long long)m->stalls,
			(unsigned long long)proc_failures(&m->pt));
	}
	if (g->nmembers > TW_TEXT_MAX_ROWS)
		fprintf(f, "  ... %zu more processes (--format json lists them all)\n",
			g->nmembers - TW_TEXT_MAX_ROWS);
	fprintf(f,
		"  (* exited; threads, loops and calls of each: --format json, \"members\")\n\n");
}

/* A symbol name from the traced binary: printable bytes only, cut at max. */
static void put_safe(FILE *f, const char *s, size_t max)
{
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
	}
}

/*
 * Where the blocked time went: the heaviest stacks, each on one line as the
 * call it slept in, then the program's own frames from the first past libc
 * (the caller), outward, as far as the line allows.
 */
/* A stack on one line: from its first frame past libc (own), outward, at most ~80 columns. */
static void put_frames(FILE *f, const struct tw_view *v, __u32 stack, __u32 own)
{
	const struct tw_stack *k = &v->ss->stacks[stack];
	char buf[256];
	size_t width = 0;

	for (__u32 j = own < k->nframes ? own : 0; j < k->nframes; j++) {
		const char *name = view_frame_label(&v->ss->frames[k->frames[j]], buf, sizeof(buf));

		if (width && width + strlen(name) > 80) {
			fputs(" < ...", f);
			break;
		}
		if (width)
			fputs(" < ", f);
		put_safe(f, name, 60);
		width += strlen(name) + 3;
	}
}

static void put_chain(FILE *f, const struct tw_view *v, const struct tw_stack_view *sv)
{
	put_frames(f, v, sv->stack, sv->own);
}

/* Under a BLOCKED NOW or STALLED NOW row: the stack it is asleep in, as the "where" lines. */
static void now_stack_line(FILE *f, const struct tw_view *v, const struct tw_now_view *now)
{
	if (!now->has || !v->ss)
		return;
	fputs("      stuck in: ", f);
	put_frames(f, v, now->stack, now->own);
	fputc('\n', f);
}

/*
 * Under a stall: its heaviest on-CPU stack (with how much of the stall the
 * samples cover) and its heaviest blocked one, each as the "where" block
 * shows a stack.
 */
static void stall_where(FILE *f, const struct tw_view *v, const struct tw_stall_stacks *sk)
{
	char a[16], buf[24];
	const char *call;

	if (!v->ss || !sk)
		return;
	if (sk->top_oncpu) {
		fprintf(f, "      on CPU %s (%llu sample%s): ", fmt_ns(a, sizeof(a), sk->oncpu_ns),
			(unsigned long long)sk->oncpu_samples, sk->oncpu_samples == 1 ? "" : "s");
		put_chain(f, v, sk->top_oncpu);
		fputc('\n', f);
	}
	if (sk->top_blocked) {
		call = sys_label(sk->top_blocked->nr, buf);
		fprintf(f, "      blocked %s in %s: ", fmt_ns(a, sizeof(a), sk->blocked_ns),
			call ? call : "?");
		put_chain(f, v, sk->top_blocked);
		fputc('\n', f);
	}
}

/* Where threads and processes were created, and creating them failed: most first. */
static void text_sites(FILE *f, const struct tw_proc_view *pv, const struct tw_view *v)
{
	char eb[16];

	if (!v->ss || !pv->nsites)
		return;
	fputs("  where threads and processes were created (sampled beyond one a --stack-min "
	      "per CPU, counts whole):\n",
	      f);
	for (size_t i = 0; i < pv->nsites && i < TW_TEXT_MAX_STACKS; i++) {
		const struct tw_stack_view *sv = &pv->sites[i];

		fprintf(f, "    %8llu %-7s %-8s ", (unsigned long long)sv->weight_ns,
			sv->kind == TW_SK_THREAD ? "thread" : "process",
			sv->ret < 0 ? errno_name((__u32)-sv->ret, eb) : "created");
		put_chain(f, v, sv);
		fprintf(f, "  (%u thread%s)\n", sv->nthreads, sv->nthreads == 1 ? "" : "s");
	}
	if (pv->nsites > TW_TEXT_MAX_STACKS)
		fprintf(f, "    ... %zu more sites\n", pv->nsites - TW_TEXT_MAX_STACKS);
	fputc('\n', f);
}

static void text_where(FILE *f, const struct tw_proc_view *pv, const struct tw_view *v)
{
	__u64 total = 0, taken = 0;
	char a[16];

	if (!v->ss || !pv->nstacks)
		return;
	for (size_t i = 0; i < pv->nstacks; i++) {
		total += pv->stacks[i].weight_ns;
		taken += pv->stacks[i].count;
	}
	fprintf(f, "  where the blocked time went (%llu stack samples; --folded for all of it):\n",
		(unsigned long long)taken);
	for (size_t i = 0; i < pv->nstacks && i < TW_TEXT_MAX_STACKS; i++) {
		const struct tw_stack_view *sv = &pv->stacks[i];

		fprintf(f, "    %9s %5.1f%%  %-16s ", fmt_ns(a, sizeof(a), sv->weight_ns),
			total ? 100.0 * sv->weight_ns / total : 0.0,
			sv->nr ? syscall_name(sv->nr - 1) : "?");
		put_chain(f, v, sv);
		fprintf(f, "  (%u thread%s, %llu sample%s)\n", sv->nthreads,
			sv->nthreads == 1 ? "" : "s", (unsigned long long)sv->count,
			sv->count == 1 ? "" : "s");
	}
	if (pv->nstacks > TW_TEXT_MAX_STACKS)
		fprintf(f, "    ... %zu more stack%s\n", pv->nstacks - TW_TEXT_MAX_STACKS,
			pv->nstacks - TW_TEXT_MAX_STACKS == 1 ? "" : "s");
	fputc('\n', f);
}

static void text_proc(FILE *f, const struct tw_proc_view *pv, const struct tw_view *v)
{
	const struct tw_proc *p = pv->p;
	const struct tw_proc_totals *pt = &pv->pt;
	char comm[TASK_COMM_LEN + 2], a[16], b[16], c[16];
	__u64 fails = proc_thread_failures(pt);
	double duration_s = v->o.duration_s;

	if (pv->nmembers)
		fprintf(f, "%s x%zu", printable(comm, p->comm), pv->nmembers);
	else
		fprintf(f, "PID %u (%s)", p->pid, printable(comm, p->comm));
	fprintf(f, "%s: threads now %u, peak %u, created %llu, exited %llu, failed %llu",
		pv->exited ? " [exited]" : "", pv->threads_now, pv->threads_peak,
		(unsigned long long)pt->threads_created, (unsigned long long)pt->threads_exited,
		(unsigned long long)fails);
	if (duration_s > 0)
		fprintf(f, ", %.1f created/s", pt->threads_created / duration_s);
	fputc('\n', f);
	if (fails) {
		fprintf(f, "  thread creation failures:");
		for (int i = 0; i < TW_FAIL_NR; i++)
			if (pt->thread_fail[i])
				fprintf(f, " %s %llu", tw_fail_names[i],
					(unsigned long long)pt->thread_fail[i]);
		if (pt->thread_fail[TW_FAIL_EAGAIN])
			fprintf(f, " (EAGAIN: pids.max, RLIMIT_NPROC or threads-max reached)");
		fputc('\n', f);
	}
	if (pt->procs_forked || pt->fork_fail)
		fprintf(f, "  processes forked %llu, fork failures %llu\n",
			(unsigned long long)pt->procs_forked, (unsigned long long)pt->fork_fail);
	fprintf(f, "  on CPU %s, blocked %s, run-queue wait %s\n",
		fmt_ns(a, sizeof(a), pv->sum.oncpu_ns), fmt_ns(b, sizeof(b), pv->sum.blocked_ns),
		fmt_ns(c, sizeof(c), pv->sum.runq_ns));
	if (v->o.calls)
		fprintf(f,
			"  blocked in syscalls %s, blocked outside syscalls (page faults...) %s\n",
			fmt_ns(a, sizeof(a), pv->sum.blocked_ns - pv->sum.blocked_nosys_ns),
			fmt_ns(b, sizeof(b), pv->sum.blocked_nosys_ns));
	if (pv->nmembers) {
		text_members(f, pv);
		goto hists;
	}
	text_now(f, pv, v);
	if (pv->nrows) {
		fprintf(f, "\n  %-8s %-16s %5s %10s %10s %10s %9s %9s  %s\n",
			view_row(v, pv, 0)->tid ? "TID" : "THREADS", "COMM", "ALIVE", "ONCPU",
			"BLOCKED", "RUNQ", "VOLCSW", "INVOLCSW", "MOST TIME IN");
	}
	for (size_t i = 0; i < pv->nrows && i < TW_TEXT_MAX_ROWS; i++) {
		const struct tw_row *r = view_row(v, pv, i);
		char id[16];

		char most[64];

		top_calls(most, sizeof(most), &r->t.calls, v->o.calls ? r->t.blocked_nosys_ns : 0);
		snprintf(id, sizeof(id), "%u", r->tid ? r->tid : r->nthreads);
		fprintf(f, "  %-8s %-16s %5s %10s %10s %10s %9llu %9llu  %s", id,
			r->pattern[0] ? printable_n(comm, r->pattern, sizeof(r->pattern))
				      : printable(comm, r->comm),
			r->alive ? "yes" : "no", fmt_ns(a, sizeof(a), r->t.oncpu_ns),
			fmt_ns(b, sizeof(b), r->t.blocked_ns), fmt_ns(c, sizeof(c), r->t.runq_ns),
			(unsigned long long)r->t.vol_switches,
			(unsigned long long)r->t.invol_switches, most);
		py_name_tail(f, r->py_name);
		fputc('\n', f);
	}
	if (pv->nrows > TW_TEXT_MAX_ROWS)
		fprintf(f, "  ... %zu more rows (--format json lists them all)\n",
			pv->nrows - TW_TEXT_MAX_ROWS);
	fputc('\n', f);
	text_loops(f, pv, v);
	text_calls(f, pv, v);
hists:
	text_where(f, pv, v);
	text_sites(f, pv, v);
	hist_print(f, &pv->sum.blocked,
		   "blocked intervals (slept until woken), all threads:", "  ");
	hist_print(f, &pv->sum.runq, "run-queue waits (runnable, not running), all threads:", "  ");
	hist_print(f, &pt->first_run, "thread creation -> first run:", "  ");
	hist_print(f, &pt->lifetime, "thread lifetimes (threads that exited):", "  ");
}

/*
 * What each lost counter means in plain words, with the bound it puts on the
 * numbers: "%llu" is the count. Counters without a sentence print their name.
 */
static const char *const drop_words[TW_DROP_NR] = {
	[TW_DROP_RINGBUF] = "%llu thread births/exits not received (ring buffer full): thread "
			    "counts may be off by up to that many",
	[TW_DROP_THREAD_MAP] = "%llu threads not measured: the thread map was full "
			       "(raise --max-threads)",
	[TW_DROP_PROC_MAP] = "%llu process counter updates dropped: the process map was full "
			     "(raise --max-procs)",
	[TW_DROP_CLONE_MAP] = "%llu clone calls not followed: up to that many creation failures "
			      "unclassified",
	[TW_DROP_ALLOC] = "%llu kernel map entries could not be allocated: up to that many events "
			  "not recorded",
	[TW_DROP_TID_REUSED] = "%llu threads restarted from zero: their tid was reused before "
			       "their numbers were read",
	[TW_DROP_SWITCH_IN] = "%llu switch-ins the kernel did not report: that many on-CPU slices "
			      "and run-queue waits are missing",
	[TW_DROP_FIRST_RUN] = "%llu first runs the kernel did not report: that many creation to "
			      "first run samples are missing",
	[TW_DROP_CALL_MAP] = "%llu syscalls not timed: the call map was full (raise --max-calls)",
	[TW_DROP_LOOP_MAP] = "%llu event-loop gaps not counted: the loop map was full "
			     "(raise --max-loops)",
	[TW_DROP_STALL_EVENT] = "%llu stall details not received (ring buffer full): the stalls "
				"are still counted",
	[TW_DROP_STACK_EVENT] = "%llu stacks not received (ring buffer full): their blocked time "
				"is counted, but under no stack",
};

static const char *const slost_words[TW_SLOST_NR] = {
	[TW_SLOST_NO_STACK] = "%llu stacks not readable (no user stack page could be copied): "
			      "their time is under [user stack not readable]",
	[TW_SLOST_UNWIND_SHORT] = "%llu stacks unwound only part of the way (missing CFI, stack "
				  "copy too short: --stack-bytes): their outer frames are missing",
	[TW_SLOST_NO_PROCESS] = "%llu stacks of processes gone before they were read: their time "
				"is under [process gone]",
	[TW_SLOST_NO_ACCESS] = "%llu stacks of processes whose memory map we may not read (add "
			       "CAP_SYS_PTRACE): their time is under [memory map not readable]",
	[TW_SLOST_BUSY] = "%llu stacks not unwound (the unwinder fell behind): their time is under "
			  "[not unwound: agent busy]",
	[TW_SLOST_UNKNOWN_FRAME] =
		"%llu stacks with frames in no file and no perf map (JIT code "
		"without /tmp/perf-PID.map, or compiled after the process's last "
		"map was read): those frames read [unknown]+address",
	[TW_SLOST_PY_CUT] = "%llu stacks with more than 64 Python frames: their outermost Python "
			    "frames are missing",
	[TW_SLOST_PY_CODE] = "%llu Python frames whose code object could not be read (freed "
			     "since): shown as [python: code not readable]",
	[TW_SLOST_PY_FAULT] = "%llu stacks whose Python frames the kernel could not read: "
			      "native frames only",
	[TW_SLOST_PY_NO_TSTATE] = "%llu stacks of threads without a Python thread state in a "
				  "Python process: native frames only",
	[TW_SLOST_PY_VERSION] = "%llu stacks of a CPython version this build cannot read: "
				"native frames only",
	[TW_SLOST_PY_EARLY] = "%llu stacks taken before the Python interpreter was found: "
			      "native frames only",
	[TW_SLOST_PY_TNAME] = "%llu reads of a Python thread's name that did not check out: "
			      "those threads show no Python name",
};

static void text_lost(FILE *f, const struct tw_view *v)
{
	bool lost = false;

	for (int i = 0; i < TW_DROP_NR; i++)
		lost |= v->drops[i] != 0;
	for (int i = 0; i < TW_SLOST_NR; i++)
		lost |= v->stack_lost[i] != 0;
	if (!lost)
		return;
	fprintf(f,
		"LOST (what could not be recorded, and what it bounds; docs/json.md \"lost\"):\n");
	for (int i = 0; i < TW_DROP_NR; i++) {
		if (!v->drops[i])
			continue;
		fputs("  ", f);
		if (drop_words[i])
			fprintf(f, drop_words[i], (unsigned long long)v->drops[i]);
		else
			fprintf(f, "%s %llu", tw_drop_names[i], (unsigned long long)v->drops[i]);
		fputc('\n', f);
	}
	for (int i = 0; i < TW_SLOST_NR; i++) {
		if (!v->stack_lost[i])
			continue;
		fputs("  ", f);
		if (slost_words[i])
			fprintf(f, slost_words[i], (unsigned long long)v->stack_lost[i]);
		fputc('\n', f);
	}
}

int report_text(FILE *f, const struct tw_view *v)
{
	char t0[TW_RFC3339_LEN], t1[TW_RFC3339_LEN];

	fprintf(f, "%s %.2f s (%s to %s UTC), attach %s: %zu process%s",
		v->o.final ? "==== final" : "---- interval", v->o.duration_s,
		fmt_clock_ms(t0, sizeof(t0), tw_wall_of(&v->o.clock, v->o.span_start_ns)),
		fmt_clock_ms(t1, sizeof(t1), tw_wall_of(&v->o.clock, v->o.clock.mono_ns)),
		v->o.attach, v->nprocs_active, v->nprocs_active == 1 ? "" : "es");
	if (v->nrows_active < v->nprocs_active)
		fprintf(f, " in %zu rows", v->nrows_active);
	if (v->nprocs < v->nrows_active)
		fprintf(f, " (top %zu by %s shown)", v->nprocs, tw_sort_labels[v->o.sort]);
	fputs("\n", f);
	text_lost(f, v);
	if (v->stalls_not_kept)
		fprintf(f, "%llu stalls counted but not listed (--max-stalls)\n",
			(unsigned long long)v->stalls_not_kept);
	fputc('\n', f);
	for (size_t i = 0; i < v->nprocs; i++)
		text_proc(f, &v->procs[i], v);
	if (fflush(f) || ferror(f))
		return errno ? -errno : -EIO;
	return 0;
}
