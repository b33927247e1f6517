// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/* C++ names as frames show them: demangled, without parameters. */
#include <stdlib.h>
#include <string.h>
#include "demangle.h"
#include "unit.h"

static int dm_is(const char *mangled, const char *want)
{
	char *got = tw_demangle(mangled, strlen(mangled));
	int ok = got && !strcmp(got, want);

	if (!ok)
		fprintf(stderr, "  demangle(%s) = %s, expected %s\n", mangled, got ? got : "NULL",
			want);
	free(got);
	return ok;
}

TEST(demangle_cxx)
{
	/* names seen in node's stacks */
	CHECK(dm_is("_ZN4node2fsL4ReadERKN2v820FunctionCallbackInfoINS1_5ValueEEE",
		    "node::fs::Read"));
	CHECK(dm_is("_ZN4node5StartEiPPc", "node::Start"));
	CHECK(dm_is("_ZN4node12_GLOBAL__N_1L20PlatformWorkerThreadEPv",
		    "node::(anonymous namespace)::PlatformWorkerThread"));
	CHECK(dm_is(
		"_ZN2v88internal9Execution4CallEPNS0_7IsolateENS0_6HandleINS0_6ObjectEEES6_iPS6_",
		"v8::internal::Execution::Call"));
	/* a const member function, a template with a return type, an operator with parens */
	CHECK(dm_is("_ZNK3foo3barEv", "foo::bar"));
	CHECK(dm_is("_Z3maxIiET_S0_S0_", "int max<int>"));
	CHECK(dm_is("_ZN3fooclEi", "foo::operator()"));
	/* a data symbol has no parameter list */
	CHECK(dm_is("_ZN3foo5countE", "foo::count"));
}

TEST(demangle_not_mangled)
{
	CHECK(!tw_demangle("read", 4));
	CHECK(!tw_demangle("_Z", 2));
	CHECK(!tw_demangle("_Zgarbage!", 10));
	CHECK(!tw_demangle("JS:~handleRequest /tmp/app.js:4:23", 34));
	/* len bounds the name: the rest of the buffer is not read */
	{
		char *got = tw_demangle("_ZN4node5StartEiPPcXXXX", 19);

		CHECK(got && !strcmp(got, "node::Start"));
		free(got);
	}
}

TEST(strip_params_edges)
{
	const char *s = "(anonymous namespace)::f";

	CHECK_EQ(tw_strip_params(s, strlen(s)), strlen(s));
	s = "f(int (*)(char))";
	CHECK_EQ(tw_strip_params(s, strlen(s)), 1);
	s = "unbalanced)";
	CHECK_EQ(tw_strip_params(s, strlen(s)), strlen(s));
	s = "g() const &";
	CHECK_EQ(tw_strip_params(s, strlen(s)), 1);
}
