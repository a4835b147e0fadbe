import FoundationEssentials
import Dispatch
import Glibc
import LannerHTTP2
import LannerCore
import LannerWire
import Synchronization

/// Where the sensor finds the host's container runtime.
public enum ContainerRuntimeSetting: Sendable, Equatable {
    /// The first of `ContainerWatcher.defaultSockets` that exists (checked again every `retryInterval`).
    case auto
    case socket(String)
    /// No runtime integration: container metadata fields stay `<NA>`.
    case disabled
}

/// Keeps the collector told about the host's containers. On its own thread: subscribes to the runtime's
/// /events stream first, then lists and inspects the running containers, then follows the stream —
/// `start` and `rename` are inspected again, `remove`/`destroy` become removal records. Every record goes to
/// `pending` (the capture thread puts it into the next batch, `takePending`), and the last one per container
/// is cached for the resync snapshot (`knownRecords`).
///
/// A missing socket is said once, in one line, and then looked for again quietly every `retryInterval`; a
/// lost connection is said once and retried the same way. Events of a container the collector has not been
/// told about yet are still shipped and evaluated at once (its metadata fields are `<NA>` until then).
public final class ContainerWatcher: @unchecked Sendable {
    public static let defaultSockets = ["/var/run/docker.sock", "/run/podman/podman.sock"]
    /// At most this many containers are cached (a busier host still gets every start event's record).
    public static let maxCached = 16_384
    /// At most this many records wait for the capture thread; older ones are dropped (and counted) past it.
    public static let maxPending = 65_536

    let setting: ContainerRuntimeSetting
    let retryInterval: Double
    let log: @Sendable (String) -> Void
    let verbose: Bool

    private let lock = PosixLock()
    private var cache: [String: [UInt8]] = [:]
    private var pending: [[UInt8]] = []
    /// True while `pending` holds records: read by the capture thread per kernel record without the lock.
    private let pendingFlag = Atomic<Bool>(false)
    private var _dropped = 0
    private var stopping = false
    private var stream: RuntimeStream?
    private var thread: pthread_t?
    private var firstSync = DispatchSemaphore(value: 0)
    /// What was last said about the connection, so the same problem is not said twice in a row.
    private var lastNote: String?

    public init(setting: ContainerRuntimeSetting, retryInterval: Double = 10, verbose: Bool = false,
                log: @escaping @Sendable (String) -> Void) {
        self.setting = setting
        self.retryInterval = retryInterval
        self.verbose = verbose
        self.log = log
    }

    /// Records dropped because the capture thread did not take them in time (counted as user drops).
    public var dropped: Int { lock.lock(); defer { lock.unlock() }; return _dropped }

    /// Containers currently known.
    public var count: Int { lock.lock(); defer { lock.unlock() }; return cache.count }

    /// Starts the thread and waits up to `wait` seconds for the first listing, so the sensor's first snapshot
    /// can carry the containers already running.
    public func start(wait: Double = 3) {
        guard setting != .disabled else {
            log("lanner-sensor: container runtime integration disabled (--container-socket none): container metadata fields will be <NA>")
            return
        }
        let t: pthread_t
        do { t = try LoopThread.spawn(name: "lanner-containers") { [self] in self.run() } } catch {
            log("lanner-sensor: cannot start the container runtime thread (\(error)): container metadata fields will be <NA>")
            return
        }
        lock.lock()
        thread = t
        lock.unlock()
        _ = firstSync.wait(timeout: .now() + wait)
    }

    public func stop() {
        lock.lock()
        stopping = true
        let s = stream
        let t = thread
        thread = nil
        lock.unlock()
        s?.close()
        if let t { pthread_join(t, nil) }
    }

    /// Whether records wait (one relaxed atomic load: cheap enough to ask before every kernel record, so a
    /// container's description enters the stream when it is learned even while the ring buffer never runs dry).
    @inline(__always) public var hasPending: Bool { pendingFlag.load(ordering: .relaxed) }

    /// Records waiting to be shipped, oldest first (called by the capture thread).
    public func takePending() -> [[UInt8]] {
        guard hasPending else { return [] }
        lock.lock()
        defer { lock.unlock() }
        let out = pending
        pending.removeAll(keepingCapacity: true)
        pendingFlag.store(false, ordering: .relaxed)
        return out
    }

    /// The last record of every known container (for a resync snapshot).
    public func knownRecords() -> [[UInt8]] {
        lock.lock()
        defer { lock.unlock() }
        return Array(cache.values)
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func push(_ record: [UInt8], cacheAs id: String?, remove: String? = nil) {
        lock.lock()
        defer { lock.unlock() }
        if let id {
            if cache[id] != nil || cache.count < Self.maxCached { cache[id] = record }
        }
        if let remove { cache[remove] = nil }
        if pending.count >= Self.maxPending {
            pending.removeFirst()
            _dropped += 1
        }
        pending.append(record)
        pendingFlag.store(true, ordering: .relaxed)
    }

    private func isCached(_ id: String) -> Bool { lock.lock(); defer { lock.unlock() }; return cache[id] != nil }

    /// Says `text` unless it was the last thing said about the connection.
    private func note(_ text: String) {
        guard text != lastNote else { return }
        lastNote = text
        log("lanner-sensor: " + text)
    }

    private func sleepInterruptibly(_ seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while !isStopping && Date() < deadline { usleep(100_000) }
    }

    /// The socket to use now, or nil (with the one-line note) when there is none.
    func socketPath() -> String? {
        switch setting {
        case .disabled: return nil
        case .socket(let p):
            if access(p, F_OK) == 0 { return p }
            note("no container runtime socket at \(p) (yet); container metadata fields stay <NA> until it appears (checked every \(Int(retryInterval)) s)")
            return nil
        case .auto:
            if let p = Self.defaultSockets.first(where: { access($0, F_OK) == 0 }) { return p }
            note("no container runtime socket (looked for \(Self.defaultSockets.joined(separator: ", "))); container name, image, "
                 + "privileged, mounts and labels will be <NA>: start docker or `podman system service`, or pass --container-socket PATH")
            return nil
        }
    }

    func run() {
        var signalled = false
        defer { if !signalled { firstSync.signal() } }
        while !isStopping {
            guard let path = socketPath() else {
                if !signalled { signalled = true; firstSync.signal() }
                sleepInterruptibly(retryInterval)
                continue
            }
            let client = RuntimeClient(socketPath: path)
            do {
                try follow(client) {
                    if !signalled { signalled = true; firstSync.signal() }
                }
                if !isStopping { note("the container runtime at \(path) closed its event stream; reconnecting (checked every \(Int(retryInterval)) s)") }
            } catch {
                note("\(error); container metadata of new containers stays <NA> until it answers (retrying every \(Int(retryInterval)) s)")
            }
            if !signalled { signalled = true; firstSync.signal() }
            sleepInterruptibly(retryInterval)
        }
    }

    /// One connection's life: subscribe, list, follow. `synced` runs once the listing is shipped.
    func follow(_ client: RuntimeClient, synced: () -> Void) throws(RuntimeError) {
        let prefix = RuntimeClient.apiPrefix
        let events = try client.stream(prefix + "/events?filters=" + Self.containerFilter)
        lock.lock()
        stream = events
        let stop = stopping
        lock.unlock()
        defer {
            lock.lock()
            stream = nil
            lock.unlock()
            events.close()
        }
        if stop { return }
        let versionReply = try client.get(prefix + "/version")
        let runtime = (versionReply.header("server") ?? "").lowercased().contains("libpod") ? "podman" : "docker"
        let version = (try? ContainerJSON.version(versionReply.body)).map { "\($0.version) (API \($0.api))" } ?? "?"
        let listReply = try client.get(prefix + "/containers/json")
        let ids: [String]
        do { ids = try ContainerJSON.list(listReply.body) } catch {
            throw .malformed(path: client.socketPath, request: prefix + "/containers/json", reason: error.message)
        }
        // Containers removed while we were not connected.
        for gone in knownIDs().subtracting(ids) { push(ContainerMetadata.removalRecord(id: gone, ts: ProcFiles.bootNanoseconds()), cacheAs: nil, remove: gone) }
        var described = 0
        for id in ids where inspect(client, id, runtime: runtime, announce: false) { described += 1 }
        lastNote = nil
        log("lanner-sensor: container runtime: \(runtime) \(version) at \(client.socketPath): \(described) running container(s) described")
        synced()
        while let line = try events.nextLine(stop: { isStopping }) {
            if line.isEmpty { continue }
            guard let e = try? ContainerJSON.event(line) else { continue }   // other kinds of event; a line we cannot read
            switch e.action {
            case "start", "rename", "update", "restart":
                _ = inspect(client, e.id, runtime: runtime, announce: verbose)
            case "remove", "destroy":
                if isCached(e.id) {
                    push(ContainerMetadata.removalRecord(id: e.id, ts: ProcFiles.bootNanoseconds()), cacheAs: nil, remove: e.id)
                    if verbose { log("lanner-sensor: container removed: \(e.id.prefix(12))") }
                }
            default:
                break
            }
        }
    }

    private func knownIDs() -> Set<String> { lock.lock(); defer { lock.unlock() }; return Set(cache.keys) }

    /// Inspects one container and queues its record; false when it is gone or the answer is unreadable (said).
    func inspect(_ client: RuntimeClient, _ id: String, runtime: String, announce: Bool) -> Bool {
        let path = RuntimeClient.apiPrefix + "/containers/\(id)/json"
        let meta: ContainerMetadata
        do {
            meta = try ContainerJSON.inspect(try client.get(path).body, runtime: runtime)
        } catch let e as RuntimeError {
            if !e.isNotFound { log("lanner-sensor: \(e)") }   // gone already (a short-lived --rm container) is normal
            return false
        } catch {
            log("lanner-sensor: container \(id.prefix(12)): \(error)")
            return false
        }
        let (record, leftOut) = meta.record(ts: ProcFiles.bootNanoseconds())
        push(record, cacheAs: meta.id)
        if leftOut > 0 { log("lanner-sensor: container \(meta.shortID) has more labels or mounts than a record holds; \(leftOut) left out") }
        if announce {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let nowNs = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
            let late = meta.startedUnixNs > 0 ? " \((nowNs - Int64(meta.startedUnixNs)) / 1_000_000) ms after it started" : ""
            log("lanner-sensor: container started: \(meta.shortID) \(meta.name) (\(meta.image))"
                + (meta.privileged ? " privileged" : "") + (meta.labels["io.kubernetes.pod.name"].map { " pod \($0)" } ?? "")
                + ", described" + late)
        }
        return true
    }

    /// `{"type":["container"]}`, URL-encoded.
    static let containerFilter = "%7B%22type%22%3A%5B%22container%22%5D%7D"
}
