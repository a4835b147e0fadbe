/// A position in a YAML source text. Lines and columns are 1-based; `offset` is a 0-based byte offset.
public struct Mark: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var offset: Int

    public init(line: Int, column: Int, offset: Int) {
        self.line = line
        self.column = column
        self.offset = offset
    }

    public var description: String { "\(line):\(column)" }
}

/// How a scalar was written. Rule loaders care: Falco treats quoted list items differently from plain ones.
public enum ScalarStyle: Sendable, Equatable {
    case plain, singleQuoted, doubleQuoted, literal, folded
}

/// One node of a YAML document, with the span it was read from. Aliases are resolved into copies of the
/// anchored node, so consumers never see them.
public struct YAMLNode: Sendable, CustomStringConvertible {
    /// The node's content.
    public enum Kind: Sendable {
        case scalar(String, ScalarStyle)
        case sequence([YAMLNode])
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    public var kind: Kind
    /// Where the node starts.
    public var start: Mark
    /// Where the node ends (exclusive).
    public var end: Mark
    /// The explicit tag, if any (e.g. `!!str`).
    public var tag: String?

    public init(kind: Kind, start: Mark, end: Mark, tag: String? = nil) {
        self.kind = kind
        self.start = start
        self.end = end
        self.tag = tag
    }

    /// The text of a scalar node; nil for sequences and mappings.
    public var scalar: String? {
        if case .scalar(let s, _) = kind { return s }
        return nil
    }

    /// The style of a scalar node; nil for sequences and mappings.
    public var scalarStyle: ScalarStyle? {
        if case .scalar(_, let st) = kind { return st }
        return nil
    }

    /// The items of a sequence node; nil otherwise.
    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    /// The entries of a mapping node, in source order; nil otherwise.
    public var mapping: [(key: YAMLNode, value: YAMLNode)]? {
        if case .mapping(let entries) = kind { return entries }
        return nil
    }

    /// True for a plain scalar spelled as YAML's null (`~`, `null`, `Null`, `NULL` or nothing).
    public var isNull: Bool {
        guard case .scalar(let s, .plain) = kind, tag == nil else { return false }
        return s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL"
    }

    /// The value for a scalar key in a mapping node (the first one, if repeated); nil if absent or not a mapping.
    public subscript(key: String) -> YAMLNode? {
        guard case .mapping(let entries) = kind else { return nil }
        return entries.first(where: { $0.key.scalar == key })?.value
    }

    /// A short name of the node's kind for error messages: "scalar", "sequence" or "mapping".
    public var kindName: String {
        switch kind {
        case .scalar: return "scalar"
        case .sequence: return "sequence"
        case .mapping: return "mapping"
        }
    }

    /// YAML 1.1 boolean reading of a plain scalar (`true/false/yes/no/on/off`, any case); nil if not a boolean.
    public var bool: Bool? {
        guard case .scalar(let s, let style) = kind else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on", "y": return style == .plain || tag == "tag:yaml.org,2002:bool" ? true : nil
        case "false", "no", "off", "n": return style == .plain || tag == "tag:yaml.org,2002:bool" ? false : nil
        default: return nil
        }
    }

    public var description: String {
        switch kind {
        case .scalar(let s, _): return "\"\(s)\""
        case .sequence(let items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .mapping(let entries):
            return "{" + entries.map { "\($0.key.description): \($0.value.description)" }.joined(separator: ", ") + "}"
        }
    }
}
