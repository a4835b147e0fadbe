/// The compiled, typed form of a condition: fields resolved, constants parsed into the field's type,
/// operators checked. Independent of any event source; `Ruleset` binds it to extractors.

/// A boolean condition over typed checks.
public indirect enum Condition: Sendable, Equatable {
    case and([Condition])
    case or([Condition])
    case not(Condition)
    case check(Check)
    case constant(Bool)
}

/// A field with the transformers applied to it, left to right from the innermost.
public struct FieldOperand: Sendable, Hashable, CustomStringConvertible {
    public var field: ResolvedField
    public var transformers: [Transformer]
    /// True when the value is a `val(...)` right-hand side (a field read as a value).
    public var type: FieldType
    /// The value is a list (Falco EPF_IS_LIST) after transformers.
    public var isList: Bool

    public init(field: ResolvedField, transformers: [Transformer] = []) {
        self.field = field
        self.transformers = transformers
        var t = field.info.type
        var list = field.info.flags.contains(.isList)
        for tr in transformers {
            switch tr {
            case .len: t = .uint64; list = false
            default: break
            }
        }
        type = t
        isList = list
    }

    /// `tolower(proc.name)`, `proc.aname[2]`.
    public var description: String {
        transformers.reduce(field.description) { "\($1.rawValue)(\($0))" }
    }

    /// Matches any ancestor when the field has no index (`proc.aname = bash`).
    public var matchesAnyAncestor: Bool { field.info.flags.contains(.anyOfAncestors) && field.argument == nil }
}

/// Falco's field transformers.
public enum Transformer: String, Sendable, Hashable, CaseIterable {
    case tolower, toupper, b64, basename, len
}

/// A comparison operator (modifiers are kept separately in `Check`).
public enum CheckOp: String, Sendable, Hashable {
    case eq = "=", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="
    case contains, icontains, bcontains, startswith, bstartswith, endswith, glob, iglob, regex
    case `in`, intersects, pmatch, exists

    init?(_ name: String) {
        if name == "==" { self = .eq; return }
        self.init(rawValue: name)
    }

    var isOrdering: Bool { self == .lt || self == .le || self == .gt || self == .ge }
    var isStringOnly: Bool {
        switch self {
        case .contains, .icontains, .bcontains, .startswith, .bstartswith, .endswith, .glob, .iglob, .regex, .pmatch: return true
        default: return false
        }
    }
}

/// A typed constant on the right-hand side.
public enum Constant: Sendable, Hashable {
    case string([UInt8])
    case int(Int64)
    case uint(UInt64)
    case bool(Bool)
    case ip(IPAddress)
    case net(IPNetwork)
}

/// The right-hand side of a check.
public enum CheckRHS: Sendable, Equatable {
    case none
    case constants([Constant])
    case field(FieldOperand)
}

/// One comparison.
public struct Check: Sendable, Equatable {
    public var lhs: FieldOperand
    public var op: CheckOp
    public var modifier: Operator.Modifier?
    public var rhs: CheckRHS
    /// Where the check was written (for `--explain` and diagnostics).
    public var pos: Pos
    /// The source text of the check, Falco-printed.
    public var text: String
}

/// An IPv4 or IPv6 address. IPv4 addresses are held as IPv4-mapped IPv6 (::ffff:a.b.c.d).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public var hi: UInt64
    public var lo: UInt64

    public init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    /// From 4 (IPv4) or 16 (IPv6) bytes in network order.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        let b = Array(bytes)
        if b.count == 4 {
            hi = 0
            lo = 0xffff_0000_0000 | UInt64(b[0]) << 24 | UInt64(b[1]) << 16 | UInt64(b[2]) << 8 | UInt64(b[3])
        } else if b.count == 16 {
            hi = b[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
            lo = b[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
        } else {
            return nil
        }
    }

    public var isV4: Bool { hi == 0 && lo >> 32 == 0xffff }

    /// Parses dotted IPv4 or RFC 4291 IPv6 text.
    public init?(_ text: String) {
        if let v4 = IPAddress.parseV4(text) {
            self.init(bytes: v4)
            return
        }
        guard let v6 = IPAddress.parseV6(text) else { return nil }
        self.init(bytes: v6)
    }

    static func parseV4(_ s: String) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt8(p) else { return nil }
            out.append(n)
        }
        return out
    }

    static func parseV6(_ s: String) -> [UInt8]? {
        guard s.contains(":") else { return nil }
        var text = s
        var tail: [UInt8] = []
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = parseV4(String(text[text.index(after: lastColon)...])) else { return nil }
            tail = v4
            text = String(text[...lastColon]) + "0:0"
        }
        var halves: [String] = []
        if let r = text.firstRange(of: "::") {
            halves = [String(text[..<r.lowerBound]), String(text[r.upperBound...])]
            if halves[1].contains("::") { return nil }
        } else {
            halves = [text]
        }
        guard halves.count <= 2 else { return nil }
        func groups(_ h: String) -> [UInt16]? {
            if h.isEmpty { return [] }
            var out: [UInt16] = []
            for g in h.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let rest = groups(halves[1]), head.count + rest.count < 8 else { return nil }
            all += [UInt16](repeating: 0, count: 8 - head.count - rest.count) + rest
        }
        guard all.count == 8 else { return nil }
        var bytes: [UInt8] = []
        for g in all { bytes.append(UInt8(g >> 8)); bytes.append(UInt8(g & 0xff)) }
        if !tail.isEmpty { bytes.replaceSubrange(12..<16, with: tail) }
        return bytes
    }

    public var description: String {
        if isV4 {
            let v = UInt32(truncatingIfNeeded: lo)
            return "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
        }
        var groups: [UInt16] = []
        for i in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: hi >> UInt64(i))) }
        for i in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: lo >> UInt64(i))) }
        // Compress the longest run of zero groups (RFC 5952).
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8, groups[j] == 0 { j += 1 }
                if j - i > bestLen && j - i > 1 { bestStart = i; bestLen = j - i }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ g: ArraySlice<UInt16>) -> String { g.map { String($0, radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(groups[0..<8]) }
        return hex(groups[0..<bestStart]) + "::" + hex(groups[(bestStart + bestLen)..<8])
    }
}

/// A network in CIDR form.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    /// Prefix length in IPv6 terms (IPv4 /24 is stored as /120).
    public var prefix: Int

    /// Parses `10.0.0.0/8`, `fe80::/10`, or a bare address (a /32 or /128 network).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let addr = IPAddress(String(first)) else { return nil }
        var bits = addr.isV4 ? 32 : 128
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0, n <= bits else { return nil }
            bits = n
        }
        prefix = addr.isV4 ? bits + 96 : bits
        address = IPNetwork.mask(addr, prefix)
    }

    static func mask(_ a: IPAddress, _ prefix: Int) -> IPAddress {
        let hiMask: UInt64 = prefix >= 64 ? ~0 : (prefix == 0 ? 0 : ~0 << UInt64(64 - prefix))
        let loBits = prefix - 64
        let loMask: UInt64 = loBits <= 0 ? 0 : (loBits >= 64 ? ~0 : ~0 << UInt64(64 - loBits))
        return IPAddress(hi: a.hi & hiMask, lo: a.lo & loMask)
    }

    public func contains(_ a: IPAddress) -> Bool { IPNetwork.mask(a, prefix) == address }

    public var description: String {
        "\(address)/\(address.isV4 ? prefix - 96 : prefix)"
    }
}
