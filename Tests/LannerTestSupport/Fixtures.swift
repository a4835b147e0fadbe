import Foundation
import LannerWire

/// The committed captures in Tests/Fixtures, and damaged copies of them made in memory.
public enum Fixtures {
    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// `eventgen-all.lcap.zst` (Tests/Fixtures/README.md): 7 batches, 2 450 events, the four eventgen alerts
    /// (three in batch 3, the connect in batch 4).
    public static var eventgenAll: URL { directory.appendingPathComponent("eventgen-all.lcap.zst") }

    /// The eventgen capture as a sensor that compresses writes it (each batch's records one zstd frame with its
    /// content checksum; the committed one was recorded uncompressed), with one bit flipped in the last byte of
    /// batch `damaged`: the frame's checksum, so that batch fails with "Restored data doesn't match checksum".
    /// Returns the file and where each batch's frame starts.
    public static func eventgenWithDamagedBatch(_ damaged: Int) throws -> (file: [UInt8], frames: [Int]) {
        let batches = try Capture.batches(try Zstd.decompress([UInt8](try Data(contentsOf: eventgenAll))))
        let compressor = Zstd.Compressor(level: 3)
        var file = Capture.fileHeader()
        var frames: [Int] = []
        for b in batches {
            frames.append(file.count)
            file += Capture.frame(BatchCompression.compress(b.body, with: compressor) ?? b.body)
        }
        let end = damaged + 1 < frames.count ? frames[damaged + 1] : file.count
        file[end - 1] ^= 0x01
        return (file, frames)
    }
}
