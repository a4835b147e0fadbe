import Foundation
import LannerRules

/// Falco's peer files (rules and rule tests) beside the repository.
public enum Peer {
    /// Falco's files: $LANNER_PEER_DIR, else ../shared/peer beside the repository (where developers and CI have them).
    public static let root: URL = {
        if let d = ProcessInfo.processInfo.environment["LANNER_PEER_DIR"] { return URL(fileURLWithPath: d) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/peer")
    }()
    public static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    public static func file(_ path: String) throws -> RuleFile {
        let url = root.appendingPathComponent(path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw PeerMissing(description: "\(url.path) not found: Falco's peer files belong in ../shared/peer beside the repository (or set LANNER_PEER_DIR)")
        }
        return RuleFile(name: url.lastPathComponent, text: try String(contentsOf: url, encoding: .utf8))
    }
}


public struct PeerMissing: Error, CustomStringConvertible { public let description: String }
