#include <bpf/libbpf.h>
#include <bpf/bpf.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* statx(2) of what path names (symlinks followed): mode, owner, group and the immutable attribute.
 * Returns 0 or -errno. A shim because glibc declares statx only under _GNU_SOURCE. */
static inline int lanner_c_statx(const char *path, unsigned *mode, unsigned *uid, unsigned *gid, int *immutable)
{
	struct statx sx;
	if (syscall(__NR_statx, AT_FDCWD, path, 0, STATX_MODE | STATX_UID | STATX_GID, &sx) != 0)
		return -errno;
	*mode = sx.stx_mode;
	*uid = sx.stx_uid;
	*gid = sx.stx_gid;
	*immutable = (sx.stx_attributes_mask & STATX_ATTR_IMMUTABLE) && (sx.stx_attributes & STATX_ATTR_IMMUTABLE);
	return 0;
}
