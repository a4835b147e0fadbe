/// The type of one field on the wire (proto/events.yaml `type`).
public enum WireFieldType: String, Sendable {
    case u8, u16, u32, u64, i32, i64, bytes16, str, strlist
}

/// One field of an event as the generated tables describe it.
public struct WireField: Sendable, Equatable {
    public var name: String
    public var type: WireFieldType
    /// For fixed-size fields: byte offset from the record start. For variable ones: index among the variable fields.
    public var position: Int

    public init(name: String, type: WireFieldType, position: Int) {
        self.name = name
        self.type = type
        self.position = position
    }

    public var isVariable: Bool { type == .str || type == .strlist }
}

/// A view of one record inside a batch body: no copy, only the shared array and a range.
/// Construct through `BatchDecoder`, which has validated lengths; the accessors then cannot run out of bounds.
public struct EventRecord: Sendable {
    public let storage: [UInt8]
    /// Offset of the record's first byte in `storage`.
    public let start: Int
    /// Record length in bytes (the header's `len`).
    public let length: Int

    @inlinable public init(storage: [UInt8], start: Int, length: Int) {
        self.storage = storage
        self.start = start
        self.length = length
    }

    /// Reads a little-endian integer at `offset` from the record start. Precondition: within the record.
    @inlinable public func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= length, "read past record end")
        return storage.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: start + offset, as: T.self)) }
    }

    public var rawType: UInt16 { load(UInt16.self, at: 2) }
    public var eventType: EventType? { EventType(rawValue: rawType) }
    public var pid: UInt32 { load(UInt32.self, at: 4) }
    public var tid: UInt32 { load(UInt32.self, at: 8) }
    public var ts: UInt64 { load(UInt64.self, at: 12) }

    /// `count` raw bytes at `offset` from the record start, as a slice of the batch (no copy).
    public func bytes(at offset: Int, count: Int) -> ArraySlice<UInt8> {
        precondition(offset >= 0 && offset + count <= length, "read past record end")
        return storage[(start + offset)..<(start + offset + count)]
    }

    /// Reads the variable field at `cursor` (u16 length + bytes) and advances the cursor past it.
    /// - Throws: `WireError.fieldOverrun` when the length runs past the record.
    public func variable(at cursor: inout Int, field: String) throws(WireError) -> ArraySlice<UInt8> {
        guard cursor + 2 <= length else {
            throw WireError.fieldOverrun(field: field, offset: start + cursor, length: 2, recordEnd: start + length)
        }
        let n = Int(load(UInt16.self, at: cursor))
        guard cursor + 2 + n <= length else {
            throw WireError.fieldOverrun(field: field, offset: start + cursor, length: n, recordEnd: start + length)
        }
        let slice = storage[(start + cursor + 2)..<(start + cursor + 2 + n)]
        cursor += 2 + n
        return slice
    }

    /// Checks that a record of a known type has its fixed part and that its variable fields end exactly at
    /// the record end. Unknown types (from a newer minor version) pass: their length alone frames them, and
    /// `allowTrailing` (set for batches of a newer minor version) accepts fields appended after ours.
    public func validate(allowTrailing: Bool = false) throws(WireError) {
        guard let t = eventType else { return }
        guard length >= t.fixedSize else { throw WireError.recordTooShort(type: rawType, offset: start, length: length, minimum: t.fixedSize) }
        var cursor = t.fixedSize
        for f in t.fields where f.isVariable { _ = try variable(at: &cursor, field: f.name) }
        if cursor != length && !allowTrailing { throw WireError.trailingBytes(type: rawType, offset: start + cursor, count: length - cursor) }
    }
}
