import Foundation
import LannerCLIKit
import LannerCollectorService
import LannerCore
import LannerEnrich
import LannerHTTP2
import LannerOutputs
import LannerRules
import LannerStore
import LannerWire

enum Defaults {
    static let version = "0.1.0"
    /// `$LANNER_DB`, else where the systemd unit keeps it.
    static let database = ProcessInfo.processInfo.environment["LANNER_DB"] ?? "/var/lib/lanner/lanner.db"
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
        // SIGINT/SIGTERM are taken by sigwait below, after a clean stop; every thread started from here on
        // inherits the mask. (Other subcommands keep the default: Ctrl-C ends them.)
        Signals.blockTermination()
        Signals.blockHangup()
        // The configuration file, then the command line over it.
        var file = CollectorFileConfig(path: "")
        if let path = cmd.value("config") {
            do { file = try CollectorFileConfig.load(path: path) } catch {
                fail("cannot use --config \(path):\n" + error.problems.map(\.description).joined(separator: "\n") + "\nnot starting", code: 2)
            }
        }
        let listen = try ListenAddress(option: "listen", value: cmd.value("listen") ?? file.serve.listen ?? "127.0.0.1:7601")
        let (host, port) = (listen.host, listen.port)
        let metricsAddress = try (cmd.value("metrics-listen") ?? file.serve.metricsListen).map { try ListenAddress(option: "metrics-listen", value: $0) }
        let token: String
        do {
            let t = try BearerToken.read(file: cmd.value("token-file") ?? file.serve.tokenFile)
            token = t.token
            if let w = t.warning { FileHandle.standardError.write(Data(("lanner-collector: warning: " + w + "\n").utf8)) }
        } catch { fail(error.description, code: 2) }
        let matching: RuleMatching
        if let m = cmd.value("rule-matching") {
            guard let mm = RuleMatching(rawValue: m) else {
                throw CLIError.badValue(option: "rule-matching", value: m, reason: "must be 'all' or 'first'")
            }
            matching = mm
        } else {
            matching = file.serve.ruleMatching == .first ? .first : .all
        }
        let rulePaths = !cmd.all("rules").isEmpty ? cmd.all("rules") : (file.serve.rules ?? [Defaults.rules])
        let minimumPriority = try priority(cmd, "min-priority") ?? file.serve.minPriority ?? .debug
        let watchRules = !cmd.flag("no-watch-rules") && (file.serve.watchRules ?? true)
        let loadedFrom = watchRules ? RuleFilesSnapshot.take(rulePaths) : nil   // before reading: an edit during start-up is a change
        let result: LoadResult
        switch loadServeRules(rulePaths, minimumPriority: minimumPriority) {
        case .failure(let why): fail(why.description + (why.description.hasPrefix("no rules") ? "" : "; not starting"), code: 1)
        case .success(let r): result = r
        }
        var config = CollectorConfig(token: token, rules: result.activeRules)
        config.host = host
        config.port = port
        config.databasePath = cmd.value("db") ?? file.serve.db ?? Defaults.database
        config.matching = matching
        config.statsInterval = cmd.flag("verbose") ? 5 : 0
        config.resolveNames = !cmd.flag("no-resolve-names") && (file.serve.resolveNames ?? true)
        ServeStorage.apply(file, to: &config)
        config.version = Defaults.version
        let log = config.log
        // Outputs open (files, CA files, URLs) before anything listens: a bad one stops the start.
        let hub: OutputHub?
        if file.outputs.enabledNames.isEmpty {
            hub = nil
        } else {
            do { hub = try OutputHub(config: file.outputs, log: { log("lanner-collector: " + $0) }) } catch {
                fail("cannot start output \(error.output) (\(file.path)): \(error.message); not starting", code: 1)
            }
        }
        let server: CollectorServer
        do {
            server = try CollectorServer(config: config, outputs: hub)
            try server.start()
        } catch let e as H2Error {
            hub?.stop(timeout: .seconds(1))
            fail("cannot serve on \(host.contains(":") ? "[\(host)]" : host):\(port) (\(cmd.value("listen") != nil ? "--listen" : "listen in \(file.path)")): \(e)", code: 1)
        }
        var metricsListener: MetricsListener?
        if let metricsAddress {
            let (mhost, mport) = (metricsAddress.host, metricsAddress.port)
            do {
                let m = try MetricsListener(host: mhost, port: mport, token: token, log: log) { [server] in server.metricsText() }
                m.start()
                metricsListener = m
                log("lanner-collector: metrics on http://\(mhost.contains(":") ? "[\(mhost)]" : mhost):\(m.port)/metrics (HTTP/1.1, bearer token)")
            } catch {
                server.stop()
                hub?.stop(timeout: .seconds(1))
                fail("cannot serve metrics on \(mhost):\(mport): \(error); not starting", code: 1)
            }
        }
        if let hub { log("lanner-collector: outputs: " + hub.outputNames.joined(separator: ", ")) }
        // Rule files are watched from here, between signals: a change that has settled reloads them as SIGHUP does.
        var watcher = loadedFrom.map { RuleWatcher(paths: rulePaths, baseline: $0) }
        if let w = watcher {
            log("lanner-collector: watching \(rulePaths.joined(separator: ", ")) for changes (every \(w.interval.components.seconds) s; "
                + "reloads once they settle; --no-watch-rules or watch_rules: false turns this off)")
        }
        // SIGHUP reloads the rule files and reopens the file output (log rotation); SIGINT/SIGTERM (blocked since
        // main started) stop cleanly: finish queued batches, close the store, let the outputs deliver what they hold.
        // The files as they are before reading them, so that an edit during the reload counts as the next change.
        func reloadRules(_ reason: String) {
            let snapshot = watcher.map { RuleFilesSnapshot.take($0.paths) }
            reload(server, rulePaths, minimumPriority: minimumPriority, reason: reason)
            if let snapshot { watcher?.reloaded(snapshot) }
        }
        var sig: Int32
        while true {
            let got: Int32?
            if let w = watcher { got = Signals.waitForTerminationOrHangup(timeout: w.timeUntilNextLook()) } else { got = Signals.waitForTerminationOrHangup() }
            if let s = got {
                sig = s
                guard sig == SIGHUP else { break }
                hub?.reopen()
                reloadRules("SIGHUP")
            } else if let what = watcher?.poll() {
                reloadRules("rule files changed (\(what))")
            }
        }
        FileHandle.standardError.write(Data("lanner-collector: \(sig == SIGINT ? "SIGINT" : "SIGTERM"), stopping\n".utf8))
        metricsListener?.stop()
        server.stop()
        let s = server.currentStats
        var summary = "lanner-collector: stopped after \(s.batchesAccepted) batches, \(s.events) events, \(s.alerts) alerts"
        if let hub {
            let final = hub.stop(timeout: .seconds(5))
            summary += "; outputs: " + final.map { "\($0.name) delivered \($0.delivered)/\($0.accepted)" }.joined(separator: ", ")
        }
        FileHandle.standardError.write(Data((summary + "\n").utf8))
        return 0
    }

    /// Loads the rule files for `serve`, printing every error (located, with a snippet) and every rule left out
    /// for fields Lanner does not supply; a failure says why nothing can run.
    static func loadServeRules(_ paths: [String], minimumPriority: Priority) -> Result<LoadResult, ServeRulesFailure> {
        let result: LoadResult
        do { result = try RuleSources.load(paths, minimumPriority: minimumPriority) } catch {
            return .failure(ServeRulesFailure(description: "\(error)"))
        }
        let lines = SourceLines(result.report.sources)
        for d in result.report.diagnostics where d.severity == .error || d.code == .unsupportedField {
            FileHandle.standardError.write(Data((DiagnosticRenderer.withSnippet(d, lines: lines) + "\n").utf8))
        }
        let errors = result.report.errors
        if !errors.isEmpty { return .failure(ServeRulesFailure(description: "\(errors.count) error(s) in the rules")) }
        if !result.activeRules.contains(where: \.isSupported) {
            return .failure(ServeRulesFailure(description: "no rules to run (\(result.rules.count) loaded, none enabled and supported at or above the minimum "
                                              + "priority); check --rules and --min-priority"))
        }
        return .success(result)
    }

    struct ServeRulesFailure: Error, CustomStringConvertible { var description: String }

    /// SIGHUP or a change to the rule files (`reason` says which): reads the rule files again; on errors keeps the
    /// running rules (the errors are printed as at start). The server pushes the new interest to sensors.
    static func reload(_ server: CollectorServer, _ paths: [String], minimumPriority: Priority, reason: String) {
        func say(_ s: String) { FileHandle.standardError.write(Data(("lanner-collector: " + s + "\n").utf8)) }
        say("\(reason): reloading rules from \(paths.joined(separator: ", "))")
        switch loadServeRules(paths, minimumPriority: minimumPriority) {
        case .failure(let why):
            say("reload failed: \(why); still running the previous rules")
        case .success(let r):
            let warnings = r.report.warnings.count
            say("read \(r.rules.count) rules, \(r.macros.count) macros, \(r.lists.count) lists"
                + (warnings > 0 ? " (\(warnings) warning(s))" : "") + "; swapping them in between batches")
            _ = server.reload(rules: r.activeRules)
        }
    }

    // MARK: replay

    static func replay(_ cmd: ParsedCommand) throws -> Int32 {
        let result = try RuleSources.load(cmd.all("rules").isEmpty ? [Defaults.rules] : cmd.all("rules"),
                                          minimumPriority: try priority(cmd, "min-priority") ?? .debug)
        if result.report.hasErrors {
            for d in result.report.errors { FileHandle.standardError.write(Data((DiagnosticRenderer.withSnippet(d, sources: result.report.sources) + "\n").utf8)) }
            fail("\(result.report.errors.count) error(s) in the rules", code: 1)
        }
        var matching = RuleMatching.all
        if let m = cmd.value("rule-matching") {
            guard let mm = RuleMatching(rawValue: m) else { throw CLIError.badValue(option: "rule-matching", value: m, reason: "must be 'all' or 'first'") }
            matching = mm
        }
        var captures: [[(batch: Batch, body: [UInt8])]] = []
        var skipped = 0
        for path in cmd.arguments {
            guard let data = FileManager.default.contents(atPath: path) else { fail("\(path): cannot be read", code: 1) }
            do {
                let contents = try Capture.read([UInt8](data))
                skipped += reportDamage(path, contents)
                captures.append(contents.batches)
            } catch { fail("\(path): \(error)", code: 1) }
        }
        let outcome = Replay.run(rules: result.activeRules, matching: matching, captures: captures,
                                 domains: OneTimeDomainLookup.Settings(lookUp: !cmd.flag("no-resolve-names")))
        if let d = outcome.domains { FileHandle.standardError.write(Data("lanner-collector: \(d.summary)\n".utf8)) }
        out(cmd.flag("json") ? AlertFormatting.jsonLines(outcome.alerts.reversed()) : AlertFormatting.table(outcome.alerts.reversed()))
        FileHandle.standardError.write(Data(("lanner-collector: replayed \(outcome.batches) batches, \(outcome.events) events: \(outcome.alerts.count) alerts"
            + (skipped > 0 ? "; " + skippedNote(skipped) : "") + "\n").utf8))
        return skipped > 0 ? damagedInputStatus : 0
    }

    /// Exit status of `replay` and `rules test` when damaged batches were skipped (the output covers the others).
    static let damagedInputStatus: Int32 = 3

    /// Prints one error line per damaged batch of a capture (file, batch index, byte offset, why; it was skipped)
    /// and a warning for a cut-off end; returns how many batches were skipped.
    static func reportDamage(_ path: String, _ contents: Capture.Contents) -> Int {
        for d in contents.damaged {
            FileHandle.standardError.write(Data("lanner-collector: error: \(path): \(d)\n".utf8))
        }
        if let tail = contents.truncatedTail {
            FileHandle.standardError.write(Data("lanner-collector: warning: \(path): \(tail); replaying the \(contents.batches.count) whole batches before it\n".utf8))
        }
        return contents.damaged.count
    }

    static func skippedNote(_ skipped: Int) -> String {
        "\(skipped) damaged batch\(skipped == 1 ? " was" : "es were") skipped (see the errors above): exit status \(damagedInputStatus)"
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
            let supplied = SyscallFields.isSupported(ResolvedField(info: f, argument: f.arg.contains(.required) ? .key("x") : nil))
            if cmd.flag("supported") && !supplied { continue }
            if cmd.flag("unsupported") && supplied { continue }
            var name = f.name
            if f.arg.contains(.required) { name += f.arg.contains(.index) && !f.arg.contains(.key) ? "[N]" : "[ARG]" }
            else if f.arg.contains(.allowed) { name += f.arg.contains(.index) ? "[N]?" : "[ARG]?" }
            var notes: [String] = []
            if f.flags.contains(.filterOnly) { notes.append("conditions only") }
            if f.flags.contains(.deprecated) { notes.append("deprecated") }
            if f.flags.contains(.domainName) { notes.append("names compared with =, != or in are resolved in the background") }
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
        let events = try RulesTest.events(cmd.arguments[1])
        let skipped = events.contents.map { reportDamage(cmd.arguments[1], $0) } ?? 0
        let report = RulesTest.run(rules: result.activeRules, events: events.batches, matching: matching, explain: cmd.value("explain"),
                                   domains: OneTimeDomainLookup.Settings(lookUp: !cmd.flag("no-resolve-names")))
        if let d = report.domainSummary { FileHandle.standardError.write(Data("lanner-collector: \(d)\n".utf8)) }
        out(report.text)
        if skipped > 0 { FileHandle.standardError.write(Data(("lanner-collector: " + skippedNote(skipped) + "\n").utf8)) }
        return skipped > 0 ? damagedInputStatus : 0
    }

    static func rulesDescribe(_ cmd: ParsedCommand) throws -> Int32 {
        let result = try loadForInspection(cmd)
        guard let r = result.rule(named: cmd.arguments[0]) else {
            let hint = Suggest.closest(cmd.arguments[0], in: result.rules.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
            fail("no rule named '\(cmd.arguments[0])'" + hint, code: 1)
        }
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
