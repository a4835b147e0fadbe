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

/// Each event type's record layout as the decoder needs it (fixed part size, number of variable fields), by raw
/// type, built once from the generated schema: `BatchDecoder` frames and checks records with it without
/// allocating (`EventType.fields` builds an array on every call).
enum RecordLayouts {
    struct Layout {
        /// -1 for a raw type this version does not know (framed by its length alone).
        var fixedSize: Int32
        var variableFields: Int32
    }

    static let table: [Layout] = {
        let maxRaw = EventType.allCases.map { Int($0.rawValue) }.max() ?? 0
        var t = [Layout](repeating: Layout(fixedSize: -1, variableFields: 0), count: maxRaw + 1)
        for e in EventType.allCases {
            t[Int(e.rawValue)] = Layout(fixedSize: Int32(e.fixedSize), variableFields: Int32(e.fields.filter(\.isVariable).count))
        }
        return t
    }()

    /// The length of the record at `off` when it is well formed: a whole record within `raw`, and for a known type
    /// its fixed part present and its variable fields ending exactly at its length (or before it, with
    /// `allowTrailing`). Nil otherwise; `explain` then says why.
    @inline(__always)
    static func check(_ raw: UnsafeRawBufferPointer, at off: Int, table: UnsafeBufferPointer<Layout>, allowTrailing: Bool) -> Int? {
        let remaining = raw.count - off
        guard remaining >= WireSchema.headerSize else { return nil }
        let len = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: off, as: UInt16.self)))
        guard len >= WireSchema.headerSize, len <= remaining else { return nil }
        let type = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: off + 2, as: UInt16.self)))
        guard type < table.count, table[type].fixedSize >= 0 else { return len }
        let layout = table[type]
        var cursor = Int(layout.fixedSize)
        guard len >= cursor else { return nil }
        var n = layout.variableFields
        while n > 0 {
            guard cursor + 2 <= len else { return nil }
            cursor += 2 + Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: off + cursor, as: UInt16.self)))
            guard cursor <= len else { return nil }
            n -= 1
        }
        return cursor == len || allowTrailing ? len : nil
    }

    /// Throws the error for the record at `off`, which `check` refused.
    static func explain(_ body: [UInt8], at off: Int, allowTrailing: Bool) throws(WireError) {
        let remaining = body.count - off
        guard remaining >= WireSchema.headerSize else {
            throw WireError.recordLength(offset: off, length: remaining, remaining: remaining)
        }
        let len = Int(EventRecord(storage: body, start: off, length: 2).load(UInt16.self, at: 0))
        guard len >= WireSchema.headerSize, len <= remaining else {
            throw WireError.recordLength(offset: off, length: len, remaining: remaining)
        }
        try EventRecord(storage: body, start: off, length: len).validate(allowTrailing: allowTrailing)
        preconditionFailure("RecordLayouts.check refused the record at byte \(off) that EventRecord.validate accepts")
    }
}
