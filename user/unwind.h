/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * User stacks from a snapshot: the registers and the top of the stack a BPF program copied at a
 * syscall exit, unwound with elfutils' libdwfl from the binaries' CFI (.eh_frame, .debug_frame),
 * as `perf record --call-graph dwarf` does, and named from .symtab/.dynsym, DWARF line tables
 * and JIT perf maps. Not thread-safe: one tw_unwinder per thread that uses it.
 */
#ifndef TW_UNWIND_H
#define TW_UNWIND_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TW_UNWIND_MAX_FRAMES 127
#define TW_UREGS_MAX \
	34 /* DWARF register numbers 0..33 (x86_64 uses 0..16: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip) */

/* what stopped an unwind (counted by the caller as losses when not TW_UNW_END) */
enum tw_unwind_stop {
	TW_UNW_END = 0, /* reached the outermost frame (CFA undefined / pc 0 / _start) */
	TW_UNW_NO_STACK, /* a read past the copied stack bytes */
	TW_UNW_NO_MODULE, /* a pc in no known mapping */
	TW_UNW_NO_CFI, /* a module without usable CFI for that pc */
	TW_UNW_MAX_FRAMES, /* TW_UNWIND_MAX_FRAMES reached */
	TW_UNW_ERROR, /* anything else libdw reported */
};

struct tw_unwinder; /* per-agent: one Dwfl per process, cached, rebuilt when its mappings change */

struct tw_unwinder *unwinder_new(void);
void unwinder_free(struct tw_unwinder *u);
/* forget a process (it exited, or exec'd) */
void unwinder_forget(struct tw_unwinder *u, pid_t pid);

/*
 * Unwind one snapshot of thread tid of process pid: regs[i] is DWARF register i (nregs of them),
 * stack holds len bytes copied from user address sp upward (sp == regs[7] on x86_64). Writes at
 * most max pcs, innermost first (pcs[0] = the interrupted pc, the rest return addresses), and
 * returns how many; *stop says why it stopped. A negative return is -errno for a failure before
 * the first frame (no such process...).
 */
int unwinder_unwind(struct tw_unwinder *u, pid_t pid, pid_t tid, const uint64_t *regs, int nregs,
		    uint64_t sp, const void *stack, size_t len, uint64_t *pcs, int max,
		    enum tw_unwind_stop *stop);

struct tw_frame {
	const char *func; /* demangle-free symbol name, or NULL (then module+offset) */
	const char *
		module; /* basename-free path as the process maps it, e.g. /usr/lib/x86_64-linux-gnu/libc.so.6, or "[unknown]" */
	uint64_t offset; /* pc - symbol start if func, else the module-relative address */
	const char *file; /* source file from DWARF line info, or NULL */
	int line; /* 0 if unknown */
};
/*
 * Name one pc of pid. caller: pcs[i] for i > 0 are return addresses (look up pc - 1 so a call
 * at the end of a function names the caller). Strings live in the unwinder's caches until
 * unwinder_forget/unwinder_free. Returns 0, or -errno.
 */
int unwinder_symbolize(struct tw_unwinder *u, pid_t pid, uint64_t pc, bool caller,
		       struct tw_frame *out);

/* build id (hex string) of the module containing pc, or NULL */
const char *unwinder_build_id(struct tw_unwinder *u, pid_t pid, uint64_t pc);

/* ---- additions to the contract above ---- */

/* "end", "no_stack", "no_module", "no_cfi", "max_frames", "error": for reports and logs */
const char *unwind_stop_name(enum tw_unwind_stop stop);

/*
 * How the binary holding pc was opened: "root" (/proc/PID/root/<path>, its device and inode
 * those the mapping names) or "map_files" (/proc/PID/map_files/<start>-<end>: the file was
 * deleted, replaced, or the path leads elsewhere, as under overlayfs); NULL if not opened (yet).
 */
const char *unwinder_module_source(struct tw_unwinder *u, pid_t pid, uint64_t pc);

struct tw_unwind_stats {
	uint64_t procs; /* processes with a Dwfl (until unwinder_forget) */
	uint64_t symfiles; /* binaries opened for names, each shared by every process (build id) */
};
void unwinder_stats(const struct tw_unwinder *u, struct tw_unwind_stats *st);

#if defined(__x86_64__)
#define TW_UREG_SP 7
#define TW_UREG_PC 16
#define TW_UREGS_ARCH 17 /* the registers libdw's x86_64 backend unwinds */
struct user_regs_struct;
/*
 * The DWARF registers (rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip) of a user_regs_struct, which
 * has the layout of the kernel's struct pt_regs: regs needs TW_UREGS_ARCH slots. Returns that.
 */
int unwind_regs_from_user(const struct user_regs_struct *r, uint64_t *regs);
#endif

#endif
