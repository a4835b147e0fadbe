import Testing
import LannerCore

@Suite struct PriorityTests {
    @Test(arguments: [("WARNING", Priority.warning), ("Notice", .notice), ("info", .informational),
                      ("informational", .informational), ("EMERGENCY", .emergency), ("debug", .debug)])
    func namesParseCaseInsensitively(name: String, expected: Priority) {
        #expect(Priority(name: name) == expected)
    }

    @Test func unknownNamesDoNotParse() {
        #expect(Priority(name: "severe") == nil)
        #expect(Priority(name: "") == nil)
    }

    @Test func severityOrder() {
        #expect(Priority.critical.isAtLeast(.warning))
        #expect(!Priority.notice.isAtLeast(.warning))
        #expect(Priority.warning.isAtLeast(.warning))
        #expect(Priority.allCases.sorted() == Priority.allCases)
        #expect(Priority.informational.name == "Informational")
    }
}

@Suite struct JSONTests {
    @Test func escapesControlAndQuotes() {
        #expect(JSON.quoted("a\"b\\c\nd\u{1}") == "\"a\\\"b\\\\c\\nd\\u0001\"")
        #expect(JSON.quoted("é/ü") == "\"é/ü\"")
    }
}

@Suite struct SuggestTests {
    @Test(arguments: [
        ("proc.nme", ["proc.name", "proc.pname", "fd.name"], "proc.name"),
        ("fd.nmae", ["fd.name", "fd.num"], "fd.name"),
        ("PROC.NAME", ["proc.name"], "proc.name"),
        ("evt.tpye", ["evt.type", "evt.time"], "evt.type"),
        ("Shell spawned by an unexpectd parent", ["Shell spawned by an unexpected parent", "Other"], "Shell spawned by an unexpected parent"),
    ] as [(String, [String], String)])
    func closeNamesAreSuggested(_ word: String, _ candidates: [String], _ expected: String) {
        #expect(Suggest.closest(word, in: candidates) == expected)
    }

    @Test func farNamesAreNot() {
        #expect(Suggest.closest("xyz", in: ["proc.name", "fd.name"]) == nil)
        #expect(Suggest.closest("container.foo", in: ["proc.name"]) == nil)
    }
}
