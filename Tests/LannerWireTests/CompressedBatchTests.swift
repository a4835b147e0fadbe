import Foundation
import Testing
import LannerWire

/// Compressed batches (flag bit 0): what is compressed, the size limit, and every way the frame can lie.
@Suite struct CompressedBatchTests {
    typealias A = AdversarialWireTests

    /// A batch of `records` compressed by the sensor's path.
    static func compressed(_ records: [[UInt8]], level: Int32 = 3) throws -> (plain: [UInt8], packed: [UInt8]) {
        let plain = A.batch(records)
        let packed = try #require(BatchCompression.compress(plain, with: Zstd.Compressor(level: level)))
        return (plain, packed)
    }

    static var manyRecords: [[UInt8]] { (0..<200).map { A.openat(pid: UInt32(100 + $0 % 3)) } + [A.execve(), A.exit()] }

    /// The header's length: where the records section (compressed or not) starts.
    static func headerLength(_ b: [UInt8]) -> Int { Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24 }

    @Test func roundTripKeepsTheHeaderAndDecodesToTheSameRecords() throws {
        let (plain, packed) = try Self.compressed(Self.manyRecords)
        #expect(packed.count < plain.count / 4, "\(packed.count) vs \(plain.count) bytes")
        let hl = Self.headerLength(plain)
        #expect(Array(packed[0..<hl]) == Array(plain[0..<12]) + [plain[12] | 1] + Array(plain[13..<hl]),
                "only flag bit 0 changes in the header; the records length still says the decompressed size")
        let a = try BatchDecoder.decode(plain), b = try BatchDecoder.decode(packed)
        #expect(b.header.isCompressed && !a.header.isCompressed)
        #expect(b.body == a.body.enumerated().map { $0.offset == 12 ? $0.element | 1 : $0.element })
        #expect(b.records.map(\.start) == a.records.map(\.start), "record offsets count in the uncompressed form")
        #expect(b.records.count == 202)
        #expect(try BatchCompression.uncompressed(packed) == plain)
        #expect(try BatchCompression.uncompressed(plain) == plain)
    }

    @Test func emptyAndIncompressibleBatchesAreNotCompressed() throws {
        let c = Zstd.Compressor()
        #expect(BatchCompression.compress(A.batch([]), with: c) == nil)
        var rng = SplitMix(seed: 7)
        let noise = (0..<2000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        #expect(BatchCompression.compress(A.batch([A.record(type: 999, body: noise)]), with: c) == nil)
        // Already compressed: left alone.
        let (_, packed) = try Self.compressed(Self.manyRecords)
        #expect(BatchCompression.compress(packed, with: c) == nil)
    }

    @Test func aRecordErrorInsideACompressedBatchNamesTheSameOffsetAsUncompressed() throws {
        let recs = [A.openat(), A.record(type: 1, body: [0, 0, 0])] + (0..<30).map { _ in A.openat() }
        let plain = A.batch(recs)
        let packed = try #require(BatchCompression.compress(plain, with: Zstd.Compressor()))
        let e1 = A.failure(plain), e2 = A.failure(packed)
        #expect(e1 != nil && e1 == e2, "\(String(describing: e1)) vs \(String(describing: e2))")
    }

    @Test func notAFrameOrTrailingBytesOrWrongSizeAreLocated() throws {
        let (plain, packed) = try Self.compressed(Self.manyRecords)
        let hl = Self.headerLength(packed)
        let recordsLen = plain.count - hl

        // Flag set on an uncompressed body.
        var flagged = plain
        flagged[12] |= 1
        #expect(A.failure(flagged) == .compressedRecords(offset: hl, problem: .notAFrame, declared: recordsLen))

        // Bytes after the frame.
        let trailing = packed + [1, 2, 3]
        #expect(A.failure(trailing) == .compressedRecords(offset: hl, problem: .trailing(frameSize: packed.count - hl, extra: 3),
                                                          declared: recordsLen))
        #expect(A.failure(trailing)!.description.contains("ends at byte \(packed.count)"))

        // The header declares another decompressed size than the frame holds.
        var lying = packed
        let wrong = UInt32(recordsLen - 1)
        for k in 0..<4 { lying[52 + k] = UInt8(truncatingIfNeeded: wrong >> (8 * UInt32(k))) }
        #expect(A.failure(lying) == .compressedRecords(offset: hl, problem: .contentSize(declared: UInt64(recordsLen)),
                                                       declared: recordsLen - 1))

        // A frame that does not record its size (a streaming encoder's): refused, not decoded unbounded.
        let raw = Array(plain[hl...])
        var frame: [UInt8] = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58]   // no content size, window 16 MiB
        let bh = UInt32(1) | UInt32(raw.count) << 3                 // last block, raw, size
        frame += [UInt8(bh & 0xff), UInt8(bh >> 8 & 0xff), UInt8(bh >> 16 & 0xff)] + raw
        let unknown = Array(packed[0..<hl]) + frame
        #expect(A.failure(unknown) == .compressedRecords(offset: hl, problem: .unknownContentSize, declared: recordsLen))
    }

    @Test func aDecompressionBombIsRefusedBeforeAnyAllocation() throws {
        // 64 MiB of zeros compress to a few KiB; the header says so honestly.
        let zeros = [UInt8](repeating: 0, count: 64 << 20)
        let frame = try Zstd.compress(zeros, level: 1)
        var h = A.batch([])
        let n = UInt32(zeros.count)
        for k in 0..<4 { h[52 + k] = UInt8(truncatingIfNeeded: n >> (8 * UInt32(k))) }
        h[12] |= 1
        let body = h + frame
        let hl = Self.headerLength(body)
        #expect(A.failure(body) == .decompressedTooLarge(declared: zeros.count, limit: BatchDecoder.defaultMaxBatchBytes - hl))
        #expect(A.failure(body)!.description.contains("at byte 52"))
    }

    /// A flipped byte anywhere in the frame is an error naming an offset, or (a bit zstd never reads) decodes to
    /// exactly the original records: never to different records.
    @Test func damagedFramesAreCaughtByTheChecksum() throws {
        let (_, packed) = try Self.compressed(Self.manyRecords)
        let original = try BatchDecoder.decode(packed).body
        let hl = Self.headerLength(packed)
        var caught = 0
        for at in hl..<packed.count {
            var b = packed
            b[at] ^= 0x5a
            do {
                let decoded = try BatchDecoder.decode(b)
                #expect(decoded.body == original, "flipping byte \(at) of the frame changed the records unnoticed")
            } catch {
                #expect(A.namesOffset(error), "\(error)")
                caught += 1
            }
        }
        #expect(caught > (packed.count - hl) * 9 / 10)
    }

    @Test func randomMutationsOfCompressedBatchesNeverCrashAndNameAnOffset() throws {
        var rng = SplitMix(seed: 0xc0ffee)
        let seeds = [try Self.compressed(Self.manyRecords).packed, try Self.compressed(A.goodRecords + A.goodRecords).packed]
        var rejected = 0
        for i in 0..<5_000 {
            var b = seeds[i % seeds.count]
            A.mutate(&b, &rng)
            if let e = A.failure(b) {
                rejected += 1
                #expect(A.namesOffset(e), "\(A.caseName(e)): \(e)")
            }
        }
        #expect(rejected > 4_000)
    }

    @Test func everyLevelDecodes() throws {
        for level: Int32 in [1, 3, 9, 19] {
            let (plain, packed) = try Self.compressed(Self.manyRecords, level: level)
            #expect(try BatchDecoder.decode(packed).body.count == plain.count)
        }
    }
}
