/* lanner-workload: deterministic syscalls for the sensor tests (Tests/LannerSensorAgentTests).
 * Each scenario does a fixed list of syscalls so a test can assert every record it should produce.
 *
 *   lanner-workload opens DIR        DIR holds a.txt, sub/x and link -> sub (the test creates them)
 *   lanner-workload connect PORT     TCP and UDP connect to 127.0.0.1:PORT, AF_UNIX connect to a missing path
 *   lanner-workload connect6 PORT    TCP connect to [::1]:PORT
 *   lanner-workload fork             fork a child that exits 7, and one thread
 *   lanner-workload memfd-exec       copy /bin/true into a memfd and fexecve it (execveat, AT_EMPTY_PATH)
 *   lanner-workload openloop N       N times open/read/close of /etc/hostname (bench)
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
#include <sys/mman.h>
#include <sys/socket.h>
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

static int openloop(long n)
{
	char buf[256];
	for (long i = 0; i < n; i++) {
		int fd = open("/etc/hostname", O_RDONLY);
		if (fd < 0) return fail(1, "open");
		if (read(fd, buf, sizeof(buf)) < 0) return fail(2, "read");
		close(fd);
	}
	return 0;
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
		return openloop(atol(argv[2]));
	fprintf(stderr, "usage: lanner-workload opens DIR | connect PORT | connect6 PORT | fork | memfd-exec | openloop N\n");
	return 100;
}
