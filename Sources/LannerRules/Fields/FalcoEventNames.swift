/// Every event type name Falco accepts in `evt.type` for the syscall source (driver/event_table.c names plus Falco's generic syscall names), data only.
///
/// Sources: falcosecurity/libs `driver/event_table.c` (every event name, enter and exit sharing one; the "NA"
/// placeholder left out) and the `PPM_SC_FIELDS` list of `driver/ppm_events_public.h`, lower-cased the way
/// libscap's `scap_get_ppm_sc_name` does (libsinsp validates `evt.type` values against both tables). The
/// "unknown" placeholder (PPM_SC_UNKNOWN) is left out; the tracepoint codes (sched_switch, page_fault_user, ...)
/// are in because libsinsp accepts them.
public enum FalcoEventNames {
    /// Names as `evt.type` spells them, sorted, unique.
    public static let all: [String] = [
        "_llseek", "_newselect", "_sysctl", "accept", "accept4", "access", "acct", "add_key", "adjtimex", "alarm",
        "arch_prctl", "asyncevent", "bdflush", "bind", "bpf", "brk", "capget", "capset", "chdir", "chmod", "chown",
        "chroot", "clock_adjtime", "clock_getres", "clock_gettime", "clock_nanosleep", "clock_settime", "clone",
        "clone3", "close", "close_range", "connect", "container", "copy_file_range", "cpu_hotplug", "creat",
        "create_module", "delete_module", "drop", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
        "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd",
        "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate",
        "fanotify_init", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl", "fcntl64",
        "fdatasync", "fgetxattr", "finit_module", "flistxattr", "flock", "fork", "fremovexattr", "fsconfig",
        "fsetxattr", "fsmount", "fsopen", "fspick", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync",
        "ftruncate", "futex", "futex_waitv", "futimesat", "get_kernel_syms", "get_mempolicy", "get_robust_list",
        "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid",
        "geteuid32", "getgid", "getgid32", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
        "getpmsg", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
        "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid",
        "getuid32", "getxattr", "groupadded", "groupdeleted", "infra", "init_module", "inotify_add_watch",
        "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents",
        "io_pgetevents", "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ioctl",
        "ioperm", "iopl", "ioprio_get", "ioprio_set", "ipc", "k8s", "kcmp", "kexec_file_load", "kexec_load",
        "keyctl", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
        "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "llseek", "lookup_dcookie",
        "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "mbind", "membarrier", "memfd_create",
        "memfd_secret", "mesos", "migrate_pages", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
        "mlock2", "mlockall", "mmap", "mmap2", "modify_ldt", "mount", "mount_setattr", "move_mount", "move_pages",
        "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink",
        "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
        "name_to_handle_at", "nanosleep", "newfstatat", "nfsservctl", "nice", "notification", "olduname", "open",
        "open_by_handle_at", "open_tree", "openat", "openat2", "page_fault", "page_fault_kernel", "page_fault_user",
        "pause", "perf_event_open", "personality", "pidfd_getfd", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
        "pivot_root", "pkey_alloc", "pkey_free", "pkey_mprotect", "pluginevent", "poll", "ppoll", "prctl", "pread",
        "pread64", "preadv", "preadv2", "prlimit", "prlimit64", "process_madvise", "process_mrelease",
        "process_vm_readv", "process_vm_writev", "procexit", "procinfo", "pselect6", "ptrace", "pwrite", "pwrite64",
        "pwritev", "pwritev2", "query_module", "quotactl", "quotactl_fd", "read", "readahead", "readlink",
        "readlinkat", "readv", "reboot", "recv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages",
        "removexattr", "rename", "renameat", "renameat2", "request_key", "restart_syscall", "rmdir", "rseq",
        "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
        "rt_sigtimedwait", "rt_tgsigqueueinfo", "scapevent", "sched_get_priority_max", "sched_get_priority_min",
        "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler", "sched_process_exit",
        "sched_rr_get_interval", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
        "sched_switch", "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "send",
        "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "set_mempolicy", "set_mempolicy_home_node",
        "set_robust_list", "set_thread_area", "set_tid_address", "setdomainname", "setfsgid", "setfsuid", "setgid",
        "setgid32", "setgroups", "sethostname", "setitimer", "setns", "setpgid", "setpriority", "setregid",
        "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setrlimit", "setsid", "setsockopt",
        "settimeofday", "setuid", "setuid32", "setxattr", "sgetmask", "shmat", "shmctl", "shmdt", "shmget",
        "shutdown", "sigaltstack", "signal", "signal_deliver", "signaldeliver", "signalfd", "signalfd4",
        "sigpending", "sigprocmask", "socket", "socketcall", "socketpair", "splice", "ssetmask", "stat", "stat64",
        "statfs", "statfs64", "statx", "stime", "swapoff", "swapon", "switch", "symlink", "symlinkat", "sync",
        "sync_file_range", "syncfs", "syscall", "sysfs", "sysinfo", "syslog", "tee", "tgkill", "time",
        "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
        "timerfd_gettime", "timerfd_settime", "times", "tkill", "tracer", "truncate", "ugetrlimit", "umask",
        "umount", "umount2", "uname", "unlink", "unlinkat", "unshare", "uselib", "useradded", "userdeleted",
        "userfaultfd", "ustat", "utime", "utimensat", "utimes", "vfork", "vhangup", "vmsplice", "wait4", "waitid",
        "waitpid", "write", "writev"
    ]
}
