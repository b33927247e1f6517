/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
#ifndef TW_DAEMON_H
#define TW_DAEMON_H

/* `bpf-threadwatch daemon ...`: argv[0] is "daemon". Returns the exit status. */
int daemon_main(int argc, char **argv);

#endif
