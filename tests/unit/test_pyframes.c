// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* Python frames (user/pyframes.c): the 3.11 location table and the merge with native frames. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "unit.h"
#include "pyframes.h"

/*
 * co_linetable of a 3.11 function (compiled by Debian's python3.11) with short, one-line,
 * no-column, long (a 150-line jump) and no-location entries, and co_lines()'s line of each
 * code unit (None as 0).
 */
static const uint8_t table[] = {
	0x80, 0x00, 0xd8, 0x08, 0x09, 0x80, 0x41, 0xd8, 0x07, 0x08, 0xf0, 0x00, 0x02, 0x05, 0x10,
	0xd8, 0x0d, 0x0e, 0xd8, 0x0d, 0x0e, 0xf1, 0x03, 0x01, 0x0e, 0x0f, 0x88, 0x01, 0xf0, 0x0a,
	0x00, 0x09, 0x1e, 0xd0, 0x08, 0x1d, 0x95, 0x45, 0x98, 0x21, 0x91, 0x48, 0x94, 0x48, 0xd0,
	0x08, 0x1d, 0xd1, 0x08, 0x1d, 0xd4, 0x08, 0x1d, 0x80, 0x41, 0xf0, 0x02, 0x03, 0x05, 0x0e,
	0xd8, 0x0c, 0x0d, 0x90, 0x01, 0x89, 0x45, 0x88, 0x01, 0x88, 0x01, 0xf8, 0xdd, 0x0b, 0x1c,
	0xf0, 0x00, 0x01, 0x05, 0x0e, 0xf0, 0x00, 0x01, 0x05, 0x0e, 0xf0, 0x00, 0x01, 0x05, 0x0e,
	0xd8, 0x0c, 0x0d, 0x88, 0x01, 0x88, 0x01, 0x88, 0x01, 0xf0, 0x03, 0x01, 0x05, 0x0e, 0xf8,
	0xf8, 0xf8, 0xf0, 0x70, 0x04, 0x00, 0x0c, 0x0d, 0x88, 0x71, 0x89, 0x35, 0x80, 0x4c
};
static const int lines[] = { 1,	 2,  2,	 3,  3,	 4,  5,	 4,  4, 4,   9,	  9,   9,   9,	9,  9,	9,
			     9,	 9,  9,	 9,  9,	 9,  9,	 9,  9, 9,   9,	  9,   9,   9,	9,  9,	9,
			     9,	 10, 11, 11, 11, 11, 11, 11, 0, 12,  12,  12,  12,  12, 12, 12, 12,
			     12, 13, 13, 13, 13, 12, 0,	 0,  0, 164, 164, 164, 164, 164 };

TEST(py_line311_matches_co_lines)
{
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		CHECK_EQ(py_line311(table, sizeof(table), 1, (int)(i * 2)), lines[i]);
	/* before the first instruction (a frame not started): the first line */
	CHECK_EQ(py_line311(table, sizeof(table), 1, -2), 1);
	/* past the table, a cut table, a table that is not one: no line, never a guess */
	CHECK_EQ(py_line311(table, sizeof(table), 1, 130), 0);
	CHECK_EQ(py_line311(table, 20, 1, 120), 0);
	CHECK_EQ(py_line311((const uint8_t *)"\x01\x02\x03", 3, 1, 0), 0);
	CHECK_EQ(py_line311(table, 0, 1, 0), 0);
}

TEST(py_merge_replaces_eval_frames)
{
	/* innermost first: recv, a C method, eval (fetch, run: entry), C call, eval (main: entry) */
	const char *native[] = { "__recv",
				 "sock_recv",
				 "_PyEval_EvalFrameDefault",
				 "_PyFunction_Vectorcall",
				 "_PyEval_EvalFrameDefault",
				 "Py_RunMain",
				 NULL };
	const bool entry[] = { false, true, false, true };
	int plan[16], n;

	n = py_merge_plan(native, 7, entry, 4, plan, 16);
	int want[] = { 0, 1, -1, -2, 3, -3, -4, 5, 6 };
	CHECK_EQ(n, 9);
	for (int i = 0; i < n; i++)
		CHECK_EQ(plan[i], want[i]);
}

TEST(py_merge_leftovers_and_limits)
{
	const char *native[] = { "clock_nanosleep", "_PyEval_EvalFrameDefault", NULL };
	const bool entry[] = { true, false, true };
	int plan[8], n;

	/* the native unwind stopped early: the Python frames left go outermost */
	n = py_merge_plan(native, 3, entry, 3, plan, 8);
	CHECK_EQ(n, 5);
	CHECK_EQ(plan[0], 0);
	CHECK_EQ(plan[1], -1); /* the first eval ran frame 0 only (its entry) */
	CHECK_EQ(plan[2], 2);
	CHECK_EQ(plan[3], -2);
	CHECK_EQ(plan[4], -3);
	/* no Python frames: the native stack as it is, eval frames included */
	n = py_merge_plan(native, 3, entry, 0, plan, 8);
	CHECK_EQ(n, 3);
	CHECK_EQ(plan[1], 1);
	/* never past max */
	CHECK_EQ(py_merge_plan(native, 3, entry, 3, plan, 2), 2);
}
