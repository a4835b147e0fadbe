/* fd family: close, dup/dup2/dup3, pipe/pipe2, splice, ioctl. Included by lanner.bpf.c; each program is a
 * list of `Parameter:` blocks in the order of proto/events.yaml. */

/* close: the fd's file is gone by sys_exit (and close() frees it synchronously since Linux 6.15), so the
 * record is built at entry, parked in lanner_pending under the thread id, and finished at exit with the
 * result. Userspace attaches the exit program before the entry one and detaches in the other order. */
SEC("tracepoint/syscalls/sys_enter_close")
int lanner_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	PROG_BEGIN(LANNER_EVT_CLOSE)
	int fd = ctx->args[0];
	struct rec r;
	struct lanner_evt_close *e = store__begin(&r, s, LANNER_EVT_CLOSE, sizeof(*e));
	/* Parameter: res (i64): set at exit */
	e->res = 0;
	/* Parameter: fd (i32) */
	e->fd = fd;
	/* Parameter: fdpath (str): now, while fd still refers to the file */
	extract__fdpath_field(&r, fd);
	__u32 len = store__finish(&r);
	__u32 tid = (__u32)s->pt;
	if (len >= sizeof(*e) && len <= LANNER_PENDING_BYTES) {
		if (bpf_map_update_elem(&lanner_pending, &tid, s->rec, BPF_ANY))
			counters__inc(LANNER_CNT_READ_FAILURES);
	}
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_close")
int lanner_exit_close(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pt;
	struct lanner_pending *pend = bpf_map_lookup_elem(&lanner_pending, &tid);
	if (!interest__wanted(LANNER_EVT_CLOSE) || filter__ignored_tgid(pt >> 32)) {
		if (pend)
			bpf_map_delete_elem(&lanner_pending, &tid);
		return 0;
	}
	if (pend) {
		struct lanner_evt_close *e = (void *)pend->rec;
		__u32 len = e->hdr.len;
		/* Parameter: res (i64) */
		e->res = ctx->ret;
		e->hdr.ts = bpf_ktime_get_boot_ns();
		/* two separate checks: clang folds a range check into one compare on len - 36, which the
		 * verifier cannot relate back to len */
		if (len > LANNER_PENDING_BYTES)
			len = 0;
		barrier_var(len);
		if (len >= sizeof(*e))
			ringbuf__output(pend->rec, len);
		bpf_map_delete_elem(&lanner_pending, &tid);
		return 0;
	}
	/* No entry record (evicted, or the entry program was attached after this close began): the result
	 * without the path, counted as a read failure. */
	counters__inc(LANNER_CNT_READ_FAILURES);
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *regs = extract__regs(t);
	struct lanner_scratch *s = scratch__acquire(pt);
	if (!s)
		return 0;
	struct rec r;
	struct lanner_evt_close *e = store__begin(&r, s, LANNER_EVT_CLOSE, sizeof(*e));
	e->res = ctx->ret;
	e->fd = extract__arg0(regs);
	store__empty(&r);
	ringbuf__submit(&r);
	PROG_END()
}

/* dup, dup2, dup3: nargs says which arguments exist. */
static __always_inline int dup__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, int nargs)
{
	PROG_BEGIN(type)
	PROG_REGS()
	int oldfd = extract__arg0(regs);
	struct rec r;
	struct lanner_evt_dup *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: oldfd (i32) */
	e->oldfd = oldfd;
	/* Parameter: newfd (i32) */
	e->newfd = nargs >= 2 ? (int)extract__arg1(regs) : -1;
	/* Parameter: flags (u32) */
	e->flags = nargs >= 3 ? (__u32)extract__arg2(regs) : 0;
	/* Parameter: fdpath (str): oldfd's file (newfd, when it succeeded, is the same file) */
	extract__fdpath_field(&r, oldfd);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_dup")
int lanner_exit_dup(struct trace_event_raw_sys_exit *ctx)
{
	return dup__exit(ctx, LANNER_EVT_DUP, 1);
}

SEC("tracepoint/syscalls/sys_exit_dup2")
int lanner_exit_dup2(struct trace_event_raw_sys_exit *ctx)
{
	return dup__exit(ctx, LANNER_EVT_DUP2, 2);
}

SEC("tracepoint/syscalls/sys_exit_dup3")
int lanner_exit_dup3(struct trace_event_raw_sys_exit *ctx)
{
	return dup__exit(ctx, LANNER_EVT_DUP3, 3);
}

static __always_inline int pipe__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, bool two)
{
	FIXED_BEGIN(type, struct lanner_evt_pipe)
	PROG_REGS()
	long ret = ctx->ret;
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: fd1 (i32), fd2 (i32), ino (u64): from the caller's int[2], filled when res = 0 */
	e->fd1 = -1;
	e->fd2 = -1;
	e->ino = 0;
	if (ret == 0) {
		int fds[2] = { -1, -1 };
		if (bpf_probe_read_user(fds, sizeof(fds), (const void *)extract__arg0(regs))) {
			counters__inc(LANNER_CNT_READ_FAILURES);
		} else {
			e->fd1 = fds[0];
			e->fd2 = fds[1];
			struct file *f = extract__file_from_fd(t, fds[0]);
			if (f)
				e->ino = f->f_inode->i_ino;
		}
	}
	/* Parameter: flags (u32) */
	e->flags = two ? (__u32)extract__arg1(regs) : 0;
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_pipe")
int lanner_exit_pipe(struct trace_event_raw_sys_exit *ctx)
{
	return pipe__exit(ctx, LANNER_EVT_PIPE, false);
}

SEC("tracepoint/syscalls/sys_exit_pipe2")
int lanner_exit_pipe2(struct trace_event_raw_sys_exit *ctx)
{
	return pipe__exit(ctx, LANNER_EVT_PIPE2, true);
}

SEC("tracepoint/syscalls/sys_exit_splice")
int lanner_exit_splice(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_SPLICE, struct lanner_evt_splice)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: fd_in (i32), fd_out (i32): splice(fd_in, off_in, fd_out, off_out, len, flags) */
	e->fd_in = extract__arg0(regs);
	e->fd_out = extract__arg2(regs);
	/* Parameter: size (u64) */
	e->size = extract__arg4(regs);
	/* Parameter: flags (u32) */
	e->flags = extract__arg5(regs);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_ioctl")
int lanner_exit_ioctl(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_IOCTL)
	PROG_REGS()
	int fd = extract__arg0(regs);
	struct rec r;
	struct lanner_evt_ioctl *e = store__begin(&r, s, LANNER_EVT_IOCTL, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: fd (i32) */
	e->fd = fd;
	/* Parameter: request (u64) */
	e->request = (__u32)extract__arg1(regs);
	/* Parameter: argument (u64) */
	e->argument = extract__arg2(regs);
	/* Parameter: fdpath (str) */
	extract__fdpath_field(&r, fd);
	ringbuf__submit(&r);
	PROG_END()
}
