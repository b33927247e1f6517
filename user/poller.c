// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include "poller.h"

int poller_init(struct tw_poller *p, int ringbuf_fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int err;

	p->npidfds = 0;
	p->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->evfd < 0 || p->epfd < 0)
		goto fail;
	/* level-triggered, as libbpf's own: readable while unread records are there */
	ev.data.fd = ringbuf_fd;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, ringbuf_fd, &ev))
		goto fail;
	ev.data.fd = p->evfd;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &ev))
		goto fail;
	return 0;
fail:
	err = -errno;
	poller_free(p);
	return err;
}

int poller_wait(struct tw_poller *p, __u64 timeout_ns)
{
	struct epoll_event evs[4];
	__u64 ms = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
	int n, poked = 0;

	n = epoll_wait(p->epfd, evs, 4, ms > INT_MAX ? INT_MAX : (int)ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint64_t v;

		if (evs[i].data.fd != p->evfd)
			continue; /* events, or a watched process exited: the caller looks */
		/* nonblocking: the counter back to 0, however many pokes it holds */
		while (read(p->evfd, &v, sizeof(v)) == (ssize_t)sizeof(v))
			;
		poked = 1;
	}
	return poked;
}

void poller_watch_exit(struct tw_poller *p, __u32 pid)
{
	/* one-shot: a dead process's pidfd stays readable, it must wake us only once */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT };
	int fd;

	if (p->npidfds >= TW_POLLER_EXITS)
		return;
	fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (fd < 0)
		return;
	ev.data.fd = fd;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return;
	}
	p->pidfds[p->npidfds++] = fd;
}

void poller_poke(int evfd)
{
	uint64_t one = 1;
	int saved = errno; /* called from signal handlers */

	if (evfd >= 0 && write(evfd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so it is readable already */
	}
	errno = saved;
}

void poller_free(struct tw_poller *p)
{
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->evfd >= 0)
		close(p->evfd);
	for (unsigned int i = 0; i < p->npidfds; i++)
		close(p->pidfds[i]);
	p->npidfds = 0;
	p->epfd = p->evfd = -1;
}
