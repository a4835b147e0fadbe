/* Files and directories: rename family, unlink/unlinkat/rmdir, mkdir/mkdirat, link/linkat,
 * symlink/symlinkat, chmod family, chown family, chdir/fchdir/chroot, mount/umount2.
 *
 * A path argument becomes NAME (path__append_at: absolute, from the canonical cwd or dirfd, normalised
 * lexically) and NAMEraw (as passed). Where the kernel leaves the result in the task (chdir, fchdir,
 * chroot), NAME is read from there instead and is exact. */

#define AT_FDCWD_ LANNER_AT_FDCWD

/* rename(old, new) / renameat(olddirfd, old, newdirfd, new) / renameat2(..., flags) */
static __always_inline int rename__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, int kind)
{
	PROG_BEGIN(type)
	PROG_REGS()
	int olddirfd = AT_FDCWD_, newdirfd = AT_FDCWD_;
	const char *oldp, *newp;
	__u32 flags = 0;
	if (kind == 0) {
		oldp = (const char *)extract__arg0(regs);
		newp = (const char *)extract__arg1(regs);
	} else {
		olddirfd = extract__arg0(regs);
		oldp = (const char *)extract__arg1(regs);
		newdirfd = extract__arg2(regs);
		newp = (const char *)extract__arg3(regs);
		if (kind == 2)
			flags = extract__arg4(regs);
	}
	struct rec r;
	struct lanner_evt_rename *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: olddirfd (i32), newdirfd (i32), flags (u32) */
	e->olddirfd = olddirfd;
	e->newdirfd = newdirfd;
	e->flags = flags;
	/* Parameter: oldpath (str), oldpathraw (str) */
	path__at_fields(&r, olddirfd, oldp);
	/* Parameter: newpath (str), newpathraw (str) */
	path__at_fields(&r, newdirfd, newp);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_rename")
int lanner_exit_rename(struct trace_event_raw_sys_exit *ctx)
{
	return rename__exit(ctx, LANNER_EVT_RENAME, 0);
}

SEC("tracepoint/syscalls/sys_exit_renameat")
int lanner_exit_renameat(struct trace_event_raw_sys_exit *ctx)
{
	return rename__exit(ctx, LANNER_EVT_RENAMEAT, 1);
}

SEC("tracepoint/syscalls/sys_exit_renameat2")
int lanner_exit_renameat2(struct trace_event_raw_sys_exit *ctx)
{
	return rename__exit(ctx, LANNER_EVT_RENAMEAT2, 2);
}

/* unlink(path), rmdir(path): the unlink shape (res, path, pathraw) */
static __always_inline int path1__exit(struct trace_event_raw_sys_exit *ctx, __u16 type)
{
	PROG_BEGIN(type)
	PROG_REGS()
	struct rec r;
	struct lanner_evt_unlink *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: path (str), pathraw (str) */
	path__at_fields(&r, AT_FDCWD_, (const char *)extract__arg0(regs));
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_unlink")
int lanner_exit_unlink(struct trace_event_raw_sys_exit *ctx)
{
	return path1__exit(ctx, LANNER_EVT_UNLINK);
}

SEC("tracepoint/syscalls/sys_exit_rmdir")
int lanner_exit_rmdir(struct trace_event_raw_sys_exit *ctx)
{
	return path1__exit(ctx, LANNER_EVT_RMDIR);
}

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int lanner_exit_unlinkat(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_UNLINKAT)
	PROG_REGS()
	int dirfd = extract__arg0(regs);
	struct rec r;
	struct lanner_evt_unlinkat *e = store__begin(&r, s, LANNER_EVT_UNLINKAT, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: dirfd (i32), flags (u32) */
	e->dirfd = dirfd;
	e->flags = extract__arg2(regs);
	/* Parameter: name (str), nameraw (str) */
	path__at_fields(&r, dirfd, (const char *)extract__arg1(regs));
	ringbuf__submit(&r);
	PROG_END()
}

/* mkdir(path, mode) / mkdirat(dirfd, path, mode) */
static __always_inline int mkdir__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, bool at)
{
	PROG_BEGIN(type)
	PROG_REGS()
	int dirfd = at ? (int)extract__arg0(regs) : AT_FDCWD_;
	const char *path = (const char *)(at ? extract__arg1(regs) : extract__arg0(regs));
	struct rec r;
	struct lanner_evt_mkdir *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: dirfd (i32), mode (u32) */
	e->dirfd = dirfd;
	e->mode = at ? extract__arg2(regs) : extract__arg1(regs);
	/* Parameter: path (str), pathraw (str) */
	path__at_fields(&r, dirfd, path);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_mkdir")
int lanner_exit_mkdir(struct trace_event_raw_sys_exit *ctx)
{
	return mkdir__exit(ctx, LANNER_EVT_MKDIR, false);
}

SEC("tracepoint/syscalls/sys_exit_mkdirat")
int lanner_exit_mkdirat(struct trace_event_raw_sys_exit *ctx)
{
	return mkdir__exit(ctx, LANNER_EVT_MKDIRAT, true);
}

/* link(old, new) / linkat(olddir, old, newdir, new, flags) */
static __always_inline int link__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, bool at)
{
	PROG_BEGIN(type)
	PROG_REGS()
	int olddir = AT_FDCWD_, newdir = AT_FDCWD_;
	const char *oldp, *newp;
	__u32 flags = 0;
	if (!at) {
		oldp = (const char *)extract__arg0(regs);
		newp = (const char *)extract__arg1(regs);
	} else {
		olddir = extract__arg0(regs);
		oldp = (const char *)extract__arg1(regs);
		newdir = extract__arg2(regs);
		newp = (const char *)extract__arg3(regs);
		flags = extract__arg4(regs);
	}
	struct rec r;
	struct lanner_evt_link *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: olddir (i32), newdir (i32), flags (u32) */
	e->olddir = olddir;
	e->newdir = newdir;
	e->flags = flags;
	/* Parameter: oldpath (str), oldpathraw (str) */
	path__at_fields(&r, olddir, oldp);
	/* Parameter: newpath (str), newpathraw (str) */
	path__at_fields(&r, newdir, newp);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_link")
int lanner_exit_link(struct trace_event_raw_sys_exit *ctx)
{
	return link__exit(ctx, LANNER_EVT_LINK, false);
}

SEC("tracepoint/syscalls/sys_exit_linkat")
int lanner_exit_linkat(struct trace_event_raw_sys_exit *ctx)
{
	return link__exit(ctx, LANNER_EVT_LINKAT, true);
}

/* symlink(target, linkpath) / symlinkat(target, newdirfd, linkpath) */
static __always_inline int symlink__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, bool at)
{
	PROG_BEGIN(type)
	PROG_REGS()
	int dirfd = at ? (int)extract__arg1(regs) : AT_FDCWD_;
	const char *linkp = (const char *)(at ? extract__arg2(regs) : extract__arg1(regs));
	struct rec r;
	struct lanner_evt_symlink *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: linkdirfd (i32) */
	e->linkdirfd = dirfd;
	/* Parameter: target (str): text, never resolved */
	store__ustr_field(&r, (const char *)extract__arg0(regs), LANNER_PATH_MAX);
	/* Parameter: linkpath (str), linkpathraw (str) */
	path__at_fields(&r, dirfd, linkp);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_symlink")
int lanner_exit_symlink(struct trace_event_raw_sys_exit *ctx)
{
	return symlink__exit(ctx, LANNER_EVT_SYMLINK, false);
}

SEC("tracepoint/syscalls/sys_exit_symlinkat")
int lanner_exit_symlinkat(struct trace_event_raw_sys_exit *ctx)
{
	return symlink__exit(ctx, LANNER_EVT_SYMLINKAT, true);
}

/* chmod(path, mode) / fchmodat(dirfd, path, mode) */
static __always_inline int chmod__exit(struct trace_event_raw_sys_exit *ctx, __u16 type, bool at)
{
	PROG_BEGIN(type)
	PROG_REGS()
	int dirfd = at ? (int)extract__arg0(regs) : AT_FDCWD_;
	const char *path = (const char *)(at ? extract__arg1(regs) : extract__arg0(regs));
	struct rec r;
	struct lanner_evt_chmod *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: dirfd (i32), mode (u32) */
	e->dirfd = dirfd;
	e->mode = at ? extract__arg2(regs) : extract__arg1(regs);
	/* Parameter: filename (str), filenameraw (str) */
	path__at_fields(&r, dirfd, path);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_chmod")
int lanner_exit_chmod(struct trace_event_raw_sys_exit *ctx)
{
	return chmod__exit(ctx, LANNER_EVT_CHMOD, false);
}

SEC("tracepoint/syscalls/sys_exit_fchmodat")
int lanner_exit_fchmodat(struct trace_event_raw_sys_exit *ctx)
{
	return chmod__exit(ctx, LANNER_EVT_FCHMODAT, true);
}

SEC("tracepoint/syscalls/sys_exit_fchmod")
int lanner_exit_fchmod(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_FCHMOD)
	PROG_REGS()
	int fd = extract__arg0(regs);
	struct rec r;
	struct lanner_evt_fchmod *e = store__begin(&r, s, LANNER_EVT_FCHMOD, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: fd (i32), mode (u32) */
	e->fd = fd;
	e->mode = extract__arg1(regs);
	/* Parameter: fdpath (str) */
	extract__fdpath_field(&r, fd);
	ringbuf__submit(&r);
	PROG_END()
}

/* chown(path, uid, gid) / lchown(path, uid, gid): the chown shape */
static __always_inline int chown__exit(struct trace_event_raw_sys_exit *ctx, __u16 type)
{
	PROG_BEGIN(type)
	PROG_REGS()
	struct rec r;
	struct lanner_evt_chown *e = store__begin(&r, s, type, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: uid (u32), gid (u32) */
	e->uid = extract__arg1(regs);
	e->gid = extract__arg2(regs);
	/* Parameter: path (str), pathraw (str) */
	path__at_fields(&r, AT_FDCWD_, (const char *)extract__arg0(regs));
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_chown")
int lanner_exit_chown(struct trace_event_raw_sys_exit *ctx)
{
	return chown__exit(ctx, LANNER_EVT_CHOWN);
}

SEC("tracepoint/syscalls/sys_exit_lchown")
int lanner_exit_lchown(struct trace_event_raw_sys_exit *ctx)
{
	return chown__exit(ctx, LANNER_EVT_LCHOWN);
}

SEC("tracepoint/syscalls/sys_exit_fchown")
int lanner_exit_fchown(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_FCHOWN)
	PROG_REGS()
	int fd = extract__arg0(regs);
	struct rec r;
	struct lanner_evt_fchown *e = store__begin(&r, s, LANNER_EVT_FCHOWN, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: fd (i32), uid (u32), gid (u32) */
	e->fd = fd;
	e->uid = extract__arg1(regs);
	e->gid = extract__arg2(regs);
	/* Parameter: fdpath (str) */
	extract__fdpath_field(&r, fd);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_fchownat")
int lanner_exit_fchownat(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_FCHOWNAT)
	PROG_REGS()
	int dirfd = extract__arg0(regs);
	struct rec r;
	struct lanner_evt_fchownat *e = store__begin(&r, s, LANNER_EVT_FCHOWNAT, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: dirfd (i32), uid (u32), gid (u32), flags (u32): fchownat(dirfd, path, uid, gid, flags) */
	e->dirfd = dirfd;
	e->uid = extract__arg2(regs);
	e->gid = extract__arg3(regs);
	e->flags = extract__arg4(regs);
	/* Parameter: pathname (str), pathnameraw (str) */
	path__at_fields(&r, dirfd, (const char *)extract__arg1(regs));
	ringbuf__submit(&r);
	PROG_END()
}

/* chdir: on success the new cwd is read back from the task (exact); on failure the old cwd + raw path. */
SEC("tracepoint/syscalls/sys_exit_chdir")
int lanner_exit_chdir(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_CHDIR)
	PROG_REGS()
	struct task_root tr = path__task_root(t);
	long ret = ctx->ret;
	const char *path = (const char *)extract__arg0(regs);
	struct rec r;
	struct lanner_evt_chdir *e = store__begin(&r, s, LANNER_EVT_CHDIR, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: path (str) */
	if (ret == 0) {
		__u32 p = store__var_begin(&r);
		path__append_cwd(&r, t, &tr);
		store__var_end(&r, p);
	} else {
		path__g_name_at(s, AT_FDCWD_, (__u64)path);
	}
	/* Parameter: pathraw (str) */
	store__ustr_field(&r, path, LANNER_PATH_MAX);
	ringbuf__submit(&r);
	PROG_END()
}

SEC("tracepoint/syscalls/sys_exit_fchdir")
int lanner_exit_fchdir(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_FCHDIR)
	PROG_REGS()
	int fd = extract__arg0(regs);
	struct rec r;
	struct lanner_evt_fchdir *e = store__begin(&r, s, LANNER_EVT_FCHDIR, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: fd (i32) */
	e->fd = fd;
	/* Parameter: fdpath (str) */
	extract__fdpath_field(&r, fd);
	ringbuf__submit(&r);
	PROG_END()
}

/* chroot: on success the new root, walked to the top of the mount namespace (the task's own root is the new
 * one now, so it cannot be the stop); on failure cwd + raw path. */
SEC("tracepoint/syscalls/sys_exit_chroot")
int lanner_exit_chroot(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_CHROOT)
	PROG_REGS()
	long ret = ctx->ret;
	const char *path = (const char *)extract__arg0(regs);
	struct rec r;
	struct lanner_evt_chroot *e = store__begin(&r, s, LANNER_EVT_CHROOT, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ret;
	/* Parameter: path (str) */
	if (ret == 0) {
		__u32 p = store__var_begin(&r);
		struct task_root top = {};
		struct fs_struct *fs = t->fs;
		if (fs)
			path__append(&r, fs->root.dentry, fs->root.mnt, &top);
		store__var_end(&r, p);
	} else {
		path__g_name_at(s, AT_FDCWD_, (__u64)path);
	}
	/* Parameter: pathraw (str) */
	store__ustr_field(&r, path, LANNER_PATH_MAX);
	ringbuf__submit(&r);
	PROG_END()
}

/* mount(dev, dir, type, flags, data) */
SEC("tracepoint/syscalls/sys_exit_mount")
int lanner_exit_mount(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_MOUNT)
	PROG_REGS()
	const char *dir = (const char *)extract__arg1(regs);
	struct rec r;
	struct lanner_evt_mount *e = store__begin(&r, s, LANNER_EVT_MOUNT, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: flags (u32) */
	e->flags = extract__arg3(regs);
	/* Parameter: dev (str) */
	store__ustr_field(&r, (const char *)extract__arg0(regs), LANNER_PATH_MAX);
	/* Parameter: dir (str), dirraw (str) */
	path__at_fields(&r, AT_FDCWD_, dir);
	/* Parameter: type (str) */
	store__ustr_field(&r, (const char *)extract__arg2(regs), 256);
	ringbuf__submit(&r);
	PROG_END()
}

/* umount2(target, flags): the syscall's tracepoint is named sys_exit_umount on x86_64 */
SEC("tracepoint/syscalls/sys_exit_umount")
int lanner_exit_umount2(struct trace_event_raw_sys_exit *ctx)
{
	PROG_BEGIN(LANNER_EVT_UMOUNT2)
	PROG_REGS()
	struct rec r;
	struct lanner_evt_umount2 *e = store__begin(&r, s, LANNER_EVT_UMOUNT2, sizeof(*e));
	/* Parameter: res (i64) */
	e->res = ctx->ret;
	/* Parameter: flags (u32) */
	e->flags = extract__arg1(regs);
	/* Parameter: name (str), nameraw (str) */
	path__at_fields(&r, AT_FDCWD_, (const char *)extract__arg0(regs));
	ringbuf__submit(&r);
	PROG_END()
}
