import LannerRules
import LannerStore
import LannerWire

/// `lanner-collector replay FILE…`: capture files through the ruleset offline, giving the alerts a live
/// collector would store for the same batches (same analyzer, same rendering), oldest first.
public enum Replay {
    public struct Outcome {
        public var alerts: [StoredAlert]
        public var batches: Int
        public var events: Int
    }

    /// - Parameter captures: each file's batches, in the order given (each file is one sensor's recording, or
    ///   several sensors' interleaved: host state is kept per sensor id as in the collector).
    public static func run(rules: [CompiledRule], matching: RuleMatching,
                           captures: [[(batch: Batch, body: [UInt8])]]) -> Outcome {
        let analyzer = Analyzer(rules: rules, matching: matching)
        var out: [StoredAlert] = []
        var batches = 0, events = 0
        for capture in captures {
            for (batch, _) in capture {
                batches += 1
                events += batch.records.count
                for a in analyzer.process(batch) {
                    let t = Int64(bitPattern: a.timeNs)
                    out.append(StoredAlert(id: Int64(out.count + 1), timeNs: t, host: a.hostname, sensorID: a.sensorID, rule: a.rule,
                                           priority: a.priority, source: a.source, output: a.output, tags: a.tags,
                                           fieldsJSON: a.fieldsJSON, containerID: a.containerID, count: 1, lastSeenNs: t))
                }
            }
        }
        return Outcome(alerts: out, batches: batches, events: events)
    }
}
