/// One output's counters, a snapshot. Every alert handed to `OutputHub.publish` is counted exactly once per
/// output: `filtered` (below the output's `min_priority`), `dropped` (the queue was full, or the hub was
/// stopping), or `accepted`. An accepted alert is then `delivered`, `gaveUp` (every attempt failed, or a
/// failure retrying cannot fix), `abandoned` (still held when shutdown's deadline passed), or still held:
/// `accepted == delivered + gaveUp + abandoned + queueDepth` at every snapshot.
///
/// Alerts an output loses are still in the database (`lanner-collector alerts`); the counters and the log say
/// how many, and the log names the alert ids it gave up on.
public struct OutputCounters: Sendable, Equatable, CustomStringConvertible {
    /// The output's kind: `stdout`, `file`, `syslog`, `program` or `webhook`.
    public var name: String
    /// What it writes to: a path, a socket, a command, a URL without its query.
    public var target: String
    public var accepted: UInt64 = 0
    public var delivered: UInt64 = 0
    /// Delivery attempts that failed (each retry that fails counts again).
    public var failedAttempts: UInt64 = 0
    public var gaveUp: UInt64 = 0
    public var dropped: UInt64 = 0
    public var abandoned: UInt64 = 0
    public var filtered: UInt64 = 0
    /// Long-lived program: how many times it was started again after exiting.
    public var restarts: UInt64 = 0
    /// Alerts held now: waiting plus the ones being delivered.
    public var queueDepth: Int = 0
    /// `queue_size`.
    public var queueCapacity: Int
    /// The most recent failure, if any attempt has failed.
    public var lastError: String?

    public init(name: String, target: String, queueCapacity: Int) {
        self.name = name
        self.target = target
        self.queueCapacity = queueCapacity
    }

    /// One line for logs and `-v`:
    /// `webhook https://siem:443/lanner: delivered 120, failed attempts 3, gave up 0, dropped 0, queued 0/10000`.
    public var description: String {
        var s = "\(name) \(target): delivered \(delivered), failed attempts \(failedAttempts), gave up \(gaveUp), "
            + "dropped \(dropped), queued \(queueDepth)/\(queueCapacity)"
        if abandoned > 0 { s += ", abandoned at stop \(abandoned)" }
        if restarts > 0 { s += ", restarts \(restarts)" }
        if filtered > 0 { s += ", below min_priority \(filtered)" }
        return s
    }
}
