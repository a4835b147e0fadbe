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
        case batch(index: Int, offset: Int, WireError)
        case compressed(String)

        public var description: String {
            switch self {
            case .notACapture: return "not a Lanner capture file (magic is not \"LNRC\")"
            case .unsupportedVersion(let a, let b): return "capture format \(a).\(b) is not supported (this build reads major \(Capture.major))"
            case .truncated(let o, let n, let a): return "capture truncated at byte \(o): a batch of \(n) bytes, \(a) left"
            case .batch(let i, let o, let e): return "batch \(i) at byte \(o): \(e)"
            case .compressed(let e): return "compressed capture: \(e)"
            }
        }
    }

    /// True when `bytes` starts like a capture file (or a zstd frame, as compressed captures do).
    public static func isCapture(_ bytes: [UInt8]) -> Bool {
        (bytes.count >= 4 && Array(bytes[0..<4]) == magic) || Zstd.isCompressed(bytes)
    }

    /// Splits a capture (plain, or a zstd-compressed file) into batch bodies, validating each.
    /// - Throws: `Failure` naming the batch and byte offset.
    public static func batches(_ input: [UInt8]) throws(Failure) -> [(batch: Batch, body: [UInt8])] {
        let r = try read(input)
        if let tail = r.truncatedTail { throw tail }
        return r.batches
    }

    /// What `read` found: every whole batch, and, when the file ends inside a batch (a sensor killed while
    /// writing), that truncation; the batches before it are good.
    public struct Contents {
        public var batches: [(batch: Batch, body: [UInt8])]
        public var truncatedTail: Failure?
    }

    /// As `batches`, but a file cut short inside its last batch yields the whole batches before it and says
    /// where it ends, instead of failing: nothing that was completely written is lost.
    /// - Throws: `Failure` for anything else (not a capture, another major version, a corrupt batch).
    public static func read(_ input: [UInt8]) throws(Failure) -> Contents {
        var bytes = input
        if Zstd.isCompressed(input) {
            do { bytes = try Zstd.decompress(input) } catch { throw .compressed(error.description) }
        }
        guard bytes.count >= 4, Array(bytes[0..<4]) == magic else { throw .notACapture }
        guard bytes.count >= fileHeaderSize else { throw .truncated(offset: 0, needed: fileHeaderSize, available: bytes.count) }
        let maj = UInt16(bytes[4]) | UInt16(bytes[5]) << 8, min = UInt16(bytes[6]) | UInt16(bytes[7]) << 8
        guard maj == major else { throw .unsupportedVersion(maj, min) }
        var off = fileHeaderSize
        var out: [(Batch, [UInt8])] = []
        while off < bytes.count {
            guard off + 4 <= bytes.count else {
                return Contents(batches: out, truncatedTail: .truncated(offset: off, needed: 4, available: bytes.count - off))
            }
            let n = Int(UInt32(bytes[off]) | UInt32(bytes[off + 1]) << 8 | UInt32(bytes[off + 2]) << 16 | UInt32(bytes[off + 3]) << 24)
            guard off + 4 + n <= bytes.count else {
                return Contents(batches: out, truncatedTail: .truncated(offset: off, needed: n, available: bytes.count - off - 4))
            }
            let body = Array(bytes[(off + 4)..<(off + 4 + n)])
            do {
                out.append((try BatchDecoder.decode(body), body))
            } catch {
                throw .batch(index: out.count, offset: off, error)
            }
            off += 4 + n
        }
        return Contents(batches: out, truncatedTail: nil)
    }
}
