import Testing

@Test func lannerrulesPlaceholder() { #expect(Bool(true)) }
