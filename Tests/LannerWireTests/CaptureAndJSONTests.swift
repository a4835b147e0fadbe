import Foundation
import Testing
@testable import LannerWire

@Suite struct CaptureAndJSONTests {
    @Test func jsonLinesRoundTripThroughRecordDump() throws {
        let body = try Golden.body(Golden.cases[2])
        let batch = try BatchDecoder.decode(body)
        // RecordDump's JSON reads back into the same bytes.
        for r in batch.records {
            let json = RecordDump.json(r)
            let again = try RecordJSON.record(Substring(json), line: 1)
            #expect(again == Array(r.storage[r.start..<(r.start + r.length)]), "\(json)")
        }
    }

    @Test(arguments: [
        ("{\"type\":\"nope\"}", "unknown or missing \"type\""),
        ("{\"type\":\"openat\",\"fields\":{\"bogus\":1}}", "openat has no field \"bogus\""),
        ("[1,2]", "not a JSON object"),
        ("{\"type\":\"connect\",\"fields\":{\"daddr\":\"zz\"}}", "dotted IPv4 address or 32 hex digits"),
        ("{\"type\":\"connect\",\"fields\":{\"daddr\":\"" + String(repeating: "g", count: 32) + "\"}}", "dotted IPv4 address or 32 hex digits"),
        ("{\"type\":\"openat\",\"fields\":{\"res\":\"3\"}}", "field \"res\" must be a number, not 3"),
        ("{\"type\":\"openat\",\"pid\":\"42\"}", "\"pid\" must be a number, not 42"),
        ("{\"type\":\"openat\",", "not JSON: "),
    ])
    func badLinesSayWhichLineAndWhy(text: String, message: String) {
        do {
            _ = try RecordJSON.records("# comment\n\n" + text)
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 3)
            #expect(error.description.contains(message), "\(error)")
        }
    }

    /// A strlist longer than a u16 length can say was a trap (UInt16(b.count)) that took `rules test` down; it is a
    /// line error like an over-long str. Exactly 65535 bytes of items still fit the field (the record is then too long).
    @Test(arguments: [("args", 70_000, "field \"args\" is too long (70001 bytes with its NULs; at most 65535)"),
                      ("args", 65_534, "record is over 65535 bytes"),
                      ("filename", 70_000, "field \"filename\" is too long (70000 bytes; at most 65535)")])
    func overlongVariableFieldsAreLineErrors(field: String, bytes: Int, message: String) {
        let item = String(repeating: "a", count: bytes)
        let value = field == "args" ? "[\"" + item + "\"]" : "\"" + item + "\""
        let text = "{\"type\":\"execve\",\"pid\":1,\"fields\":{\"" + field + "\":" + value + "}}"
        let e = #expect(throws: RecordJSON.Failure.self) { try RecordJSON.records(text) }
        #expect(e?.description == "line 1: " + message)
    }

    @Test func captureFramesBatchesAndRejectsDamage() throws {
        let a = try Golden.body(Golden.cases[0]), b = try Golden.body(Golden.cases[1])
        let file = Capture.fileHeader() + Capture.frame(a) + Capture.frame(b)
        let batches = try Capture.batches(file)
        #expect(batches.map(\.batch.header.sequence) == [1, 2])
        #expect(batches[1].body == b)
        #expect(throws: Capture.Failure.notACapture) { try Capture.batches(Array("LNRB....".utf8)) }
        #expect(throws: Capture.Failure.self) { try Capture.batches(Array(file.dropLast(3))) }
        var bad = file
        bad[Capture.fileHeaderSize + 4] = 0x58   // first batch's magic
        #expect { try Capture.batches(bad) } throws: { ($0 as? Capture.Failure)?.description.contains("batch 0 at byte 12") == true }
        var newer = file
        newer[4] = 2
        #expect(throws: Capture.Failure.unsupportedVersion(2, 0)) { try Capture.batches(newer) }
    }

    /// A sensor killed while writing leaves a partial last batch: every whole batch before it is still read,
    /// and the cut is reported with its offset, at every possible cut point.
    @Test func aTruncatedTailKeepsTheWholeBatchesBeforeIt() throws {
        let a = try Golden.body(Golden.cases[0]), b = try Golden.body(Golden.cases[1])
        let file = Capture.fileHeader() + Capture.frame(a) + Capture.frame(b)
        let secondStarts = Capture.fileHeaderSize + 4 + a.count
        for cut in (secondStarts + 1)..<file.count {
            let r = try Capture.read(Array(file.prefix(cut)))
            #expect(r.batches.map(\.batch.header.sequence) == [1])
            #expect(r.truncatedTail?.description.hasPrefix("capture truncated at byte \(secondStarts)") == true)
        }
        let whole = try Capture.read(file)
        #expect(whole.batches.count == 2 && whole.truncatedTail == nil)
    }
}
