import FoundationEssentials
import Glibc
import LannerCore
import LannerWire

/// The event types `lanner-sensor --events` names, and the sets it can name (sensor/README.md, "Interest at start").
public enum EventSelection {
    /// read, write, pread64, pwrite64, readv, writev: the busiest syscalls of most hosts, captured only when a rule
    /// asks for them (a collector's interest), `--events all`, or `--events` naming them.
    public static let readWriteFamily: [EventType] = [.read, .write, .pread64, .pwrite64, .readv, .writev]

    /// Every event type the kernel side can capture.
    public static let allKernel: Set<UInt16> = Set(EventType.allCases.filter(\.fromKernel).map(\.rawValue))

    /// `--events default`, and what a sensor captures before any collector has said what its rules need: every kernel
    /// event type but the read/write family.
    public static let standard: Set<UInt16> = allKernel.subtracting(readWriteFamily.map(\.rawValue))

    /// A set named on the command line, and how it was spelled (for log lines).
    public struct Choice: Sendable, Equatable {
        public var events: Set<UInt16>
        public var spelled: String
    }

    /// Why `--events` was refused, said for the operator (the CLI adds the option's name and value).
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Parses `--events`: `all`, `default`, or event names of proto/events.yaml separated by commas (`all` and
    /// `default` may be items too: `default,read,write`). The process-lifecycle types (`Interest.lifecycleEvents`)
    /// are always added: the collector's process table is built from them.
    /// - Throws: `Failure` naming the item (and its position) that is not a kernel event.
    public static func parse(_ text: String) throws(Failure) -> Choice {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmed() }
        guard !(items.count == 1 && items[0].isEmpty) else {
            throw Failure(description: "is empty: give all, default, or event names separated by commas (e.g. default,read)")
        }
        var out = Set(Interest.lifecycleEvents.map(\.rawValue))
        for (i, item) in items.enumerated() {
            let at = items.count > 1 ? " (item \(i + 1))" : ""
            switch item {
            case "all": out.formUnion(allKernel)
            case "default": out.formUnion(standard)
            case "":
                throw Failure(description: "has an empty name\(at): names are separated by single commas")
            default:
                guard let t = EventType.allCases.first(where: { $0.name == item }) else {
                    throw Failure(description: "names '\(item)'\(at), which is not an event of proto/events.yaml; "
                                  + "the kernel's are all, default or: " + kernelNames)
                }
                guard t.fromKernel else {
                    throw Failure(description: "names '\(item)'\(at), which the sensor writes itself (always sent), not one the kernel captures")
                }
                out.insert(t.rawValue)
            }
        }
        return Choice(events: out, spelled: text)
    }

    /// The kernel event names, in id order.
    static var kernelNames: String {
        EventType.allCases.filter(\.fromKernel).map(\.name).joined(separator: ", ")
    }

    /// "every kernel event type but read, write, …" / "every kernel event type" / "execve, openat, …", for log lines.
    static func describe(_ events: Set<UInt16>) -> String {
        if events == allKernel { return "every kernel event type" }
        if events == standard { return "every kernel event type but " + readWriteFamily.map(\.name).joined(separator: ", ") }
        return events.sorted().map { EventType(rawValue: $0)?.name ?? "#\($0)" }.joined(separator: ", ")
    }
}

/// What the kernel side captures from the sensor's start until the collector's first acknowledgement (and, with
/// `--offline`, throughout). In order: `--events`; else, shipping, the collector's last interest kept in the state
/// directory (`InterestFile`); else `EventSelection.standard`, omitting nothing. A collector's interest replaces it
/// on its first acknowledgement.
public struct StartInterest: Sendable, Equatable {
    public enum Origin: Sendable, Equatable {
        /// Nothing named, nothing kept (first start, `--offline`, or an unusable file).
        case standard
        /// `--events`, as spelled.
        case option(String)
        /// The collector's last interest, from this file.
        case kept(path: String)
    }

    public var events: Set<UInt16>
    public var omit: Set<String>
    /// The collector interest's version when this is one kept from an earlier run (a collector sending the same
    /// version is not applied again); nil otherwise.
    public var collectorVersion: UInt32?
    public var origin: Origin

    /// Chooses the start set for `config` and says so, or why a kept interest was not used, through `log`.
    public static func choose(events: EventSelection.Choice?, shipping: Bool, file: InterestFile,
                              log: (String) -> Void) -> StartInterest {
        if let events { return StartInterest(events: events.events, omit: [], collectorVersion: nil, origin: .option(events.spelled)) }
        let standard = StartInterest(events: EventSelection.standard, omit: [], collectorVersion: nil, origin: .standard)
        guard shipping else { return standard }
        switch file.load() {
        case .none:
            return standard
        case .kept(let i):
            return StartInterest(events: Set(i.events), omit: Set(i.omit), collectorVersion: i.version, origin: .kept(path: file.path))
        case .unusable(let why):
            log("lanner-sensor: warning: ignoring \(file.path): \(why); capturing \(EventSelection.describe(EventSelection.standard)) "
                + "until the collector says what its rules need")
            return standard
        }
    }

    /// What is being captured, for log lines: "82 event types (every kernel event type but read, …: no collector interest kept)".
    public var summary: String {
        let n = "\(events.intersection(EventSelection.allKernel).count) event types"
        switch origin {
        case .standard:
            return "\(n) (\(EventSelection.describe(events)): no collector interest kept)"
        case .option(let spelled):
            return "\(n) (--events \(spelled))"
        case .kept(let path):
            return "\(n) (the collector's interest v\(collectorVersion.map(String.init) ?? "?") kept in \(path)"
                + (omit.isEmpty ? "" : "; leaving out \(omit.sorted().joined(separator: ", "))") + ")"
        }
    }
}

/// The collector's last applied interest, kept in `STATE-DIR/interest` so that a sensor (re)started while the
/// collector is down captures what the rules need rather than a fixed set. The file is
/// `{"interest":{"version":V,"events":[…],"omit":[…]}}`, the form of an acknowledgement's interest, written
/// atomically (temporary file, fsync, rename) and validated when read: a file that is not that, or whose version does
/// not match its content, is reported and ignored.
public struct InterestFile: Sendable {
    public let path: String
    /// A larger file is not an interest (the longest one, every event id and omit name, is ~500 bytes).
    static let maxBytes = 64 << 10

    public init(stateDirectory: String) { path = stateDirectory + "/interest" }

    public enum Loaded: Sendable, Equatable {
        case none
        case kept(Interest)
        /// The file exists but cannot be used; why.
        case unusable(String)
    }

    public func load() -> Loaded {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return errno == ENOENT ? .none : .unusable("cannot open it: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .unusable("cannot read it: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[..<n]
            guard bytes.count <= Self.maxBytes else { return .unusable("it is over \(Self.maxBytes) bytes, not an interest") }
        }
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { return .unusable("it is not JSON (\(bytes.count) bytes): \(error)") }
        guard let raw = value.object?["interest"] else {
            return .unusable("it is not {\"interest\":{…}} (\(bytes.count) bytes: \(CollectorAck.preview(bytes)))")
        }
        do { return .kept(try CollectorAck.interest(raw)) } catch { return .unusable(error.description) }
    }

    /// Writes `interest`, replacing the file atomically.
    public func save(_ interest: Interest) throws(StateFile.Failure) {
        try StateFile.write(path, Array("{\"interest\":\(interest.json)}\n".utf8))
    }
}
