/// What a collector wants its sensors to capture: the kernel event types, the optional parts of records its
/// rules never read (`omit`), and a version that changes when either does (proto/README.md, "Interest").
/// The collector sends it in every 200 answer to `POST /v1/batches`; a sensor switches its kernel-side filter
/// when the version differs from the one it applied last.
///
/// The version is a function of the content alone (FNV-1a over the sorted ids, then over the sorted omit
/// names when there are any), so equal sets have equal versions, also across collector restarts, and a sensor
/// never re-applies a set it already has. A collector that omits nothing sends the version an older collector
/// sent for the same events, and an older sensor, which cannot omit, refuses a non-empty `omit` by its version
/// and keeps capturing everything: never less than asked for.
public struct Interest: Sendable, Equatable, CustomStringConvertible {
    /// Wire event ids (proto/events.yaml), ascending, without repeats.
    public let events: [UInt16]
    /// Optional record parts the sensor may leave empty (`Omit`), ascending, without repeats. A sensor ignores
    /// names it does not know (it captures those parts).
    public let omit: [String]
    /// Changes when `events` or `omit` changes.
    public let version: UInt32

    /// The optional parts a collector can ask sensors to leave out.
    public enum Omit {
        /// `nameraw` of open, openat, openat2 and creat (the path as passed), read only by `fd.nameraw`,
        /// `evt.arg.name` (or its position) of those events and `evt.args`. Left empty, it costs the sensor no
        /// user-memory read (the largest part of an open record's kernel cost).
        public static let openNameraw = "open.nameraw"
        /// Every name this version of Lanner can omit.
        public static let known: Set<String> = [openNameraw]
    }

    /// The process-lifecycle types every interest holds, whatever the rules: the collector's process table (names,
    /// parents, command lines, exits) is built from them.
    public static let lifecycleEvents: Set<EventType> = [.execve, .execveat, .clone, .clone3, .fork, .vfork, .procexit]

    public init<S: Sequence>(events: S, omit: some Sequence<String> = [String]()) where S.Element == UInt16 {
        let sorted = Array(Set(events)).sorted()
        self.events = sorted
        self.omit = Array(Set(omit)).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        version = Interest.version(of: sorted, omit: self.omit)
    }

    /// FNV-1a (32-bit) over the ids as little-endian u16s, then each omit name's UTF-8 bytes and a 0 byte.
    public static func version(of sortedIDs: [UInt16], omit: [String] = []) -> UInt32 {
        var h: UInt32 = 0x811c_9dc5
        @inline(__always) func mix(_ byte: UInt8) {
            h ^= UInt32(byte)
            h = h &* 0x0100_0193
        }
        for id in sortedIDs {
            mix(UInt8(id & 0xff))
            mix(UInt8(id >> 8))
        }
        for name in omit {
            for byte in name.utf8 { mix(byte) }
            mix(0)
        }
        return h
    }

    /// Whether the sensor may leave `part` (an `Omit` name) out.
    public func omits(_ part: String) -> Bool { omit.contains(part) }

    /// `{"version":V,"events":[1,2,…],"omit":["open.nameraw"]}` (`omit` only when not empty).
    public var json: String {
        var s = "{\"version\":\(version),\"events\":[" + events.map(String.init).joined(separator: ",") + "]"
        if !omit.isEmpty { s += ",\"omit\":[" + omit.map { "\"" + $0 + "\"" }.joined(separator: ",") + "]" }
        return s + "}"
    }

    /// The ids as event names where known (`execve, openat, …`), for log lines.
    public var names: String {
        events.map { EventType(rawValue: $0)?.name ?? "#\($0)" }.joined(separator: ", ")
    }

    public var description: String {
        "interest v\(version) [\(names)]" + (omit.isEmpty ? "" : " omitting " + omit.joined(separator: ", "))
    }
}
