#include <bpf/libbpf.h>
#include <bpf/bpf.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <malloc.h>
#include <sys/syscall.h>
#include <unistd.h>

/* statx(2) of what path names (symlinks followed): mode, owner, group and the immutable attribute.
 * Returns 0 or -errno. A shim because glibc declares statx only under _GNU_SOURCE. */
static inline int lanner_c_statx(const char *path, unsigned *mode, unsigned *uid, unsigned *gid, int *immutable)
{
	struct statx sx;
	if (syscall(__NR_statx, AT_FDCWD, path, 0, STATX_MODE | STATX_UID | STATX_GID, &sx) != 0)
		return -errno;
	*mode = sx.stx_mode;
	*uid = sx.stx_uid;
	*gid = sx.stx_gid;
	*immutable = (sx.stx_attributes_mask & STATX_ATTR_IMMUTABLE) && (sx.stx_attributes & STATX_ATTR_IMMUTABLE);
	return 0;
}

/* ---- lanner_ring: a BPF ring-buffer consumer that maps the data pages once ----
 *
 * libbpf's ring_buffer maps a ring's data pages twice, back to back, so that a record wrapping the end
 * reads as one piece; the process's RSS then counts the ring twice (32 MiB for a 16 MiB ring).
 * This consumer maps them once and copies the rare wrapping record into a buffer of its own. Same
 * protocol as libbpf's ringbuf_process_ring (kernel/bpf/ringbuf.c): 8-byte header {len, pg_off} with
 * BUSY (bit 31) and DISCARD (bit 30) in len, records 8-byte aligned, producer and length read with
 * acquire, consumer position published with release. One thread at a time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>

struct lanner_ring {
	int epoll_fd;
	size_t page, size, mask, wrap_cap;
	unsigned long *consumer_pos; /* the consumer page, read-write */
	unsigned long *producer_pos; /* the producer page, read-only; the data follows it */
	unsigned char *data;
	unsigned char *wrap;         /* a wrapping record, made contiguous */
};

#define LANNER_RING_BUSY (1U << 31)
#define LANNER_RING_DISCARD (1U << 30)
#define LANNER_RING_HDR 8

static inline void lanner_ring_free(struct lanner_ring *r)
{
	if (!r)
		return;
	if (r->consumer_pos)
		munmap(r->consumer_pos, r->page);
	if (r->producer_pos)
		munmap(r->producer_pos, r->page + r->size);
	if (r->epoll_fd >= 0)
		close(r->epoll_fd);
	free(r->wrap);
	free(r);
}

/* The consumer of ring-buffer map map_fd of size bytes (a power of two, the map's max_entries), for
 * records of at most max_record bytes. NULL with errno set when a mapping or the epoll set fails. */
static inline struct lanner_ring *lanner_ring_new(int map_fd, size_t size, size_t max_record)
{
	struct lanner_ring *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->epoll_fd = -1;
	r->page = (size_t)sysconf(_SC_PAGESIZE);
	r->size = size;
	r->mask = size - 1;
	r->wrap_cap = max_record;
	int err = 0;
	void *c = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (c == MAP_FAILED) { err = errno; goto fail; }
	r->consumer_pos = c;
	void *p = mmap(NULL, r->page + size, PROT_READ, MAP_SHARED, map_fd, (off_t)r->page);
	if (p == MAP_FAILED) { err = errno; goto fail; }
	r->producer_pos = p;
	r->data = (unsigned char *)p + r->page;
	r->wrap = malloc(max_record);
	if (!r->wrap) { err = ENOMEM; goto fail; }
	r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epoll_fd < 0) { err = errno; goto fail; }
	/* Edge-triggered: epoll_wait returns on the kernel's wake-ups (one per wakeup_bytes crossed, see
	 * sensor/helpers/store.h) or the timeout. Level-triggered, it returned at once whenever a record was
	 * pending, and a consumer with work of its own between drains came back to a non-empty ring every
	 * time: it spun at a few records per drain (2.7 s of CPU per 5 s at 260k records/s). A wake-up that
	 * comes during a drain stays queued for the next epoll_wait, so none is lost. */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, map_fd, &ev) < 0) { err = errno; goto fail; }
	return r;
fail:
	lanner_ring_free(r);
	errno = err;
	return NULL;
}

/* Hands every committed record to fn(ctx, data, size) in order; stops at a record still being written,
 * and after one ring's worth of bytes (so that a producer faster than the consumer cannot keep the caller
 * here for ever: the next call goes on). Returns the number of records handed over, or -EINVAL for a
 * record longer than max_record (the ring is then left where it was: a corrupt ring must not be skipped
 * silently). A negative return of fn stops the drain after that record and is returned. */
static inline long lanner_ring_consume(struct lanner_ring *r, ring_buffer_sample_fn fn, void *ctx)
{
	unsigned long cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	unsigned long limit = cons + r->size;
	long n = 0;
	for (;;) {
		unsigned long prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
		if (prod > limit)
			prod = limit;
		if (cons >= prod)
			return n;
		while (cons < prod) {
			size_t off = cons & r->mask;
			uint32_t len = __atomic_load_n((uint32_t *)(r->data + off), __ATOMIC_ACQUIRE);
			if (len & LANNER_RING_BUSY)
				return n;
			uint32_t size = len & ~(LANNER_RING_BUSY | LANNER_RING_DISCARD);
			if (size > r->wrap_cap)
				return -EINVAL;
			unsigned long next = cons + ((size + LANNER_RING_HDR + 7) & ~7UL);
			int rc = 0;
			if (!(len & LANNER_RING_DISCARD)) {
				size_t start = (off + LANNER_RING_HDR) & r->mask; /* the header never wraps: 8-aligned */
				void *sample = r->data + start;
				if (start + size > r->size) {
					size_t first = r->size - start;
					memcpy(r->wrap, r->data + start, first);
					memcpy(r->wrap + first, r->data, size - first);
					sample = r->wrap;
				}
				rc = fn(ctx, sample, size);
				n++;
			}
			cons = next;
			__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
			if (rc < 0)
				return rc;
		}
	}
}

/* Waits up to timeout_ms for the kernel to signal data (0: not at all), then drains the ring.
 * Returns records handed over, or -errno (-EINTR: interrupted before anything was drained). */
static inline long lanner_ring_poll(struct lanner_ring *r, int timeout_ms, ring_buffer_sample_fn fn, void *ctx)
{
	if (timeout_ms != 0) {
		struct epoll_event ev;
		if (epoll_wait(r->epoll_fd, &ev, 1, timeout_ms) < 0 && errno != EINTR)
			return -errno;
	}
	return lanner_ring_consume(r, fn, ctx);
}

/* ---- attaching by file descriptor ----
 *
 * bpf_program__attach needs the bpf_object, and libbpf keeps every program's instructions, the object's BTF
 * and relocation data in it after load: ~1.8 MiB of the sensor's heap for ~80 programs. These attach a
 * loaded program by its fd, the way libbpf 1.1 does for the section kinds the sensor uses, so the object
 * can be closed once loaded. Each returns a link fd (closing it detaches the program) or -errno. */
#include <linux/perf_event.h>

/* tracepoint/CATEGORY/NAME: a perf event on the tracepoint (id from tracefs events/CATEGORY/NAME/id) and a
 * BPF perf link on it; the link holds the event, so its fd is closed here. */
static inline int lanner_attach_tracepoint(int prog_fd, unsigned long long tracepoint_id)
{
	struct perf_event_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.size = sizeof(attr);
	attr.config = tracepoint_id;
	attr.sample_period = 1;
	attr.wakeup_events = 1;
	int pfd = (int)syscall(__NR_perf_event_open, &attr, -1 /* any process */, 0 /* cpu */, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0)
		return -errno;
	int link = bpf_link_create(prog_fd, pfd, BPF_PERF_EVENT, NULL);
	int err = link < 0 ? (errno ? errno : -link) : 0;
	close(pfd);
	return link < 0 ? -err : link;
}

/* raw_tracepoint/NAME (name given) and tp_btf/NAME (name NULL: the target was fixed at load). */
static inline int lanner_attach_raw_tracepoint(int prog_fd, const char *name)
{
	int link = bpf_raw_tracepoint_open(name, prog_fd);
	return link < 0 ? (errno ? -errno : link) : link;
}
