import Foundation
import LannerTestSupport
import Testing

/// Bad command lines get one clear line on stderr (naming the command once) and a documented exit status:
/// 2 for usage, 1 for a failure to run. Runs the real binaries.
@Suite struct CommandLineErrorTests {
    struct Run { var status: Int32; var stderr: String; var stdout: String }

    static func run(_ name: String, _ args: [String], env: [String: String] = [:]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try E2E.binary(name))
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        e["LANNER_TOKEN"] = nil
        e["LANNER_DB"] = nil
        for (k, v) in env { e[k] = v }
        p.environment = e
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), er = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stderr: String(decoding: er, as: UTF8.self), stdout: String(decoding: o, as: UTF8.self))
    }

    static let scratch: String = {
        let d = try! E2E.tempDir("cli")
        try! "".write(toFile: d + "/empty-token", atomically: false, encoding: .utf8)
        try! "- rule: off\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: DEBUG\n  enabled: false\n"
            .write(toFile: d + "/disabled.yaml", atomically: false, encoding: .utf8)
        return d
    }()

    @Test(arguments: [
        ("lanner-collector", ["serve", "--bogus"], 2, "lanner-collector serve: unknown option '--bogus' (see 'lanner-collector serve --help')\n"),
        ("lanner-collector", ["alerts", "list", "--limit", "x"], 2, "lanner-collector: option '--limit': 'x' is not a non-negative whole number\n"),
        ("lanner-collector", ["serve", "--token-file", "/nonexistent/token"], 2,
         "lanner-collector: cannot read token file /nonexistent/token: No such file or directory\n"),
        ("lanner-collector", ["serve", "--token-file", "SCRATCH/empty-token"], 2, "lanner-collector: token file SCRATCH/empty-token is empty\n"),
        ("lanner-collector", ["serve"], 2, "lanner-collector: no token: pass --token-file FILE or set LANNER_TOKEN\n"),
        ("lanner-collector", ["alerts", "list", "--db", "SCRATCH/none.db"], 1,
         "lanner-collector: alert database SCRATCH/none.db does not exist: pass the collector's database with --db PATH (or set LANNER_DB), or start the collector first\n"),
        ("lanner-collector", ["alerts", "list", "--db", "SCRATCH"], 2,
         "lanner-collector: option '--db': 'SCRATCH' is a directory; give the database file (e.g. SCRATCH/lanner.db)\n"),
        ("lanner-sensor", ["--collector", "https://c:7601"], 2,
         "lanner-sensor: option '--collector': 'https://c:7601' uses TLS, which this version does not support yet: use http://HOST:PORT (h2c) on a trusted network or through a TLS tunnel\n"),
        ("lanner-sensor", ["--frobnicate"], 2, "lanner-sensor: unknown option '--frobnicate' (see 'lanner-sensor --help')\n"),
    ] as [(String, [String], Int32, String)])
    func failsWithOneClearLine(_ binary: String, _ args: [String], _ status: Int32, _ message: String) throws {
        let d = Self.scratch
        let r = try Self.run(binary, args.map { $0.replacingOccurrences(of: "SCRATCH", with: d) })
        #expect(r.status == status, "\(r.stderr)")
        #expect(r.stderr == message.replacingOccurrences(of: "SCRATCH", with: d))
    }

    /// `--help` said `--ring-buffer-mb` took "4 to 64" (the range of the default) while 1 to 1024 were accepted: the
    /// help now states the range validation enforces, and each refusal says which rule the value broke.
    @Test func ringBufferSizeHelpAndValidationAgree() throws {
        let help = try Self.run("lanner-sensor", ["--help"])
        #expect(help.status == 0)
        let line = try #require(help.stdout.split(separator: "\n").first { $0.contains("--ring-buffer-mb") })
        #expect(line.contains("a power of two from 1 to 256 (default 2 per CPU, at least 4 and at most 64:"), "\(line)")
        let cases: [(String, String)] = [
            ("512", "'512' is out of range (1…256 MiB)"),
            ("1024", "'1024' is out of range (1…256 MiB)"),
            ("0", "'0' is out of range (1…256 MiB)"),
            ("3", "'3' is not a power of two (1, 2, 4, … 256 MiB)"),
            ("96", "'96' is not a power of two (1, 2, 4, … 256 MiB)"),
        ]
        for (value, why) in cases {
            let r = try Self.run("lanner-sensor", ["--ring-buffer-mb", value, "--bpf-object", "/nonexistent/lanner.bpf.o"],
                                 env: ["LANNER_TOKEN": "t"])
            #expect(r.status == 2, "\(value): \(r.stderr)")
            #expect(r.stderr == "lanner-sensor: option '--ring-buffer-mb': \(why)\n")
        }
    }

    /// `--events` takes all, default or wire event names; a name that is not a kernel event is refused up front,
    /// naming the item, before anything is loaded.
    @Test func eventsRefusesWhatTheKernelCannotCapture() throws {
        let d = Self.scratch
        let cases: [(String, String)] = [
            ("unlink,bogus", "'unlink,bogus' names 'bogus' (item 2), which is not an event of proto/events.yaml; the kernel's are all, default or: execve, execveat, "),
            ("procinfo", "'procinfo' names 'procinfo', which the sensor writes itself (always sent), not one the kernel captures\n"),
            ("", "'' is empty\n"),
            ("unlink,,mkdir", "'unlink,,mkdir' has an empty name (item 2): names are separated by single commas\n"),
        ]
        for (value, message) in cases {
            let r = try Self.run("lanner-sensor", ["--offline", "-w", d + "/never.lcap", "--events", value, "--state-dir", d + "/events-state"])
            #expect(r.status == 2, "\(value): \(r.stderr)")
            #expect(r.stderr.hasPrefix("lanner-sensor: option '--events': " + message), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
        #expect(!FileManager.default.fileExists(atPath: d + "/never.lcap"))
        let help = try Self.run("lanner-sensor", ["--help"])
        #expect(help.stdout.contains("--events SET"), "\(help.stdout)")
    }

    /// Too low an open-file limit failed while loading (60) or while keeping the programs' descriptors (160, about
    /// two per program at that moment): the second said "eBPF object does not match this loader ... rebuild it".
    /// Both now name the limit; the sensor exits 1 with nothing attached.
    @Test(.enabled(if: E2E.canRunBPF), arguments: [60, 160])
    func tooFewFileDescriptorsSaySo(_ limit: Int) throws {
        let d = Self.scratch + "/fd\(limit)"   // a state directory each: the cases run at once
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let sensor = try E2E.binary("lanner-sensor")
        let object = E2E.repo.appendingPathComponent("sensor/build/lanner.bpf.o").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "ulimit -n \(limit) && exec \"$0\" --offline -w \"$1\"/fd.lcap --state-dir \"$1\" --bpf-object \"$2\"",
                       sensor, d, object]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 1, "\(text)")
        let first = text.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("lanner-sensor: keeping ") || first.hasPrefix("lanner-sensor: loading eBPF programs failed: "), "\(first)")
        #expect(first.contains("failed: Too many open files (errno 24); raise the open-file limit (ulimit -n)"), "\(first)")
        #expect(!text.contains("rebuild"), "\(text)")
    }

    /// Two sensors on one state directory would share an id, a disk spool and the run epoch: the second stops at
    /// start, naming the first one's pid, and the first is not disturbed (it still stops cleanly and wrote its capture).
    @Test(.enabled(if: E2E.canRunBPF)) func aSecondSensorOnTheSameStateDirectoryStops() throws {
        let d = Self.scratch + "/shared-state"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let object = E2E.repo.appendingPathComponent("sensor/build/lanner.bpf.o").path
        let first = try Child(try E2E.binary("lanner-sensor"), ["--offline", "-w", d + "/first.lcap", "--state-dir", d,
                                                               "--bpf-object", object, "--container-socket", "none"],
                              log: d + "/first.log")
        try first.waitFor("eBPF programs attached", timeout: 60)
        let second = try Self.run("lanner-sensor", ["--offline", "-w", d + "/second.lcap", "--state-dir", d,
                                                    "--bpf-object", object, "--container-socket", "none"])
        #expect(second.status == 1, "\(second.stderr)")
        #expect(second.stderr == "lanner-sensor: another lanner-sensor (pid \(first.process.processIdentifier)) uses the state directory "
                + "\(d) (locked: \(d)/lock); give each sensor its own --state-dir\n")
        #expect(!FileManager.default.fileExists(atPath: d + "/second.lcap"))
        #expect(first.stop() == 0, "\(first.log)")
        #expect(((try? FileManager.default.attributesOfItem(atPath: d + "/first.lcap"))?[.size] as? Int ?? 0) > 0)
    }

    @Test func serveRefusesToRunNoRules() throws {
        let d = Self.scratch
        let r = try Self.run("lanner-collector", ["serve", "--rules", d + "/disabled.yaml", "--db", d + "/x.db"], env: ["LANNER_TOKEN": "t"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no rules to run (1 loaded, none enabled and supported at or above the minimum priority)"), "\(r.stderr)")
    }

    /// The usual spelling of an IPv6 listen address works, and the collector stops on SIGINT even when its
    /// parent (a script's `cmd &`) left SIGINT ignored.
    @Test func servesOnBracketedIPv6AndStopsOnSIGINT() throws {
        let d = Self.scratch
        try "tok\n".write(toFile: d + "/token6", atomically: false, encoding: .utf8)
        chmod(d + "/token6", 0o600)
        let c = try Child(try E2E.binary("lanner-collector"), ["serve", "--listen", "[::1]:0", "--db", d + "/v6.db",
                                                               "--rules", E2E.repo.appendingPathComponent("rules").path,
                                                               "--token-file", d + "/token6"], log: d + "/v6.log")
        let log = try c.waitFor("listening on http://[::1]:", timeout: 20)
        #expect(!log.contains("warning"))
        #expect(c.stop(timeout: 10) == 0)
    }

    /// `replay` and `rules test` skip a damaged batch in the middle of a capture (one flipped bit: zstd's checksum
    /// fails) with one error line naming the file, the batch and its byte offset; they print the alerts of every
    /// other batch (here all four: the damaged batch has none of them) and exit 3, the summary saying why.
    @Test func replayAndRulesTestSkipADamagedBatch() throws {
        let (file, frames) = try Fixtures.eventgenWithDamagedBatch(2)
        let path = Self.scratch + "/damaged.lcap"
        try Data(file).write(to: URL(fileURLWithPath: path))
        let rules = E2E.repo.appendingPathComponent("rules").path
        let error = "lanner-collector: error: \(path): batch 2 at byte \(frames[2]): compressed records at byte 109: damaged zstd frame "
            + "(Restored data doesn't match checksum); skipped\n"
        let expected = ["Sensitive file opened for reading by untrusted program", "File written below a binary directory",
                        "Shell spawned by an unexpected parent", "Outbound connection by a program that has no business on the network"]

        let replay = try Self.run("lanner-collector", ["replay", "--rules", rules, "--no-resolve-names", path])
        #expect(replay.status == 3, "\(replay.stderr)")
        #expect(replay.stderr.hasPrefix(error), "\(replay.stderr)")
        #expect(replay.stderr.hasSuffix("lanner-collector: replayed 6 batches, 2364 events: 4 alerts; 1 damaged batch was skipped "
                                        + "(see the errors above): exit status 3\n"), "\(replay.stderr)")
        for rule in expected { #expect(replay.stdout.contains("  " + rule + "\n"), "\(rule):\n\(replay.stdout)") }

        let test = try Self.run("lanner-collector", ["rules", "test", "--no-resolve-names", rules, path])
        #expect(test.status == 3, "\(test.stderr)")
        #expect(test.stderr == error + "lanner-collector: 1 damaged batch was skipped (see the errors above): exit status 3\n")
        #expect(test.stdout.hasSuffix("\n2209 events, 4 alerts: " + expected.sorted().map { $0 + " ×1" }.joined(separator: ", ") + "\n"), "\(test.stdout)")
    }
}
