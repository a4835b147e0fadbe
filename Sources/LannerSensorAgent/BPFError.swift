import Glibc

/// Why the eBPF probe could not start or run: the step that failed, the errno text, and what to do.
///
/// Every libbpf return code passes through `BPFProbe`'s single check funnel, which builds one of these.
public enum BPFError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The object file is not where the configuration says.
    case objectNotFound(path: String)
    /// A `ProbeConfig` value is out of range.
    case invalidConfig(String)
    /// `bpf_object__open_file` failed (not an ELF BPF object, unreadable, bad BTF).
    case open(path: String, errno: Int32)
    /// The object lacks a map the loader needs, or its value size differs from sensor/lanner_abi.h.
    case objectMismatch(String)
    /// Setting a map size before load failed.
    case resize(map: String, errno: Int32)
    /// `bpf_object__load` failed: the kernel refused a program or a map. `log` holds libbpf's last lines
    /// (with the verifier's complaint when a program was rejected).
    case load(errno: Int32, log: [String])
    /// Writing a configuration map failed.
    case mapUpdate(map: String, errno: Int32)
    /// Attaching one program to its hook failed.
    case attach(program: String, section: String, errno: Int32)
    /// Duplicating a loaded program's or map's file descriptor (kept after the object is closed) failed.
    case keepDescriptor(of: String, errno: Int32)
    /// Creating the ring-buffer consumer failed.
    case ringBuffer(errno: Int32)
    /// Waiting on or draining the ring buffer failed (EINVAL: a record longer than any the kernel side writes).
    case poll(errno: Int32)

    public var description: String {
        switch self {
        case .objectNotFound(let path):
            return "eBPF object not found at \(path): run `make -C sensor` (or set LANNER_BPF_OBJECT)"
        case .invalidConfig(let what):
            return "invalid probe configuration: \(what)"
        case .open(let path, let e):
            return "opening eBPF object \(path) failed: \(Self.text(e)); rebuild it with `make -C sensor`"
        case .objectMismatch(let what):
            return "eBPF object does not match this loader: \(what); rebuild it with `make -C sensor`"
        case .resize(let map, let e):
            return "sizing map \(map) failed: \(Self.text(e))"
        case .load(let e, let log):
            let tail = log.suffix(12).joined(separator: "\n  ")
            return "loading eBPF programs failed: \(Self.text(e)); \(Self.hint(e, step: .load))"
                + (tail.isEmpty ? "" : "\n  libbpf said:\n  " + tail)
        case .mapUpdate(let map, let e):
            return "writing map \(map) failed: \(Self.text(e))"
        case .attach(let program, let section, let e):
            return "attaching \(program) (\(section)) failed: \(Self.text(e)); \(Self.hint(e, step: .attach))"
        case .keepDescriptor(let what, let e):
            return "keeping \(what)'s file descriptor failed: \(Self.text(e)); \(Self.hint(e, step: .load))"
        case .ringBuffer(let e):
            return "creating the ring-buffer consumer failed: \(Self.text(e))"
        case .poll(let e):
            return "polling the ring buffer failed: \(Self.text(e))"
        }
    }

    enum Step { case load, attach }

    static func text(_ e: Int32) -> String {
        guard let s = strerror(e) else { return "errno \(e)" }
        return "\(String(cString: s)) (errno \(e))"
    }

    static func hint(_ e: Int32, step: Step) -> String {
        switch (e, step) {
        case (EPERM, _), (EACCES, .attach):
            return "run as root (needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN); kernel lockdown also refuses some program types"
        case (ENOENT, .attach):
            return "the tracepoint is missing: mount tracefs (`mount -t tracefs nodev /sys/kernel/tracing`) and check the kernel has CONFIG_FTRACE_SYSCALLS"
        case (EACCES, .load), (EINVAL, .load):
            return "the verifier rejected a program (see the log below) or the kernel is too old (needs BTF, ring buffers, bpf_loop: 5.17+)"
        case (EMFILE, _), (ENFILE, _):
            return "raise the open-file limit (ulimit -n): the probe keeps a descriptor per program, per map and per attached program"
        case (E2BIG, _), (ENOMEM, _):
            return "out of memory for BPF maps: lower ringBufferBytes"
        case (ESRCH, _):
            return "the kernel lacks a BTF type this object needs (CONFIG_DEBUG_INFO_BTF=y is required)"
        default:
            return "see the kernel log (dmesg) for details"
        }
    }
}
