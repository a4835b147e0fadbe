import Foundation
import Glibc
import Testing
import LannerCore
@testable import LannerStore

/// The query engine against a brute-force reference: random alerts (ids out of time order, equal times, every
/// filter's values) written through `commit` into a real SQLite file, then hundreds of random queries, each
/// compared row for row (and order) with the same filters applied in Swift to every stored row.
@Suite struct QueryEngineTests {
    static let rules = ["Write below etc", "Write below root", "Write below binary dir", "Shell in container",
                        "Read sensitive file", "Outbound connection", "Rule [x] with brackets", "Rare rule"]
    static let hosts = ["web-1", "web-2", "db-1", "k8s-node-7", "edge"]
    static let tagPool = ["filesystem", "container", "shell", "network", "mitre_persistence"]
    static let words = ["cat", "bash", "nginx", "curl", "python3", "tar", "xmrig", "sshd", "node"]
    static let files = ["/etc/shadow", "/etc/passwd", "/usr/bin/ls", "/root/.ssh/authorized_keys", "/tmp/x"]
    static let containerIDs = ["0123456789ab", "a1b2c3d4e5f6", "ffffffffffff", "00000000000a"]
    static let containerNames = ["web", "api-7", "redis", "ffffffffffff0"]

    /// Writes `n` random alerts; returns them as stored.
    static func populate(_ store: AlertStore, n: Int, seed: UInt64) throws -> [StoredAlert] {
        var rng = TestRng(seed)
        var alerts: [NewAlert] = []
        var t: Int64 = 1_796_000_000_000_000_000
        for i in 0..<n {
            t += Int64(rng.below(4)) * 250_000_000   // equal times happen (step 0)
            var time = t
            if rng.below(50) == 0 { time -= Int64(rng.below(7200)) * 1_000_000_000 }   // late: older than ids around it
            if rng.below(400) == 0 { time += Int64(rng.below(3600)) * 1_000_000_000 }  // a clock ahead
            let rule = rng.below(40) == 0 ? "Rare rule" : rules[rng.below(rules.count - 1)]
            let c = rng.below(6)
            let cid: String? = c < containerIDs.count ? containerIDs[c] : nil
            let cname: String? = c < containerNames.count ? containerNames[c] : nil
            var tags: [String] = []
            for tag in tagPool where rng.below(3) == 0 { tags.append(tag) }
            let proc = words[rng.below(words.count)]
            let file = files[rng.below(files.count)]
            let output = "\(rule): process=\(proc) file=\(file) n=\(i % 17) Mixed CASE"
            alerts.append(NewAlert(timeNs: time, host: hosts[rng.below(hosts.count)], sensorID: "s\(rng.below(3))", rule: rule,
                                   priority: Priority(rawValue: rng.below(8))!, output: output, tags: tags,
                                   fieldsJSON: "{\"proc.name\":\(JSON.quoted(proc))}", containerID: cid, containerName: cname))
        }
        var seq: UInt64 = 0
        for chunk in stride(from: 0, to: alerts.count, by: 50) {
            seq += 1
            _ = try store.commit(sensorID: "s", sequence: seq, events: 50, alerts: Array(alerts[chunk..<min(chunk + 50, alerts.count)]))
        }
        return try store.query(AlertQuery(limit: 0, newestFirst: false))
    }

    /// A random query over the populated values (each filter present about a third of the time).
    static func randomQuery(_ rng: inout TestRng, rows: [StoredAlert]) -> AlertQuery {
        var q = AlertQuery()
        let times = rows.map(\.timeNs).sorted()
        func someTime() -> Int64 { times[rng.below(times.count)] + Int64(rng.below(3)) - 1 }
        if rng.below(3) == 0 { q.since = someTime() }
        if rng.below(4) == 0 { q.until = someTime() }
        if rng.below(3) == 0 {
            q.rule = [rules[rng.below(rules.count)], "Write below*", "*in*", "?ead*", "Rule [x] with brackets", "nothing*",
                      "Write below [er]*"][rng.below(7)]
        }
        if rng.below(3) == 0 { q.minPriority = Priority(rawValue: rng.below(8)) }
        if rng.below(3) == 0 { q.host = hosts[rng.below(hosts.count)] }
        if rng.below(4) == 0 {
            q.container = ["host", "web", "api-7", containerIDs[1], containerIDs[2], containerIDs[0] + "cdef0123", "ffffffffffff0",
                           "nope"][rng.below(8)]
        }
        if rng.below(4) == 0 { q.tag = tagPool[rng.below(tagPool.count)] }
        if rng.below(4) == 0 {
            q.text = ["bash", "etc/shadow", "xmrig", "BASH", "ssh*", "mixed case", "authorized keys", "py*", "sshd etc",
                      "authorized_keys"][rng.below(10)]
        }
        q.limit = [0, 1, 7, 100, 25][rng.below(5)]
        q.newestFirst = rng.below(3) != 0
        if rng.below(6) == 0 {
            let r = rows[rng.below(rows.count)]
            q.after = AlertPosition(timeNs: r.timeNs, id: r.id)
        }
        if rng.below(8) == 0 { q.maxID = rows[rng.below(rows.count)].id }
        return q
    }

    @Test func randomQueriesMatchTheReference() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("q.db"))
        var rows = try Self.populate(store, n: 3000, seed: 1)
        #expect(rows.count == 3000)
        var rng = TestRng(99)
        for round in 0..<2 {
            let ref = Reference(rows: rows)
            for i in 0..<400 {
                let q = Self.randomQuery(&rng, rows: rows)
                let got = try store.query(q).map(\.id)
                let want = ref.query(q).map(\.id)
                #expect(got == want, "round \(round) query \(i): \(q)\n got \(got.prefix(12))…\nwant \(want.prefix(12))…")
                if got != want { return }
                if i % 4 == 0 {
                    var s = q
                    s.after = nil
                    #expect(try store.stats(s) == ref.stats(s), "stats \(i): \(s)")
                }
            }
            // Delete a third (what retention does, through the same triggers) and check again.
            let doomed = Set(rows.filter { $0.id % 3 == 0 }.map(\.id))
            try store.deleteForTest(ids: doomed)
            rows.removeAll { doomed.contains($0.id) }
            try DerivedCheck.assertConsistent(store)
        }
    }

    @Test func tailReturnsNewRowsInIdOrder() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("q.db"))
        let rows = try Self.populate(store, n: 600, seed: 5)
        let ref = Reference(rows: rows)
        var rng = TestRng(7)
        for _ in 0..<100 {
            var q = Self.randomQuery(&rng, rows: rows)
            q.after = nil
            let after = rows[rng.below(rows.count)].id
            let limit = [1, 10, 1000][rng.below(3)]
            let got = try store.alerts(afterID: after, matching: q, limit: limit).map(\.id)
            var plain = q
            plain.limit = 0
            plain.maxID = nil
            let want = Array(ref.query(plain).map(\.id).filter { id in id > after && (q.maxID.map { id <= $0 } ?? true) }.sorted().prefix(limit))
            #expect(got == want, "\(q) after \(after)")
        }
    }
}

/// The filters applied in Swift to every row.
struct Reference {
    let rows: [StoredAlert]

    func ruleMatch(_ q: AlertQuery) -> ((String) -> Bool)? {
        guard let rule = q.rule else { return nil }
        if !q.ruleIsPattern || rows.contains(where: { $0.rule == rule }) { return { $0 == rule } }
        return { fnmatch(rule, $0, 0) == 0 }
    }

    func containerMatch(_ q: AlertQuery) -> ((StoredAlert) -> Bool)? {
        guard let c = q.container else { return nil }
        if c == "host" { return { $0.containerID == nil } }
        let hex = c.count >= 12 && c.count <= 64 && c.allSatisfy { $0.isHexDigit && !$0.isUppercase }
        if hex, rows.contains(where: { $0.containerID == String(c.prefix(12)) }) {
            let id = String(c.prefix(12))
            return { $0.containerID == id }
        }
        return { $0.containerName == c }
    }

    static func tokens(_ s: String) -> [String] {
        s.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
    }

    /// FTS5 semantics for the test words: each word is a phrase of its tokens, the last a prefix with `*`.
    static func textMatch(_ text: String, _ output: String) -> Bool {
        let have = tokens(output)
        for raw in text.split(separator: " ") {
            let prefix = raw.hasSuffix("*")
            let want = tokens(String(raw))
            var found = false
            if want.count <= have.count {
                for start in 0...(have.count - want.count) {
                    var ok = true
                    for (k, w) in want.enumerated() {
                        let h = have[start + k]
                        if k == want.count - 1 && prefix ? !h.hasPrefix(w) : h != w { ok = false; break }
                    }
                    if ok { found = true; break }
                }
            }
            if !found { return false }
        }
        return true
    }

    func matching(_ q: AlertQuery) -> [StoredAlert] {
        let rule = ruleMatch(q), container = containerMatch(q)
        return rows.filter { a in
            if let s = q.since, a.timeNs < s { return false }
            if let u = q.until, a.timeNs >= u { return false }
            if let rule, !rule(a.rule) { return false }
            if let p = q.minPriority, a.priority.rawValue > p.rawValue { return false }
            if let h = q.host, a.host != h { return false }
            if let container, !container(a) { return false }
            if let t = q.tag, !a.tags.contains(t) { return false }
            if let text = q.text, !Self.textMatch(text, a.output) { return false }
            if let m = q.maxID, a.id > m { return false }
            return true
        }
    }

    func query(_ q: AlertQuery) -> [StoredAlert] {
        var out = matching(q).sorted { q.newestFirst ? ($0.timeNs, $0.id) > ($1.timeNs, $1.id) : ($0.timeNs, $0.id) < ($1.timeNs, $1.id) }
        if let p = q.after {
            out = out.filter { q.newestFirst ? ($0.timeNs, $0.id) < (p.timeNs, p.id) : ($0.timeNs, $0.id) > (p.timeNs, p.id) }
        }
        return q.limit > 0 ? Array(out.prefix(q.limit)) : out
    }

    func stats(_ q: AlertQuery) -> AlertStats {
        var byRule: [String: (Int64, Int64)] = [:], byHost: [String: (Int64, Int64)] = [:], byPriority: [Int: (Int64, Int64)] = [:]
        var rows: Int64 = 0, alerts: Int64 = 0
        for a in matching(q) {
            rows += 1
            alerts += Int64(a.count)
            byRule[a.rule, default: (0, 0)].0 += 1
            byRule[a.rule, default: (0, 0)].1 += Int64(a.count)
            byHost[a.host, default: (0, 0)].0 += 1
            byHost[a.host, default: (0, 0)].1 += Int64(a.count)
            byPriority[a.priority.rawValue, default: (0, 0)].0 += 1
            byPriority[a.priority.rawValue, default: (0, 0)].1 += Int64(a.count)
        }
        func ranked(_ d: [String: (Int64, Int64)]) -> [AlertCount] {
            d.map { AlertCount(key: $0.key, rows: $0.value.0, alerts: $0.value.1) }
                .sorted { ($0.alerts, $0.rows, $1.key) > ($1.alerts, $1.rows, $0.key) }
        }
        return AlertStats(rows: rows, alerts: alerts, byRule: ranked(byRule),
                          byPriority: byPriority.sorted { $0.key < $1.key }.map {
                              AlertCount(key: Priority(rawValue: $0.key)!.name, rows: $0.value.0, alerts: $0.value.1)
                          },
                          byHost: ranked(byHost))
    }
}

/// A deterministic PRNG for tests (splitmix64).
struct TestRng {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

extension AlertStore {
    /// Deletes rows by id through the triggers, as retention does.
    func deleteForTest(ids: Set<Int64>) throws(StoreError) {
        try db.exec("BEGIN IMMEDIATE")
        let st = try db.prepare("DELETE FROM alerts WHERE id = ?")
        for id in ids {
            try st.bind(id, at: 1)
            _ = try st.step()
            st.reset()
        }
        try db.exec("COMMIT")
    }
}

/// The derived tables, recomputed from `alerts` with plain SQL and compared with what the triggers kept.
enum DerivedCheck {
    static func rows(_ store: AlertStore, _ sql: String) throws -> [String] {
        let st = try store.db.prepare(sql)
        var out: [String] = []
        while try st.step() { out.append((0..<6).map { st.string(Int32($0)) }.joined(separator: "|")) }
        return out
    }

    static func assertConsistent(_ store: AlertStore) throws {
        for (table, ns) in DerivedTables.rollups {
            let kept = try rows(store, "SELECT bucket, rule, priority, host, row_count, alert_count FROM \(table) ORDER BY 1, 2, 3, 4")
            let fresh = try rows(store, """
                SELECT \(DerivedTables.bucket("time_ns", ns)), rule, priority, host, count(*), sum(count) FROM alerts
                GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
                """)
            #expect(kept == fresh, "\(table) differs from the alerts")
        }
        let tags = try rows(store, "SELECT tag, time_ns, alert_id, '', '', '' FROM alert_tags ORDER BY 1, 2, 3")
        let freshTags = try rows(store, """
            SELECT j.value, a.time_ns, a.id, '', '', '' FROM alerts a, json_each(a.tags) j GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """)
        #expect(tags == freshTags)
        let totals = try rows(store, "SELECT row_count, alert_count, '', '', '', '' FROM alert_totals")
        let freshTotals = try rows(store, "SELECT count(*), coalesce(sum(count), 0), '', '', '', '' FROM alerts")
        #expect(totals == freshTotals)
        // Every stored alert lies within its id block's bounds.
        let outside = try store.db.scalarInt("""
            SELECT count(*) FROM alerts a LEFT JOIN alert_blocks b ON b.block = a.id >> \(DerivedTables.blockShift)
            WHERE b.block IS NULL OR a.time_ns < b.min_time_ns OR a.time_ns > b.max_time_ns
            """)
        #expect(outside == 0)
        if store.hasTextIndex {
            _ = try store.db.exec("INSERT INTO alerts_fts (alerts_fts) VALUES ('integrity-check')")
        }
    }
}
