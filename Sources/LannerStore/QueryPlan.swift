#if canImport(Glibc)
import Glibc
#endif

/// How a query finds its rows: a race of candidate index walks (see `AlertStore.query`).
///
/// Each candidate ("drive") produces the query's rows in output order from one index: the time index, the rule
/// index (one walk per rule name, merged), the priority index (one walk per level), the host index, a container
/// index, the tag table, or the text index. A walk reads its index in bounded chunks (each chunk is one
/// `LIMIT`ed statement run that continues after the previous chunk's last (time, id)); every row it reads says
/// whether it passes the query's other filters, computed by SQLite in the same statement. The drives take turns,
/// the one that has spent the least time going next, and the first to finish answers. So a query costs at most
/// about (number of candidates) × (the cost of the best candidate), without statistics: the race finds the
/// selective index even when the data are skewed, a pattern matches many rules, or a window hides most rows.
protocol QueryDrive: AnyObject {
    /// Time spent in `advance`, ns.
    var spentNs: Int64 { get set }
    var finished: Bool { get }
    /// One bounded step of work (one chunk of one walk).
    func advance() throws(StoreError)
    /// The rows found, in output order (complete once `finished`).
    var positions: [AlertPosition] { get }
}

enum QueryRace {
    /// Runs the drives against each other; returns the first that finishes.
    static func run(_ drives: [QueryDrive]) throws(StoreError) -> QueryDrive {
        precondition(!drives.isEmpty)
        if drives.count == 1 {
            while !drives[0].finished { try drives[0].advance() }
            return drives[0]
        }
        while true {
            var next = drives[0]
            for d in drives.dropFirst() where d.spentNs < next.spentNs { next = d }
            let t0 = monotonicNs()
            try next.advance()
            next.spentNs += monotonicNs() - t0
            if next.finished { return next }
        }
    }

    static func monotonicNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// One index read in (time, id) order, chunk by chunk: `SELECT id, time, <passes other filters> … LIMIT n`.
final class ChunkWalk {
    private let statement: SQLite.Statement
    private let binds: [SQLBinding]
    private var cursorTime: Int64
    private var cursorID: Int64
    private(set) var rows: [(time: Int64, id: Int64, ok: Bool)] = []
    private(set) var head = 0
    private(set) var exhausted = false
    private var chunk = 64

    /// Nanoseconds one chunk should take; its row count adapts to what rows cost.
    static let chunkTargetNs: Int64 = 1_500_000

    /// - Parameters:
    ///   - source: The FROM clause (a table with `INDEXED BY`, or a join).
    ///   - timeColumn, idColumn: The source's (time, id), which its index delivers in order.
    ///   - key: The driving key term (e.g. `rule = ?`), nil for the time index.
    ///   - window: Terms on the source's time and id columns that narrow the index range.
    ///   - ok: The other filters, evaluated per row into the third column.
    ///   - start: Read only rows after this position (keyset paging), else from the beginning.
    init(_ db: SQLite, source: String, timeColumn: String, idColumn: String, key: (String, SQLBinding)?,
         window: FilterSQL, ok: FilterSQL, newestFirst: Bool, start: AlertPosition?) throws(StoreError) {
        var terms: [String] = []
        var whereBinds: [SQLBinding] = []
        if let key {
            terms.append(key.0)
            whereBinds.append(key.1)
        }
        terms += window.terms
        whereBinds += window.binds
        let op = newestFirst ? "<" : ">"
        let dir = newestFirst ? "DESC" : "ASC"
        terms.append("(\(timeColumn), \(idColumn)) \(op) (?, ?)")
        let okExpr = ok.terms.isEmpty ? "1" : "(" + ok.terms.joined(separator: " AND ") + ")"
        statement = try db.prepare("SELECT \(idColumn), \(timeColumn), \(okExpr) FROM \(source) WHERE "
                                   + terms.joined(separator: " AND ") + " ORDER BY \(timeColumn) \(dir), \(idColumn) \(dir) LIMIT ?")
        binds = ok.binds + whereBinds
        cursorTime = start?.timeNs ?? (newestFirst ? .max : .min)
        cursorID = start?.id ?? (newestFirst ? .max : .min)
    }

    var needsFill: Bool { head >= rows.count && !exhausted }
    var current: (time: Int64, id: Int64, ok: Bool)? { head < rows.count ? rows[head] : nil }
    func pop() { head += 1 }

    /// Reads the next chunk.
    func fill() throws(StoreError) {
        statement.reset()
        for (i, b) in binds.enumerated() { try b.bind(to: statement, at: Int32(i + 1)) }
        let n = Int32(binds.count)
        try statement.bind(cursorTime, at: n + 1)
        try statement.bind(cursorID, at: n + 2)
        try statement.bind(chunk, at: n + 3)
        rows.removeAll(keepingCapacity: true)
        head = 0
        let t0 = QueryRace.monotonicNs()
        while try statement.step() {
            rows.append((statement.int64(1), statement.int64(0), statement.int64(2) != 0))
        }
        let elapsed = QueryRace.monotonicNs() - t0
        if rows.count < chunk { exhausted = true }
        if let last = rows.last {
            cursorTime = last.time
            cursorID = last.id
        }
        let perRow = max(1, elapsed / Int64(max(rows.count, 1)))
        chunk = Int(min(8192, max(32, Self.chunkTargetNs / perRow)))
    }
}

/// Walks in the same order, merged: the next row out is the best head among them.
final class MergeDrive: QueryDrive {
    private let walks: [ChunkWalk]
    private let limit: Int
    private let newestFirst: Bool
    private(set) var positions: [AlertPosition] = []
    private(set) var finished = false
    var spentNs: Int64 = 0

    init(_ walks: [ChunkWalk], limit: Int, newestFirst: Bool) {
        self.walks = walks
        self.limit = limit
        self.newestFirst = newestFirst
        if walks.isEmpty { finished = true }
    }

    func advance() throws(StoreError) {
        if let w = walks.first(where: \.needsFill) { try w.fill() }
        drain()
    }

    /// Emits rows while every walk has a head (or is done).
    private func drain() {
        while !finished {
            var best: ChunkWalk?
            var bestRow: (time: Int64, id: Int64, ok: Bool)?
            for w in walks {
                if w.needsFill { return }
                guard let r = w.current else { continue }
                if let b = bestRow {
                    let better = newestFirst ? (r.time, r.id) > (b.time, b.id) : (r.time, r.id) < (b.time, b.id)
                    if !better { continue }
                }
                best = w
                bestRow = r
            }
            guard let best, let row = bestRow else {
                finished = true
                return
            }
            best.pop()
            if row.ok {
                positions.append(AlertPosition(timeNs: row.time, id: row.id))
                if limit > 0 && positions.count >= limit { finished = true }
            }
        }
    }
}

/// The text index's matches in id order, kept in a top-`limit` heap by (time, id); done when the id blocks'
/// time bounds show that no unread row can enter the heap (or fall inside the window).
final class TextDrive: QueryDrive {
    private let statement: SQLite.Statement
    private let binds: [SQLBinding]
    private let newestFirst: Bool
    private let since: Int64?
    private let until: Int64?
    private let store: AlertStore
    private var cursor: Int64
    private var chunk = 64
    private var heap: PositionHeap
    private var bounds: BlockBounds?
    private(set) var finished = false
    var spentNs: Int64 = 0

    /// - Parameter ok: every filter but the text, with the window, on alias `a`.
    init(_ store: AlertStore, fts: String, ok: FilterSQL, maxID: Int64?, newestFirst: Bool, limit: Int,
         since: Int64?, until: Int64?) throws(StoreError) {
        self.store = store
        self.newestFirst = newestFirst
        self.since = since
        self.until = until
        heap = PositionHeap(limit: limit, newestFirst: newestFirst)
        let okExpr = ok.terms.isEmpty ? "1" : "(" + ok.terms.joined(separator: " AND ") + ")"
        var sql = "SELECT f.rowid, a.time_ns, \(okExpr) FROM alerts_fts f CROSS JOIN alerts a ON a.id = f.rowid "
            + "WHERE f.alerts_fts MATCH ? AND f.rowid \(newestFirst ? "<" : ">") ?"
        if maxID != nil { sql += " AND f.rowid <= ?" }
        sql += " ORDER BY f.rowid \(newestFirst ? "DESC" : "ASC") LIMIT ?"
        statement = try store.db.prepare(sql)
        binds = ok.binds + [.text(fts)]
        self.maxID = maxID
        cursor = newestFirst ? .max : .min
    }

    private let maxID: Int64?

    var positions: [AlertPosition] { heap.sorted() }

    func advance() throws(StoreError) {
        statement.reset()
        for (i, b) in binds.enumerated() { try b.bind(to: statement, at: Int32(i + 1)) }
        var n = Int32(binds.count) + 1
        try statement.bind(cursor, at: n)
        if let maxID { n += 1; try statement.bind(maxID, at: n) }
        let limitUsed = chunk
        try statement.bind(limitUsed, at: n + 1)
        var read = 0
        let t0 = QueryRace.monotonicNs()
        while try statement.step() {
            read += 1
            cursor = statement.int64(0)
            if statement.int64(2) != 0 {
                heap.offer(AlertPosition(timeNs: statement.int64(1), id: statement.int64(0)))
            }
        }
        let elapsed = QueryRace.monotonicNs() - t0
        chunk = Int(min(8192, max(32, ChunkWalk.chunkTargetNs / max(1, elapsed / Int64(max(read, 1))))))
        if read < limitUsed { finished = true; return }
        if bounds == nil { bounds = try BlockBounds(store) }
        // The most extreme event time an unread row can have (nil: there is no unread row).
        guard let unseen = newestFirst ? bounds!.maxTime(belowID: cursor) : bounds!.minTime(aboveID: cursor) else {
            finished = true
            return
        }
        if let worst = heap.worst {
            // An unread row with the same time as the worst kept one has a smaller (larger) id: it comes after it.
            if newestFirst ? unseen <= worst.timeNs : unseen >= worst.timeNs { finished = true; return }
        }
        if newestFirst, let since, unseen < since { finished = true }
        if !newestFirst, let until, unseen >= until { finished = true }
    }
}

/// The best `limit` positions by (time, id) in one direction (all of them when `limit <= 0`).
struct PositionHeap {
    let limit: Int
    let newestFirst: Bool
    /// A binary heap with the worst kept position at index 0 (when bounded).
    private var items: [AlertPosition] = []

    init(limit: Int, newestFirst: Bool) {
        self.limit = limit
        self.newestFirst = newestFirst
    }

    /// The worst position kept, once the heap is full.
    var worst: AlertPosition? { limit > 0 && items.count >= limit ? items[0] : nil }

    /// True when `a` comes before `b` in the output order.
    private func before(_ a: AlertPosition, _ b: AlertPosition) -> Bool {
        newestFirst ? (a.timeNs, a.id) > (b.timeNs, b.id) : (a.timeNs, a.id) < (b.timeNs, b.id)
    }

    mutating func offer(_ p: AlertPosition) {
        if limit <= 0 { items.append(p); return }
        if items.count < limit {
            items.append(p)
            var i = items.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                if before(items[parent], items[i]) { items.swapAt(parent, i); i = parent } else { break }
            }
        } else if before(p, items[0]) {
            items[0] = p
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var w = i
                if l < items.count && before(items[w], items[l]) { w = l }
                if r < items.count && before(items[w], items[r]) { w = r }
                if w == i { break }
                items.swapAt(i, w)
                i = w
            }
        }
    }

    func sorted() -> [AlertPosition] { items.sorted(by: before) }
}
