import Testing

@Test func lanneryamlPlaceholder() { #expect(Bool(true)) }
