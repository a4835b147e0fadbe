/* BTF-defined maps of the Lanner sensor. The layout of what userspace reads and writes is in lanner_abi.h. */
#ifndef LANNER_MAPS_H
#define LANNER_MAPS_H

/* Record workspace: offsets into rec are masked to 16 bits, and the largest single write is below
 * LANNER_ARGV_MAX, so every masked write stays inside the array. The write offset and the path walk's
 * component count live here rather than on the stack on purpose: the verifier does not track values
 * in map memory, so the bpf_loop callbacks that advance them verify once instead of once per
 * possible offset (tracked on the stack, they exhausted the 1M-instruction budget). */
#define LANNER_REC_MASK 0xFFFF
#define LANNER_REC_BYTES (65536 + LANNER_ARGV_MAX)

struct lanner_scratch {
	__u32 busy;                                   /* set while a program on this CPU builds a record */
	__u32 off;                                    /* bytes of rec written so far */
	__u32 ncomp;                                  /* path walk: components found */
	__u32 pad;
	__u64 pt;                                     /* the task's bpf_get_current_pid_tgid() (scratch__acquire) */
	__u64 comp_name[LANNER_PATH_COMPONENTS];      /* path walk: name pointer of each component, leaf first */
	__u32 comp_len[LANNER_PATH_COMPONENTS];       /* path walk: name length of each component */
	/* path__normalize's state (see the note above: in map memory so its bpf_loop callback verifies once) */
	__u32 n_start, n_end, n_w, n_slash, n_clen, n_depth;
	__u8 n_c0, n_c1, n_copy, n_pad;
	__u8 sa[128];                                 /* sockets: a sockaddr passed by the caller or a unix name */
	__u8 rec[LANNER_REC_BYTES];                   /* the record being built: lanner_hdr + fields */
};

/* One ring buffer for every record. Userspace sets its size before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} lanner_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lanner_config);
} lanner_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LANNER_EVT_MAX);
	__type(key, __u32);
	__type(value, __u32);
} lanner_interest SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LANNER_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lanner_counters SEC(".maps");

/* Indexed by CPU number; a plain array because a per-CPU array value is limited to 32 KiB.
 * Userspace sets max_entries to the number of possible CPUs before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct lanner_scratch);
} lanner_scratch SEC(".maps");

/* Threads inside execveat: set at sys_enter_execveat (key: tid), taken by sched_process_exec
 * (key: its old_pid) or cleared at sys_exit_execveat. The saved syscall number cannot tell execve
 * from execveat there: by sched_process_exec it reads as execve on this kernel. LRU, so entries of
 * threads killed mid-exec age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} lanner_execveat SEC(".maps");

/* Files opened for writing (or created), by the last process that did: set by the open family's programs,
 * read at exec for exe_flags bit 4 ("the process or its parent wrote the file it runs"). LRU: old entries
 * age out. */
struct lanner_file_key {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lanner_file_key);
	__type(value, __u32);
} lanner_written SEC(".maps");

/* close(2): the record built at sys_enter_close (the fd's path is gone by the exit), keyed by tid, finished
 * by sys_exit_close with the result. LRU, so a thread killed inside close leaves nothing behind for long. */
#define LANNER_PENDING_BYTES 4136 /* a close record with the longest path: 20 + 8 + 4 + 2 + 4095, rounded up */

struct lanner_pending {
	__u8 rec[LANNER_PENDING_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, struct lanner_pending);
} lanner_pending SEC(".maps");

#endif /* LANNER_MAPS_H */
