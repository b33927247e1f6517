/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Python frames of a captured stack (issue 12). For a CPython process, user
 * space (user/pyframes.c) writes into py_procs where its _PyRuntime is and the
 * offsets of the few fields walked here; nothing else has an entry, so the
 * rest pay one hash lookup per capture. At a capture:
 *
 * 1. the thread's PyThreadState: the one cached in py_tstate (task storage)
 *    if its native_thread_id still reads as this thread's tid, else a walk of
 *    the main interpreter's threads list (at most TW_PY_THREADS_MAX), matching
 *    native_thread_id. A thread need not hold the GIL: its thread state and
 *    its frames stay where they are while it waits.
 * 2. its frames, from (cframe->)current_frame through `previous`, at most
 *    TW_PY_FRAMES_MAX: the code object, the byte offset of the last
 *    instruction (prev_instr - co_code_adaptive) and whether C entered the
 *    eval loop with this frame (3.11's is_entry), which tells user space which
 *    native _PyEval_EvalFrameDefault frame ran which Python frames.
 *
 * py_walk() takes the record to fill and the task whose memory it reads, so
 * other capture points can call it: task NULL reads the current thread's
 * memory with bpf_probe_read_user() (syscall exits, tracepoints, perf_event
 * samples of a thread in user mode); a task reads that task's memory with
 * bpf_copy_from_user_task(), for sleepable programs only (iter.s/task). Pass
 * NULL as a constant in any other program: the call is then compiled out.
 */
#ifndef __PYFRAMES_BPF_H
#define __PYFRAMES_BPF_H

#include "maps.bpf.h"

/*
 * bench/pystack.py's timing build (make pystack-timing: TW_BENCH_TIMING=1)
 * brackets each capture (stack_send_gap()) and each py_walk() with clock
 * reads, summed per CPU into bench_pywalk; two back-to-back reads price the
 * clock itself. A bracket over its bound (an interrupt, or the hypervisor
 * taking the vCPU, inside it: ~10x the usual) is counted apart, not summed.
 * 0 in every other build: all of it is compiled out.
 */
#ifndef TW_BENCH_TIMING
#define TW_BENCH_TIMING 0
#endif
#if TW_BENCH_TIMING
#define TW_BENCH_CAP_MAX 200000ULL /* ns: a capture is 10-20 us */
#define TW_BENCH_WALK_MAX 100000ULL /* ns: a walk of 64 frames ~9 us */
#define TW_BENCH_CLK_MAX 2000ULL /* ns: a clock read ~50-100 ns */
struct tw_bench_pywalk {
	__u64 caps, cap_ns; /* stack_send_gap() calls that sent a record, their time */
	__u64 walks, walk_ns; /* py_walk() calls, their time */
	__u64 clk_ns; /* at each walk, one clock read as two back-to-back reads see it */
	__u64 cap_out, walk_out, clk_out; /* brackets over their bound: in no sum above */
};

TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_bench_pywalk);
} bench_pywalk SEC(".maps");

#define BENCH_NOW() bpf_ktime_get_ns()
static __always_inline void bench_cap(__u64 t0)
{
	__u64 t1 = bpf_ktime_get_ns();
	struct tw_bench_pywalk *b;
	__u32 zero = 0;

	b = bpf_map_lookup_elem(&bench_pywalk, &zero);
	if (!b)
		return;
	if (t1 - t0 > TW_BENCH_CAP_MAX) {
		b->cap_out++;
		return;
	}
	b->caps++;
	b->cap_ns += t1 - t0;
}
#else
#define BENCH_NOW() 0
static __always_inline void bench_cap(__u64 t0)
{
}
#endif

/* Python processes, by tgid (user space adds them when it finds an interpreter). */
#define TW_PY_PROCS_MAX 4096
TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TW_PY_PROCS_MAX);
	__type(key, __u32);
	__type(value, struct tw_pyproc);
} py_procs SEC(".maps");

/*
 * The same processes as bits, tgid / 64 the word (sized to pid_max by the
 * loader): a capture in a process that is not Python's costs one inlined
 * array load, not a hash lookup (~500 ns on a cold cache right after a
 * stack copy, bench/pystack.py). User space sets a bit after the process's
 * py_procs entry is in and clears it before the entry goes.
 */
TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} py_bits SEC(".maps");

/* A thread's PyThreadState, found once, checked at each use. */
struct tw_pytcache {
	__u64 tstate;
	__u32 tgid; /* of the process it was found in (an exec starts again) */
	__u32 __pad;
};

TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tw_pytcache);
} py_tstate SEC(".maps");

/*
 * The walk's state, between the steps of bpf_loop() (one verified callback:
 * a plain loop whose frames may or may not be shims would be explored down
 * every path) and its frames, copied into the record at the end. A frame's
 * first TW_PY_FRAME_READ bytes are read at once into b: every field the walk
 * wants lies in them, at offsets known only at run time (masked into b).
 */
#define TW_PY_OFF_MASK 0x7f
struct tw_pyscratch {
	__u8 b[TW_PY_OFF_MASK + 1 + 8];
	struct tw_pyframe f[TW_PY_FRAMES_MAX];
};

TW_EXTERN struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_pyscratch);
} py_scratch SEC(".maps");

struct py_walk_ctx {
	__u64 fr; /* the next frame to read; 0: done */
	struct task_struct *task; /* whose memory (py_walk_task), or NULL */
	__u32 n; /* frames in the scratch's f */
	__u32 flags; /* struct tw_pyproc's */
	__u16 fr_code, fr_previous, fr_instr, fr_entry, code_adaptive;
	bool fault;
};

/* One read of the walked process's memory: 0 or a negative error. */
static __always_inline long py_read(void *dst, __u32 sz, __u64 src, struct task_struct *task)
{
	if (task)
		return bpf_copy_from_user_task(dst, sz, (const void *)src, task, 0);
	return bpf_probe_read_user(dst, sz, (const void *)src);
}

static __always_inline __u64 py_u64(__u64 addr, struct task_struct *task, bool *ok)
{
	__u64 v = 0;

	if (py_read(&v, sizeof(v), addr, task))
		*ok = false;
	return v;
}

/* The thread's PyThreadState, or 0 (none has its tid, or a read failed: *fault). */
static __always_inline __u64 py_find_tstate(const struct tw_pyproc *pp, __u32 tgid, __u32 tid,
					    struct task_struct *task, bool *fault)
{
	struct tw_pytcache *c;
	__u64 ts;
	bool ok = true;
	__u32 i;

	c = bpf_task_storage_get(&py_tstate, task ? task : bpf_get_current_task_btf(), NULL,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (c && c->tstate && c->tgid == tgid &&
	    py_u64(c->tstate + pp->ts_native_tid, task, &ok) == tid && ok)
		return c->tstate;
	ok = true;
	ts = py_u64(pp->runtime + pp->rt_interp_head, task, &ok);
	if (ts)
		ts = py_u64(ts + pp->is_threads_head, task, &ok);
	for (i = 0; i < TW_PY_THREADS_MAX && ts && ok; i++) {
		if (py_u64(ts + pp->ts_native_tid, task, &ok) == tid && ok) {
			if (c) {
				c->tstate = ts;
				c->tgid = tgid;
			}
			return ts;
		}
		ts = py_u64(ts + pp->ts_next, task, &ok);
	}
	*fault = !ok;
	return 0;
}

/* One frame of the walk (a bpf_loop() step): 1 to stop. */
static __always_inline long py_step(struct py_walk_ctx *c, bool task)
{
	struct tw_pyscratch *s;
	__u64 code, instr;
	__u32 zero = 0, n = c->n;
	__u8 owner;
	long err;

	s = bpf_map_lookup_elem(&py_scratch, &zero);
	if (!s || !c->fr || n >= TW_PY_FRAMES_MAX)
		return 1;
	if (task)
		err = bpf_copy_from_user_task(s->b, TW_PY_FRAME_READ, (void *)c->fr, c->task, 0);
	else
		err = bpf_probe_read_user(s->b, TW_PY_FRAME_READ, (void *)c->fr);
	if (err) {
		c->fault = true;
		return 1;
	}
	owner = s->b[c->fr_entry & TW_PY_OFF_MASK];
	c->fr = *(__u64 *)&s->b[c->fr_previous & TW_PY_OFF_MASK];
	if ((c->flags & TW_PYP_OWNER_SHIM) && owner == TW_PY_OWNER_CSTACK) {
		/* the shim below an eval loop's frames (3.12+): the frame before it was its entry */
		if (n > 0 && n <= TW_PY_FRAMES_MAX)
			s->f[n - 1].flags = TW_PYF_ENTRY;
		return 0;
	}
	code = *(__u64 *)&s->b[c->fr_code & TW_PY_OFF_MASK];
	instr = *(__u64 *)&s->b[c->fr_instr & TW_PY_OFF_MASK];
	s->f[n].code = code;
	/* -2 (one code unit before the first: the frame has not started) stays as it is */
	s->f[n].lasti = (__s32)(instr - code - c->code_adaptive);
	s->f[n].flags = (c->flags & TW_PYP_IS_ENTRY) && owner ? TW_PYF_ENTRY : 0;
	c->n = n + 1;
	return 0;
}

static long py_step_current(__u32 i, void *ctx)
{
	return py_step(ctx, false);
}

/* sleepable programs only (bpf_copy_from_user_task) */
static long py_step_task(__u32 i, void *ctx)
{
	return py_step(ctx, true);
}

/*
 * The Python frames of thread tid of process tgid into dst (dst->status
 * TW_PY_NONE, nothing else written, for a process that is not Python's).
 */
static __always_inline void py_walk_body(struct tw_pystack *dst, __u32 tgid, __u32 tid,
					 struct task_struct *task)
{
	struct py_walk_ctx c = { .task = task };
	struct tw_pyscratch *s;
	struct tw_pyproc *pp;
	bool fault = false, ok = true;
	__u32 zero = 0, word = tgid / 64;
	__u64 ts, *bits;

	dst->status = TW_PY_NONE;
	dst->n = 0;
	bits = bpf_map_lookup_elem(&py_bits, &word);
	if (!bits || !((*bits >> (tgid % 64)) & 1))
		return;
	pp = bpf_map_lookup_elem(&py_procs, &tgid);
	if (!pp)
		return;
	ts = py_find_tstate(pp, tgid, tid, task, &fault);
	dst->tstate = ts;
	if (!ts) {
		dst->status = fault ? TW_PY_FAULT : TW_PY_NO_TSTATE;
		return;
	}
	c.fr = py_u64(ts + pp->ts_frame, task, &ok);
	if (c.fr && (pp->flags & TW_PYP_CFRAME))
		c.fr = py_u64(c.fr + pp->cf_current_frame, task, &ok);
	c.flags = pp->flags;
	c.fr_code = pp->fr_code;
	c.fr_previous = pp->fr_previous;
	c.fr_instr = pp->fr_instr;
	c.fr_entry = pp->fr_entry;
	c.code_adaptive = pp->code_adaptive;
	/* 3.12+ interleave a shim frame per eval-loop entry: twice the frames, at most */
	if (ok)
		bpf_loop(2 * TW_PY_FRAMES_MAX, task ? py_step_task : py_step_current, &c, 0);
	s = bpf_map_lookup_elem(&py_scratch, &zero);
	if (!s)
		return;
	if (c.n > TW_PY_FRAMES_MAX)
		c.n = TW_PY_FRAMES_MAX;
	__builtin_memcpy(dst->f, s->f, sizeof(dst->f));
	dst->n = c.n;
	if (!ok || c.fault)
		dst->status = TW_PY_FAULT;
	else
		dst->status = c.fr ? TW_PY_CUT : TW_PY_OK;
}

static __always_inline void py_walk(struct tw_pystack *dst, __u32 tgid, __u32 tid,
				    struct task_struct *task)
{
#if TW_BENCH_TIMING
	__u64 t0 = bpf_ktime_get_ns(), t1, t2;
	struct tw_bench_pywalk *b;
	__u32 zero = 0;

	py_walk_body(dst, tgid, tid, task);
	t1 = bpf_ktime_get_ns();
	t2 = bpf_ktime_get_ns();
	b = bpf_map_lookup_elem(&bench_pywalk, &zero);
	if (!b)
		return;
	if (t1 - t0 > TW_BENCH_WALK_MAX || t2 - t1 > TW_BENCH_CLK_MAX) {
		b->walk_out += t1 - t0 > TW_BENCH_WALK_MAX;
		b->clk_out += t2 - t1 > TW_BENCH_CLK_MAX;
		return;
	}
	b->walks++;
	b->walk_ns += t1 - t0;
	b->clk_ns += t2 - t1;
#else
	py_walk_body(dst, tgid, tid, task);
#endif
}

#endif /* __PYFRAMES_BPF_H */
