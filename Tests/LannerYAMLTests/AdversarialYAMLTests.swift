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

    /// Building a sequence or mapping is linear: each node is appended in place to its parent's array, which
    /// stays uniquely referenced (it used to be copied for every append: 50 000 items in one flow sequence
    /// took ~27 s, 20 000 top-level items ~9 s).
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

    /// Reader-level errors (control characters, bad encodings) point at the bad character: libyaml gives
    /// their position as a byte offset (`problem_offset`), not a mark, and the parser turns it into line:column.
    @Test func readerErrorsPointAtTheBadCharacter() throws {
        let s = "a: b\nc: d\ne: f\u{1}g\n"
        do {
            _ = try YAMLParser.parse(s, source: "t.yaml")
            Issue.record("a control character was accepted")
        } catch {
            #expect(error.mark.line == 3, "reported at \(error.mark): \(error)")
            #expect(error.mark.column == 5, "reported at \(error.mark): \(error)")
        }
        // Columns count characters, and CR LF is one line break.
        do {
            _ = try YAMLParser.parse("a: é\r\nb: éé\u{7}\n", source: "t.yaml")
            Issue.record("a control character was accepted")
        } catch {
            #expect(error.mark == Mark(line: 2, column: 6, offset: 14), "\(error)")
        }
    }

    /// libyaml has no nesting limit, and the trees are walked and destroyed recursively: nesting past
    /// `maxDepth` is an error at the node that goes too deep, not a stack overflow.
    @Test func nestingPastTheLimitIsRefusedWithAMark() throws {
        for (open, close) in [("[", "]"), ("{a: ", "}"), ("- ", "")] {
            let s = String(repeating: open, count: 100_000) + "x" + String(repeating: close, count: 100_000) + "\n"
            do {
                _ = try YAMLParser.parse(s, source: "deep.yaml")
                Issue.record("\(open): 100 000 levels were accepted")
            } catch {
                #expect(error.message.contains("deeper than \(YAMLParser.defaultMaxDepth)"), "\(error)")
                #expect(error.mark.line == 1 && error.mark.column > 1, "\(error)")
            }
        }
        let limit = 50
        let ok = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(try YAMLParser.parse(ok, maxDepth: limit).count == 1)
        let over = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(throws: YAMLError.self) { try YAMLParser.parse(over, maxDepth: limit) }
    }
}
