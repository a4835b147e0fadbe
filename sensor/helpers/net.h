/* Net layer: the ends of a socket, from the kernel's struct sock or from a sockaddr the caller passed.
 *
 * Every socket record carries connect's shape: family, socktype, sport/saddr (the socket's local end),
 * dport/daddr (its remote end), path (AF_UNIX name). struct sock_ends collects them on the stack; the
 * programs copy it into their record. Ports are in host byte order; an IPv4 address fills the first 4
 * bytes of its 16. A user sockaddr is copied into the workspace's `sa` first (at most 128 bytes). */
#ifndef LANNER_HELPERS_NET_H
#define LANNER_HELPERS_NET_H

#include "extract.h"

struct sock_ends {
	__u16 family;
	__u16 socktype;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

static __always_inline __u16 net__ntohs(__u16 v)
{
	return (v >> 8) | (v << 8);
}

/* The struct socket behind fd, or NULL when fd is not an open socket. */
static __always_inline struct socket *net__socket(struct task_struct *t, long fd)
{
	struct file *f = extract__file_from_fd(t, fd);
	if (!f || (f->f_inode->i_mode & LANNER_S_IFMT) != LANNER_S_IFSOCK)
		return NULL;
	return bpf_rdonly_cast(f->private_data, bpf_core_type_id_kernel(struct socket));
}

static __always_inline struct sock *net__sk(struct socket *sock)
{
	return sock ? sock->sk : NULL;
}

/* family and local end of sk */
static __always_inline void net__local(struct sock *sk, struct sock_ends *x)
{
	__u16 family = sk->__sk_common.skc_family;
	x->family = family;
	if (family == LANNER_AF_INET) {
		x->sport = sk->__sk_common.skc_num;
		__u32 a = sk->__sk_common.skc_rcv_saddr;
		__builtin_memcpy(x->saddr, &a, 4);
	} else if (family == LANNER_AF_INET6) {
		x->sport = sk->__sk_common.skc_num;
		bpf_core_read(x->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	}
}

/* remote end of sk (its peer; zero when unconnected) */
static __always_inline void net__remote(struct sock *sk, struct sock_ends *x)
{
	__u16 family = sk->__sk_common.skc_family;
	if (family == LANNER_AF_INET) {
		x->dport = net__ntohs(sk->__sk_common.skc_dport);
		__u32 a = sk->__sk_common.skc_daddr;
		__builtin_memcpy(x->daddr, &a, 4);
	} else if (family == LANNER_AF_INET6) {
		x->dport = net__ntohs(sk->__sk_common.skc_dport);
		bpf_core_read(x->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Copies a sockaddr of len bytes from user memory into s->sa; returns the bytes copied (0: none, or unreadable,
 * which is counted). */
static __always_inline __u32 net__read_user_sa(struct lanner_scratch *s, const void *uaddr, long len)
{
	if (!uaddr || len < 2)
		return 0;
	__u32 n = len > 110 ? 110 : len;
	barrier_var(n);
	n &= 127;
	__builtin_memset(s->sa, 0, sizeof(s->sa));
	if (bpf_probe_read_user(s->sa, n, uaddr)) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return 0;
	}
	return n;
}

/* The address in s->sa (n bytes) as the remote end (dport/daddr), or as the local end (sport/saddr). */
static __always_inline void net__sa_end(struct lanner_scratch *s, __u32 n, struct sock_ends *x, bool local)
{
	__u16 family = *(__u16 *)s->sa;
	x->family = family;
	__u16 port = net__ntohs(*(__u16 *)&s->sa[2]);
	__u8 *addr = local ? x->saddr : x->daddr;
	if (family == LANNER_AF_INET && n >= 8) {
		__builtin_memcpy(addr, &s->sa[4], 4);
	} else if (family == LANNER_AF_INET6 && n >= 24) {
		__builtin_memcpy(addr, &s->sa[8], 16);
	} else {
		return;
	}
	if (local)
		x->sport = port;
	else
		x->dport = port;
}

/* Appends the AF_UNIX name in s->sa (a sockaddr_un of n bytes): sun_path, or '@' + name when abstract. */
static __always_inline void net__append_unix_sa(struct rec *r, struct lanner_scratch *s, __u32 n)
{
	if (n <= 2 || *(__u16 *)s->sa != LANNER_AF_UNIX)
		return;
	__u32 plen = n - 2;
	if (s->sa[2] == 0) {
		store__append_byte(r, '@');
		store__append_kbytes(r, &s->sa[3], (plen - 1) & 127);
	} else {
		store__append_kstr(r, &s->sa[2], 109);
	}
}

/* Copies the bound AF_UNIX name of sk (struct unix_sock's addr) into s->sa; returns its length (0: unbound). */
static __always_inline __u32 net__unix_name(struct lanner_scratch *s, struct sock *sk)
{
	if (!sk || sk->__sk_common.skc_family != LANNER_AF_UNIX)
		return 0;
	struct unix_sock *u = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct unix_sock));
	struct unix_address *a = u->addr;
	if (!a)
		return 0;
	int len = a->len;
	if (len <= 2 || len > 110)
		return 0;
	__u32 n = len;
	barrier_var(n);
	n &= 127;
	__builtin_memset(s->sa, 0, sizeof(s->sa));
	if (bpf_probe_read_kernel(s->sa, n, (void *)a + bpf_core_field_offset(struct unix_address, name))) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return 0;
	}
	return n;
}

/* The unix peer of sk, or NULL. */
static __always_inline struct sock *net__unix_peer(struct sock *sk)
{
	if (!sk || sk->__sk_common.skc_family != LANNER_AF_UNIX)
		return NULL;
	struct unix_sock *u = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct unix_sock));
	return u->peer;
}

#define net__store_ends(e, x)                              \
	do {                                               \
		(e)->family = (x).family;                  \
		(e)->socktype = (x).socktype;              \
		(e)->sport = (x).sport;                    \
		(e)->dport = (x).dport;                    \
		__builtin_memcpy((e)->saddr, (x).saddr, 16); \
		__builtin_memcpy((e)->daddr, (x).daddr, 16); \
	} while (0)

/* Sum of iov_len over the first n (at most 1024) iovecs of a user iovec array. */
struct iov_sum {
	const struct iovec *iov;
	__u64 n;
	__u64 sum;
};

static long net__iov_step(__u32 i, void *ctx)
{
	struct iov_sum *w = ctx;
	if (i >= w->n)
		return 1;
	__u64 len = 0;
	if (bpf_probe_read_user(&len, sizeof(len), &w->iov[i].iov_len)) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return 1;
	}
	w->sum += len;
	return 0;
}

static __always_inline __u64 net__iov_total(const struct iovec *iov, __u64 n)
{
	if (!iov)
		return 0;
	struct iov_sum w = { .iov = iov, .n = n > 1024 ? 1024 : n };
	bpf_loop(1024, net__iov_step, &w, 0);
	return w.sum;
}

#endif /* LANNER_HELPERS_NET_H */
