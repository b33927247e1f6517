// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* Number and time formatting, and --by comm's folding of numbered names (issue 9: 7, 8). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "hist.h"
#include "json.h"
#include "model.h"
#include "report.h"
#include "unit.h"
#include "view.h"

static int same(const char *what, const char *got, const char *want)
{
	if (!strcmp(got, want))
		return 1;
	fprintf(stderr, "  %s: got '%s', want '%s'\n", what, got, want);
	return 0;
}

TEST(fmt_ns_never_exponent)
{
	static const struct {
		__u64 ns;
		const char *want;
	} cases[] = {
		{ 999, "999ns" },
		{ 999499, "999us" },
		{ 999500, "1ms" }, /* %.3g printed "1e+03us" */
		{ 999700000, "1s" }, /* and "1e+03ms" */
		{ 1234567, "1.23ms" },
		{ 12345678, "12.3ms" },
		{ 5250000000000ULL, "5250s" }, /* "5.25e+03s" */
		{ 123456000000000ULL, "123456s" },
		{ 1500, "1.5us" },
		{ 2000000000ULL, "2s" },
	};
	char b[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fmt_ns(b, sizeof(b), cases[i].ns);
		CHECK(same("fmt_ns", b, cases[i].want));
	}
	/* every magnitude: no 'e', at most 3 significant digits below 1000 s */
	for (__u64 v = 1; v < (1ULL << 50); v = v * 3 + 1) {
		fmt_ns(b, sizeof(b), v);
		CHECK(!strchr(b, 'e') && !strchr(b, '+'));
	}
}

static const char *json_of(double v, char *buf, size_t len)
{
	FILE *f = fmemopen(buf, len, "w");
	struct json j;

	json_init(&j, f);
	json_double(&j, v);
	fclose(f);
	return buf;
}

TEST(json_double_plain_decimal)
{
	char b[64];

	CHECK(!strcmp(json_of(1e6, b, sizeof(b)), "1000000"));
	CHECK(!strcmp(json_of(0.401443123, b, sizeof(b)), "0.401443"));
	CHECK(!strcmp(json_of(5250.5, b, sizeof(b)), "5250.5"));
	CHECK(!strcmp(json_of(1e-7, b, sizeof(b)), "0.0000001"));
	CHECK(!strcmp(json_of(1e-10, b, sizeof(b)), "0"));
	CHECK(!strcmp(json_of(0.0000123456, b, sizeof(b)), "0.000012346"));
	CHECK(!strcmp(json_of(-2.5, b, sizeof(b)), "-2.5"));
	CHECK(!strcmp(json_of(0, b, sizeof(b)), "0"));
	CHECK(!strcmp(json_of(1e20, b, sizeof(b)), "100000000000000000000"));
	for (double v = 1e-9; v < 1e18; v *= 7.3) {
		json_of(v, b, sizeof(b));
		CHECK(!strchr(b, 'e') && !strchr(b, 'E'));
		/* it still reads back as the same number, to 6 significant digits or 1e-9 */
		CHECK(fabs(strtod(b, NULL) - v) <= v * 1e-5 + 1e-9);
	}
}

TEST(rfc3339_ns)
{
	struct tw_clock c = { .mono_ns = 1000, .wall_off_ns = 1764571801123456789LL - 1000 };
	char b[TW_RFC3339_LEN];

	CHECK(!strcmp(fmt_rfc3339(b, sizeof(b), tw_wall_of(&c, 1000)),
		      "2025-12-01T06:50:01.123456789Z"));
	CHECK(!strcmp(fmt_rfc3339(b, sizeof(b), 0), "1970-01-01T00:00:00.000000000Z"));
	CHECK(!strcmp(fmt_clock_ms(b, sizeof(b), 1764571801123456789LL), "06:50:01.123"));
	/* the offset the two clocks give now makes a wall time in this century */
	tw_clock_now(&c);
	CHECK(tw_wall_of(&c, c.mono_ns) > 1700000000LL * 1000000000LL);
}

TEST(comm_fold_key_numbered)
{
	static const struct {
		const char *comm, *key;
	} cases[] = {
		{ "worker-12", "worker-*" },
		{ "worker-3", "worker-*" },
		{ "pool-1-thread-1", "pool-1-thread-*" }, /* 15 bytes: 1, 10-19, 100-199... */
		{ "pool-1-thread-9", "pool-1-thread-*" },
		{ "pool-12-thread-", "pool-12-thread-*" }, /* its number cut off entirely */
		{ "python3", "python*" }, /* grouped only if others share it: see fold test */
		{ "nginx", "nginx" },
		{ "1234", "1234" },
		{ "", "" },
		{ "gunicorn-worker", "gunicorn-worker*" },
	};
	char key[TASK_COMM_LEN + 2];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char comm[TASK_COMM_LEN] = { 0 };

		strncpy(comm, cases[i].comm, TASK_COMM_LEN - 1);
		comm_fold_key(comm, key);
		CHECK(same(cases[i].comm, key, cases[i].key));
	}
}

TEST(lost_in_plain_words)
{
	struct tw_view_opts o = { .final = true, .attach = "tp_btf" };
	struct tw_model m;
	struct tw_view v;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	model_init(&m, false);
	m.drops[TW_DROP_SWITCH_IN] = 14;
	m.drops[TW_DROP_CALL_MAP] = 3;
	CHECK(!view_build(&v, &m, &o));
	f = open_memstream(&buf, &len);
	CHECK(!report_text(f, &v));
	fclose(f);
	CHECK(strstr(buf, "LOST (what could not be recorded") != NULL);
	CHECK(strstr(buf, "  14 switch-ins the kernel did not report: that many on-CPU slices "
			  "and run-queue waits are missing\n") != NULL);
	CHECK(strstr(buf, "  3 syscalls not timed: the call map was full (raise --max-calls)\n") !=
	      NULL);
	/* counters at 0 say nothing */
	CHECK(strstr(buf, "ring buffer") == NULL);
	free(buf);
	view_free(&v);
	model_free(&m);
}
