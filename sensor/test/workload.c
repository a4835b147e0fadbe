/* lanner-workload: deterministic syscalls for the sensor tests (Tests/LannerSensorAgentTests).
 * Each scenario does a fixed list of syscalls so a test can assert every record it should produce.
 *
 *   lanner-workload opens DIR        DIR holds a.txt, sub/x and link -> sub (the test creates them)
 *   lanner-workload connect PORT     TCP and UDP connect to 127.0.0.1:PORT, AF_UNIX connect to a missing path
 *   lanner-workload connect6 PORT    TCP connect to [::1]:PORT
 *   lanner-workload fork             fork a child that exits 7, and one thread; then a clone and a clone3
 *                                    that fail with EINVAL
 *   lanner-workload memfd-exec       copy /bin/true into a memfd and fexecve it (execveat, AT_EMPTY_PATH)
 *   lanner-workload openloop N [US]  N times open/read/close of /etc/hostname (bench); with US, a pause of
 *                                    US microseconds after every 100 (a loop that outlives slow switches)
 *   lanner-workload files DIR        the path syscalls (rename, unlink, mkdir, link, symlink, chmod, chown,
 *                                    chdir, fchdir) relative to DIR, a dir fd and with "..", failures included;
 *                                    DIR holds a.txt, sub/x and link -> sub (the test creates them)
 *   lanner-workload mounts DIR       in a child: unshare(CLONE_NEWNS), mount a tmpfs on DIR/mnt, umount2,
 *                                    chroot, setns back to the first mount namespace
 *   lanner-workload fds DIR          close, dup family, pipes, splice, ioctl, mmap/mprotect, memfd_create,
 *                                    userfaultfd and the read/write family on DIR/f
 *   lanner-workload net DIR          socket, bind, listen, accept/accept4, send/recv (to/msg) over IPv4 TCP and
 *                                    UDP, IPv6 UDP, AF_UNIX (a path in DIR and an abstract name), socketpair
 *   lanner-workload creds            in a child: setgid family, capset, prctl, ptrace, kill, unshare, bpf,
 *                                    init_module/finit_module (refused), then the setuid family
 *   lanner-workload write-exec DIR   copies /bin/true to DIR/t (open for writing), then a child and the
 *                                    process itself exec it
 * Scenarios print the values a test needs (ports, inodes) as KEY=VALUE lines on stdout.
 * Exit status 0 when every step behaved as expected, else the number of the failing step. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <linux/capability.h>
#include <linux/limits.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(int step, const char *what)
{
	fprintf(stderr, "lanner-workload: step %d (%s): %s\n", step, what, strerror(errno));
	return step;
}

static long sys_openat(int dfd, const char *p, int flags, int mode)
{
	return syscall(SYS_openat, dfd, p, flags, mode);
}

static int opens(const char *dir)
{
	if (chdir(dir))
		return fail(1, "chdir");
	long fd;
	/* 2: relative to the cwd */
	if ((fd = sys_openat(AT_FDCWD, "a.txt", O_RDONLY | O_CLOEXEC, 0)) < 0) return fail(2, "a.txt");
	close(fd);
	/* 3: relative to a directory fd */
	long dfd = sys_openat(AT_FDCWD, "sub", O_RDONLY | O_DIRECTORY, 0);
	if (dfd < 0) return fail(3, "sub");
	if ((fd = sys_openat(dfd, "x", O_RDONLY, 0)) < 0) return fail(3, "dirfd x");
	close(fd);
	/* 4: through a symlinked directory */
	if ((fd = sys_openat(AT_FDCWD, "link/x", O_RDONLY, 0)) < 0) return fail(4, "link/x");
	close(fd);
	/* 5: with .. */
	if ((fd = sys_openat(AT_FDCWD, "sub/../a.txt", O_RDONLY, 0)) < 0) return fail(5, "sub/../a.txt");
	close(fd);
	/* 6: missing, relative to the cwd: ENOENT */
	if (sys_openat(AT_FDCWD, "missing.txt", O_RDONLY, 0) != -1 || errno != ENOENT) return fail(6, "missing.txt");
	/* 7: missing, relative to the dir fd */
	if (sys_openat(dfd, "missing2", O_RDONLY, 0) != -1 || errno != ENOENT) return fail(7, "dirfd missing2");
	/* 8: openat2 with RESOLVE_BENEATH */
	struct open_how how = { .flags = O_RDONLY, .resolve = RESOLVE_BENEATH };
	if ((fd = syscall(SYS_openat2, AT_FDCWD, "sub/x", &how, sizeof(how))) < 0) return fail(8, "openat2 sub/x");
	close(fd);
	/* 9: openat2 refusing the symlink: ELOOP */
	struct open_how how2 = { .flags = O_RDONLY, .resolve = RESOLVE_NO_SYMLINKS };
	if (syscall(SYS_openat2, AT_FDCWD, "link/x", &how2, sizeof(how2)) != -1 || errno != ELOOP) return fail(9, "openat2 link/x");
	/* 10: the legacy open(2) */
	if ((fd = syscall(SYS_open, "a.txt", O_RDONLY, 0)) < 0) return fail(10, "open a.txt");
	close(fd);
	/* 11: creat(2) */
	if ((fd = syscall(SYS_creat, "new.txt", 0640)) < 0) return fail(11, "creat new.txt");
	close(fd);
	/* 12: absolute */
	if ((fd = sys_openat(AT_FDCWD, "/etc/hostname", O_RDONLY, 0)) < 0) return fail(12, "/etc/hostname");
	close(fd);
	/* 13: across mounts (devtmpfs, proc; /proc/self resolves to /proc/PID) */
	if ((fd = sys_openat(AT_FDCWD, "/dev/null", O_WRONLY, 0)) < 0) return fail(13, "/dev/null");
	close(fd);
	if ((fd = sys_openat(AT_FDCWD, "/proc/self/status", O_RDONLY, 0)) < 0) return fail(13, "/proc/self/status");
	close(fd);
	/* 14: reopening a pipe and a memfd through /proc/self/fd: pseudo files */
	int p[2];
	if (pipe(p)) return fail(14, "pipe");
	struct stat st;
	fstat(p[0], &st);
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", p[0]);
	if ((fd = sys_openat(AT_FDCWD, link, O_RDONLY | O_NONBLOCK, 0)) < 0) return fail(14, "pipe reopen");
	printf("pipe-ino=%lu\n", (unsigned long)st.st_ino);
	close(fd);
	int m = memfd_create("lanner-mfd", 0);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", m);
	if (m < 0 || (fd = sys_openat(AT_FDCWD, link, O_RDONLY, 0)) < 0) return fail(14, "memfd reopen");
	close(fd);
	close(dfd);
	fflush(stdout);
	return 0;
}

static int do_connect(const char *port_s)
{
	int port = atoi(port_s);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) return fail(1, "socket");
	if (connect(s, (struct sockaddr *)&a, sizeof(a))) return fail(2, "tcp connect");
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	if (u < 0 || connect(u, (struct sockaddr *)&a, sizeof(a))) return fail(3, "udp connect");
	int x = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	strcpy(un.sun_path, "/tmp/lanner-no-such.sock");
	if (connect(x, (struct sockaddr *)&un, sizeof(un)) != -1 || errno != ENOENT) return fail(4, "unix connect");
	close(s);
	close(u);
	close(x);
	return 0;
}

static int do_connect6(const char *port_s)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(port_s)) };
	inet_pton(AF_INET6, "::1", &a.sin6_addr);
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	if (s < 0) return fail(1, "socket");
	if (connect(s, (struct sockaddr *)&a, sizeof(a))) return fail(2, "tcp6 connect");
	close(s);
	return 0;
}

static void *thread_main(void *arg)
{
	return arg;
}

static int do_fork(void)
{
	pid_t c = fork();
	if (c < 0) return fail(1, "fork");
	if (c == 0)
		_exit(7);
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 7) return fail(2, "wait");
	pthread_t t;
	if (pthread_create(&t, NULL, thread_main, NULL)) return fail(3, "pthread_create");
	pthread_join(t, NULL);
	/* Two that fail with EINVAL: a thread that would not share signal handlers, and clone3 with a size
	 * below its first version's 64 bytes */
	errno = 0;
	if (syscall(SYS_clone, CLONE_THREAD, 0, 0, 0, 0) != -1 || errno != EINVAL) return fail(4, "clone");
	char args[64] = { 0 };
	errno = 0;
	if (syscall(SYS_clone3, args, 8) != -1 || errno != EINVAL) return fail(5, "clone3");
	return 0;
}

static int memfd_exec(char **envp)
{
	int src = open("/bin/true", O_RDONLY);
	int m = memfd_create("lanner-test", MFD_CLOEXEC);
	if (src < 0 || m < 0) return fail(1, "open/memfd");
	char buf[65536];
	ssize_t n;
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(m, buf, n) != n) return fail(2, "write");
	close(src);
	char *argv[] = { "memfd-true", "--lanner", NULL };
	syscall(SYS_execveat, m, "", argv, envp, AT_EMPTY_PATH);
	return fail(3, "execveat");
}

static int openloop(long n, long pause_us)
{
	char buf[256];
	for (long i = 0; i < n; i++) {
		if (pause_us > 0 && i % 100 == 99)
			usleep(pause_us);
		int fd = open("/etc/hostname", O_RDONLY);
		if (fd < 0) return fail(1, "open");
		if (read(fd, buf, sizeof(buf)) < 0) return fail(2, "read");
		close(fd);
	}
	return 0;
}

/* errno-checking helpers: EXPECT(step, call) wants success; FAILS(step, errno, call) wants that errno */
#define EXPECT(step, call)                            \
	do {                                          \
		if ((long)(call) < 0)                 \
			return fail(step, #call);     \
	} while (0)
#define FAILS(step, err, call)                                         \
	do {                                                           \
		errno = 0;                                             \
		if ((long)(call) != -1 || errno != (err))              \
			return fail(step, #call " (wanted " #err ")"); \
	} while (0)

static int files(const char *dir)
{
	EXPECT(1, syscall(SYS_chdir, dir));
	FAILS(2, ENOENT, syscall(SYS_chdir, "nope"));
	int dfd = open("sub", O_RDONLY | O_DIRECTORY);
	EXPECT(3, dfd);
	EXPECT(4, syscall(SYS_mkdir, "d1", 0750));
	EXPECT(5, syscall(SYS_mkdirat, dfd, "d2", 0700));
	FAILS(6, EEXIST, syscall(SYS_mkdir, "d1", 0750));
	EXPECT(7, syscall(SYS_rename, "a.txt", "sub/../b.txt"));
	EXPECT(8, syscall(SYS_renameat, dfd, "x", AT_FDCWD, "y"));
	EXPECT(9, syscall(SYS_renameat2, AT_FDCWD, "y", dfd, "x", RENAME_NOREPLACE));
	FAILS(10, ENOENT, syscall(SYS_rename, "missing", "m2"));
	EXPECT(11, syscall(SYS_link, "b.txt", "hard"));
	EXPECT(12, syscall(SYS_linkat, AT_FDCWD, "hard", dfd, "hard2", 0));
	EXPECT(13, syscall(SYS_symlink, "b.txt", "sym"));
	EXPECT(14, syscall(SYS_symlinkat, "/etc/hostname", dfd, "sym2"));
	EXPECT(15, syscall(SYS_chmod, "b.txt", 0600));
	int fd = open("b.txt", O_RDONLY);
	EXPECT(16, fd);
	EXPECT(16, syscall(SYS_fchmod, fd, 0644));
	EXPECT(17, syscall(SYS_fchmodat, dfd, "hard2", 0640));
	EXPECT(18, syscall(SYS_chown, "b.txt", 0, 0));
	EXPECT(19, syscall(SYS_lchown, "sym", 0, 0));
	EXPECT(20, syscall(SYS_fchown, fd, -1, 0));
	EXPECT(21, syscall(SYS_fchownat, dfd, "sym2", 0, 0, AT_SYMLINK_NOFOLLOW));
	FAILS(22, ENOENT, syscall(SYS_chown, "missing", 0, 0));
	EXPECT(23, syscall(SYS_unlink, "hard"));
	EXPECT(24, syscall(SYS_unlinkat, dfd, "hard2", 0));
	EXPECT(25, syscall(SYS_unlinkat, dfd, "d2", AT_REMOVEDIR));
	EXPECT(26, syscall(SYS_rmdir, "d1"));
	FAILS(27, ENOENT, syscall(SYS_unlink, "sub/../missing"));
	FAILS(28, ENOTEMPTY, syscall(SYS_rmdir, "sub"));
	EXPECT(29, syscall(SYS_fchdir, dfd));
	EXPECT(30, syscall(SYS_chdir, ".."));
	EXPECT(31, syscall(SYS_linkat, fd, "", AT_FDCWD, "viafd", AT_EMPTY_PATH));
	close(fd);
	close(dfd);
	return 0;
}

static int mounts(const char *dir)
{
	char mnt[PATH_MAX];
	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	struct stat st;
	if (stat("/proc/self/ns/mnt", &st)) return fail(1, "stat ns");
	printf("mntns-ino=%lu\n", (unsigned long)st.st_ino);
	fflush(stdout);
	pid_t c = fork();
	if (c < 0) return fail(1, "fork");
	if (c == 0) {
		int old = open("/proc/self/ns/mnt", O_RDONLY);
		if (old < 0) _exit(2);
		if (syscall(SYS_unshare, CLONE_NEWNS)) _exit(3);
		if (syscall(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) _exit(4);
		if (chdir(dir)) _exit(5);
		if (syscall(SYS_mount, "lanner-tmp", "mnt", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")) _exit(6);
		if (syscall(SYS_umount2, "mnt/", 0)) _exit(7);
		errno = 0;
		if (syscall(SYS_umount2, "mnt", MNT_DETACH) != -1 || errno != EINVAL) _exit(8);
		if (syscall(SYS_setns, old, CLONE_NEWNS)) _exit(9);
		if (chdir(dir)) _exit(9); /* setns into a mount namespace moved cwd and root to its root */
		errno = 0;
		if (syscall(SYS_chroot, "nope") != -1 || errno != ENOENT) _exit(10);
		if (syscall(SYS_chroot, "mnt/..//sub")) _exit(11);
		_exit(0);
	}
	int wst;
	if (waitpid(c, &wst, 0) != c || !WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
		fprintf(stderr, "lanner-workload: mounts child status %d\n", WEXITSTATUS(wst));
		return 2;
	}
	return 0;
}

static int fds(const char *dir)
{
	char path[PATH_MAX], buf[128];
	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	EXPECT(1, fd);
	printf("fd=%d\n", fd);
	if (syscall(SYS_write, fd, "hello", 5) != 5) return fail(2, "write");
	if (syscall(SYS_pwrite64, fd, "xy", 2, 10) != 2) return fail(3, "pwrite64");
	struct iov_pair { struct iovec v[2]; } w = { { { "abc", 3 }, { "defg", 4 } } };
	if (syscall(SYS_writev, fd, w.v, 2) != 7) return fail(4, "writev");
	lseek(fd, 0, SEEK_SET);
	if (syscall(SYS_read, fd, buf, 100) != 12) return fail(5, "read");
	if (syscall(SYS_pread64, fd, buf, 4, 1) != 4) return fail(6, "pread64");
	lseek(fd, 0, SEEK_SET);
	struct iovec r[2] = { { buf, 2 }, { buf + 2, 3 } };
	if (syscall(SYS_readv, fd, r, 2) != 5) return fail(7, "readv");
	FAILS(8, EBADF, syscall(SYS_read, 9999, buf, 1));
	int d = syscall(SYS_dup, fd);
	EXPECT(9, d);
	if (syscall(SYS_dup2, fd, 100) != 100) return fail(10, "dup2");
	if (syscall(SYS_dup3, fd, 101, O_CLOEXEC) != 101) return fail(11, "dup3");
	FAILS(12, EBADF, syscall(SYS_dup, 9999));
	EXPECT(13, syscall(SYS_close, 100));
	FAILS(14, EBADF, syscall(SYS_close, 9999));
	int p[2], q[2];
	EXPECT(15, syscall(SYS_pipe, p));
	EXPECT(16, syscall(SYS_pipe2, q, O_CLOEXEC));
	struct stat st;
	fstat(p[0], &st);
	printf("pipe=%d,%d,%lu\n", p[0], p[1], (unsigned long)st.st_ino);
	fstat(q[0], &st);
	printf("pipe2=%d,%d,%lu\n", q[0], q[1], (unsigned long)st.st_ino);
	if (write(p[1], "abc", 3) != 3) return fail(17, "write pipe");
	if (syscall(SYS_splice, p[0], NULL, q[1], NULL, 3, SPLICE_F_NONBLOCK) != 3) return fail(17, "splice");
	int n = 0;
	EXPECT(18, syscall(SYS_ioctl, fd, FIONREAD, &n));
	EXPECT(19, syscall(SYS_ioctl, q[0], FIONREAD, &n));
	void *m = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) return fail(20, "mmap file");
	void *a = (void *)syscall(SYS_mmap, NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) return fail(21, "mmap anon");
	printf("anon=%lu\n", (unsigned long)a);
	EXPECT(22, syscall(SYS_mprotect, a, 4096, PROT_READ | PROT_WRITE));
	FAILS(23, EBADF, syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_PRIVATE, 9999, 0));
	int mfd = syscall(SYS_memfd_create, "lanner-m", MFD_CLOEXEC);
	EXPECT(24, mfd);
	printf("memfd=%d\n", mfd);
	if (ftruncate(mfd, 4096)) return fail(25, "ftruncate");
	void *mm = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, mfd, 0);
	if (mm == MAP_FAILED) return fail(25, "mmap memfd");
	long u = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	printf("userfaultfd=%ld\n", u < 0 ? -(long)errno : u);
	EXPECT(26, syscall(SYS_close, fd));
	fflush(stdout);
	return 0;
}

static socklen_t bound_port(int s, int family)
{
	struct sockaddr_storage a;
	socklen_t l = sizeof(a);
	getsockname(s, (struct sockaddr *)&a, &l);
	return family == AF_INET ? ntohs(((struct sockaddr_in *)&a)->sin_port) : ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
}

static int net(const char *dir)
{
	char buf[128];
	struct sockaddr_in lo = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr);
	int s = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	EXPECT(1, s);
	EXPECT(2, syscall(SYS_bind, s, &lo, sizeof(lo)));
	EXPECT(3, syscall(SYS_listen, s, 5));
	int port = bound_port(s, AF_INET);
	struct sockaddr_in to = lo;
	to.sin_port = htons(port);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&to, sizeof(to))) return fail(4, "connect");
	int a = syscall(SYS_accept, s, NULL, NULL);
	EXPECT(5, a);
	int c2 = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c2, (struct sockaddr *)&to, sizeof(to))) return fail(6, "connect 2");
	int a2 = syscall(SYS_accept4, s, NULL, NULL, SOCK_CLOEXEC);
	EXPECT(6, a2);
	printf("tcp=%d,%d,%d,%d,%d\n", port, bound_port(c, AF_INET), bound_port(c2, AF_INET), a, a2);
	if (syscall(SYS_sendto, c, "ping", 4, 0, NULL, 0) != 4) return fail(7, "sendto");
	if (syscall(SYS_recvfrom, a, buf, 16, 0, NULL, NULL) != 4) return fail(8, "recvfrom");
	struct iovec iov[2] = { { "ab", 2 }, { "cde", 3 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	if (syscall(SYS_sendmsg, c, &mh, 0) != 5) return fail(9, "sendmsg");
	struct iovec riov = { buf, 100 };
	struct msghdr rh = { .msg_iov = &riov, .msg_iovlen = 1 };
	if (syscall(SYS_recvmsg, a, &rh, 0) != 5) return fail(10, "recvmsg");
	int busy = socket(AF_INET, SOCK_STREAM, 0);
	FAILS(11, EADDRINUSE, syscall(SYS_bind, busy, &to, sizeof(to)));
	/* UDP: u2 sends to u1 by address; u1 learns u2's port from recvfrom */
	int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(u1, (struct sockaddr *)&lo, sizeof(lo)) || bind(u2, (struct sockaddr *)&lo, sizeof(lo))) return fail(12, "udp bind");
	struct sockaddr_in u1a = lo;
	u1a.sin_port = htons(bound_port(u1, AF_INET));
	printf("udp=%d,%d\n", bound_port(u1, AF_INET), bound_port(u2, AF_INET));
	if (syscall(SYS_sendto, u2, "x", 1, 0, &u1a, sizeof(u1a)) != 1) return fail(13, "udp sendto");
	struct sockaddr_in from = {};
	socklen_t fl = sizeof(from);
	if (syscall(SYS_recvfrom, u1, buf, 16, 0, &from, &fl) != 1) return fail(14, "udp recvfrom");
	/* IPv6 UDP over ::1, the sender's address through recvmsg's msg_name */
	struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int v1 = socket(AF_INET6, SOCK_DGRAM, 0), v2 = socket(AF_INET6, SOCK_DGRAM, 0);
	if (v1 < 0 || bind(v1, (struct sockaddr *)&lo6, sizeof(lo6)) || bind(v2, (struct sockaddr *)&lo6, sizeof(lo6))) {
		printf("udp6=none\n");
	} else {
		struct sockaddr_in6 v1a = lo6;
		v1a.sin6_port = htons(bound_port(v1, AF_INET6));
		printf("udp6=%d,%d\n", bound_port(v1, AF_INET6), bound_port(v2, AF_INET6));
		struct iovec xi = { "six", 3 };
		struct msghdr xm = { .msg_name = &v1a, .msg_namelen = sizeof(v1a), .msg_iov = &xi, .msg_iovlen = 1 };
		if (syscall(SYS_sendmsg, v2, &xm, 0) != 3) return fail(15, "udp6 sendmsg");
		struct sockaddr_in6 src6 = {};
		struct iovec ri = { buf, 64 };
		struct msghdr rm = { .msg_name = &src6, .msg_namelen = sizeof(src6), .msg_iov = &ri, .msg_iovlen = 1 };
		if (syscall(SYS_recvmsg, v1, &rm, 0) != 3) return fail(16, "udp6 recvmsg");
	}
	/* AF_UNIX stream on a path in dir */
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/u.sock", dir);
	int us = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
	EXPECT(17, syscall(SYS_bind, us, &un, sizeof(un)));
	EXPECT(18, syscall(SYS_listen, us, 3));
	int uc = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(uc, (struct sockaddr *)&un, sizeof(un))) return fail(19, "unix connect");
	int ua = syscall(SYS_accept, us, NULL, NULL);
	EXPECT(20, ua);
	if (syscall(SYS_sendto, uc, "u", 1, 0, NULL, 0) != 1) return fail(21, "unix sendto");
	/* AF_UNIX datagram on an abstract name */
	struct sockaddr_un ab = { .sun_family = AF_UNIX };
	memcpy(ab.sun_path, "\0lanner-abs", 11);
	socklen_t abl = offsetof(struct sockaddr_un, sun_path) + 11;
	int d1 = socket(AF_UNIX, SOCK_DGRAM, 0), d2 = socket(AF_UNIX, SOCK_DGRAM, 0);
	EXPECT(22, syscall(SYS_bind, d1, &ab, abl));
	if (syscall(SYS_sendto, d2, "a", 1, 0, &ab, abl) != 1) return fail(23, "abstract sendto");
	int sv[2];
	EXPECT(24, syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv));
	printf("socketpair=%d,%d\n", sv[0], sv[1]);
	fflush(stdout);
	return 0;
}

static int creds(void)
{
	pid_t victim = fork();
	if (victim == 0) {
		pause();
		_exit(0);
	}
	printf("victim=%d\n", victim);
	fflush(stdout);
	pid_t c = fork();
	if (c < 0) return fail(1, "fork");
	if (c == 0) {
		if (syscall(SYS_setgid, 2000)) _exit(2);
		if (syscall(SYS_setregid, 3000, 3001)) _exit(3);
		if (syscall(SYS_setresgid, 4000, 4001, 4002)) _exit(4);
		struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct d[2];
		if (syscall(SYS_capget, &h, d)) _exit(5);
		d[0].effective &= ~(1u << CAP_SYS_MODULE); /* CAP_SYS_MODULE = 16 */
		d[0].inheritable = 0;
		d[1].inheritable = 0;
		if (syscall(SYS_capset, &h, d)) _exit(6);
		if (syscall(SYS_prctl, PR_SET_NAME, "lanner-renamed", 0, 0, 0)) _exit(7);
		char name[16] = {};
		if (syscall(SYS_prctl, PR_GET_NAME, name, 0, 0, 0)) _exit(8);
		if (syscall(SYS_ptrace, PTRACE_ATTACH, victim, 0, 0)) _exit(9);
		int st;
		waitpid(victim, &st, 0);
		if (syscall(SYS_ptrace, PTRACE_DETACH, victim, 0, 0)) _exit(10);
		errno = 0;
		if (syscall(SYS_ptrace, PTRACE_PEEKDATA, 999999, 0x1000, 0) != -1 || errno != ESRCH) _exit(11);
		if (syscall(SYS_kill, victim, SIGKILL)) _exit(12);
		errno = 0;
		if (syscall(SYS_kill, 999999, 0) != -1 || errno != ESRCH) _exit(13);
		if (syscall(SYS_unshare, CLONE_NEWUTS)) _exit(14);
		errno = 0;
		if (syscall(SYS_bpf, 5, NULL, 0) != -1) _exit(15);
		errno = 0;
		if (syscall(SYS_init_module, "\x7f" "ELF-not-a-module", (unsigned long)16, "lanner=1") != -1) _exit(16);
		int mf = open("/bin/true", O_RDONLY);
		errno = 0;
		if (syscall(SYS_finit_module, mf, "lanner=2", 0) != -1) _exit(17);
		/* uids last: the first change drops root's capabilities */
		if (syscall(SYS_setresuid, 2000, 2001, 2002)) _exit(18);
		if (syscall(SYS_setreuid, 2001, 2000)) _exit(19);
		errno = 0;
		if (syscall(SYS_setuid, 3000) != -1 || errno != EPERM) _exit(20);
		if (syscall(SYS_setuid, 2001)) _exit(21);
		_exit(0);
	}
	int wst;
	waitpid(c, &wst, 0);
	waitpid(victim, NULL, 0);
	if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
		fprintf(stderr, "lanner-workload: creds child failed at step %d\n", WEXITSTATUS(wst));
		return WEXITSTATUS(wst) ? WEXITSTATUS(wst) : 99;
	}
	printf("child=%d\n", c);
	fflush(stdout);
	return 0;
}

static int write_exec(const char *dir, char **envp)
{
	char path[PATH_MAX], buf[65536];
	snprintf(path, sizeof(path), "%s/t", dir);
	int src = open("/bin/true", O_RDONLY);
	int dst = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (src < 0 || dst < 0) return fail(1, "open");
	ssize_t n;
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(dst, buf, n) != n) return fail(2, "write");
	close(src);
	close(dst);
	char *argv[] = { "t", NULL };
	pid_t c = fork();
	if (c == 0) {
		execve(path, argv, envp);
		_exit(3);
	}
	int st;
	waitpid(c, &st, 0);
	printf("child=%d\n", c);
	fflush(stdout);
	execve(path, argv, envp);
	return fail(4, "execve");
}

int main(int argc, char **argv, char **envp)
{
	if (argc >= 3 && !strcmp(argv[1], "opens"))
		return opens(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "connect"))
		return do_connect(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "connect6"))
		return do_connect6(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "fork"))
		return do_fork();
	if (argc >= 2 && !strcmp(argv[1], "memfd-exec"))
		return memfd_exec(envp);
	if (argc >= 3 && !strcmp(argv[1], "openloop"))
		return openloop(atol(argv[2]), argc >= 4 ? atol(argv[3]) : 0);
	if (argc >= 3 && !strcmp(argv[1], "files"))
		return files(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "mounts"))
		return mounts(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "fds"))
		return fds(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "net"))
		return net(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "creds"))
		return creds();
	if (argc >= 3 && !strcmp(argv[1], "write-exec"))
		return write_exec(argv[2], envp);
	fprintf(stderr, "usage: lanner-workload opens DIR | connect PORT | connect6 PORT | fork | memfd-exec | openloop N [US]"
			" | files DIR | mounts DIR | fds DIR | net DIR | creds | write-exec DIR\n");
	return 100;
}
