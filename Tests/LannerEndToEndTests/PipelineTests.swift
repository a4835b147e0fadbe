import Foundation
import Glibc
import LannerStore
import Testing

/// The whole path on this machine: real syscalls → eBPF sensor → HTTP/2 → collector → rules → SQLite →
/// the alerts CLI. Processes are real; the tests in this suite run one at a time, since every sensor sees
/// every process on the host.
extension RealSystem {
@Suite(.serialized) struct PipelineTests {
    struct Running {
        let dir: String
        let collector: Child
        let sensor: Child
        let port: Int
        var db: String { dir + "/lanner.db" }
    }

    /// Starts a collector on an ephemeral port with the default rules, and a sensor pointed at it.
    static func start(_ tag: String) throws -> Running {
        let dir = try E2E.tempDir(tag)
        let token = UUID().uuidString
        try token.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let collector = try Child(try E2E.binary("lanner-collector"), [
            "serve", "--listen", "127.0.0.1:0", "--db", dir + "/lanner.db",
            "--rules", E2E.repo.appendingPathComponent("rules").path, "--token-file", dir + "/token", "-v",
        ], log: dir + "/collector.log")
        let line = try collector.waitFor("listening on", timeout: 30)
        let port = try #require(line.firstRange(of: #/127\.0\.0\.1:(\d+)/#).flatMap { Int(line[$0].split(separator: ":")[1]) })
        let sensor = try Child(try E2E.binary("lanner-sensor"), [
            "--collector", "http://127.0.0.1:\(port)", "--token-file", dir + "/token", "--state-dir", dir + "/sensor",
            "--hostname", "e2e-\(tag)", "--flush-ms", "50", "-w", dir + "/capture.lcap", "-v",
        ], log: dir + "/sensor.log")
        try sensor.waitFor("eBPF programs attached", timeout: 60)
        return Running(dir: dir, collector: collector, sensor: sensor, port: port)
    }

    /// Polls the SQLite file (read-only, while the collector writes it) until `done` holds.
    static func waitForAlerts(_ db: String, timeout: TimeInterval = 45, _ done: ([StoredAlert]) -> Bool) throws -> [StoredAlert] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [StoredAlert] = []
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: db), let store = try? AlertStore(path: db, readOnly: true) {
                last = (try? store.query(AlertQuery(limit: 0))) ?? []
                if done(last) { return last }
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return last
    }

    static func fields(_ a: StoredAlert) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(a.fieldsJSON.utf8))) as? [String: Any] ?? [:]
    }

    static let expectedRules = [
        "Sensitive file opened for reading by untrusted program",
        "File written below a binary directory",
        "Shell spawned by an unexpected parent",
        "Outbound connection by a program that has no business on the network",
    ]

    @Test(.enabled(if: E2E.canRunBPF, "needs root for eBPF (under CI=true this test always runs)"))
    func eventgenRaisesTheFourAlertsAndABenignControlNone() throws {
        try #require(getuid() == 0, "eBPF needs root; CI must run the tests as root")
        let run = try Self.start("four")
        defer {
            run.sensor.stop()
            run.collector.stop()
        }
        Thread.sleep(forTimeInterval: 0.5)

        let eventgen = try runProgram(try E2E.binary("lanner-eventgen"), ["all", "--pause-ms", "50"])
        #expect(eventgen.status == 0, "lanner-eventgen failed:\n\(eventgen.output)")
        let control = try runProgram("/bin/cat", ["/etc/hostname"])
        #expect(control.status == 0)

        let mine = { (a: StoredAlert) in a.host == "e2e-four" }
        let alerts = try Self.waitForAlerts(run.db) { all in
            Set(all.filter(mine).map(\.rule)).isSuperset(of: Self.expectedRules)
        }.filter(mine)
        #expect(Set(alerts.map(\.rule)).isSuperset(of: Self.expectedRules),
                "got \(alerts.map(\.rule)); collector log:\n\(run.collector.log)\nsensor log:\n\(run.sensor.log)")

        func one(_ rule: String, where pred: ([String: Any]) -> Bool) -> [String: Any]? {
            let matching = alerts.filter { $0.rule == rule && pred(Self.fields($0)) }
            #expect(matching.count == 1, "\(rule): \(matching.count) matching alerts: \(alerts.filter { $0.rule == rule }.map(\.output))")
            return matching.first.map(Self.fields)
        }
        let read = one(Self.expectedRules[0]) { $0["fd.name"] as? String == "/etc/shadow" && $0["proc.name"] as? String == "lanner-eventgen" }
        #expect(read?["user.name"] as? String == "root")
        let write = one(Self.expectedRules[1]) { ($0["fd.name"] as? String ?? "").contains("/bin/.lanner-eventgen-") }
        #expect(write?["proc.name"] as? String == "lanner-eventgen")
        #expect((write?["fd.name"] as? String)?.hasPrefix("/") == true, "paths are absolute and canonical")
        let shell = one(Self.expectedRules[2]) { $0["proc.pname"] as? String == "lanner-httpd" }
        #expect(shell?["proc.name"] as? String == "sh")
        #expect(shell?["proc.cmdline"] as? String == "sh -c true")
        let connect = one(Self.expectedRules[3]) { ($0["proc.cmdline"] as? String ?? "").hasPrefix("cat __connect") }
        #expect(connect?["proc.name"] as? String == "cat")
        #expect((connect?["fd.name"] as? String)?.contains("->127.0.0.1:") == true)

        // The benign control raised nothing.
        #expect(!alerts.contains { $0.output.contains("/etc/hostname") })

        // The CLI reads the same file while the server runs.
        let cli = try runProgram(try E2E.binary("lanner-collector"), ["alerts", "--db", run.db, "--json", "--host", "e2e-four", "--limit", "0"])
        #expect(cli.status == 0)
        for rule in Self.expectedRules { #expect(cli.output.contains("\"rule\":\"\(rule)\"")) }
        let table = try runProgram(try E2E.binary("lanner-collector"), ["alerts", "list", "--db", run.db, "--priority", "error"])
        #expect(table.output.contains("File written below a binary directory"))
        #expect(!table.output.contains("Outbound connection"), "--priority error leaves out Notice alerts")

        // Both stop cleanly on SIGINT, and the sensor reports what it did.
        #expect(run.sensor.stop() == 0)
        #expect(run.sensor.log.contains("captured="))
        #expect(run.sensor.log.contains("dropped=0"))

        // Every batch was acknowledged (exit 0), so the store holds all of this sensor's alerts; replaying the
        // capture it wrote next to shipping gives exactly the same ones.
        let stored = try AlertStore(path: run.db, readOnly: true).query(AlertQuery(host: "e2e-four", limit: 0))
        let replay = try runProgram(try E2E.binary("lanner-collector"), [
            "replay", "--rules", E2E.repo.appendingPathComponent("rules").path, "--json", run.dir + "/capture.lcap"])
        #expect(replay.status == 0, "\(replay.output)")
        func key(_ rule: String, _ time: String, _ output: String) -> String { rule + "|" + time + "|" + output }
        let replayed = replay.output.split(separator: "\n").compactMap { line -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let rule = o["rule"] as? String, let time = o["time"] as? String, let output = o["output"] as? String else { return nil }
            return key(rule, time, output)
        }
        let live = stored.map { a in
            let t = StoredAlert.rfc3339(nanoseconds: a.timeNs)
            return key(a.rule, t, String(t.dropLast()) + "+0000: " + a.priority.name + " " + a.output)
        }
        #expect(replayed.count >= Self.expectedRules.count)
        #expect(replayed.sorted() == live.sorted(), "replay differs from the live run:\n\(replay.output)")
        #expect(run.collector.stop() == 0)
        #expect(run.collector.log.contains("stopped after"))
    }

    @Test(.enabled(if: E2E.canRunBPF, "needs root for eBPF (under CI=true this test always runs)"))
    func theSensorRecoversWhenTheCollectorStartsLate() throws {
        try #require(getuid() == 0)
        let dir = try E2E.tempDir("late")
        try "tok".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        // A port nobody listens on yet.
        let port = 20000 + Int(getpid() % 20000)
        let sensor = try Child(try E2E.binary("lanner-sensor"), [
            "--collector", "http://127.0.0.1:\(port)", "--token-file", dir + "/token", "--state-dir", dir + "/sensor",
            "--hostname", "e2e-late", "--flush-ms", "50",
        ], log: dir + "/sensor.log")
        defer { sensor.stop() }
        try sensor.waitFor("cannot reach collector", timeout: 60)
        _ = try runProgram(try E2E.binary("lanner-eventgen"), ["read-sensitive-file"])
        let collector = try Child(try E2E.binary("lanner-collector"), [
            "serve", "--listen", "127.0.0.1:\(port)", "--db", dir + "/lanner.db",
            "--rules", E2E.repo.appendingPathComponent("rules").path, "--token-file", dir + "/token",
        ], log: dir + "/collector.log")
        defer { collector.stop() }
        try collector.waitFor("listening on")
        let alerts = try Self.waitForAlerts(dir + "/lanner.db") { all in
            all.contains { $0.host == "e2e-late" && $0.rule == Self.expectedRules[0] }
        }
        #expect(alerts.contains { $0.host == "e2e-late" && $0.rule == Self.expectedRules[0] },
                "spooled batches reached the collector once it started:\n\(sensor.log)")
        try sensor.waitFor("reconnected", timeout: 5)
    }
}
}
