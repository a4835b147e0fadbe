import Foundation
import Testing
import LannerTestSupport
import LannerRules

/// `ConditionParser.parse` on random and mutated input: no crash, no hang, and every failure carries an
/// offset inside the input.
@Suite struct AdversarialConditionTests {
    static func falcoConditions() throws -> [String] {
        let path = Peer.root.appendingPathComponent("falco-rules/falco_rules.yaml").path
        let r = RuleLoader.load([RuleFile(name: "falco_rules.yaml", text: try String(contentsOfFile: path, encoding: .utf8))])
        return r.rules.map(\.conditionText) + r.macros.map(\.condition) + r.rules.map(\.expandedText)
    }

    struct LCG {
        var s: UInt64
        mutating func next() -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 17 }
        mutating func pick<T>(_ a: [T]) -> T { a[Int(next() % UInt64(a.count))] }
    }

    static let tokens = ["proc.name", "fd.name", "evt.type", "proc.aname[2]", "proc.env[HOME]", "=", "!=", "in", "pmatch",
                         "contains", "startswith", "glob", "regex", "exists", "and", "or", "not", "(", ")", "(", ")", ",",
                         "\"q\\\"uote\"", "'single'", "\"\\x\"", "\"", "'", "val(", "tolower(", "b64(", "len(", "basename(",
                         "oneof", "anyof", "allof", "0x", "0x1F", "-1e+5", "1.5", "[", "]", " ", "\t", "\n", "\u{0}", "é",
                         "\u{FFFD}", "macro_name", "list_name", ">=", "<", "intersects", "%", "\\", "evt.arg.flags", "evt.arg[0]"]

    /// Parses; on failure checks the offset. Returns a problem description or nil.
    static func check(_ text: String) -> String? {
        do {
            _ = try ConditionParser.parse(text)
            return nil
        } catch {
            let n = text.utf8.count
            if error.offset < 0 || error.offset > n { return "offset \(error.offset) outside 0...\(n) for \(text.debugDescription)" }
            if error.message.isEmpty { return "empty message for \(text.debugDescription)" }
            return nil
        }
    }

    @Test func randomTokenSoupNeverCrashesAndErrorsCarryAnInBoundsOffset() throws {
        var g = LCG(s: 99)
        var problems: [String] = []
        for _ in 0..<20_000 {
            var s = ""
            for _ in 0..<(1 + Int(g.next() % 25)) { s += g.pick(Self.tokens); if g.next() % 3 == 0 { s += " " } }
            if let p = Self.check(s) { problems.append(p) }
        }
        #expect(problems.isEmpty, "\(problems.prefix(10))")
    }

    @Test func randomBytesNeverCrash() throws {
        var g = LCG(s: 7)
        var problems: [String] = []
        for _ in 0..<20_000 {
            let bytes = (0..<Int(g.next() % 80)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            if let p = Self.check(String(decoding: bytes, as: UTF8.self)) { problems.append(p) }
        }
        #expect(problems.isEmpty, "\(problems.prefix(10))")
    }

    @Test func mutatedFalcoConditionsNeverCrash() throws {
        let conds = try Self.falcoConditions()
        #expect(conds.count > 100)
        var g = LCG(s: 1234)
        var problems: [String] = []
        for i in 0..<20_000 {
            var b = Array(conds[i % conds.count].utf8)
            for _ in 0..<(1 + Int(g.next() % 4)) where !b.isEmpty {
                let at = Int(g.next() % UInt64(b.count))
                switch g.next() % 5 {
                case 0: b[at] = UInt8(truncatingIfNeeded: g.next())
                case 1: b.remove(at: at)
                case 2: b.insert(contentsOf: Array(g.pick(Self.tokens).utf8), at: at)
                case 3: b = Array(b.prefix(at))
                default: let n = Int(g.next() % 40); b.insert(contentsOf: b[at..<min(b.count, at + n)], at: at)
                }
            }
            if let p = Self.check(String(decoding: b, as: UTF8.self)) { problems.append(p) }
        }
        #expect(problems.isEmpty, "\(problems.prefix(10))")
    }

    @Test func deepAndLongInputsAreBoundedAndLocated() throws {
        let cases = [
            String(repeating: "(", count: 10_000) + "proc.name = a" + String(repeating: ")", count: 10_000),
            String(repeating: "not(", count: 10_000) + "proc.name = a" + String(repeating: ")", count: 10_000),
            String(repeating: "tolower(", count: 10_000) + "proc.name" + String(repeating: ")", count: 10_000) + " = a",
            String(repeating: "(", count: 100_000),
            String(repeating: "not ", count: 100_000) + "proc.name = a",
            (0..<50_000).map { "proc.name = a\($0)" }.joined(separator: " and "),
            "proc.name in (" + (0..<100_000).map { "i\($0)" }.joined(separator: ", ") + ")",
            "proc.name = \"" + String(repeating: "\\\\", count: 100_000) + "\"",
            "proc.name = \"" + String(repeating: "x", count: 1_000_000),
            "",
            " ",
        ]
        for c in cases {
            let t0 = Date()
            if let p = Self.check(c) { Issue.record("\(p.prefix(200))") }
            let dt = Date().timeIntervalSince(t0)
            #expect(dt < 10, "\(c.prefix(40))… took \(dt) s")
        }
    }

    @Test func depthLimitErrorPointsIntoTheInput() throws {
        let text = String(repeating: "(", count: 10_000) + "proc.name = a" + String(repeating: ")", count: 10_000)
        #expect(throws: ConditionParser.Failure.self) { try ConditionParser.parse(text) }
        do { _ = try ConditionParser.parse(text) } catch {
            #expect(error.message.contains("depth"))
            #expect(error.offset > 0 && error.offset < 10_000)
        }
    }

    /// Printing a parsed condition and parsing it again must succeed and print the same (what `rules describe`
    /// shows as "expanded" must be a valid condition).
    @Test func printedConditionsReparse() throws {
        var g = LCG(s: 555)
        var problems: [String] = []
        let conds = try Self.falcoConditions()
        var inputs = conds
        for _ in 0..<20_000 {
            var s = ""
            for _ in 0..<(1 + Int(g.next() % 12)) { s += g.pick(Self.tokens) + " " }
            inputs.append(s)
        }
        for text in inputs {
            guard let e = try? ConditionParser.parse(text) else { continue }
            let printed = ConditionPrinter.string(e)
            do {
                let again = ConditionPrinter.string(try ConditionParser.parse(printed))
                if again != printed { problems.append("\(text.debugDescription) → \(printed.debugDescription) → \(again.debugDescription)") }
            } catch {
                problems.append("\(text.debugDescription) printed as \(printed.debugDescription), which does not parse: \(error.message)")
            }
        }
        #expect(problems.isEmpty, "\(problems.count) problems, e.g. \(problems.prefix(5))")
    }
}
