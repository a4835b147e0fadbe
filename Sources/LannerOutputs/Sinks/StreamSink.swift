import Glibc
import LannerStore

/// Alerts written as lines to an inherited descriptor (the collector's stdout). The descriptor's flags are the
/// process's, so it is not made non-blocking: the sink waits (cancellably) for POLLOUT before each write.
final class StreamSink: AlertSink {
    let fd: Int32
    let format: AlertFormat

    init(fd: Int32, format: AlertFormat) {
        self.fd = fd
        self.format = format
    }

    /// Why `fd` cannot be written to, if it cannot: closed, or open for reading only. (A daemon started with
    /// stdout closed would otherwise write alerts into whatever file later got descriptor 1.)
    static func problem(fd: Int32) -> String? {
        let flags = fcntl(fd, F_GETFL)
        if flags < 0 { return "descriptor \(fd) is closed (\(errnoText(errno)))" }
        if flags & O_ACCMODE == O_RDONLY { return "descriptor \(fd) is open for reading only" }
        return nil
    }

    func deliver(_ alert: StoredAlert, attempt: Int, cancel: Canceller) -> DeliveryOutcome {
        let line = Array((AlertText.render(alert, as: format) + "\n").utf8)
        switch writeAll(fd, line, until: .never, cancel: cancel, waitFirst: true) {
        case .done: return .delivered
        case .cancelled: return .cancelled
        case .timedOut: return .failed(DeliveryFailure(message: "write to stdout timed out"))
        case .failed(let e, let written):
            return .failed(DeliveryFailure(message: "write to stdout: \(errnoText(e))"
                                           + (written > 0 ? " (after \(written) of \(line.count) bytes)" : "")))
        }
    }

    func close(deadline: Deadline, cancel: Canceller) {}
}

/// Alerts appended to a file, one per line, with one `write` per alert on an `O_APPEND` descriptor (a line
/// is never interleaved with another writer's). Created 0600 when missing: alerts name hosts, users and
/// command lines.
///
/// Rotation: before each write the sink checks that the path still names the open file (same device and
/// inode); when it was renamed or removed, the sink opens the path afresh (creating it). `reopen()` (SIGHUP)
/// does the same unconditionally, at once. After a write that stopped part-way (disk full), the next write
/// starts on a new line so one broken line does not swallow the next alert.
final class FileSink: AlertSink {
    let path: String
    let format: AlertFormat
    private var fd: Int32 = -1
    private var identity: (dev: UInt64, ino: UInt64) = (0, 0)
    private var brokenLine = false
    private var context: SinkContext?
    private var reopenLog = RateLimitedLog(interval: .seconds(10))

    struct OpenError: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens (creating) the file now, so a bad path fails at startup.
    init(path: String, format: AlertFormat) throws(OpenError) {
        self.path = path
        self.format = format
        if path.isEmpty || path.contains("\0") { throw OpenError(description: "the path is empty or holds a NUL character") }
        if let e = open() { throw OpenError(description: e) }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    func attach(_ context: SinkContext) { self.context = context }

    /// Opens `path`; nil on success, else why not.
    private func open() -> String? {
        let newFD = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0o600)
        guard newFD >= 0 else { return "cannot open '\(path)' for appending: \(errnoText(errno))" }
        var st = stat()
        guard fstat(newFD, &st) == 0 else {
            let e = errno
            Glibc.close(newFD)
            return "cannot stat '\(path)': \(errnoText(e))"
        }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFCHR else {
            Glibc.close(newFD)
            return "'\(path)' is not a regular file"
        }
        if fd >= 0 { Glibc.close(fd) }
        fd = newFD
        identity = (UInt64(st.st_dev), UInt64(st.st_ino))
        brokenLine = false
        return nil
    }

    /// True when `path` no longer names the open file.
    private var rotated: Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return true }
        return UInt64(st.st_dev) != identity.dev || UInt64(st.st_ino) != identity.ino
    }

    func reopen() {
        if let e = open() { note("output file: reopening: \(e); writing on to the old file") }
    }

    func deliver(_ alert: StoredAlert, attempt: Int, cancel: Canceller) -> DeliveryOutcome {
        if fd < 0 || rotated {
            if let e = open() {
                // Keep writing to the old file if there is one: better than losing alerts until the path works.
                if fd < 0 { return .failed(DeliveryFailure(message: e)) }
                note("output file: \(e); writing on to the old file")
            }
        }
        var text = AlertText.render(alert, as: format) + "\n"
        if brokenLine { text = "\n" + text }
        let bytes = Array(text.utf8)
        switch writeAll(fd, bytes, until: .never, cancel: cancel) {
        case .done:
            brokenLine = false
            return .delivered
        case .cancelled(let n):
            if n > 0 { brokenLine = true }
            return .cancelled
        case .timedOut(let n):
            if n > 0 { brokenLine = true }
            return .failed(DeliveryFailure(message: "write to '\(path)' timed out"))
        case .failed(let e, let n):
            if n > 0 { brokenLine = true }
            return .failed(DeliveryFailure(message: "write to '\(path)': \(errnoText(e))"))
        }
    }

    private func note(_ message: String) {
        if let context { reopenLog.log(message, to: context.log) }
    }

    func close(deadline: Deadline, cancel: Canceller) {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}
