import Foundation
import Glibc
import LannerStore

/// One output's thread: takes alerts from its channel and delivers each through its sink, retrying with
/// backoff. Only this thread touches the sink.
final class OutputWorker: @unchecked Sendable {
    let channel: OutputChannel
    private let sink: AlertSink
    private let context: SinkContext
    private let done = DispatchSemaphore(value: 0)
    private var failures = RateLimitedLog(interval: .seconds(10))
    private var gaveUpLog = RateLimitedLog(interval: .seconds(10))
    /// Alerts given up on while `gaveUpLog` held messages back: told at the next chance (or at the end).
    private var heldGaveUp: (count: Int, ids: [Int64], reason: String) = (0, [], "")
    /// Failed attempts so far when the current run of failures began; nil while delivering fine.
    private var failingSince: UInt64?
    static let maxBatch = 64
    /// How often a sink with pending alerts is given a chance to settle them while no alerts arrive.
    static let idleInterval: Duration = .milliseconds(20)

    init(channel: OutputChannel, sink: AlertSink, log: @escaping @Sendable (String) -> Void) {
        self.channel = channel
        self.sink = sink
        context = SinkContext(log: log)
        context.delivered = { [unowned self] n in
            channel.complete(n) { $0.delivered += UInt64(n) }
            noteRecovery()
        }
        context.failedAttempts = { [unowned self] n, why in noteFailures(n, why) }
        context.gaveUp = { [unowned self] alert, why in
            channel.complete(1) { $0.gaveUp += 1 }
            noteGaveUp(alert, why)
        }
        context.abandoned = { n in channel.complete(n) { $0.abandoned += UInt64(n) } }
        context.restarted = { channel.record { $0.restarts += 1 } }
        sink.attach(context)
    }

    func start() {
        let t = Thread { [self] in run() }
        t.name = "lanner-output-\(channel.name)"
        t.start()
    }

    /// Waits until the worker has finished, at most until `deadline`; true if it has.
    func waitUntilFinished(_ deadline: ContinuousClock.Instant) -> Bool {
        let left = ContinuousClock.now.duration(to: deadline)
        let (s, atto) = max(left, .zero).components
        let ns = Int(clamping: s) &* 1_000_000_000 &+ Int(atto / 1_000_000_000)
        if done.wait(timeout: .now() + .nanoseconds(max(0, ns))) == .success {
            done.signal()   // later callers see it finished too
            return true
        }
        return false
    }

    private func run() {
        // A reader that went away must give EPIPE, not kill the collector (the signal goes to the writing thread).
        var pipeSet = sigset_t()
        sigemptyset(&pipeSet)
        sigaddset(&pipeSet, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSet, nil)

        sink.start(cancel: channel.cancel)
        loop: while true {
            switch channel.next(maxBatch: Self.maxBatch, idleAfter: sink.hasPending ? Self.idleInterval : nil) {
            case .stop:
                break loop
            case .idle:
                sink.idle(cancel: channel.cancel)
            case .reopen:
                sink.reopen()
            case .deliver(let batch, let reopenFirst):
                if reopenFirst { sink.reopen() }
                for (i, alert) in batch.enumerated() where !deliver(alert) {
                    // Cancelled: this alert and the rest of the batch were not delivered.
                    let rest = batch.count - i - 1
                    if rest > 0 { channel.complete(rest) { $0.abandoned += UInt64(rest) } }
                    break loop
                }
            }
        }
        _ = channel.abandonPending()   // only when cancelled: a drained, closed channel holds nothing
        sink.close(deadline: channel.closeDeadline, cancel: channel.cancel)
        flushGaveUp()
        done.signal()
    }

    /// Delivers one alert with retries; false when cancelled (the alert is counted abandoned).
    private func deliver(_ alert: StoredAlert) -> Bool {
        let settings = channel.settings
        var attempt = 0
        while true {
            attempt += 1
            switch sink.deliver(alert, attempt: attempt, cancel: channel.cancel) {
            case .delivered:
                channel.complete(1) { $0.delivered += 1 }
                noteRecovery()
                return true
            case .pending:
                return true
            case .cancelled:
                channel.complete(1) { $0.abandoned += 1 }
                return false
            case .failed(let f):
                noteFailures(1, f.message)
                let attempts = settings.retries + 1
                if !f.retryable || attempt >= attempts {
                    channel.complete(1) { $0.gaveUp += 1 }
                    let why = f.retryable ? "after \(attempt) attempt\(attempt == 1 ? "" : "s")" : "(not retried)"
                    noteGaveUp(alert, "\(why): \(f.message)")
                    return true
                }
                let delay = f.retryAfter.map { min($0, settings.maxBackoff) } ?? settings.delay(beforeRetry: attempt)
                failures.log("\(prefix): attempt \(attempt) of \(attempts) for alert \(alert.id) failed: \(f.message); "
                             + "retrying in \(DurationText.format(delay))", to: context.log)
                if !channel.cancel.sleep(delay) {
                    channel.complete(1) { $0.abandoned += 1 }
                    return false
                }
            }
        }
    }

    private var prefix: String { "output \(channel.name)" }

    private func noteFailures(_ n: Int, _ why: String) {
        var total: UInt64 = 0
        channel.record {
            $0.failedAttempts += UInt64(n)
            $0.lastError = why
            total = $0.failedAttempts
        }
        if failingSince == nil { failingSince = total - UInt64(n) }
    }

    private func noteRecovery() {
        guard let since = failingSince else { return }
        let failed = channel.snapshot.failedAttempts - since
        context.log("\(prefix): delivering again (after \(failed) failed attempt\(failed == 1 ? "" : "s"))")
        failingSince = nil
        failures.reset()
        flushGaveUp()
    }

    /// Every alert given up on is named in the log: at once, or (within the rate limit) in a later summary.
    private func noteGaveUp(_ alert: StoredAlert, _ reason: String) {
        if gaveUpLog.allow() {
            flushGaveUp()
            var rule = ""
            AlertText.appendValue(alert.rule, to: &rule)
            context.log("\(prefix): gave up on alert \(alert.id) (rule \(rule)) \(reason)")
        } else {
            heldGaveUp.count += 1
            if heldGaveUp.ids.count < 20 { heldGaveUp.ids.append(alert.id) }
            heldGaveUp.reason = reason
        }
    }

    private func flushGaveUp() {
        let h = heldGaveUp
        guard h.count > 0 else { return }
        let ids = h.ids.map(String.init).joined(separator: ", ") + (h.count > h.ids.count ? ", …" : "")
        context.log("\(prefix): also gave up on \(h.count) more alert\(h.count == 1 ? "" : "s") (ids \(ids)); last: \(h.reason)")
        heldGaveUp = (0, [], "")
    }
}

/// Logs the first message, then at most one per `interval`, saying how many it held back.
struct RateLimitedLog {
    let interval: Duration
    private var last: ContinuousClock.Instant?
    private var suppressed = 0

    init(interval: Duration) { self.interval = interval }

    mutating func log(_ message: String, to sink: (String) -> Void) {
        let held = suppressed
        guard allow() else { return }
        sink(held > 0 ? "\(message) (\(held) similar message\(held == 1 ? "" : "s") held back)" : message)
    }

    /// True when a message may go out now (and counts it); false when it is held back.
    mutating func allow() -> Bool {
        let now = ContinuousClock.now
        if let last, last.duration(to: now) < interval {
            suppressed += 1
            return false
        }
        suppressed = 0
        last = now
        return true
    }

    mutating func reset() {
        last = nil
        suppressed = 0
    }
}
