// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* The parsers the unwinder reads traced processes with: /proc/PID/maps lines, perf maps. */
#include <stdlib.h>
#include <string.h>
#include "symmap.h"
#include "unit.h"

static int maps(const char *line, struct tw_maps_line *m)
{
	return parse_maps_line(line, strlen(line), m);
}

static bool path_is(const struct tw_maps_line *m, const char *want)
{
	return m->path && m->path_len == strlen(want) && !memcmp(m->path, want, m->path_len);
}

TEST(maps_line_file)
{
	struct tw_maps_line m;

	CHECK(!maps("7f3a1c028000-7f3a1c1bd000 r-xp 00028000 fe:01 1835145                    "
		    "/usr/lib/x86_64-linux-gnu/libc.so.6",
		    &m));
	CHECK_EQ(m.start, 0x7f3a1c028000ull);
	CHECK_EQ(m.end, 0x7f3a1c1bd000ull);
	CHECK_EQ(m.offset, 0x28000);
	CHECK_EQ(m.dev_major, 0xfe);
	CHECK_EQ(m.dev_minor, 1);
	CHECK_EQ(m.inode, 1835145);
	CHECK(m.read && !m.write && m.exec && !m.deleted);
	CHECK(path_is(&m, "/usr/lib/x86_64-linux-gnu/libc.so.6"));
}

TEST(maps_line_anonymous_and_pseudo)
{
	struct tw_maps_line m;

	/* an anonymous mapping ends after the inode, with or without the padding blanks */
	CHECK(!maps("7f0000000000-7f0000001000 rwxp 00000000 00:00 0 ", &m));
	CHECK(!m.path && m.exec && m.write);
	CHECK(!maps("7f0000000000-7f0000001000 ---p 00000000 00:00 0", &m));
	CHECK(!m.path && !m.read && !m.exec);
	CHECK(!maps("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  "
		    "[vsyscall]",
		    &m));
	CHECK(path_is(&m, "[vsyscall]") && m.exec);
	CHECK(!maps("7ffd1000-7ffd3000 rw-s 00000000 00:05 12 /dev/zero", &m));
	CHECK(path_is(&m, "/dev/zero"));
}

TEST(maps_line_hostile_paths)
{
	struct tw_maps_line m;

	/* blanks inside a path are the path's, and " (deleted)" is only a hint */
	CHECK(!maps("1000-2000 r-xp 00000000 08:02 77 /opt/my app/bin (deleted)", &m));
	CHECK(path_is(&m, "/opt/my app/bin (deleted)") && m.deleted);
	CHECK(!maps("1000-2000 r-xp 00000000 08:02 77 / (deleted)", &m));
	CHECK(m.deleted);
	CHECK(!maps("1000-2000 r-xp 00000000 08:02 77  (deleted)", &m));
	CHECK(path_is(&m, "(deleted)") && !m.deleted);
}

TEST(maps_line_garbage)
{
	static const char *const bad[] = {
		"",
		"1000",
		"1000-",
		"2000-1000 r-xp 00000000 08:02 77 /x", /* ends before it starts */
		"1000-2000 r-x 00000000 08:02 77 /x",
		"1000-2000 rwxq 00000000 08:02 77 /x",
		"1000-2000 r-xp 00000000 0802 77 /x",
		"1000-2000 r-xp 00000000 08:02 x /x",
		"1000-2000 r-xp 00000000 08:02 77x /x",
		"1000-2000 r-xp 00000000 1000:02 77 /x", /* a major of more than 12 bits */
		"10000000000000000-10000000000000001 r-xp 0 0:0 0", /* past 64 bits */
		"1000-2000 r-xp 0 0:0 99999999999999999999999",
		"g000-2000 r-xp 0 0:0 0",
	};
	struct tw_maps_line m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (maps(bad[i], &m)) {
			continue;
		} else {
			fprintf(stderr, "  parsed: '%s'\n", bad[i]);
			CHECK(!"a bad maps line parsed");
		}
	/* the length bounds the line: a NUL or what follows is never read */
	CHECK(parse_maps_line("1000-2000 r-xp 0 0:0 0 /x", 9, &m));
	CHECK(!parse_maps_line("1000-2000 r-xp 0 0:0 0 /xyz", 25, &m) && path_is(&m, "/x"));
}

TEST(perf_map_lines)
{
	const char *name;
	uint64_t start, size;
	size_t nlen;

	CHECK(!parse_perf_map_line("7f00dead0000 1a LazyCompile:~f a.js:1", 37, &start, &size,
				   &name, &nlen));
	CHECK_EQ(start, 0x7f00dead0000ull);
	CHECK_EQ(size, 0x1a);
	CHECK(nlen == 21 && !memcmp(name, "LazyCompile:~f a.js:1", 21));
	CHECK(!parse_perf_map_line("0x10 0X20 f\r", 12, &start, &size, &name, &nlen));
	CHECK(start == 0x10 && size == 0x20 && nlen == 1 && name[0] == 'f');
	CHECK(parse_perf_map_line("10 20", 5, &start, &size, &name, &nlen)); /* no name */
	CHECK(parse_perf_map_line("10 0 f", 6, &start, &size, &name, &nlen)); /* empty */
	CHECK(parse_perf_map_line("ffffffffffffffff 2 f", 20, &start, &size, &name, &nlen));
	CHECK(parse_perf_map_line("zz 2 f", 6, &start, &size, &name, &nlen));
	CHECK(parse_perf_map_line("0x 2 f", 6, &start, &size, &name, &nlen));
}

TEST(perf_map_lookup_and_order)
{
	/* out of order, a bad line, a start written twice (the JIT reused it: the later wins) */
	const char text[] = "3000 100 third\n"
			    "garbage line\n"
			    "1000 10 first\n"
			    "2000 80 old\n"
			    "\n"
			    "2000 40 new\n"
			    "4000 10 last";
	struct tw_perf_map pm = { 0 };
	const struct tw_perf_sym *s;

	CHECK(!perf_map_parse(text, strlen(text), &pm));
	CHECK_EQ(pm.n, 4);
	CHECK_EQ(pm.bad_lines, 1);
	CHECK(!perf_map_lookup(&pm, 0xfff));
	s = perf_map_lookup(&pm, 0x1000);
	CHECK(s && !strcmp(pm.names + s->name, "first"));
	CHECK(!perf_map_lookup(&pm, 0x1010)); /* one past the end */
	s = perf_map_lookup(&pm, 0x203f);
	CHECK(s && !strcmp(pm.names + s->name, "new"));
	CHECK(!perf_map_lookup(&pm, 0x2040)); /* the old, longer entry is gone */
	s = perf_map_lookup(&pm, 0x400f);
	CHECK(s && !strcmp(pm.names + s->name, "last"));
	CHECK(!perf_map_lookup(&pm, ~0ull));
	/* parsing again starts afresh */
	CHECK(!perf_map_parse("10 1 a\n", 7, &pm));
	CHECK_EQ(pm.n, 1);
	perf_map_free(&pm);
	CHECK(!pm.n && !pm.syms && !pm.names);
}

TEST(perf_map_long_name_cut)
{
	size_t len = 3 * TW_PERF_MAP_MAX_NAME;
	char *text = malloc(len + 16);
	struct tw_perf_map pm = { 0 };
	const struct tw_perf_sym *s;

	if (!text) {
		CHECK(!"malloc");
		return;
	}
	memcpy(text, "10 1 ", 5);
	memset(text + 5, 'n', len);
	CHECK(!perf_map_parse(text, len + 5, &pm));
	s = perf_map_lookup(&pm, 0x10);
	CHECK(s && strlen(pm.names + s->name) == TW_PERF_MAP_MAX_NAME);
	perf_map_free(&pm);
	free(text);
}
