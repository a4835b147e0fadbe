import Foundation
import LannerRules

/// Falco's peer files (rules and rule tests) beside the repository.
public enum Peer {
    /// Falco's files: $LANNER_PEER_DIR, else ../shared/peer beside the repository (where developers and CI have
    /// them), else beside the checkout this one was cloned from (a fresh `git clone . /tmp/x` of a working tree).
    public static let root: URL = {
        if let d = ProcessInfo.processInfo.environment["LANNER_PEER_DIR"] { return URL(fileURLWithPath: d) }
        let beside = repo.deletingLastPathComponent().appendingPathComponent("shared/peer")
        if FileManager.default.fileExists(atPath: beside.path) { return beside }
        if let origin = originCheckout() {
            let there = origin.deletingLastPathComponent().appendingPathComponent("shared/peer")
            if FileManager.default.fileExists(atPath: there.path) { return there }
        }
        return beside   // missing: `file(_:)` says where it looked
    }()
    public static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The local directory `origin` points at, when the repository was cloned from one.
    static func originCheckout() -> URL? {
        guard let text = try? String(contentsOf: repo.appendingPathComponent(".git/config"), encoding: .utf8) else { return nil }
        var inOrigin = false
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("[") { inOrigin = line == "[remote \"origin\"]"; continue }
            if inOrigin, line.hasPrefix("url"), let eq = line.firstIndex(of: "=") {
                let url = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                let path = url.hasPrefix("file://") ? String(url.dropFirst(7)) : url
                guard path.hasPrefix("/") else { return nil }
                return URL(fileURLWithPath: path).standardizedFileURL
            }
        }
        return nil
    }

    public static func file(_ path: String) throws -> RuleFile {
        let url = root.appendingPathComponent(path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw PeerMissing(description: "\(url.path) not found: Falco's peer files belong in ../shared/peer beside the repository (or set LANNER_PEER_DIR)")
        }
        return RuleFile(name: url.lastPathComponent, text: try String(contentsOf: url, encoding: .utf8))
    }
}


public struct PeerMissing: Error, CustomStringConvertible { public let description: String }
