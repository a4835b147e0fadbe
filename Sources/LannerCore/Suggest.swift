/// "Did you mean …?" for names typed by people: the closest candidate by edit distance, when it is close.
public enum Suggest {
    /// The candidate nearest to `word` (Levenshtein distance at most max(1, word.count / 3)), or nil.
    public static func closest(_ word: String, in candidates: some Sequence<String>) -> String? {
        let w = Array(word.lowercased().utf8)
        let limit = max(1, w.count / 3)
        var best: (String, Int)?
        for c in candidates {
            let cu = Array(c.lowercased().utf8)
            guard abs(cu.count - w.count) <= limit else { continue }
            let d = distance(w, cu, limit: limit)
            if d <= limit, best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    /// Levenshtein distance, giving up (returning limit + 1) once every path exceeds `limit`.
    static func distance(_ a: [UInt8], _ b: [UInt8], limit: Int) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            var rowMin = cur[0]
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                rowMin = min(rowMin, cur[j])
            }
            if rowMin > limit { return limit + 1 }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
