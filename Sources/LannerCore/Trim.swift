extension StringProtocol {
    /// The text without leading and trailing characters matching `drop` (by default whitespace and newlines), as
    /// Foundation's `trimmingCharacters(in:)` does; here so that modules linking only FoundationEssentials (the
    /// sensor's) have it too.
    public func trimmed(where drop: (Character) -> Bool = { $0.isWhitespace }) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}
