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
