// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * GET /debug/pprof/offcpu?seconds=N, the daemon's off-CPU profile, as Go's
 * net/http/pprof serves /debug/pprof/profile: the request waits N seconds and
 * gets a gzipped profile.proto, so Grafana Pyroscope (Alloy's pyroscope.scrape)
 * and Parca can scrape it continuously.
 *
 * Stacks cost nothing while nobody profiles: the kernel's captures are gated
 * by a flag in the object's .data (stack_gate) that is on only while a window
 * is open. A window is [request, request + N s] in CLOCK_MONOTONIC; every
 * sample whose syscall exit falls in it is interned into the window's own
 * stack set (so concurrent windows share the capture and the unwinding, and
 * memory is bounded by the windows, not by the daemon's lifetime). A window is
 * answered once it has ended, the ring buffer has been read past its end, and
 * the unwinder has finished every record queued by then.
 *
 * Threads: the HTTP thread opens a window and suspends its connection (the
 * other endpoints keep answering); the measuring thread, which owns the model
 * and drains the unwinder, routes samples, renders and resumes. The window
 * list is shared under mu; a window taken off the list belongs to whoever took
 * it (the measuring thread until it resumes the connection, then the HTTP
 * thread, which answers and frees it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cgroup.h"
#include "collect.h"
#include "loader.h"
#include "parse.h"
#include "poller.h"
#include "pprofd.h"
#include "report.h"
#include "stacks.h"

/* A capture's exit time to its record in the ring buffer is microseconds: this is plenty. */
#define GRACE_NS (100 * 1000000ULL)
/* How often an ended window checks whether the unwinder has caught up. */
#define UNWIND_POLL_NS (20 * 1000000ULL)
/*
 * Per window: past these, samples go to one "[profile full]" stack (their
 * time still counts). Worst case ~16 MB a window (32,768 samples of ~80
 * bytes with their index, 8,192 stacks of up to 159 frame indexes, 32,768
 * frames with their strings); a node's 10 s is typically a few hundred KB.
 */
#define W_MAX_SAMPLES 32768
#define W_MAX_STACKS 8192
#define W_MAX_FRAMES 32768

struct tw_pprofd;

struct window {
	struct window *next;
	struct tw_pprofd *pd;
	struct MHD_Connection *conn;
	__u64 start_ns, end_ns; /* CLOCK_MONOTONIC: samples whose syscall exit is in [start, end] */
	__s64 wall_ns; /* start, wall clock */
	char *group; /* ?group=: only this --by group's samples; NULL: the node */
	bool marked; /* ended: mark is the unwinder's queue when the ring buffer was read past it */
	bool ready; /* every sample of it unwound: answered at this pass */
	__u64 mark;
	struct tw_stackset ss;
	__u64 full; /* samples past the caps */
	/* the answer */
	unsigned int status;
	const char *msg; /* a one-line text body when status is not 200 */
	char *body; /* the gzipped profile (malloc'ed) */
	size_t len;
};

struct tw_pprofd {
	pthread_mutex_t mu;
	bool stacks;
	enum tw_prom_by by;
	bool ready, closing;
	struct tw_bpf *b;
	struct tw_stack_in *si;
	const struct tw_model *m;
	int wake_fd;
	struct window *open; /* collecting, or ended and waiting for the unwinder */
	size_t nopen;
	bool gate; /* what the kernel's stack_gate was last set to */
	size_t resumed; /* windows resumed and not yet answered (or closed) */
};

static __u64 now_ns(void)
{
	return mono_ns();
}

/* The HTTP thread: a resumed window answered, or its connection gone. */
static void window_done(struct window *w)
{
	pthread_mutex_lock(&w->pd->mu);
	w->pd->resumed--;
	pthread_mutex_unlock(&w->pd->mu);
}

static void window_free(struct window *w)
{
	if (!w)
		return;
	stackset_free(&w->ss);
	free(w->group);
	free(w->body);
	free(w);
}

struct tw_pprofd *pprofd_new(bool stacks, enum tw_prom_by by)
{
	struct tw_pprofd *pd = calloc(1, sizeof(*pd));

	if (!pd)
		return NULL;
	pthread_mutex_init(&pd->mu, NULL);
	pd->stacks = stacks;
	pd->by = by;
	pd->wake_fd = -1;
	return pd;
}

/* ---- routing samples (the measuring thread) ------------------------------ */

static int add(struct window *w, const struct tw_stack_sample *x)
{
	static const struct tw_sframe full = { .func = "[profile full]", .module = "[unknown]" };
	struct tw_stack_sample y;

	if (x->k.kind == TW_SK_ONCPU)
		return 0; /* a stall's on-CPU sample: not off-CPU time */
	if (w->ss.nsamples < W_MAX_SAMPLES && w->ss.nstacks < W_MAX_STACKS &&
	    w->ss.nframes + (size_t)(x->nframes > 0 ? x->nframes : 0) <= W_MAX_FRAMES)
		return stacks_intern(&w->ss, x, NULL);
	w->full++;
	y = (struct tw_stack_sample){ .k = { .kind = TW_SK_BLOCKED },
				      .comm = "",
				      .ts_ns = x->ts_ns,
				      .weight_ns = x->weight_ns,
				      .lost = -1,
				      .pylost = -1,
				      .nframes = 1,
				      .frames = &full };
	return stacks_intern(&w->ss, &y, NULL);
}

/* The unwinder's sink: a blocked sample into every open window its exit falls in. */
static int sink(void *ctx, const struct tw_stack_sample *x)
{
	struct tw_pprofd *pd = ctx;
	int err = 0;

	if (x->k.kind != TW_SK_BLOCKED)
		return 0; /* creation sites: not off-CPU time */
	pthread_mutex_lock(&pd->mu);
	for (struct window *w = pd->open; w && !err; w = w->next)
		if (x->ts_ns >= w->start_ns && x->ts_ns <= w->end_ns)
			err = add(w, x);
	pthread_mutex_unlock(&pd->mu);
	return err;
}

void pprofd_attach(struct tw_pprofd *pd, struct tw_bpf *b, struct tw_stack_in *si,
		   const struct tw_model *m, int wake_fd)
{
	pthread_mutex_lock(&pd->mu);
	pd->b = b;
	pd->si = si;
	pd->m = m;
	pd->wake_fd = wake_fd;
	pd->ready = pd->stacks && si && b;
	if (si)
		stacks_in_set_sink(si, sink, pd);
	pthread_mutex_unlock(&pd->mu);
}

/* ---- rendering (the measuring thread) ------------------------------------ */

/* A process's labels, copied once per rendering. */
struct plabels {
	size_t n;
	const char *keys[TW_PPROF_LABELS];
	char *vals[TW_PPROF_LABELS];
};

struct rctx {
	const struct tw_pprofd *pd;
	const struct window *w;
	struct u32map idx; /* pid -> index into v + 1 */
	struct plabels *v;
	size_t n, cap;
	bool nomem;
};

static void plabel(struct rctx *r, struct plabels *l, const char *key, const char *val,
		   size_t maxlen)
{
	char *s;

	if (!val || !val[0] || l->n >= TW_PPROF_LABELS)
		return;
	s = strndup(val, maxlen);
	if (!s) {
		r->nomem = true;
		return;
	}
	l->keys[l->n] = key;
	l->vals[l->n++] = s;
}

static size_t labels_of(void *ctx, __u32 pid, const char **keys, const char **vals, size_t max)
{
	struct rctx *r = ctx;
	const struct tw_proc *p;
	struct plabels *l;
	__u32 at;

	if (!u32map_get(&r->idx, pid, &at)) {
		if (r->n == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 64;
			struct plabels *nv = realloc(r->v, cap * sizeof(*nv));

			if (!nv) {
				r->nomem = true;
				return 0;
			}
			r->v = nv;
			r->cap = cap;
		}
		l = &r->v[r->n];
		memset(l, 0, sizeof(*l));
		if (u32map_put(&r->idx, pid, (__u32)r->n + 1)) {
			r->nomem = true;
			return 0;
		}
		at = (__u32)++r->n;
		p = model_proc(r->pd->m, pid);
		if (p) {
			const struct tw_container *c = p->ctr;

			plabel(r, l, "comm", p->comm, TASK_COMM_LEN);
			if (c && (c->container_id[0] || c->pod_uid[0])) {
				plabel(r, l, "container_id", c->container_id, TW_ID_LEN);
				plabel(r, l, "pod", c->pod, TW_NAME_LEN);
				plabel(r, l, "namespace", c->namespace, TW_NAME_LEN);
				plabel(r, l, "container", c->container, TW_NAME_LEN);
			}
			if (c && r->pd->by == TW_PROM_CGROUP)
				plabel(r, l, "cgroup", c->cgroup, sizeof(c->cgroup));
		}
	}
	l = &r->v[at - 1];
	for (size_t i = 0; i < l->n && i < max; i++) {
		keys[i] = l->keys[i];
		vals[i] = l->vals[i];
	}
	return l->n < max ? l->n : max;
}

static bool keep_group(void *ctx, const struct tw_ssample *x)
{
	struct rctx *r = ctx;
	const struct tw_proc *p = model_proc(r->pd->m, x->pid);
	char buf[32];

	return p && !strcmp(prom_group_key(p, r->pd->by, buf, sizeof(buf)), r->w->group);
}

static void render(struct tw_pprofd *pd, struct window *w)
{
	struct rctx r = { .pd = pd, .w = w };
	struct tw_pprof_meta o = {
		.time_ns = (__u64)w->wall_ns,
		.duration_ns = w->end_ns - w->start_ns,
		.keep = w->group ? keep_group : NULL,
		.labels_of = labels_of,
		.ctx = &r,
	};
	FILE *f = open_memstream(&w->body, &w->len);
	int err = f ? report_pprof_set(f, &w->ss, &o) : -ENOMEM;

	if (f && fclose(f) && !err)
		err = -ENOMEM;
	if (err || r.nomem) {
		free(w->body);
		w->body = NULL;
		w->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		w->msg = "cannot render the profile: out of memory\n";
	} else {
		w->status = MHD_HTTP_OK;
	}
	for (size_t i = 0; i < r.n; i++)
		for (size_t j = 0; j < r.v[i].n; j++)
			free(r.v[i].vals[j]);
	free(r.v);
	u32map_free(&r.idx);
	stackset_free(&w->ss);
}

/* With mu held: the kernel's captures on while a window still collects. */
static void set_gate(struct tw_pprofd *pd, __u64 now)
{
	bool on = false;

	for (struct window *w = pd->open; w; w = w->next)
		if (now < w->end_ns + GRACE_NS)
			on = true;
	if (on != pd->gate && pd->b)
		tw_bpf_stack_gate(pd->b, on);
	pd->gate = on;
}

/* With mu held: the windows marked ready, off the list. */
static struct window *take_ready(struct tw_pprofd *pd)
{
	struct window *ready = NULL, **pp = &pd->open;

	while (*pp) {
		struct window *w = *pp;

		if (!w->ready) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->next = ready;
		ready = w;
		pd->nopen--;
	}
	return ready;
}

int pprofd_pass(struct tw_pprofd *pd, __u64 now)
{
	struct window *ready;
	bool any = false;
	int err;

	if (!pd->ready)
		return 0;
	pthread_mutex_lock(&pd->mu);
	for (struct window *w = pd->open; w; w = w->next) {
		/* the caller read the ring buffer just now: past end + grace, all of it is queued */
		if (!w->marked && now >= w->end_ns + GRACE_NS) {
			w->marked = true;
			w->mark = stacks_queued(pd->si);
		}
		if (w->marked && stacks_unwound(pd->si, w->mark))
			any = w->ready = true;
	}
	set_gate(pd, now);
	pthread_mutex_unlock(&pd->mu);
	/* every result so far into the windows, the ready ones' last included */
	err = stacks_drain(pd->si, NULL, false);
	if (!any)
		return err;
	pthread_mutex_lock(&pd->mu);
	ready = take_ready(pd);
	for (struct window *w = ready; w; w = w->next)
		pd->resumed++;
	pthread_mutex_unlock(&pd->mu);
	while (ready) {
		struct window *w = ready;

		ready = w->next;
		w->next = NULL;
		render(pd, w);
		MHD_resume_connection(w->conn); /* the HTTP thread answers and frees it */
	}
	return err;
}

__u64 pprofd_due(struct tw_pprofd *pd, __u64 next_ns)
{
	__u64 due = next_ns;

	pthread_mutex_lock(&pd->mu);
	for (struct window *w = pd->open; w; w = w->next) {
		__u64 t = w->marked ? now_ns() + UNWIND_POLL_NS : w->end_ns + GRACE_NS;

		if (t < due)
			due = t;
	}
	pthread_mutex_unlock(&pd->mu);
	return due;
}

void pprofd_close_all(struct tw_pprofd *pd)
{
	struct window *all;

	if (!pd)
		return;
	pthread_mutex_lock(&pd->mu);
	pd->closing = true;
	for (struct window *w = pd->open; w; w = w->next)
		w->ready = true;
	all = take_ready(pd);
	for (struct window *w = all; w; w = w->next)
		pd->resumed++;
	set_gate(pd, 0);
	pthread_mutex_unlock(&pd->mu);
	while (all) {
		struct window *w = all;

		all = w->next;
		w->next = NULL;
		stackset_free(&w->ss);
		w->status = MHD_HTTP_SERVICE_UNAVAILABLE;
		w->msg = "stopping: the daemon is shutting down\n";
		MHD_resume_connection(w->conn);
	}
	/* a moment for the HTTP thread to answer them before MHD is stopped (it would just close) */
	for (int i = 0; i < 100; i++) {
		size_t left;

		pthread_mutex_lock(&pd->mu);
		left = pd->resumed;
		pthread_mutex_unlock(&pd->mu);
		if (!left)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
}

void pprofd_free(struct tw_pprofd *pd)
{
	if (!pd)
		return;
	while (pd->open) {
		struct window *w = pd->open;

		pd->open = w->next;
		window_free(w);
	}
	pthread_mutex_destroy(&pd->mu);
	free(pd);
}

/* ---- the request (the HTTP thread) --------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned int status, const char *msg)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A resumed window: its profile, or why not. Frees it. */
static enum MHD_Result answer_window(struct MHD_Connection *conn, struct window *w)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (w->status != MHD_HTTP_OK || !w->body) {
		ret = answer(conn, w->status ? w->status : MHD_HTTP_INTERNAL_SERVER_ERROR,
			     w->msg ? w->msg : "no profile\n");
		window_free(w);
		return ret;
	}
	r = MHD_create_response_from_buffer(w->len, w->body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		window_free(w);
		return MHD_NO;
	}
	w->body = NULL; /* the response's now */
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	MHD_add_response_header(r, "Content-Disposition", "attachment; filename=\"offcpu.pb.gz\"");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	window_free(w);
	return ret;
}

struct query {
	const char *seconds, *group;
	int nseconds, ngroup;
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct query *q = cls;

	(void)kind;
	if (!strcmp(key, "seconds")) {
		q->seconds = value ? value : "";
		q->nseconds++;
	} else if (!strcmp(key, "group")) {
		q->group = value ? value : "";
		q->ngroup++;
	}
	return MHD_YES; /* other parameters are ignored, as net/http/pprof does */
}

enum MHD_Result pprofd_request(struct tw_pprofd *pd, struct MHD_Connection *conn, void **req)
{
	struct query q = { 0 };
	struct window *w = *req;
	__u64 secs = TW_PPROFD_DEFAULT_S;
	struct timespec ts;
	char msg[160];

	if (w) {
		*req = NULL;
		window_done(w);
		return answer_window(conn, w);
	}
	if (!pd->stacks)
		return answer(conn, MHD_HTTP_CONFLICT,
			      "the off-CPU profile needs syscall tracing: run the daemon with "
			      "--syscalls\n");
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_arg, &q);
	if (q.nseconds > 1 || q.ngroup > 1)
		return answer(conn, MHD_HTTP_BAD_REQUEST,
			      "invalid query: seconds and group may be given once each\n");
	if (q.seconds && parse_u64(q.seconds, 1, TW_PPROFD_MAX_S, &secs)) {
		snprintf(msg, sizeof(msg),
			 "invalid seconds '%.32s': expected a whole number from 1 to %d\n",
			 q.seconds, TW_PPROFD_MAX_S);
		return answer(conn, MHD_HTTP_BAD_REQUEST, msg);
	}
	if (q.group && !q.group[0])
		return answer(conn, MHD_HTTP_BAD_REQUEST,
			      "invalid group '': expected a --by group's key\n");
	w = calloc(1, sizeof(*w));
	if (!w || (q.group && !(w->group = strdup(q.group)))) {
		window_free(w);
		return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	w->conn = conn;
	w->pd = pd;
	clock_gettime(CLOCK_REALTIME, &ts);
	w->wall_ns = (__s64)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	pthread_mutex_lock(&pd->mu);
	if (!pd->ready || pd->closing || pd->nopen >= TW_PPROFD_MAX_WINDOWS) {
		const char *why = pd->closing ? "stopping: the daemon is shutting down\n"
				  : !pd->ready
					  ? "starting: not attached yet\n"
					  : "busy: 4 profiles in progress already; try later\n";

		pthread_mutex_unlock(&pd->mu);
		window_free(w);
		return answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, why);
	}
	w->start_ns = now_ns();
	w->end_ns = w->start_ns + secs * 1000000000ULL;
	w->next = pd->open;
	pd->open = w;
	pd->nopen++;
	/* captures from now on; the measuring thread turns them off after the last window */
	if (!pd->gate)
		tw_bpf_stack_gate(pd->b, true);
	pd->gate = true;
	/* suspended before anyone can take the window off the list and resume it */
	*req = w;
	MHD_suspend_connection(conn);
	pthread_mutex_unlock(&pd->mu);
	poller_poke(pd->wake_fd); /* its next wake-up is this window's end, at the latest */
	return MHD_YES;
}

void pprofd_completed(void **req)
{
	/* a resumed window whose connection closed before it was answered (the daemon stops) */
	if (*req)
		window_done(*req);
	window_free(*req);
	*req = NULL;
}
