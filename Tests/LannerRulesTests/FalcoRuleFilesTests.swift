import Foundation
import Testing
import LannerRules
import LannerTestSupport

@Suite struct FalcoRuleFilesTests {
    @Test func falcoDefaultRuleFilesLoadUnchanged() throws {
        let files = try ["falco-rules/falco_rules.yaml", "falco-rules/falco-incubating_rules.yaml",
                         "falco-rules/falco-sandbox_rules.yaml"].map(Peer.file)
        let result = RuleLoader.load(files)
        for d in result.report.diagnostics where d.severity == .error || d.code != .unusedMacro && d.code != .unusedList {
            print(DiagnosticRenderer.withSnippet(d, sources: result.report.sources))
        }
        #expect(result.report.errors.count == 0)
        print("rules: \(result.rules.count), macros: \(result.macros.count), lists: \(result.lists.count)")
        #expect(result.rules.count == 25 + 31 + 37)
    }
}
