/// A set of Falco event types, as a bitset over the indices of `FalcoEventNames.all`: union, intersection
/// and complement are a few word operations instead of hashing ~425 names.
struct EventTypeSet: Equatable {
    static let wordCount = 8
    static let names = FalcoEventNames.all
    static let index: [String: Int] = {
        precondition(names.count <= wordCount * 64, "EventTypeSet holds \(wordCount * 64) event types; raise wordCount")
        return Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
    }()

    var words = InlineArray<8, UInt64>(repeating: 0)

    static let empty = EventTypeSet()
    /// Every Falco event type.
    static let universe: EventTypeSet = {
        var s = EventTypeSet()
        for i in names.indices { s.words[i >> 6] |= 1 << UInt64(i & 63) }
        return s
    }()

    /// The known names among `names` (unknown ones are left out: the checker rejects them first).
    init<S: Sequence<String>>(names: S) {
        for n in names {
            if let i = Self.index[n] { words[i >> 6] |= 1 << UInt64(i & 63) }
        }
    }

    init() {}

    static func == (a: EventTypeSet, b: EventTypeSet) -> Bool {
        for k in 0..<wordCount where a.words[k] != b.words[k] { return false }
        return true
    }

    mutating func formUnion(_ o: EventTypeSet) { for k in 0..<Self.wordCount { words[k] |= o.words[k] } }
    mutating func formIntersection(_ o: EventTypeSet) { for k in 0..<Self.wordCount { words[k] &= o.words[k] } }

    /// The event types not in the set.
    var complement: EventTypeSet {
        var s = Self.universe
        for k in 0..<Self.wordCount { s.words[k] &= ~words[k] }
        return s
    }

    var count: Int {
        var n = 0
        for k in 0..<Self.wordCount { n += words[k].nonzeroBitCount }
        return n
    }

    /// The names in the set.
    var nameSet: Set<String> {
        if self == Self.universe { return EventTypeResolver.universe }
        var out = Set<String>(minimumCapacity: count)
        for k in 0..<Self.wordCount {
            var w = words[k]
            while w != 0 {
                let bit = w.trailingZeroBitCount
                out.insert(Self.names[k << 6 | bit])
                w &= w - 1
            }
        }
        return out
    }
}

/// The event types a condition can match, over Falco's event names: an over-approximation that is exact
/// for conditions made only of `evt.type` checks (Falco's ppm_event_codes).
public enum EventTypeResolver {
    public static let universe: Set<String> = Set(FalcoEventNames.all)

    /// - Complexity: O(n) in the size of the condition (a few word operations per node).
    public static func resolve(_ c: Condition) -> Set<String> { (visit(c).set ?? .universe).nameSet }

    /// The event types `c` can match — nil for all of them, the common case (any check that is not on
    /// `evt.type`), which needs no word operations — and whether that is exact. Recursive; bounded by the
    /// loader's condition depth limit.
    static func visit(_ c: Condition) -> (set: EventTypeSet?, exact: Bool) {
        switch c {
        case .constant(let b): return (b ? nil : .empty, true)
        case .check(let ch):
            guard ch.lhs.field.name == "evt.type", ch.lhs.transformers.isEmpty, case .constants(let cs) = ch.rhs else {
                return (nil, false)
            }
            let names = EventTypeSet(names: cs.lazy.compactMap {
                if case .string(let b) = $0 { return String(decoding: b, as: UTF8.self) } else { return nil }
            })
            switch (ch.op, ch.modifier) {
            case (.eq, nil), (.in, nil), (.intersects, nil), (.eq, .oneof?), (.eq, .anyof?): return (names, true)
            case (.ne, nil): return (names.complement, true)
            default: return (nil, false)
            }
        case .and(let cs):
            var set: EventTypeSet?   // all
            var exact = true
            for c in cs {
                let x = visit(c)
                if let s = x.set {
                    if set == nil { set = s } else { set!.formIntersection(s) }
                }
                exact = exact && x.exact
            }
            return (set, exact)
        case .or(let cs):
            var set: EventTypeSet? = .empty
            var exact = true
            for c in cs {
                let x = visit(c)
                if let s = x.set { set?.formUnion(s) } else { set = nil }
                exact = exact && x.exact
            }
            return (set, exact)
        case .not(let inner):
            let x = visit(inner)
            guard x.exact else { return (nil, false) }
            return (x.set.map(\.complement) ?? .empty, true)
        }
    }
}
