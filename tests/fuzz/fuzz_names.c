// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * libFuzzer target: the names the agent reads from outside: symbol names from a traced
 * process's ELF files, demangled (user/demangle.c, libstdc++'s demangler behind it), and
 * /proc/kallsyms lines (user/ksyms.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "demangle.h"
#include "ksyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char line[600], name[256], mod[128];
	size_t n;
	char *dm;
	__u64 addr;

	/* a name is len bytes, not NUL-terminated: nothing past them may be read */
	dm = tw_demangle(s, size);
	if (dm) {
		if (tw_strip_params(dm, strlen(dm)) > strlen(dm))
			abort();
		free(dm);
	}
	n = tw_strip_params(s, size);
	if (n > size)
		abort();
	n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
	memcpy(line, data, n);
	line[n] = '\0';
	if (ksyms_parse_line(line, &addr, name, sizeof(name), mod, sizeof(mod))) {
		if (!name[0] || strlen(name) >= sizeof(name) || strlen(mod) >= sizeof(mod))
			abort();
		if (mod[0] && (mod[0] != '[' || mod[strlen(mod) - 1] != ']'))
			abort();
	}
	return 0;
}
