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

    /// Reads and loads rule files with Lanner's field support.
    public static func load(_ paths: [String], minimumPriority: LannerCore.Priority = .debug) throws -> LoadResult {
        var files: [RuleFile] = []
        for p in try expand(paths) {
            guard let data = FileManager.default.contents(atPath: p) else {
                throw RuleSourceError(path: p, reason: "cannot be read")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw RuleSourceError(path: p, reason: "is not UTF-8 text") }
            files.append(RuleFile(name: p, text: text))
        }
        var cfg = RuleLoader.Configuration()
        cfg.minimumPriority = minimumPriority
        cfg.isSupported = { SyscallFields.isSupported($0) }
        return RuleLoader.load(files, config: cfg)
    }
}

public struct RuleSourceError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

import LannerCore
