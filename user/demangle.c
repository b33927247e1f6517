// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* Readable symbol names (demangle.h). */
#include <stdlib.h>
#include <string.h>
#include "demangle.h"

/* libstdc++'s demangler (the C++ ABI's abi::__cxa_demangle), C linkage */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

#define MANGLED_MAX 4096 /* longer names are kept as they are */

size_t tw_strip_params(const char *s, size_t len)
{
	size_t end = len, depth = 0;

	/* trailing qualifiers of a member function: " const", " volatile", " &", " &&" */
	for (;;) {
		static const char *const quals[] = { " const", " volatile", " &&", " &" };
		size_t i, n;

		for (i = 0; i < sizeof(quals) / sizeof(quals[0]); i++) {
			n = strlen(quals[i]);
			if (end > n && !memcmp(s + end - n, quals[i], n))
				break;
		}
		if (i == sizeof(quals) / sizeof(quals[0]))
			break;
		end -= n;
	}
	if (!end || s[end - 1] != ')')
		return len;
	/* back to the '(' that opens the parameter list */
	while (end--) {
		if (s[end] == ')')
			depth++;
		else if (s[end] == '(' && !--depth)
			break;
	}
	/* "(anonymous namespace)" or another group at the very start is not a parameter list */
	if (depth || !end)
		return len;
	return end;
}

char *tw_demangle(const char *name, size_t len)
{
	char mangled[MANGLED_MAX], *out;
	int status = 0;
	size_t n;

	if (len < 3 || len >= sizeof(mangled) || name[0] != '_' || name[1] != 'Z')
		return NULL;
	memcpy(mangled, name, len);
	mangled[len] = '\0';
	out = __cxa_demangle(mangled, NULL, NULL, &status);
	if (!out || status) {
		free(out);
		return NULL;
	}
	n = tw_strip_params(out, strlen(out));
	out[n] = '\0';
	return out;
}
