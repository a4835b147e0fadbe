// lanner-schemagen: regenerates the C header and Swift schema from proto/events.yaml.
// Usage: lanner-schemagen [REPO_ROOT]   (default: current directory)
import Foundation
import LannerSchemaGen

let usage = "usage: lanner-schemagen [REPO_ROOT]   (regenerates sensor/gen/lanner_events.h and LannerWire's EventSchema.swift from REPO_ROOT/proto/events.yaml; default: the current directory)\n"
let args = Array(CommandLine.arguments.dropFirst())
if args.contains(where: { $0 == "-h" || $0 == "--help" }) {
    print(usage, terminator: "")
    exit(0)
}
if args.count > 1 || args.first?.hasPrefix("-") == true {
    FileHandle.standardError.write(Data("lanner-schemagen: unexpected argument '\(args.count > 1 ? args[1] : args[0])'\n\(usage)".utf8))
    exit(2)
}
let root = args.first ?? FileManager.default.currentDirectoryPath
guard FileManager.default.fileExists(atPath: root + "/proto/events.yaml") else {
    FileHandle.standardError.write(Data("lanner-schemagen: no proto/events.yaml under '\(root)': give the repository's root\n\(usage)".utf8))
    exit(2)
}
do {
    let written = try SchemaFiles.regenerate(root: root)
    for path in written { print("wrote \(path)") }
} catch {
    FileHandle.standardError.write(Data("lanner-schemagen: \(error)\n".utf8))
    exit(1)
}
