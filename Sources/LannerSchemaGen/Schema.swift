import Foundation
import LannerYAML

/// The event schema read from proto/events.yaml: the single definition of every wire record.
public struct Schema: Sendable, Equatable {
    /// One field's wire type.
    public enum FieldType: String, Sendable, Equatable, CaseIterable {
        case u8, u16, u32, u64, i32, i64, bytes16, str, strlist

        /// Size in bytes of a fixed-size field; nil for variable-size ones.
        public var fixedSize: Int? {
            switch self {
            case .u8: return 1
            case .u16: return 2
            case .u32, .i32: return 4
            case .u64, .i64: return 8
            case .bytes16: return 16
            case .str, .strlist: return nil
            }
        }
    }

    public struct Field: Sendable, Equatable {
        public var name: String
        public var type: FieldType
        public var doc: String
    }

    public struct Event: Sendable, Equatable {
        public var id: Int
        public var name: String
        /// The `evt.type` name rules use; nil for Lanner-internal records.
        public var falcoName: String?
        /// "kernel" or "sensor".
        public var source: String
        public var doc: String
        public var fields: [Field]

        public var fixedFields: [Field] { fields.filter { $0.type.fixedSize != nil } }
        public var variableFields: [Field] { fields.filter { $0.type.fixedSize == nil } }
    }

    public var header: [Field]
    public var events: [Event]
    public var version: (major: Int, minor: Int, patch: Int)

    public static func == (a: Schema, b: Schema) -> Bool {
        a.header == b.header && a.events == b.events && a.version == b.version
    }

    public var headerSize: Int { header.reduce(0) { $0 + ($1.type.fixedSize ?? 0) } }
}

/// A problem in proto/events.yaml, with its place.
public struct SchemaError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public var line: Int
    public var column: Int
    public var description: String { "events.yaml:\(line):\(column): \(message)" }
}

extension Schema {
    /// The header every record starts with; the generators rely on this exact layout.
    static let expectedHeader: [(String, FieldType)] = [("len", .u16), ("type", .u16), ("pid", .u32), ("tid", .u32), ("ts", .u64)]

    /// Parses and validates the schema text.
    /// - Throws: `SchemaError` for YAML errors, missing keys, unknown types, duplicate ids or names, a fixed
    ///   field after a variable one, or a header that differs from the layout the generators assume.
    public static func parse(yaml: String, version: String) throws -> Schema {
        let docs: [YAMLNode]
        do { docs = try YAMLParser.parse(yaml, source: "events.yaml") } catch {
            throw SchemaError(message: error.message, line: error.mark.line, column: error.mark.column)
        }
        guard let root = docs.first, root.mapping != nil else {
            throw SchemaError(message: "expected a mapping with `header` and `events`", line: 1, column: 1)
        }
        func fail(_ node: YAMLNode, _ msg: String) -> SchemaError {
            SchemaError(message: msg, line: node.start.line, column: node.start.column)
        }
        func fields(_ node: YAMLNode?, in owner: YAMLNode) throws -> [Field] {
            guard let node, let items = node.sequence else { throw fail(owner, "missing `fields` list") }
            var out: [Field] = []
            var seenVariable = false
            for item in items {
                guard let name = item["name"]?.scalar, !name.isEmpty else { throw fail(item, "field without a name") }
                guard let t = item["type"]?.scalar, let type = FieldType(rawValue: t) else {
                    throw fail(item, "field '\(name)' has an unknown type '\(item["type"]?.scalar ?? "")'")
                }
                if type.fixedSize == nil { seenVariable = true } else if seenVariable {
                    throw fail(item, "fixed-size field '\(name)' must come before the variable-size fields")
                }
                if out.contains(where: { $0.name == name }) { throw fail(item, "duplicate field '\(name)'") }
                out.append(Field(name: name, type: type, doc: item["doc"]?.scalar ?? ""))
            }
            return out
        }
        let header = try fields(root["header"], in: root)
        guard header.map({ ($0.name, $0.type) }).elementsEqual(expectedHeader, by: { $0.0 == $1.0 && $0.1 == $1.1 }) else {
            throw fail(root["header"] ?? root, "the header must be exactly len:u16 type:u16 pid:u32 tid:u32 ts:u64")
        }
        guard let list = root["events"]?.sequence else { throw fail(root, "missing `events` list") }
        var events: [Event] = []
        for node in list {
            guard let idText = node["id"]?.scalar, let id = Int(idText), id > 0, id < 65536 else {
                throw fail(node, "event without a valid `id` (1...65535)")
            }
            guard let name = node["name"]?.scalar, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), !name.isEmpty else {
                throw fail(node, "event \(id) without a valid `name`")
            }
            if events.contains(where: { $0.id == id }) { throw fail(node, "duplicate event id \(id)") }
            if events.contains(where: { $0.name == name }) { throw fail(node, "duplicate event name '\(name)'") }
            let source = node["source"]?.scalar ?? "kernel"
            guard source == "kernel" || source == "sensor" else { throw fail(node, "event '\(name)': source must be kernel or sensor") }
            events.append(Event(id: id, name: name, falcoName: node["falco"]?.scalar, source: source,
                                doc: node["doc"]?.scalar ?? "", fields: try fields(node["fields"], in: node)))
        }
        let parts = version.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").compactMap { Int($0) }
        guard parts.count == 3 else { throw SchemaError(message: "SCHEMA_VERSION must be MAJOR.MINOR.PATCH", line: 1, column: 1) }
        return Schema(header: header, events: events.sorted { $0.id < $1.id }, version: (parts[0], parts[1], parts[2]))
    }
}

