/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Loading: privilege and kernel-feature checks with errors that say what to
 * do, the tp_btf/raw_tp probe, tunables, map sizes, load and attach.
 */
#ifndef TW_LOADER_H
#define TW_LOADER_H

#include <stdbool.h>
#include "cli.h"
#include "oncpu.h"
#include "targetmap.h"

struct threadwatch_bpf;
struct bpf_link;

struct tw_bpf {
	struct threadwatch_bpf *skel;
	bool tp_btf; /* false: raw_tp */
	bool syscalls; /* blocking calls traced */
	bool calls; /* call_stats in use: syscalls traced, or blocks named at switch out */
	struct bpf_link *harvest; /* the harvest iterator (tp_btf: state in task storage) */
	bool iter; /* the attach-time task iterator is loaded (else /proc gives that state) */
	double attach_s; /* open to attached, seconds */
	struct tw_targets targets; /* the mmapped targets bitmap; w NULL system-wide */
	bool now; /* the blocked-now stack iterator is loaded (iter.s/task, 5.18+) */
	struct tw_oncpu oncpu; /* stalls' on-CPU sampler (n == 0: off) */
};

/*
 * 0, or -errno after printing one line that says what failed and what to do.
 * With targets, cfg->pids are in the bitmap before the programs attach.
 */
int tw_bpf_start(struct tw_bpf *b, const struct tw_config *cfg);
/* Detaches every link and frees the maps. Safe on a zeroed tw_bpf. */
void tw_bpf_stop(struct tw_bpf *b);

int tw_bpf_thread_fd(const struct tw_bpf *b);
int tw_bpf_proc_fd(const struct tw_bpf *b);
int tw_bpf_drops_fd(const struct tw_bpf *b);
/* the creation-site sampler's per-CPU state (struct tw_create_gate) */
int tw_bpf_create_gate_fd(const struct tw_bpf *b);
/* Python processes the kernel walks the frames of (bpf/pyframes.bpf.h), written by user/pyframes.c */
int tw_bpf_py_procs_fd(const struct tw_bpf *b);
/* the py_bits map: the same processes as a bitmap (bpf/pyframes.bpf.h) */
int tw_bpf_py_bits_fd(const struct tw_bpf *b);
int tw_bpf_events_fd(const struct tw_bpf *b);
/* Stack captures on or off from now (with cfg->stacks_gated they start off). */
void tw_bpf_stack_gate(struct tw_bpf *b, bool on);
/* -1 when no call is accounted (raw_tp without syscall tracing) */
int tw_bpf_call_fd(const struct tw_bpf *b);
/* the harvest iterator's link (per-thread state in task storage), or -1: use the thread map */
int tw_bpf_harvest_fd(const struct tw_bpf *b);
struct bpf_program;
struct bpf_program *tw_bpf_harvest_prog(const struct tw_bpf *b);
int tw_bpf_loop_fd(const struct tw_bpf *b);
/* The blocked-now stack iterator (bpf/blockednow.bpf.c) and its now_want map; NULL / -1 without. */
struct bpf_program *tw_bpf_now_prog(const struct tw_bpf *b);
int tw_bpf_now_want_fd(const struct tw_bpf *b);

struct tw_prog_stat;
/*
 * Run time and run count of each loaded program into out[] (at most n), by
 * name; the kernel counts them only while BPF statistics are enabled
 * (tw_bpf_enable_stats). Returns how many were filled.
 */
size_t tw_bpf_prog_stats(const struct tw_bpf *b, struct tw_prog_stat *out, size_t n);
/* An fd that keeps the kernel's BPF run-time statistics on while open, or -errno. */
int tw_bpf_enable_stats(void);

#endif
