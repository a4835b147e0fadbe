import CLannerOutputShims
import Glibc
import Synchronization

/// A failed system call: which call, on what, and errno.
struct SysError: Error, CustomStringConvertible {
    var call: String
    var errno: Int32

    init(_ call: String, _ errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    var description: String { "\(call): \(errnoText(errno))" }
}

/// `strerror` text for an errno value.
func errnoText(_ e: Int32) -> String { String(cString: strerror(e)) }

/// A point in time by which something must finish, or none.
struct Deadline: Sendable {
    let instant: ContinuousClock.Instant?

    static let never = Deadline(instant: nil)
    static func after(_ d: Duration) -> Deadline { Deadline(instant: .now + d) }

    var hasPassed: Bool { instant.map { $0 <= .now } ?? false }

    /// Milliseconds left for `poll`, rounded up so a wait never spins; -1 (forever) when there is no deadline.
    var pollTimeout: Int32 {
        guard let instant else { return -1 }
        let left = ContinuousClock.now.duration(to: instant)
        if left <= .zero { return 0 }
        let (s, attos) = left.components
        let ms = s * 1000 + (attos + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: ms)
    }

    /// The earlier of two deadlines.
    func earlier(_ other: Deadline) -> Deadline {
        guard let a = instant else { return other }
        guard let b = other.instant else { return self }
        return Deadline(instant: min(a, b))
    }
}

/// Wakes one output's worker out of any wait when shutdown's deadline has passed: every blocking wait in
/// this module polls the descriptor it waits for together with `fd`, which becomes readable on `cancel()`.
final class Canceller: Sendable {
    private let fds: (read: Int32, write: Int32)
    private let flag = Atomic<Bool>(false)

    init() {
        var p: [Int32] = [-1, -1]
        if lanner_out_pipe2(&p, O_CLOEXEC | O_NONBLOCK) != 0 {
            // Out of descriptors: cancellation then works by the flag alone, and waits are bounded (see `wait`).
            p = [-1, -1]
        }
        fds = (p[0], p[1])
    }

    deinit {
        if fds.read >= 0 { Glibc.close(fds.read) }
        if fds.write >= 0 { Glibc.close(fds.write) }
    }

    var isCancelled: Bool { flag.load(ordering: .acquiring) }

    func cancel() {
        guard !flag.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if fds.write >= 0 {
            var b: UInt8 = 1
            _ = Glibc.write(fds.write, &b, 1)
        }
    }

    enum WaitResult: Equatable {
        /// `fd` reported these events (POLLIN, POLLOUT, POLLERR, POLLHUP …).
        case ready(Int16)
        case timedOut
        case cancelled
    }

    /// Waits until `fd` has one of `events` (or an error), the deadline passes, or cancellation.
    /// `fd < 0` just sleeps until the deadline or cancellation.
    func wait(fd: Int32, events: Int16, until deadline: Deadline) -> WaitResult {
        while true {
            if isCancelled { return .cancelled }
            var set = [pollfd(fd: fd, events: events, revents: 0), pollfd(fd: fds.read, events: Int16(POLLIN), revents: 0)]
            var timeout = deadline.pollTimeout
            if fds.read < 0 && (timeout < 0 || timeout > 100) { timeout = 100 }   // no pipe: re-check the flag
            let n = poll(&set, 2, timeout)
            if n < 0 {
                if errno == EINTR { continue }
                return .timedOut   // EINVAL/ENOMEM: treat as a failed wait; callers report it as a timeout
            }
            if isCancelled { return .cancelled }
            if n > 0 && fd >= 0 && set[0].revents != 0 { return .ready(set[0].revents) }
            if deadline.hasPassed { return .timedOut }
        }
    }

    /// Sleeps for `d` unless cancelled first; returns false when cancelled.
    func sleep(_ d: Duration) -> Bool {
        if d <= .zero { return !isCancelled }
        return wait(fd: -1, events: 0, until: .after(d)) != .cancelled
    }
}

/// Puts `O_NONBLOCK` on a descriptor.
func setNonBlocking(_ fd: Int32) -> Bool {
    let flags = fcntl(fd, F_GETFL)
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0
}

/// How writing a whole buffer to a descriptor ended.
enum WriteAllResult: Equatable {
    case done
    /// The deadline passed after this many bytes.
    case timedOut(written: Int)
    case cancelled(written: Int)
    /// A write failed with this errno after this many bytes.
    case failed(errno: Int32, written: Int)
}

/// Writes every byte of `bytes` to `fd`, waiting (cancellably, until `deadline`) for POLLOUT whenever a
/// non-blocking `fd` is full. `waitFirst` also waits before each write, for descriptors that stay blocking
/// (stdout is shared with the rest of the process, so its flags are left alone): a reader that stopped reading
/// then holds up only the poll, except for a line longer than the free space of its pipe.
func writeAll(_ fd: Int32, _ bytes: [UInt8], until deadline: Deadline, cancel: Canceller,
              waitFirst: Bool = false) -> WriteAllResult {
    var off = 0
    return bytes.withUnsafeBytes { raw -> WriteAllResult in
        while off < raw.count {
            if waitFirst {
                switch cancel.wait(fd: fd, events: Int16(POLLOUT), until: deadline) {
                case .ready: break
                case .timedOut: return .timedOut(written: off)
                case .cancelled: return .cancelled(written: off)
                }
            }
            let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
            if n > 0 { off += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK { return .failed(errno: errno, written: off) }
            switch cancel.wait(fd: fd, events: Int16(POLLOUT), until: deadline) {
            case .ready(let ev):
                // A pipe with no reader reports POLLERR; the next write returns EPIPE and says so.
                if ev & Int16(POLLNVAL) != 0 { return .failed(errno: EBADF, written: off) }
            case .timedOut: return .timedOut(written: off)
            case .cancelled: return .cancelled(written: off)
            }
        }
        return .done
    }
}

/// The text of a NUL-terminated C buffer.
func string(fromCBuffer buf: [CChar]) -> String {
    let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
