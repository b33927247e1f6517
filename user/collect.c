// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "collect.h"
#include "stacks.h"
#include "procfs.h"
#include "pyframes.h"
#include "pythreads.h"

__u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int collect_init(struct tw_collector *c, struct tw_model *m, int thread_fd, int proc_fd,
		 int drops_fd, bool skip_kthreads)
{
	size_t vsz = sizeof(struct tw_thread_stats);

	if (vsz < sizeof(struct tw_proc_stats))
		vsz = sizeof(struct tw_proc_stats);
	if (vsz < sizeof(struct tw_call_stats))
		vsz = sizeof(struct tw_call_stats);
	if (vsz < sizeof(struct tw_loop_stats))
		vsz = sizeof(struct tw_loop_stats);

	memset(c, 0, sizeof(*c));
	c->m = m;
	c->thread_fd = thread_fd;
	c->proc_fd = proc_fd;
	c->drops_fd = drops_fd;
	c->create_gate_fd = -1;
	c->call_fd = -1;
	c->loop_fd = -1;
	c->harvest_fd = -1;
	c->now_want_fd = -1;
	c->skip_kthreads = skip_kthreads;
	c->ncpu = libbpf_num_possible_cpus();
	if (c->ncpu <= 0)
		return c->ncpu ? c->ncpu : -EINVAL;
	/* per-CPU values are laid out 8-byte aligned; both structs are multiples of 8 */
	c->buf = calloc(c->ncpu > 1 ? c->ncpu : 1, vsz);
	c->proc_vsz = sizeof(struct tw_proc_stats) * (size_t)c->ncpu;
	if (vsz < c->proc_vsz)
		vsz = c->proc_vsz;
	c->bkeys = calloc(TW_BATCH, sizeof(struct tw_call_key));
	c->bvals = calloc(TW_BATCH, vsz);
	c->thread_names = true;
	return c->buf && c->bkeys && c->bvals ? 0 : -ENOMEM;
}

void collect_free(struct tw_collector *c)
{
	free(c->buf);
	free(c->bkeys);
	free(c->bvals);
	free(c->pend_t);
	free(c->hbuf);
	memset(c, 0, sizeof(*c));
}

static int pend(struct tw_collector *c, struct tw_thread *t)
{
	if (c->npend_t == c->cap_t) {
		size_t ncap = c->cap_t ? c->cap_t * 2 : 256;
		struct tw_thread **n = realloc(c->pend_t, ncap * sizeof(struct tw_thread *));

		if (!n)
			return -ENOMEM;
		c->pend_t = n;
		c->cap_t = ncap;
	}
	c->pend_t[c->npend_t++] = t;
	return 0;
}

struct seed_ctx {
	struct tw_collector *c;
	__u32 pid;
};

static int seed_thread(void *ctx, __u32 tid)
{
	struct seed_ctx *s = ctx;
	char comm[TASK_COMM_LEN] = "";

	procfs_comm(s->pid, tid, comm);
	return model_thread_born(s->c->m, s->pid, tid, comm) ? 0 : -ENOMEM;
}

static int seed_process(void *ctx, __u32 pid)
{
	struct tw_collector *c = ctx;
	struct seed_ctx s = { .c = c, .pid = pid };
	int err;

	if (c->skip_kthreads && procfs_is_kthread(pid))
		return 0;
	err = procfs_for_each_task(pid, seed_thread, &s);
	/* a process may vanish while we list it */
	return err == -ENOENT ? 0 : err;
}

/* System-wide, every process but the agent itself: its programs skip it too (self_tgid). */
static int seed_other(void *ctx, __u32 pid)
{
	return pid == (__u32)getpid() ? 0 : seed_process(ctx, pid);
}

int collect_seed(struct tw_collector *c, __u32 pid, bool target, const char *known_comm)
{
	struct tw_proc *p;
	char comm[TASK_COMM_LEN] = "";
	int err;

	if (!pid)
		return procfs_for_each_task(0, seed_other, c);
	if (procfs_comm(pid, pid, comm) && known_comm)
		snprintf(comm, sizeof(comm), "%s", known_comm); /* gone since we checked it */
	p = model_proc_add(c->m, pid, comm);
	if (!p)
		return -ENOMEM;
	p->target = target;
	if (target)
		stacks_watch(c->stacks, pid); /* its Python frames from its first stack on */
	err = seed_process(c, pid);
	if (!p->threads_now && !p->exited) {
		/* it exited between the check and the attach */
		p->exited = true;
		p->exit_ns = mono_ns();
	}
	return err;
}

int collect_on_event(void *ctx, void *data, size_t len)
{
	struct tw_collector *c = ctx;
	const struct tw_event *e = data;
	struct tw_thread *t;

	if (len >= sizeof(struct tw_stack_ev) && e->type == TW_EV_STACK) {
		/* unwound now, while the process and its mappings are there */
		if (c->stacks && stacks_ingest(c->stacks, c->m, data, len))
			c->err = -ENOMEM;
		return c->err;
	}
	if (len >= sizeof(struct tw_stall) && e->type == TW_EV_STALL) {
		if (model_stall_add(c->m, data))
			c->err = -ENOMEM;
		return c->err;
	}
	if (len < sizeof(*e))
		return 0;
	if (e->type == TW_EV_PROC_JOIN) {
		char comm[TASK_COMM_LEN];

		memcpy(comm, e->comm, sizeof(comm));
		comm[TASK_COMM_LEN - 1] = '\0';
		if (collect_seed(c, e->tgid, true, comm) == -ENOMEM)
			c->err = -ENOMEM;
		return c->err;
	}
	t = model_apply_event(c->m, e);
	if (!t) {
		c->err = -ENOMEM;
		return -ENOMEM;
	}
	if (e->type == TW_EV_PROC_NEW && c->targets) {
		struct tw_proc *p = model_proc(c->m, e->tgid);

		if (p)
			p->target = true;
	}
	if (e->type == TW_EV_THREAD_EXIT && !t->harvested && pend(c, t)) {
		c->err = -ENOMEM;
		return -ENOMEM;
	}
	return 0;
}

/* The dead thread's per-call entries, found by the bits its thread entry kept. */
static void harvest_calls(struct tw_collector *c, struct tw_thread *t, const __u64 *used)
{
	const struct tw_call_stats *v = c->buf;

	for (__u32 w = 0; w < TW_SYSCALL_NR_MAX / 64; w++) {
		for (__u64 bits = used[w]; bits; bits &= bits - 1) {
			struct tw_call_key key = { .tid = t->tid,
						   .nr = w * 64 + (__u32)__builtin_ctzll(bits) };

			if (bpf_map_lookup_elem(c->call_fd, &key, c->buf))
				continue;
			if (model_thread_call_fold(t, &key, v))
				c->err = -ENOMEM;
			bpf_map_delete_elem(c->call_fd, &key);
		}
	}
}

/* Read a thread's kernel entry into its totals; delete it if the thread is dead. */
static void harvest_thread(struct tw_collector *c, struct tw_thread *t)
{
	__u32 key = t->tid;

	const struct tw_thread_stats *s = c->buf;
	__u64 used[TW_SYSCALL_NR_MAX / 64];

	/* an entry a new thread with the same tid already owns is not ours to take */
	if (!bpf_map_lookup_elem(c->thread_fd, &key, c->buf) && model_thread_owns(t, c->buf)) {
		bool loop = s->has_loop;

		memcpy(used, s->calls_used, sizeof(used));
		if (model_thread_fold(t, c->buf, 0))
			c->err = -ENOMEM;
		bpf_map_delete_elem(c->thread_fd, &key);
		if (c->call_fd >= 0)
			harvest_calls(c, t, used);
		if (loop && c->loop_fd >= 0 && !bpf_map_lookup_elem(c->loop_fd, &key, c->buf)) {
			if (model_loop_fold(t, c->buf))
				c->err = -ENOMEM;
			bpf_map_delete_elem(c->loop_fd, &key);
		}
	}
	t->harvested = true;
}

static void harvest_proc(struct tw_collector *c, struct tw_proc *p)
{
	__u32 key = p->pid;

	if (!bpf_map_lookup_elem(c->proc_fd, &key, c->buf)) {
		model_proc_fold(p, c->buf, c->ncpu);
		bpf_map_delete_elem(c->proc_fd, &key);
	}
	/*
	 * Only a PID nobody holds: one a new process already took carries that
	 * process's bits (task_newtask set them for a target, cleared them
	 * otherwise), and a zombie's stale bits are cleared at the PID's next fork.
	 */
	if (c->targets && procfs_stat(p->pid, NULL, NULL))
		targets_clear(c->targets, p->pid);
	stacks_forget(c->stacks, p->pid);
	p->harvested = true;
}

__u64 collect_settle_ns(const struct tw_collector *c, __u64 now_ns)
{
	__u64 wait = 0;

	for (size_t i = 0; i < c->npend_t; i++) {
		__u64 due = c->pend_t[i]->exit_ns + TW_HARVEST_DELAY_NS;

		if (!c->pend_t[i]->harvested && due > now_ns && due - now_ns > wait)
			wait = due - now_ns;
	}
	return wait > TW_HARVEST_DELAY_NS ? TW_HARVEST_DELAY_NS : wait;
}

int collect_harvest(struct tw_collector *c, __u64 now_ns, bool all)
{
	struct tw_model *m = c->m;
	size_t keep = 0;
	/*
	 * The unwinder's results into the model now, not only at the next
	 * refresh: a CLI run without -i refreshes at its end, and a storm's
	 * sampled stacks (~1.5 KB a result before interning, a few bytes
	 * after) held 40 MB by then (test_limits). A refresh drains them too.
	 */
	int err = stacks_drain(c->stacks, m, false);

	for (size_t i = 0; i < c->npend_t; i++) {
		struct tw_thread *t = c->pend_t[i];

		if (t->harvested)
			continue;
		if (!all && t->exit_ns + TW_HARVEST_DELAY_NS > now_ns) {
			c->pend_t[keep++] = t;
			continue;
		}
		harvest_thread(c, t);
	}
	c->npend_t = keep;
	/* a process's counters are final once its last thread is gone */
	for (size_t i = 0; i < m->nprocs; i++) {
		struct tw_proc *p = m->procs[i];

		if (p->exited && !p->harvested &&
		    (all || p->exit_ns + TW_HARVEST_DELAY_NS <= now_ns))
			harvest_proc(c, p);
	}
	return err;
}

/* A kernel entry for a thread the model has not seen alive. */
static struct tw_thread *adopt_thread(struct tw_collector *c, __u32 pid, __u32 tid, __u64 now)
{
	char comm[TASK_COMM_LEN] = "";
	struct tw_thread *t;

	if (!procfs_comm(pid, tid, comm)) {
		t = model_thread_born(c->m, pid, tid, comm);
		/* with targets, the kernel keeps entries of targets only (a lost JOIN event) */
		if (t && c->targets && model_proc(c->m, pid))
			model_proc(c->m, pid)->target = true;
		return t;
	}
	t = model_thread_died(c->m, pid, tid, now, NULL);
	if (t && pend(c, t))
		return NULL;
	return t;
}

/* Keys to delete once a walk is over: deleting under a walk would restart it. */
struct dead_keys {
	void *v;
	size_t n, cap, ksz;
};

static int dead_add(struct dead_keys *d, const void *key)
{
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 64;
		void *nv = realloc(d->v, ncap * d->ksz);

		if (!nv)
			return -ENOMEM;
		d->v = nv;
		d->cap = ncap;
	}
	memcpy((char *)d->v + d->n++ * d->ksz, key, d->ksz);
	return 0;
}

static void dead_delete(struct dead_keys *d, int fd)
{
	for (size_t i = 0; i < d->n; i++)
		bpf_map_delete_elem(fd, (char *)d->v + i * d->ksz);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

typedef int (*entry_fn)(struct tw_collector *c, const void *key, const void *val, void *ctx);

/*
 * Every entry of a hash map: TW_BATCH entries a syscall (BPF_MAP_LOOKUP_BATCH,
 * kernel 5.6+), or one lookup an entry where the kernel cannot batch, or when
 * a bucket outgrows a batch (then the whole map is walked again one by one:
 * every fn folds totals, so seeing an entry twice changes nothing). vsz is the
 * value's size as the syscall returns it (per-CPU maps: all CPUs).
 */
static int map_walk(struct tw_collector *c, int fd, size_t ksz, size_t vsz, entry_fn fn, void *ctx)
{
	__u64 in = 0, out = 0, key[2] = { 0 }, next[2] = { 0 };
	bool first = true;
	int err;

	while (!c->no_batch) {
		__u32 n = TW_BATCH;

		err = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, c->bkeys, c->bvals, &n,
					   NULL);
		if (err && err != -ENOENT) {
			if (err != -ENOSPC)
				c->no_batch = true; /* EINVAL, ENOTSUPP...: an old kernel */
			break;
		}
		for (__u32 i = 0; i < n; i++) {
			int e = fn(c, (char *)c->bkeys + i * ksz, (char *)c->bvals + i * vsz, ctx);

			if (e)
				return e;
		}
		if (err == -ENOENT)
			return 0;
		in = out;
		first = false;
	}
	first = true;
	while (!bpf_map_get_next_key(fd, first ? NULL : key, next)) {
		memcpy(key, next, ksz);
		first = false;
		if (bpf_map_lookup_elem(fd, key, c->buf))
			continue; /* deleted meanwhile */
		err = fn(c, key, c->buf, ctx);
		if (err)
			return err;
	}
	return 0;
}

struct thread_walk {
	__u64 now;
	bool adopt;
	struct dead_keys dead;
};

static int thread_entry(struct tw_collector *c, const void *k, const void *v, void *ctx)
{
	const struct tw_thread_stats *vals = v;
	struct thread_walk *w = ctx;
	__u32 key = *(const __u32 *)k;
	struct tw_thread *t = NULL;
	struct tw_proc *p;

	if (!vals->tgid)
		return 0;
	p = model_proc(c->m, vals->tgid);
	if (p)
		t = proc_thread(p, key);
	if (t && t->harvested && model_thread_owns(t, vals))
		/* a dead thread's last switch after we read it: nothing left to count */
		return dead_add(&w->dead, &key);
	if (!t || t->harvested || !model_thread_owns(t, vals)) {
		if (!w->adopt)
			return 0;
		t = adopt_thread(c, vals->tgid, key, w->now);
		if (!t)
			return -ENOMEM;
	}
	if (model_thread_fold(t, vals, w->now) || model_thread_live(c->m, t, vals, w->now))
		return -ENOMEM;
	return 0;
}

/*
 * Fold every kernel entry into its thread's record. The thread set itself
 * changes only through lifecycle events (an entry whose creation event is
 * still unread belongs to a thread the model will hear about), except after
 * lost events (adopt): then entries of unknown threads are taken in.
 */
/*
 * Reads the output of iterator link_fd into c->hbuf and hands the records to rec(): it
 * returns a whole record's length (consumed), 0 if the record is not all in yet, or an
 * error. A record the buffer cannot hold whole, or bytes left at the end, are -EPROTO.
 */
typedef long (*iter_rec_fn)(struct tw_collector *c, const unsigned char *rec, size_t avail,
			    void *ctx);

static int iter_read(struct tw_collector *c, int link_fd, iter_rec_fn rec, void *ctx)
{
	size_t fill = 0, off;
	int fd, err = 0;
	ssize_t n;
	long used;

	if (!c->hbuf && !(c->hbuf = malloc(TW_HARVEST_BUF)))
		return -ENOMEM;
	fd = bpf_iter_create(link_fd);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (fill == TW_HARVEST_BUF) {
			err = -EPROTO; /* a record larger than the buffer */
			break;
		}
		n = read(fd, c->hbuf + fill, TW_HARVEST_BUF - fill);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : fill ? -EPROTO : 0;
			break;
		}
		fill += (size_t)n;
		for (off = 0; off < fill; off += (size_t)used) {
			used = rec(c, (const unsigned char *)c->hbuf + off, fill - off, ctx);
			if (used < 0) {
				err = (int)used;
				goto out;
			}
			if (!used)
				break;
		}
		memmove(c->hbuf, c->hbuf + off, fill - off);
		fill -= off;
	}
out:
	close(fd);
	return err;
}

/* One harvest record: a header and the thread's entry. */
static long harvest_rec(struct tw_collector *c, const unsigned char *rec, size_t avail, void *ctx)
{
	const size_t len = sizeof(struct tw_harvest_rec) + sizeof(struct tw_thread_stats);
	struct tw_harvest_rec h;
	int err;

	if (avail < len)
		return 0;
	memcpy(&h, rec, sizeof(h));
	if (h.size != sizeof(struct tw_thread_stats))
		return -EPROTO; /* an object built for another agent */
	/* the entry is 8-byte aligned in the buffer: the header is 8 bytes */
	err = thread_entry(c, &h.tid, rec + sizeof(h), ctx);
	return err ? err : (long)len;
}

/*
 * Live threads in task storage: one pass of the harvest iterator
 * (bpf/harvest.bpf.c), its records (struct tw_harvest_rec, then the entry)
 * read a buffer at a time. The kernel never splits a record across reads.
 */
static int harvest_read(struct tw_collector *c, int link_fd, struct thread_walk *w)
{
	return iter_read(c, link_fd, harvest_rec, w);
}

/*
 * With targets, only their threads: an iterator over one process at a time
 * (kernel 6.1+), so a -p run on a node of 10,000 threads visits the target's,
 * not all of them, at every refresh. System-wide, or where the kernel cannot
 * filter, one pass over every task.
 */
static int harvest_walk(struct tw_collector *c, struct thread_walk *w)
{
	struct tw_model *m = c->m;
	int err = 0;

	if (!c->targets || !c->harvest_prog || c->harvest_unfiltered)
		return harvest_read(c, c->harvest_fd, w);
	for (size_t i = 0; i < m->nprocs && !err; i++) {
		struct tw_proc *p = m->procs[i];
		union bpf_iter_link_info li = { .task.pid = p->pid };
		LIBBPF_OPTS(bpf_iter_attach_opts, o, .link_info = &li, .link_info_len = sizeof(li));
		struct bpf_link *link;

		if (!p->target || p->exited)
			continue;
		link = bpf_program__attach_iter(c->harvest_prog, &o);
		if (!link) {
			if (errno == ESRCH)
				continue; /* gone since its last event */
			/* EINVAL: a kernel before 6.1 takes no pid here */
			c->harvest_unfiltered = true;
			return harvest_read(c, c->harvest_fd, w);
		}
		err = harvest_read(c, bpf_link__fd(link), w);
		bpf_link__destroy(link);
	}
	return err;
}

static int refresh_threads(struct tw_collector *c, __u64 now, bool adopt)
{
	struct thread_walk w = { .now = now, .adopt = adopt, .dead.ksz = sizeof(__u32) };
	int err = 0;

	if (c->harvest_fd >= 0)
		err = harvest_walk(c, &w);
	/* with task storage, the dead awaiting their harvest (their numbers are final) */
	if (!err)
		err = map_walk(c, c->thread_fd, sizeof(__u32), sizeof(struct tw_thread_stats),
			       thread_entry, &w);
	dead_delete(&w.dead, c->thread_fd);
	return err;
}

static int loop_entry(struct tw_collector *c, const void *k, const void *val, void *ctx)
{
	const struct tw_loop_stats *v = val;
	struct tw_proc *p = model_proc(c->m, v->tgid);
	struct tw_thread *t = p ? proc_thread(p, *(const __u32 *)k) : NULL;

	(void)ctx;
	if (!t || t->harvested || (t->start_ns && v->start_ns && t->start_ns != v->start_ns))
		return 0;
	return model_loop_fold(t, v);
}

/* Event loops' gap counters, into their threads (a dead thread's are taken at its harvest). */
static int refresh_loops(struct tw_collector *c)
{
	if (c->loop_fd < 0)
		return 0;
	return map_walk(c, c->loop_fd, sizeof(__u32), sizeof(struct tw_loop_stats), loop_entry,
			NULL);
}

static int proc_entry(struct tw_collector *c, const void *k, const void *val, void *ctx)
{
	__u32 key = *(const __u32 *)k;
	struct tw_proc *p = model_proc(c->m, key);
	const __u64 *now = ctx;

	if (!p || p->harvested) {
		char comm[TASK_COMM_LEN] = "";

		procfs_comm(key, key, comm);
		p = model_proc_add(c->m, key, comm);
		if (!p)
			return -ENOMEM;
		p->target |= c->targets != NULL;
		if (!p->threads_now) {
			p->exited = true;
			p->exit_ns = *now;
		}
	}
	model_proc_fold(p, val, c->ncpu);
	return 0;
}

static int refresh_procs(struct tw_collector *c, __u64 now)
{
	return map_walk(c, c->proc_fd, sizeof(__u32), c->proc_vsz, proc_entry, &now);
}

/* Creations the kernel skipped since its last creation-site capture, per CPU (stacks.bpf.h). */
static void refresh_create_gate(struct tw_collector *c)
{
	const struct tw_create_gate *g = c->buf;
	__u32 k = 0;
	__u64 sum = 0;

	if (c->create_gate_fd < 0 || bpf_map_lookup_elem(c->create_gate_fd, &k, c->buf))
		return;
	for (int i = 0; i < c->ncpu; i++)
		sum += g[i].skipped;
	c->m->stacks.create_skipped = sum;
}

static void refresh_drops(struct tw_collector *c)
{
	const __u64 *vals = c->buf;

	for (__u32 k = 0; k < TW_DROP_NR; k++) {
		__u64 sum = 0;

		if (bpf_map_lookup_elem(c->drops_fd, &k, c->buf))
			continue;
		for (int i = 0; i < c->ncpu; i++)
			sum += vals[i];
		c->m->drops[k] = sum;
	}
}

/*
 * Live threads: refresh names (threads rename themselves after creation), and
 * when exit events were lost, find the dead the model still counts as alive.
 */
#define NEW_NAME_REREADS 3 /* refreshes (daemon: 1 s apart) */

static int refresh_live(struct tw_collector *c, __u64 now, bool sweep)
{
	struct tw_model *m = c->m;

	if (!sweep && c->names_every_ns && now - c->names_ns < c->names_every_ns) {
		/*
		 * A process first seen between its fork and its exec has its parent's name: it is
		 * read again at its next few refreshes, not only at the next pass over all names.
		 */
		for (size_t i = 0; i < m->nprocs; i++) {
			struct tw_proc *p = m->procs[i];

			if (!p->exited && p->name_rereads < NEW_NAME_REREADS) {
				procfs_comm(p->pid, p->pid, p->comm);
				p->name_rereads++;
			}
		}
		return 0;
	}
	c->names_ns = now;
	for (size_t i = 0; i < m->nprocs; i++) {
		struct tw_proc *p = m->procs[i];

		if (p->exited)
			continue;
		procfs_comm(p->pid, p->pid, p->comm);
		for (size_t j = 0; j < p->nthreads; j++) {
			struct tw_thread *t = p->threads[j];

			if (!t->alive || (!c->thread_names && !sweep))
				continue;
			if (!procfs_comm(p->pid, t->tid, t->comm) || !sweep)
				continue;
			if (!procfs_task_exists(p->pid, t->tid) &&
			    (!model_thread_died(m, p->pid, t->tid, now, NULL) || pend(c, t)))
				return -ENOMEM;
		}
	}
	return 0;
}

static int call_entry(struct tw_collector *c, const void *k, const void *val, void *ctx)
{
	const struct tw_call_key *key = k;
	const struct tw_call_stats *v = val;
	struct tw_proc *p = model_proc(c->m, v->tgid);
	struct tw_thread *t = p ? proc_thread(p, key->tid) : NULL;
	struct dead_keys *dead = ctx;

	/* a later thread with the same tid: its creation event has not been read yet */
	if (!t || (t->start_ns && v->start_ns && t->start_ns != v->start_ns))
		return 0;
	if (model_thread_call_fold(t, key, v))
		return -ENOMEM;
	return t->harvested ? dead_add(dead, key) : 0;
}

int collect_calls(struct tw_collector *c)
{
	struct dead_keys dead = { .ksz = sizeof(struct tw_call_key) };
	int err;

	if (c->call_fd < 0)
		return 0;
	err = map_walk(c, c->call_fd, sizeof(struct tw_call_key), sizeof(struct tw_call_stats),
		       call_entry, &dead);
	dead_delete(&dead, c->call_fd);
	return err;
}

/*
 * Python thread names (user/pythreads.c): the live processes user/pyframes.c
 * found to be CPython (none is looked for here) are read when one of their
 * live threads was never looked at (PYT_NEW_NS after their last read: a pool
 * starting its workers is read once or twice, not per thread), else every
 * PYT_EVERY_NS (renames). A read costs a few process_vm_readv calls a
 * thread, bounded by TW_PYT_THREADS_MAX.
 */
#define PYT_NEW_NS (250 * 1000000ULL)
#define PYT_EVERY_NS (2 * 1000000000ULL)

static int cmp_pytname(const void *a, const void *b)
{
	const struct tw_pytname *x = a, *y = b;

	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int py_names_proc(struct tw_collector *c, struct tw_py *py, struct tw_proc *p, __u64 now)
{
	struct tw_pytname *names, key;
	struct tw_pyt_stats st;
	struct tw_pymem mem;
	__u64 last = 0;
	bool fresh = false;
	size_t max;
	int n;

	if (p->exited || !py_mem(py, (pid_t)p->pid, &mem))
		return 0;
	for (size_t j = 0; j < p->nthreads; j++) {
		const struct tw_thread *t = p->threads[j];

		if (!t->alive)
			continue;
		fresh |= !t->py_name_ns;
		if (t->py_name_ns > last)
			last = t->py_name_ns;
	}
	if (now - last < (fresh ? PYT_NEW_NS : PYT_EVERY_NS))
		return 0;
	max = (size_t)p->threads_now + 64 < TW_PYT_THREADS_MAX ? (size_t)p->threads_now + 64
							       : TW_PYT_THREADS_MAX;
	if (!(names = calloc(max, sizeof(*names))))
		return -ENOMEM;
	n = pyt_read(py, (pid_t)p->pid, names, max, &st);
	/* a Thread caught as it starts or ends (freed under the read): once more, at once */
	if (n >= 0 && st.bad)
		n = pyt_read(py, (pid_t)p->pid, names, max, &st);
	if (n < 0) {
		/* -EAGAIN: starting or finalizing; the names read before stay */
		free(names);
		return n == -ENOMEM ? n : 0;
	}
	c->m->stacks.lost[TW_SLOST_PY_TNAME] += st.bad;
	qsort(names, (size_t)n, sizeof(*names), cmp_pytname);
	for (size_t j = 0; j < p->nthreads; j++) {
		struct tw_thread *t = p->threads[j];
		const struct tw_pytname *f;

		if (!t->alive)
			continue;
		key.tid = t->tid;
		f = bsearch(&key, names, (size_t)n, sizeof(*names), cmp_pytname);
		t->py_name_ns = now;
		if (f && t->py_name && !strcmp(t->py_name, f->name))
			continue;
		free(t->py_name);
		t->py_name = f ? strdup(f->name) : NULL;
	}
	free(names);
	return 0;
}

int collect_py_names(struct tw_collector *c, __u64 now_ns)
{
	struct tw_py *py = stacks_py_hold(c->stacks);
	int err = 0;

	if (!py)
		return 0;
	for (size_t i = 0; i < c->m->nprocs && !err; i++)
		err = py_names_proc(c, py, c->m->procs[i], now_ns);
	stacks_py_release(c->stacks);
	return err;
}

int collect_refresh(struct tw_collector *c, __u64 now_ns)
{
	bool sweep;
	int err;

	refresh_drops(c);
	if (c->stacks)
		refresh_create_gate(c);
	sweep = c->m->drops[TW_DROP_RINGBUF] > c->swept_ringbuf_drops;
	c->swept_ringbuf_drops = c->m->drops[TW_DROP_RINGBUF];
	err = refresh_threads(c, now_ns, sweep);
	if (!err)
		err = refresh_procs(c, now_ns);
	if (!err)
		err = collect_calls(c);
	if (!err)
		err = refresh_loops(c);
	if (err)
		return err;
	c->m->live_ns = now_ns;
	err = stacks_drain(c->stacks, c->m, false);
	if (!err)
		err = refresh_live(c, now_ns, sweep);
	return err ? err : collect_py_names(c, now_ns);
}

/*
 * Blocked-now stacks: the records of one pass of the sleepable iterator
 * (bpf/blockednow.bpf.c), a struct tw_stack_ev then npages pages each, read a
 * buffer at a time and queued for the unwinder. The kernel never splits a
 * record across reads.
 */
/* One record of the blocked-now iterator: a tw_stack_ev and its stack pages. */
static long now_rec(struct tw_collector *c, const unsigned char *rec, size_t avail, void *ctx)
{
	const size_t hdr = sizeof(struct tw_stack_ev);
	struct tw_stack_ev e;
	size_t need;
	int err;

	(void)ctx;
	if (avail < hdr)
		return 0;
	memcpy(&e, rec, hdr);
	if (e.type != TW_EV_STACK || e.kind != TW_SK_NOW || e.npages > TW_NOW_PAGES_MAX)
		return -EPROTO; /* an object built for another agent */
	need = hdr + (size_t)e.npages * TW_STACK_PAGE;
	if (avail < need)
		return 0;
	err = stacks_ingest_now(c->stacks, rec, need);
	return err ? err : (long)need;
}

static int now_read(struct tw_collector *c, int link_fd)
{
	return iter_read(c, link_fd, now_rec, NULL);
}

/* One pass over pid's threads (0: every task), or over every task where the kernel cannot filter. */
static int now_pass(struct tw_collector *c, __u32 pid)
{
	union bpf_iter_link_info li = { .task.pid = pid };
	LIBBPF_OPTS(bpf_iter_attach_opts, o, .link_info = &li, .link_info_len = sizeof(li));
	struct bpf_link *link;
	int err;

	link = bpf_program__attach_iter(c->now_prog, pid && !c->now_unfiltered ? &o : NULL);
	if (!link && pid && errno == ESRCH)
		return 0; /* gone since the refresh */
	if (!link && pid && !c->now_unfiltered) {
		/* EINVAL: a kernel before 6.1 takes no pid here; now_want still filters */
		c->now_unfiltered = true;
		return 1;
	}
	if (!link)
		return -errno;
	err = now_read(c, bpf_link__fd(link));
	bpf_link__destroy(link);
	return err;
}

struct now_cand {
	struct tw_thread *t;
	__u64 since;
};

static int cmp_now_cand(const void *a, const void *b)
{
	const struct now_cand *x = a, *y = b;

	if (x->since != y->since)
		return x->since < y->since ? -1 : 1; /* the longest asleep first */
	return x->t->tid < y->t->tid ? -1 : x->t->tid > y->t->tid;
}

/*
 * Asleep, and listed by the report: blocked now (the rule of the view's
 * BLOCKED NOW rows), or a loop stalled now in a blocking call.
 */
static bool now_wanted(const struct tw_model *m, const struct tw_thread *t, __u64 blocked_ns)
{
	if (!t->alive || t->live_state != TW_ST_BLOCKED)
		return false;
	if (t->loop && t->loop->stalled_now)
		return true;
	return model_thread_blocked_now(t, m->live_ns, blocked_ns);
}

static size_t now_pick(struct tw_collector *c, __u64 blocked_ns, struct now_cand **out)
{
	struct tw_model *m = c->m;
	struct now_cand *v = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < m->nprocs; i++) {
		struct tw_proc *p = m->procs[i];

		if (p->exited)
			continue;
		for (size_t j = 0; j < p->nthreads; j++) {
			struct tw_thread *t = p->threads[j];

			if (!now_wanted(m, t, blocked_ns))
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct now_cand *nv = realloc(v, ncap * sizeof(*nv));

				if (!nv) {
					free(v);
					return (size_t)-1;
				}
				v = nv;
				cap = ncap;
			}
			v[n].t = t;
			v[n].since =
				t->live_att && t->live_pre_ts ? t->live_pre_ts : t->live_state_ts;
			n++;
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_now_cand);
	*out = v;
	return n;
}

int collect_now_stacks(struct tw_collector *c, __u64 blocked_ns)
{
	struct tw_stackset *ss = &c->m->stacks;
	struct now_cand *cand = NULL;
	size_t n, asked;
	__u64 t0 = mono_ns();
	int err = 0;

	if (!c->stacks || !c->now_prog || c->now_want_fd < 0)
		return 0;
	stackset_now_reset(ss);
	n = now_pick(c, blocked_ns, &cand);
	if (n == (size_t)-1)
		return -ENOMEM;
	asked = n < TW_NOW_MAX ? n : TW_NOW_MAX;
	ss->now_stats.over = n - asked;
	if (!asked) {
		free(cand);
		return 0; /* nothing to walk, nothing to wait for */
	}
	for (size_t i = 0; i < asked; i++) {
		const struct tw_thread *t = cand[i].t;
		struct tw_now_want w = { .state_ts = t->live_state_ts,
					 .start_ns = t->start_ns,
					 .sys = t->live_sys };

		if (bpf_map_update_elem(c->now_want_fd, &t->tid, &w, BPF_ANY))
			continue;
		ss->now_stats.asked++;
	}
	/* by process when targeted (6.1+ filters the walk), else one walk over every task */
	for (size_t i = 0; i < asked && !err; i++) {
		__u32 pid = c->targets && !c->now_unfiltered ? cand[i].t->pid : 0;
		bool seen = false;

		for (size_t k = 0; k < i && pid; k++)
			seen |= cand[k].t->pid == pid;
		if (seen)
			continue;
		err = now_pass(c, pid);
		if (err == 1)
			err = now_pass(c,
				       0); /* unfiltered from now on: this walk covers every one */
		if (!pid || c->now_unfiltered)
			break;
	}
	for (size_t i = 0; i < asked; i++)
		bpf_map_delete_elem(c->now_want_fd, &cand[i].t->tid);
	free(cand);
	if (err && err != -ENOMEM) {
		fprintf(stderr,
			"bpf-threadwatch: the blocked-now stack iterator failed (%s): BLOCKED NOW "
			"rows carry no stack from now on\n",
			strerror(-err));
		c->now_prog = NULL;
		err = 0;
	}
	ss->now_stats.pass_ns = mono_ns() - t0;
	/* unwound and named before the report reads them */
	if (!err)
		err = stacks_drain(c->stacks, c->m, true);
	ss->now_stats.ns = mono_ns() - t0;
	return err;
}
