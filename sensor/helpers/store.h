/* Store layer: building one wire record in the CPU's workspace and handing it to the ring buffer.
 *
 * A record is built front to back: store__begin writes the common header and reserves the fixed part
 * (filled by the caller through a struct lanner_evt_<name> pointer), then each variable field is
 * store__var_begin, one or more store__append_* calls, store__var_end (which patches the u16 length).
 * Offsets are masked with LANNER_REC_MASK before every access, so the verifier sees bounded writes. */
#ifndef LANNER_HELPERS_STORE_H
#define LANNER_HELPERS_STORE_H

#include "base.h"

struct rec {
	struct lanner_scratch *s; /* the record and its write offset s->off */
};

static __always_inline void *store__begin(struct rec *r, struct lanner_scratch *s, __u16 type, __u32 fixed_size)
{
	r->s = s;
	struct lanner_hdr *h = (void *)s->rec;
	h->len = 0;
	h->type = type;
	h->pid = s->pt >> 32;
	h->tid = (__u32)s->pt;
	h->ts = bpf_ktime_get_boot_ns();
	r->s->off = fixed_size;
	return s->rec;
}

static __always_inline void store__set_type(struct rec *r, __u16 type)
{
	struct lanner_hdr *h = (void *)r->s->rec;
	h->type = type;
}

/* Opens a variable field: returns the position of its length prefix. */
static __always_inline __u32 store__var_begin(struct rec *r)
{
	__u32 p = r->s->off & LANNER_REC_MASK;
	r->s->off = p + 2;
	return p;
}

static __always_inline void store__var_end(struct rec *r, __u32 p)
{
	__u32 n = r->s->off - p - 2;
	p &= LANNER_REC_MASK;
	r->s->rec[p] = n & 0xff;
	r->s->rec[(p + 1) & LANNER_REC_MASK] = (n >> 8) & 0xff;
}

static __always_inline void store__append_byte(struct rec *r, __u8 b)
{
	__u32 off = r->s->off & LANNER_REC_MASK;
	r->s->rec[off] = b;
	r->s->off = off + 1;
}

/* Last byte written in the current field, or -1 when the field is empty. */
static __always_inline int store__last_byte(struct rec *r, __u32 field)
{
	if (r->s->off <= field + 2)
		return -1;
	return r->s->rec[(r->s->off - 1) & LANNER_REC_MASK];
}

/* A NUL-terminated kernel string, without its NUL, at most max-1 bytes (max: a constant). */
static __always_inline long store__append_kstr(struct rec *r, const void *src, __u32 max)
{
	__u32 off = r->s->off & LANNER_REC_MASK;
	long n = bpf_probe_read_kernel_str(&r->s->rec[off], max, src);
	if (n < 0) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return n;
	}
	if (n > 0)
		n--;
	r->s->off = off + (__u32)n;
	return n;
}

/* Same for a user string. keep_nul keeps the terminator (strlist items). */
static __always_inline long store__append_ustr(struct rec *r, const void *src, __u32 max, bool keep_nul)
{
	__u32 off = r->s->off & LANNER_REC_MASK;
	long n = bpf_probe_read_user_str(&r->s->rec[off], max, src);
	if (n < 0) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return n;
	}
	if (n > 0 && !keep_nul)
		n--;
	r->s->off = off + (__u32)n;
	return n;
}

/* n bytes of user memory (n < LANNER_ARGV_MAX). On a fault nothing is appended. */
static __always_inline long store__append_ubytes(struct rec *r, const void *src, __u32 n)
{
	__u32 off = r->s->off & LANNER_REC_MASK;
	n &= (LANNER_ARGV_MAX - 1);
	long err = bpf_probe_read_user(&r->s->rec[off], n, src);
	if (err) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return err;
	}
	r->s->off = off + n;
	return n;
}

/* n bytes (n <= 255) of kernel memory. */
static __always_inline long store__append_kbytes(struct rec *r, const void *src, __u32 n)
{
	__u32 off = r->s->off & LANNER_REC_MASK;
	n &= 0xff;
	long err = bpf_probe_read_kernel(&r->s->rec[off], n, src);
	if (err) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return err;
	}
	r->s->off = off + n;
	return n;
}

/* A decimal number. One bpf_snprintf call: the unrolled digit loop it replaces cost the verifier
 * ~30k instructions per call site (every digit-count branch explored). */
static __always_inline void store__append_u64(struct rec *r, __u64 v)
{
	static const char fmt[] = "%llu";
	__u64 args[1] = { v };
	__u32 off = r->s->off & LANNER_REC_MASK;
	long n = bpf_snprintf((char *)&r->s->rec[off], 24, fmt, args, sizeof(args));
	if (n < 1 || n > 24) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return;
	}
	r->s->off = off + (__u32)(n - 1); /* n counts the NUL */
}

#define store__append_lit(r, lit)                                \
	do {                                                     \
		_Pragma("unroll") for (int _i = 0; _i < (int)sizeof(lit) - 1; _i++) \
			store__append_byte((r), (lit)[_i]);      \
	} while (0)

/* An empty variable field. */
static __always_inline void store__empty(struct rec *r)
{
	__u32 p = store__var_begin(r);
	store__var_end(r, p);
}

/* A whole variable field holding a kernel string. */
static __always_inline void store__kstr_field(struct rec *r, const void *src, __u32 max)
{
	__u32 p = store__var_begin(r);
	if (src)
		store__append_kstr(r, src, max);
	store__var_end(r, p);
}

static __always_inline void store__ustr_field(struct rec *r, const void *src, __u32 max)
{
	__u32 p = store__var_begin(r);
	if (src)
		store__append_ustr(r, src, max, false);
	store__var_end(r, p);
}

/* The ring-buffer flags for a record of len bytes: wake the consumer when this record makes the
 * pending bytes cross a multiple of config.wakeup_bytes (0: every record); otherwise not, and userspace
 * drains on its own timer. Once per threshold, not on every record above it: a forced wake-up is an
 * irq_work self-IPI (an APIC write, a VM exit under KVM), and a consumer that is slow to run would
 * otherwise get one per record until it drains. Two CPUs crossing the same multiple at once can both
 * read the pending count from before the other's record and miss it; the next multiple, or the
 * consumer's timer, wakes it then. */
static __always_inline __u64 ringbuf__wake_flags(__u32 len)
{
	struct lanner_config *cfg = config__get();
	__u64 wake = cfg ? cfg->wakeup_bytes : 0;
	if (!wake)
		return BPF_RB_FORCE_WAKEUP;
	__u64 avail = bpf_ringbuf_query(&lanner_events, BPF_RB_AVAIL_DATA);
	return (avail / wake != (avail + len) / wake) ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Copies len bytes of a finished record (hdr.len already set) into the ring buffer; counted either way. */
static __always_inline void ringbuf__output(void *data, __u32 len)
{
	if (bpf_ringbuf_output(&lanner_events, data, len, ringbuf__wake_flags(len)))
		counters__inc(LANNER_CNT_RINGBUF_FULL);
	else
		counters__inc(LANNER_CNT_EMITTED);
}

/* Writes hdr.len into the record being built; returns the length, or 0 when it cannot be a record. */
static __always_inline __u32 store__finish(struct rec *r)
{
	__u32 len = r->s->off;
	if (len > LANNER_RECORD_MAX) {
		/* Cannot happen with the field limits in lanner_abi.h; kept as a guard. */
		counters__inc(LANNER_CNT_PATH_TRUNCATED);
		return 0;
	}
	barrier_var(len); /* keep the mask below: clang would drop it after the check above */
	len &= 0xFFFF;
	struct lanner_hdr *h = (void *)r->s->rec;
	h->len = len;
	return len;
}

/* Writes hdr.len and outputs the record built in the workspace. */
static __always_inline void ringbuf__submit(struct rec *r)
{
	__u32 len = store__finish(r);
	if (len)
		ringbuf__output(r->s->rec, len);
}

/* Records with fixed fields only skip the workspace: reserved in the ring buffer at their exact size
 * (a constant), filled in place, submitted. A full ring is counted. */
static __always_inline void *fixed__reserve(__u16 type, __u32 size, __u64 pt)
{
	struct lanner_hdr *h = bpf_ringbuf_reserve(&lanner_events, size, 0);
	if (!h) {
		counters__inc(LANNER_CNT_RINGBUF_FULL);
		return NULL;
	}
	h->len = size;
	h->type = type;
	h->pid = pt >> 32;
	h->tid = (__u32)pt;
	h->ts = bpf_ktime_get_boot_ns();
	return h;
}

static __always_inline void fixed__submit(void *e, __u32 size)
{
	bpf_ringbuf_submit(e, ringbuf__wake_flags(size));
	counters__inc(LANNER_CNT_EMITTED);
}

#endif /* LANNER_HELPERS_STORE_H */
