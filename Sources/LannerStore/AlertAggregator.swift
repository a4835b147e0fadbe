/// Which stored row an identical alert folds into (pure bookkeeping; the store runs the SQL).
///
/// A row is open for folding from its first alert's event time `t0` while an identical alert's time is within
/// `[t0 − window, t0 + window]`: a storm of one alert becomes one row per window, each with its count, so the
/// rows still say when the storm ran. Rows are remembered once their transaction committed (`commit`), so a
/// rolled-back batch leaves nothing behind; within a transaction the alerts inserted so far are already open.
/// What is remembered is bounded: rows are forgotten once the window has passed on the wall clock (plus a
/// grace period for late batches), and at most `maxOpen` rows are kept (the oldest go first).
struct AlertAggregator {
    struct Key: Hashable {
        let host: String
        let rule: String
        let output: String
    }

    struct Open {
        let id: Int64
        let firstNs: Int64
    }

    static let maxOpen = 65_536
    /// Extra wall-clock time a row stays open beyond the window, for batches that arrive late.
    static let graceNs: Int64 = 60_000_000_000

    private var open: [Key: Open] = [:]
    /// Keys in the order their rows were opened, with the wall-clock time they were remembered.
    private var order: [(key: Key, id: Int64, atNs: Int64)] = []
    private var head = 0
    /// Rows inserted by the transaction in progress.
    private var pending: [Key: Open] = [:]
    private var pendingOrder: [(key: Key, id: Int64)] = []

    var openCount: Int { open.count }

    /// The row an alert with `key` at `timeNs` folds into, or nil when it needs a row of its own.
    func row(for key: Key, timeNs: Int64, windowNs: Int64) -> Int64? {
        guard let o = pending[key] ?? open[key] else { return nil }
        let (d, overflow) = timeNs.subtractingReportingOverflow(o.firstNs)
        guard !overflow, d.magnitude <= UInt64(windowNs) else { return nil }
        return o.id
    }

    /// Notes a row the transaction in progress inserted.
    mutating func inserted(_ key: Key, id: Int64, timeNs: Int64) {
        pending[key] = Open(id: id, firstNs: timeNs)
        pendingOrder.append((key, id))
    }

    /// The transaction committed: its rows are open from now on; expired and excess rows are forgotten.
    mutating func commit(nowNs: Int64, windowNs: Int64) {
        for (key, id) in pendingOrder {
            if let o = pending[key], o.id == id {
                open[key] = o
                order.append((key, id, nowNs))
            }
        }
        pending.removeAll(keepingCapacity: true)
        pendingOrder.removeAll(keepingCapacity: true)
        let horizon = nowNs &- windowNs &- Self.graceNs
        while head < order.count, order[head].atNs < horizon || order.count - head > Self.maxOpen {
            let e = order[head]
            if open[e.key]?.id == e.id { open[e.key] = nil }
            head += 1
        }
        if head > 4096 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    /// The transaction rolled back: forget what it inserted.
    mutating func rollback() {
        pending.removeAll(keepingCapacity: true)
        pendingOrder.removeAll(keepingCapacity: true)
    }
}
