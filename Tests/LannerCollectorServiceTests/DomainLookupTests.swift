import Foundation
import Testing
@testable import LannerCollectorService
import LannerEnrich
import LannerHTTP2
import LannerRules
import LannerStore
import LannerTestSupport
import LannerWire

/// The collector's side of `fd.*ip.name`: getaddrinfo, the background resolver thread, the one-time lookup of
/// `replay` and `rules test`, and the server's resolver across reloads. Real lookups use only names the hosts
/// file answers (and address literals), so no query leaves the machine.
@Suite(.serialized) struct DomainLookupTests {
    /// The addresses /etc/hosts gives `name` (what nss_files answers, so getaddrinfo asks no DNS server).
    static func hostsFileAddresses(_ name: String) -> [IPAddress] {
        guard let text = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8) else { return [] }
        var out: [IPAddress] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let ip = IPAddress(String(fields[0])) else { continue }
            if fields.dropFirst().contains(where: { $0 == name }) { out.append(ip) }
        }
        return out
    }

    static func rules(_ yaml: String) -> [CompiledRule] { CollectorTransportTests.rules(yaml) }

    static let localhostRule = """
        - rule: Connect to localhost by name
          desc: test
          condition: evt.type = connect and fd.sip.name = localhost
          output: "connect to %fd.sip.name (%fd.sip:%fd.sport) by %proc.name"
          priority: NOTICE

        """

    static let processes: [[UInt8]] = AnalyzerTests.family + [
        Rec.clone(parent: 60, child: 90),
        Rec.exec(pid: 90, ppid: 60, comm: "curl", exe: "/usr/bin/curl", args: ["curl", "http://localhost:8080/"]),
    ]

    static func wait(_ seconds: Double, until done: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if done() { return true }
            usleep(10_000)
        }
        return done()
    }

    // MARK: - getaddrinfo

    @Test func systemResolverAnswersLocalhostAndIp6LocalhostFromTheHostsFile() throws {
        let names = ["localhost", "ip6-localhost"].filter { !Self.hostsFileAddresses($0).isEmpty }
        #expect(names.contains("localhost"), "/etc/hosts has no localhost line")
        for name in names {
            // Only names the hosts file lists are looked up: anything else would go to the DNS server.
            #expect(SystemDomainResolver().resolve(name) == DomainAnswer.of(Self.hostsFileAddresses(name)), "\(name)")
        }
        #expect(SystemDomainResolver().resolve("localhost").addressSet?.contains(IPAddress("127.0.0.1")!) == true)
    }

    @Test func systemResolverTakesAddressLiteralsAndRefusesImpossibleNames() {
        #expect(SystemDomainResolver().resolve("127.0.0.1") == .addresses([IPAddress("127.0.0.1")!]))
        #expect(SystemDomainResolver().resolve("::1") == .addresses([IPAddress("::1")!]))
        #expect(SystemDomainResolver().resolve("") == .noSuchName)
        #expect(SystemDomainResolver().resolve("local\u{0}host") == .noSuchName)
    }

    // MARK: - The background resolver

    /// A period no test outlives, so lookup counts are exact on a loaded machine.
    static let longTiming = DomainNames.Timing(base: 600_000_000_000, max: 600_000_000_000)

    @Test func theResolverThreadLooksLocalhostUpAndStops() throws {
        let names = DomainNames(timing: Self.longTiming)
        let lines = CollectorServerTests.LogSink()
        let refresher = DomainRefresher(names: names, resolver: SystemDomainResolver(), log: { lines.append($0) })
        names.add(["localhost"], now: DomainRefresher.nowNs())
        refresher.start()
        #expect(Self.wait(5) { names.entry("localhost")?.addresses != nil })
        #expect(names.snapshot().addresses["localhost"] == DomainAnswer.of(Self.hostsFileAddresses("localhost")).addressSet)
        #expect(lines.lines.contains { $0.hasPrefix("lanner-collector: fd.*ip.name: localhost: ") && $0.contains("127.0.0.1") }, "\(lines.lines)")
        #expect(refresher.stop(timeout: 2))
        // The next lookup is 10 minutes away: nothing else happened.
        #expect(names.entry("localhost")?.lookups == 1)
    }

    @Test func theResolverThreadRefreshesOnItsScheduleAndAfterAPoke() throws {
        let resolver = InMemoryDomainResolver(addresses: ["a.example": ["10.0.0.1"]])
        let names = DomainNames(timing: .init(base: 40_000_000, max: 160_000_000))
        let refresher = DomainRefresher(names: names, resolver: resolver, log: { _ in })
        names.add(["a.example"], now: DomainRefresher.nowNs())
        refresher.start()
        defer { refresher.stop(timeout: 2) }
        #expect(Self.wait(5) { names.snapshot().addresses["a.example"] == [IPAddress("10.0.0.1")!] })
        resolver.set("a.example", .of([IPAddress("10.0.0.2")!]))
        // Picked up on the schedule (40 ms, 80 ms, 160 ms while unchanged), with no poke.
        #expect(Self.wait(5) { names.snapshot().addresses["a.example"] == [IPAddress("10.0.0.2")!] })
        #expect(resolver.lookups(of: "a.example") >= 2)

        // With a long period, a name added later waits for the poke, not for the period.
        let slow = DomainNames(timing: Self.longTiming)
        let r2 = DomainRefresher(names: slow, resolver: resolver, log: { _ in })
        slow.add(["a.example"], now: DomainRefresher.nowNs())
        r2.start()
        defer { r2.stop(timeout: 2) }
        #expect(Self.wait(5) { slow.entry("a.example")?.addresses != nil })
        resolver.set("b.example", .of([IPAddress("10.0.0.3")!]))
        slow.add(["b.example"], now: DomainRefresher.nowNs())
        r2.poke()
        #expect(Self.wait(2) { slow.entry("b.example")?.addresses == [IPAddress("10.0.0.3")!] })
        #expect(slow.entry("a.example")?.lookups == 1)
    }

    // MARK: - Evaluation with real records

    @Test func aConnectTo127001RaisesTheAlertOfFdSipNameEqualsLocalhost() throws {
        let rules = Self.rules(Self.localhostRule)
        #expect(rules.count == 1 && rules[0].isSupported, "\(rules.map(\.unsupportedFields))")
        let analyzer = Analyzer(rules: rules, matching: .all)
        #expect(analyzer.ruleset.domainNames == ["localhost"])
        let lookup = try #require(OneTimeDomainLookup.prepare(analyzer, .init(resolver: SystemDomainResolver(), wait: 5)))
        #expect(lookup.unanswered.isEmpty)
        #expect(lookup.summary.contains("localhost: 127.0.0.1"), "\(lookup.summary)")
        // Records only: nothing is sent anywhere.
        let alerts = analyzer.process(try BatchDecoder.decode(Rec.batch(Self.processes + [
            Rec.connect(pid: 90, sport: 40000, dport: 8080, daddr: [127, 0, 0, 1]),
            Rec.connect(pid: 90, sport: 40001, dport: 8080, daddr: [127, 0, 0, 2]),
        ])))
        #expect(alerts.map(\.rule) == ["Connect to localhost by name"])
        #expect(alerts.first?.output == "connect to localhost (127.0.0.1:8080) by curl")
        let fields = try JSONSerialization.jsonObject(with: Data(try #require(alerts.first).fieldsJSON.utf8)) as? [String: Any]
        #expect(fields?["fd.sip.name"] as? String == "localhost")
    }

    @Test func withoutALookupTheNameHasNoAddressAndNotEqualsHolds() throws {
        let rules = Self.rules(Self.localhostRule + """
            - rule: Connect elsewhere
              desc: test
              condition: evt.type = connect and fd.sip.name != localhost
              output: "elsewhere %fd.sip name=%fd.sip.name"
              priority: NOTICE
            """)
        let analyzer = Analyzer(rules: rules, matching: .all)
        let alerts = analyzer.process(try BatchDecoder.decode(Rec.batch(Self.processes + [
            Rec.connect(pid: 90, sport: 40000, dport: 8080, daddr: [127, 0, 0, 1]),
        ])))
        #expect(alerts.map(\.output) == ["elsewhere 127.0.0.1 name=<NA>"])
    }

    /// Falco's own rules that use fd.*ip.name load as supported, collect their names, and fire (their
    /// addresses come from an in-memory resolver here: a real lookup of mining pools would go to DNS).
    @Test func falcosMinerPoolAndInboundSourceRulesAreSupportedAndFire() throws {
        var cfg = RuleLoader.Configuration()
        cfg.isSupported = { SyscallFields.isSupported($0) }
        let files = try ["falco-rules/falco_rules.yaml", "falco-rules/falco-incubating_rules.yaml", "falco-rules/falco-sandbox_rules.yaml"].map(Peer.file)
        let r = RuleLoader.load(files, config: cfg)
        #expect(r.report.errors.isEmpty)
        let miner = try #require(r.rule(named: "Detect outbound connections to common miner pool ports"))
        let inbound = try #require(r.rule(named: "Unexpected inbound connection source"))
        #expect(miner.isSupported && inbound.isSupported, "\(miner.unsupportedFields) \(inbound.unsupportedFields)")
        #expect(r.rule(named: "Contact K8S API Server From Container")?.isSupported == true, "its k8s.ns.name comes from the container runtime")
        // Both are disabled in Falco's file; enable them as a user would.
        var enabled = [miner, inbound]
        for i in enabled.indices { enabled[i].enabled = true }
        let analyzer = Analyzer(rules: enabled, matching: .all)
        #expect(analyzer.ruleset.rules.count == 2)
        let names = analyzer.ruleset.domainNames
        #expect(names.count == 64, "the 63 distinct names of the three miner lists, and google.com")
        #expect(names.contains("pool.minexmr.com") && names.contains("google.com") && Set(names).count == names.count)
        let resolver = InMemoryDomainResolver(addresses: ["pool.minexmr.com": ["192.0.2.10"]])
        _ = try #require(OneTimeDomainLookup.prepare(analyzer, .init(resolver: resolver, wait: 5)))
        #expect(resolver.lookups(of: "pool.minexmr.com") == 1 && resolver.lookups(of: "google.com") == 1)
        let alerts = analyzer.process(try BatchDecoder.decode(Rec.batch(Self.processes + [
            Rec.connect(pid: 90, sport: 40000, dport: 443, daddr: [192, 0, 2, 10], saddr: [192, 0, 2, 1]),
            Rec.connect(pid: 90, sport: 40001, dport: 443, daddr: [192, 0, 2, 11], saddr: [192, 0, 2, 1]),
            Rec.connect(pid: 90, sport: 40002, dport: 80, daddr: [192, 0, 2, 10], saddr: [192, 0, 2, 1]),
        ])))
        // 443 to the pool's address: https_miner_domains has it; 80 to it too (http_miner_domains); not the other address.
        #expect(alerts.map(\.rule) == [miner.name, miner.name])
        #expect(alerts.first?.output.hasPrefix("Outbound connection to IP/Port flagged by https://cryptoioc.ch | ip=192.0.2.10 connection=192.0.2.1:40000->192.0.2.10:443") == true,
                "\(alerts.first?.output ?? "")")
    }

    // MARK: - replay and rules test

    /// Answers after a delay, to show the one-time lookup's bounded wait.
    struct SlowResolver: DomainResolver {
        let delay: Double
        func resolve(_ name: String) -> DomainAnswer {
            Thread.sleep(forTimeInterval: delay)
            return .of([IPAddress("127.0.0.1")!])
        }
    }

    @Test func replayLooksTheNamesUpOnceWithABoundedWaitAndSaysSo() throws {
        let rules = Self.rules(Self.localhostRule)
        let capture = [(batch: try BatchDecoder.decode(Rec.batch(Self.processes + [Rec.connect(pid: 90, sport: 40000, dport: 8080)])), body: [UInt8]())]
        let answered = Replay.run(rules: rules, matching: .all, captures: [capture],
                                  domains: .init(resolver: InMemoryDomainResolver(addresses: ["localhost": ["127.0.0.1", "::1"]]), wait: 5))
        #expect(answered.alerts.map(\.output) == ["connect to localhost (127.0.0.1:8080) by curl"])
        let d = try #require(answered.domains)
        #expect(d.summary.hasPrefix("fd.*ip.name: looked up 1 domain name once before evaluating (waited at most 5 s; no refresh afterwards): 1 with addresses, 0 without"), "\(d.summary)")
        #expect(d.summary.contains("localhost: ::1, 127.0.0.1"), "\(d.summary)")

        let start = Date()
        let late = Replay.run(rules: rules, matching: .all, captures: [capture], domains: .init(resolver: SlowResolver(delay: 3), wait: 0.2))
        #expect(Date().timeIntervalSince(start) < 2, "the wait is bounded")
        #expect(late.alerts.isEmpty)
        #expect(late.domains?.unanswered == ["localhost"])
        #expect(late.domains?.summary.contains("1 not answered in time (treated as having no address)") == true, "\(late.domains?.summary ?? "")")

        let none = Replay.run(rules: try AnalyzerTests.rules(), matching: .all, captures: [capture], domains: .init(resolver: SlowResolver(delay: 3)))
        #expect(none.domains == nil, "no names, no lookup")

        // --no-resolve-names: the resolver is not asked and the comparison is false.
        let counting = InMemoryDomainResolver(addresses: ["localhost": ["127.0.0.1"]])
        let off = Replay.run(rules: rules, matching: .all, captures: [capture], domains: .init(resolver: counting, lookUp: false))
        #expect(off.alerts.isEmpty)
        #expect(counting.lookups(of: "localhost") == 0)
        #expect(off.domains?.summary == "fd.*ip.name: 1 domain name not looked up (--no-resolve-names): comparisons with them are false")
    }

    @Test func rulesTestReportsTheLookup() throws {
        let path = NSTemporaryDirectory() + "lanner-dns-rules-test-\(UUID().uuidString).lcap"
        let body = Rec.batch(Self.processes + [Rec.connect(pid: 90, sport: 40000, dport: 8080)])
        try Data(Capture.fileHeader() + Capture.frame(body)).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = RulesTest.run(rules: Self.rules(Self.localhostRule), events: try RulesTest.batches(path), matching: .all,
                              explain: "Connect to localhost by name", domains: .init(resolver: SystemDomainResolver(), wait: 5))
        #expect(r.alerts == 1, "\(r.text)")
        #expect(r.text.contains("Connect to localhost by name [Notice] connect to localhost (127.0.0.1:8080) by curl"), "\(r.text)")
        #expect(r.text.contains("true  fd.sip.name = localhost   (fd.sip = 127.0.0.1)"), "\(r.text)")
        #expect(r.domainSummary?.contains("localhost: 127.0.0.1") == true)
    }

    // MARK: - The server

    @Test func theServerResolvesInTheBackgroundKeepsNamesAcrossReloadsAndStopsTheResolver() throws {
        let dir = NSTemporaryDirectory() + "lanner-dns-server-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let resolver = InMemoryDomainResolver(addresses: ["localhost": ["127.0.0.1"], "other.example": ["192.0.2.7"]])
        var cfg = CollectorConfig(token: "s3cret", rules: Self.rules(Self.localhostRule))
        cfg.port = 0
        cfg.databasePath = dir + "/lanner.db"
        cfg.domainResolver = resolver
        cfg.domainTiming = Self.longTiming
        let sink = CollectorServerTests.LogSink()
        cfg.log = { sink.append($0) }
        let server = try CollectorServer(config: cfg)
        try server.start()
        #expect(sink.lines.contains { $0.contains("1 domain name for fd.*ip.name resolved in the background") }, "\(sink.lines)")
        #expect(Self.wait(5) { server.domains.entry("localhost")?.addresses != nil })
        let c = try H2Client(host: "127.0.0.1", port: server.port)
        #expect(try CollectorServerTests.post(c, Rec.batch(Self.processes + [Rec.connect(pid: 90, sport: 40000, dport: 8080)], seq: 1)).0 == 200)

        // A reload that keeps localhost and adds other.example: localhost keeps its answer (no new lookup, no
        // gap), other.example is looked up at once.
        let summary = try #require(server.reload(rules: Self.rules(Self.localhostRule + """
            - rule: Connect to other
              desc: test
              condition: evt.type = connect and fd.sip.name in (other.example)
              output: "connect to %fd.sip.name"
              priority: NOTICE
            """)))
        #expect(summary.contains("fd.*ip.name domain names: 1 → 2 (+1 -0"), "\(summary)")
        #expect(server.domains.entry("localhost")?.lookups == 1)
        #expect(try CollectorServerTests.post(c, Rec.batch([Rec.connect(pid: 90, sport: 40001, dport: 8080)], seq: 2)).0 == 200)
        #expect(Self.wait(5) { server.domains.entry("other.example")?.addresses != nil })
        #expect(try CollectorServerTests.post(c, Rec.batch([Rec.connect(pid: 90, sport: 40002, dport: 443, daddr: [192, 0, 2, 7])], seq: 3)).0 == 200)

        // A reload without names forgets them.
        _ = server.reload(rules: try AnalyzerTests.rules())
        #expect(server.domains.names.isEmpty)
        c.close()
        server.stop()
        let lookups = resolver.lookups(of: "localhost") + resolver.lookups(of: "other.example")
        // The second localhost alert repeats the first within the aggregation window: one row counting two.
        let alerts = try AlertStore(path: dir + "/lanner.db", readOnly: true).query(AlertQuery(limit: 0)).reversed().map { "\($0.output) ×\($0.count)" }
        #expect(Array(alerts) == ["connect to localhost (127.0.0.1:8080) by curl ×2", "connect to other.example ×1"])
        #expect(lookups == 2)
    }

    /// `resolve_names: false`: the resolver is never asked, the start says so, and a rule comparing a name does not
    /// fire for an address the name would have resolved to.
    @Test func withNameLookupsOffNothingIsLookedUpAndNameComparisonsAreFalse() throws {
        let dir = NSTemporaryDirectory() + "lanner-dns-off-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let resolver = InMemoryDomainResolver(addresses: ["localhost": ["127.0.0.1"]])
        var cfg = CollectorConfig(token: "s3cret", rules: Self.rules(Self.localhostRule))
        cfg.port = 0
        cfg.databasePath = dir + "/lanner.db"
        cfg.domainResolver = resolver
        cfg.resolveNames = false
        let sink = CollectorServerTests.LogSink()
        cfg.log = { sink.append($0) }
        let server = try CollectorServer(config: cfg)
        try server.start()
        #expect(sink.lines.contains { $0.contains("1 domain name for fd.*ip.name not looked up (name lookups are off: comparisons with them are false)") },
                "\(sink.lines)")
        let c = try H2Client(host: "127.0.0.1", port: server.port)
        #expect(try CollectorServerTests.post(c, Rec.batch(Self.processes + [Rec.connect(pid: 90, sport: 40000, dport: 8080)], seq: 1)).0 == 200)
        usleep(300_000)
        c.close()
        server.stop()
        #expect(resolver.lookups(of: "localhost") == 0)
        #expect(server.domains.entry("localhost")?.addresses == nil)
        #expect(try AlertStore(path: dir + "/lanner.db", readOnly: true).count() == 0)
    }
}
