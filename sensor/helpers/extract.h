/* Extract layer: reading task, credential, file and syscall-argument state. */
#ifndef LANNER_HELPERS_EXTRACT_H
#define LANNER_HELPERS_EXTRACT_H

#include "path.h"

/* The user registers saved at syscall entry. At sys_exit the argument registers still hold the
 * arguments (only ax is overwritten with the return value), so the exit programs read them here
 * instead of keeping a per-thread map filled at sys_enter: one hook per syscall instead of two. */
static __always_inline struct pt_regs *extract__user_regs(struct task_struct *t)
{
	return (struct pt_regs *)bpf_task_pt_regs(t);
}

/* The same registers without the helper call (~25 ns here, most of it the call and its SRSO return thunk):
 * task_pt_regs() is the task's stack page plus a constant of the kernel build (THREAD_SIZE, padding, the size of
 * pt_regs), so the first program run asks bpf_task_pt_regs once and keeps the distance in a global (.bss: a
 * direct load, no lookup; racing CPUs store the same value). Loads through the result are fault-safe (a
 * read-only BTF pointer). For the current task only (in a syscall, so its stack is live). */
static __u32 lanner_regs_off;

static __always_inline struct pt_regs *extract__regs(struct task_struct *t)
{
	unsigned long stack = (unsigned long)t->stack;
	__u32 off = lanner_regs_off;
	if (!off) {
		unsigned long regs = bpf_task_pt_regs(t);
		if (!regs || regs < stack || regs - stack > 0x100000)
			return (struct pt_regs *)regs; /* not a stack-relative layout: never cached */
		off = regs - stack;
		lanner_regs_off = off;
	}
	return bpf_rdonly_cast((void *)(stack + off), bpf_core_type_id_kernel(struct pt_regs));
}

#define extract__arg0(regs) ((regs)->di)
#define extract__arg1(regs) ((regs)->si)
#define extract__arg2(regs) ((regs)->dx)
#define extract__arg3(regs) ((regs)->r10)
#define extract__arg4(regs) ((regs)->r8)
#define extract__arg5(regs) ((regs)->r9)

/* The kernel's struct epoll_filefd (fs/eventpoll.c) starts with a struct file *: a view of one fd table
 * slot. Declared here unpacked (the kernel's is packed, which made clang load the pointer bytewise, and
 * the verifier refuses part of a pointer). */
struct epoll_filefd___lanner {
	struct file *file;
} __attribute__((preserve_access_index));

/* The open file behind fd (a BTF pointer), or NULL. */
static __always_inline struct file *extract__file_from_fd(struct task_struct *t, long fd)
{
	if (fd < 0)
		return NULL;
	struct fdtable *fdt = t->files->fdt;
	if (!fdt)
		return NULL;
	unsigned int max = fdt->max_fds;
	if (fd >= max)
		return NULL;
	struct file **fds = fdt->fd;
	if (bpf_core_type_exists(struct epoll_filefd___lanner) && bpf_core_field_offset(struct epoll_filefd___lanner, file) == 0) {
		/* fds[fd] with a direct load through that view (a bpf_probe_read_kernel call costs ~50 ns here) */
		struct epoll_filefd___lanner *slot = bpf_rdonly_cast(
			(void *)((unsigned long)fds + (unsigned long)fd * sizeof(void *)), bpf_core_type_id_kernel(struct epoll_filefd___lanner));
		return slot->file;
	}
	void *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	return bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file));
}

/* The absolute path a (dirfd, path) pair names: the path itself when absolute, else the base directory
 * (the cwd for AT_FDCWD, else dirfd's file; both canonical, resolved from their dentries) + "/" + path,
 * then normalised lexically ("//", ".", ".."). Symlinks inside the raw part are not followed: the kernel
 * resolved them during the syscall and left nothing behind to read at its exit (sensor/README.md, Paths).
 * An empty path (AT_EMPTY_PATH) gives the base itself. */
static __always_inline void path__append_at(struct rec *r, struct task_struct *t, struct task_root *tr, int dirfd,
					    const char *upath)
{
	__u32 start = r->s->off;
	char first = 0;
	if (upath && bpf_probe_read_user(&first, 1, upath))
		counters__inc(LANNER_CNT_READ_FAILURES);
	if (first != '/') {
		/* one walk for either base, so the verifier sees one copy of it */
		struct dentry *d = NULL;
		struct vfsmount *m = NULL;
		if (dirfd == LANNER_AT_FDCWD) {
			struct fs_struct *fs = t->fs;
			if (fs) {
				d = fs->pwd.dentry;
				m = fs->pwd.mnt;
			}
		} else {
			struct file *f = extract__file_from_fd(t, dirfd);
			if (f) {
				d = f->f_path.dentry;
				m = f->f_path.mnt;
			}
		}
		path__append(r, d, m, tr);
		store__append_byte(r, '/');
	}
	if (upath && first)
		store__append_ustr(r, upath, LANNER_PATH_MAX, false);
	path__normalize(r, start);
}

/* The builders below are global BPF functions: the verifier checks each once per program instead of once
 * per call site with the caller's state (a rename names two paths; inlined, renameat2 took 246k verified
 * instructions, a quarter of the budget). They take only the workspace and scalars, and find the task
 * themselves. */

/* A NAME field: path__append_at for the current task. */
__noinline int path__g_name_at(struct lanner_scratch *s, int dirfd, __u64 upath)
{
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_root tr = path__task_root(t);
	struct rec r = { .s = s };
	__u32 p = store__var_begin(&r);
	path__append_at(&r, t, &tr, dirfd, (const char *)upath);
	store__var_end(&r, p);
	return 0;
}

/* An fdpath field: the file behind fd now, or empty when fd is not open. */
__noinline int path__g_fdpath(struct lanner_scratch *s, int fd)
{
	if (!s)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_root tr = path__task_root(t);
	struct rec r = { .s = s };
	__u32 p = store__var_begin(&r);
	struct file *f = extract__file_from_fd(t, fd);
	if (f)
		path__append(&r, f->f_path.dentry, f->f_path.mnt, &tr);
	store__var_end(&r, p);
	return 0;
}

/* A NAME field then its NAMEraw twin. */
static __always_inline void path__at_fields(struct rec *r, int dirfd, const char *upath)
{
	path__g_name_at(r->s, dirfd, (__u64)upath);
	store__ustr_field(r, upath, LANNER_PATH_MAX);
}

static __always_inline void extract__fdpath_field(struct rec *r, long fd)
{
	path__g_fdpath(r->s, fd);
}

/* The id of a struct pid in the namespace at `level` (0 = the initial namespace). */
static __always_inline __u32 extract__pid_nr(struct pid *pid, __u32 level)
{
	if (!pid)
		return 0;
	int nr = 0;
	void *numbers = (void *)pid + bpf_core_field_offset(struct pid, numbers);
	void *up = numbers + (__u64)(level & 31) * bpf_core_type_size(struct upid) + bpf_core_field_offset(struct upid, nr);
	bpf_probe_read_kernel(&nr, sizeof(nr), up);
	return nr;
}

/* Process id as seen in the process's own pid namespace. */
static __always_inline __u32 extract__vpid(struct task_struct *t)
{
	struct pid *pid = BPF_CORE_READ(t, group_leader, thread_pid);
	__u32 level = BPF_CORE_READ(pid, level);
	return extract__pid_nr(pid, level);
}

/* Controlling terminal in /proc/PID/stat tty_nr form (new_encode_dev of MKDEV(major, minor_start + index)). */
static __always_inline __u32 extract__tty(struct signal_struct *sig)
{
	struct tty_struct *tty = BPF_CORE_READ(sig, tty);
	if (!tty)
		return 0;
	__u32 major = BPF_CORE_READ(tty, driver, major);
	__u32 minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
}

/* Every fixed field of an exec-shaped record (execve, execveat) except res and exe_flags. */
static __always_inline void extract__proc_fixed(struct task_struct *t, struct lanner_evt_execve *e)
{
	const struct cred *c = BPF_CORE_READ(t, real_cred);
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	e->uid = BPF_CORE_READ(c, uid.val);
	e->gid = BPF_CORE_READ(c, gid.val);
	e->euid = BPF_CORE_READ(c, euid.val);
	__u64 cap = 0;
	bpf_core_read(&cap, sizeof(cap), &c->cap_effective);
	e->cap_effective = cap;
	cap = 0;
	bpf_core_read(&cap, sizeof(cap), &c->cap_permitted);
	e->cap_permitted = cap;
	if (bpf_core_field_exists(t->loginuid))
		e->loginuid = BPF_CORE_READ(t, loginuid.val);
	else
		e->loginuid = (__u32)-1;
	e->vpid = extract__vpid(t);
	struct signal_struct *sig = BPF_CORE_READ(t, signal);
	e->sid = extract__pid_nr(BPF_CORE_READ(sig, pids[PIDTYPE_SID]), 0);
	e->pgid = extract__pid_nr(BPF_CORE_READ(sig, pids[PIDTYPE_PGID]), 0);
	e->tty = extract__tty(sig);
	e->start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
}

#define LANNER_SB_RDONLY 1
#define LANNER_MNT_READONLY 0x40
#define LANNER_S_IMMUTABLE 8
#define LANNER_CAP_DAC_OVERRIDE 1
#define LANNER_MAX_GROUPS 32

/* in_group_p: the fsgid or one of the first LANNER_MAX_GROUPS supplementary groups. */
static __always_inline bool extract__in_group(const struct cred *c, __u32 gid)
{
	if (c->fsgid.val == gid)
		return true;
	struct group_info *gi = c->group_info;
	if (!gi)
		return false;
	int n = gi->ngroups;
	if (n <= 0)
		return false;
	__u32 cnt = n > LANNER_MAX_GROUPS ? LANNER_MAX_GROUPS : n;
	__u32 gids[LANNER_MAX_GROUPS] = {};
	barrier_var(cnt);
	cnt &= (2 * LANNER_MAX_GROUPS - 1);
	if (cnt > LANNER_MAX_GROUPS)
		cnt = LANNER_MAX_GROUPS;
	if (bpf_probe_read_kernel(gids, cnt * sizeof(__u32), (void *)gi + bpf_core_field_offset(struct group_info, gid)))
		return false;
#pragma unroll
	for (int i = 0; i < LANNER_MAX_GROUPS; i++) {
		if (i < cnt && gids[i] == gid)
			return true;
	}
	return false;
}

/* Whether credentials c may write the file f (Falco's proc.is_exe_writable): not on a read-only mount or
 * filesystem, not immutable, and the owner/group/other write bit that applies to c, or CAP_DAC_OVERRIDE.
 * User namespaces are not consulted (capabilities count as in the initial namespace); ACLs are ignored. */
static __always_inline bool extract__writable(struct file *f, const struct cred *c)
{
	struct inode *ino = f->f_inode;
	if ((ino->i_sb->s_flags & LANNER_SB_RDONLY) || (f->f_path.mnt->mnt_flags & LANNER_MNT_READONLY))
		return false;
	if (ino->i_flags & LANNER_S_IMMUTABLE)
		return false;
	__u32 mode = ino->i_mode;
	bool w;
	if (c->fsuid.val == ino->i_uid.val)
		w = mode & 0200;
	else if (extract__in_group(c, ino->i_gid.val))
		w = mode & 0020;
	else
		w = mode & 0002;
	if (w)
		return true;
	__u64 eff = 0;
	bpf_core_read(&eff, sizeof(eff), &c->cap_effective);
	return eff & (1ULL << LANNER_CAP_DAC_OVERRIDE);
}

/* Key of lanner_written: a file by device and inode. */
static __always_inline struct lanner_file_key extract__file_key(struct inode *ino)
{
	struct lanner_file_key k = { .ino = ino->i_ino, .dev = ino->i_sb->s_dev };
	return k;
}

/* exe_flags of the file an exec runs, for task t (already in its new image) with credentials c:
 *   bit 0  on an overlayfs upper layer (ovl_inode.__upperdentry set)
 *   bit 1  a memfd (shmem/hugetlbfs file named "memfd:...")
 *   bit 2  writable by c (extract__writable)
 *   bit 3  on an overlayfs lower layer (no upper dentry)
 *   bit 4  opened for writing by this process or its parent since the sensor started (lanner_written,
 *          fed by the open family's programs while they are attached) */
static __always_inline __u32 extract__exe_flags(struct file *f, struct task_struct *t, const struct cred *c)
{
	__u32 flags = 0;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	unsigned long magic = BPF_CORE_READ(ino, i_sb, s_magic);
	if (magic == LANNER_OVERLAYFS_SUPER_MAGIC && bpf_core_type_exists(struct ovl_inode)) {
		struct ovl_inode *oi = lanner__container_of(ino, struct ovl_inode, vfs_inode);
		if (BPF_CORE_READ(oi, __upperdentry))
			flags |= 1;
		else
			flags |= 8;
	}
	if (magic == LANNER_TMPFS_MAGIC || magic == LANNER_HUGETLBFS_MAGIC) {
		char pfx[6] = {};
		bpf_probe_read_kernel(pfx, sizeof(pfx), BPF_CORE_READ(f, f_path.dentry, d_name.name));
		if (pfx[0] == 'm' && pfx[1] == 'e' && pfx[2] == 'm' && pfx[3] == 'f' && pfx[4] == 'd' && pfx[5] == ':')
			flags |= 2;
	}
	if (c && extract__writable(f, c))
		flags |= 4;
	struct lanner_file_key k = extract__file_key(f->f_inode);
	__u32 *writer = bpf_map_lookup_elem(&lanner_written, &k);
	if (writer && (*writer == t->tgid || *writer == t->real_parent->tgid))
		flags |= 16;
	return flags;
}

/* The variable fields comm, cwd and cgroup shared by the exec records. */
static __always_inline void extract__comm_field(struct rec *r, struct task_struct *t)
{
	store__kstr_field(r, &t->comm, 16);
}

#endif /* LANNER_HELPERS_EXTRACT_H */
