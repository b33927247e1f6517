// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
/*
 * Stalls' on-CPU stacks: perf_event_open(PERF_COUNT_SW_CPU_CLOCK) on each
 * CPU (pid -1: whatever runs there), a fixed period of 1 s / TW_ONCPU_HZ,
 * the BPF program of bpf/oncpu.bpf.c attached to each. A software event:
 * no PMU needed, so it works in VMs, but perf_event_paranoid or a missing
 * CAP_PERFMON can refuse it, and then the stalls carry their blocked
 * stacks only, said once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <bpf/libbpf.h>
#include "oncpu.h"

static int perf_open(struct perf_event_attr *attr, int cpu)
{
	return (int)syscall(__NR_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

static void note_off(int err, const char *what)
{
	const char *hint = "";

	if (err == -EACCES || err == -EPERM)
		hint = " (needs root or CAP_PERFMON; see /proc/sys/kernel/perf_event_paranoid)";
	else if (err == -ENOENT || err == -EOPNOTSUPP || err == -ENOSYS)
		hint = " (this kernel has no cpu-clock perf events)";
	fprintf(stderr,
		"bpf-threadwatch: note: %s: %s%s; event-loop stalls are listed with their "
		"blocked stacks only, not where they ran on CPU\n",
		what, strerror(-err), hint);
}

int oncpu_start(struct tw_oncpu *o, struct bpf_program *prog)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_period = 1000000000ULL / TW_ONCPU_HZ,
	};
	int ncpu = libbpf_num_possible_cpus(), err = 0;

	memset(o, 0, sizeof(*o));
	if (ncpu <= 0) {
		note_off(ncpu < 0 ? ncpu : -ENODEV, "cannot count the CPUs");
		return ncpu < 0 ? ncpu : -ENODEV;
	}
	o->links = calloc((size_t)ncpu, sizeof(struct bpf_link *));
	if (!o->links) {
		err = -ENOMEM;
		note_off(err, "on-CPU sampling");
		goto fail;
	}
	o->period_ns = attr.sample_period;
	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct bpf_link *l;
		int fd = perf_open(&attr, cpu);

		if (fd < 0 && errno == ENODEV)
			continue; /* a possible CPU that is offline */
		if (fd < 0) {
			err = -errno;
			note_off(err, "perf_event_open(cpu-clock)");
			goto fail;
		}
		l = bpf_program__attach_perf_event(prog, fd);
		if (!l) {
			err = -errno;
			close(fd);
			note_off(err, "attaching the on-CPU sampler");
			goto fail;
		}
		o->links[o->n++] = l; /* it owns fd now: closed when it is destroyed */
	}
	if (!o->n) {
		err = -ENODEV;
		note_off(err, "no online CPU to sample");
		goto fail;
	}
	return 0;
fail:
	oncpu_stop(o);
	return err;
}

void oncpu_stop(struct tw_oncpu *o)
{
	for (size_t i = 0; o->links && i < o->n; i++)
		bpf_link__destroy(o->links[i]);
	free(o->links);
	memset(o, 0, sizeof(*o));
}
