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

    /// Reads events as batches: a capture file as it is, JSON lines as one batch from host "rules-test".
    public static func batches(_ path: String) throws -> [(batch: Batch, body: [UInt8])] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(description: "\(path): cannot be read") }
        let bytes = [UInt8](data)
        if Capture.isCapture(bytes) {
            do { return try Capture.batches(bytes) } catch { throw Failure(description: "\(path): \(error)") }
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
        return [(try BatchDecoder.decode(body), body)]
    }

    /// Runs the events; returns the report text and the number of alerts.
    public static func run(rules: [CompiledRule], events: [(batch: Batch, body: [UInt8])], matching: RuleMatching,
                           explain: String?) -> (text: String, alerts: Int) {
        let analyzer = Analyzer(rules: rules, matching: matching)
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
        return (out, alertsTotal)
    }
}
