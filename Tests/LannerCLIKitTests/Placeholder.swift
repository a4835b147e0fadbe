import Testing

@Test func lannerclikitPlaceholder() { #expect(Bool(true)) }
