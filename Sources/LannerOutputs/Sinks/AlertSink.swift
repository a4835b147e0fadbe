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
}

/// Where an output's alerts go. Each sink belongs to its output's worker thread; only that thread calls it.
protocol AlertSink: AnyObject {
    /// One attempt to deliver one alert. Waits only through `cancel` (cancellable) or with its own timeout.
    func deliver(_ alert: StoredAlert, cancel: Canceller) -> DeliveryOutcome
    /// Reopens what the output writes to (a file after rotation). Sinks without such a thing ignore it.
    func reopen()
    /// Finishes: flushes and releases, waiting at most until `deadline` (less if cancelled).
    func close(deadline: Deadline, cancel: Canceller)
    /// Gives the sink its output's log and counters, before the worker starts.
    func attach(_ context: SinkContext)
}

extension AlertSink {
    func reopen() {}
    func attach(_ context: SinkContext) {}
}

/// What a sink may tell its output while delivering: log lines and counter updates (restarts).
final class SinkContext: @unchecked Sendable {
    let name: String
    let log: @Sendable (String) -> Void
    private(set) var onRestart: @Sendable () -> Void = {}

    init(name: String, log: @escaping @Sendable (String) -> Void) {
        self.name = name
        self.log = log
    }

    func setRestartHandler(_ f: @escaping @Sendable () -> Void) { onRestart = f }
}
