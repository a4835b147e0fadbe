import Foundation
import Testing
import LannerRules

/// Falco's `fd.*ip.name` (falco.org "Resolving Domain Names in Falco Rules"): the names `=`, `!=` and `in`
/// compare are collected when the ruleset is built and resolved apart from evaluation; a check then tests the
/// event's address (server for sip, client for cip, local / remote for lip / rip) against the addresses of the
/// names. Answers come from an in-memory resolver here.
@Suite struct DomainNameTests {
    static let answers: [String: [String]] = [
        "pool.example": ["10.1.2.3", "10.1.2.4"],
        "other.example": ["192.0.2.7"],
        "both.example": ["10.1.2.3", "2001:db8::5"],
        "v6.example": ["2001:db8::5"],
        "localhost": ["127.0.0.1"],
        "client.example": ["198.51.100.20"],
    ]

    static func rule(_ condition: String, name: String = "r", output: String = "x=%proc.name") -> String {
        """
        - rule: \(name)
          desc: d
          condition: \(condition)
          output: "\(output)"
          priority: WARNING

        """
    }

    /// A ruleset over the map provider whose names were looked up with `answers` at time 0.
    static func ruleset(_ yaml: String, answers: [String: [String]] = Self.answers) -> (Ruleset<MapProvider>, DomainNames) {
        let r = load(yaml)
        #expect(!r.report.hasErrors, "\(r.report.rendered())")
        let rs = Ruleset(r.activeRules, provider: MapProvider(), matching: .all)
        let names = DomainNames()
        names.add(rs.domainNames, now: 0)
        _ = names.refresh(using: InMemoryDomainResolver(addresses: answers), clock: { 0 })
        rs.useDomainNames(names)
        return (rs, names)
    }

    static func fires(_ rs: Ruleset<MapProvider>, _ e: MapEvent) -> [String] {
        let scratch = EvalScratch()
        scratch.beginEvent()
        var out: [String] = []
        rs.evaluate(e, eventType: MapProvider().code(e.type), scratch: scratch) { out.append(rs.rules[$0].name) }
        return out
    }

    static func connect(_ fields: [String: String]) -> MapEvent {
        var f: [String: Any] = [:]
        for (k, v) in fields { f[k] = IPAddress(v)! }
        return MapEvent("connect", f)
    }

    @Test(arguments: [
        // = and in: the address is among the name's addresses.
        ("fd.sip.name = pool.example", ["fd.sip": "10.1.2.3"], true),
        ("fd.sip.name = pool.example", ["fd.sip": "10.1.2.4"], true),
        ("fd.sip.name = pool.example", ["fd.sip": "10.1.2.5"], false),
        ("fd.sip.name = \"pool.example\"", ["fd.sip": "10.1.2.3"], true),
        ("fd.sip.name in (other.example, pool.example)", ["fd.sip": "10.1.2.4"], true),
        ("fd.sip.name in (other.example, v6.example)", ["fd.sip": "10.1.2.4"], false),
        ("fd.sip.name in (other.example)", ["fd.sip": "192.0.2.7"], true),
        // IPv6, and a name with both families.
        ("fd.sip.name = v6.example", ["fd.sip": "2001:db8::5"], true),
        ("fd.sip.name = both.example", ["fd.sip": "2001:db8::5"], true),
        ("fd.sip.name = both.example", ["fd.sip": "10.1.2.3"], true),
        ("fd.sip.name = v6.example", ["fd.sip": "10.1.2.3"], false),
        // != : the address is not among them (Falco's caveat: true for every other address).
        ("fd.sip.name != pool.example", ["fd.sip": "10.1.2.5"], true),
        ("fd.sip.name != pool.example", ["fd.sip": "10.1.2.3"], false),
        ("not fd.sip.name = pool.example", ["fd.sip": "10.1.2.5"], true),
        ("not fd.sip.name in (pool.example, other.example)", ["fd.sip": "192.0.2.7"], false),
        // A name with no address (not in the resolver): = never, != always.
        ("fd.sip.name = missing.example", ["fd.sip": "10.1.2.3"], false),
        ("fd.sip.name != missing.example", ["fd.sip": "10.1.2.3"], true),
        // No address on the event (not a socket): every comparison is false, != included.
        ("fd.sip.name = pool.example", [:], false),
        ("fd.sip.name != pool.example", [:], false),
        ("fd.sip.name in (pool.example)", ["fd.cip": "10.1.2.3"], false),
        // Each field reads its own end.
        ("fd.cip.name = client.example", ["fd.cip": "198.51.100.20", "fd.sip": "10.1.2.3"], true),
        ("fd.sip.name = client.example", ["fd.cip": "198.51.100.20", "fd.sip": "10.1.2.3"], false),
        ("fd.cip.name = pool.example", ["fd.cip": "198.51.100.20", "fd.sip": "10.1.2.3"], false),
        ("fd.lip.name = client.example", ["fd.lip": "198.51.100.20", "fd.rip": "10.1.2.3"], true),
        ("fd.rip.name = pool.example", ["fd.lip": "198.51.100.20", "fd.rip": "10.1.2.3"], true),
        ("fd.rip.name = client.example", ["fd.lip": "198.51.100.20", "fd.rip": "10.1.2.3"], false),
        ("fd.lip.name != client.example", ["fd.lip": "198.51.100.20", "fd.rip": "10.1.2.3"], false),
        // Modifiers: any / every name.
        ("fd.sip.name = oneof (other.example, pool.example)", ["fd.sip": "10.1.2.3"], true),
        ("fd.sip.name = allof (pool.example, both.example)", ["fd.sip": "10.1.2.3"], true),
        ("fd.sip.name = allof (pool.example, both.example)", ["fd.sip": "10.1.2.4"], false),
        // Falco's rules spell names in lists and macros.
        ("fd.sport = 443 and fd.sip.name in (pool.example)", ["fd.sip": "10.1.2.3"], false),
        ("localhost_sip", ["fd.sip": "127.0.0.1"], true),
        ("localhost_sip", ["fd.sip": "127.0.0.2"], false),
    ])
    func comparisons(condition: String, addresses: [String: String], expected: Bool) throws {
        let prefix = """
            - list: pool_domains
              items: [pool.example]
            - macro: localhost_sip
              condition: (fd.sip.name in (localhost))

            """
        let (rs, _) = Self.ruleset(prefix + Self.rule("evt.type = connect and (\(condition))"))
        #expect(rs.rules.count == 1)
        #expect(Self.fires(rs, Self.connect(addresses)) == (expected ? ["r"] : []), "\(condition) with \(addresses)")
    }

    @Test func namesAreCollectedOnceInRuleOrderFromEqualsNotEqualsAndIn() {
        let (rs, names) = Self.ruleset(
            Self.rule("evt.type = connect and fd.sip.name in (pool.example, other.example)", name: "a")
            + Self.rule("evt.type = connect and fd.cip.name != v6.example and fd.sip.name = pool.example", name: "b")
            + Self.rule("evt.type = connect and fd.rip.name startswith never.example", name: "c"))
        #expect(rs.domainNames == ["pool.example", "other.example", "v6.example"])
        #expect(names.names == ["other.example", "pool.example", "v6.example"])
    }

    @Test func outputsRenderTheNameWhoseAddressesIncludeTheAddressElseNA() throws {
        // pool.example is known to the ruleset because a rule compares it.
        let (rs, _) = Self.ruleset(Self.rule("evt.type = connect and fd.sip.name != other.example and not fd.sip.name in (pool.example)",
                                              output: "sip=%fd.sip.name cip=%fd.cip.name ip=%fd.sip")
                                    + Self.rule("evt.type = connect and fd.sip.name in (pool.example)", name: "hit",
                                                output: "sip=%fd.sip.name ip=%fd.sip"))
        let scratch = EvalScratch()
        let miss = Self.connect(["fd.sip": "10.9.9.9", "fd.cip": "10.0.0.1"])
        scratch.beginEvent()
        var matched: [Int] = []
        rs.evaluate(miss, eventType: MapProvider().code("connect"), scratch: scratch) { matched.append($0) }
        #expect(matched.map { rs.rules[$0].name } == ["r"])
        let r1 = rs.render(rule: matched[0], miss, scratch: scratch)
        #expect(r1.output == "sip=<NA> cip=<NA> ip=10.9.9.9")
        #expect(r1.fields.first { $0.key == "fd.sip.name" }?.json == "null")

        let hit = Self.connect(["fd.sip": "10.1.2.4", "fd.cip": "10.0.0.1"])
        scratch.beginEvent()
        matched = []
        rs.evaluate(hit, eventType: MapProvider().code("connect"), scratch: scratch) { matched.append($0) }
        #expect(matched.map { rs.rules[$0].name } == ["hit"])
        let r2 = rs.render(rule: matched[0], hit, scratch: scratch)
        #expect(r2.output == "sip=pool.example ip=10.1.2.4")
        #expect(r2.fields.first { $0.key == "fd.sip.name" }?.json == "\"pool.example\"")
    }

    /// When an address belongs to several of the ruleset's names, outputs show the first in rule order (Falco
    /// shows whichever its table iterates to first); other operators compare that name.
    @Test func otherOperatorsCompareTheRenderedName() throws {
        let (rs, _) = Self.ruleset(Self.rule("evt.type = connect and fd.sip.name in (pool.example, both.example) and fd.sip.name startswith pool",
                                             output: "sip=%fd.sip.name")
                                   + Self.rule("evt.type = connect and fd.sip.name exists", name: "known"))
        #expect(Self.fires(rs, Self.connect(["fd.sip": "10.1.2.3"])) == ["r", "known"])
        // 2001:db8::5 belongs to both.example only: in holds, startswith pool does not.
        #expect(Self.fires(rs, Self.connect(["fd.sip": "2001:db8::5"])) == ["known"])
        #expect(Self.fires(rs, Self.connect(["fd.sip": "10.7.7.7"])) == [])
    }

    @Test func withoutAResolverNoNameHasAnAddress() throws {
        let r = load(Self.rule("evt.type = connect and fd.sip.name = localhost", name: "eq")
                     + Self.rule("evt.type = connect and fd.sip.name != localhost", name: "ne"))
        let rs = Ruleset(r.activeRules, provider: MapProvider(), matching: .all)
        #expect(Self.fires(rs, Self.connect(["fd.sip": "127.0.0.1"])) == ["ne"])
    }

    @Test func aNewAnswerIsUsedFromTheNextEventWithoutRebuildingTheRuleset() throws {
        let resolver = InMemoryDomainResolver(addresses: ["pool.example": ["10.1.2.3"]])
        let r = load(Self.rule("evt.type = connect and fd.sip.name = pool.example", output: "sip=%fd.sip.name"))
        let rs = Ruleset(r.activeRules, provider: MapProvider(), matching: .all)
        let names = DomainNames()
        names.add(rs.domainNames, now: 0)
        rs.useDomainNames(names)
        let e = Self.connect(["fd.sip": "10.1.2.9"])
        // Before any answer: nothing known.
        #expect(Self.fires(rs, e) == [])
        _ = names.refresh(using: resolver, clock: { 0 })
        let first = names.generation
        #expect(Self.fires(rs, e) == [])
        #expect(rs.domainGeneration == first)
        // The name moves to 10.1.2.9; due again after the base period.
        resolver.set("pool.example", .of([IPAddress("10.1.2.9")!]))
        #expect(names.refresh(using: resolver, clock: { 9_000_000_000 }).isEmpty)   // not due yet
        let events = names.refresh(using: resolver, clock: { 10_000_000_000 })
        #expect(events == [.changed("pool.example", from: [IPAddress("10.1.2.3")!], to: [IPAddress("10.1.2.9")!])])
        #expect(names.generation == first + 1)
        #expect(Self.fires(rs, e) == ["r"])
        #expect(rs.domainGeneration == first + 1)
        #expect(resolver.lookups(of: "pool.example") == 2)
    }

    @Test func unsupportedAddressMeansUnsupportedName() throws {
        let r = load(Self.rule("evt.type = connect and fd.sip.name = pool.example"))
        let rs = Ruleset(r.activeRules, provider: MapProvider(unsupported: ["fd.sip"]), matching: .all)
        #expect(rs.rules.isEmpty)
        #expect(rs.missingFields == ["fd.sip.name"])
        let ok = Ruleset(r.activeRules, provider: MapProvider(unsupported: ["fd.sip.name"]), matching: .all)
        #expect(ok.rules.count == 1)
    }

    /// An indicator list of 25 000 names builds, adopts its answers and evaluates quickly (names get ids
    /// through a table, not a search of the names so far).
    @Test func aLargeNameListBuildsAndMatchesInBoundedTime() throws {
        let n = 25_000
        let names = (0..<n).map { "bad\($0).example" }
        let t0 = Date()
        let r = load("- list: iocs\n  items: [" + names.joined(separator: ", ") + "]\n"
                     + Self.rule("evt.type = connect and fd.sip.name in (iocs)", output: "sip=%fd.sip.name"))
        let rs = Ruleset(r.activeRules, provider: MapProvider(), matching: .all)
        #expect(rs.domainNames.count == n)
        var answers: [String: DomainAnswer] = [:]
        for (i, name) in names.enumerated() { answers[name] = .of([IPAddress(bytes: [10, UInt8(i >> 16), UInt8((i >> 8) & 0xff), UInt8(i & 0xff)])!]) }
        let table = DomainNames()
        table.add(rs.domainNames, now: 0)
        _ = table.refresh(using: InMemoryDomainResolver(answers), clock: { 0 })
        rs.useDomainNames(table)
        #expect(Self.fires(rs, Self.connect(["fd.sip": "10.0.97.167"])) == ["r"])   // bad24999.example
        #expect(Self.fires(rs, Self.connect(["fd.sip": "10.0.97.168"])) == [])
        let dt = Date().timeIntervalSince(t0)
        #expect(dt < 10, "25 000 names took \(dt) s to load, build, resolve and adopt")
    }

    @Test func addressFieldsOfNameFields() {
        for (name, address) in [("fd.sip.name", "fd.sip"), ("fd.cip.name", "fd.cip"), ("fd.lip.name", "fd.lip"), ("fd.rip.name", "fd.rip")] {
            let f = ResolvedField(info: FieldCatalog.falco[name]!)
            #expect(f.domainAddressField?.name == address)
        }
        #expect(ResolvedField(info: FieldCatalog.falco["fd.name"]!).domainAddressField == nil)
        #expect(ResolvedField(info: FieldCatalog.falco["fd.sip"]!).domainAddressField == nil)
    }
}
