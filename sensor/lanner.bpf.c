// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* Lanner kernel side: one program per hook, each a list of fields that mirrors proto/events.yaml.
 *
 * Hooks (see sensor/README.md for why):
 *   tp_btf/sched_process_exec     execve / execveat (successful), in the new image
 *   tracepoint/syscalls/sys_enter_execveat  marks the thread so the exec record says execveat
 *   tp_btf/sched_process_fork     clone / clone3 / fork / vfork, in the parent
 *   tracepoint/syscalls/sys_exit_{clone,clone3,fork,vfork}   the same calls when they fail
 *   tp_btf/sched_process_exit     procexit
 *   tracepoint/syscalls/sys_exit_{open,openat,openat2,creat,connect,execve,execveat}
 *                                 one exit hook per syscall; arguments from the saved user registers
 */
#include "helpers/net.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* ------------------------------------------------------------------ exec */

/* The exec-shaped fixed part plus comm; the caller writes exe, filename and args. */
static __always_inline struct lanner_evt_execve *exec__begin(struct rec *r, struct lanner_scratch *s,
							    __u16 type, struct task_struct *t, __s64 res)
{
	struct lanner_evt_execve *e = store__begin(r, s, type, sizeof(struct lanner_evt_execve));
	e->res = res;
	extract__proc_fixed(t, e);
	e->exe_flags = 0;
	/* Parameter: comm (str) */
	extract__comm_field(r, t);
	return e;
}

/* cwd and cgroup, the last two exec fields. */
static __always_inline void exec__finish(struct rec *r, struct task_struct *t, struct task_root *tr)
{
	/* Parameter: cwd (str) */
	__u32 p = store__var_begin(r);
	path__append_cwd(r, t, tr);
	store__var_end(r, p);
	/* Parameter: cgroup (str) */
	p = store__var_begin(r);
	path__append_cgroup(r, t);
	store__var_end(r, p);
}

static __always_inline __u32 exec__argv_limit(void)
{
	struct lanner_config *cfg = config__get();
	__u32 lim = cfg ? cfg->argv_limit : 4096;
	if (lim > LANNER_ARGV_MAX - 1)
		lim = LANNER_ARGV_MAX - 1;
	return lim;
}

static __always_inline void exec__emit(struct lanner_scratch *s, struct task_struct *t, struct linux_binprm *bprm, __u16 type)
{
	struct rec r;
	struct lanner_evt_execve *e = exec__begin(&r, s, type, t, 0);
	struct task_root tr = path__task_root(t);
	struct file *f = bprm->file;
	e->exe_flags = extract__exe_flags(f, t, t->cred);

	/* Parameter: exe (str) */
	__u32 p = store__var_begin(&r);
	path__append_file(&r, f, &tr);
	store__var_end(&r, p);

	/* Parameter: filename (str) */
	store__kstr_field(&r, BPF_CORE_READ(bprm, filename), LANNER_PATH_MAX);

	/* Parameter: args (strlist): the new image's argv area, as /proc/PID/cmdline */
	p = store__var_begin(&r);
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	unsigned long a0 = BPF_CORE_READ(mm, arg_start), a1 = BPF_CORE_READ(mm, arg_end);
	if (a1 > a0) {
		__u64 n = a1 - a0;
		__u32 lim = exec__argv_limit();
		if (n > lim)
			n = lim;
		store__append_ubytes(&r, (const void *)a0, n);
	}
	store__var_end(&r, p);

	exec__finish(&r, t, &tr);
	ringbuf__submit(&r);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(lanner_sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	/* execve and execveat share this tracepoint; sys_enter_execveat marked the thread (by its tid before
	 * exec, which is old_pid here). */
	__u32 tid = old_pid;
	__u16 type = LANNER_EVT_EXECVE;
	if (bpf_map_lookup_elem(&lanner_execveat, &tid)) {
		type = LANNER_EVT_EXECVEAT;
		bpf_map_delete_elem(&lanner_execveat, &tid);
	}
	if (!interest__wanted(type))
		return 0;
	struct lanner_scratch *s = scratch__for_current();
	if (!s)
		return 0;
	exec__emit(s, p, bprm, type);
	scratch__release(s);
	return 0;
}

/* argv of a failed exec, from the caller's argv array (the image did not change). */
struct argv_walk {
	struct rec *r;
	const char *const *argv;
	__u32 start;
	__u32 limit;
};

static long exec__argv_step(__u32 i, void *ctx)
{
	struct argv_walk *w = ctx;
	const char *arg = NULL;
	if (bpf_probe_read_user(&arg, sizeof(arg), &w->argv[i]) || !arg)
		return 1;
	struct rec *r = w->r;
	__u32 before = r->s->off;
	if (store__append_ustr(r, arg, 4096, true) < 0)
		return 1;
	if (r->s->off - w->start > w->limit) {
		r->s->off = w->start + w->limit; /* truncated: the last item loses its NUL */
		return 1;
	}
	return before == r->s->off;
}

static __always_inline int exec__failed(struct trace_event_raw_sys_exit *ctx, __u16 type, bool at)
{
	long ret = ctx->ret;
	if (ret >= 0 || !interest__wanted(type))
		return 0;
	struct lanner_scratch *s = scratch__for_current();
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *regs = extract__regs(t);
	const char *filename = (const char *)(at ? extract__arg1(regs) : extract__arg0(regs));
	const char *const *argv = (const char *const *)(at ? extract__arg2(regs) : extract__arg1(regs));
	struct rec r;
	exec__begin(&r, s, type, t, ret);
	struct task_root tr = path__task_root(t);
	/* Parameter: exe (str): empty, nothing was executed */
	store__empty(&r);
	/* Parameter: filename (str) */
	store__ustr_field(&r, filename, LANNER_PATH_MAX);
	/* Parameter: args (strlist) */
	__u32 p = store__var_begin(&r);
	struct argv_walk w = { .r = &r, .argv = argv, .start = r.s->off, .limit = exec__argv_limit() };
	if (argv)
		bpf_loop(256, exec__argv_step, &w, 0);
	store__var_end(&r, p);
	exec__finish(&r, t, &tr);
	ringbuf__submit(&r);
	scratch__release(s);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int lanner_exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return exec__failed(ctx, LANNER_EVT_EXECVE, false);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int lanner_enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 one = 1;
	bpf_map_update_elem(&lanner_execveat, &tid, &one, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int lanner_exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&lanner_execveat, &tid);
	return exec__failed(ctx, LANNER_EVT_EXECVEAT, true);
}

/* ------------------------------------------------------------------ fork / exit */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(lanner_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	__u16 type = LANNER_EVT_CLONE;
	if (!(BPF_CORE_READ(parent, flags) & LANNER_PF_KTHREAD)) {
		long nr = BPF_CORE_READ(extract__user_regs(parent), orig_ax);
		if (nr == LANNER_NR_CLONE3)
			type = LANNER_EVT_CLONE3;
		else if (nr == LANNER_NR_FORK)
			type = LANNER_EVT_FORK;
		else if (nr == LANNER_NR_VFORK)
			type = LANNER_EVT_VFORK;
	}
	if (!interest__wanted(type))
		return 0;
	struct lanner_scratch *s = scratch__for_current();
	if (!s)
		return 0;
	struct rec r;
	struct lanner_evt_clone *e = store__begin(&r, s, type, sizeof(*e));
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	/* Parameter: res (i64): child thread id */
	e->res = BPF_CORE_READ(child, pid);
	/* Parameter: child_pid (u32) */
	e->child_pid = ctgid;
	/* Parameter: flags (u32): bit 0 = a thread of the same process */
	e->flags = ctgid == BPF_CORE_READ(parent, tgid) ? 1 : 0;
	/* Parameter: comm (str): the parent's name now (prctl(PR_SET_NAME) renames without an exec) */
	extract__comm_field(&r, parent);
	ringbuf__submit(&r);
	scratch__release(s);
	return 0;
}

/* A clone, clone3, fork or vfork that failed: sched_process_fork runs only for a task that was created, so
 * the failure comes from the syscall's exit hook (res = -errno, no child, flags bit 0 = CLONE_THREAD was
 * asked for, for clone(2); clone3's flags stay in user memory and are not read). Successes return at once
 * here, in the parent (sched_process_fork reported them) and in the child (ret 0). */
static __always_inline int fork__failed(struct trace_event_raw_sys_exit *ctx, __u16 type)
{
	long ret = ctx->ret;
	if (ret >= 0 || !interest__wanted(type))
		return 0;
	struct lanner_scratch *s = scratch__for_current();
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct rec r;
	struct lanner_evt_clone *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64): -errno */
	e->res = ret;
	/* Parameter: child_pid (u32): none */
	e->child_pid = 0;
	/* Parameter: flags (u32) */
	e->flags = type == LANNER_EVT_CLONE && (extract__arg0(extract__regs(t)) & LANNER_CLONE_THREAD) ? 1 : 0;
	/* Parameter: comm (str) */
	extract__comm_field(&r, t);
	ringbuf__submit(&r);
	scratch__release(s);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone")
int lanner_exit_clone(struct trace_event_raw_sys_exit *ctx)
{
	return fork__failed(ctx, LANNER_EVT_CLONE);
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int lanner_exit_clone3(struct trace_event_raw_sys_exit *ctx)
{
	return fork__failed(ctx, LANNER_EVT_CLONE3);
}

SEC("tracepoint/syscalls/sys_exit_fork")
int lanner_exit_fork(struct trace_event_raw_sys_exit *ctx)
{
	return fork__failed(ctx, LANNER_EVT_FORK);
}

SEC("tracepoint/syscalls/sys_exit_vfork")
int lanner_exit_vfork(struct trace_event_raw_sys_exit *ctx)
{
	return fork__failed(ctx, LANNER_EVT_VFORK);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(lanner_sched_exit, struct task_struct *p)
{
	if (!interest__wanted(LANNER_EVT_PROCEXIT))
		return 0;
	struct lanner_scratch *s = scratch__for_current();
	if (!s)
		return 0;
	struct rec r;
	struct lanner_evt_procexit *e = store__begin(&r, s, LANNER_EVT_PROCEXIT, sizeof(*e));
	/* Parameter: status (i64): exit_code, set by do_exit before the tracepoint */
	e->status = BPF_CORE_READ(p, exit_code);
	/* Parameter: flags (u32): bit 0 = the thread group is gone. do_exit decrements signal->live before
	 * this tracepoint, so live == 0 exactly in the last exiting thread (the kernel's group_dead). */
	e->flags = BPF_CORE_READ(p, signal, live.counter) == 0 ? 1 : 0;
	ringbuf__submit(&r);
	scratch__release(s);
	return 0;
}

/* ------------------------------------------------------------------ open family */

enum open_kind { OPEN_OPEN, OPEN_OPENAT, OPEN_OPENAT2, OPEN_CREAT };

static __always_inline void open__emit(struct lanner_scratch *s, long ret, __u16 type, int kind, bool raw)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *regs = extract__regs(t);
	int dirfd = LANNER_AT_FDCWD;
	const char *path;
	__u32 flags = 0, mode = 0;
	switch (kind) {
	case OPEN_OPEN:
		path = (const char *)extract__arg0(regs);
		flags = extract__arg1(regs);
		mode = extract__arg2(regs);
		break;
	case OPEN_CREAT:
		path = (const char *)extract__arg0(regs);
		flags = LANNER_O_CREAT | LANNER_O_WRONLY | LANNER_O_TRUNC; /* what creat(2) means */
		mode = extract__arg1(regs);
		break;
	case OPEN_OPENAT:
		dirfd = extract__arg0(regs);
		path = (const char *)extract__arg1(regs);
		flags = extract__arg2(regs);
		mode = extract__arg3(regs);
		break;
	default: { /* OPEN_OPENAT2 */
		dirfd = extract__arg0(regs);
		path = (const char *)extract__arg1(regs);
		struct open_how how = {};
		if (bpf_probe_read_user(&how, sizeof(how), (const void *)extract__arg2(regs)))
			counters__inc(LANNER_CNT_READ_FAILURES);
		flags = how.flags;
		mode = how.mode;
		break;
	}
	}

	struct rec r;
	struct lanner_evt_openat *e = store__begin(&r, s, type, sizeof(*e));
	struct task_root tr = path__task_root(t);
	struct file *f = ret >= 0 ? extract__file_from_fd(t, ret) : NULL;
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: flags (u32) */
	e->flags = flags;
	/* Parameter: mode (u32) */
	e->mode = mode;
	/* Parameter: dirfd (i32) */
	e->dirfd = dirfd;
	/* Parameter: dev (u32), ino (u64): kernel dev_t (MAJOR << 20 | MINOR) and inode of the opened file */
	if (f) {
		struct inode *ino = f->f_inode;
		e->dev = ino->i_sb->s_dev;
		e->ino = ino->i_ino;
	} else {
		e->dev = 0;
		e->ino = 0;
	}

	/* exe_flags bit 4: remember who last opened a file for writing (or created it) */
	if (f && ((flags & 3) != 0 || (flags & (LANNER_O_CREAT | LANNER_O_TRUNC)))) {
		struct lanner_file_key k = extract__file_key(f->f_inode);
		__u32 tgid = s->pt >> 32;
		bpf_map_update_elem(&lanner_written, &k, &tgid, BPF_ANY);
	}

	/* Parameter: name (str): canonical path of the opened file; for a failure, base directory + raw path */
	if (f) {
		__u32 p = store__var_begin(&r);
		path__append_file(&r, f, &tr);
		store__var_end(&r, p);
	} else {
		path__g_name_at(s, dirfd, (__u64)path);
	}

	/* Parameter: nameraw (str): empty when the collector's rules do not read it (LANNER_INTEREST_OMIT_NAMERAW) */
	if (raw)
		store__ustr_field(&r, path, LANNER_PATH_MAX);
	else
		store__empty(&r);
	ringbuf__submit(&r);
}

static __always_inline int open__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, int kind)
{
	__u32 want = interest__flags(type);
	if (!(want & LANNER_INTEREST_CAPTURE))
		return 0;
	struct lanner_scratch *s = scratch__for_current();
	if (!s)
		return 0;
	open__emit(s, ctx->ret, type, kind, !(want & LANNER_INTEREST_OMIT_NAMERAW));
	scratch__release(s);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int lanner_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return open__exit(ctx, LANNER_EVT_OPEN, OPEN_OPEN);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int lanner_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return open__exit(ctx, LANNER_EVT_OPENAT, OPEN_OPENAT);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int lanner_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return open__exit(ctx, LANNER_EVT_OPENAT2, OPEN_OPENAT2);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int lanner_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return open__exit(ctx, LANNER_EVT_CREAT, OPEN_CREAT);
}

/* ------------------------------------------------------------------ connect */

static __always_inline void connect__emit(struct lanner_scratch *s, long ret)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *regs = extract__regs(t);
	int fd = extract__arg0(regs);
	const void *uaddr = (const void *)extract__arg1(regs);
	int alen = extract__arg2(regs);

	struct rec r;
	struct lanner_evt_connect *e = store__begin(&r, s, LANNER_EVT_CONNECT, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: fd (i32) */
	e->fd = fd;
	e->family = 0;
	e->socktype = 0;
	e->sport = 0;
	e->dport = 0;
	__builtin_memset(e->saddr, 0, 16);
	__builtin_memset(e->daddr, 0, 16);

	/* The address the caller passed. */
	__u32 n = alen < 0 ? 0 : (alen > 110 ? 110 : alen);
	bool have_addr = false;
	__builtin_memset(s->sa, 0, sizeof(s->sa));
	if (uaddr && n >= 2) {
		__u32 rn = n;
		barrier_var(rn);
		rn &= 127;
		if (bpf_probe_read_user(s->sa, rn, uaddr) == 0)
			have_addr = true;
		else
			counters__inc(LANNER_CNT_READ_FAILURES);
	}
	__u16 ufamily = have_addr ? *(__u16 *)s->sa : 0;

	/* The socket behind fd: type, family, local address. */
	struct file *f = extract__file_from_fd(t, fd);
	struct sock *sk = NULL;
	if (f && (BPF_CORE_READ(f, f_inode, i_mode) & LANNER_S_IFMT) == LANNER_S_IFSOCK) {
		struct socket *sock = BPF_CORE_READ(f, private_data);
		/* Parameter: socktype (u16) */
		e->socktype = BPF_CORE_READ(sock, type);
		sk = BPF_CORE_READ(sock, sk);
	}
	__u16 skfamily = sk ? BPF_CORE_READ(sk, __sk_common.skc_family) : 0;
	/* Parameter: family (u16): as passed; the socket's when the address could not be read */
	__u16 family = have_addr ? ufamily : skfamily;
	e->family = family;

	if (sk && (skfamily == LANNER_AF_INET || skfamily == LANNER_AF_INET6)) {
		/* Parameter: sport (u16), saddr (bytes16): local end, bound by connect for TCP */
		e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
		if (skfamily == LANNER_AF_INET) {
			__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
			__builtin_memcpy(e->saddr, &a, 4);
		} else {
			bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		}
	}
	/* Parameter: dport (u16), daddr (bytes16): the remote end the caller asked for */
	if (family == LANNER_AF_INET) {
		if (have_addr) {
			e->dport = net__ntohs(*(__u16 *)&s->sa[2]);
			__builtin_memcpy(e->daddr, &s->sa[4], 4);
		} else if (sk) {
			e->dport = net__ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
			__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
			__builtin_memcpy(e->daddr, &a, 4);
		}
	} else if (family == LANNER_AF_INET6) {
		if (have_addr) {
			e->dport = net__ntohs(*(__u16 *)&s->sa[2]);
			__builtin_memcpy(e->daddr, &s->sa[8], 16);
		} else if (sk) {
			e->dport = net__ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
			bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
		}
	}

	/* Parameter: path (str): AF_UNIX sun_path; an abstract name (leading NUL) is shown as '@' + name */
	__u32 p = store__var_begin(&r);
	if (family == LANNER_AF_UNIX && have_addr && n > 2) {
		__u32 plen = n - 2;
		if (s->sa[2] == 0) {
			store__append_byte(&r, '@');
			store__append_kbytes(&r, &s->sa[3], (plen - 1) & 127);
		} else {
			store__append_kstr(&r, &s->sa[2], 109);
		}
	}
	store__var_end(&r, p);
	ringbuf__submit(&r);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int lanner_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	if (!interest__wanted(LANNER_EVT_CONNECT))
		return 0;
	struct lanner_scratch *s = scratch__for_current();
	if (!s)
		return 0;
	connect__emit(s, ctx->ret);
	scratch__release(s);
	return 0;
}

/* ------------------------------------------------------------------ the rest of the syscalls (schema 1.1)
 *
 * Every program starts the same way: its event type must be wanted (userspace also attaches a syscall's
 * programs only while its type is wanted, but the check keeps a program that is mid-detach or shared
 * honest) and the caller must not be an ignored process (the sensor itself); then it takes the CPU's
 * workspace (records with variable fields) or reserves its exact size in the ring (fixed-only records). */
#define PROG_BEGIN(type)                                          \
	if (!interest__wanted(type))                              \
		return 0;                                         \
	struct lanner_scratch *s = scratch__for_current();        \
	if (!s)                                                   \
		return 0;

#define PROG_END()             \
	scratch__release(s);   \
	return 0;

#define FIXED_BEGIN(type, T)                                      \
	if (!interest__wanted(type))                              \
		return 0;                                         \
	__u64 pt = bpf_get_current_pid_tgid();                    \
	if (filter__ignored_tgid(pt >> 32))                       \
		return 0;                                         \
	T *e = fixed__reserve(type, sizeof(T), pt);               \
	if (!e)                                                   \
		return 0;

#define FIXED_END()                    \
	fixed__submit(e, sizeof(*e));  \
	return 0;

/* The current task and its saved user registers (the syscall's arguments). */
#define PROG_REGS()                                               \
	struct task_struct *t = bpf_get_current_task_btf();      \
	struct pt_regs *regs = extract__regs(t);

#include "progs/fd.bpf.h"
#include "progs/net.bpf.h"
#include "progs/fs.bpf.h"
#include "progs/proc.bpf.h"
#include "progs/mem.bpf.h"
#include "progs/io.bpf.h"
