/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * User stacks of blocked syscalls (issue 11), taken at the syscall's exit in
 * the thread's own context, where its user memory can be read and its stack
 * has not moved since it went to sleep. Debian's binaries have no frame
 * pointers, so the kernel does not walk the stack: it copies the registers
 * and the top of the stack, and user space unwinds the copy from the
 * binaries' CFI (user/unwind.c), as perf --call-graph dwarf does.
 *
 * The gate is one compare of the call's blocked time: a call that did not
 * sleep (nearly every call of a busy thread) costs nothing more.
 */
#ifndef __STACKS_BPF_H
#define __STACKS_BPF_H

#include "maps.bpf.h"
#include "pyframes.bpf.h"

/* stack_min_ns and stack_pages (--stack-min, --stack-bytes) are in maps.bpf.h */

/*
 * Whether a call that slept blocked ns is taken, and the blocked time its
 * sample stands for. A short block is taken with probability blocked /
 * stack_min_ns (a 32-bit fraction: stack_min_ns is below 2^32, user/cli.c
 * caps --stack-min), weighted stack_min_ns: the expected weight is its
 * blocked time, so per thread the weights add up to the blocked time.
 */
static __always_inline bool stack_wanted(__u64 blocked, __u64 *weight, __u32 *flags)
{
	if (blocked >= stack_min_ns) {
		*weight = blocked;
		*flags = 0;
		return true;
	}
	if ((((__u64)bpf_get_prandom_u32() * stack_min_ns) >> 32) >= blocked)
		return false;
	*weight = stack_min_ns;
	*flags = TW_STK_SAMPLED;
	return true;
}

#if defined(__TARGET_ARCH_x86)
/* The user registers the syscall entry saved, in DWARF order (rcx and r11 the syscall clobbered). */
#define STACK_REGS(btf, e, regs)                      \
	do {                                          \
		(e)->regs[0] = UREG(btf, regs, ax);   \
		(e)->regs[1] = UREG(btf, regs, dx);   \
		(e)->regs[2] = UREG(btf, regs, cx);   \
		(e)->regs[3] = UREG(btf, regs, bx);   \
		(e)->regs[4] = UREG(btf, regs, si);   \
		(e)->regs[5] = UREG(btf, regs, di);   \
		(e)->regs[6] = UREG(btf, regs, bp);   \
		(e)->regs[7] = UREG(btf, regs, sp);   \
		(e)->regs[8] = UREG(btf, regs, r8);   \
		(e)->regs[9] = UREG(btf, regs, r9);   \
		(e)->regs[10] = UREG(btf, regs, r10); \
		(e)->regs[11] = UREG(btf, regs, r11); \
		(e)->regs[12] = UREG(btf, regs, r12); \
		(e)->regs[13] = UREG(btf, regs, r13); \
		(e)->regs[14] = UREG(btf, regs, r14); \
		(e)->regs[15] = UREG(btf, regs, r15); \
		(e)->regs[16] = UREG(btf, regs, ip);  \
	} while (0)
/* tp_btf: a direct load from the trusted pt_regs; raw_tp: a CO-RE read through a helper */
#define UREG(btf, regs, f) ((btf) ? (regs)->f : BPF_CORE_READ(regs, f))
#define STACK_CAN 1
#else
#define STACK_CAN 0 /* arm64 and the rest: not yet (docs/design.md) */
#endif

/*
 * The switch in that ends a blocked interval of stack_min_ns or more inside a
 * syscall (tp_btf): where in the kernel it slept, kept for the syscall's
 * exit. Shorter blocks, sampled at the exit, get no kernel frames.
 */
static __always_inline void kstack_take(struct task_struct *next, __u64 seq)
{
	struct tw_kstack *k;
	long n;

	k = bpf_task_storage_get(&kstack_store, next, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!k)
		return;
	n = bpf_get_task_stack(next, k->ips, sizeof(k->ips), 0);
	k->bytes = n > 0 ? (__u32)n : 0;
	k->seq = seq;
}

/* The kernel stack kept for the call in flight, into e (tp_btf). */
static __always_inline void kstack_put(struct tw_stack_ev *e, __u64 seq)
{
	struct tw_kstack *k;
	__u32 n;

	e->nkern = 0;
	k = bpf_task_storage_get(&kstack_store, bpf_get_current_task_btf(), NULL, 0);
	if (!k || k->seq != seq || !k->bytes)
		return;
	n = k->bytes / sizeof(__u64);
	if (n > TW_KSTACK_MAX)
		n = TW_KSTACK_MAX;
	__builtin_memcpy(e->kstack, k->ips, sizeof(e->kstack));
	e->nkern = n;
	k->bytes = 0; /* one call's */
}

/*
 * Send the calling thread's stack: its registers, then the pages from sp's
 * page up to stack_pages, stopping at the first that cannot be read (the end
 * of the stack mapping, or a page not present: no sleeping fault here). A
 * full ring buffer loses the sample, counted; the call's time is counted
 * anyway.
 */
static __always_inline void stack_send_gap(struct pt_regs *regs, bool btf, __u32 tid, __u32 tgid,
					   __u32 nr, __u32 kind, long ret, __u64 weight,
					   __u64 blocked, __u32 flags, __u64 seq, __u64 gap_ts)
{
	struct tw_stack_ev *e;
	__u64 sp, bench_t0 = BENCH_NOW(); /* bench/pystack.py's timing build only */
	__u32 i;

#if STACK_CAN
	/*
	 * Half the ring buffer stays for lifecycle and stall events, whose loss
	 * would break exact counts: a stack that would eat into it is lost,
	 * counted, instead (a storm's samples could fill it between two reads).
	 */
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >
	    bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2) {
		count_drop(TW_DROP_STACK_EVENT);
		return;
	}
	/* stack_pages is read-only data the verifier knows: a constant size */
	e = bpf_ringbuf_reserve(&events, sizeof(*e) + (__u64)stack_pages * TW_STACK_PAGE, 0);
	if (!e) {
		count_drop(TW_DROP_STACK_EVENT);
		return;
	}
	e->type = TW_EV_STACK;
	e->tid = tid;
	e->tgid = tgid;
	e->nr = nr + 1;
	e->ts_ns = bpf_ktime_get_ns();
	e->weight_ns = weight;
	e->blocked_ns = blocked;
	e->kind = kind;
	e->ret = (__s32)ret;
	e->gap_ts = gap_ts;
	if (btf && kind == TW_SK_BLOCKED)
		kstack_put(e, seq);
	else
		e->nkern = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	STACK_REGS(btf, e, regs);
	sp = e->regs[7];
	e->base = sp & ~(__u64)(TW_STACK_PAGE - 1);
	e->npages = 0;
	for (i = 0; i < TW_STACK_PAGES_MAX; i++) {
		if (i >= stack_pages)
			break;
		if (bpf_probe_read_user(e->ustack + i * TW_STACK_PAGE, TW_STACK_PAGE,
					(void *)(e->base + i * TW_STACK_PAGE))) {
			flags |= TW_STK_CUT;
			break;
		}
		e->npages = i + 1;
	}
	e->flags = flags;
	py_walk(&e->py, tgid, tid, NULL); /* a Python process's frames (one lookup for the rest) */
	/*
	 * Wake the reader now (an irq_work, a few us): the copy is unwound against
	 * the process's mappings, which are gone if it exits before the reader's
	 * next 100 ms poll. Captures are bounded (2 / stack_min_ns per thread).
	 */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	bench_cap(bench_t0);
#endif
}

/* The same, outside any event-loop gap. */
static __always_inline void stack_send(struct pt_regs *regs, bool btf, __u32 tid, __u32 tgid,
				       __u32 nr, __u32 kind, long ret, __u64 weight, __u64 blocked,
				       __u32 flags, __u64 seq)
{
	stack_send_gap(regs, btf, tid, tgid, nr, kind, ret, weight, blocked, flags, seq, 0);
}

/*
 * At a syscall's exit: where it slept, if it slept and is taken
 * (stack_wanted()); gap_ts, the event-loop gap the call returns in (0: none),
 * ties the sample to the stall that gap becomes.
 */
static __always_inline void stack_capture(struct pt_regs *regs, bool btf, __u32 tid, __u32 tgid,
					  __u32 nr, __u64 blocked, __u64 seq, __u64 gap_ts)
{
	__u64 weight;
	__u32 flags;

	if (!STACK_CAN || !stack_min_ns || !stack_gate || !stack_wanted(blocked, &weight, &flags))
		return;
	stack_send_gap(regs, btf, tid, tgid, nr, TW_SK_BLOCKED, 0, weight, blocked, flags, seq,
		       gap_ts);
}

/*
 * At a traced clone's exit in its creator: where threads (or processes) are
 * created, and where creating them fails. A token bucket per CPU: a burst of
 * TW_CREATE_BURST creations is taken whole (each sample counts one, so the
 * counts are exact while creations are rare), then one per stack_min_ns,
 * each counting itself and the creations skipped since the last one taken
 * here. A storm costs at most 1 / stack_min_ns copies a second per CPU; the
 * creations skipped since the last capture are read by user space at the end
 * (struct tw_create_gate), counted, never attributed to a guess.
 */
#define TW_CREATE_BURST 64

static __always_inline void create_capture(__u32 nr, bool thread, long ret)
{
	struct tw_create_gate *g;
	struct pt_regs *regs;
	__u64 id, now, credit;
	__u32 zero = 0;

	if (!STACK_CAN || !stack_min_ns || !stack_gate)
		return;
	g = bpf_map_lookup_elem(&create_gate, &zero);
	if (!g)
		return;
	now = bpf_ktime_get_ns();
	credit = g->credit_ns + (now - g->last_ns);
	if (credit > TW_CREATE_BURST * stack_min_ns)
		credit = TW_CREATE_BURST * stack_min_ns;
	g->last_ns = now;
	if (credit < stack_min_ns) {
		g->credit_ns = credit;
		g->skipped++;
		return;
	}
	g->credit_ns = credit - stack_min_ns;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return;
	id = bpf_get_current_pid_tgid();
	stack_send(regs, true, (__u32)id, id >> 32, nr, thread ? TW_SK_THREAD : TW_SK_PROC, ret,
		   g->skipped + 1, 0, 0, 0);
	g->skipped = 0;
}

#endif /* __STACKS_BPF_H */
