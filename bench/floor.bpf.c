// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * bench/floor.bpf.c: the physical floor of bpf-threadwatch's hooks. One EMPTY program
 * (return 0) on every hook the agent attaches to, in both flavours the agent has (tp_btf,
 * raw_tp), with the agent's own program names, so a per-program table can put each of our
 * programs next to the empty one on the same hook. Whatever these cost a workload is the
 * price of having a BPF program on those hooks at all (the tracepoint dispatch, the BPF
 * trampoline or raw_tp glue, and for sys_enter/sys_exit the traced syscall path every task
 * then takes); what bpf-threadwatch costs above them is what its programs' bodies cost.
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
