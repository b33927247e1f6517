// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * dlstack LIB: a stack that moves into a library mapped while the process runs.
 *   phase "before": main -> read_body -> read(2) on stdin;
 *   after a line on stdin it dlopen()s LIB (build/tests/libdeep.so) and blocks again:
 *   phase "after":  main -> lib_read_body (in LIB) -> read(2) on stdin.
 * Each phase prints, flushed, {"workload":"dlstack","phase":P,"pid":N,"fd":0} just before it
 * blocks. Built like deepstack: no frame pointers.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

#if defined(__clang__)
#define FRAME __attribute__((noinline, used))
#else
#define FRAME __attribute__((noipa, used))
#endif
#define AFTER_CALL() __asm__ volatile("" ::: "memory")

typedef ssize_t (*read_fn)(int fd, char *buf, size_t len);

FRAME ssize_t read_body(int fd, char *buf, size_t len)
{
	ssize_t n = read(fd, buf, len);

	AFTER_CALL();
	return n;
}

static int phase(const char *name)
{
	printf("{\"workload\":\"dlstack\",\"phase\":\"%s\",\"pid\":%d,\"fd\":0}\n", name,
	       (int)getpid());
	return fflush(stdout);
}

int main(int argc, char **argv)
{
	char buf[256];
	read_fn fn;
	void *lib;

	if (argc != 2) {
		fprintf(stderr, "usage: dlstack LIB\n");
		return 2;
	}
	if (phase("before") || read_body(0, buf, sizeof(buf)) < 0)
		return 1;
	lib = dlopen(argv[1], RTLD_NOW);
	fn = lib ? (read_fn)dlsym(lib, "lib_read_body") : NULL;
	if (!fn) {
		fprintf(stderr, "dlstack: %s\n", dlerror());
		return 1;
	}
	if (phase("after") || fn(0, buf, sizeof(buf)) < 0)
		return 1;
	AFTER_CALL();
	return 0;
}
