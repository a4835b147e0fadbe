import LannerCore
import LannerEnrich
import LannerRules
import LannerWire

/// An alert raised by a rule on one event: everything the store and the outputs need.
public struct Alert: Sendable, Equatable {
    /// Event time, ns since the Unix epoch.
    public var timeNs: UInt64
    public var hostname: String
    public var sensorID: String
    public var rule: String
    public var priority: Priority
    public var source: String
    /// The rendered output text (without Falco's time and priority prefix).
    public var output: String
    public var tags: [String]
    /// Falco's `output_fields` as a JSON object.
    public var fieldsJSON: String
    /// The container's 12-character id, or nil on the host.
    public var containerID: String?
    /// The container's name once the runtime described it (nil on the host or before).
    public var containerName: String? = nil
}

/// The pure middle of the collector: host state per sensor, rule evaluation, rendering. Feed it decoded
/// batches; it returns the alerts. No I/O, not thread-safe (one per ingest thread).
public final class Analyzer {
    /// The rules in force; `replace(ruleset:)` swaps them between batches, keeping every sensor's host state.
    public private(set) var ruleset: Ruleset<SyscallFields>
    /// What the analyzer keeps per sensor: the current boot's host state, its event context and event count.
    final class SensorState {
        let bootID: ID128
        let host: HostState
        let context: EventContext
        var events: UInt64 = 0
        var lastUsed: UInt64 = 0

        init(bootID: ID128, hostname: String) {
            self.bootID = bootID
            host = HostState(hostname: hostname)
            context = EventContext(host: host)
        }
    }

    private var sensors: [ID128: SensorState] = [:]
    private var useClock: UInt64 = 0
    /// Sensors whose state is kept; past it the least recently heard-from one is forgotten.
    public let maxSensors: Int
    private(set) var scratch = EvalScratch()
    public private(set) var eventsEvaluated: UInt64 = 0

    /// - Parameter domains: where the addresses of the rules' `fd.*ip.name` names come from (nil: no name has an
    ///   address until `useDomainNames`).
    public init(rules: [CompiledRule], matching: RuleMatching, maxSensors: Int = 4096, domains: DomainNames? = nil) {
        ruleset = Analyzer.ruleset(rules, matching: matching, domains: domains)
        self.maxSensors = maxSensors
    }

    /// Compiles rules for an analyzer (slow part of a reload: do it off the ingest thread, then `replace`).
    public static func ruleset(_ rules: [CompiledRule], matching: RuleMatching, domains: DomainNames? = nil) -> Ruleset<SyscallFields> {
        let r = Ruleset(rules, provider: SyscallFields(), matching: matching)
        if let domains { r.useDomainNames(domains) }
        return r
    }

    /// Makes the rules in force read their domain names' addresses from `names` (before the next batch).
    public func useDomainNames(_ names: DomainNames) { ruleset.useDomainNames(names) }

    /// Makes `new` the rules in force for the next batch. Host state (processes, threads, users of every sensor)
    /// and event numbering are kept.
    public func replace(ruleset new: Ruleset<SyscallFields>) {
        ruleset = new
        scratch = EvalScratch()
    }

    /// The kernel event types sensors must capture for the loaded rules (the rest can be dropped in the kernel).
    public var interest: Set<EventType> { SyscallFields.interest(of: ruleset) }

    /// `interest` as the wire message sensors get in every acknowledgement, with the optional record parts no
    /// loaded rule reads (`Interest.omit`).
    public var wireInterest: Interest {
        Interest(events: interest.map(\.rawValue), omit: SyscallFields.omittable(for: ruleset))
    }

    /// The host state of each sensor's current boot, by sensor id.
    public var hosts: [ID128: HostState] { sensors.mapValues(\.host) }

    /// The state for a batch's sensor: one per sensor, for its current boot. A new boot id starts over (the
    /// previous boot's processes are gone).
    func state(for header: BatchHeader) -> SensorState {
        useClock += 1
        if let s = sensors[header.sensorID], s.bootID == header.bootID {
            s.lastUsed = useClock
            return s
        }
        if sensors[header.sensorID] == nil, sensors.count >= maxSensors,
           let oldest = sensors.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
            sensors[oldest.key] = nil
        }
        let s = SensorState(bootID: header.bootID, hostname: header.hostname)
        s.lastUsed = useClock
        sensors[header.sensorID] = s
        return s
    }

    /// The host state for a sensor's current boot.
    public func host(for header: BatchHeader) -> HostState { state(for: header).host }

    /// Applies and evaluates every record of a batch in order.
    /// - Parameter batch: the decoded batch (its records index into `batch.body`, decompressed when it was sent
    ///   compressed).
    /// - Returns: the alerts, in event order.
    public func process(_ batch: Batch) -> [Alert] { process(batch, inspect: nil) }

    /// As `process`, calling `inspect` after each evaluated event with its context, its event type code and the
    /// alerts it raised (for `rules test` and `--explain`).
    public func process(_ batch: Batch, inspect: ((EventContext, Int, [Alert]) -> Void)?) -> [Alert] {
        let body = batch.body
        let header = batch.header
        let state = state(for: header)
        let host = state.host
        let ctx = state.context
        var number = state.events
        var alerts: [Alert] = []
        let sensor = header.sensorID.description
        body.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            for rec in batch.records {
                guard let view = RecordView(base: base + rec.start, length: rec.length) else { continue }
                let code = SyscallFields.codeByRawType[Int(view.type.rawValue)]
                if code < 0 {
                    host.apply(view)   // snapshot and user database records: state only
                    continue
                }
                number += 1
                host.apply(view)
                ctx.set(view, host: host, eventNumber: number, timeNs: header.bootTimeUnixNs &+ view.ts)
                scratch.beginEvent()
                eventsEvaluated += 1
                let before = alerts.count
                ruleset.evaluate(ctx, eventType: code, scratch: scratch) { idx in
                    alerts.append(self.alert(idx, ctx, hostname: header.hostname, sensor: sensor))
                }
                inspect?(ctx, code, Array(alerts[before...]))
                host.applyExit(view)
            }
        }
        state.events = number
        return alerts
    }

    func alert(_ idx: Int, _ ctx: EventContext, hostname: String, sensor: String) -> Alert {
        let rule = ruleset.rules[idx]
        let rendered = ruleset.render(rule: idx, ctx, scratch: scratch)
        var json = "{"
        for (i, f) in rendered.fields.enumerated() {
            if i > 0 { json += "," }
            json += JSON.quoted(f.key) + ":" + f.json
        }
        json += "}"
        let cid = ctx.process.containerID.string
        return Alert(timeNs: ctx.timeNs, hostname: hostname, sensorID: sensor, rule: rule.name, priority: rule.priority,
                     source: rule.source, output: rendered.output, tags: rule.tags, fieldsJSON: json,
                     containerID: cid == "host" ? nil : String(cid.prefix(12)),
                     containerName: cid == "host" ? nil : ctx.host.container(of: ctx.process)?.name?.string)
    }

    /// Why rule `name` did or did not match the event in `ctx` (valid inside an `inspect` callback).
    public func explain(rule name: String, _ ctx: EventContext, eventType: Int) -> String? {
        guard let idx = ruleset.rules.firstIndex(where: { $0.name == name }) else { return nil }
        return ruleset.explain(rule: idx, eventType: eventType, ctx, scratch: scratch)
    }

}
