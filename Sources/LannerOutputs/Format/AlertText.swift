import LannerCore
import LannerStore

/// How an output writes an alert.
public enum AlertFormat: String, Sendable, Equatable, CaseIterable {
    /// One line for people: `AlertText.line`.
    case text
    /// One line of JSON: `StoredAlert.jsonObject()`, exactly (Falco's JSON alert shape).
    case json
}

/// The text form of an alert: Falco's alert line, with the host and rule the collector knows.
///
/// ```
/// 2026-12-04T03:57:03.123456789Z: Warning Shell spawned (user=root shell=bash) host=web-1 rule="Terminal shell in container"
/// ```
/// That is `<event time, RFC 3339 UTC, ns>: <Priority> <rendered output>`, as Falco prints to stdout and syslog,
/// followed by `host=` (Falco runs on the host it reports about; one collector hears many, so the line names
/// it) and `rule=` (outputs rarely repeat the rule name, and people grep for it), and `count=N` when the row
/// stands for more than one event. Values are quoted when they hold spaces, quotes, `=` or nothing.
///
/// The rendered output carries attacker-controlled text (command lines, file names). Control characters
/// (C0, DEL, C1, U+2028/2029) are escaped (`\n`, `\r`, `\t`, `\xNN`, `\u{NNNN}`) so an alert is always one line
/// and cannot forge further lines in a log; the JSON form is exact.
public enum AlertText {
    /// The alert as one text line (no trailing newline).
    public static func line(_ a: StoredAlert) -> String {
        var s = StoredAlert.rfc3339(nanoseconds: a.timeNs)
        s.reserveCapacity(a.output.utf8.count + a.rule.utf8.count + a.host.utf8.count + 64)
        s += ": "
        s += a.priority.name
        s += " "
        appendEscaped(a.output, to: &s)
        s += " host="
        appendValue(a.host, to: &s)
        s += " rule="
        appendValue(a.rule, to: &s)
        if a.count > 1 {
            s += " count="
            s += String(a.count)
        }
        return s
    }

    /// The alert in `format`, as one line without its newline.
    public static func render(_ a: StoredAlert, as format: AlertFormat) -> String {
        switch format {
        case .text: return line(a)
        case .json: return a.jsonObject()
        }
    }

    /// True for the characters `line` never writes raw.
    static func isControl(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029
    }

    static func appendControl(_ u: Unicode.Scalar, to out: inout String) {
        switch u {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x100 {
                let h = String(u.value, radix: 16)
                out += "\\x" + (h.count < 2 ? "0" : "") + h
            } else {
                out += "\\u{" + String(u.value, radix: 16) + "}"
            }
        }
    }

    /// `s` with control characters escaped.
    static func appendEscaped(_ s: String, to out: inout String) {
        if !s.unicodeScalars.contains(where: isControl) {
            out += s
            return
        }
        for u in s.unicodeScalars {
            if isControl(u) { appendControl(u, to: &out) } else { out.unicodeScalars.append(u) }
        }
    }

    /// A `key=value` value: bare when it is a plain word, else in double quotes with `"` and `\` escaped.
    static func appendValue(_ s: String, to out: inout String) {
        let needsQuotes = s.isEmpty || s.unicodeScalars.contains { u in
            u == " " || u == "\"" || u == "=" || u == "\\" || isControl(u) || u.properties.isWhitespace
        }
        guard needsQuotes else {
            out += s
            return
        }
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if isControl(u) { appendControl(u, to: &out) } else { out.unicodeScalars.append(u) }
            }
        }
        out += "\""
    }
}
