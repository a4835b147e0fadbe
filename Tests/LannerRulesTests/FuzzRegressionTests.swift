import Foundation
import Testing
import LannerRules
import LannerTestSupport

/// Inputs the fuzz targets (Fuzz/) once broke on, replayed with the same properties: the printed form of a
/// parsed condition parses again; a loaded rule file's diagnostics all name the file. New crash inputs go in
/// Fuzz/Regressions/<target>/.
@Suite struct FuzzRegressionTests {
    static func inputs(_ kind: String) throws -> [(String, String)] {
        let dir = Peer.repo.appendingPathComponent("Fuzz/Regressions/\(kind)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        return try names.map { ($0, String(decoding: try Data(contentsOf: dir.appendingPathComponent($0)), as: UTF8.self)) }
    }

    @Test func conditionsPrintAndParseAgain() throws {
        let cases = try Self.inputs("conditions")
        #expect(!cases.isEmpty)
        for (name, text) in cases {
            guard let e = try? ConditionParser.parse(text) else { continue }
            let printed = ConditionPrinter.string(e)
            let again = try? ConditionParser.parse(printed)
            #expect(again != nil, "\(name): printed form \(printed) does not parse")
            if let again { #expect(ConditionPrinter.string(again) == printed, "\(name)") }
        }
    }

    @Test func ruleFilesReportOnlyLocatedDiagnostics() throws {
        for (name, text) in try Self.inputs("rules") {
            let r = RuleLoader.load([RuleFile(name: "fuzz.yaml", text: text)])
            _ = r.report.rendered()
            for d in r.report.diagnostics where d.location != nil {
                #expect(d.location?.file == "fuzz.yaml", "\(name): \(d)")
            }
        }
    }

    @Test(arguments: ["", "a(b", "x)y", "a,b", "k=v", "tab\there", "quote\"d", "back\\slash", "sp ace"])
    func escapedConstantsReadBack(_ s: String) throws {
        let e = try ConditionParser.parse("proc.name in (\(Escaping.escape(s)), other)")
        let printed = ConditionPrinter.string(e)
        #expect(printed.contains(Escaping.escape(s)))
        let again = try ConditionParser.parse(printed)
        #expect(ConditionPrinter.string(again) == printed)
    }
}
