import Foundation
import LannerCLIKit
import LannerCollectorService
import LannerCore
import LannerEnrich
import LannerRules
import LannerStore

enum Defaults {
    static let version = "0.1.0"
    static let database = "state/lanner.db"
    static let rules = "rules/"
}

enum Commands {
    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data(("lanner-collector: " + message + "\n").utf8))
        exit(code)
    }

    static func out(_ s: String) { FileHandle.standardOutput.write(Data(s.utf8)) }

    static func priority(_ cmd: ParsedCommand, _ name: String) throws -> Priority? {
        guard let v = cmd.value(name) else { return nil }
        guard let p = Priority(name: v) else {
            throw CLIError.badValue(option: name, value: v, reason: "is not a priority; use one of \(Priority.spellings)")
        }
        return p
    }

    // MARK: serve

    static func serve(_ cmd: ParsedCommand) throws -> Int32 {
        var host = "127.0.0.1"
        var port: UInt16 = 7601
        if let listen = cmd.value("listen") {
            guard let colon = listen.lastIndex(of: ":"), let p = UInt16(listen[listen.index(after: colon)...]) else {
                throw CLIError.badValue(option: "listen", value: listen, reason: "is not HOST:PORT")
            }
            host = String(listen[..<colon])
            port = p
        }
        var token = ProcessInfo.processInfo.environment["LANNER_TOKEN"] ?? ""
        if let f = cmd.value("token-file") {
            guard let t = try? String(contentsOfFile: f, encoding: .utf8) else { fail("cannot read token file \(f)", code: 1) }
            token = t.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard !token.isEmpty else { fail("no token: pass --token-file FILE or set LANNER_TOKEN", code: 2) }
        let matching: RuleMatching
        if let m = cmd.value("rule-matching") {
            guard let mm = RuleMatching(rawValue: m) else {
                throw CLIError.badValue(option: "rule-matching", value: m, reason: "must be 'all' or 'first'")
            }
            matching = mm
        } else {
            matching = .all
        }
        let result = try RuleSources.load(cmd.all("rules").isEmpty ? [Defaults.rules] : cmd.all("rules"),
                                          minimumPriority: try priority(cmd, "min-priority") ?? .debug)
        let errors = result.report.errors
        let lines = SourceLines(result.report.sources)
        for d in result.report.diagnostics where d.severity == .error || d.code == .unsupportedField {
            FileHandle.standardError.write(Data((DiagnosticRenderer.withSnippet(d, lines: lines) + "\n").utf8))
        }
        if !errors.isEmpty { fail("\(errors.count) error(s) in the rules; not starting", code: 1) }
        var config = CollectorConfig(token: token, rules: result.activeRules)
        config.host = host
        config.port = port
        config.databasePath = cmd.value("db") ?? Defaults.database
        config.matching = matching
        config.statsInterval = cmd.flag("verbose") ? 5 : 0
        let server = try CollectorServer(config: config)
        try server.start()
        // Stop cleanly on SIGINT/SIGTERM (blocked since main started): finish queued batches, close the store.
        let sig = Signals.waitForTermination()
        FileHandle.standardError.write(Data("lanner-collector: \(sig == SIGINT ? "SIGINT" : "SIGTERM"), stopping\n".utf8))
        server.stop()
        let s = server.currentStats
        FileHandle.standardError.write(Data("lanner-collector: stopped after \(s.batchesAccepted) batches, \(s.events) events, \(s.alerts) alerts\n".utf8))
        return 0
    }

    // MARK: alerts

    static func alertsList(_ cmd: ParsedCommand) throws -> Int32 {
        var q = AlertQuery()
        if let s = cmd.value("since") {
            guard let t = AlertFormatting.parseTime(s) else { throw CLIError.badValue(option: "since", value: s, reason: "is not a duration (15m), RFC 3339 time or Unix seconds") }
            q.since = t
        }
        if let s = cmd.value("until") {
            guard let t = AlertFormatting.parseTime(s) else { throw CLIError.badValue(option: "until", value: s, reason: "is not a duration (15m), RFC 3339 time or Unix seconds") }
            q.until = t
        }
        q.rule = cmd.value("rule")
        q.minPriority = try priority(cmd, "priority")
        q.host = cmd.value("host")
        q.limit = try cmd.int("limit", default: 100)
        let path = cmd.value("db") ?? Defaults.database
        let store = try AlertStore(path: path, readOnly: true)
        let alerts = try store.query(q)
        out(cmd.flag("json") ? AlertFormatting.jsonLines(alerts) : AlertFormatting.table(alerts))
        return 0
    }

    // MARK: rules

    static func rulesValidate(_ cmd: ParsedCommand) throws -> Int32 {
        let result = try RuleSources.load(cmd.arguments)
        let lines = SourceLines(result.report.sources)
        for d in result.report.diagnostics where !cmd.flag("quiet") || d.severity == .error {
            out(DiagnosticRenderer.withSnippet(d, lines: lines) + "\n")
        }
        let supported = result.rules.filter(\.isSupported).count
        out("\(result.rules.count) rules, \(result.macros.count) macros, \(result.lists.count) lists; "
            + "\(supported) of \(result.rules.count) rules fully supported by Lanner; "
            + "\(result.report.errors.count) error(s), \(result.report.warnings.count) warning(s)\n")
        return result.report.hasErrors ? 1 : 0
    }

    static func loadForInspection(_ cmd: ParsedCommand) throws -> LoadResult {
        let result = try RuleSources.load(cmd.all("rules").isEmpty ? [Defaults.rules] : cmd.all("rules"))
        if result.report.hasErrors {
            let lines = SourceLines(result.report.sources)
            out(result.report.errors.map { DiagnosticRenderer.withSnippet($0, lines: lines) }.joined(separator: "\n") + "\n")
            fail("the rules have errors (see above)", code: 1)
        }
        return result
    }

    static func rulesList(_ cmd: ParsedCommand) throws -> Int32 {
        let result = try loadForInspection(cmd)
        for r in result.rules {
            var flags: [String] = []
            if !r.enabled { flags.append("disabled") }
            if !r.isSupported { flags.append("needs " + r.unsupportedFields.joined(separator: ", ")) }
            out("\(r.priority.name.padding(toLength: 13, withPad: " ", startingAt: 0)) \(r.name)"
                + (flags.isEmpty ? "" : "  [" + flags.joined(separator: "; ") + "]") + "\n")
        }
        return 0
    }

    static func rulesFields(_ cmd: ParsedCommand) throws -> Int32 {
        var rows: [(String, String, String, String)] = []
        for f in FieldCatalog.falco.fields where !f.flags.contains(.hidden) {
            if let c = cmd.value("class"), f.fieldClass != c { continue }
            let supplied = SyscallFields().extractor(for: ResolvedField(info: f, argument: f.arg.contains(.required) ? .key("x") : nil)) != nil
            if cmd.flag("supported") && !supplied { continue }
            if cmd.flag("unsupported") && supplied { continue }
            var name = f.name
            if f.arg.contains(.required) { name += f.arg.contains(.index) && !f.arg.contains(.key) ? "[N]" : "[ARG]" }
            else if f.arg.contains(.allowed) { name += f.arg.contains(.index) ? "[N]?" : "[ARG]?" }
            var notes: [String] = []
            if f.flags.contains(.filterOnly) { notes.append("conditions only") }
            if f.flags.contains(.deprecated) { notes.append("deprecated") }
            rows.append((name, f.type.rawValue, supplied ? "yes" : "no", f.description + (notes.isEmpty ? "" : " (" + notes.joined(separator: ", ") + ")")))
        }
        let w0 = max(5, rows.map(\.0.count).max() ?? 0), w1 = 8
        out("FIELD".padding(toLength: w0 + 2, withPad: " ", startingAt: 0) + "TYPE".padding(toLength: w1 + 2, withPad: " ", startingAt: 0) + "SUPPLIED  DESCRIPTION\n")
        for r in rows {
            out(r.0.padding(toLength: w0 + 2, withPad: " ", startingAt: 0) + r.1.padding(toLength: w1 + 2, withPad: " ", startingAt: 0)
                + r.2.padding(toLength: 10, withPad: " ", startingAt: 0) + r.3 + "\n")
        }
        let supplied = rows.filter { $0.2 == "yes" }.count
        out("\(rows.count) fields, \(supplied) supplied by Lanner\n")
        return 0
    }

    static func rulesTest(_ cmd: ParsedCommand) throws -> Int32 {
        let result = try RuleSources.load([cmd.arguments[0]])
        if result.report.hasErrors {
            let lines = SourceLines(result.report.sources)
            out(result.report.errors.map { DiagnosticRenderer.withSnippet($0, lines: lines) }.joined(separator: "\n") + "\n")
            fail("the rules have errors (see above)", code: 1)
        }
        let matching: RuleMatching
        if let m = cmd.value("rule-matching") {
            guard let mm = RuleMatching(rawValue: m) else { throw CLIError.badValue(option: "rule-matching", value: m, reason: "must be 'all' or 'first'") }
            matching = mm
        } else {
            matching = .all
        }
        let events = try RulesTest.batches(cmd.arguments[1])
        let report = RulesTest.run(rules: result.activeRules, events: events, matching: matching, explain: cmd.value("explain"))
        out(report.text)
        return 0
    }

    static func rulesDescribe(_ cmd: ParsedCommand) throws -> Int32 {
        let result = try loadForInspection(cmd)
        guard let r = result.rule(named: cmd.arguments[0]) else { fail("no rule named '\(cmd.arguments[0])'", code: 1) }
        out("""
            rule:        \(r.name)
            priority:    \(r.priority.name)
            enabled:     \(r.enabled)
            source:      \(r.source)
            tags:        \(r.tags.joined(separator: ", "))
            event types: \(r.eventTypes.count > 100 ? "all (\(r.eventTypes.count))" : r.eventTypes.sorted().joined(separator: ", "))
            supported:   \(r.isSupported ? "yes" : "no, needs " + r.unsupportedFields.joined(separator: ", "))
            condition:   \(r.conditionText.trimmingCharacters(in: .whitespacesAndNewlines))
            expanded:    \(r.expandedText)
            output:      \(r.outputText)
            description: \(r.description.trimmingCharacters(in: .whitespacesAndNewlines))

            """)
        return 0
    }
}
