import Foundation
import Glibc
import LannerCore
import LannerStore
import Testing

/// `lanner-collector alerts … / sensors` as a user runs them: the real binary, once on the database file and once
/// on a real `lanner-collector serve` over its HTTP/2 API. Both must print exactly the same thing.
@Suite(.serialized) struct QueryCommandTests {
    typealias Run = CommandLineErrorTests.Run

    final class Fixture: @unchecked Sendable {
        let dir: String
        let db: String
        let collector: Child
        let url: String

        init() throws {
            dir = try E2E.tempDir("query")
            db = dir + "/lanner.db"
            try "query-token\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
            chmod(dir + "/token", 0o600)
            try """
                # storage settings only; everything else from the command line
                aggregation:
                  window: 10s
                retention:
                  max_age: 0s
                  max_rows: 0
                """.write(toFile: dir + "/collector.yaml", atomically: true, encoding: .utf8)
            do {
                let w = try AlertStore(path: db)
                try w.bulkInsert(Self.alerts())
                var r = SensorRecord(sensorID: "4f1c0e2a9b7d4c3e8a6b5d4c3b2a1f0e", hostname: "web-1", sensorVersion: "0.1.0", bootID: "b",
                                     runEpoch: 1, nowNs: 1_700_000_000_000_000_000)
                r.events = 52_000
                r.batches = 260
                _ = try w.commit(sensorID: r.sensorID, sequence: 1, events: 0, alerts: [], sensor: r)
                w.close()
            }
            collector = try Child(try E2E.binary("lanner-collector"), [
                "serve", "--listen", "127.0.0.1:0", "--db", db, "--token-file", dir + "/token", "--config", dir + "/collector.yaml",
                "--rules", E2E.repo.appendingPathComponent("rules").path,
            ], log: dir + "/collector.log")
            let line = try collector.waitFor("listening on", timeout: 30)
            let port = try #require(line.firstRange(of: #/127\.0\.0\.1:(\d+) \(h2c\)/#).flatMap { Int(line[$0].split(separator: ":")[1].prefix { $0.isNumber }) })
            url = "http://127.0.0.1:\(port)"
        }

        static let base: Int64 = 1_796_083_200_000_000_000   // 2026-12-01T00:00:00Z

        static func alerts() -> [ImportedAlert] {
            let rules: [(String, Priority, [String])] = [
                ("Read sensitive file untrusted", .warning, ["filesystem", "mitre_credential_access"]),
                ("Write below etc", .error, ["filesystem", "mitre_persistence"]),
                ("Write below root", .error, ["filesystem", "mitre_persistence"]),
                ("Terminal shell in container", .notice, ["container", "shell"]),
                ("Drop and execute new binary in container", .critical, ["container", "mitre_persistence"]),
            ]
            var out: [ImportedAlert] = []
            for i in 0..<600 {
                let (rule, p, tags) = rules[i % rules.count]
                let inContainer = i % 3 != 0
                let file = ["/etc/shadow", "/etc/passwd", "/root/.bashrc"][i % 3]
                let proc = ["cat", "bash", "python3", "curl"][i % 4]
                let a = NewAlert(timeNs: base - Int64(600 - i) * 60_000_000_000, host: "web-\(i % 4 + 1)", sensorID: "sensor-\(i % 4)", rule: rule,
                                 priority: p, output: "\(rule) (file=\(file) process=\(proc) user=root)", tags: tags,
                                 fieldsJSON: "{\"fd.name\":\(JSON.quoted(file)),\"proc.name\":\(JSON.quoted(proc)),\"proc.pid\":\(1000 + i)}",
                                 containerID: inContainer ? ["0123456789ab", "a1b2c3d4e5f6"][i % 2] : nil,
                                 containerName: inContainer ? ["api", "worker"][i % 2] : nil)
                out.append(ImportedAlert(a, count: i % 10 == 0 ? 4 : 1, lastSeenNs: a.timeNs + 3_000_000_000))
            }
            return out
        }

        func cli(_ args: [String], remote: Bool, env: [String: String] = [:]) throws -> Run {
            let tail = remote ? ["--collector", url, "--token-file", dir + "/token"] : ["--db", db]
            return try CommandLineErrorTests.run("lanner-collector", args + tail, env: env)
        }

        deinit { collector.stop() }
    }

    static let sameOutput: [[String]] = [
        ["alerts"],
        ["alerts", "list", "--limit", "7"],
        ["alerts", "list", "--limit", "0", "--json"],
        ["alerts", "list", "--oldest-first", "--limit", "5", "--output-fields", "id,time,priority,rule,host,proc.name,fd.name,count"],
        ["alerts", "list", "--rule", "Write below*", "--priority", "error", "--limit", "20", "--json", "--output-fields", "id,rule,tags,proc.pid"],
        ["alerts", "list", "--host", "web-3", "--container", "api", "--limit", "9"],
        ["alerts", "list", "--container", "host", "--tag", "mitre_persistence"],
        ["alerts", "list", "--search", "etc/shadow python3", "--limit", "12"],
        ["alerts", "list", "--since", "2026-11-30T20:00:00Z", "--until", "2026-11-30T21:00:00Z", "--limit", "0"],
        ["alerts", "list", "--container", "0123456789abcdef0000", "--search", "pass*", "--limit", "3", "--json"],
        ["alerts", "show", "10"],
        ["alerts", "show", "599", "--json"],
        ["alerts", "stats"],
        ["alerts", "stats", "--by", "rule,host", "--top", "2", "--json"],
        ["alerts", "stats", "--since", "2026-11-30T21:17:30Z", "--priority", "error"],
        ["alerts", "stats", "--tag", "shell", "--by", "host"],
        ["sensors"],
        ["sensors", "list", "--json"],
    ]

    @Test func theDatabaseAndTheCollectorPrintTheSame() throws {
        let f = try Fixture()
        for args in Self.sameOutput {
            let local = try f.cli(args, remote: false), remote = try f.cli(args, remote: true)
            #expect(local.status == 0, "\(args): \(local.stderr)")
            #expect(remote.status == 0, "\(args): \(remote.stderr)")
            #expect(!local.stdout.isEmpty && local.stdout != "no alerts\n", "\(args) printed nothing worth comparing")
            #expect(remote.stdout == local.stdout, "\(args)")
            #expect(remote.stderr == local.stderr)
        }
        // A few exact looks at what people read.
        let show = try f.cli(["alerts", "show", "2"], remote: false).stdout
        #expect(show.hasPrefix("id:             2\nrule:           Write below etc\npriority:       Error\n"), "\(show)")
        #expect(show.contains("count:          1\n") && show.contains("  proc.name  bash\n"), "\(show)")
        let list = try f.cli(["alerts", "list", "--limit", "1"], remote: true).stdout
        #expect(list == "600  2026-11-30T23:59:00.000000000Z  Critical  web-4  Drop and execute new binary in container\n"
                + "         Drop and execute new binary in container (file=/root/.bashrc process=curl user=root)\n", "\(list)")
        let folded = try f.cli(["alerts", "list", "--limit", "1", "--rule", "Read sensitive file untrusted", "--oldest-first"], remote: false).stdout
        #expect(folded.contains("  Read sensitive file untrusted  (×4)\n"), "\(folded)")
    }

    @Test(arguments: [
        (["alerts", "list", "--priority", "loud"], 2, "lanner-collector: option '--priority': 'loud' is not a priority; use one of \(Priority.spellings)\n"),
        (["alerts", "list", "--since", "yesterday"], 2,
         "lanner-collector: option '--since': 'yesterday' is not a duration (15m), RFC 3339 time or Unix seconds between 1970 and 2262\n"),
        (["alerts", "list", "--since", "1h", "--until", "2h"], 2, "lanner-collector: option '--until': '2h' is not after --since 1h: the window is empty\n"),
        (["alerts", "list", "--output-fields", "id,tim"], 2,
         "lanner-collector: option '--output-fields': 'id,tim' names 'tim', which is neither an alert field (did you mean 'time'?) nor an output field like proc.name; alert fields: id, time, last_seen, count, priority, rule, host, sensor_id, source, container_id, container_name, tags, output, output_fields\n"),
        (["alerts", "list", "--search", "/"], 2,
         "lanner-collector: option '--search': '/' cannot be searched: search word '/' has no letter or digit to look for; outputs are searched by words (letters and digits), e.g. --search 'etc/shadow' or --search 'shad*'\n"),
        (["alerts", "show", "abc"], 2, "lanner-collector: option '--id': 'abc' is not an alert id (a whole number from 1, the first column of 'alerts list')\n"),
        (["alerts", "show", "4242"], 1, "lanner-collector: no alert with id 4242 (stored ids run from 1 to 600)\n"),
        (["alerts", "stats", "--by", "rule,size"], 2, "lanner-collector: option '--by': 'rule,size' names 'size'; choose from priority, rule, host (comma-separated)\n"),
        (["alerts", "tail", "--lines", "-3"], 2, "lanner-collector: option '--lines': '-3' is not a non-negative whole number\n"),
        (["alerts", "show"], 2, "lanner-collector alerts show: missing argument <id>\n"),
    ] as [([String], Int32, String)])
    func badInputGetsTheSameClearErrorBothWays(_ args: [String], _ status: Int32, _ message: String) throws {
        let f = try Fixture()
        for remote in [false, true] {
            let r = try f.cli(args, remote: remote)
            #expect(r.status == status, "\(args) remote=\(remote): \(r.stderr)")
            #expect(r.stderr == message, "remote=\(remote)")
            #expect(r.stdout.isEmpty)
        }
    }

    @Test func whereToReadIsCheckedToo() throws {
        let f = try Fixture()
        func run(_ args: [String], env: [String: String] = [:]) throws -> Run { try CommandLineErrorTests.run("lanner-collector", args, env: env) }
        var r = try run(["alerts", "--db", f.db, "--collector", f.url])
        #expect(r.status == 2 && r.stderr == "lanner-collector: option '--db': '\(f.db)' and --collector both name where to read; give one\n")
        r = try run(["alerts", "--db", f.db, "--token-file", f.dir + "/token"])
        #expect(r.status == 2 && r.stderr == "lanner-collector: option '--token-file': '\(f.dir)/token' is for --collector URL; a database file needs no token\n")
        r = try run(["sensors", "--collector", "https://c:7601", "--token-file", f.dir + "/token"])
        #expect(r.status == 2 && r.stderr.hasPrefix("lanner-collector: option '--collector': 'https://c:7601' uses TLS"))
        r = try run(["alerts", "--collector", f.url])
        #expect(r.status == 2 && r.stderr == "lanner-collector: no token: pass --token-file FILE or set LANNER_TOKEN\n")
        r = try run(["alerts", "--collector", f.url], env: ["LANNER_TOKEN": "wrong"])
        #expect(r.status == 1 && r.stderr == "lanner-collector: collector \(f.url) refused the token (401): pass the collector's token with --token-file FILE or LANNER_TOKEN\n")
        r = try run(["alerts", "--collector", f.url], env: ["LANNER_TOKEN": "query-token"])
        #expect(r.status == 0 && r.stdout.hasPrefix("600  "))
        r = try run(["alerts", "--collector", "http://127.0.0.1:1"], env: ["LANNER_TOKEN": "t"])
        #expect(r.status == 1 && r.stderr == "lanner-collector: collector http://127.0.0.1:1: connection refused by 127.0.0.1:1\n")
    }

    /// Both tails print the last lines, then each new alert once, within a second or two of its commit.
    @Test func tailFollowsNewAlertsOnBothPaths() throws {
        let f = try Fixture()
        let bin = try E2E.binary("lanner-collector")
        let args = ["alerts", "tail", "-n", "2", "--host", "web-9", "--output-fields", "id,host,rule,output"]
        let local = try Child(bin, args + ["--db", f.db], log: f.dir + "/tail-local.log")
        let remote = try Child(bin, args + ["--collector", f.url, "--token-file", f.dir + "/token"], log: f.dir + "/tail-remote.log")
        defer {
            local.stop()
            remote.stop()
        }
        Thread.sleep(forTimeInterval: 1)
        #expect(local.log.isEmpty && remote.log.isEmpty, "no web-9 alert yet")
        let w = try AlertStore(path: f.db)
        var seq: UInt64 = 100
        for n in 1...3 {
            seq += 1
            _ = try w.commit(sensorID: "t", sequence: seq, events: 2, alerts: [
                NewAlert(timeNs: Fixture.base + Int64(n), host: "web-9", sensorID: "t", rule: "Tail rule", priority: .error, output: "tail \(n)"),
                NewAlert(timeNs: Fixture.base + Int64(n), host: "web-1", sensorID: "t", rule: "Tail rule", priority: .error, output: "not for us"),
            ])
            try local.waitFor("tail \(n)", timeout: 10)
            try remote.waitFor("tail \(n)", timeout: 10)
        }
        #expect(local.log == remote.log)
        #expect(local.log.hasPrefix("ID   HOST   RULE       OUTPUT\n601  web-9  Tail rule  tail 1\n"), "\(local.log)")
        #expect(!local.log.contains("not for us"))
        #expect(local.log.components(separatedBy: "tail 2").count == 2, "each alert once")
    }

    @Test func serveReportsABadConfigFileWithItsPosition() throws {
        let d = try E2E.tempDir("qconfig")
        try "aggregation:\n  window: ten seconds\n".write(toFile: d + "/bad.yaml", atomically: true, encoding: .utf8)
        let r = try CommandLineErrorTests.run("lanner-collector", ["serve", "--config", d + "/bad.yaml", "--db", d + "/x.db",
                                                                   "--rules", E2E.repo.appendingPathComponent("rules").path],
                                              env: ["LANNER_TOKEN": "t"])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("lanner-collector: cannot use --config \(d)/bad.yaml:\n\(d)/bad.yaml:2:11: "), "\(r.stderr)")
        #expect(r.stderr.hasSuffix("\nnot starting\n"), "\(r.stderr)")
    }
}
