import Glibc

/// Falco's renderings of raw values: errno names, open flags, capability sets, times.
public enum Render {
    /// Linux errno names (x86_64), as Falco prints `evt.res`.
    public static let errnoNames: [Int: String] = [
        1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 8: "ENOEXEC", 9: "EBADF",
        10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 15: "ENOTBLK", 16: "EBUSY", 17: "EEXIST",
        18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 25: "ENOTTY",
        26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC", 29: "ESPIPE", 30: "EROFS", 31: "EMLINK", 32: "EPIPE", 33: "EDOM",
        34: "ERANGE", 35: "EDEADLK", 36: "ENAMETOOLONG", 37: "ENOLCK", 38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP",
        42: "ENOMSG", 43: "EIDRM", 61: "ENODATA", 62: "ETIME", 71: "EPROTO", 75: "EOVERFLOW", 84: "EILSEQ",
        88: "ENOTSOCK", 89: "EDESTADDRREQ", 90: "EMSGSIZE", 91: "EPROTOTYPE", 92: "ENOPROTOOPT", 93: "EPROTONOSUPPORT",
        94: "ESOCKTNOSUPPORT", 95: "EOPNOTSUPP", 96: "EPFNOSUPPORT", 97: "EAFNOSUPPORT", 98: "EADDRINUSE",
        99: "EADDRNOTAVAIL", 100: "ENETDOWN", 101: "ENETUNREACH", 102: "ENETRESET", 103: "ECONNABORTED",
        104: "ECONNRESET", 105: "ENOBUFS", 106: "EISCONN", 107: "ENOTCONN", 108: "ESHUTDOWN", 110: "ETIMEDOUT",
        111: "ECONNREFUSED", 112: "EHOSTDOWN", 113: "EHOSTUNREACH", 114: "EALREADY", 115: "EINPROGRESS",
        116: "ESTALE", 122: "EDQUOT", 125: "ECANCELED", 130: "EOWNERDEAD", 131: "ENOTRECOVERABLE",
    ]

    /// The largest errno a syscall returns as -errno (the kernel's MAX_ERRNO): a result below -4095 is not an
    /// error code, whatever a record says.
    public static let maxErrno: Int64 = 4095

    /// `SUCCESS` for res >= 0, the errno name (or `E<n>`) for -4095...-1, the number itself below that (a record
    /// can hold any Int64, Int64.min included: nothing here negates a value that is out of the errno range).
    public static func result(_ res: Int64) -> String {
        if res >= 0 { return "SUCCESS" }
        guard res >= -maxErrno else { return String(res) }
        return errnoNames[Int(-res)] ?? "E\(-res)"
    }

    /// A result as an argument (`evt.arg.res`): the number, followed by the errno name in parentheses when it is
    /// one (`-2(ENOENT)`); a result below the errno range is only its number.
    public static func resultArgument(_ res: Int64) -> String {
        if res >= 0 || res < -maxErrno { return String(res) }
        return "\(res)(\(result(res)))"
    }

    static let openFlagNames: [(UInt32, String)] = [
        (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"),
        (0o4000, "O_NONBLOCK"), (0o10000, "O_DSYNC"), (0o20000, "O_ASYNC"), (0o40000, "O_DIRECT"), (0o100000, "O_LARGEFILE"),
        (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"), (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"),
        (0o4000000, "O_SYNC"), (0o10000000, "O_PATH"), (0o20000000, "O_TMPFILE"),
    ]

    /// Open flags as Falco prints them: `O_WRONLY|O_CREAT|O_TRUNC`.
    public static func openFlags(_ f: UInt32) -> String {
        var parts: [String] = []
        switch f & 3 {
        case 0: parts.append("O_RDONLY")
        case 1: parts.append("O_WRONLY")
        default: parts.append("O_RDWR")
        }
        for (bit, name) in openFlagNames where f & bit == bit {
            if bit == 0o4000000 || bit == 0o20000000 {
                // O_SYNC and O_TMPFILE include other bits; print them only when complete.
                parts.append(name)
            } else {
                parts.append(name)
            }
        }
        return parts.joined(separator: "|")
    }

    /// Lanner's exe_flags bits as Falco names them.
    public static func exeFlags(_ f: UInt32) -> String {
        // Falco's order (its bit order): writable, upper layer, from memfd, lower layer. Bit 4 (written by the
        // process or its parent) has no Falco name and is not rendered: rules compare this text whole.
        var parts: [String] = []
        if f & 4 != 0 { parts.append("EXE_WRITABLE") }
        if f & 1 != 0 { parts.append("EXE_UPPER_LAYER") }
        if f & 2 != 0 { parts.append("EXE_FROM_MEMFD") }
        if f & 8 != 0 { parts.append("EXE_LOWER_LAYER") }
        return parts.isEmpty ? "0" : parts.joined(separator: "|")
    }

    static let capNames = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                           "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
                           "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
                           "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
                           "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
                           "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
                           "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
                           "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]

    /// A capability set as Falco prints it: names separated by spaces.
    public static func capabilities(_ mask: UInt64) -> String {
        var parts: [String] = []
        for (i, name) in capNames.enumerated() where mask & (1 << UInt64(i)) != 0 { parts.append(name) }
        return parts.joined(separator: " ")
    }

    /// `2016-08-04T16:17:57.881781397Z` (UTC).
    public static func iso8601(_ ns: UInt64, zulu: Bool = true) -> String {
        let (date, time) = civil(ns)
        return date + "T" + time + (zulu ? "Z" : "+0000")
    }

    /// `16:17:57.881781397` (UTC), Falco's evt.time.
    public static func timeOfDay(_ ns: UInt64, nanos: Bool = true) -> String {
        let t = civil(ns).1
        return nanos ? t : String(t.prefix(8))
    }

    /// `2016-08-04 16:17:57.881781397` (UTC).
    public static func dateTime(_ ns: UInt64, nanos: Bool = true) -> String {
        let (d, t) = civil(ns)
        return d + " " + (nanos ? t : String(t.prefix(8)))
    }

    static func civil(_ ns: UInt64) -> (String, String) {
        var secs = time_t(ns / 1_000_000_000)
        var tm = tm()
        gmtime_r(&secs, &tm)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        let frac = String(ns % 1_000_000_000)
        let date = "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))"
        let time = "\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2))." + String(repeating: "0", count: 9 - frac.count) + frac
        return (date, time)
    }
}
