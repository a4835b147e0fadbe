/// Appends little-endian values to a growable byte buffer. The write side of every wire encoder.
public struct ByteWriter: Sendable {
    public internal(set) var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    public mutating func write<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write<C: Collection>(bytes b: C) where C.Element == UInt8 {
        bytes.append(contentsOf: b)
    }

    /// Writes exactly `count` bytes: `b` truncated or zero-padded.
    public mutating func writeFixed<C: Collection>(_ b: C, count: Int) where C.Element == UInt8 {
        var n = 0
        for x in b where n < count { bytes.append(x); n += 1 }
        while n < count { bytes.append(0); n += 1 }
    }

    /// Overwrites a value previously written at `offset` (e.g. a length known only at the end).
    public mutating func patch<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        withUnsafeBytes(of: v.littleEndian) { raw in
            for (i, b) in raw.enumerated() { bytes[offset + i] = b }
        }
    }

    public mutating func removeAll(keepingCapacity: Bool = true) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
    }
}
