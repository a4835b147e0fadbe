// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* The alternative attach strategy, for bench/overhead.sh: Lanner's lifecycle hooks plus one
 * raw_tracepoint/sys_enter and one raw_tracepoint/sys_exit program that test a per-syscall bitmap (the
 * design of Falco's modern probe: every syscall of every process runs both, wanted or not). Empty beyond
 * the bitmap test, so it is this design's floor. The bitmap is set by nobody: getppid is not in it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u8);
} rawtp_wanted SEC(".maps");

SEC("tp_btf/sched_process_exec") int BPF_PROG(lanner_sched_exec) { return 0; }
SEC("tp_btf/sched_process_fork") int BPF_PROG(lanner_sched_fork) { return 0; }
SEC("tp_btf/sched_process_exit") int BPF_PROG(lanner_sched_exit) { return 0; }

static __always_inline int rawtp__wanted(struct pt_regs *regs)
{
	__u32 nr = BPF_CORE_READ(regs, orig_ax);
	__u8 *on = bpf_map_lookup_elem(&rawtp_wanted, &nr);
	return on && *on;
}

SEC("raw_tracepoint/sys_enter")
int rawtp_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	return rawtp__wanted((struct pt_regs *)ctx->args[0]);
}

SEC("raw_tracepoint/sys_exit")
int rawtp_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	return rawtp__wanted((struct pt_regs *)ctx->args[0]);
}
