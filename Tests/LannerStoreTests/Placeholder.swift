import Testing

@Test func lannerstorePlaceholder() { #expect(Bool(true)) }
