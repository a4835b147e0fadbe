// lanner-bench: release-mode benchmarks (never part of `swift test`). See docs/BENCHMARKS.md.
//   lanner-bench rules --capture bench/fixtures/mix.lcap.zst --rules ../shared/peer/falco-rules --rules rules [--seconds 10] [--json]
//   lanner-bench wire  --capture bench/fixtures/live.lcap.zst [--batch-kb 256] [--exclude-comm NAME] [--write FILE] [--json]
//   lanner-bench ship  --capture bench/fixtures/live.lcap.zst [--seconds 10] [--rate N] [--collector URL --token-file F]
import Foundation
import Glibc
import LannerCLIKit

let spec = CommandSpec("lanner-bench", abstract: "Lanner benchmarks", subcommands: [
    CommandSpec("rules", abstract: "events per second per core through rules, from a recorded capture", options: [
        .value("capture", "FILE", help: "capture file (plain or .zst)"),
        .value("rules", "FILE|DIR", repeatable: true, help: "rule files or directories, in order"),
        .value("seconds", "S", help: "measure for at least this long (default 10)"),
        .value("rule-matching", "all|first", help: "all (default) or first"),
        .value("enable", "RULE", repeatable: true, help: "also run this rule when its file disables it"),
        .flag("json", help: "print one JSON object"),
    ]),
    CommandSpec("wire", abstract: "bytes per event on the wire: a capture's records re-batched as the sensor batches them, with and without zstd", options: [
        .value("capture", "FILE", help: "capture file (plain or .zst)"),
        .value("batch-kb", "KB", help: "batch size in KiB of records before compression (default 256, the sensor's)"),
        .value("levels", "L,L,…", help: "zstd levels to try (default 1,3,6,9,19)"),
        .value("exclude-comm", "NAME", repeatable: true, help: "leave out the records of processes named NAME (batches re-encoded as the sensor would have)"),
        .value("write", "FILE", help: "write the capture (after --exclude-comm) to FILE"),
        .flag("json", help: "print one JSON object"),
    ]),
    CommandSpec("ship", abstract: "events per second one sensor ships with zero drops: records → Batcher → zstd → Spool → Uploader → collector", options: [
        .value("capture", "FILE", help: "capture whose records are cycled as the synthetic source (plain or .zst)"),
        .value("seconds", "S", help: "produce for this long (default 10)"),
        .value("rate", "N", help: "offer N events/s (default 0: as fast as the spool takes them, waiting instead of dropping)"),
        .value("batch-kb", "KB", help: "batch size (default 256)"),
        .value("exclude-comm", "NAME", repeatable: true, help: "leave out the records of processes named NAME"),
        .value("spool-mb", "MB", help: "memory spool (default 64)"),
        .value("collector", "URL", help: "a running lanner-collector serve (default: an in-process sink that decodes and acknowledges)"),
        .value("token-file", "FILE", help: "its bearer token"),
        .flag("no-compress", help: "ship uncompressed"),
        .flag("json", help: "print one JSON object"),
    ]),
])

func cpuSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func processCPUSeconds() -> Double {
    var ru = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
    return Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) / 1e6 + Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) / 1e6
}

func fail(_ s: String) -> Never {
    FileHandle.standardError.write(Data(("lanner-bench: " + s + "\n").utf8))
    exit(1)
}

do {
    let cmd = try CommandParser.parse(Array(CommandLine.arguments.dropFirst()), spec: spec)
    switch cmd.leaf {
    case "rules": try RulesBench.run(cmd)
    case "wire": try WireBench.run(cmd)
    case "ship": try ShipBench.run(cmd)
    default: fail("name a benchmark: rules, wire or ship (--help)")
    }
} catch let e as CLIError {
    if case .helpRequested(let h) = e { print(h, terminator: ""); exit(0) }
    fail(e.description)
} catch {
    fail("\(error)")
}
