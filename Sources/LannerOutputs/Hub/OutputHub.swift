import Foundation
import LannerStore
import Synchronization

/// Why an output could not be set up (at `OutputHub.init`, so a bad configuration stops the collector at
/// startup rather than losing alerts later).
public struct OutputSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `outputs.file`, `outputs.webhook` …
    public var output: String
    public var message: String
    public var description: String { "\(output): \(message)" }
}

/// Delivers stored alerts to the configured outputs without ever holding up ingest.
///
/// ```swift
/// let hub = try OutputHub(config: fileConfig.outputs, log: config.log)
/// // ingest thread, right after AlertStore.commit:
/// hub.publish(storedAlerts)
/// // SIGHUP: hub.reopen()
/// // -v / metrics: hub.counters
/// // shutdown, after the ingest thread has stopped:
/// let final = hub.stop(deadline: .now + .seconds(5))
/// ```
/// Each enabled output has its own bounded queue (`queue_size`) and its own thread. `publish` only appends to
/// the queues (taking each output's lock once per call): when a queue is full the alert is counted as
/// dropped for that output and the others still get it. A slow, hung or failing output (a webhook timing
/// out, a program that stopped reading) fills its own queue and nothing else. Failures and drops are counted
/// (`counters`) and logged, rate-limited, through `log`. Outputs are at-least-once towards endpoints that
/// fail after receiving (a webhook that times out after storing the alert gets it again on retry).
public final class OutputHub: Sendable {
    private let workers: [OutputWorker]
    private let log: @Sendable (String) -> Void
    private let state = Mutex(HubState())
    private let monitor: DropMonitor

    struct HubState {
        var stopped = false
        var final: [OutputCounters] = []
    }

    /// An output ready to run: its name, what it writes to, its settings and its sink.
    struct Spec {
        var name: String
        var target: String
        var settings: DeliverySettings
        var sink: AlertSink
    }

    /// Opens every enabled output in `config` (files opened, CA files loaded, URLs checked) and starts one
    /// thread per output. Programs are started by their thread; a webhook connects on its first alert.
    /// - Parameter log: receives one line per event worth telling an operator (failures, drops, restarts),
    ///   rate-limited; called from the output threads, never from `publish`.
    /// - Throws: `OutputSetupError` naming the output and the reason.
    public convenience init(config: OutputsConfig, log: @escaping @Sendable (String) -> Void) throws(OutputSetupError) {
        // Settings built in code (not read from a file) get the checks the file reader makes.
        for (name, d) in [("stdout", config.stdout?.delivery), ("file", config.file?.delivery), ("syslog", config.syslog?.delivery),
                          ("program", config.program?.delivery), ("webhook", config.webhook?.delivery)] {
            guard let d, d.enabled else { continue }
            if let why = d.problem { throw OutputSetupError(output: "outputs.\(name)", message: why) }
        }
        var specs: [Spec] = []
        if let c = config.stdout, c.delivery.enabled {
            if let why = StreamSink.problem(fd: 1) { throw OutputSetupError(output: "outputs.stdout", message: "cannot write to stdout: " + why) }
            specs.append(Spec(name: "stdout", target: "stdout", settings: c.delivery, sink: StreamSink(fd: 1, format: c.format)))
        }
        if let c = config.file, c.delivery.enabled {
            let sink: FileSink
            do { sink = try FileSink(path: c.path, format: c.format) } catch {
                throw OutputSetupError(output: "outputs.file", message: error.description)
            }
            specs.append(Spec(name: "file", target: c.path, settings: c.delivery, sink: sink))
        }
        if let c = config.syslog, c.delivery.enabled {
            specs.append(Spec(name: "syslog", target: c.socket, settings: c.delivery, sink: SyslogSink(config: c)))
        }
        if let c = config.program, c.delivery.enabled {
            guard !c.command.isEmpty else { throw OutputSetupError(output: "outputs.program", message: "no command") }
            specs.append(Spec(name: "program", target: c.command, settings: c.delivery, sink: ProgramSink(config: c)))
        }
        if let c = config.webhook, c.delivery.enabled {
            guard let url = c.url else { throw OutputSetupError(output: "outputs.webhook", message: "no url") }
            let sink: WebhookSink
            do { sink = try WebhookSink(config: c, url: url) } catch {
                throw OutputSetupError(output: "outputs.webhook", message: error.description)
            }
            specs.append(Spec(name: "webhook", target: url.description, settings: c.delivery, sink: sink))
        }
        self.init(specs: specs, log: log)
    }

    /// The outputs of a whole configuration file.
    public convenience init(config: CollectorFileConfig, log: @escaping @Sendable (String) -> Void) throws(OutputSetupError) {
        try self.init(config: config.outputs, log: log)
    }

    init(specs: [Spec], log: @escaping @Sendable (String) -> Void, reportInterval: Duration = .seconds(10)) {
        self.log = log
        var workers: [OutputWorker] = []
        for s in specs {
            let channel = OutputChannel(name: s.name, target: s.target, settings: s.settings, cancel: Canceller())
            workers.append(OutputWorker(channel: channel, sink: s.sink, log: log))
        }
        self.workers = workers
        monitor = DropMonitor(channels: workers.map(\.channel), log: log, interval: reportInterval)
        for w in workers { w.start() }
        if !workers.isEmpty { monitor.start() }
    }

    /// The alerts `AlertStore.commit` has just stored, as the store will return them: `ids` are the row ids from
    /// `CommitResult.committed`, in the same order as `alerts`.
    public static func storedAlerts(_ alerts: [NewAlert], ids: [Int64]) -> [StoredAlert] {
        zip(alerts, ids).map { a, id in
            let fields = a.fieldsJSON.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" } ? "{}" : a.fieldsJSON
            return StoredAlert(id: id, timeNs: a.timeNs, host: a.host, sensorID: a.sensorID, rule: a.rule, priority: a.priority,
                               source: a.source, output: a.output, tags: a.tags, fieldsJSON: fields, containerID: a.containerID,
                               count: 1, lastSeenNs: a.timeNs)
        }
    }

    /// Names of the running outputs, in counter order.
    public var outputNames: [String] { workers.map(\.channel.name) }

    /// Hands freshly committed alerts to every output. Never waits for an output: it takes each output's lock
    /// briefly and appends (or counts a drop). Safe from any thread; alerts published after `stop` are counted
    /// as dropped.
    public func publish(_ alerts: [StoredAlert]) {
        if alerts.isEmpty { return }
        for w in workers { w.channel.offer(alerts) }
    }

    /// Asks the file output to reopen its file (call on SIGHUP, after log rotation). Returns at once; the
    /// output's thread reopens before its next write.
    public func reopen() {
        for w in workers { w.channel.requestReopen() }
    }

    /// Every output's counters, in configuration order (stdout, file, syslog, program, webhook).
    public var counters: [OutputCounters] { workers.map(\.channel.snapshot) }

    /// Stops accepting alerts and lets every output deliver what it holds until `deadline`. At the deadline,
    /// waits are cancelled (a hung webhook or a program that does not read), what is left is counted as
    /// abandoned, programs get SIGTERM and then SIGKILL. Returns no later than about a second after the
    /// deadline, even if an output is stuck in a call that cannot be interrupted (it is then left behind and
    /// named in the log). Idempotent: later calls return the first call's counters.
    @discardableResult
    public func stop(deadline: ContinuousClock.Instant) -> [OutputCounters] {
        let first = state.withLock { s -> Bool in
            defer { s.stopped = true }
            return !s.stopped
        }
        guard first else { return state.withLock { $0.final } }
        monitor.stop()   // reports the drops it has not yet; the summary below has the rest
        for w in workers { w.channel.close(deadline: Deadline(instant: deadline)) }
        var late: [OutputWorker] = []
        for w in workers where !w.waitUntilFinished(deadline) { late.append(w) }
        for w in late {
            w.channel.cancel.cancel()
            w.channel.wake()
        }
        let grace = ContinuousClock.now + .seconds(1)
        for w in late where !w.waitUntilFinished(grace) {
            log("output \(w.channel.name): did not stop within a second of the deadline; left behind")
        }
        let final = counters
        for c in final where c.dropped + c.gaveUp + c.abandoned > 0 {
            log("output \(c.name): stopped; \(c)")
        }
        state.withLock { $0.final = final }
        return final
    }

    /// `stop(deadline: .now + timeout)`.
    @discardableResult
    public func stop(timeout: Duration) -> [OutputCounters] { stop(deadline: .now + timeout) }

    deinit {
        if !state.withLock({ $0.stopped }) { stop(deadline: .now) }
    }
}

/// Logs each output's new drops every `interval` (publish never logs; a stuck worker cannot).
final class DropMonitor: @unchecked Sendable {
    private let channels: [OutputChannel]
    private let log: @Sendable (String) -> Void
    private let interval: Duration
    private let cond = NSCondition()
    private var started = false
    private var stopping = false
    private var stopped = false
    private var seen: [UInt64]

    init(channels: [OutputChannel], log: @escaping @Sendable (String) -> Void, interval: Duration) {
        self.channels = channels
        self.log = log
        self.interval = interval
        seen = Array(repeating: 0, count: channels.count)
    }

    func start() {
        cond.lock()
        started = true
        cond.unlock()
        let t = Thread { [self] in run() }
        t.name = "lanner-output-monitor"
        t.start()
    }

    private func run() {
        cond.lock()
        while !stopping {
            let (s, atto) = interval.components
            _ = cond.wait(until: Date(timeIntervalSinceNow: Double(s) + Double(atto) / 1e18))
            cond.unlock()
            report()
            cond.lock()
        }
        stopped = true
        cond.broadcast()
        cond.unlock()
    }

    func report() {
        for (i, ch) in channels.enumerated() {
            let c = ch.snapshot
            if c.dropped > seen[i] {
                log("output \(c.name): \(c.dropped - seen[i]) alert\(c.dropped - seen[i] == 1 ? "" : "s") dropped, queue full "
                    + "(\(c.queueDepth)/\(c.queueCapacity) held); \(c.dropped) dropped in all; they are in the database")
                seen[i] = c.dropped
            }
        }
    }

    /// Stops the thread and reports what it had not yet.
    func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        while started && !stopped { cond.wait() }
        cond.unlock()
        report()
    }
}
