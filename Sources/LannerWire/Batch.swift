/// A 16-byte identifier (sensor id, boot id), printed as lowercase hex in UUID form.
public struct ID128: Sendable, Hashable, CustomStringConvertible {
    public var bytes: [UInt8]

    /// - Precondition: `bytes.count == 16`.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16, "ID128 needs 16 bytes")
        self.bytes = bytes
    }

    /// Parses 32 hex digits, with or without dashes (e.g. /proc/sys/kernel/random/boot_id).
    public init?(hex: String) {
        let digits = hex.filter { $0 != "-" && !$0.isWhitespace }
        guard digits.count == 32 else { return nil }
        var out: [UInt8] = []
        var it = digits.makeIterator()
        while let a = it.next(), let b = it.next() {
            guard let v = UInt8(String([a, b]), radix: 16) else { return nil }
            out.append(v)
        }
        bytes = out
    }

    public static let zero = ID128(bytes: [UInt8](repeating: 0, count: 16))

    public var description: String {
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }
}

/// The header of one batch (proto/README.md, "Batch").
public struct BatchHeader: Sendable, Equatable {
    public static let magic: [UInt8] = Array("LNRB".utf8)
    /// Bytes before the hostname.
    public static let fixedSize = 88
    public static let maxHostname = 255
    public static let maxSensorVersion = 64
    /// Flag bit 0: the records section is one zstd frame (proto/README.md, "Compressed batches").
    public static let zstdRecords: UInt32 = 1
    /// Header flag bits this format version defines; a batch with any other bit set is refused.
    public static let knownFlags: UInt32 = zstdRecords
    /// The first minor version whose header carries `readFailures` (a u64 right after the sensor version).
    public static let readFailuresMinor: UInt16 = 3

    /// True when flag bit 0 (zstd-compressed records) is set.
    public var isCompressed: Bool { flags & Self.zstdRecords != 0 }

    public var versionMajor: UInt16 = WireSchema.major
    public var versionMinor: UInt16 = WireSchema.minor
    public var flags: UInt32 = 0
    /// Per-sensor sequence number, starting at 1, +1 per batch; (sensorID, sequence) identifies a batch.
    public var sequence: UInt64
    /// Wall-clock time of the sensor host's boot, ns since the Unix epoch: event `ts` + this = event time.
    public var bootTimeUnixNs: UInt64
    /// Events the kernel side lost since the sensor started (ring buffer full, summed over CPUs).
    public var kernelDrops: UInt64
    /// Events the sensor lost in userspace since it started (spool full, encode failure).
    public var userDrops: UInt64
    /// Kernel reads that failed since the sensor started, summed over CPUs (a `bpf_probe_read*` of a path, argv,
    /// sockaddr, …): each record still went out, with what could be read. Sent from minor version 3 on
    /// (`readFailuresMinor`); 0 in a batch of an older minor, which could not say.
    public var readFailures: UInt64
    public var sensorID: ID128
    public var bootID: ID128
    public var hostname: String
    public var sensorVersion: String

    public init(sequence: UInt64, bootTimeUnixNs: UInt64, kernelDrops: UInt64 = 0, userDrops: UInt64 = 0, readFailures: UInt64 = 0,
                sensorID: ID128, bootID: ID128, hostname: String, sensorVersion: String) {
        self.sequence = sequence
        self.bootTimeUnixNs = bootTimeUnixNs
        self.kernelDrops = kernelDrops
        self.userDrops = userDrops
        self.readFailures = readFailures
        self.sensorID = sensorID
        self.bootID = bootID
        self.hostname = hostname
        self.sensorVersion = sensorVersion
    }
}

/// A decoded batch: the header and its records, as views into one shared body.
public struct Batch: Sendable {
    public var header: BatchHeader
    public var records: [EventRecord]
    /// The bytes the records index into: the body as received, or for a compressed batch its uncompressed form
    /// (the header as received, then the decompressed records). Byte offsets in errors count in this form.
    public var body: [UInt8]
}

/// Builds batches: add records, then `finish` to get the body bytes.
///
/// ```swift
/// var enc = BatchEncoder()
/// try enc.append(record: rawBytesFromRingBuffer)   // or try event.encode(into: &enc.records)
/// let body = try enc.finish(header: header)
/// ```
public struct BatchEncoder: Sendable {
    /// The records so far, back to back.
    public var records: ByteWriter
    public private(set) var eventCount: Int = 0

    public init(capacity: Int = 64 << 10) {
        records = ByteWriter(capacity: capacity)
    }

    public var byteCount: Int { records.count }

    /// Appends one raw record as it came from the kernel (its first u16 is its length).
    /// - Throws: `WireError.recordLength` when the bytes are not one whole record.
    public mutating func append(record raw: UnsafeRawBufferPointer) throws(WireError) {
        guard raw.count >= WireSchema.headerSize else {
            throw WireError.recordLength(offset: records.count, length: raw.count, remaining: raw.count)
        }
        let len = Int(UInt16(littleEndian: raw.loadUnaligned(as: UInt16.self)))
        guard len >= WireSchema.headerSize, len <= raw.count else {
            throw WireError.recordLength(offset: records.count, length: len, remaining: raw.count)
        }
        records.write(bytes: UnsafeRawBufferPointer(rebasing: raw[0..<len]))
        eventCount += 1
    }

    /// Appends one raw record held in an array (see `append(record:)` for pointers).
    public mutating func append(record bytes: [UInt8]) throws(WireError) {
        var failure: WireError?
        bytes.withUnsafeBytes { raw in
            do throws(WireError) { try self.append(record: raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Appends a record encoded by a generated struct.
    public mutating func append<E: WireEncodable>(_ event: E) throws(WireError) {
        try event.encode(into: &records)
        eventCount += 1
    }

    /// The whole batch body: header then records, in the layout of the header's minor version (`readFailures`
    /// only from `BatchHeader.readFailuresMinor` on). Resets the encoder for the next batch.
    /// - Throws: `WireError.stringTooLong` for a hostname or version over the limits.
    public mutating func finish(header: BatchHeader) throws(WireError) -> [UInt8] {
        let host = Array(header.hostname.utf8)
        let version = Array(header.sensorVersion.utf8)
        guard host.count <= BatchHeader.maxHostname else {
            throw WireError.stringTooLong(field: "hostname", length: host.count, limit: BatchHeader.maxHostname)
        }
        guard version.count <= BatchHeader.maxSensorVersion else {
            throw WireError.stringTooLong(field: "sensor version", length: version.count, limit: BatchHeader.maxSensorVersion)
        }
        let carriesReadFailures = header.versionMinor >= BatchHeader.readFailuresMinor
        let headerLen = BatchHeader.fixedSize + 2 + host.count + 2 + version.count + (carriesReadFailures ? 8 : 0)
        var w = ByteWriter(capacity: headerLen + records.count)
        w.write(bytes: BatchHeader.magic)
        w.write(header.versionMajor)
        w.write(header.versionMinor)
        w.write(UInt32(headerLen))
        w.write(header.flags)
        w.write(header.sequence)
        w.write(header.bootTimeUnixNs)
        w.write(header.kernelDrops)
        w.write(header.userDrops)
        w.write(UInt32(eventCount))
        w.write(UInt32(records.count))
        w.write(bytes: header.sensorID.bytes)
        w.write(bytes: header.bootID.bytes)
        w.write(UInt16(host.count))
        w.write(bytes: host)
        w.write(UInt16(version.count))
        w.write(bytes: version)
        if carriesReadFailures { w.write(header.readFailures) }
        w.write(bytes: records.bytes)
        records.removeAll()
        eventCount = 0
        return w.bytes
    }
}

/// Something that writes itself as one wire record (every generated event struct).
public protocol WireEncodable: Sendable {
    func encode(into w: inout ByteWriter) throws(WireError)
}

/// Validates and splits batch bodies. Nothing is trusted: every length is checked before use.
public enum BatchDecoder {
    /// Largest batch body accepted, in bytes.
    public static let defaultMaxBatchBytes = 16 << 20

    /// Decodes a whole batch body.
    /// - Parameter decompressor: a reusable zstd context for compressed batches (the caller's thread's own); nil
    ///   creates one per batch.
    /// - Throws: `WireError` naming the byte offset and the reason for the first problem found.
    public static func decode(_ body: [UInt8], maxBatchBytes: Int = defaultMaxBatchBytes,
                              decompressor: Zstd.Decompressor? = nil) throws(WireError) -> Batch {
        guard body.count <= maxBatchBytes else { throw WireError.batchTooLarge(size: body.count, limit: maxBatchBytes) }
        guard body.count >= 4 else { throw WireError.truncated(what: "batch magic", offset: 0, needed: 4, available: body.count) }
        guard Array(body[0..<4]) == BatchHeader.magic else { throw WireError.badMagic(found: Array(body[0..<4])) }
        guard body.count >= BatchHeader.fixedSize + 4 else {
            throw WireError.truncated(what: "batch header", offset: 0, needed: BatchHeader.fixedSize + 4, available: body.count)
        }
        let r = EventRecord(storage: body, start: 0, length: body.count)
        let major = r.load(UInt16.self, at: 4), minor = r.load(UInt16.self, at: 6)
        guard major == WireSchema.major else {
            throw WireError.unsupportedVersion(major: major, minor: minor, supportedMajor: WireSchema.major)
        }
        let headerLen = Int(r.load(UInt32.self, at: 8))
        guard headerLen >= BatchHeader.fixedSize + 4, headerLen <= body.count else {
            throw WireError.headerLength(declared: headerLen, minimum: BatchHeader.fixedSize + 4, available: body.count)
        }
        let flags = r.load(UInt32.self, at: 12)
        guard flags & ~BatchHeader.knownFlags == 0 else {
            throw WireError.unsupportedFlags(flags: flags, known: BatchHeader.knownFlags)
        }
        let hr = EventRecord(storage: body, start: 0, length: headerLen)
        var cursor = BatchHeader.fixedSize
        let hostAt = cursor
        let host = try hr.variable(at: &cursor, field: "hostname")
        let versionAt = cursor
        let version = try hr.variable(at: &cursor, field: "sensor version")
        guard host.count <= BatchHeader.maxHostname else {
            throw WireError.headerStringTooLong(field: "hostname", offset: hostAt, length: host.count, limit: BatchHeader.maxHostname)
        }
        guard version.count <= BatchHeader.maxSensorVersion else {
            throw WireError.headerStringTooLong(field: "sensor version", offset: versionAt, length: version.count,
                                                limit: BatchHeader.maxSensorVersion)
        }
        guard let hostname = String(validating: host, as: UTF8.self) else { throw WireError.invalidUTF8(field: "hostname", offset: hostAt) }
        guard let sensorVersion = String(validating: version, as: UTF8.self) else {
            throw WireError.invalidUTF8(field: "sensor version", offset: versionAt)
        }
        // Fields of later minor versions follow the sensor version; bytes after the ones this build knows (a newer
        // minor's) are skipped by the header length.
        var readFailures: UInt64 = 0
        if minor >= BatchHeader.readFailuresMinor {
            guard cursor + 8 <= headerLen else {
                throw WireError.truncated(what: "batch header: read failures (version 1.\(BatchHeader.readFailuresMinor) on)",
                                          offset: cursor, needed: 8, available: headerLen - cursor)
            }
            readFailures = hr.load(UInt64.self, at: cursor)
            cursor += 8
        }
        var header = BatchHeader(
            sequence: r.load(UInt64.self, at: 16), bootTimeUnixNs: r.load(UInt64.self, at: 24),
            kernelDrops: r.load(UInt64.self, at: 32), userDrops: r.load(UInt64.self, at: 40), readFailures: readFailures,
            sensorID: ID128(bytes: Array(body[56..<72])), bootID: ID128(bytes: Array(body[72..<88])),
            hostname: hostname, sensorVersion: sensorVersion)
        header.versionMajor = major
        header.versionMinor = minor
        header.flags = flags
        let declaredCount = Int(r.load(UInt32.self, at: 48))
        let recordsLen = Int(r.load(UInt32.self, at: 52))
        var body = body
        if header.isCompressed {
            let limit = maxBatchBytes - headerLen
            guard recordsLen <= limit else { throw WireError.decompressedTooLarge(declared: recordsLen, limit: limit) }
            // The uncompressed form: the header as received, then the records, decompressed in place after it.
            let result = body.withUnsafeBytes { raw in
                Result { () throws(Zstd.FrameProblem) -> [UInt8] in
                    try Zstd.decompressFrame(UnsafeRawBufferPointer(rebasing: raw[headerLen...]), expectedSize: recordsLen,
                                             prefix: UnsafeRawBufferPointer(rebasing: raw[..<headerLen]), with: decompressor)
                }
            }
            switch result {
            case .success(let whole): body = whole
            case .failure(let problem): throw WireError.compressedRecords(offset: headerLen, problem: problem, declared: recordsLen)
            }
        } else {
            guard recordsLen == body.count - headerLen else {
                throw WireError.recordsLength(declared: recordsLen, actual: body.count - headerLen)
            }
        }
        var records: [EventRecord] = []
        records.reserveCapacity(min(declaredCount, recordsLen / WireSchema.headerSize))
        let allowTrailing = minor > WireSchema.minor
        // Frame and check every record on the raw bytes with the layout table (no allocation per record); the
        // first bad one, if any, is checked again by `EventRecord.validate` for its exact error.
        let storage = body
        let layouts = RecordLayouts.table
        var badRecordAt = -1
        storage.withUnsafeBytes { raw in
            layouts.withUnsafeBufferPointer { table in
                var off = headerLen
                let end = raw.count
                while off < end {
                    guard let len = RecordLayouts.check(raw, at: off, table: table, allowTrailing: allowTrailing) else {
                        badRecordAt = off
                        return
                    }
                    records.append(EventRecord(storage: storage, start: off, length: len))
                    off += len
                }
            }
        }
        if badRecordAt >= 0 { try RecordLayouts.explain(storage, at: badRecordAt, allowTrailing: allowTrailing) }
        guard records.count == declaredCount else { throw WireError.eventCount(declared: declaredCount, actual: records.count) }
        return Batch(header: header, records: records, body: storage)
    }
}
