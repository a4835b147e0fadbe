/// Compressed batches (proto/README.md, "Compressed batches"): flag bit 0 set, the header unchanged and
/// uncompressed, the records section replaced by one zstd frame. The header's records length (byte 52) still
/// gives the records' decompressed size, so a collector knows the memory it needs before decompressing.
public enum BatchCompression {
    /// `body` (an uncompressed batch from `BatchEncoder`) with its records as one zstd frame and flag bit 0 set;
    /// nil when that would not be smaller (an empty or incompressible batch is sent as it is) or zstd failed.
    ///
    /// - Complexity: one zstd pass over the records with the compressor's reusable context.
    public static func compress(_ body: [UInt8], with compressor: Zstd.Compressor) -> [UInt8]? {
        guard body.count >= BatchHeader.fixedSize + 4 else { return nil }
        let headerLen = Int(body[8]) | Int(body[9]) << 8 | Int(body[10]) << 16 | Int(body[11]) << 24
        guard headerLen < body.count, body[12] & 1 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(headerLen + (body.count - headerLen) / 4 + 64)
        out.append(contentsOf: body[0..<headerLen])
        out[12] |= UInt8(BatchHeader.zstdRecords)
        let ok = body.withUnsafeBytes { raw in
            (try? compressor.compress(UnsafeRawBufferPointer(rebasing: raw[headerLen...]), appendingTo: &out)) != nil
        }
        guard ok else { return nil }
        return out.count < body.count ? out : nil
    }

    /// The uncompressed form of a batch body: the same header with flag bit 0 cleared, then the records. A body
    /// that is not compressed comes back unchanged. For a collector that refuses compressed batches.
    /// - Throws: `WireError` when the body is not a valid batch (the decoder's checks).
    public static func uncompressed(_ body: [UInt8], maxBatchBytes: Int = BatchDecoder.defaultMaxBatchBytes) throws(WireError) -> [UInt8] {
        let batch = try BatchDecoder.decode(body, maxBatchBytes: maxBatchBytes)
        guard batch.header.isCompressed else { return body }
        var out = batch.body
        out[12] &= ~UInt8(BatchHeader.zstdRecords)
        return out
    }
}
