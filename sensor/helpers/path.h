/* Path layer: absolute paths resolved in the kernel without bpf_d_path (not callable from tracepoints).
 *
 * path__append walks dentry->d_parent up to the mount root, crosses to the parent mount through
 * struct mount (mnt_mountpoint, mnt_parent), and stops at the task's fs->root, or at the top of the
 * mount tree when the file lies outside that root (like d_path, which then gives the path from the
 * namespace root). The walk (bpf_loop, at most LANNER_PATH_WALK steps) records each component's name
 * pointer and length, leaf first, in the workspace; a second bpf_loop appends them root first.
 *
 * Special files, as the kernel's d_dname would name them:
 *   pipefs / sockfs            "pipe:[INO]" / "socket:[INO]"
 *   anon_inode                 "anon_inode:NAME" (e.g. anon_inode:[eventfd])
 *   a pseudo dentry (its own parent, not a mount root: memfd, dma-buf) or a tree that is not
 *   mounted in any namespace (internal kernel mounts, lazily unmounted trees):
 *                              the components without the leading slash, e.g. "memfd:NAME"
 * Limits: 64 components and LANNER_PATH_MAX bytes (longer paths keep their leading components and
 * count LANNER_CNT_PATH_TRUNCATED); no " (deleted)" suffix; names are read without the rename lock,
 * so a path renamed during the walk can mix old and new components (as with every BPF path walk). */
#ifndef LANNER_HELPERS_PATH_H
#define LANNER_HELPERS_PATH_H

#include "store.h"

#define LANNER_PATH_WALK (LANNER_PATH_COMPONENTS + 32) /* components plus mount crossings */

enum {
	WALK_RUNNING = 0,
	WALK_ROOT = 1,   /* reached the task's root */
	WALK_TOP = 2,    /* reached the top of the mount tree (or a disconnected dentry) */
	WALK_TRUNC = 3,  /* too many components */
	WALK_DETACHED = 4, /* ended at a dentry that is its own parent but not a mount root */
};

struct path_walk {
	struct lanner_scratch *s;
	struct dentry *d;
	struct vfsmount *mnt;
	struct dentry *mnt_root;
	struct dentry *root_d;
	struct vfsmount *root_mnt;
	__u32 state;
};

static long path__walk_step(__u32 i, void *ctx)
{
	struct path_walk *w = ctx;
	struct lanner_scratch *s = w->s;
	struct dentry *d = w->d;
	if (d == w->root_d && w->mnt == w->root_mnt) {
		w->state = WALK_ROOT;
		return 1;
	}
	if (d == w->mnt_root) {
		struct mount *m = lanner__container_of(w->mnt, struct mount, mnt);
		struct mount *parent = BPF_CORE_READ(m, mnt_parent);
		if (!parent || parent == m) {
			w->state = WALK_TOP;
			return 1;
		}
		w->d = BPF_CORE_READ(m, mnt_mountpoint);
		w->mnt = (struct vfsmount *)((void *)parent + bpf_core_field_offset(struct mount, mnt));
		w->mnt_root = BPF_CORE_READ(parent, mnt.mnt_root);
		return 0;
	}
	struct dentry *up = BPF_CORE_READ(d, d_parent);
	if (!up) {
		w->state = WALK_TOP;
		return 1;
	}
	__u32 n = s->ncomp;
	if (n >= LANNER_PATH_COMPONENTS) {
		w->state = WALK_TRUNC;
		return 1;
	}
	struct qstr q = {};
	bpf_core_read(&q, sizeof(q), &d->d_name);
	__u32 k = n & (LANNER_PATH_COMPONENTS - 1);
	s->comp_name[k] = (__u64)q.name;
	s->comp_len[k] = q.len;
	s->ncomp = n + 1;
	if (up == d) {
		/* A root that is not its mount's root: a pseudo dentry (d_alloc_pseudo: memfd, dma-buf, ...)
		 * or a disconnected one. Its name is the whole path, without a leading slash. */
		w->state = WALK_DETACHED;
		return 1;
	}
	w->d = up;
	return 0;
}

struct path_emit {
	struct rec *r;
	__u32 n;
	__u32 start;     /* r->s->off when the path began */
	bool slash;      /* prefix the first (top) component with '/' */
	bool truncated;
};

static long path__emit_step(__u32 i, void *ctx)
{
	struct path_emit *e = ctx;
	if (i >= e->n)
		return 1;
	struct rec *r = e->r;
	struct lanner_scratch *s = r->s;
	__u32 k = (e->n - 1 - i) & (LANNER_PATH_COMPONENTS - 1);
	__u32 len = s->comp_len[k];
	if (len > 255)
		len = 255;
	if (r->s->off - e->start + len + 1 > LANNER_PATH_MAX - 1) {
		e->truncated = true;
		return 1;
	}
	if (i > 0 || e->slash)
		store__append_byte(r, '/');
	store__append_kbytes(r, (const void *)s->comp_name[k], len);
	return 0;
}

/* Appends the absolute path of (dentry, mnt) relative to root (the task's fs->root). */
static __always_inline void path__append(struct rec *r, struct dentry *d, struct vfsmount *mnt,
					 struct dentry *root_d, struct vfsmount *root_mnt)
{
	if (!d || !mnt) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return;
	}
	unsigned long magic = BPF_CORE_READ(d, d_sb, s_magic);
	if (magic == LANNER_PIPEFS_MAGIC || magic == LANNER_SOCKFS_MAGIC) {
		if (magic == LANNER_PIPEFS_MAGIC)
			store__append_lit(r, "pipe:[");
		else
			store__append_lit(r, "socket:[");
		store__append_u64(r, BPF_CORE_READ(d, d_inode, i_ino));
		store__append_byte(r, ']');
		return;
	}
	if (magic == LANNER_ANON_INODE_FS_MAGIC) {
		store__append_lit(r, "anon_inode:");
		store__append_kstr(r, BPF_CORE_READ(d, d_name.name), 256);
		return;
	}

	struct path_walk w = {
		.s = r->s,
		.d = d,
		.mnt = mnt,
		.mnt_root = BPF_CORE_READ(mnt, mnt_root),
		.root_d = root_d,
		.root_mnt = root_mnt,
	};
	r->s->ncomp = 0;
	bpf_loop(LANNER_PATH_WALK, path__walk_step, &w, 0);
	__u32 ncomp = r->s->ncomp;

	bool slash = w.state != WALK_DETACHED;
	if (w.state == WALK_TOP) {
		/* Top of a tree: a mount namespace's root, or a tree mounted nowhere (kern_mount, detached). */
		struct mount *m = lanner__container_of(w.mnt, struct mount, mnt);
		unsigned long ns = (unsigned long)BPF_CORE_READ(m, mnt_ns);
		if (ns == 0 || ns >= (unsigned long)-4095)
			slash = false;
	}
	if (w.state == WALK_TRUNC || w.state == WALK_RUNNING)
		counters__inc(LANNER_CNT_PATH_TRUNCATED);
	if (ncomp == 0) {
		store__append_byte(r, '/');
		return;
	}
	struct path_emit e = {
		.r = r,
		.n = ncomp,
		.start = r->s->off,
		.slash = slash,
	};
	bpf_loop(LANNER_PATH_COMPONENTS, path__emit_step, &e, 0);
	if (e.truncated)
		counters__inc(LANNER_CNT_PATH_TRUNCATED);
}

static __always_inline void path__append_path(struct rec *r, const struct path *p, struct dentry *root_d,
					      struct vfsmount *root_mnt)
{
	struct path pp = {};
	bpf_core_read(&pp, sizeof(pp), p);
	path__append(r, pp.dentry, pp.mnt, root_d, root_mnt);
}

/* The task's root, for the walks above. */
struct task_root {
	struct dentry *d;
	struct vfsmount *mnt;
};

static __always_inline struct task_root path__task_root(struct task_struct *t)
{
	struct task_root tr = {};
	struct fs_struct *fs = BPF_CORE_READ(t, fs);
	if (fs) {
		tr.d = BPF_CORE_READ(fs, root.dentry);
		tr.mnt = BPF_CORE_READ(fs, root.mnt);
	}
	return tr;
}

static __always_inline void path__append_file(struct rec *r, struct file *f, struct task_root *tr)
{
	if (!f) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return;
	}
	path__append_path(r, &f->f_path, tr->d, tr->mnt);
}

static __always_inline void path__append_cwd(struct rec *r, struct task_struct *t, struct task_root *tr)
{
	struct fs_struct *fs = BPF_CORE_READ(t, fs);
	if (!fs)
		return; /* exiting task or kernel thread without fs */
	path__append_path(r, &fs->pwd, tr->d, tr->mnt);
}

/* ---- cgroup path: kernfs node names up to the hierarchy root ---- */

struct kernfs_node___pre615 {
	struct kernfs_node___pre615 *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *path__kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return (struct kernfs_node *)BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

#define LANNER_CGROUP_DEPTH 32

struct cg_walk {
	struct lanner_scratch *s;
	struct kernfs_node *kn;
};

static long path__cg_walk_step(__u32 i, void *ctx)
{
	struct cg_walk *w = ctx;
	struct kernfs_node *kn = w->kn;
	struct kernfs_node *up = path__kn_parent(kn);
	if (!up)
		return 1; /* the root's own name is not part of the path */
	struct lanner_scratch *s = w->s;
	__u32 n = s->ncomp;
	s->comp_name[n & (LANNER_PATH_COMPONENTS - 1)] = (__u64)BPF_CORE_READ(kn, name);
	s->ncomp = n + 1;
	w->kn = up;
	return 0;
}

struct cg_emit {
	struct rec *r;
	__u32 n;
	__u32 start;
};

static long path__cg_emit_step(__u32 i, void *ctx)
{
	struct cg_emit *e = ctx;
	if (i >= e->n)
		return 1;
	struct rec *r = e->r;
	if (r->s->off - e->start > LANNER_PATH_MAX - 257)
		return 1;
	store__append_byte(r, '/');
	__u32 k = (e->n - 1 - i) & (LANNER_PATH_COMPONENTS - 1);
	store__append_kstr(r, (const void *)r->s->comp_name[k], 256);
	return 0;
}

static __always_inline bool path__kn_is_root(struct kernfs_node *kn)
{
	return kn && !path__kn_parent(kn);
}

/* The task's cgroup: its cgroup v2 path when that is not the root; otherwise (hybrid or v1-only hosts)
 * the path in the first v1 controller hierarchy, in subsystem id order (the order of /proc/cgroups),
 * where the task is not at the root; "/" when it is at the root everywhere. */
static __always_inline void path__append_cgroup(struct rec *r, struct task_struct *t)
{
	struct css_set *cs = BPF_CORE_READ(t, cgroups);
	struct kernfs_node *kn = BPF_CORE_READ(cs, dfl_cgrp, kn);
	if (path__kn_is_root(kn)) {
#pragma unroll
		for (int i = 0; i < CGROUP_SUBSYS_COUNT; i++) {
			struct cgroup_subsys_state *css = BPF_CORE_READ(cs, subsys[i]);
			if (!css)
				continue;
			struct kernfs_node *k2 = BPF_CORE_READ(css, cgroup, kn);
			if (k2 && !path__kn_is_root(k2)) {
				kn = k2;
				break;
			}
		}
	}
	struct cg_walk w = { .s = r->s, .kn = kn };
	r->s->ncomp = 0;
	if (kn)
		bpf_loop(LANNER_CGROUP_DEPTH, path__cg_walk_step, &w, 0);
	__u32 ncomp = r->s->ncomp;
	if (ncomp == 0 || ncomp > LANNER_CGROUP_DEPTH) {
		store__append_byte(r, '/');
		return;
	}
	struct cg_emit e = { .r = r, .n = ncomp, .start = r->s->off };
	bpf_loop(LANNER_CGROUP_DEPTH, path__cg_emit_step, &e, 0);
}

#endif /* LANNER_HELPERS_PATH_H */
