import CNGHTTP2
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of one non-blocking read or write.
enum IOResult: Equatable {
    /// This many bytes moved (always > 0).
    case bytes(Int)
    /// Nothing can move now; wait for readiness.
    case wouldBlock
    /// The peer closed its side (reads only).
    case eof
    /// The connection is broken (`errno`).
    case failed(Int32)
}

/// The byte stream an HTTP/2 session runs over: the seam where TLS slots in later.
///
/// HTTP/2 code above this protocol only moves bytes and polls `fd` for readiness. A TLS transport would wrap the
/// same socket, do its handshake inside `read`/`write` (reporting `.wouldBlock` while it waits) and additionally
/// tell the loop when it needs the opposite readiness (TLS may need to write to read).
protocol ByteTransport: AnyObject {
    /// The descriptor to poll for readiness.
    var fd: Int32 { get }
    /// Reads at most `buffer.count` bytes without blocking.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult
    /// Writes a prefix of `bytes` without blocking.
    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult
    /// Sends FIN after everything written so far (no more writes follow).
    func shutdownWrite()
    /// Releases the descriptor. Idempotent.
    func close()
}

/// Cleartext TCP on a non-blocking socket. Writes use `MSG_NOSIGNAL`, so a peer that vanished gives `EPIPE`
/// instead of killing the process with SIGPIPE.
final class TCPTransport: ByteTransport {
    private(set) var fd: Int32

    init(fd: Int32) { self.fd = fd }
    deinit { close() }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .eof }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .failed(errno)
            }
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        while true {
            let n = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return n == 0 ? .wouldBlock : .bytes(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .failed(errno)
            }
        }
    }

    func shutdownWrite() {
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_WR)) }
    }

    func close() {
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
    }
}

/// Socket set-up shared by the server and the client: resolution, listen, accept, connect with timeout.
/// `listen` and `accept` are `package`: the collector's plain HTTP/1.1 metrics listener (LannerCollectorService)
/// uses them too.
package enum Socket {
    /// One resolved address.
    struct Address {
        var storage = sockaddr_storage()
        var length: socklen_t = 0
        var family: Int32 { Int32(storage.ss_family) }
    }

    /// Resolves `host` (name or numeric, IPv4 or IPv6; numeric only when `numericHost`) for a TCP `port`.
    static func resolve(host: String, port: UInt16, passive: Bool, numericHost: Bool = false) throws(H2Error) -> [Address] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) | (numericHost ? AI_NUMERICHOST : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard rc == 0 else { throw .invalidAddress(host: host, reason: String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(list) }
        var result: [Address] = []
        var cursor = list
        while let ai = cursor {
            if let sa = ai.pointee.ai_addr, Int(ai.pointee.ai_addrlen) <= MemoryLayout<sockaddr_storage>.size {
                var a = Address()
                withUnsafeMutableBytes(of: &a.storage) { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(ai.pointee.ai_addrlen)))
                }
                a.length = ai.pointee.ai_addrlen
                result.append(a)
            }
            cursor = ai.pointee.ai_next
        }
        if result.isEmpty { throw .invalidAddress(host: host, reason: "no addresses") }
        return result
    }

    /// A close-on-exec listening socket on `host:port` (port 0 picks one) with `SO_REUSEADDR`, and the port it got.
    /// - Parameters:
    ///   - blocking: false (the default) for an epoll loop; true for a thread that sleeps in `accept` (wake it
    ///     with `shutdown(fd, SHUT_RDWR)`).
    ///   - numericHost: refuse host names (`AI_NUMERICHOST`): only an IPv4 or IPv6 address is taken.
    /// - Throws: `H2Error.invalidAddress` when `host` does not resolve; `.system` naming `socket`, `bind` or
    ///   `listen` otherwise.
    package static func listen(host: String, port: UInt16, backlog: Int32 = 1024, blocking: Bool = false,
                               numericHost: Bool = false) throws(H2Error) -> (fd: Int32, port: UInt16) {
        var lastError = H2Error.invalidAddress(host: host, reason: "no addresses")
        for address in try resolve(host: host, port: port, passive: true, numericHost: numericHost) {
            let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | (blocking ? 0 : Int32(SOCK_NONBLOCK.rawValue))
                            | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { lastError = .system(call: "socket", errno: errno, context: "listening on \(host):\(port)"); continue }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var a = address
            let bound = withUnsafePointer(to: &a.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, a.length) }
            }
            if bound != 0 || Glibc.listen(fd, backlog) != 0 {
                lastError = .system(call: bound != 0 ? "bind" : "listen", errno: errno,
                                    context: "listening on \(host):\(port)")
                _ = Glibc.close(fd)
                continue
            }
            return (fd, localPort(fd) ?? port)
        }
        throw lastError
    }

    /// The local port of a bound socket.
    static func localPort(_ fd: Int32) -> UInt16? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        return port(of: storage)
    }

    private static func port(of storage: sockaddr_storage) -> UInt16? {
        var s = storage
        switch Int32(s.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &s) { UInt16(bigEndian: $0.load(as: sockaddr_in.self).sin_port) }
        case AF_INET6:
            return withUnsafeBytes(of: &s) { UInt16(bigEndian: $0.load(as: sockaddr_in6.self).sin6_port) }
        default:
            return nil
        }
    }

    package enum AcceptResult {
        /// `peer` is `ip:port`, or `[ip]:port` for IPv6.
        case accepted(fd: Int32, peer: String)
        /// Nothing to accept on a non-blocking listener.
        case wouldBlock
        /// `accept4` failed with this errno (not `EINTR` or `ECONNABORTED`: those are retried).
        case failed(Int32)
    }

    /// Accepts one connection as a close-on-exec socket with TCP_NODELAY, non-blocking unless `blocking`.
    package static func accept(_ listenFD: Int32, blocking: Bool = false) -> AcceptResult {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let flags = (blocking ? 0 : Int32(SOCK_NONBLOCK.rawValue)) | Int32(SOCK_CLOEXEC.rawValue)
        while true {
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { lanner_accept4(listenFD, $0, &length, flags) }
            }
            if fd >= 0 {
                setNoDelay(fd)
                return .accepted(fd: fd, peer: describe(storage))
            }
            switch errno {
            case EINTR, ECONNABORTED: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .failed(errno)
            }
        }
    }

    /// Connects to `host:port` within `timeout`, trying each resolved address; returns a non-blocking socket.
    static func connect(host: String, port: UInt16, timeout: Duration) throws(H2Error) -> Int32 {
        let deadline = Deadline(after: timeout)
        var lastError = H2Error.invalidAddress(host: host, reason: "no addresses")
        for address in try resolve(host: host, port: port, passive: false) {
            let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
                            | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { lastError = .system(call: "socket", errno: errno, context: "connecting to \(host):\(port)"); continue }
            var a = address
            var rc = withUnsafePointer(to: &a.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, a.length) }
            }
            var err: Int32 = rc == 0 ? 0 : errno
            if rc != 0 && err == EINPROGRESS {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                repeat { rc = poll(&p, 1, deadline.remainingMilliseconds) } while rc < 0 && errno == EINTR
                if rc == 0 {
                    _ = Glibc.close(fd)
                    throw .timedOut(operation: "connecting to \(host):\(port)")
                }
                var length = socklen_t(MemoryLayout<Int32>.size)
                err = 0
                _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length)
            }
            if err == 0 {
                setNoDelay(fd)
                return fd
            }
            _ = Glibc.close(fd)
            lastError = err == ECONNREFUSED
                ? .connectionRefused(host: host, port: port)
                : .system(call: "connect", errno: err, context: "connecting to \(host):\(port)")
        }
        throw lastError
    }

    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// `ip:port`, or `[ip]:port` for IPv6.
    static func describe(_ storage: sockaddr_storage) -> String {
        var s = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(s.ss_family) {
        case AF_INET:
            var sin = withUnsafeBytes(of: &s) { $0.load(as: sockaddr_in.self) }
            inet_ntop(AF_INET, &sin.sin_addr, &text, socklen_t(text.count))
            return text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } + ":\(UInt16(bigEndian: sin.sin_port))"
        case AF_INET6:
            var sin6 = withUnsafeBytes(of: &s) { $0.load(as: sockaddr_in6.self) }
            inet_ntop(AF_INET6, &sin6.sin6_addr, &text, socklen_t(text.count))
            return "[" + text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } + "]:\(UInt16(bigEndian: sin6.sin6_port))"
        default:
            return "unknown"
        }
    }
}

/// A point in monotonic time, for timeouts.
struct Deadline {
    let nanoseconds: UInt64

    init(after duration: Duration) {
        let (sum, overflow) = Deadline.now().addingReportingOverflow(duration.nanosecondsClamped)
        nanoseconds = overflow ? .max : sum
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    var hasPassed: Bool { Deadline.now() >= nanoseconds }

    /// Milliseconds left, rounded up, for poll/epoll (0 when passed).
    var remainingMilliseconds: Int32 {
        let now = Deadline.now()
        guard nanoseconds > now else { return 0 }
        return Int32(clamping: (nanoseconds - now + 999_999) / 1_000_000)
    }
}

extension Duration {
    /// The duration in whole nanoseconds (negative durations count as zero).
    var nanosecondsClamped: UInt64 {
        let (s, atto) = components
        if s < 0 { return 0 }
        let (ns, overflow) = UInt64(s).multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : ns &+ UInt64(max(0, atto / 1_000_000_000))
    }
}
