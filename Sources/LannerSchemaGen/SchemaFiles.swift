import Foundation

/// Where the schema and its generated outputs live in the repository.
public enum SchemaFiles {
    public static let schemaPath = "proto/events.yaml"
    public static let versionPath = "proto/SCHEMA_VERSION"
    public static let cHeaderPath = "sensor/gen/lanner_events.h"
    public static let swiftPath = "Sources/LannerWire/Generated/EventSchema.swift"

    /// Reads the schema under `root`.
    public static func load(root: String) throws -> Schema {
        let yaml = try String(contentsOfFile: root + "/" + schemaPath, encoding: .utf8)
        let version = try String(contentsOfFile: root + "/" + versionPath, encoding: .utf8)
        return try Schema.parse(yaml: yaml, version: version)
    }

    /// The generated outputs as (relative path, contents).
    public static func outputs(_ schema: Schema) -> [(path: String, contents: String)] {
        [(cHeaderPath, Generators.cHeader(schema)), (swiftPath, Generators.swiftSource(schema))]
    }

    /// Regenerates both outputs under `root`; returns the paths written.
    public static func regenerate(root: String) throws -> [String] {
        let schema = try load(root: root)
        var written: [String] = []
        for (path, contents) in outputs(schema) {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try contents.write(toFile: full, atomically: true, encoding: .utf8)
            written.append(path)
        }
        return written
    }
}
