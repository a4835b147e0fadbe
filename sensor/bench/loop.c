/* bench-loop: a syscall loop for a fixed time, printing "OPS_PER_SECOND CPU_SECONDS" (its own user + system
 * time, so a benchmark can tell the load others put on the machine from its own).
 *   bench-loop getppid SECONDS     getppid(2): a syscall no rule needs (the hook floor)
 *   bench-loop open SECONDS        open/read/close of /etc/hostname (an openat and a close per iteration) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: bench-loop getppid|open SECONDS\n");
		return 2;
	}
	int open_mode = !strcmp(argv[1], "open");
	double secs = atof(argv[2]);
	char buf[256];
	unsigned long long ops = 0;
	double t0 = now(), t = t0;
	while (t - t0 < secs) {
		for (int i = 0; i < 1024; i++) {
			if (open_mode) {
				int fd = open("/etc/hostname", O_RDONLY);
				if (fd < 0 || read(fd, buf, sizeof(buf)) < 0) {
					perror("open/read");
					return 1;
				}
				close(fd);
			} else {
				syscall(SYS_getppid);
			}
		}
		ops += 1024;
		t = now();
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("%.0f %.3f\n", ops / (t - t0),
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	return 0;
}
