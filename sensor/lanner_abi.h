/* Lanner sensor ABI: what userspace (Sources/LannerSensorAgent/BPFProbe.swift, sensor/bench/loader.c)
 * writes into and reads from the eBPF object's maps, besides the wire records themselves
 * (sensor/gen/lanner_events.h). Hand-written, small, and checked: the Swift loader refuses an object
 * whose map value sizes differ from the ones below.
 *
 * Maps (BTF-defined in sensor/maps.h):
 *   lanner_events    RINGBUF                 wire records; size set before load (power of two, 1 to 256 MiB; default 2 MiB per CPU, 4 to 64)
 *   lanner_cfg       ARRAY[1]                struct lanner_config
 *   lanner_interest  ARRAY[LANNER_EVT_MAX]   __u32 per event id: 0 = switched off, else LANNER_INTEREST_* bits
 *   lanner_counters  PERCPU_ARRAY[LANNER_CNT_MAX]  __u64 per CPU: enum lanner_counter
 *   lanner_scratch   ARRAY[ncpu]             per-CPU record and path workspace (kernel only; max_entries = possible CPUs)
 *   lanner_execveat  LRU_HASH                threads inside execveat (kernel only)
 */
#ifndef LANNER_ABI_H
#define LANNER_ABI_H

#define LANNER_MAX_IGNORED 8

/* The one value of the `config` map. Little-endian, natural alignment, 48 bytes. */
struct lanner_config {
	__u64 wakeup_bytes;                         /* offset 0: wake the consumer when this many bytes are pending */
	__u32 argv_limit;                           /* offset 8: max bytes of argv per exec record (1..LANNER_ARGV_MAX-1) */
	__u32 n_ignored;                            /* offset 12: used entries of ignored_tgids */
	__u32 ignored_tgids[LANNER_MAX_IGNORED];    /* offset 16: processes whose events are dropped in the kernel */
};
#define LANNER_CONFIG_SIZE 48

/* Values of the `interest` map. CAPTURE: the event id is captured. OMIT_NAMERAW (open, openat, openat2,
 * creat): leave the nameraw field empty, because no loaded rule reads the path as passed. Reading it is a
 * user-memory read, the single most expensive step of an open record on this machine kind (~180 ns of ~580). */
#define LANNER_INTEREST_CAPTURE 1u
#define LANNER_INTEREST_OMIT_NAMERAW 2u

/* Keys of the `counters` map; each value is one __u64 per CPU. */
enum lanner_counter {
	LANNER_CNT_EMITTED = 0,        /* records written to the ring buffer */
	LANNER_CNT_RINGBUF_FULL = 1,   /* records lost: bpf_ringbuf_output failed */
	LANNER_CNT_READ_FAILURES = 2,  /* user/kernel reads that failed; the record went out with what was read */
	LANNER_CNT_SCRATCH_BUSY = 3,   /* records lost: the CPU's workspace was in use (program preempted) */
	LANNER_CNT_PATH_TRUNCATED = 4, /* paths cut short (too many components or too long) */
	LANNER_CNT_MAX = 5,
};

/* Hard limits of the kernel side. */
#define LANNER_PATH_MAX 4096          /* bytes of one resolved path */
#define LANNER_PATH_COMPONENTS 64     /* dentries walked per path */
#define LANNER_ARGV_MAX 32768         /* argv_limit must be below this */
#define LANNER_RECORD_MAX 65535       /* u16 hdr.len */

#endif /* LANNER_ABI_H */
