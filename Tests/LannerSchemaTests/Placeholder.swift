import Testing

@Test func lannerschemaPlaceholder() { #expect(Bool(true)) }
