import Foundation
import Glibc
import LannerSensorAgent
import LannerWire
import Testing

/// Where the tests find the sensor build, and whether real-kernel tests run here.
enum SensorEnv {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let sensorDir = repo + "/sensor"
    static let objectPath = sensorDir + "/build/lanner.bpf.o"
    static let workload = sensorDir + "/build/lanner-workload"

    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static let isRoot = geteuid() == 0
    /// Real-kernel tests run as root; under CI=true they run regardless, so a failure to load eBPF fails.
    static let bpfEnabled = isRoot || isCI
    static let skipReason: Comment = "needs root to load eBPF programs (runs, and must pass, under CI=true)"

    /// `make -C sensor all test-tools`, once per test process (incremental: fast when up to date).
    static let build: String? = {
        let (status, output) = run("/usr/bin/make", ["make", "-s", "-C", sensorDir, "all", "test-tools"], capture: true)
        return status == 0 ? nil : "make -C sensor failed (status \(status)):\n\(output)"
    }()

    /// Loads the probe or records why it could not (never skips: the caller decided the test runs).
    /// Every event type the kernel side can produce.
    static let allKernelEvents = Set(EventType.allCases.filter(\.fromKernel).map(\.rawValue))
    /// A small set the probe tests start from (attaching every program takes seconds): execs, the clone family,
    /// exits, the open family, connect.
    static let coreEvents: Set<UInt16> = Set([
        EventType.execve, .execveat, .clone, .clone3, .fork, .vfork, .procexit, .open, .openat, .openat2, .creat, .connect,
    ].map(\.rawValue))

    static func probe(ignoring: [UInt32] = [UInt32(getpid())], argvLimit: Int = 4096,
                      interest: Set<UInt16> = coreEvents, ringBufferBytes: Int = 16 << 20,
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> BPFProbe {
        if let failure = build {
            Issue.record(Comment(rawValue: failure), sourceLocation: sourceLocation)
            throw SensorTestError.setup(failure)
        }
        do {
            return try BPFProbe(config: ProbeConfig(objectPath: objectPath, ringBufferBytes: ringBufferBytes, argvLimit: argvLimit,
                                                    ignoredTgids: ignoring, interest: interest))
        } catch {
            Issue.record("BPFProbe failed to load: \(error)", sourceLocation: sourceLocation)
            throw error
        }
    }
}

enum SensorTestError: Error { case setup(String) }

/// posix_spawn + waitpid, optionally capturing stdout+stderr.
@discardableResult
func run(_ path: String, _ argv: [String], capture: Bool = false) -> (status: Int32, output: String) {
    let pid = spawn(path, argv, captureTo: capture ? "/tmp/lanner-test-out.\(getpid()).\(UInt32.random(in: 0...UInt32.max))" : nil)
    return (wait(pid.pid), pid.outputPath.map { p in
        defer { unlink(p) }
        return (try? String(contentsOfFile: p, encoding: .utf8)) ?? ""
    } ?? "")
}

struct Spawned {
    var pid: pid_t
    var outputPath: String?
}

/// Starts `path` with `argv` (argv[0] included); stdout and stderr go to `captureTo` or /dev/null.
func spawn(_ path: String, _ argv: [String], captureTo: String? = nil) -> Spawned {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let out = captureTo ?? "/dev/null"
    posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for a in cargs { free(a) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, nil, &cargs, environ)
    if rc != 0 { return Spawned(pid: -rc, outputPath: captureTo) }
    return Spawned(pid: pid, outputPath: captureTo)
}

/// waitpid; returns the raw wait status (or -1).
func wait(_ pid: pid_t) -> Int32 {
    guard pid > 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        if errno != EINTR { return -1 }
    }
    return status
}

/// Records drained from a probe, validated through LannerWire's batch codec.
struct Drained {
    var records: [EventRecord]

    func of(pid: UInt32) -> [EventRecord] { records.filter { $0.pid == pid } }
    func of(pid: UInt32, types: Set<EventType>) -> [EventRecord] {
        records.filter { $0.pid == pid && $0.eventType.map(types.contains) == true }
    }
}

/// Drains the probe until the ring is empty (after the workload has been waited for, all its records
/// are already in the ring), then runs every record through BatchEncoder → BatchDecoder, which checks
/// each record's framing (fixed part, every variable field, exact end).
/// `within`: stop after that many seconds even if records keep coming (a workload still running).
func drain(_ probe: BPFProbe, within: Double? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> Drained {
    var enc = BatchEncoder()
    var failures = 0
    var empty = 0
    let deadline = within.map { ProcessInfo.processInfo.systemUptime + $0 }
    while empty < 2 && deadline.map({ ProcessInfo.processInfo.systemUptime < $0 }) ?? true {
        let n = try probe.poll(timeoutMs: 20) { raw in
            do { try enc.append(record: raw) } catch { failures += 1 }
        }
        empty = n == 0 ? empty + 1 : 0
    }
    #expect(failures == 0, "records the encoder refused", sourceLocation: sourceLocation)
    let header = BatchHeader(sequence: 1, bootTimeUnixNs: 0, sensorID: .zero, bootID: .zero, hostname: "test",
                             sensorVersion: "test")
    let body = try enc.finish(header: header)
    return Drained(records: try BatchDecoder.decode(body, maxBatchBytes: 1 << 30).records)
}

func str(_ s: ArraySlice<UInt8>) -> String { String(decoding: s, as: UTF8.self) }

/// The KEY=VALUE lines a workload scenario printed.
func keyValues(_ path: String) -> [String: String] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let eq = line.firstIndex(of: "=") else { continue }
        out[String(line[..<eq])] = String(line[line.index(after: eq)...])
    }
    return out
}

/// A fixture directory: a.txt, sub/x, link -> sub, mnt/ (canonical path).
func makeFixtureDir(_ tag: String) -> String { makeFixtureDirAt(makeTempDir(tag)) }

/// makeFixtureDir's layout at `dir`, created (0700) when it does not exist; an existing one should be empty.
func makeFixtureDirAt(_ dir: String) -> String {
    mkdir(dir, 0o700)
    write(dir + "/a.txt", "a\n")
    mkdir(dir + "/sub", 0o755)
    mkdir(dir + "/mnt", 0o755)
    write(dir + "/sub/x", "x\n")
    symlink("sub", dir + "/link")
    return dir
}

/// An IPv4 address of the first 4 bytes of a 16-byte field, dotted.
func ipv4(_ b: ArraySlice<UInt8>) -> String { b.prefix(4).map(String.init).joined(separator: ".") }
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A canonical temporary directory (realpath'd: the kernel reports canonical paths).
func makeTempDir(_ tag: String) -> String {
    var template = Array("/tmp/lanner-\(tag).XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(p != nil, "mkdtemp failed")
    return realPath(String(cString: p!))
}

func realPath(_ p: String) -> String {
    guard let r = realpath(p, nil) else { return p }
    defer { free(r) }
    return String(cString: r)
}

func removeTree(_ p: String) { try? FileManager.default.removeItem(atPath: p) }

func write(_ path: String, _ text: String) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
}
