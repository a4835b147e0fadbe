import FoundationEssentials
import CBPF
import Glibc
import LannerHTTP2
import LannerCore
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
    /// Records per batch, in bytes before compression.
    public var batchBytes = 256 << 10
    /// Longest a record waits in a partial batch.
    public var flushInterval: TimeInterval = 0.2
    /// Memory for unacknowledged batches (`--spool-mb`).
    public var spoolBytes = 64 << 20
    /// Disk for unacknowledged batches once memory is full (`--spool-disk-mb`, in `<state-dir>/spool`); 0: none.
    public var spoolDiskBytes = 1024 << 20
    /// zstd-compress each batch's records (flag bit 0) when that makes it smaller (`--no-compress` turns it off).
    public var compress = true
    public var compressionLevel: Int32 = 3
    /// An idle sensor sends an empty batch this often (liveness, drop counters, the collector's interest).
    public var heartbeatInterval: TimeInterval = 2
    /// Print counters every `statsInterval` seconds (0: never) and on exit.
    public var statsInterval: TimeInterval = 0
    /// How long shutdown waits for the collector to take what is spooled.
    public var shutdownTimeout: TimeInterval = 10
    public var version = "0.1.0"
    /// The event types to capture from the start (`--events`); nil: the collector's last interest kept in the state
    /// directory, else `EventSelection.standard` (StartInterest). Shipping, the collector's interest replaces it.
    public var events: EventSelection.Choice?
    /// The container runtime to describe containers from (`--container-socket`).
    public var containerRuntime = ContainerRuntimeSetting.auto
    /// Say each container start and removal (`-v`).
    public var verbose = false
    public var log: @Sendable (String) -> Void = { writeStandardError($0 + "\n") }

    public init(endpoint: CollectorEndpoint?, token: String, probe: ProbeConfig) {
        self.endpoint = endpoint
        self.token = token
        self.probe = probe
    }
}

/// The sensor: eBPF capture → batches → spool (memory, then disk) → collector. Capture runs on one thread,
/// upload on another, so a slow collector never stalls the ring buffer.
///
/// The two threads meet in thread-safe places only: the `Spool`, the shared `SequenceSource`, and `Shared`
/// (the interest set the collector asked for, the last kernel drop count, flags).
public final class Agent: @unchecked Sendable {
    /// How often the capture thread checks /etc/passwd and /etc/group for changes (two stat calls).
    static let userCheckInterval: TimeInterval = 2
    /// How often freed heap pages are handed back to the system (`malloc_trim`: a walk over a few MiB of heap).
    static let trimInterval: TimeInterval = 5

    public let config: AgentConfig
    let probe: BPFProbe
    let identity: SensorIdentity
    let spool: Spool
    let uploader: Uploader?
    let capture: CaptureWriter?
    let epoch: UInt64
    let sequences: SequenceSource
    let containers: ContainerWatcher
    /// What the kernel captured at start, and where the collector's interest is kept across restarts.
    public let startInterest: StartInterest
    let interestFile: InterestFile
    private let shared = Shared()
    private let stopLock = PosixLock()
    private var stopping = false
    private var captured: UInt64 = 0
    private var snapshotRecords = 0
    private var offlineEvents: UInt64 = 0
    private let capturedLock = PosixLock()

    /// State both threads touch, under one lock.
    final class Shared: @unchecked Sendable {
        private let lock = PosixLock()
        private var _wantedInterest: Interest?
        private var _appliedVersion: UInt32?
        /// Taken by the capture thread and being applied (attaching programs takes a while; acknowledgements
        /// carrying the same set keep arriving meanwhile).
        private var _applyingVersion: UInt32?
        private var _kernelDrops: UInt64 = 0
        private var _readFailures: UInt64 = 0
        private var _compressionRefused = false
        private var _snapshotFailures: UInt64 = 0

        /// The collector's set when it differs from the one applied (or being applied).
        func offer(_ i: Interest) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            guard _appliedVersion != i.version, _wantedInterest?.version != i.version, _applyingVersion != i.version else { return false }
            _wantedInterest = i
            return true
        }

        func takeWantedInterest() -> Interest? {
            lock.lock()
            defer { lock.unlock() }
            let w = _wantedInterest
            _wantedInterest = nil
            if let w { _applyingVersion = w.version }
            return w
        }

        func applied(_ version: UInt32?) {
            lock.lock()
            _appliedVersion = version
            _applyingVersion = nil
            lock.unlock()
        }

        /// Applying failed: a later acknowledgement with the same set is offered again.
        func applyFailed() { lock.lock(); _applyingVersion = nil; lock.unlock() }

        private var _keptConfirmed = false
        /// True once: when the collector's interest is the one kept from an earlier run and applied at start.
        func confirmsKept(_ version: UInt32, kept: UInt32?) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            guard !_keptConfirmed, version == kept, _appliedVersion == version else { return false }
            _keptConfirmed = true
            return true
        }
        /// The kernel counters the capture thread read last: records lost, and reads that failed.
        var kernelDrops: UInt64 { lock.lock(); defer { lock.unlock() }; return _kernelDrops }
        var readFailures: UInt64 { lock.lock(); defer { lock.unlock() }; return _readFailures }
        func kernelCounters(drops: UInt64, readFailures: UInt64) {
            lock.lock()
            _kernelDrops = drops
            _readFailures = readFailures
            lock.unlock()
        }
        var compressionRefused: Bool {
            get { lock.lock(); defer { lock.unlock() }; return _compressionRefused }
            set { lock.lock(); _compressionRefused = newValue; lock.unlock() }
        }
        func snapshotFailed(_ n: Int) { lock.lock(); _snapshotFailures += UInt64(n); lock.unlock() }
        var snapshotFailures: UInt64 { lock.lock(); defer { lock.unlock() }; return _snapshotFailures }
    }

    /// Held for the agent's life: one sensor per state directory.
    private let stateLock: StateDirectoryLock

    /// Loads and attaches the eBPF programs, reads the sensor's identity, locks its state directory, opens the
    /// spool (taking stock of batches a previous run left on disk) and claims this run's epoch.
    /// - Throws: when the probe cannot load, the state directory or the spool cannot be used (or another sensor
    ///   holds it), or the run epoch cannot be recorded (sequence numbers must never repeat).
    public init(config: AgentConfig) throws {
        self.config = config
        identity = try SensorIdentity.load(stateDirectory: config.stateDirectory, hostname: config.hostname)
        stateLock = try StateDirectoryLock(stateDirectory: config.stateDirectory)   // before the spool and the epoch
        let spoolDir = config.endpoint == nil ? nil : config.stateDirectory + "/spool"
        let spool = try Spool(memoryBytes: config.spoolBytes, directory: spoolDir, diskBytes: config.spoolDiskBytes, log: config.log)
        self.spool = spool
        epoch = try Agent.nextEpoch(config.stateDirectory, atLeast: spool.highestSpooledEpoch + 1)
        sequences = SequenceSource(first: epoch << 32 | 1)
        interestFile = InterestFile(stateDirectory: config.stateDirectory)
        let start = StartInterest.choose(events: config.events, shipping: config.endpoint != nil, file: interestFile, log: config.log)
        startInterest = start
        var probeConfig = config.probe
        probeConfig.interest = start.events
        probeConfig.omit = start.omit
        probe = try BPFProbe(config: probeConfig)
        uploader = config.endpoint.map { Uploader(endpoint: $0, token: config.token, spool: spool, log: config.log) }
        capture = try config.capturePath.map { try CaptureWriter(path: $0) }
        containers = ContainerWatcher(setting: config.containerRuntime, verbose: config.verbose, log: config.log)
        shared.applied(start.collectorVersion)   // a collector sending the kept version again changes nothing
    }

    /// Each start of the sensor gets a higher epoch, so sequence numbers never repeat across restarts:
    /// sequence = epoch << 32 | n. The epoch is written (and fsync'd) before any batch uses it; at least
    /// `atLeast` (one above any batch still on disk), whatever the file says.
    static func nextEpoch(_ dir: String, atLeast: UInt64 = 1) throws -> UInt64 {
        let path = dir + "/run-epoch"
        let last = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { UInt64($0.trimmed()) } ?? 0
        let next = max(last + 1, atLeast)
        guard next < 1 << 32 else { throw AgentError.epochExhausted(path: path) }
        do { try StateFile.write(path, Array("\(next)\n".utf8)) } catch {
            throw AgentError.cannotRecordEpoch(path: error.path, reason: error.reason)
        }
        return next
    }

    /// The first call starts a clean stop (drain, flush, wait up to `shutdownTimeout` for acknowledgements, keep
    /// the rest on disk); a second call gives up waiting for the collector.
    public func requestStop() {
        stopLock.lock()
        let again = stopping
        stopping = true
        stopLock.unlock()
        if again {
            config.log("lanner-sensor: stopping now, without waiting for the collector")
            uploader?.finish(by: Date())
        } else {
            if uploader == nil {
                config.log("lanner-sensor: stopping: draining the ring buffer into the capture")
            } else {
                config.log("lanner-sensor: stopping: flushing and waiting up to \(Int(config.shutdownTimeout)) s for the collector "
                           + "to acknowledge what was captured (signal again to quit at once); the rest is kept on disk")
            }
        }
    }

    var isStopping: Bool {
        stopLock.lock()
        defer { stopLock.unlock() }
        return stopping
    }

    /// Events lost in userspace so far: spool full (memory and disk), batches the collector rejected, records the
    /// batcher could not frame, snapshot records that could not be shipped. Carried in every batch header.
    func userDrops(_ batcher: Batcher) -> UInt64 {
        spool.droppedEvents + (uploader?.rejectedEvents ?? 0) + UInt64(batcher.malformed) + shared.snapshotFailures
            + UInt64(containers.dropped)
    }

    /// The counters for `batcher`'s next header: the kernel's (`drops`, `readFailures`) and the sensor's own losses.
    func counters(_ batcher: Batcher, kernelDrops drops: UInt64, readFailures: UInt64) -> Batcher.Counters {
        Batcher.Counters(kernelDrops: drops, userDrops: userDrops(batcher), readFailures: readFailures)
    }

    func counters(_ batcher: Batcher, _ k: KernelCounters) -> Batcher.Counters {
        counters(batcher, kernelDrops: k.dropped, readFailures: k.readFailures)
    }

    /// Runs until `requestStop()`; then drains the ring buffer, flushes, waits for the upload, and writes what the
    /// collector did not take to the disk spool.
    /// - Returns: batches lost at exit (neither acknowledged nor kept on disk).
    public func run() -> Int {
        var batcher = Batcher(identity: identity, sensorVersion: config.version, maxBytes: config.batchBytes, sequences: sequences)
        let compressor = config.compress ? Zstd.Compressor(level: config.compressionLevel) : nil
        if let uploader {
            let kept = startInterest.collectorVersion
            uploader.onAck = { [shared, config] ack in
                guard let i = ack.interest else { return }
                // A new set: the capture thread applies and logs it.
                if !shared.offer(i) && shared.confirmsKept(i.version, kept: kept) {
                    config.log("lanner-sensor: collector's interest v\(i.version) is the one kept from the last run: nothing to change")
                }
            }
            uploader.onCompressionRefused = { [shared] in shared.compressionRefused = true }
            uploader.onConnectionLost = { [weak self] in self?.resync() }
        }
        var upload: pthread_t?
        do { upload = try LoopThread.spawn(name: "lanner-upload") { [uploader] in uploader?.run() } } catch {
            config.log("lanner-sensor: cannot start the upload thread (\(error)): batches stay spooled and are kept on disk at exit")
        }
        let destination = [config.endpoint.map { "shipping to \($0)" }, config.capturePath.map { "writing \($0)" }]
            .compactMap { $0 }.joined(separator: " and ")
        config.log("lanner-sensor \(config.version): sensor \(identity.sensorID) on \(identity.hostname), "
                   + "\(probe.programNames.count) eBPF programs attached, capturing \(startInterest.summary), \(destination)"
                   + (config.compress ? ", zstd level \(config.compressionLevel)" : ", uncompressed")
                   + (spool.recovered.batches > 0
                      ? "; resending \(spool.recovered.batches) batch(es) (\(spool.recovered.events) events) a previous run left on disk"
                      : ""))
        var lastEmit = Date()
        /// A finished batch goes to the capture file (exactly the bytes shipped) and to the spool.
        func emit(_ b: Batcher.Finished) {
            var b = b
            if let compressor, !shared.compressionRefused, let packed = BatchCompression.compress(b.body, with: compressor) {
                b.body = packed
            }
            if let capture {
                do { try capture.append(b.body) } catch {
                    config.log("lanner-sensor: writing the capture failed: \(error); capture stopped")
                }
            }
            if uploader != nil { spool.push(b) } else { offlineEvents += UInt64(b.events) }
            lastEmit = Date()
        }

        // What was running before we started (containers, then processes), and the user database, go first.
        var userWatch = UserDB.Watch()
        var lastUserCheck = Date()
        containers.start()
        var snapshot = containers.takePending()
        snapshot += ProcSnapshot.records(excludingTgid: UInt32(getpid()), argvLimit: config.probe.argvLimit)
        snapshot += UserDB.records().records
        snapshotRecords = snapshot.count
        for r in snapshot {
            r.withUnsafeBytes { raw in
                if let b = batcher.add(raw) { emit(b) }
            }
        }
        if let b = batcher.finish() { emit(b) }
        snapshot = []
        malloc_trim(0)   // the snapshot's records (every process's argv of the host) and libbpf's load-time data are freed

        var lastFlush = Date()
        var lastStats = Date()
        var lastTrim = Date()
        var pollFailures = 0
        var lastInterestFailure: Date?
        var capturing = startInterest.summary
        while true {
            let stop = isStopping
            applyInterest(&lastInterestFailure, capturing: &capturing)
            let kernel = probe.counters()
            shared.kernelCounters(drops: kernel.dropped, readFailures: kernel.readFailures)
            let sampled = counters(batcher, kernel)   // once per poll, not per record
            // Container metadata the runtime thread has learned goes into the stream where it stands in time: checked
            // here and before each kernel record (a busy ring buffer keeps one poll going for as long as records come).
            func addContainers() {
                for r in containers.takePending() {
                    r.withUnsafeBytes { raw in
                        if let b = batcher.add(raw, counters: sampled) { emit(b) }
                    }
                }
            }
            addContainers()
            do {
                let n = try probe.poll(timeoutMs: stop ? 0 : 50) { raw in
                    if containers.hasPending { addContainers() }
                    if let b = batcher.add(raw, counters: sampled) { emit(b) }
                }
                capturedLock.lock()   // once per poll, not per record
                captured += UInt64(n)
                capturedLock.unlock()
            } catch {
                pollFailures += 1
                if pollFailures <= 3 { config.log("lanner-sensor: ring buffer poll failed: \(error)") }
            }
            let now = Date()
            if stop || now.timeIntervalSince(lastFlush) >= config.flushInterval {
                if let b = batcher.finish(counters: counters(batcher, probe.counters())) { emit(b) }
                lastFlush = now
            }
            // Batches of up to 256 KiB come and go (built, compressed, spooled, acknowledged): what the heap holds
            // free after them goes back to the system now and then, so the sensor's RSS stays what it uses.
            if now.timeIntervalSince(lastTrim) >= Self.trimInterval {
                lastTrim = now
                malloc_trim(0)
            }
            // The user database changed (useradd, usermod): every user and group again, in event order.
            if now.timeIntervalSince(lastUserCheck) >= Self.userCheckInterval {
                lastUserCheck = now
                if let users = userWatch.changed() {
                    for r in users.records {
                        r.withUnsafeBytes { raw in
                            if let b = batcher.add(raw, counters: sampled) { emit(b) }
                        }
                    }
                    config.log("lanner-sensor: \(userWatch.passwdPath) or \(userWatch.groupPath) changed; sent \(users.records.count) users and groups again")
                }
            }
            // Heartbeat: an idle sensor still reports in (only when nothing waits: a backlog reports by itself).
            if uploader != nil, !stop, now.timeIntervalSince(lastEmit) >= config.heartbeatInterval, spool.isEmpty {
                if let b = batcher.heartbeat(counters: counters(batcher, probe.counters())) { emit(b) }
            }
            if config.statsInterval > 0 && now.timeIntervalSince(lastStats) >= config.statsInterval {
                lastStats = now
                logStats()
            }
            if stop { break }
        }
        containers.stop()
        spool.close()
        uploader?.finish(by: Date().addingTimeInterval(config.shutdownTimeout))
        capture?.close()
        if let upload { pthread_join(upload, nil) }   // the uploader returns by the deadline given to finish(by:)
        let kept = spool.persistRemaining()
        if config.statsInterval > 0 { logStats() }
        if kept.kept > 0 {
            config.log("lanner-sensor: \(kept.kept) unacknowledged batch(es) kept in \(config.stateDirectory)/spool; they are sent at the next start")
        }
        if kept.lost > 0 {
            config.log("lanner-sensor: \(kept.lost) batch(es) (\(kept.lostEvents) events) were neither acknowledged by the collector "
                       + "nor kept on disk before exit (exit status 3)")
        }
        return kept.lost
    }

    /// Capture thread: switches the kernel's event types to what the collector asked for, when that changed, and
    /// keeps it in the state directory for the next start. `capturing` describes what the kernel captures (for the
    /// log's "was").
    func applyInterest(_ lastFailure: inout Date?, capturing: inout String) {
        guard let wanted = shared.takeWantedInterest() else { return }
        do {
            try probe.setInterest(Set(wanted.events), omit: Set(wanted.omit))
            shared.applied(wanted.version)
            do { try interestFile.save(wanted) } catch {
                config.log("lanner-sensor: warning: could not keep the collector's interest in \(error); a restart while the "
                           + "collector is down captures what the previous file (or the default) says")
            }
            let omitted = probe.omitted.sorted()
            let types = wanted.events.filter { EventSelection.allKernel.contains($0) }.count
            config.log("lanner-sensor: collector's interest v\(wanted.version) (was \(capturing))"
                       + ": capturing \(types) event types in the kernel: \(wanted.names)"
                       + (omitted.isEmpty ? "" : "; leaving out \(omitted.joined(separator: ", ")) (no loaded rule reads it)"))
            capturing = "v\(wanted.version) from the collector: \(types) event types"
        } catch {
            shared.applyFailed()
            // Retried on a later acknowledgement; said at most every 10 s.
            if lastFailure.map({ Date().timeIntervalSince($0) >= 10 }) ?? true {
                lastFailure = Date()
                config.log("lanner-sensor: could not apply the collector's interest v\(wanted.version): \(error); keeping the current set")
            }
        }
    }

    /// Upload thread, after a connection that had carried batches broke: the collector may have restarted and lost
    /// this host's process state, so a fresh snapshot goes first once it is reachable again.
    func resync() {
        var b = Batcher(identity: identity, sensorVersion: config.version, maxBytes: config.batchBytes, sequences: sequences)
        var batches: [Batcher.Finished] = []
        let compressor = config.compress && !shared.compressionRefused ? Zstd.Compressor(level: config.compressionLevel) : nil
        let drops = shared.kernelDrops, readFailures = shared.readFailures
        var records = containers.knownRecords()
        records += ProcSnapshot.records(excludingTgid: UInt32(getpid()), argvLimit: config.probe.argvLimit)
        records += UserDB.records().records
        func add(_ f: Batcher.Finished?) {
            guard var f else { return }
            if let compressor, let packed = BatchCompression.compress(f.body, with: compressor) { f.body = packed }
            batches.append(f)
        }
        for r in records {
            r.withUnsafeBytes { raw in add(b.add(raw, counters: counters(b, kernelDrops: drops, readFailures: readFailures))) }
        }
        add(b.finish(counters: counters(b, kernelDrops: drops, readFailures: readFailures)))
        if b.malformed > 0 { shared.snapshotFailed(b.malformed) }
        spool.replacePriority(batches)
        config.log("lanner-sensor: connection to the collector lost; a fresh snapshot (\(records.count) containers, processes and users) goes first when it is back")
    }

    public struct Stats: Sendable {
        public var captured: UInt64
        public var snapshot: Int
        public var shipped: UInt64
        public var kernel: KernelCounters
        public var spoolDropped: UInt64
        public var rejected: UInt64
        public var pendingBatches: Int
        public var spilledBatches: Int
    }

    public var stats: Stats {
        capturedLock.lock()
        let c = captured
        capturedLock.unlock()
        return Stats(captured: c, snapshot: snapshotRecords, shipped: uploader?.shippedEvents ?? offlineEvents, kernel: probe.counters(),
                     spoolDropped: spool.droppedEvents, rejected: uploader?.rejectedEvents ?? 0, pendingBatches: spool.pending.batches,
                     spilledBatches: spool.spilledBatches)
    }

    func logStats() {
        let s = stats
        let dropped = s.kernel.dropped + s.spoolDropped + s.rejected
        config.log("lanner-sensor: captured=\(s.captured) shipped=\(s.shipped) dropped=\(dropped) "
                   + "(ring buffer full \(s.kernel.ringbufFull), scratch busy \(s.kernel.scratchBusy), spool full \(s.spoolDropped), "
                   + "rejected \(s.rejected)) read_failures=\(s.kernel.readFailures) snapshot=\(s.snapshot) "
                   + "pending_batches=\(s.pendingBatches) spilled_to_disk=\(s.spilledBatches) containers=\(containers.count)")
    }
}

/// Why the sensor cannot run, said so that the operator can fix it.
public enum AgentError: Error, CustomStringConvertible {
    case cannotRecordEpoch(path: String, reason: String)
    case epochExhausted(path: String)

    public var description: String {
        switch self {
        case .cannotRecordEpoch(let p, let why):
            return "cannot record the run epoch in \(p): \(why) (without it sequence numbers could repeat and the collector would drop batches as duplicates)"
        case .epochExhausted(let p):
            return "\(p) has reached 2^32 runs; move the state directory aside (a new sensor id starts over)"
        }
    }
}
