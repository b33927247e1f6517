// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* libFuzzer target: /proc/PID/maps lines and perf map files (user/symmap.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "symmap.h"

static void check_maps_lines(const char *data, size_t size)
{
	const char *p = data, *end = data + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct tw_maps_line m;

		if (!parse_maps_line(p, (size_t)(le - p), &m)) {
			if (m.end < m.start)
				abort();
			if (m.path && (m.path < p || m.path + m.path_len > le || !m.path_len))
				abort();
		}
		p = le + 1;
	}
}

static void check_perf_map(const char *data, size_t size)
{
	struct tw_perf_map pm = { 0 };

	if (perf_map_parse(data, size, &pm))
		return;
	for (size_t i = 0; i < pm.n; i++) {
		const struct tw_perf_sym *s = &pm.syms[i], *hit;

		if (i && pm.syms[i - 1].start >= s->start)
			abort(); /* sorted, one per start */
		if (s->name >= pm.names_len ||
		    !memchr(pm.names + s->name, '\0', pm.names_len - s->name))
			abort();
		hit = perf_map_lookup(&pm, s->start);
		if (!hit || s->start - hit->start >= hit->size)
			abort();
		hit = perf_map_lookup(&pm, s->start + s->size - 1);
		if (hit && s->start + s->size - 1 - hit->start >= hit->size)
			abort();
	}
	perf_map_free(&pm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_maps_lines((const char *)data, size);
	check_perf_map((const char *)data, size);
	return 0;
}
