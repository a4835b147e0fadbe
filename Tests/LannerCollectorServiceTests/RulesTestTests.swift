import Foundation
import Testing
import LannerCollectorService
import LannerTestSupport
import LannerWire

@Suite struct RulesTestTests {
    static let events = """
    {"type":"procinfo","pid":1,"fields":{"comm":"systemd","exe":"/usr/lib/systemd/systemd","args":["/sbin/init"]}}
    {"type":"procinfo","pid":50,"fields":{"ppid":1,"comm":"nginx","exe":"/usr/sbin/nginx","args":["nginx"]}}
    {"type":"clone","pid":50,"ts":100,"fields":{"res":60,"child_pid":60,"comm":"nginx"}}
    {"type":"execve","pid":60,"ts":200,"fields":{"ppid":50,"comm":"sh","exe":"/usr/bin/dash","args":["sh","-c","id"]}}
    {"type":"openat","pid":60,"ts":300,"fields":{"res":3,"name":"/etc/hostname","nameraw":"/etc/hostname"}}
    """

    @Test func reportsWhatFiresAndExplainsWhatDoesNot() throws {
        let path = NSTemporaryDirectory() + "rules-test-\(UUID().uuidString).jsonl"
        try Self.events.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let batches = try RulesTest.batches(path)
        let r = RulesTest.run(rules: try AnalyzerTests.rules(), events: batches, matching: .all,
                              explain: "Sensitive file opened for reading by untrusted program")
        #expect(r.alerts == 1)
        #expect(r.text.contains("event 2 execve pid=60 (sh): Shell spawned by an unexpected parent [Warning]"))
        #expect(r.text.contains("rule 'Sensitive file opened for reading by untrusted program': did not match"))
        #expect(r.text.contains("false fd.name in (/etc/shadow"))
        #expect(r.text.contains("3 events, 1 alerts: Shell spawned by an unexpected parent ×1"))
    }

    @Test func capturesAreReadToo() throws {
        let body = Rec.batch(AnalyzerTests.family + [Rec.clone(parent: 50, child: 70), Rec.exec(pid: 70, ppid: 50, comm: "sh", exe: "/bin/sh", args: ["sh"])])
        let path = NSTemporaryDirectory() + "rules-test-\(UUID().uuidString).lcap"
        try Data(Capture.fileHeader() + Capture.frame(body)).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = RulesTest.run(rules: try AnalyzerTests.rules(), events: try RulesTest.batches(path), matching: .first, explain: nil)
        #expect(r.alerts == 1)
    }

    @Test func badEventFilesAreNamedErrors() throws {
        let path = NSTemporaryDirectory() + "rules-test-\(UUID().uuidString).jsonl"
        try "{\"type\":\"openat\"}\n{oops".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect { try RulesTest.batches(path) } throws: { "\($0)".contains("line 2: not JSON: ") }
        #expect { try RulesTest.batches("/nonexistent/x") } throws: { "\($0)".contains("cannot be read") }
    }
}
