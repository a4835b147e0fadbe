/// Capture files: what a sensor shipped, batch by batch, so it can be replayed (`lanner-sensor -w`,
/// `lanner-collector replay`, `lanner-collector rules test`).
///
/// Layout (little-endian): magic `LNRC`, u16 format major (1), u16 format minor (0), u32 reserved (0),
/// then for each batch: u32 body length + the batch body exactly as sent (proto/README.md). The batch
/// header inside each body carries the wire schema version, so files stay readable across versions.
public enum Capture {
    public static let magic: [UInt8] = Array("LNRC".utf8)
    public static let major: UInt16 = 1
    public static let minor: UInt16 = 0
    public static let fileHeaderSize = 12

    public static func fileHeader() -> [UInt8] {
        var w = ByteWriter(capacity: fileHeaderSize)
        w.write(bytes: magic)
        w.write(major)
        w.write(minor)
        w.write(UInt32(0))
        return w.bytes
    }

    /// One framed batch.
    public static func frame(_ body: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: body.count + 4)
        w.write(UInt32(body.count))
        w.write(bytes: body)
        return w.bytes
    }

    public enum Failure: Error, Equatable, CustomStringConvertible, Sendable {
        case notACapture
        case unsupportedVersion(UInt16, UInt16)
        case truncated(offset: Int, needed: Int, available: Int)
        /// Batch `index` (counted from 0 over the file's frames, good or not), framed at byte `offset`, could not be
        /// read for `reason` and was skipped (`skipped` bytes, its frame included); reading went on as `resume` says.
        case damaged(index: Int, offset: Int, reason: String, skipped: Int, resume: Resume)
        case compressed(String)

        public var description: String {
            switch self {
            case .notACapture: return "not a Lanner capture file (magic is not \"LNRC\")"
            case .unsupportedVersion(let a, let b): return "capture format \(a).\(b) is not supported (this build reads major \(Capture.major))"
            case .truncated(let o, let n, let a): return "capture truncated at byte \(o): a batch of \(n) bytes, \(a) left"
            case .damaged(let i, let o, let why, let n, let resume):
                let head = "batch \(i) at byte \(o): \(why); skipped"
                switch resume {
                case .next: return head
                case .at(let p): return head + " \(n) bytes, to the next whole batch at byte \(p) (this frame's length is damaged too)"
                case .end: return head + " the last \(n) bytes of the file: no whole batch follows"
                }
            case .compressed(let e): return "compressed capture: \(e)"
            }
        }
    }

    /// Where reading went on after a damaged batch.
    public enum Resume: Equatable, Sendable {
        /// At the next frame, as the damaged one's length says (a batch, or the end of the file, starts there).
        case next
        /// Its length cannot be right (no batch starts where it ends): at the next frame, found by looking for a
        /// batch header (`LNRB`) that frames a batch which reads whole.
        case at(Int)
        /// Nowhere: nothing after it reads as a whole batch.
        case end
    }

    /// True when `bytes` starts like a capture file (or a zstd frame, as compressed captures do).
    public static func isCapture(_ bytes: [UInt8]) -> Bool {
        (bytes.count >= 4 && Array(bytes[0..<4]) == magic) || Zstd.isCompressed(bytes)
    }

    /// Splits a capture (plain, or a zstd-compressed file) into batch bodies, validating each; strict: any damaged
    /// batch or a cut file is an error (`read` skips them and says where).
    /// - Throws: `Failure` naming the batch and byte offset.
    public static func batches(_ input: [UInt8]) throws(Failure) -> [(batch: Batch, body: [UInt8])] {
        let r = try read(input)
        if let first = r.damaged.first { throw first }
        if let tail = r.truncatedTail { throw tail }
        return r.batches
    }

    /// What `read` found: every batch that reads whole; each damaged batch it skipped; and, when the file ends
    /// inside a batch (a sensor killed while writing), that truncation.
    public struct Contents {
        public var batches: [(batch: Batch, body: [UInt8])]
        /// `Failure.damaged` for each batch skipped, in file order.
        public var damaged: [Failure] = []
        public var truncatedTail: Failure?
    }

    /// Every batch of a capture that reads whole, in order, skipping damaged ones: a batch that fails validation
    /// (a flipped byte: a zstd checksum error, a bad record) is reported and skipped, and the batches after it are
    /// read. When a damaged frame's length does not lead to another batch, the next frame is found by looking for
    /// a batch header that frames a whole batch. A file cut short inside its last batch yields the batches before
    /// it and says where it ends: nothing that was completely written is lost.
    /// - Throws: `Failure` only when nothing can be read (not a capture, another major version, a damaged
    ///   compressed file).
    public static func read(_ input: [UInt8]) throws(Failure) -> Contents {
        var bytes = input
        if Zstd.isCompressed(input) {
            do { bytes = try Zstd.decompress(input) } catch { throw .compressed(error.description) }
        }
        guard bytes.count >= 4, Array(bytes[0..<4]) == magic else { throw .notACapture }
        guard bytes.count >= fileHeaderSize else { throw .truncated(offset: 0, needed: fileHeaderSize, available: bytes.count) }
        let maj = UInt16(bytes[4]) | UInt16(bytes[5]) << 8, min = UInt16(bytes[6]) | UInt16(bytes[7]) << 8
        guard maj == major else { throw .unsupportedVersion(maj, min) }
        var out = Contents(batches: [])
        var off = fileHeaderSize
        var index = 0
        while off < bytes.count {
            guard off + 4 <= bytes.count else {
                out.truncatedTail = .truncated(offset: off, needed: 4, available: bytes.count - off)
                break
            }
            let n = length(bytes, at: off)
            let next = off + 4 + n
            var why: String
            if next <= bytes.count {
                let body = Array(bytes[(off + 4)..<next])
                do {
                    out.batches.append((try BatchDecoder.decode(body), body))
                    off = next
                    index += 1
                    continue
                } catch {
                    why = error.description
                }
                if framesBatch(bytes, at: next) {
                    out.damaged.append(.damaged(index: index, offset: off, reason: why, skipped: 4 + n, resume: .next))
                    off = next
                    index += 1
                    continue
                }
            } else {
                // Past the end: a cut file, unless a whole batch follows (then this frame's length is damaged).
                guard let p = nextWholeBatch(bytes, after: off) else {
                    out.truncatedTail = .truncated(offset: off, needed: n, available: bytes.count - off - 4)
                    break
                }
                why = "its length (\(n) bytes) runs past the end of the file"
                out.damaged.append(.damaged(index: index, offset: off, reason: why, skipped: p - off, resume: .at(p)))
                off = p
                index += 1
                continue
            }
            if let p = nextWholeBatch(bytes, after: off) {
                out.damaged.append(.damaged(index: index, offset: off, reason: why, skipped: p - off, resume: .at(p)))
                off = p
                index += 1
            } else {
                out.damaged.append(.damaged(index: index, offset: off, reason: why, skipped: bytes.count - off, resume: .end))
                break
            }
        }
        return out
    }

    static let batchMagic: [UInt8] = Array("LNRB".utf8)

    static func length(_ b: [UInt8], at o: Int) -> Int {
        Int(UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)
    }

    /// Whether a frame can start at `o`: the end of the file, a frame cut short (a truncated tail), or one whose body
    /// starts with a batch header.
    static func framesBatch(_ b: [UInt8], at o: Int) -> Bool {
        if o + 8 > b.count { return true }
        return b[o + 4] == batchMagic[0] && b[o + 5] == batchMagic[1] && b[o + 6] == batchMagic[2] && b[o + 7] == batchMagic[3]
    }

    /// The offset of the first frame after the one at `start` whose body is a batch that decodes, or nil.
    static func nextWholeBatch(_ b: [UInt8], after start: Int) -> Int? {
        var q = start + 8   // a body's magic, at least one frame header past the damaged frame's
        while q + 4 <= b.count {
            if b[q] == batchMagic[0] && b[q + 1] == batchMagic[1] && b[q + 2] == batchMagic[2] && b[q + 3] == batchMagic[3] {
                let p = q - 4
                let n = length(b, at: p)
                if q + n <= b.count, (try? BatchDecoder.decode(Array(b[q..<(q + n)]))) != nil { return p }
            }
            q += 1
        }
        return nil
    }
}
