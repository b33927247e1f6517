/* SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause */
/* A minimal unit-test harness: TEST() registers, CHECK() records, main() summarises. */
#ifndef TW_UNIT_H
#define TW_UNIT_H

#include <stdio.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

extern int unit_failed_checks;

#define TEST(name)                                                                                \
	static void name(void);                                                                   \
	static const struct unit_test name##_reg                                                  \
		__attribute__((used, section("unit_tests"), aligned(sizeof(void *)))) = { #name,  \
											  name }; \
	static void name(void)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
			unit_failed_checks++;                                                      \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                          \
	do {                                                                                    \
		unsigned long long _a = (a), _b = (b);                                          \
		if (_a != _b) {                                                                 \
			fprintf(stderr, "  %s:%d: %s == %llu, expected %s == %llu\n", __FILE__, \
				__LINE__, #a, _a, #b, _b);                                      \
			unit_failed_checks++;                                                   \
		}                                                                               \
	} while (0)

#endif
