import LannerCollectorService
import LannerOutputs
import LannerStore

/// The alert-storage settings of collector.yaml (`aggregation:`, `retention:`), applied to the server's
/// configuration. Keys the file leaves out keep their defaults (aggregation window 10 s, retention 30 days and
/// 10,000,000 rows).
enum ServeStorage {
    static func apply(_ file: CollectorFileConfig, to config: inout CollectorConfig) {
        if let w = file.aggregation.window { config.aggregationWindow = w }
        if let age = file.retention.maxAge { config.retention.maxAgeNs = nanoseconds(age) }
        if let rows = file.retention.maxRows { config.retention.maxRows = rows }
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let (s, overflow) = d.components.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : s &+ d.components.attoseconds / 1_000_000_000
    }
}
