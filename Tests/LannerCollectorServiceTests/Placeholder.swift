import Testing

@Test func lannercollectorservicePlaceholder() { #expect(Bool(true)) }
