/// An immutable byte string with a stable address: state tables keep strings in these so extractors can
/// hand out pointers without copying. The memory lives as long as the object.
public final class ByteString: @unchecked Sendable, CustomStringConvertible {
    public let buffer: UnsafeRawBufferPointer

    public init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let n = bytes.count
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, 1), alignment: 1)
        var i = 0
        for b in bytes { p[i] = b; i += 1 }
        buffer = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[0..<n])
    }

    public convenience init(_ s: String) { self.init(Array(s.utf8)) }

    deinit { UnsafeMutableRawPointer(mutating: buffer.baseAddress!).deallocate() }

    public var count: Int { buffer.count }
    public var isEmpty: Bool { buffer.isEmpty }
    public var string: String { String(decoding: buffer, as: UTF8.self) }
    public var description: String { string }

    public static let empty = ByteString([UInt8]())
}
