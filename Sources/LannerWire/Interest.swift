/// The kernel event types a collector wants its sensors to capture, and a version that changes when the set
/// does (proto/README.md, "Responses"). The collector sends it in every 200 answer to `POST /v1/batches`; a
/// sensor switches its kernel-side filter when the version differs from the one it applied last.
///
/// The version is a function of the set alone (FNV-1a over the sorted ids), so equal sets have equal versions,
/// also across collector restarts, and a sensor never re-applies a set it already has.
public struct Interest: Sendable, Equatable, CustomStringConvertible {
    /// Wire event ids (proto/events.yaml), ascending, without repeats.
    public let events: [UInt16]
    /// Changes when `events` changes.
    public let version: UInt32

    public init<S: Sequence>(events: S) where S.Element == UInt16 {
        let sorted = Array(Set(events)).sorted()
        self.events = sorted
        version = Interest.version(of: sorted)
    }

    /// FNV-1a (32-bit) over the ids as little-endian u16s.
    public static func version(of sortedIDs: [UInt16]) -> UInt32 {
        var h: UInt32 = 0x811c_9dc5
        for id in sortedIDs {
            for byte in [UInt8(id & 0xff), UInt8(id >> 8)] {
                h ^= UInt32(byte)
                h = h &* 0x0100_0193
            }
        }
        return h
    }

    /// `{"version":V,"events":[1,2,…]}`.
    public var json: String {
        "{\"version\":\(version),\"events\":[" + events.map(String.init).joined(separator: ",") + "]}"
    }

    /// The ids as event names where known (`execve, openat, …`), for log lines.
    public var names: String {
        events.map { EventType(rawValue: $0)?.name ?? "#\($0)" }.joined(separator: ", ")
    }

    public var description: String { "interest v\(version) [\(names)]" }
}
