import Foundation
import LannerRules

/// The collector's background resolver for `fd.*ip.name`: one thread ("lanner-dns") that looks up the names
/// of `names` when they are due (`DomainNames`' schedule: at once, then every 10 s doubling to 320 s while
/// nothing changes) and records the answers. Evaluation never waits for it: rulesets read the snapshots it
/// publishes. Names added later (a reload) are looked up at once after `poke()`.
public final class DomainRefresher: @unchecked Sendable {
    public let names: DomainNames
    let resolver: any DomainResolver
    let log: @Sendable (String) -> Void
    private let cond = NSCondition()
    private var stopping = false
    private var poked = false
    private var started = false
    private let finished = DispatchSemaphore(value: 0)
    /// Changes logged one per line per round of lookups; the rest are counted in one line.
    static let eventsLogged = 10

    /// - Parameter log: gets one line per first answer, changed answer or new failure of a name.
    public init(names: DomainNames, resolver: any DomainResolver, log: @escaping @Sendable (String) -> Void) {
        self.names = names
        self.resolver = resolver
        self.log = log
    }

    /// Monotonic time in ns (the clock `DomainNames` schedules on).
    public static func nowNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Starts the thread. Idempotent.
    public func start() {
        cond.lock()
        defer { cond.unlock() }
        guard !started, !stopping else { return }
        started = true
        let t = Thread { [self] in run() }
        t.name = "lanner-dns"
        t.start()
    }

    /// Makes the thread look at the names now (call after `names.add`).
    public func poke() {
        cond.lock()
        poked = true
        cond.broadcast()
        cond.unlock()
    }

    var isStopping: Bool {
        cond.lock()
        defer { cond.unlock() }
        return stopping
    }

    /// Stops the thread, waiting at most `timeout` seconds for a lookup in progress (getaddrinfo cannot be
    /// interrupted).
    /// - Returns: false when the thread was still inside a lookup at the deadline; it is left to finish it
    ///   and exit, and the caller should say so.
    @discardableResult
    public func stop(timeout: Double) -> Bool {
        cond.lock()
        let wasRunning = started && !stopping
        stopping = true
        cond.broadcast()
        cond.unlock()
        guard wasRunning else { return true }
        return finished.wait(timeout: .now() + timeout) == .success
    }

    private func run() {
        while true {
            cond.lock()
            if stopping { cond.unlock(); break }
            poked = false
            cond.unlock()
            let events = names.refresh(using: resolver, clock: Self.nowNs, shouldStop: { self.isStopping })
            // A long list of names (an indicator list) failing at once must not flood the log.
            for e in events.prefix(Self.eventsLogged) { log("lanner-collector: fd.*ip.name: \(e)") }
            if events.count > Self.eventsLogged {
                let failed = events.dropFirst(Self.eventsLogged).filter { if case .failed = $0 { return true } else { return false } }.count
                log("lanner-collector: fd.*ip.name: and \(events.count - Self.eventsLogged) more names changed (\(failed) of them failed to resolve)")
            }
            cond.lock()
            while !stopping && !poked {
                let now = Self.nowNs()
                let next = names.nextDue()
                if let next, next <= now { break }
                let seconds = next.map { Double($0 - now) / 1e9 } ?? 3600
                if !cond.wait(until: Date().addingTimeInterval(min(seconds, 3600))) { break }
            }
            cond.unlock()
        }
        finished.signal()
    }
}

/// Resolving a ruleset's names once, before events are evaluated offline (`replay`, `rules test`): names are
/// looked up in parallel, and whatever has not answered within the wait counts as having no address. The
/// answers do not change afterwards, so a replay gives the same alerts from its first event to its last.
public enum OneTimeDomainLookup {
    /// Which resolver to ask and how long to wait for it.
    public struct Settings: Sendable {
        public var resolver: any DomainResolver
        /// Seconds to wait for every answer.
        public var wait: Double
        /// False (`--no-resolve-names`): nothing is looked up; the names have no address.
        public var lookUp: Bool

        public init(resolver: any DomainResolver = SystemDomainResolver(), wait: Double = 5, lookUp: Bool = true) {
            self.resolver = resolver
            self.wait = wait
            self.lookUp = lookUp
        }
    }

    /// Looks up the names `analyzer`'s rules compare and makes its rules use the answers.
    /// - Returns: what was looked up; nil when the rules compare no domain name.
    public static func prepare(_ analyzer: Analyzer, _ settings: Settings) -> Outcome? {
        let names = analyzer.ruleset.domainNames
        guard !names.isEmpty else { return nil }
        let outcome: Outcome
        if settings.lookUp {
            outcome = resolve(names, resolver: settings.resolver, wait: settings.wait)
        } else {
            let table = DomainNames()
            table.add(names, now: 0)
            outcome = Outcome(names: table, answers: [:], unanswered: [], wait: 0, lookedUp: false)
        }
        analyzer.useDomainNames(outcome.names)
        return outcome
    }

    public struct Outcome: Sendable {
        /// The names with the answers that arrived in time (unanswered ones are tracked but have no address).
        public var names: DomainNames
        public var answers: [String: DomainAnswer]
        /// Names that had not answered when the wait ended.
        public var unanswered: [String]
        public var wait: Double
        /// False when lookups were off: every name is without an address.
        public var lookedUp = true

        /// One paragraph for the user: what was looked up and what it gave.
        public var summary: String {
            guard lookedUp else {
                let n = names.names.count
                return "fd.*ip.name: \(n) domain name\(n == 1 ? "" : "s") not looked up (--no-resolve-names): comparisons with them are false"
            }
            let all = answers.count + unanswered.count
            let found = answers.values.filter { if case .addresses = $0 { return true } else { return false } }.count
            let none = answers.values.filter { $0 == .noSuchName }.count
            let failed = answers.count - found - none
            var s = "fd.*ip.name: looked up \(all) domain name\(all == 1 ? "" : "s") once before evaluating "
                + "(waited at most \(Self.seconds(wait)); no refresh afterwards): \(found) with addresses, \(none) without"
            if failed > 0 { s += ", \(failed) failed" }
            if !unanswered.isEmpty { s += ", \(unanswered.count) not answered in time (treated as having no address)" }
            if all <= 10 {
                let lines = answers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" } + unanswered.sorted().map { "\($0): not answered in time" }
                s += "\n  " + lines.joined(separator: "\n  ")
            }
            return s
        }

        static func seconds(_ s: Double) -> String { s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s) }
    }

    /// - Parameters:
    ///   - names: the ruleset's `domainNames`.
    ///   - wait: seconds to wait for all answers.
    ///   - parallel: lookups in flight at once.
    public static func resolve(_ names: [String], resolver: any DomainResolver, wait: Double, parallel: Int = 8) -> Outcome {
        var seen = Set<String>()
        let names = names.filter { seen.insert($0).inserted }
        let table = DomainNames()
        table.add(names, now: 0)
        guard !names.isEmpty else { return Outcome(names: table, answers: [:], unanswered: [], wait: wait) }
        let work = LookupWork(names: names)
        let workers = min(max(parallel, 1), names.count)
        for _ in 0..<workers {
            let t = Thread { work.run(resolver) }
            t.name = "lanner-dns-once"
            t.start()
        }
        _ = work.allDone.wait(timeout: .now() + wait)
        let answers = work.finish()
        table.record(names.compactMap { n in answers[n].map { (n, $0) } }, now: 0)
        return Outcome(names: table, answers: answers, unanswered: names.filter { answers[$0] == nil }, wait: wait)
    }

    /// Names to look up, shared by the worker threads; answers after `finish()` are dropped.
    final class LookupWork: @unchecked Sendable {
        let names: [String]
        private let lock = NSLock()
        private var nextIndex = 0
        private var answers: [String: DomainAnswer] = [:]
        private var closed = false
        let allDone = DispatchSemaphore(value: 0)

        init(names: [String]) { self.names = names }

        func run(_ resolver: any DomainResolver) {
            while true {
                lock.lock()
                guard !closed, nextIndex < names.count else { lock.unlock(); return }
                let name = names[nextIndex]
                nextIndex += 1
                lock.unlock()
                let answer = resolver.resolve(name)
                lock.lock()
                if !closed {
                    answers[name] = answer
                    if answers.count == names.count { allDone.signal() }
                }
                lock.unlock()
            }
        }

        func finish() -> [String: DomainAnswer] {
            lock.lock()
            defer { lock.unlock() }
            closed = true
            return answers
        }
    }
}
