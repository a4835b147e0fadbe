import LannerStore

/// Why one delivery attempt failed.
struct DeliveryFailure: Error, Equatable, CustomStringConvertible {
    var message: String
    /// False when trying again cannot help (an HTTP 4xx, a message too large for the socket).
    var retryable: Bool = true
    /// The endpoint asked for this wait before the next attempt (HTTP Retry-After).
    var retryAfter: Duration?

    var description: String { message }
}

/// What one delivery attempt did.
enum DeliveryOutcome: Equatable {
    case delivered
    case failed(DeliveryFailure)
    /// Shutdown's deadline passed during the attempt.
    case cancelled
    /// Handed on but not yet known to be delivered (written into a program's pipe): the sink now owns the
    /// alert and settles it later through its `SinkContext` (delivered, failed attempts, gave up, abandoned).
    case pending
}

/// Where an output's alerts go. Each sink belongs to its output's worker thread; only that thread calls it.
protocol AlertSink: AnyObject {
    /// Called once on the worker thread before the first alert (a long-lived program starts here).
    func start(cancel: Canceller)
    /// True while alerts the sink took as `.pending` are unsettled: the worker then calls `idle` every
    /// `OutputWorker.idleInterval` while no alerts arrive.
    var hasPending: Bool { get }
    /// Settles what can be settled without a new alert.
    func idle(cancel: Canceller)
    /// Attempt number `attempt` (1-based) to deliver one alert. Waits only through `cancel` (cancellable) or
    /// with its own timeout.
    func deliver(_ alert: StoredAlert, attempt: Int, cancel: Canceller) -> DeliveryOutcome
    /// Reopens what the output writes to (a file after rotation). Sinks without such a thing ignore it.
    func reopen()
    /// Finishes: flushes and releases, waiting at most until `deadline` (less if cancelled).
    func close(deadline: Deadline, cancel: Canceller)
    /// Gives the sink its output's log and counters, before the worker starts.
    func attach(_ context: SinkContext)
}

extension AlertSink {
    func start(cancel: Canceller) {}
    var hasPending: Bool { false }
    func idle(cancel: Canceller) {}
    func reopen() {}
    func attach(_ context: SinkContext) {}
}

/// What a sink may tell its output: log lines, and how `.pending` alerts were settled. Set up by the worker;
/// called only on the worker thread.
final class SinkContext: @unchecked Sendable {
    let log: @Sendable (String) -> Void
    /// `n` pending alerts were delivered.
    var delivered: (Int) -> Void = { _ in }
    /// `n` delivery attempts failed (pending alerts the sink will try again), the last for this reason.
    var failedAttempts: (Int, String) -> Void = { _, _ in }
    /// A pending alert will not be tried again.
    var gaveUp: (StoredAlert, String) -> Void = { _, _ in }
    /// `n` pending alerts were still unsettled at shutdown's deadline.
    var abandoned: (Int) -> Void = { _ in }
    /// The sink started its program again.
    var restarted: () -> Void = {}

    init(log: @escaping @Sendable (String) -> Void) { self.log = log }
}
