/// The type of a field's value, as Falco's field tables name them (libsinsp `ppm_param_type`), reduced to
/// what comparison and rendering need.
public enum FieldType: String, Sendable, CaseIterable {
    /// Text: CHARBUF, FSPATH, FSRELPATH, BYTEBUF (compared as bytes).
    case string
    /// Signed integers: INT8…INT64, ERRNO, FD, PID, also RELTIME (ns) and ABSTIME (ns since epoch).
    case int64
    /// Unsigned integers: UINT8…UINT64, PORT, FLAGS/ENUM raw values, UID/GID.
    case uint64
    case bool
    /// An IPv4 or IPv6 address.
    case ipaddr
    /// An IPv4 or IPv6 network (CIDR); comparing an address with it tests membership.
    case ipnet
    /// A relative time in ns (durations).
    case reltime
    /// An absolute time in ns since the Unix epoch.
    case abstime
    /// An L4/L3 port.
    case port

    public var isNumeric: Bool {
        switch self {
        case .int64, .uint64, .reltime, .abstime, .port: return true
        default: return false
        }
    }
}

/// How a field takes an argument: `proc.aname[2]`, `evt.arg.flags` / `evt.arg[flags]`, `proc.env[HOME]`.
public struct FieldArgSpec: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The field must have an argument.
    public static let required = FieldArgSpec(rawValue: 1 << 0)
    /// The field may have an argument.
    public static let allowed = FieldArgSpec(rawValue: 1 << 1)
    /// The argument is a non-negative index (`proc.aname[2]`).
    public static let index = FieldArgSpec(rawValue: 1 << 2)
    /// The argument is a key (`evt.arg[flags]`, `k8s.pod.label[app]`).
    public static let key = FieldArgSpec(rawValue: 1 << 3)
    /// The argument may be written after a dot (`evt.arg.flags`).
    public static let dotted = FieldArgSpec(rawValue: 1 << 4)
}

/// Properties of a field that change how conditions treat it.
public struct FieldFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Usable in conditions only, not in outputs (Falco EPF_FILTER_ONLY), e.g. `fd.ip`.
    public static let filterOnly = FieldFlags(rawValue: 1 << 0)
    /// The value is a list (Falco EPF_IS_LIST): `in` means every element is in the set, `intersects` any.
    public static let isList = FieldFlags(rawValue: 1 << 1)
    /// Without an index the field stands for every ancestor: a comparison holds when it holds for any
    /// of them (`proc.aname`, `proc.apid`).
    public static let anyOfAncestors = FieldFlags(rawValue: 1 << 2)
    /// Deprecated in Falco; a warning is given where it is used.
    public static let deprecated = FieldFlags(rawValue: 1 << 3)
    /// Not shown in listings (Falco EPF_TABLE_ONLY / internal).
    public static let hidden = FieldFlags(rawValue: 1 << 4)
    /// The domain name of the address field named without the trailing `.name` (Falco's `fd.*ip.name`). The
    /// engine derives it: `=`, `!=` and `in` against names test the address against the addresses the names
    /// resolved to (looked up in the background, `DomainNames`); elsewhere (outputs, other operators) the value
    /// is the first such name whose addresses include the address, or missing.
    public static let domainName = FieldFlags(rawValue: 1 << 5)
}

/// One field of Falco's syscall field catalog.
public struct FieldInfo: Sendable, Hashable {
    public var name: String
    public var type: FieldType
    public var arg: FieldArgSpec
    public var flags: FieldFlags
    public var description: String

    public init(_ name: String, _ type: FieldType, arg: FieldArgSpec = [], flags: FieldFlags = [], _ description: String) {
        self.name = name
        self.type = type
        self.arg = arg
        self.flags = flags
        self.description = description
    }

    /// The field's class: the part before the first dot (`proc`, `fd`, `container`).
    public var fieldClass: String { String(name.prefix(while: { $0 != "." })) }
}
