import FoundationEssentials
import Glibc

/// A mutex with `NSLock`'s shape (`lock`, `unlock`, `withLock`), on pthreads: for modules that link only
/// FoundationEssentials (the sensor's), where `NSLock` does not exist.
public final class PosixLock: @unchecked Sendable {
    fileprivate let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init() { pthread_mutex_init(mutex, nil) }
    deinit { pthread_mutex_destroy(mutex); mutex.deallocate() }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A mutex and condition variable with `NSCondition`'s shape (`lock`, `unlock`, `wait`, `wait(until:)`,
/// `signal`, `broadcast`), on pthreads.
public final class PosixCondition: @unchecked Sendable {
    private let mutex = PosixLock()
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() { pthread_cond_init(cond, nil) }
    deinit { pthread_cond_destroy(cond); cond.deallocate() }

    public func lock() { mutex.lock() }
    public func unlock() { mutex.unlock() }
    public func signal() { pthread_cond_signal(cond) }
    public func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits for a signal; the lock must be held.
    public func wait() { pthread_cond_wait(cond, mutex.mutex) }

    /// Waits for a signal until `deadline` (wall clock, as `NSCondition`); false when the deadline passed.
    /// A deadline before 1970 is one in the past; one past 10^15 s (30 million years) waits as if it were then
    /// (`Int(t)` would trap on a `Date` beyond `Int.max` seconds or an infinite one).
    public func wait(until deadline: Date) -> Bool {
        let t = min(max(0, deadline.timeIntervalSince1970), 1e15)
        var ts = timespec(tv_sec: Int(t), tv_nsec: Int((t - t.rounded(.down)) * 1e9))
        return pthread_cond_timedwait(cond, mutex.mutex, &ts) != ETIMEDOUT
    }
}

/// Writes `text` to standard error, unbuffered, in one call where it fits (so lines from threads do not mix).
public func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { buf in
        var off = 0
        while off < buf.count {
            let n = write(2, buf.baseAddress! + off, buf.count - off)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            off += n
        }
    }
}
