import FoundationEssentials
import Glibc
import LannerWire

/// Appends batches to a capture file (format in proto/README.md, `Capture` in LannerWire). The header is
/// written on open; each batch is one write of its frame, so a reader sees whole batches.
public final class CaptureWriter: @unchecked Sendable {
    public let path: String
    private var fd: Int32
    public private(set) var batches = 0

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create capture file \(path): \(String(cString: strerror(errno)))") }
        try write(Capture.fileHeader())
    }

    func write(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "\(path): \(String(cString: strerror(errno)))")
            }
            off += n
        }
    }

    /// Appends one batch body.
    public func append(_ body: [UInt8]) throws {
        guard fd >= 0 else { return }
        try write(Capture.frame(body))
        batches += 1
    }

    public func close() {
        if fd >= 0 {
            fsync(fd)
            Glibc.close(fd)
            fd = -1
        }
    }

    deinit { close() }
}
