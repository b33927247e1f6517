/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/*
 * Parsers of the two texts the unwinder reads from a traced process: the lines of
 * /proc/PID/maps and JIT perf map files (/tmp/perf-PID.map). Both are outside input (a
 * process names its own files and writes its own perf map), so the parsers are pure,
 * bounded and fuzzed (tests/fuzz/fuzz_symmap.c): any bytes give an error, never a crash.
 */
#ifndef TW_SYMMAP_H
#define TW_SYMMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One line of /proc/PID/maps: "start-end perms offset major:minor inode   path". */
struct tw_maps_line {
	uint64_t start, end, offset, inode;
	unsigned int dev_major, dev_minor;
	bool read, write, exec;
	bool deleted; /* the path ends in " (deleted)": a hint only, the path may just be named so */
	const char *path; /* into the line, not NUL-terminated; NULL for an anonymous mapping */
	size_t path_len;
};

/* 0, or -EINVAL for a line that is not one of /proc/PID/maps (len bytes, no '\n'). */
int parse_maps_line(const char *line, size_t len, struct tw_maps_line *m);

/* A perf map line, "START SIZE name": hex numbers (an 0x prefix allowed), the name to the end. */
int parse_perf_map_line(const char *line, size_t len, uint64_t *start, uint64_t *size,
			const char **name, size_t *name_len);

/* Bounds on what one perf map may cost: the rest of a longer file is ignored. */
#define TW_PERF_MAP_MAX_SYMS (1u << 20)
#define TW_PERF_MAP_MAX_NAME 1024 /* longer names are cut */

struct tw_perf_sym {
	uint64_t start, size;
	uint32_t name; /* offset of its NUL-terminated name in names */
	uint32_t line; /* its line in the file: of two at one start, the later wins */
};

struct tw_perf_map {
	struct tw_perf_sym *syms; /* sorted by start, one per start */
	size_t n;
	char *names;
	size_t names_len;
	size_t bad_lines; /* lines that did not parse, skipped */
};

/* Parses a whole perf map text into pm (which it resets first). 0 or -ENOMEM. */
int perf_map_parse(const char *buf, size_t len, struct tw_perf_map *pm);
/* The symbol whose [start, start + size) holds pc, or NULL. */
const struct tw_perf_sym *perf_map_lookup(const struct tw_perf_map *pm, uint64_t pc);
void perf_map_free(struct tw_perf_map *pm);

/*
 * The C library and the dynamic loader (by file name; "[kernel]", "[unknown]" and the other
 * bracketed names too): the frames between a program's own code and the kernel.
 */
bool tw_module_is_plumbing(const char *module);

#endif
