/* Path layer: absolute paths resolved in the kernel without bpf_d_path (not callable from tracepoints).
 *
 * path__append walks dentry->d_parent up to the mount root, crosses to the parent mount through
 * struct mount (mnt_mountpoint, mnt_parent), and stops at the task's fs->root, or at the top of the
 * mount tree when the file lies outside that root (like d_path, which then gives the path from the
 * namespace root). The walk (at most LANNER_PATH_WALK steps: the first few inline, then bpf_loop) records
 * each component's name pointer and length, leaf first, in the workspace; a second loop (inline for a
 * short path, else bpf_loop) appends them root first.
 *
 * Special files, as the kernel's d_dname would name them:
 *   pipefs / sockfs            "pipe:[INO]" / "socket:[INO]"
 *   anon_inode                 "anon_inode:NAME" (e.g. anon_inode:[eventfd])
 *   nsfs / pidfs               "NSTYPE:[INO]" (e.g. mnt:[4026531841]) / "anon_inode:[pidfd]"
 *   a pseudo dentry (its own parent, not a mount root: memfd, dma-buf) or a tree that is not
 *   mounted in any namespace (internal kernel mounts, lazily unmounted trees):
 *                              the components without the leading slash, e.g. "memfd:NAME"
 * Kernel memory is read with direct loads through BTF pointers (the JIT turns them into fault-safe
 * loads; a bpf_probe_read_kernel call costs ~25 ns each, and a path needs several per component);
 * the struct mount behind a vfsmount is reached with the bpf_rdonly_cast kfunc (Linux 6.2+).
 * Limits: 64 components and LANNER_PATH_MAX bytes (longer paths keep their leading components and
 * count LANNER_CNT_PATH_TRUNCATED); no " (deleted)" suffix; names are read without the rename lock,
 * so a path renamed during the walk can mix old and new components (as with every BPF path walk). */
#ifndef LANNER_HELPERS_PATH_H
#define LANNER_HELPERS_PATH_H

#include "store.h"

#define LANNER_PATH_WALK (LANNER_PATH_COMPONENTS + 32) /* components plus mount crossings */

/* The first steps of each walk, and the whole emission of a short path, run inline; bpf_loop takes
 * over only for longer paths. Each bpf_loop callback is an indirect call (a retpoline on this machine
 * kind) and every helper and callback return goes through the SRSO return thunk: inline, openat of
 * /etc/hostname cost ~100 ns less (0.62 -> 0.52 us per run), for ~40% more verifier work. */
#define LANNER_PATH_WALK_INLINE 6
#define LANNER_PATH_EMIT_INLINE 4

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
	struct mount *m;
	struct dentry *mnt_root;    /* m->mnt.mnt_root */
	struct dentry *root_d;      /* the task's root: compared only */
	unsigned long root_m;       /* the task's root mount, as struct mount address: compared only */
	__u32 state;
};

/* comp_len flag: the component's name is its dentry's inline name (comp_name then holds the dentry). */
#define LANNER_COMP_INLINE (1U << 31)

/* Is name the dentry's inline short name (d_shortname, Linux 6.14+: names below 40 bytes)? Such a name
 * is emitted with 8-byte direct loads from the dentry instead of a bpf_probe_read_kernel call (~50 ns
 * each here, two for /etc/hostname). Older kernels: never (their d_iname is read the old way). */
static __always_inline bool path__name_is_inline(struct dentry *d, const unsigned char *name)
{
	if (!bpf_core_field_exists(d->d_shortname))
		return false;
	return (unsigned long)name == (unsigned long)d + bpf_core_field_offset(struct dentry, d_shortname);
}

/* len (below 40) bytes of the inline name of dentry, appended with direct loads. The words past len are
 * written too and overwritten by what follows (or lie past the record's end). */
static __always_inline void path__append_shortname(struct rec *r, __u64 dentry, __u32 len)
{
	struct dentry *d = bpf_rdonly_cast((void *)dentry, bpf_core_type_id_kernel(struct dentry));
	__u32 off = r->s->off & LANNER_REC_MASK;
	__u8 *p = &r->s->rec[off];
#pragma unroll
	for (int i = 0; i < 5; i++) {
		if (i * 8 < len)
			*(__u64 *)(p + i * 8) = d->d_shortname.words[i];
	}
	r->s->off = off + len;
}

static __always_inline long path__walk_body(struct path_walk *w)
{
	struct lanner_scratch *s = w->s;
	struct dentry *d = w->d;
	struct mount *m = w->m;
	if (d == w->root_d && (unsigned long)m == w->root_m) {
		w->state = WALK_ROOT;
		return 1;
	}
	if (d == w->mnt_root) {
		struct mount *parent = m->mnt_parent;
		if (!parent || parent == m) {
			w->state = WALK_TOP;
			return 1;
		}
		w->d = m->mnt_mountpoint;
		w->m = parent;
		w->mnt_root = parent->mnt.mnt_root;
		return 0;
	}
	struct dentry *up = d->d_parent;
	if (!up) {
		w->state = WALK_TOP;
		return 1;
	}
	__u32 n = s->ncomp;
	if (n >= LANNER_PATH_COMPONENTS) {
		w->state = WALK_TRUNC;
		return 1;
	}
	__u32 k = n & (LANNER_PATH_COMPONENTS - 1);
	const unsigned char *name = d->d_name.name;
	__u32 len = d->d_name.len;
	if (path__name_is_inline(d, name)) {
		s->comp_name[k] = (__u64)d; /* emitted from d_shortname with direct loads */
		len |= LANNER_COMP_INLINE;
	} else {
		s->comp_name[k] = (__u64)name;
	}
	s->comp_len[k] = len;
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

static long path__walk_step(__u32 i, void *ctx)
{
	return path__walk_body(ctx);
}

struct path_emit {
	struct rec *r;
	__u32 n;
	__u32 start;     /* r->s->off when the path began */
	bool slash;      /* prefix the first (top) component with '/' */
	bool truncated;
};

static __always_inline long path__emit_body(__u32 i, struct path_emit *e)
{
	if (i >= e->n)
		return 1;
	struct rec *r = e->r;
	struct lanner_scratch *s = r->s;
	__u32 k = (e->n - 1 - i) & (LANNER_PATH_COMPONENTS - 1);
	__u32 len = s->comp_len[k];
	bool inl = len & LANNER_COMP_INLINE;
	len &= ~LANNER_COMP_INLINE;
	if (len > 255)
		len = 255;
	if (r->s->off - e->start + len + 1 > LANNER_PATH_MAX - 1) {
		e->truncated = true;
		return 1;
	}
	if (i > 0 || e->slash)
		store__append_byte(r, '/');
	/* the exists test is a constant after CO-RE relocation: on kernels without d_shortname the verifier
	 * drops the direct-load branch (and inl is never set there) */
	if (bpf_core_field_exists(((struct dentry *)0)->d_shortname) && inl && len < 40)
		path__append_shortname(r, s->comp_name[k], len);
	else
		store__append_kbytes(r, (const void *)s->comp_name[k], len);
	return 0;
}

static long path__emit_step(__u32 i, void *ctx)
{
	return path__emit_body(i, ctx);
}

/* The struct mount around a vfsmount, as a BTF pointer. */
static __always_inline struct mount *path__real_mount(struct vfsmount *mnt)
{
	return bpf_rdonly_cast((void *)mnt - bpf_core_field_offset(struct mount, mnt), bpf_core_type_id_kernel(struct mount));
}

/* The task's root, for the walks below. */
struct task_root {
	struct dentry *d;
	unsigned long m; /* struct mount address */
};

static __always_inline struct task_root path__task_root(struct task_struct *t)
{
	struct task_root tr = {};
	struct fs_struct *fs = t->fs;
	if (fs) {
		tr.d = fs->root.dentry;
		tr.m = (unsigned long)fs->root.mnt - bpf_core_field_offset(struct mount, mnt);
	}
	return tr;
}

/* Appends the absolute path of (dentry, mnt) relative to the task's root. */
static __always_inline void path__append(struct rec *r, struct dentry *d, struct vfsmount *mnt, struct task_root *tr)
{
	if (!d || !mnt) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return;
	}
	unsigned long magic = d->d_sb->s_magic;
	if (magic == LANNER_PIPEFS_MAGIC || magic == LANNER_SOCKFS_MAGIC) {
		if (magic == LANNER_PIPEFS_MAGIC)
			store__append_lit(r, "pipe:[");
		else
			store__append_lit(r, "socket:[");
		store__append_u64(r, d->d_inode->i_ino);
		store__append_byte(r, ']');
		return;
	}
	if (magic == LANNER_ANON_INODE_FS_MAGIC) {
		store__append_lit(r, "anon_inode:");
		store__append_kstr(r, d->d_name.name, 256);
		return;
	}
	if (magic == LANNER_NSFS_MAGIC) {
		/* nsfs keeps the namespace in i_private; its name is ops->name ("mnt", "net", ...) */
		struct inode *ino = d->d_inode;
		struct ns_common *ns = bpf_rdonly_cast(ino->i_private, bpf_core_type_id_kernel(struct ns_common));
		store__append_kstr(r, ns->ops->name, 16);
		store__append_lit(r, ":[");
		store__append_u64(r, ino->i_ino);
		store__append_byte(r, ']');
		return;
	}
	if (magic == LANNER_PIDFS_MAGIC) {
		store__append_lit(r, "anon_inode:[pidfd]");
		return;
	}

	struct path_walk w = {
		.s = r->s,
		.d = d,
		.m = path__real_mount(mnt),
		.mnt_root = mnt->mnt_root,
		.root_d = tr->d,
		.root_m = tr->m,
	};
	r->s->ncomp = 0;
	long done = 0;
	for (__u32 i = 0; i < LANNER_PATH_WALK_INLINE && !done; i++)
		done = path__walk_body(&w);
	if (!done)
		bpf_loop(LANNER_PATH_WALK - LANNER_PATH_WALK_INLINE, path__walk_step, &w, 0);
	__u32 ncomp = r->s->ncomp;

	bool slash = w.state != WALK_DETACHED;
	if (w.state == WALK_TOP) {
		/* Top of a tree: a mount namespace's root, or a tree mounted nowhere (kern_mount, detached). */
		unsigned long ns = (unsigned long)w.m->mnt_ns;
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
	if (ncomp <= LANNER_PATH_EMIT_INLINE) {
		for (__u32 i = 0; i < LANNER_PATH_EMIT_INLINE; i++)
			if (path__emit_body(i, &e))
				break;
	} else {
		bpf_loop(LANNER_PATH_COMPONENTS, path__emit_step, &e, 0);
	}
	if (e.truncated)
		counters__inc(LANNER_CNT_PATH_TRUNCATED);
}

static __always_inline void path__append_file(struct rec *r, struct file *f, struct task_root *tr)
{
	if (!f) {
		counters__inc(LANNER_CNT_READ_FAILURES);
		return;
	}
	path__append(r, f->f_path.dentry, f->f_path.mnt, tr);
}

static __always_inline void path__append_cwd(struct rec *r, struct task_struct *t, struct task_root *tr)
{
	struct fs_struct *fs = t->fs;
	if (!fs)
		return; /* exiting task or kernel thread without fs */
	path__append(r, fs->pwd.dentry, fs->pwd.mnt, tr);
}

/* ---- lexical normalisation of an absolute path built in the record ---- */

/* Rewrites rec[start, end) in place: "//" and "." components dropped, ".." removes the component before it
 * (never above "/"). The output is never longer than the input, so one forward pass can write behind
 * itself. The offset of each kept component's '/' is stacked in the workspace (comp_len[], free once the
 * dentry walks are done); a path deeper than LANNER_PATH_COMPONENTS keeps the rest unnormalised
 * (counted as path_truncated). */
struct path_norm {
	struct lanner_scratch *s;
};

static long path__norm_step(__u32 i, void *ctx)
{
	struct lanner_scratch *s = ((struct path_norm *)ctx)->s;
	__u32 at = s->n_start + i;
	__u32 end = s->n_end;
	if (at > end)
		return 1;
	__u8 ch = at < end ? s->rec[at & LANNER_REC_MASK] : '/';
	if (s->n_copy) {
		if (at >= end)
			return 1;
		s->rec[s->n_w & LANNER_REC_MASK] = ch;
		s->n_w++;
		return 0;
	}
	if (ch != '/') {
		if (s->n_clen == 0)
			s->n_c0 = ch;
		else if (s->n_clen == 1)
			s->n_c1 = ch;
		s->rec[s->n_w & LANNER_REC_MASK] = ch;
		s->n_w++;
		s->n_clen++;
		return 0;
	}
	if (i > 0) {
		/* the component [slash + 1, w) ends here */
		__u32 clen = s->n_clen;
		if (clen == 0 || (clen == 1 && s->n_c0 == '.')) {
			s->n_w = s->n_slash;
		} else if (clen == 2 && s->n_c0 == '.' && s->n_c1 == '.') {
			s->n_w = s->n_slash;
			__u32 d = s->n_depth;
			if (d > 0) {
				d--;
				s->n_depth = d;
				s->n_w = s->comp_len[d & (LANNER_PATH_COMPONENTS - 1)];
			}
		} else {
			__u32 d = s->n_depth;
			if (d >= LANNER_PATH_COMPONENTS) {
				s->n_copy = 1;
				counters__inc(LANNER_CNT_PATH_TRUNCATED);
			} else {
				s->comp_len[d & (LANNER_PATH_COMPONENTS - 1)] = s->n_slash;
				s->n_depth = d + 1;
			}
		}
	}
	if (at >= end)
		return 1;
	__u32 w = s->n_w;
	s->n_slash = w;
	s->rec[w & LANNER_REC_MASK] = '/';
	s->n_w = w + 1;
	s->n_clen = 0;
	return 0;
}

/* Normalises the absolute path written from `start` to the current offset (a relative one is left alone). */
static __always_inline void path__normalize(struct rec *r, __u32 start)
{
	struct lanner_scratch *s = r->s;
	__u32 end = s->off;
	if (end <= start || s->rec[start & LANNER_REC_MASK] != '/')
		return;
	s->n_start = start;
	s->n_end = end;
	s->n_w = start;
	s->n_slash = start;
	s->n_clen = 0;
	s->n_depth = 0;
	s->n_copy = 0;
	struct path_norm n = { .s = s };
	bpf_loop(2 * LANNER_PATH_MAX + 2, path__norm_step, &n, 0);
	__u32 w = s->n_w;
	if (w <= start) {
		s->rec[start & LANNER_REC_MASK] = '/';
		w = start + 1;
	}
	s->off = w;
}

/* ---- cgroup path: kernfs node names up to the hierarchy root ---- */

struct kernfs_node___pre615 {
	struct kernfs_node___pre615 *parent;
} __attribute__((preserve_access_index));

/* Not inlined on purpose: inlined, clang merged the two CO-RE branches of several call sites so that
 * the poisoned one (the field missing on this kernel) became reachable for the verifier. */
static __noinline struct kernfs_node *path__kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return kn->__parent;
	return (struct kernfs_node *)((struct kernfs_node___pre615 *)kn)->parent;
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
	s->comp_name[n & (LANNER_PATH_COMPONENTS - 1)] = (__u64)kn->name;
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
	struct css_set *cs = t->cgroups;
	struct kernfs_node *kn = cs->dfl_cgrp->kn;
	if (path__kn_is_root(kn)) {
#pragma unroll
		for (int i = 0; i < CGROUP_SUBSYS_COUNT; i++) {
			struct cgroup_subsys_state *css = cs->subsys[i];
			if (!css)
				continue;
			struct kernfs_node *k2 = css->cgroup->kn;
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
