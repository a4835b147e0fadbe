import Foundation
import LannerStore

/// Enforces `retention:` in the background: a thread with its own connection to the database deletes what the
/// policy says must go, in batches of `batchSize` rows, each in its own short transaction, resting between
/// batches at least as long as the batch took, so ingest (which writes the same file) waits at most for one
/// batch and gets the write lock at least half of the time while a large backlog is deleted. It also refreshes
/// SQLite's planner statistics once an hour.
final class RetentionWorker: @unchecked Sendable {
    let path: String
    let policy: RetentionPolicy
    let interval: Double
    let batchSize: Int
    private let log: @Sendable (String) -> Void
    private let cond = NSCondition()
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    private(set) var deletedByAge = 0
    private(set) var deletedByCount = 0

    init(path: String, policy: RetentionPolicy, interval: Double, batchSize: Int, log: @escaping @Sendable (String) -> Void) {
        self.path = path
        self.policy = policy
        self.interval = interval
        self.batchSize = batchSize
        self.log = log
    }

    func start() {
        let t = Thread { [self] in run() }
        t.name = "lanner-retention"
        thread = t
        t.start()
    }

    /// Stops after the batch in progress; waits for the thread.
    func stop() {
        cond.lock()
        let wasRunning = thread != nil && !stopping
        stopping = true
        cond.broadcast()
        cond.unlock()
        if wasRunning { done.wait() }
    }

    /// Sleeps `seconds` unless stopped; false once stopping.
    private func rest(_ seconds: Double) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        let until = Date().addingTimeInterval(seconds)
        while !stopping && cond.wait(until: until) {}
        return !stopping
    }

    private func run() {
        defer { done.signal() }
        let store: AlertStore
        do { store = try AlertStore(path: path) } catch {
            log("lanner-collector: retention cannot open \(path): \(error); alerts are not deleted")
            return
        }
        defer { store.close() }
        var lastOptimize = Date.distantPast
        repeat {
            var pass = RetentionBatch()
            while true {
                let t0 = Date()
                let batch: RetentionBatch
                do { batch = try store.deleteExpired(policy, nowNs: CollectorServer.nowNs(), batch: batchSize) } catch {
                    log("lanner-collector: retention: \(error); trying again in \(Int(interval)) s")
                    break
                }
                pass.byAge += batch.byAge
                pass.byCount += batch.byCount
                if batch.total < batchSize { break }
                if !rest(max(0.005, Date().timeIntervalSince(t0))) { break }
            }
            if pass.total > 0 {
                cond.lock()
                deletedByAge += pass.byAge
                deletedByCount += pass.byCount
                cond.unlock()
                var why: [String] = []
                if pass.byAge > 0 { why.append("\(pass.byAge) older than \(Self.duration(policy.maxAgeNs))") }
                if pass.byCount > 0 { why.append("\(pass.byCount) beyond \(policy.maxRows) rows") }
                log("lanner-collector: retention deleted \(pass.total) alerts (\(why.joined(separator: ", ")))")
            }
            if Date().timeIntervalSince(lastOptimize) >= 3600 {
                lastOptimize = Date()
                try? store.optimize()
            }
        } while rest(interval)
    }

    var counts: (byAge: Int, byCount: Int) {
        cond.lock()
        defer { cond.unlock() }
        return (deletedByAge, deletedByCount)
    }

    static func duration(_ ns: Int64) -> String {
        let s = ns / 1_000_000_000
        if s % 86_400 == 0 { return "\(s / 86_400)d" }
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
