import FoundationEssentials
import Glibc
import LannerCore
import LannerWire

/// Hands out batch sequence numbers, shared by every batcher of one sensor run (the capture thread's, and the
/// upload thread's for a resync snapshot), so no two batches ever get the same number.
public final class SequenceSource: @unchecked Sendable {
    private let lock = PosixLock()
    private var next: UInt64

    /// - Parameter first: the run's first sequence, `run_epoch << 32 | 1`.
    public init(first: UInt64) { next = first }

    public func take() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        let n = next
        next += 1
        return n
    }

    /// The number the next batch will get.
    public var peek: UInt64 { lock.lock(); defer { lock.unlock() }; return next }
}

/// Collects records into batches: a batch is finished when it reaches `maxBytes` or when `flush` is called
/// (the agent calls it on a timer). Pure state apart from the shared sequence counter: no I/O, no clock.
public struct Batcher {
    public let identity: SensorIdentity
    public let sensorVersion: String
    public let maxBytes: Int
    var encoder: BatchEncoder
    let sequences: SequenceSource
    /// Records rejected as malformed (never expected from our own programs; counted as sensor drops).
    public private(set) var malformed = 0

    /// A finished batch: its sequence, event count and bytes.
    public struct Finished: Sendable {
        public var sequence: UInt64
        public var events: Int
        public var body: [UInt8]

        public init(sequence: UInt64, events: Int, body: [UInt8]) {
            self.sequence = sequence
            self.events = events
            self.body = body
        }
    }

    public init(identity: SensorIdentity, sensorVersion: String, maxBytes: Int = 256 << 10, sequences: SequenceSource) {
        self.identity = identity
        self.sensorVersion = sensorVersion
        self.maxBytes = maxBytes
        encoder = BatchEncoder(capacity: maxBytes + 65_536)
        self.sequences = sequences
    }

    /// A batcher with its own sequence counter starting at `firstSequence`.
    public init(identity: SensorIdentity, sensorVersion: String, maxBytes: Int = 256 << 10, firstSequence: UInt64 = 1) {
        self.init(identity: identity, sensorVersion: sensorVersion, maxBytes: maxBytes, sequences: SequenceSource(first: firstSequence))
    }

    /// The sequence number the next batch gets.
    public var nextSequence: UInt64 { sequences.peek }
    public var pendingEvents: Int { encoder.eventCount }
    public var pendingBytes: Int { encoder.byteCount }

    /// What a batch header reports besides its records (proto/README.md, "Batch"), all since the sensor started: records
    /// the kernel side lost, records the sensor lost in userspace, and kernel reads that failed (the record went out).
    public struct Counters: Sendable, Equatable {
        public var kernelDrops: UInt64
        public var userDrops: UInt64
        public var readFailures: UInt64
        public init(kernelDrops: UInt64 = 0, userDrops: UInt64 = 0, readFailures: UInt64 = 0) {
            self.kernelDrops = kernelDrops
            self.userDrops = userDrops
            self.readFailures = readFailures
        }
        public static let zero = Counters()
    }

    /// Adds one raw record; returns a finished batch, with `counters` in its header, when this record filled one.
    public mutating func add(_ record: UnsafeRawBufferPointer, counters: Counters = .zero) -> Finished? {
        var done: Finished?
        if encoder.byteCount > 0 && encoder.byteCount + record.count > maxBytes {
            done = finish(counters: counters)
        }
        do { try encoder.append(record: record) } catch { malformed += 1 }
        return done
    }

    /// Finishes the pending records as a batch (nil when there are none).
    public mutating func finish(counters: Counters = .zero) -> Finished? {
        guard encoder.eventCount > 0 else { return nil }
        return seal(counters)
    }

    /// Finishes the pending records as a batch even when there are none: an empty batch is a heartbeat (it
    /// carries the counters, and its acknowledgement the collector's interest).
    public mutating func heartbeat(counters: Counters = .zero) -> Finished? {
        seal(counters)
    }

    private mutating func seal(_ c: Counters) -> Finished? {
        let events = encoder.eventCount
        let sequence = sequences.take()   // taken first: another thread's batcher may share the counter
        let header = BatchHeader(sequence: sequence, bootTimeUnixNs: identity.bootTimeUnixNs, kernelDrops: c.kernelDrops,
                                 userDrops: c.userDrops, readFailures: c.readFailures, sensorID: identity.sensorID, bootID: identity.bootID,
                                 hostname: identity.hostname, sensorVersion: sensorVersion)
        guard let body = try? encoder.finish(header: header) else { return nil }
        return Finished(sequence: sequence, events: events, body: body)
    }
}
