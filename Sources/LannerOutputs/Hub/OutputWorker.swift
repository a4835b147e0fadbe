import Foundation
import Glibc
import LannerStore

/// One output's thread: takes alerts from its channel and delivers each through its sink, retrying with
/// backoff. Only this thread touches the sink.
final class OutputWorker: @unchecked Sendable {
    let channel: OutputChannel
    let context: SinkContext
    private let sink: AlertSink
    private let done = DispatchSemaphore(value: 0)
    private var failures = RateLimitedLog(interval: .seconds(10))
    private var failingSince: Int?   // failed attempts when the current run of failures began
    static let maxBatch = 64

    init(channel: OutputChannel, sink: AlertSink, context: SinkContext) {
        self.channel = channel
        self.sink = sink
        self.context = context
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
        return done.wait(timeout: .now() + .nanoseconds(max(0, ns))) == .success
    }

    private func run() {
        // A reader that went away must give EPIPE, not kill the collector (the signal goes to the writing thread).
        var pipeSet = sigset_t()
        sigemptyset(&pipeSet)
        sigaddset(&pipeSet, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSet, nil)

        loop: while true {
            switch channel.next(maxBatch: Self.maxBatch) {
            case .stop:
                break loop
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
        done.signal()
    }

    /// Delivers one alert with retries; false when cancelled (the alert is counted abandoned).
    private func deliver(_ alert: StoredAlert) -> Bool {
        let settings = channel.settings
        var attempt = 0
        while true {
            attempt += 1
            switch sink.deliver(alert, cancel: channel.cancel) {
            case .delivered:
                channel.complete(1) { $0.delivered += 1 }
                if let since = failingSince {
                    let failed = channel.snapshot.failedAttempts - UInt64(since)
                    context.log("\(prefix): delivering again (after \(failed) failed attempt\(failed == 1 ? "" : "s"))")
                    failingSince = nil
                    failures.reset()
                }
                return true
            case .cancelled:
                channel.complete(1) { $0.abandoned += 1 }
                return false
            case .failed(let f):
                var total: UInt64 = 0
                channel.record {
                    $0.failedAttempts += 1
                    $0.lastError = f.message
                    total = $0.failedAttempts
                }
                if failingSince == nil { failingSince = Int(total - 1) }
                let attempts = settings.retries + 1
                if !f.retryable || attempt >= attempts {
                    channel.complete(1) { $0.gaveUp += 1 }
                    let why = f.retryable ? "after \(attempt) attempt\(attempt == 1 ? "" : "s")" : "(not retried)"
                    failures.log("\(prefix): gave up on alert \(alert.id) (rule \(ruleName(alert))) \(why): \(f.message)", to: context.log)
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

    private func ruleName(_ a: StoredAlert) -> String {
        var s = ""
        AlertText.appendValue(a.rule, to: &s)
        return s
    }
}

/// Logs the first message, then at most one per `interval`, saying how many it held back.
struct RateLimitedLog {
    let interval: Duration
    private var last: ContinuousClock.Instant?
    private var suppressed = 0

    init(interval: Duration) { self.interval = interval }

    mutating func log(_ message: String, to sink: (String) -> Void) {
        let now = ContinuousClock.now
        if let last, last.duration(to: now) < interval {
            suppressed += 1
            return
        }
        sink(suppressed > 0 ? "\(message) (\(suppressed) similar message\(suppressed == 1 ? "" : "s") held back)" : message)
        suppressed = 0
        last = now
    }

    mutating func reset() {
        last = nil
        suppressed = 0
    }
}
