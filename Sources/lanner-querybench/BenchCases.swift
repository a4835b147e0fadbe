import LannerCore
import LannerStore

/// One timed query: what `alerts list / show / stats / tail` run for the command shown in its name.
struct BenchCase {
    let name: String
    let run: (AlertStore) throws -> Int
}

enum BenchCases {
    static let hour: Int64 = 3_600_000_000_000
    static let day: Int64 = 86_400_000_000_000

    static func all(newest: Int64, ids: ClosedRange<Int64>) -> [BenchCase] {
        func list(_ name: String, _ q: AlertQuery) -> BenchCase {
            BenchCase(name: "list " + name) { try $0.query(q).count }
        }
        let now = newest + 1
        var cases: [BenchCase] = [
            list("(newest 100)", AlertQuery()),
            list("--limit 1000", AlertQuery(limit: 1000)),
            list("--since 1h", AlertQuery(since: now - hour)),
            list("--since 25h --until 24h", AlertQuery(since: now - 25 * hour, until: now - 24 * hour)),
            list("--until 20d (older data)", AlertQuery(until: now - 20 * day)),
            list("oldest first --since 7d", AlertQuery(since: now - 7 * day, newestFirst: false)),
            list("--rule <most frequent>", AlertQuery(rule: "Read sensitive file untrusted")),
            list("--rule <rare>", AlertQuery(rule: "Java Process Class File Download")),
            list("--rule 'Write below*' (glob, 4 rules)", AlertQuery(rule: "Write below*")),
            list("--rule '*container*' (glob)", AlertQuery(rule: "*container*")),
            list("--priority critical", AlertQuery(minPriority: .critical)),
            list("--priority warning", AlertQuery(minPriority: .warning)),
            list("--priority emergency (none stored)", AlertQuery(minPriority: .emergency)),
            list("--host web-03", AlertQuery(host: "web-03")),
            list("--host k8s-node-30 (rare host)", AlertQuery(host: "k8s-node-30")),
            list("--host web-03 --priority error", AlertQuery(minPriority: .error, host: "web-03")),
            list("--host db-04 --rule <frequent>", AlertQuery(rule: "Terminal shell in container", host: "db-04")),
            list("--host k8s-node-30 --priority critical --since 7d",
                 AlertQuery(since: now - 7 * day, minPriority: .critical, host: "k8s-node-30")),
            list("--container api-0 (name)", AlertQuery(container: "api-0")),
            list("--container <id of payments-6>", AlertQuery(container: Generator.containerID(6))),
            list("--container search-397 (rare)", AlertQuery(container: "search-397")),
            list("--container host", AlertQuery(container: "host")),
            list("--tag mitre_persistence", AlertQuery(tag: "mitre_persistence")),
            list("--tag aws (rare)", AlertQuery(tag: "aws")),
            list("--tag k8s --host web-01", AlertQuery(host: "web-01", tag: "k8s")),
            list("--search shadow", AlertQuery(text: "shadow")),
            list("--search etc/ld.so.preload", AlertQuery(text: "etc/ld.so.preload")),
            list("--search xmrig (rare)", AlertQuery(text: "xmrig")),
            list("--search 'kubectl root'", AlertQuery(text: "kubectl root")),
            list("--search shadow --host web-02", AlertQuery(host: "web-02", text: "shadow")),
            list("--search shadow --since 2h", AlertQuery(since: now - 2 * hour, text: "shadow")),
            list("--search shadow oldest first", AlertQuery(text: "shadow", newestFirst: false)),
        ]
        cases.append(BenchCase(name: "list next page (keyset after row 100)") { store in
            let first = try store.query(AlertQuery(host: "web-05"))
            let last = first.last!
            return try store.query(AlertQuery(host: "web-05", after: AlertPosition(timeNs: last.timeNs, id: last.id))).count
        })
        var rng = Rng(state: 42)
        cases.append(BenchCase(name: "show ID (random id)") { store in
            let id = ids.lowerBound + Int64(rng.below(Int(ids.upperBound - ids.lowerBound + 1)))
            return try store.alert(id: id) == nil ? 0 : 1
        })
        cases.append(BenchCase(name: "tail poll (new rows after the last id)") { store in
            try store.alerts(afterID: ids.upperBound - 50, matching: AlertQuery(minPriority: .warning), limit: 1000).count
        })
        cases.append(BenchCase(name: "tail poll --search shadow") { store in
            try store.alerts(afterID: ids.upperBound - 5000, matching: AlertQuery(text: "shadow"), limit: 1000).count
        })
        func stats(_ name: String, _ q: AlertQuery) -> BenchCase {
            BenchCase(name: "stats " + name) { s in
                let st = try s.stats(q)
                return st.byRule.count + st.byHost.count + st.byPriority.count
            }
        }
        cases += [
            stats("(all 30 days)", AlertQuery()),
            stats("--since 24h", AlertQuery(since: now - day - 1_234_567_890)),
            stats("--since 1h", AlertQuery(since: now - hour)),
            stats("--since 7d --host web-03", AlertQuery(since: now - 7 * day - 987_654_321, host: "web-03")),
            stats("--since 7d --rule 'Write below*'", AlertQuery(since: now - 7 * day, rule: "Write below*")),
            stats("--since 24h --tag aws (rows)", AlertQuery(since: now - day, tag: "aws")),
            stats("--since 1h --search shadow (rows)", AlertQuery(since: now - hour, text: "shadow")),
        ]
        return cases
    }
}
