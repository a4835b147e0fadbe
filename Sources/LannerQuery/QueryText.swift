import LannerCore
import LannerStore

/// Text forms of `alerts show` and `alerts stats`.
public enum QueryText {
    /// Every field of one alert, one per line, then its output fields.
    public static func detail(_ a: StoredAlert) -> String {
        var lines: [(String, String)] = [
            ("id", String(a.id)),
            ("rule", a.rule),
            ("priority", a.priority.name),
            ("time", StoredAlert.rfc3339(nanoseconds: a.timeNs)),
            ("last seen", StoredAlert.rfc3339(nanoseconds: a.lastSeenNs)),
            ("count", String(a.count) + (a.count > 1 ? " (identical alerts folded into this one)" : "")),
            ("host", a.host),
            ("sensor", a.sensorID),
            ("source", a.source),
            ("container id", a.containerID ?? "host (not in a container)"),
            ("container name", a.containerName ?? (a.containerID == nil ? "host" : "<NA>")),
            ("tags", a.tags.isEmpty ? "(none)" : a.tags.joined(separator: ", ")),
            ("output", OutputFields.escaped(a.output)),
        ]
        let members = RawJSON.objectMembers(a.fieldsJSON)
        let keys = (members ?? [:]).keys.sorted()
        lines.append(("output fields", keys.isEmpty ? (members == nil ? a.fieldsJSON : "(none)") : ""))
        let w = lines.map(\.0.count).max()! + 2
        var out = ""
        for (k, v) in lines {
            out += k + ":" + (v.isEmpty ? "" : String(repeating: " ", count: w - k.count - 1) + v) + "\n"
        }
        let fw = (keys.map(\.count).max() ?? 0) + 2
        for k in keys {
            out += "  " + k + String(repeating: " ", count: fw - k.count) + OutputFields.escaped(RawJSON.displayText(members![k]!)) + "\n"
        }
        return out
    }

    /// Which groupings `alerts stats` prints.
    public enum Grouping: String, CaseIterable, Sendable {
        case priority, rule, host
    }

    /// The counts as text: totals, then a table per grouping (`top` rows of rules and hosts; 0 for all; every
    /// priority).
    public static func stats(_ s: AlertStats, window: String, groupings: [Grouping], top: Int) -> String {
        var out = "window:  \(window)\n"
        out += "alerts:  \(s.alerts) in \(s.rows) stored rows"
        out += s.alerts > s.rows ? " (\(s.alerts - s.rows) identical repeats folded)\n" : "\n"
        for g in groupings {
            let (groups, title): ([AlertCount], String) = switch g {
            case .priority: (s.byPriority, "PRIORITY")
            case .rule: (s.byRule, "RULE")
            case .host: (s.byHost, "HOST")
            }
            let shown = top > 0 && g != .priority ? Array(groups.prefix(top)) : groups
            out += "\nby \(g.rawValue)" + (shown.count < groups.count ? " (top \(shown.count) of \(groups.count))" : "") + ":\n"
            if groups.isEmpty {
                out += "  (none)\n"
                continue
            }
            let aw = max(6, shown.map { String($0.alerts).count }.max() ?? 0)
            let rw = max(4, shown.map { String($0.rows).count }.max() ?? 0)
            out += "  " + pad("ALERTS", aw) + "  " + pad("ROWS", rw) + "  " + title + "\n"
            for c in shown {
                out += "  " + pad(String(c.alerts), aw) + "  " + pad(String(c.rows), rw) + "  " + OutputFields.escaped(c.key) + "\n"
            }
        }
        return out
    }

    /// The counts as one JSON object (every group; `top` limits each list when > 0).
    public static func statsJSON(_ s: AlertStats, since: Int64?, until: Int64?, groupings: [Grouping], top: Int) -> String {
        func time(_ t: Int64?) -> String { t.map { JSON.quoted(StoredAlert.rfc3339(nanoseconds: $0)) } ?? "null" }
        var o = "{\"since\":\(time(since)),\"until\":\(time(until)),\"alerts\":\(s.alerts),\"rows\":\(s.rows)"
        for g in groupings {
            let groups: [AlertCount] = switch g {
            case .priority: s.byPriority
            case .rule: s.byRule
            case .host: s.byHost
            }
            let shown = top > 0 && g != .priority ? Array(groups.prefix(top)) : groups
            o += ",\"by_\(g.rawValue)\":[" + shown.map {
                "{\"\(g.rawValue)\":\(JSON.quoted($0.key)),\"alerts\":\($0.alerts),\"rows\":\($0.rows)}"
            }.joined(separator: ",") + "]"
        }
        return o + "}\n"
    }

    static func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
}
