import Foundation
import Testing
import LannerCollectorService
import LannerStore
import LannerTestSupport
import LannerWire

/// A committed capture (Tests/Fixtures/eventgen-all.lcap.zst: a real sensor's recording of `lanner-eventgen
/// all` and the machine around it) replayed through the default rules.
@Suite struct ReplayTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/eventgen-all.lcap.zst")

    @Test func theRecordedEventgenRunRaisesExactlyItsFourAlerts() throws {
        let batches = try Capture.batches([UInt8](try Data(contentsOf: Self.fixture)))
        #expect(batches.count == 7)
        let outcome = Replay.run(rules: try AnalyzerTests.rules(), matching: .all, captures: [batches])
        #expect(outcome.events == 2450)
        #expect(outcome.alerts.map(\.rule) == [
            "Sensitive file opened for reading by untrusted program", "File written below a binary directory",
            "Shell spawned by an unexpected parent", "Outbound connection by a program that has no business on the network",
        ])
        #expect(Set(outcome.alerts.map(\.host)) == ["fixture-host"])
        #expect(outcome.alerts.map(\.timeNs) == outcome.alerts.map(\.timeNs).sorted())
        let read = try #require(outcome.alerts.first)
        #expect(read.output.hasPrefix("Sensitive file opened for reading by untrusted program (file=/etc/shadow process=lanner-eventgen "))
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(read.fieldsJSON.utf8)) as? [String: Any])
        #expect(fields["user.name"] as? String == "root")
        #expect(fields["container.id"] as? String == "host")
    }

    @Test func firstMatchGivesTheSameAlertsHere() throws {
        // No event in the recording matches two rules, so Falco's first-match mode agrees with all-matches.
        let batches = try Capture.batches([UInt8](try Data(contentsOf: Self.fixture)))
        let all = Replay.run(rules: try AnalyzerTests.rules(), matching: .all, captures: [batches])
        let first = Replay.run(rules: try AnalyzerTests.rules(), matching: .first, captures: [batches])
        #expect(all.alerts.map(\.output) == first.alerts.map(\.output))
    }

    /// A damaged batch in the middle of a capture (a flipped bit: zstd's checksum fails) is skipped and reported with
    /// its index and offset; every other batch is replayed, so the alerts of the batches before and after it are there.
    /// The eventgen alerts are in batches 3 (three) and 4 (the connect).
    @Test(arguments: [
        (2, 2364, ["Sensitive file opened for reading by untrusted program", "File written below a binary directory",
                   "Shell spawned by an unexpected parent", "Outbound connection by a program that has no business on the network"]),
        (4, 2415, ["Sensitive file opened for reading by untrusted program", "File written below a binary directory",
                   "Shell spawned by an unexpected parent"]),
    ] as [(Int, Int, [String])])
    func aDamagedBatchIsSkippedAndTheOthersReplay(_ damaged: Int, _ events: Int, _ rules: [String]) throws {
        let (file, frames) = try Fixtures.eventgenWithDamagedBatch(damaged)
        let contents = try Capture.read(file)
        #expect(contents.batches.count == 6 && contents.truncatedTail == nil)
        #expect(contents.damaged.map(\.description) == [
            "batch \(damaged) at byte \(frames[damaged]): compressed records at byte 109: damaged zstd frame (Restored data doesn't match checksum); skipped",
        ])
        let outcome = Replay.run(rules: try AnalyzerTests.rules(), matching: .all, captures: [contents.batches])
        #expect(outcome.batches == 6 && outcome.events == events)
        #expect(outcome.alerts.map(\.rule) == rules)
    }
}
