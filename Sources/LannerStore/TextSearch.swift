/// How `--search` text becomes an FTS5 query over alert outputs.
///
/// The text is split into words at white space; an alert matches when its output contains every word. A word
/// matches whole words of the output, compared without case (FTS5's `unicode61` tokenizer: letters and digits
/// make words, everything else separates them). A word with punctuation inside is a phrase: `/etc/shadow`
/// matches the words `etc` and `shadow` next to each other, `10.0.0.5` the four numbers in a row. A trailing `*`
/// makes the last word a prefix: `shad*` matches `shadow`.
public enum TextSearch {
    /// The FTS5 query for `text`.
    /// - Throws: `StoreError.invalidQuery` when the text has no word to look for (empty, or only punctuation).
    public static func ftsQuery(_ text: String) throws(StoreError) -> String {
        var terms: [String] = []
        for raw in text.split(whereSeparator: { $0.isWhitespace }) {
            var word = Substring(raw)
            var prefix = false
            while word.hasSuffix("*") {
                prefix = true
                word = word.dropLast()
            }
            guard word.contains(where: { $0.isLetter || $0.isNumber }) else {
                throw .invalidQuery("search word '\(raw)' has no letter or digit to look for; outputs are searched by words "
                                    + "(letters and digits), e.g. --search 'etc/shadow' or --search 'shad*'")
            }
            var term = "\""
            for c in word { term += c == "\"" ? "\"\"" : String(c) }
            terms.append(term + "\"" + (prefix ? "*" : ""))
        }
        guard !terms.isEmpty else { throw .invalidQuery("the search text is empty; give at least one word to look for") }
        return terms.joined(separator: " AND ")
    }
}
