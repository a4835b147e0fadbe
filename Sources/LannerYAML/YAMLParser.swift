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
/// (a "billion laughs" document is rejected) so no input can make the parser run away.
public enum YAMLParser {
    /// Upper bound on nodes produced, aliases expanded, for one text.
    public static let maxNodes = 5_000_000

    /// Parses every document in `text`.
    /// - Throws: `YAMLError` with line and column on the first syntax error.
    public static func parse(_ text: String, source: String = "<input>") throws(YAMLError) -> [YAMLNode] {
        var bytes = Array(text.utf8)
        if bytes.isEmpty { return [] }
        return try bytes.withUnsafeMutableBufferPointer { buf throws(YAMLError) -> [YAMLNode] in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) != 0 else {
                throw YAMLError(source: source, message: "cannot initialise libyaml", mark: Mark(line: 1, column: 1, offset: 0))
            }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var builder = Builder(source: source)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) != 0 else {
                    let m = parser.problem_mark
                    let ctx = parser.context.map { String(cString: $0) }
                    let msg = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
                    throw YAMLError(source: source, message: msg,
                                    mark: Mark(line: Int(m.line) + 1, column: Int(m.column) + 1, offset: Int(m.index)),
                                    context: ctx)
                }
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { break }
                try builder.handle(&event)
            }
            return builder.documents
        }
    }
}

/// Turns the libyaml event stream into trees.
private struct Builder {
    let source: String
    var documents: [YAMLNode] = []
    var anchors: [String: YAMLNode] = [:]
    var nodeCount = 0

    enum Frame {
        case sequence(start: Mark, tag: String?, anchor: String?, items: [YAMLNode])
        case mapping(start: Mark, tag: String?, anchor: String?, entries: [(key: YAMLNode, value: YAMLNode)], pendingKey: YAMLNode?)
    }
    var stack: [Frame] = []

    init(source: String) { self.source = source }

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
            let d = event.data.sequence_start
            stack.append(.sequence(start: start, tag: Builder.string(d.tag), anchor: Builder.string(d.anchor), items: []))
        case YAML_MAPPING_START_EVENT:
            let d = event.data.mapping_start
            stack.append(.mapping(start: start, tag: Builder.string(d.tag), anchor: Builder.string(d.anchor), entries: [], pendingKey: nil))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return }
            switch frame {
            case .sequence(let s, let tag, let anchor, let items):
                try add(YAMLNode(kind: .sequence(items), start: s, end: end, tag: tag), anchor: anchor, at: s)
            case .mapping(let s, let tag, let anchor, let entries, _):
                try add(YAMLNode(kind: .mapping(entries), start: s, end: end, tag: tag), anchor: anchor, at: s)
            }
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
    }

    /// Adds a finished node to its parent. `weight` is how many nodes it adds: 1 for a parsed node (its
    /// children were counted when they were added), the whole subtree for an expanded alias.
    mutating func add(_ node: YAMLNode, anchor: String?, at mark: Mark, weight: Int = 1) throws(YAMLError) {
        nodeCount += weight
        if nodeCount > YAMLParser.maxNodes {
            throw YAMLError(source: source, message: "document too large after alias expansion (more than \(YAMLParser.maxNodes) nodes)", mark: mark)
        }
        if let anchor { anchors[anchor] = node }
        guard let top = stack.popLast() else {
            documents.append(node)
            return
        }
        switch top {
        case .sequence(let s, let tag, let a, var items):
            items.append(node)
            stack.append(.sequence(start: s, tag: tag, anchor: a, items: items))
        case .mapping(let s, let tag, let a, var entries, let pendingKey):
            if let key = pendingKey {
                entries.append((key: key, value: node))
                stack.append(.mapping(start: s, tag: tag, anchor: a, entries: entries, pendingKey: nil))
            } else {
                stack.append(.mapping(start: s, tag: tag, anchor: a, entries: entries, pendingKey: node))
            }
        }
    }

    /// Counts nodes in a tree, stopping early past `limit`.
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
