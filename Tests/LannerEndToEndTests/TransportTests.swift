import Foundation
import Glibc
import LannerStore
import Testing

/// The transport with real processes and real eBPF: a collector killed with SIGKILL mid-run, a sensor restarted
/// with batches on its disk spool, rules reloaded on SIGHUP. Every sensor sees every process on the host (other
/// test runs included), so each `lanner-eventgen` run uses its own copy of the binary, and an alert belongs to
/// a run when its exe (or parent exe) is that copy.
extension RealSystem {
@Suite(.serialized) struct TransportTests {
    static let rulesDir = E2E.repo.appendingPathComponent("rules").path
    static let expectedRules = PipelineTests.expectedRules

    /// A copy of lanner-eventgen at `<dir>/<tag>/lanner-eventgen` (the name the rules expect).
    static func eventgenCopy(_ dir: String, _ tag: String) throws -> String {
        let d = dir + "/" + tag
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let path = d + "/lanner-eventgen"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: try E2E.binary("lanner-eventgen"), toPath: path)
        return path
    }

    static func collector(_ dir: String, port: Int, rules: [String] = [rulesDir], log: String, extra: [String] = []) throws -> (Child, Int) {
        var args = ["serve", "--listen", "127.0.0.1:\(port)", "--db", dir + "/lanner.db", "--token-file", dir + "/token", "-v"] + extra
        for r in rules { args += ["--rules", r] }
        let c = try Child(try E2E.binary("lanner-collector"), args, log: log)
        let line = try c.waitFor("listening on", timeout: 30)
        let bound = try #require(line.firstRange(of: #/127\.0\.0\.1:(\d+) \(h2c\)/#).flatMap { Int(line[$0].split(separator: ":")[1].prefix { $0.isNumber }) })
        return (c, bound)
    }

    static func sensor(_ dir: String, port: Int, host: String, log: String, extra: [String] = []) throws -> Child {
        let s = try Child(try E2E.binary("lanner-sensor"), [
            "--collector", "http://127.0.0.1:\(port)", "--token-file", dir + "/token", "--state-dir", dir + "/sensor",
            "--hostname", host, "--flush-ms", "50", "-v",
        ] + extra, log: log)
        try s.waitFor("eBPF programs attached", timeout: 60)
        return s
    }

    /// For each run's copy: how many alerts of each expected rule name it (by exe or parent exe), folded repeats
    /// included, so that a batch stored twice shows even when aggregation folded the copy into the first row.
    static func counts(_ alerts: [StoredAlert], host: String, copies: [String]) -> [String: [String: Int]] {
        var out: [String: [String: Int]] = [:]
        for copy in copies {
            var per: [String: Int] = [:]
            for rule in expectedRules { per[rule] = 0 }
            for a in alerts where a.host == host && per[a.rule] != nil
                && (a.output.contains("exe=\(copy) ") || a.output.contains("parent_exe=\(copy) ")) {
                per[a.rule, default: 0] += a.count   // a repeat folded into a row (aggregation) still counts
            }
            out[copy] = per
        }
        return out
    }

    static func describe(_ c: [String: [String: Int]]) -> String {
        "alerts per run (each must be exactly 1):\n" + c.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
    }

    static func allOnce(_ c: [String: [String: Int]]) -> Bool { c.values.allSatisfy { $0.values.allSatisfy { $0 == 1 } } }
    static func anyTwice(_ c: [String: [String: Int]]) -> Bool { c.values.contains { $0.values.contains { $0 > 1 } } }

    static func runEventgen(_ path: String, _ args: [String] = ["all", "--pause-ms", "100"]) throws {
        let r = try runProgram(path, args)
        #expect(r.status == 0, "\(path) \(args): \(r.output)")
    }

    @Test(.enabled(if: E2E.canRunBPF, "needs root for eBPF (under CI=true this test always runs)"))
    func aCollectorKilledMidRunLosesAndDuplicatesNothing() throws {
        try #require(getuid() == 0, "eBPF needs root; CI must run the tests as root")
        let dir = try E2E.tempDir("crash")
        try UUID().uuidString.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        var (collector, port) = try Self.collector(dir, port: 0, log: dir + "/collector-1.log")
        let sensor = try Self.sensor(dir, port: port, host: "e2e-crash", log: dir + "/sensor.log")
        defer {
            sensor.stop()
            collector.stop()
        }
        Thread.sleep(forTimeInterval: 0.5)
        var copies: [String] = []

        // 1: everything up.
        copies.append(try Self.eventgenCopy(dir, "run-1"))
        try Self.runEventgen(copies[0])

        // 2: SIGKILL the collector in the middle of a run: after the first action, before the other three. The
        // process started before the kill; the restarted collector learns it from the sensor's resync snapshot.
        copies.append(try Self.eventgenCopy(dir, "run-2"))
        let mid = try Child(copies[1], ["all", "--pause-ms", "400"], log: dir + "/eventgen-2.log")
        try mid.waitFor("read-sensitive-file:", timeout: 30)
        kill(collector.process.processIdentifier, SIGKILL)
        collector.process.waitUntilExit()
        while mid.process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        #expect(mid.process.terminationStatus == 0, "\(mid.log)")

        // 3: a whole run while no collector listens: spooled by the sensor.
        copies.append(try Self.eventgenCopy(dir, "run-3"))
        try Self.runEventgen(copies[2])
        try sensor.waitFor("cannot reach collector", timeout: 10)

        // The same port and database again.
        (collector, _) = try Self.collector(dir, port: port, log: dir + "/collector-2.log")
        try sensor.waitFor("reconnected to http://127.0.0.1:\(port)", timeout: 30)

        // 4, 5: after the restart.
        for n in 4...5 {
            copies.append(try Self.eventgenCopy(dir, "run-\(n)"))
            try Self.runEventgen(copies[n - 1])
        }

        let db = dir + "/lanner.db"
        let alerts = try PipelineTests.waitForAlerts(db, timeout: 60) { Self.allOnce(Self.counts($0, host: "e2e-crash", copies: copies)) }
        Thread.sleep(forTimeInterval: 1)   // anything resent late would show up as a second copy now
        let final = try AlertStore(path: db, readOnly: true).query(AlertQuery(limit: 0))
        let c = Self.counts(final, host: "e2e-crash", copies: copies)
        let report = Self.describe(c) + "\nsensor log:\n\(sensor.log)\ncollector 2 log:\n\(collector.log)"
        #expect(Self.allOnce(c), "\(report)")
        #expect(!Self.anyTwice(c))
        _ = alerts
        #expect(sensor.log.contains("a fresh snapshot"), "the sensor resynchronised after the lost connection")

        // Both stop cleanly and the sensor had nothing left to lose.
        #expect(sensor.stop() == 0, "\(sensor.log)")
        let sensors = try runProgram(try E2E.binary("lanner-collector"), ["sensors", "--db", db])
        #expect(sensors.status == 0)
        #expect(sensors.output.contains("e2e-crash"), "\(sensors.output)")
        #expect(collector.stop() == 0)
    }

    @Test(.enabled(if: E2E.canRunBPF, "needs root for eBPF (under CI=true this test always runs)"))
    func theDiskSpoolSurvivesASensorRestart() throws {
        try #require(getuid() == 0)
        let dir = try E2E.tempDir("spool")
        try UUID().uuidString.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        // A free port, then nobody on it.
        var (probe, port) = try Self.collector(dir, port: 0, log: dir + "/probe.log")
        probe.stop()
        try? FileManager.default.removeItem(atPath: dir + "/lanner.db")

        // The collector is down: a small memory spool spills, and what is left at the stop is written to disk.
        var sensor = try Self.sensor(dir, port: port, host: "e2e-spool", log: dir + "/sensor-1.log",
                                     extra: ["--spool-mb", "1", "--no-compress"])
        try sensor.waitFor("cannot reach collector", timeout: 30)
        var copies = [try Self.eventgenCopy(dir, "run-1"), try Self.eventgenCopy(dir, "run-2")]
        try Self.runEventgen(copies[0])
        // More than the 1 MiB of memory: 12,000 opens (about 1.5 MB of records) make the spool spill to disk.
        let filler = dir + "/filler-with-a-longish-name-so-that-records-are-bigger"
        try "x".write(toFile: filler, atomically: true, encoding: .utf8)
        for _ in 0..<12_000 { let fd = open(filler, O_RDONLY); if fd >= 0 { close(fd) } }
        try Self.runEventgen(copies[1])
        Thread.sleep(forTimeInterval: 0.3)
        kill(sensor.process.processIdentifier, SIGINT)
        try sensor.waitFor("stopping: flushing", timeout: 10)
        kill(sensor.process.processIdentifier, SIGINT)   // do not wait for a collector that is not there
        sensor.process.waitUntilExit()
        #expect(sensor.process.terminationStatus == 0, "nothing lost at exit:\n\(sensor.log)")
        #expect(sensor.log.contains("kept in \(dir)/sensor/spool"), "\(sensor.log)")
        let spilled = sensor.log.split(separator: "\n").last { $0.contains("spilled_to_disk=") }
            .flatMap { $0.split(separator: "spilled_to_disk=").last.flatMap { Int($0.prefix { $0.isNumber }) } } ?? 0
        #expect(spilled > 0, "memory filled and batches went to disk while the collector was down:\n\(sensor.log)")
        let spooled = ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/sensor/spool")) ?? []).filter { $0.hasSuffix(".lnrb") }
        #expect(!spooled.isEmpty)

        // Collector first, then the sensor again: the previous run's batches go first, then this run's.
        var collector: Child
        (collector, _) = try Self.collector(dir, port: port, log: dir + "/collector.log")
        sensor = try Self.sensor(dir, port: port, host: "e2e-spool", log: dir + "/sensor-2.log")
        defer {
            sensor.stop()
            collector.stop()
        }
        #expect(sensor.log.contains("resending \(spooled.count) batch(es)"), "\(sensor.log)")
        copies.append(try Self.eventgenCopy(dir, "run-3"))
        try Self.runEventgen(copies[2])

        let db = dir + "/lanner.db"
        _ = try PipelineTests.waitForAlerts(db, timeout: 60) { Self.allOnce(Self.counts($0, host: "e2e-spool", copies: copies)) }
        Thread.sleep(forTimeInterval: 1)
        let final = try AlertStore(path: db, readOnly: true).query(AlertQuery(limit: 0))
        let c = Self.counts(final, host: "e2e-spool", copies: copies)
        let report = Self.describe(c) + "\nsensor log:\n\(sensor.log)\ncollector log:\n\(collector.log)"
        #expect(Self.allOnce(c), "\(report)")
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/sensor/spool")) ?? []).filter { $0.hasSuffix(".lnrb") }
        #expect(left.isEmpty, "spool files left after everything was acknowledged: \(left)")
        #expect(sensor.stop() == 0)
        #expect(collector.stop() == 0)
    }

    /// Rules on the test's marker directory: made (mkdir, mkdirat) and a file in it removed (unlink, unlinkat). None
    /// of these types was in the set a sensor captured before a collector's first answer, nor in an `--offline` capture.
    static func markerRules(_ dir: String, marker: String) throws -> String {
        let path = dir + "/marker-rules.yaml"
        try """
            - rule: E2E marker directory made
              desc: the test makes its marker directory
              condition: evt.type in (mkdir, mkdirat) and evt.arg.path contains "\(marker)"
              output: made %evt.arg.path by %proc.name
              priority: NOTICE
            - rule: E2E marker file removed
              desc: the test removes a file in its marker directory
              condition: evt.type in (unlink, unlinkat) and (evt.arg.path contains "\(marker)" or evt.arg.name contains "\(marker)")
              output: removed %evt.args by %proc.name
              priority: NOTICE
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// mkdir, a file made and unlinked in it, rmdir: real syscalls of this process.
    static func touchMarker(_ path: String) {
        #expect(mkdir(path, 0o755) == 0, "mkdir \(path): \(errno)")
        let fd = open(path + "/f", O_WRONLY | O_CREAT, 0o600)
        #expect(fd >= 0)
        close(fd)
        #expect(unlink(path + "/f") == 0)
        #expect(rmdir(path) == 0)
    }

    static let defaultSetLine = "event types (every kernel event type but read, write, pread64, pwrite64, readv, writev: no collector interest kept)"

    /// Fixed bug (silent loss): `--offline -w` captured only execs, clones, exits, opens and connect (the set a sensor
    /// used before a collector's first answer), so a replay through rules on mkdir or unlink found nothing. It captures
    /// every kernel event type but the read/write family now.
    @Test(.enabled(if: E2E.canRunBPF, "needs root for eBPF (under CI=true this test always runs)"))
    func anOfflineCaptureHoldsMoreThanTheOldDefaultAndReplaysIntoAlerts() throws {
        try #require(getuid() == 0)
        let dir = try E2E.tempDir("offline-set")
        let marker = dir + "/lanner-e2e-victim-\(getpid())"
        let rules = try Self.markerRules(dir, marker: marker)
        let capture = dir + "/capture.lcap"
        let sensor = try Child(try E2E.binary("lanner-sensor"), [
            "--offline", "-w", capture, "--state-dir", dir + "/sensor", "--hostname", "e2e-offline-set", "--flush-ms", "50",
            "--container-socket", "none", "-v",
        ], log: dir + "/sensor.log")
        defer { sensor.stop() }
        let started = try sensor.waitFor("eBPF programs attached", timeout: 60)
        #expect(started.contains(Self.defaultSetLine), "\(started)")
        Self.touchMarker(marker)
        Thread.sleep(forTimeInterval: 0.3)
        #expect(sensor.stop() == 0, "\(sensor.log)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/sensor/interest"), "offline keeps no interest")

        let replay = try runProgram(try E2E.binary("lanner-collector"), ["replay", "--rules", rules, capture])
        #expect(replay.status == 0, "\(replay.output)")
        #expect(replay.output.contains("E2E marker directory made\n    made \(marker) by "), "\(replay.output)")
        #expect(replay.output.contains("E2E marker file removed\n    removed "), "\(replay.output)")
        #expect(replay.output.contains("name=\(marker)/f ") || replay.output.contains("path=\(marker)/f "), "\(replay.output)")
        #expect(replay.output.contains(": 2 alerts"), "\(replay.output)")
    }

    /// Fixed bug (silent loss): a sensor (re)started while the collector was down captured the old fixed set until the
    /// collector came back, and what else happened meanwhile was lost without a count. The collector's interest is kept
    /// in the state directory and applied at the next start; the events of that gap arrive and raise their alerts.
    @Test(.enabled(if: E2E.canRunBPF, "needs root for eBPF (under CI=true this test always runs)"))
    func aSensorRestartedWhileTheCollectorIsDownCapturesWhatTheRulesNeed() throws {
        try #require(getuid() == 0)
        let dir = try E2E.tempDir("kept-interest")
        try UUID().uuidString.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let marker = dir + "/lanner-e2e-victim-\(getpid())"
        let rules = try Self.markerRules(dir, marker: marker)
        var (collector, port) = try Self.collector(dir, port: 0, rules: [rules], log: dir + "/collector-1.log")
        var sensor = try Self.sensor(dir, port: port, host: "e2e-kept", log: dir + "/sensor-1.log", extra: ["--container-socket", "none"])
        defer {
            sensor.stop()
            collector.stop()
        }
        #expect(sensor.log.contains(Self.defaultSetLine), "first start: nothing kept yet\n\(sensor.log)")
        let applied = try sensor.waitFor("collector's interest v", timeout: 30)
        let line = try #require(applied.split(separator: "\n").first { $0.contains("collector's interest v") })
        let version = try #require(line.firstMatch(of: #/interest v(\d+) /#).map { String($0.1) })
        #expect(line.contains("(was 7"), "\(line)")
        #expect(line.contains("mkdir") && line.contains("unlinkat") && !line.contains("openat"), "\(line)")
        let kept = try String(contentsOfFile: dir + "/sensor/interest", encoding: .utf8)
        #expect(kept.hasPrefix("{\"interest\":{\"version\":\(version),\"events\":[1,2,3,4,5,6,7,33,34,35,36]"), "\(kept)")
        #expect(sensor.stop() == 0, "\(sensor.log)")
        #expect(collector.stop() == 0)

        // The collector is down: the sensor starts with the kept interest and spools what happens.
        sensor = try Self.sensor(dir, port: port, host: "e2e-kept", log: dir + "/sensor-2.log", extra: ["--container-socket", "none"])
        #expect(sensor.log.contains("capturing 11 event types (the collector's interest v\(version) kept in \(dir)/sensor/interest)"),
                "\(sensor.log)")
        try sensor.waitFor("cannot reach collector", timeout: 30)
        Self.touchMarker(marker)

        (collector, _) = try Self.collector(dir, port: port, rules: [rules], log: dir + "/collector-2.log")
        let db = dir + "/lanner.db"
        let alerts = try PipelineTests.waitForAlerts(db) { all in
            Set(all.filter { $0.host == "e2e-kept" }.map(\.rule)) == ["E2E marker directory made", "E2E marker file removed"]
        }.filter { $0.host == "e2e-kept" }
        #expect(alerts.map(\.rule).sorted() == ["E2E marker directory made", "E2E marker file removed"], "\(sensor.log)\n\(collector.log)")
        #expect(alerts.first { $0.rule == "E2E marker directory made" }?.output.hasPrefix("made \(marker) by ") == true, "\(alerts.map(\.output))")
        try sensor.waitFor("collector's interest v\(version) is the one kept from the last run: nothing to change", timeout: 30)
        #expect(!sensor.log.contains("(was "), "the kept set is not applied again:\n\(sensor.log)")
        #expect(sensor.stop() == 0, "\(sensor.log)")
        #expect(collector.stop() == 0)
    }

    /// The sensor's read failures for one host, from `lanner-collector sensors --json` (nil while it has no row).
    static func readFailures(_ db: String, host: String) throws -> Int? {
        let r = try runProgram(try E2E.binary("lanner-collector"), ["sensors", "--db", db, "--json"])
        guard r.status == 0 else { return nil }
        for line in r.output.split(separator: "\n") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], o["hostname"] as? String == host
            else { continue }
            return (o["read_failures"] as? NSNumber)?.intValue
        }
        return nil
    }

    /// A kernel read that fails (here the path of an open whose pointer is bad: EFAULT) used to show only in the
    /// sensor's -v log; the batch header carries the count now (wire 1.3) and the collector keeps it per sensor.
    @Test(.enabled(if: E2E.canRunBPF, "needs root for eBPF (under CI=true this test always runs)"))
    func readFailuresReachTheCollector() throws {
        try #require(getuid() == 0)
        let dir = try E2E.tempDir("readfail")
        try UUID().uuidString.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let (collector, port) = try Self.collector(dir, port: 0, log: dir + "/collector.log")
        let sensor = try Self.sensor(dir, port: port, host: "e2e-readfail", log: dir + "/sensor.log")
        defer {
            sensor.stop()
            collector.stop()
        }
        try sensor.waitFor("collector's interest v", timeout: 30)
        let db = dir + "/lanner.db"
        var before: Int?
        let deadline = Date().addingTimeInterval(30)
        while before == nil && Date() < deadline {
            before = try Self.readFailures(db, host: "e2e-readfail")
            if before == nil { Thread.sleep(forTimeInterval: 0.2) }
        }
        let start = try #require(before, "the sensor's row never appeared:\n\(collector.log)")
        let bad = try #require(UnsafePointer<CChar>(bitPattern: 8))
        for _ in 0..<5 {
            #expect(open(bad, O_RDONLY) == -1 && errno == EFAULT)
        }
        var now = start
        while now < start + 5 && Date() < deadline.addingTimeInterval(30) {
            Thread.sleep(forTimeInterval: 0.2)
            now = try Self.readFailures(db, host: "e2e-readfail") ?? now
        }
        #expect(now >= start + 5, "read failures \(start) → \(now)\nsensor log:\n\(sensor.log)")
        #expect(sensor.stop() == 0)
        let last = sensor.log.split(separator: "\n").last { $0.contains("read_failures=") }
        let logged = last.flatMap { $0.split(separator: "read_failures=").last.flatMap { Int($0.prefix { $0.isNumber }) } } ?? 0
        #expect(logged >= now, "the collector counts what the sensor counted: \(logged) in its log, \(now) stored")
        #expect(collector.stop() == 0)
    }

    @Test(.enabled(if: E2E.canRunBPF, "needs root for eBPF (under CI=true this test always runs)"))
    func sighupReloadsRulesLiveAndTheSensorFollowsTheInterest() throws {
        try #require(getuid() == 0)
        let dir = try E2E.tempDir("reload")
        try UUID().uuidString.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let rules = dir + "/rules"
        try FileManager.default.createDirectory(atPath: rules, withIntermediateDirectories: true)
        let marker = dir + "/marker-\(getpid())"
        try "x".write(toFile: marker, atomically: true, encoding: .utf8)
        let copy = try Self.eventgenCopy(dir, "run")
        try """
            - rule: E2E marker read
              desc: the test reads its marker file
              condition: evt.type in (open, openat, openat2) and fd.name = \(marker)
              output: marker read by %proc.name exe=%proc.exepath parent=%proc.pname
              priority: NOTICE
            """.write(toFile: rules + "/base.yaml", atomically: true, encoding: .utf8)
        // Only SIGHUP reloads here: the files written below would also be seen by the watcher (the next test).
        let (collector, port) = try Self.collector(dir, port: 0, rules: [rules], log: dir + "/collector.log", extra: ["--no-watch-rules"])
        let sensor = try Self.sensor(dir, port: port, host: "e2e-reload", log: dir + "/sensor.log")
        defer {
            sensor.stop()
            collector.stop()
        }
        // The first acknowledgement narrows the kernel side to what the one rule needs: no connect.
        let first = try sensor.waitFor("collector's interest v", timeout: 30)
        let firstLine = try #require(first.split(separator: "\n").first { $0.contains("collector's interest v") })
        #expect(!firstLine.contains("connect"), "\(firstLine)")
        #expect(firstLine.contains("openat"))

        try """
            - rule: E2E connect
              desc: the test's eventgen copy connects
              condition: evt.type = connect and proc.exepath = \(copy)
              output: connect by %proc.name exe=%proc.exepath
              priority: NOTICE
            """.write(toFile: rules + "/connect.yaml", atomically: true, encoding: .utf8)
        kill(collector.process.processIdentifier, SIGHUP)
        let reloaded = try collector.waitFor("rules reloaded:", timeout: 30)
        #expect(reloaded.contains("rules reloaded: 1 → 2 rules running (added 'E2E connect'; removed none)"), "\(reloaded)")
        #expect(reloaded.contains("+connect"), "\(reloaded)")
        // Live: the sensor switches on its next acknowledgement, without a restart.
        let switched = try sensor.waitFor("(was v", timeout: 30)
        let applications = switched.split(separator: "\n").filter { $0.contains("collector's interest v") }
        #expect(applications.count == 2, "each set is applied once: \(applications)")
        #expect(applications.last?.contains("connect") == true, "\(switched)")

        // The test process was known before the reload (sensor snapshot); its state survived the swap.
        _ = FileManager.default.contents(atPath: marker)
        try Self.runEventgen(copy, ["connect-as-cat"])
        let db = dir + "/lanner.db"
        var alerts = try PipelineTests.waitForAlerts(db) { all in
            all.contains { $0.rule == "E2E marker read" } && all.contains { $0.rule == "E2E connect" }
        }
        let exe = try #require(try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        let read = alerts.filter { $0.rule == "E2E marker read" && $0.host == "e2e-reload" }
        #expect(read.count == 1)
        #expect(read.first?.output.contains("exe=\(exe) ") == true, "\(read.map(\.output))")
        #expect(read.first?.output.contains("parent=<NA>") == false, "\(read.map(\.output))")
        #expect(alerts.filter { $0.rule == "E2E connect" && $0.host == "e2e-reload" }.count == 1)

        // Neither rule reads the path as passed, so the kernel leaves it out; a rule that reads it brings it back live.
        #expect(applications.last?.contains("leaving out open.nameraw") == true, "\(applications)")
        let marker2 = dir + "/raw-marker-\(getpid())"
        try "y".write(toFile: marker2, atomically: true, encoding: .utf8)
        try """
            - rule: E2E raw path
              desc: the test reads its second marker through a ..
              condition: evt.type in (open, openat, openat2) and fd.name = \(marker2) and fd.nameraw contains '/../'
              output: raw read of %fd.name as %fd.nameraw
              priority: NOTICE
            """.write(toFile: rules + "/raw.yaml", atomically: true, encoding: .utf8)
        kill(collector.process.processIdentifier, SIGHUP)
        let reloadedRaw = try collector.waitFor("added 'E2E raw path'", timeout: 30)
        #expect(reloadedRaw.contains("+open.nameraw"), "\(reloadedRaw)")
        let third = try sensor.waitFor(lines: "collector's interest v", count: 3)
        #expect(third.last?.contains("leaving out") == false, "\(third)")
        let viaDotDot = dir + "/rules/../raw-marker-\(getpid())"
        _ = FileManager.default.contents(atPath: viaDotDot)
        alerts = try PipelineTests.waitForAlerts(db) { all in all.contains { $0.rule == "E2E raw path" } }
        let raw = alerts.filter { $0.rule == "E2E raw path" && $0.host == "e2e-reload" }
        #expect(raw.count == 1 && raw.first?.output.contains("raw read of \(marker2) as \(viaDotDot)") == true, "\(raw.map(\.output))")

        // A reload with an error keeps the running rules and says where the error is.
        try "- rule: Broken\n  condition: evt.type = open and\n  output: x\n  priority: NOTICE\n  desc: d\n"
            .write(toFile: rules + "/broken.yaml", atomically: true, encoding: .utf8)
        kill(collector.process.processIdentifier, SIGHUP)
        let failed = try collector.waitFor("reload failed", timeout: 30)
        #expect(failed.contains("broken.yaml:2:"), "the error is located:\n\(failed)")
        #expect(failed.contains("still running the previous rules"))
        _ = FileManager.default.contents(atPath: marker)
        // the second read may fold into the first row (same output within the aggregation window): count both ways
        func markerReads(_ all: [StoredAlert]) -> Int {
            all.filter { $0.rule == "E2E marker read" && $0.host == "e2e-reload" }.reduce(0) { $0 + $1.count }
        }
        alerts = try PipelineTests.waitForAlerts(db) { markerReads($0) >= 2 }
        #expect(markerReads(alerts) == 2)
        #expect(sensor.stop() == 0, "every batch acknowledged across the reloads:\n\(sensor.log)")
        #expect(collector.stop() == 0)
        #expect(!collector.log.contains("rule files changed"), "--no-watch-rules: SIGHUP only")
    }

    /// Without a SIGHUP: a rule file written into a watched directory is loaded on its own (the same reload as SIGHUP's,
    /// the new interest sent to the sensor), and its rule alerts; a broken file keeps the running rules.
    @Test(.enabled(if: E2E.canRunBPF, "needs root for eBPF (under CI=true this test always runs)"))
    func aRuleFileWrittenIntoAWatchedDirectoryIsLoadedWithoutSIGHUP() throws {
        try #require(getuid() == 0)
        let dir = try E2E.tempDir("watch")
        try UUID().uuidString.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let rules = dir + "/rules"
        try FileManager.default.createDirectory(atPath: rules, withIntermediateDirectories: true)
        let marker = dir + "/marker-\(getpid())", marker2 = dir + "/watched-marker-\(getpid())"
        for m in [marker, marker2] { try "x".write(toFile: m, atomically: true, encoding: .utf8) }
        try """
            - rule: E2E marker read
              desc: the test reads its marker file
              condition: evt.type in (open, openat, openat2) and fd.name = \(marker)
              output: marker read by %proc.name
              priority: NOTICE
            """.write(toFile: rules + "/base.yaml", atomically: true, encoding: .utf8)
        let (collector, port) = try Self.collector(dir, port: 0, rules: [rules], log: dir + "/collector.log")
        let sensor = try Self.sensor(dir, port: port, host: "e2e-watch", log: dir + "/sensor.log")
        defer {
            sensor.stop()
            collector.stop()
        }
        #expect(collector.log.contains("watching \(rules) for changes (every 2 s;"), "\(collector.log)")
        _ = try sensor.waitFor("collector's interest v", timeout: 30)

        // A new file, no signal: the watcher sees it within 2 s, waits for it to rest 0.5 s, and reloads.
        let written = Date()
        try """
            - rule: E2E watched marker read
              desc: the test reads its second marker file
              condition: evt.type in (open, openat, openat2) and fd.name = \(marker2)
              output: watched marker read by %proc.name as %fd.nameraw
              priority: NOTICE
            """.write(toFile: rules + "/watched.yaml", atomically: true, encoding: .utf8)
        let reloaded = try collector.waitFor("rules reloaded:", timeout: 30)
        let took = Date().timeIntervalSince(written)
        #expect(reloaded.contains("rule files changed (\(rules)/watched.yaml added): reloading rules from \(rules)\n"), "\(reloaded)")
        #expect(reloaded.contains("rules reloaded: 1 → 2 rules running (added 'E2E watched marker read'; removed none)"), "\(reloaded)")
        #expect(reloaded.contains("+open.nameraw"), "the new rule reads fd.nameraw: the interest sent to sensors changed\n\(reloaded)")
        #expect(took < 6, "reloaded \(took) s after the write")
        _ = try sensor.waitFor(lines: "collector's interest v", count: 2)
        let viaDotDot = rules + "/../watched-marker-\(getpid())"
        _ = FileManager.default.contents(atPath: viaDotDot)
        let alerts = try PipelineTests.waitForAlerts(dir + "/lanner.db") { all in all.contains { $0.rule == "E2E watched marker read" } }
        let watched = alerts.filter { $0.rule == "E2E watched marker read" && $0.host == "e2e-watch" }
        #expect(watched.count == 1 && watched.first?.output.contains(" as \(viaDotDot)") == true, "\(watched.map(\.output))")

        // A broken file: the reload fails, located, and the running rules stay (both still alert).
        try "- rule: Broken\n  condition: evt.type = open and\n  output: x\n  priority: NOTICE\n  desc: d\n"
            .write(toFile: rules + "/broken.yaml", atomically: true, encoding: .utf8)
        let failed = try collector.waitFor("reload failed", timeout: 30)
        #expect(failed.contains("rule files changed (\(rules)/broken.yaml added): reloading rules from"), "\(failed)")
        #expect(failed.contains("broken.yaml:2:"), "the error is located:\n\(failed)")
        #expect(failed.contains("still running the previous rules"))
        _ = FileManager.default.contents(atPath: marker)
        let after = try PipelineTests.waitForAlerts(dir + "/lanner.db") { all in all.contains { $0.rule == "E2E marker read" && $0.host == "e2e-watch" } }
        #expect(after.contains { $0.rule == "E2E marker read" && $0.host == "e2e-watch" })
        // Nothing else changes: no reload follows (one looks every 2 s).
        Thread.sleep(forTimeInterval: 3)
        #expect(collector.log.components(separatedBy: "reloading rules from").count - 1 == 2, "\(collector.log)")
        #expect(sensor.stop() == 0)
        #expect(collector.stop() == 0)
    }
}
}
