import Foundation
import LannerEnrich
import LannerRules

/// Reading rule files from disk (the loader itself is pure).
public enum RuleSources {
    /// Files named on the command line; directories contribute their *.yaml / *.yml files in name order.
    public static func expand(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        for p in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
                throw RuleSourceError(path: p, reason: "no such file or directory")
            }
            if isDir.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: p)
                    .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
                out += names.map { (p as NSString).appendingPathComponent($0) }
            } else {
                out.append(p)
            }
        }
        return out
    }

    /// Reads and loads rule files with Lanner's field support. A file that is not UTF-8 is reported (LOAD_ERR_FILE_READ,
    /// at the first bad byte) next to every other file's problems, and not loaded.
    public static func load(_ paths: [String], minimumPriority: LannerCore.Priority = .debug) throws -> LoadResult {
        var files: [RuleFile] = []
        var unreadable: [Diagnostic] = []
        for p in try expand(paths) {
            guard let data = FileManager.default.contents(atPath: p) else {
                throw RuleSourceError(path: p, reason: "cannot be read")
            }
            let bytes = [UInt8](data)
            if let text = String(validating: bytes, as: UTF8.self) {
                files.append(RuleFile(name: p, text: text))
            } else {
                let (line, column) = firstInvalidUTF8(bytes)
                unreadable.append(Diagnostic(.error, .fileRead, "rule file is not valid UTF-8 (first bad byte at line \(line), column \(column)); not loaded",
                                             context: [Location(file: p, line: line, column: column, kind: .rulesContent)]))
            }
        }
        var cfg = RuleLoader.Configuration()
        cfg.minimumPriority = minimumPriority
        cfg.isSupported = { SyscallFields.isSupported($0) }
        var result = RuleLoader.load(files, config: cfg)
        result.report.diagnostics = unreadable + result.report.diagnostics
        return result
    }

    /// 1-based line and column (in bytes) of the first byte that is not part of valid UTF-8.
    static func firstInvalidUTF8(_ b: [UInt8]) -> (Int, Int) {
        var i = 0, line = 1, lineStart = 0
        while i < b.count {
            let c = b[i]
            let n = c < 0x80 ? 1 : c >> 5 == 0b110 ? 2 : c >> 4 == 0b1110 ? 3 : c >> 3 == 0b11110 ? 4 : 0
            guard n > 0, i + n <= b.count, String(validating: b[i..<(i + n)], as: UTF8.self) != nil else { break }
            if c == 0x0a { line += 1; lineStart = i + 1 }
            i += n
        }
        return (line, i - lineStart + 1)
    }
}

public struct RuleSourceError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

import LannerCore
