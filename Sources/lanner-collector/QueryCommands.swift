import Foundation
import LannerCLIKit
import LannerCollectorService
import LannerCore
import LannerQuery
import LannerStore

/// `lanner-collector alerts list|tail|show|stats` and `sensors list`: the same commands on the database file
/// (`--db`, read-only while the collector writes it) or on a running collector (`--collector URL`, its query API),
/// with the same output either way.
enum QueryCommands {
    // MARK: Interface

    static let sourceOptions: [OptionSpec] = [
        .value("db", "PATH", help: "SQLite database to read (default: \(Defaults.database))"),
        .value("collector", "URL", help: "ask a running collector instead, over its HTTP/2 API: http://HOST:PORT"),
        .value("token-file", "FILE", help: "with --collector: file holding the collector's bearer token (or set LANNER_TOKEN)"),
    ]

    static let filterOptions: [OptionSpec] = [
        .value("since", "WHEN", help: "only alerts at or after WHEN: 15m, 2h, 7d (ago), RFC 3339 time, or Unix seconds"),
        .value("until", "WHEN", help: "only alerts before WHEN"),
        .value("rule", "NAME", help: "rule name, or a glob pattern (*, ?, [...]; case-sensitive)"),
        .value("priority", "PRIORITY", help: "at least this severe: emergency, alert, critical, error, warning, notice, informational, debug"),
        .value("host", "HOST", help: "only alerts from this host"),
        .value("container", "ID|NAME", help: "only alerts from this container (12-digit id, full id or name); 'host' for none"),
        .value("tag", "TAG", help: "only alerts of rules with this tag"),
        .value("search", "WORDS", help: "only alerts whose output has all these words (case-insensitive; 'word*' for a prefix)"),
    ]

    static let formatOptions: [OptionSpec] = [
        .flag("json", help: "one JSON object per line (Falco's JSON alert shape, unless --output-fields)"),
        .value("output-fields", "A,B,…", help: "these columns (or JSON keys) only: \(OutputFields.columns.joined(separator: ",")), or output fields like proc.name"),
    ]

    static let alertsSpec = CommandSpec("alerts", abstract: "query stored alerts", subcommands: [
        CommandSpec("list", abstract: "list alerts, newest first", options: sourceOptions + filterOptions + formatOptions + [
            .value("limit", "N", help: "at most N alerts (default 100; 0: all)"),
            .flag("oldest-first", help: "oldest first"),
        ]),
        CommandSpec("tail", abstract: "print the latest alerts, then new ones as they are stored (Ctrl-C to stop)",
                    options: sourceOptions + filterOptions + formatOptions + [
            .value("lines", short: "n", "N", help: "start with the last N matching alerts (default 10)"),
        ]),
        CommandSpec("show", abstract: "every field of one alert", options: sourceOptions + [
            .flag("json", help: "the alert as one JSON object (Falco's JSON alert shape)"),
        ], arguments: [ArgumentSpec("id", help: "the alert's id (the first column of 'alerts list')")]),
        CommandSpec("stats", abstract: "count alerts by priority, rule and host", options: sourceOptions + filterOptions + [
            .value("by", "priority,rule,host", help: "which groupings, in this order (default: all three)"),
            .value("top", "N", help: "at most N rows per grouping (default 10; 0: all)"),
            .flag("json", help: "one JSON object"),
        ]),
    ], defaultSubcommand: "list")

    static let sensorsSpec = CommandSpec("sensors", abstract: "the sensors that sent batches: host, version, last seen, events/s, drops", subcommands: [
        CommandSpec("list", abstract: "list the sensors, most recently seen first", options: sourceOptions + [
            .flag("json", help: "one JSON object per sensor and line"),
        ]),
    ], defaultSubcommand: "list")

    static func run(_ cmd: ParsedCommand) throws -> Int32? {
        switch Array(cmd.path.dropFirst()) {
        case ["alerts", "list"]: return try list(cmd)
        case ["alerts", "tail"]: return try tail(cmd)
        case ["alerts", "show"]: return try show(cmd)
        case ["alerts", "stats"]: return try stats(cmd)
        case ["sensors", "list"]: return try sensors(cmd)
        default: return nil
        }
    }

    // MARK: Commands

    static func list(_ cmd: ParsedCommand) throws -> Int32 {
        var q = try filters(cmd)
        q.limit = try cmd.int("limit", default: 100)
        q.newestFirst = !cmd.flag("oldest-first")
        let fields = try outputFields(cmd)
        let rows = try source(cmd).list(q)
        Commands.out(render(rows, cmd, fields, header: true))
        return 0
    }

    static func tail(_ cmd: ParsedCommand) throws -> Int32 {
        let q = try filters(cmd)
        let lines = try cmd.int("lines", default: 10, in: 0...QueryAPI.maxPage)
        let fields = try outputFields(cmd)
        let src = try source(cmd)
        var cursor = try src.lastID()
        var first = true
        if lines > 0 {
            var initial = q
            initial.limit = lines
            initial.maxID = cursor
            let rows = Array(try src.list(initial).reversed())
            if !rows.isEmpty {
                Commands.out(render(rows, cmd, fields, header: true))
                first = false
            }
        }
        var failures = 0
        while true {
            do {
                let (rows, next) = try src.tail(afterID: cursor, matching: q, limit: 1000, waitSeconds: 25)
                if failures > 0 {
                    FileHandle.standardError.write(Data("lanner-collector: tail: reconnected\n".utf8))
                    failures = 0
                }
                if !rows.isEmpty {
                    Commands.out(render(rows, cmd, fields, header: first, empty: ""))
                    first = false
                }
                cursor = next
            } catch let e as RemoteError {
                // A collector restarting or briefly unreachable: keep following, from where we were.
                if case .status(let code, _, _) = e, code == 400 || code == 401 { throw e }
                failures += 1
                let pause = min(30, 1 << min(failures - 1, 5))
                FileHandle.standardError.write(Data("lanner-collector: tail: \(e); retrying in \(pause) s\n".utf8))
                Thread.sleep(forTimeInterval: Double(pause))
            }
        }
    }

    static func show(_ cmd: ParsedCommand) throws -> Int32 {
        let text = cmd.arguments[0]
        guard let id = Int64(text), id > 0 else {
            throw CLIError.badValue(option: "id", value: text, reason: "is not an alert id (a whole number from 1, the first column of 'alerts list')")
        }
        let a = try source(cmd).alert(id: id)
        Commands.out(cmd.flag("json") ? a.jsonObject() + "\n" : QueryText.detail(a))
        return 0
    }

    static func stats(_ cmd: ParsedCommand) throws -> Int32 {
        let q = try filters(cmd)
        var groupings: [QueryText.Grouping] = QueryText.Grouping.allCases
        if let by = cmd.value("by") {
            groupings = []
            for word in by.split(separator: ",", omittingEmptySubsequences: false) {
                guard let g = QueryText.Grouping(rawValue: word.trimmingCharacters(in: .whitespaces)) else {
                    throw CLIError.badValue(option: "by", value: by, reason: "names '\(word)'; choose from priority, rule, host (comma-separated)")
                }
                if !groupings.contains(g) { groupings.append(g) }
            }
        }
        let top = try cmd.int("top", default: 10)
        let s = try source(cmd).stats(q)
        if cmd.flag("json") {
            Commands.out(QueryText.statsJSON(s, since: q.since, until: q.until, groupings: groupings, top: top))
        } else {
            func t(_ ns: Int64) -> String { StoredAlert.rfc3339(nanoseconds: ns) }
            let window = switch (q.since, q.until) {
            case (nil, nil): "every stored alert"
            case (let s?, nil): "since \(t(s))"
            case (nil, let u?): "before \(t(u))"
            case (let s?, let u?): "\(t(s)) to \(t(u))"
            }
            Commands.out(QueryText.stats(s, window: window, groupings: groupings, top: top))
        }
        return 0
    }

    static func sensors(_ cmd: ParsedCommand) throws -> Int32 {
        let rows = try source(cmd).sensors()
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let now = Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
        Commands.out(cmd.flag("json") ? SensorFormatting.jsonLines(rows, nowNs: now) : SensorFormatting.table(rows, nowNs: now))
        return 0
    }

    // MARK: Parts

    /// The filters given on the command line, checked.
    static func filters(_ cmd: ParsedCommand) throws -> AlertQuery {
        var q = AlertQuery()
        let now = Date()
        for name in ["since", "until"] {
            guard let s = cmd.value(name) else { continue }
            guard let t = AlertFormatting.parseTime(s, now: now) else {
                throw CLIError.badValue(option: name, value: s, reason: "is not a duration (15m), RFC 3339 time or Unix seconds between 1970 and 2262")
            }
            if name == "since" { q.since = t } else { q.until = t }
        }
        if let s = q.since, let u = q.until, s >= u {
            throw CLIError.badValue(option: "until", value: cmd.value("until")!, reason: "is not after --since \(cmd.value("since")!): the window is empty")
        }
        q.rule = cmd.value("rule")
        q.minPriority = try Commands.priority(cmd, "priority")
        q.host = cmd.value("host")
        q.container = cmd.value("container")
        q.tag = cmd.value("tag")
        if let text = cmd.value("search") {
            do { _ = try TextSearch.ftsQuery(text) } catch {
                throw CLIError.badValue(option: "search", value: text, reason: "cannot be searched: \(error)")
            }
            q.text = text
        }
        return q
    }

    static func outputFields(_ cmd: ParsedCommand) throws -> OutputFields? {
        guard let list = cmd.value("output-fields") else { return nil }
        do { return try OutputFields(parsing: list) } catch {
            throw CLIError.badValue(option: "output-fields", value: list, reason: error.description)
        }
    }

    static func render(_ rows: [StoredAlert], _ cmd: ParsedCommand, _ fields: OutputFields?, header: Bool,
                       empty: String = "no alerts\n") -> String {
        if cmd.flag("json") { return fields?.jsonLines(rows) ?? AlertFormatting.jsonLines(rows) }
        if rows.isEmpty { return empty }
        return fields?.table(rows, header: header) ?? AlertFormatting.table(rows, ids: true)
    }

    /// `--collector URL` (with the token from `--token-file` or `LANNER_TOKEN`), else `--db PATH`.
    static func source(_ cmd: ParsedCommand) throws -> AlertSource {
        if let url = cmd.value("collector") {
            if cmd.value("db") != nil {
                throw CLIError.badValue(option: "db", value: cmd.value("db")!, reason: "and --collector both name where to read; give one")
            }
            let token: String
            do {
                let t = try BearerToken.read(file: cmd.value("token-file"))
                token = t.token
                if let w = t.warning { FileHandle.standardError.write(Data(("lanner-collector: warning: " + w + "\n").utf8)) }
            } catch { Commands.fail(error.description, code: 2) }
            do { return RemoteAlertSource(client: try CollectorClient(url: url, token: token)) } catch let e as RemoteError {
                if case .badURL(_, let why) = e { throw CLIError.badValue(option: "collector", value: url, reason: why) }
                throw e
            }
        }
        if let t = cmd.value("token-file") {
            throw CLIError.badValue(option: "token-file", value: t, reason: "is for --collector URL; a database file needs no token")
        }
        let path = cmd.value("db") ?? Defaults.database
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw CLIError.badValue(option: "db", value: path, reason: "is a directory; give the database file (e.g. \(path)/lanner.db)")
        }
        return LocalAlertSource(store: try AlertStore(path: path, readOnly: true))
    }
}
