import Glibc

/// Files in the sensor's state directory (run epoch, kept interest, spooled batches), written whole or not at all.
public enum StateFile {
    public struct Failure: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Writes `bytes` to `path.tmp` (mode 0600), fsyncs it, renames it over `path` and fsyncs the directory, so that
    /// after a crash `path` holds either what it held before or all of `bytes`. On failure the temporary file is gone.
    public static func write(_ path: String, _ bytes: [UInt8]) throws(Failure) {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(path: tmp, reason: "cannot create it: " + String(cString: strerror(errno))) }
        func fail(_ step: String, _ e: Int32) -> Failure {
            close(fd)
            unlink(tmp)
            return Failure(path: tmp, reason: step + ": " + String(cString: strerror(e)))
        }
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("writing", errno)
            }
            off += n
        }
        if fsync(fd) != 0 { throw fail("fsync", errno) }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw Failure(path: path, reason: "renaming \(tmp) over it: " + String(cString: strerror(e)))
        }
        var directory = path
        if let slash = directory.lastIndex(of: "/") { directory = slash == directory.startIndex ? "/" : String(directory[..<slash]) } else { directory = "." }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
