/// Minimal JSON text helpers shared by every module that writes JSON (alerts, records, CLI output).
/// Writing JSON by hand keeps hot paths free of Foundation's encoders; reading uses Foundation at the edges.
public enum JSON {
    /// Appends `s` as a JSON string literal (quotes included) to `out`.
    public static func appendQuoted(_ s: String, to out: inout String) {
        out.append("\"")
        for u in s.unicodeScalars {
            switch u {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            default:
                if u.value < 0x20 || u.value == 0x7f {
                    let h = String(u.value, radix: 16)
                    out.append("\\u" + String(repeating: "0", count: 4 - h.count) + h)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out.append("\"")
    }

    /// `s` as a JSON string literal.
    public static func quoted(_ s: String) -> String {
        var o = ""
        appendQuoted(s, to: &o)
        return o
    }
}
