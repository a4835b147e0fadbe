import Synchronization

/// The domain names rules compare `fd.*ip.name` with, and the addresses each resolved to: what Falco's DNS
/// manager (libsinsp `sinsp_dns_manager`) keeps, with its refresh schedule. Thread-safe. Resolver threads
/// record answers; rulesets read an immutable `DomainSnapshot` and notice a new one by `generation`, an
/// atomic load, so evaluation never waits for a lookup or for this object's lock.
///
/// Schedule (Falco's): a name is looked up as soon as it is added; after each answer the next lookup is due
/// `base` later (10 s), and each further answer that changes nothing doubles the wait, up to `max` (320 s). An
/// answer that changes the addresses starts again at `base`. Unlike Falco, a lookup that fails (no resolver
/// reachable, a timeout) keeps the addresses known so far and is retried after `base`; Falco replaces them
/// with an empty set. Names are forgotten when no ruleset compares them any more (`retain(only:)`), not after
/// an hour unused as in Falco.
///
/// Time is passed in (ns on a monotonic clock), so schedules are tested without waiting.
public final class DomainNames: Sendable {
    /// The refresh periods, in ns.
    public struct Timing: Sendable, Equatable {
        public var base: UInt64
        public var max: UInt64

        /// Falco's: 10 s, doubling up to 320 s.
        public init(base: UInt64 = 10_000_000_000, max: UInt64 = 320_000_000_000) {
            self.base = base
            self.max = Swift.max(base, max)
        }
    }

    /// What happened to a name's addresses, for the log.
    public enum Event: Sendable, Equatable, CustomStringConvertible {
        /// The first answer for a name.
        case answered(String, [IPAddress])
        case changed(String, from: [IPAddress], to: [IPAddress])
        /// A lookup failed (reported once until the name gets an answer or fails differently).
        case failed(String, String)

        public var description: String {
            func list(_ a: [IPAddress]) -> String { a.isEmpty ? "no address" : a.map(\.description).joined(separator: ", ") }
            switch self {
            case .answered(let n, let a): return "\(n): \(list(a))"
            case .changed(let n, let from, let to): return "\(n): \(list(to)) (was \(list(from)))"
            case .failed(let n, let why): return "\(n): lookup failed (\(why)); keeping what was known"
            }
        }
    }

    /// One name's state.
    public struct Entry: Sendable, Equatable {
        /// nil until the first answer.
        public var addresses: [IPAddress]?
        /// The wait after the last answer, ns.
        public var interval: UInt64
        /// When the next lookup is due (monotonic ns).
        public var due: UInt64
        public var lookups: Int = 0
        /// The last failure, while the name keeps failing.
        public var failure: String?
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var snapshot = DomainSnapshot(generation: 0, addresses: [:])
        /// Answers recorded since the last snapshot changed what it would hold.
        var unpublished = false
    }

    public let timing: Timing
    private let state = Mutex(State())
    private let version = Atomic<UInt64>(0)

    public init(timing: Timing = Timing()) {
        self.timing = timing
    }

    /// Changes each time a name's addresses change, a name gets its first answer, or names are forgotten.
    /// Readers compare it with the generation of the snapshot they hold.
    public var generation: UInt64 { version.load(ordering: .acquiring) }

    /// The addresses of every answered name, as of `generation`.
    public func snapshot() -> DomainSnapshot { state.withLock { $0.snapshot } }

    /// Every tracked name, sorted.
    public var names: [String] { state.withLock { $0.entries.keys.sorted() } }

    /// One name's state (for tools and tests).
    public func entry(_ name: String) -> Entry? { state.withLock { $0.entries[name] } }

    /// Starts tracking `names` (due at once); names already tracked keep their addresses and schedule.
    /// - Returns: how many were new.
    @discardableResult
    public func add<S: Sequence<String>>(_ names: S, now: UInt64) -> Int {
        state.withLock { s in
            var added = 0
            for n in names where s.entries[n] == nil {
                s.entries[n] = Entry(addresses: nil, interval: timing.base, due: now)
                added += 1
            }
            return added
        }
    }

    /// Forgets every name not in `names` (after a reload, names no rule compares any more).
    /// - Returns: how many were forgotten.
    @discardableResult
    public func retain(only names: Set<String>) -> Int {
        let removed: Int = state.withLock { s in
            let gone = s.entries.keys.filter { !names.contains($0) }
            for n in gone { s.entries[n] = nil }
            if gone.contains(where: { s.snapshot.addresses[$0] != nil }) { publish(&s) }
            return gone.count
        }
        return removed
    }

    /// Names whose lookup is due at `now`, soonest first.
    public func due(now: UInt64) -> [String] {
        state.withLock { s in s.entries.filter { $0.value.due <= now }.sorted { ($0.value.due, $0.key) < ($1.value.due, $1.key) }.map(\.key) }
    }

    /// When the next lookup is due; nil when no name is tracked.
    public func nextDue() -> UInt64? { state.withLock { $0.entries.values.map(\.due).min() } }

    /// Records the answer of a lookup of `name` made at `now`, schedules the next, and publishes a new snapshot
    /// if the name's addresses changed. An answer for a name no longer tracked is ignored.
    /// - Returns: what changed, for the log; nil when nothing did.
    @discardableResult
    public func record(_ name: String, _ answer: DomainAnswer, now: UInt64) -> Event? {
        record([(name, answer)], now: now).first
    }

    /// Records many answers and publishes at most one snapshot for all of them (a snapshot copies every
    /// name's addresses, so publishing per answer would make a long list quadratic).
    /// - Returns: what changed, in order.
    @discardableResult
    public func record(_ answers: [(String, DomainAnswer)], now: UInt64) -> [Event] {
        state.withLock { s in
            let events = answers.compactMap { Self.apply($0.0, $0.1, now: now, timing: timing, &s) }
            if s.unpublished { publish(&s) }
            return events
        }
    }

    private static func apply(_ name: String, _ answer: DomainAnswer, now: UInt64, timing: Timing, _ s: inout State) -> Event? {
        guard var e = s.entries[name] else { return nil }
        e.lookups += 1
        var event: Event?
        if let found = answer.addressSet {
            e.failure = nil
            if let known = e.addresses {
                if known == found {
                    e.interval = e.interval > timing.max / 2 ? timing.max : e.interval * 2
                } else {
                    e.addresses = found
                    e.interval = timing.base
                    event = .changed(name, from: known, to: found)
                }
            } else {
                e.addresses = found
                e.interval = timing.base
                event = .answered(name, found)
            }
        } else if case .failed(let why) = answer {
            e.interval = timing.base
            if e.failure != why { event = .failed(name, why) }
            e.failure = why
        }
        e.due = now &+ e.interval
        s.entries[name] = e
        switch event {
        case .answered?, .changed?: s.unpublished = true
        default: break
        }
        return event
    }

    /// Looks up every name due at `clock()` with `resolver`, one at a time and without holding the lock, and
    /// records each answer at the time it came. New addresses are published at most every `publishEvery` ns
    /// during the round and once at its end. Stops early when `shouldStop` says so.
    /// - Returns: what changed.
    public func refresh(using resolver: any DomainResolver, clock: () -> UInt64, shouldStop: () -> Bool = { false },
                        publishEvery: UInt64 = 250_000_000) -> [Event] {
        var events: [Event] = []
        var pending: [(String, DomainAnswer)] = []
        var lastPublish = clock()
        for name in due(now: clock()) {
            if shouldStop() { break }
            pending.append((name, resolver.resolve(name)))
            let now = clock()
            if now &- lastPublish >= publishEvery {
                events += record(pending, now: now)
                pending.removeAll(keepingCapacity: true)
                lastPublish = now
            }
        }
        if !pending.isEmpty { events += record(pending, now: clock()) }
        return events
    }

    private func publish(_ s: inout State) {
        s.unpublished = false
        var map: [String: [IPAddress]] = [:]
        for (n, e) in s.entries { if let a = e.addresses { map[n] = a } }
        let g = version.load(ordering: .relaxed) &+ 1
        s.snapshot = DomainSnapshot(generation: g, addresses: map)
        version.store(g, ordering: .releasing)
    }
}

/// The resolved addresses of domain names at one moment. Immutable.
public struct DomainSnapshot: Sendable, Equatable {
    public let generation: UInt64
    /// Answered names only: a name missing here has not been answered yet (it matches no address either way).
    public let addresses: [String: [IPAddress]]

    public init(generation: UInt64, addresses: [String: [IPAddress]]) {
        self.generation = generation
        self.addresses = addresses
    }
}
