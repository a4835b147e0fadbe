// lanner-schemagen: regenerates the C header and Swift schema from proto/events.yaml.
// Usage: lanner-schemagen [REPO_ROOT]   (default: current directory)
import Foundation
import LannerSchemaGen

let root = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : FileManager.default.currentDirectoryPath
do {
    let written = try SchemaFiles.regenerate(root: root)
    for path in written { print("wrote \(path)") }
} catch {
    FileHandle.standardError.write(Data("lanner-schemagen: \(error)\n".utf8))
    exit(1)
}
