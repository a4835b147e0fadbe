// lanner-sensor: captures syscalls and process lifecycle with eBPF and streams them to the collector.
import Foundation
import Glibc
import LannerCLIKit
import LannerCore
import LannerSensorAgent

Signals.blockTermination()

let spec = CommandSpec(
    "lanner-sensor", abstract: "captures syscalls with eBPF and ships them to lanner-collector",
    discussion: "Run as root on every host. Stop with SIGINT or SIGTERM: it drains, flushes and exits.",
    options: [
        .value("collector", "URL", help: "collector to ship to, http://HOST:PORT (h2c) (default http://127.0.0.1:7601)"),
        .value("token-file", "FILE", help: "file holding the collector's bearer token (or set LANNER_TOKEN)"),
        .value("state-dir", "DIR", help: "where the sensor keeps its id (default /var/lib/lanner-sensor)"),
        .value("hostname", "NAME", help: "host name to report (default: the kernel's)"),
        .value("bpf-object", "FILE", help: "eBPF object (default: next to the binary, then sensor/build, then /usr/lib/lanner)"),
        .value("ring-buffer-mb", "MB", help: "kernel ring buffer size in MiB, a power of two (default 16)"),
        .value("batch-kb", "KB", help: "ship a batch when it reaches this size (default 256)"),
        .value("flush-ms", "MS", help: "ship a partial batch after this long (default 200)"),
        .value("spool-mb", "MB", help: "memory for batches the collector has not acknowledged (default 64)"),
        .value("write", short: "w", "FILE", help: "also write every shipped batch to a capture file (replay with lanner-collector replay)"),
        .flag("offline", help: "do not ship; only write the capture file (-w)"),
        .flag("verbose", short: "v", help: "print captured, shipped and dropped counts every 5 seconds and on exit"),
    ])

func fail(_ message: String, _ code: Int32) -> Never {
    FileHandle.standardError.write(Data(("lanner-sensor: " + message + "\n").utf8))
    exit(code)
}

do {
    let cmd = try CommandParser.parse(Array(CommandLine.arguments.dropFirst()), spec: spec)
    let url = cmd.value("collector") ?? "http://127.0.0.1:7601"
    guard let endpoint = CollectorEndpoint(url: url) else {
        throw CLIError.badValue(option: "collector", value: url, reason: "is not http://HOST:PORT")
    }
    var token = ProcessInfo.processInfo.environment["LANNER_TOKEN"] ?? ""
    if let f = cmd.value("token-file") {
        guard let t = try? String(contentsOfFile: f, encoding: .utf8) else { fail("cannot read token file \(f)", 1) }
        token = t.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    let offline = cmd.flag("offline")
    if offline && cmd.value("write") == nil { fail("--offline needs -w FILE (otherwise nothing would be kept)", 2) }
    guard offline || !token.isEmpty else { fail("no token: pass --token-file FILE or set LANNER_TOKEN", 2) }
    guard let object = cmd.value("bpf-object") ?? BPFProbe.defaultObjectPath() else {
        fail("no eBPF object found (looked in: \(BPFProbe.candidateObjectPaths().joined(separator: ", "))); build it with `make -C sensor`", 1)
    }
    let ringMB = try cmd.int("ring-buffer-mb", default: 16)
    guard ringMB > 0, ringMB & (ringMB - 1) == 0 else {
        throw CLIError.badValue(option: "ring-buffer-mb", value: String(ringMB), reason: "must be a power of two")
    }
    var config = AgentConfig(endpoint: offline ? nil : endpoint, token: token,
                             probe: ProbeConfig(objectPath: object, ringBufferBytes: ringMB << 20))
    config.stateDirectory = cmd.value("state-dir") ?? "/var/lib/lanner-sensor"
    config.hostname = cmd.value("hostname")
    config.batchBytes = max(4, try cmd.int("batch-kb", default: 256)) << 10
    config.flushInterval = Double(max(1, try cmd.int("flush-ms", default: 200))) / 1000
    config.spoolBytes = max(1, try cmd.int("spool-mb", default: 64)) << 20
    config.statsInterval = cmd.flag("verbose") ? 5 : 0
    config.capturePath = cmd.value("write")

    let agent: Agent
    do { agent = try Agent(config: config) } catch { fail("\(error)", 1) }
    Signals.onTermination { _ in agent.requestStop() }
    let left = agent.run()
    exit(left == 0 ? 0 : 3)
} catch {
    if let e = error as? CLIError, case .helpRequested(let h) = e { print(h, terminator: ""); exit(0) }
    fail("\(error)", 2)
}
