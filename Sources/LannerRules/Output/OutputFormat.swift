/// A rule's `output:` text, split into literal text and field references, checked against the catalog once
/// at load time. Rendering (in `Ruleset`) then only extracts and appends.
///
/// Tokens: `%field`, `%field[arg]`, `%field.arg` (dotted-argument fields), `%transformer(field)`, and
/// `%container.info`, which renders container-level or Kubernetes-level details as the event's context has
/// them. `%%` is a literal `%`.
public struct OutputFormat: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case literal(String)
        /// A field to render; `key` is how the field was written (the key in JSON `output_fields`).
        case field(FieldOperand, key: String)
        /// `%container.info`.
        case containerInfo
    }

    public var parts: [Part]

    /// The fields in order of first appearance, each once (Falco's `output_fields` keys).
    public var fields: [(operand: FieldOperand, key: String)] {
        var seen = Set<String>()
        var out: [(FieldOperand, String)] = []
        for p in parts {
            if case .field(let f, let key) = p, seen.insert(key).inserted { out.append((f, key)) }
        }
        return out
    }

    public static func == (a: OutputFormat, b: OutputFormat) -> Bool { a.parts == b.parts }

    /// A formatting problem: Falco's message and the byte offset of the token.
    public struct Failure: Error, Sendable, Equatable {
        public var message: String
        public var offset: Int
        /// True when the cause is an unknown field (skip-if-unknown-filter applies).
        public var unknownField: Bool
    }

    /// Parses and checks `text`.
    public static func parse(_ text: String, catalog: FieldCatalog) -> Result<OutputFormat, Failure> {
        let s = Array(text.utf8)
        var parts: [Part] = []
        var literal: [UInt8] = []
        func flush() {
            if !literal.isEmpty { parts.append(.literal(String(decoding: literal, as: UTF8.self))); literal.removeAll() }
        }
        func isTokenChar(_ c: UInt8) -> Bool { ConditionParser.isIdentChar(c) || c == 0x2e }
        var i = 0
        while i < s.count {
            let c = s[i]
            guard c == 0x25 else { literal.append(c); i += 1; continue }
            if i + 1 < s.count, s[i + 1] == 0x25 { literal.append(0x25); i += 2; continue }
            let start = i
            var j = i + 1
            // %transformer(field)
            var transformers: [Transformer] = []
            var matched = true
            while matched {
                matched = false
                for t in Transformer.allCases {
                    let word = Array((t.rawValue + "(").utf8)
                    if j + word.count <= s.count, Array(s[j..<(j + word.count)]) == word {
                        transformers.insert(t, at: 0)
                        j += word.count
                        matched = true
                    }
                }
            }
            var k = j
            while k < s.count, isTokenChar(s[k]) { k += 1 }
            while k > j, s[k - 1] == 0x2e { k -= 1 }   // a sentence-ending dot is text
            if k == j {
                if transformers.isEmpty { literal.append(c); i += 1; continue }
                return .failure(Failure(message: "invalid formatting token \(String(decoding: s[(start + 1)..<min(s.count, k + 1)], as: UTF8.self))",
                                        offset: start, unknownField: false))
            }
            var name = String(decoding: s[j..<k], as: UTF8.self)
            var arg: String?
            if k < s.count, s[k] == 0x5b, let close = s[k...].firstIndex(of: 0x5d) {
                arg = String(decoding: s[(k + 1)..<close], as: UTF8.self)
                k = close + 1
            }
            for _ in transformers {
                guard k < s.count, s[k] == 0x29 else {
                    return .failure(Failure(message: "missing ')' closing the transformer in formatting token %\(name)", offset: start, unknownField: false))
                }
                k += 1
            }
            if transformers.isEmpty && name == "container.info" && arg == nil {
                flush()
                parts.append(.containerInfo)
                i = k
                continue
            }
            // Falco takes the longest prefix of the token that is a field: `%proc.name.` or `%fd.name_x` are errors,
            // but dotted arguments (`%evt.arg.flags`) resolve.
            var resolved: ResolvedField?
            switch catalog.resolve(name, arg: arg) {
            case .success(let f): resolved = f
            case .failure(let e):
                if case .unknown = e {
                    return .failure(Failure(message: "invalid formatting token \(name)" + catalog.suggestion(for: name), offset: start, unknownField: true))
                }
                return .failure(Failure(message: "invalid formatting token \(name): \(e)", offset: start, unknownField: false))
            }
            guard let field = resolved else { continue }
            if field.info.flags.contains(.filterOnly) {
                return .failure(Failure(message: "invalid formatting token \(name): the field can only be used in conditions",
                                        offset: start, unknownField: false))
            }
            let operand = FieldOperand(field: field, transformers: transformers)
            if arg != nil { name += "[\(arg!)]" }
            let key = transformers.reduce(name) { "\($1.rawValue)(\($0))" }
            flush()
            parts.append(.field(operand, key: key))
            i = k
        }
        flush()
        return .success(OutputFormat(parts: parts))
    }
}
