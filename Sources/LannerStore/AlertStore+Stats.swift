import LannerCore

/// One group of `AlertStore.stats`: a rule, priority or host, and how many alerts it has.
public struct AlertCount: Sendable, Equatable {
    /// The rule name, host name, or priority name (`Warning`).
    public var key: String
    /// Stored rows.
    public var rows: Int64
    /// Alerts the rows stand for (the sum of their `count`: folded repeats included).
    public var alerts: Int64

    public init(key: String, rows: Int64, alerts: Int64) {
        self.key = key
        self.rows = rows
        self.alerts = alerts
    }
}

/// Counts of the alerts matching a query, in total and by rule, priority and host.
public struct AlertStats: Sendable, Equatable {
    /// Stored rows.
    public var rows: Int64
    /// Alerts they stand for (folded repeats included).
    public var alerts: Int64
    /// Most alerts first (then most rows, then name).
    public var byRule: [AlertCount]
    /// Most severe first.
    public var byPriority: [AlertCount]
    /// Most alerts first (then most rows, then name).
    public var byHost: [AlertCount]

    public init(rows: Int64, alerts: Int64, byRule: [AlertCount], byPriority: [AlertCount], byHost: [AlertCount]) {
        self.rows = rows
        self.alerts = alerts
        self.byRule = byRule
        self.byPriority = byPriority
        self.byHost = byHost
    }
}

extension AlertStore {
    /// Counts the alerts matching `q` (`limit`, order and paging are ignored).
    ///
    /// With only time, rule, priority and host filters the counts come from the rollups (all time, days, hours;
    /// see `span`) plus the alerts of at most two half hours at the window's ends: the cost follows the number of
    /// distinct (rule, priority, host) per day, not the number of alerts. Container, tag and text filters need
    /// the matching rows themselves, which the query race finds.
    /// - Complexity: rollup path O(groups × (min(days inside, days outside) + 24 hours) + alerts in one hour).
    public func stats(_ q: AlertQuery) throws(StoreError) -> AlertStats {
        try require(version: 3, for: "alert statistics")
        return try inReadTransaction { () throws(StoreError) -> AlertStats in
            var plain = q
            plain.limit = 0
            plain.after = nil
            let r = try resolve(plain)
            var acc = StatsAccumulator()
            if !r.matchesNothing {
                if q.container == nil && q.tag == nil && q.text == nil && q.maxID == nil {
                    try rollupStats(r, into: &acc)
                } else {
                    if r.fts != nil && !hasTextIndex { throw Self.noTextIndex(path) }
                    try rawStats(r, since: q.since, until: q.until, into: &acc)
                }
            }
            return acc.result()
        }
    }

    private func rollupStats(_ r: ResolvedQuery, into acc: inout StatsAccumulator) throws(StoreError) {
        if r.q.since == nil && r.q.until == nil {
            try rollup("alert_rollup_all", r, from: nil, to: nil, into: &acc)
            return
        }
        // Only the days that hold alerts matter: clamp the window to them (which also keeps the arithmetic small).
        guard let (first, last) = try dayRange() else { return }
        let d = DerivedTables.dayNs
        let from = max(r.q.since ?? .min, first * d), to = min(r.q.until ?? .max, (last + 1) * d)
        if from < to { try span(r, from: from, to: to, level: 0, days: first...last, sign: 1, into: &acc) }
    }

    /// Rollup levels from coarse to fine; past the last one, rows are grouped by SQLite.
    private static let levels: [(table: String, ns: Int64)] = [("alert_rollup_day", DerivedTables.dayNs),
                                                                ("alert_rollup_hour", DerivedTables.hourNs)]

    /// Adds `sign` × the counts of [from, to): whole buckets of this level from its rollup, the rest one level
    /// finer. A part of one bucket longer than half of it is taken as the whole bucket minus the rest (so at most
    /// half a bucket is read at the finer level), and whole days as everything minus the days outside when those
    /// are fewer. Raw rows are read for at most two half hours.
    private func span(_ r: ResolvedQuery, from: Int64, to: Int64, level: Int, days: ClosedRange<Int64>, sign: Int64,
                      into acc: inout StatsAccumulator) throws(StoreError) {
        guard from < to else { return }
        guard level < Self.levels.count else {
            try groupedStats(r, since: from, until: to, sign: sign, into: &acc)
            return
        }
        let (table, size) = Self.levels[level]
        let b0 = Self.ceilDiv(from, size), b1 = Self.floorDiv(to, size)
        if b0 >= b1 {
            // No whole bucket inside. Within one bucket and more than half of it: the bucket minus the rest.
            let b = Self.floorDiv(from, size)
            if Self.floorDiv(to - 1, size) == b && to - from > size / 2 {
                try rollup(table, r, from: b, to: b + 1, into: &acc, sign: sign)
                try span(r, from: b * size, to: from, level: level + 1, days: days, sign: -sign, into: &acc)
                try span(r, from: to, to: (b + 1) * size, level: level + 1, days: days, sign: -sign, into: &acc)
            } else {
                try span(r, from: from, to: to, level: level + 1, days: days, sign: sign, into: &acc)
            }
            return
        }
        if level == 0 {
            let inside = b1 - b0, outside = Int64(days.count) - inside
            if outside < inside {
                try rollup("alert_rollup_all", r, from: nil, to: nil, into: &acc, sign: sign)
                try rollup(table, r, from: nil, to: b0, into: &acc, sign: -sign)
                try rollup(table, r, from: b1, to: nil, into: &acc, sign: -sign)
            } else {
                try rollup(table, r, from: b0, to: b1, into: &acc, sign: sign)
            }
        } else {
            try rollup(table, r, from: b0, to: b1, into: &acc, sign: sign)
        }
        try span(r, from: from, to: b0 * size, level: level, days: days, sign: sign, into: &acc)
        try span(r, from: b1 * size, to: to, level: level, days: days, sign: sign, into: &acc)
    }

    /// The first and last day bucket holding alerts.
    private func dayRange() throws(StoreError) -> (Int64, Int64)? {
        let st = try statement("SELECT min(bucket), max(bucket) FROM alert_rollup_day")
        defer { st.reset() }
        _ = try st.step()
        return st.isNull(0) ? nil : (st.int64(0), st.int64(1))
    }

    /// Adds `sign` × the alerts with time in [since, until), grouped by SQLite over the time index (parts of hours).
    private func groupedStats(_ r: ResolvedQuery, since: Int64, until: Int64, sign: Int64, into acc: inout StatsAccumulator)
        throws(StoreError)
    {
        if since >= until { return }
        var limited = r
        limited.q.since = since
        limited.q.until = until
        var f = limited.window(time: "time_ns", id: "id")
        f.append(limited.filters(alias: "alerts.", skip: nil))
        let st = try statement("SELECT rule, priority, host, count(*), sum(count) FROM alerts INDEXED BY alerts_time WHERE "
                               + f.whereText + " GROUP BY rule, priority, host")
        defer { st.reset() }
        try f.bind(to: st)
        while try st.step() { try acc.add(st, sign: sign) }
    }

    /// Adds (or with `sign` −1, takes away) a rollup table's buckets [from, to) (unbounded where nil).
    private func rollup(_ table: String, _ r: ResolvedQuery, from: Int64?, to: Int64?, into acc: inout StatsAccumulator,
                        sign: Int64 = 1) throws(StoreError)
    {
        if let from, let to, from >= to { return }
        var f = FilterSQL()
        if let from { f.add("bucket >= ?", .int(from)) }
        if let to { f.add("bucket < ?", .int(to)) }
        groupFilters(r, into: &f)
        let st = try statement("SELECT rule, priority, host, sum(row_count), sum(alert_count) FROM \(table) WHERE \(f.whereText) "
                               + "GROUP BY rule, priority, host")
        defer { st.reset() }
        try f.bind(to: st)
        while try st.step() { try acc.add(st, sign: sign) }
    }

    /// Adds the matching alerts with time in [since, until), found by the query race and read row by row.
    private func rawStats(_ r: ResolvedQuery, since: Int64?, until: Int64?, into acc: inout StatsAccumulator)
        throws(StoreError)
    {
        if let since, let until, since >= until { return }
        var limited = r
        limited.q.since = since
        limited.q.until = until
        let winner = try QueryRace.run(try drives(limited, limit: 0))
        let st = try statement("SELECT rule, priority, host, 1, count FROM alerts WHERE id = ?")
        for p in winner.positions {
            defer { st.reset() }
            try st.bind(p.id, at: 1)
            if try st.step() { try acc.add(st) }
        }
    }

    /// The rule / priority / host terms of `r`, on a rollup table.
    private func groupFilters(_ r: ResolvedQuery, into f: inout FilterSQL) {
        if let rules = r.rules {
            f.terms.append("rule IN (" + Array(repeating: "?", count: rules.count).joined(separator: ", ") + ")")
            f.binds += rules.map { .text($0) }
        }
        if let p = r.q.minPriority { f.add("priority <= ?", .int(Int64(p.rawValue))) }
        if let h = r.q.host { f.add("host = ?", .text(h)) }
    }

    /// a / b rounded down (b > 0).
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b, r = a % b
        return r < 0 ? q - 1 : q
    }

    /// a / b rounded up (b > 0), without overflow.
    static func ceilDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b, r = a % b
        return r > 0 ? q + 1 : q
    }
}

/// Sums (rule, priority, host, rows, alerts) result rows into the three groupings.
struct StatsAccumulator {
    private var rules: [String: (Int64, Int64)] = [:]
    private var hosts: [String: (Int64, Int64)] = [:]
    private var priorities: [Int: (Int64, Int64)] = [:]
    private var rows: Int64 = 0
    private var alerts: Int64 = 0

    /// Adds one (rule, priority, host, rows, alerts) result row, times `sign`.
    mutating func add(_ st: SQLite.Statement, sign: Int64 = 1) throws(StoreError) {
        let rule = st.string(0), raw = Int(st.int64(1)), host = st.string(2)
        let a = sign * st.int64(3), e = sign * st.int64(4)
        guard Priority(rawValue: raw) != nil else { throw .invalidValue("a stored alert has priority \(raw), outside 0...7") }
        rows += a
        alerts += e
        rules[rule, default: (0, 0)].0 += a
        rules[rule, default: (0, 0)].1 += e
        hosts[host, default: (0, 0)].0 += a
        hosts[host, default: (0, 0)].1 += e
        priorities[raw, default: (0, 0)].0 += a
        priorities[raw, default: (0, 0)].1 += e
    }

    /// The groups with rows left (a subtraction can leave a group at zero).
    func result() -> AlertStats {
        func ranked(_ d: [String: (Int64, Int64)]) -> [AlertCount] {
            d.filter { $0.value.0 != 0 }.map { AlertCount(key: $0.key, rows: $0.value.0, alerts: $0.value.1) }
                .sorted { ($0.alerts, $0.rows, $1.key) > ($1.alerts, $1.rows, $0.key) }
        }
        let byPriority = priorities.filter { $0.value.0 != 0 }.sorted { $0.key < $1.key }.map {
            AlertCount(key: Priority(rawValue: $0.key)!.name, rows: $0.value.0, alerts: $0.value.1)
        }
        return AlertStats(rows: rows, alerts: alerts, byRule: ranked(rules), byPriority: byPriority, byHost: ranked(hosts))
    }
}
