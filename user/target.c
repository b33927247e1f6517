// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "procfs.h"
#include "target.h"

int target_resolve(struct tw_config *cfg)
{
	__u32 tgid;
	int err;

	for (size_t i = 0; i < cfg->npids; i++) {
		err = procfs_tgid_of(cfg->pids[i], &tgid);
		if (err) {
			fprintf(stderr, "bpf-threadwatch: no process with PID %u\n", cfg->pids[i]);
			return -ESRCH;
		}
		procfs_comm(tgid, tgid, cfg->comms[i]);
		if (tgid != cfg->pids[i]) {
			fprintf(stderr,
				"bpf-threadwatch: %u is a thread of process %u: use -p %u -t %u\n",
				cfg->pids[i], tgid, tgid, cfg->pids[i]);
			return -EINVAL;
		}
	}
	if (!cfg->tid)
		return 0;
	err = procfs_tgid_of(cfg->tid, &tgid);
	if (err) {
		fprintf(stderr, "bpf-threadwatch: no thread with TID %u\n", cfg->tid);
		return -ESRCH;
	}
	if (!cfg->npids && !cfg->command) {
		cfg->pids[0] = tgid;
		cfg->npids = 1;
		return 0;
	}
	for (size_t i = 0; i < cfg->npids; i++)
		if (cfg->pids[i] == tgid)
			return 0;
	fprintf(stderr, "bpf-threadwatch: thread %u belongs to process %u, not to the -p list\n",
		cfg->tid, tgid);
	return -EINVAL;
}

int target_spawn(struct tw_child *c, char **argv)
{
	int go[2], errp[2];
	char b;

	if (pipe2(go, O_CLOEXEC))
		return -errno;
	if (pipe2(errp, O_CLOEXEC)) {
		int err = -errno;

		close(go[0]);
		close(go[1]);
		return err;
	}
	c->pid = fork();
	if (c->pid < 0) {
		int err = -errno;

		close(go[0]);
		close(go[1]);
		close(errp[0]);
		close(errp[1]);
		return err;
	}
	if (c->pid == 0) {
		int e;

		close(go[1]);
		close(errp[0]);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		if (read(go[0], &b, 1) != 1)
			_exit(127); /* the tracer gave up */
		execvp(argv[0], argv);
		e = errno;
		if (write(errp[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(errp[1]);
	c->go_fd = go[1];
	c->err_fd = errp[0];
	return 0;
}

int target_release(struct tw_child *c)
{
	ssize_t n;
	int e = 0;

	if (write(c->go_fd, "g", 1) != 1)
		e = errno;
	close(c->go_fd);
	c->go_fd = -1;
	do
		n = read(c->err_fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(c->err_fd);
	c->err_fd = -1;
	if (n == (ssize_t)sizeof(e)) {
		waitpid(c->pid, NULL, 0);
		return -e;
	}
	return 0;
}
