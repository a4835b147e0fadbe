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

    /// A capture of three batches (the middle one zstd-compressed) and where each frame starts.
    static func threeBatches() throws -> (file: [UInt8], frames: [Int]) {
        let bodies = [try Golden.body(Golden.cases[0]), try Golden.body(Golden.cases[4]), try Golden.body(Golden.cases[2])]
        var file = Capture.fileHeader()
        var frames: [Int] = []
        for b in bodies {
            frames.append(file.count)
            file += Capture.frame(b)
        }
        return (file, frames)
    }

    static func setLength(_ f: inout [UInt8], at o: Int, _ n: UInt32) {
        for i in 0..<4 { f[o + i] = UInt8(truncatingIfNeeded: n >> (8 * UInt32(i))) }
    }
    static func length(_ f: [UInt8], at o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(f[o + $1]) << (8 * UInt32($1)) } }

    /// One way a capture gets damaged, and what `read` must make of it: the batches read (by sequence), and each
    /// skipped batch's report. `F0`, `F1`, `F2` in the texts stand for the frames' offsets, `END` for the file size,
    /// `HDR` for the middle batch's header length (where its compressed records start).
    struct Damage: Sendable, CustomTestStringConvertible {
        let name: String
        let damage: @Sendable (inout [UInt8], [Int]) -> Void
        let sequences: [UInt64]
        let reports: [String]
        var truncated = false
        var testDescription: String { name }
    }

    static let damages: [Damage] = [
        Damage(name: "a flipped byte in the middle batch's zstd checksum", damage: { f, o in f[o[2] - 1] ^= 0x10 },
               sequences: [1, 3], reports: ["batch 1 at byte F1: compressed records at byte HDR: damaged zstd frame (Restored data doesn't match checksum); skipped"]),
        Damage(name: "a flipped byte in the middle batch's magic", damage: { f, o in f[o[1] + 4] ^= 0xff },
               sequences: [1, 3], reports: ["batch 1 at byte F1: not a Lanner batch: the magic at byte 0 is [\"b3\", \"4e\", \"52\", \"42\"] instead of \"LNRB\"; skipped"]),
        Damage(name: "the middle batch's length one too long", damage: { f, o in setLength(&f, at: o[1], length(f, at: o[1]) + 1) },
               sequences: [1, 3], reports: ["batch 1 at byte F1: ", "; skipped F2-F1 bytes, to the next whole batch at byte F2 (this frame's length is damaged too)"]),
        Damage(name: "the middle batch's length one too short", damage: { f, o in setLength(&f, at: o[1], length(f, at: o[1]) - 1) },
               sequences: [1, 3], reports: ["batch 1 at byte F1: ", "; skipped F2-F1 bytes, to the next whole batch at byte F2 (this frame's length is damaged too)"]),
        Damage(name: "the middle batch's length past the end", damage: { f, o in setLength(&f, at: o[1], 0xffff_ff00) },
               sequences: [1, 3],
               reports: ["batch 1 at byte F1: its length (4294967040 bytes) runs past the end of the file; skipped F2-F1 bytes, to the next whole batch at byte F2"]),
        Damage(name: "garbage between the first two batches", damage: { f, o in f.insert(contentsOf: [UInt8](repeating: 0x5a, count: 7), at: o[1]) },
               sequences: [1, 5, 3],
               reports: ["batch 1 at byte F1: its length (1515870810 bytes) runs past the end of the file; skipped 7 bytes, to the next whole batch at byte F1+7"]),
        Damage(name: "the last batch's magic", damage: { f, o in f[o[2] + 4] = 0 }, sequences: [1, 5], reports: ["batch 2 at byte F2: not a Lanner batch: the magic at byte 0 is [\"0\", \"4e\", \"52\", \"42\"] instead of \"LNRB\"; skipped"]),
        Damage(name: "the first and the last batch", damage: { f, o in f[o[0] + 5] = 9; f[o[2] + 5] = 9 },
               sequences: [5], reports: ["batch 0 at byte F0: ", "batch 2 at byte F2: "]),
        Damage(name: "the middle batch's records and the next frame's length", damage: { f, o in f[o[2] - 1] ^= 1; setLength(&f, at: o[2], 3) },
               sequences: [1], reports: ["batch 1 at byte F1: compressed records at byte HDR: damaged zstd frame (Restored data doesn't match checksum); skipped\n",
                                     "batch 2 at byte F2: ", "; skipped the last END-F2 bytes of the file: no whole batch follows"]),
        Damage(name: "the last batch's length past the end (a cut file looks the same)", damage: { f, o in setLength(&f, at: o[2], 0xffff) },
               sequences: [1, 5], reports: [], truncated: true),
    ]

    /// A damaged batch is skipped with its index, byte offset and reason, and reading goes on with the next batch;
    /// a damaged length is got over by finding the next batch header that frames a whole batch. `batches` (strict)
    /// throws the first report.
    @Test(arguments: damages)
    func damagedBatchesAreSkippedAndTheRestIsRead(_ d: Damage) throws {
        var (file, frames) = try Self.threeBatches()
        let headerLength = Self.length(file, at: frames[1] + 4 + 8)   // frame: u32 length, then the batch; its header length at 8
        d.damage(&file, frames)
        let r = try Capture.read(file)
        #expect(r.batches.map(\.batch.header.sequence) == d.sequences)
        #expect((r.truncatedTail != nil) == d.truncated)
        func resolve(_ t: String) -> String {
            // "F2-F1" and "F1+7" are arithmetic on the offsets; then the plain names.
            var t = t.replacingOccurrences(of: "F2-F1", with: String(frames[2] - frames[1]))
                .replacingOccurrences(of: "F1+7", with: String(frames[1] + 7))
                .replacingOccurrences(of: "END-F2", with: String(file.count - frames[2]))
                .replacingOccurrences(of: "HDR", with: String(headerLength))
            for (i, o) in frames.enumerated() { t = t.replacingOccurrences(of: "F\(i)", with: String(o)) }
            return t
        }
        let texts = r.damaged.map(\.description)
        let joined = texts.joined(separator: "\n")
        for piece in d.reports.map(resolve) { #expect(joined.contains(piece), "\(joined)") }
        #expect(texts.count == Set(d.reports.compactMap { $0.hasPrefix("batch ") ? String($0.prefix(8)) : nil }).count, "\(joined)")
        if let first = r.damaged.first {
            #expect(throws: first) { try Capture.batches(file) }
        }
    }
}
