import Foundation
import Testing
import LannerCollectorService
import LannerEnrich
import LannerRules
import LannerTestSupport
import LannerWire

/// The pure middle: batches in, alerts out, with the default ruleset.
@Suite struct AnalyzerTests {
    static func rules() throws -> [CompiledRule] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("rules/lanner_rules.yaml")
        var cfg = RuleLoader.Configuration()
        cfg.isSupported = { SyscallFields.isSupported($0) }
        let r = RuleLoader.load([RuleFile(name: "lanner_rules.yaml", text: try String(contentsOf: url, encoding: .utf8))], config: cfg)
        #expect(r.report.errors.isEmpty)
        return r.activeRules
    }

    static func run(_ records: [[UInt8]], matching: RuleMatching = .all) throws -> [Alert] {
        let a = Analyzer(rules: try rules(), matching: matching)
        let body = Rec.batch(records)
        return a.process(try BatchDecoder.decode(body))
    }

    static let family: [[UInt8]] = [
        Rec.user(uid: 0, name: "root"),
        Rec.exec(.procinfo, pid: 1, ppid: 0, comm: "systemd", exe: "/usr/lib/systemd/systemd", args: ["/sbin/init"]),
        Rec.exec(.procinfo, pid: 50, ppid: 1, comm: "nginx", exe: "/usr/sbin/nginx", args: ["nginx", "-g", "daemon off;"]),
        Rec.exec(.procinfo, pid: 60, ppid: 1, comm: "bash", exe: "/usr/bin/bash", args: ["bash"]),
    ]

    @Test func sensitiveReadRaisesOneAlertWithFalcoShapedFields() throws {
        let alerts = try Self.run(Self.family + [
            Rec.clone(parent: 60, child: 70, comm: "bash"),
            Rec.exec(pid: 70, ppid: 60, comm: "python3", exe: "/usr/bin/python3.11", args: ["python3", "steal.py"]),
            Rec.open(pid: 70, name: "/etc/shadow", flags: 0o2000000),
        ])
        #expect(alerts.count == 1)
        let a = try #require(alerts.first)
        #expect(a.rule == "Sensitive file opened for reading by untrusted program")
        #expect(a.priority == .warning)
        #expect(a.hostname == "test-host")
        #expect(a.output.contains("file=/etc/shadow process=python3 exe=/usr/bin/python3.11 command=python3 steal.py parent=bash user=root"))
        let fields = try JSONSerialization.jsonObject(with: Data(a.fieldsJSON.utf8)) as! [String: Any]
        #expect(fields["fd.name"] as? String == "/etc/shadow")
        #expect(fields["proc.name"] as? String == "python3")
        #expect(fields["user.uid"] as? Int == 0)
        #expect(fields["container.id"] as? String == "host")
        #expect(a.timeNs == 1_796_000_000_000_000_000 + 1500)
        #expect(a.tags.contains("mitre_credential_access"))
    }

    /// A batch of well-formed records with extreme values goes through every default rule (they read evt.res through
    /// spawned_process, and the outputs render times and results): a shell exec whose res is Int64.min trapped the
    /// collector. A result below the errno range is a failure (no spawn); a huge positive one is a success.
    @Test func extremeValuesDoNotStopTheRules() throws {
        let ts = UInt64.max - 1_796_000_000_000_000_000   // the event time (boot time + ts) is UInt64.max
        let alerts = try Self.run(Self.family + [
            Rec.clone(parent: 50, child: 80),
            Rec.exec(pid: 80, ppid: 50, comm: "sh", exe: "/usr/bin/dash", args: ["sh", "-c", "id"], res: Int64.min),
            Rec.exec(pid: 80, ppid: 50, comm: "sh", exe: "/usr/bin/dash", args: ["sh", "-c", "id"], ts: ts, res: Int64.max),
            Rec.clone(parent: 60, child: 70, comm: "bash"),
            Rec.exec(pid: 70, ppid: 60, comm: "python3", exe: "/usr/bin/python3.11", args: ["python3"], ts: UInt64.max),
            Rec.open(pid: 70, name: "/etc/shadow", res: Int64.min, ts: ts),
            Rec.open(pid: 70, name: "/etc/shadow", res: Int64.max, ts: ts),
            Rec.connect(pid: 70, sport: 1, dport: 443, res: Int64.min, daddr: [1, 1, 1, 1]),
        ])
        #expect(alerts.map(\.rule) == ["Shell spawned by an unexpected parent", "Sensitive file opened for reading by untrusted program"])
        #expect(alerts.allSatisfy { $0.timeNs == UInt64.max })
    }

    @Test func shellFromAWebServerButNotFromBash() throws {
        let alerts = try Self.run(Self.family + [
            Rec.clone(parent: 50, child: 80),
            Rec.exec(pid: 80, ppid: 50, comm: "sh", exe: "/usr/bin/dash", args: ["sh", "-c", "id"]),
            Rec.clone(parent: 60, child: 81),
            Rec.exec(pid: 81, ppid: 60, comm: "sh", exe: "/usr/bin/dash", args: ["sh", "-c", "ls"]),
        ])
        #expect(alerts.map(\.rule) == ["Shell spawned by an unexpected parent"])
        #expect(alerts.first?.output.contains("parent=nginx") == true)
    }

    @Test func connectsAndWritesBelowBin() throws {
        let alerts = try Self.run(Self.family + [
            Rec.clone(parent: 60, child: 90),
            Rec.exec(pid: 90, ppid: 60, comm: "cat", exe: "/usr/bin/cat", args: ["cat"]),
            Rec.connect(pid: 90, sport: 40000, dport: 4444),
            Rec.open(pid: 60, name: "/usr/bin/ls", flags: 0o1101),
        ])
        #expect(alerts.map(\.rule) == ["Outbound connection by a program that has no business on the network",
                                       "File written below a binary directory"])
        #expect(alerts[0].output.contains("connection=127.0.0.1:40000->127.0.0.1:4444 proto=tcp process=cat"))
        #expect(alerts[1].output.contains("flags=O_WRONLY|O_CREAT|O_TRUNC"))
    }

    @Test func benignActivityRaisesNothing() throws {
        let alerts = try Self.run(Self.family + [
            Rec.clone(parent: 60, child: 95),
            Rec.exec(pid: 95, ppid: 60, comm: "cat", exe: "/usr/bin/cat", args: ["cat", "/etc/hostname"]),
            Rec.open(pid: 95, name: "/etc/hostname"),
            Rec.exit(pid: 95),
        ])
        #expect(alerts.isEmpty)
    }

    @Test func stateCarriesAcrossBatchesOfOneSensor() throws {
        let a = Analyzer(rules: try Self.rules(), matching: .all)
        let first = Rec.batch(Self.family, seq: 1)
        #expect(a.process(try BatchDecoder.decode(first)).isEmpty)
        let second = Rec.batch([Rec.clone(parent: 50, child: 99), Rec.exec(pid: 99, ppid: 50, comm: "bash", exe: "/usr/bin/bash", args: ["bash"])], seq: 2)
        #expect(a.process(try BatchDecoder.decode(second)).map(\.rule) == ["Shell spawned by an unexpected parent"])
        #expect(a.eventsEvaluated == 2)
    }
}

/// What sensors are asked to capture follows the rules: lifecycle always, plus the types a rule can match.
@Suite struct InterestTests {
    static func analyzer(_ yaml: String) throws -> Analyzer {
        let r = RuleLoader.load([RuleFile(name: "r.yaml", text: yaml)])
        #expect(!r.report.hasErrors, "\(r.report.rendered())")
        return Analyzer(rules: r.activeRules, matching: .all)
    }

    @Test func lifecycleAlwaysAndOnlyTheTypesRulesCanMatch() throws {
        let a = try Self.analyzer("""
            - rule: r
              desc: d
              condition: evt.type in (openat, connect) and proc.name = x
              output: o
              priority: WARNING
            """)
        #expect(a.interest == SyscallFields.stateEvents.union([.openat, .connect]))
        #expect(!a.interest.contains(.open) && !a.interest.contains(.procinfo))
    }

    /// Only socket(2) records say a socket's protocol (raw, ICMP), so a rule that reads fd.l4proto, in its condition or
    /// its output, has sensors capture them; other rules do not.
    @Test(arguments: [
        ("evt.type = connect and fd.l4proto = udp", "o", true),
        ("evt.type = connect", "proto=%fd.l4proto", true),
        ("evt.type = connect and fd.type = ipv4", "o %fd.name", false),
    ])
    func socketCallsAreCapturedWhenARuleReadsTheProtocol(_ condition: String, _ output: String, _ captured: Bool) throws {
        let a = try Self.analyzer("- rule: r\n  desc: d\n  condition: \(condition)\n  output: \(output)\n  priority: WARNING\n")
        #expect(a.interest == SyscallFields.stateEvents.union(captured ? [.connect, .socket] : [.connect]))
    }

    @Test func noRulesMeansLifecycleOnly() throws {
        #expect(Analyzer(rules: [], matching: .all).interest == SyscallFields.stateEvents)
    }

    @Test func theDefaultRulesNeedOpensExecsAndConnects() throws {
        let a = Analyzer(rules: try AnalyzerTests.rules(), matching: .all)
        #expect(a.interest.isSuperset(of: [.open, .openat, .openat2, .creat, .connect, .execve]))
        #expect(a.wireInterest.omit == [Interest.Omit.openNameraw], "rules/ never reads the path as passed")
    }

    /// Sensors may leave an open's `nameraw` out only when no rule reads it, in a condition or an output.
    @Test(arguments: [
        ("fd.name startswith /etc", "o", true),
        ("fd.nameraw contains '../'", "o", false),
        ("fd.name startswith /etc", "raw=%fd.nameraw", false),
        ("evt.arg.name contains x", "o", false),
        ("evt.arg[1] contains x", "o", false),       // the second argument of open and creat is name
        ("evt.rawarg.name contains x", "o", false),
        ("evt.arg.flags contains O_TRUNC", "o", true),
        ("evt.arg[0] = 3", "o", true),               // fd
        ("fd.name startswith /etc", "args=%evt.args", false),
        ("proc.name = x and not fd.nameraw in (a, b)", "o", false),
    ])
    func openNamerawIsOmittedUnlessARuleReadsIt(_ condition: String, _ output: String, _ omitted: Bool) throws {
        let a = try Self.analyzer("""
            - rule: r
              desc: d
              condition: evt.type = openat and \(condition)
              output: \(output)
              priority: WARNING
            """)
        #expect(a.wireInterest.omits(Interest.Omit.openNameraw) == omitted, "\(condition) / \(output)")
        #expect(a.wireInterest.events.contains(EventType.openat.rawValue))
    }

    @Test func aRuleExceptionReadingTheRawPathKeepsIt() throws {
        let a = try Self.analyzer("""
            - rule: r
              desc: d
              condition: evt.type = openat and fd.name startswith /etc
              output: o
              priority: WARNING
              exceptions:
                - name: raw
                  fields: [fd.nameraw]
                  values: [[/etc/x]]
            """)
        #expect(!a.wireInterest.omits(Interest.Omit.openNameraw))
    }
}
