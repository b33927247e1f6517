/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * The daemon's GET /debug/pprof/offcpu?seconds=N: the node's off-CPU time by
 * stack over the next N seconds as a gzipped pprof (docs/design.md, "The
 * daemon's off-CPU profile"). The HTTP thread opens a window and suspends the
 * connection; the measuring thread routes each unwound sample into the
 * windows its syscall exit falls in, renders a window once it has ended and
 * every sample taken in it is unwound, and resumes the connection.
 */
#ifndef TW_PPROFD_H
#define TW_PPROFD_H

#include <stdbool.h>
#include <microhttpd.h>
#include "prom.h"

struct tw_bpf;
struct tw_model;
struct tw_stack_in;
struct tw_pprofd;

/* Profile windows open at once; one more gets 503. */
#define TW_PPROFD_MAX_WINDOWS 4
#define TW_PPROFD_DEFAULT_S 10
#define TW_PPROFD_MAX_S 60

/* stacks: the daemon traces syscalls, so it can take stacks; by: --by, for the group labels */
struct tw_pprofd *pprofd_new(bool stacks, enum tw_prom_by by);
/*
 * Ready to open windows (until then: 503): the loaded object (its stack
 * gate), the unwinder (whose sink this sets), the model (process labels),
 * the measuring thread's poller eventfd.
 */
void pprofd_attach(struct tw_pprofd *pd, struct tw_bpf *b, struct tw_stack_in *si,
		   const struct tw_model *m, int wake_fd);
/* Every window still open is answered 503 and resumed; no new one opens. */
void pprofd_close_all(struct tw_pprofd *pd);
void pprofd_free(struct tw_pprofd *pd);

/* The HTTP thread: a request for the endpoint (req is MHD's per-request pointer). */
enum MHD_Result pprofd_request(struct tw_pprofd *pd, struct MHD_Connection *conn, void **req);
/* The HTTP thread: MHD_OPTION_NOTIFY_COMPLETED, for a request pprofd_request saw. */
void pprofd_completed(void **req);

/* The measuring thread: when it must pass next for the windows (at most next_ns). */
__u64 pprofd_due(struct tw_pprofd *pd, __u64 next_ns);
/* The measuring thread, each pass: samples routed, ended windows answered. 0 or -ENOMEM. */
int pprofd_pass(struct tw_pprofd *pd, __u64 now);

#endif
