import LannerCore

extension StoredAlert {
    /// The alert as one JSON object shaped like Falco's JSON output (`json_output: true`, with
    /// `time_format_iso_8601: true`), so that tools reading Falco's alerts read these: Falco's keys in
    /// Falco's order, `output` prefixed with the event time and priority as Falco prints it, `output_fields`
    /// the rendered fields (`null` for a missing value). What Falco has no key for is under `lanner`.
    ///
    /// ```json
    /// {"hostname":"web-1","output":"2026-12-04T03:57:03.123456789+0000: Warning Shell spawned (…)",
    ///  "output_fields":{"proc.name":"bash"},"priority":"Warning","rule":"Terminal shell in container",
    ///  "source":"syscall","tags":["container","shell"],"time":"2026-12-04T03:57:03.123456789Z",
    ///  "lanner":{"id":7,"sensor_id":"…","container_id":null,"container_name":null,"count":1,
    ///           "last_seen":"2026-12-04T03:57:03.123456789Z"}}
    /// ```
    public func jsonObject() -> String {
        let time = Self.rfc3339(nanoseconds: timeNs)
        var o = "{\"hostname\":"
        JSON.appendQuoted(host, to: &o)
        o += ",\"output\":"
        // Falco's output line: "<evt.time in ISO 8601>: <Priority> <rendered output>".
        JSON.appendQuoted(String(time.dropLast()) + "+0000: " + priority.name + " " + output, to: &o)
        o += ",\"output_fields\":"
        o += fieldsJSON.isEmpty ? "{}" : fieldsJSON
        o += ",\"priority\":\""
        o += priority.name
        o += "\",\"rule\":"
        JSON.appendQuoted(rule, to: &o)
        o += ",\"source\":"
        JSON.appendQuoted(source, to: &o)
        o += ",\"tags\":"
        TagCoding.append(tags, to: &o)
        o += ",\"time\":\""
        o += time
        o += "\",\"lanner\":{\"id\":"
        o += String(id)
        o += ",\"sensor_id\":"
        JSON.appendQuoted(sensorID, to: &o)
        o += ",\"container_id\":"
        if let containerID { JSON.appendQuoted(containerID, to: &o) } else { o += "null" }
        o += ",\"container_name\":"
        if let containerName { JSON.appendQuoted(containerName, to: &o) } else { o += "null" }
        o += ",\"count\":"
        o += String(count)
        o += ",\"last_seen\":\""
        o += Self.rfc3339(nanoseconds: lastSeenNs)
        o += "\"}}"
        return o
    }

    /// `ns` nanoseconds since the Unix epoch as RFC 3339 UTC with nine fractional digits, the way Falco
    /// prints alert times: `2026-12-04T03:57:03.123456789Z`. Times before 1970 work too.
    public static func rfc3339(nanoseconds ns: Int64) -> String {
        let (seconds, nanos) = floorDivide(ns, 1_000_000_000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civil(fromDays: days)
        var s = ""
        s.reserveCapacity(30)
        pad(year, 4, &s); s += "-"; pad(month, 2, &s); s += "-"; pad(day, 2, &s)
        s += "T"
        pad(secondOfDay / 3600, 2, &s); s += ":"; pad(secondOfDay / 60 % 60, 2, &s); s += ":"
        pad(secondOfDay % 60, 2, &s)
        s += "."
        pad(nanos, 9, &s)
        s += "Z"
        return s
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b, r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    private static func pad(_ v: Int64, _ width: Int, _ out: inout String) {
        let digits = String(v < 0 ? -v : v)
        if v < 0 { out += "-" }
        if digits.count < width { out += String(repeating: "0", count: width - digits.count) }
        out += digits
    }

    /// Proleptic Gregorian (year, month, day) for a day count since 1970-01-01 (H. Hinnant's civil_from_days).
    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension StoredAlert {
    /// The strings of a JSON array of strings (the form of the `tags` column); nil for anything else.
    public static func decodeJSONStringArray(_ text: String) -> [String]? { TagCoding.decode(text) }
}

/// The `tags` column: a JSON array of strings, written with `JSON.appendQuoted` and read back by a small
/// decoder that accepts any JSON array of strings (whitespace, every escape including surrogate pairs).
enum TagCoding {
    static func append(_ tags: [String], to out: inout String) {
        out += "["
        for (i, tag) in tags.enumerated() {
            if i > 0 { out += "," }
            JSON.appendQuoted(tag, to: &out)
        }
        out += "]"
    }

    /// The strings of a JSON array, or nil when `text` is not an array of strings.
    static func decode(_ text: String) -> [String]? {
        var it = Array(text.utf8)[...]
        func skipSpace() { while let c = it.first, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { it.removeFirst() } }
        func hex4() -> UInt32? {
            guard it.count >= 4 else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let d = hexValue(it.removeFirst()) else { return nil }
                v = v << 4 | d
            }
            return v
        }
        func string() -> String? {
            guard it.popFirst() == UInt8(ascii: "\"") else { return nil }
            var bytes: [UInt8] = []
            while let c = it.popFirst() {
                switch c {
                case UInt8(ascii: "\""):
                    return String(decoding: bytes, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let e = it.popFirst() else { return nil }
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(e)
                    case UInt8(ascii: "n"): bytes.append(0x0A)
                    case UInt8(ascii: "r"): bytes.append(0x0D)
                    case UInt8(ascii: "t"): bytes.append(0x09)
                    case UInt8(ascii: "b"): bytes.append(0x08)
                    case UInt8(ascii: "f"): bytes.append(0x0C)
                    case UInt8(ascii: "u"):
                        guard var v = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(v) {
                            guard it.popFirst() == UInt8(ascii: "\\"), it.popFirst() == UInt8(ascii: "u"),
                                  let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(v) else { return nil }
                        bytes.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: return nil
                    }
                default:
                    bytes.append(c)
                }
            }
            return nil
        }

        skipSpace()
        guard it.popFirst() == UInt8(ascii: "[") else { return nil }
        var result: [String] = []
        skipSpace()
        if it.first == UInt8(ascii: "]") {
            it.removeFirst()
        } else {
            while true {
                skipSpace()
                guard let s = string() else { return nil }
                result.append(s)
                skipSpace()
                guard let sep = it.popFirst() else { return nil }
                if sep == UInt8(ascii: "]") { break }
                guard sep == UInt8(ascii: ",") else { return nil }
            }
        }
        skipSpace()
        return it.isEmpty ? result : nil
    }

    private static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}
