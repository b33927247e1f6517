// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Stack snapshots into named stacks. The kernel sent a blocked syscall's
 * user registers and the pages from its sp's page up; here they are unwound
 * from the binaries' CFI and each frame named (user/unwind.c), interned in
 * the model (user/stackmodel.c), and the sample's weight, the blocked time it
 * stands for, added to its (process, thread, syscall, stack).
 *
 * A sample whose stack cannot be read or unwound at all is not dropped: its
 * weight goes to a one-frame stack that says why, so a thread's weights
 * still add up to its blocked time, and the reason is counted under lost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ksyms.h"
#include "stacks.h"
#include "unwind.h"

struct tw_stack_in {
	struct tw_unwinder *u;
	struct tw_ksyms *ksyms; /* loaded at the first kernel frame */
	bool ksyms_noted; /* "kernel addresses hidden" said once */
	__u32 child; /* the -- COMMAND's pid, or 0 */
	char self_comm[TASK_COMM_LEN]; /* our own name, which the child has until it exec's */
};

struct tw_stack_in *stacks_in_new(void)
{
	struct tw_stack_in *si = calloc(1, sizeof(*si));

	if (!si)
		return NULL;
	si->u = unwinder_new();
	if (!si->u) {
		free(si);
		return NULL;
	}
	return si;
}

void stacks_in_free(struct tw_stack_in *si)
{
	if (!si)
		return;
	unwinder_free(si->u);
	ksyms_free(si->ksyms);
	free(si);
}

void stacks_in_set_child(struct tw_stack_in *si, __u32 pid)
{
	FILE *f = fopen("/proc/self/comm", "r");

	si->child = pid;
	if (f) {
		if (fgets(si->self_comm, sizeof(si->self_comm), f))
			si->self_comm[strcspn(si->self_comm, "\n")] = '\0';
		fclose(f);
	}
}

void stacks_forget(struct tw_stack_in *si, __u32 pid)
{
	if (si)
		unwinder_forget(si->u, (pid_t)pid);
}

/* The C library and the dynamic loader: the frames between a caller and the kernel. */
static bool is_plumbing(const char *module)
{
	static const char *const libs[] = { "libc.so", "libc-", "libpthread", "ld-linux",
					    "ld-musl" };
	const char *base;

	if (!module)
		return false;
	base = strrchr(module, '/');
	base = base ? base + 1 : module;
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
		if (!strncmp(base, libs[i], strlen(libs[i])))
			return true;
	return false;
}

/*
 * The kernel frames of e into frames[] (innermost first), as many as fit in
 * max; -ENOMEM, or how many. Hidden kernel addresses (no CAP_SYSLOG) give one
 * "[kernel]" frame, and one note on stderr for the run.
 */
static int kernel_frames(struct tw_stack_in *si, struct tw_stackset *s, const struct tw_stack_ev *e,
			 __u32 *frames, int max)
{
	int n = 0;

	if (!e->nkern)
		return 0;
	if (!si->ksyms && !(si->ksyms = ksyms_load("/proc/kallsyms")))
		return -ENOMEM;
	if (ksyms_hidden(si->ksyms)) {
		struct tw_sframe f = { .func = (char *)"[kernel]",
				       .module = (char *)"[kernel]",
				       .plumbing = true };
		long fi = stackset_frame(s, &f);

		if (!si->ksyms_noted)
			fprintf(stderr, "bpf-threadwatch: kernel addresses are hidden "
					"(kptr_restrict, or no CAP_SYSLOG): kernel frames show as "
					"[kernel]\n");
		si->ksyms_noted = true;
		if (fi < 0)
			return -ENOMEM;
		frames[0] = (__u32)fi;
		return 1;
	}
	for (__u32 i = 0; i < e->nkern && i < TW_KSTACK_MAX && n < max; i++) {
		struct tw_sframe f = { .plumbing = true };
		const char *name, *mod;
		long fi;

		if (!e->kstack[i])
			break;
		if (ksyms_find(si->ksyms, e->kstack[i], &name, &mod, &f.offset)) {
			f.func = (char *)name;
			f.module = (char *)mod;
		} else {
			f.module = (char *)"[kernel]";
			f.offset = e->kstack[i];
		}
		fi = stackset_frame(s, &f);
		if (fi < 0)
			return -ENOMEM;
		frames[n++] = (__u32)fi;
	}
	return n;
}

/* A one-frame stack that names why there is no real one. */
static long why_stack(struct tw_stackset *s, const char *why)
{
	struct tw_sframe f = { .func = (char *)why, .module = (char *)"[unknown]" };
	long fi = stackset_frame(s, &f);
	__u32 idx;

	if (fi < 0)
		return fi;
	idx = (__u32)fi;
	return stackset_stack(s, &idx, 1);
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

int stacks_ingest(struct tw_stack_in *si, struct tw_model *m, const void *data, size_t len)
{
	const struct tw_stack_ev *e = data;
	struct tw_stackset *s = &m->stacks;
	uint64_t pcs[TW_UNWIND_MAX_FRAMES], regs[TW_UREGS_N];
	__u32 frames[TW_KSTACK_MAX + TW_UNWIND_MAX_FRAMES];
	int nk = 0;
	enum tw_unwind_stop stop = TW_UNW_END;
	char comm[TASK_COMM_LEN];
	struct tw_skey k;
	size_t bytes, off;
	long stack = -1;
	int n = 0;

	if (len < sizeof(*e))
		return 0;
	s->taken++;
	if (e->flags & TW_STK_SAMPLED)
		s->sampled++;
	bytes = (size_t)e->npages * TW_STACK_PAGE;
	if (bytes > len - sizeof(*e))
		bytes = len - sizeof(*e);
	off = e->regs[7] - e->base; /* sp within its page: the bytes below it are not the stack */
	if (e->tgid == si->child && !strncmp(e->comm, si->self_comm, sizeof(e->comm))) {
		stack = why_stack(s, "[before exec]"); /* our own wait, not the command's code */
	} else if (!e->npages || off >= bytes) {
		s->lost[TW_SLOST_NO_STACK]++;
		stack = why_stack(s, "[user stack not readable]");
	} else {
		memcpy(regs, e->regs, sizeof(regs)); /* __u64 and uint64_t: two names, one size */
		n = unwinder_unwind(si->u, (pid_t)e->tgid, (pid_t)e->tid, regs, TW_UREGS_N, regs[7],
				    e->ustack + off, bytes - off, pcs, TW_UNWIND_MAX_FRAMES, &stop);
		if (n == 1 && stop != TW_UNW_END && bytes - off >= 8)
			n = unwind_leaf(si, e, regs, e->ustack + off, bytes - off, pcs, &stop);
		if (n <= 0 && (n == -EACCES || n == -EPERM)) {
			s->lost[TW_SLOST_NO_ACCESS]++;
			stack = why_stack(s, "[memory map not readable]");
		} else if (n <= 0) {
			s->lost[TW_SLOST_NO_PROCESS]++;
			stack = why_stack(s, "[process gone]");
		}
	}
	if (stack < 0 && n > 0) {
		if (stop != TW_UNW_END)
			s->lost[TW_SLOST_UNWIND_SHORT]++;
		/* where it slept in the kernel, innermost, then its user stack */
		nk = kernel_frames(si, s, e, frames, TW_KSTACK_MAX);
		if (nk < 0)
			return -ENOMEM;
		for (int i = 0; i < n; i++) {
			struct tw_frame fr = { 0 };
			struct tw_sframe f = { 0 };
			long fi;

			if (unwinder_symbolize(si->u, (pid_t)e->tgid, pcs[i], i > 0, &fr)) {
				fr.module = "[unknown]";
				fr.offset = pcs[i];
			}
			f.func = (char *)fr.func;
			f.module = (char *)(fr.module ? fr.module : "[unknown]");
			f.offset = fr.offset;
			f.file = (char *)fr.file;
			f.line = fr.line;
			f.plumbing = is_plumbing(f.module);
			fi = stackset_frame(s, &f);
			if (fi < 0)
				return -ENOMEM;
			frames[nk + i] = (__u32)fi;
		}
		stack = stackset_stack(s, frames, (__u32)(nk + n));
	}
	if (stack < 0)
		return -ENOMEM;
	memcpy(comm, e->comm, sizeof(comm));
	comm[sizeof(comm) - 1] = '\0';
	k = (struct tw_skey){ .pid = e->tgid,
			      .tid = e->tid,
			      .nr = e->nr,
			      .stack = (__u32)stack,
			      .kind = e->kind,
			      .ret = e->kind == TW_SK_BLOCKED ? 0 : e->ret };
	/* a creation's success is its new tid: 0 for all, so the sites add up */
	if (k.ret > 0)
		k.ret = 0;
	return stackset_add(s, &k, comm, e->weight_ns);
}
