import Foundation
import Glibc
import LannerCLIKit
import LannerCollectorService
import LannerRules
import LannerWire

/// `lanner-bench rules`: the collector's per-event path on one thread, from a recorded capture.
enum RulesBench {
    static func run(_ cmd: ParsedCommand) throws {
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

        var rules = loaded.rules
        for name in cmd.all("enable") {
            guard let i = rules.firstIndex(where: { $0.name == name }) else { fail("--enable: no rule named '\(name)'") }
            rules[i].enabled = true
        }
        let active = rules.filter { $0.enabled && $0.priority.isAtLeast(loaded.minimumPriority) }
        let analyzer = Analyzer(rules: active, matching: matching)
        // Names fd.*ip.name checks compare get made-up addresses from the benchmarking range 198.18.0.0/15:
        // a benchmark never sends DNS queries.
        let domainNames = analyzer.ruleset.domainNames
        if !domainNames.isEmpty {
            var answers: [String: DomainAnswer] = [:]
            for (i, n) in domainNames.enumerated() {
                answers[n] = .of([IPAddress(bytes: [198, 18, UInt8(truncatingIfNeeded: i >> 8), UInt8(truncatingIfNeeded: i)])!])
            }
            _ = OneTimeDomainLookup.prepare(analyzer, .init(resolver: InMemoryDomainResolver(answers), wait: 5))
        }
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
    }
}
