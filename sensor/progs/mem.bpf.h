/* Memory: mmap, mprotect. */

#define LANNER_MAP_ANONYMOUS 0x20

SEC("tracepoint/syscalls/sys_exit_mmap")
int lanner_exit_mmap(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_MMAP)
	PROG_REGS()
	__u32 flags = extract__arg3(regs);
	int fd = extract__arg4(regs);
	struct rec r;
	struct lanner_evt_mmap *e = store__begin(&r, s, LANNER_EVT_MMAP, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: addr (u64), length (u64), prot (u32), flags (u32), fd (i32), offset (u64) */
	e->addr = extract__arg0(regs);
	e->length = extract__arg1(regs);
	e->prot = extract__arg2(regs);
	e->flags = flags;
	e->fd = fd;
	e->offset = extract__arg5(regs);
	/* Parameter: fdpath (str): empty for anonymous maps (whose fd argument is ignored) */
	if (flags & LANNER_MAP_ANONYMOUS)
		store__empty(&r);
	else
		extract__fdpath_field(&r, fd);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_mprotect")
int lanner_exit_mprotect(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_MPROTECT, struct lanner_evt_mprotect)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: addr (u64), length (u64), prot (u32) */
	e->addr = extract__arg0(regs);
	e->length = extract__arg1(regs);
	e->prot = extract__arg2(regs);
	FIXED_END()
}
