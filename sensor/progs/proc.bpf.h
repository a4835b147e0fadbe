/* Process and privilege: the setuid family, capset, ptrace, init_module/finit_module, bpf, memfd_create,
 * userfaultfd, setns, unshare, kill, prctl. */

/* The thread's credentials after the call (commit_creds replaced both cred pointers by then). */
#define creds__store(e, t)                                   \
	do {                                                 \
		const struct cred *c_ = (t)->real_cred;      \
		(e)->cred_ruid = c_->uid.val;                \
		(e)->cred_euid = c_->euid.val;               \
		(e)->cred_suid = c_->suid.val;               \
		(e)->cred_rgid = c_->gid.val;                \
		(e)->cred_egid = c_->egid.val;               \
		(e)->cred_sgid = c_->sgid.val;               \
	} while (0)

SEC("tracepoint/syscalls/sys_exit_setuid")
int lanner_exit_setuid(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_SETUID, struct lanner_evt_setuid)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: uid (u32) */
	e->uid = extract__arg0(regs);
	/* Parameter: cred_* (u32): after the call */
	creds__store(e, t);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_setgid")
int lanner_exit_setgid(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_SETGID, struct lanner_evt_setgid)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: gid (u32) */
	e->gid = extract__arg0(regs);
	/* Parameter: cred_* (u32) */
	creds__store(e, t);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_setresuid")
int lanner_exit_setresuid(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_SETRESUID, struct lanner_evt_setresuid)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: ruid (u32), euid (u32), suid (u32) */
	e->ruid = extract__arg0(regs);
	e->euid = extract__arg1(regs);
	e->suid = extract__arg2(regs);
	/* Parameter: cred_* (u32) */
	creds__store(e, t);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_setresgid")
int lanner_exit_setresgid(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_SETRESGID, struct lanner_evt_setresgid)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: rgid (u32), egid (u32), sgid (u32) */
	e->rgid = extract__arg0(regs);
	e->egid = extract__arg1(regs);
	e->sgid = extract__arg2(regs);
	/* Parameter: cred_* (u32) */
	creds__store(e, t);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_setreuid")
int lanner_exit_setreuid(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_SETREUID, struct lanner_evt_setreuid)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: ruid (u32), euid (u32) */
	e->ruid = extract__arg0(regs);
	e->euid = extract__arg1(regs);
	/* Parameter: cred_* (u32) */
	creds__store(e, t);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_setregid")
int lanner_exit_setregid(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_SETREGID, struct lanner_evt_setregid)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: rgid (u32), egid (u32) */
	e->rgid = extract__arg0(regs);
	e->egid = extract__arg1(regs);
	/* Parameter: cred_* (u32) */
	creds__store(e, t);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_capset")
int lanner_exit_capset(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_CAPSET, struct lanner_evt_capset)
	struct task_struct *t = bpf_get_current_task_btf();
	const struct cred *c = t->real_cred;
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: cap_inheritable, cap_permitted, cap_effective (u64): after the call */
	__u64 cap = 0;
	bpf_core_read(&cap, sizeof(cap), &c->cap_inheritable);
	e->cap_inheritable = cap;
	cap = 0;
	bpf_core_read(&cap, sizeof(cap), &c->cap_permitted);
	e->cap_permitted = cap;
	cap = 0;
	bpf_core_read(&cap, sizeof(cap), &c->cap_effective);
	e->cap_effective = cap;
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int lanner_exit_ptrace(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_PTRACE, struct lanner_evt_ptrace)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: request (u32), pid (i32), addr (u64), data (u64) */
	e->request = extract__arg0(regs);
	e->pid = extract__arg1(regs);
	e->addr = extract__arg2(regs);
	e->data = extract__arg3(regs);
	FIXED_END()
}

/* init_module(image, len, uargs) */
static __always_inline int init_module__emit(struct lanner_scratch *s, struct pt_regs *regs, long ret)
{
	struct rec r;
	struct lanner_evt_init_module *e = store__begin(&r, s, LANNER_EVT_INIT_MODULE, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: length (u64) */
	e->length = extract__arg1(regs);
	/* Parameter: uargs (str) */
	store__ustr_field(&r, (const char *)extract__arg2(regs), LANNER_PATH_MAX);
	ringbuf__submit(&r);
	return 0;
}

/* finit_module(fd, uargs, flags) */
static __always_inline int finit_module__emit(struct lanner_scratch *s, struct task_struct *t, struct pt_regs *regs, long ret)
{
	int fd = extract__arg0(regs);
	struct rec r;
	struct lanner_evt_finit_module *e = store__begin(&r, s, LANNER_EVT_FINIT_MODULE, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: fd (i32), flags (u32) */
	e->fd = fd;
	e->flags = extract__arg2(regs);
	/* Parameter: uargs (str) */
	store__ustr_field(&r, (const char *)extract__arg1(regs), LANNER_PATH_MAX);
	/* Parameter: fdpath (str) */
	extract__fdpath_field(&r, fd);
	ringbuf__submit(&r);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_init_module")
int lanner_exit_init_module(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_INIT_MODULE)
	PROG_REGS()
	init_module__emit(s, regs, ctx->ret);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_finit_module")
int lanner_exit_finit_module(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_FINIT_MODULE)
	PROG_REGS()
	finit_module__emit(s, t, regs, ctx->ret);
	PROG_END()
}

/* A kernel built without modules (CONFIG_MODULES=n, like the project's machines) has no init_module /
 * finit_module tracepoints: both syscalls fail with ENOSYS before any syscall tracepoint exists for them.
 * Attempts are still worth an event, so this program stands in on raw_tracepoint/sys_exit, filtering on the
 * syscall number. Userspace attaches it only while one of the two is wanted and its own tracepoint is
 * missing; then every syscall exit runs it (sensor/README.md, attach strategy). */
SEC("raw_tracepoint/sys_exit")
int lanner_raw_init_module__finit_module(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	long nr = BPF_CORE_READ(regs, orig_ax);
	__u16 type;
	if (nr == LANNER_NR_INIT_MODULE)
		type = LANNER_EVT_INIT_MODULE;
	else if (nr == LANNER_NR_FINIT_MODULE)
		type = LANNER_EVT_FINIT_MODULE;
	else
		return 0;
	if (!interest__wanted(type))
		return 0;
	struct lanner_scratch *s = scratch__for_current();
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *uregs = extract__regs(t);
	long ret = ctx->args[1];
	if (type == LANNER_EVT_INIT_MODULE)
		init_module__emit(s, uregs, ret);
	else
		finit_module__emit(s, t, uregs, ret);
	scratch__release(s);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bpf")
int lanner_exit_bpf(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_BPF, struct lanner_evt_bpf)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: cmd (u32) */
	e->cmd = extract__arg0(regs);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_memfd_create")
int lanner_exit_memfd_create(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_MEMFD_CREATE)
	PROG_REGS()
	struct rec r;
	struct lanner_evt_memfd_create *e = store__begin(&r, s, LANNER_EVT_MEMFD_CREATE, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: flags (u32) */
	e->flags = extract__arg1(regs);
	/* Parameter: name (str): the kernel allows 249 bytes */
	store__ustr_field(&r, (const char *)extract__arg0(regs), 256);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_userfaultfd")
int lanner_exit_userfaultfd(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_USERFAULTFD, struct lanner_evt_userfaultfd)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: flags (u32) */
	e->flags = extract__arg0(regs);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_setns")
int lanner_exit_setns(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_SETNS)
	PROG_REGS()
	int fd = extract__arg0(regs);
	struct rec r;
	struct lanner_evt_setns *e = store__begin(&r, s, LANNER_EVT_SETNS, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: fd (i32), nstype (u32) */
	e->fd = fd;
	e->nstype = extract__arg1(regs);
	/* Parameter: fdpath (str): NSTYPE:[INO] for a namespace file */
	extract__fdpath_field(&r, fd);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int lanner_exit_unshare(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_UNSHARE, struct lanner_evt_unshare)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: flags (u32) */
	e->flags = extract__arg0(regs);
	FIXED_END()
}

SEC("tracepoint/syscalls/sys_exit_kill")
int lanner_exit_kill(struct trace_event_raw_sys_exit *ctx)
{
	FIXED_BEGIN(LANNER_EVT_KILL, struct lanner_evt_kill)
	PROG_REGS()
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: pid (i32), sig (u32) */
	e->pid = extract__arg0(regs);
	e->sig = extract__arg1(regs);
	FIXED_END()
}

#define LANNER_PR_SET_NAME 15
#define LANNER_PR_GET_NAME 16

SEC("tracepoint/syscalls/sys_exit_prctl")
int lanner_exit_prctl(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_PRCTL)
	PROG_REGS()
	long ret = ctx->ret;
	__u32 option = extract__arg0(regs);
	__u64 arg2 = extract__arg1(regs);
	struct rec r;
	struct lanner_evt_prctl *e = store__begin(&r, s, LANNER_EVT_PRCTL, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: option (u32), arg2_int (i64) */
	e->option = option;
	e->arg2_int = arg2;
	/* Parameter: arg2_str (str): the name set, or the one PR_GET_NAME returned */
	__u32 p = store__var_begin(&r);
	if (option == LANNER_PR_SET_NAME || (option == LANNER_PR_GET_NAME && ret == 0))
		store__append_ustr(&r, (const void *)arg2, 16, false);
	store__var_end(&r, p);
	ringbuf__submit(&r);
	PROG_END()
}
