// lanner-sensor: captures syscalls and process lifecycle with eBPF and streams them to the collector.
import FoundationEssentials
import Glibc
import LannerCLIKit
import LannerCore
import LannerHTTP2
import LannerSensorAgent
import LannerWire

Signals.blockTermination()

let spec = CommandSpec(
    "lanner-sensor", abstract: "captures syscalls with eBPF and ships them to lanner-collector",
    discussion: "Run as root on every host. Stop with SIGINT or SIGTERM: it drains, flushes and exits.",
    options: [
        .value("collector", "URL", help: "collector to ship to, http://HOST:PORT (h2c) (default http://127.0.0.1:7601)"),
        .value("token-file", "FILE", help: "file holding the collector's bearer token (or set LANNER_TOKEN)"),
        .value("state-dir", "DIR", help: "where the sensor keeps its id, run epoch and disk spool (default /var/lib/lanner-sensor)"),
        .value("hostname", "NAME", help: "host name to report (default: the kernel's)"),
        .value("bpf-object", "FILE", help: "eBPF object (default: next to the binary, then sensor/build, then /usr/lib/lanner)"),
        .value("ring-buffer-mb", "MB", help: "kernel ring buffer size in MiB, a power of two from \(ProbeConfig.ringBufferMiB.lowerBound) "
               + "to \(ProbeConfig.ringBufferMiB.upperBound) (default 2 per CPU, at least 4 and at most 64: \(ProbeConfig.defaultRingBufferMiB()) here)"),
        .value("batch-kb", "KB", help: "ship a batch when it reaches this size (default 256)"),
        .value("flush-ms", "MS", help: "ship a partial batch after this long (default 200)"),
        .value("spool-mb", "MB", help: "memory for batches the collector has not acknowledged (default 64)"),
        .value("spool-disk-mb", "MB", help: "then disk, in STATE-DIR/spool, kept across restarts (default 1024; 0: memory only)"),
        .flag("no-compress", help: "send batches uncompressed (default: zstd-compressed records)"),
        .value("write", short: "w", "FILE", help: "also write every shipped batch to a capture file (replay with lanner-collector replay)"),
        .flag("offline", help: "do not ship; only write the capture file (-w), of --events (default: every kernel event type but the read/write family)"),
        .value("events", "SET", help: "event types the kernel captures from the start: all, default (every kernel event type but read, "
               + "write, pread64, pwrite64, readv, writev), or event names of proto/events.yaml separated by commas (all and default "
               + "may be items: default,read); the process lifecycle (execve, execveat, clone, clone3, fork, vfork, procexit) is "
               + "always added. Without it: the collector's last interest, kept in STATE-DIR/interest, else default. Shipping, "
               + "the collector's interest replaces it at its first answer"),
        .value("container-socket", "PATH", help: "Docker-compatible API socket for container metadata (default: /var/run/docker.sock, else /run/podman/podman.sock; `none`: off)"),
        .flag("verbose", short: "v", help: "print captured, shipped and dropped counts every 5 seconds and on exit, and each container start"),
    ])

func fail(_ message: String, _ code: Int32) -> Never {
    writeStandardError("lanner-sensor: " + message + "\n")
    exit(code)
}

do {
    let cmd = try CommandParser.parse(Array(CommandLine.arguments.dropFirst()), spec: spec)
    let url = cmd.value("collector") ?? "http://127.0.0.1:7601"
    guard let endpoint = CollectorEndpoint(url: url) else {
        if url.hasPrefix("https://") {
            throw CLIError.badValue(option: "collector", value: url, reason: "uses TLS, which this version does not support yet: use http://HOST:PORT (h2c) on a trusted network or through a TLS tunnel")
        }
        throw CLIError.badValue(option: "collector", value: url, reason: "is not http://HOST:PORT")
    }
    let offline = cmd.flag("offline")
    if offline && cmd.value("write") == nil { fail("--offline needs -w FILE (otherwise nothing would be kept)", 2) }
    var token = ""
    if !offline {
        do {
            let t = try BearerToken.read(file: cmd.value("token-file"))
            token = t.token
            if let w = t.warning { writeStandardError("lanner-sensor: warning: " + w + "\n") }
        } catch { fail(error.description, 2) }
    }
    guard let object = cmd.value("bpf-object") ?? BPFProbe.defaultObjectPath() else {
        fail("no eBPF object found (looked in: \(BPFProbe.candidateObjectPaths().joined(separator: ", "))); build it with `make -C sensor`", 1)
    }
    let ringMB = try cmd.int("ring-buffer-mb", default: ProbeConfig.defaultRingBufferMiB(), in: ProbeConfig.ringBufferMiB, unit: "MiB")
    guard ringMB & (ringMB - 1) == 0 else {
        throw CLIError.badValue(option: "ring-buffer-mb", value: String(ringMB),
                                reason: "is not a power of two (\(ProbeConfig.ringBufferMiB.lowerBound), 2, 4, … \(ProbeConfig.ringBufferMiB.upperBound) MiB)")
    }
    var config = AgentConfig(endpoint: offline ? nil : endpoint, token: token,
                             probe: ProbeConfig(objectPath: object, ringBufferBytes: ringMB << 20))
    config.stateDirectory = cmd.value("state-dir") ?? "/var/lib/lanner-sensor"
    if let h = cmd.value("hostname"), h.utf8.count > BatchHeader.maxHostname {
        throw CLIError.badValue(option: "hostname", value: String(h.prefix(40)) + "…",
                                reason: "is \(h.utf8.count) bytes; a batch header carries at most \(BatchHeader.maxHostname)")
    }
    config.hostname = cmd.value("hostname")
    config.batchBytes = try cmd.int("batch-kb", default: 256, in: 4...8192, unit: "KiB") << 10
    config.flushInterval = Double(try cmd.int("flush-ms", default: 200, in: 1...60_000, unit: "ms")) / 1000
    config.spoolBytes = try cmd.int("spool-mb", default: 64, in: 1...65_536, unit: "MiB") << 20
    config.spoolDiskBytes = try cmd.int("spool-disk-mb", default: 1024, in: 0...1_048_576, unit: "MiB") << 20
    config.compress = !cmd.flag("no-compress")
    config.statsInterval = cmd.flag("verbose") ? 5 : 0
    config.verbose = cmd.flag("verbose")
    switch cmd.value("container-socket") {
    case nil: config.containerRuntime = .auto
    case "none"?: config.containerRuntime = .disabled
    case let p?:
        guard p.hasPrefix("/") else {
            throw CLIError.badValue(option: "container-socket", value: p, reason: "is not an absolute path (or `none`)")
        }
        config.containerRuntime = .socket(p)
    }
    config.capturePath = cmd.value("write")
    if let text = cmd.value("events") {
        do { config.events = try EventSelection.parse(text) } catch {
            throw CLIError.badValue(option: "events", value: text, reason: error.description)
        }
    }

    let agent: Agent
    do { agent = try Agent(config: config) } catch { fail("\(error)", 1) }
    Signals.onTermination { _ in agent.requestStop() }
    let left = agent.run()
    exit(left == 0 ? 0 : 3)
} catch {
    if let e = error as? CLIError, case .helpRequested(let h) = e { print(h, terminator: ""); exit(0) }
    let message = "\(error)"
    if message.hasPrefix("lanner-sensor") {   // CLIError names the command itself
        writeStandardError(message + "\n")
        exit(2)
    }
    fail(message, 2)
}
