/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* What to trace: checking -p/-t against /proc, and starting a -- COMMAND target. */
#ifndef TW_TARGET_H
#define TW_TARGET_H

#include <sys/types.h>
#include "cli.h"

/* Checks every PID and TID exists and fits; fills cfg->pids from -t alone. 0 or -errno. */
int target_resolve(struct tw_config *cfg);

struct tw_child {
	pid_t pid;
	int go_fd; /* written once attached: the child then execs */
	int err_fd; /* the child's exec errno, or EOF once exec succeeded */
};

/* Fork the command, held before exec until target_release(). 0 or -errno. */
int target_spawn(struct tw_child *c, char **argv);
/* Let it exec. 0, or -errno of the failed exec (the child is then reaped). */
int target_release(struct tw_child *c);

#endif
