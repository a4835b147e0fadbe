import CYAML

/// A YAML syntax error with the place libyaml reported it.
public struct YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The source's display name (usually a file path).
    public var source: String
    /// What libyaml said (e.g. "mapping values are not allowed in this context").
    public var message: String
    /// Where the problem was found.
    public var mark: Mark
    /// libyaml's context ("while scanning a simple key"), when it gave one.
    public var context: String?

    public var description: String {
        var s = "\(source):\(mark.line):\(mark.column): \(message)"
        if let context { s += " (\(context))" }
        return s
    }
}

/// Reads YAML text into `YAMLNode` trees using libyaml's event API.
///
/// ```swift
/// let docs = try YAMLParser.parse(text, source: "rules.yaml")
/// ```
/// Multiple documents (`---`) give multiple roots. Anchors and aliases are resolved. Alias nesting is bounded
/// (a "billion laughs" document is rejected) and so is nesting depth (libyaml has no limit of its own), so no
/// input can make the parser run away, and every tree it returns can be walked and destroyed recursively.
public enum YAMLParser {
    /// Upper bound on nodes produced, aliases expanded, for one text.
    public static let maxNodes = 5_000_000
    /// Default bound on how deeply sequences and mappings may nest. Trees this deep are still safe to walk
    /// recursively (and to destroy, which is recursive too) on a default 8 MB thread stack.
    public static let defaultMaxDepth = 10_000

    /// Parses every document in `text`.
    /// - Parameters:
    ///   - text: the YAML text.
    ///   - source: the name errors carry (usually a file path).
    ///   - maxDepth: how deeply sequences and mappings may nest; deeper input is an error at the node that
    ///     goes past the limit.
    /// - Throws: `YAMLError` with line and column on the first syntax error.
    /// - Complexity: O(n) in the length of `text` plus the size of expanded aliases.
    public static func parse(_ text: String, source: String = "<input>",
                             maxDepth: Int = defaultMaxDepth) throws(YAMLError) -> [YAMLNode] {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { return [] }
        return try bytes.withUnsafeMutableBufferPointer { buf throws(YAMLError) -> [YAMLNode] in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) != 0 else {
                throw YAMLError(source: source, message: "cannot initialise libyaml", mark: Mark(line: 1, column: 1, offset: 0))
            }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var builder = Builder(source: source, maxDepth: maxDepth)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) != 0 else {
                    throw error(parser, source: source, text: UnsafeBufferPointer(buf))
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                try builder.handle(&event)
            }
            return builder.documents
        }
    }

    /// The error libyaml reported. Reader errors (control characters, invalid encodings) give only a byte
    /// offset (`problem_offset`); scanner and parser errors give a mark (`problem_mark`).
    static func error(_ parser: yaml_parser_t, source: String, text: UnsafeBufferPointer<UInt8>) -> YAMLError {
        let ctx = parser.context.map { String(cString: $0) }
        let msg = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        let mark: Mark
        if parser.error == YAML_READER_ERROR {
            mark = Self.mark(atOffset: Int(parser.problem_offset), in: text)
        } else {
            let m = parser.problem_mark
            mark = Mark(line: Int(m.line) + 1, column: Int(m.column) + 1, offset: Int(m.index))
        }
        return YAMLError(source: source, message: msg, mark: mark, context: ctx)
    }

    /// Line and column (1-based, columns counting characters) of a byte offset, with line breaks as libyaml
    /// counts them: LF, CR, CR LF, NEL, LS and PS.
    static func mark(atOffset offset: Int, in text: UnsafeBufferPointer<UInt8>) -> Mark {
        let end = min(max(offset, 0), text.count)
        var line = 1, column = 1, i = 0
        while i < end {
            let b = text[i]
            if b == 0x0a || (b == 0x0d && (i + 1 >= text.count || text[i + 1] != 0x0a)) {
                line += 1
                column = 1
            } else if b == 0xc2, i + 1 < end, text[i + 1] == 0x85 {
                line += 1
                column = 1
                i += 1
            } else if b == 0xe2, i + 2 < end, text[i + 1] == 0x80, text[i + 2] == 0xa8 || text[i + 2] == 0xa9 {
                line += 1
                column = 1
                i += 2
            } else if b & 0xc0 != 0x80 && b != 0x0d {
                column += 1
            }
            i += 1
        }
        return Mark(line: line, column: column, offset: end)
    }
}

/// Turns the libyaml event stream into trees.
///
/// Open sequences and mappings are frames on a stack; a finished node is appended to the frame on top
/// in place (`stack[top].add`), so each frame's array stays uniquely referenced and appending is
/// amortised O(1). A frame becomes a node only when its end event arrives.
private struct Builder {
    let source: String
    let maxDepth: Int
    var documents: [YAMLNode] = []
    var anchors: [String: YAMLNode] = [:]
    var nodeCount = 0

    struct Frame {
        enum Kind { case sequence, mapping }
        let kind: Kind
        let start: Mark
        let tag: String?
        let anchor: String?
        var items: [YAMLNode] = []
        var entries: [(key: YAMLNode, value: YAMLNode)] = []
        var pendingKey: YAMLNode?

        init(_ kind: Kind, start: Mark, tag: String?, anchor: String?) {
            self.kind = kind
            self.start = start
            self.tag = tag
            self.anchor = anchor
        }

        mutating func add(_ node: YAMLNode) {
            switch kind {
            case .sequence:
                items.append(node)
            case .mapping:
                if let key = pendingKey {
                    entries.append((key: key, value: node))
                    pendingKey = nil
                } else {
                    pendingKey = node
                }
            }
        }

        /// The finished node; consumes the frame's arrays.
        consuming func node(end: Mark) -> YAMLNode {
            switch kind {
            case .sequence: return YAMLNode(kind: .sequence(items), start: start, end: end, tag: tag)
            case .mapping: return YAMLNode(kind: .mapping(entries), start: start, end: end, tag: tag)
            }
        }
    }
    var stack: [Frame] = []

    init(source: String, maxDepth: Int) {
        self.source = source
        self.maxDepth = maxDepth
    }

    static func mark(_ m: yaml_mark_t) -> Mark {
        Mark(line: Int(m.line) + 1, column: Int(m.column) + 1, offset: Int(m.index))
    }

    static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let p else { return nil }
        return String(cString: UnsafePointer(p))
    }

    mutating func handle(_ event: inout yaml_event_t) throws(YAMLError) {
        let start = Builder.mark(event.start_mark)
        let end = Builder.mark(event.end_mark)
        switch event.type {
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let text: String
            if let v = s.value {
                text = String(decoding: UnsafeBufferPointer(start: v, count: Int(s.length)), as: UTF8.self)
            } else {
                text = ""
            }
            let style: ScalarStyle
            switch s.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            let node = YAMLNode(kind: .scalar(text, style), start: start, end: end, tag: Builder.string(s.tag))
            try add(node, anchor: Builder.string(s.anchor), at: start)
        case YAML_SEQUENCE_START_EVENT:
            try open()
            let d = event.data.sequence_start
            stack.append(Frame(.sequence, start: start, tag: Builder.string(d.tag), anchor: Builder.string(d.anchor)))
        case YAML_MAPPING_START_EVENT:
            try open()
            let d = event.data.mapping_start
            stack.append(Frame(.mapping, start: start, tag: Builder.string(d.tag), anchor: Builder.string(d.anchor)))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return }
            let anchor = frame.anchor, at = frame.start
            try add(frame.node(end: end), anchor: anchor, at: at)
        case YAML_ALIAS_EVENT:
            let name = Builder.string(event.data.alias.anchor) ?? ""
            guard var node = anchors[name] else {
                throw YAMLError(source: source, message: "unknown alias '*\(name)'", mark: start)
            }
            node.start = start
            node.end = end
            try add(node, anchor: nil, at: start, weight: Builder.size(node, limit: YAMLParser.maxNodes))
        default:
            break // stream/document start and end carry nothing we keep
        }

        func open() throws(YAMLError) {
            guard stack.count < maxDepth else {
                throw YAMLError(source: source, message: "sequences and mappings nested deeper than \(maxDepth) levels", mark: start)
            }
        }
    }

    /// Adds a finished node to its parent. `weight` is how many nodes it adds: 1 for a parsed node (its
    /// children were counted when they were added), the whole subtree for an expanded alias.
    mutating func add(_ node: YAMLNode, anchor: String?, at mark: Mark, weight: Int = 1) throws(YAMLError) {
        nodeCount += weight
        if nodeCount > YAMLParser.maxNodes {
            throw YAMLError(source: source, message: "document too large after alias expansion (more than \(YAMLParser.maxNodes) nodes)", mark: mark)
        }
        if let anchor { anchors[anchor] = node }
        if stack.isEmpty {
            documents.append(node)
        } else {
            stack[stack.count - 1].add(node)
        }
    }

    /// Counts nodes in a tree, stopping early past `limit`. Recursive, bounded by the nesting limit.
    static func size(_ node: YAMLNode, limit: Int) -> Int {
        switch node.kind {
        case .scalar: return 1
        case .sequence(let items):
            var n = 1
            for i in items { n += size(i, limit: limit); if n > limit { return n } }
            return n
        case .mapping(let entries):
            var n = 1
            for e in entries { n += size(e.key, limit: limit) + size(e.value, limit: limit); if n > limit { return n } }
            return n
        }
    }
}
