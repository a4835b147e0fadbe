import Foundation
import Glibc
import Testing
import LannerCLIKit

/// Bad command lines, for the parser and for the real binaries: every one must exit non-zero with a one-line
/// message naming the flag — no stack trace, no death by signal.
@Suite struct AdversarialCLITests {
    static let spec = CommandSpec("tool", abstract: "test", subcommands: [
        CommandSpec("serve", abstract: "s", options: [
            .value("listen", "HOST:PORT", help: "l"), .value("db", "PATH", help: "d"),
            .value("rules", "FILE", repeatable: true, help: "r"), .flag("verbose", short: "v", help: "v"),
        ]),
        CommandSpec("alerts", abstract: "alerts", subcommands: [
            CommandSpec("list", abstract: "list", options: [
                .flag("json", help: "JSON"), .value("limit", "N", help: "max"), .value("since", "WHEN", help: "w"),
                .value("priority", "P", help: "p"),
            ]),
        ], defaultSubcommand: "list"),
        CommandSpec("rules", abstract: "rules", subcommands: [
            CommandSpec("validate", abstract: "v", options: [.flag("quiet", short: "q", help: "q")],
                        arguments: [ArgumentSpec("file", variadic: true, help: "files")]),
        ]),
    ])

    // MARK: - The parser (hardening)

    @Test(arguments: [
        (["alerts", "--bogus"], "--bogus"),
        (["alerts", "--limit"], "--limit"),
        (["alerts", "--limit", "--json"], "--limit"),
        (["alerts", "--json=yes"], "--json"),
        (["alerts", "--limit", "1", "--limit", "2"], "--limit"),
        (["serve", "--listen"], "--listen"),
        (["serve", "-x"], "-x"),
        (["serve", "--=1"], "--"),
        (["serve", "---listen", "x"], "---listen"),
        (["serve", "--LISTEN", "x"], "--LISTEN"),
        (["serve", "--" + String(repeating: "a", count: 100_000)], "--aaaa"),
        (["", "--x"], "''"),
    ])
    func badCommandLinesNameTheOffendingWord(args: [String], word: String) {
        do {
            let p = try CommandParser.parse(args, spec: Self.spec)
            Issue.record("accepted: \(p.path) \(p.values) \(p.arguments)")
        } catch {
            #expect(error.description.contains(word), "\(error.description.prefix(200))")
            #expect(!error.description.contains("\n"), "not one line: \(error.description.prefix(200))")
        }
    }

    @Test(arguments: ["-1", "99999999999999999999", "", " ", "1e3", "0x10", "١٢", "9223372036854775808", "ten"])
    func badNumbersAreRefusedByName(value: String) throws {
        let p = try CommandParser.parse(["alerts", "--limit", value], spec: Self.spec)
        #expect(throws: CLIError.self) { try p.int("limit", default: 1) }
        do { _ = try p.int("limit", default: 1) } catch { #expect(error.description.contains("--limit")) }
    }

    @Test func randomArgumentVectorsNeverCrash() throws {
        let words = ["serve", "alerts", "list", "rules", "validate", "--listen", "--db", "--rules", "--json", "--limit", "--since",
                     "-v", "-q", "-", "--", "--=", "-h", "x", "", "--limit=5", "--json=", "\u{0}", "--é", "-é", "--priority",
                     String(repeating: "z", count: 5000)]
        var s: UInt64 = 3
        for _ in 0..<20_000 {
            var args: [String] = []
            for _ in 0..<Int(s % 7) {
                s = s &* 6364136223846793005 &+ 1442695040888963407
                args.append(words[Int((s >> 33) % UInt64(words.count))])
            }
            s = s &* 6364136223846793005 &+ 1442695040888963407
            do { _ = try CommandParser.parse(args, spec: Self.spec) } catch {
                if case .helpRequested = error { continue }
                #expect(!error.description.isEmpty)
            }
        }
    }

    // MARK: - The real binaries

    struct Run { var status: Int32; var signaled: Bool; var killed: Bool; var output: String; var seconds: Double }

    static var binDir: String {
        if let d = ProcessInfo.processInfo.environment["LANNER_BIN_DIR"] { return d }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }

    static func run(_ name: String, _ args: [String], env: [String: String] = [:], timeout: Double = 20,
                    afterStart: ((Process) -> Void)? = nil) throws -> Run {
        let bin = binDir + "/" + name
        try #require(FileManager.default.isExecutableFile(atPath: bin), "\(bin) missing: run swift build first")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        e["SWIFT_BACKTRACE"] = "enable=no"
        e["LANNER_TOKEN"] = nil
        for (k, v) in env { e[k] = v }
        p.environment = e
        let out = NSTemporaryDirectory() + "adv-cli-\(UUID().uuidString).out"
        FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardOutput = h
        p.standardError = h
        let t0 = Date()
        try p.run()
        afterStart?(p)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        var killed = false
        if p.isRunning { killed = true; kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        return Run(status: p.terminationStatus, signaled: !killed && p.terminationReason == .uncaughtSignal, killed: killed,
                   output: text, seconds: Date().timeIntervalSince(t0))
    }

    /// The promise, checked: non-zero, not a signal, one line, naming `flag`.
    static func expectCleanRefusal(_ r: Run, flag: String, _ what: String) {
        #expect(!r.killed, "\(what): still running after the deadline")
        #expect(!r.signaled, "\(what): died by signal \(r.status): \(r.output.prefix(300))")
        #expect(r.status != 0, "\(what): exit 0: \(r.output.prefix(300))")
        let lines = r.output.split(separator: "\n")
        #expect(lines.count == 1, "\(what): \(lines.count) lines of output: \(r.output.prefix(300))")
        #expect(r.output.contains(flag), "\(what): message does not name \(flag): \(r.output.prefix(300))")
    }

    static func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "adv-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test(arguments: [
        (["alerts", "list", "--bogus"], "--bogus"),
        (["alerts", "list", "--limit"], "--limit"),
        (["alerts", "list", "--limit", "-1"], "--limit"),
        (["alerts", "list", "--limit", "99999999999999999999"], "--limit"),
        (["alerts", "list", "--limit", ""], "--limit"),
        (["alerts", "list", "--since", "yesterday"], "--since"),
        (["alerts", "list", "--since", ""], "--since"),
        (["alerts", "list", "--until", "2026-13-45T00:00:00Z"], "--until"),
        (["alerts", "list", "--priority", "loud"], "--priority"),
        (["alerts", "list", "--priority", ""], "--priority"),
        (["alerts", "list", "--json=1"], "--json"),
        (["serve", "--listen", ":99999"], "--listen"),
        (["serve", "--listen", "127.0.0.1:-1"], "--listen"),
        (["serve", "--listen", ""], "--listen"),
        (["serve", "--min-priority", "loud"], "--min-priority"),
        (["serve", "--rule-matching", "some"], "--rule-matching"),
        (["serve", "--" + String(repeating: "x", count: 50_000)], "--xxxx"),
        (["bogus"], "bogus"),
        (["rules", "validate"], "<file>"),
        (["rules", "describe"], "<name>"),
    ])
    func collectorRefusesBadFlagsCleanly(args: [String], flag: String) throws {
        // A token, so that `serve` reaches its flag checks instead of stopping at "no token".
        Self.expectCleanRefusal(try Self.run("lanner-collector", args, env: ["LANNER_TOKEN": "t"], timeout: 10), flag: flag, args.joined(separator: " ").prefix(80).description)
    }

    @Test(arguments: [
        (["--bogus"], "--bogus"),
        (["--collector", "ftp://x"], "--collector"),
        (["--collector", "http://127.0.0.1:99999"], "--collector"),
        (["--collector", ""], "--collector"),
        (["--ring-buffer-mb", "-1"], "--ring-buffer-mb"),
        (["--batch-kb", "lots"], "--batch-kb"),
        (["--flush-ms"], "--flush-ms"),
    ])
    func sensorRefusesBadFlagsCleanly(args: [String], flag: String) throws {
        // A token so that flag checks are reached; a nonexistent object so that nothing is loaded.
        let r = try Self.run("lanner-sensor", args + ["--bpf-object", "/nonexistent/lanner.bpf.o"], env: ["LANNER_TOKEN": "t"])
        Self.expectCleanRefusal(r, flag: flag, args.joined(separator: " "))
    }

    @Test(arguments: [
        (["bogus"], "bogus"),
        (["all", "--pause-ms", "-1"], "--pause-ms"),
        (["all", "--pause-ms", "x"], "--pause-ms"),
        (["list", "--x"], "--x"),
    ])
    func eventgenRefusesBadFlagsCleanly(args: [String], flag: String) throws {
        Self.expectCleanRefusal(try Self.run("lanner-eventgen", args), flag: flag, args.joined(separator: " "))
    }

    // MARK: - Findings (expected to fail until fixed)

    /// FINDING (crash): `--since`/`--until` accept any Double and convert `(now - n·unit)·1e9` to Int64
    /// without a range check: `--since 1e300s`, `--since nan`, `--since inf`, `--since 99999999999` (Unix
    /// seconds, year 5138) and `--until 1e19` kill `alerts list` with SIGILL and a Swift runtime trap.
    @Test(arguments: ["1e300s", "nan", "inf", "99999999999", "100000000000000d", "1e19"])
    func hugeOrNonFiniteTimesAreRefusedNotACrash(value: String) throws {
        let d = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let r = try Self.run("lanner-collector", ["alerts", "list", "--db", d + "/none.db", "--since", value])
        Self.expectCleanRefusal(r, flag: "--since", "--since \(value)")
    }

    /// FINDING (silent loss): `serve --db ""` starts and acknowledges batches, but SQLite treats an empty
    /// file name as a private temporary database that is deleted when the collector stops: every alert is
    /// lost. The log line even says "database " with nothing after it.
    @Test func serveRefusesAnEmptyDatabasePath() throws {
        let d = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        try "tok".write(toFile: d + "/token", atomically: true, encoding: .utf8)
        let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("rules").path
        let r = try Self.run("lanner-collector", ["serve", "--listen", "127.0.0.1:0", "--db", "", "--rules", rules,
                                                  "--token-file", d + "/token"], timeout: 5)
        Self.expectCleanRefusal(r, flag: "--db", "serve --db ''")
    }

    /// FINDING (unclear message): failures found after parsing name neither the flag nor, for empty values,
    /// anything at all: `--rules ''` → ": no such file or directory"; `--listen '[::1]:7601'` (bracketed
    /// IPv6, the usual spelling) → "cannot resolve '[::1]': Name or service not known"; `--listen
    /// nohost.invalid:1` → "cannot resolve 'nohost.invalid'…".
    @Test(arguments: [
        (["serve", "--rules", ""], "--rules"),
        (["serve", "--listen", "[::1]:0"], "--listen"),
        (["serve", "--listen", "nohost.invalid:1"], "--listen"),
    ])
    func laterFailuresNameTheFlag(args: [String], flag: String) throws {
        let d = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        try "tok".write(toFile: d + "/token", atomically: true, encoding: .utf8)
        let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("rules").path
        var full = args
        if !args.contains("--token-file") { full += ["--token-file", d + "/token"] }
        if !args.contains("--rules") { full += ["--rules", rules] }
        full += ["--db", d + "/lanner.db"]
        if !args.contains("--listen") { full += ["--listen", "127.0.0.1:0"] }
        let r = try Self.run("lanner-collector", full, timeout: 5)
        Self.expectCleanRefusal(r, flag: flag, args.joined(separator: " "))
    }

    /// FINDING (crash): `lanner-eventgen all --pause-ms N` converts `N * 1000` to UInt32 without a check:
    /// `--pause-ms 99999999` traps ("Not enough bits") and `--pause-ms 9223372036854775807` overflows —
    /// after the first action already ran, so the run is half done.
    @Test(arguments: ["99999999", "9223372036854775807"])
    func eventgenRefusesAPauseItCannotSleep(value: String) throws {
        let r = try Self.run("lanner-eventgen", ["all", "--pause-ms", value], timeout: 30)
        #expect(!r.signaled, "died by signal \(r.status): \(r.output.prefix(300))")
        #expect(r.output.contains("--pause-ms"), "\(r.output.prefix(300))")
    }

    /// FINDING (wrong acceptance → silent loss): size flags are shifted (`n << 20`, `n << 10`) without an
    /// overflow check, so huge values wrap: `--spool-mb 17592186044416` becomes a 0-byte spool (every batch
    /// dropped), `--batch-kb 18014398509481984` a 0-byte batch limit. They pass validation (the sensor goes
    /// on to open the eBPF object); `--ring-buffer-mb 4611686018427387904` is caught only later as
    /// "ringBufferBytes 0 must be a power of two" — a value the user never typed, without the flag's name.
    @Test(arguments: [
        (["--spool-mb", "17592186044416"], "--spool-mb"),
        (["--batch-kb", "18014398509481984"], "--batch-kb"),
        (["--ring-buffer-mb", "4611686018427387904"], "--ring-buffer-mb"),
        (["--ring-buffer-mb", "2048"], "--ring-buffer-mb"),
    ])
    func sensorRefusesSizesThatOverflow(args: [String], flag: String) throws {
        let d = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        FileManager.default.createFile(atPath: d + "/empty.bpf.o", contents: Data())   // fails to open: nothing is loaded
        let r = try Self.run("lanner-sensor", args + ["--bpf-object", d + "/empty.bpf.o", "--state-dir", d + "/state"],
                             env: ["LANNER_TOKEN": "t"])
        Self.expectCleanRefusal(r, flag: flag, args.joined(separator: " "))
        #expect(r.status == 2, "exit \(r.status) (a usage error is 2): \(r.output.prefix(300))")
    }

    /// FINDING (silent loss): `--hostname` takes any length, but a batch header holds at most 255 bytes; with a
    /// longer name the sensor runs and never ships a batch (see AdversarialSensorTests). It should be refused
    /// up front, naming --hostname.
    @Test func sensorRefusesAHostnameTheWireCannotCarry() throws {
        let d = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        FileManager.default.createFile(atPath: d + "/empty.bpf.o", contents: Data())
        let r = try Self.run("lanner-sensor", ["--hostname", String(repeating: "h", count: 300), "--bpf-object", d + "/empty.bpf.o",
                                               "--state-dir", d + "/state"], env: ["LANNER_TOKEN": "t"])
        Self.expectCleanRefusal(r, flag: "--hostname", "--hostname <300 bytes>")
    }

    /// FINDING (unclear message): `lanner-sensor --state-dir ''` prints a Foundation error dump
    /// (`Error Domain=NSCocoaErrorDomain Code=4 … NSFilePath=}`) instead of naming --state-dir.
    @Test func sensorEmptyStateDirIsNamed() throws {
        let r = try Self.run("lanner-sensor", ["--state-dir", "", "--bpf-object", "/nonexistent"], env: ["LANNER_TOKEN": "t"])
        Self.expectCleanRefusal(r, flag: "--state-dir", "--state-dir ''")
    }

    /// FINDING (cannot interrupt): every lanner-collector subcommand blocks SIGINT/SIGTERM at startup (for
    /// `serve`'s sigwait), so Ctrl-C does nothing during a slow `rules validate` or `alerts list` — with the
    /// rule-file bombs above, the user has to SIGKILL it.
    @Test func rulesValidateStopsOnSIGINT() throws {
        let d = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        var s = "- macro: m0\n  condition: proc.name = a\n"
        for i in 1...22 { s += "- macro: m\(i)\n  condition: (m\(i - 1) or m\(i - 1))\n" }
        s += "- rule: r\n  desc: d\n  condition: evt.type = openat and m22\n  output: x\n  priority: WARNING\n"
        try s.write(toFile: d + "/slow.yaml", atomically: true, encoding: .utf8)
        nonisolated(unsafe) var sentAt = Date()
        let r = try Self.run("lanner-collector", ["rules", "validate", d + "/slow.yaml"], timeout: 10) { p in
            Thread.sleep(forTimeInterval: 1)
            sentAt = Date()
            kill(p.processIdentifier, SIGINT)
        }
        #expect(!r.killed, "still running \(Date().timeIntervalSince(sentAt)) s after SIGINT (killed)")
    }

    @Test func nonUTF8RuleFileIsReportedWithTheOtherFilesProblems() throws {
        // FINDING (clarity): one non-UTF-8 file aborts the whole load with "<path>: is not UTF-8 text" — no line
        // of the bad byte, and no diagnostics for the other files ("all problems reported at once").
        let d = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        try "- rule: r\n  desc: d\n  condition: proc.nme = a\n  output: x\n  priority: WARNING\n"
            .write(toFile: d + "/a.yaml", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: d + "/b.yaml", contents: Data("- list: l\n  items: [ok, \u{0}]\n".utf8) + Data([0xff, 0xfe, 0x0a]))
        let r = try Self.run("lanner-collector", ["rules", "validate", d + "/a.yaml", d + "/b.yaml"])
        #expect(r.status != 0 && !r.signaled)
        #expect(r.output.contains("proc.nme"), "the error in a.yaml was not reported: \(r.output.prefix(300))")
        #expect(r.output.contains("b.yaml:3"), "the bad byte's line is not reported: \(r.output.prefix(300))")
    }
}
