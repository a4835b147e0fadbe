import FoundationEssentials

/// A parsed JSON document of any shape: what the sensor reads collector acknowledgements and JSON records with.
/// (FoundationEssentials, all the sensor links, has `JSONDecoder` but not `JSONSerialization`.)
public enum JSONValue: Decodable, Equatable, Sendable {
    case null, bool(Bool), int(Int64), uint(UInt64), double(Double), string(String)
    case array([JSONValue]), object([String: JSONValue])

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `bytes` as one JSON document.
    /// - Throws: `Failure` saying what is wrong (the decoder's own account of the syntax error).
    public static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        do { return try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) } catch {
            if case DecodingError.dataCorrupted(let c) = error {
                throw Failure(description: c.underlyingError.map { "\($0)" } ?? c.debugDescription)
            }
            throw Failure(description: "\(error)")
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let u = try? c.decode(UInt64.self) { self = .uint(u) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var string: String? { if case .string(let s) = self { s } else { nil } }

    /// A number that is an integer, exactly as written; nil for fractions, non-numbers and out-of-range values.
    public func exactly<T: FixedWidthInteger>(_: T.Type) -> T? {
        switch self {
        case .int(let i): T(exactly: i)
        case .uint(let u): T(exactly: u)
        case .double(let d): T(exactly: d)
        default: nil
        }
    }

    /// The value as a signed 64-bit integer (numbers truncated, booleans 0/1, anything else 0).
    public var int64: Int64 {
        switch self {
        case .int(let i): i
        case .uint(let u): Int64(bitPattern: u)
        case .double(let d): d.isFinite && abs(d) < 9.2e18 ? Int64(d) : 0
        case .bool(let b): b ? 1 : 0
        default: 0
        }
    }

    /// The value as an unsigned 64-bit integer (negative numbers as their two's complement).
    public var uint64: UInt64 {
        if case .uint(let u) = self { return u }
        return UInt64(bitPattern: int64)
    }

    /// The value as text: strings as they are, numbers and booleans as written, JSON for the rest.
    public var text: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .uint(let u): String(u)
        case .double(let d): String(d)
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        case .array(let a): "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object: "{…}"
        }
    }
}
