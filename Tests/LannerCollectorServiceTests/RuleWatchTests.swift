import Foundation
import Testing
@testable import LannerCollectorService

/// `serve` reloads its rules when the files change (no SIGHUP needed): real files in a scratch directory, the clock
/// passed in. A change is acted on once it has settled for 0.5 s, or after 10 s of continuous change.
@Suite struct RuleWatchTests {
    static func scratch() throws -> String {
        let d = NSTemporaryDirectory() + "lanner-rulewatch-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: d + "/rules", withIntermediateDirectories: true)
        try "- list: a\n  items: [x]\n".write(toFile: d + "/rules/base.yaml", atomically: false, encoding: .utf8)
        try "- list: b\n  items: [y]\n".write(toFile: d + "/single.yaml", atomically: false, encoding: .utf8)
        return d
    }

    /// One change to the files, and what the watcher must say about it (nil: no reload).
    struct Change: Sendable, CustomTestStringConvertible {
        let name: String
        let apply: @Sendable (String) throws -> Void
        let expected: String?
        var testDescription: String { name }
    }

    static let changes: [Change] = [
        Change(name: "a rule file added to a watched directory", apply: { d in
            try "- list: c\n  items: [z]\n".write(toFile: d + "/rules/new.yaml", atomically: false, encoding: .utf8)
        }, expected: "DIR/rules/new.yaml added"),
        Change(name: "a .yml file added", apply: { d in
            try "- list: c\n  items: [z]\n".write(toFile: d + "/rules/new.yml", atomically: false, encoding: .utf8)
        }, expected: "DIR/rules/new.yml added"),
        Change(name: "a file in a directory written", apply: { d in
            try "- list: a\n  items: [x, xx]\n".write(toFile: d + "/rules/base.yaml", atomically: false, encoding: .utf8)
        }, expected: "DIR/rules/base.yaml changed"),
        Change(name: "a file given by name replaced by rename (an editor's atomic save)", apply: { d in
            try "- list: b\n  items: [y]\n".write(toFile: d + "/single.yaml.tmp", atomically: false, encoding: .utf8)
            _ = rename(d + "/single.yaml.tmp", d + "/single.yaml")
        }, expected: "DIR/single.yaml changed"),
        Change(name: "a file removed", apply: { d in try FileManager.default.removeItem(atPath: d + "/rules/base.yaml") },
               expected: "DIR/rules/base.yaml removed"),
        Change(name: "a file given by name removed", apply: { d in try FileManager.default.removeItem(atPath: d + "/single.yaml") },
               expected: "DIR/single.yaml removed"),
        Change(name: "a symlinked file retargeted (a Kubernetes ConfigMap's ..data swap)", apply: { d in
            try "- list: b\n  items: [y2]\n".write(toFile: d + "/single-v2.yaml", atomically: false, encoding: .utf8)
            try FileManager.default.removeItem(atPath: d + "/single.yaml")
            try FileManager.default.createSymbolicLink(atPath: d + "/single.yaml", withDestinationPath: d + "/single-v2.yaml")
        }, expected: "DIR/single.yaml changed"),
        Change(name: "a file that is not a rule file added to the directory", apply: { d in
            try "notes".write(toFile: d + "/rules/README.txt", atomically: false, encoding: .utf8)
            try "x".write(toFile: d + "/rules/.base.yaml.swp", atomically: false, encoding: .utf8)
        }, expected: nil),
        Change(name: "nothing", apply: { _ in }, expected: nil),
    ]

    @Test(arguments: changes)
    func aSettledChangeIsReported(_ c: Change) throws {
        let d = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let t0 = ContinuousClock.now
        var w = RuleWatcher(paths: [d + "/rules", d + "/single.yaml"], now: t0)
        #expect(w.timeUntilNextLook(now: t0) == .seconds(2))
        try c.apply(d)
        #expect(w.poll(now: t0 + .seconds(1)) == nil, "not time to look yet")
        #expect(w.poll(now: t0 + .seconds(2)) == nil, "first seen: waits for it to settle")
        let next = w.timeUntilNextLook(now: t0 + .seconds(2))
        #expect(next == (c.expected == nil ? .seconds(2) : .milliseconds(500)))
        let said = w.poll(now: t0 + .seconds(2) + next)
        #expect(said == c.expected?.replacingOccurrences(of: "DIR", with: d))
        if said != nil {
            // The caller reloads from a snapshot taken before reading: nothing more to say until the next change.
            w.reloaded(RuleFilesSnapshot.take(w.paths), now: t0 + .seconds(3))
            #expect(w.poll(now: t0 + .seconds(5)) == nil)
        }
    }

    /// A file still being written (every look finds it changed) is reloaded once it rests, or after 10 s at most.
    @Test func changesKeepPostponingUntilTheyStopOrTenSecondsPass() throws {
        let d = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let t0 = ContinuousClock.now
        var w = RuleWatcher(paths: [d + "/rules"], now: t0)
        var t = t0 + .seconds(2)
        var said: String?
        var looks = 0
        while said == nil && t < t0 + .seconds(30) {
            try "- list: a\n  items: [x\(looks)]\n".write(toFile: d + "/rules/base.yaml", atomically: false, encoding: .utf8)
            said = w.poll(now: t)
            looks += 1
            t = t + w.timeUntilNextLook(now: t)
        }
        #expect(said == "\(d)/rules/base.yaml changed")
        #expect(t <= t0 + .seconds(12) + .milliseconds(600), "reloaded within the 10 s limit of continuous change")
        #expect(looks > 10, "it looked every 0.5 s meanwhile")
    }

    /// A SIGHUP reload in between takes the change: the watcher has nothing left to do.
    @Test func aReloadInBetweenTakesThePendingChange() throws {
        let d = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let t0 = ContinuousClock.now
        var w = RuleWatcher(paths: [d + "/rules"], now: t0)
        try "- list: c\n  items: [z]\n".write(toFile: d + "/rules/new.yaml", atomically: false, encoding: .utf8)
        #expect(w.poll(now: t0 + .seconds(2)) == nil)
        w.reloaded(RuleFilesSnapshot.take(w.paths), now: t0 + .seconds(2) + .milliseconds(100))
        #expect(w.poll(now: t0 + .seconds(5)) == nil)
        #expect(w.poll(now: t0 + .seconds(8)) == nil)
    }

    /// Several changes are named together, at most three.
    @Test func manyChangesAreSummed() throws {
        let d = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let before = RuleFilesSnapshot.take([d + "/rules"])
        for i in 1...5 { try "- list: l\(i)\n  items: [x]\n".write(toFile: d + "/rules/\(i).yaml", atomically: false, encoding: .utf8) }
        #expect(RuleFilesSnapshot.take([d + "/rules"]).changes(since: before)
                == "\(d)/rules/1.yaml added, \(d)/rules/2.yaml added, \(d)/rules/3.yaml added and 2 more")
    }
}
