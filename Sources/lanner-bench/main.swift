// lanner-bench: release-mode benchmarks (never part of `swift test`). See docs/BENCHMARKS.md.
//   lanner-bench rules --capture bench/fixtures/mix.lcap.zst --rules ../shared/peer/falco-rules --rules rules [--seconds 10] [--json]
import Foundation
import Glibc
import LannerCLIKit
import LannerCollectorService
import LannerRules
import LannerWire

let spec = CommandSpec("lanner-bench", abstract: "Lanner benchmarks", subcommands: [
    CommandSpec("rules", abstract: "events per second per core through rules, from a recorded capture", options: [
        .value("capture", "FILE", help: "capture file (plain or .zst)"),
        .value("rules", "FILE|DIR", repeatable: true, help: "rule files or directories, in order"),
        .value("seconds", "S", help: "measure for at least this long (default 10)"),
        .value("rule-matching", "all|first", help: "all (default) or first"),
        .flag("json", help: "print one JSON object"),
    ]),
])

func cpuSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func fail(_ s: String) -> Never {
    FileHandle.standardError.write(Data(("lanner-bench: " + s + "\n").utf8))
    exit(1)
}

do {
    let cmd = try CommandParser.parse(Array(CommandLine.arguments.dropFirst()), spec: spec)
    guard let capturePath = cmd.value("capture") else { fail("--capture FILE is required") }
    let ruleFiles = cmd.all("rules")
    guard !ruleFiles.isEmpty else { fail("--rules is required") }
    let seconds = Double(try cmd.int("seconds", default: 10))
    let matching = RuleMatching(rawValue: cmd.value("rule-matching") ?? "all") ?? .all

    let loadStart = Date()
    let loaded = try RuleSources.load(ruleFiles)
    let loadSeconds = Date().timeIntervalSince(loadStart)
    if loaded.report.hasErrors { fail("the rules have errors:\n" + loaded.report.rendered()) }
    guard let data = FileManager.default.contents(atPath: capturePath) else { fail("cannot read \(capturePath)") }
    let batches = try Capture.batches([UInt8](data))
    let events = batches.reduce(0) { $0 + $1.batch.records.count }

    let analyzer = Analyzer(rules: loaded.activeRules, matching: matching)
    // Warm up: one pass (state, scratch capacity, caches).
    var alerts = 0
    for (b, _) in batches { alerts += analyzer.process(b).count }
    let alertsPerPass = alerts
    var passes = 0
    var evaluated = 0
    let wallStart = Date()
    let cpuStart = cpuSeconds()
    repeat {
        for (b, _) in batches { _ = analyzer.process(b) }
        passes += 1
        evaluated += events
    } while cpuSeconds() - cpuStart < seconds
    let cpu = cpuSeconds() - cpuStart
    let wall = Date().timeIntervalSince(wallStart)
    let perSecond = Double(evaluated) / cpu
    let rulesRunning = analyzer.ruleset.rules.count
    var ru = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
    let rssMiB = Double(ru.ru_maxrss) / 1024
    if cmd.flag("json") {
        print("{\"benchmark\":\"rules\",\"capture\":\"\(capturePath)\",\"events_in_capture\":\(events),\"rules_loaded\":\(loaded.rules.count),"
              + "\"rules_running\":\(rulesRunning),\"passes\":\(passes),\"events\":\(evaluated),\"cpu_seconds\":\(cpu),\"wall_seconds\":\(wall),"
              + "\"events_per_second_per_core\":\(Int(perSecond)),\"ns_per_event\":\(cpu / Double(evaluated) * 1e9),"
              + "\"alerts_per_pass\":\(alertsPerPass),\"rule_load_seconds\":\(loadSeconds),\"max_rss_mib\":\(rssMiB)}")
    } else {
        print("rules: \(loaded.rules.count) loaded, \(rulesRunning) running (load \(String(format: "%.2f", loadSeconds)) s)")
        print("capture: \(events) events in \(batches.count) batches; \(alertsPerPass) alerts per pass")
        print("measured: \(passes) passes, \(evaluated) events, \(String(format: "%.2f", cpu)) s CPU on one thread")
        print("result: \(Int(perSecond)) events/s/core (\(String(format: "%.0f", cpu / Double(evaluated) * 1e9)) ns/event), max RSS \(String(format: "%.1f", rssMiB)) MiB")
    }
} catch let e as CLIError {
    if case .helpRequested(let h) = e { print(h, terminator: ""); exit(0) }
    fail(e.description)
} catch {
    fail("\(error)")
}
