import CZstd

/// zstd compression of whole buffers (capture files, and batches with the compressed flag).
public enum Zstd {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func compress(_ input: [UInt8], level: Int32 = 3) throws(Failure) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { o in
            input.withUnsafeBytes { i in ZSTD_compress(o.baseAddress, bound, i.baseAddress, input.count, level) }
        }
        if ZSTD_isError(n) != 0 { throw Failure(description: "zstd: " + String(cString: ZSTD_getErrorName(n))) }
        out.removeSubrange(n...)
        return out
    }

    /// Decompresses one or more concatenated frames; refuses output larger than `limit`.
    public static func decompress(_ input: [UInt8], limit: Int = 1 << 31) throws(Failure) -> [UInt8] {
        guard let ctx = ZSTD_createDStream() else { throw Failure(description: "zstd: cannot create a decompression stream") }
        defer { ZSTD_freeDStream(ctx) }
        ZSTD_initDStream(ctx)
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 8)
        var chunk = [UInt8](repeating: 0, count: 1 << 17)
        var failure: Failure?
        input.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            var inBuf = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
            while inBuf.pos < inBuf.size {
                let before = inBuf.pos
                let produced: Int = chunk.withUnsafeMutableBytes { dst in
                    var outBuf = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                    let rc = ZSTD_decompressStream(ctx, &outBuf, &inBuf)
                    if ZSTD_isError(rc) != 0 {
                        failure = Failure(description: "zstd: " + String(cString: ZSTD_getErrorName(rc)))
                        return -1
                    }
                    return outBuf.pos
                }
                if produced < 0 { return }
                out += chunk[0..<produced]
                if out.count > limit { failure = Failure(description: "zstd: output exceeds \(limit) bytes"); return }
                if produced == 0 && inBuf.pos == before {
                    failure = Failure(description: "zstd: truncated or damaged input")
                    return
                }
            }
        }
        if let failure { throw failure }
        return out
    }

    /// The linked libzstd's version, e.g. 10504 for 1.5.4.
    public static var libraryVersion: Int { Int(ZSTD_versionNumber()) }

    /// One reusable compression context (a sensor compresses every batch with it; creating a context per call
    /// costs more than compressing a small batch). Frames record their content size and end with a 32-bit
    /// checksum of the content, so damage (in transit or in a spool file) is detected, not decoded as records.
    /// Not thread-safe: one per thread.
    public final class Compressor {
        private let ctx: OpaquePointer
        public let level: Int32

        /// - Parameter level: zstd level (1 fastest … 19; 3 is zstd's default).
        public init(level: Int32 = 3) {
            ctx = ZSTD_createCCtx()
            self.level = level
            ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, level)
            ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, 1)
        }

        deinit { ZSTD_freeCCtx(ctx) }

        /// Appends one zstd frame holding `input` (its content size is recorded in the frame header) to `out`.
        public func compress(_ input: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]) throws(Failure) {
            let bound = ZSTD_compressBound(input.count)
            let start = out.count
            out.append(contentsOf: repeatElement(0, count: bound))
            let n = out.withUnsafeMutableBytes { o in
                ZSTD_compress2(ctx, o.baseAddress! + start, bound, input.baseAddress, input.count)
            }
            if ZSTD_isError(n) != 0 {
                out.removeSubrange(start...)
                throw Failure(description: "zstd: " + String(cString: ZSTD_getErrorName(n)))
            }
            out.removeSubrange((start + n)...)
        }
    }

    /// Why a single frame could not be decompressed, in terms a wire error can quote.
    public enum FrameProblem: Error, Equatable, Sendable {
        /// Not a zstd frame, or its header is damaged.
        case notAFrame
        /// The frame header does not record its content size.
        case unknownContentSize
        /// The frame header records `declared` bytes of content.
        case contentSize(declared: UInt64)
        /// The frame ends `frameSize` bytes in; `extra` bytes follow it.
        case trailing(frameSize: Int, extra: Int)
        /// libzstd's own reason (corrupt data, checksum).
        case damaged(String)
    }

    /// Decompresses exactly one zstd frame that must hold exactly `expectedSize` bytes: the frame header must
    /// record that content size, and nothing may follow the frame. Memory use is bounded by `expectedSize`,
    /// whatever the frame claims.
    public static func decompressFrame(_ src: UnsafeRawBufferPointer, expectedSize: Int) throws(FrameProblem) -> [UInt8] {
        let declared = ZSTD_getFrameContentSize(src.baseAddress, src.count)
        if declared == ZSTD_CONTENTSIZE_ERROR_VALUE { throw .notAFrame }
        if declared == ZSTD_CONTENTSIZE_UNKNOWN_VALUE { throw .unknownContentSize }
        guard declared == UInt64(expectedSize) else { throw .contentSize(declared: declared) }
        let frame = ZSTD_findFrameCompressedSize(src.baseAddress, src.count)
        if ZSTD_isError(frame) != 0 { throw .damaged(String(cString: ZSTD_getErrorName(frame))) }
        guard frame == src.count else { throw .trailing(frameSize: frame, extra: src.count - frame) }
        var out = [UInt8](repeating: 0, count: expectedSize)
        let n = out.withUnsafeMutableBytes { o in ZSTD_decompress(o.baseAddress, expectedSize, src.baseAddress, src.count) }
        if ZSTD_isError(n) != 0 { throw .damaged(String(cString: ZSTD_getErrorName(n))) }
        guard n == expectedSize else { throw .damaged("the frame produced \(n) bytes, its header says \(expectedSize)") }
        return out
    }

    /// True when `bytes` starts with zstd's frame magic.
    public static func isCompressed(_ bytes: [UInt8]) -> Bool { bytes.count >= 4 && bytes[0] == 0x28 && bytes[1] == 0xb5 && bytes[2] == 0x2f && bytes[3] == 0xfd }
}
