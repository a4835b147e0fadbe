import CBPF
import Glibc
import LannerCore
import LannerHTTP2
import LannerWire

/// The Lanner eBPF programs, loaded and attached, and the ring buffer they fill.
///
/// One lifecycle, one step per call (libbpf-bootstrap): open the object → size the maps → load → write
/// the configuration maps → attach the programs the interest set needs → create the ring-buffer consumer.
/// `deinit` detaches and unloads everything.
///
/// ```swift
/// guard let path = BPFProbe.defaultObjectPath() else { fatalError("run make -C sensor") }
/// let probe = try BPFProbe(config: ProbeConfig(objectPath: path))
/// while running {
///     _ = try probe.poll(timeoutMs: 100) { record in try? encoder.append(record: record) }
/// }
/// try probe.setInterest(collectorInterest)   // live: attaches and detaches syscall hooks
/// ```
///
/// Records are the wire records of proto/events.yaml, exactly as the kernel wrote them.
/// Not thread-safe: use one probe from one thread at a time.
public final class BPFProbe {
    /// What a probe captures unless its configuration or `setInterest` says otherwise: every kernel event type but
    /// the read/write family (`EventSelection.standard`; the sensor starts with it when no collector has said what
    /// its rules need, StartInterest).
    public static let defaultInterest: Set<UInt16> = EventSelection.standard

    /// The longest record the kernel side writes (sensor/lanner_abi.h LANNER_RECORD_MAX: hdr.len is a u16).
    static let maxRecordBytes = 65535

    /// Names of the programs attached now, in attach order.
    public var programNames: [String] { attachOrder.map { plan.entries[$0].name } }
    /// Names of every program loaded from the object (attached or not), in object order.
    public var loadedProgramNames: [String] { plan.entries.filter(\.available).map(\.name) }
    /// The event types being captured (the last `setInterest`, or the configuration's).
    public private(set) var interest: Set<UInt16>
    /// The optional record parts left out (`Interest.Omit` names this probe knows; the last `setInterest`).
    public private(set) var omitted: Set<String> = []
    /// Event types this kernel cannot capture: their syscall has no tracepoint and no stand-in program.
    public var unavailableEvents: Set<UInt16> { plan.unavailableEvents }
    /// Programs detached by `setInterest` whose link the kernel has not let go of yet (`LinkReaper`).
    public var detachesPending: Int { reaper.pending }
    public let config: ProbeConfig

    private let programs: [LoadedProgram]          // parallel to plan.entries
    private let plan: ProgramPlan
    private var links: [Int: Int32] = [:]          // link fds of attached programs, by plan index
    private var attachOrder: [Int] = []
    private let reaper = LinkReaper()
    private var ring: UnsafeMutablePointer<lanner_ring>?
    private let sink: RecordSink
    private let interestFD: Int32
    private let countersFD: Int32
    private let eventsFD: Int32
    private let configFD: Int32
    private let eventSlots: UInt32
    private let cpus: Int

    /// Opens, loads and attaches the probe.
    /// - Throws: `BPFError` naming the step that failed, with the errno text and what to do.
    public init(config: ProbeConfig) throws(BPFError) {
        try config.validate()
        guard access(config.objectPath, R_OK) == 0 else { throw .objectNotFound(path: config.objectPath) }
        let loaded = try Self.openAndLoad(config)
        self.config = config
        programs = loaded.programs
        plan = loaded.plan
        cpus = loaded.cpus
        eventSlots = loaded.eventSlots
        interestFD = loaded.interestFD
        countersFD = loaded.countersFD
        eventsFD = loaded.eventsFD
        configFD = loaded.configFD
        interest = []
        sink = RecordSink()
        // From here on `self` is whole: a throw runs deinit, which detaches and closes everything.

        // 4. configuration maps: before attach, so the first event already sees them
        var key: UInt32 = 0
        let cfgRC = config.configBytes().withUnsafeBytes {
            bpf_map_update_elem(configFD, &key, $0.baseAddress, UInt64(BPF_ANY))
        }
        try Self.check(cfgRC) { .mapUpdate(map: "lanner_cfg", errno: $0) }

        // 5. attach what the interest needs (lifecycle always)
        try setInterest(config.interest, omit: config.omit)

        // 6. the consumer: the ring's data pages mapped once (libbpf's ring_buffer maps them twice, and RSS
        //    counted the ring twice); a record that wraps the end is copied (CBPF/shim.h, lanner_ring)
        guard let rb = lanner_ring_new(eventsFD, config.ringBufferBytes, Self.maxRecordBytes) else {
            throw .ringBuffer(errno: errno)
        }
        ring = rb
    }

    /// A loaded program, kept by fd: the bpf_object is closed once everything is loaded (see `openAndLoad`).
    private struct LoadedProgram {
        var section: String
        var fd: Int32                              // -1: not loaded (its hook is missing on this kernel)
    }

    private struct Loaded {
        var programs: [LoadedProgram]
        var plan: ProgramPlan
        var cpus: Int
        var eventSlots: UInt32
        var eventsFD, configFD, interestFD, countersFD: Int32
    }

    /// Steps 1-3: open, size the maps, load; then keeps only file descriptors (duplicates of every program's
    /// and map's) and closes the object, whose instructions, BTF and relocation data libbpf would otherwise
    /// keep for the sensor's lifetime (~1.8 MiB of heap for ~80 programs). Programs are attached by fd
    /// (`attach(_:)`, CBPF/shim.h).
    private static func openAndLoad(_ config: ProbeConfig) throws(BPFError) -> Loaded {
        _ = BPFLog.installed
        _ = BPFLog.drain()
        // 1. open
        guard let obj = bpf_object__open_file(config.objectPath, nil) else {
            let e = errno
            throw .open(path: config.objectPath, errno: e)
        }
        do throws(BPFError) {
            // 2. size the maps, and leave out programs whose hook this kernel lacks (before load)
            let ncpu = libbpf_num_possible_cpus()
            guard ncpu > 0 else { throw .objectMismatch("cannot count possible CPUs (errno \(-ncpu))") }
            let events = try map(obj, "lanner_events")
            let cfg = try map(obj, "lanner_cfg", valueSize: ProbeConfig.configSize)
            let interest = try map(obj, "lanner_interest", valueSize: 4)
            let counters = try map(obj, "lanner_counters", valueSize: 8)
            let scratch = try map(obj, "lanner_scratch")
            try check(bpf_map__set_max_entries(events, UInt32(config.ringBufferBytes))) { .resize(map: "lanner_events", errno: $0) }
            try check(bpf_map__set_max_entries(scratch, UInt32(ncpu))) { .resize(map: "lanner_scratch", errno: $0) }
            guard bpf_map__max_entries(counters) >= UInt32(KernelCounters.count) else {
                throw .objectMismatch("lanner_counters has \(bpf_map__max_entries(counters)) slots, expected \(KernelCounters.count)")
            }
            let handles = programs(obj)
            var entries: [ProgramPlan.Entry] = []
            for prog in handles {
                let name = String(cString: bpf_program__name(prog))
                guard let role = ProgramRole.of(program: name) else {
                    throw .objectMismatch("program \(name) follows no naming convention this loader knows")
                }
                let available = Tracefs.hookExists(section: String(cString: bpf_program__section_name(prog)))
                if !available { try check(bpf_program__set_autoload(prog, false)) { .objectMismatch("cannot leave out \(name) (errno \($0))") } }
                entries.append(ProgramPlan.Entry(name: name, role: role, available: available))
            }
            // 3. load
            let rc = bpf_object__load(obj)
            if rc != 0 { throw .load(errno: -rc, log: BPFLog.drain()) }
            var kept: [Int32] = []
            func keep(_ fd: Int32, _ what: String) throws(BPFError) -> Int32 {
                let d = fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3)
                guard d >= 0 else {
                    let e = errno
                    for k in kept { close(k) }
                    throw .keepDescriptor(of: what, errno: e)
                }
                kept.append(d)
                return d
            }
            var loadedPrograms: [LoadedProgram] = []
            for (prog, entry) in zip(handles, entries) {
                let section = String(cString: bpf_program__section_name(prog))
                loadedPrograms.append(LoadedProgram(section: section, fd: entry.available ? try keep(bpf_program__fd(prog), entry.name) : -1))
            }
            let loaded = Loaded(programs: loadedPrograms, plan: ProgramPlan(entries: entries), cpus: Int(ncpu),
                                eventSlots: bpf_map__max_entries(interest),
                                eventsFD: try keep(bpf_map__fd(events), "lanner_events"),
                                configFD: try keep(bpf_map__fd(cfg), "lanner_cfg"),
                                interestFD: try keep(bpf_map__fd(interest), "lanner_interest"),
                                countersFD: try keep(bpf_map__fd(counters), "lanner_counters"))
            bpf_object__close(obj)   // the kernel objects live on through the fds kept
            return loaded
        } catch {
            bpf_object__close(obj)
            throw error
        }
    }

    deinit {
        lanner_ring_free(ring)
        reaper.finish()
        for i in attachOrder.reversed() { if let l = links[i] { close(l) } }
        for p in programs where p.fd >= 0 { close(p.fd) }
        for fd in [eventsFD, configFD, interestFD, countersFD] { close(fd) }
    }

    /// Attaches program `i` by fd to the hook its section names; the link fd, or -errno.
    private func attach(_ i: Int) -> Int32 {
        let p = programs[i]
        guard p.fd >= 0 else { return -ENOENT }
        let parts = p.section.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return -EINVAL }
        switch parts[0] {
        case "tracepoint", "tp":
            guard let id = Tracefs.eventID(parts[1]) else { return -ENOENT }
            return lanner_attach_tracepoint(p.fd, id)
        case "raw_tracepoint", "raw_tp":
            return lanner_attach_raw_tracepoint(p.fd, parts[1])
        case "tp_btf":
            return lanner_attach_raw_tracepoint(p.fd, nil)
        default:
            return -EOPNOTSUPP
        }
    }

    /// Waits up to `timeoutMs` for the kernel's next wake-up (one per `wakeupBytes` of records; records already
    /// pending do not end the wait), then drains whatever the ring holds, also after a timeout (records below
    /// the wake-up threshold never stay behind), at most one ring's worth per call.
    ///
    /// - Parameter body: called once per record with the raw record bytes, valid only during the call.
    /// - Returns: the number of records delivered.
    /// - Throws: `BPFError.poll` when the ring buffer fails (an interrupted wait is not an error).
    /// - Complexity: no allocation per record.
    public func poll(timeoutMs: Int32, _ body: (UnsafeRawBufferPointer) -> Void) throws(BPFError) -> Int {
        guard let ring else { return 0 }
        return try withoutActuallyEscaping(body) { (escapable) throws(BPFError) -> Int in
            sink.body = escapable
            sink.delivered = 0
            defer { sink.body = nil }
            let n = lanner_ring_poll(ring, timeoutMs, onRecord, Unmanaged.passUnretained(sink).toOpaque())
            if n < 0 && n != -Int(EINTR) { throw .poll(errno: Int32(-n)) }
            return sink.delivered
        }
    }

    /// Kernel counters, summed over CPUs, with the per-CPU values in `perCPU`.
    public func counters() -> KernelCounters {
        var total = KernelCounters()
        var perCPU = [KernelCounters](repeating: KernelCounters(), count: cpus)
        var values = [UInt64](repeating: 0, count: cpus)
        for i in 0..<KernelCounters.count {
            var key = UInt32(i)
            let rc = values.withUnsafeMutableBytes { bpf_map_lookup_elem(countersFD, &key, $0.baseAddress) }
            guard rc == 0 else { continue }
            var sum: UInt64 = 0
            for c in 0..<cpus {
                sum &+= values[c]
                perCPU[c].set(i, values[c])
            }
            total.set(i, sum)
        }
        total.perCPU = perCPU
        return total
    }

    /// Switches event types on and off, live. A syscall's programs are attached only while one of the
    /// event types they produce is in `enabled`, and detached when it leaves; the process-lifecycle programs
    /// stay attached and drop unwanted types at their first check; with no syscall event wanted no syscall
    /// tracepoint is attached at all. Programs of types that stay wanted and the ring buffer are not touched,
    /// so they lose nothing.
    ///
    /// Detaching waits for the kernel (each tracepoint link's release waits for an RCU grace period, ~80 ms here,
    /// one at a time kernel-wide: narrowing every type to a dozen took 5 s), so it happens on the `LinkReaper`'s
    /// thread: a detached program is switched off in `lanner_interest` when this returns (it runs up to its first
    /// check), and its link is closed in the background (`detachesPending`). A program wanted again before its
    /// link is closed gets that link back: never two links, never a record twice.
    ///
    /// Ids that are not kernel events are ignored; `unavailableEvents` lists the ones this kernel cannot give.
    /// `omit` names optional record parts to leave empty (`Interest.Omit`); names this probe does not know are
    /// ignored (those parts stay captured). While types are being attached and detached the kernel captures
    /// the union of the old and new types and omits only what both sets omit, so nothing asked for is missed.
    /// - Throws: `BPFError.attach` or `.mapUpdate`; the probe is then left exactly as it was before the call.
    public func setInterest(_ enabled: Set<UInt16>, omit: Set<String> = []) throws(BPFError) {
        let before = interest
        let omitBefore = omitted
        let omitNow = omit.intersection(Interest.Omit.known)
        let wanted = plan.wanted(for: enabled)
        let current = Set(links.keys)
        let toAttach = plan.attachOrder(wanted.subtracting(current))
        let toDetach = plan.attachOrder(current.subtracting(wanted)).reversed()

        // the map first, so a program attached below already sees its type wanted
        try writeInterest(enabled.union(before), omit: omitNow.intersection(omitBefore))
        var added: [Int] = []
        for i in toAttach {
            let link = reaper.reclaim(program: i) ?? attach(i)
            guard link >= 0 else {
                for j in added.reversed() { if let l = links.removeValue(forKey: j) { reaper.retire(program: j, link: l) } }
                attachOrder.removeAll { added.contains($0) }
                try? writeInterest(before, omit: omitBefore)
                throw .attach(program: plan.entries[i].name, section: programs[i].section, errno: -link)
            }
            links[i] = link
            attachOrder.append(i)
            added.append(i)
        }
        for i in toDetach {
            if let l = links.removeValue(forKey: i) { reaper.retire(program: i, link: l) }
            attachOrder.removeAll { $0 == i }
        }
        try writeInterest(enabled, omit: omitNow)
        interest = enabled
        omitted = omitNow
    }

    /// The open family's records, whose `nameraw` `Interest.Omit.openNameraw` leaves empty.
    static let openFamily: Set<UInt16> = Set([EventType.open, .openat, .openat2, .creat].map(\.rawValue))

    /// The `lanner_interest` value of one event id (sensor/lanner_abi.h, LANNER_INTEREST_*).
    static func interestBits(_ id: UInt16, enabled: Set<UInt16>, omit: Set<String>) -> UInt32 {
        guard enabled.contains(id) else { return 0 }
        var v: UInt32 = 1                                           // LANNER_INTEREST_CAPTURE
        if omit.contains(Interest.Omit.openNameraw) && openFamily.contains(id) { v |= 2 }   // LANNER_INTEREST_OMIT_NAMERAW
        return v
    }

    private func writeInterest(_ enabled: Set<UInt16>, omit: Set<String>) throws(BPFError) {
        for id in 0..<eventSlots {
            var key = id
            var value = Self.interestBits(UInt16(id), enabled: enabled, omit: omit)
            try Self.check(bpf_map_update_elem(interestFD, &key, &value, UInt64(BPF_ANY))) {
                .mapUpdate(map: "lanner_interest", errno: $0)
            }
        }
    }

    /// Where lanner.bpf.o is looked for, in order: `$LANNER_BPF_OBJECT`; next to the executable;
    /// `<executable dir>/../../sensor/build/` (SwiftPM's `.build/debug` → the repository), and the same
    /// one level further up (the symlink resolved: `.build/<triple>/debug`); `/usr/lib/lanner/`.
    /// - Returns: the first readable candidate, or nil.
    public static func defaultObjectPath() -> String? {
        candidateObjectPaths().first { access($0, R_OK) == 0 }
    }

    /// Every place `defaultObjectPath()` looks, in order.
    public static func candidateObjectPaths() -> [String] {
        var out: [String] = []
        if let env = getenv("LANNER_BPF_OBJECT"), env.pointee != 0 { out.append(String(cString: env)) }
        if let exe = executablePath() {
            let dir = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            out.append(dir + "/lanner.bpf.o")
            out.append(dir + "/../../sensor/build/lanner.bpf.o")
            out.append(dir + "/../../../sensor/build/lanner.bpf.o")
        }
        out.append("/usr/lib/lanner/lanner.bpf.o")
        return out
    }

    private static func executablePath() -> String? {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buf.withUnsafeMutableBufferPointer { readlink("/proc/self/exe", $0.baseAddress!, $0.count - 1) }
        guard n > 0 else { return nil }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    // MARK: - the error funnel

    /// libbpf 1.x returns 0 or -errno; everything goes through here.
    private static func check(_ rc: Int32, _ error: (Int32) -> BPFError) throws(BPFError) {
        if rc < 0 { throw error(-rc) }
    }

    private static func map(_ obj: OpaquePointer, _ name: String, valueSize: Int? = nil) throws(BPFError) -> OpaquePointer {
        guard let m = bpf_object__find_map_by_name(obj, name) else {
            throw .objectMismatch("map \(name) is missing")
        }
        if let valueSize, Int(bpf_map__value_size(m)) != valueSize {
            throw .objectMismatch("map \(name) has \(bpf_map__value_size(m))-byte values, sensor/lanner_abi.h says \(valueSize)")
        }
        return m
    }

    private static func programs(_ obj: OpaquePointer) -> [OpaquePointer] {
        var out: [OpaquePointer] = []
        var p = bpf_object__next_program(obj, nil)
        while let prog = p {
            out.append(prog)
            p = bpf_object__next_program(obj, prog)
        }
        return out
    }
}

@available(*, unavailable)
extension BPFProbe: Sendable {}

/// Whether a program's hook exists on the running kernel (a `tracepoint/syscalls/...` section needs its
/// tracefs event; a kernel without modules has no sys_exit_init_module). Other hooks are assumed present:
/// attaching them reports any problem.
enum Tracefs {
    static let roots = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    static func hookExists(section: String) -> Bool {
        guard section.hasPrefix("tracepoint/") else { return true }
        let event = section.dropFirst("tracepoint/".count)
        guard let root = roots.first(where: { access($0 + "/events/syscalls", F_OK) == 0 }) else { return true }
        return access(root + "/events/" + event, F_OK) == 0
    }

    /// The id of tracefs event `CATEGORY/NAME` (what a perf event on the tracepoint is opened with); nil when
    /// no tracefs holds it.
    static func eventID(_ event: String) -> UInt64? {
        for root in roots {
            let fd = open(root + "/events/" + event + "/id", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var buf = [UInt8](repeating: 0, count: 32)
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return nil }
            return UInt64(String(decoding: buf[..<n], as: UTF8.self).trimmed())
        }
        return nil
    }
}

/// Closes the links of detached programs on a thread of its own (`lanner-detach`), in the order they were retired
/// (entry hooks before their exit hooks). Closing a tracepoint link waits in the kernel for an RCU grace period
/// (`perf_trace_event_unreg` → `tracepoint_synchronize_unregister`, under a kernel-wide mutex: ~70–100 ms per link
/// here, measured with strace), which on the capture thread held up polling: 61 links, 5 s without draining the ring
/// or placing container records among the events.
final class LinkReaper: @unchecked Sendable {
    private let cond = PosixCondition()
    private var queue: [(program: Int, link: Int32)] = []
    private var closing: Int?
    private var stopping = false
    private var thread: pthread_t?
    private var threadFailed = false

    /// Links queued or being closed.
    var pending: Int {
        cond.lock()
        defer { cond.unlock() }
        return queue.count + (closing == nil ? 0 : 1)
    }

    /// Hands `link`, the link of `program`, over to be closed (on the caller's thread if no thread can be started).
    func retire(program: Int, link: Int32) {
        cond.lock()
        queue.append((program, link))
        if thread == nil && !threadFailed && !stopping {
            do { thread = try LoopThread.spawn(name: "lanner-detach") { [self] in run() } } catch { threadFailed = true }
        }
        let inline = thread == nil
        cond.broadcast()
        cond.unlock()
        if inline { closeQueued() }
    }

    /// The link of `program` back when it is still waiting to be closed (the program never left its hook); when it
    /// is being closed right now, waits for that and returns nil (attach it anew).
    func reclaim(program: Int) -> Int32? {
        cond.lock()
        defer { cond.unlock() }
        if let k = queue.firstIndex(where: { $0.program == program }) { return queue.remove(at: k).link }
        while closing == program { cond.wait() }
        return nil
    }

    /// Closes what is left and stops the thread (the probe's deinit).
    func finish() {
        cond.lock()
        stopping = true
        cond.broadcast()
        let t = thread
        thread = nil
        cond.unlock()
        if let t { pthread_join(t, nil) }
        closeQueued()
    }

    private func closeQueued() {
        cond.lock()
        let links = queue.map(\.link)
        queue.removeAll()
        cond.unlock()
        for l in links { close(l) }
    }

    private func run() {
        cond.lock()
        while true {
            while queue.isEmpty && !stopping { cond.wait() }
            if queue.isEmpty { break }
            let next = queue.removeFirst()
            closing = next.program
            cond.unlock()
            close(next.link)
            cond.lock()
            closing = nil
            cond.broadcast()
        }
        cond.unlock()
    }
}

/// The state the C callback reaches through its context pointer during one `poll`.
private final class RecordSink {
    var body: ((UnsafeRawBufferPointer) -> Void)?
    var delivered = 0
}

/// ring_buffer_sample_fn: capture-free, recovers the sink from the context pointer.
private let onRecord: ring_buffer_sample_fn = { ctx, data, size in
    guard let ctx, let data else { return 0 }
    let sink = Unmanaged<RecordSink>.fromOpaque(ctx).takeUnretainedValue()
    sink.delivered += 1
    sink.body?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
