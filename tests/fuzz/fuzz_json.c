// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * libFuzzer target: JSON string escaping of arbitrary bytes (thread names).
 * The output must be one valid JSON string: quoted, no raw control bytes,
 * only valid UTF-8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = NULL;
	size_t len = 0, i;
	struct json j;
	FILE *f;

	f = open_memstream(&out, &len);
	if (!f)
		return 0;
	json_init(&j, f);
	json_strn(&j, (const char *)data, size);
	fclose(f);
	if (len < 2 || out[0] != '"' || out[len - 1] != '"')
		abort();
	for (i = 1; i < len - 1;) {
		size_t n = utf8_seq_len((const unsigned char *)out + i, len - 1 - i);

		if (!n || (unsigned char)out[i] < 0x20)
			abort();
		if (out[i] == '\\') {
			i += 2; /* the escaped character, checked as it stands */
			continue;
		}
		if (out[i] == '"')
			abort(); /* an unescaped quote inside */
		i += n;
	}
	free(out);
	return 0;
}
