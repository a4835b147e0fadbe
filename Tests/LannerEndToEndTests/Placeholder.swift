import Testing

@Test func lannerendtoendPlaceholder() { #expect(Bool(true)) }
