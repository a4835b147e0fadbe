import Foundation
import Testing
import LannerWire

/// `BatchDecoder` frames and checks records on the raw bytes with a per-type layout table (no allocation per
/// record). These tests hold it to the reference: walking the records one by one with `EventRecord.validate`, the
/// decoder's previous loop, which must give the same records or the same error for any input.
@Suite struct DecoderFramingTests {
    typealias A = AdversarialWireTests

    /// The reference: the records (offset, length) of a body whose header is valid, or the first record error.
    static func reference(_ body: [UInt8], headerLen: Int, allowTrailing: Bool) -> Result<[Int], WireError> {
        var off = headerLen
        var starts: [Int] = []
        while off < body.count {
            let remaining = body.count - off
            guard remaining >= WireSchema.headerSize else {
                return .failure(.recordLength(offset: off, length: remaining, remaining: remaining))
            }
            let len = Int(body[off]) | Int(body[off + 1]) << 8
            guard len >= WireSchema.headerSize, len <= remaining else { return .failure(.recordLength(offset: off, length: len, remaining: remaining)) }
            do { try EventRecord(storage: body, start: off, length: len).validate(allowTrailing: allowTrailing) } catch { return .failure(error) }
            starts.append(off)
            off += len
        }
        return .success(starts)
    }

    /// Every known event type's record: the generated encoders' output for a record with every variable field set.
    static var everyType: [[UInt8]] {
        EventType.allCases.map { t in
            var body = [UInt8](repeating: 0, count: t.fixedSize - WireSchema.headerSize)
            for (i, f) in t.fields.enumerated() where f.isVariable {
                let s = Array("\(f.name)-\(i)".utf8)
                body += [UInt8(s.count), 0] + s
            }
            return A.record(type: t.rawValue, body: body)
        }
    }

    @Test func everyEventTypeFramesAsTheReferenceDoes() throws {
        let recs = Self.everyType + [A.record(type: 999, body: [1, 2, 3])]
        let body = A.batch(recs)
        let b = try BatchDecoder.decode(body)
        let hl = CompressedBatchTests.headerLength(body)
        #expect(try Self.reference(body, headerLen: hl, allowTrailing: false).get() == b.records.map(\.start))
        #expect(b.records.map(\.length) == recs.map(\.count))
        #expect(b.records.count == EventType.allCases.count + 1)
    }

    /// Each way a record can be wrong, in each event type: the decoder names the same error as the reference.
    @Test func eachFieldErrorOfEachTypeMatchesTheReference() throws {
        for (i, rec) in Self.everyType.enumerated() {
            let t = EventType.allCases[i]
            var variants: [[UInt8]] = []
            variants.append(Array(rec.prefix(t.fixedSize - 1)))                // fixed part cut short
            variants.append(rec + [0])                                         // a trailing byte
            if t.fields.contains(where: \.isVariable) {
                variants.append(Array(rec.dropLast()))                         // last field runs past the end
                var long = rec
                long[t.fixedSize] = 0xff                                       // first field's length too large
                variants.append(long)
            }
            for v in variants {
                var r = v
                r[0] = UInt8(v.count & 0xff); r[1] = UInt8(v.count >> 8)       // the record's len says its real size
                let body = A.batch([A.openat(), r, A.exit()])
                let expected = Self.reference(body, headerLen: CompressedBatchTests.headerLength(body), allowTrailing: false)
                guard case .failure(let want) = expected else {
                    Issue.record("\(t.name): the reference accepted a broken record")
                    continue
                }
                #expect(A.failure(body) == want, "\(t.name)")
            }
        }
    }

    /// A newer minor version may append fields: trailing bytes pass there and only there.
    @Test func trailingBytesPassOnlyForANewerMinor() throws {
        let recs = [A.execve(trailing: [9, 9, 9]), A.openat()]
        #expect(A.failure(A.batch(recs, minor: WireSchema.minor)) != nil)
        let b = try BatchDecoder.decode(A.batch(recs, minor: WireSchema.minor + 1))
        #expect(b.records.map(\.length) == recs.map(\.count))
    }

    /// Random damage to a valid batch: whatever the decoder says (records or an error) is what the reference says.
    @Test func randomMutationsDecodeExactlyAsTheReference() throws {
        var rng = SplitMix(seed: 42)
        let base = A.batch(Self.everyType + [A.openat(), A.execve(), A.exit()])
        let hl = CompressedBatchTests.headerLength(base)
        var checked = 0, accepted = 0
        for _ in 0..<20_000 {
            var records = Array(base[hl...])
            A.mutate(&records, &rng)
            // Keep the header valid (records length and count follow the mutation) so the record walk is reached.
            let body = Array(base[..<hl]) + records
            var fixed = body
            let n = records.count
            for k in 0..<4 { fixed[52 + k] = UInt8(truncatingIfNeeded: n >> (8 * k)) }
            let expected = Self.reference(fixed, headerLen: hl, allowTrailing: false)
            if case .success(let starts) = expected {
                for k in 0..<4 { fixed[48 + k] = UInt8(truncatingIfNeeded: starts.count >> (8 * k)) }
                let b = try BatchDecoder.decode(fixed)
                #expect(b.records.map(\.start) == starts)
                accepted += 1
            } else if case .failure(let want) = expected {
                #expect(A.failure(fixed) == want)
            }
            checked += 1
        }
        #expect(checked == 20_000)
        #expect(accepted > 100 && accepted < 19_000, "the mutations should produce both good and bad batches (\(accepted) good)")
    }

    /// One decompression context serves many batches, also after a damaged one.
    @Test func aReusedDecompressorDecodesEveryBatchAlsoAfterADamagedOne() throws {
        let d = Zstd.Decompressor()
        let (plain, packed) = try CompressedBatchTests.compressed(CompressedBatchTests.manyRecords)
        var damaged = packed
        damaged[damaged.count - 10] ^= 0x55
        let want = try BatchDecoder.decode(plain)
        for round in 0..<5 {
            let b = try BatchDecoder.decode(packed, decompressor: d)
            #expect(b.records.map(\.start) == want.records.map(\.start), "round \(round)")
            #expect(Array(b.body[CompressedBatchTests.headerLength(plain)...]) == Array(plain[CompressedBatchTests.headerLength(plain)...]))
            #expect(throws: WireError.self) { try BatchDecoder.decode(damaged, decompressor: d) }
        }
        // The same error with or without the shared context.
        #expect(A.failure(damaged) != nil)
        do { _ = try BatchDecoder.decode(damaged, decompressor: d) } catch { #expect(error == A.failure(damaged)) }
    }

    /// A frame of no content (a hostile or odd sender's compressed empty batch) decodes to nothing, without a crash.
    @Test func anEmptyFrameDecodesToNoRecords() throws {
        let empty = try Zstd.compress([])
        let content = try empty.withUnsafeBytes { try Zstd.decompressFrame($0, expectedSize: 0) }
        #expect(content.isEmpty)
        let header = A.batch([], flags: 1)
        let b = try BatchDecoder.decode(header + empty, decompressor: Zstd.Decompressor())
        #expect(b.records.isEmpty && b.header.isCompressed)
        #expect(b.body == header)
    }
}
