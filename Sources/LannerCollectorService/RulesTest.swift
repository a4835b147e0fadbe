import Foundation
import LannerCore
import LannerEnrich
import LannerRules
import LannerWire

/// `lanner-collector rules test RULES EVENTS`: runs recorded events (a capture file or JSON lines of records)
/// through rules and reports what fires, and with `explain`, why a rule did not.
public enum RulesTest {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads events as batches: a capture file as it is, JSON lines as one batch from host "rules-test"; strict (a
    /// damaged batch or a cut-off capture is an error).
    public static func batches(_ path: String) throws -> [(batch: Batch, body: [UInt8])] {
        let e = try events(path)
        if let c = e.contents {
            if let first = c.damaged.first { throw Failure(description: "\(path): \(first)") }
            if let tail = c.truncatedTail { throw Failure(description: "\(path): \(tail)") }
        }
        return e.batches
    }

    /// As `batches`, but a capture's damaged batches are skipped and a cut-off end ends it, as `replay` reads captures:
    /// `contents` (nil for JSON lines) says what was skipped, for the caller to report.
    public static func events(_ path: String) throws -> (batches: [(batch: Batch, body: [UInt8])], contents: Capture.Contents?) {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(description: "\(path): cannot be read") }
        let bytes = [UInt8](data)
        if Capture.isCapture(bytes) {
            do {
                let c = try Capture.read(bytes)
                return (c.batches, c)
            } catch { throw Failure(description: "\(path): \(error)") }
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Failure(description: "\(path): neither a capture file nor UTF-8 JSON lines")
        }
        let records: [[UInt8]]
        do { records = try RecordJSON.records(text) } catch { throw Failure(description: "\(path): \(error)") }
        var enc = BatchEncoder()
        for r in records { try enc.append(record: r) }
        let header = BatchHeader(sequence: 1, bootTimeUnixNs: 0, sensorID: .zero, bootID: .zero, hostname: "rules-test", sensorVersion: "rules-test")
        let body = try enc.finish(header: header)
        return ([(try BatchDecoder.decode(body), body)], nil)
    }

    /// Runs the events; returns the report text and the number of alerts.
    /// - Parameter domains: how to resolve the domain names `fd.*ip.name` checks compare, once before the first
    ///   event (nil: they have no address). What was looked up is in `domainSummary`.
    public static func run(rules: [CompiledRule], events: [(batch: Batch, body: [UInt8])], matching: RuleMatching,
                           explain: String?, domains: OneTimeDomainLookup.Settings? = nil) -> (text: String, alerts: Int, domainSummary: String?) {
        let analyzer = Analyzer(rules: rules, matching: matching)
        let lookup = domains.flatMap { OneTimeDomainLookup.prepare(analyzer, $0) }
        var out = ""
        var counts: [String: Int] = [:]
        var n = 0
        var alertsTotal = 0
        for (batch, _) in events {
            _ = analyzer.process(batch) { ctx, code, alerts in
                n += 1
                let what = "event \(n) \(ctx.record.type.falcoName ?? ctx.record.type.name) pid=\(ctx.record.pid) (\(ctx.process.comm.string))"
                for a in alerts {
                    out += "\(what): \(a.rule) [\(a.priority.name)] \(a.output)\n"
                    counts[a.rule, default: 0] += 1
                    alertsTotal += 1
                }
                if let explain, let why = analyzer.explain(rule: explain, ctx, eventType: code) {
                    out += "\(what): \(why)\n"
                }
            }
        }
        if let explain, !analyzer.ruleset.rules.contains(where: { $0.name == explain }) {
            out += "rule '\(explain)' is not among the rules that run (unknown, disabled, below the minimum priority, or needing unsupported fields)\n"
        }
        let summary = counts.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        out += "\(n) events, \(alertsTotal) alerts" + (summary.isEmpty ? "" : ": " + summary) + "\n"
        return (out, alertsTotal, lookup?.summary)
    }
}
