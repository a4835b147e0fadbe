import Foundation
import LannerCore
import LannerStore

/// The collector's read-only query API: paths, query strings and JSON bodies, shared by the server (which
/// decodes requests and encodes answers) and `CollectorClient` (the reverse), so both ends agree by construction.
///
/// Every route is `GET` with `Authorization: Bearer <token>` (the sensors' token) and answers JSON:
///
/// | route | answer |
/// |---|---|
/// | `/v1/alerts?FILTERS&limit=N&order=newest\|oldest&after_time=T&after_id=I&max_id=M` | `{"alerts":[ALERT…],"next":{"time_ns":T,"id":I}\|null}` |
/// | `/v1/alerts/ID` | `{"alert":ALERT}`; 404 `{"error":…}` |
/// | `/v1/alerts/stats?FILTERS` | `{"rows":R,"alerts":A,"by_rule":[{"key":…,"rows":R,"alerts":A}…],"by_priority":[…],"by_host":[…]}` |
/// | `/v1/alerts/tail?FILTERS&after_id=I&wait=S&limit=N` | `{"alerts":[ALERT…],"last_id":L}` once rows with id > I match, or after S s |
/// | `/v1/alerts/tail` (no `after_id`) | `{"alerts":[],"last_id":L}` at once: where a tail starts |
/// | `/v1/sensors` | `{"sensors":[SENSOR…]}` |
///
/// FILTERS: `since`, `until` (ns since the epoch), `rule`, `priority` (a name), `host`, `container`, `tag`,
/// `search`. ALERT carries every stored column (`fields` as the stored JSON text, so it comes back byte for
/// byte). Errors are `{"error":"…"}` with 400 (bad request), 401 (token), 404, 503 (busy or store error).
public enum QueryAPI {
    /// Rows one `/v1/alerts` page may return; `CollectorClient` pages through larger results.
    public static let maxPage = 10_000
    /// Longest a tail request waits for new rows.
    public static let maxWaitSeconds = 30

    // MARK: Query strings

    /// The filter parameters of `q`, in a fixed order.
    public static func filterItems(_ q: AlertQuery) -> [(String, String)] {
        var items: [(String, String)] = []
        if let v = q.since { items.append(("since", String(v))) }
        if let v = q.until { items.append(("until", String(v))) }
        if let v = q.rule { items.append(("rule", v)) }
        if let v = q.minPriority { items.append(("priority", v.name)) }
        if let v = q.host { items.append(("host", v)) }
        if let v = q.container { items.append(("container", v)) }
        if let v = q.tag { items.append(("tag", v)) }
        if let v = q.text { items.append(("search", v)) }
        return items
    }

    /// The `/v1/alerts` path for one page of `q` (limit at most `maxPage`).
    public static func listPath(_ q: AlertQuery) -> String {
        var items = filterItems(q)
        items.append(("limit", String(q.limit)))
        items.append(("order", q.newestFirst ? "newest" : "oldest"))
        if let p = q.after {
            items.append(("after_time", String(p.timeNs)))
            items.append(("after_id", String(p.id)))
        }
        if let m = q.maxID { items.append(("max_id", String(m))) }
        return "/v1/alerts" + queryString(items)
    }

    public static func statsPath(_ q: AlertQuery) -> String { "/v1/alerts/stats" + queryString(filterItems(q)) }

    public static func tailPath(_ q: AlertQuery, afterID: Int64?, waitSeconds: Int, limit: Int) -> String {
        var items = filterItems(q)
        if let afterID {
            items.append(("after_id", String(afterID)))
            items.append(("wait", String(waitSeconds)))
            items.append(("limit", String(limit)))
        }
        return "/v1/alerts/tail" + queryString(items)
    }

    /// Unreserved characters (RFC 3986) stay; everything else is percent-encoded, so `+`, `&`, `=`, `*` and
    /// spaces in rule names and search text travel intact.
    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)])
            }
        }
        return out
    }

    static func queryString(_ items: [(String, String)]) -> String {
        items.isEmpty ? "" : "?" + items.map { percentEncode($0.0) + "=" + percentEncode($0.1) }.joined(separator: "&")
    }

    /// A request path split into its path and decoded parameters (`+` is a plus, not a space).
    public struct Request: Sendable {
        public var path: String
        public var items: [String: String]
    }

    /// Splits `path?query`; nil when a parameter is repeated or badly percent-encoded.
    public static func parseRequest(_ raw: String) -> Result<Request, BadRequest> {
        let parts = raw.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var items: [String: String] = [:]
        if parts.count == 2 && !parts[1].isEmpty {
            for pair in parts[1].split(separator: "&", omittingEmptySubsequences: true) {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let k = String(kv[0]).removingPercentEncoding,
                      let v = (kv.count == 2 ? String(kv[1]) : "").removingPercentEncoding else {
                    return .failure(BadRequest("bad percent-encoding in '\(pair)'"))
                }
                guard items[k] == nil else { return .failure(BadRequest("parameter '\(k)' given more than once")) }
                items[k] = v
            }
        }
        return .success(Request(path: String(parts[0]), items: items))
    }

    /// A request the API cannot answer: the message says which parameter and why.
    public struct BadRequest: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        public init(_ d: String) { description = d }
    }

    /// The filters of a request. Unknown parameters are refused (a typo must not widen a query silently).
    public static func query(from items: [String: String], allowed extra: Set<String>) -> Result<AlertQuery, BadRequest> {
        let known: Set<String> = ["since", "until", "rule", "priority", "host", "container", "tag", "search"]
        for k in items.keys.sorted() where !known.contains(k) && !extra.contains(k) {
            return .failure(BadRequest("unknown parameter '\(k)'"))
        }
        var q = AlertQuery()
        func int(_ name: String) -> Result<Int64?, BadRequest> {
            guard let v = items[name] else { return .success(nil) }
            guard let n = Int64(v) else { return .failure(BadRequest("parameter '\(name)': '\(v)' is not a whole number")) }
            return .success(n)
        }
        switch int("since") { case .success(let v): q.since = v; case .failure(let e): return .failure(e) }
        switch int("until") { case .success(let v): q.until = v; case .failure(let e): return .failure(e) }
        q.rule = items["rule"]
        if let p = items["priority"] {
            guard let pr = Priority(name: p) else {
                return .failure(BadRequest("parameter 'priority': '\(p)' is not a priority; use one of \(Priority.spellings)"))
            }
            q.minPriority = pr
        }
        q.host = items["host"]
        q.container = items["container"]
        q.tag = items["tag"]
        q.text = items["search"]
        for (name, value) in [("rule", q.rule), ("host", q.host), ("container", q.container), ("tag", q.tag), ("search", q.text)] {
            if value == "" { return .failure(BadRequest("parameter '\(name)' is empty")) }
        }
        return .success(q)
    }

    // MARK: JSON

    /// An alert with every stored column (lossless: `StoredAlert` ⇄ JSON ⇄ `StoredAlert`).
    public static func alertJSON(_ a: StoredAlert, into o: inout String) {
        o += "{\"id\":\(a.id),\"time_ns\":\(a.timeNs),\"host\":"
        JSON.appendQuoted(a.host, to: &o)
        o += ",\"sensor_id\":"
        JSON.appendQuoted(a.sensorID, to: &o)
        o += ",\"rule\":"
        JSON.appendQuoted(a.rule, to: &o)
        o += ",\"priority\":\(a.priority.rawValue),\"source\":"
        JSON.appendQuoted(a.source, to: &o)
        o += ",\"output\":"
        JSON.appendQuoted(a.output, to: &o)
        o += ",\"tags\":["
        for (i, t) in a.tags.enumerated() {
            if i > 0 { o += "," }
            JSON.appendQuoted(t, to: &o)
        }
        o += "],\"fields\":"
        JSON.appendQuoted(a.fieldsJSON, to: &o)
        o += ",\"container_id\":"
        if let c = a.containerID { JSON.appendQuoted(c, to: &o) } else { o += "null" }
        o += ",\"container_name\":"
        if let c = a.containerName { JSON.appendQuoted(c, to: &o) } else { o += "null" }
        o += ",\"count\":\(a.count),\"last_seen_ns\":\(a.lastSeenNs)}"
    }

    public static func listBody(_ alerts: [StoredAlert], next: AlertPosition?) -> String {
        var o = "{\"alerts\":["
        for (i, a) in alerts.enumerated() {
            if i > 0 { o += "," }
            alertJSON(a, into: &o)
        }
        o += "],\"next\":"
        if let next { o += "{\"time_ns\":\(next.timeNs),\"id\":\(next.id)}" } else { o += "null" }
        return o + "}"
    }

    public static func tailBody(_ alerts: [StoredAlert], lastID: Int64) -> String {
        var o = "{\"alerts\":["
        for (i, a) in alerts.enumerated() {
            if i > 0 { o += "," }
            alertJSON(a, into: &o)
        }
        return o + "],\"last_id\":\(lastID)}"
    }

    public static func alertBody(_ a: StoredAlert) -> String {
        var o = "{\"alert\":"
        alertJSON(a, into: &o)
        return o + "}"
    }

    public static func statsBody(_ s: AlertStats) -> String {
        func groups(_ g: [AlertCount]) -> String {
            "[" + g.map { "{\"key\":\(JSON.quoted($0.key)),\"rows\":\($0.rows),\"alerts\":\($0.alerts)}" }.joined(separator: ",") + "]"
        }
        return "{\"rows\":\(s.rows),\"alerts\":\(s.alerts),\"by_rule\":\(groups(s.byRule)),\"by_priority\":\(groups(s.byPriority)),"
            + "\"by_host\":\(groups(s.byHost))}"
    }

    public static func sensorsBody(_ sensors: [SensorRecord]) -> String {
        "{\"sensors\":[" + sensors.map { r in
            "{\"sensor_id\":\(JSON.quoted(r.sensorID)),\"hostname\":\(JSON.quoted(r.hostname)),"
                + "\"sensor_version\":\(JSON.quoted(r.sensorVersion)),\"boot_id\":\(JSON.quoted(r.bootID)),\"run_epoch\":\(r.runEpoch),"
                + "\"first_seen_ns\":\(r.firstSeenNs),\"last_seen_ns\":\(r.lastSeenNs),\"batches\":\(r.batches),\"events\":\(r.events),"
                + "\"kernel_drops\":\(r.kernelDrops),\"user_drops\":\(r.userDrops),\"run_kernel_drops\":\(r.runKernelDrops),"
                + "\"run_user_drops\":\(r.runUserDrops),\"reported_kernel_drops\":\(r.reportedKernelDrops),"
                + "\"reported_user_drops\":\(r.reportedUserDrops),\"drop_window_start_ns\":\(r.dropWindowStartNs),"
                + "\"last_drop_alert_ns\":\(r.lastDropAlertNs.map(String.init) ?? "null"),\"window_start_ns\":\(r.windowStartNs),"
                + "\"window_events\":\(r.windowEvents),\"rate_events\":\(r.rateEvents),\"rate_ns\":\(r.rateNs),"
                + "\"read_failures\":\(r.readFailures),\"run_read_failures\":\(r.runReadFailures)}"
        }.joined(separator: ",") + "]}"
    }

    public static func errorBody(_ message: String) -> String { "{\"error\":\(JSON.quoted(message))}" }

    // MARK: Decoding (client side)

    struct WireAlert: Decodable {
        var id: Int64
        var time_ns: Int64
        var host: String
        var sensor_id: String
        var rule: String
        var priority: Int
        var source: String
        var output: String
        var tags: [String]
        var fields: String
        var container_id: String?
        var container_name: String?
        var count: Int
        var last_seen_ns: Int64

        func stored() throws(DecodeError) -> StoredAlert {
            guard let p = Priority(rawValue: priority) else { throw DecodeError("alert \(id) has priority \(priority), outside 0...7") }
            return StoredAlert(id: id, timeNs: time_ns, host: host, sensorID: sensor_id, rule: rule, priority: p, source: source,
                               output: output, tags: tags, fieldsJSON: fields, containerID: container_id, count: count,
                               lastSeenNs: last_seen_ns, containerName: container_name)
        }
    }

    struct WirePosition: Decodable { var time_ns: Int64; var id: Int64 }
    struct ListAnswer: Decodable { var alerts: [WireAlert]; var next: WirePosition? }
    struct TailAnswer: Decodable { var alerts: [WireAlert]; var last_id: Int64 }
    struct AlertAnswer: Decodable { var alert: WireAlert }
    struct ErrorAnswer: Decodable { var error: String }
    struct WireCount: Decodable { var key: String; var rows: Int64; var alerts: Int64 }
    struct StatsAnswer: Decodable {
        var rows: Int64
        var alerts: Int64
        var by_rule: [WireCount]
        var by_priority: [WireCount]
        var by_host: [WireCount]
    }
    struct WireSensor: Decodable {
        var sensor_id: String, hostname: String, sensor_version: String, boot_id: String
        var run_epoch: Int64, first_seen_ns: Int64, last_seen_ns: Int64, batches: Int64, events: Int64
        var kernel_drops: Int64, user_drops: Int64, run_kernel_drops: Int64, run_user_drops: Int64
        var reported_kernel_drops: Int64, reported_user_drops: Int64, drop_window_start_ns: Int64
        var last_drop_alert_ns: Int64?, window_start_ns: Int64, window_events: Int64, rate_events: Int64, rate_ns: Int64
        /// Absent from a collector older than the batch header's read failures (1.3): none counted.
        var read_failures: Int64?, run_read_failures: Int64?

        var record: SensorRecord {
            var r = SensorRecord(sensorID: sensor_id, hostname: hostname, sensorVersion: sensor_version, bootID: boot_id,
                                 runEpoch: run_epoch, nowNs: first_seen_ns)
            r.lastSeenNs = last_seen_ns
            r.batches = batches
            r.events = events
            r.kernelDrops = kernel_drops
            r.userDrops = user_drops
            r.runKernelDrops = run_kernel_drops
            r.runUserDrops = run_user_drops
            r.reportedKernelDrops = reported_kernel_drops
            r.reportedUserDrops = reported_user_drops
            r.dropWindowStartNs = drop_window_start_ns
            r.lastDropAlertNs = last_drop_alert_ns
            r.windowStartNs = window_start_ns
            r.windowEvents = window_events
            r.rateEvents = rate_events
            r.rateNs = rate_ns
            r.readFailures = read_failures ?? 0
            r.runReadFailures = run_read_failures ?? 0
            return r
        }
    }
    struct SensorsAnswer: Decodable { var sensors: [WireSensor] }

    /// A response body the client could not read.
    public struct DecodeError: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws(DecodeError) -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(body)) } catch {
            throw DecodeError("unexpected answer (\(body.count) bytes): \(error)")
        }
    }

    static func stats(_ a: StatsAnswer) -> AlertStats {
        func groups(_ g: [WireCount]) -> [AlertCount] { g.map { AlertCount(key: $0.key, rows: $0.rows, alerts: $0.alerts) } }
        return AlertStats(rows: a.rows, alerts: a.alerts, byRule: groups(a.by_rule), byPriority: groups(a.by_priority),
                          byHost: groups(a.by_host))
    }
}
