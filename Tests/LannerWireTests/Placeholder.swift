import Testing

@Test func lannerwirePlaceholder() { #expect(Bool(true)) }
