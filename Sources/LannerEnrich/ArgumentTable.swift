import LannerRules
import LannerWire

/// Falco's parameters for the events described by table — every event but the exec, clone, exit, open and
/// connect families, whose arguments `ArgumentPlan` handles by hand. Each parameter names the schema field
/// (proto/events.yaml) it is read from and how Falco renders it, so `evt.arg.NAME`, `evt.arg[N]`,
/// `evt.rawarg.NAME` and `evt.args` work for all of them without per-event code.
struct ArgSpec {
    enum Rendering {
        /// A return value: the number, or `-2(ENOENT)` on failure.
        case result
        /// A plain decimal number.
        case number
        /// `0x7f3a…`.
        case hex
        /// A directory fd: `-100(AT_FDCWD)` or the number.
        case dirfd
        /// The field's bytes (resolved paths, names).
        case text
        /// Octal, as Falco prints open/mkdir modes: `0755`.
        case octal
        /// A file mode as flag names: `S_IRUSR|S_IWUSR|S_IXUSR`.
        case mode
        /// Flag names joined by `|` (unknown bits as hex), or the zero name.
        case flags(FlagNames)
        /// One name for the whole value (or the number when it has none).
        case enumeration(FlagNames)
        /// A uid as the user name when the host's user database has it, else the number.
        case user
        /// A gid as the group name when known, else the number.
        case group
        /// A capability set as names.
        case capabilities
        /// A signal name: `SIGKILL`.
        case signal
        /// The socket tuple `cip:cport->sip:sport` (or a unix path) from the event's address fields.
        case tuple
        /// The local address `ip:port` (or a unix path) from the event's address fields (bind's addr).
        case localAddress
    }

    let name: String
    let field: WireField
    let rendering: Rendering
    /// For a resolved path: the field holding it as the process passed it (`evt.rawarg`).
    let rawField: WireField?
}

/// Named bits or values, Falco's spelling.
struct FlagNames: Sendable {
    let names: [(UInt64, String)]
    let zero: String

    init(_ names: [(UInt64, String)], zero: String = "0") {
        self.names = names
        self.zero = zero
    }

    func flags(_ v: UInt64) -> String {
        if v == 0 { return zero }
        var parts: [String] = []
        var rest = v
        for (bit, name) in names where bit != 0 && v & bit == bit {
            parts.append(name)
            rest &= ~bit
        }
        if rest != 0 { parts.append("0x" + String(rest, radix: 16)) }
        return parts.joined(separator: "|")
    }

    func enumeration(_ v: UInt64) -> String {
        names.first { $0.0 == v }?.1 ?? String(v)
    }
}

/// The socket fields an event carries (any may be absent), located once from the schema.
struct SocketLayout {
    let family: Int, socktype: Int, sport: Int, dport: Int, saddr: Int, daddr: Int, path: Int

    init?(_ t: EventType) {
        var pos: [String: Int] = [:]
        for f in t.fields { pos[f.name] = f.position }
        guard let family = pos["family"] else { return nil }
        self.family = family
        socktype = pos["socktype"] ?? -1
        sport = pos["sport"] ?? -1
        dport = pos["dport"] ?? -1
        saddr = pos["saddr"] ?? -1
        daddr = pos["daddr"] ?? -1
        path = pos["path"] ?? -1
    }
}

enum ArgumentTable {
    // MARK: Falco's names for values

    static let atRemovedir = FlagNames([(0x200, "AT_REMOVEDIR")])
    static let linkatFlags = FlagNames([(0x400, "AT_SYMLINK_FOLLOW"), (0x1000, "AT_EMPTY_PATH")])
    static let fchownatFlags = FlagNames([(0x100, "AT_SYMLINK_NOFOLLOW"), (0x1000, "AT_EMPTY_PATH")])
    static let renameFlags = FlagNames([(1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")])
    static let cloexec = FlagNames([(0o2000000, "O_CLOEXEC")])
    static let pipeFlags = FlagNames([(0o2000000, "O_CLOEXEC"), (0o4000, "O_NONBLOCK"), (0o40000, "O_DIRECT")])
    static let modeBits = FlagNames([(0o1, "S_IXOTH"), (0o2, "S_IWOTH"), (0o4, "S_IROTH"), (0o10, "S_IXGRP"), (0o20, "S_IWGRP"),
                                     (0o40, "S_IRGRP"), (0o100, "S_IXUSR"), (0o200, "S_IWUSR"), (0o400, "S_IRUSR"),
                                     (0o1000, "S_ISVTX"), (0o2000, "S_ISGID"), (0o4000, "S_ISUID")])
    static let mountFlags = FlagNames([
        (1, "MS_RDONLY"), (2, "MS_NOSUID"), (4, "MS_NODEV"), (8, "MS_NOEXEC"), (16, "MS_SYNCHRONOUS"), (32, "MS_REMOUNT"), (64, "MS_MANDLOCK"),
        (128, "MS_DIRSYNC"), (1024, "MS_NOATIME"), (2048, "MS_NODIRATIME"), (4096, "MS_BIND"), (8192, "MS_MOVE"), (16384, "MS_REC"),
        (32768, "MS_SILENT"), (1 << 16, "MS_POSIXACL"), (1 << 17, "MS_UNBINDABLE"), (1 << 18, "MS_PRIVATE"), (1 << 19, "MS_SLAVE"),
        (1 << 20, "MS_SHARED"), (1 << 21, "MS_RELATIME"), (1 << 22, "MS_KERNMOUNT"), (1 << 23, "MS_I_VERSION"), (1 << 24, "MS_STRICTATIME"),
        (1 << 25, "MS_LAZYTIME"),
    ])
    static let umountFlags = FlagNames([(1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"), (8, "UMOUNT_NOFOLLOW")])
    static let prot = FlagNames([(1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC")], zero: "PROT_NONE")
    static let mapFlags = FlagNames([
        (0x1, "MAP_SHARED"), (0x2, "MAP_PRIVATE"), (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"),
        (0x100, "MAP_GROWSDOWN"), (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"),
        (0x4000, "MAP_NORESERVE"), (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"),
        (0x40000, "MAP_HUGETLB"),
    ])
    static let memfdFlags = FlagNames([(1, "MFD_CLOEXEC"), (2, "MFD_ALLOW_SEALING"), (4, "MFD_HUGETLB")])
    static let namespaces = FlagNames([
        (0x80, "CLONE_NEWTIME"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"),
        (0x0200_0000, "CLONE_NEWCGROUP"), (0x0400_0000, "CLONE_NEWUTS"), (0x0800_0000, "CLONE_NEWIPC"),
        (0x1000_0000, "CLONE_NEWUSER"), (0x2000_0000, "CLONE_NEWPID"), (0x4000_0000, "CLONE_NEWNET"),
    ])
    static let families = FlagNames([
        (0, "AF_UNSPEC"), (1, "AF_UNIX"), (2, "AF_INET"), (3, "AF_AX25"), (4, "AF_IPX"), (5, "AF_APPLETALK"), (6, "AF_NETROM"),
        (7, "AF_BRIDGE"), (8, "AF_ATMPVC"), (9, "AF_X25"), (10, "AF_INET6"), (11, "AF_ROSE"), (12, "AF_DECnet"),
        (13, "AF_NETBEUI"), (14, "AF_SECURITY"), (15, "AF_KEY"), (16, "AF_NETLINK"), (17, "AF_PACKET"), (18, "AF_ASH"),
        (19, "AF_ECONET"), (20, "AF_ATMSVC"), (21, "AF_RDS"), (22, "AF_SNA"), (23, "AF_IRDA"), (24, "AF_PPPOX"),
        (25, "AF_WANPIPE"), (26, "AF_LLC"), (27, "AF_IB"), (28, "AF_MPLS"), (29, "AF_CAN"), (30, "AF_TIPC"),
        (31, "AF_BLUETOOTH"), (32, "AF_IUCV"), (33, "AF_RXRPC"), (34, "AF_ISDN"), (35, "AF_PHONET"), (36, "AF_IEEE802154"),
        (37, "AF_CAIF"), (38, "AF_ALG"), (39, "AF_NFC"), (40, "AF_VSOCK"), (41, "AF_KCM"), (42, "AF_QIPCRTR"),
        (43, "AF_SMC"), (44, "AF_XDP"), (45, "AF_MCTP"),
    ])
    static let ptraceRequests = FlagNames([
        (0, "PTRACE_TRACEME"), (1, "PTRACE_PEEKTEXT"), (2, "PTRACE_PEEKDATA"), (3, "PTRACE_PEEKUSR"), (4, "PTRACE_POKETEXT"),
        (5, "PTRACE_POKEDATA"), (6, "PTRACE_POKEUSR"), (7, "PTRACE_CONT"), (8, "PTRACE_KILL"), (9, "PTRACE_SINGLESTEP"),
        (12, "PTRACE_GETREGS"), (13, "PTRACE_SETREGS"), (14, "PTRACE_GETFPREGS"), (15, "PTRACE_SETFPREGS"),
        (16, "PTRACE_ATTACH"), (17, "PTRACE_DETACH"), (18, "PTRACE_GETFPXREGS"), (19, "PTRACE_SETFPXREGS"),
        (24, "PTRACE_SYSCALL"), (30, "PTRACE_ARCH_PRCTL"), (31, "PTRACE_SYSEMU"), (32, "PTRACE_SYSEMU_SINGLESTEP"),
        (33, "PTRACE_SINGLEBLOCK"), (0x4200, "PTRACE_SETOPTIONS"), (0x4201, "PTRACE_GETEVENTMSG"),
        (0x4202, "PTRACE_GETSIGINFO"), (0x4203, "PTRACE_SETSIGINFO"), (0x4204, "PTRACE_GETREGSET"),
        (0x4205, "PTRACE_SETREGSET"), (0x4206, "PTRACE_SEIZE"), (0x4207, "PTRACE_INTERRUPT"), (0x4208, "PTRACE_LISTEN"),
        (0x4209, "PTRACE_PEEKSIGINFO"),
    ])
    static let prctlOptions = FlagNames([
        (1, "PR_SET_PDEATHSIG"), (2, "PR_GET_PDEATHSIG"), (3, "PR_GET_DUMPABLE"), (4, "PR_SET_DUMPABLE"),
        (7, "PR_GET_KEEPCAPS"), (8, "PR_SET_KEEPCAPS"), (15, "PR_SET_NAME"), (16, "PR_GET_NAME"), (21, "PR_GET_SECCOMP"),
        (22, "PR_SET_SECCOMP"), (23, "PR_CAPBSET_READ"), (24, "PR_CAPBSET_DROP"), (27, "PR_GET_SECUREBITS"),
        (28, "PR_SET_SECUREBITS"), (36, "PR_SET_CHILD_SUBREAPER"), (37, "PR_GET_CHILD_SUBREAPER"),
        (38, "PR_SET_NO_NEW_PRIVS"), (39, "PR_GET_NO_NEW_PRIVS"), (47, "PR_CAP_AMBIENT"), (0x5961_6d61, "PR_SET_PTRACER"),
    ])
    static let signals = FlagNames([
        (1, "SIGHUP"), (2, "SIGINT"), (3, "SIGQUIT"), (4, "SIGILL"), (5, "SIGTRAP"), (6, "SIGABRT"), (7, "SIGBUS"),
        (8, "SIGFPE"), (9, "SIGKILL"), (10, "SIGUSR1"), (11, "SIGSEGV"), (12, "SIGUSR2"), (13, "SIGPIPE"), (14, "SIGALRM"),
        (15, "SIGTERM"), (16, "SIGSTKFLT"), (17, "SIGCHLD"), (18, "SIGCONT"), (19, "SIGSTOP"), (20, "SIGTSTP"),
        (21, "SIGTTIN"), (22, "SIGTTOU"), (23, "SIGURG"), (24, "SIGXCPU"), (25, "SIGXFSZ"), (26, "SIGVTALRM"),
        (27, "SIGPROF"), (28, "SIGWINCH"), (29, "SIGIO"), (30, "SIGPWR"), (31, "SIGSYS"),
    ])

    // MARK: The table

    /// (Falco parameter name, schema field, rendering), in Falco's parameter order (`evt.arg[N]`).
    typealias Row = (String, String, ArgSpec.Rendering)

    static func rows(_ t: EventType) -> [Row]? {
        let paths: [Row]
        switch t {
        case .close: return [("res", "res", .result), ("fd", "fd", .number)]
        case .dup: return [("res", "res", .result), ("oldfd", "oldfd", .number)]
        case .dup2: return [("res", "res", .result), ("oldfd", "oldfd", .number), ("newfd", "newfd", .number)]
        case .dup3: return [("res", "res", .result), ("oldfd", "oldfd", .number), ("newfd", "newfd", .number), ("flags", "flags", .flags(cloexec))]
        case .socket:
            return [("res", "res", .result), ("domain", "domain", .enumeration(families)), ("type", "type", .number), ("proto", "proto", .number)]
        case .bind: return [("res", "res", .result), ("addr", "family", .localAddress), ("fd", "fd", .number)]
        case .listen: return [("res", "res", .result), ("fd", "fd", .number), ("backlog", "backlog", .number)]
        case .accept, .accept4:
            var r: [Row] = [("fd", "res", .result), ("tuple", "family", .tuple), ("queuepct", "queuepct", .number),
                            ("queuelen", "queuelen", .number), ("queuemax", "queuemax", .number)]
            if t == .accept4 { r.append(("flags", "flags", .number)) }
            return r
        case .sendto, .sendmsg, .recvfrom, .recvmsg:
            return [("res", "res", .result), ("fd", "fd", .number), ("size", "size", .number), ("tuple", "family", .tuple)]
        case .socketpair:
            return [("res", "res", .result), ("fd1", "fd1", .number), ("fd2", "fd2", .number), ("domain", "domain", .enumeration(families)),
                    ("type", "type", .number), ("proto", "proto", .number)]
        case .rename: return [("res", "res", .result), ("oldpath", "oldpath", .text), ("newpath", "newpath", .text)]
        case .renameat, .renameat2:
            paths = [("res", "res", .result), ("olddirfd", "olddirfd", .dirfd), ("oldpath", "oldpath", .text),
                     ("newdirfd", "newdirfd", .dirfd), ("newpath", "newpath", .text)]
            return t == .renameat2 ? paths + [("flags", "flags", .flags(renameFlags))] : paths
        case .unlink, .rmdir, .chdir, .chroot: return [("res", "res", .result), ("path", "path", .text)]
        case .unlinkat: return [("res", "res", .result), ("dirfd", "dirfd", .dirfd), ("name", "name", .text), ("flags", "flags", .flags(atRemovedir))]
        case .mkdir: return [("res", "res", .result), ("path", "path", .text), ("mode", "mode", .octal)]
        case .mkdirat: return [("res", "res", .result), ("dirfd", "dirfd", .dirfd), ("path", "path", .text), ("mode", "mode", .octal)]
        case .link: return [("res", "res", .result), ("oldpath", "oldpath", .text), ("newpath", "newpath", .text)]
        case .linkat:
            return [("res", "res", .result), ("olddir", "olddir", .dirfd), ("oldpath", "oldpath", .text), ("newdir", "newdir", .dirfd),
                    ("newpath", "newpath", .text), ("flags", "flags", .flags(linkatFlags))]
        case .symlink: return [("res", "res", .result), ("target", "target", .text), ("linkpath", "linkpath", .text)]
        case .symlinkat:
            return [("res", "res", .result), ("target", "target", .text), ("linkdirfd", "linkdirfd", .dirfd), ("linkpath", "linkpath", .text)]
        case .chmod: return [("res", "res", .result), ("filename", "filename", .text), ("mode", "mode", .mode)]
        case .fchmod: return [("res", "res", .result), ("fd", "fd", .number), ("mode", "mode", .mode)]
        case .fchmodat: return [("res", "res", .result), ("dirfd", "dirfd", .dirfd), ("filename", "filename", .text), ("mode", "mode", .mode)]
        case .chown, .lchown:
            return [("res", "res", .result), ("path", "path", .text), ("uid", "uid", .user), ("gid", "gid", .group)]
        case .fchown: return [("res", "res", .result), ("fd", "fd", .number), ("uid", "uid", .user), ("gid", "gid", .group)]
        case .fchownat:
            return [("res", "res", .result), ("dirfd", "dirfd", .dirfd), ("pathname", "pathname", .text), ("uid", "uid", .user),
                    ("gid", "gid", .group), ("flags", "flags", .flags(fchownatFlags))]
        case .setuid: return [("res", "res", .result), ("uid", "uid", .user)]
        case .setgid: return [("res", "res", .result), ("gid", "gid", .group)]
        case .setresuid: return [("res", "res", .result), ("ruid", "ruid", .user), ("euid", "euid", .user), ("suid", "suid", .user)]
        case .setresgid: return [("res", "res", .result), ("rgid", "rgid", .group), ("egid", "egid", .group), ("sgid", "sgid", .group)]
        case .setreuid: return [("res", "res", .result), ("ruid", "ruid", .user), ("euid", "euid", .user)]
        case .setregid: return [("res", "res", .result), ("rgid", "rgid", .group), ("egid", "egid", .group)]
        case .capset:
            return [("res", "res", .result), ("cap_inheritable", "cap_inheritable", .capabilities),
                    ("cap_permitted", "cap_permitted", .capabilities), ("cap_effective", "cap_effective", .capabilities)]
        case .ptrace:
            return [("res", "res", .result), ("request", "request", .enumeration(ptraceRequests)), ("pid", "pid", .number),
                    ("addr", "addr", .hex), ("data", "data", .hex)]
        case .mount:
            return [("res", "res", .result), ("dev", "dev", .text), ("dir", "dir", .text), ("type", "type", .text), ("flags", "flags", .flags(mountFlags))]
        case .umount2: return [("res", "res", .result), ("name", "name", .text), ("flags", "flags", .flags(umountFlags))]
        case .initModule: return [("res", "res", .result), ("length", "length", .number), ("uargs", "uargs", .text)]
        case .finitModule: return [("res", "res", .result), ("fd", "fd", .number), ("uargs", "uargs", .text), ("flags", "flags", .number)]
        case .bpf: return [("res", "res", .result), ("cmd", "cmd", .number)]
        case .memfdCreate: return [("fd", "res", .result), ("name", "name", .text), ("flags", "flags", .flags(memfdFlags))]
        case .userfaultfd: return [("res", "res", .result), ("flags", "flags", .number)]
        case .setns: return [("res", "res", .result), ("fd", "fd", .number), ("nstype", "nstype", .flags(namespaces))]
        case .unshare: return [("res", "res", .result), ("flags", "flags", .flags(namespaces))]
        case .kill: return [("res", "res", .result), ("pid", "pid", .number), ("sig", "sig", .signal)]
        case .prctl:
            return [("res", "res", .result), ("option", "option", .enumeration(prctlOptions)), ("arg2_str", "arg2_str", .text),
                    ("arg2_int", "arg2_int", .number)]
        case .mprotect: return [("res", "res", .result), ("addr", "addr", .hex), ("length", "length", .number), ("prot", "prot", .flags(prot))]
        case .mmap:
            return [("res", "res", .hex), ("addr", "addr", .hex), ("length", "length", .number), ("prot", "prot", .flags(prot)),
                    ("flags", "flags", .flags(mapFlags)), ("fd", "fd", .number), ("offset", "offset", .number)]
        case .fchdir: return [("res", "res", .result), ("fd", "fd", .number)]
        case .pipe: return [("res", "res", .result), ("fd1", "fd1", .number), ("fd2", "fd2", .number), ("ino", "ino", .number)]
        case .pipe2:
            return [("res", "res", .result), ("fd1", "fd1", .number), ("fd2", "fd2", .number), ("ino", "ino", .number), ("flags", "flags", .flags(pipeFlags))]
        case .splice:
            return [("res", "res", .result), ("fd_in", "fd_in", .number), ("fd_out", "fd_out", .number), ("size", "size", .number), ("flags", "flags", .number)]
        case .ioctl: return [("res", "res", .result), ("fd", "fd", .number), ("request", "request", .hex), ("argument", "argument", .hex)]
        case .read, .write, .readv, .writev: return [("res", "res", .result), ("fd", "fd", .number), ("size", "size", .number)]
        case .pread64, .pwrite64: return [("res", "res", .result), ("fd", "fd", .number), ("size", "size", .number), ("pos", "pos", .number)]
        default: return nil
        }
    }

    /// Specs by event raw value, with schema fields resolved once; nil for hand-planned or internal events.
    static let specs: [[ArgSpec]?] = {
        var out = [[ArgSpec]?](repeating: nil, count: Int(EventType.allCases.map(\.rawValue).max()!) + 1)
        for t in EventType.allCases {
            guard let rows = rows(t) else { continue }
            out[Int(t.rawValue)] = rows.map { row in
                guard let f = t.fields.first(where: { $0.name == row.1 }) else {
                    preconditionFailure("ArgumentTable: \(t.name) has no schema field '\(row.1)' (proto/events.yaml)")
                }
                return ArgSpec(name: row.0, field: f, rendering: row.2, rawField: t.fields.first { $0.name == row.1 + "raw" })
            }
        }
        return out
    }()

    static let sockets: [SocketLayout?] = {
        var out = [SocketLayout?](repeating: nil, count: Int(EventType.allCases.map(\.rawValue).max()!) + 1)
        for t in EventType.allCases { out[Int(t.rawValue)] = SocketLayout(t) }
        return out
    }()
}
