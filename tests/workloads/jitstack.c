// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * jitstack: JIT code as runtimes make it, for the perf map. It writes a function into an
 * anonymous mapping (then made PROT_READ|PROT_EXEC), names it in /tmp/perf-PID.map as JIT
 * runtimes do ("START SIZE name", hex), and calls it from jit_caller; the function keeps a
 * frame pointer, as JIT code does, and blocks in read(2) itself (a syscall instruction in the
 * JIT code) on a pipe whose write end the process holds. x86_64 only.
 *
 * Prints, flushed, before it blocks, ONE JSON line:
 *   {"workload":"jitstack","pid":P,"fd":R,"code":ADDR,"size":N,"name":"jit_read_body",
 *    "perf_map":PATH,"syscall_end":OFF}
 * syscall_end: the offset in the code just past its syscall instruction (the pc while blocked).
 * The perf map is removed at exit by the test (the process is killed while it blocks).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__clang__)
#define FRAME __attribute__((noinline, used))
#else
#define FRAME __attribute__((noipa, used))
#endif
#define AFTER_CALL() __asm__ volatile("" ::: "memory")

typedef long (*jit_fn)(int fd, void *buf, size_t len);

/* push %rbp; mov %rsp,%rbp; xor %eax,%eax (SYS_read); syscall; pop %rbp; ret */
static const unsigned char jit_read_body[] = { 0x55, 0x48, 0x89, 0xe5, 0x31,
					       0xc0, 0x0f, 0x05, 0x5d, 0xc3 };
#define SYSCALL_END 8

FRAME long jit_caller(jit_fn fn, int fd)
{
	char buf[64];
	long n = fn(fd, buf, sizeof(buf));

	AFTER_CALL();
	return n;
}

int main(void)
{
#if defined(__x86_64__)
	size_t size = sizeof(jit_read_body);
	char path[64];
	unsigned char *code;
	int fds[2];
	FILE *f;

	if (pipe(fds)) {
		perror("jitstack: pipe");
		return 1;
	}
	code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED) {
		perror("jitstack: mmap");
		return 1;
	}
	/* somewhere inside the page, as JIT code sits after other code */
	code += 0x100;
	memcpy(code, jit_read_body, size);
	if (mprotect(code - 0x100, 4096, PROT_READ | PROT_EXEC)) {
		perror("jitstack: mprotect");
		return 1;
	}
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	f = fopen(path, "w");
	if (!f) {
		perror("jitstack: perf map");
		return 1;
	}
	/* a neighbour first, then ours, as a JIT appends */
	fprintf(f, "%lx 10 jit_other\n%lx %zx jit_read_body\n",
		(unsigned long)(uintptr_t)code + 0x200, (unsigned long)(uintptr_t)code, size);
	if (fclose(f)) {
		perror("jitstack: perf map");
		return 1;
	}
	printf("{\"workload\":\"jitstack\",\"pid\":%d,\"fd\":%d,\"code\":%lu,\"size\":%zu,"
	       "\"name\":\"jit_read_body\",\"perf_map\":\"%s\",\"syscall_end\":%d}\n",
	       (int)getpid(), fds[0], (unsigned long)(uintptr_t)code, size, path, SYSCALL_END);
	if (fflush(stdout))
		return 1;
	return jit_caller((jit_fn)(uintptr_t)code, fds[0]) < 0;
#else
	fprintf(stderr, "jitstack: x86_64 only\n");
	return 2;
#endif
}
