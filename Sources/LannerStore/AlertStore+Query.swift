import LannerCore

/// Reading alerts: `query` (filters, time order, paging), `alert(id:)`, `alerts(afterID:)` (tail).
///
/// A query is resolved, then raced (`QueryPlan.swift`), so that it reads about as many rows as it returns, not
/// as many as are stored (docs/ARCHITECTURE.md, "Queries"):
///
/// 1. **Resolve** the filters against the data: a rule pattern becomes the rule names it matches (a loose index
///    scan over `alerts_rule_time`, one seek per distinct rule); a container becomes its id or name column.
/// 2. **Race** the indexes that can drive the query: the time index, and one drive per filter that has an index
///    (text, tag, container, rule names, host, priority levels). Each reads its index in (time, id) order in
///    short chunks, with SQLite telling per row whether the other filters pass; the drive that has spent the
///    least time goes next; the first to collect `limit` rows (or run out) answers. A single indexed filter
///    runs alone: its index holds exactly the matching rows.
/// 3. **Fetch** the winning rows by id.
///
/// The text index returns ids, not times: its matches are streamed in id order and kept in a top-`limit` heap;
/// `alert_blocks` (event-time bounds per 1024 ids) says when no unread row could still make the cut, which is
/// soon, because ids follow arrival and arrival follows event time.
extension AlertStore {
    /// The alerts matching `q`, ordered by event time (then id) as `q.newestFirst` says, at most `q.limit`.
    ///
    /// The whole result is read from one snapshot, so a concurrent commit is either entirely in it or not at all.
    /// - Throws: `StoreError.invalidQuery` for a text search without words, or on a database without a text
    ///   index; `.schemaTooOld` for a read-only file no collector of this version has opened.
    public func query(_ q: AlertQuery) throws(StoreError) -> [StoredAlert] {
        try require(version: 3, for: "alert queries")
        return try inReadTransaction { () throws(StoreError) -> [StoredAlert] in
            let r = try resolve(q)
            if r.matchesNothing { return [] }
            let winner = try QueryRace.run(try drives(r, limit: q.limit))
            let st = try statement("SELECT \(Self.columns) FROM alerts WHERE id = ?")
            var out: [StoredAlert] = []
            out.reserveCapacity(winner.positions.count)
            for p in winner.positions {
                defer { st.reset() }
                try st.bind(p.id, at: 1)
                if try st.step() { out.append(try row(st)) }
            }
            return out
        }
    }

    /// The alert with row id `id`, or nil when there is none.
    public func alert(id: Int64) throws(StoreError) -> StoredAlert? {
        try require(version: 3, for: "alert queries")
        let st = try statement("SELECT \(Self.columns) FROM alerts WHERE id = ?")
        defer { st.reset() }
        try st.bind(id, at: 1)
        return try st.step() ? try row(st) : nil
    }

    /// Alerts stored after row `afterID` that match `q`'s filters, in id (storage) order, at most `limit`
    /// (`alerts tail`). `q.limit`, `q.newestFirst` and `q.after` are ignored.
    public func alerts(afterID: Int64, matching q: AlertQuery, limit: Int) throws(StoreError) -> [StoredAlert] {
        try require(version: 3, for: "alert queries")
        return try inReadTransaction { () throws(StoreError) -> [StoredAlert] in
            var plain = q
            plain.after = nil
            plain.newestFirst = false
            let r = try resolve(plain)
            if r.matchesNothing { return [] }
            if r.fts != nil && !hasTextIndex { throw Self.noTextIndex(path) }
            var f = FilterSQL()
            f.add("id > ?", .int(afterID))
            f.append(r.window(time: "time_ns", id: "id"))
            f.append(r.filters(alias: "alerts.", skip: nil, textAfterID: afterID))
            // NOT INDEXED: walk the rowid range of the new rows, never another index over the whole table.
            let st = try db.prepare("SELECT \(Self.columns) FROM alerts NOT INDEXED WHERE \(f.whereText) ORDER BY id LIMIT ?")
            try f.bind(to: st)
            try st.bind(limit > 0 ? Int64(limit) : -1, at: Int32(f.binds.count + 1))
            var out: [StoredAlert] = []
            while try st.step() { out.append(try row(st)) }
            return out
        }
    }

    /// The highest row id stored (0 when there is none).
    public func lastID() throws(StoreError) -> Int64 {
        let st = try statement("SELECT coalesce(max(id), 0) FROM alerts")
        defer { st.reset() }
        _ = try st.step()
        return st.int64(0)
    }

    /// The lowest and highest row ids stored, or nil when there is no alert.
    public func idBounds() throws(StoreError) -> ClosedRange<Int64>? {
        let st = try statement("SELECT min(id), max(id) FROM alerts")
        defer { st.reset() }
        _ = try st.step()
        if st.isNull(0) { return nil }
        return st.int64(0)...st.int64(1)
    }

    static func noTextIndex(_ path: String) -> StoreError {
        .invalidQuery("\(path) has no text index: the SQLite library the collector used was built without FTS5, so --search "
                      + "cannot run; filter with --rule, --host, --container, --tag or --priority instead")
    }

    /// Runs `body` inside one read transaction (one snapshot for several statements), unless one is open.
    func inReadTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        if db.inTransaction { return try body() }
        try run("BEGIN")
        do {
            let result = try body()
            try run(Self.commitSQL)
            return result
        } catch {
            if db.inTransaction { try? run(Self.rollbackSQL) }
            throw error
        }
    }

    // MARK: Resolving

    /// Resolves the filters that depend on stored data.
    func resolve(_ q: AlertQuery) throws(StoreError) -> ResolvedQuery {
        var r = ResolvedQuery(q: q)
        if let s = q.since, let u = q.until, s >= u { r.matchesNothing = true }
        if let rule = q.rule {
            let exact = q.ruleIsPattern ? try exists("SELECT 1 FROM alerts WHERE rule = ? LIMIT 1", rule) : true
            if !exact {
                r.rules = try ruleNames(matching: rule)
                if r.rules!.isEmpty { r.matchesNothing = true }
            } else {
                r.rules = [rule]
            }
        }
        if let c = q.container {
            r.container = try resolveContainer(c)
        }
        if let text = q.text {
            r.fts = try TextSearch.ftsQuery(text)
        }
        return r
    }

    func resolveContainer(_ c: String) throws(StoreError) -> ResolvedQuery.Container {
        if c == "host" { return .outside }
        let isHex = c.utf8.count >= 12 && c.utf8.count <= 64 && c.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f"))
        }
        if isHex {
            let id = String(c.prefix(12))
            if try exists("SELECT 1 FROM alerts WHERE container_id = ? LIMIT 1", id) { return .id(id) }
        }
        return .name(c)
    }

    /// Distinct stored rule names matching a GLOB pattern: one index seek per distinct rule name.
    func ruleNames(matching pattern: String) throws(StoreError) -> [String] {
        let st = try statement("""
            WITH RECURSIVE names(name) AS (
                SELECT min(rule) FROM alerts
                UNION ALL
                SELECT (SELECT min(rule) FROM alerts WHERE rule > names.name) FROM names WHERE names.name IS NOT NULL
            )
            SELECT name FROM names WHERE name IS NOT NULL AND name GLOB ?
            """)
        defer { st.reset() }
        try st.bind(pattern, at: 1)
        var out: [String] = []
        while try st.step() { out.append(st.string(0)) }
        return out
    }

    func exists(_ sql: String, _ value: String) throws(StoreError) -> Bool {
        let st = try statement(sql)
        defer { st.reset() }
        try st.bind(value, at: 1)
        return try st.step()
    }
}

/// Event-time bounds of the id blocks (`alert_blocks`), for the text search's stopping rule.
struct BlockBounds {
    private var blocks: [Int64] = []
    /// prefixMax[i]: the highest max_time_ns of blocks[0...i]; suffixMin[i]: the lowest min_time_ns of blocks[i...].
    private var prefixMax: [Int64] = []
    private var suffixMin: [Int64] = []

    init(_ store: AlertStore) throws(StoreError) {
        let st = try store.statement("SELECT block, min_time_ns, max_time_ns FROM alert_blocks ORDER BY block")
        defer { st.reset() }
        var mins: [Int64] = []
        while try st.step() {
            blocks.append(st.int64(0))
            mins.append(st.int64(1))
            prefixMax.append(max(prefixMax.last ?? .min, st.int64(2)))
        }
        suffixMin = mins
        var i = mins.count - 2
        while i >= 0 {
            suffixMin[i] = min(suffixMin[i], suffixMin[i + 1])
            i -= 1
        }
    }

    /// The highest event time among ids below `id` (nil when no block holds such ids).
    func maxTime(belowID id: Int64) -> Int64? {
        let b = (id - 1) >> DerivedTables.blockShift
        // Last block <= b.
        var lo = 0, hi = blocks.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if blocks[mid] <= b { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : prefixMax[lo - 1]
    }

    /// The lowest event time among ids above `id`.
    func minTime(aboveID id: Int64) -> Int64? {
        let b = (id + 1) >> DerivedTables.blockShift
        // First block >= b.
        var lo = 0, hi = blocks.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if blocks[mid] < b { lo = mid + 1 } else { hi = mid }
        }
        return lo == blocks.count ? nil : suffixMin[lo]
    }
}

/// A query's filters after `AlertStore.resolve`.
struct ResolvedQuery {
    var q: AlertQuery
    /// Rule names to match (nil: any).
    var rules: [String]?
    enum Container: Equatable { case id(String), name(String), outside }
    var container: Container?
    /// The FTS5 query for `q.text`.
    var fts: String?
    /// True when no row can match (a pattern matching no rule, an empty window).
    var matchesNothing = false

    init(q: AlertQuery) { self.q = q }
}

/// A value bound to a `?` placeholder.
enum SQLBinding {
    case int(Int64)
    case text(String)

    func bind(to st: SQLite.Statement, at index: Int32) throws(StoreError) {
        switch self {
        case .int(let v): try st.bind(v, at: index)
        case .text(let v): try st.bind(v, at: index)
        }
    }
}

/// WHERE terms and their values.
struct FilterSQL {
    var terms: [String] = []
    var binds: [SQLBinding] = []

    mutating func add(_ term: String, _ values: SQLBinding...) {
        terms.append(term)
        binds += values
    }

    mutating func append(_ other: FilterSQL) {
        terms += other.terms
        binds += other.binds
    }

    var whereText: String { terms.isEmpty ? "1" : terms.joined(separator: " AND ") }

    func bind(to st: SQLite.Statement, from first: Int32 = 1) throws(StoreError) {
        for (i, b) in binds.enumerated() { try b.bind(to: st, at: first + Int32(i)) }
    }
}


/// The filters that have an index to drive a query.
enum FilterKey: Equatable {
    case rules, priority, host, container, tag, text
}

extension ResolvedQuery {
    /// The indexed filters present (a rule pattern matching more than `AlertStore.maxRuleWalks` names and
    /// `--container host` are filters only).
    var keys: [FilterKey] {
        var k: [FilterKey] = []
        if fts != nil { k.append(.text) }
        if q.tag != nil { k.append(.tag) }
        if let c = container, c != .outside { k.append(.container) }
        if let rules, rules.count <= AlertStore.maxRuleWalks { k.append(.rules) }
        if q.host != nil { k.append(.host) }
        if q.minPriority != nil { k.append(.priority) }
        return k
    }

    /// Terms on the driving source's time and id columns: the window and the snapshot bound.
    func window(time: String, id: String) -> FilterSQL {
        var f = FilterSQL()
        if let s = q.since { f.add("\(time) >= ?", .int(s)) }
        if let u = q.until { f.add("\(time) < ?", .int(u)) }
        if let m = q.maxID { f.add("\(id) <= ?", .int(m)) }
        return f
    }

    /// Terms on alert columns (prefixed with `alias`, which must name the alerts table: the tag and text terms are
    /// correlated subqueries) for every filter but `skip`. The text filter is an index probe per row, or (tail) a
    /// match restricted to ids above `textAfterID`.
    func filters(alias a: String, skip: FilterKey?, textAfterID: Int64? = nil) -> FilterSQL {
        var f = FilterSQL()
        if let rules, skip != .rules {
            if rules.count == 1 {
                f.add("\(a)rule = ?", .text(rules[0]))
            } else {
                f.terms.append("\(a)rule IN (" + Array(repeating: "?", count: rules.count).joined(separator: ", ") + ")")
                f.binds += rules.map { .text($0) }
            }
        }
        if let p = q.minPriority, skip != .priority { f.add("\(a)priority <= ?", .int(Int64(p.rawValue))) }
        if let h = q.host, skip != .host { f.add("\(a)host = ?", .text(h)) }
        if skip != .container {
            switch container {
            case .id(let id): f.add("\(a)container_id = ?", .text(id))
            case .name(let name): f.add("\(a)container_name = ?", .text(name))
            case .outside: f.terms.append("\(a)container_id IS NULL")
            case nil: break
            }
        } else if container == .outside {
            f.terms.append("\(a)container_id IS NULL")
        }
        if let tag = q.tag, skip != .tag {
            f.add("EXISTS (SELECT 1 FROM alert_tags g WHERE g.tag = ? AND g.time_ns = \(a)time_ns AND g.alert_id = \(a)id)", .text(tag))
        }
        if let fts, skip != .text {
            if let after = textAfterID {
                f.add("\(a)id IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH ? AND rowid > ?)", .text(fts), .int(after))
            } else {
                f.add("EXISTS (SELECT 1 FROM alerts_fts WHERE alerts_fts MATCH ? AND rowid = \(a)id)", .text(fts))
            }
        }
        return f
    }
}

extension AlertStore {
    /// Walks over more rule names than this merge poorly; the other drives take the rule filter.
    static let maxRuleWalks = 64

    /// The candidate drives for `r`: one per indexed filter, plus the time index. A single indexed filter (its
    /// index holds exactly the matching rows) or none (the time index) is the only candidate.
    func drives(_ r: ResolvedQuery, limit: Int) throws(StoreError) -> [QueryDrive] {
        if r.fts != nil && !hasTextIndex { throw Self.noTextIndex(path) }
        let keys = r.keys
        var candidates: [FilterKey?] = keys
        if keys.count != 1 { candidates.append(nil) }
        var out: [QueryDrive] = []
        for key in candidates {
            out.append(try drive(key, r, limit: limit))
        }
        return out
    }

    private func drive(_ key: FilterKey?, _ r: ResolvedQuery, limit: Int) throws(StoreError) -> QueryDrive {
        let q = r.q
        let desc = q.newestFirst
        func walk(_ index: String, _ term: (String, SQLBinding)?) throws(StoreError) -> ChunkWalk {
            try ChunkWalk(db, source: "alerts INDEXED BY \(index)", timeColumn: "time_ns", idColumn: "id", key: term,
                          window: r.window(time: "time_ns", id: "id"), ok: r.filters(alias: "alerts.", skip: key),
                          newestFirst: desc, start: q.after)
        }
        switch key {
        case nil:
            return MergeDrive([try walk("alerts_time", nil)], limit: limit, newestFirst: desc)
        case .rules:
            var walks: [ChunkWalk] = []
            for name in r.rules ?? [] { walks.append(try walk("alerts_rule_time", ("rule = ?", .text(name)))) }
            return MergeDrive(walks, limit: limit, newestFirst: desc)
        case .priority:
            var walks: [ChunkWalk] = []
            for p in 0...(q.minPriority?.rawValue ?? 7) {
                walks.append(try walk("alerts_priority_time", ("priority = ?", .int(Int64(p)))))
            }
            return MergeDrive(walks, limit: limit, newestFirst: desc)
        case .host:
            return MergeDrive([try walk("alerts_host_time", ("host = ?", .text(q.host!)))], limit: limit, newestFirst: desc)
        case .container:
            let w: ChunkWalk
            switch r.container {
            case .name(let n): w = try walk("alerts_container_name_time", ("container_name = ?", .text(n)))
            case .id(let id): w = try walk("alerts_container_time", ("container_id = ?", .text(id)))
            default: preconditionFailure("container drive without a container id or name")
            }
            return MergeDrive([w], limit: limit, newestFirst: desc)
        case .tag:
            let ok = r.filters(alias: "a.", skip: .tag)
            let source = ok.terms.isEmpty ? "alert_tags t" : "alert_tags t CROSS JOIN alerts a ON a.id = t.alert_id"
            let w = try ChunkWalk(db, source: source, timeColumn: "t.time_ns", idColumn: "t.alert_id", key: ("t.tag = ?", .text(q.tag!)),
                                  window: r.window(time: "t.time_ns", id: "t.alert_id"), ok: ok, newestFirst: desc, start: q.after)
            return MergeDrive([w], limit: limit, newestFirst: desc)
        case .text:
            var ok = r.window(time: "a.time_ns", id: "a.id")
            if let p = q.after {
                ok.add("(a.time_ns, a.id) \(desc ? "<" : ">") (?, ?)", .int(p.timeNs), .int(p.id))
            }
            ok.append(r.filters(alias: "a.", skip: .text))
            return try TextDrive(self, fts: r.fts!, ok: ok, maxID: q.maxID, newestFirst: desc, limit: limit,
                                 since: q.since, until: q.until)
        }
    }
}
