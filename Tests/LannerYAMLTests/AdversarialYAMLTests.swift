import Foundation
import Testing
import LannerYAML

/// `YAMLParser.parse` on hostile documents: bounded time, errors where the problem is.
@Suite struct AdversarialYAMLTests {
    static func time(_ f: () throws -> Void) rethrows -> Double {
        let t0 = Date()
        try f()
        return Date().timeIntervalSince(t0)
    }

    @Test func aliasBombIsRefusedWithAMark() throws {
        var s = "a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n"
        for i in 1...8 { s += "a\(i): &a\(i) [" + [String](repeating: "*a\(i - 1)", count: 10).joined(separator: ",") + "]\n" }
        var caught: YAMLError?
        let dt = Self.time { do { _ = try YAMLParser.parse(s, source: "bomb.yaml") } catch { caught = error as? YAMLError } }
        #expect(caught != nil)
        #expect((caught?.mark.line ?? 0) > 1)
        #expect(dt < 10, "took \(dt) s")
    }

    @Test func tenThousandLevelsOfNestingParse() throws {
        let s = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let docs = try YAMLParser.parse(s)
        #expect(docs.count == 1)
    }

    @Test func unterminatedAndInvalidDocumentsGiveMarks() throws {
        for s in ["a: \"unterminated\n", "[1, 2", "{a: b", "- a\n b: c\n", "a: b\n\tc: d\n", "&x a: *y\n", "%YAML 9.9\n---\na\n"] {
            do {
                _ = try YAMLParser.parse(s, source: "t.yaml")
            } catch {
                #expect(error.mark.line >= 1 && error.mark.column >= 1, "\(s.debugDescription): \(error)")
                #expect(!error.message.isEmpty)
            }
        }
    }

    /// FINDING (quadratic): every node added to a sequence or mapping re-appends to an array that is still
    /// shared with the enum case it was popped from, so the whole array is copied each time. 50 000 items in
    /// one flow sequence take tens of seconds; the same for a file with tens of thousands of rules (a top-level
    /// sequence) or a mapping with many keys.
    @Test func largeSequencesAndMappingsParseInLinearTime() throws {
        let seq = "[" + (0..<50_000).map { "i\($0)" }.joined(separator: ",") + "]"
        let dt1 = try Self.time { _ = try YAMLParser.parse(seq) }
        #expect(dt1 < 2, "a 50 000-item sequence took \(dt1) s")
        let block = (0..<20_000).map { "- rule: r\($0)\n  desc: d\n" }.joined()
        let dt2 = try Self.time { _ = try YAMLParser.parse(block) }
        #expect(dt2 < 2, "20 000 top-level items took \(dt2) s")
        let map = (0..<30_000).map { "k\($0): v" }.joined(separator: "\n")
        let dt3 = try Self.time { _ = try YAMLParser.parse(map) }
        #expect(dt3 < 2, "a 30 000-key mapping took \(dt3) s")
    }

    /// FINDING (wrong place): reader-level errors (control characters, bad encodings) are reported at 1:1,
    /// wherever the bad byte is: libyaml puts their position in `problem_offset`, not `problem_mark`.
    @Test func readerErrorsPointAtTheBadCharacter() throws {
        let s = "a: b\nc: d\ne: f\u{1}g\n"
        do {
            _ = try YAMLParser.parse(s, source: "t.yaml")
            Issue.record("a control character was accepted")
        } catch {
            #expect(error.mark.line == 3, "reported at \(error.mark): \(error)")
        }
    }
}
