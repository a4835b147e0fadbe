import Testing

@Test func lannerenrichPlaceholder() { #expect(Bool(true)) }
