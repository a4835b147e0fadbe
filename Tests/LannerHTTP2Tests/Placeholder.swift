import Testing

@Test func lannerhttp2Placeholder() { #expect(Bool(true)) }
