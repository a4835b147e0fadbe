import Glibc
import LannerCore
import LannerYAML

/// `rule_matching`: whether every matching rule alerts or only the first (Falco's behaviour).
public enum RuleMatchingSetting: String, Sendable, Equatable, CaseIterable {
    case all, first
}

/// The settings `lanner-collector serve` also takes as options. Nil where the file does not set them (the
/// command line, then the built-in default, decide).
public struct ServeSettings: Sendable, Equatable {
    /// `HOST:PORT` or `[IPv6]:PORT` (`ListenAddress`), checked and kept as written.
    public var listen: String?
    /// `metrics_listen`: where `GET /metrics` is also served over plain HTTP/1.1 (no default: only on the h2c port).
    public var metricsListen: String?
    /// The SQLite database path.
    public var db: String?
    /// Rule files or directories, in load order.
    public var rules: [String]?
    /// The file holding the sensors' bearer token.
    public var tokenFile: String?
    public var ruleMatching: RuleMatchingSetting?
    /// Load only rules at or above this priority.
    public var minPriority: Priority?
    /// `resolve_names`: whether the domain names rules compare `fd.*ip.name` with are looked up (DNS, through
    /// getaddrinfo, on a background thread). Nil: yes. Off, those names stay unresolved and the comparisons are false.
    public var resolveNames: Bool?
    /// `watch_rules`: whether a change to the rule files (or the directories' *.yaml) reloads them, as SIGHUP does.
    /// Nil: yes.
    public var watchRules: Bool?
    public init() {}
}

/// `aggregation:`: repeated alerts folded into one row per window (`CollectorConfig.aggregationWindow`).
public struct AggregationSettings: Sendable, Equatable {
    /// Nil when not set; `0s` turns aggregation off.
    public var window: Duration?
    public static let defaultWindow: Duration = .seconds(10)
    public init() {}
}

/// `retention:`: how long and how many alerts the database keeps (`CollectorConfig.retention`).
public struct RetentionSettings: Sendable, Equatable {
    /// Nil when not set; `0s` keeps alerts regardless of age.
    public var maxAge: Duration?
    /// Nil when not set; 0 keeps any number.
    public var maxRows: Int?
    public static let defaultMaxAge: Duration = .seconds(30 * 86_400)
    public static let defaultMaxRows = 10_000_000
    public init() {}
}

/// The collector's configuration file (`collector/collector.yaml` documents every key).
///
/// ```swift
/// let config = try CollectorFileConfig.load(path: "/etc/lanner/collector.yaml")
/// let hub = try OutputHub(config: config.outputs, log: { print($0) })
/// ```
/// Loading only reads and checks the file; nothing is opened or started.
public struct CollectorFileConfig: Sendable, Equatable {
    /// The file it was read from.
    public var path: String
    public var serve = ServeSettings()
    public var aggregation = AggregationSettings()
    public var retention = RetentionSettings()
    public var outputs = OutputsConfig()

    public init(path: String) { self.path = path }

    /// Config files are small; anything bigger is a mistake (or an attack on the parser).
    public static let maxFileBytes = 1 << 20

    /// Reads and checks the configuration file at `path`.
    /// - Throws: `CollectorConfigError` listing every problem, each as `file:line:column: why`.
    public static func load(path: String) throws(CollectorConfigError) -> CollectorFileConfig {
        let bytes: [UInt8]
        do { bytes = try readFile(path, limit: maxFileBytes) } catch {
            throw CollectorConfigError(problems: [ConfigProblem(file: path, line: 0, column: 0, message: error.message)])
        }
        return try parse(bytes: bytes, path: path)
    }

    /// Checks configuration text; `path` names it in messages.
    public static func parse(_ text: String, path: String) throws(CollectorConfigError) -> CollectorFileConfig {
        try parse(bytes: Array(text.utf8), path: path)
    }

    static func parse(bytes: [UInt8], path: String) throws(CollectorConfigError) -> CollectorFileConfig {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let (line, column) = firstInvalidUTF8(bytes)
            throw CollectorConfigError(problems: [ConfigProblem(file: path, line: line, column: column,
                                                                message: "the file is not UTF-8 text (bad byte here)")])
        }
        let docs: [YAMLNode]
        do { docs = try YAMLParser.parse(text, source: path) } catch {
            throw CollectorConfigError(problems: [ConfigProblem(file: path, line: error.mark.line, column: error.mark.column,
                                                                message: error.message + (error.context.map { " (\($0))" } ?? ""))])
        }
        var reader = ConfigReader(file: path)
        var config = CollectorFileConfig(path: path)
        if docs.count > 1 {
            reader.problem(at: docs[1].start, "the file holds more than one YAML document; put every setting in one")
        }
        if let root = docs.first, !root.isNull {
            reader.readRoot(root, into: &config)
        }
        if !reader.problems.isEmpty {
            // File order: the reader visits keys by kind, not by position.
            let sorted = reader.problems.enumerated().sorted { a, b in
                (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
            }.map(\.element)
            throw CollectorConfigError(problems: sorted)
        }
        return config
    }

    struct ReadError: Error { var message: String }

    private static func readFile(_ path: String, limit: Int) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(message: "cannot read the configuration file: \(errnoText(errno))") }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
            throw ReadError(message: "is a directory, not a configuration file")
        }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(message: "cannot read the configuration file: \(errnoText(errno))")
            }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
            if out.count > limit { throw ReadError(message: "the configuration file is larger than \(limit >> 20) MiB") }
        }
        return out
    }

    /// 1-based line and column (in bytes) of the first byte that breaks UTF-8.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> (Int, Int) {
        var line = 1, lineStart = 0, i = 0
        while i < bytes.count {
            let b = bytes[i]
            let len: Int
            switch b {
            case 0x00...0x7F: len = 1
            case 0xC2...0xDF: len = 2
            case 0xE0...0xEF: len = 3
            case 0xF0...0xF4: len = 4
            default: return (line, i - lineStart + 1)
            }
            if i + len > bytes.count { return (line, i - lineStart + 1) }
            let seq = Array(bytes[i..<(i + len)])
            if String(validating: seq, as: UTF8.self) == nil { return (line, i - lineStart + 1) }
            if b == 0x0A {
                line += 1
                lineStart = i + 1
            }
            i += len
        }
        return (line, i - lineStart + 1)
    }
}

/// One problem in a configuration file.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when the problem is the file itself (unreadable).
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `file:line:column: message` (`file: message` when there is no position).
    public var description: String {
        line > 0 ? "\(file):\(line):\(column): \(message)" : "\(file): \(message)"
    }
}

/// Every problem found in a configuration file, in file order.
public struct CollectorConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public init(problems: [ConfigProblem]) { self.problems = problems }
    /// One problem per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
