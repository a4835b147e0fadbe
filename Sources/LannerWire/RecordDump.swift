/// Renders records generically from the generated field tables: for golden vectors, `--debug` output and tools.
public enum RecordDump {
    /// One record as a JSON object: {"type":"openat","pid":1,"tid":1,"ts":5,"fields":{"res":3,...}}.
    /// Strings are emitted as JSON strings (invalid UTF-8 replaced), strlists as arrays, bytes16 as hex.
    public static func json(_ r: EventRecord) -> String {
        var o = "{\"type\":"
        guard let t = r.eventType else {
            return o + "\(r.rawType),\"pid\":\(r.pid),\"tid\":\(r.tid),\"ts\":\(r.ts),\"length\":\(r.length)}"
        }
        o += quote(t.name) + ",\"pid\":\(r.pid),\"tid\":\(r.tid),\"ts\":\(r.ts),\"fields\":{"
        var cursor = t.fixedSize
        var first = true
        for f in t.fields {
            if !first { o += "," }
            first = false
            o += quote(f.name) + ":"
            switch f.type {
            case .u8: o += "\(r.load(UInt8.self, at: f.position))"
            case .u16: o += "\(r.load(UInt16.self, at: f.position))"
            case .u32: o += "\(r.load(UInt32.self, at: f.position))"
            case .u64: o += "\(r.load(UInt64.self, at: f.position))"
            case .i32: o += "\(r.load(Int32.self, at: f.position))"
            case .i64: o += "\(r.load(Int64.self, at: f.position))"
            case .bytes16: o += quote(r.bytes(at: f.position, count: 16).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
            case .str:
                let v = (try? r.variable(at: &cursor, field: f.name)) ?? []
                o += quote(String(decoding: v, as: UTF8.self))
            case .strlist:
                let v = (try? r.variable(at: &cursor, field: f.name)) ?? []
                o += "[" + splitList(v).map { quote(String(decoding: $0, as: UTF8.self)) }.joined(separator: ",") + "]"
            }
        }
        return o + "}}"
    }

    /// Splits a strlist value (NUL-terminated items) into items; a last item without its NUL is kept.
    public static func splitList(_ v: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var items: [ArraySlice<UInt8>] = []
        var start = v.startIndex
        for i in v.indices where v[i] == 0 {
            items.append(v[start..<i])
            start = i + 1
        }
        if start < v.endIndex { items.append(v[start..<v.endIndex]) }
        return items
    }

    /// A JSON string literal.
    public static func quote(_ s: String) -> String {
        var o = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\r": o += "\\r"
            case "\t": o += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    o += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    o.unicodeScalars.append(u)
                }
            }
        }
        return o + "\""
    }

    /// The batch header as a JSON object.
    public static func json(_ h: BatchHeader) -> String {
        "{\"version\":\"\(h.versionMajor).\(h.versionMinor)\",\"flags\":\(h.flags),\"sequence\":\(h.sequence),"
            + "\"boot_time_unix_ns\":\(h.bootTimeUnixNs),\"kernel_drops\":\(h.kernelDrops),\"user_drops\":\(h.userDrops),\"read_failures\":\(h.readFailures),"
            + "\"sensor_id\":\(quote(h.sensorID.description)),\"boot_id\":\(quote(h.bootID.description)),"
            + "\"hostname\":\(quote(h.hostname)),\"sensor_version\":\(quote(h.sensorVersion))}"
    }
}
