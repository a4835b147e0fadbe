import LannerWire

/// Collects records into batches: a batch is finished when it reaches `maxBytes` or when `flush` is called
/// (the agent calls it on a timer). Pure state: no I/O, no clock.
public struct Batcher {
    public let identity: SensorIdentity
    public let sensorVersion: String
    public let maxBytes: Int
    var encoder: BatchEncoder
    /// The sequence number the next batch gets (starts at 1; resets when the sensor restarts: the collector
    /// keys batches by sensor id and sequence within one run's boot).
    public private(set) var nextSequence: UInt64
    /// Records rejected as malformed (never expected from our own programs).
    public private(set) var malformed = 0

    /// A finished batch: its sequence, event count and bytes.
    public struct Finished: Sendable {
        public var sequence: UInt64
        public var events: Int
        public var body: [UInt8]
    }

    public init(identity: SensorIdentity, sensorVersion: String, maxBytes: Int = 256 << 10, firstSequence: UInt64 = 1) {
        self.identity = identity
        self.sensorVersion = sensorVersion
        self.maxBytes = maxBytes
        encoder = BatchEncoder(capacity: maxBytes + 65_536)
        nextSequence = firstSequence
    }

    public var pendingEvents: Int { encoder.eventCount }
    public var pendingBytes: Int { encoder.byteCount }

    /// Adds one raw record; returns a finished batch when this record filled one.
    public mutating func add(_ record: UnsafeRawBufferPointer, kernelDrops: UInt64, userDrops: UInt64) -> Finished? {
        var done: Finished?
        if encoder.byteCount > 0 && encoder.byteCount + record.count > maxBytes {
            done = finish(kernelDrops: kernelDrops, userDrops: userDrops)
        }
        do { try encoder.append(record: record) } catch { malformed += 1 }
        return done
    }

    /// Finishes the pending records as a batch (nil when there are none).
    public mutating func finish(kernelDrops: UInt64, userDrops: UInt64) -> Finished? {
        guard encoder.eventCount > 0 else { return nil }
        let events = encoder.eventCount
        let header = BatchHeader(sequence: nextSequence, bootTimeUnixNs: identity.bootTimeUnixNs, kernelDrops: kernelDrops,
                                 userDrops: userDrops, sensorID: identity.sensorID, bootID: identity.bootID,
                                 hostname: identity.hostname, sensorVersion: sensorVersion)
        guard let body = try? encoder.finish(header: header) else { return nil }
        nextSequence += 1
        return Finished(sequence: header.sequence, events: events, body: body)
    }
}
