#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CLannerOutputShims.h"

int lanner_out_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

int lanner_out_spawn_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int lanner_out_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
