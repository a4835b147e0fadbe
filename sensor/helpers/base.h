/* Base layer (falco-libs style: base -> extract -> store -> programs): includes, constants, config,
 * interest, self-filter, counters and the per-CPU workspace. */
#ifndef LANNER_HELPERS_BASE_H
#define LANNER_HELPERS_BASE_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "gen/lanner_events.h"
#include "lanner_abi.h"
#include "maps.h"

/* x86_64 syscall numbers (vmlinux.h carries no __NR_ macros). */
#define LANNER_NR_OPEN 2
#define LANNER_NR_CONNECT 42
#define LANNER_NR_CLONE 56
#define LANNER_NR_FORK 57
#define LANNER_NR_VFORK 58
#define LANNER_NR_EXECVE 59
#define LANNER_NR_CREAT 85
#define LANNER_NR_OPENAT 257
#define LANNER_NR_EXECVEAT 322
#define LANNER_NR_CLONE3 435
#define LANNER_NR_OPENAT2 437
#define LANNER_NR_INIT_MODULE 175
#define LANNER_NR_FINIT_MODULE 313

#define LANNER_AT_FDCWD (-100)
#define LANNER_O_WRONLY 01
#define LANNER_O_CREAT 0100
#define LANNER_O_TRUNC 01000

#define LANNER_AF_UNIX 1
#define LANNER_AF_INET 2
#define LANNER_AF_INET6 10

#define LANNER_S_IFMT 00170000
#define LANNER_S_IFSOCK 0140000

#define LANNER_PF_KTHREAD 0x00200000
#define LANNER_CLONE_THREAD 0x00010000

/* Superblock magics (include/uapi/linux/magic.h). */
#define LANNER_PIPEFS_MAGIC 0x50495045
#define LANNER_SOCKFS_MAGIC 0x534F434B
#define LANNER_ANON_INODE_FS_MAGIC 0x09041934
#define LANNER_TMPFS_MAGIC 0x01021994
#define LANNER_HUGETLBFS_MAGIC 0x958458f6
#define LANNER_OVERLAYFS_SUPER_MAGIC 0x794c7630
#define LANNER_NSFS_MAGIC 0x6e736673
#define LANNER_PIDFS_MAGIC 0x50494446

/* kfunc (Linux 6.2+): a read-only BTF pointer of type btf_id at obj, for direct loads. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

#define lanner__container_of(ptr, type, member) \
	((type *)((void *)(ptr) - bpf_core_field_offset(type, member)))

static __always_inline void counters__inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&lanner_counters, &which);
	if (v)
		*v += 1;
}

static __always_inline struct lanner_config *config__get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&lanner_cfg, &zero);
}

/* The interest bits of an event type (LANNER_INTEREST_*); 0 when it is not captured. */
static __always_inline __u32 interest__flags(__u32 type)
{
	__u32 *v = bpf_map_lookup_elem(&lanner_interest, &type);
	return v ? *v : 0;
}

/* First check of every program: is this event type wanted at all? */
static __always_inline bool interest__wanted(__u32 type)
{
	return interest__flags(type) & LANNER_INTEREST_CAPTURE;
}

/* True when the current process is one the sensor must not see (itself, by default). */
static __always_inline bool filter__ignored_tgid(__u32 tgid)
{
	struct lanner_config *cfg = config__get();
	if (!cfg)
		return false;
	__u32 n = cfg->n_ignored;
#pragma unroll
	for (int i = 0; i < LANNER_MAX_IGNORED; i++) {
		if (i < n && cfg->ignored_tgids[i] == tgid)
			return true;
	}
	return false;
}


/* The CPU's workspace, marked busy. A program preempted on this CPU by another task running a Lanner
 * program makes the second one drop its record (counted) instead of corrupting the first. */
/* The CPU's workspace, for a record of the task whose bpf_get_current_pid_tgid() is pt (store__begin
 * writes it into the header: one helper call per record, not one per use; every helper return is an SRSO
 * return thunk on this machine kind). NULL when a program on this CPU is already building a record (counted). */
static __always_inline struct lanner_scratch *scratch__acquire(__u64 pt)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct lanner_scratch *s = bpf_map_lookup_elem(&lanner_scratch, &cpu);
	if (!s)
		return NULL;
	if (s->busy) {
		counters__inc(LANNER_CNT_SCRATCH_BUSY);
		return NULL;
	}
	s->busy = 1;
	s->pt = pt;
	return s;
}

/* The workspace for a record of the current task; NULL when the task is ignored (the sensor itself) or the
 * workspace is busy. */
static __always_inline struct lanner_scratch *scratch__for_current(void)
{
	__u64 pt = bpf_get_current_pid_tgid();
	if (filter__ignored_tgid(pt >> 32))
		return NULL;
	return scratch__acquire(pt);
}

static __always_inline void scratch__release(struct lanner_scratch *s)
{
	s->busy = 0;
}

#endif /* LANNER_HELPERS_BASE_H */
