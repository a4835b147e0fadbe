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

#define extract__arg0(regs) ((regs)->di)
#define extract__arg1(regs) ((regs)->si)
#define extract__arg2(regs) ((regs)->dx)
#define extract__arg3(regs) ((regs)->r10)

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
	void *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	return bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file));
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

/* exe_flags bit 0: on an overlayfs upper layer; bit 1: a memfd (shmem/hugetlbfs file named "memfd:..."). */
static __always_inline __u32 extract__exe_flags(struct file *f)
{
	__u32 flags = 0;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	unsigned long magic = BPF_CORE_READ(ino, i_sb, s_magic);
	if (magic == LANNER_OVERLAYFS_SUPER_MAGIC && bpf_core_type_exists(struct ovl_inode)) {
		struct ovl_inode *oi = lanner__container_of(ino, struct ovl_inode, vfs_inode);
		if (BPF_CORE_READ(oi, __upperdentry))
			flags |= 1;
	}
	if (magic == LANNER_TMPFS_MAGIC || magic == LANNER_HUGETLBFS_MAGIC) {
		char pfx[6] = {};
		bpf_probe_read_kernel(pfx, sizeof(pfx), BPF_CORE_READ(f, f_path.dentry, d_name.name));
		if (pfx[0] == 'm' && pfx[1] == 'e' && pfx[2] == 'm' && pfx[3] == 'f' && pfx[4] == 'd' && pfx[5] == ':')
			flags |= 2;
	}
	return flags;
}

/* The variable fields comm, cwd and cgroup shared by the exec records. */
static __always_inline void extract__comm_field(struct rec *r, struct task_struct *t)
{
	store__kstr_field(r, &t->comm, 16);
}

#endif /* LANNER_HELPERS_EXTRACT_H */
