import Testing
import LannerRules

/// `DomainNames`' refresh schedule (Falco's DNS manager: 10 s, doubling while the answer does not change, up to
/// 320 s; a change starts again at 10 s), on an explicit clock.
@Suite struct DomainNamesScheduleTests {
    static let s: UInt64 = 1_000_000_000

    static func ip(_ t: String) -> IPAddress { IPAddress(t)! }

    @Test func unchangedAnswersDoubleTheWaitUpTo320Seconds() {
        let names = DomainNames()
        let resolver = InMemoryDomainResolver(addresses: ["a.example": ["10.0.0.1"]])
        names.add(["a.example"], now: 0)
        #expect(names.due(now: 0) == ["a.example"])
        var lookupsAt: [UInt64] = []
        var t: UInt64 = 0
        // Step one second at a time for an hour and note when lookups happen.
        while t <= 1300 * Self.s {
            let before = resolver.lookups(of: "a.example")
            _ = names.refresh(using: resolver, clock: { t })
            if resolver.lookups(of: "a.example") > before { lookupsAt.append(t / Self.s) }
            t += Self.s
        }
        #expect(lookupsAt == [0, 10, 30, 70, 150, 310, 630, 950, 1270])
        #expect(names.entry("a.example")?.interval == 320 * Self.s)
    }

    @Test func aChangedAnswerStartsAgainAtTheBasePeriod() {
        let names = DomainNames()
        let resolver = InMemoryDomainResolver(addresses: ["a.example": ["10.0.0.1"]])
        names.add(["a.example"], now: 0)
        _ = names.refresh(using: resolver, clock: { 0 })
        _ = names.refresh(using: resolver, clock: { 10 * Self.s })
        _ = names.refresh(using: resolver, clock: { 30 * Self.s })
        #expect(names.entry("a.example")?.interval == 40 * Self.s)
        resolver.set("a.example", .of([Self.ip("10.0.0.2"), Self.ip("10.0.0.1")]))
        let events = names.refresh(using: resolver, clock: { 70 * Self.s })
        #expect(events == [.changed("a.example", from: [Self.ip("10.0.0.1")], to: [Self.ip("10.0.0.1"), Self.ip("10.0.0.2")])])
        #expect(names.entry("a.example")?.interval == 10 * Self.s)
        #expect(names.entry("a.example")?.due == 80 * Self.s)
        #expect(names.snapshot().addresses["a.example"] == [Self.ip("10.0.0.1"), Self.ip("10.0.0.2")])
    }

    @Test func aFailedLookupKeepsTheAddressesAndRetriesAtTheBasePeriod() {
        let names = DomainNames()
        let resolver = InMemoryDomainResolver(addresses: ["a.example": ["10.0.0.1"]])
        names.add(["a.example"], now: 0)
        _ = names.refresh(using: resolver, clock: { 0 })
        _ = names.refresh(using: resolver, clock: { 10 * Self.s })
        let g = names.generation
        resolver.set("a.example", .failed("Temporary failure in name resolution"))
        #expect(names.refresh(using: resolver, clock: { 30 * Self.s }) == [.failed("a.example", "Temporary failure in name resolution")])
        // Reported once while it keeps failing the same way.
        #expect(names.refresh(using: resolver, clock: { 40 * Self.s }).isEmpty)
        #expect(names.entry("a.example")?.due == 50 * Self.s)
        #expect(names.snapshot().addresses["a.example"] == [Self.ip("10.0.0.1")])
        #expect(names.generation == g)
        // Back with the same address: nothing to publish.
        resolver.set("a.example", .of([Self.ip("10.0.0.1")]))
        #expect(names.refresh(using: resolver, clock: { 50 * Self.s }).isEmpty)
        #expect(names.generation == g)
    }

    @Test func noSuchNameIsAnAnswerWithNoAddress() {
        let names = DomainNames()
        names.add(["gone.example"], now: 0)
        let events = names.refresh(using: InMemoryDomainResolver(), clock: { 0 })
        #expect(events == [.answered("gone.example", [])])
        #expect(names.snapshot().addresses["gone.example"] == [])
        #expect(names.entry("gone.example")?.due == 10 * Self.s)
    }

    @Test func reloadKeepsNamesStillUsedAndForgetsTheRest() {
        let names = DomainNames()
        let resolver = InMemoryDomainResolver(addresses: ["a.example": ["10.0.0.1"], "b.example": ["10.0.0.2"]])
        names.add(["a.example", "b.example"], now: 0)
        _ = names.refresh(using: resolver, clock: { 0 })
        _ = names.refresh(using: resolver, clock: { 10 * Self.s })
        // A reload that uses a.example and c.example: a keeps its answer and schedule, c is due at once.
        #expect(names.add(["a.example", "c.example"], now: 15 * Self.s) == 1)
        #expect(names.entry("a.example")?.due == 30 * Self.s)
        #expect(names.due(now: 15 * Self.s) == ["c.example"])
        let g = names.generation
        #expect(names.retain(only: ["a.example", "c.example"]) == 1)
        #expect(names.generation == g + 1)
        #expect(names.names == ["a.example", "c.example"])
        #expect(names.snapshot().addresses.keys.sorted() == ["a.example"])
        // An answer for a forgotten name is dropped.
        #expect(names.record("b.example", .of([Self.ip("10.0.0.9")]), now: 16 * Self.s) == nil)
        #expect(names.entry("b.example") == nil)
    }

    /// A resolver whose every lookup takes 200 ms of a fake clock.
    final class SlowClockResolver: DomainResolver, @unchecked Sendable {
        var now: UInt64 = 0
        func resolve(_ name: String) -> DomainAnswer {
            now += 200_000_000
            return .of([IPAddress("10.0.0.1")!])
        }
    }

    /// A long round publishes what it has every 250 ms and at its end, not after every answer.
    @Test func aRoundPublishesAtMostEveryQuarterSecondAndAtItsEnd() {
        let names = DomainNames()
        let resolver = SlowClockResolver()
        names.add((0..<5).map { "n\($0).example" }, now: 0)
        let g = names.generation
        let events = names.refresh(using: resolver, clock: { resolver.now })
        #expect(events.count == 5)
        // After 2 lookups (400 ms), after 4 (800 ms), and the fifth at the end.
        #expect(names.generation == g + 3)
        #expect(names.snapshot().addresses.count == 5)
    }

    @Test func answersAreSortedAndUnique() {
        #expect(DomainAnswer.of([Self.ip("10.0.0.2"), Self.ip("::1"), Self.ip("10.0.0.2"), Self.ip("10.0.0.1")])
                == .addresses([Self.ip("::1"), Self.ip("10.0.0.1"), Self.ip("10.0.0.2")]))
        #expect(DomainAnswer.of([]) == .noSuchName)
    }
}
