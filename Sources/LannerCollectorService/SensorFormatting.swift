import LannerCore
import LannerStore

/// Text forms of the `sensors` table for `lanner-collector sensors`.
///
/// Events/s is the rate over the last closed one-minute window of batches (the first batch at least 60 s after the
/// window opened closes it), or over the open window while none has closed; 0 when nothing arrived in the last
/// 60 s. Drops and read failures (kernel reads that failed; the records went out with what was read) are totals since
/// the collector first heard from the sensor, over all of its runs.
public enum SensorFormatting {
    /// Sensors not heard from for longer than this are marked stale (an idle sensor sends a heartbeat every ~2 s).
    public static let staleAfterNs: Int64 = 10_000_000_000

    public static func eventsPerSecond(_ r: SensorRecord, nowNs: Int64) -> Double {
        if nowNs - r.lastSeenNs > SensorBook.rateWindowSeconds * 1_000_000_000 { return 0 }
        return r.eventsPerSecond ?? 0
    }

    /// "3s ago", "5m ago", "2h ago", "4d ago".
    public static func ago(_ ns: Int64, nowNs: Int64) -> String {
        let s = max(0, (nowNs - ns) / 1_000_000_000)
        if s < 120 { return "\(s)s ago" }
        if s < 7200 { return "\(s / 60)m ago" }
        if s < 172_800 { return "\(s / 3600)h ago" }
        return "\(s / 86400)d ago"
    }

    public static func rate(_ v: Double) -> String {
        v >= 100 ? String(Int(v.rounded())) : String(Double(Int(v * 10)) / 10)
    }

    public static func table(_ sensors: [SensorRecord], nowNs: Int64) -> String {
        if sensors.isEmpty { return "no sensors have sent batches to this database\n" }
        var rows = [["HOST", "VERSION", "LAST SEEN", "EVENTS/S", "EVENTS", "BATCHES", "KERNEL DROPS", "SENSOR DROPS", "READ FAILURES", "SENSOR ID"]]
        for r in sensors {
            var seen = ago(r.lastSeenNs, nowNs: nowNs)
            if nowNs - r.lastSeenNs > staleAfterNs { seen += " (stale)" }
            rows.append([r.hostname, r.sensorVersion, seen, rate(eventsPerSecond(r, nowNs: nowNs)), String(r.events), String(r.batches),
                         String(r.kernelDrops), String(r.userDrops), String(r.readFailures), r.sensorID])
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        return rows.map { row in
            row.enumerated().map { i, c in i == row.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count + 2) }.joined()
        }.joined(separator: "\n") + "\n"
    }

    /// One JSON object per sensor and line.
    public static func jsonLines(_ sensors: [SensorRecord], nowNs: Int64) -> String {
        sensors.map { r in
            "{\"sensor_id\":\(JSON.quoted(r.sensorID)),\"hostname\":\(JSON.quoted(r.hostname)),"
                + "\"sensor_version\":\(JSON.quoted(r.sensorVersion)),\"boot_id\":\(JSON.quoted(r.bootID)),"
                + "\"first_seen\":\(JSON.quoted(StoredAlert.rfc3339(nanoseconds: r.firstSeenNs))),"
                + "\"last_seen\":\(JSON.quoted(StoredAlert.rfc3339(nanoseconds: r.lastSeenNs))),"
                + "\"last_seen_ago_s\":\(max(0, (nowNs - r.lastSeenNs) / 1_000_000_000)),"
                + "\"events_per_second\":\(rate(eventsPerSecond(r, nowNs: nowNs))),\"events\":\(r.events),\"batches\":\(r.batches),"
                + "\"kernel_drops\":\(r.kernelDrops),\"sensor_drops\":\(r.userDrops),\"read_failures\":\(r.readFailures),"
                + "\"run_epoch\":\(r.runEpoch)}\n"
        }.joined()
    }
}
