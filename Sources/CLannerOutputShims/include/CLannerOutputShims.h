#ifndef CLANNER_OUTPUT_SHIMS_H
#define CLANNER_OUTPUT_SHIMS_H
#include <spawn.h>
#include <sys/types.h>

/* GNU/Linux calls that Swift's Glibc module does not export (it is built without _GNU_SOURCE).
   Each returns what the libc call returns; errno is set on failure. */

/* pipe2(2). */
int lanner_out_pipe2(int fds[2], int flags);
/* posix_spawn_file_actions_addclosefrom_np(3) (glibc 2.34): the child closes every descriptor >= from. */
int lanner_out_spawn_closefrom(posix_spawn_file_actions_t *actions, int from);
/* pidfd_open(2) (Linux 5.3): a descriptor that polls readable once the process has exited. */
int lanner_out_pidfd_open(pid_t pid);

#endif
