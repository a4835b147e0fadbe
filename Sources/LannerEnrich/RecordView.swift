import LannerWire

/// A record inside a batch body, read through a pointer that is valid while the body is pinned
/// (`body.withUnsafeBytes`). Variable fields are located once when the view is set up.
public struct RecordView {
    public let base: UnsafeRawPointer
    public let length: Int
    public let type: EventType
    /// Offset and length of each variable field, in schema order (at most 8 are located).
    var varStart = InlineArray<8, Int32>(repeating: 0)
    var varLength = InlineArray<8, Int32>(repeating: 0)
    public private(set) var varCount = 0

    /// Views a record that `BatchDecoder` already validated (lengths are trusted here).
    public init?(base: UnsafeRawPointer, length: Int) {
        self.base = base
        self.length = length
        guard let t = EventType(rawValue: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2, as: UInt16.self))) else {
            return nil
        }
        type = t
        var cursor = t.fixedSize
        var n = 0
        while cursor + 2 <= length, n < 8 {
            let len = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: cursor, as: UInt16.self)))
            guard cursor + 2 + len <= length else { break }
            varStart[n] = Int32(cursor + 2)
            varLength[n] = Int32(len)
            cursor += 2 + len
            n += 1
        }
        varCount = n
    }

    @inline(__always) public func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    public var pid: UInt32 { load(UInt32.self, at: 4) }
    public var tid: UInt32 { load(UInt32.self, at: 8) }
    public var ts: UInt64 { load(UInt64.self, at: 12) }

    /// The i-th variable field's bytes (empty when absent).
    @inline(__always) public func variable(_ i: Int) -> UnsafeRawBufferPointer {
        guard i < varCount else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + Int(varStart[i]), count: Int(varLength[i]))
    }

    /// 16 raw bytes at `offset` (addresses).
    public func bytes16(at offset: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + offset, count: 16) }
}

/// Field offsets of the generated layouts that the enrichment reads (checked against the schema by tests).
public enum Layout {
    public enum Exec {
        public static let res = 20, ppid = 28, uid = 32, gid = 36, euid = 40, loginuid = 44, vpid = 48, sid = 52, pgid = 56
        public static let tty = 60, capEffective = 64, capPermitted = 72, startNs = 80, exeFlags = 88
        public static let comm = 0, exe = 1, filename = 2, args = 3, cwd = 4, cgroup = 5
    }
    public enum Clone {
        public static let res = 20, childPid = 28, flags = 32
    }
    public enum Exit {
        public static let status = 20, flags = 28
    }
    public enum Open {
        public static let res = 20, flags = 28, mode = 32, dirfd = 36, dev = 40, ino = 44
        public static let name = 0, nameraw = 1
    }
    public enum Connect {
        public static let res = 20, fd = 28, family = 32, socktype = 34, sport = 36, dport = 38, saddr = 40, daddr = 56
        public static let path = 0
    }
    public enum User {
        public static let uid = 20, gid = 24
        public static let name = 0, home = 1, shell = 2
    }
    public enum Group {
        public static let gid = 20
        public static let name = 0
    }
    public enum Container {
        public static let flags = 20, startedNs = 24
        public static let id = 0, name = 1, image = 2, imageID = 3, runtime = 4, labels = 5, mounts = 6, marathonAppID = 7
    }
}
