/* The read/write family: read, write, pread64, pwrite64, readv, writev. No data is copied; these are the
 * hottest syscalls of most hosts, so userspace attaches them only while a loaded rule asks for one. */

static __always_inline int rw__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, bool vec)
{
	FIXED_BEGIN(type, struct lanner_evt_read)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: fd (i32) */
	e->fd = extract__arg0(regs);
	/* Parameter: size (u64): count, or the iovec total for readv/writev(fd, iov, iovcnt) */
	e->size = vec ? net__iov_total((const struct iovec *)extract__arg1(regs), extract__arg2(regs)) : extract__arg2(regs);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_read")
int lanner_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	return rw__exit(ctx, LANNER_EVT_READ, false);
}

SEC("tracepoint/syscalls/sys_exit_write")
int lanner_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return rw__exit(ctx, LANNER_EVT_WRITE, false);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int lanner_exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return rw__exit(ctx, LANNER_EVT_READV, true);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int lanner_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return rw__exit(ctx, LANNER_EVT_WRITEV, true);
}

static __always_inline int prw__exit(struct trace_event_raw_sys_exit *ctx, __u16 type)
{
	FIXED_BEGIN(type, struct lanner_evt_pread64)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: fd (i32), size (u64), pos (u64): pread64(fd, buf, count, pos) */
	e->fd = extract__arg0(regs);
	e->size = extract__arg2(regs);
	e->pos = extract__arg3(regs);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_pread64")
int lanner_exit_pread64(struct trace_event_raw_sys_exit *ctx)
{
	return prw__exit(ctx, LANNER_EVT_PREAD64);
}

SEC("tracepoint/syscalls/sys_exit_pwrite64")
int lanner_exit_pwrite64(struct trace_event_raw_sys_exit *ctx)
{
	return prw__exit(ctx, LANNER_EVT_PWRITE64);
}
