import FoundationEssentials
import Glibc

/// Records as JSON lines: the form `RecordDump.json` prints, read back. One object per line:
/// `{"type":"openat","pid":42,"tid":42,"ts":1500,"fields":{"res":3,"flags":0,"name":"/etc/shadow",...}}`.
/// Missing fields are zero or empty; number fields (and pid, tid, ts) hold JSON numbers; strlists are arrays; bytes16
/// are 32 hex digits or a dotted IPv4 address. Anything else is an error naming the line and the field.
public enum RecordJSON {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// Encodes one JSON object as a wire record.
    public static func record(_ text: Substring, line: Int) throws(Failure) -> [UInt8] {
        let parsed: JSONValue
        do { parsed = try JSONValue.parse(Array(text.utf8)) } catch {
            throw Failure(line: line, reason: "not JSON: \(error)")
        }
        guard case .object(let obj) = parsed else { throw Failure(line: line, reason: "not a JSON object") }
        guard case .string(let name)? = obj["type"], let type = EventType.allCases.first(where: { $0.name == name }) else {
            throw Failure(line: line, reason: "unknown or missing \"type\" (one of: \(EventType.allCases.map(\.name).joined(separator: ", ")))")
        }
        var fields: [String: JSONValue] = [:]
        if case .object(let f)? = obj["fields"] { fields = f }
        for key in fields.keys where !type.fields.contains(where: { $0.name == key }) {
            throw Failure(line: line, reason: "\(name) has no field \"\(key)\" (fields: \(type.fields.map(\.name).joined(separator: ", ")))")
        }
        // A number field takes a JSON number (or true/false); anything else there is a mistake, not a zero.
        for f in type.fields where f.type != .str && f.type != .strlist && f.type != .bytes16 {
            switch fields[f.name] {
            case nil, .int?, .uint?, .double?, .bool?: break
            case let v?: throw Failure(line: line, reason: "field \"\(f.name)\" must be a number, not \(v.text)")
            }
        }
        for key in ["pid", "tid", "ts"] {
            switch obj[key] {
            case nil, .int?, .uint?, .double?: break
            case let v?: throw Failure(line: line, reason: "\"\(key)\" must be a number, not \(v.text)")
            }
        }
        func int(_ v: JSONValue?) -> Int64 { v?.int64 ?? 0 }
        var fixed = ByteWriter(capacity: 128)
        var vars = ByteWriter(capacity: 256)
        for f in type.fields {
            let v = fields[f.name]
            switch f.type {
            case .u8: fixed.write(UInt8(truncatingIfNeeded: int(v)))
            case .u16: fixed.write(UInt16(truncatingIfNeeded: int(v)))
            case .u32: fixed.write(UInt32(truncatingIfNeeded: int(v)))
            case .i32: fixed.write(Int32(truncatingIfNeeded: int(v)))
            case .u64: fixed.write(v?.uint64 ?? 0)
            case .i64: fixed.write(int(v))
            case .bytes16:
                var bytes = [UInt8](repeating: 0, count: 16)
                if case .string(let s)? = v {
                    let parts = s.split(separator: ".")
                    if parts.count == 4, let b = Optional(parts.compactMap { UInt8($0) }), b.count == 4 {
                        bytes.replaceSubrange(0..<4, with: b)
                    } else if s.utf8.count == 32, s.allSatisfy(\.isHexDigit) {
                        var i = s.startIndex
                        for k in 0..<16 {
                            let j = s.index(i, offsetBy: 2)
                            bytes[k] = UInt8(s[i..<j], radix: 16) ?? 0
                            i = j
                        }
                    } else {
                        throw Failure(line: line, reason: "field \"\(f.name)\" must be a dotted IPv4 address or 32 hex digits")
                    }
                }
                fixed.write(bytes: bytes)
            case .str:
                let b: [UInt8]
                if case .string(let s)? = v { b = Array(s.utf8) } else { b = [] }
                guard b.count <= Int(UInt16.max) else {
                    throw Failure(line: line, reason: "field \"\(f.name)\" is too long (\(b.count) bytes; at most 65535)")
                }
                vars.write(UInt16(b.count))
                vars.write(bytes: b)
            case .strlist:
                var b: [UInt8] = []
                if case .array(let items)? = v { for item in items { b += Array(item.text.utf8) + [0] } }
                guard b.count <= Int(UInt16.max) else {
                    throw Failure(line: line, reason: "field \"\(f.name)\" is too long (\(b.count) bytes with its NULs; at most 65535)")
                }
                vars.write(UInt16(b.count))
                vars.write(bytes: b)
            }
        }
        let length = WireSchema.headerSize + fixed.count + vars.count
        guard length <= Int(UInt16.max) else { throw Failure(line: line, reason: "record is over 65535 bytes") }
        var w = ByteWriter(capacity: length)
        w.write(UInt16(length))
        w.write(type.rawValue)
        w.write(UInt32(truncatingIfNeeded: int(obj["pid"])))
        w.write(UInt32(truncatingIfNeeded: int(obj["tid"] ?? obj["pid"])))
        w.write(UInt64(bitPattern: int(obj["ts"])))
        w.write(bytes: fixed.bytes)
        w.write(bytes: vars.bytes)
        return w.bytes
    }

    /// Every non-empty, non-comment line of `text` as records.
    public static func records(_ text: String) throws(Failure) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.drop(while: { $0 == " " || $0 == "\t" })
            if t.isEmpty || t.hasPrefix("#") || t.hasPrefix("//") { continue }
            out.append(try record(t, line: i + 1))
        }
        return out
    }
}
