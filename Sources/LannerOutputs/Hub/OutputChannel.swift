import Foundation
import LannerStore

/// One output's bounded queue and counters, shared by the publishing thread, the output's worker and whoever
/// reads the counters. One lock guards both; it is held only to append, take or count, never during I/O.
final class OutputChannel: @unchecked Sendable {
    let name: String
    let settings: DeliverySettings
    let cancel: Canceller
    private let cond = NSCondition()
    private var pending: [StoredAlert] = []
    private var head = 0
    private var inFlight = 0
    private var closed = false
    private var reopenRequested = false
    private var counters: OutputCounters
    /// Set by `close`: how long the worker may still take to drain and finish.
    private(set) var closeDeadline = Deadline.never

    init(name: String, target: String, settings: DeliverySettings, cancel: Canceller) {
        self.name = name
        self.settings = settings
        self.cancel = cancel
        counters = OutputCounters(name: name, target: target, queueCapacity: settings.queueSize)
        pending.reserveCapacity(min(settings.queueSize, 1024))
    }

    private var held: Int { pending.count - head + inFlight }

    /// Takes what fits of `alerts` (those at or above `min_priority`); counts the rest as dropped. Never waits
    /// for anything but the lock.
    func offer(_ alerts: [StoredAlert]) {
        let minimum = settings.minPriority
        cond.lock()
        var added = false
        for a in alerts {
            if !a.priority.isAtLeast(minimum) {
                counters.filtered += 1
            } else if closed || held >= settings.queueSize {
                counters.dropped += 1
            } else {
                pending.append(a)
                counters.accepted += 1
                added = true
            }
        }
        if added { cond.signal() }
        cond.unlock()
    }

    /// What the worker does next.
    enum Work {
        /// Deliver these (they count as in flight until `finished`).
        case deliver([StoredAlert], reopenFirst: Bool)
        /// Only reopen.
        case reopen
        /// Nothing arrived within the idle interval asked for.
        case idle
        /// Closed and drained, or cancelled: finish.
        case stop
    }

    /// Waits for alerts, a reopen request, closing or cancellation; with `idleAfter`, at most that long.
    func next(maxBatch: Int, idleAfter: Duration? = nil) -> Work {
        cond.lock()
        defer { cond.unlock() }
        let idleAt = idleAfter.map { d -> Date in
            let (s, atto) = d.components
            return Date(timeIntervalSinceNow: Double(s) + Double(atto) / 1e18)
        }
        while true {
            if cancel.isCancelled { return .stop }
            let reopen = reopenRequested
            reopenRequested = false
            if head < pending.count {
                let end = min(pending.count, head + maxBatch)
                let batch = Array(pending[head..<end])
                head = end
                if head == pending.count {
                    pending.removeAll(keepingCapacity: pending.capacity <= 4096)
                    head = 0
                } else if head >= 4096 && head * 2 >= pending.count {
                    pending.removeFirst(head)
                    head = 0
                }
                inFlight += batch.count
                return .deliver(batch, reopenFirst: reopen)
            }
            if reopen { return .reopen }
            if closed { return .stop }   // the sink's close settles what it still has pending
            if let idleAt {
                if !cond.wait(until: idleAt) { return .idle }
            } else {
                cond.wait()
            }
        }
    }

    /// The worker is done with `n` alerts it took; `body` counts them (delivered, gave up or abandoned) under
    /// the same lock, so a snapshot never sees an alert twice or not at all.
    func complete(_ n: Int, _ body: (inout OutputCounters) -> Void) {
        cond.lock()
        inFlight -= n
        body(&counters)
        cond.unlock()
    }

    /// Updates counters.
    func record(_ body: (inout OutputCounters) -> Void) {
        cond.lock()
        body(&counters)
        cond.unlock()
    }

    /// Counts every alert still waiting as abandoned and forgets them (shutdown's deadline passed).
    func abandonPending() -> Int {
        cond.lock()
        let n = pending.count - head
        counters.abandoned += UInt64(n)
        pending.removeAll()
        head = 0
        cond.unlock()
        return n
    }

    var snapshot: OutputCounters {
        cond.lock()
        var c = counters
        c.queueDepth = held
        cond.unlock()
        return c
    }

    func requestReopen() {
        cond.lock()
        reopenRequested = true
        cond.signal()
        cond.unlock()
    }

    /// No more alerts are accepted; the worker delivers what is held until `deadline`.
    func close(deadline: Deadline) {
        cond.lock()
        if !closed {
            closed = true
            closeDeadline = deadline
        }
        cond.broadcast()
        cond.unlock()
    }

    /// Wakes the worker after `cancel.cancel()`.
    func wake() {
        cond.lock()
        cond.broadcast()
        cond.unlock()
    }
}
