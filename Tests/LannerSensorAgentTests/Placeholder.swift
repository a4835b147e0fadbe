import Testing

@Test func lannersensoragentPlaceholder() { #expect(Bool(true)) }
