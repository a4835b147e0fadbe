import Foundation
import Glibc
import Testing
import LannerCollectorService
import LannerCore
import LannerHTTP2
import LannerRules
import LannerStore
import LannerTestSupport
import LannerWire
@testable import LannerEnrich

/// Adversarial batches that decode (so they reach `Analyzer.process`), and the collector over real sockets.
///
/// Inputs that crash or hang the analyzer are sent to a real `lanner-collector serve` child process, so the
/// test run survives and can report what happened (exit by signal, no answer within the deadline).
@Suite(.serialized) struct AdversarialIngestTests {
    // MARK: - Helpers

    static let rulesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("rules").path

    static func analyzer(_ rules: [CompiledRule]? = nil) throws -> Analyzer {
        Analyzer(rules: try rules ?? AnalyzerTests.rules(), matching: .all)
    }

    static func process(_ a: Analyzer, _ records: [[UInt8]], seq: UInt64 = 1) throws -> [Alert] {
        let body = Rec.batch(records, seq: seq)
        return a.process(try BatchDecoder.decode(body))
    }

    static func compile(_ yaml: String) -> [CompiledRule] {
        var cfg = RuleLoader.Configuration()
        cfg.isSupported = { SyscallFields.isSupported($0) }
        let r = RuleLoader.load([RuleFile(name: "adversarial.yaml", text: yaml)], config: cfg)
        #expect(!r.report.hasErrors, "\(r.report.rendered())")
        return r.activeRules
    }

    /// An execve/procinfo record with raw byte fields (Rec.exec only takes Strings).
    static func rawExec(_ type: EventType = .execve, pid: UInt32, ppid: UInt32, comm: [UInt8], exe: [UInt8], args: [UInt8],
                        ts: UInt64 = 1000) -> [UInt8] {
        let e = ExecveEvent(type: type, pid: pid, tid: pid, ts: ts, res: 0, ppid: ppid, uid: 0, gid: 0, euid: 0,
                            loginuid: .max, vpid: pid, sid: pid, pgid: pid, tty: 0, capEffective: 0, capPermitted: 0,
                            startNs: ts, exeFlags: 0, comm: ArraySlice(comm), exe: ArraySlice(exe), filename: ArraySlice(exe),
                            args: ArraySlice(args), cwd: ArraySlice("/".utf8), cgroup: ArraySlice("/user.slice".utf8))
        var w = ByteWriter()
        try! e.encode(into: &w)
        return w.bytes
    }

    static func isValidJSON(_ s: String) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(s.utf8))) != nil
    }

    /// Runs `body` on a thread with an 8 MiB stack (like the collector's ingest thread) and waits at most
    /// `seconds`; returns false when it did not finish (the thread is left running).
    static func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        let t = Thread { body(); done.signal() }
        t.stackSize = 8 << 20
        t.start()
        return done.wait(timeout: .now() + seconds) == .success
    }

    // MARK: - Hardening (expected to pass)

    @Test func selfParentAndParentCyclesTerminateInAncestorWalks() throws {
        let rules = Self.compile("""
            - rule: ancestors
              desc: walks every ancestor
              condition: >
                evt.type = openat and (proc.aname = never or proc.aname[2] = never or proc.apid[5] = 999999
                or proc.pname = never or proc.acmdline contains never)
              output: "a=%proc.aname[3] p=%proc.pname pp=%proc.aname[2] cmd=%proc.pcmdline"
              priority: WARNING
            - rule: every open
              desc: fires so that output rendering runs on the cycle
              condition: evt.type = openat and fd.name = /cycle
              output: "a1=%proc.aname[1] a2=%proc.aname[2] a9=%proc.aname[9] apid=%proc.apid[4] p=%proc.pname"
              priority: WARNING
            """)
        nonisolated(unsafe) let a = try Self.analyzer(rules)
        nonisolated(unsafe) var alerts: [Alert] = []
        let ok = Self.finishes(within: 10) {
            alerts = (try? Self.process(a, [
                Rec.exec(.procinfo, pid: 10, ppid: 10, comm: "self", exe: "/self", args: ["self"]),      // its own parent
                Rec.exec(.procinfo, pid: 20, ppid: 21, comm: "a", exe: "/a", args: ["a"]),              // 2-cycle
                Rec.exec(.procinfo, pid: 21, ppid: 20, comm: "b", exe: "/b", args: ["b"]),
                Rec.exec(.procinfo, pid: 30, ppid: 31, comm: "x", exe: "/x", args: ["x"]),              // 3-cycle
                Rec.exec(.procinfo, pid: 31, ppid: 32, comm: "y", exe: "/y", args: ["y"]),
                Rec.exec(.procinfo, pid: 32, ppid: 30, comm: "z", exe: "/z", args: ["z"]),
                Rec.open(pid: 10, name: "/cycle"), Rec.open(pid: 20, name: "/cycle"), Rec.open(pid: 31, name: "/cycle"),
                Rec.clone(parent: 20, child: 21),   // a clone onto an existing pid of the cycle
                Rec.exit(pid: 20), Rec.exit(pid: 21), Rec.exit(pid: 10), Rec.exit(pid: 30), Rec.exit(pid: 31), Rec.exit(pid: 32),
                Rec.open(pid: 20, name: "/cycle"),
            ])) ?? []
        }
        #expect(ok, "ancestor walks over a parent cycle did not finish within 10 s")
        #expect(alerts.filter { $0.rule == "every open" }.count == 4)
    }

    @Test func oddBytesInRecordsGiveValidAlertTextAndJSON() throws {
        // comm with invalid UTF-8, a NUL, a quote, a backslash and a newline; argv without a final NUL.
        let comm: [UInt8] = [0x70, 0xff, 0x00, 0x22, 0x5c, 0x0a, 0x79]
        let a = try Self.analyzer()
        let alerts = try Self.process(a, AnalyzerTests.family + [
            Rec.clone(parent: 60, child: 70),
            Self.rawExec(pid: 70, ppid: 60, comm: comm, exe: [0x2f, 0xc3, 0x28], args: Array("py\0-c\0\u{7f}x".utf8) + [0xfe]),
            Rec.open(pid: 70, name: "/etc/shadow"),
        ])
        #expect(alerts.count == 1)
        for al in alerts {
            #expect(Self.isValidJSON(al.fieldsJSON), "output_fields is not valid JSON: \(al.fieldsJSON)")
        }
        // Stored and read back as Falco-shaped JSON lines.
        let path = NSTemporaryDirectory() + "adv-json-\(UUID().uuidString).db"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try AlertStore(path: path)
        _ = try store.commit(sensorID: "s", sequence: 1, events: 1, alerts: alerts.map {
            NewAlert(timeNs: Int64(bitPattern: $0.timeNs), host: $0.hostname, sensorID: $0.sensorID, rule: $0.rule,
                     priority: $0.priority, source: $0.source, output: $0.output, tags: $0.tags, fieldsJSON: $0.fieldsJSON,
                     containerID: $0.containerID)
        })
        for s in try store.query(AlertQuery()) { #expect(Self.isValidJSON(s.jsonObject()), "stored alert JSON invalid: \(s.jsonObject())") }
    }

    @Test func unknownRecordTypesAreSkippedAndLaterRecordsStillEvaluated() throws {
        var unknown = Rec.open(pid: 70, name: "/etc/shadow")
        unknown[2] = 0xE7; unknown[3] = 0x03   // type 999: framed by len, not understood
        let a = try Self.analyzer()
        let body = Rec.batch(AnalyzerTests.family + [
            Rec.clone(parent: 60, child: 70),
            Rec.exec(pid: 70, ppid: 60, comm: "python3", exe: "/usr/bin/python3", args: ["python3"]),
            unknown,
            Rec.open(pid: 70, name: "/etc/shadow"),
        ])
        var b = try BatchDecoder.decode(body)
        #expect(b.records.count == 8)
        b.header.versionMinor = 3
        #expect(a.process(b).count == 1)
    }

    @Test func extremeTimesAndIdsDoNotTrap() throws {
        let a = try Self.analyzer()
        var enc = BatchEncoder()
        for r in AnalyzerTests.family + [
            Rec.clone(parent: 60, child: .max),
            Rec.exec(pid: .max, ppid: 60, comm: "python3", exe: "/usr/bin/python3", args: ["python3"], ts: .max),
            Rec.open(pid: .max, name: "/etc/shadow", ts: .max),
            Rec.open(pid: 0, name: "/etc/shadow", ts: 0),
        ] { try enc.append(record: r) }
        let body = try enc.finish(header: BatchHeader(sequence: .max, bootTimeUnixNs: .max, kernelDrops: .max, userDrops: .max,
                                                      sensorID: .zero, bootID: .zero, hostname: "", sensorVersion: ""))
        let alerts = a.process(try BatchDecoder.decode(body))
        #expect(alerts.count >= 1)
        for al in alerts { _ = StoredAlert.rfc3339(nanoseconds: Int64(bitPattern: al.timeNs)) }
    }

    @Test func aHundredThousandRecordBatchIsAnalysedInBoundedTime() throws {
        var recs = AnalyzerTests.family
        for i in 0..<100_000 {
            let pid = UInt32(1000 + i % 2000)
            switch i % 4 {
            case 0: recs.append(Rec.exec(pid: pid, ppid: 60, comm: "cat", exe: "/usr/bin/cat", args: ["cat", "/tmp/x\(i)"]))
            case 1: recs.append(Rec.open(pid: pid, name: "/tmp/x\(i)"))
            case 2: recs.append(Rec.connect(pid: pid, sport: 40000, dport: 443))
            default: recs.append(Rec.exit(pid: pid))
            }
        }
        let a = try Self.analyzer()
        let body = Rec.batch(recs)
        let t0 = Date()
        _ = a.process(try BatchDecoder.decode(body))
        let dt = Date().timeIntervalSince(t0)
        #expect(dt < 30, "100k records took \(dt) s")
    }

    @Test func mutatedBatchesThatStillDecodeAreAnalysedWithoutCrashing() throws {
        var seedRng = UInt64(0xfeed)
        func next() -> UInt64 { seedRng = seedRng &* 6364136223846793005 &+ 1442695040888963407; return seedRng >> 11 }
        let seed = Rec.batch(AnalyzerTests.family + [
            Rec.clone(parent: 50, child: 80), Rec.exec(pid: 80, ppid: 50, comm: "sh", exe: "/usr/bin/dash", args: ["sh", "-c", "id"]),
            Rec.open(pid: 80, name: "/etc/shadow"), Rec.connect(pid: 80, sport: 1, dport: 4444), Rec.exit(pid: 80),
        ])
        let a = try Self.analyzer()
        var decoded = 0
        for _ in 0..<5_000 {
            var b = seed
            // Only mutate the records (the header must stay valid for the batch to decode).
            for _ in 0..<(1 + Int(next() % 3)) {
                let at = 130 + Int(next() % UInt64(b.count - 130))
                b[at] = UInt8(truncatingIfNeeded: next())
            }
            if let batch = try? BatchDecoder.decode(b) {
                decoded += 1
                _ = a.process(batch)
            }
        }
        #expect(decoded > 100)
    }

    // MARK: - Found by adversarial testing, fixed

    /// Fixed bug (crash): a long chain of processes that each fork a child and exit — what a re-daemonising
    /// service or a `while :; do sh -c 'exec …' & exit; done` loop produces — is kept as dead entries (each
    /// still has a live child), and the last exit removes the whole chain *recursively*
    /// (`HostState.remove` → `detach` → `remove` …). 20 000 generations in one 1.4 MB batch overflow the
    /// ingest thread's 8 MiB stack: the collector dies with SIGSEGV, for every sensor.
    @Test func forkAndExitChainDoesNotCrashTheCollector() throws {
        var recs: [[UInt8]] = [Rec.exec(.procinfo, pid: 2, ppid: 1, comm: "d", exe: "/usr/sbin/d", args: ["d"])]
        let n = 60_000
        for i in 2...(n + 1) {
            recs.append(Rec.clone(parent: UInt32(i), child: UInt32(i + 1)))
            recs.append(Rec.exit(pid: UInt32(i)))
        }
        recs.append(Rec.exit(pid: UInt32(n + 2)))
        let c = try CollectorChild(rulesPath: Self.rulesDir)
        defer { c.stop() }
        let outcome = c.post(Rec.batch(recs, seq: 1), timeout: 60)
        #expect(outcome.status == 200, "collector answered \(outcome); \(c.exitDescription)\n\(c.log.suffix(400))")
        #expect(c.isAlive, "collector died: \(c.exitDescription)")
    }

    /// Fixed bug (hang / DoS): every group exit scans the whole thread table (`for (tid, tgid) in threads where
    /// tgid == pid`), so a batch of N thread clones and N/2 process exits costs O(N²). 20 000 thread clones +
    /// 10 000 exits (2.3 MB, far under the 16 MiB limit) keep the single ingest thread busy for ~20 s; a full
    /// 16 MiB batch takes tens of minutes, during which no sensor's batch is committed.
    @Test func threadTableScanIsNotQuadratic() throws {
        var recs: [[UInt8]] = []
        let n = 100_000
        for i in 0..<n { recs.append(Rec.clone(parent: 7, child: UInt32(100_000 + i), thread: true)) }
        for i in 0..<(n / 2) { recs.append(Rec.exec(.procinfo, pid: UInt32(1_000_000 + i), ppid: 1, comm: "x", exe: "/x", args: ["x"])) }
        for i in 0..<(n / 2) { recs.append(Rec.exit(pid: UInt32(1_000_000 + i))) }
        let c = try CollectorChild(rulesPath: Self.rulesDir)
        defer { c.stop() }
        let t0 = Date()
        let outcome = c.post(Rec.batch(recs, seq: 1), timeout: 5)
        #expect(outcome.status == 200, "no answer within 5 s (\(outcome), after \(Date().timeIntervalSince(t0)) s) for an 11 MB batch")
    }

    /// Fixed bug (DoS at the process cap): when a host's table holds `maxProcesses` (65 536) live processes —
    /// which a long-running busy host reaches once exits are lost (the kernel drops records under load and the
    /// collector never learns that those processes ended) — every new process runs `evict()`, which scans
    /// the whole dictionary twice (`first(where: !alive)`, then `first(where: placeholder)`). Each exec then
    /// costs ~25 ms: a 127 KB batch of 1 000 execs takes ~25 s of the single ingest thread.
    @Test func newProcessesStayCheapAtTheProcessCap() throws {
        let c = try CollectorChild(rulesPath: Self.rulesDir)
        defer { c.stop() }
        let full = (0..<65_536).map { Rec.exec(.procinfo, pid: UInt32(10 + $0), ppid: 1, comm: "p", exe: "/p", args: ["p"]) }
        let first = c.post(Rec.batch(full, seq: 1), timeout: 60)
        #expect(first.status == 200, "\(first)")
        let more = (0..<10_000).map { Rec.exec(pid: UInt32(1_000_000 + $0), ppid: 1, comm: "q", exe: "/q", args: ["q"]) }
        let t0 = Date()
        let second = c.post(Rec.batch(more, seq: 2), timeout: 5)
        #expect(second.status == 200, "10 000 execs at the cap: no answer within 5 s (\(second), \(Date().timeIntervalSince(t0)) s)")
    }

    /// Fixed bug (unbounded memory): `HostState.threads` has no bound (unlike `processes`, capped by
    /// `maxProcesses`), and entries leave only on a thread exit. A sensor sending thread clones grows the
    /// collector's memory without limit.
    @Test func threadTableIsBounded() throws {
        let a = try Self.analyzer()
        for seq in 1...4 {
            var recs: [[UInt8]] = []
            for i in 0..<50_000 { recs.append(Rec.clone(parent: 7, child: UInt32(seq * 1_000_000 + i), thread: true)) }
            _ = try Self.process(a, recs, seq: UInt64(seq))
        }
        let host = try #require(a.hosts.values.first)
        #expect(host.threads.count <= host.maxProcesses,
                "\(host.threads.count) thread entries kept (maxProcesses is \(host.maxProcesses))")
    }

    /// Fixed bug (unbounded memory): host state is keyed by sensor id + boot id and never released. proto/README.md
    /// says "host state starts over when [the boot id] changes", but the previous boot's `HostState` (up to
    /// 65 536 processes) stays in `Analyzer.hosts` forever, so every reboot of every host leaks one; a sensor
    /// (or anyone with the token) that varies its ids grows the collector without bound.
    @Test func hostStateOfAPreviousBootIsReleased() throws {
        let a = try Self.analyzer()
        let sensor = ID128(bytes: [UInt8](repeating: 0x33, count: 16))
        for boot in 1...5 {
            var enc = BatchEncoder()
            for r in AnalyzerTests.family { try enc.append(record: r) }
            let body = try enc.finish(header: BatchHeader(sequence: UInt64(boot), bootTimeUnixNs: 1, sensorID: sensor,
                                                          bootID: ID128(bytes: [UInt8](repeating: UInt8(boot), count: 16)),
                                                          hostname: "rebooting", sensorVersion: "t"))
            _ = a.process(try BatchDecoder.decode(body))
        }
        #expect(a.hosts.count == 1, "\(a.hosts.count) host states kept for one sensor after 4 reboots")
    }

    /// Fixed bug (hang): an indexed ancestor field walks `index` steps even when the parent chain is a cycle
    /// (which pid reuse produces naturally: a dead parent's pid is reused by a child of its own child). With
    /// `proc.aname[100000000]` one event on a 2-cycle takes ~50 s of the ingest thread. The walk should stop
    /// when it comes back to a process it has seen.
    @Test func indexedAncestorWalkOnACycleIsBounded() throws {
        let dir = NSTemporaryDirectory() + "adv-rules-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            - rule: deep ancestor
              desc: an ancestor far up
              condition: evt.type = openat and proc.aname[2000000000] = init
              output: "x=%proc.name"
              priority: WARNING
            """.write(toFile: dir + "/r.yaml", atomically: true, encoding: .utf8)
        let c = try CollectorChild(rulesPath: dir + "/r.yaml")
        defer { c.stop() }
        let outcome = c.post(Rec.batch([
            Rec.exec(.procinfo, pid: 20, ppid: 21, comm: "a", exe: "/a", args: ["a"]),
            Rec.exec(.procinfo, pid: 21, ppid: 20, comm: "b", exe: "/b", args: ["b"]),
            Rec.open(pid: 20, name: "/x"),
        ], seq: 1), timeout: 5)
        #expect(outcome.status == 200, "no answer within 5 s: \(outcome)")
    }
}

/// A real `lanner-collector serve` child process on an ephemeral port with a temporary database.
final class CollectorChild: @unchecked Sendable {
    let process = Process()
    let dir: String
    let logPath: String
    var port: UInt16 = 0
    let token = "adversarial-token"

    static var binDir: String {
        if let d = ProcessInfo.processInfo.environment["LANNER_BIN_DIR"] { return d }
        // The test bundle lives in the same build directory as the executables.
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }

    init(rulesPath: String) throws {
        dir = NSTemporaryDirectory() + "adv-collector-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try token.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        logPath = dir + "/log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let bin = Self.binDir + "/lanner-collector"
        try #require(FileManager.default.isExecutableFile(atPath: bin), "\(bin) missing: run swift build first")
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--db", dir + "/lanner.db", "--rules", rulesPath,
                             "--token-file", dir + "/token"]
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = env
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = h
        process.standardError = h
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let r = log.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = UInt16(log[r].split(separator: ":").last!)!
                return
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        Issue.record("collector did not start: \(log)")
        throw CancellationError()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var isAlive: Bool { process.isRunning }
    var exitDescription: String {
        if process.isRunning { return "running" }
        return process.terminationReason == .uncaughtSignal ? "killed by signal \(process.terminationStatus)"
            : "exited with status \(process.terminationStatus)"
    }
    var dbPath: String { dir + "/lanner.db" }

    /// POSTs a batch; the status, or -1 with the error.
    func post(_ body: [UInt8], timeout: Double, token: String? = nil) -> (status: Int, body: String) {
        do {
            let c = try H2Client(host: "127.0.0.1", port: port)
            defer { c.close() }
            let r = try c.request(method: "POST", path: "/v1/batches",
                                  headers: [("content-type", "application/x-lanner-batch"),
                                            ("authorization", "Bearer " + (token ?? self.token))],
                                  body: body, timeout: .milliseconds(Int(timeout * 1000)))
            return (r.status, String(decoding: r.body, as: UTF8.self))
        } catch {
            return (-1, "\(error)")
        }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
