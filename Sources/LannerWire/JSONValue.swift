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
    /// - Throws: `Failure` saying what is wrong: the decoder's own account of a syntax error (FoundationEssentials
    ///   gives no position for those), or where a value the syntax allows cannot be read (`at interest.version: …`:
    ///   a number beyond a Double's range, a string that is not valid UTF-8 or holds a raw control character).
    public static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        do { return try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) } catch {
            if case DecodingError.dataCorrupted(let c) = error {
                let what = c.underlyingError.map { "\($0)" } ?? c.debugDescription
                throw Failure(description: c.codingPath.isEmpty ? what : "at \(Self.path(c.codingPath)): \(what)")
            }
            throw Failure(description: "\(error)")
        }
    }

    /// `interest.events[2]`.
    static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for k in keys {
            if let i = k.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + k.stringValue }
        }
        return out
    }

    /// Each kind is tried in turn. A type mismatch at this value only means "not this kind"; any other failure (the
    /// number does not fit a Double, the string is not valid, or a value further in failed) is the document's fault
    /// and is thrown with its path, rather than ending as a misleading "expected a dictionary but found …".
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        var problem: (kind: String, error: any Error)?
        func attempt<T: Decodable>(_: T.Type, _ kind: String) -> T? {
            do { return try c.decode(T.self) } catch {
                if case DecodingError.typeMismatch(_, let ctx) = error, ctx.codingPath.count == c.codingPath.count { return nil }
                if problem == nil || kind == "number" && problem?.kind == "integer" { problem = (kind, error) }
                return nil
            }
        }
        if let b = attempt(Bool.self, "boolean") { self = .bool(b) }
        else if let i = attempt(Int64.self, "integer") { self = .int(i) }
        else if let u = attempt(UInt64.self, "integer") { self = .uint(u) }
        else if let d = attempt(Double.self, "number") { self = .double(d) }
        else if let s = attempt(String.self, "string") { self = .string(s) }
        else if let a = attempt([JSONValue].self, "array") { self = .array(a) }
        else if let o = attempt([String: JSONValue].self, "object") { self = .object(o) }
        else if let problem {
            if problem.error is DecodingError { throw problem.error }   // from a value further in: already placed
            let what = switch problem.kind {
            case "number", "integer": "a number that does not fit a Double"
            case "string": "a string that cannot be read (invalid UTF-8, a raw control character or a lone surrogate)"
            default: "a value that cannot be read as a \(problem.kind)"
            }
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: what + " (\(problem.error))",
                                                    underlyingError: nil))
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
        }
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
