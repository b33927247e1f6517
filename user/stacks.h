/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * From the kernel's stack snapshots (struct tw_stack_ev) to named stacks in
 * the model: unwound and symbolized while the process still runs (its
 * mappings are read then), through user/unwind.c.
 */
#ifndef TW_STACKS_H
#define TW_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include "model.h"

struct tw_stack_in;

struct tw_stack_in *stacks_in_new(void);
void stacks_in_free(struct tw_stack_in *si);
/*
 * One TW_EV_STACK record of len bytes: queued for the unwinder thread (its
 * result reaches m->stacks at the next stacks_drain()). 0, or -ENOMEM; a
 * record the queue has no room for is counted in m->stacks.lost.
 */
int stacks_ingest(struct tw_stack_in *si, struct tw_model *m, const void *data, size_t len);
/*
 * The stacks unwound since the last call into m->stacks (the main thread);
 * with wait, first every one queued (the end of the run). 0 or -ENOMEM.
 */
int stacks_drain(struct tw_stack_in *si, struct tw_model *m, bool wait);
/*
 * The -- COMMAND's child: until it exec's it runs our own code (it waits to be
 * released), so its stacks that still carry our name are not unwound against
 * the command's mappings: their time goes to a "[before exec]" frame.
 */
void stacks_in_set_child(struct tw_stack_in *si, __u32 pid);
/*
 * Python frames (user/pyframes.c): py_procs_fd is the kernel's map of Python
 * processes, filled as they are found. Call before the first record.
 */
void stacks_in_python(struct tw_stack_in *si, int py_procs_fd);
/* A process to look for an interpreter in now, before its first stack (a target at attach). */
void stacks_watch(struct tw_stack_in *si, __u32 pid);
/* A process is gone (or exec'd): its cached mappings and symbols are dropped. */
void stacks_forget(struct tw_stack_in *si, __u32 pid);

#endif
