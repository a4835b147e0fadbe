import Foundation
import Glibc
import LannerWire

/// Settings of `lanner-sensor`.
public struct AgentConfig: Sendable {
    /// Where to ship batches; nil records only (`--offline` with `-w`).
    public var endpoint: CollectorEndpoint?
    /// Capture file every shipped batch is also written to (Falco 0.4.0's `-w`).
    public var capturePath: String?
    public var token: String
    public var stateDirectory = "/var/lib/lanner-sensor"
    public var hostname: String?
    public var probe: ProbeConfig
    public var batchBytes = 256 << 10
    /// Longest a record waits in a partial batch.
    public var flushInterval: TimeInterval = 0.2
    public var spoolBytes = 64 << 20
    /// Print counters every `statsInterval` seconds (0: never) and on exit.
    public var statsInterval: TimeInterval = 0
    /// How long shutdown waits for the collector to take what is spooled.
    public var shutdownTimeout: TimeInterval = 10
    public var version = "0.1.0"
    public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

    public init(endpoint: CollectorEndpoint?, token: String, probe: ProbeConfig) {
        self.endpoint = endpoint
        self.token = token
        self.probe = probe
    }
}

/// The sensor: eBPF capture → batches → spool → collector. Capture runs on one thread, upload on
/// another, so a slow collector never stalls the ring buffer.
public final class Agent: @unchecked Sendable {
    public let config: AgentConfig
    let probe: BPFProbe
    let identity: SensorIdentity
    let spool: Spool
    let uploader: Uploader?
    let capture: CaptureWriter?
    private let stopLock = NSLock()
    private var stopping = false
    private var captured: UInt64 = 0
    private var snapshotRecords = 0
    private var offlineEvents: UInt64 = 0
    private let capturedLock = NSLock()

    /// Loads and attaches the eBPF programs and reads the sensor's identity.
    public init(config: AgentConfig) throws {
        self.config = config
        identity = try SensorIdentity.load(stateDirectory: config.stateDirectory, hostname: config.hostname)
        probe = try BPFProbe(config: config.probe)
        let spool = Spool(maxBytes: config.spoolBytes)
        self.spool = spool
        uploader = config.endpoint.map { Uploader(endpoint: $0, token: config.token, spool: spool, log: config.log) }
        capture = try config.capturePath.map { try CaptureWriter(path: $0) }
    }

    /// Each start of the sensor gets a higher epoch, so sequence numbers never repeat across restarts:
    /// sequence = epoch << 32 | n.
    static func nextEpoch(_ dir: String) -> UInt64 {
        let path = (dir as NSString).appendingPathComponent("run-epoch")
        let last = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        let next = last + 1
        try? "\(next)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return next
    }

    public func requestStop() {
        stopLock.lock()
        stopping = true
        stopLock.unlock()
    }

    var isStopping: Bool {
        stopLock.lock()
        defer { stopLock.unlock() }
        return stopping
    }

    /// Runs until `requestStop()`; then drains the ring buffer, flushes, and waits for the upload.
    /// - Returns: batches still unacknowledged at exit.
    public func run() -> Int {
        let epoch = Agent.nextEpoch(config.stateDirectory)
        var batcher = Batcher(identity: identity, sensorVersion: config.version, maxBytes: config.batchBytes,
                              firstSequence: epoch << 32 | 1)
        let upload = Thread { [uploader] in uploader?.run() }
        upload.name = "lanner-upload"
        upload.start()
        let destination = [config.endpoint.map { "shipping to \($0)" }, config.capturePath.map { "writing \($0)" }]
            .compactMap { $0 }.joined(separator: " and ")
        config.log("lanner-sensor \(config.version): sensor \(identity.sensorID) on \(identity.hostname), "
                   + "\(probe.programNames.count) eBPF programs attached, \(destination)")
        /// A finished batch goes to the capture file (exactly the bytes shipped) and to the spool.
        func emit(_ b: Batcher.Finished) {
            if let capture {
                do { try capture.append(b.body) } catch {
                    config.log("lanner-sensor: writing the capture failed: \(error); capture stopped")
                }
            }
            if uploader != nil { spool.push(b) } else { offlineEvents += UInt64(b.events) }
        }

        // What was running before we started, and the user database, go first.
        var snapshot = ProcSnapshot.records(excludingTgid: UInt32(getpid()), argvLimit: config.probe.argvLimit)
        snapshot += UserDB.records().records
        snapshotRecords = snapshot.count
        for r in snapshot {
            r.withUnsafeBytes { raw in
                if let b = batcher.add(raw, kernelDrops: 0, userDrops: 0) { emit(b) }
            }
        }
        if let b = batcher.finish(kernelDrops: 0, userDrops: 0) { emit(b) }

        var lastFlush = Date()
        var lastStats = Date()
        var pollFailures = 0
        while true {
            let stop = isStopping
            let drops = probe.counters().dropped
            do {
                _ = try probe.poll(timeoutMs: stop ? 0 : 50) { raw in
                    capturedLock.lock()
                    captured += 1
                    capturedLock.unlock()
                    if let b = batcher.add(raw, kernelDrops: drops, userDrops: spool.droppedEvents) { emit(b) }
                }
            } catch {
                pollFailures += 1
                if pollFailures <= 3 { config.log("lanner-sensor: ring buffer poll failed: \(error)") }
            }
            let now = Date()
            if stop || now.timeIntervalSince(lastFlush) >= config.flushInterval {
                if let b = batcher.finish(kernelDrops: probe.counters().dropped, userDrops: spool.droppedEvents) { emit(b) }
                lastFlush = now
            }
            if config.statsInterval > 0 && now.timeIntervalSince(lastStats) >= config.statsInterval {
                lastStats = now
                logStats()
            }
            if stop { break }
        }
        spool.close()
        uploader?.finish(by: Date().addingTimeInterval(config.shutdownTimeout))
        capture?.close()
        while !upload.isFinished { Thread.sleep(forTimeInterval: 0.02) }
        let left = spool.pending.batches
        if config.statsInterval > 0 { logStats() }
        if left > 0 {
            config.log("lanner-sensor: \(left) batch(es) were not acknowledged by the collector before exit")
        }
        return left
    }

    public struct Stats: Sendable {
        public var captured: UInt64
        public var snapshot: Int
        public var shipped: UInt64
        public var kernel: KernelCounters
        public var spoolDropped: UInt64
        public var rejected: UInt64
        public var pendingBatches: Int
    }

    public var stats: Stats {
        capturedLock.lock()
        let c = captured
        capturedLock.unlock()
        return Stats(captured: c, snapshot: snapshotRecords, shipped: uploader?.shippedEvents ?? offlineEvents, kernel: probe.counters(),
                     spoolDropped: spool.droppedEvents, rejected: uploader?.rejectedEvents ?? 0, pendingBatches: spool.pending.batches)
    }

    func logStats() {
        let s = stats
        let dropped = s.kernel.dropped + s.spoolDropped
        config.log("lanner-sensor: captured=\(s.captured) shipped=\(s.shipped) dropped=\(dropped) "
                   + "(ring buffer full \(s.kernel.ringbufFull), scratch busy \(s.kernel.scratchBusy), spool full \(s.spoolDropped)) "
                   + "read_failures=\(s.kernel.readFailures) snapshot=\(s.snapshot) pending_batches=\(s.pendingBatches)")
    }
}
