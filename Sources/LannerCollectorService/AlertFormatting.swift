import Foundation
import LannerCore
import LannerStore

/// Text forms of stored alerts for `lanner-collector alerts`.
public enum AlertFormatting {
    /// Newest first as given: a header line per alert, then its output indented.
    public static func table(_ alerts: [StoredAlert]) -> String {
        if alerts.isEmpty { return "no alerts\n" }
        let pw = alerts.map(\.priority.name.count).max()!
        let hw = alerts.map(\.host.count).max()!
        var out = ""
        for a in alerts {
            let time = StoredAlert.rfc3339(nanoseconds: a.timeNs)
            out += time + "  " + pad(a.priority.name, pw) + "  " + pad(a.host, hw) + "  " + a.rule
            if a.count > 1 { out += "  (×\(a.count))" }
            out += "\n    " + a.output + "\n"
        }
        return out
    }

    /// One JSON object per line.
    public static func jsonLines(_ alerts: [StoredAlert]) -> String {
        alerts.map { $0.jsonObject() + "\n" }.joined()
    }

    static func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }

    /// Parses `--since`/`--until`: a duration back from `now` (`90s`, `15m`, `2h`, `7d`), an RFC 3339 time
    /// (`2026-12-04T03:00:00Z`), or Unix seconds. Returns ns since the epoch.
    public static func parseTime(_ s: String, now: Date = Date()) -> Int64? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        if let u = s.last, let mult = units[u], let n = Double(s.dropLast()), n >= 0 {
            return Int64((now.timeIntervalSince1970 - n * mult) * 1e9)
        }
        if let secs = Double(s), !s.contains("-") { return Int64(secs * 1e9) }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return Int64(d.timeIntervalSince1970 * 1e9) }
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: s) { return Int64(d.timeIntervalSince1970 * 1e9) }
        return nil
    }
}
