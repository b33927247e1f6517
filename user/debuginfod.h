/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Debug files from debuginfod servers (libdebuginfod), only when the user set
 * DEBUGINFOD_URLS: the unwinder's last resort for a binary with a build id and
 * no local debug file (user/unwind.c, symfiles: one attempt per build id).
 * Not thread-safe: one per thread that uses it (the unwinder thread's).
 */
#ifndef TW_DEBUGINFOD_H
#define TW_DEBUGINFOD_H

#include <stddef.h>

/* seconds for DEBUGINFOD_TIMEOUT when the user set none (libdebuginfod's own is 90) */
#define TW_DEBUGINFOD_TIMEOUT_S "5"
/* and for DEBUGINFOD_MAXTIME, a whole download */
#define TW_DEBUGINFOD_MAXTIME_S "30"

struct tw_debuginfod;

/*
 * At start-up, before any thread: with DEBUGINFOD_URLS set, a bounded
 * DEBUGINFOD_TIMEOUT and DEBUGINFOD_MAXTIME unless the user set them.
 */
void tw_debuginfod_env_defaults(void);
/* NULL when DEBUGINFOD_URLS is unset or empty (or the client cannot start). */
struct tw_debuginfod *tw_debuginfod_new(void);
/*
 * The debug file of build id id[0..n) from the servers (or libdebuginfod's
 * cache): its fd and, in *path (malloc'ed), its name; or -errno. Blocks up
 * to the timeouts above.
 */
int tw_debuginfod_find(struct tw_debuginfod *d, const unsigned char *id, size_t n, char **path);
void tw_debuginfod_free(struct tw_debuginfod *d);

#endif
