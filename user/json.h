/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * A streaming JSON writer: commas and nesting are tracked here, strings are
 * escaped, and bytes that are not valid UTF-8 (thread names are arbitrary
 * bytes) become U+FFFD, so the output always parses.
 */
#ifndef TW_JSON_H
#define TW_JSON_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *f;
	int depth;
	bool first[JSON_MAX_DEPTH]; /* nothing written yet at this level */
	bool after_key;
};

void json_init(struct json *j, FILE *f);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);
/* a string of len bytes (may hold any byte, including NUL) */
void json_strn(struct json *j, const char *s, size_t len);
void json_str(struct json *j, const char *s);
void json_u64(struct json *j, __u64 v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);

/* Shorthands for "key": value. */
void json_kstr(struct json *j, const char *key, const char *s);
void json_ku64(struct json *j, const char *key, __u64 v);
void json_kdouble(struct json *j, const char *key, double v);
void json_kbool(struct json *j, const char *key, bool v);

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

#endif
