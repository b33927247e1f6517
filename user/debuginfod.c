// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * libdebuginfod, asked only when DEBUGINFOD_URLS is set: the servers, the
 * timeouts and the on-disk cache ($XDG_CACHE_HOME/debuginfod_client, or
 * ~/.cache/debuginfod_client) are libdebuginfod's, from its environment.
 */
#include <elfutils/debuginfod.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "debuginfod.h"

struct tw_debuginfod {
	debuginfod_client *c;
};

static bool urls_set(void)
{
	const char *u = getenv("DEBUGINFOD_URLS");

	return u && u[strspn(u, " \t")];
}

void tw_debuginfod_env_defaults(void)
{
	if (!urls_set())
		return;
	/* libdebuginfod reads them at each query: set once, before any thread runs */
	setenv("DEBUGINFOD_TIMEOUT", TW_DEBUGINFOD_TIMEOUT_S, 0);
	setenv("DEBUGINFOD_MAXTIME", TW_DEBUGINFOD_MAXTIME_S, 0);
}

struct tw_debuginfod *tw_debuginfod_new(void)
{
	struct tw_debuginfod *d;

	if (!urls_set())
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->c = debuginfod_begin();
	if (!d->c) {
		free(d);
		return NULL;
	}
	return d;
}

int tw_debuginfod_find(struct tw_debuginfod *d, const unsigned char *id, size_t n, char **path)
{
	*path = NULL;
	if (!d || !n)
		return -EINVAL;
	return debuginfod_find_debuginfo(d->c, id, (int)n, path);
}

void tw_debuginfod_free(struct tw_debuginfod *d)
{
	if (!d)
		return;
	debuginfod_end(d->c);
	free(d);
}
