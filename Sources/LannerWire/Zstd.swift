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

    /// True when `bytes` starts with zstd's frame magic.
    public static func isCompressed(_ bytes: [UInt8]) -> Bool { bytes.count >= 4 && bytes[0] == 0x28 && bytes[1] == 0xb5 && bytes[2] == 0x2f && bytes[3] == 0xfd }
}
