/* Sockets: socket, bind, listen, accept/accept4, sendto/sendmsg/recvfrom/recvmsg, socketpair (connect is
 * in lanner.bpf.c). Ends come from the kernel's struct sock (helpers/net.h); an address the caller passed
 * (bind, sendto, sendmsg) or the kernel wrote back (recvfrom, recvmsg) takes the remote end's place. */

SEC("tracepoint/syscalls/sys_exit_socket")
int lanner_exit_socket(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_SOCKET, struct lanner_evt_socket)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: domain (u32), type (u32), proto (u32) */
	e->domain = extract__arg0(regs);
	e->type = extract__arg1(regs);
	e->proto = extract__arg2(regs);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_socketpair")
int lanner_exit_socketpair(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_SOCKETPAIR, struct lanner_evt_socketpair)
	PROG_REGS()
	long ret = ctx->ret;
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: fd1 (i32), fd2 (i32): from the caller's int[2] when res = 0 */
	e->fd1 = -1;
	e->fd2 = -1;
	if (ret == 0) {
		int fds[2] = { -1, -1 };
		if (bpf_probe_read_user(fds, sizeof(fds), (const void *)extract__arg3(regs))) {
			counters__inc(LANNER_CNT_READ_FAILURES);
		} else {
			e->fd1 = fds[0];
			e->fd2 = fds[1];
		}
	}
	/* Parameter: domain (u32), type (u32), proto (u32) */
	e->domain = extract__arg0(regs);
	e->type = extract__arg1(regs);
	e->proto = extract__arg2(regs);
	FIXED_END()
}

/* bind: the address bound. When bind succeeded it is read back from the socket (a port 0 becomes the one the
 * kernel assigned; an AF_UNIX name is the socket's own), else it is the address as passed. */
SEC("tracepoint/syscalls/sys_exit_bind")
int lanner_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_BIND)
	PROG_REGS()
	long ret = ctx->ret;
	int fd = extract__arg0(regs);
	struct socket *sock = net__socket(t, fd);
	struct sock *sk = net__sk(sock);
	struct sock_ends x = {};
	if (sock)
		x.socktype = sock->type;
	__u32 n = 0;
	bool from_sock = ret == 0 && sk;
	if (from_sock) {
		net__local(sk, &x);
		n = net__unix_name(s, sk);
	} else {
		n = net__read_user_sa(s, (const void *)extract__arg1(regs), (int)extract__arg2(regs));
		if (n)
			net__sa_end(s, n, &x, true);
		else if (sk)
			x.family = sk->__sk_common.skc_family;
	}
	struct rec r;
	struct lanner_evt_bind *e = store__begin(&r, s, LANNER_EVT_BIND, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: fd (i32) */
	e->fd = fd;
	/* Parameter: family, socktype, sport, dport, saddr, daddr */
	net__store_ends(e, x);
	/* Parameter: path (str): AF_UNIX name */
	__u32 p = store__var_begin(&r);
	if (x.family == LANNER_AF_UNIX)
		net__append_unix_sa(&r, s, n);
	store__var_end(&r, p);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_listen")
int lanner_exit_listen(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_LISTEN)
	PROG_REGS()
	int fd = extract__arg0(regs);
	struct socket *sock = net__socket(t, fd);
	struct sock *sk = net__sk(sock);
	struct sock_ends x = {};
	__u32 n = 0;
	if (sock)
		x.socktype = sock->type;
	if (sk) {
		net__local(sk, &x);
		n = net__unix_name(s, sk);
	}
	struct rec r;
	struct lanner_evt_listen *e = store__begin(&r, s, LANNER_EVT_LISTEN, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: fd (i32) */
	e->fd = fd;
	/* Parameter: backlog (u32) */
	e->backlog = extract__arg1(regs);
	/* Parameter: family, socktype, sport, saddr */
	e->family = x.family;
	e->socktype = x.socktype;
	e->sport = x.sport;
	__builtin_memcpy(e->saddr, x.saddr, 16);
	/* Parameter: path (str) */
	__u32 p = store__var_begin(&r);
	net__append_unix_sa(&r, s, n);
	store__var_end(&r, p);
	ringbuf__submit(&r);
	PROG_END()
}

/* accept, accept4: the new socket's ends; the queue figures from the listening socket. */
static __always_inline int accept__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, bool four)
{
	PROG_BEGIN(type)
	PROG_REGS()
	long ret = ctx->ret;
	int fd = extract__arg0(regs);
	struct socket *lsock = net__socket(t, fd);
	struct sock *lsk = net__sk(lsock);
	struct sock_ends x = {};
	__u32 n = 0;
	if (lsock)
		x.socktype = lsock->type;
	struct sock *nsk = ret >= 0 ? net__sk(net__socket(t, ret)) : NULL;
	if (nsk) {
		net__local(nsk, &x);
		net__remote(nsk, &x);
		n = net__unix_name(s, nsk); /* an accepted AF_UNIX socket carries the listener's name */
	} else if (lsk) {
		x.family = lsk->__sk_common.skc_family;
		n = net__unix_name(s, lsk);
	}
	__u32 qlen = 0, qmax = 0;
	if (lsk) {
		qlen = lsk->sk_ack_backlog;
		qmax = lsk->sk_max_ack_backlog;
	}
	struct rec r;
	struct lanner_evt_accept *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: fd (i32) */
	e->fd = fd;
	/* Parameter: family, socktype, sport, dport, saddr, daddr */
	net__store_ends(e, x);
	/* Parameter: queuepct (u8), queuelen (u32), queuemax (u32) */
	e->queuepct = qmax ? (__u8)((__u64)qlen * 100 / qmax) : 0;
	e->queuelen = qlen;
	e->queuemax = qmax;
	/* Parameter: flags (u32) */
	e->flags = four ? (__u32)extract__arg3(regs) : 0;
	/* Parameter: path (str) */
	__u32 p = store__var_begin(&r);
	net__append_unix_sa(&r, s, n);
	store__var_end(&r, p);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_accept")
int lanner_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accept__exit(ctx, LANNER_EVT_ACCEPT, false);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int lanner_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accept__exit(ctx, LANNER_EVT_ACCEPT4, true);
}

/* sendto/sendmsg/recvfrom/recvmsg: local end from the socket; remote end from the address (uaddr, ulen:
 * what the caller passed, or what the kernel wrote back), else from the socket's peer. */
static __always_inline void sockio__emit(struct lanner_scratch *s, struct task_struct *t, __u16 type, long ret, int fd,
					 __u64 size, const void *uaddr, long ulen)
{
	struct socket *sock = net__socket(t, fd);
	struct sock *sk = net__sk(sock);
	struct sock_ends x = {};
	if (sock)
		x.socktype = sock->type;
	if (sk)
		net__local(sk, &x);
	__u32 n = net__read_user_sa(s, uaddr, ulen);
	if (n) {
		__u16 f = *(__u16 *)s->sa;
		if (f == LANNER_AF_INET || f == LANNER_AF_INET6 || f == LANNER_AF_UNIX)
			net__sa_end(s, n, &x, false);
		else
			n = 0;
	}
	if (!n && sk) {
		net__remote(sk, &x);
		n = net__unix_name(s, net__unix_peer(sk));
	}
	struct rec r;
	struct lanner_evt_sendto *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: fd (i32) */
	e->fd = fd;
	/* Parameter: size (u64) */
	e->size = size;
	/* Parameter: family, socktype, sport, dport, saddr, daddr */
	net__store_ends(e, x);
	/* Parameter: path (str) */
	__u32 p = store__var_begin(&r);
	if (x.family == LANNER_AF_UNIX)
		net__append_unix_sa(&r, s, n);
	store__var_end(&r, p);
	ringbuf__submit(&r);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int lanner_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_SENDTO)
	PROG_REGS()
	/* sendto(fd, buf, len, flags, dest_addr, addrlen) */
	sockio__emit(s, t, LANNER_EVT_SENDTO, ctx->ret, extract__arg0(regs), extract__arg2(regs),
		     (const void *)extract__arg4(regs), (int)extract__arg5(regs));
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int lanner_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_RECVFROM)
	PROG_REGS()
	/* recvfrom(fd, buf, len, flags, src_addr, addrlen*): the kernel wrote the sender and its length */
	long ret = ctx->ret;
	const void *src = (const void *)extract__arg4(regs);
	int alen = 0;
	if (ret >= 0 && src && extract__arg5(regs) &&
	    bpf_probe_read_user(&alen, sizeof(alen), (const void *)extract__arg5(regs)))
		counters__inc(LANNER_CNT_READ_FAILURES);
	sockio__emit(s, t, LANNER_EVT_RECVFROM, ret, extract__arg0(regs), extract__arg2(regs), ret >= 0 ? src : NULL, alen);
	PROG_END()
}

/* sendmsg/recvmsg(fd, msg, flags): msg_name/msg_namelen (recvmsg: as the kernel wrote them back) and the
 * iovec total. */
static __always_inline int msg__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, bool recv)
{
	PROG_BEGIN(type)
	PROG_REGS()
	long ret = ctx->ret;
	struct user_msghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), (const void *)extract__arg1(regs)))
		counters__inc(LANNER_CNT_READ_FAILURES);
	__u64 size = net__iov_total(m.msg_iov, m.msg_iovlen);
	const void *name = recv && ret < 0 ? NULL : m.msg_name;
	sockio__emit(s, t, type, ret, extract__arg0(regs), size, name, m.msg_namelen);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int lanner_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return msg__exit(ctx, LANNER_EVT_SENDMSG, false);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int lanner_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	return msg__exit(ctx, LANNER_EVT_RECVMSG, true);
}
