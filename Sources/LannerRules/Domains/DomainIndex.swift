/// A ruleset's view of a `DomainSnapshot`: for each address some of its names resolved to, the ids of those
/// names (ids are positions in the ruleset's name list). Plain data in unsafe memory, built when a new snapshot
/// is adopted and freed by its owner with `deallocate()`; lookups allocate nothing and take no lock.
struct DomainIndex {
    /// Open addressing over `keys`: entry index, or -1.
    private let table: UnsafeMutablePointer<Int32>
    private let keys: UnsafeMutablePointer<IPAddress>
    /// Entry i's ids are `ids[starts[i] ..< starts[i + 1]]`, ascending.
    private let starts: UnsafeMutablePointer<Int32>
    private let ids: UnsafeMutablePointer<Int32>
    private let mask: Int
    /// Addresses indexed.
    let count: Int

    /// - Parameters:
    ///   - names: the ruleset's names, by id.
    ///   - snapshot: their addresses (names it does not hold have none).
    init(names: [String], snapshot: DomainSnapshot) {
        var byAddress: [IPAddress: [Int32]] = [:]
        for (id, n) in names.enumerated() {
            for a in snapshot.addresses[n] ?? [] { byAddress[a, default: []].append(Int32(id)) }
        }
        var size = 8
        while size < byAddress.count * 2 { size <<= 1 }
        table = .allocate(capacity: size)
        table.initialize(repeating: -1, count: size)
        keys = .allocate(capacity: max(byAddress.count, 1))
        starts = .allocate(capacity: byAddress.count + 1)
        let total = byAddress.values.reduce(0) { $0 + $1.count }
        ids = .allocate(capacity: max(total, 1))
        mask = size - 1
        count = byAddress.count
        var entry = 0, k = 0
        for (address, list) in byAddress {
            var i = DomainIndex.hash(address) & mask
            while table[i] >= 0 { i = (i + 1) & mask }
            table[i] = Int32(entry)
            keys[entry] = address
            starts[entry] = Int32(k)
            for id in list.sorted() { ids[k] = id; k += 1 }
            entry += 1
        }
        starts[entry] = Int32(k)
    }

    /// An index of nothing.
    static func empty() -> DomainIndex { DomainIndex(names: [], snapshot: DomainSnapshot(generation: 0, addresses: [:])) }

    func deallocate() {
        table.deallocate()
        keys.deallocate()
        starts.deallocate()
        ids.deallocate()
    }

    @inline(__always)
    static func hash(_ a: IPAddress) -> Int {
        var h = a.lo &* 0x9e37_79b9_7f4a_7c15 ^ a.hi
        h ^= h >> 29
        h = h &* 0xbf58_476d_1ce4_e5b9
        h ^= h >> 32
        return Int(truncatingIfNeeded: h)
    }

    /// The ids of the names `a` belongs to, ascending; empty when none.
    @inline(__always)
    func names(of a: IPAddress) -> UnsafeBufferPointer<Int32> {
        var i = DomainIndex.hash(a) & mask
        while true {
            let e = Int(table[i])
            if e < 0 { return UnsafeBufferPointer(start: ids, count: 0) }
            if keys[e] == a {
                let s = Int(starts[e])
                return UnsafeBufferPointer(start: ids + s, count: Int(starts[e + 1]) - s)
            }
            i = (i + 1) & mask
        }
    }
}
