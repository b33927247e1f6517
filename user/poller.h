/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Where the agent sleeps. The BPF side wakes the ring buffer's reader only
 * once it is TW_RINGBUF_WAKE_BYTES full (bpf/maps.bpf.h), so the reader
 * reads by the clock; a poller sleeps until that wake-up, a poke (a signal
 * handler, the daemon's HTTP thread) or the caller's next deadline, whichever
 * comes first: an agent with nothing to do wakes only when a deadline says so.
 */
#ifndef TW_POLLER_H
#define TW_POLLER_H

#include <linux/types.h>

#define TW_POLLER_EXITS 64 /* processes whose exit wakes the poller at once */

struct tw_poller {
	int epfd; /* the ring buffer's map fd, evfd and the pidfds */
	int evfd; /* an eventfd: poller_poke() makes it readable */
	int pidfds[TW_POLLER_EXITS];
	unsigned int npidfds;
};

/* ringbuf_fd: the events map (the fd ring_buffer__new() was given). 0 or -errno. */
int poller_init(struct tw_poller *p, int ringbuf_fd);
/*
 * Sleep for at most timeout_ns (rounded up to a millisecond; 0 does not
 * sleep). 1 when poked, 0 on events, a timeout or a signal, or -errno. The
 * caller reads the ring buffer (ring_buffer__consume()) afterwards either way.
 */
int poller_wait(struct tw_poller *p, __u64 timeout_ns);
/*
 * Make pid's exit end a poller_wait() (once) at once, not at the caller's
 * next deadline. Best effort: past TW_POLLER_EXITS, for a process already
 * gone, or without pidfd_open() (kernels before 5.3), nothing is watched.
 */
void poller_watch_exit(struct tw_poller *p, __u32 pid);
/* Wake a poller_wait() of the poller whose evfd this is; async-signal-safe. */
void poller_poke(int evfd);
void poller_free(struct tw_poller *p);

#endif
