import Foundation
import LannerCore
import LannerHTTP2
import LannerOutputs
import LannerStore

/// A Prometheus histogram: cumulative buckets, sum and count. Observations are per batch, never per event.
public struct Histogram: Sendable, Equatable {
    /// Upper bounds in seconds, ascending; `+Inf` is implied.
    public let bounds: [Double]
    /// Observations ≤ each bound (not cumulative here; made cumulative when rendered), then the `+Inf` excess.
    public private(set) var buckets: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    /// 50 µs … 10 s, roughly ×2.5 apart: batch evaluation and SQLite commits both fall in this range.
    public static let latencyBounds: [Double] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    public init(bounds: [Double] = Histogram.latencyBounds) {
        self.bounds = bounds
        buckets = [UInt64](repeating: 0, count: bounds.count + 1)
    }

    public mutating func observe(_ seconds: Double) {
        var i = 0
        while i < bounds.count && seconds > bounds[i] { i += 1 }
        buckets[i] += 1
        sum += seconds
        count += 1
    }

    /// The smallest bucket bound below which at least `q` of the observations fall (an upper estimate, as
    /// Prometheus' histogram_quantile gives); nil with no observations.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let want = UInt64((Double(count) * q).rounded(.up))
        var seen: UInt64 = 0
        for (i, n) in buckets.enumerated() {
            seen += n
            if seen >= want { return i < bounds.count ? bounds[i] : .infinity }
        }
        return .infinity
    }
}

/// What the ingest thread measures, read by `/metrics` and `serve -v` from other threads. Updated once per
/// batch (and once per stored alert for the per-rule counts) under a lock held for a few assignments.
public final class CollectorMetrics: @unchecked Sendable {
    struct RuleKey: Hashable { var rule: String, priority: Priority }

    /// Per sensor: events in batches that arrived well-formed (duplicates included) and events run through the
    /// rules (each committed batch once).
    struct SensorCounts { var host: String, received: UInt64 = 0, evaluated: UInt64 = 0 }

    private let lock = NSLock()
    private var alerts: [RuleKey: UInt64] = [:]
    private var perSensor: [String: SensorCounts] = [:]
    private var sensors: [String: SensorRecord] = [:]
    private var evaluation = Histogram()
    private var commits = Histogram()
    private var evaluatedEvents: UInt64 = 0
    private var rulesRunning = 0
    private var interestTypes = 0
    public let startedNs = CollectorServer.nowNs()

    public init() {}

    func received(sensor: String, host: String, events: Int) {
        lock.lock()
        perSensor[sensor, default: SensorCounts(host: host)].received += UInt64(events)
        perSensor[sensor]!.host = host
        lock.unlock()
    }

    func evaluated(sensor: String, host: String, events: Int, seconds: Double) {
        lock.lock()
        perSensor[sensor, default: SensorCounts(host: host)].evaluated += UInt64(events)
        evaluatedEvents += UInt64(events)
        evaluation.observe(seconds)
        lock.unlock()
    }

    func committed(alerts stored: [NewAlert], sensor: SensorRecord?, seconds: Double) {
        lock.lock()
        for a in stored { alerts[RuleKey(rule: a.rule, priority: a.priority), default: 0] += 1 }
        if let sensor { sensors[sensor.sensorID] = sensor }
        commits.observe(seconds)
        lock.unlock()
    }

    func sensorsUpdated(_ records: [SensorRecord]) {
        lock.lock()
        for r in records { sensors[r.sensorID] = r }
        lock.unlock()
    }

    func rulesChanged(rules: Int, interestTypes: Int) {
        lock.lock()
        rulesRunning = rules
        self.interestTypes = interestTypes
        lock.unlock()
    }

    /// A consistent copy of the counters.
    public struct Snapshot: Sendable {
        public var alertsByRule: [(rule: String, priority: Priority, count: UInt64)]
        public var evaluation: Histogram
        public var commits: Histogram
        public var evaluatedEvents: UInt64
        public var sensors: [SensorRecord]
        var perSensor: [String: SensorCounts]
        public var rulesRunning: Int
        public var interestTypes: Int
    }

    public var snapshot: Snapshot {
        lock.lock()
        defer { lock.unlock() }
        let byRule = alerts.map { (rule: $0.key.rule, priority: $0.key.priority, count: $0.value) }
            .sorted { ($0.rule, $0.priority.rawValue) < ($1.rule, $1.priority.rawValue) }
        return Snapshot(alertsByRule: byRule, evaluation: evaluation, commits: commits, evaluatedEvents: evaluatedEvents,
                        sensors: sensors.values.sorted { $0.sensorID < $1.sensorID }, perSensor: perSensor,
                        rulesRunning: rulesRunning, interestTypes: interestTypes)
    }
}

/// The Prometheus text exposition format (version 0.0.4) of the collector's figures.
public enum PrometheusText {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Everything `/metrics` serves.
    public static func render(stats: CollectorStats, metrics: CollectorMetrics.Snapshot, outputs: [OutputCounters],
                              http: H2ServerCounters, queueDepth: Int, queueCapacity: Int, version: String, startedNs: Int64) -> String {
        var w = Writer()
        w.family("lanner_collector_info", .gauge, "the collector's version (value always 1)")
        w.sample("lanner_collector_info", [("version", version)], 1)
        w.family("lanner_collector_start_time_seconds", .gauge, "when the collector started, Unix seconds")
        w.sample("lanner_collector_start_time_seconds", [], Double(startedNs) / 1e9)
        w.family("lanner_rules_running", .gauge, "rules evaluated (enabled, supported, at or above the minimum priority)")
        w.sample("lanner_rules_running", [], Double(metrics.rulesRunning))
        w.family("lanner_interest_event_types", .gauge, "event types sensors are asked to capture")
        w.sample("lanner_interest_event_types", [], Double(metrics.interestTypes))

        w.family("lanner_batches_total", .counter, "batches posted by sensors, by what the collector did with them")
        for (result, n) in [("committed", stats.batchesAccepted), ("duplicate", stats.batchesDuplicate),
                            ("rejected_malformed", stats.batchesRejected), ("refused_unauthorized", stats.unauthorized),
                            ("refused_queue_full", stats.busy), ("store_error", stats.storeErrors)] {
            w.sample("lanner_batches_total", [("result", result)], Double(n))
        }
        w.family("lanner_collector_queue_batches", .gauge, "batches waiting for the ingest thread")
        w.sample("lanner_collector_queue_batches", [], Double(queueDepth))
        w.family("lanner_collector_queue_capacity_batches", .gauge,
                 "batches the ingest queue holds before answering 503 (the sensor keeps the batch and retries)")
        w.sample("lanner_collector_queue_capacity_batches", [], Double(queueCapacity))

        w.family("lanner_events_received_total", .counter, "events in well-formed batches, per sensor (resent duplicates included)")
        for (id, c) in metrics.perSensor.sorted(by: { $0.key < $1.key }) {
            w.sample("lanner_events_received_total", [("sensor", id), ("host", c.host)], Double(c.received))
        }
        w.family("lanner_events_evaluated_total", .counter, "events run through the rules, per sensor (resent batches too: they rebuild host state)")
        for (id, c) in metrics.perSensor.sorted(by: { $0.key < $1.key }) {
            w.sample("lanner_events_evaluated_total", [("sensor", id), ("host", c.host)], Double(c.evaluated))
        }

        w.family("lanner_events_dropped_total", .counter,
                 "events lost before the collector, per sensor and stage: kernel (ring buffer full, or the CPU's workspace busy), "
                 + "sensor_spool (spool full, or batches the collector rejected); totals over every run of the sensor")
        for s in metrics.sensors {
            w.sample("lanner_events_dropped_total", [("sensor", s.sensorID), ("host", s.hostname), ("stage", "kernel")], Double(s.kernelDrops))
            w.sample("lanner_events_dropped_total", [("sensor", s.sensorID), ("host", s.hostname), ("stage", "sensor_spool")], Double(s.userDrops))
        }
        w.family("lanner_sensor_read_failures_total", .counter,
                 "kernel reads that failed in the sensor's eBPF programs (a path, argv or address not read): the records "
                 + "still arrived, with what was read; per sensor, totals over every run (0 from sensors older than 1.3)")
        for s in metrics.sensors {
            w.sample("lanner_sensor_read_failures_total", [("sensor", s.sensorID), ("host", s.hostname)], Double(s.readFailures))
        }
        w.family("lanner_sensor_last_seen_seconds", .gauge, "when the sensor's last batch arrived, Unix seconds")
        for s in metrics.sensors {
            w.sample("lanner_sensor_last_seen_seconds", [("sensor", s.sensorID), ("host", s.hostname), ("version", s.sensorVersion)],
                     Double(s.lastSeenNs) / 1e9)
        }
        w.family("lanner_sensor_events_per_second", .gauge, "the sensor's event rate over its last closed 60 s window")
        for s in metrics.sensors where s.rateNs > 0 {
            w.sample("lanner_sensor_events_per_second", [("sensor", s.sensorID), ("host", s.hostname)], Double(s.rateEvents) * 1e9 / Double(s.rateNs))
        }

        w.family("lanner_alerts_total", .counter, "alerts stored, per rule and priority (\"Syscall event drops\" included)")
        for a in metrics.alertsByRule {
            w.sample("lanner_alerts_total", [("rule", a.rule), ("priority", a.priority.name)], Double(a.count))
        }

        w.histogram("lanner_rule_evaluation_seconds", "time to evaluate one batch's events against the rules", metrics.evaluation)
        w.histogram("lanner_sqlite_commit_seconds", "time to commit one batch (alerts, ledger entry, sensor row) to SQLite", metrics.commits)

        w.family("lanner_output_alerts_total", .counter,
                 "alerts per output: accepted into its queue, delivered, dropped (queue full), gave_up (retries exhausted), "
                 + "abandoned (still queued at shutdown), filtered (below the output's min_priority)")
        for o in outputs {
            for (result, n) in [("accepted", o.accepted), ("delivered", o.delivered), ("dropped", o.dropped), ("gave_up", o.gaveUp),
                                ("abandoned", o.abandoned), ("filtered", o.filtered)] {
                w.sample("lanner_output_alerts_total", [("output", o.name), ("result", result)], Double(n))
            }
        }
        w.family("lanner_output_failed_attempts_total", .counter, "failed delivery attempts per output (each retry counts)")
        for o in outputs { w.sample("lanner_output_failed_attempts_total", [("output", o.name)], Double(o.failedAttempts)) }
        w.family("lanner_output_restarts_total", .counter, "times a long-lived program output was restarted")
        for o in outputs { w.sample("lanner_output_restarts_total", [("output", o.name)], Double(o.restarts)) }
        w.family("lanner_output_queue_alerts", .gauge, "alerts waiting in each output's queue")
        for o in outputs { w.sample("lanner_output_queue_alerts", [("output", o.name)], Double(o.queueDepth)) }

        w.family("lanner_http_connections_open", .gauge, "HTTP/2 connections open now")
        w.sample("lanner_http_connections_open", [], Double(http.connectionsOpen))
        w.family("lanner_http_connections_total", .counter, "HTTP/2 connections accepted")
        w.sample("lanner_http_connections_total", [], Double(http.connectionsAccepted))
        w.family("lanner_http_protocol_errors_total", .counter, "connections ended by a protocol violation")
        w.sample("lanner_http_protocol_errors_total", [], Double(http.protocolErrors))
        w.family("lanner_http_bytes_total", .counter, "bytes read and written on HTTP/2 connections")
        w.sample("lanner_http_bytes_total", [("direction", "in")], Double(http.bytesIn))
        w.sample("lanner_http_bytes_total", [("direction", "out")], Double(http.bytesOut))
        return w.text
    }

    enum Kind: String { case counter, gauge, histogram }

    struct Writer {
        var text = ""

        mutating func family(_ name: String, _ kind: Kind, _ help: String) {
            text += "# HELP \(name) \(escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
        }

        mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
            text += name
            if !labels.isEmpty {
                text += "{" + labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
            }
            text += " " + number(value) + "\n"
        }

        mutating func histogram(_ name: String, _ help: String, _ h: Histogram) {
            family(name, .histogram, help)
            var cumulative: UInt64 = 0
            for (i, bound) in h.bounds.enumerated() {
                cumulative += h.buckets[i]
                sample(name + "_bucket", [("le", number(bound))], Double(cumulative))
            }
            sample(name + "_bucket", [("le", "+Inf")], Double(h.count))
            sample(name + "_sum", [], h.sum)
            sample(name + "_count", [], Double(h.count))
        }

        func number(_ v: Double) -> String {
            if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
            if v.isNaN { return "NaN" }
            if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
            return String(v)
        }

        /// Label values escape backslash, double quote and line feed (the format's only escapes).
        func escapeLabel(_ s: String) -> String {
            guard s.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return s }
            var out = ""
            for c in s {
                switch c {
                case "\\": out += "\\\\"
                case "\"": out += "\\\""
                case "\n": out += "\\n"
                default: out.append(c)
                }
            }
            return out
        }

        func escapeHelp(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
        }
    }
}
