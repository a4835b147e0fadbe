import Foundation
import LannerCLIKit
import LannerCollectorService
import LannerOutputs
import LannerStore

/// `serve --config FILE`: the alert-storage settings of collector.yaml (`aggregation:`, `retention:`), applied to
/// the server's configuration. Keys the file leaves out keep their defaults (aggregation window 10 s, retention
/// 30 days and 10,000,000 rows).
enum ServeStorage {
    static func apply(configFile path: String?, to config: inout CollectorConfig) {
        guard let path else { return }
        let file: CollectorFileConfig
        do { file = try CollectorFileConfig.load(path: path) } catch {
            Commands.fail("\(error.description)\(error.problems.count > 1 ? "\n" : "; ")not starting", code: 2)
        }
        if let w = file.aggregation.window { config.aggregationWindow = w }
        if let age = file.retention.maxAge { config.retention.maxAgeNs = nanoseconds(age) }
        if let rows = file.retention.maxRows { config.retention.maxRows = rows }
        // Until serve reads the rest of the file, say so rather than ignore it silently.
        var ignored: [String] = []
        let s = file.serve
        if s.listen != nil { ignored.append("listen") }
        if s.db != nil { ignored.append("db") }
        if s.rules != nil { ignored.append("rules") }
        if s.tokenFile != nil { ignored.append("token_file") }
        if s.ruleMatching != nil { ignored.append("rule_matching") }
        if s.minPriority != nil { ignored.append("min_priority") }
        if file.outputs != OutputsConfig() { ignored.append("outputs") }
        if !ignored.isEmpty {
            FileHandle.standardError.write(Data(("lanner-collector: warning: \(path): this build applies only aggregation and retention from "
                + "the file; \(ignored.joined(separator: ", ")) \(ignored.count == 1 ? "is" : "are") ignored (give them as serve options)\n").utf8))
        }
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let (s, overflow) = d.components.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : s &+ d.components.attoseconds / 1_000_000_000
    }
}
