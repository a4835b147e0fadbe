import Foundation
import LannerCore
import LannerStore

/// `--output-fields a,b,c`: which columns a table shows, or which keys a JSON line has.
///
/// A name is one of `columns` (the stored alert's own fields), or an output field of the rule (`proc.name`,
/// `fd.name`, `evt.arg.flags`: any name with a dot), taken from the alert's `output_fields`; an alert whose rule
/// did not render that field shows `<NA>` in a table and `null` in JSON.
public struct OutputFields: Sendable, Equatable {
    public enum Field: Sendable, Equatable {
        case column(String)
        case outputField(String)
        public var name: String {
            switch self { case .column(let n), .outputField(let n): return n }
        }
    }

    public var fields: [Field]

    /// The alert's own fields, in the order `alerts show` prints them.
    public static let columns = ["id", "time", "last_seen", "count", "priority", "rule", "host", "sensor_id", "source",
                                 "container_id", "container_name", "tags", "output", "output_fields"]

    /// Parses a comma-separated list.
    /// - Throws: `BadFields` naming the first unknown or empty name.
    public init(parsing list: String) throws(BadFields) {
        var out: [Field] = []
        for raw in list.split(separator: ",", omittingEmptySubsequences: false) {
            let name = raw.trimmingCharacters(in: .whitespaces)
            if name.isEmpty { throw BadFields("has an empty name; separate names with commas, e.g. id,time,rule,proc.name") }
            if Self.columns.contains(name) {
                out.append(.column(name))
            } else if name.contains(".") && !name.hasPrefix(".") && !name.hasSuffix(".") {
                out.append(.outputField(name))
            } else {
                let hint = Suggest.closest(name, in: Self.columns).map { " (did you mean '\($0)'?)" } ?? ""
                throw BadFields("names '\(name)', which is neither an alert field\(hint) nor an output field like proc.name; "
                                + "alert fields: " + Self.columns.joined(separator: ", "))
            }
        }
        fields = out
    }

    public struct BadFields: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }

    // MARK: Values

    /// The text a table cell shows.
    static func text(_ field: Field, _ a: StoredAlert, outputs: [String: String]?) -> String {
        switch field {
        case .column(let c):
            switch c {
            case "id": return String(a.id)
            case "time": return StoredAlert.rfc3339(nanoseconds: a.timeNs)
            case "last_seen": return StoredAlert.rfc3339(nanoseconds: a.lastSeenNs)
            case "count": return String(a.count)
            case "priority": return a.priority.name
            case "rule": return a.rule
            case "host": return a.host
            case "sensor_id": return a.sensorID
            case "source": return a.source
            case "container_id": return a.containerID ?? "host"
            case "container_name": return a.containerName ?? (a.containerID == nil ? "host" : "<NA>")
            case "tags": return a.tags.joined(separator: ",")
            case "output": return a.output
            default: return a.fieldsJSON   // output_fields
            }
        case .outputField(let f):
            guard let raw = outputs?[f] else { return "<NA>" }
            return RawJSON.displayText(raw)
        }
    }

    /// The JSON value a line carries.
    static func json(_ field: Field, _ a: StoredAlert, outputs: [String: String]?) -> String {
        switch field {
        case .column(let c):
            switch c {
            case "id": return String(a.id)
            case "count": return String(a.count)
            case "tags": return "[" + a.tags.map(JSON.quoted).joined(separator: ",") + "]"
            case "container_id": return a.containerID.map(JSON.quoted) ?? "null"
            case "container_name": return a.containerName.map(JSON.quoted) ?? "null"
            case "output_fields": return a.fieldsJSON.isEmpty ? "{}" : a.fieldsJSON
            default: return JSON.quoted(text(field, a, outputs: nil))
            }
        case .outputField(let f):
            return outputs?[f] ?? "null"
        }
    }

    private var needsOutputs: Bool { fields.contains { if case .outputField = $0 { return true } else { return false } } }

    // MARK: Forms

    /// A table: a header of upper-case names, then one line per alert; columns are separated by two spaces and the
    /// last is not padded. Control characters in values are escaped so that every alert stays on one line.
    public func table(_ alerts: [StoredAlert], header: Bool = true) -> String {
        var rows: [[String]] = header ? [fields.map { $0.name.uppercased() }] : []
        for a in alerts {
            let outputs = needsOutputs ? RawJSON.objectMembers(a.fieldsJSON) : nil
            rows.append(fields.map { Self.escaped(Self.text($0, a, outputs: outputs)) })
        }
        if rows.isEmpty { return "" }
        var widths = [Int](repeating: 0, count: fields.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        var out = ""
        for r in rows {
            for (i, c) in r.enumerated() {
                out += c
                if i < r.count - 1 { out += String(repeating: " ", count: widths[i] - c.count + 2) }
            }
            out += "\n"
        }
        return out
    }

    /// One JSON object per alert and line, with these keys in this order.
    public func jsonLines(_ alerts: [StoredAlert]) -> String {
        var out = ""
        for a in alerts {
            let outputs = needsOutputs ? RawJSON.objectMembers(a.fieldsJSON) : nil
            out += "{"
            for (i, f) in fields.enumerated() {
                if i > 0 { out += "," }
                JSON.appendQuoted(f.name, to: &out)
                out += ":" + Self.json(f, a, outputs: outputs)
            }
            out += "}\n"
        }
        return out
    }

    static func escaped(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return s }
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += "\\x" + (u.value < 16 ? "0" : "") + String(u.value, radix: 16)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out
    }
}

/// Just enough JSON reading for the stored `output_fields` object: its members as raw JSON text (exactly as
/// stored), and the display form of a scalar.
enum RawJSON {
    /// The members of a JSON object, key → raw value text; nil when `text` is not an object.
    static func objectMembers(_ text: String) -> [String: String]? {
        let b = Array(text.utf8)
        var i = 0
        func space() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 } }
        /// Skips one value starting at i; false on malformed input.
        func skipValue() -> Bool {
            space()
            guard i < b.count else { return false }
            switch b[i] {
            case UInt8(ascii: "\""):
                return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < b.count {
                    switch b[i] {
                    case UInt8(ascii: "\""): if !skipString() { return false }; continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            default:
                let start = i
                while i < b.count, b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "}"), b[i] != UInt8(ascii: "]"),
                      b[i] != 0x20, b[i] != 0x0A, b[i] != 0x09, b[i] != 0x0D { i += 1 }
                return i > start
            }
        }
        func skipString() -> Bool {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { return false }
            i += 1
            while i < b.count {
                if b[i] == UInt8(ascii: "\\") { i += 2; continue }
                if b[i] == UInt8(ascii: "\"") { i += 1; return true }
                i += 1
            }
            return false
        }
        space()
        guard i < b.count, b[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        var out: [String: String] = [:]
        space()
        if i < b.count, b[i] == UInt8(ascii: "}") { return out }
        while true {
            space()
            let keyStart = i
            guard skipString() else { return nil }
            guard let key = TagCodingBridge.string(Array(b[keyStart..<i])) else { return nil }
            space()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            space()
            let valueStart = i
            guard skipValue() else { return nil }
            out[key] = String(decoding: b[valueStart..<i], as: UTF8.self)
            space()
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: "}") { return out }
            guard b[i] == UInt8(ascii: ",") else { return nil }
            i += 1
        }
    }

    /// A JSON string's text, a number or literal as written; `null` shows as `<NA>` (Falco's word for it).
    static func displayText(_ raw: String) -> String {
        if raw == "null" { return "<NA>" }
        if raw.hasPrefix("\""), let s = TagCodingBridge.string(Array(raw.utf8)) { return s }
        return raw
    }
}

/// Decodes one JSON string token (quotes included) through the store's tag decoder (a one-element array).
enum TagCodingBridge {
    static func string(_ token: [UInt8]) -> String? {
        StoredAlert.decodeJSONStringArray("[" + String(decoding: token, as: UTF8.self) + "]")?.first
    }
}
