import LannerCLIKit
import LannerCore
import LannerYAML

/// Reads the YAML tree of a collector configuration into `CollectorFileConfig`, collecting every problem with
/// its position. A key whose value is YAML null (`key:` or `key: ~`) counts as not set.
struct ConfigReader {
    let file: String
    private(set) var problems: [ConfigProblem] = []

    init(file: String) { self.file = file }

    mutating func problem(at mark: Mark, _ message: String) {
        problems.append(ConfigProblem(file: file, line: mark.line, column: mark.column, message: message))
    }

    // MARK: the schema

    static let rootKeys = ["listen", "db", "rules", "token_file", "rule_matching", "min_priority", "metrics_listen", "resolve_names", "watch_rules", "aggregation", "retention", "outputs"]
    static let deliveryKeys = ["enabled", "min_priority", "queue_size", "retries", "backoff", "max_backoff"]
    static let outputKeys: [String: [String]] = [
        "stdout": deliveryKeys + ["format"],
        "file": deliveryKeys + ["path", "format"],
        "syslog": deliveryKeys + ["facility", "tag", "format", "socket", "protocol"],
        "program": deliveryKeys + ["command", "keep_alive", "format", "timeout"],
        "webhook": deliveryKeys + ["url", "headers", "timeout", "ca_file"],
    ]
    static let outputNames = ["stdout", "file", "syslog", "program", "webhook"]

    mutating func readRoot(_ root: YAMLNode, into c: inout CollectorFileConfig) {
        guard let m = mapping(root, "the top level", keys: Self.rootKeys, what: "the file must be a mapping of settings (key: value)") else { return }
        if let n = m["listen"] { c.serve.listen = listen(n) }
        if let n = m["metrics_listen"] { c.serve.metricsListen = listen(n, key: "metrics_listen") }
        if let n = m["db"] { c.serve.db = path(n, "db") }
        if let n = m["rules"] { c.serve.rules = pathList(n, "rules") }
        if let n = m["token_file"] { c.serve.tokenFile = path(n, "token_file") }
        if let n = m["rule_matching"] { c.serve.ruleMatching = choice(n, "rule_matching", RuleMatchingSetting.allCases.map { ($0.rawValue, $0) }) }
        if let n = m["min_priority"] { c.serve.minPriority = priority(n, "min_priority") }
        if let n = m["resolve_names"] { c.serve.resolveNames = bool(n, "resolve_names") }
        if let n = m["watch_rules"] { c.serve.watchRules = bool(n, "watch_rules") }
        if let n = m["aggregation"], let a = mapping(n, "aggregation", keys: ["window"]) {
            if let w = a["window"] { c.aggregation.window = duration(w, "aggregation.window", allowZero: true) }
        }
        if let n = m["retention"], let r = mapping(n, "retention", keys: ["max_age", "max_rows"]) {
            if let v = r["max_age"] { c.retention.maxAge = duration(v, "retention.max_age", allowZero: true) }
            if let v = r["max_rows"] { c.retention.maxRows = integer(v, "retention.max_rows", 0...Int.max) }
        }
        if let n = m["outputs"] { readOutputs(n, into: &c.outputs) }
    }

    mutating func readOutputs(_ node: YAMLNode, into o: inout OutputsConfig) {
        guard let m = mapping(node, "outputs", keys: Self.outputNames) else { return }
        if let n = m["stdout"], let s = section(n, "stdout") {
            var c = StdoutOutputConfig()
            delivery(s, "outputs.stdout", into: &c.delivery)
            if let v = s["format"] { c.format = format(v, "outputs.stdout.format") ?? c.format }
            o.stdout = c
        }
        if let n = m["file"], let s = section(n, "file") {
            var c = FileOutputConfig()
            delivery(s, "outputs.file", into: &c.delivery)
            if let v = s["path"] { c.path = path(v, "outputs.file.path") ?? c.path }
            if let v = s["format"] { c.format = format(v, "outputs.file.format") ?? c.format }
            o.file = c
        }
        if let n = m["syslog"], let s = section(n, "syslog") {
            var c = SyslogOutputConfig()
            delivery(s, "outputs.syslog", into: &c.delivery)
            if let v = s["facility"] {
                c.facility = choice(v, "outputs.syslog.facility", SyslogFacility.allCases.map { ($0.name, $0) }) ?? c.facility
            }
            if let v = s["tag"], let t = string(v, "outputs.syslog.tag") {
                if t.isEmpty || t.utf8.count > 48 || !t.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) {
                    problem(at: v.start, "outputs.syslog.tag: must be 1 to 48 printable ASCII characters without spaces, not \(quoted(t))")
                } else {
                    c.tag = t
                }
            }
            if let v = s["format"] { c.format = format(v, "outputs.syslog.format") ?? c.format }
            if let v = s["socket"], let p = path(v, "outputs.syslog.socket") {
                if p.utf8.count > 107 {
                    problem(at: v.start, "outputs.syslog.socket: a socket path holds at most 107 bytes; this one has \(p.utf8.count)")
                } else {
                    c.socket = p
                }
            }
            if let v = s["protocol"] {
                c.protocol = choice(v, "outputs.syslog.protocol", SyslogProtocol.allCases.map { ($0.rawValue, $0) }) ?? c.protocol
            }
            o.syslog = c
        }
        if let n = m["program"], let s = section(n, "program") {
            var c = ProgramOutputConfig()
            delivery(s, "outputs.program", into: &c.delivery)
            if let v = s["command"], let cmd = string(v, "outputs.program.command") {
                if cmd.contains("\0") {
                    problem(at: v.start, "outputs.program.command: must not contain a NUL character")
                } else if cmd.allSatisfy(\.isWhitespace) {
                    problem(at: v.start, "outputs.program.command: is empty; give the shell command that reads alerts on its stdin")
                } else {
                    c.command = cmd
                }
            } else if c.delivery.enabled && s["command"] == nil {
                problem(at: m.keyMarks["program"] ?? n.start, "outputs.program: 'command' is required (the shell command that reads alerts on its stdin)")
            }
            if let v = s["keep_alive"] { c.keepAlive = bool(v, "outputs.program.keep_alive") ?? c.keepAlive }
            if let v = s["format"] { c.format = format(v, "outputs.program.format") ?? c.format }
            if let v = s["timeout"] { c.timeout = duration(v, "outputs.program.timeout", allowZero: false) ?? c.timeout }
            o.program = c
        }
        if let n = m["webhook"], let s = section(n, "webhook") {
            var c = WebhookOutputConfig()
            delivery(s, "outputs.webhook", into: &c.delivery)
            if let v = s["url"], let u = string(v, "outputs.webhook.url") {
                do { c.url = try HTTPURL(u) } catch {
                    problem(at: v.start, "outputs.webhook.url: bad URL \(quoted(u)): \(error.message)")
                }
            } else if c.delivery.enabled && s["url"] == nil {
                problem(at: m.keyMarks["webhook"] ?? n.start, "outputs.webhook: 'url' is required (http://… or https://…)")
            }
            if let v = s["headers"] { c.headers = headers(v, "outputs.webhook.headers") }
            if let v = s["timeout"] { c.timeout = duration(v, "outputs.webhook.timeout", allowZero: false) ?? c.timeout }
            if let v = s["ca_file"] { c.caFile = path(v, "outputs.webhook.ca_file") }
            o.webhook = c
        }
    }

    /// An output's section: a mapping (or null, meaning every default) with only its own keys.
    private mutating func section(_ node: YAMLNode, _ name: String) -> Fields? {
        if node.isNull { return Fields() }
        return mapping(node, "outputs.\(name)", keys: Self.outputKeys[name]!)
    }

    private mutating func delivery(_ s: Fields, _ at: String, into d: inout DeliverySettings) {
        if let v = s["enabled"] { d.enabled = bool(v, at + ".enabled") ?? d.enabled }
        if let v = s["min_priority"] { d.minPriority = priority(v, at + ".min_priority") ?? d.minPriority }
        if let v = s["queue_size"] { d.queueSize = integer(v, at + ".queue_size", 1...10_000_000) ?? d.queueSize }
        if let v = s["retries"] { d.retries = integer(v, at + ".retries", 0...1000) ?? d.retries }
        if let v = s["backoff"] { d.backoff = duration(v, at + ".backoff", allowZero: true) ?? d.backoff }
        if let v = s["max_backoff"] { d.maxBackoff = duration(v, at + ".max_backoff", allowZero: true) ?? d.maxBackoff }
        if d.maxBackoff < d.backoff {
            guard let v = s["max_backoff"] else {
                d.maxBackoff = d.backoff   // only backoff given, above the default ceiling: it is the ceiling
                return
            }
            problem(at: v.start, "\(at).max_backoff (\(DurationText.format(d.maxBackoff))) is shorter than \(at).backoff (\(DurationText.format(d.backoff)))")
        }
    }

    // MARK: values

    /// The checked entries of a mapping: values by key, and where each key was written.
    struct Fields {
        var values: [String: YAMLNode] = [:]
        var keyMarks: [String: Mark] = [:]
        subscript(key: String) -> YAMLNode? { values[key] }
    }

    /// The entries of a mapping with scalar keys from `keys`; unknown and repeated keys are reported. Null
    /// values are left out (not set). Nil (and a problem) when `node` is not a mapping.
    mutating func mapping(_ node: YAMLNode, _ at: String, keys: [String], what: String? = nil) -> Fields? {
        guard let entries = node.mapping else {
            problem(at: node.start, what.map { "\($0), not a \(node.kindName)" } ?? "\(at): must be a mapping, not a \(node.kindName)")
            return nil
        }
        var out = Fields()
        var seen: [String: Mark] = [:]
        for (k, v) in entries {
            guard let key = k.scalar, k.mapping == nil else {
                problem(at: k.start, "\(at): keys must be plain names, not a \(k.kindName)")
                continue
            }
            if let first = seen[key] {
                problem(at: k.start, "duplicate key '\(key)' in \(at) (first at \(first))")
                continue
            }
            seen[key] = k.start
            guard keys.contains(key) else {
                problem(at: k.start, "unknown key '\(key)' in \(at); valid keys: \(keys.joined(separator: ", "))")
                continue
            }
            out.keyMarks[key] = k.start
            if !v.isNull || at == "outputs" { out.values[key] = v }
        }
        return out
    }

    mutating func string(_ n: YAMLNode, _ at: String) -> String? {
        guard let s = n.scalar else {
            problem(at: n.start, "\(at): must be a string, not a \(n.kindName)")
            return nil
        }
        return s
    }

    mutating func path(_ n: YAMLNode, _ at: String) -> String? {
        guard let s = string(n, at) else { return nil }
        if s.isEmpty {
            problem(at: n.start, "\(at): the path is empty")
            return nil
        }
        if s.contains("\0") {
            problem(at: n.start, "\(at): the path contains a NUL character")
            return nil
        }
        return s
    }

    mutating func pathList(_ n: YAMLNode, _ at: String) -> [String]? {
        guard let items = n.sequence else {
            problem(at: n.start, "\(at): must be a list of paths (e.g. [rules/, /etc/falco/falco_rules.yaml]), not a \(n.kindName)")
            return nil
        }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            if let p = path(item, "\(at)[\(i)]") { out.append(p) }
        }
        return out
    }

    mutating func bool(_ n: YAMLNode, _ at: String) -> Bool? {
        guard n.scalar != nil else {
            problem(at: n.start, "\(at): must be true or false, not a \(n.kindName)")
            return nil
        }
        guard let b = n.bool else {
            problem(at: n.start, "\(at): must be true or false, not \(quoted(n.scalar!))")
            return nil
        }
        return b
    }

    mutating func integer(_ n: YAMLNode, _ at: String, _ range: ClosedRange<Int>) -> Int? {
        let bounds = range.upperBound == Int.max ? "a whole number from \(range.lowerBound)" : "a whole number from \(range.lowerBound) to \(range.upperBound)"
        guard let s = n.scalar else {
            problem(at: n.start, "\(at): must be \(bounds), not a \(n.kindName)")
            return nil
        }
        let digits = String(s.filter { $0 != "_" })
        guard let v = Int(digits), range.contains(v) else {
            problem(at: n.start, "\(at): must be \(bounds), not \(quoted(s))")
            return nil
        }
        return v
    }

    mutating func duration(_ n: YAMLNode, _ at: String, allowZero: Bool) -> Duration? {
        guard let s = n.scalar else {
            problem(at: n.start, "\(at): must be a duration such as 5s, 500ms, 2m, 1h or 30d, not a \(n.kindName)")
            return nil
        }
        guard let d = DurationText.parse(s) else {
            problem(at: n.start, "\(at): must be a duration such as 5s, 500ms, 2m, 1h or 30d (at most 100 years), not \(quoted(s))")
            return nil
        }
        if !allowZero && d == .zero {
            problem(at: n.start, "\(at): must be longer than 0")
            return nil
        }
        return d
    }

    mutating func priority(_ n: YAMLNode, _ at: String) -> Priority? {
        guard let s = string(n, at) else { return nil }
        guard let p = Priority(name: s) else {
            problem(at: n.start, "\(at): \(quoted(s)) is not a priority; use one of \(Priority.spellings)")
            return nil
        }
        return p
    }

    mutating func format(_ n: YAMLNode, _ at: String) -> AlertFormat? {
        choice(n, at, AlertFormat.allCases.map { ($0.rawValue, $0) })
    }

    mutating func choice<T>(_ n: YAMLNode, _ at: String, _ options: [(String, T)]) -> T? {
        guard let s = string(n, at) else { return nil }
        guard let hit = options.first(where: { $0.0 == s.lowercased() }) else {
            problem(at: n.start, "\(at): \(quoted(s)) is not one of \(options.map(\.0).joined(separator: ", "))")
            return nil
        }
        return hit.1
    }

    /// A `ListenAddress`, kept as written (the command line's `--listen` may replace it before it is used).
    mutating func listen(_ n: YAMLNode, key: String = "listen") -> String? {
        guard let s = string(n, key) else { return nil }
        do { _ = try ListenAddress(parsing: s) } catch {
            let example = error == .notHostPort ? " (e.g. 0.0.0.0:7601 or [::]:7601)" : ""
            problem(at: n.start, "\(key): \(quoted(s)) \(error.reason)\(example)")
            return nil
        }
        return s
    }

    /// RFC 9110 token characters, for header names.
    static func isToken(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { u in
            ("a"..."z").contains(u) || ("A"..."Z").contains(u) || ("0"..."9").contains(u) || "!#$%&'*+-.^_`|~".unicodeScalars.contains(u)
        }
    }

    static let clientHeaders = ["host", "content-length", "transfer-encoding", "connection"]

    mutating func headers(_ n: YAMLNode, _ at: String) -> [HTTPHeader] {
        guard let entries = n.mapping else {
            problem(at: n.start, "\(at): must be a mapping of header names to values (e.g. {Authorization: Bearer …}), not a \(n.kindName)")
            return []
        }
        var out: [HTTPHeader] = []
        var seen: [String: Mark] = [:]
        for (k, v) in entries {
            guard let name = k.scalar else {
                problem(at: k.start, "\(at): header names must be plain names, not a \(k.kindName)")
                continue
            }
            guard Self.isToken(name) else {
                problem(at: k.start, "\(at): \(quoted(name)) is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)")
                continue
            }
            if let first = seen[name.lowercased()] {
                problem(at: k.start, "\(at): duplicate header '\(name)' (first at \(first))")
                continue
            }
            seen[name.lowercased()] = k.start
            if Self.clientHeaders.contains(name.lowercased()) {
                problem(at: k.start, "\(at): '\(name)' is set by the client and cannot be configured")
                continue
            }
            guard let value = v.scalar else {
                problem(at: v.start, "\(at).\(name): must be a string, not a \(v.kindName)")
                continue
            }
            if value.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) {
                problem(at: v.start, "\(at).\(name): the value must not contain line breaks or control characters")
                continue
            }
            out.append(HTTPHeader(name: name, value: value))
        }
        return out
    }

    /// `s` in single quotes for messages, control characters escaped, cut at 80 characters.
    func quoted(_ s: String) -> String {
        var o = "'"
        for (i, u) in s.unicodeScalars.enumerated() {
            if i == 80 { o += "…"; break }
            if AlertText.isControl(u) { AlertText.appendControl(u, to: &o) } else { o.unicodeScalars.append(u) }
        }
        return o + "'"
    }
}

/// Durations as config files write them: a number (fractions allowed) and a unit `ns`, `us`, `ms`, `s`, `m`,
/// `h` or `d`; a bare number is seconds. At most 100 years.
public enum DurationText {
    public static let maximum: Duration = .seconds(100 * 365 * 86_400)

    public static func parse(_ text: String) -> Duration? {
        let s = text
        let numberEnd = s.firstIndex(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) ?? s.endIndex
        let number = s[..<numberEnd], unit = s[numberEnd...]
        let ns: Int64
        switch unit {
        case "ns": ns = 1
        case "us", "µs": ns = 1_000
        case "ms": ns = 1_000_000
        case "s", "": ns = 1_000_000_000
        case "m": ns = 60_000_000_000
        case "h": ns = 3_600_000_000_000
        case "d": ns = 86_400_000_000_000
        default: return nil
        }
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard !number.isEmpty, parts.count <= 2, !parts[0].isEmpty, parts[0].count <= 12, let whole = Int64(parts[0]) else { return nil }
        var total = whole.multipliedReportingOverflow(by: ns)
        guard !total.overflow else { return nil }
        if parts.count == 2 {
            let frac = parts[1]
            guard !frac.isEmpty, frac.count <= 9, let f = Int64(frac) else { return nil }
            var scale: Int64 = 1
            for _ in 0..<frac.count { scale *= 10 }
            let add = f.multipliedReportingOverflow(by: ns)
            guard !add.overflow else { return nil }
            total = total.partialValue.addingReportingOverflow(add.partialValue / scale)
            guard !total.overflow else { return nil }
        }
        let d = Duration.nanoseconds(total.partialValue)
        return d <= maximum ? d : nil
    }

    /// A duration the way config files write it: `1500ms`, `5s`, `2m`, `30d`.
    public static func format(_ d: Duration) -> String {
        let (s, atto) = d.components
        let ns = s * 1_000_000_000 + atto / 1_000_000_000
        if ns == 0 { return "0s" }
        for (unit, size) in [("d", Int64(86_400_000_000_000)), ("h", 3_600_000_000_000), ("m", 60_000_000_000),
                             ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] where ns % size == 0 {
            return "\(ns / size)\(unit)"
        }
        return "\(ns)ns"
    }
}
