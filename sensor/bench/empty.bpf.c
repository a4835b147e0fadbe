// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* The cost floor for bench/overhead.sh: Lanner's hooks with programs that return at once, plus a
 * raw_tracepoint/sys_exit variant with a syscall-id filter (attached only when asked for: see
 * bench/overhead.sh, which loads the object with `--only`). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sched_process_exec") int BPF_PROG(e_exec) { return 0; }
SEC("tp_btf/sched_process_fork") int BPF_PROG(e_fork) { return 0; }
SEC("tp_btf/sched_process_exit") int BPF_PROG(e_exit) { return 0; }
SEC("tracepoint/syscalls/sys_enter_execveat") int e_enter_execveat(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_exit_execve") int e_execve(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_exit_execveat") int e_execveat(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_exit_open") int e_open(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_exit_openat") int e_openat(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_exit_openat2") int e_openat2(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_exit_creat") int e_creat(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_exit_connect") int e_connect(void *ctx) { return 0; }

/* One program for every syscall exit, filtering on the syscall number (the alternative design). */
SEC("raw_tracepoint/sys_exit")
int rawtp_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = BPF_CORE_READ(regs, orig_ax);
	switch (nr) {
	case 2: case 42: case 59: case 85: case 257: case 322: case 437:
		return 1;
	}
	return 0;
}
