// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * bench/floor.bpf.c: the physical floor of bpf-threadwatch's hooks. One EMPTY program
 * (return 0) on every hook the agent attaches to, in both flavours the agent has (tp_btf,
 * raw_tp), with the agent's own program names, so a per-program table can put each of our
 * programs next to the empty one on the same hook. Whatever these cost a workload is the
 * price of having a BPF program on those hooks at all (the tracepoint dispatch, the BPF
 * trampoline or raw_tp glue, and for sys_enter/sys_exit the traced syscall path every task
 * then takes); what bpf-threadwatch costs above them is what its programs' bodies cost.
 *
 * The pst_* programs are the alternative under measurement (issue 10): empty programs on
 * the per-syscall tracepoints (syscalls/sys_enter_X, sys_exit_X) of the calls the agent
 * times (enum tw_call in bpf/threadwatch.h, user/calls.c), instead of raw sys_enter/
 * sys_exit; floorload -P attaches them in place of the raw pair. getpid is not among them:
 * bench/getpid.c measures what an untimed call pays while they are attached.
 * Loaded and attached by bench/floorload.c for bench/run.sh; a benchmark, not a test.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* bpf/sched.bpf.c */
SEC("tp_btf/sched_switch")
int BPF_PROG(tp_btf_sched_switch)
{
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(raw_tp_sched_switch)
{
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(tp_btf_sched_wakeup)
{
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(raw_tp_sched_wakeup)
{
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(tp_btf_sched_wakeup_new)
{
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(raw_tp_sched_wakeup_new)
{
	return 0;
}

/* bpf/threads.bpf.c */
SEC("tp_btf/task_newtask")
int BPF_PROG(tp_btf_task_newtask)
{
	return 0;
}

SEC("raw_tp/task_newtask")
int BPF_PROG(raw_tp_task_newtask)
{
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_btf_sched_process_exit)
{
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(raw_tp_sched_process_exit)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone")
int handle_enter_clone(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int handle_enter_clone3(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone")
int handle_exit_clone(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int handle_exit_clone3(void *ctx)
{
	return 0;
}

/* bpf/syscalls.bpf.c: floorload -S leaves these out, as the agent's --no-syscalls does */
SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter)
{
	return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(raw_tp_sys_enter)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_btf_sys_exit)
{
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_tp_sys_exit)
{
	return 0;
}

/*
 * Per-syscall tracepoints, one empty program on the entry and one on the exit of each
 * timed call. The kernel fills a trace record with the call's arguments (entry) or its
 * return value (exit) before it runs a program there (perf_syscall_enter/exit): that fill
 * and the tracepoint's own dispatch are what this floor measures, on top of the traced
 * syscall slow path that any syscall tracepoint turns on for every task.
 */
#define PST(call)                                   \
	SEC("tracepoint/syscalls/sys_enter_" #call) \
	int pst_e_##call(void *ctx)                 \
	{                                           \
		return 0;                           \
	}                                           \
	SEC("tracepoint/syscalls/sys_exit_" #call)  \
	int pst_x_##call(void *ctx)                 \
	{                                           \
		return 0;                           \
	}

PST(read)
PST(write)
PST(readv)
PST(writev)
PST(pread64)
PST(pwrite64)
PST(recvfrom)
PST(sendto)
PST(recvmsg)
PST(sendmsg)
PST(epoll_wait)
PST(epoll_pwait)
PST(epoll_pwait2)
PST(poll)
PST(ppoll)
PST(select)
PST(pselect6)
PST(futex)
PST(nanosleep)
PST(clock_nanosleep)
PST(connect)
PST(accept)
PST(accept4)
PST(fsync)
PST(fdatasync)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
