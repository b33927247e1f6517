// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Stack snapshots into named stacks. The kernel sent a blocked syscall's
 * user registers and the pages from its sp's page up (or a thread
 * creation's); here they are unwound from the binaries' CFI and each frame
 * named (user/unwind.c), then interned in the model (user/stackmodel.c) with
 * the sample's weight, the blocked time (or creations) it stands for.
 *
 * Unwinding runs in a thread of its own: the first stack of a process loads
 * its modules' CFI and symbols (a quarter of a second for python3), and the
 * main loop must meanwhile keep reading events and harvesting the dead (a
 * full map waits on it). The ring-buffer callback queues a copy of the
 * record; the unwinder thread, the only user of the unwinder and the kernel
 * symbols, turns it into named frames; the main thread interns them at each
 * refresh (stacks_drain()), so the model stays single-threaded.
 *
 * A sample whose stack cannot be read or unwound at all is not dropped: its
 * weight goes to a one-frame stack that says why, so a thread's weights
 * still add up to its blocked time, and the reason is counted under lost.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ksyms.h"
#include "pyframes.h"
#include "stacks.h"
#include "symmap.h"
#include "unwind.h"

/* records waiting for the unwinder (~21 KiB each): past this, a sample is not unwound */
#define STACK_QUEUE_MAX 256

/*
 * A record's Python frames, named when it is read (user/pyframes.c): the code
 * objects are alive then, not necessarily once the unwinder gets to the record.
 */
struct pyres {
	int lost; /* enum tw_slost for the record's Python frames, or -1 */
	int bad; /* frames whose code object could not be read */
	int n;
	struct pyres_frame {
		char *qualname, *file; /* NULL: not readable */
		int line;
		bool entry; /* TW_PYF_ENTRY */
	} f[];
};

struct job {
	struct job *next;
	__u32 forget; /* not a record: drop this process's caches */
	struct pyres *py; /* its Python frames, or NULL */
	size_t len;
	unsigned char data[]; /* struct tw_stack_ev and its pages */
};

/* A named stack for the main thread to intern: everything the model needs, owned. */
struct result {
	struct result *next;
	struct tw_skey k; /* k.stack is filled by the main thread */
	char comm[TASK_COMM_LEN];
	__u64 weight_ns;
	__u64 gap_ts; /* the event-loop gap it was taken in (its stall's start); 0: none */
	int lost; /* enum tw_slost to count, or -1 */
	int pylost; /* the same for its Python frames, or -1 */
	int pycode; /* Python frames whose code object could not be read (TW_SLOST_PY_CODE) */
	int nframes;
	__u64 ts_ns; /* the record's: CLOCK_MONOTONIC of the syscall's exit */
	struct tw_sframe frames[]; /* innermost first; strings strdup'ed */
};

struct tw_stack_in {
	struct tw_unwinder *u; /* the unwinder thread's */
	struct tw_ksyms *ksyms; /* the same; loaded at the first kernel frame */
	/*
	 * Python processes and their code objects (NULL: none), under pylock: the
	 * main thread names a record's frames when it reads it, the unwinder thread
	 * watches the child for its interpreter
	 */
	struct tw_py *py;
	pthread_mutex_t pylock;
	bool child_python; /* the child was looked at after its exec (or given up on) */
	struct timespec child_since;
	bool ksyms_noted; /* "kernel addresses hidden" said once */
	__u32 child; /* the -- COMMAND's pid, or 0 */
	char self_comm[TASK_COMM_LEN]; /* our own name, which the child has until it exec's */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* a job, or stop */
	pthread_cond_t idle; /* the queue ran empty */
	struct job *head, **tail;
	size_t njobs;
	bool busy; /* the unwinder thread is on a job */
	bool stop;
	struct result *done, **done_tail;
	bool nomem; /* the unwinder thread ran out of memory */
	__u64 nqueued, nfinished; /* jobs queued, jobs done, since the start (FIFO) */
	tw_stack_sink_fn sink; /* where results go instead of m->stacks, or NULL */
	void *sink_ctx;
};

static void result_free(struct result *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->nframes; i++) {
		free(r->frames[i].func);
		free(r->frames[i].module);
		free(r->frames[i].file);
	}
	free(r);
}

/* Frame i of r, its strings copied; false without memory. */
static bool set_frame(struct result *r, int i, const char *func, const char *module, __u64 offset,
		      const char *file, int line)
{
	struct tw_sframe *f = &r->frames[i];

	memset(f, 0, sizeof(*f));
	f->func = func ? strdup(func) : NULL;
	f->module = strdup(module ? module : "[unknown]");
	f->file = file ? strdup(file) : NULL;
	f->offset = offset;
	f->line = line;
	f->plumbing = tw_module_is_plumbing(f->module);
	f->python = false;
	r->nframes = i + 1;
	return f->module && (!func || f->func) && (!file || f->file);
}

static struct result *result_new(const struct tw_stack_ev *e, int nframes)
{
	struct result *r =
		calloc(1, sizeof(*r) + (size_t)(nframes ? nframes : 1) * sizeof(r->frames[0]));

	if (!r)
		return NULL;
	r->k = (struct tw_skey){ .pid = e->tgid,
				 .tid = e->tid,
				 .nr = e->nr,
				 .kind = e->kind,
				 .ret = e->kind == TW_SK_BLOCKED ? 0 : e->ret };
	/* a creation's success is its new tid: 0 for all, so the sites add up */
	if (r->k.ret > 0)
		r->k.ret = 0;
	memcpy(r->comm, e->comm, sizeof(r->comm));
	r->comm[sizeof(r->comm) - 1] = '\0';
	r->weight_ns = e->weight_ns;
	r->ts_ns = e->ts_ns;
	r->gap_ts = e->gap_ts;
	r->lost = -1;
	r->pylost = -1;
	return r;
}

/* A one-frame stack that names why there is no real one. */
static struct result *why(const struct tw_stack_ev *e, const char *what, int lost)
{
	struct result *r = result_new(e, 1);

	if (r && !set_frame(r, 0, what, "[unknown]", 0, NULL, 0)) {
		result_free(r);
		return NULL;
	}
	if (r)
		r->lost = lost;
	return r;
}

/*
 * A syscall made from code without CFI at the syscall's return address:
 * glibc's clone3 (and clone) end their FDE before the syscall instruction,
 * since the child returns with another stack. Such leaf wrappers push
 * nothing, so their return address is at sp: unwind again from the caller,
 * the wrapper's own pc kept as the first frame. x86_64 only (rsp 7, rip 16).
 */
static int unwind_leaf(struct tw_stack_in *si, const struct tw_stack_ev *e, uint64_t *regs,
		       const __u8 *stack, size_t len, uint64_t *pcs, enum tw_unwind_stop *stop)
{
	uint64_t ra, sp = regs[7];
	int n;

	memcpy(&ra, stack, sizeof(ra));
	regs[16] = ra;
	regs[7] = sp + 8;
	n = unwinder_unwind(si->u, (pid_t)e->tgid, (pid_t)e->tid, regs, TW_UREGS_N, sp + 8,
			    stack + 8, len - 8, pcs + 1, TW_UNWIND_MAX_FRAMES - 1, stop);
	if (n <= 0) {
		*stop = TW_UNW_NO_CFI;
		return 1;
	}
	/* pcs[0], the wrapper's pc, is still there; the caller's frames follow it */
	return n + 1;
}

/*
 * The kernel frames of e into r from frame 0 (innermost first); how many, or
 * -ENOMEM. Hidden kernel addresses (no CAP_SYSLOG) give one "[kernel]" frame,
 * and one note on stderr for the run.
 */
static int kernel_frames(struct tw_stack_in *si, const struct tw_stack_ev *e, struct result *r)
{
	int n = 0;

	if (!si->ksyms && !(si->ksyms = ksyms_load("/proc/kallsyms")))
		return -ENOMEM;
	if (ksyms_hidden(si->ksyms)) {
		if (!si->ksyms_noted)
			fprintf(stderr, "bpf-threadwatch: kernel addresses are hidden "
					"(kptr_restrict, or no CAP_SYSLOG): kernel frames show as "
					"[kernel]\n");
		si->ksyms_noted = true;
		return set_frame(r, 0, "[kernel]", "[kernel]", 0, NULL, 0) ? 1 : -ENOMEM;
	}
	for (__u32 i = 0; i < e->nkern && i < TW_KSTACK_MAX && e->kstack[i]; i++) {
		const char *name = NULL, *mod = "[kernel]";
		__u64 off = e->kstack[i];

		ksyms_find(si->ksyms, e->kstack[i], &name, &mod, &off);
		if (!set_frame(r, n++, name, mod, off, NULL, 0))
			return -ENOMEM;
	}
	return n;
}

static void pyres_free(struct pyres *py)
{
	if (!py)
		return;
	for (int i = 0; i < py->n; i++) {
		free(py->f[i].qualname);
		free(py->f[i].file);
	}
	free(py);
}

/* The Python loss of a record whose process is kind, or -1 */
static int py_lost(const struct tw_stack_ev *e, enum tw_py_kind kind)
{
	if (kind == TW_PYK_UNSUPPORTED)
		return TW_SLOST_PY_VERSION;
	if (kind != TW_PYK_OK)
		return -1;
	switch (e->py.status) {
	case TW_PY_NONE:
		return TW_SLOST_PY_EARLY;
	case TW_PY_CUT:
		return TW_SLOST_PY_CUT;
	case TW_PY_FAULT:
		return TW_SLOST_PY_FAULT;
	case TW_PY_NO_TSTATE:
		return TW_SLOST_PY_NO_TSTATE;
	default:
		return -1;
	}
}

/*
 * The Python frames of record e named now, while its code objects are alive
 * (the main thread, as it reads the record). NULL: not a Python process's, or
 * no memory (then native frames only).
 */
static struct pyres *python_names(struct tw_stack_in *si, const struct tw_stack_ev *e)
{
	struct tw_pyname names[TW_PY_FRAMES_MAX];
	enum tw_py_kind kind;
	struct pyres *py;
	int n;

	pthread_mutex_lock(&si->pylock);
	kind = py_detect(si->py, (pid_t)e->tgid, false);
	n = kind == TW_PYK_OK && e->py.n < TW_PY_FRAMES_MAX ? (int)e->py.n
	    : kind == TW_PYK_OK				    ? TW_PY_FRAMES_MAX
							    : 0;
	if (kind == TW_PYK_NOT || !(py = calloc(1, sizeof(*py) + (size_t)n * sizeof(py->f[0])))) {
		pthread_mutex_unlock(&si->pylock);
		return NULL;
	}
	py->lost = py_lost(e, kind);
	py->bad = n ? py_names(si->py, (pid_t)e->tgid, e->py.f, n, names) : 0;
	for (int i = 0; i < n; i++) {
		struct pyres_frame *f = &py->f[i];

		f->entry = e->py.f[i].flags & TW_PYF_ENTRY;
		f->line = names[i].line;
		f->qualname = names[i].qualname ? strdup(names[i].qualname) : NULL;
		f->file = names[i].file ? strdup(names[i].file) : NULL;
		py->n = i + 1;
		if ((names[i].qualname && !f->qualname) || (names[i].file && !f->file)) {
			pyres_free(py);
			py = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&si->pylock);
	return py;
}

/*
 * The Python frames named at the read in r's stack, in place of the eval
 * loop's native frames (user frames from nk on): r, or a new result that
 * replaces it, or NULL without memory (r freed).
 */
static struct result *python_frames(const struct pyres *py, struct result *r, int nk)
{
	const char *funcs[TW_UNWIND_MAX_FRAMES];
	bool entry[TW_PY_FRAMES_MAX];
	int plan[TW_UNWIND_MAX_FRAMES + TW_PY_FRAMES_MAX], nu = r->nframes - nk, n;
	struct result *m;

	r->pylost = py->lost;
	r->pycode = py->bad;
	if (!py->n || nu > TW_UNWIND_MAX_FRAMES)
		return r;
	for (int i = 0; i < py->n; i++)
		entry[i] = py->f[i].entry;
	for (int i = 0; i < nu; i++)
		funcs[i] = r->frames[nk + i].func;
	n = py_merge_plan(funcs, nu, entry, py->n, plan, (int)(sizeof(plan) / sizeof(plan[0])));
	if (!(m = calloc(1, sizeof(*m) + (size_t)(nk + n) * sizeof(m->frames[0])))) {
		result_free(r);
		return NULL;
	}
	*m = *r;
	m->next = NULL;
	memcpy(m->frames, r->frames, (size_t)nk * sizeof(m->frames[0])); /* kernel frames: moved */
	m->nframes = nk;
	for (int k = 0; k < n; k++) {
		struct tw_sframe *f = &m->frames[nk + k];
		const struct pyres_frame *pf;

		m->nframes = nk + k + 1;
		if (plan[k] >= 0) {
			*f = r->frames[nk + plan[k]]; /* moved */
			r->frames[nk + plan[k]] = (struct tw_sframe){ 0 };
			continue;
		}
		pf = &py->f[-1 - plan[k]];
		*f = (struct tw_sframe){ .python = true, .line = pf->line };
		f->func = strdup(pf->qualname ? pf->qualname : "[python: code not readable]");
		f->module = strdup(pf->file ? pf->file : "[python]");
		f->file = pf->file ? strdup(pf->file) : NULL;
		if (!f->func || !f->module || (pf->file && !f->file)) {
			result_free(m);
			m = NULL;
			break;
		}
	}
	/* r keeps only what was not moved: the eval loop's frames the plan replaced */
	memset(r->frames, 0, (size_t)nk * sizeof(r->frames[0]));
	result_free(r);
	return m;
}

/* One record into a result: unwound, named (the unwinder thread). NULL without memory. */
static struct result *unwind_record(struct tw_stack_in *si, const struct tw_stack_ev *e, size_t len,
				    const struct pyres *py)
{
	uint64_t pcs[TW_UNWIND_MAX_FRAMES], regs[TW_UREGS_N];
	enum tw_unwind_stop stop = TW_UNW_END;
	size_t bytes = (size_t)e->npages * TW_STACK_PAGE, off;
	struct result *r;
	int n, nk;

	if (bytes > len - sizeof(*e))
		bytes = len - sizeof(*e);
	off = e->regs[7] - e->base; /* sp within its page: the bytes below it are not the stack */
	if (e->tgid == si->child && !strncmp(e->comm, si->self_comm, sizeof(e->comm)))
		return why(e, "[before exec]", -1); /* our own wait, not the command's code */
	if (!e->npages || off >= bytes)
		return why(e, "[user stack not readable]", TW_SLOST_NO_STACK);
	memcpy(regs, e->regs, sizeof(regs)); /* __u64 and uint64_t: two names, one size */
	n = unwinder_unwind(si->u, (pid_t)e->tgid, (pid_t)e->tid, regs, TW_UREGS_N, regs[7],
			    e->ustack + off, bytes - off, pcs, TW_UNWIND_MAX_FRAMES, &stop);
	if (n == 1 && stop != TW_UNW_END && bytes - off >= 8)
		n = unwind_leaf(si, e, regs, e->ustack + off, bytes - off, pcs, &stop);
	if (n <= 0 && (n == -EACCES || n == -EPERM))
		return why(e, "[memory map not readable]", TW_SLOST_NO_ACCESS);
	if (n <= 0)
		return why(e, "[process gone]", TW_SLOST_NO_PROCESS);
	r = result_new(e, (e->nkern ? TW_KSTACK_MAX : 0) + n);
	if (!r)
		return NULL;
	if (stop != TW_UNW_END)
		r->lost = TW_SLOST_UNWIND_SHORT;
	/* where it slept in the kernel, innermost, then its user stack */
	nk = e->nkern ? kernel_frames(si, e, r) : 0;
	if (nk < 0) {
		result_free(r);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		struct tw_frame fr = { 0 };

		if (unwinder_symbolize(si->u, (pid_t)e->tgid, pcs[i], i > 0, &fr)) {
			fr = (struct tw_frame){ .module = "[unknown]", .offset = pcs[i] };
		}
		if (!set_frame(r, nk + i, fr.func, fr.module, fr.offset, fr.file, fr.line)) {
			result_free(r);
			return NULL;
		}
		if (!fr.func && !strcmp(fr.module, "[unknown]") && r->lost < 0)
			r->lost = TW_SLOST_UNKNOWN_FRAME;
	}
	return py ? python_frames(py, r, nk) : r;
}

/* How long the -- COMMAND's child is watched for an interpreter after its start */
#define CHILD_WATCH_S 5

/*
 * The -- COMMAND's child, until it has exec'd and its interpreter (if any) is
 * found: looked at every 20 ms for CHILD_WATCH_S, so that even a thread that
 * blocks once, from the start, gets its Python frames. The unwinder thread,
 * unlocked; true while the child is still watched.
 */
static bool watch_child(struct tw_stack_in *si)
{
	char path[64], comm[TASK_COMM_LEN] = "";
	struct timespec now;
	FILE *f;

	if (!si->py || !si->child || si->child_python)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - si->child_since.tv_sec > CHILD_WATCH_S) {
		si->child_python = true;
		return false;
	}
	snprintf(path, sizeof(path), "/proc/%u/comm", si->child);
	if ((f = fopen(path, "re"))) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	/* still our own code before its exec, or gone */
	if (!comm[0] || !strcmp(comm, si->self_comm))
		return true;
	pthread_mutex_lock(&si->pylock);
	if (py_detect(si->py, (pid_t)si->child, true) != TW_PYK_NOT)
		si->child_python = true;
	pthread_mutex_unlock(&si->pylock);
	return !si->child_python;
}

static void *unwinder_main(void *arg)
{
	struct tw_stack_in *si = arg;

	pthread_mutex_lock(&si->lock);
	for (;;) {
		struct job *j;
		struct result *r = NULL;

		while (!si->head && !si->stop) {
			struct timespec t;
			bool watching;

			pthread_mutex_unlock(&si->lock);
			watching = watch_child(si);
			pthread_mutex_lock(&si->lock);
			if (si->head || si->stop)
				break;
			if (!watching) {
				pthread_cond_wait(&si->wake, &si->lock);
				continue;
			}
			clock_gettime(CLOCK_REALTIME, &t);
			t.tv_nsec += 20 * 1000000L;
			if (t.tv_nsec >= 1000000000L) {
				t.tv_sec++;
				t.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&si->wake, &si->lock, &t);
		}
		if (!si->head)
			break; /* stopped, nothing left */
		j = si->head;
		si->head = j->next;
		if (!si->head)
			si->tail = &si->head;
		si->njobs--;
		si->busy = true;
		pthread_mutex_unlock(&si->lock);
		bool nomem = false;

		if (j->forget)
			unwinder_forget(si->u, (pid_t)j->forget);
		else if (!(r = unwind_record(si, (const struct tw_stack_ev *)j->data, j->len,
					     j->py)))
			nomem = true;
		pyres_free(j->py);
		free(j);
		pthread_mutex_lock(&si->lock);
		si->nomem |= nomem;
		if (r) {
			*si->done_tail = r;
			si->done_tail = &r->next;
		}
		si->busy = false;
		si->nfinished++;
		if (!si->head)
			pthread_cond_broadcast(&si->idle);
	}
	pthread_mutex_unlock(&si->lock);
	return NULL;
}

struct tw_stack_in *stacks_in_new(void)
{
	struct tw_stack_in *si = calloc(1, sizeof(*si));

	if (!si)
		return NULL;
	si->tail = &si->head;
	si->done_tail = &si->done;
	pthread_mutex_init(&si->lock, NULL);
	pthread_mutex_init(&si->pylock, NULL);
	pthread_cond_init(&si->wake, NULL);
	pthread_cond_init(&si->idle, NULL);
	si->u = unwinder_new();
	if (!si->u || pthread_create(&si->thread, NULL, unwinder_main, si)) {
		stacks_in_free(si);
		return NULL;
	}
	si->started = true;
	return si;
}

void stacks_in_free(struct tw_stack_in *si)
{
	if (!si)
		return;
	if (si->started) {
		pthread_mutex_lock(&si->lock);
		si->stop = true;
		pthread_cond_signal(&si->wake);
		pthread_mutex_unlock(&si->lock);
		pthread_join(si->thread, NULL);
	}
	while (si->head) {
		struct job *j = si->head;

		si->head = j->next;
		pyres_free(j->py);
		free(j);
	}
	while (si->done) {
		struct result *r = si->done;

		si->done = r->next;
		result_free(r);
	}
	unwinder_free(si->u);
	py_free(si->py); /* the unwinder thread is joined */
	ksyms_free(si->ksyms);
	pthread_mutex_destroy(&si->lock);
	pthread_mutex_destroy(&si->pylock);
	pthread_cond_destroy(&si->wake);
	pthread_cond_destroy(&si->idle);
	free(si);
}

void stacks_in_set_child(struct tw_stack_in *si, __u32 pid)
{
	FILE *f = fopen("/proc/self/comm", "r");

	pthread_mutex_lock(&si->lock);
	si->child = pid;
	clock_gettime(CLOCK_MONOTONIC, &si->child_since);
	if (f) {
		if (fgets(si->self_comm, sizeof(si->self_comm), f))
			si->self_comm[strcspn(si->self_comm, "\n")] = '\0';
		fclose(f);
	}
	pthread_mutex_unlock(&si->lock);
}

static void enqueue(struct tw_stack_in *si, struct job *j)
{
	pthread_mutex_lock(&si->lock);
	*si->tail = j;
	si->tail = &j->next;
	si->njobs++;
	si->nqueued++;
	pthread_cond_signal(&si->wake);
	pthread_mutex_unlock(&si->lock);
}

void stacks_in_python(struct tw_stack_in *si, int py_procs_fd, int py_bits_fd)
{
	pthread_mutex_lock(&si->pylock);
	if (!si->py)
		si->py = py_new(py_procs_fd, py_bits_fd); /* without memory: native frames only */
	pthread_mutex_unlock(&si->pylock);
}

void stacks_watch(struct tw_stack_in *si, __u32 pid)
{
	if (!si)
		return;
	pthread_mutex_lock(&si->pylock);
	if (si->py)
		py_detect(si->py, (pid_t)pid, true);
	pthread_mutex_unlock(&si->pylock);
}

struct tw_py *stacks_py_hold(struct tw_stack_in *si)
{
	if (!si)
		return NULL;
	pthread_mutex_lock(&si->pylock);
	if (!si->py)
		pthread_mutex_unlock(&si->pylock);
	return si->py;
}

void stacks_py_release(struct tw_stack_in *si)
{
	pthread_mutex_unlock(&si->pylock);
}

void stacks_forget(struct tw_stack_in *si, __u32 pid)
{
	struct job *j;

	if (!si)
		return;
	pthread_mutex_lock(&si->pylock);
	py_forget(si->py, (pid_t)pid); /* its queued records were named when read */
	pthread_mutex_unlock(&si->pylock);
	if (!(j = calloc(1, sizeof(*j))))
		return; /* without memory, its caches stay: harmless */
	j->forget = pid;
	enqueue(si, j);
}

int stacks_intern(struct tw_stackset *s, const struct tw_stack_sample *x, __u32 *stack_out)
{
	__u32 frames[TW_KSTACK_MAX + TW_UNWIND_MAX_FRAMES + TW_PY_FRAMES_MAX];
	int n = x->nframes < (int)(sizeof(frames) / sizeof(frames[0]))
			? x->nframes
			: (int)(sizeof(frames) / sizeof(frames[0]));
	struct tw_skey k = x->k;
	long id;

	for (int i = 0; i < n; i++) {
		if ((id = stackset_frame(s, &x->frames[i])) < 0)
			return -ENOMEM;
		frames[i] = (__u32)id;
	}
	if ((id = stackset_stack(s, frames, (__u32)(n > 0 ? n : 0))) < 0)
		return -ENOMEM;
	k.stack = (__u32)id;
	/* where a thread is asleep now: no sample, no weight (its time is in the others) */
	if (k.kind == TW_SK_NOW) {
		s->now_stats.taken++;
		return stackset_now_set(s, k.tid, (__u32)id);
	}
	if (x->lost >= 0 && x->lost < TW_SLOST_NR)
		s->lost[x->lost]++;
	if (x->pylost >= 0 && x->pylost < TW_SLOST_NR)
		s->lost[x->pylost]++;
	s->lost[TW_SLOST_PY_CODE] += (__u64)x->pycode;
	if (stack_out)
		*stack_out = k.stack;
	/* on-CPU time is not off-CPU time: it stays out of the blocked profile */
	if (k.kind == TW_SK_ONCPU)
		return 0;
	return stackset_add(s, &k, x->comm, x->weight_ns);
}

/*
 * One result into the model (its frames and stack interned, its weight added), or the sink;
 * a stack of a thread asleep now always to the model, whose rows it belongs to.
 */
static int intern(struct tw_stack_in *si, struct tw_model *m, struct result *r)
{
	struct tw_stack_sample x = { .k = r->k,
				     .comm = r->comm,
				     .ts_ns = r->ts_ns,
				     .weight_ns = r->weight_ns,
				     .lost = r->lost,
				     .nframes = r->nframes,
				     .frames = r->frames,
				     .gap_ts = r->gap_ts,
				     .pylost = r->pylost,
				     .pycode = r->pycode };
	__u32 stack = 0;
	int err;

	if (si->sink && r->k.kind != TW_SK_NOW)
		return si->sink(si->sink_ctx, &x);
	err = stacks_intern(&m->stacks, &x, &stack);
	if (err || !r->gap_ts || r->k.kind == TW_SK_NOW)
		return err;
	/* a sample of a loop's gap also belongs to the stall the gap becomes */
	if (model_gap_stack(m, r->k.pid, r->k.tid, r->gap_ts, stack, r->k.kind, r->k.nr,
			    r->weight_ns))
		return -ENOMEM;
	return 0;
}

/* A sample that is not unwound (the queue is full): its weight under a frame that says why. */
static int not_unwound(struct tw_stack_in *si, struct tw_model *m, const struct tw_stack_ev *e)
{
	struct result *r = why(e, "[not unwound: agent busy]", TW_SLOST_BUSY);
	int err = r ? intern(si, m, r) : -ENOMEM;

	result_free(r);
	return err;
}

int stacks_ingest(struct tw_stack_in *si, struct tw_model *m, const void *data, size_t len)
{
	const struct tw_stack_ev *e = data;
	struct job *j;
	bool full;

	if (len < sizeof(*e))
		return 0;
	if (e->kind == TW_SK_ONCPU)
		m->stacks.oncpu_taken++;
	else
		m->stacks.taken++;
	if (e->flags & TW_STK_SAMPLED)
		m->stacks.sampled++;
	pthread_mutex_lock(&si->lock);
	full = si->njobs >= STACK_QUEUE_MAX;
	pthread_mutex_unlock(&si->lock);
	if (full || !(j = malloc(sizeof(*j) + len)))
		return full ? not_unwound(si, m, e) : -ENOMEM;
	j->next = NULL;
	j->forget = 0;
	j->py = si->py ? python_names(si, e) : NULL;
	j->len = len;
	memcpy(j->data, data, len);
	enqueue(si, j);
	return 0;
}

int stacks_ingest_now(struct tw_stack_in *si, const void *data, size_t len)
{
	const struct tw_stack_ev *e = data;
	struct job *j;

	if (!si || len < sizeof(struct tw_stack_ev))
		return 0;
	j = malloc(sizeof(*j) + len);
	if (!j)
		return -ENOMEM;
	j->next = NULL;
	j->forget = 0;
	j->py = si->py ? python_names(si, e) : NULL;
	j->len = len;
	memcpy(j->data, data, len);
	enqueue(si, j);
	return 0;
}

int stacks_drain(struct tw_stack_in *si, struct tw_model *m, bool wait)
{
	struct result *list;
	int err = 0;

	if (!si)
		return 0;
	pthread_mutex_lock(&si->lock);
	while (wait && (si->head || si->busy))
		pthread_cond_wait(&si->idle, &si->lock);
	list = si->done;
	si->done = NULL;
	si->done_tail = &si->done;
	if (si->nomem)
		err = -ENOMEM;
	pthread_mutex_unlock(&si->lock);
	while (list) {
		struct result *r = list;

		list = r->next;
		if (!err)
			err = intern(si, m, r);
		result_free(r);
	}
	return err;
}

void stacks_in_set_sink(struct tw_stack_in *si, tw_stack_sink_fn fn, void *ctx)
{
	si->sink = fn;
	si->sink_ctx = ctx;
}

__u64 stacks_queued(struct tw_stack_in *si)
{
	__u64 n;

	pthread_mutex_lock(&si->lock);
	n = si->nqueued;
	pthread_mutex_unlock(&si->lock);
	return n;
}

bool stacks_unwound(struct tw_stack_in *si, __u64 mark)
{
	bool done;

	pthread_mutex_lock(&si->lock);
	done = si->nfinished >= mark;
	pthread_mutex_unlock(&si->lock);
	return done;
}
