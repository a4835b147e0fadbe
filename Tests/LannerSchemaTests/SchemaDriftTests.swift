import Foundation
import Testing
import LannerWire
@testable import LannerSchemaGen

/// The committed generated files must equal what the generator makes from proto/events.yaml now.
@Suite struct SchemaDriftTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func generatedFilesAreFresh() throws {
        let schema = try SchemaFiles.load(root: Self.root)
        for (path, expected) in SchemaFiles.outputs(schema) {
            let committed = try String(contentsOfFile: Self.root + "/" + path, encoding: .utf8)
            #expect(committed == expected, "\(path) is stale: run `swift run lanner-schemagen`")
        }
    }

    @Test func compiledSwiftTablesMatchTheSchema() throws {
        let schema = try SchemaFiles.load(root: Self.root)
        #expect(Int(WireSchema.major) == schema.version.major)
        #expect(Int(WireSchema.minor) == schema.version.minor)
        #expect(WireSchema.headerSize == schema.headerSize)
        #expect(EventType.allCases.count == schema.events.count)
        for e in schema.events {
            let t = try #require(EventType(rawValue: UInt16(e.id)), "event \(e.name) missing from the Swift enum")
            #expect(t.name == e.name)
            #expect(t.falcoName == e.falcoName)
            #expect(t.fields.map(\.name) == e.fields.map(\.name))
            #expect(t.fixedSize == schema.headerSize + e.fixedFields.reduce(0) { $0 + $1.type.fixedSize! })
        }
    }

    @Test(arguments: [
        ("header: []\nevents: []", "the header must be exactly"),
        ("header:\n  - {name: len, type: u16}\n  - {name: type, type: u16}\n  - {name: pid, type: u32}\n  - {name: tid, type: u32}\n  - {name: ts, type: u64}\nevents:\n  - {id: 1, name: a, fields: [{name: s, type: str}, {name: n, type: u32}]}", "must come before"),
        ("header:\n  - {name: len, type: u16}\n  - {name: type, type: u16}\n  - {name: pid, type: u32}\n  - {name: tid, type: u32}\n  - {name: ts, type: u64}\nevents:\n  - {id: 1, name: a, fields: []}\n  - {id: 1, name: b, fields: []}", "duplicate event id 1"),
        ("header:\n  - {name: len, type: u16}\n  - {name: type, type: u16}\n  - {name: pid, type: u32}\n  - {name: tid, type: u32}\n  - {name: ts, type: u64}\nevents:\n  - {id: 1, name: a, fields: [{name: x, type: float}]}", "unknown type 'float'"),
    ])
    func badSchemasAreRejectedWithAPlace(yaml: String, message: String) {
        #expect {
            _ = try Schema.parse(yaml: yaml, version: "1.0.0")
        } throws: { error in
            guard let e = error as? SchemaError else { return false }
            return e.message.contains(message) && e.line >= 1
        }
    }

    @Test func eventIDsAreUniqueAndNamesAreCIdentifiers() throws {
        let schema = try SchemaFiles.load(root: Self.root)
        #expect(Set(schema.events.map(\.id)).count == schema.events.count)
        for e in schema.events { #expect(e.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }) }
    }
}
