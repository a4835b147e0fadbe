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
}

/// The pure middle of the collector: host state per sensor, rule evaluation, rendering. Feed it decoded
/// batches; it returns the alerts. No I/O, not thread-safe (one per ingest thread).
public final class Analyzer {
    public let ruleset: Ruleset<SyscallFields>
    public private(set) var hosts: [String: HostState] = [:]
    let scratch = EvalScratch()
    private var contexts: [String: EventContext] = [:]
    private var counters: [String: UInt64] = [:]
    public private(set) var eventsEvaluated: UInt64 = 0

    public init(rules: [CompiledRule], matching: RuleMatching) {
        ruleset = Ruleset(rules, provider: SyscallFields(), matching: matching)
    }

    /// The host state for a sensor (one per sensor id and boot: a reboot starts over).
    public func host(for header: BatchHeader) -> HostState {
        let key = header.sensorID.description + "/" + header.bootID.description
        if let h = hosts[key] { return h }
        let h = HostState(hostname: header.hostname)
        hosts[key] = h
        return h
    }

    /// Applies and evaluates every record of a batch in order.
    /// - Parameters:
    ///   - batch: the decoded batch (its records index into `body`).
    ///   - body: the batch bytes.
    /// - Returns: the alerts, in event order.
    public func process(_ batch: Batch, body: [UInt8]) -> [Alert] { process(batch, body: body, inspect: nil) }

    /// As `process`, calling `inspect` after each evaluated event with its context, its event type code and the
    /// alerts it raised (for `rules test` and `--explain`).
    public func process(_ batch: Batch, body: [UInt8],
                        inspect: ((EventContext, Int, [Alert]) -> Void)?) -> [Alert] {
        let header = batch.header
        let host = host(for: header)
        let key = header.sensorID.description + "/" + header.bootID.description
        let ctx = contexts[key] ?? EventContext(host: host)
        contexts[key] = ctx
        var number = counters[key] ?? 0
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
        counters[key] = number
        return alerts
    }

    func alert(_ idx: Int, _ ctx: EventContext, hostname: String, sensor: String) -> Alert {
        let rule = ruleset.rules[idx]
        let rendered = ruleset.render(rule: idx, ctx, scratch: scratch) { c, s in Analyzer.containerInfo(c) }
        var json = "{"
        for (i, f) in rendered.fields.enumerated() {
            if i > 0 { json += "," }
            json += JSON.quoted(f.key) + ":" + f.json
        }
        json += "}"
        let cid = ctx.process.containerID.string
        return Alert(timeNs: ctx.timeNs, hostname: hostname, sensorID: sensor, rule: rule.name, priority: rule.priority,
                     source: rule.source, output: rendered.output, tags: rule.tags, fieldsJSON: json,
                     containerID: cid == "host" ? nil : String(cid.prefix(12)))
    }

    /// Why rule `name` did or did not match the event in `ctx` (valid inside an `inspect` callback).
    public func explain(rule name: String, _ ctx: EventContext, eventType: Int) -> String? {
        guard let idx = ruleset.rules.firstIndex(where: { $0.name == name }) else { return nil }
        return ruleset.explain(rule: idx, eventType: eventType, ctx, scratch: scratch)
    }

    /// `%container.info`: container-level details, or nothing on the host.
    static func containerInfo(_ c: EventContext) -> String {
        let id = c.process.containerID.string
        if id == "host" { return "" }
        return "container_id=\(id.prefix(12))"
    }
}
