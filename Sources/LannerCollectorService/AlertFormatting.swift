import Foundation
import LannerCore
import LannerStore

/// Text forms of stored alerts for `lanner-collector alerts`.
public enum AlertFormatting {
    /// In the order given: a header line per alert (with its id first when `ids`), then its output indented.
    /// Repeats folded into an alert show as `(×N)`.
    public static func table(_ alerts: [StoredAlert], ids: Bool = false) -> String {
        if alerts.isEmpty { return "no alerts\n" }
        let pw = alerts.map(\.priority.name.count).max()!
        let hw = alerts.map(\.host.count).max()!
        let iw = ids ? alerts.map { String($0.id).count }.max()! : 0
        var out = ""
        for a in alerts {
            let time = StoredAlert.rfc3339(nanoseconds: a.timeNs)
            if ids { out += pad(String(a.id), iw) + "  " }
            out += time + "  " + pad(a.priority.name, pw) + "  " + pad(a.host, hw) + "  " + a.rule
            if a.count > 1 { out += "  (×\(a.count))" }
            out += "\n" + String(repeating: " ", count: ids ? iw + 6 : 4) + a.output + "\n"
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
    /// Times outside 1970…2262 (what an Int64 of nanoseconds holds) and non-finite numbers are refused (nil).
    public static func parseTime(_ s: String, now: Date = Date()) -> Int64? {
        func ns(_ seconds: Double) -> Int64? {
            guard seconds.isFinite, seconds >= 0, seconds < 9_223_372_036 else { return nil }
            return Int64(seconds * 1e9)
        }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        if let u = s.last, let mult = units[u], let n = Double(s.dropLast()), n.isFinite, n >= 0 {
            return ns(now.timeIntervalSince1970 - n * mult)
        }
        if let secs = Double(s), !s.contains("-") { return ns(secs) }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return ns(d.timeIntervalSince1970) }
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: s) { return ns(d.timeIntervalSince1970) }
        return nil
    }
}
