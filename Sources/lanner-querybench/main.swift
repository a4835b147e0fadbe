// lanner-querybench: alert query latency over a large alert database (docs/BENCHMARKS.md, "Alert queries").
//   lanner-querybench --db bench/data/alerts-10m.db [--rows 10000000] [--runs 5] [--json]
// The database is generated once (deterministic data, bulk loaded through AlertStore) and reused by later runs.
import Foundation
import Glibc
import LannerCLIKit
import LannerCore
import LannerStore

let spec = CommandSpec("lanner-querybench", abstract: "alert query latency over a generated alert database", options: [
    .value("db", "PATH", help: "the database (generated when missing; default bench/data/alerts-10m.db)"),
    .value("rows", "N", help: "alerts to generate (default 10000000)"),
    .value("runs", "N", help: "timed runs per query, after one warm-up (default 5)"),
    .value("only", "TEXT", help: "only the queries whose name contains TEXT"),
    .value("ingest", "N", help: "also time storing N alerts through commit and deleting them by retention, "
           + "on a fresh file next to the database (default 0: skip)"),
    .value("ingest-batch", "N", help: "alerts per commit for --ingest (default 100)"),
    .flag("json", help: "one JSON object per query"),
])

func fail(_ s: String) -> Never {
    FileHandle.standardError.write(Data(("lanner-querybench: " + s + "\n").utf8))
    exit(1)
}

func say(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

do {
    let cmd = try CommandParser.parse(Array(CommandLine.arguments.dropFirst()), spec: spec)
    let path = cmd.value("db") ?? "bench/data/alerts-10m.db"
    let rows = try cmd.int("rows", default: 10_000_000, in: 1000...100_000_000)
    let runs = try cmd.int("runs", default: 5, in: 1...100)

    if !FileManager.default.fileExists(atPath: path) {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let t0 = monotonicSeconds()
        try Generator.generate(path: path, rows: rows)
        say("generated \(rows) alerts in \(String(format: "%.0f", monotonicSeconds() - t0)) s")
    }
    let store = try AlertStore(path: path, readOnly: true)
    let stored = try store.count()
    guard stored > 0, let ids = try store.idBounds() else { fail("\(path) holds no alerts") }
    let newest = try store.query(AlertQuery(limit: 1))[0].timeNs
    let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    say("\(path): \(stored) alerts, ids \(ids.lowerBound)…\(ids.upperBound), newest \(StoredAlert.rfc3339(nanoseconds: newest)), "
        + "\(fileBytes >> 20) MiB")

    let cases = BenchCases.all(newest: newest, ids: ids)
    let only = cmd.value("only")
    var results: [(name: String, median: Double, max: Double, rows: Int)] = []
    for c in cases where only.map({ c.name.contains($0) }) ?? true {
        var rowsOut = try c.run(store)   // warm-up
        var times: [Double] = []
        for _ in 0..<runs {
            let t = monotonicSeconds()
            rowsOut = try c.run(store)
            times.append(monotonicSeconds() - t)
        }
        times.sort()
        let median = times[times.count / 2] * 1000, worst = times.last! * 1000
        results.append((c.name, median, worst, rowsOut))
        if cmd.flag("json") {
            print("{\"query\":\(JSON.quoted(c.name)),\"median_ms\":\(String(format: "%.2f", median)),"
                  + "\"max_ms\":\(String(format: "%.2f", worst)),\"rows\":\(rowsOut),\"alerts_stored\":\(stored)}")
        } else {
            let name = c.name.count < 58 ? c.name + String(repeating: " ", count: 58 - c.name.count) : c.name
            print(name + String(format: " %9.2f ms  (max %8.2f)  %7d rows", median, worst, rowsOut))
        }
    }
    let ingest = try cmd.int("ingest", default: 0, in: 0...10_000_000)
    let perCommit = try cmd.int("ingest-batch", default: 100, in: 1...100_000)
    if ingest > 0 {
        let scratch = path + ".ingest-scratch"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: scratch + suffix) }
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: scratch + suffix) } }
        let w = try AlertStore(path: scratch)
        var rng = Rng(state: 77)
        let rules = Zipf(count: Generator.ruleNames.count, s: 1.1), hosts = Zipf(count: 60, s: 0.8), containers = Zipf(count: 400, s: 1.0)
        let alerts = (0..<ingest).map { Generator.alert($0, of: ingest, rng: &rng, rules: rules, hosts: hosts, containers: containers).alert }
        var t = monotonicSeconds()
        var seq: UInt64 = 0
        for start in stride(from: 0, to: ingest, by: perCommit) {
            seq += 1
            _ = try w.commit(sensorID: "bench", sequence: seq, events: perCommit, alerts: Array(alerts[start..<min(start + perCommit, ingest)]))
        }
        let commitSeconds = monotonicSeconds() - t
        t = monotonicSeconds()
        var deleted = 0
        while case let b = try w.deleteExpired(RetentionPolicy(maxAgeNs: 1, maxRows: 0), nowNs: Int64.max - 1, batch: 2000), b.total > 0 {
            deleted += b.total
        }
        let deleteSeconds = monotonicSeconds() - t
        let line1 = "ingest: \(ingest) alerts stored through commit (\(perCommit) per batch) in \(String(format: "%.2f", commitSeconds)) s: "
            + "\(Int(Double(ingest) / commitSeconds)) alerts/s"
        let line2 = "retention: \(deleted) alerts deleted (2000 per transaction) in \(String(format: "%.2f", deleteSeconds)) s: "
            + "\(Int(Double(deleted) / deleteSeconds)) alerts/s"
        if cmd.flag("json") {
            print("{\"ingest_alerts\":\(ingest),\"alerts_per_commit\":\(perCommit),\"commit_alerts_per_second\":\(Int(Double(ingest) / commitSeconds)),"
                  + "\"retention_alerts_per_second\":\(Int(Double(deleted) / deleteSeconds))}")
        } else {
            print(line1)
            print(line2)
        }
    }
    if !cmd.flag("json") {
        let over = results.filter { $0.median >= 100 }
        print("\(results.count) queries over \(stored) alerts; \(over.isEmpty ? "all" : "\(results.count - over.count)") under 100 ms (median)"
              + (over.isEmpty ? "" : "; over: " + over.map(\.name).joined(separator: ", ")))
    }
} catch let e as CLIError {
    if case .helpRequested(let h) = e { print(h, terminator: ""); exit(0) }
    fail(e.description)
} catch {
    fail("\(error)")
}
