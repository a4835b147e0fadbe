import Glibc

/// What the probe loads and how it sizes and filters the kernel side. Set before `BPFProbe.init`.
public struct ProbeConfig: Sendable, Equatable {
    /// Path of lanner.bpf.o (see `BPFProbe.defaultObjectPath()`).
    public var objectPath: String
    /// Ring-buffer size in bytes: a power of two from one page to `ringBufferMiB.upperBound` MiB. Default
    /// `defaultRingBufferMiB()`.
    public var ringBufferBytes: Int
    /// The kernel wakes the consumer only when this many bytes are pending; below that, records wait for
    /// the consumer's own timer (`poll`'s timeout). Default 256 KiB.
    public var wakeupBytes: Int = 256 << 10
    /// Bytes of argv kept per exec record, 1 ... 32767. Default 4096.
    public var argvLimit: Int = 4096
    /// Processes whose events the kernel drops (at most 8). Default: this process.
    public var ignoredTgids: [UInt32]
    /// Event ids captured from the start (`BPFProbe.setInterest` changes them live). Default:
    /// `BPFProbe.defaultInterest`.
    public var interest: Set<UInt16>
    /// Optional record parts left out from the start (`Interest.Omit` names). Default: none.
    public var omit: Set<String> = []

    public init(objectPath: String, ringBufferBytes: Int = defaultRingBufferMiB() << 20, wakeupBytes: Int = 256 << 10,
                argvLimit: Int = 4096, ignoredTgids: [UInt32] = [UInt32(getpid())],
                interest: Set<UInt16> = BPFProbe.defaultInterest) {
        self.objectPath = objectPath
        self.ringBufferBytes = ringBufferBytes
        self.wakeupBytes = wakeupBytes
        self.argvLimit = argvLimit
        self.ignoredTgids = ignoredTgids
        self.interest = interest
    }

    /// The default ring size: 2 MiB per CPU (records come from every CPU, one consumer drains them), as a power of
    /// two between 4 and 64 MiB; 4 MiB on a 2-CPU host. The ring's pages are mapped into the sensor, so they are
    /// most of its RSS: 4 MiB hold ~70,000 records of the open loop, 0.1 s of both CPUs at full speed, while
    /// the consumer is woken every 256 KiB (docs/BENCHMARKS.md, "Sensor overhead").
    public static func defaultRingBufferMiB(cpus: Int = sysconf(Int32(_SC_NPROCESSORS_CONF))) -> Int {
        let want = max(4, min(64, 2 * max(1, cpus)))
        var size = 4
        while size < want { size <<= 1 }
        return size
    }

    /// The ring sizes `lanner-sensor --ring-buffer-mb` takes, in MiB; a power of two in this range. The kernel wants a
    /// power of two of at least a page (and at most 2 GiB, `max_entries` being a u32); it allocates the whole ring
    /// when the map is made, pinned and unswappable, and the sensor maps it, so every page the kernel fills becomes
    /// the sensor's RSS (4 of today's ~19 MiB are the default ring: docs/BENCHMARKS.md). 256 MiB hold about 4.5
    /// million open records, some seconds of both CPUs opening files at full speed: a consumer that falls further
    /// behind than that is short of CPU, which a larger ring does not give it. 1 MiB still holds ~17,000 records and
    /// four of the 256 KiB wake-ups.
    public static let ringBufferMiB: ClosedRange<Int> = 1...256

    /// Upper bounds shared with sensor/lanner_abi.h.
    public static let maxIgnored = 8
    public static let maxArgvLimit = 32767

    func validate() throws(BPFError) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let most = Self.ringBufferMiB.upperBound << 20
        guard ringBufferBytes >= page, ringBufferBytes & (ringBufferBytes - 1) == 0, ringBufferBytes <= most else {
            throw .invalidConfig("ringBufferBytes \(ringBufferBytes) must be a power of two between \(page) and \(most >> 20) MiB")
        }
        guard wakeupBytes >= 0 else { throw .invalidConfig("wakeupBytes \(wakeupBytes) must not be negative") }
        guard (1...Self.maxArgvLimit).contains(argvLimit) else {
            throw .invalidConfig("argvLimit \(argvLimit) must be in 1...\(Self.maxArgvLimit)")
        }
        guard ignoredTgids.count <= Self.maxIgnored else {
            throw .invalidConfig("at most \(Self.maxIgnored) ignored processes, got \(ignoredTgids.count)")
        }
    }

    /// The `lanner_cfg` map value: struct lanner_config in sensor/lanner_abi.h (48 bytes, little-endian).
    func configBytes() -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(Self.configSize)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        put(UInt64(wakeupBytes))
        put(UInt32(argvLimit))
        put(UInt32(ignoredTgids.count))
        for i in 0..<Self.maxIgnored { put(i < ignoredTgids.count ? ignoredTgids[i] : 0) }
        return b
    }

    static let configSize = 48
}

/// Kernel-side counters, summed over CPUs (sensor/lanner_abi.h `enum lanner_counter`).
public struct KernelCounters: Sendable, Equatable {
    /// Records written to the ring buffer.
    public var emitted: UInt64 = 0
    /// Records lost because the ring buffer was full.
    public var ringbufFull: UInt64 = 0
    /// User or kernel reads that failed; the record was still emitted with what was read.
    public var readFailures: UInt64 = 0
    /// Records lost because the CPU's workspace was busy (a program preempted by another).
    public var scratchBusy: UInt64 = 0
    /// Paths cut short (more than 64 components or 4095 bytes).
    public var pathTruncated: UInt64 = 0
    /// The same counters for each possible CPU.
    public var perCPU: [KernelCounters] = []

    public init() {}

    /// Records the kernel lost: ring buffer full plus workspace busy.
    public var dropped: UInt64 { ringbufFull + scratchBusy }

    static let count = 5

    mutating func set(_ index: Int, _ v: UInt64) {
        switch index {
        case 0: emitted = v
        case 1: ringbufFull = v
        case 2: readFailures = v
        case 3: scratchBusy = v
        default: pathTruncated = v
        }
    }
}
