import LannerRules

/// Renderings that repeat (results, flag sets, capability sets) kept as stable byte strings, so a field
/// extracted on every event costs a table lookup, not a string build. One cache per extractor (so per
/// evaluating thread); bounded: past `limit` entries it renders into the arena instead.
final class RenderCache {
    private var entries: [UInt64: ByteString] = [:]
    private let limit: Int
    private let render: (UInt64) -> String

    init(limit: Int = 4096, _ render: @escaping (UInt64) -> String) {
        self.limit = limit
        self.render = render
    }

    @inline(__always)
    func append(_ key: UInt64, to s: EvalScratch) {
        if let b = entries[key] {
            s.append(bytes: b.buffer)
            return
        }
        let text = render(key)
        if entries.count < limit {
            let b = ByteString(text)
            entries[key] = b
            s.append(bytes: b.buffer)
        } else {
            s.appendCopy(text.utf8)
        }
    }
}

/// `evt.res` texts: SUCCESS and the errno names, built once.
enum ResultNames {
    static let success = ByteString("SUCCESS")
    static let names: [ByteString] = (0...200).map { ByteString(Render.result(-Int64($0))) }

    /// SUCCESS or the cached name; nil for a result the table does not hold (render it with `Render.result`).
    /// Compares before negating: `-res` of Int64.min would trap.
    @inline(__always)
    static func bytes(_ res: Int64) -> ByteString? {
        if res >= 0 { return success }
        return res > -Int64(names.count) ? names[Int(-res)] : nil
    }
}
