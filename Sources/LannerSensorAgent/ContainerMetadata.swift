import FoundationEssentials
import Glibc
import LannerWire

/// What the sensor tells the collector about one container: the parts of the runtime's inspect answer that
/// Falco's container.* and k8s.* fields need, normalised (name without the API's leading slash, image id
/// without `sha256:`, start time in ns since the epoch). Nothing else (environment, command) leaves the host,
/// except MARATHON_APP_ID.
public struct ContainerMetadata: Sendable, Equatable {
    public struct Mount: Sendable, Equatable {
        public var source: String
        public var destination: String
        public var mode: String
        public var rw: Bool
        public var propagation: String

        public init(source: String, destination: String, mode: String, rw: Bool, propagation: String) {
            self.source = source
            self.destination = destination
            self.mode = mode
            self.rw = rw
            self.propagation = propagation
        }
    }

    /// Full id, 64 hex digits.
    public var id: String
    public var name: String
    /// The reference the container was created from (Config.Image), e.g. `localhost/bbox:latest`.
    public var image: String
    public var imageID: String
    /// `podman` or `docker`.
    public var runtime: String
    public var privileged: Bool
    public var hostPID: Bool
    public var hostNetwork: Bool
    public var hostIPC: Bool
    /// ns since the Unix epoch; 0 when the runtime gives no (valid) start time.
    public var startedUnixNs: UInt64
    public var labels: [String: String]
    public var mounts: [Mount]
    public var marathonAppID: String
    /// The container's init process on the host (State.Pid), 0 when not running.
    public var pid: Int
    public var running: Bool

    public var shortID: String { String(id.prefix(12)) }

    /// Labels and mounts beyond these budgets are left out of the record (a record is at most 64 KiB).
    static let labelBudget = 40 << 10
    static let mountBudget = 16 << 10

    /// The CONTAINERINFO record, and how many labels and mounts did not fit.
    public func record(ts: UInt64) -> (bytes: [UInt8], leftOut: Int) {
        var flags: UInt32 = 0
        if privileged { flags |= 1 }
        if hostPID { flags |= 2 }
        if hostNetwork { flags |= 4 }
        if hostIPC { flags |= 8 }
        var leftOut = 0
        var labelBytes: [UInt8] = []
        for (k, v) in labels.sorted(by: { $0.key < $1.key }) {
            let item = Array(k.utf8) + [0] + Array(v.utf8) + [0]
            if labelBytes.count + item.count > Self.labelBudget { leftOut += 1; continue }
            labelBytes += item
        }
        var mountBytes: [UInt8] = []
        for m in mounts {
            var item: [UInt8] = []
            for part in [m.source, m.destination, m.mode, m.rw ? "true" : "false", m.propagation] { item += Array(part.utf8) + [0] }
            if mountBytes.count + item.count > Self.mountBudget { leftOut += 1; continue }
            mountBytes += item
        }
        func field(_ s: String, _ limit: Int = 4096) -> ArraySlice<UInt8> { ArraySlice(Array(s.utf8).prefix(limit)) }
        let e = ContainerinfoEvent(pid: 0, tid: 0, ts: ts, flags: flags, startedNs: startedUnixNs, id: field(id), name: field(name),
                                   image: field(image), imageId: field(imageID), runtime: field(runtime),
                                   labels: ArraySlice(labelBytes), mounts: ArraySlice(mountBytes), marathonAppId: field(marathonAppID))
        var w = ByteWriter(capacity: 512 + labelBytes.count + mountBytes.count)
        try! e.encode(into: &w)   // cannot exceed 64 KiB: the budgets and field limits above keep it under
        return (w.bytes, leftOut)
    }

    /// The record that tells the collector to forget container `id`.
    public static func removalRecord(id: String, ts: UInt64) -> [UInt8] {
        let e = ContainerinfoEvent(pid: 0, tid: 0, ts: ts, flags: 16, id: ArraySlice(Array(id.utf8).prefix(4096)))
        var w = ByteWriter(capacity: 128)
        try! e.encode(into: &w)
        return w.bytes
    }
}

/// Why a runtime answer could not be read as JSON of the expected shape.
public struct ContainerJSONError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The Docker Engine API's JSON, as docker and podman's compat service write it (the fields Lanner reads).
public enum ContainerJSON {
    struct Inspect: Decodable {
        struct State: Decodable {
            var running: Bool?
            var pid: Int?
            var startedAt: String?
            enum CodingKeys: String, CodingKey { case running = "Running", pid = "Pid", startedAt = "StartedAt" }
        }
        struct Config: Decodable {
            var image: String?
            var labels: [String: String]?
            var env: [String]?
            enum CodingKeys: String, CodingKey { case image = "Image", labels = "Labels", env = "Env" }
        }
        struct HostConfig: Decodable {
            var privileged: Bool?
            var pidMode: String?
            var networkMode: String?
            var ipcMode: String?
            enum CodingKeys: String, CodingKey {
                case privileged = "Privileged", pidMode = "PidMode", networkMode = "NetworkMode", ipcMode = "IpcMode"
            }
        }
        struct Mount: Decodable {
            var source: String?
            var destination: String?
            var mode: String?
            var rw: Bool?
            var propagation: String?
            enum CodingKeys: String, CodingKey {
                case source = "Source", destination = "Destination", mode = "Mode", rw = "RW", propagation = "Propagation"
            }
        }
        var id: String
        var name: String?
        var image: String?
        var state: State?
        var config: Config?
        var hostConfig: HostConfig?
        var mounts: [Mount]?
        enum CodingKeys: String, CodingKey {
            case id = "Id", name = "Name", image = "Image", state = "State", config = "Config", hostConfig = "HostConfig", mounts = "Mounts"
        }
    }

    struct ListItem: Decodable {
        var id: String
        enum CodingKeys: String, CodingKey { case id = "Id" }
    }

    struct Event: Decodable {
        struct Actor: Decodable {
            var id: String?
            enum CodingKeys: String, CodingKey { case id = "ID" }
        }
        var type: String?
        var action: String?
        var status: String?
        var id: String?
        var actor: Actor?
        enum CodingKeys: String, CodingKey { case type = "Type", action = "Action", status, id, actor = "Actor" }
    }

    struct Version: Decodable {
        var version: String?
        var apiVersion: String?
        enum CodingKeys: String, CodingKey { case version = "Version", apiVersion = "ApiVersion" }
    }

    struct APIError: Decodable { var message: String? }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], what: String) throws(ContainerJSONError) -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch let e as DecodingError {
            throw ContainerJSONError(message: "\(what): \(describe(e))")
        } catch {
            throw ContainerJSONError(message: "\(what): \(error)")
        }
    }

    /// A DecodingError as one line: what was wrong, and where (`HostConfig.Privileged`).
    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [CodingKey]) -> String { c.isEmpty ? "the top level" : c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch e {
        case .typeMismatch(let t, let c): return "\(path(c.codingPath)) is not a \(t)"
        case .valueNotFound(let t, let c): return "\(path(c.codingPath)) is null, expected a \(t)"
        case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])) is missing"
        case .dataCorrupted(let c): return "not valid JSON at \(path(c.codingPath))" + (c.underlyingError.map { " (\($0))" } ?? "")
        @unknown default: return "\(e)"
        }
    }

    /// Parses GET /containers/ID/json.
    /// - Parameter runtime: the container.type to record (`podman`, `docker`).
    /// - Throws: `ContainerJSONError` naming what is missing or of the wrong type.
    public static func inspect(_ bytes: [UInt8], runtime: String) throws(ContainerJSONError) -> ContainerMetadata {
        let j = try decode(Inspect.self, bytes, what: "container inspect reply")
        guard j.id.utf8.count == 64, j.id.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            throw ContainerJSONError(message: "container inspect reply: Id '\(j.id.prefix(80))' is not 64 lowercase hex digits")
        }
        var name = j.name ?? ""
        if name.hasPrefix("/") { name.removeFirst() }
        var imageID = j.image ?? ""
        if imageID.hasPrefix("sha256:") { imageID.removeFirst(7) }
        let labels = j.config?.labels ?? [:]
        let marathon = labels["MARATHON_APP_ID"]
            ?? j.config?.env?.first { $0.hasPrefix("MARATHON_APP_ID=") }.map { String($0.dropFirst("MARATHON_APP_ID=".count)) } ?? ""
        let mounts = (j.mounts ?? []).map {
            ContainerMetadata.Mount(source: $0.source ?? "", destination: $0.destination ?? "", mode: $0.mode ?? "",
                                    rw: $0.rw ?? false, propagation: $0.propagation ?? "")
        }
        let running = j.state?.running ?? false
        let host = j.hostConfig
        return ContainerMetadata(
            id: j.id, name: name, image: j.config?.image ?? "", imageID: imageID, runtime: runtime,
            privileged: host?.privileged ?? false, hostPID: host?.pidMode == "host",
            hostNetwork: host?.networkMode == "host", hostIPC: host?.ipcMode == "host",
            startedUnixNs: j.state?.startedAt.flatMap(RFC3339.nanoseconds) ?? 0, labels: labels, mounts: mounts,
            marathonAppID: marathon, pid: running ? (j.state?.pid ?? 0) : 0, running: running)
    }

    /// Parses GET /containers/json: the ids of the running containers.
    public static func list(_ bytes: [UInt8]) throws(ContainerJSONError) -> [String] {
        try decode([ListItem].self, bytes, what: "container list reply").map(\.id)
    }

    /// One line of GET /events: (action, container id) for a container event, nil for anything else.
    public static func event(_ line: [UInt8]) throws(ContainerJSONError) -> (action: String, id: String)? {
        let e = try decode(Event.self, line, what: "runtime event")
        guard e.type == nil || e.type == "container", let action = e.action ?? e.status, let id = e.actor?.id ?? e.id, !id.isEmpty else {
            return nil
        }
        return (action, id)
    }

    /// GET /version: the product version and API version.
    public static func version(_ bytes: [UInt8]) throws(ContainerJSONError) -> (version: String, api: String) {
        let v = try decode(Version.self, bytes, what: "runtime version reply")
        return (v.version ?? "?", v.apiVersion ?? "?")
    }

    /// The `message` of an API error body.
    static func errorMessage(_ bytes: [UInt8]) throws(ContainerJSONError) -> String {
        guard let m = try decode(APIError.self, bytes, what: "error reply").message else { throw ContainerJSONError(message: "no message") }
        return m
    }
}

/// RFC 3339 timestamps as the Engine API writes them (`2026-12-04T07:19:58.948294363Z`, or with an offset).
public enum RFC3339 {
    /// ns since the Unix epoch; nil for text that is not a timestamp, and for Go's zero time (year 1: never started).
    public static func nanoseconds(_ s: String) -> UInt64? {
        let b = Array(s.utf8)
        func num(_ from: Int, _ n: Int) -> Int? {
            guard from + n <= b.count else { return nil }
            var v = 0
            for c in b[from..<(from + n)] {
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard b.count >= 20, let year = num(0, 4), b[4] == 0x2d, let month = num(5, 2), b[7] == 0x2d, let day = num(8, 2),
              b[10] == 0x54 || b[10] == 0x74, let hour = num(11, 2), b[13] == 0x3a, let minute = num(14, 2), b[16] == 0x3a,
              let second = num(17, 2), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else {
            return nil
        }
        guard year >= 1970 else { return nil }
        var i = 19
        var nanos = 0
        if i < b.count && b[i] == 0x2e {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            if digits < 9 { for _ in digits..<9 { nanos *= 10 } }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == 0x5a || b[i] == 0x7a {
            i += 1
        } else if b[i] == 0x2b || b[i] == 0x2d, let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3a, let om = num(i + 4, 2) {
            offset = (oh * 3600 + om * 60) * (b[i] == 0x2b ? 1 : -1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        let seconds = Int64(timegm(&t)) - Int64(offset)
        guard seconds >= 0 else { return nil }
        return UInt64(seconds) * 1_000_000_000 + UInt64(nanos)
    }
}
